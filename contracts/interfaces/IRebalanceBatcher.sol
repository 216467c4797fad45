// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IRebalanceBatcher
/// @notice Rebalances many vaults in one transaction. It holds the keeper role on its vaults
///         and is callable only by registered keeper accounts. Each vault runs in its own
///         try/catch, so one reverting vault never sinks the batch.
/// @dev A generic multicall would not work: it becomes `msg.sender`, and keeper-gated calls
///      revert.
interface IRebalanceBatcher {
    /// @notice The outcome of one vault inside a batch.
    /// @param vault The vault.
    /// @param ok Whether its `rebalance()` succeeded.
    /// @param deltaBefore Net delta before (1e18 underlying units); 0 when `ok` is false.
    /// @param deltaAfter Net delta after (1e18 underlying units); 0 when `ok` is false.
    /// @param reason The revert data (a custom error) when `ok` is false, else empty.
    struct Outcome {
        address vault;
        bool ok;
        int256 deltaBefore;
        int256 deltaAfter;
        bytes reason;
    }

    /// @notice The caller is not a registered keeper account.
    error RebalanceBatcherUnauthorized(address caller);

    /// @notice The batch is empty or longer than `maxBatch`.
    error RebalanceBatcherBadBatchSize(uint256 size, uint256 maxBatch);

    /// @notice A keeper account was registered or removed.
    event KeeperSet(address indexed keeper, bool allowed);

    /// @notice One vault in a batch was rebalanced.
    event VaultRebalanced(address indexed vault, int256 deltaBefore, int256 deltaAfter);

    /// @notice One vault in a batch reverted; the batch went on. `reason` is the revert data.
    event VaultRebalanceFailed(address indexed vault, bytes reason);

    /// @notice A batch finished.
    event BatchExecuted(address indexed keeper, uint256 attempted, uint256 succeeded);

    /// @notice Rebalances each vault in its own try/catch.
    /// @param vaults The vaults, in order.
    /// @return outcomes One outcome per vault, in the same order.
    function rebalanceMany(address[] calldata vaults) external returns (Outcome[] memory outcomes);

    /// @notice Registers or removes a keeper account (admin only).
    function setKeeper(address keeper, bool allowed) external;

    /// @notice Whether `account` may call `rebalanceMany`.
    function isKeeper(address account) external view returns (bool);

    /// @notice The largest batch accepted.
    function maxBatch() external view returns (uint256);
}
