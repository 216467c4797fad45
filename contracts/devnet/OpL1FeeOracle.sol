// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGasPriceOracle} from "../interfaces/IGasPriceOracle.sol";
import {IOpL1FeeOracle} from "./IOpL1FeeOracle.sol";

/// @title OpL1FeeOracle
/// @notice DEVNET ONLY. An OP Stack `GasPriceOracle` stand-in for Anvil, which has no OP
///         predeploys: install its runtime code at `0x420000000000000000000000000000000000000F`
///         with `anvil_setCode`, then call `initialize`.
/// @dev Mirrors ethereum-optimism/optimism `packages/contracts-bedrock/src/L2/GasPriceOracle.sol`
///      (semver 1.3.0) in Ecotone mode: `getL1Fee` is `_getL1FeeEcotone`, i.e.
///        l1Gas = zeroBytes * 4 + nonZeroBytes * 16 + 68 * 16   (`_getCalldataGas`: the 68 bytes
///                pad for the signature missing from the unsigned transaction passed in)
///        fee   = l1Gas * (baseFeeScalar * 16 * l1BaseFee + blobBaseFeeScalar * blobBaseFee)
///                / (16 * 10^6), rounded down.
///      The real contract reads the four parameters from the `L1Block` predeploy; here the owner
///      sets them. `getL1FeeUpperBound` reverts as the real one does before Fjord (it needs the
///      Fjord FastLZ model, which this devnet oracle does not implement).
///
///      Storage, not immutables: `anvil_setCode` copies runtime code only, so constructor state
///      would be lost. After setCode every slot is zero, so `owner() == 0` and `initialize` may
///      be called once. Layout (for `anvil_setStorageAt` users):
///        slot 0: `_owner` (bytes 0-19) | `_baseFeeScalar` (bytes 20-23) |
///                `_blobBaseFeeScalar` (bytes 24-27), packed from the low-order end;
///        slot 1: `_l1BaseFee`; slot 2: `_blobBaseFee`.
///      Anyone may call `initialize` on an uninitialized copy; on a devnet the deployer calls it
///      in the same script that runs `anvil_setCode`.
contract OpL1FeeOracle is IOpL1FeeOracle {
    // ------------------------------------------------------------------ storage

    /// @notice Number of decimals used in the scalars (as the real `DECIMALS`).
    uint256 public constant DECIMALS = 6;

    address private _owner;
    uint32 private _baseFeeScalar;
    uint32 private _blobBaseFeeScalar;
    uint256 private _l1BaseFee;
    uint256 private _blobBaseFee;

    // ------------------------------------------------------------------ constructor

    /// @dev A normal deployment (tests) initializes here; an `anvil_setCode` install does not
    ///      run this and calls `initialize` instead.
    constructor(
        address owner_,
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) {
        _init(owner_, l1BaseFee_, blobBaseFee_, baseFeeScalar_, blobBaseFeeScalar_);
    }

    modifier onlyOwner() {
        if (msg.sender != _owner) revert OpL1FeeOracleUnauthorized(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IOpL1FeeOracle
    function initialize(
        address owner_,
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) external {
        if (_owner != address(0)) {
            revert OpL1FeeOracleAlreadyInitialized(_owner);
        }
        _init(owner_, l1BaseFee_, blobBaseFee_, baseFeeScalar_, blobBaseFeeScalar_);
    }

    /// @inheritdoc IOpL1FeeOracle
    function setFeeParams(
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) external onlyOwner {
        _setFeeParams(l1BaseFee_, blobBaseFee_, baseFeeScalar_, blobBaseFeeScalar_);
    }

    /// @inheritdoc IOpL1FeeOracle
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert OpL1FeeOracleZeroOwner();
        address previous = _owner;
        _owner = newOwner;
        emit OwnershipTransferred(previous, newOwner);
    }

    // ------------------------------------------------------------------ GasPriceOracle

    /// @inheritdoc IGasPriceOracle
    function getL1Fee(bytes memory data) external view returns (uint256) {
        uint256 scaledBaseFee = uint256(_baseFeeScalar) * 16 * _l1BaseFee;
        uint256 scaledBlobBaseFee = uint256(_blobBaseFeeScalar) * _blobBaseFee;
        return _calldataGas(data) * (scaledBaseFee + scaledBlobBaseFee) / (16 * 10 ** DECIMALS);
    }

    /// @inheritdoc IGasPriceOracle
    function getL1FeeUpperBound(uint256) external pure returns (uint256) {
        revert OpL1FeeOracleFjordOnly();
    }

    /// @inheritdoc IGasPriceOracle
    function getL1GasUsed(bytes memory data) external pure returns (uint256) {
        return _calldataGas(data);
    }

    /// @inheritdoc IGasPriceOracle
    function l1BaseFee() external view returns (uint256) {
        return _l1BaseFee;
    }

    /// @inheritdoc IGasPriceOracle
    function blobBaseFee() external view returns (uint256) {
        return _blobBaseFee;
    }

    /// @inheritdoc IGasPriceOracle
    function baseFeeScalar() external view returns (uint32) {
        return _baseFeeScalar;
    }

    /// @inheritdoc IGasPriceOracle
    function blobBaseFeeScalar() external view returns (uint32) {
        return _blobBaseFeeScalar;
    }

    /// @inheritdoc IGasPriceOracle
    function decimals() external pure returns (uint256) {
        return DECIMALS;
    }

    /// @inheritdoc IGasPriceOracle
    function gasPrice() external view returns (uint256) {
        return block.basefee;
    }

    /// @inheritdoc IGasPriceOracle
    function baseFee() external view returns (uint256) {
        return block.basefee;
    }

    /// @inheritdoc IGasPriceOracle
    function isEcotone() external pure returns (bool) {
        return true;
    }

    /// @inheritdoc IGasPriceOracle
    function isFjord() external pure returns (bool) {
        return false;
    }

    /// @inheritdoc IOpL1FeeOracle
    function owner() external view returns (address) {
        return _owner;
    }

    // ------------------------------------------------------------------ internal

    function _init(
        address owner_,
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) internal {
        if (owner_ == address(0)) revert OpL1FeeOracleZeroOwner();
        _owner = owner_;
        emit Initialized(owner_);
        _setFeeParams(l1BaseFee_, blobBaseFee_, baseFeeScalar_, blobBaseFeeScalar_);
    }

    function _setFeeParams(
        uint256 l1BaseFee_,
        uint256 blobBaseFee_,
        uint32 baseFeeScalar_,
        uint32 blobBaseFeeScalar_
    ) internal {
        _l1BaseFee = l1BaseFee_;
        _blobBaseFee = blobBaseFee_;
        _baseFeeScalar = baseFeeScalar_;
        _blobBaseFeeScalar = blobBaseFeeScalar_;
        emit FeeParamsUpdated(l1BaseFee_, blobBaseFee_, baseFeeScalar_, blobBaseFeeScalar_);
    }

    /// @dev The real `_getCalldataGas`: 4 per zero byte, 16 per non-zero byte, plus 68 * 16 for
    ///      the signature the unsigned transaction lacks.
    function _calldataGas(bytes memory data) internal pure returns (uint256 total) {
        uint256 length = data.length;
        for (uint256 i; i < length;) {
            total += data[i] == 0 ? 4 : 16;
            // i < length <= memory size, far below 2^256
            unchecked {
                ++i;
            }
        }
        return total + 68 * 16;
    }
}
