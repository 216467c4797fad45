// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {PhasedFeedPutBase} from "./fixtures/PhasedFeedPutBase.sol";

/// @notice helper-130's review of the M-1 fix (AuditFindings10: a round of an older phase is
///         refused when a later phase began before expiry), at its edges: a later phase with
///         no round yet, a later phase whose first round is exactly at expiry, a round exactly
///         at expiry. Each leaves exactly one round able to settle.
contract SettlementPhaseEdgesTest is PhasedFeedPutBase {
    /// @dev Phase 1 holds the expiry round (2,900 at expiry + 10 minutes).
    function _phaseOne() internal {
        uint256 e = exp;
        feed.updateRoundData(_r(1, 1), 3000e8, e - 3 hours, e - 3 hours);
        feed.updateRoundData(_r(1, 2), 3000e8, e - 1 hours, e - 1 hours);
        feed.updateRoundData(_r(1, 3), 2900e8, e + 10 minutes, e + 10 minutes);
        feed.updateRoundData(_r(1, 4), 2950e8, e + 2 hours, e + 2 hours);
    }

    /// @dev The proxy moved to a phase whose aggregator has no round yet: its latest round is
    ///      `2 << 64 | 0`, dated 0. Phase 1's expiry round settles; the fallback stays shut
    ///      (the latest answer, 0, is no price) even after the grace.
    function test_settle_APhaseWithNoRoundYetLeavesTheOlderRound() public {
        vm.warp(exp + 1 days + 1 hours);
        _phaseOne();
        feed.updateRoundData(_r(2, 0), 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, 0));
        vault.settle(id, 0);
        assertEq(vault.settle(id, _r(1, 3)), 100e6, "the put pays 3,000 - 2,900");
    }

    /// @dev A later phase whose first round is exactly at expiry began at expiry, not before
    ///      it: the older phase keeps the expiry round, and no round of the later one passes.
    function test_settle_APhaseBegunExactlyAtExpiryLeavesTheOlderRound() public {
        uint256 e = exp;
        vm.warp(e + 3 hours);
        _phaseOne();
        feed.updateRoundData(_r(2, 1), 3200e8, e, e);
        feed.updateRoundData(_r(2, 2), 3150e8, e + 20 minutes, e + 20 minutes);
        feed.updateRoundData(_r(2, 3), 3100e8, block.timestamp, block.timestamp);
        for (uint256 k = 1; k <= 3; ++k) {
            vm.expectRevert(
                abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, _r(2, k))
            );
            vault.settle(id, _r(2, k));
        }
        assertEq(vault.settle(id, _r(1, 3)), 100e6);
    }

    /// @dev A round dated exactly at expiry is the expiry round; the one after it is not.
    function test_settle_ARoundExactlyAtExpiryIsTheExpiryRound() public {
        uint256 e = exp;
        vm.warp(e + 3 hours);
        feed.updateRoundData(_r(1, 1), 3000e8, e - 3 hours, e - 3 hours);
        feed.updateRoundData(_r(1, 2), 2800e8, e, e);
        feed.updateRoundData(_r(1, 3), 2900e8, e + 10 minutes, e + 10 minutes);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, _r(1, 3))
        );
        vault.settle(id, _r(1, 3));
        assertEq(vault.settle(id, _r(1, 2)), 200e6, "the put pays 3,000 - 2,800");
    }
}
