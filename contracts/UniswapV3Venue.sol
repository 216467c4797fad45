// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {IUniswapV3Venue} from "./interfaces/uniswap/IUniswapV3Venue.sol";
import {ISwapRouter} from "./interfaces/uniswap/ISwapRouter.sol";
import {ISwapRouter02} from "./interfaces/uniswap/ISwapRouter02.sol";
import {IUniswapV3Pool} from "./interfaces/uniswap/IUniswapV3Pool.sol";

/// @title UniswapV3Venue
/// @notice Hedge venue over one Uniswap V3 pool (quote/underlying, one fee tier): swaps through
///         the router's `exactInputSingle` and prices from the pool's `slot0`.
/// @dev Stateless and permissionless: it pulls `amountIn` from the caller, the router pulls it
///      from here, and the output goes to `recipient` directly, so the venue never holds funds
///      between calls and anyone may use it. The router's unlimited allowance (set once in the
///      constructor) is safe for that reason and saves an approval per swap.
///      A `minOut` breach surfaces as the router's own revert (`Error("Too little received")`),
///      because `amountOutMinimum = minOut`; the venue re-checks the result as a second line.
///      `spotPrice` reads the instantaneous `slot0` price, which one swap can move: callers use it
///      only for a gap check against an oracle, never as a price source.
///
///      Two routers. The original `SwapRouter` takes a `deadline` in its params, `SwapRouter02`
///      does not (see {IUniswapV3Venue-RouterKind}); sending one ABI to the other reverts every
///      swap. The constructor asks the router for `factoryV2()`, which only SwapRouter02 has, and
///      fixes the kind in an immutable, so a venue can never be built with the wrong ABI for its
///      router and the existing 4-argument constructor stays as it was. Deploy scripts
///      cross-check `routerKind()` against their configuration.
contract UniswapV3Venue is IUniswapV3Venue {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ storage

    address private immutable _router;
    RouterKind private immutable _routerKind;
    IUniswapV3Pool private immutable _pool;
    address private immutable _quote;
    address private immutable _underlying;
    uint24 private immutable _fee;
    bool private immutable _underlyingIsToken0;
    /// @dev price8 = raw price (quote units per underlying unit) * 10^(uDec + 8) / 10^qDec.
    uint256 private immutable _scaleNum;
    uint256 private immutable _scaleDen;

    uint256 private constant _Q64 = 1 << 64;
    uint256 private constant _Q96 = 1 << 96;
    uint256 private constant _Q128 = 1 << 128;

    // ------------------------------------------------------------------ constructor

    /// @param router_ The Uniswap V3 `SwapRouter` or `SwapRouter02` (the kind is detected).
    /// @param pool_ The pool to trade in: its tokens must be exactly {quote_, underlying_}.
    /// @param quote_ The quote token (vault asset).
    /// @param underlying_ The underlying token.
    constructor(address router_, address pool_, address quote_, address underlying_) {
        if (
            router_ == address(0) || pool_ == address(0) || quote_ == address(0)
                || underlying_ == address(0)
        ) revert UniswapV3VenueZeroAddress();
        address token0 = IUniswapV3Pool(pool_).token0();
        address token1 = IUniswapV3Pool(pool_).token1();
        bool uIs0 = token0 == underlying_ && token1 == quote_;
        if (!uIs0 && !(token0 == quote_ && token1 == underlying_)) {
            revert UniswapV3VenuePoolMismatch(pool_, token0, token1);
        }
        uint8 qDec = IERC20Metadata(quote_).decimals();
        uint8 uDec = IERC20Metadata(underlying_).decimals();
        if (qDec > 18 || uDec > 18) revert UniswapV3VenueUnsupportedDecimals(qDec, uDec);

        _router = router_;
        _routerKind = _detectRouterKind(router_);
        _pool = IUniswapV3Pool(pool_);
        _quote = quote_;
        _underlying = underlying_;
        _fee = IUniswapV3Pool(pool_).fee();
        _underlyingIsToken0 = uIs0;
        _scaleNum = 10 ** (uint256(uDec) + 8);
        _scaleDen = 10 ** uint256(qDec);

        IERC20(quote_).forceApprove(router_, type(uint256).max);
        IERC20(underlying_).forceApprove(router_, type(uint256).max);
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IHedgeVenue
    function swapExactIn(
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 minOut,
        address recipient
    ) external returns (uint256 amountOut) {
        if (
            !(tokenIn == _quote && tokenOut == _underlying)
                && !(tokenIn == _underlying && tokenOut == _quote)
        ) revert HedgeVenueUnsupportedPair(tokenIn, tokenOut);
        if (amountIn == 0) revert HedgeVenueZeroAmount();

        IERC20(tokenIn).safeTransferFrom(msg.sender, address(this), amountIn);
        if (_routerKind == RouterKind.SwapRouter02) {
            amountOut = ISwapRouter02(_router)
                .exactInputSingle(
                    ISwapRouter02.ExactInputSingleParams({
                    tokenIn: tokenIn,
                    tokenOut: tokenOut,
                    fee: _fee,
                    recipient: recipient,
                    amountIn: amountIn,
                    amountOutMinimum: minOut,
                    sqrtPriceLimitX96: 0
                })
                );
        } else {
            // deadline = now: the swap runs inside the caller's transaction or not at all
            amountOut = ISwapRouter(_router)
                .exactInputSingle(
                    ISwapRouter.ExactInputSingleParams({
                    tokenIn: tokenIn,
                    tokenOut: tokenOut,
                    fee: _fee,
                    recipient: recipient,
                    deadline: block.timestamp,
                    amountIn: amountIn,
                    amountOutMinimum: minOut,
                    sqrtPriceLimitX96: 0
                })
                );
        }
        // The router already enforces amountOutMinimum; this guards against a faulty router.
        if (amountOut < minOut) revert HedgeVenueInsufficientOutput(amountOut, minOut);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IHedgeVenue
    /// @dev slot0's sqrtPriceX96 is sqrt(token1 units per token0 unit) * 2^96. Both branches use
    ///      512-bit `mulDiv`, and with both decimals <= 18 nothing overflows over the pool's
    ///      whole sqrt-price range [2^32, 2^160): every result and divisor is below 2^220.
    // slither-disable-next-line unused-return -- only the pool price is needed from slot0
    function spotPrice() external view returns (uint256 price8) {
        (uint160 sqrtPriceX96,,,,,,) = _pool.slot0();
        return _price8(sqrtPriceX96);
    }

    /// @notice Converts a pool sqrt price to this venue's 1e8 quote-per-underlying price.
    /// @dev Exposed so tests and the keeper can check the conversion at any sqrt price.
    function priceFromSqrtPriceX96(uint160 sqrtPriceX96) external view returns (uint256) {
        return _price8(sqrtPriceX96);
    }

    /// @inheritdoc IUniswapV3Venue
    function quoteToken() external view returns (address) {
        return _quote;
    }

    /// @inheritdoc IUniswapV3Venue
    function underlyingToken() external view returns (address) {
        return _underlying;
    }

    /// @inheritdoc IUniswapV3Venue
    function router() external view returns (address) {
        return _router;
    }

    /// @inheritdoc IUniswapV3Venue
    function routerKind() external view returns (RouterKind) {
        return _routerKind;
    }

    /// @inheritdoc IUniswapV3Venue
    function pool() external view returns (address) {
        return address(_pool);
    }

    /// @inheritdoc IUniswapV3Venue
    function fee() external view returns (uint24) {
        return _fee;
    }

    /// @inheritdoc IUniswapV3Venue
    function underlyingIsToken0() external view returns (bool) {
        return _underlyingIsToken0;
    }

    // ------------------------------------------------------------------ internal

    /// @dev SwapRouter02 answers `factoryV2()` with one address word; the original SwapRouter
    ///      has no such function and no fallback, so the call reverts. The gas cap bounds what a
    ///      hostile router could burn; a view of one immutable costs a few hundred gas.
    function _detectRouterKind(address router_) private view returns (RouterKind) {
        (bool ok, bytes memory ret) =
            router_.staticcall{gas: 50_000}(abi.encodeCall(ISwapRouter02.factoryV2, ()));
        return ok && ret.length == 32 ? RouterKind.SwapRouter02 : RouterKind.SwapRouter;
    }

    function _price8(uint160 sqrtPriceX96) internal view returns (uint256) {
        uint256 s = sqrtPriceX96;
        if (_underlyingIsToken0) {
            // raw = quote units per underlying unit = s^2 / 2^192. s^2 / 2^64 < 2^256 since s < 2^160.
            uint256 priceX128 = Math.mulDiv(s, s, _Q64);
            return Math.mulDiv(priceX128, _scaleNum, _scaleDen * _Q128);
        }
        // raw = 2^192 / s^2 (quote units per underlying unit, inverted pool price).
        return Math.mulDiv(Math.mulDiv(_scaleNum, _Q96, s), _Q96, s * _scaleDen);
    }
}
