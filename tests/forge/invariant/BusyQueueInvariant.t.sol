// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {LiquidityVault} from "../fixtures/LiquidityVault.sol";
import {BusyQueueHandler} from "./BusyQueueHandler.sol";

/// @notice Stateful invariants of a redemption queue that may never empty, filled as partially
///         as an adversary likes (see {BusyQueueHandler}). The share token redeems 1:1, so a
///         filled share must be paid one asset unit, less dust.
contract BusyQueueInvariantTest is Test {
    MintableERC20 internal usdc;
    LiquidityVault internal shares;
    RedemptionQueue internal queue;
    BusyQueueHandler internal handler;

    function setUp() public {
        usdc = new MintableERC20("USD Coin", "USDC", 6);
        shares = new LiquidityVault(usdc);
        queue = new RedemptionQueue(IOptionVault(address(shares)));
        handler = new BusyQueueHandler(shares, queue, usdc);
        targetContract(address(handler));
    }

    /// @dev Rounding dust a holder may lose: a few units per fill and request, and below 1e-15 of
    ///      what it asked for (a request three or more scales behind counts as filled).
    function _dust(uint256 requested) internal view returns (uint256) {
        return 4 * (handler.ghost_fills() + handler.ghost_requestCount() + 1) + requested / 1e15;
    }

    /// @dev Claimable never exceeds what the fills brought in less what was claimed, and the
    ///      queue holds that.
    function invariant_ClaimableWithinFilledAssets() public view {
        address[4] memory actors = handler.actorList();
        uint256 claimable;
        for (uint256 i = 0; i < 4; ++i) {
            claimable += queue.maxWithdraw(actors[i]);
        }
        uint256 outstanding = handler.ghost_filledAssets() - handler.ghost_totalClaimedAssets();
        assertLe(claimable, outstanding, "claimable <= filled - claimed");
        assertLe(outstanding, usdc.balanceOf(address(queue)), "the queue holds what it owes");
    }

    /// @dev Every holder's shares reconcile (requested = pending + claimable + claimed, less
    ///      dust), and every filled share is paid its asset unit (less dust): nothing is booked
    ///      as filled without being paid.
    function invariant_BusyQueuePaysEveryRequest() public view {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            address a = actors[i];
            uint256 requested = handler.ghost_requested(a);
            uint256 filled = queue.claimableRedeemRequest(0, a) + handler.ghost_claimedShares(a);
            uint256 accounted = queue.pendingRedeemRequest(0, a) + filled;
            assertLe(accounted, requested, "never more than requested");
            assertLe(requested - accounted, _dust(requested), "shares reconcile, less dust");
            uint256 paid = queue.maxWithdraw(a) + handler.ghost_claimedAssets(a);
            assertLe(paid, filled, "never paid more than filled (1:1)");
            assertLe(filled - paid, _dust(requested), "every filled share paid, less dust");
        }
    }

    /// @dev The escrow backs every pending share, and holds no more than dust beyond them.
    function invariant_EscrowBacksPending() public view {
        address[4] memory actors = handler.actorList();
        uint256 pending;
        uint256 requested;
        for (uint256 i = 0; i < 4; ++i) {
            pending += queue.pendingRedeemRequest(0, actors[i]);
            requested += handler.ghost_requested(actors[i]);
        }
        uint256 escrow = queue.totalPending();
        assertEq(shares.balanceOf(address(queue)), escrow, "the queue holds its escrow");
        assertLe(pending, escrow, "pending <= escrowed shares");
        assertLe(escrow - pending, _dust(requested), "dust only");
    }
}
