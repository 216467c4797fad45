// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";

/// @notice ERC-4626 rounding rules on a vault whose NAV is not 1:1 (open options, premium,
///         hedge inventory): previews equal the actual amounts, and every rounding favors the
///         vault (EIP-4626: deposit/redeem round shares/assets down, mint/withdraw round up).
contract OptionVault4626Test is VaultTestBase {
    function setUp() public override {
        super.setUp();
        _deposit(alice, 50_000e6);
        _write(
            IOptionVault.OptionType.Call,
            3100e8,
            900e8,
            uint64(block.timestamp + 20 days),
            7.3e18,
            333_333_333
        );
        vm.prank(keeper);
        vault.rebalance(); // buys inventory: NAV now depends on the price and the book
        _setPrice(3123_45678901);
    }

    function testFuzz_deposit_MatchesPreviewAndRoundsDown(uint256 assets) public {
        assets = bound(assets, 1, 1e13);
        uint256 preview = vault.previewDeposit(assets);
        uint256 shares = _deposit(bob, assets);
        assertEq(shares, preview, "deposit == previewDeposit");
        // Shares received are worth no more than what was paid.
        assertLe(vault.convertToAssets(shares), assets, "rounds against the depositor");
    }

    function testFuzz_mint_MatchesPreviewAndRoundsUp(uint256 shares) public {
        shares = bound(shares, 1, 1e19);
        uint256 preview = vault.previewMint(shares);
        usdc.mint(bob, preview);
        vm.startPrank(bob);
        usdc.approve(address(vault), preview);
        uint256 assets = vault.mint(shares, bob);
        vm.stopPrank();
        assertEq(assets, preview, "mint == previewMint");
        assertGe(assets, vault.convertToAssets(shares), "pays at least the shares' value");
        assertEq(vault.balanceOf(bob), shares);
    }

    function testFuzz_withdraw_MatchesPreviewAndRoundsUp(uint256 assets) public {
        assets = bound(assets, 1, vault.maxWithdraw(alice));
        uint256 preview = vault.previewWithdraw(assets);
        uint256 before = vault.balanceOf(alice);
        vm.prank(alice);
        uint256 shares = vault.withdraw(assets, alice, alice);
        assertEq(shares, preview, "withdraw == previewWithdraw");
        assertEq(before - vault.balanceOf(alice), shares);
        assertGe(shares, vault.convertToShares(assets), "burns at least the assets' shares");
        assertEq(usdc.balanceOf(alice), assets);
    }

    function testFuzz_redeem_MatchesPreviewAndRoundsDown(uint256 shares) public {
        shares = bound(shares, 1, vault.maxRedeem(alice));
        uint256 preview = vault.previewRedeem(shares);
        uint256 ta = vault.totalAssets();
        uint256 ts = vault.totalSupply();
        vm.prank(alice);
        uint256 assets = vault.redeem(shares, alice, alice);
        assertEq(assets, preview, "redeem == previewRedeem");
        // assets <= shares * (TA + 1) / (TS + 10^offset), the exact pro-rata value.
        assertLe(assets * (ts + 1e6), shares * (ta + 1), "rounds against the redeemer");
        assertEq(usdc.balanceOf(alice), assets);
    }

    function testFuzz_roundTrip_NoFreeValue(uint256 assets) public {
        assets = bound(assets, 1, 1e12);
        uint256 shares = _deposit(bob, assets);
        uint256 back = vault.previewRedeem(shares);
        assertLe(back, assets, "deposit then redeem never profits");
        uint256 need = vault.previewWithdraw(assets);
        assertGe(need, shares, "withdrawing the same assets needs at least the shares minted");
    }

    function testFuzz_maxWithdraw_NeverBreaksCollateral(uint256 frac) public {
        frac = bound(frac, 1, 1e18);
        uint256 assets = vault.maxWithdraw(alice) * frac / 1e18;
        if (assets == 0) assets = 1;
        vm.prank(alice);
        vault.withdraw(assets, alice, alice);
        assertGe(vault.quoteBalance(), vault.lockedCollateral() + vault.settledUnpaid());
    }

    /// @dev The whole maximum, not a fraction of it: `maxWithdraw` rounded up instead of down
    ///      makes this withdraw need more shares than the holder has, and it reverts. Bob's
    ///      balance, not the free quote, binds here, at the book's non-integer share price.
    function testFuzz_withdrawMaxWithdraw_Succeeds(uint256 assets, uint256 move) public {
        assets = bound(assets, 1, 20_000e6);
        _deposit(bob, assets);
        _setPrice(int256(bound(move, 2900e8, 3300e8)));
        uint256 max = vault.maxWithdraw(bob);
        uint256 bal = vault.balanceOf(bob);
        assertLe(max, vault.previewRedeem(bal), "maxWithdraw <= previewRedeem(balance)");
        assertLe(vault.previewWithdraw(max), bal, "the maximum costs no more than the balance");
        vm.prank(bob);
        uint256 burned = vault.withdraw(max, bob, bob);
        assertLe(burned, bal);
        assertEq(usdc.balanceOf(bob), max);
        // and the rest of the position is worth less than one more unit
        assertLe(vault.previewRedeem(vault.balanceOf(bob)), 1, "maxWithdraw left value behind");
    }

    /// @dev The same for `maxRedeem`: redeeming all of it succeeds and pays its preview.
    function testFuzz_redeemMaxRedeem_Succeeds(uint256 assets, uint256 move) public {
        assets = bound(assets, 1, 20_000e6);
        _deposit(bob, assets);
        _setPrice(int256(bound(move, 2900e8, 3300e8)));
        uint256 max = vault.maxRedeem(bob);
        assertEq(max, vault.balanceOf(bob), "the balance binds, not the free quote");
        uint256 preview = vault.previewRedeem(max);
        vm.prank(bob);
        assertEq(vault.redeem(max, bob, bob), preview);
    }

    /// @dev The rate here is not an integer: a test at the empty-book rate of exactly 1e6
    ///      shares per unit would prove nothing about rounding.
    function test_sharePrice_IsNotOneToOne() public view {
        uint256 ta = vault.totalAssets();
        uint256 ts = vault.totalSupply();
        assertTrue((ts + 1e6) % (ta + 1) != 0 && (ta + 1) * 1e6 != ts + 1e6, "rate is off 1:1");
    }

    function test_maxDeposit_UnlimitedWhenHealthy() public view {
        assertEq(vault.maxDeposit(bob), type(uint256).max);
        assertEq(vault.maxMint(bob), type(uint256).max);
    }
}
