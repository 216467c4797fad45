// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Test.sol";

import {OptionVault} from "../../contracts/OptionVault.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice `RebalanceBatcher.settleBatch`: many expired series, of several vaults, settled in
///         one transaction, each exactly as its own `settle` would, a failing one alone.
contract SettleBatchTest is BatchTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;
    IOptionVault.OptionType internal constant PUT = IOptionVault.OptionType.Put;

    OptionVault internal other;
    uint64 internal expiry;
    uint256[] internal ids; // two series of `vault`, then one of `other`

    function setUp() public override {
        super.setUp();
        other = _newVault(0);
        bytes32 deskRole = other.DESK_ROLE();
        vm.prank(admin);
        other.grantRole(deskRole, desk);
        expiry = uint64(block.timestamp + 1 days);
        ids.push(_write(CALL, 3000e8, 500e8, expiry, 2e18, 50e6));
        ids.push(_write(PUT, 3500e8, 500e8, expiry, 1e18, 50e6));
        ids.push(_writeOn(other, CALL, 3200e8, 400e8, expiry, 3e18, 50e6));
    }

    /// @dev Past expiry, at `price`: the three series and their expiry round.
    function _expireAt(int256 price)
        internal
        returns (address[] memory vs, uint256[] memory sids, uint80[] memory rounds)
    {
        vm.warp(expiry + 1);
        _setPrice(price);
        uint80 round = _expiryRound(expiry);
        vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(vault), address(vault), address(other));
        sids = ids;
        rounds = new uint80[](3);
        (rounds[0], rounds[1], rounds[2]) = (round, round, round);
    }

    function _settleBatch(address[] memory vs, uint256[] memory sids, uint80[] memory rounds)
        internal
        returns (IRebalanceBatcher.SettleOutcome[] memory)
    {
        vm.prank(keeper);
        return batcher.settleBatch(vs, sids, rounds);
    }

    function test_settleBatch_SettlesEverySeriesOfEveryVault() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3800e8);
        uint256 quoteBefore = usdc.balanceOf(address(vault)) + usdc.balanceOf(address(other));
        vm.expectEmit(address(vault));
        emit IOptionVault.SeriesSettled(ids[0], 3800e8, 500e6);
        vm.expectEmit(address(vault));
        emit IOptionVault.SeriesSettled(ids[1], 3800e8, 0);
        vm.expectEmit(address(other));
        emit IOptionVault.SeriesSettled(ids[2], 3800e8, 400e6);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.SettleBatchExecuted(keeper, 3, 3);
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(vs, sids, rounds);
        for (uint256 i; i < 3; ++i) {
            assertTrue(o[i].ok, "settled");
            assertEq(o[i].vault, vs[i]);
            assertEq(o[i].id, sids[i]);
            assertEq(o[i].reason.length, 0);
            assertTrue(OptionVault(vs[i]).series(sids[i]).settled);
        }
        assertEq(vault.settledUnpaid(), 1000e6, "2 calls at the 500 cap, the put out of the money");
        assertEq(other.settledUnpaid(), 1200e6, "3 calls at the 400 cap");
        assertEq(vault.lockedCollateral() + other.lockedCollateral(), 0);
        assertEq(vault.openSeries().length + other.openSeries().length, 0);
        // A settlement moves no token: it books the payoff; holders redeem later.
        assertEq(usdc.balanceOf(address(vault)) + usdc.balanceOf(address(other)), quoteBefore);
        assertEq(usdc.balanceOf(address(batcher)) + weth.balanceOf(address(batcher)), 0);
    }

    function test_settleBatch_SeriesSettledFirstFailsAlone() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3300e8);
        vault.settle(ids[1], rounds[1]); // someone else, first
        bytes memory already =
            abi.encodeWithSelector(IOptionVault.OptionVaultAlreadySettled.selector, ids[1]);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.SettlementFailed(address(vault), ids[1], already);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.SettleBatchExecuted(keeper, 3, 2);
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(vs, sids, rounds);
        assertTrue(o[0].ok && o[2].ok, "the others settle");
        assertFalse(o[1].ok);
        assertEq(o[1].reason, already);
        assertTrue(vault.series(ids[0]).settled && other.series(ids[2]).settled);
    }

    function test_settleBatch_NotExpiredAndBadRoundFailAlone() public {
        uint64 later = uint64(expiry + 7 days);
        uint256 young = _write(CALL, 3000e8, 500e8, later, 1e18, 50e6);
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3100e8);
        vs[1] = address(vault);
        sids[1] = young;
        rounds[2] = rounds[2] + 1; // no such round yet
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(vs, sids, rounds);
        assertTrue(o[0].ok);
        assertEq(
            o[1].reason,
            abi.encodeWithSelector(IOptionVault.OptionVaultNotExpired.selector, young, later)
        );
        assertFalse(o[2].ok || other.series(ids[2]).settled, "a bad hint settles nothing");
        assertGt(o[2].reason.length, 3);
    }

    function test_settleBatch_ReasonWhen_NoCode() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3000e8);
        address nobody = makeAddr("nobody");
        vs[2] = nobody;
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(vs, sids, rounds);
        assertTrue(o[0].ok && o[1].ok);
        assertEq(
            o[2].reason,
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherNoCode.selector, nobody)
        );
    }

    function test_settleBatch_RevertWhen_NotKeeper() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3000e8);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, alice)
        );
        vm.prank(alice);
        batcher.settleBatch(vs, sids, rounds);
    }

    function test_settleBatch_RevertWhen_BadSizeOrLengths() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3000e8);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherBadBatchSize.selector, 0, 50)
        );
        _settleBatch(new address[](0), new uint256[](0), new uint80[](0));
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherLengthMismatch.selector, 3, 2)
        );
        _settleBatch(vs, new uint256[](2), rounds);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherLengthMismatch.selector, 3, 4)
        );
        _settleBatch(vs, sids, new uint80[](4));
    }

    function test_settleBatch_RevertWhen_GasRunsShort() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3000e8);
        vm.prank(keeper);
        vm.expectPartialRevert(IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        batcher.settleBatch{gas: 2_150_000}(vs, sids, rounds);
        assertFalse(vault.series(ids[0]).settled, "nothing settled");
    }

    function test_settleBatch_OneSettledSeriesPerTransactionLog() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _expireAt(3000e8);
        vm.recordLogs();
        _settleBatch(vs, sids, rounds);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 settled;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IOptionVault.SeriesSettled.selector) ++settled;
        }
        assertEq(settled, 3, "each series' own SeriesSettled, once");
    }

    /// @dev Settled in a batch, each series books exactly what its own `settle` books, at any
    ///      expiry price and in either order.
    function testFuzz_settleBatch_BooksWhatDirectSettlementBooks(uint256 price, bool reversed)
        public
    {
        price = bound(price, 1e8, 10_000e8);
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded above
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) =
            _expireAt(int256(price));
        if (reversed) {
            (vs[0], vs[2]) = (vs[2], vs[0]);
            (sids[0], sids[2]) = (sids[2], sids[0]);
        }
        uint256 snap = vm.snapshotState();
        uint256[3] memory payouts;
        for (uint256 i; i < 3; ++i) {
            payouts[i] = OptionVault(vs[i]).settle(sids[i], rounds[i]);
        }
        uint256[4] memory direct = [
            vault.settledUnpaid(),
            other.settledUnpaid(),
            vault.lockedCollateral(),
            other.lockedCollateral()
        ];
        uint256 nav = vault.totalAssets() + other.totalAssets();
        vm.revertToState(snap);
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(vs, sids, rounds);
        for (uint256 i; i < 3; ++i) {
            assertTrue(o[i].ok);
            assertEq(OptionVault(vs[i]).series(sids[i]).payoutPerContract, payouts[i]);
        }
        assertEq(vault.settledUnpaid(), direct[0]);
        assertEq(other.settledUnpaid(), direct[1]);
        assertEq(vault.lockedCollateral(), direct[2]);
        assertEq(other.lockedCollateral(), direct[3]);
        assertEq(vault.totalAssets() + other.totalAssets(), nav);
    }
}
