// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";

/// @notice `rebalanceTo`: a keeper-chosen post-trade deviation, bounded on-chain like
///         keeper/strategy/rebalance_rule.py `executed_trade` (the Python side checks the same
///         rule against `RebalanceRules.tradeSize` in tests/integration).
contract PartialRebalanceTest is VaultTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;

    /// @dev Net delta = 3 underlying above a target of 0 (band 0.5): buys 3 then sets target 0.
    function _threeAbove() internal {
        _deposit(alice, 1_000_000e6);
        vm.prank(admin);
        vault.setTargetDelta(3e18);
        vm.prank(keeper);
        vault.rebalance();
        vm.prank(admin);
        vault.setTargetDelta(0);
        _warp(60);
        assertEq(vault.netDelta(), 3e18);
    }

    function _rebalanceTo(int256 post) internal returns (int256 da) {
        vm.prank(keeper);
        (, da) = vault.rebalanceTo(post);
    }

    function test_rebalanceTo_StopsAtRequestedPoint() public {
        _threeAbove();
        assertEq(_rebalanceTo(0.2e18), 0.2e18);
        assertEq(vault.hedgeInventory(), 0.2e18);
    }

    function test_rebalanceTo_RequestBeyondBandEndsOnBandEdge() public {
        _threeAbove();
        assertEq(_rebalanceTo(2e18), 0.5e18);
    }

    function test_rebalanceTo_RequestAcrossTargetStopsAtTarget() public {
        _threeAbove();
        assertEq(_rebalanceTo(-1e18), 0);
    }

    function test_rebalanceTo_ZeroIsRebalance() public {
        _threeAbove();
        assertEq(_rebalanceTo(0), 0);
    }

    function test_rebalanceTo_BuysToRequestedPointBelowTarget() public {
        _deposit(alice, 1_000_000e6);
        vm.prank(admin);
        vault.setTargetDelta(2e18); // net 0, deviation -2
        int256 da = _rebalanceTo(-0.3e18);
        assertApproxEqAbs(da, 2e18 - 0.3e18, 1e9, "quote-unit rounding only");
        assertLe(da, 2e18 - 0.3e18 + 1e9);
    }

    function test_rebalanceTo_CappedAtMaxTradeEndsOutsideBand() public {
        _threeAbove();
        vm.prank(admin);
        vault.setMaxTrade(1e18);
        assertEq(_rebalanceTo(0.2e18), 2e18, "full maxTrade, remainder carried over");
    }

    function test_rebalanceTo_RevertWhen_NothingLeftToTrade() public {
        _threeAbove();
        vm.prank(admin);
        vault.setBand(5e18); // within band; the time trigger fires after maxInterval
        _warp(1 days);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, -3e18)
        );
        vault.rebalanceTo(3e18); // keep all of it: no trade
        assertEq(_rebalanceTo(1e18), 1e18, "time trigger: any point toward the target");
        _warp(1 days);
        assertEq(_rebalanceTo(0), 0, "time trigger: or all the way to the target");
    }

    function test_rebalanceTo_RevertWhen_NotKeeper() public {
        _threeAbove();
        vm.expectRevert(
            abi.encodeWithSignature(
                "AccessControlUnauthorizedAccount(address,bytes32)", alice, vault.KEEPER_ROLE()
            )
        );
        vm.prank(alice);
        vault.rebalanceTo(0.2e18);
    }

    function test_rebalance_RevertWhen_WithinBandAtExactEdge() public {
        _threeAbove();
        vm.prank(admin);
        vault.setBand(3e18); // |deviation| == band: strict >, no band trigger
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultWithinBand.selector, 3e18, 0, 3e18)
        );
        vault.rebalanceTo(0.1e18);
    }

    /// @dev The executed trade equals the reference rule, and keeps the bounds: |d| shrinks,
    ///      the target is never crossed, and the vault ends inside the band unless capped.
    function testFuzz_rebalanceTo_BoundedLikeExecutedTrade(
        int256 post,
        uint256 band,
        uint256 maxTrade
    ) public {
        _threeAbove();
        band = bound(band, 1e12, 2.9e18);
        maxTrade = bound(maxTrade, 1e12, 5e18);
        post = bound(post, -10e18, 10e18);
        vm.startPrank(admin);
        vault.setBand(band);
        vault.setMaxTrade(maxTrade);
        vm.stopPrank();
        int256 d = vault.netDelta();
        uint256 expected = _reference(d, post, band, maxTrade);
        assertEq(expected, _rules().tradeSize(d, post, band, maxTrade));
        if (expected == 0) {
            vm.prank(keeper);
            vm.expectRevert(
                abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, -d)
            );
            vault.rebalanceTo(post);
            return;
        }
        int256 da = _rebalanceTo(post);
        assertEq(d - da, int256(expected), "sells exactly the rule's trade");
        assertGe(da, 0, "never crosses the target");
        assertLe(da, d, "never increases the deviation");
        if (expected < maxTrade) assertLe(uint256(da), band, "ends inside the band");
    }

    /// @dev keeper/strategy/rebalance_rule.py `executed_trade`, written independently.
    function _reference(int256 d, int256 post, uint256 band, uint256 maxTrade)
        internal
        pure
        returns (uint256)
    {
        int256 side = d > 0 ? int256(1) : int256(-1);
        int256 mag = d * side;
        int256 limit = mag < int256(band) ? mag : int256(band);
        int256 want = post * side;
        if (want < 0) want = 0;
        if (want > limit) want = limit;
        int256 size = mag - want;
        return uint256(size) < maxTrade ? uint256(size) : maxTrade;
    }
}
