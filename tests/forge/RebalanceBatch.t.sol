// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {OptionVault} from "../../contracts/OptionVault.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice `RebalanceBatcher.rebalanceBatch`: one pool swap per batch, crossing at the oracle
///         price, each vault's own checks and minOut, conservation, containment, reentry.
contract RebalanceBatchTest is BatchTestBase {
    bytes32 internal constant REBALANCED =
        keccak256("Rebalanced(int256,int256,uint256,uint256,uint256,uint8)");

    OptionVault internal buyer5; // wants to buy 5
    OptionVault internal seller3; // holds 3, wants 0

    function setUp() public override {
        super.setUp();
        seller3 = _newVault(3e18);
        buyer5 = vault;
        vm.prank(admin);
        buyer5.setTargetDelta(5e18);
        _warp(60);
    }

    function _pair() internal view returns (address[] memory) {
        return _addrs(buyer5, seller3);
    }

    function test_rebalanceBatch_CrossesAndSwapsOnlyTheNet() public {
        uint256 swaps = venue.swaps();
        IRebalanceBatcher.Outcome[] memory o = _batch(_pair(), _zeros(2));
        assertTrue(o[0].ok && o[1].ok);
        assertEq(venue.swaps(), swaps + 1, "one pool swap");
        assertEq(venue.lastAmountIn(), 2 * 3000e6, "only the net 2 underlying of quote");
        assertEq(buyer5.hedgeInventory(), 5e18);
        assertEq(seller3.hedgeInventory(), 0);
        assertEq(seller3.quoteBalance(), 1_000_000e6, "sold 3 at the oracle price, no fee");
        assertEq(o[0].deltaAfter, 5e18);
        assertEq(o[1].deltaAfter, 0);
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_FullyCrossedNeedsNoSwap() public {
        vm.prank(admin);
        buyer5.setTargetDelta(3e18);
        uint256 swaps = venue.swaps();
        _batch(_pair(), _zeros(2));
        assertEq(venue.swaps(), swaps, "no pool swap");
        assertEq(buyer5.hedgeInventory(), 3e18);
        assertEq(seller3.hedgeInventory(), 0);
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_SellersNetSwapUnderlying() public {
        OptionVault seller6 = _newVault(6e18);
        _warp(60);
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyer5), address(seller3), address(seller6));
        _batch(vs, _zeros(3));
        assertEq(venue.lastAmountIn(), 4e18, "net: 9 sold - 5 bought");
        assertEq(buyer5.hedgeInventory(), 5e18, "the buyer crossed at P");
        // Same price for both sellers: 3/9 and 6/9 of the quote.
        uint256 q3 = seller3.quoteBalance() - 991_000e6;
        uint256 q6 = seller6.quoteBalance() - 982_000e6;
        assertEq(q3 + q6, 27_000e6);
        assertApproxEqAbs(q6, 2 * q3, 1);
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_UniformPriceOnNetSide() public {
        OptionVault buyer2 = _newVault(0);
        vm.prank(admin);
        buyer2.setTargetDelta(2e18);
        venue.setPrices(3010e8, 3000e8); // the pool is 0.33% worse than the oracle
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyer5), address(buyer2), address(seller3));
        vm.recordLogs();
        _batch(vs, _zeros(3));
        uint256[3] memory ins;
        uint256[3] memory outs;
        _rebalancedLogs(vs, ins, outs);
        // Both buyers at the same blended price (cross 3 at P, net 4 at the pool).
        assertApproxEqRel(outs[0] * ins[1], outs[1] * ins[0], 1e9);
        for (uint256 i; i < 2; ++i) {
            uint256 minOut = ins[i] * 9950 * 1e20 / (3000e8 * 10_000);
            assertGe(outs[i], minOut, "each buyer >= its own minOut");
            assertGt(outs[i], ins[i] * 1e20 / 3010e8, "better than the pool alone");
        }
        assertEq(outs[2], 9000e6, "the crossing side at the oracle price");
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_PartialPostDeviations() public {
        int256[] memory posts = new int256[](2);
        posts[0] = -0.4e18; // buyer: stop 0.4 short of the target
        posts[1] = 0.3e18; // seller: keep 0.3
        _batch(_pair(), posts);
        assertEq(seller3.hedgeInventory(), 0.3e18);
        assertApproxEqAbs(buyer5.hedgeInventory(), 4.6e18, 1e9);
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_OneVaultSwapsItself() public {
        address[] memory vs = new address[](1);
        vs[0] = address(seller3);
        int256[] memory posts = new int256[](1);
        posts[0] = 0.25e18;
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, posts);
        assertTrue(o[0].ok);
        assertEq(o[0].deltaAfter, 0.25e18);
        assertEq(venue.lastAmountIn(), 2.75e18, "the vault's own swap");
        _assertBatcherEmpty();
        vs[0] = address(buyer5);
        o = _batch(vs, _zeros(1));
        assertEq(o[0].deltaAfter, 5e18);
    }

    function test_rebalanceBatch_DropsFailingVaultBeforeTheSwap() public {
        OptionVault idle = _newVault(0); // within its band: fails its own check
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyer5), address(idle), address(seller3));
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(3));
        assertFalse(o[1].ok);
        assertEq(
            o[1].reason,
            abi.encodeWithSelector(IOptionVault.OptionVaultWithinBand.selector, 0, 0, 0.5e18)
        );
        assertTrue(o[0].ok && o[2].ok);
        assertEq(buyer5.hedgeInventory(), 5e18);
        assertEq(idle.quoteBalance(), 1_000_000e6, "nothing moved");
        _assertBatcherEmpty();
    }

    function test_rebalanceBatch_EachVaultRebalancedLogsItsOwnEventOnly() public {
        OptionVault idle = _newVault(0); // within its band: fails its own check
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyer5), address(idle), address(seller3));
        vm.recordLogs();
        _batch(vs, _zeros(3));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256[3] memory rebalanced;
        uint256 failed;
        for (uint256 j; j < logs.length; ++j) {
            for (uint256 v; v < 3; ++v) {
                if (logs[j].emitter == vs[v] && logs[j].topics[0] == REBALANCED) ++rebalanced[v];
            }
            if (logs[j].emitter != address(batcher)) continue;
            bytes32 t = logs[j].topics[0];
            if (t == IRebalanceBatcher.VaultRebalanceFailed.selector) {
                assertEq(logs[j].topics[1], bytes32(uint256(uint160(address(idle)))));
                ++failed;
            } else {
                // the batch's own: its one pool swap and its summary, nothing a vault
                assertTrue(
                    t == IRebalanceBatcher.PoolSwapped.selector
                        || t == IRebalanceBatcher.BatchExecuted.selector
                );
            }
        }
        assertEq(rebalanced[0], 1, "buyer: its own Rebalanced");
        assertEq(rebalanced[1], 0, "dropped: none");
        assertEq(rebalanced[2], 1, "seller: its own Rebalanced");
        assertEq(failed, 1);
    }

    function test_rebalanceBatch_RevertWhen_PoolBelowEveryMinOut() public {
        venue.setPrices(3000e8, 3000e8);
        venue.setOutputBps(9000); // the pool delivers 10% less than the oracle
        vm.prank(keeper);
        // The venue is asked for what the buyer's minOut needs beyond the 3 crossed:
        // 5 * 0.995 - 3 = 1.975 underlying; it delivers 2 * 0.9 = 1.8.
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeVenue.HedgeVenueInsufficientOutput.selector, 1.8e18, 1.975e18
            )
        );
        batcher.rebalanceBatch(_pair(), _zeros(2));
    }

    function test_rebalanceBatch_RevertWhen_NotKeeper() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, address(this)
            )
        );
        batcher.rebalanceBatch(_pair(), _zeros(2));
    }

    function test_rebalanceBatch_RevertWhen_LengthMismatch() public {
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherLengthMismatch.selector, 2, 1)
        );
        batcher.rebalanceBatch(_pair(), _zeros(1));
    }

    function test_batchPlan_RevertWhen_NotBatcher() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                keeper,
                buyer5.BATCHER_ROLE()
            )
        );
        vm.prank(keeper);
        buyer5.batchPlan(0);
    }

    function test_batchSettle_RevertWhen_NotBatcher() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                keeper,
                buyer5.BATCHER_ROLE()
            )
        );
        vm.prank(keeper);
        buyer5.batchSettle();
    }

    /// @dev A leg lives in transient storage: a settle in another transaction finds none.
    function test_batchSettle_RevertWhen_NotInBatch() public {
        vm.prank(address(batcher));
        vm.expectRevert(IOptionVault.OptionVaultNotInBatch.selector);
        buyer5.batchSettle();
    }

    function test_batchPlan_LocksTheVaultUntilSettle() public {
        vm.startPrank(address(batcher));
        buyer5.batchPlan(0);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        buyer5.batchPlan(0); // a second leg
        vm.stopPrank();
        usdc.mint(bob, 1e6);
        vm.startPrank(bob);
        usdc.approve(address(buyer5), 1e6);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        buyer5.deposit(1e6, bob);
        vm.stopPrank();
    }

    function test_rebalanceBatch_RevertWhen_VenueReentersAVault() public {
        venue.setReenter(address(buyer5), abi.encodeCall(buyer5.deposit, (1, address(venue))));
        vm.prank(keeper);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        batcher.rebalanceBatch(_pair(), _zeros(2));
    }

    function test_rebalanceBatch_RevertWhen_VenueReentersTheBatcher() public {
        vm.prank(admin);
        batcher.setKeeper(address(venue), true);
        venue.setReenter(
            address(batcher), abi.encodeCall(batcher.rebalanceBatch, (_pair(), _zeros(2)))
        );
        vm.prank(keeper);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        batcher.rebalanceBatch(_pair(), _zeros(2));
    }

    function test_singleVaultPathsStillWork() public {
        _batch(_pair(), _zeros(2));
        vm.prank(admin);
        buyer5.setTargetDelta(1e18);
        _warp(60);
        (bool ok,) = buyer5.checkUpkeep("");
        assertTrue(ok);
        vm.prank(keeper);
        buyer5.performUpkeep("");
        assertEq(buyer5.hedgeInventory(), 1e18);
        vm.prank(admin);
        buyer5.setTargetDelta(0);
        _warp(60);
        vm.prank(keeper);
        (, int256 da) = buyer5.rebalance();
        assertEq(da, 0);
    }

    /// @dev Random buy/sell sizes on four vaults and a pool price anywhere within the gap:
    ///      every vault's output >= its own minOut, tokens conserved, the batcher empty.
    function testFuzz_rebalanceBatch_MinOutAndConservation(
        uint256[4] memory sizes,
        bool[4] memory sells,
        uint256 poolBps
    ) public {
        poolBps = bound(poolBps, 9960, 10_040);
        address[] memory vs = new address[](4);
        for (uint256 i; i < 4; ++i) {
            uint256 s = bound(sizes[i], 0.6e18, 50e18);
            OptionVault v = i == 0 ? buyer5 : _newVault(sells[i] ? s : 0);
            vm.prank(admin);
            // forge-lint: disable-next-line(unsafe-typecast)
            v.setTargetDelta(sells[i] && i != 0 ? int256(0) : int256(s));
            vs[i] = address(v);
        }
        _warp(60);
        venue.setPrices(3000e8 * poolBps / 10_000, 3000e8);
        uint256[6] memory snap = _snapshot(vs);
        vm.recordLogs();
        vm.prank(keeper);
        (bool ok,) = address(batcher).call(abi.encodeCall(batcher.rebalanceBatch, (vs, _zeros(4))));
        assertTrue(ok, "a pool within every vault's slippage always settles");
        _checkMinOuts(vs, sells);
        _assertBatcherEmpty();
        // Conservation: what left the vaults went to the pool or to other vaults; what the pool
        // paid out is what it minted.
        uint256[6] memory now_ = _snapshot(vs);
        assertEq(now_[0] + now_[2] - snap[2], snap[0] + now_[4] - snap[4], "quote");
        assertEq(now_[1] + now_[3] - snap[3], snap[1] + now_[5] - snap[5], "underlying");
    }

    function _snapshot(address[] memory vs) internal view returns (uint256[6] memory r) {
        r[0] = _sum(true, vs);
        r[1] = _sum(false, vs);
        r[2] = usdc.balanceOf(address(venue));
        r[3] = weth.balanceOf(address(venue));
        r[4] = usdc.totalSupply();
        r[5] = weth.totalSupply();
    }

    function _checkMinOuts(address[] memory vs, bool[4] memory sells) internal {
        uint256[4] memory ins;
        uint256[4] memory outs;
        _rebalancedLogs4(vs, ins, outs);
        for (uint256 i; i < 4; ++i) {
            bool buy = !(sells[i] && i != 0);
            uint256 minOut = buy
                ? ins[i] * 9950 * 1e20 / (3000e8 * 10_000)
                : ins[i] * 9950 * 3000e8 / (1e20 * 10_000);
            assertGe(outs[i], minOut, "its own minOut");
        }
    }

    // ------------------------------------------------------------------ helpers

    function _assertBatcherEmpty() internal view {
        assertEq(usdc.balanceOf(address(batcher)), 0, "batcher holds no quote");
        assertEq(weth.balanceOf(address(batcher)), 0, "batcher holds no underlying");
    }

    function _sum(bool quote, address[] memory vs) internal view returns (uint256 s) {
        for (uint256 i; i < vs.length; ++i) {
            s += quote ? usdc.balanceOf(vs[i]) : weth.balanceOf(vs[i]);
        }
    }

    function _rebalancedLogs(address[] memory vs, uint256[3] memory ins, uint256[3] memory outs)
        internal
    {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 j; j < logs.length; ++j) {
            if (logs[j].topics[0] != REBALANCED) continue;
            for (uint256 i; i < vs.length; ++i) {
                if (logs[j].emitter != vs[i]) continue;
                (,, ins[i], outs[i],,) =
                    abi.decode(logs[j].data, (int256, int256, uint256, uint256, uint256, uint8));
            }
        }
    }

    function _rebalancedLogs4(address[] memory vs, uint256[4] memory ins, uint256[4] memory outs)
        internal
    {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 j; j < logs.length; ++j) {
            if (logs[j].topics[0] != REBALANCED) continue;
            for (uint256 i; i < vs.length; ++i) {
                if (logs[j].emitter != vs[i]) continue;
                (,, ins[i], outs[i],,) =
                    abi.decode(logs[j].data, (int256, int256, uint256, uint256, uint256, uint8));
            }
        }
    }
}
