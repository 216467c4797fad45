// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IRebalanceBatcher
/// @notice Rebalances many vaults in one transaction. It holds the keeper role on its vaults
///         and is callable only by registered keeper accounts. Each vault runs in its own
///         guarded call, so a vault that fails its own call never sinks the batch (for the
///         exceptions in `rebalanceBatch`, a pool swap that fails, see there).
/// @dev A generic multicall would not work: it becomes `msg.sender`, and keeper-gated calls
///      revert.
///      Failure containment: each vault gets exactly `vaultGasLimit` gas, so a vault that
///      reverts, loops or runs out of gas fails alone and the batch goes on. Before each vault
///      the batcher checks that enough gas is left to give that vault its full limit (EIP-150
///      63/64 rule included) plus its own bookkeeping; if not, the whole batch reverts with
///      `RebalanceBatcherInsufficientGas`. Reverting, rather than skipping the vault, keeps
///      `eth_estimateGas` honest: the node's binary search lands on a gas limit at which every
///      vault really is called with its full allowance, so the simulated outcome is the mined
///      one. (Had it skipped, the estimate would be the gas of a batch that skips everything.)
///      The cost is that an estimate exceeds the gas used by up to about `vaultGasLimit`.
///      `settleBatch` alone skips instead once a call of the batch has failed (see there): a
///      vault whose feed burns gas only at mining no longer sinks the other series of its
///      expiry. The rebalance paths keep the revert: see `rebalanceMany`.
///      Revert data is copied up to `MAX_REASON_BYTES`, so a vault cannot grief the batch with
///      a huge revert payload ("returnbomb").
interface IRebalanceBatcher {
    /// @notice The outcome of one vault inside a batch.
    /// @param vault The vault.
    /// @param ok Whether its `rebalance()` succeeded.
    /// @param deltaBefore Net delta before (1e18 underlying units); 0 when `ok` is false.
    /// @param deltaAfter Net delta after (1e18 underlying units); 0 when `ok` is false.
    /// @param gasUsed Gas the vault's call consumed (0 when it was not called).
    /// @param reason The revert data (a custom error, truncated to `MAX_REASON_BYTES`) when `ok`
    ///        is false, else empty. The batcher's own reasons are its errors below, ABI-encoded.
    struct Outcome {
        address vault;
        bool ok;
        int256 deltaBefore;
        int256 deltaAfter;
        uint256 gasUsed;
        bytes reason;
    }

    /// @notice The outcome of one series inside a `settleBatch`.
    /// @param vault The vault.
    /// @param id The series.
    /// @param ok Whether its `settle(id, roundId)` succeeded.
    /// @param reason The revert data (truncated to `MAX_REASON_BYTES`) when `ok` is false, else
    ///        empty (`OptionVaultAlreadySettled` when someone settled it first). A series the
    ///        batch could not give its full allowance is `RebalanceBatcherInsufficientGas`: it
    ///        was skipped (or called with what was left and failed), and may be settled again.
    struct SettleOutcome {
        address vault;
        uint256 id;
        bool ok;
        bytes reason;
    }

    /// @notice The outcome of one redemption queue inside a `fillBatch`.
    /// @param queue The queue.
    /// @param ok Whether its `fill()` succeeded (a queue with nothing to fill succeeds too).
    /// @param shares The shares it redeemed for its requests (0 when not `ok`).
    /// @param assets The assets those shares brought it (0 when not `ok`).
    /// @param reason The revert data (truncated to `MAX_REASON_BYTES`) when `ok` is false, else
    ///        empty.
    struct FillOutcome {
        address queue;
        bool ok;
        uint256 shares;
        uint256 assets;
        bytes reason;
    }

    /// @notice The caller is not a registered keeper account.
    error RebalanceBatcherUnauthorized(address caller);

    /// @notice The batch is empty or longer than `maxBatch`.
    error RebalanceBatcherBadBatchSize(uint256 size, uint256 maxBatch);

    /// @notice A configuration value is outside its hard bounds.
    error RebalanceBatcherParameterOutOfBounds(bytes32 parameter, uint256 value);

    /// @notice An address argument is zero.
    error RebalanceBatcherZeroAddress();

    /// @notice Outcome reason (never thrown): the vault address has no code.
    error RebalanceBatcherNoCode(address vault);

    /// @notice Outcome reason (never thrown): `rebalance()` returned fewer than 64 bytes, so it
    ///         is not an `IOptionVault.rebalance`; or a queue's `fill()` did not return exactly
    ///         64 bytes, so it is not an `IRedemptionQueue.fill`.
    error RebalanceBatcherBadReturnData(address vault, uint256 size);

    /// @notice Too little gas was left to call the next vault with its full `vaultGasLimit`:
    ///         the caller's gas limit is too low for this batch (the whole batch reverts, see
    ///         above). `needed` is what the next vault required at that point. Also a
    ///         `settleBatch` outcome reason, never thrown then: a series skipped for gas after
    ///         an earlier call of the batch failed (see `settleBatch`).
    error RebalanceBatcherInsufficientGas(uint256 gasLeft, uint256 needed);

    /// @notice `rebalanceBatch` got arrays of different lengths.
    error RebalanceBatcherLengthMismatch(uint256 vaults, uint256 postDeviations);

    /// @notice A vault's `batchPlan` reported sending `expected` of `token`, but the batcher's
    ///         balance grew by `received` (fee-on-transfer tokens cannot be netted; the whole
    ///         batch reverts, since the vault's call already returned).
    error RebalanceBatcherTransferMismatch(
        address vault, address token, uint256 received, uint256 expected
    );

    /// @notice The net swap on a pool delivered less than the amount that gives every vault on
    ///         its side at least its own `minOut` (never expected: the venue is passed that
    ///         minimum; checked again on the batcher's own balance).
    error RebalanceBatcherInsufficientOutput(address venue, uint256 amountOut, uint256 needed);

    /// @notice A pool's venue pulled less than the `amountIn` it was approved for, leaving
    ///         `left` in the batcher, which must hold nothing after a batch (`IHedgeVenue` swaps
    ///         exactly `amountIn`; the whole batch reverts, naming no vault).
    error RebalanceBatcherVenueInputLeft(address venue, uint256 left);

    /// @notice One pool swap of a netted batch: the net remainder of a pool's legs.
    event PoolSwapped(
        address indexed venue,
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 amountOut,
        uint256 legs
    );

    /// @notice A keeper account was registered or removed.
    event KeeperSet(address indexed keeper, bool allowed);

    /// @notice The per-vault gas limit changed.
    event VaultGasLimitSet(uint256 oldLimit, uint256 newLimit);

    /// @notice One vault in a batch failed; the batch went on. `reason` is the revert data. A
    ///         vault rebalanced emits its own `IOptionVault.Rebalanced`, and the batcher nothing
    ///         more for it (a second event a vault cost ~1.8k gas).
    event VaultRebalanceFailed(address indexed vault, bytes reason);

    /// @notice A batch finished.
    event BatchExecuted(address indexed keeper, uint256 attempted, uint256 succeeded);

    /// @notice One series in a `settleBatch` was not settled; the batch went on. `reason` is
    ///         the revert data. (A settled series is told by the vault's own `SeriesSettled`.)
    event SettlementFailed(address indexed vault, uint256 indexed id, bytes reason);

    /// @notice A `settleBatch` finished.
    event SettleBatchExecuted(address indexed keeper, uint256 attempted, uint256 settled);

    /// @notice One queue in a `fillBatch` was not filled; the batch went on. `reason` is the
    ///         revert data. (A fill is told by the queue's own events.)
    event QueueFillFailed(address indexed queue, bytes reason);

    /// @notice A `fillBatch` finished.
    event FillBatchExecuted(address indexed keeper, uint256 attempted, uint256 filled);

    /// @notice Rebalances each vault in its own guarded call (keeper accounts only). Never
    ///         reverts because of a vault; reverts only for an unauthorized caller, a bad batch
    ///         size, or a transaction gas limit too low to give every vault its full allowance.
    /// @dev All or nothing on gas, here and in `rebalanceBatch`, even after a vault burned its
    ///      allowance (unlike `settleBatch`): a rebalance is a trade the keeper chose from the
    ///      simulated batch, gated to this batcher, not anyone's to call. Skipping, or calling
    ///      with what is left, would let the gas limit choose which vaults trade (the rest of a
    ///      batch after a burner), and in `rebalanceBatch` which legs cross and what the pool's
    ///      one swap is, so every other vault's price: the mined batch would not be the
    ///      simulated one. Reverted, the keeper simulates again and drops the failing vault.
    /// @param vaults The vaults, in order (duplicates are called again; the second call
    ///        normally fails the vault's own interval check).
    /// @return outcomes One outcome per vault, in the same order.
    function rebalanceMany(address[] calldata vaults) external returns (Outcome[] memory outcomes);

    /// @notice Rebalances many vaults with ONE swap per pool (keeper accounts only).
    ///         Phase 1: each vault, in its own gas-limited guarded call, runs `batchPlan` with
    ///         its requested post-trade deviation (all of its own checks; its own trade and
    ///         `minOut` from its oracle and `maxSlippageBps`) and sends its input to the batcher;
    ///         a vault that fails is dropped (`VaultRebalanceFailed`) before any swap. Phase 2,
    ///         per pool (legs grouped by venue, token pair and oracle price P): opposite legs
    ///         cross at P, only the net remainder is swapped on the venue, once, and each vault
    ///         is paid and booked (`batchSettle`). The crossing side is paid at P, each leg
    ///         rounded down on its own (floor(u·P) quote, floor(q/P) underlying): its `minOut`
    ///         is P less slippage, so it always clears. The net side shares what its legs put in
    ///         and what the pool returned pro rata to its inputs (one uniform price), rounded
    ///         down, the remainder (< one unit per leg) to its last leg; the venue is given the
    ///         smallest output with which every leg's share reaches its own `minOut`; when the
    ///         pool cannot deliver that, the whole batch reverts (the venue's
    ///         `HedgeVenueInsufficientOutput`, naming no vault): the strictest leg, the one with
    ///         the smallest `maxSlippageBps`, sets it. A leg cannot be dropped once its input was
    ///         sent, so the keeper's simulation drops the strictest vaults and tries again
    ///         (keeper/execution/simulate.py). So does any other revert of a pool's swap (a
    ///         venue for another pair, a partial fill, a venue that reverts on purpose: each
    ///         vault's admin picks its venue): the whole batch reverts, naming no vault, and the
    ///         simulation tries each vault alone, where that revert is the vault's own failed
    ///         call, and drops those that fail. Tokens are conserved exactly: the batcher ends
    ///         holding what it held before. A batch of one vault has nothing to net: it calls
    ///         that vault's own `rebalanceTo` (its own swap; `rebalance()` for a request of 0),
    ///         saving the tokens' round trip.
    /// @param vaults The vaults, in order.
    /// @param postDeviations Each vault's requested post-trade deviation (0: to target).
    /// @return outcomes One outcome per vault, in the same order.
    function rebalanceBatch(address[] calldata vaults, int256[] calldata postDeviations)
        external
        returns (Outcome[] memory outcomes);

    /// @notice Settles many expired series, of one vault or many, in one transaction (keeper
    ///         accounts only): `vaults[i].settle(ids[i], roundIds[i])` in its own guarded call,
    ///         with the same gas rules as `rebalanceMany`. Anyone may settle a series on its
    ///         vault directly; this only saves a keeper one transaction a series when many
    ///         expire at once (a common expiry), so its hedges are not held behind them. Moves
    ///         no tokens: a settlement only books the payoff on its vault. Never reverts because
    ///         of a vault (a series someone settled first fails alone, with
    ///         `OptionVaultAlreadySettled`); reverts only for an unauthorized caller, a bad batch
    ///         size, arrays of different lengths, or too little gas for a series before any call
    ///         of the batch failed.
    ///         Gas: each series is called with `vaultGasLimit`, as in `rebalanceMany`. When less
    ///         than its full allowance is left and no call of the batch has failed, the whole
    ///         batch reverts (`RebalanceBatcherInsufficientGas`): the caller's limit is short,
    ///         and `eth_estimateGas` still lands where every series gets its full allowance (a
    ///         keeper simulates first and sends only series that settle, so nothing fails in
    ///         its estimate). Once a call has failed, what it burned may be gas the estimate
    ///         never saw (a vault whose feed burns gas only at mining), so a later series short
    ///         of its allowance does not sink the batch: it is called with what is left, less
    ///         `BOOKKEEPING_GAS` for it and each series after it (not called when nothing is),
    ///         settles if that is enough (an honest settlement needs far less than the cap), and
    ///         otherwise is reported with `RebalanceBatcherInsufficientGas(gasLeft, needed)`,
    ///         not its own revert data: a call short of its allowance proves nothing about its
    ///         series. Safe: settlement is permissionless (anyone may call `settle` with any
    ///         gas, so the vault's result cannot depend on who calls or how much gas the batcher
    ///         passes) and idempotent (a skipped series is settled later, once;
    ///         `OptionVaultAlreadySettled` refuses a second time).
    /// @param vaults Each series' vault, in order.
    /// @param ids The series.
    /// @param roundIds Each series' round hint (0: the vault's fallback), as for `settle`.
    /// @return outcomes One outcome per series, in the same order.
    function settleBatch(
        address[] calldata vaults,
        uint256[] calldata ids,
        uint80[] calldata roundIds
    ) external returns (SettleOutcome[] memory outcomes);

    /// @notice Fills many ERC-7540 redemption queues in one transaction (keeper accounts only):
    ///         `queues[i].fill()` in its own guarded call, with the same gas rules as
    ///         `rebalanceMany`. Anyone may fill a queue directly; this only saves a keeper one
    ///         transaction a queue when the settlements of a common expiry free the collateral
    ///         of many vaults with requests waiting, so its hedges are not held behind them.
    ///         Holds no tokens: each queue redeems from its own vault to itself. Never reverts
    ///         because of a queue; reverts only for an unauthorized caller, a bad batch size, or
    ///         too little gas.
    /// @dev Keeps the all-or-nothing gas rule for now. Skipping a queue short of gas would be
    ///      as safe as in `settleBatch` (a fill is anyone's to call and a skipped one moves
    ///      nothing: the queue stays fillable), but the gas a fill grows at mining is work done
    ///      (chaos `harsh`: ~700k more than estimated), a success the skip rule, unlocked by a
    ///      failure, would not cover; and the keeper would have to book a skipped fill as due
    ///      rather than alert it (keeper/app/settle.py). Its limit carries `vaultGasLimit` on top.
    /// @param queues The queues, in order (a duplicate is filled again: normally nothing left).
    /// @return outcomes One outcome per queue, in the same order.
    function fillBatch(address[] calldata queues) external returns (FillOutcome[] memory outcomes);

    /// @notice Registers or removes a keeper account (admin only).
    function setKeeper(address keeper, bool allowed) external;

    /// @notice Sets the gas forwarded to each vault (admin only, within hard bounds).
    function setVaultGasLimit(uint256 limit) external;

    /// @notice Whether `account` may call `rebalanceMany`.
    function isKeeper(address account) external view returns (bool);

    /// @notice The largest batch accepted.
    function maxBatch() external view returns (uint256);

    /// @notice The gas each vault's `rebalance()` may use.
    function vaultGasLimit() external view returns (uint256);

    /// @notice Gas the batcher keeps back per vault for its own work after the vault's call.
    ///         Before each vault, `rebalanceMany` requires
    ///         `vaultGasLimit + vaultGasLimit / 63 + BOOKKEEPING_GAS` gas left (else
    ///         `RebalanceBatcherInsufficientGas`); a keeper sizing a batch's gas limit reads it
    ///         here rather than copying it. A constant of the code: it never changes.
    function BOOKKEEPING_GAS() external view returns (uint256);
}
