// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IHedgeVenue} from "../IHedgeVenue.sol";

/// @title IUniswapV3Venue
/// @notice A hedge venue over one Uniswap V3 pool. It swaps on the pool itself and pays the pool
///         from the caller in the pool's swap callback; no router is involved.
interface IUniswapV3Venue is IHedgeVenue {
    /// @notice The pool's tokens are not exactly {quote, underlying}.
    error UniswapV3VenuePoolMismatch(address pool, address token0, address token1);

    /// @notice A constructor address is zero.
    error UniswapV3VenueZeroAddress();

    /// @notice A token's decimals are too large for the price scaling (more than 18).
    error UniswapV3VenueUnsupportedDecimals(uint8 quoteDecimals, uint8 underlyingDecimals);

    /// @notice `uniswapV3SwapCallback` was called by something other than the pool, or outside
    ///         one of this venue's own swaps.
    error UniswapV3VenueUnauthorizedCallback(address caller);

    /// @notice The pool took less than `amountIn`: it ran out of liquidity before the price
    ///         limit. The swap is refused rather than filled in part.
    error UniswapV3VenuePartialFill(uint256 consumed, uint256 amountIn);

    /// @notice Called by the pool during `swap`: pays the pool its input from the payer of the
    ///         swap in progress (the caller of `swapExactIn`).
    /// @param amount0Delta The pool's token0 delta (positive: owed to the pool).
    /// @param amount1Delta The pool's token1 delta.
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata)
        external;

    /// @notice The quote token (the vault asset) this venue trades.
    function quoteToken() external view returns (address);

    /// @notice The underlying token this venue trades.
    function underlyingToken() external view returns (address);

    /// @notice The pool `spotPrice` reads and swaps trade in.
    function pool() external view returns (address);

    /// @notice The pool's fee tier (hundredths of a bip).
    function fee() external view returns (uint24);

    /// @notice Whether the underlying is the pool's `token0` (else the quote is).
    function underlyingIsToken0() external view returns (bool);

    /// @notice What the pool offers at its current price, for an off-chain cost model: its
    ///         depth and its fee tier.
    /// @dev Inside a tick range the pool trades as a constant product over virtual reserves
    ///      `L / sqrtP` (token0) and `L * sqrtP` (token1), L its in-range liquidity. A trade of
    ///      `x` of either token gets about `x / reserve` less than the pool's price, before the
    ///      fee; both reserves are worth the same at that price. So the depth is the quote's
    ///      virtual reserve, in whole quote units scaled to 8 decimals (as `spotPrice`), rounded
    ///      down and capped at 2^128 - 1. It holds while a trade stays in the current range (a
    ///      full-range position): one that crosses into thinner ticks moves the price more.
    /// @return quoteDepth8 The quote's virtual reserve at the pool's price (1e8 a whole unit).
    /// @return feePips The pool's fee tier (hundredths of a bip).
    function depth() external view returns (uint256 quoteDepth8, uint24 feePips);
}
