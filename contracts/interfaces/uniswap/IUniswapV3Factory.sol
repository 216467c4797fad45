// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IUniswapV3Factory (minimal)
/// @notice The subset of Uniswap V3's factory (v3-core 1.0.1, compiled with solc 0.7.6) that this
///         project calls. Declared here so 0.8 code can talk to the npm artifact's bytecode.
interface IUniswapV3Factory {
    /// @notice The pool for a pair and fee tier, or zero if none exists (either token order).
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address);

    /// @notice Creates the pool for a pair and fee tier (tokens may be passed in either order).
    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);

    /// @notice The tick spacing of an enabled fee tier, or 0 if the tier is not enabled.
    function feeAmountTickSpacing(uint24 fee) external view returns (int24);
}
