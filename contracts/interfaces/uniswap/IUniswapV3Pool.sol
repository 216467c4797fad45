// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IUniswapV3Pool (minimal)
/// @notice The subset of a Uniswap V3 pool (v3-core 1.0.1, solc 0.7.6) this project reads.
interface IUniswapV3Pool {
    /// @notice The pool's current state; only `sqrtPriceX96` and `tick` are used here.
    /// @return sqrtPriceX96 sqrt(token1 units per token0 unit) as a Q64.96.
    /// @return tick The current tick.
    /// @return observationIndex Oracle: last written observation.
    /// @return observationCardinality Oracle: observations stored.
    /// @return observationCardinalityNext Oracle: observations to be stored.
    /// @return feeProtocol Protocol fee share.
    /// @return unlocked Whether the pool is not in the middle of a swap (reentrancy lock).
    function slot0()
        external
        view
        returns (
            uint160 sqrtPriceX96,
            int24 tick,
            uint16 observationIndex,
            uint16 observationCardinality,
            uint16 observationCardinalityNext,
            uint8 feeProtocol,
            bool unlocked
        );

    /// @notice The lower-address token of the pair.
    function token0() external view returns (address);

    /// @notice The higher-address token of the pair.
    function token1() external view returns (address);

    /// @notice The pool's fee tier in hundredths of a bip (500 = 0.05%).
    function fee() external view returns (uint24);

    /// @notice In-range liquidity.
    function liquidity() external view returns (uint128);

    /// @notice Swaps token0 for token1 (`zeroForOne`) or back. The output goes to `recipient`
    ///         first; the pool then calls `uniswapV3SwapCallback` on `msg.sender`, which must pay
    ///         the input, and checks its own balance.
    /// @param amountSpecified Exact input when positive, exact output when negative.
    /// @param sqrtPriceLimitX96 The swap stops at this price (below the current one for
    ///        `zeroForOne`, above it otherwise).
    /// @param data Passed through to the callback.
    /// @return amount0 The pool's token0 delta (positive: the pool received it).
    /// @return amount1 The pool's token1 delta.
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}
