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
}
