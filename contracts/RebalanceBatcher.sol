// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IRedemptionQueue} from "./interfaces/IRedemptionQueue.sol";
import {IRebalanceBatcher} from "./interfaces/IRebalanceBatcher.sol";

/// @title RebalanceBatcher
/// @notice Calls `rebalance()` on many vaults in one transaction, each in its own gas-limited
///         call, and reports every vault's outcome. Vaults grant this contract their keeper role;
///         keeper accounts registered here by the admin may call `rebalanceMany`,
///         `rebalanceBatch`, `settleBatch` (many expired series settled in one transaction) and
///         `fillBatch` (many redemption queues filled in one transaction).
/// @dev Why a low-level call instead of `try/catch`: `try` would copy the whole revert data
///      (a malicious or broken vault could return megabytes and burn the batch's gas in memory
///      expansion) and would treat a call to an address without code as a success. The call
///      below caps the copied revert data at `MAX_REASON_BYTES`, requires code, requires a
///      64-byte answer, and forwards at most `vaultGasLimit` gas.
///
///      `rebalanceBatch` nets the vaults' trades (one pool swap per pool; see the interface for
///      the rule). Why it is safe:
///      - Each vault's `minOut` is its own (oracle price less its own slippage), computed and
///        checked by the vault itself in `batchSettle` on its own balance, whatever the
///        batcher or the other vaults do. The crossing side gets floor(amount at P) per leg,
///        which is >= its minOut since minOut = floor(amount at P * (1 - slippage)). The net
///        side's share floor(T * w / W) >= minOut for every leg once T >= ceil(minOut * W / w),
///        and the venue is asked for exactly max over the legs of that, less what crossed.
///      - Conservation, exactly: with Q/U the quote/underlying the legs put in, and the buyers
///        net (Q >= Qx = sum floor(u * P)): the sellers get Qx, the pool gets Q - Qx, the buyers
///        get U + poolOut, all of it (the remainder of the pro-rata floors to the last buyer).
///        Symmetrically when the sellers are net (U > Ux = sum floor(q / P): U - Ux to the
///        pool). Every leg's input is measured on the batcher's own balance.
///      - Reentry: `rebalanceBatch` is nonReentrant; each vault holds its own reentrancy lock
///        from `batchPlan` to `batchSettle`, so a venue or token reentering any of them fails.
///      - A vault failing its checks reverts inside its own guarded call in phase 1, before
///        anything is swapped, and is reported, not settled.
contract RebalanceBatcher is IRebalanceBatcher, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev `IOptionVault.batchPlan`'s answer.
    struct PlanAnswer {
        bool buy;
        uint256 amountIn;
        uint256 minOut;
        uint256 price;
        address tokenIn;
        address tokenOut;
        address venue;
    }

    /// @dev One vault's leg in a netted batch (memory only).
    struct Leg {
        address vault;
        bool buy;
        uint256 amountIn;
        uint256 minOut;
        uint256 price;
        address tokenIn;
        address tokenOut;
        address venue;
        uint256 pool; // index into the pools array
        uint256 gasUsed;
    }

    /// @dev The legs of one pool: same venue, same (quote, underlying), same oracle price.
    struct Pool {
        address venue;
        address quote;
        address underlying;
        uint256 price;
        uint256 quoteIn; // sum of the buyers' quote
        uint256 underlyingIn; // sum of the sellers' underlying
        uint256 quoteCrossed; // sum of floor(u * P): the sellers' legs at P
        uint256 underlyingCrossed; // sum of floor(q / P): the buyers' legs at P
        bool buyersNet; // the buyers' quote covers the sellers' legs at P (set in phase 2)
        uint256 total; // what the net side's unpaid legs share (its out token)
        uint256 weight; // the net side's unpaid legs' inputs
        uint256 legs;
    }

    /// @dev underlying (1e18) * price (1e8) / 1e20 = quote (1e6), as the vaults compute it.
    uint256 private constant UNDERLYING_PRICE_TO_QUOTE = 1e20;
    /// @dev Seven words: `IOptionVault.batchPlan`'s answer.
    uint256 private constant PLAN_ANSWER = 224;

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
        uint256 n = vaults.length;
        _checkBatch(n);

        uint256 gasLimit = _vaultGasLimit;
        outcomes = new Outcome[](n);
        // slither-disable-next-line uninitialized-local -- a fresh counter starts at zero
        uint256 succeeded;
        for (uint256 i; i < n; ++i) {
            Outcome memory o = _rebalanceOne(vaults[i], gasLimit, 0);
            outcomes[i] = o;
            _report(o);
            if (o.ok) {
                // at most n <= MAX_BATCH_LIMIT increments
                unchecked {
                    ++succeeded;
                }
            }
        }
        emit BatchExecuted(msg.sender, n, succeeded);
    }

    /// @inheritdoc IRebalanceBatcher
    function rebalanceBatch(address[] calldata vaults, int256[] calldata postDeviations)
        external
        nonReentrant
        returns (Outcome[] memory outcomes)
    {
        uint256 n = vaults.length;
        _checkBatch(n);
        if (postDeviations.length != n) {
            revert RebalanceBatcherLengthMismatch(n, postDeviations.length);
        }

        outcomes = new Outcome[](n);
        if (n == 1) {
            // Nothing to net: the vault swaps its own trade (`rebalanceTo`), which saves the
            // round trip of both tokens through the batcher. Same checks, same minOut.
            outcomes[0] = _rebalanceOne(vaults[0], _vaultGasLimit, postDeviations[0]);
            _report(outcomes[0]);
            emit BatchExecuted(msg.sender, 1, outcomes[0].ok ? 1 : 0);
            return outcomes;
        }
        Leg[] memory legs = new Leg[](n);
        Pool[] memory pools = new Pool[](n);
        // slither-disable-next-line uninitialized-local -- fresh counters start at zero
        uint256 poolCount;
        // Phase 1: every vault's own checks, trade and minOut; its input moves to the batcher.
        {
            uint256 gasLimit = _vaultGasLimit;
            address[] memory seen = new address[](2 * n);
            uint256[] memory held = new uint256[](2 * n);
            // slither-disable-next-line uninitialized-local -- a count that starts at zero
            uint256 seenCount;
            for (uint256 i; i < n; ++i) {
                outcomes[i].vault = vaults[i];
                bool ok = _planOne(vaults[i], postDeviations[i], gasLimit, legs[i], outcomes[i]);
                if (!ok) {
                    emit VaultRebalanceFailed(vaults[i], outcomes[i].reason);
                    continue;
                }
                seenCount = _checkReceipt(legs[i], seen, held, seenCount);
                poolCount = _join(pools, poolCount, legs[i]);
                outcomes[i].ok = true;
            }
        }
        // Phase 2: per pool, cross at the oracle price and swap the net remainder once.
        for (uint256 k; k < poolCount; ++k) {
            _net(pools[k], legs, outcomes, k);
        }
        // slither-disable-next-line uninitialized-local -- a fresh counter starts at zero
        uint256 succeeded;
        for (uint256 i; i < n; ++i) {
            if (!outcomes[i].ok) continue;
            _settleOne(pools[legs[i].pool], legs[i], outcomes[i]);
            // at most n <= MAX_BATCH_LIMIT increments
            unchecked {
                ++succeeded;
            }
        }
        emit BatchExecuted(msg.sender, n, succeeded);
    }

    /// @inheritdoc IRebalanceBatcher
    function settleBatch(
        address[] calldata vaults,
        uint256[] calldata ids,
        uint80[] calldata roundIds
    ) external nonReentrant returns (SettleOutcome[] memory outcomes) {
        uint256 n = vaults.length;
        _checkBatch(n);
        if (ids.length != n) revert RebalanceBatcherLengthMismatch(n, ids.length);
        if (roundIds.length != n) revert RebalanceBatcherLengthMismatch(n, roundIds.length);
        uint256 gasLimit = _vaultGasLimit;
        uint256 needed = gasLimit + gasLimit / 63 + BOOKKEEPING_GAS;
        outcomes = new SettleOutcome[](n);
        // slither-disable-next-line uninitialized-local -- a fresh counter starts at zero
        uint256 settled;
        // slither-disable-next-line uninitialized-local -- no call has failed yet
        bool failed; // a call failed: what it burned may be what a later series lacks
        for (uint256 i; i < n; ++i) {
            SettleOutcome memory o = outcomes[i];
            (o.vault, o.id) = (vaults[i], ids[i]);
            if (o.vault.code.length == 0) {
                o.reason = abi.encodeWithSelector(RebalanceBatcherNoCode.selector, o.vault);
            } else {
                // Short of a full allowance: the caller's gas limit when nothing failed before
                // (revert, as `_requireGasFor`: estimates stay honest), else perhaps a call
                // that burned more at mining than in its estimate (skip: see the interface).
                uint256 left = gasleft();
                uint256 give = gasLimit;
                if (left < needed) {
                    if (!failed) revert RebalanceBatcherInsufficientGas(left, needed);
                    // Keep each series left, this one included, its bookkeeping
                    // (n - i <= MAX_BATCH_LIMIT: the product cannot overflow).
                    uint256 keep = (n - i) * BOOKKEEPING_GAS;
                    give = left > keep ? Math.min(left - keep, gasLimit) : 0;
                }
                // slither-disable-next-line uninitialized-local -- not called: not settled
                bool success;
                // slither-disable-next-line uninitialized-local -- not called: no answer
                bytes memory answer;
                if (give != 0) {
                    bytes memory data = abi.encodeCall(IOptionVault.settle, (o.id, roundIds[i]));
                    (success,, answer) = _guardedCall(o.vault, give, data);
                }
                if (success) {
                    o.ok = true;
                    // at most n <= MAX_BATCH_LIMIT increments
                    unchecked {
                        ++settled;
                    }
                    continue;
                }
                failed = true;
                // A call short of its allowance proves nothing about its series: skipped.
                o.reason = left < needed
                    ? abi.encodeWithSelector(RebalanceBatcherInsufficientGas.selector, left, needed)
                    : answer;
            }
            emit SettlementFailed(o.vault, o.id, o.reason);
        }
        emit SettleBatchExecuted(msg.sender, n, settled);
    }

    /// @inheritdoc IRebalanceBatcher
    function fillBatch(address[] calldata queues)
        external
        nonReentrant
        returns (FillOutcome[] memory outcomes)
    {
        uint256 n = queues.length;
        _checkBatch(n);
        uint256 gasLimit = _vaultGasLimit;
        outcomes = new FillOutcome[](n);
        bytes memory data = abi.encodeCall(IRedemptionQueue.fill, ());
        // slither-disable-next-line uninitialized-local -- a fresh counter starts at zero
        uint256 filled;
        for (uint256 i; i < n; ++i) {
            FillOutcome memory o = outcomes[i];
            o.queue = queues[i];
            if (o.queue.code.length == 0) {
                o.reason = abi.encodeWithSelector(RebalanceBatcherNoCode.selector, o.queue);
            } else {
                _requireGasFor(gasLimit);
                (bool success, uint256 size, bytes memory answer) =
                    _guardedCall(o.queue, gasLimit, data);
                if (success && size == 64) {
                    (o.shares, o.assets) = abi.decode(answer, (uint256, uint256));
                    o.ok = true;
                    // at most n <= MAX_BATCH_LIMIT increments
                    unchecked {
                        ++filled;
                    }
                    continue;
                }
                o.reason = success
                    ? abi.encodeWithSelector(RebalanceBatcherBadReturnData.selector, o.queue, size)
                    : answer;
            }
            emit QueueFillFailed(o.queue, o.reason);
        }
        emit FillBatchExecuted(msg.sender, n, filled);
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

    /// @dev A dropped vault's event; one rebalanced emits its own `IOptionVault.Rebalanced`.
    function _report(Outcome memory o) private {
        if (!o.ok) emit VaultRebalanceFailed(o.vault, o.reason);
    }

    /// @dev One guarded `rebalance()` call. Reverts only when the transaction itself is short of
    ///      gas (`RebalanceBatcherInsufficientGas`), never because of the vault.
    /// @param post 0: `rebalance()`; else `rebalanceTo(post)`.
    function _rebalanceOne(address vault, uint256 gasLimit, int256 post)
        internal
        returns (Outcome memory o)
    {
        o.vault = vault;
        if (vault.code.length == 0) {
            o.reason = abi.encodeWithSelector(RebalanceBatcherNoCode.selector, vault);
            return o;
        }
        // The callee gets at most 63/64 of what is left (EIP-150): require enough that it gets
        // its full limit, plus what this loop needs afterwards. Revert, not skip: see the
        // interface NatSpec (it keeps eth_estimateGas honest). Inline, as in `_planOne`: once a
        // vault on the rebalance path, where `_requireGasFor` would add ~30 gas a vault.
        uint256 needed = gasLimit + gasLimit / 63 + BOOKKEEPING_GAS;
        uint256 left = gasleft();
        if (left < needed) revert RebalanceBatcherInsufficientGas(left, needed);

        uint256 gasBefore = gasleft();
        (bool success, uint256 size, int256 before_, int256 after_, bytes memory reason) = _callRebalance(
            vault,
            gasLimit,
            post == 0
                ? abi.encodeCall(IOptionVault.rebalance, ())
                : abi.encodeCall(IOptionVault.rebalanceTo, (post))
        );
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

    /// @dev Phase 1 for one vault: its guarded `batchPlan(post)` call (same gas rules as
    ///      `_rebalanceOne`). False, with `o.reason` set, when the vault is dropped.
    function _planOne(
        address vault,
        int256 post,
        uint256 gasLimit,
        Leg memory leg,
        Outcome memory o
    ) private returns (bool) {
        if (vault.code.length == 0) {
            o.reason = abi.encodeWithSelector(RebalanceBatcherNoCode.selector, vault);
            return false;
        }
        uint256 needed = gasLimit + gasLimit / 63 + BOOKKEEPING_GAS; // inline: see _rebalanceOne
        uint256 left = gasleft();
        if (left < needed) revert RebalanceBatcherInsufficientGas(left, needed);
        uint256 gasBefore = gasleft();
        bytes memory data = abi.encodeCall(IOptionVault.batchPlan, (post));
        (bool success, uint256 size, bytes memory answer) = _guardedCall(vault, gasLimit, data);
        o.gasUsed = gasBefore - gasleft();
        if (!success) {
            o.reason = answer;
            return false;
        }
        if (size < PLAN_ANSWER) {
            o.reason = abi.encodeWithSelector(RebalanceBatcherBadReturnData.selector, vault, size);
            return false;
        }
        leg.vault = vault;
        // `abi.decode(answer, (PlanAnswer))` straight into the leg: its fields buy..venue are a
        // `PlanAnswer`'s seven words in order (a memory struct is one word a field). The same
        // checks as the decoder, which reverts with no data: the bool is 0 or 1 and the three
        // addresses have no bits above 160 (`answer` holds at least seven words, checked above).
        assembly ("memory-safe") {
            let src := add(answer, 0x20)
            let bad := gt(mload(src), 1)
            bad := or(bad, shr(160, mload(add(src, 0x80)))) // tokenIn
            bad := or(bad, shr(160, mload(add(src, 0xa0)))) // tokenOut
            bad := or(bad, shr(160, mload(add(src, 0xc0)))) // venue
            if bad { revert(0, 0) }
            mcopy(add(leg, 0x20), src, 0xe0)
        }
        leg.gasUsed = o.gasUsed;
        return true;
    }

    /// @dev The leg's input must have arrived on the batcher's balance. `seen`/`held` track
    ///      each token's balance after the last leg that paid in it; the first leg of a token
    ///      only needs the balance to cover it (what the batcher held before, e.g. a donation,
    ///      stays where it is: only `amountIn` is ever passed on).
    // slither-disable-next-line incorrect-equality -- exact on purpose: a leg's input must arrive in full (a fee-on-transfer token reverts the batch)
    function _checkReceipt(
        Leg memory leg,
        address[] memory seen,
        uint256[] memory held,
        uint256 seenCount
    ) private view returns (uint256) {
        uint256 bal = IERC20(leg.tokenIn).balanceOf(address(this));
        uint256 k;
        while (k < seenCount && seen[k] != leg.tokenIn) ++k;
        uint256 before = k < seenCount ? held[k] : 0;
        uint256 received = bal > before ? bal - before : 0;
        bool exact = k < seenCount ? received == leg.amountIn : received >= leg.amountIn;
        if (!exact) {
            revert RebalanceBatcherTransferMismatch(leg.vault, leg.tokenIn, received, leg.amountIn);
        }
        if (k == seenCount) {
            seen[k] = leg.tokenIn;
            ++seenCount;
        }
        held[k] = bal;
        return seenCount;
    }

    /// @dev Adds a leg to its pool (venue, quote, underlying, price), opening one if needed.
    function _join(Pool[] memory pools, uint256 count, Leg memory leg)
        private
        pure
        returns (uint256)
    {
        (address quote, address underlying) =
            leg.buy ? (leg.tokenIn, leg.tokenOut) : (leg.tokenOut, leg.tokenIn);
        uint256 k;
        while (
            k < count
                && (pools[k].venue != leg.venue
                    || pools[k].quote != quote
                    || pools[k].underlying != underlying
                    || pools[k].price != leg.price)
        ) ++k;
        Pool memory p = pools[k];
        if (k == count) {
            (p.venue, p.quote, p.underlying, p.price) = (leg.venue, quote, underlying, leg.price);
            ++count;
        }
        leg.pool = k;
        ++p.legs;
        if (leg.buy) {
            p.quoteIn += leg.amountIn;
            p.underlyingCrossed += _mulDiv(
                leg.amountIn, UNDERLYING_PRICE_TO_QUOTE, leg.price, false
            );
        } else {
            p.underlyingIn += leg.amountIn;
            p.quoteCrossed += _mulDiv(leg.amountIn, leg.price, UNDERLYING_PRICE_TO_QUOTE, false);
        }
        return count;
    }

    /// @dev Crosses one pool's legs at its price and swaps the net remainder on its venue.
    ///      Sets `p.buyersNet`, `p.total` (what the net side shares) and `p.weight`.
    function _net(Pool memory p, Leg[] memory legs, Outcome[] memory outcomes, uint256 k) private {
        // The buyers are net when their quote covers the sellers' legs at P. With no buyers the
        // sellers are (even when their legs round to 0 quote at P): the net side must have legs
        // to take what the crossing side put in.
        bool buyersNet = p.quoteIn != 0 && p.quoteIn >= p.quoteCrossed;
        p.buyersNet = buyersNet;
        p.weight = buyersNet ? p.quoteIn : p.underlyingIn;
        // What the crossing side put in, in the net side's out token.
        uint256 crossed = buyersNet ? p.underlyingIn : p.quoteIn;
        // The least total with which every net-side leg's floor(T * w / W) reaches its minOut.
        uint256 needed = crossed;
        for (uint256 i; i < legs.length; ++i) {
            Leg memory leg = legs[i];
            if (!outcomes[i].ok || leg.pool != k || leg.buy != buyersNet) continue;
            uint256 t = _mulDiv(leg.minOut, p.weight, leg.amountIn, true);
            if (t > needed) needed = t;
        }
        // Sellers net: U > sum floor(q / P) (since Q < sum floor(u * P) <= U * P, or Q = 0 and
        // U > 0), so there is something to swap.
        uint256 netIn =
            buyersNet ? p.quoteIn - p.quoteCrossed : p.underlyingIn - p.underlyingCrossed;
        uint256 out = netIn == 0 ? 0 : _swap(p, netIn, needed - crossed);
        p.total = crossed + out;
        // Only reachable with nothing to swap, where U >= Q / P covers every buyer anyway.
        if (p.total < needed) revert RebalanceBatcherInsufficientOutput(p.venue, out, needed);
    }

    /// @dev The pool's one exact-input swap of its net side's remainder, its output measured on
    ///      the batcher's balance.
    // slither-disable-next-line unused-return,reentrancy-no-eth,reentrancy-events,reentrancy-balance -- nonReentrant batch; the output is the balance change around the one swap, checked against minOut
    function _swap(Pool memory p, uint256 amountIn, uint256 minOut) private returns (uint256 out) {
        (address tokenIn, address tokenOut) =
            p.buyersNet ? (p.quote, p.underlying) : (p.underlying, p.quote);
        address venue = p.venue;
        uint256 before = IERC20(tokenOut).balanceOf(address(this));
        IERC20(tokenIn).forceApprove(venue, amountIn);
        IHedgeVenue(venue).swapExactIn(tokenIn, tokenOut, amountIn, minOut, address(this));
        // The venue can take the input only through this allowance: any left is input left
        // in the batcher.
        uint256 left = IERC20(tokenIn).allowance(address(this), venue);
        if (left != 0) revert RebalanceBatcherVenueInputLeft(venue, left);
        out = IERC20(tokenOut).balanceOf(address(this)) - before;
        if (out < minOut) revert RebalanceBatcherInsufficientOutput(venue, out, minOut);
        emit PoolSwapped(venue, tokenIn, tokenOut, amountIn, out, p.legs);
    }

    /// @dev Pays one leg its output and books it on the vault (`batchSettle`). The crossing
    ///      side gets its leg at P. The net side's legs, in order, each get
    ///      floor(total left * w / weight left): at least floor(T * w / W) (what is left per
    ///      unit of weight never falls), and the last one gets all that is left, so the pool's
    ///      legs take out exactly what came in.
    function _settleOne(Pool memory p, Leg memory leg, Outcome memory o) private {
        uint256 amount;
        if (leg.buy != p.buyersNet) {
            amount = leg.buy
                ? _mulDiv(leg.amountIn, UNDERLYING_PRICE_TO_QUOTE, p.price, false)
                : _mulDiv(leg.amountIn, p.price, UNDERLYING_PRICE_TO_QUOTE, false);
        } else {
            amount = _mulDiv(p.total, leg.amountIn, p.weight, false);
            p.total -= amount;
            p.weight -= leg.amountIn;
        }
        uint256 gasBefore = gasleft();
        if (amount != 0) IERC20(leg.tokenOut).safeTransfer(leg.vault, amount);
        (o.deltaBefore, o.deltaAfter) = IOptionVault(leg.vault).batchSettle();
        o.gasUsed = leg.gasUsed + (gasBefore - gasleft());
    }

    /// @dev Exactly `Math.mulDiv(x, y, d)` (rounded up when `up`), the same value and the same
    ///      panic on d = 0, for a fraction of its gas when x * y fits in 256 bits (every leg's
    ///      amounts do); the 512-bit path only otherwise.
    function _mulDiv(uint256 x, uint256 y, uint256 d, bool up) internal pure returns (uint256 z) {
        uint256 prod;
        // Unchecked: the product may wrap; the test below uses it only when it did not.
        unchecked {
            prod = x * y;
        }
        if (x != 0 && prod / x != y) {
            return Math.mulDiv(x, y, d, up ? Math.Rounding.Ceil : Math.Rounding.Floor);
        }
        z = prod / d; // checked: d = 0 panics (0x12), as Math.mulDiv does
        // Unchecked: a remainder means d >= 2, so z <= prod / 2 and z + 1 cannot wrap.
        unchecked {
            if (up && prod % d != 0) ++z;
        }
    }

    /// @dev `data` (`rebalance()` or `rebalanceTo(post)`) to `vault` with `gasLimit` gas; copies 64 bytes of a success answer and at
    ///      most `MAX_REASON_BYTES` of revert data.
    function _callRebalance(address vault, uint256 gasLimit, bytes memory data)
        private
        returns (bool success, uint256 size, int256 before_, int256 after_, bytes memory reason)
    {
        uint256 maxReason = MAX_REASON_BYTES;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            // Nothing is copied by the call itself: returndatacopy below bounds what is copied.
            success := call(gasLimit, vault, 0, add(data, 0x20), mload(data), 0, 0)
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

    /// @dev The caller is a registered keeper, and `n` a batch size this batcher takes.
    function _checkBatch(uint256 n) private view {
        if (!hasRole(KEEPER_ROLE, msg.sender)) revert RebalanceBatcherUnauthorized(msg.sender);
        if (n == 0 || n > _maxBatch) revert RebalanceBatcherBadBatchSize(n, _maxBatch);
    }

    /// @dev Reverts the whole batch unless the next call can be given its full `gasLimit`, plus
    ///      what the loop needs afterwards (see the interface: it keeps `eth_estimateGas` honest).
    function _requireGasFor(uint256 gasLimit) private view {
        uint256 needed = gasLimit + gasLimit / 63 + BOOKKEEPING_GAS;
        uint256 left = gasleft();
        if (left < needed) revert RebalanceBatcherInsufficientGas(left, needed);
    }

    /// @dev `data` to `vault` with `gasLimit` gas; copies at most `PLAN_ANSWER` bytes of a
    ///      success answer and at most `MAX_REASON_BYTES` of revert data (see the header).
    function _guardedCall(address vault, uint256 gasLimit, bytes memory data)
        private
        returns (bool success, uint256 size, bytes memory answer)
    {
        uint256 cap = MAX_REASON_BYTES;
        uint256 planAnswer = PLAN_ANSWER;
        assembly ("memory-safe") {
            success := call(gasLimit, vault, 0, add(data, 0x20), mload(data), 0, 0)
            size := returndatasize()
            if success { cap := planAnswer }
            let len := size
            if gt(len, cap) { len := cap }
            answer := mload(0x40)
            mstore(answer, len)
            returndatacopy(add(answer, 0x20), 0, len)
            mstore(0x40, add(add(answer, 0x20), and(add(len, 31), not(31))))
        }
    }
}
