// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ISwapRouter (minimal)
/// @notice The subset of Uniswap V3's `SwapRouter` (v3-periphery 1.4.4, solc 0.7.6: the original
///         router, whose params carry a `deadline`, unlike SwapRouter02) that the forge fixture
///         trades through. The venue uses no router: it swaps on the pool.
interface ISwapRouter {
    /// @notice Parameters of `exactInputSingle` (field order is the ABI: do not reorder).
    /// @param tokenIn Token paid.
    /// @param tokenOut Token received.
    /// @param fee Pool fee tier.
    /// @param recipient Receiver of `tokenOut`.
    /// @param deadline Latest block timestamp at which the swap may execute.
    /// @param amountIn Exact `tokenIn` amount paid.
    /// @param amountOutMinimum The swap reverts ("Too little received") below this.
    /// @param sqrtPriceLimitX96 Price limit (0 = none).
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice Swaps exactly `amountIn` of one token for as much as possible of another, through
    ///         one pool. Pulls `tokenIn` from `msg.sender` (which must have approved the router).
    /// @return amountOut What `recipient` received.
    function exactInputSingle(ExactInputSingleParams calldata params)
        external
        payable
        returns (uint256 amountOut);
}
