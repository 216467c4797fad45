// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IQuoterV2 (minimal)
/// @notice The subset of Uniswap V3's `QuoterV2` (v3-periphery 1.4.4, solc 0.7.6) used here.
/// @dev The quoter is not a view: it runs the swap and reverts with the result, so call it with
///      `eth_call` (or from a test), never in a transaction that should persist state.
interface IQuoterV2 {
    /// @notice Parameters of `quoteExactInputSingle` (field order is the ABI: do not reorder).
    struct QuoteExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint256 amountIn;
        uint24 fee;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice What `exactInputSingle` would return now, and where it would leave the pool.
    /// @return amountOut Output amount.
    /// @return sqrtPriceX96After The pool's sqrt price after the swap.
    /// @return initializedTicksCrossed Initialized ticks crossed.
    /// @return gasEstimate The quoter's gas estimate for the swap.
    function quoteExactInputSingle(QuoteExactInputSingleParams memory params)
        external
        returns (
            uint256 amountOut,
            uint160 sqrtPriceX96After,
            uint32 initializedTicksCrossed,
            uint256 gasEstimate
        );
}
