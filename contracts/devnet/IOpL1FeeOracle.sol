// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGasPriceOracle} from "../interfaces/IGasPriceOracle.sol";

/// @title IOpL1FeeOracle
/// @notice Devnet-only: the OP `GasPriceOracle` ABI plus the owner-settable fee parameters that
///         the real predeploy reads from the `L1Block` contract instead.
interface IOpL1FeeOracle is IGasPriceOracle {
    /// @notice `initialize` was called on an oracle that already has an owner.
    error OpL1FeeOracleAlreadyInitialized(address owner);

    /// @notice The caller is not the owner.
    error OpL1FeeOracleUnauthorized(address caller);

    /// @notice The new owner is the zero address.
    error OpL1FeeOracleZeroOwner();

    /// @notice `getL1FeeUpperBound` is Fjord-only, like the real contract's, and this oracle
    ///         models Ecotone.
    error OpL1FeeOracleFjordOnly();

    /// @notice The oracle got its owner (constructor or `initialize` after `anvil_setCode`).
    event Initialized(address indexed owner);

    /// @notice The fee parameters changed.
    event FeeParamsUpdated(
        uint256 l1BaseFee, uint256 blobBaseFee, uint32 baseFeeScalar, uint32 blobBaseFeeScalar
    );

    /// @notice Ownership moved.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice Sets the owner and the fee parameters once, on an oracle with no owner yet (the
    ///         state after `anvil_setCode`, which installs code but no storage).
    function initialize(
        address owner_,
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) external;

    /// @notice Sets every fee parameter (owner only).
    function setFeeParams(
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) external;

    /// @notice Moves ownership (owner only).
    function transferOwnership(address newOwner) external;

    /// @notice The owner, or zero before initialization.
    function owner() external view returns (address);
}
