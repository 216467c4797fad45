// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title INonfungiblePositionManager (minimal)
/// @notice The subset of Uniswap V3's position manager (v3-periphery 1.4.4, solc 0.7.6) that tests
///         and the devnet use to create pools and add liquidity.
interface INonfungiblePositionManager {
    /// @notice Parameters of `mint` (field order is the ABI: do not reorder).
    struct MintParams {
        address token0;
        address token1;
        uint24 fee;
        int24 tickLower;
        int24 tickUpper;
        uint256 amount0Desired;
        uint256 amount1Desired;
        uint256 amount0Min;
        uint256 amount1Min;
        address recipient;
        uint256 deadline;
    }

    /// @notice Creates and initializes the pool at `sqrtPriceX96` unless it already exists
    ///         (`token0` must be the lower address).
    function createAndInitializePoolIfNecessary(
        address token0,
        address token1,
        uint24 fee,
        uint160 sqrtPriceX96
    ) external payable returns (address pool);

    /// @notice Mints a liquidity position NFT, pulling the tokens from `msg.sender`.
    function mint(MintParams calldata params)
        external
        payable
        returns (uint256 tokenId, uint128 liquidity, uint256 amount0, uint256 amount1);
}
