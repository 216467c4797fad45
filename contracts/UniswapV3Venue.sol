// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {IUniswapV3Venue} from "./interfaces/uniswap/IUniswapV3Venue.sol";
import {IUniswapV3Pool} from "./interfaces/uniswap/IUniswapV3Pool.sol";

/// @title UniswapV3Venue
/// @notice Hedge venue over one Uniswap V3 pool (quote/underlying, one fee tier): swaps on the
///         pool directly, paying it from the caller in the pool's swap callback, and prices from
///         the pool's `slot0`.
/// @dev Stateless and permissionless. The output goes from the pool to `recipient`; the input
///      goes from the caller (who approved this venue `amountIn`) to the pool, inside
///      `uniswapV3SwapCallback`. So the venue never holds a token, not even within the call, and
///      anyone may use it.
///
///      Why not the Uniswap router: a router swap pulls the input into the venue first (a zero
///      to nonzero balance write, refunded later), calls the router, which derives the pool
///      address and pulls the input a second time from the venue in its own callback. Calling
///      the pool saves that hop, ~16k gas a swap (~18k in a whole rebalance), and works on any
///      chain where the pool exists, whatever router ABI that chain's deployment has.
///
///      The callback is the one entry that moves a caller's tokens. It pays only the pool
///      (`msg.sender` must be the immutable pool), only during one of this venue's own swaps
///      (the payer is in transient storage from `swapExactIn` until the pool returns), and only
///      from that swap's payer. The pool's own lock stops a nested swap on it.
///
///      Exact input, all or nothing: the price limit is the pool's extreme, so the pool takes
///      all of `amountIn` unless it runs out of liquidity; then the venue reverts
///      (`UniswapV3VenuePartialFill`) rather than leave part of the input with the caller.
///      `spotPrice` reads the instantaneous `slot0` price, which one swap can move: callers use
///      it only for a gap check against an oracle, never as a price source.
contract UniswapV3Venue is IUniswapV3Venue {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ storage

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
    /// @dev v3-core TickMath's bounds; a limit one step inside them never stops an exact-input
    ///      swap before the pool's liquidity does.
    uint160 private constant _MIN_SQRT_RATIO = 4_295_128_739;
    uint160 private constant _MAX_SQRT_RATIO =
        1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_342;
    /// @dev Transient slot holding the payer of the swap in progress (zero outside one):
    ///      keccak256("UniswapV3Venue.payer") - 1.
    bytes32 private constant _PAYER_SLOT =
        0x83d3de85ec649b5f0ae64e09e5acf87683e8e99e7a1158fc0d3b975b5d6e742c;

    // ------------------------------------------------------------------ constructor

    /// @param pool_ The pool to trade in: its tokens must be exactly {quote_, underlying_}.
    /// @param quote_ The quote token (vault asset).
    /// @param underlying_ The underlying token.
    constructor(address pool_, address quote_, address underlying_) {
        if (pool_ == address(0) || quote_ == address(0) || underlying_ == address(0)) {
            revert UniswapV3VenueZeroAddress();
        }
        address token0 = IUniswapV3Pool(pool_).token0();
        address token1 = IUniswapV3Pool(pool_).token1();
        bool uIs0 = token0 == underlying_ && token1 == quote_;
        if (!uIs0 && !(token0 == quote_ && token1 == underlying_)) {
            revert UniswapV3VenuePoolMismatch(pool_, token0, token1);
        }
        uint8 qDec = IERC20Metadata(quote_).decimals();
        uint8 uDec = IERC20Metadata(underlying_).decimals();
        if (qDec > 18 || uDec > 18) revert UniswapV3VenueUnsupportedDecimals(qDec, uDec);

        _pool = IUniswapV3Pool(pool_);
        _quote = quote_;
        _underlying = underlying_;
        _fee = IUniswapV3Pool(pool_).fee();
        _underlyingIsToken0 = uIs0;
        _scaleNum = 10 ** (uint256(uDec) + 8);
        _scaleDen = 10 ** uint256(qDec);
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
        bool buy = tokenIn == _quote && tokenOut == _underlying;
        if (!buy && !(tokenIn == _underlying && tokenOut == _quote)) {
            revert HedgeVenueUnsupportedPair(tokenIn, tokenOut);
        }
        if (amountIn == 0) revert HedgeVenueZeroAmount();

        // token0 in: selling the underlying when it is token0, buying it when the quote is.
        bool zeroForOne = buy != _underlyingIsToken0;
        _setPayer(msg.sender);
        (int256 amount0, int256 amount1) = _pool.swap(
            recipient,
            zeroForOne,
            SafeCast.toInt256(amountIn),
            zeroForOne ? _MIN_SQRT_RATIO + 1 : _MAX_SQRT_RATIO - 1,
            ""
        );
        _setPayer(address(0));
        (int256 paid, int256 received) = zeroForOne ? (amount0, amount1) : (amount1, amount0);
        // The pool's deltas: what it took (>= 0) and what it sent (<= 0) in an exact-input swap.
        // forge-lint: disable-next-line(unsafe-typecast) -- 0 <= paid <= amountIn (exact input)
        if (uint256(paid) != amountIn) revert UniswapV3VenuePartialFill(uint256(paid), amountIn);
        // forge-lint: disable-next-line(unsafe-typecast) -- received <= 0, at most the pool's balance
        amountOut = uint256(-received);
        if (amountOut < minOut) revert HedgeVenueInsufficientOutput(amountOut, minOut);
    }

    /// @inheritdoc IUniswapV3Venue
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata)
        external
    {
        address payer;
        bytes32 slot = _PAYER_SLOT;
        assembly ("memory-safe") {
            payer := tload(slot)
        }
        if (msg.sender != address(_pool) || payer == address(0)) {
            revert UniswapV3VenueUnauthorizedCallback(msg.sender);
        }
        // Exact input: exactly one delta is positive, the pool's input.
        (address token, int256 owed) = amount0Delta > 0
            ? (_underlyingIsToken0 ? _underlying : _quote, amount0Delta)
            : (_underlyingIsToken0 ? _quote : _underlying, amount1Delta);
        if (owed > 0) {
            // forge-lint: disable-next-line(unsafe-typecast) -- owed > 0
            uint256 amount = uint256(owed);
            // slither-disable-next-line arbitrary-send-erc20 -- payer is swapExactIn's own msg.sender, held in transient storage only around this venue's pool.swap, and the caller is that pool
            IERC20(token).safeTransferFrom(payer, msg.sender, amount);
        }
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

    /// @inheritdoc IUniswapV3Venue
    /// @dev `L * s / 2^96` raw quote units when the quote is token1, `L * 2^96 / s` when it is
    ///      token0 (s = slot0's sqrtPriceX96), then scaled as `spotPrice` is: 512-bit `mulDiv`,
    ///      nothing overflows over s in [2^32, 2^160) and L below 2^128.
    // slither-disable-next-line unused-return -- only the pool price is needed from slot0
    function depth() external view returns (uint256 quoteDepth8, uint24 feePips) {
        (uint160 sqrtPriceX96,,,,,,) = _pool.slot0();
        uint256 l = _pool.liquidity();
        uint256 s = sqrtPriceX96;
        if (s == 0) return (0, _fee);
        uint256 raw = _underlyingIsToken0 ? Math.mulDiv(l, s, _Q96) : Math.mulDiv(l, _Q96, s);
        return (Math.min(Math.mulDiv(raw, 1e8, _scaleDen), type(uint128).max), _fee);
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

    /// @dev Sets the transient payer slot (`swapExactIn` around the pool's swap).
    function _setPayer(address payer) private {
        bytes32 slot = _PAYER_SLOT;
        assembly ("memory-safe") {
            tstore(slot, payer)
        }
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
