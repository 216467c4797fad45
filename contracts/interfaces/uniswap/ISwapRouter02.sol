// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ISwapRouter02 (minimal)
/// @notice The subset of Uniswap's `SwapRouter02` (swap-router-contracts 1.1.0, the router the
///         Uniswap docs list on Arbitrum, Base and OP Sepolia) that the venue calls. Its
///         `exactInputSingle` params have **no `deadline`** (selector `0x04e45aaf`, against the
///         original `SwapRouter`'s `0x414bf389`); a deadline, if wanted, goes through
///         `multicall(uint256 deadline, bytes[])`, which the venue does not need: it swaps inside
///         the caller's transaction.
interface ISwapRouter02 {
    /// @notice Parameters of `exactInputSingle` (`IV3SwapRouter.ExactInputSingleParams`; field
    ///         order is the ABI: do not reorder).
    /// @param tokenIn Token paid.
    /// @param tokenOut Token received.
    /// @param fee Pool fee tier.
    /// @param recipient Receiver of `tokenOut` (`address(1)` and `address(2)` are the router's
    ///        "msg.sender" and "this" aliases; the venue never passes them).
    /// @param amountIn Exact `tokenIn` amount paid.
    /// @param amountOutMinimum The swap reverts ("Too little received") below this.
    /// @param sqrtPriceLimitX96 Price limit (0 = none).
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    /// @notice Swaps exactly `amountIn` of one token for as much as possible of another, through
    ///         one V3 pool. Pulls `tokenIn` from `msg.sender` (which must have approved the router).
    /// @return amountOut What `recipient` received.
    function exactInputSingle(ExactInputSingleParams calldata params)
        external
        payable
        returns (uint256 amountOut);

    /// @notice The Uniswap V2 factory this router also trades through. Only SwapRouter02 has it
    ///         (the original SwapRouter does not), which is how the venue tells the two apart.
    function factoryV2() external view returns (address);
}
