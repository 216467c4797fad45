// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Test.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {OptionVault} from "../../contracts/OptionVault.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {IRedemptionQueue} from "../../contracts/interfaces/IRedemptionQueue.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice Unit-test stub: a "queue" whose `fill()` reverts with 10,000 bytes (a returnbomb) or,
///         with `burn`, spins until its call runs out of gas.
contract HostileQueue {
    bool internal immutable _burn;

    constructor(bool burn) {
        _burn = burn;
    }

    fallback() external {
        if (_burn) {
            while (true) {}
        }
        assembly {
            revert(0, 10000)
        }
    }
}

/// @notice `RebalanceBatcher.fillBatch`: the redemption queues of several vaults filled in one
///         transaction, each exactly as its own `fill()` would, a failing one alone.
contract FillBatchTest is BatchTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;

    OptionVault internal other;
    RedemptionQueue internal queue; // `vault`'s
    RedemptionQueue internal otherQueue; // `other`'s
    uint64 internal expiry;
    uint256[2] internal series; // one series of `vault`, one of `other`, locking most quote

    function setUp() public override {
        super.setUp();
        other = _newVault(0); // alice holds 1M of each vault's shares (the fixture's deposit)
        bytes32 deskRole = other.DESK_ROLE();
        vm.prank(admin);
        other.grantRole(deskRole, desk);
        queue = _installQueue();
        otherQueue = new RedemptionQueue(other);
        vm.prank(admin);
        other.setRedemptionQueue(address(otherQueue));
        _depositOn(vault, bob, 500_000e6);
        _depositOn(other, bob, 250_000e6);
        expiry = uint64(block.timestamp + 1 days);
        // Locks 1.2M of `vault`'s 1.5M and 1M of `other`'s 1.25M: before settlement only the
        // rest (and the premiums) is free for the queues.
        series[0] = _write(CALL, 3000e8, 1000e8, expiry, 1200e18, 50e6);
        series[1] = _writeOn(other, CALL, 3200e8, 1000e8, expiry, 1000e18, 50e6);
    }

    // ------------------------------------------------------------------ helpers

    function _depositOn(OptionVault v, address who, uint256 assets) internal {
        usdc.mint(who, assets);
        vm.startPrank(who);
        usdc.approve(address(v), assets);
        v.deposit(assets, who);
        vm.stopPrank();
    }

    function _request(RedemptionQueue q, address who, uint256 shares) internal {
        OptionVault v = OptionVault(q.share());
        vm.startPrank(who);
        v.approve(address(q), shares);
        q.requestRedeem(shares, who, who);
        vm.stopPrank();
    }

    /// @dev Requests on both queues: alice half of her `vault` shares and all of her `other`
    ///      ones, bob the reverse.
    function _requestBoth() internal {
        _request(queue, alice, vault.balanceOf(alice) / 2);
        _request(queue, bob, vault.balanceOf(bob));
        _request(otherQueue, alice, other.balanceOf(alice));
        _request(otherQueue, bob, other.balanceOf(bob) / 2);
    }

    /// @dev Past expiry, at `price`, without settling: exits (and fills) wait for settlement.
    function _expireAt(int256 price) internal {
        vm.warp(expiry + 1);
        _setPrice(price);
    }

    /// @dev Past expiry at `price`, both series settled: their collateral (less any payoff)
    ///      is free for the queues.
    function _settleAt(int256 price) internal {
        _expireAt(price);
        uint80 round = _expiryRound(expiry);
        vault.settle(series[0], round);
        other.settle(series[1], round);
    }

    function _queues(RedemptionQueue a, RedemptionQueue b)
        internal
        pure
        returns (address[] memory r)
    {
        r = new address[](2);
        (r[0], r[1]) = (address(a), address(b));
    }

    function _fillBatch(address[] memory qs)
        internal
        returns (IRebalanceBatcher.FillOutcome[] memory)
    {
        vm.prank(keeper);
        return batcher.fillBatch(qs);
    }

    /// @dev Everything a fill changes, of one queue and its vault, for alice and bob.
    function _observe(RedemptionQueue q) internal view returns (uint256[] memory o) {
        OptionVault v = OptionVault(q.share());
        o = new uint256[](13);
        o[0] = q.maxWithdraw(alice); // claimable assets
        o[1] = q.maxWithdraw(bob);
        o[2] = q.claimableRedeemRequest(0, alice); // claimable (filled) shares
        o[3] = q.claimableRedeemRequest(0, bob);
        o[4] = q.pendingRedeemRequest(0, alice);
        o[5] = q.pendingRedeemRequest(0, bob);
        o[6] = q.totalPending();
        o[7] = q.round();
        o[8] = usdc.balanceOf(address(q));
        o[9] = v.balanceOf(address(q));
        o[10] = v.totalSupply();
        o[11] = v.totalAssets();
        o[12] = v.freeQuote();
    }

    function _assertNothingFilled(RedemptionQueue q, uint256[] memory before) internal view {
        assertEq(_observe(q), before, "nothing filled");
        assertEq(q.maxWithdraw(alice) + q.maxWithdraw(bob), 0, "nothing claimable");
    }

    function _countLogs(Vm.Log[] memory logs, bytes32 topic) internal pure returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length != 0 && logs[i].topics[0] == topic) ++n;
        }
    }

    // ------------------------------------------------------------------ fills

    function test_fillBatch_FillsEveryQueueAsDirectFillsWould() public {
        _requestBoth();
        _settleAt(2500e8); // out of the money: every locked unit is freed
        address[] memory qs = _queues(queue, otherQueue);

        uint256 snap = vm.snapshotState();
        (uint256 s0, uint256 a0) = queue.fill();
        (uint256 s1, uint256 a1) = otherQueue.fill();
        uint256[] memory direct0 = _observe(queue);
        uint256[] memory direct1 = _observe(otherQueue);
        vm.revertToState(snap);

        assertGt(s0 * s1 * a0 * a1, 0, "both queues have something to fill");
        assertEq(direct0[6] + direct1[6], 0, "the direct fills take every request");
        vm.expectEmit(address(queue));
        emit IRedemptionQueue.RedemptionsFilled(0, s0, a0, 0);
        vm.expectEmit(address(otherQueue));
        emit IRedemptionQueue.RedemptionsFilled(0, s1, a1, 0);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 2, 2);
        vm.recordLogs();
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertEq(_countLogs(vm.getRecordedLogs(), IRebalanceBatcher.QueueFillFailed.selector), 0);

        assertEq(o.length, 2);
        for (uint256 i; i < 2; ++i) {
            assertEq(o[i].queue, qs[i]);
            assertTrue(o[i].ok, "filled");
            assertEq(o[i].reason.length, 0);
        }
        assertEq(o[0].shares, s0);
        assertEq(o[0].assets, a0);
        assertEq(o[1].shares, s1);
        assertEq(o[1].assets, a1);
        assertEq(_observe(queue), direct0, "vault's queue: as its direct fill");
        assertEq(_observe(otherQueue), direct1, "other's queue: as its direct fill");
        assertGt(queue.maxWithdraw(alice) * queue.maxWithdraw(bob), 0, "every holder is owed");
        assertGt(otherQueue.maxWithdraw(alice) * otherQueue.maxWithdraw(bob), 0);
        // The queues redeem to themselves: nothing passes through the batcher.
        assertEq(vault.balanceOf(address(batcher)) + other.balanceOf(address(batcher)), 0);
        assertEq(usdc.balanceOf(address(batcher)) + weth.balanceOf(address(batcher)), 0);
        assertEq(usdc.balanceOf(address(queue)), a0, "the assets are the queue's");
        assertEq(usdc.balanceOf(address(otherQueue)), a1);
    }

    function test_fillBatch_PartialFillsBeforeSettlement() public {
        _requestBoth(); // more than the free quote of either vault
        address[] memory qs = _queues(otherQueue, queue);
        uint256 snap = vm.snapshotState();
        (uint256 s1, uint256 a1) = otherQueue.fill();
        (uint256 s0, uint256 a0) = queue.fill();
        uint256[] memory direct0 = _observe(queue);
        uint256[] memory direct1 = _observe(otherQueue);
        vm.revertToState(snap);

        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertTrue(o[0].ok && o[1].ok);
        assertEq(o[0].shares, s1);
        assertEq(o[0].assets, a1);
        assertEq(o[1].shares, s0);
        assertEq(o[1].assets, a0);
        assertGt(queue.totalPending() * otherQueue.totalPending(), 0, "partial: requests wait");
        assertGt(a0 * a1, 0, "but the free quote was taken");
        assertEq(_observe(queue), direct0);
        assertEq(_observe(otherQueue), direct1);
    }

    function test_fillBatch_NothingToFillIsOkWithZeros() public {
        // `queue`: no request at all. `otherQueue`: requests, but the expired series waits for
        // settlement, so its vault lets nothing exit.
        _request(otherQueue, alice, other.balanceOf(alice));
        _expireAt(2500e8);
        assertEq(otherQueue.fillable(), 0, "fills wait for settlement");
        uint256[] memory before0 = _observe(queue);
        uint256[] memory before1 = _observe(otherQueue);

        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 2, 2);
        vm.recordLogs();
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(_queues(queue, otherQueue));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(_countLogs(logs, IRebalanceBatcher.QueueFillFailed.selector), 0, "no failure");
        assertEq(_countLogs(logs, IRedemptionQueue.RedemptionsFilled.selector), 0, "no fill");
        for (uint256 i; i < 2; ++i) {
            assertTrue(o[i].ok, "nothing to fill is a success");
            assertEq(o[i].shares, 0);
            assertEq(o[i].assets, 0);
            assertEq(o[i].reason.length, 0);
        }
        _assertNothingFilled(queue, before0);
        _assertNothingFilled(otherQueue, before1);
    }

    function test_fillBatch_DuplicateQueueFillsNothingTheSecondTime() public {
        _requestBoth();
        _settleAt(2500e8);
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(_queues(queue, queue));
        assertTrue(o[0].ok && o[1].ok);
        assertGt(o[0].shares, 0, "the first fills every request");
        assertEq(queue.totalPending(), 0);
        assertEq(o[1].shares + o[1].assets, 0, "the second finds nothing left");
        assertEq(usdc.balanceOf(address(queue)), o[0].assets, "redeemed once");
        uint256 owed = queue.maxWithdraw(alice) + queue.maxWithdraw(bob);
        assertApproxEqAbs(owed, o[0].assets, 2, "owed once (less rounding dust)");
        assertLe(owed, o[0].assets);
    }

    // ------------------------------------------------------------------ failures

    function test_fillBatch_RevertingQueueFailsAlone() public {
        _requestBoth();
        _settleAt(2500e8);
        // `other` refuses the queue's redemption: its `fill()` reverts with the vault's reason.
        bytes memory why = abi.encodeWithSignature("Error(string)", "redeem refused");
        vm.mockCallRevert(address(other), abi.encodeWithSelector(IERC4626.redeem.selector), why);
        uint256[] memory before1 = _observe(otherQueue);
        (uint256 s0, uint256 a0) = _directFill(queue);

        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.QueueFillFailed(address(otherQueue), why);
        vm.expectEmit(address(queue));
        emit IRedemptionQueue.RedemptionsFilled(0, s0, a0, 0);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 2, 1);
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(_queues(otherQueue, queue));
        assertFalse(o[0].ok);
        assertEq(o[0].queue, address(otherQueue));
        assertEq(o[0].reason, why);
        assertEq(o[0].shares + o[0].assets, 0);
        assertTrue(o[1].ok, "the queue after it is still filled");
        assertEq(o[1].shares, s0);
        assertEq(o[1].assets, a0);
        assertEq(queue.totalPending(), 0);
        _assertNothingFilled(otherQueue, before1);
    }

    /// @dev The fill of `q` alone, undone: what it returns.
    function _directFill(RedemptionQueue q) internal returns (uint256 s, uint256 a) {
        uint256 snap = vm.snapshotState();
        (s, a) = q.fill();
        vm.revertToState(snap);
    }

    function test_fillBatch_NotAQueueFailsAlone() public {
        _requestBoth();
        _settleAt(2500e8);
        (uint256 s0, uint256 a0) = _directFill(queue);
        // The USDC token has code but no `fill()` and no fallback: it reverts with no data.
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.QueueFillFailed(address(usdc), "");
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 2, 1);
        address[] memory qs = new address[](2);
        (qs[0], qs[1]) = (address(usdc), address(queue));
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertFalse(o[0].ok);
        assertEq(o[0].reason.length, 0);
        assertTrue(o[1].ok);
        assertEq(o[1].shares, s0);
        assertEq(o[1].assets, a0);
    }

    function test_fillBatch_ReasonWhen_NoCode() public {
        _requestBoth();
        _settleAt(2500e8);
        address nobody = makeAddr("nobody");
        bytes memory noCode =
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherNoCode.selector, nobody);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.QueueFillFailed(nobody, noCode);
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 2, 1);
        address[] memory qs = new address[](2);
        (qs[0], qs[1]) = (nobody, address(otherQueue));
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertFalse(o[0].ok);
        assertEq(o[0].queue, nobody);
        assertEq(o[0].reason, noCode);
        assertEq(o[0].shares + o[0].assets, 0);
        assertTrue(o[1].ok, "not a revert: the next queue is filled");
        assertEq(otherQueue.totalPending(), 0);
    }

    function test_fillBatch_ReasonWhen_BadReturnData() public {
        _requestBoth();
        _settleAt(2500e8);
        // A `fill()` that succeeds with one word, or three: not a queue's (shares, assets).
        bytes memory fillCall = abi.encodeCall(IRedemptionQueue.fill, ());
        vm.mockCall(address(usdc), fillCall, abi.encode(uint256(7)));
        vm.mockCall(address(weth), fillCall, abi.encode(uint256(1), uint256(2), uint256(3)));
        address[] memory qs = new address[](3);
        (qs[0], qs[1], qs[2]) = (address(usdc), address(weth), address(queue));
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.FillBatchExecuted(keeper, 3, 1);
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertFalse(o[0].ok || o[1].ok);
        assertEq(o[0].shares + o[0].assets + o[1].shares + o[1].assets, 0);
        assertEq(
            o[0].reason,
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherBadReturnData.selector, address(usdc), 32
            )
        );
        assertEq(
            o[1].reason,
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherBadReturnData.selector, address(weth), 96
            )
        );
        assertTrue(o[2].ok);
        assertEq(queue.totalPending(), 0);
    }

    /// @dev A queue reverting with a huge payload costs the batch at most `MAX_REASON_BYTES` of
    ///      it; one that spins until its gas runs out uses only its `vaultGasLimit`. The queue
    ///      after both is still filled.
    function test_fillBatch_ReturnbombAndGasHogFailAlone() public {
        _requestBoth();
        _settleAt(2500e8);
        address bomb = address(new HostileQueue(false));
        address hog = address(new HostileQueue(true));
        address[] memory qs = new address[](3);
        (qs[0], qs[1], qs[2]) = (bomb, hog, address(otherQueue));
        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        assertFalse(o[0].ok || o[1].ok);
        assertEq(o[0].reason.length, batcher.MAX_REASON_BYTES(), "truncated");
        assertEq(o[1].reason.length, 0, "out of gas: no data");
        assertTrue(o[2].ok);
        assertEq(otherQueue.totalPending(), 0);
    }

    // ------------------------------------------------------------------ reverts

    function test_fillBatch_RevertWhen_NotKeeper() public {
        _requestBoth();
        _settleAt(2500e8);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, alice)
        );
        vm.prank(alice);
        batcher.fillBatch(_queues(queue, otherQueue));
        vm.prank(admin);
        batcher.setKeeper(keeper, false);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, keeper)
        );
        _fillBatch(_queues(queue, otherQueue));
        assertGt(queue.totalPending(), 0, "nothing filled");
    }

    function test_fillBatch_RevertWhen_BadBatchSize() public {
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherBadBatchSize.selector, 0, 50)
        );
        _fillBatch(new address[](0));
        address[] memory tooMany = new address[](51);
        for (uint256 i; i < 51; ++i) {
            tooMany[i] = address(queue);
        }
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherBadBatchSize.selector, 51, 50)
        );
        _fillBatch(tooMany);
        // 50, the maximum, is accepted.
        address[] memory most = new address[](50);
        for (uint256 i; i < 50; ++i) {
            most[i] = address(queue);
        }
        assertEq(_fillBatch(most).length, 50);
    }

    /// @dev 2.15M gas covers the first queue's `vaultGasLimit + vaultGasLimit/63 +
    ///      BOOKKEEPING_GAS` (2,071,746) but not, after its fill, the second's: the whole batch
    ///      reverts, the first fill with it. A single queue with less than that reverts too.
    function test_fillBatch_RevertWhen_GasRunsShort() public {
        _requestBoth();
        _settleAt(2500e8);
        uint256[] memory before0 = _observe(queue);
        uint256[] memory before1 = _observe(otherQueue);
        vm.prank(keeper);
        vm.expectPartialRevert(IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        batcher.fillBatch{gas: 2_150_000}(_queues(queue, otherQueue));
        address[] memory one = new address[](1);
        one[0] = address(otherQueue);
        vm.prank(keeper);
        vm.expectPartialRevert(IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        batcher.fillBatch{gas: 2_060_000}(one);
        _assertNothingFilled(queue, before0);
        _assertNothingFilled(otherQueue, before1);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Filled in a batch, each queue's requests, of any sizes, get exactly what its own
    ///      `fill()` gives them, partial (before settlement) or whole (after), at any expiry
    ///      price and in either order; the vaults end in the same state.
    function testFuzz_fillBatch_FillsWhatDirectFillsFill(
        uint256[4] memory sizes,
        bool reversed,
        bool settled,
        uint256 price
    ) public {
        _request(queue, alice, bound(sizes[0], 1, vault.balanceOf(alice)));
        _request(queue, bob, bound(sizes[1], 1, vault.balanceOf(bob)));
        _request(otherQueue, alice, bound(sizes[2], 1, other.balanceOf(alice)));
        _request(otherQueue, bob, bound(sizes[3], 1, other.balanceOf(bob)));
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded above
        if (settled) _settleAt(int256(bound(price, 1_000e8, 6_000e8)));
        address[] memory qs = reversed ? _queues(otherQueue, queue) : _queues(queue, otherQueue);

        uint256 snap = vm.snapshotState();
        uint256[2] memory shares;
        uint256[2] memory assets;
        for (uint256 i; i < 2; ++i) {
            (shares[i], assets[i]) = RedemptionQueue(qs[i]).fill();
        }
        uint256[] memory direct0 = _observe(queue);
        uint256[] memory direct1 = _observe(otherQueue);
        vm.revertToState(snap);

        IRebalanceBatcher.FillOutcome[] memory o = _fillBatch(qs);
        for (uint256 i; i < 2; ++i) {
            assertTrue(o[i].ok);
            assertEq(o[i].queue, qs[i]);
            assertEq(o[i].shares, shares[i], "shares as the direct fill");
            assertEq(o[i].assets, assets[i], "assets as the direct fill");
        }
        assertEq(_observe(queue), direct0, "vault's queue and vault as after the direct fills");
        assertEq(_observe(otherQueue), direct1, "other's queue and vault as after them");
        assertEq(vault.balanceOf(address(batcher)) + other.balanceOf(address(batcher)), 0);
        assertEq(usdc.balanceOf(address(batcher)), 0);
    }
}
