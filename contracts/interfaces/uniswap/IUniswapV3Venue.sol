// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IHedgeVenue} from "../IHedgeVenue.sol";

/// @title IUniswapV3Venue
/// @notice A hedge venue over one Uniswap V3 pool, swapping through either Uniswap V3 router:
///         the original `SwapRouter` (params with a `deadline`) or `SwapRouter02` (without).
interface IUniswapV3Venue is IHedgeVenue {
    /// @notice Which router ABI the venue calls, detected once at construction.
    /// @dev `SwapRouter`: v3-periphery's original router, `exactInputSingle` selector
    ///      `0x414bf389`. `SwapRouter02`: swap-router-contracts' router, selector `0x04e45aaf`
    ///      (the only one the Uniswap docs list on Arbitrum, Base and OP Sepolia).
    enum RouterKind {
        SwapRouter,
        SwapRouter02
    }

    /// @notice The pool's tokens are not exactly {quote, underlying}.
    error UniswapV3VenuePoolMismatch(address pool, address token0, address token1);

    /// @notice A constructor address is zero.
    error UniswapV3VenueZeroAddress();

    /// @notice A token's decimals are too large for the price scaling (more than 18).
    error UniswapV3VenueUnsupportedDecimals(uint8 quoteDecimals, uint8 underlyingDecimals);

    /// @notice The quote token (the vault's asset) this venue trades.
    function quoteToken() external view returns (address);

    /// @notice The underlying token this venue trades.
    function underlyingToken() external view returns (address);

    /// @notice The Uniswap router swaps go through.
    function router() external view returns (address);

    /// @notice The router's ABI generation, fixed at construction.
    function routerKind() external view returns (RouterKind);

    /// @notice The pool `spotPrice` reads and swaps trade in.
    function pool() external view returns (address);

    /// @notice The pool's fee tier (hundredths of a bip).
    function fee() external view returns (uint24);

    /// @notice Whether the underlying is the pool's `token0` (else the quote is).
    function underlyingIsToken0() external view returns (bool);
}
