// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {ExitConservationHandler, NavVault} from "./ExitConservationHandler.sol";

/// @notice Conservation of the exit path, per depositor, with requests made at one NAV and
///         filled at another, gifts, operators, and claims by shares or by assets (see
///         {ExitConservationHandler}): assets owed + paid = assets the fills brought in, less
///         dust; no depositor is paid more than its exact pro-rata part, or twice.
contract ExitConservationInvariantTest is Test {
    MintableERC20 internal usdc;
    NavVault internal shares;
    RedemptionQueue internal queue;
    ExitConservationHandler internal handler;

    function setUp() public {
        usdc = new MintableERC20("USD Coin", "USDC", 6);
        shares = new NavVault(usdc);
        queue = new RedemptionQueue(IOptionVault(address(shares)));
        handler = new ExitConservationHandler(shares, queue, usdc);
        targetContract(address(handler));
    }

    /// @dev Rounding a depositor may lose against its exact part: a few asset units per fill
    ///      and request, and per fill one asset unit per 1e18 share units it has pending (the
    ///      pro-rata index A rounds down by one, and a unit of it is worth `pending / S` assets,
    ///      S >= 1e18: about 1e-12 of the request's value).
    function _dust(uint256 requested) internal view returns (uint256) {
        uint256 fills = handler.ghost_fills() + 1;
        return 4 * (fills + handler.ghost_requestCount()) + fills * (requested / 1e18 + 1);
    }

    function _requested() internal view returns (uint256 all) {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            all += handler.ghost_requested(actors[i]);
        }
    }

    /// @dev The queue's asset balance is exactly what fills brought in less what claims paid,
    ///      and covers every claim still open.
    function invariant_AssetsOwedPlusPaidIsWhatFillsBrought() public view {
        address[4] memory actors = handler.actorList();
        uint256 owed;
        for (uint256 i = 0; i < 4; ++i) {
            owed += queue.maxWithdraw(actors[i]);
        }
        uint256 held = usdc.balanceOf(address(queue));
        assertEq(held, handler.ghost_filledAssets() - handler.ghost_claimedAssets(), "balance");
        assertLe(owed, held, "owed <= held");
        assertLe(held - owed, _dust(_requested()), "held - owed is dust");
    }

    /// @dev Per depositor: paid + still claimable never exceeds its exact pro-rata part of the
    ///      fills (so nobody is paid twice, or another's part), and falls short by dust only.
    function invariant_EachDepositorGetsItsPartOnce() public view {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            address a = actors[i];
            uint256 got = handler.ghost_paid(a) + queue.maxWithdraw(a);
            uint256 exact = handler.ghost_owedE18(a) / 1e18;
            assertLe(got, exact + 1, "never more than its part");
            assertLe(exact, got + _dust(handler.ghost_requested(a)), "its part, less dust");
        }
    }

    /// @dev Shares: pending + claimable + claimed = requested, less a unit per request; claims
    ///      within maxRedeem/maxWithdraw never revert.
    function invariant_SharesReconcile() public view {
        address[4] memory actors = handler.actorList();
        for (uint256 i = 0; i < 4; ++i) {
            address a = actors[i];
            uint256 accounted = queue.pendingRedeemRequest(0, a)
                + queue.claimableRedeemRequest(0, a) + handler.ghost_claimedShares(a);
            uint256 requested = handler.ghost_requested(a);
            assertLe(accounted, requested, "never more than requested");
        }
        assertFalse(handler.ghost_claimRevertedWithinMax(), "a claim within max reverted");
    }
}
