// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {console2} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {VaultTestBase} from "../fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {OptionVaultHandler} from "./OptionVaultHandler.sol";
import {RebalanceBatcher} from "../../../contracts/RebalanceBatcher.sol";

/// @notice Stateful invariants of one vault under random deposits, withdrawals, writes,
///         settlements, claim redemptions, price moves, donations, rebalances and warps.
contract OptionVaultInvariantTest is VaultTestBase {
    OptionVaultHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new OptionVaultHandler(vault, usdc, weth, feed, venue);
        // Settlements also go through the batcher's `settleBatch`, as the keeper sends them.
        RebalanceBatcher batcher = new RebalanceBatcher(admin, 50, 2_000_000);
        vm.prank(admin);
        batcher.setKeeper(address(handler), true);
        handler.setBatcher(batcher);
        vm.startPrank(admin);
        vault.grantRole(vault.DESK_ROLE(), address(handler));
        vault.grantRole(vault.KEEPER_ROLE(), address(handler));
        vault.grantRole(vault.DEFAULT_ADMIN_ROLE(), address(handler));
        vault.setMaxTrade(2e18);
        vault.setBand(0.05e18); // small books still trade
        vm.stopPrank();
        _deposit(alice, 200_000e6);
        targetContract(address(handler));
    }

    /// @dev The vault can pay every open series' maximum payoff and every settled claim: its
    ///      accounted quote covers both, and its real balance covers its accounted quote.
    function invariant_CanPayEveryOpenSeriesMaxPayoff() public view {
        IOptionVault.Series[] memory open = vault.openSeries();
        uint256 maxPayoffs;
        for (uint256 i = 0; i < open.length; i++) {
            IOptionVault.Series memory s = open[i];
            uint256 perContract =
                s.optionType == IOptionVault.OptionType.Put && s.cap > s.strike ? s.strike : s.cap;
            maxPayoffs += (s.size * perContract + 1e20 - 1) / 1e20;
        }
        assertEq(vault.lockedCollateral(), maxPayoffs, "locked == sum of max payoffs");
        assertGe(vault.quoteBalance(), maxPayoffs + vault.settledUnpaid(), "collateral rule");
        assertGe(usdc.balanceOf(address(vault)), vault.quoteBalance(), "tokens back the books");
        assertLe(open.length, vault.MAX_OPEN_SERIES());
    }

    /// @dev After expiry too: an expired series waiting for settlement is valued at its maximum
    ///      payoff (never below it) and carries no delta.
    function invariant_ExpiredSeriesValuedAtMaxPayoff() public view {
        IOptionVault.Series[] memory open = vault.openSeries();
        uint256 expiredMax;
        for (uint256 i = 0; i < open.length; i++) {
            IOptionVault.Series memory s = open[i];
            if (s.expiry > block.timestamp) continue;
            uint256 perContract =
                s.optionType == IOptionVault.OptionType.Put && s.cap > s.strike ? s.strike : s.cap;
            expiredMax += (s.size * perContract + 1e20 - 1) / 1e20;
        }
        assertGe(vault.optionsValue(), expiredMax, "expired series at their max payoff");
        if (expiredMax != 0) assertEq(vault.maxDeposit(alice), 0, "deposits wait for settlement");
    }

    /// @dev `withdraw(assets)` for any `assets <= maxWithdraw(owner)`, the maximum included,
    ///      succeeds (EIP-4626: max* never overstates).
    function invariant_WithdrawWithinMaxWithdrawSucceeds() public view {
        assertFalse(handler.ghost_maxExitReverted());
    }

    function invariant_SettlementPaysExpiryRoundPayoff() public view {
        assertFalse(handler.ghost_settledOffExpiryPayoff());
    }

    function invariant_NoPremiumBelowModelValue() public view {
        assertFalse(handler.ghost_premiumBelowModel());
    }

    function invariant_DonationDoesNotMoveSharePrice() public view {
        assertFalse(handler.ghost_donationMovedSharePrice());
    }

    function invariant_OnlyRebalanceChangesInventory() public view {
        assertFalse(handler.ghost_inventoryMovedOutsideRebalance());
        assertEq(vault.hedgeInventory(), handler.ghost_inventory(), "inventory == sum of trades");
        assertGe(weth.balanceOf(address(vault)), vault.hedgeInventory());
    }

    function invariant_RebalanceWithinMaxTradeAndMinOut() public view {
        assertFalse(handler.ghost_rebalanceOverMaxTrade(), "traded more than maxTrade");
        assertFalse(handler.ghost_rebalanceBelowMinOut(), "received less than the oracle minOut");
    }

    /// @dev Every action that changes what a keeper caches from `snapshotLeanSince` (thresholds,
    ///      vol, feeds, commitments, the open series) moves the vault's book version.
    function invariant_BookVersionMovesWithEveryCachedField() public view {
        assertFalse(handler.ghost_cachedFieldsMovedWithoutVersion());
    }

    function invariant_TriggerAgreesWithRebalance() public view {
        assertFalse(handler.ghost_triggerDisagreed());
    }

    /// @dev Payout conservation: `settledUnpaid` is exactly what the settled series still owe,
    ///      ceil(size * payout / 1e18) each, and a series' holders were never paid more than it
    ///      owed when it settled: paid so far + still owed <= ceil(written size * payout / 1e18).
    function invariant_SettledUnpaidIsWhatSettledSeriesStillOwe() public view {
        uint256[] memory ids = handler.written();
        uint256 owed;
        for (uint256 i = 0; i < ids.length; i++) {
            IOptionVault.Series memory s = vault.series(ids[i]);
            if (!s.settled) continue;
            uint256 left = Math.mulDiv(s.size, s.payoutPerContract, 1e18, Math.Rounding.Ceil);
            uint256 atSettlement = Math.mulDiv(
                handler.ghost_writtenSize(ids[i]), s.payoutPerContract, 1e18, Math.Rounding.Ceil
            );
            assertLe(handler.ghost_paidOf(ids[i]) + left, atSettlement, "paid beyond the liability");
            owed += left;
        }
        assertEq(vault.settledUnpaid(), owed, "settledUnpaid == what the settled series owe");
    }

    /// @dev Quote accounting balances exactly: initial deposit + deposits + premiums + hedge
    ///      sales - withdrawals - claims paid - hedge purchases == the accounted quote.
    function invariant_QuoteAccountingBalances() public view {
        uint256 inflow = 200_000e6 + handler.ghost_deposited() + handler.ghost_premiums()
            + handler.ghost_hedgeQuoteIn();
        uint256 outflow =
            handler.ghost_withdrawn() + handler.ghost_claimsPaid() + handler.ghost_hedgeQuoteOut();
        assertEq(vault.quoteBalance(), inflow - outflow);
    }

    function afterInvariant() external view {
        console2.log("deposit", handler.calls("deposit"));
        console2.log(
            "tune / book version moved", handler.calls("tune"), handler.calls("versionMoved")
        );
        console2.log("withdraw", handler.calls("withdraw"));
        console2.log("write", handler.calls("write"));
        console2.log("settle / ok", handler.calls("settle"), handler.calls("settleOk"));
        console2.log(
            "settleBatch / series settled",
            handler.calls("settleBatch"),
            handler.calls("settleBatchOk")
        );
        console2.log(
            "redeemClaims / paid", handler.calls("redeemClaims"), handler.calls("redeemPaid")
        );
        console2.log("rebalance / ok", handler.calls("rebalance"), handler.calls("rebalanceOk"));
        console2.log("open series", vault.openSeries().length);
        bytes4[7] memory why = [
            IOptionVault.OptionVaultTooSoon.selector,
            IOptionVault.OptionVaultWithinBand.selector,
            IOptionVault.OptionVaultStaleOracle.selector,
            IOptionVault.OptionVaultOracleGap.selector,
            IOptionVault.OptionVaultNoTradePossible.selector,
            IOptionVault.OptionVaultSequencerGracePeriod.selector,
            IOptionVault.OptionVaultInsufficientOutput.selector
        ];
        for (uint256 i = 0; i < why.length; i++) {
            console2.log("refused by", vm.toString(bytes32(why[i])), handler.calls(bytes32(why[i])));
        }
    }
}
