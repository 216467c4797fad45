// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VaultTestBase} from "../fixtures/VaultTestBase.sol";
import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {RebalanceBatcher} from "../../../contracts/RebalanceBatcher.sol";
import {RedemptionQueueHandler} from "./RedemptionQueueHandler.sol";

/// @notice Stateful invariants of the redemption queue on a vault that writes, settles and
///         moves with the price while holders deposit, queue, claim and exit instantly.
contract RedemptionQueueInvariantTest is VaultTestBase {
    RedemptionQueue internal queue;
    RedemptionQueueHandler internal handler;

    function setUp() public override {
        super.setUp();
        queue = _installQueue();
        handler = new RedemptionQueueHandler(vault, queue, usdc, feed, venue, desk);
        // Fills also go through the batcher's `fillBatch`, as the keeper sends them.
        RebalanceBatcher batcher = new RebalanceBatcher(admin, 50, 2_000_000);
        vm.prank(admin);
        batcher.setKeeper(address(handler), true);
        handler.setBatcher(batcher);
        _deposit(alice, 100_000e6);
        targetContract(address(handler));
    }

    /// @dev Total claimable never exceeds the assets freed for it: what the fills brought in,
    ///      less what was claimed, and the queue's real balance.
    function invariant_ClaimableWithinFilledAssets() public view {
        uint256 claimable = _claimable();
        uint256 outstanding = handler.ghost_filledAssets() - handler.ghost_claimedAssets();
        assertLe(claimable, outstanding, "claimable <= filled - claimed");
        assertLe(outstanding, usdc.balanceOf(address(queue)), "the queue holds what it owes");
    }

    /// @dev Everything the queue holds is owed to a request, up to rounding dust: no fill
    ///      redeems shares that were sent to it without a request.
    function invariant_NothingOwedToNobody() public view {
        assertLe(usdc.balanceOf(address(queue)) - _claimable(), _dust(), "dust only");
    }

    /// @dev After any fill the queue holds only its requests' shares.
    function invariant_FillLetsUnrequestedSharesGo() public view {
        assertFalse(handler.ghost_keptUnrequested());
    }

    /// @dev Anyone's fill never reverts: it fills what it can, or nothing.
    /// @dev A fill through the batcher's `fillBatch` reports the shares and assets the queue
    ///      booked, and leaves the batcher holding nothing.
    function invariant_BatchFillReportsWhatTheQueueBooked() public view {
        assertFalse(handler.ghost_batchOutcomeWrong());
    }

    function invariant_FillNeverReverts() public view {
        assertFalse(handler.ghost_fillReverted());
    }

    /// @dev Each holder's shares reconcile: requested = pending + filled (claimable) + claimed,
    ///      less at most one share unit (about 1e-6 of an asset unit) per request: a second request
    ///      re-joins the round with its pending shares in whole units of the round's index, and
    ///      the unit it rounds off stays in escrow for the next fill (the dust rule). A request is
    ///      never filled twice and never loses more than that.
    function invariant_SharesReconcilePerHolder() public view {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            address a = actors[i];
            uint256 accounted = queue.pendingRedeemRequest(0, a)
                + queue.claimableRedeemRequest(0, a) + handler.ghost_claimedShares(a);
            uint256 requested = handler.ghost_requested(a);
            assertLe(accounted, requested, "never more than requested");
            assertLe(requested - accounted, handler.ghost_requests(a), "one unit per request");
        }
    }

    /// @dev The escrow backs every pending share (rounding leaves at most a few units over).
    function invariant_EscrowBacksPending() public view {
        address[4] memory actors = handler.actorList();
        uint256 pending;
        for (uint256 i = 0; i < 4; ++i) {
            pending += queue.pendingRedeemRequest(0, actors[i]);
        }
        uint256 escrow = queue.totalPending();
        assertLe(pending, escrow, "pending <= escrowed shares");
        assertGe(vault.balanceOf(address(queue)), escrow, "the escrow is held");
        assertLe(escrow - pending, _dust(), "dust only");
    }

    function invariant_FillsAreProRata() public view {
        assertFalse(handler.ghost_notProRata());
    }

    function invariant_NoInstantExitJumpsTheQueue() public view {
        assertFalse(handler.ghost_jumpedQueue());
    }

    function invariant_WithdrawOfMaxWithdrawSucceeds() public view {
        assertFalse(handler.ghost_maxExitReverted());
    }

    function invariant_ClaimsNeverOverpay() public view {
        assertFalse(handler.ghost_claimOverpaid());
    }

    /// @dev The vault keeps its collateral rule with a queue attached.
    function invariant_VaultCollateralRule() public view {
        assertGe(vault.quoteBalance(), vault.lockedCollateral() + vault.settledUnpaid());
    }

    /// @dev What the actors can claim, together.
    function _claimable() internal view returns (uint256 claimable) {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            claimable += queue.maxWithdraw(actors[i]);
        }
    }

    /// @dev The dust rule's bound: a few units per fill and request.
    function _dust() internal view returns (uint256) {
        return 8 * (handler.ghost_fills() + handler.ghost_requestCount() + 1);
    }
}
