// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";

/// @notice Audit findings, round 7 (helper-94): pricing robustness at the edges of what a feed may
///         answer.
contract AuditFindings7Test is VaultTestBase {
    /// @dev docs/security.md: "Views (`totalAssets`, `netDelta`) never revert: they use the latest
    ///      positive answer". A positive 8-decimal answer of 1e49 (any positive int256 is a valid
    ///      AggregatorV3 answer; Chainlink OCR answers are int192, up to 3.1e57) overflows
    ///      BlackScholes._leg's `s * n1` (s = price8 * 1e10) for a live call, so totalAssets,
    ///      optionsValue, maxWithdraw/maxRedeem (and every ERC-4626 conversion) revert.
    function test_totalAssets_HugeAnswerFallsBack() public {
        _deposit(alice, 1_000_000e6);
        _writeCall(10e18);
        _setPrice(1e49);
        // The views must keep working (they may be absurd, but not revert).
        vault.totalAssets();
        vault.optionsValue();
        vault.maxWithdraw(alice);
    }

    /// @dev Same with vol and tenor at their bounds (500%, 730 days): gamma's `s * v`, computed
    ///      by bookValue although it is never used there, overflows from ~8.2e47 on, for a put
    ///      too (deep OTM: its own `s * (1 - n1)` is 0).
    function test_totalAssets_HugeAnswerLongHighVolPut() public {
        _deposit(alice, 1_000_000e6);
        vm.prank(admin);
        vault.setVolatility(5e18);
        _write(
            IOptionVault.OptionType.Put,
            3000e8,
            1000e8,
            uint64(block.timestamp + 730 days),
            1e18,
            1e12
        );
        _setPrice(1e48);
        vault.totalAssets();
    }

    /// @dev The delta path (rebalance, netDelta) reverts from 5.8e66 on (`lnPrice`'s
    ///      `int256(price8) * 1e10`).
    function test_netDelta_HugeAnswerFallsBack() public {
        _deposit(alice, 1_000_000e6);
        _writeCall(10e18);
        _setPrice(1e67);
        vault.netDelta();
    }
}

/// @notice The largest answer the vault uses still prices the worst book (vol 500%, 730 days).
contract AuditFindings7LargestAnswerTest is VaultTestBase {
    function test_views_LargestUsableAnswer() public {
        _deposit(alice, 1_000_000e6);
        vm.prank(admin);
        vault.setVolatility(5e18);
        uint64 far = uint64(block.timestamp + 730 days);
        _write(IOptionVault.OptionType.Call, 1e6, 1000e8, far, 1e18, 1e12);
        _write(IOptionVault.OptionType.Put, 1e16, 1000e8, far, 1e18, 1e12);
        _setPrice(int256(type(int128).max));
        assertEq(vault.valuationPrice(), uint256(int256(type(int128).max)));
        vault.totalAssets();
        vault.netDelta();
        vault.maxWithdraw(alice);
        vault.rebalanceBlocker();
        // One above: not used (the last accepted price instead), and not healthy.
        _setPrice(int256(type(int128).max) + 1);
        assertEq(vault.valuationPrice(), uint256(PRICE));
        vault.totalAssets();
        vm.prank(keeper);
        vm.expectRevert();
        vault.rebalance();
    }
}
