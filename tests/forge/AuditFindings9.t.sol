// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {UniswapV3Venue} from "../../contracts/UniswapV3Venue.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {UniswapV3Fixture} from "./utils/UniswapV3Fixture.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @notice A ninth audit (helper-111, 2026-12-07), finding L-1: a buyer could not void a quote
///         it had signed. Its nonce moved only when the desk used a signature, so a week-long
///         quote the buyer no longer wanted stayed writable until its deadline, at up to its
///         `maxPremium` (the PoC: written three days later, after a fall from 3,000 to 2,850,
///         for 999.70 USDC against a model value of 833.09). `useNonce` voids it.
contract AuditFindings9UseNonceTest is VaultTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        _deposit(alice, 100_000e6);
        expiry = uint64(block.timestamp + 30 days);
    }

    /// @dev A week-long quote for 5 calls (3000, cap 1000) at the vault's upper bound now,
    ///      signed by the buyer, who is funded and approves the vault.
    function _signedQuote()
        internal
        returns (IOptionVault.Quote memory q, uint256 premium, bytes memory sig)
    {
        (, premium) = _bounds(CALL, 3000e8, 1000e8, expiry, 5e18);
        q = _quote(CALL, 3000e8, 1000e8, expiry, 5e18, premium);
        q.deadline = block.timestamp + 7 days;
        sig = _sign(q, buyerKey);
        _fundBuyer(premium);
    }

    function test_useNonce_VoidsTheBuyersSignedQuote() public {
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) = _signedQuote();
        vm.prank(buyer);
        assertEq(vault.useNonce(), 0);
        assertEq(vault.nonces(buyer), 1);

        vm.warp(block.timestamp + 3 days);
        _setPrice(2850e8); // the desk would write it now: the price fell, the quote did not
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidSignature.selector, buyer, 1)
        );
        vault.writeOption(q, premium, sig);
    }

    function test_useNonce_TheNextQuoteCarriesTheNextNonce() public {
        vm.prank(buyer);
        vault.useNonce();
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) = _signedQuote();
        assertEq(q.nonce, 1);
        uint256 before = usdc.balanceOf(buyer);
        vm.prank(desk);
        vault.writeOption(q, premium, sig);
        assertEq(before - usdc.balanceOf(buyer), premium);
        assertEq(vault.nonces(buyer), 2);
    }

    function test_useNonce_MovesOnlyTheCallersNonce() public {
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) = _signedQuote();
        vm.prank(alice); // anyone else: its own nonce, never the buyer's
        assertEq(vault.useNonce(), 0);
        assertEq(vault.nonces(alice), 1);
        assertEq(vault.nonces(buyer), 0);
        vm.prank(desk);
        vault.writeOption(q, premium, sig);
    }
}

/// @notice helper-111, finding L-2, a limit pinned (docs/security.md, "Supported tokens"): with
///         a quote token's transfer fee on (USDT's fee switch), a hedge *purchase* through
///         UniswapV3Venue reverts. The venue pays the pool from its caller in the swap callback;
///         the pool receives the amount less the fee and fails its balance check ("IIA"). The
///         vault's books stay right (balances are measured), but its hedge buys stop.
contract AuditFindings9FeeQuoteVenueTest is UniswapV3Fixture {
    FeeOnTransferToken internal quote;
    MintableERC20 internal weth;
    UniswapV3Venue internal venue;
    address internal vaultLike = makeAddr("vault");

    function setUp() public {
        _deployUniswap();
        quote = new FeeOnTransferToken(0);
        weth = new MintableERC20("Wrapped Ether", "WETH", 18);
        // The fixture's pool (its calls: decimals, mint, approve, which the fee token has too).
        address pool = _createPool(MintableERC20(address(quote)), weth, 3000e8, 1000e18);
        venue = new UniswapV3Venue(pool, address(quote), address(weth));
    }

    /// @dev What `OptionVault._rebalance` does for a buy: approve exactly `amountIn`, swap.
    function _buy(uint256 amountIn) internal {
        quote.mint(vaultLike, amountIn);
        vm.startPrank(vaultLike);
        quote.approve(address(venue), amountIn);
        venue.swapExactIn(address(quote), address(weth), amountIn, 0, vaultLike);
        vm.stopPrank();
    }

    function test_swapExactIn_BuysWhileTheQuoteTakesNoFee() public {
        _buy(30_000e6);
        assertGt(weth.balanceOf(vaultLike), 9e18);
    }

    function test_swapExactIn_RevertWhen_TheQuoteTakesATransferFee() public {
        quote.setFeeBps(10);
        quote.mint(vaultLike, 30_000e6);
        vm.startPrank(vaultLike);
        quote.approve(address(venue), 30_000e6);
        vm.expectRevert(bytes("IIA"));
        venue.swapExactIn(address(quote), address(weth), 30_000e6, 0, vaultLike);
        vm.stopPrank();
    }
}
