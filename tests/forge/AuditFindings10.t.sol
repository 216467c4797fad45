// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {PhasedFeedPutBase} from "./fixtures/PhasedFeedPutBase.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";

/// @notice A tenth audit (helper-121, 2026-12-08: admin, curator and lifecycle paths), finding
///         M-1: two rounds of a Chainlink proxy could settle one series. A proxy keeps every
///         phase's aggregator readable (`phaseId << 64 | round`), and Chainlink runs a new
///         aggregator live before the proxy is switched to it (the proxy's
///         `proposedGetRoundData` exists for that) and may keep the old one updated after.
///         Then two phases each hold a round at or after expiry whose predecessor is before it,
///         and `settle` took either: whoever settled first picked the price (the PoC: a put
///         struck at 3,000 paid 100 USDC a contract at the old phase's round, 0 at the new
///         one's). A round is now refused when a later phase of the feed began before expiry:
///         the expiry round is in the latest phase that began before expiry, the phase
///         `_hasExpiryRound` searches and keeper/chain/rounds.py hints.
contract AuditFindings10PhasesTest is PhasedFeedPutBase {
    /// @dev Phase 1 (the aggregator current at expiry): rounds before expiry, its expiry round
    ///      10 minutes after it at 2,900 and one more at 2,950. Phase 2 (the next aggregator,
    ///      live since 2 hours before expiry, confirmed on the proxy later): rounds before
    ///      expiry, its expiry round 20 minutes after it at 3,150, and the latest, now, at 3,100.
    function _twoLivePhases() internal returns (uint80 oldRound, uint80 newRound) {
        uint256 e = exp;
        vm.warp(e + 3 hours);
        feed.updateRoundData(_r(1, 1), 3000e8, e - 3 hours, e - 3 hours);
        feed.updateRoundData(_r(1, 2), 3000e8, e - 1 hours, e - 1 hours);
        feed.updateRoundData(_r(1, 3), 2900e8, e + 10 minutes, e + 10 minutes);
        feed.updateRoundData(_r(1, 4), 2950e8, e + 2 hours, e + 2 hours);
        feed.updateRoundData(_r(2, 1), 3000e8, e - 2 hours, e - 2 hours);
        feed.updateRoundData(_r(2, 2), 3000e8, e - 30 minutes, e - 30 minutes);
        feed.updateRoundData(_r(2, 3), 3150e8, e + 20 minutes, e + 20 minutes);
        feed.updateRoundData(_r(2, 4), 3100e8, block.timestamp, block.timestamp);
        return (_r(1, 3), _r(2, 3));
    }

    function test_settle_RevertWhen_ALaterPhaseBeganBeforeExpiry() public {
        (uint80 oldRound,) = _twoLivePhases();
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, oldRound)
        );
        vault.settle(id, oldRound);
    }

    function test_settle_TheLatestPhaseThatBeganBeforeExpirySettles() public {
        (uint80 oldRound, uint80 newRound) = _twoLivePhases();
        assertEq(vault.settle(id, newRound), 0, "the put expires worthless at 3,150");
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultAlreadySettled.selector, id));
        vault.settle(id, oldRound);
    }

    /// @dev A phase that began after expiry does not displace the older phase's expiry round
    ///      (the case the fallback rule was built for: tests/forge/VaultSafety.t.sol).
    function test_settle_APhaseBegunAfterExpiryLeavesTheOlderRound() public {
        uint256 e = exp;
        vm.warp(e + 3 hours);
        feed.updateRoundData(_r(1, 1), 3000e8, e - 3 hours, e - 3 hours);
        feed.updateRoundData(_r(1, 2), 3000e8, e - 1 hours, e - 1 hours);
        feed.updateRoundData(_r(1, 3), 2900e8, e + 10 minutes, e + 10 minutes);
        feed.updateRoundData(_r(2, 1), 3000e8, e + 1 hours, e + 1 hours);
        feed.updateRoundData(_r(2, 2), 3100e8, block.timestamp, block.timestamp);
        assertEq(vault.settle(id, _r(1, 3)), 100e6, "the put pays 3,000 - 2,900");
    }
}

/// @notice helper-121, finding L-1, a worst case pinned (docs/security.md, "Roles"): a holder of
///         a vault's BATCHER_ROLE that calls `batchPlan` and never `batchSettle` keeps the leg's
///         input. Nothing is booked (the quote left the vault, `_quoteBalance` still counts it)
///         and `lastRebalance` does not move, so `minInterval` does not bind the next call. The
///         `RebalanceBatcher` always settles or reverts every leg; the role must go to it alone,
///         never to an account. (The docs said its worst case was the keeper role's.)
contract AuditFindings10BatcherRoleTest is VaultTestBase {
    address internal rogue = makeAddr("rogue");

    function setUp() public override {
        super.setUp();
        _deposit(alice, 100_000e6);
        _writeCall(20e18); // short delta: the plan buys underlying with quote
        vm.startPrank(admin);
        vault.grantRole(vault.BATCHER_ROLE(), rogue);
        vm.stopPrank();
    }

    /// forge-config: default.isolate = true
    function test_batchPlan_AnUnsettledLegLeavesTheVaultAndBooksNothing() public {
        uint256 booked = vault.quoteBalance();
        vm.prank(rogue);
        (bool buy, uint256 amountIn,,,,,) = vault.batchPlan(0);
        assertTrue(buy);
        assertGt(amountIn, 0);
        // The transaction ended without batchSettle (isolate: each call is one).
        assertEq(usdc.balanceOf(rogue), amountIn, "the input left the vault");
        assertEq(vault.quoteBalance(), booked, "nothing was booked");
        assertEq(usdc.balanceOf(address(vault)), booked - amountIn);
        assertEq(vault.lastRebalance(), 0, "the clock did not move");

        vm.prank(rogue); // the same block: minInterval does not bind
        (, uint256 again,,,,,) = vault.batchPlan(0);
        assertEq(usdc.balanceOf(rogue), amountIn + again);
    }
}
