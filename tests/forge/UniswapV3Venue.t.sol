// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {UniswapV3Venue} from "../../contracts/UniswapV3Venue.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {IUniswapV3Venue} from "../../contracts/interfaces/uniswap/IUniswapV3Venue.sol";
import {IUniswapV3Pool} from "../../contracts/interfaces/uniswap/IUniswapV3Pool.sol";
import {IQuoterV2} from "../../contracts/interfaces/uniswap/IQuoterV2.sol";
import {UniswapV3Fixture} from "./utils/UniswapV3Fixture.sol";

/// @notice UniswapV3Venue against the real Uniswap V3 (npm artifacts), for both token orderings.
contract UniswapV3VenueTest is UniswapV3Fixture {
    uint256 internal constant PRICE = 3000e8; // 3,000 quote per underlying
    uint256 internal constant DEPTH = 1000e18; // full-range liquidity: ~1,000 underlying a side

    address internal vault = makeAddr("vault");
    address internal recipient = makeAddr("recipient");

    // ordering A: underlying is token0
    MintableERC20 internal quoteA;
    MintableERC20 internal underlyingA;
    address internal poolA;
    UniswapV3Venue internal venueA;
    // ordering B: quote is token0
    MintableERC20 internal quoteB;
    MintableERC20 internal underlyingB;
    address internal poolB;
    UniswapV3Venue internal venueB;

    function setUp() public {
        _deployUniswap();
        (quoteA, underlyingA) = _deployTokens(true);
        (quoteB, underlyingB) = _deployTokens(false);
        poolA = _createPool(quoteA, underlyingA, PRICE, DEPTH);
        poolB = _createPool(quoteB, underlyingB, PRICE, DEPTH);
        venueA = new UniswapV3Venue(poolA, address(quoteA), address(underlyingA));
        venueB = new UniswapV3Venue(poolB, address(quoteB), address(underlyingB));
    }

    // ------------------------------------------------------------------ helpers

    function _fund(MintableERC20 token, address venue, uint256 amount) internal {
        token.mint(vault, amount);
        vm.prank(vault);
        token.approve(venue, amount);
    }

    function _quote(address tokenIn, address tokenOut, uint256 amountIn)
        internal
        returns (uint256 amountOut)
    {
        (amountOut,,,) = quoter.quoteExactInputSingle(
            IQuoterV2.QuoteExactInputSingleParams({
                tokenIn: tokenIn,
                tokenOut: tokenOut,
                amountIn: amountIn,
                fee: FEE,
                sqrtPriceLimitX96: 0
            })
        );
    }

    function _assertRelClose(uint256 a, uint256 b, uint256 maxBps) internal pure {
        uint256 diff = a > b ? a - b : b - a;
        assertLe(diff * 10_000, b * maxBps, "not within bps");
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor_SetsGetters() public view {
        assertEq(venueA.pool(), poolA);
        assertEq(venueA.quoteToken(), address(quoteA));
        assertEq(venueA.underlyingToken(), address(underlyingA));
        assertEq(venueA.fee(), FEE);
        assertTrue(venueA.underlyingIsToken0());
        assertFalse(venueB.underlyingIsToken0());
        assertEq(IUniswapV3Pool(poolA).token0(), address(underlyingA));
        assertEq(IUniswapV3Pool(poolB).token0(), address(quoteB));
    }

    function test_constructor_RevertWhen_PoolTokensMismatch() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IUniswapV3Venue.UniswapV3VenuePoolMismatch.selector,
                poolA,
                address(underlyingA),
                address(quoteA)
            )
        );
        new UniswapV3Venue(poolA, address(quoteB), address(underlyingA));
    }

    function test_constructor_RevertWhen_ZeroAddress() public {
        vm.expectRevert(IUniswapV3Venue.UniswapV3VenueZeroAddress.selector);
        new UniswapV3Venue(address(0), address(quoteA), address(underlyingA));
        vm.expectRevert(IUniswapV3Venue.UniswapV3VenueZeroAddress.selector);
        new UniswapV3Venue(poolA, address(0), address(underlyingA));
        vm.expectRevert(IUniswapV3Venue.UniswapV3VenueZeroAddress.selector);
        new UniswapV3Venue(poolA, address(quoteA), address(0));
    }

    function test_constructor_RevertWhen_DecimalsTooLarge() public {
        MintableERC20 big = new MintableERC20("Big", "BIG", 24);
        address pool = factory.createPool(address(big), address(quoteA), FEE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IUniswapV3Venue.UniswapV3VenueUnsupportedDecimals.selector, uint8(6), uint8(24)
            )
        );
        new UniswapV3Venue(pool, address(quoteA), address(big));
    }

    // ------------------------------------------------------------------ spotPrice

    function test_spotPrice_MatchesInitializedPrice_UnderlyingToken0() public view {
        // sqrt rounding in the initial price costs at most a few parts in 1e15
        _assertRelClose(venueA.spotPrice(), PRICE, 1);
        assertApproxEqAbs(venueA.spotPrice(), PRICE, 1);
    }

    function test_spotPrice_MatchesInitializedPrice_QuoteToken0() public view {
        assertApproxEqAbs(venueB.spotPrice(), PRICE, 1);
    }

    function test_spotPrice_RisesAfterBuyingUnderlying() public {
        uint256 before = venueB.spotPrice();
        _fund(quoteB, address(venueB), 300_000e6);
        vm.prank(vault);
        venueB.swapExactIn(address(quoteB), address(underlyingB), 300_000e6, 0, vault);
        uint256 afterPrice = venueB.spotPrice();
        // 300k quote into ~3M quote of depth: price up by about (1.1)^2 - 1 = 21%
        assertGt(afterPrice, before * 115 / 100);
        assertLt(afterPrice, before * 125 / 100);
    }

    // ------------------------------------------------------------------ depth

    /// @notice ~1,000 underlying a side at 3,000: the quote's virtual reserve is ~3M, and the
    ///         fee tier is the pool's, in either token order.
    function test_depth_IsTheQuotesVirtualReserveAndTheFeeTier() public view {
        (uint256 a, uint24 feeA) = venueA.depth();
        (uint256 b, uint24 feeB) = venueB.depth();
        assertEq(feeA, FEE);
        assertEq(feeB, FEE);
        _assertRelClose(a, 3_000_000e8, 10);
        _assertRelClose(b, 3_000_000e8, 10);
    }

    /// @notice A buy of 1% of the depth, quoted by QuoterV2: what it gets short of the pool price
    ///         after the fee is amount / depth to first order (a constant product's
    ///         x / (depth + x)), underlying as token0.
    function test_depth_PredictsABuysShortfall_UnderlyingToken0() public {
        _assertShortfallIsAmountOverDepth(venueA, quoteA, underlyingA, true);
    }

    /// @notice The same for a sale of underlying worth 1% of the depth, quote as token0.
    function test_depth_PredictsASalesShortfall_QuoteToken0() public {
        _assertShortfallIsAmountOverDepth(venueB, quoteB, underlyingB, false);
    }

    function _assertShortfallIsAmountOverDepth(
        UniswapV3Venue venue,
        MintableERC20 quote,
        MintableERC20 underlying,
        bool buy
    ) internal {
        (uint256 depth8,) = venue.depth();
        uint256 spot8 = venue.spotPrice();
        uint256 quoteIn = depth8 * 1e6 / 1e8 / 100; // 1% of the depth, in quote units
        uint256 amountIn = buy ? quoteIn : quoteIn * 1e20 / spot8; // underlying: 18 decimals
        uint256 atPool = buy ? amountIn * 1e20 / spot8 : amountIn * spot8 / 1e20;
        uint256 afterFee = atPool * (1e6 - FEE) / 1e6;
        uint256 out = buy
            ? _quote(address(quote), address(underlying), amountIn)
            : _quote(address(underlying), address(quote), amountIn);
        uint256 shortfall = (afterFee - out) * 1e18 / afterFee;
        // x / (depth + x) at x = 1% is 0.99% of the trade; the model says 1%.
        _assertRelClose(shortfall, 1e16, 150);
    }

    function test_priceFromSqrtPriceX96_KnownValues() public view {
        // underlying token0: sqrtP = 2^96 * sqrt(3000e6 / 1e18) -> 3000e8
        uint160 sqrtA = _sqrtPriceX96(PRICE, address(quoteA), address(underlyingA), 6, 18);
        assertApproxEqAbs(venueA.priceFromSqrtPriceX96(sqrtA), PRICE, 1);
        // price 1 exactly: raw = 1e6 / 1e18 = 1e-12 -> sqrtP = 2^96 / 1e6
        uint256 q96 = 1 << 96;
        assertApproxEqAbs(venueA.priceFromSqrtPriceX96(uint160(q96 / 1e6)), 1e8, 1);
        // quote token0: raw = 1e18 / 1e6 = 1e12 -> sqrtP = 2^96 * 1e6 -> price 1e8 exactly
        assertEq(venueB.priceFromSqrtPriceX96(uint160((1 << 96) * 1e6)), 1e8);
    }

    function test_priceFromSqrtPriceX96_NoOverflowAtExtremes() public view {
        // the whole pool range converts without reverting, in both orderings
        assertGt(venueA.priceFromSqrtPriceX96(MAX_SQRT_RATIO - 1), 0);
        assertEq(venueA.priceFromSqrtPriceX96(MIN_SQRT_RATIO), 0); // ~1e-38 quote/underlying
        assertGt(venueB.priceFromSqrtPriceX96(MIN_SQRT_RATIO), 0);
        assertEq(venueB.priceFromSqrtPriceX96(MAX_SQRT_RATIO - 1), 0);
    }

    function testFuzz_priceFromSqrtPriceX96_RoundTrips(uint256 price8) public view {
        price8 = bound(price8, 1e4, 1e16); // 0.0001 to 100M quote per underlying
        uint160 sqrtA = _sqrtPriceX96(price8, address(quoteA), address(underlyingA), 6, 18);
        uint160 sqrtB = _sqrtPriceX96(price8, address(quoteB), address(underlyingB), 6, 18);
        // the integer sqrt loses < 1 part in sqrtP (>= 2^70 here), so 1e-9 relative is ample;
        // the result is floored to whole 1e-8 units, hence the extra unit
        uint256 tol = 1 + price8 / 1e9;
        assertApproxEqAbs(venueA.priceFromSqrtPriceX96(sqrtA), price8, tol);
        assertApproxEqAbs(venueB.priceFromSqrtPriceX96(sqrtB), price8, tol);
    }

    function testFuzz_priceFromSqrtPriceX96_MonotoneInPoolPrice(uint160 s1, uint160 s2)
        public
        view
    {
        s1 = uint160(bound(s1, MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1));
        s2 = uint160(bound(s2, s1, MAX_SQRT_RATIO - 1));
        // underlying token0: pool price is quote/underlying, so the venue price rises with it
        assertLe(venueA.priceFromSqrtPriceX96(s1), venueA.priceFromSqrtPriceX96(s2));
        // quote token0: pool price is underlying/quote, so the venue price falls with it
        assertGe(venueB.priceFromSqrtPriceX96(s1), venueB.priceFromSqrtPriceX96(s2));
    }

    // ------------------------------------------------------------------ swapExactIn

    function _checkBuy(UniswapV3Venue venue, MintableERC20 quote, MintableERC20 underlying)
        internal
    {
        uint256 amountIn = 30_000e6; // ~10 underlying, 1% of the depth
        uint256 expected = _quote(address(quote), address(underlying), amountIn);
        _fund(quote, address(venue), amountIn);

        vm.prank(vault);
        uint256 out =
            venue.swapExactIn(address(quote), address(underlying), amountIn, expected, recipient);

        assertEq(out, expected, "quoter and swap disagree");
        assertEq(underlying.balanceOf(recipient), out);
        assertEq(quote.balanceOf(vault), 0);
        assertEq(quote.balanceOf(address(venue)), 0, "venue kept quote");
        assertEq(underlying.balanceOf(address(venue)), 0, "venue kept underlying");
        // real price impact: less than the fee-free spot amount (10e18) by fee (0.3%) + impact
        // (~1% for 1% of depth), and not absurdly less
        uint256 noImpact = amountIn * 1e12 * 1e8 / PRICE;
        assertLt(out, noImpact * 9970 / 10_000);
        assertGt(out, noImpact * 9800 / 10_000);
    }

    function test_swapExactIn_BuysUnderlying_UnderlyingToken0() public {
        _checkBuy(venueA, quoteA, underlyingA);
    }

    function test_swapExactIn_BuysUnderlying_QuoteToken0() public {
        _checkBuy(venueB, quoteB, underlyingB);
    }

    function _checkSell(UniswapV3Venue venue, MintableERC20 quote, MintableERC20 underlying)
        internal
    {
        uint256 amountIn = 10e18;
        uint256 expected = _quote(address(underlying), address(quote), amountIn);
        _fund(underlying, address(venue), amountIn);
        uint256 priceBefore = venue.spotPrice();

        vm.prank(vault);
        uint256 out =
            venue.swapExactIn(address(underlying), address(quote), amountIn, expected, recipient);

        assertEq(out, expected);
        assertEq(quote.balanceOf(recipient), out);
        assertEq(underlying.balanceOf(address(venue)), 0);
        uint256 noImpact = amountIn * PRICE / 1e8 / 1e12; // 30,000e6
        assertLt(out, noImpact * 9970 / 10_000);
        assertGt(out, noImpact * 9800 / 10_000);
        assertLt(venue.spotPrice(), priceBefore, "selling did not lower the price");
    }

    function test_swapExactIn_SellsUnderlying_UnderlyingToken0() public {
        _checkSell(venueA, quoteA, underlyingA);
    }

    function test_swapExactIn_SellsUnderlying_QuoteToken0() public {
        _checkSell(venueB, quoteB, underlyingB);
    }

    function test_swapExactIn_RevertWhen_BelowMinOut() public {
        uint256 amountIn = 30_000e6;
        uint256 expected = _quote(address(quoteA), address(underlyingA), amountIn);
        _fund(quoteA, address(venueA), amountIn);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeVenue.HedgeVenueInsufficientOutput.selector, expected, expected + 1
            )
        );
        vm.prank(vault);
        venueA.swapExactIn(address(quoteA), address(underlyingA), amountIn, expected + 1, recipient);
        // nothing moved
        assertEq(quoteA.balanceOf(vault), amountIn);
        assertEq(underlyingA.balanceOf(recipient), 0);
    }

    function test_swapExactIn_RevertWhen_UnsupportedPair() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeVenue.HedgeVenueUnsupportedPair.selector, address(quoteA), address(quoteB)
            )
        );
        venueA.swapExactIn(address(quoteA), address(quoteB), 1e6, 0, recipient);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeVenue.HedgeVenueUnsupportedPair.selector, address(quoteA), address(quoteA)
            )
        );
        venueA.swapExactIn(address(quoteA), address(quoteA), 1e6, 0, recipient);
    }

    function test_swapExactIn_RevertWhen_ZeroAmount() public {
        vm.expectRevert(IHedgeVenue.HedgeVenueZeroAmount.selector);
        venueA.swapExactIn(address(quoteA), address(underlyingA), 0, 0, recipient);
    }

    function test_swapExactIn_RevertWhen_NotApproved() public {
        quoteA.mint(vault, 1e6);
        vm.expectRevert(); // OZ ERC20InsufficientAllowance from the pull in the callback
        vm.prank(vault);
        venueA.swapExactIn(address(quoteA), address(underlyingA), 1e6, 0, recipient);
    }

    function testFuzz_swapExactIn_MatchesQuoterAndKeepsNothing(uint256 amountIn, bool buy) public {
        (address tIn, address tOut) =
            buy ? (address(quoteB), address(underlyingB)) : (address(underlyingB), address(quoteB));
        amountIn = buy ? bound(amountIn, 1e3, 1_000_000e6) : bound(amountIn, 1e9, 300e18);
        uint256 expected = _quote(tIn, tOut, amountIn);
        _fund(MintableERC20(tIn), address(venueB), amountIn);
        vm.prank(vault);
        uint256 out = venueB.swapExactIn(tIn, tOut, amountIn, expected, recipient);
        assertEq(out, expected);
        assertEq(MintableERC20(tOut).balanceOf(recipient), out);
        assertEq(MintableERC20(tIn).balanceOf(address(venueB)), 0);
        assertEq(MintableERC20(tOut).balanceOf(address(venueB)), 0);
    }

    function test_swapExactIn_Gas() public {
        _fund(quoteA, address(venueA), 30_000e6);
        vm.prank(vault);
        uint256 g = gasleft();
        venueA.swapExactIn(address(quoteA), address(underlyingA), 30_000e6, 0, recipient);
        g -= gasleft();
        emit log_named_uint("venue buy gas (warm pool, cold recipient)", g);
        assertLt(g, 200_000);
    }

    // ------------------------------------------------------------------ the pool callback

    /// @dev The callback moves an approver's tokens: nobody but the pool may call it.
    function test_uniswapV3SwapCallback_RevertWhen_CallerIsNotThePool() public {
        _fund(quoteA, address(venueA), 1_000e6); // the vault approved the venue
        address attacker = makeAddr("attacker");
        vm.expectRevert(
            abi.encodeWithSelector(
                IUniswapV3Venue.UniswapV3VenueUnauthorizedCallback.selector, attacker
            )
        );
        vm.prank(attacker);
        venueA.uniswapV3SwapCallback(0, 1_000e6, abi.encode(vault));
        assertEq(quoteA.balanceOf(vault), 1_000e6, "the approver was pulled");
    }

    /// @dev The pool itself calls the callback, asking for 1,000 quote, outside any swap of
    ///      the venue's: refused.
    function _poolCallsBackOutsideASwap() internal {
        vm.expectRevert(
            abi.encodeWithSelector(
                IUniswapV3Venue.UniswapV3VenueUnauthorizedCallback.selector, poolA
            )
        );
        vm.prank(poolA);
        venueA.uniswapV3SwapCallback(0, 1_000e6, "");
    }

    /// @dev Even the pool cannot pull outside one of the venue's own swaps (no payer is set).
    function test_uniswapV3SwapCallback_RevertWhen_NoSwapInProgress() public {
        _fund(quoteA, address(venueA), 1_000e6);
        _poolCallsBackOutsideASwap();
        assertEq(quoteA.balanceOf(vault), 1_000e6, "the approver was pulled");
    }

    /// @dev After a swap the payer slot is cleared: the pool cannot pull again later.
    function test_uniswapV3SwapCallback_RevertWhen_AfterASwap() public {
        _fund(quoteA, address(venueA), 2_000e6);
        vm.prank(vault);
        venueA.swapExactIn(address(quoteA), address(underlyingA), 1_000e6, 0, recipient);
        _poolCallsBackOutsideASwap();
        assertEq(quoteA.balanceOf(vault), 1_000e6, "only the swap's input left the vault");
    }

    /// @dev A pool without liquidity takes nothing before the price limit: the venue refuses
    ///      the fill rather than return less than `amountIn` spent.
    function test_swapExactIn_RevertWhen_PartialFill() public {
        (MintableERC20 q, MintableERC20 u) = _deployTokens(true);
        uint160 sqrtP = _sqrtPriceX96(PRICE, address(q), address(u), 6, 18);
        address empty = npm.createAndInitializePoolIfNecessary(address(u), address(q), FEE, sqrtP);
        UniswapV3Venue v = new UniswapV3Venue(empty, address(q), address(u));
        _fund(q, address(v), 1_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                IUniswapV3Venue.UniswapV3VenuePartialFill.selector, uint256(0), uint256(1_000e6)
            )
        );
        vm.prank(vault);
        v.swapExactIn(address(q), address(u), 1_000e6, 0, recipient);
        assertEq(q.balanceOf(vault), 1_000e6);
    }

    /// @dev The venue pays the pool straight from the caller: no token passes through it, and
    ///      the caller's allowance to it is spent exactly.
    function test_swapExactIn_PullsFromTheCallerIntoThePool() public {
        uint256 amountIn = 30_000e6;
        _fund(quoteB, address(venueB), amountIn);
        uint256 poolBefore = quoteB.balanceOf(poolB);
        vm.prank(vault);
        venueB.swapExactIn(address(quoteB), address(underlyingB), amountIn, 0, recipient);
        assertEq(quoteB.balanceOf(poolB) - poolBefore, amountIn);
        assertEq(quoteB.allowance(vault, address(venueB)), 0);
        assertEq(quoteB.balanceOf(address(venueB)), 0);
    }
}
