// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "./interfaces/IRebalanceBatcher.sol";

/// @title RebalanceBatcher
/// @notice Calls `rebalance()` on many vaults in one transaction, each in its own gas-limited
///         call, and reports every vault's outcome. Vaults grant this contract their keeper role;
///         keeper accounts registered here by the admin may call `rebalanceMany`.
/// @dev Why a low-level call instead of `try/catch`: `try` would copy the whole revert data
///      (a malicious or broken vault could return megabytes and burn the batch's gas in memory
///      expansion) and would treat a call to an address without code as a success. The call
///      below caps the copied revert data at `MAX_REASON_BYTES`, requires code, requires a
///      64-byte answer, and forwards at most `vaultGasLimit` gas.
contract RebalanceBatcher is IRebalanceBatcher, AccessControl, ReentrancyGuardTransient {
    // ------------------------------------------------------------------ constants

    /// @notice Role of the keeper accounts allowed to call `rebalanceMany`.
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");

    /// @notice Hard bounds on the batch size set at construction.
    uint256 public constant MAX_BATCH_LIMIT = 500;

    /// @notice Hard bounds on the per-vault gas limit.
    uint256 public constant MIN_VAULT_GAS = 100_000;
    uint256 public constant MAX_VAULT_GAS = 10_000_000;

    /// @notice Revert data longer than this is truncated in outcomes and events.
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @inheritdoc IRebalanceBatcher
    /// @dev Covers decoding, the event and the outcome in memory, so a vault's failure cannot
    ///      leave the loop starved.
    uint256 public constant BOOKKEEPING_GAS = 40_000;

    // ------------------------------------------------------------------ storage

    uint256 private immutable _maxBatch;
    uint256 private _vaultGasLimit;

    // ------------------------------------------------------------------ constructor

    /// @param admin Receives DEFAULT_ADMIN_ROLE (registers keepers, sets the gas limit).
    /// @param maxBatch_ Largest batch accepted, 1..MAX_BATCH_LIMIT.
    /// @param vaultGasLimit_ Gas forwarded to each vault, MIN_VAULT_GAS..MAX_VAULT_GAS. About
    ///        twice a vault's measured `rebalance()` gas is a sensible value (e.g. 500k for a
    ///        250k rebalance): a batch's transaction needs this much headroom on top of what
    ///        its vaults use, and a vault needing more fails alone.
    constructor(address admin, uint256 maxBatch_, uint256 vaultGasLimit_) {
        if (admin == address(0)) revert RebalanceBatcherZeroAddress();
        if (maxBatch_ == 0 || maxBatch_ > MAX_BATCH_LIMIT) {
            revert RebalanceBatcherParameterOutOfBounds("maxBatch", maxBatch_);
        }
        _maxBatch = maxBatch_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setVaultGasLimit(vaultGasLimit_);
    }

    // ------------------------------------------------------------------ keeper

    /// @inheritdoc IRebalanceBatcher
    function rebalanceMany(address[] calldata vaults)
        external
        nonReentrant
        returns (Outcome[] memory outcomes)
    {
        if (!hasRole(KEEPER_ROLE, msg.sender)) {
            revert RebalanceBatcherUnauthorized(msg.sender);
        }
        uint256 n = vaults.length;
        if (n == 0 || n > _maxBatch) revert RebalanceBatcherBadBatchSize(n, _maxBatch);

        uint256 gasLimit = _vaultGasLimit;
        outcomes = new Outcome[](n);
        uint256 succeeded;
        for (uint256 i; i < n; ++i) {
            Outcome memory o = _rebalanceOne(vaults[i], gasLimit);
            outcomes[i] = o;
            if (o.ok) {
                // at most n <= MAX_BATCH_LIMIT increments
                unchecked {
                    ++succeeded;
                }
                emit VaultRebalanced(o.vault, o.deltaBefore, o.deltaAfter);
            } else {
                emit VaultRebalanceFailed(o.vault, o.reason);
            }
        }
        emit BatchExecuted(msg.sender, n, succeeded);
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IRebalanceBatcher
    function setKeeper(address keeper, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (keeper == address(0)) revert RebalanceBatcherZeroAddress();
        if (allowed) _grantRole(KEEPER_ROLE, keeper);
        else _revokeRole(KEEPER_ROLE, keeper);
        emit KeeperSet(keeper, allowed);
    }

    /// @inheritdoc IRebalanceBatcher
    function setVaultGasLimit(uint256 limit) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setVaultGasLimit(limit);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IRebalanceBatcher
    function isKeeper(address account) external view returns (bool) {
        return hasRole(KEEPER_ROLE, account);
    }

    /// @inheritdoc IRebalanceBatcher
    function maxBatch() external view returns (uint256) {
        return _maxBatch;
    }

    /// @inheritdoc IRebalanceBatcher
    function vaultGasLimit() external view returns (uint256) {
        return _vaultGasLimit;
    }

    // ------------------------------------------------------------------ internal

    function _setVaultGasLimit(uint256 limit) internal {
        if (limit < MIN_VAULT_GAS || limit > MAX_VAULT_GAS) {
            revert RebalanceBatcherParameterOutOfBounds("vaultGasLimit", limit);
        }
        uint256 old = _vaultGasLimit;
        _vaultGasLimit = limit;
        emit VaultGasLimitSet(old, limit);
    }

    /// @dev One guarded `rebalance()` call. Reverts only when the transaction itself is short of
    ///      gas (`RebalanceBatcherInsufficientGas`), never because of the vault.
    function _rebalanceOne(address vault, uint256 gasLimit) internal returns (Outcome memory o) {
        o.vault = vault;
        if (vault.code.length == 0) {
            o.reason = abi.encodeWithSelector(RebalanceBatcherNoCode.selector, vault);
            return o;
        }
        // The callee gets at most 63/64 of what is left (EIP-150): require enough that it gets
        // its full limit, plus what this loop needs afterwards. Revert, not skip: see the
        // interface NatSpec (it keeps eth_estimateGas honest).
        uint256 needed = gasLimit + gasLimit / 63 + BOOKKEEPING_GAS;
        uint256 left = gasleft();
        if (left < needed) revert RebalanceBatcherInsufficientGas(left, needed);

        uint256 gasBefore = gasleft();
        (bool success, uint256 size, int256 before_, int256 after_, bytes memory reason) =
            _callRebalance(vault, gasLimit);
        o.gasUsed = gasBefore - gasleft();
        if (!success) {
            o.reason = reason;
        } else if (size < 64) {
            o.reason = abi.encodeWithSelector(RebalanceBatcherBadReturnData.selector, vault, size);
        } else {
            o.ok = true;
            o.deltaBefore = before_;
            o.deltaAfter = after_;
        }
    }

    /// @dev `vault.rebalance()` with `gasLimit` gas; copies 64 bytes of a success answer and at
    ///      most `MAX_REASON_BYTES` of revert data.
    function _callRebalance(address vault, uint256 gasLimit)
        private
        returns (bool success, uint256 size, int256 before_, int256 after_, bytes memory reason)
    {
        bytes4 selector = IOptionVault.rebalance.selector;
        uint256 maxReason = MAX_REASON_BYTES;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            // Nothing is copied by the call itself: returndatacopy below bounds what is copied.
            success := call(gasLimit, vault, 0, ptr, 4, 0, 0)
            size := returndatasize()
            switch success
            case 1 {
                if gt(size, 63) {
                    returndatacopy(ptr, 0, 64)
                    before_ := mload(ptr)
                    after_ := mload(add(ptr, 0x20))
                }
            }
            default {
                let len := size
                if gt(len, maxReason) { len := maxReason }
                reason := ptr
                mstore(reason, len)
                returndatacopy(add(reason, 0x20), 0, len)
                // advance the free-memory pointer past the copied bytes, 32-byte aligned
                mstore(0x40, add(add(reason, 0x20), and(add(len, 31), not(31))))
            }
        }
    }
}
