// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IGasPriceOracle
/// @notice The read side of the OP Stack `GasPriceOracle` predeploy at
///         `0x420000000000000000000000000000000000000F`, as the keeper's cost model uses it.
/// @dev Signatures follow ethereum-optimism/optimism
///      `packages/contracts-bedrock/src/L2/GasPriceOracle.sol` (v1.3.0): note that `decimals()`
///      returns `uint256` and the scalars are `uint32`.
interface IGasPriceOracle {
    /// @notice L1 data fee (wei) for an unsigned, fully RLP-encoded transaction.
    function getL1Fee(bytes memory data) external view returns (uint256);

    /// @notice Upper bound of the L1 fee for an unsigned transaction of `unsignedTxSize` bytes
    ///         (Fjord only on the real contract).
    function getL1FeeUpperBound(uint256 unsignedTxSize) external view returns (uint256);

    /// @notice L1 gas the transaction's data is charged for (includes the 68-byte signature pad).
    function getL1GasUsed(bytes memory data) external view returns (uint256);

    /// @notice Latest known L1 base fee (wei).
    function l1BaseFee() external view returns (uint256);

    /// @notice Latest known L1 blob base fee (wei).
    function blobBaseFee() external view returns (uint256);

    /// @notice Ecotone base-fee scalar (6 decimals).
    function baseFeeScalar() external view returns (uint32);

    /// @notice Ecotone blob-base-fee scalar (6 decimals).
    function blobBaseFeeScalar() external view returns (uint32);

    /// @notice Decimals of the scalars (6).
    function decimals() external pure returns (uint256);

    /// @notice The L2 base fee (`block.basefee`).
    function gasPrice() external view returns (uint256);

    /// @notice The L2 base fee (`block.basefee`).
    function baseFee() external view returns (uint256);

    /// @notice Whether the chain has gone through Ecotone.
    function isEcotone() external view returns (bool);

    /// @notice Whether the chain has gone through Fjord.
    function isFjord() external view returns (bool);
}
