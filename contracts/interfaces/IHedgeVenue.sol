// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IHedgeVenue
/// @notice Where a vault trades its hedge: swaps between the quote asset and the underlying.
/// @dev The first venue is one Uniswap V3 pool, swapped on directly (`UniswapV3Venue`); the
///      interface admits others (a perp, an aggregator). The vault always passes a `minOut`
///      derived from the oracle. A venue holds no funds between calls: it pulls `amountIn`
///      from the caller and the output goes straight to `recipient`.
interface IHedgeVenue {
    /// @notice The venue's swap returned less than the caller's minimum.
    error HedgeVenueInsufficientOutput(uint256 amountOut, uint256 minOut);

    /// @notice The caller passed a token pair this venue does not trade.
    error HedgeVenueUnsupportedPair(address tokenIn, address tokenOut);

    /// @notice The caller asked to swap nothing.
    error HedgeVenueZeroAmount();

    /// @notice Swaps exactly `amountIn` of `tokenIn` (already approved to this venue by the
    ///         caller) for at least `minOut` of `tokenOut`, sent to `recipient`.
    /// @return amountOut What `recipient` received.
    function swapExactIn(
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 minOut,
        address recipient
    ) external returns (uint256 amountOut);

    /// @notice The venue's current price of one whole underlying in quote, scaled to 8 decimals
    ///         like a Chainlink USD feed (for the pool-versus-oracle gap check), rounded down.
    function spotPrice() external view returns (uint256 price8);
}
