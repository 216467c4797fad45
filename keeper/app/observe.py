"""Observe: one lean lens read, its off-chain derivation, then only the vaults to act on.

The lens returns raw state (:meth:`~keeper.chain.lens.LensReader.read_lean`);
:func:`~keeper.pricing.book.book_of` derives every vault's net delta, gamma, NAV and the
contract's own trigger off-chain, vectorized. A vault is left out of this cycle, with the reason
in ``skipped``, when the lens could not read it or its oracle fails the contract's own checks
(stale, non-positive, sequencer down or in its grace period) -- both with an alert -- or when it is
paused. Oracle problems are never cycle failures: the breaker is for the keeper's own faults.

After the policy has decided, :func:`explain_blocked` asks the vaults it wanted to act on but
whose own trigger is not ready *why* (``rebalanceBlocker()``, decoded: e.g.
``OptionVaultOracleGap(...)``); a vault the off-chain trigger surely puts inside its own band is
named without the read. A read the node fails leaves the reason unknown in ``keeper run``, and
fails a cycle with no next one (``keeper check``, ``keeper rehearse``). Those outside their
on-chain band are counted in ``keeper_vaults_blocked``, and a vault that stays out of band and
blocked for ``blocked_alert_blocks`` blocks raises an alert (again each time its streak doubles).
Vaults the keeper can act on, or does not want to, are never asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from keeper.chain.blockers import read_blockers
from keeper.chain.lens import I64Array, LensRead, ObjArray
from keeper.chain.oracle import oracle_fault_reason
from keeper.errors import ChainError
from keeper.pricing.book import VaultBook, book_of
from keeper.pricing.trigger import Blocker
from keeper.strategy import RebalancePlan
from keeper.strategy.policies import Reason
from keeper.strategy.types import pool_is_empty

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

logger = logging.getLogger(__name__)

#: ``read_errors`` bits that mean the vault's price or sequencer feed could not be read.
_ORACLE_READ_ERRORS = LensRead.ORACLE | LensRead.SEQUENCER


@dataclass(frozen=True)
class Observation:
    """One lens read, split into the vaults to decide on and those skipped (with why)."""

    block: int
    timestamp: int
    vaults: int
    healthy: VaultBook
    skipped: dict[str, str]
    #: Vaults holding an expired series, healthy or not (settlement has its own fallback rules).
    expired: tuple[str, ...] = ()
    #: Vaults whose locked collateral fell since the keeper's last read of them: a series was
    #: settled, by anyone, and its freed quote may serve the vault's redemption queue.
    freed: tuple[str, ...] = ()


def observe(keeper: Keeper, head: int | None = None) -> Observation:
    """Read every vault through the lean lens and keep the healthy ones, alerting on the rest.

    With the ``head`` the cycle was woken for, the lens reads at that block, not at ``latest``:
    a failover node behind it answers "header not found" (transient: another node is asked)
    instead of older state, which would plan hedges the chain has already made.
    """
    snapshot = keeper.lens.read_lean(keeper.vaults, "latest" if head is None else head)
    # Every vault is priced at once, including one whose oracle answer is 0 or negative; its
    # NaN Greeks are harmless (it is skipped just below, with an alert), but numpy would print
    # a RuntimeWarning into the JSON log stream for them.
    with np.errstate(invalid="ignore", divide="ignore"):
        book = book_of(snapshot)
    snap, d = book.snap, book.derived
    now = snap.block_timestamp
    oi, vi = snap.oracle_idx, snap.venue_idx
    errors = snap.read_errors.copy()
    has = oi >= 0
    errors[has] |= snap.oracle_errors[oi[has]]
    has_v = vi >= 0
    errors[has_v] |= snap.venue_errors[vi[has_v]]
    skip = (errors != 0) | (d.oracle_fault != 0) | snap.paused
    skipped: dict[str, str] = {}
    alerts: dict[str, dict[str, str]] = {}  # kind -> {vault: message}: one POST a kind
    for i in np.flatnonzero(skip).tolist():
        vault = snap.vaults[i]
        if errors[i]:
            flags = LensRead(int(errors[i]))
            skipped[vault] = f"lens could not read: {flags.describe()}"
            kind = "oracle" if flags & _ORACLE_READ_ERRORS else "lens_read"
            alerts.setdefault(kind, {})[vault] = f"vault {vault}: {skipped[vault]}"
        elif d.oracle_fault[i]:
            verdict = oracle_fault_reason(
                snap.oracles[int(oi[i])],
                has_sequencer=bool(snap.oracle_has_sequencer[oi[i]]),
                heartbeat=int(snap.oracle_heartbeat[i]),
                grace=int(snap.sequencer_grace_period[i]),
                now=now,
            )
            skipped[vault] = verdict.reason
            kind = "stale_oracle" if verdict.stale else "oracle"
            alerts.setdefault(kind, {})[vault] = f"vault {vault}: {verdict.reason}"
        else:
            skipped[vault] = "paused"
    for kind, messages in alerts.items():
        keeper.alerter.alert_each(kind, messages)
    healthy = book.take(~skip) if skipped else book
    owners = np.unique(snap.series_owner[snap.series_expiry <= now])
    expired = tuple(snap.vaults[i] for i in owners.tolist())
    freed = _freed(keeper, snap.vaults, snap.locked, snap.read_errors)
    return Observation(snap.block_number, now, len(snap), healthy, skipped, expired, freed)


def _freed(
    keeper: Keeper, vaults: Sequence[str], locked: ObjArray, read_errors: I64Array
) -> tuple[str, ...]:
    """The vaults whose locked collateral fell since the keeper last read it, and remember it.

    Only settlements unlock collateral (writes lock more). The keeper fills the queues its own
    settlements free; this catches the ones someone else settled before the
    keeper saw them expired (the option buyer, a bot), which it never listed. A row the lens
    could not read keeps its last reading. A signing keeper keeps its readings in its journal
    too (only those that changed, one write), and starts from them
    (:func:`keeper.app.wiring.build_keeper`): a settlement made while it was down is a fall at
    its first observation.
    """
    seen = keeper.locked_seen
    freed = []
    changed: dict[str, int] = {}
    for vault, now_locked, error in zip(vaults, locked.tolist(), read_errors.tolist(), strict=True):
        if error:
            continue
        before = seen.get(vault)
        if before is not None and now_locked < before:
            freed.append(vault)
        if before != now_locked:
            changed[vault] = seen[vault] = int(now_locked)
    if changed and keeper.sender is not None:
        keeper.sender.journal.remember_locked(changed)
    return tuple(freed)


#: In a decision's reason (``"<family>: <reason text> (<numbers>)"``, see
#: :func:`keeper.strategy.plan`): the policy wanted the vault but its own trigger refused.
NOT_READY = f": {Reason.NOT_READY.text} ("
#: The blocker of a vault inside its own band, named from the off-chain trigger.
WITHIN_BAND = "OptionVaultWithinBand (inside its on-chain band, by the off-chain trigger)"
#: The blocker of a vault whose pool has nothing in range at its price (the lens's read of its
#: venue's ``depth()``): its own trigger is ready, so the chain would report no blocker.
POOL_EMPTY = "its pool has nothing in range at its price (the venue's depth() is 0): a swap reverts"


def explain_blocked(
    keeper: Keeper,
    the_plan: RebalancePlan,
    block: int,
    book: VaultBook | None = None,
    *,
    node_fails: bool = False,
) -> tuple[RebalancePlan, dict[str, str]]:
    """Name the blocker of every vault the policy wanted but whose trigger is not ready.

    Returns the plan with those decisions' reasons extended (``band: contract trigger not
    ready: OptionVaultOracleGap(...) (|dev| ...)``), and ``{vault: blocker}``. Sets
    ``keeper_vaults_blocked`` and alerts (kind ``blocked``) for a vault blocked
    ``blocked_alert_blocks`` blocks in a row (then as the streak doubles).

    With the cycle's ``book``, a vault its off-chain trigger puts surely inside its own band
    (blocker ``WITHIN_BAND``, not within pricing tolerance of the edge) is named
    :data:`WITHIN_BAND` without asking the chain: a policy tighter than the vault's band wants
    such vaults on most cycles, and the read sat on the path between the decision and the send.

    A ``rebalanceBlocker()`` read the node fails (after ``KEEPER_RPC_RETRIES`` attempts,
    :attr:`Keeper.rpc_retries`, as the lens's reads) names the blocker ``unknown``: only the
    explanation is lost. With ``node_fails`` (a cycle with no next one,
    :attr:`Keeper.one_cycle`) its :class:`~keeper.errors.ChainError` is raised instead. A vault
    whose own call fails (a revert, no such function) is ``unknown`` either way.
    """
    wanted = [d.vault for d in the_plan.decisions if NOT_READY in d.reason]
    blocked: dict[str, str] = {}
    inside = _surely_within_band(book, wanted) if book is not None else set()
    for vault in inside:
        blocked[vault] = WITHIN_BAND
    empty = _pool_empty(book, wanted) if book is not None else set()
    for vault in empty:
        blocked[vault] = POOL_EMPTY
    wanted = [v for v in wanted if v not in inside and v not in empty]
    if wanted:
        try:
            raw = read_blockers(keeper.w3, wanted, block, attempts=keeper.rpc_retries)
        except ChainError as exc:
            if node_fails:
                raise  # no next cycle: its report would show the reason unknown
            # Only the explanation is lost (the cycle's decisions and send stand).
            logger.warning("cannot read why %d vaults are blocked: %s", len(wanted), exc)
            raw = {}
        for vault in wanted:
            data = raw.get(vault)
            if data is None:
                blocked[vault] = "unknown (rebalanceBlocker() could not be read)"
            elif not data:
                blocked[vault] = "none reported (the vault would accept a rebalance now)"
            else:
                blocked[vault] = keeper.decoder.decode(data)
    # Counted and alerted: the blocked vaults outside their own on-chain band (a vault the policy
    # wants inside it is refused by design, OptionVaultWithinBand, and only explained).
    outside = {
        d.vault: blocked[d.vault]
        for d in the_plan.decisions
        if d.vault in blocked and abs(d.deviation) > d.band
    }
    keeper.metrics.vaults_blocked.set(len(outside))
    _alert_long_blocks(keeper, outside, block)
    if not blocked:
        return the_plan, blocked
    decisions = tuple(
        replace(d, reason=d.reason.replace(NOT_READY, f"{NOT_READY[:-2]}: {blocked[d.vault]} ("))
        if d.vault in blocked
        else d
        for d in the_plan.decisions
    )
    return replace(the_plan, decisions=decisions), blocked


def _pool_empty(book: VaultBook, vaults: list[str]) -> set[str]:
    """Of ``vaults``, those whose pool has nothing in range (``VaultView.pool_empty``)."""
    if not vaults:
        return set()
    depths, fees = book.pool_depths_and_fees()
    rows = {v: i for i, v in enumerate(book.snap.vaults)}
    return {v for v in vaults if v in rows and pool_is_empty(depths[rows[v]], fees[rows[v]])}


def _surely_within_band(book: VaultBook, vaults: list[str]) -> set[str]:
    """Of ``vaults``, those whose off-chain trigger says ``WITHIN_BAND`` with no doubt."""
    if not vaults:
        return set()
    d = book.derived
    rows = {v: i for i, v in enumerate(book.snap.vaults)}
    return {
        v
        for v in vaults
        if v in rows
        and int(d.blocker[rows[v]]) == int(Blocker.WITHIN_BAND)
        and not bool(d.uncertain[rows[v]])
    }


def _alert_long_blocks(keeper: Keeper, blocked: dict[str, str], block: int) -> None:
    """Alert (kind ``blocked``) for a vault out of band and blocked ``blocked_alert_blocks`` blocks.

    The streak counts the blocks the vault was seen blocked in, the first one included: with a
    limit of 20, a vault first seen blocked at block 100 alerts at block 119.

    Once per streak length doubling: at the limit, then at twice it, four times, ... A vault
    blocked for hours raises a handful of alerts, not a warning line every block. A vault that
    leaves ``blocked`` ends its streak; its next one alerts at the limit again.
    """
    since, alerted = keeper.blocked_since, keeper.blocked_alerted
    for vault in [v for v in since if v not in blocked]:
        del since[vault]
        alerted.pop(vault, None)
    limit = keeper.config.blocked_alert_blocks
    for vault, why in blocked.items():
        first = since.setdefault(vault, block)
        streak = block - first + 1  # the blocks it was seen blocked in, ``first`` and this one
        if streak >= limit and streak >= 2 * alerted.get(vault, 0):
            alerted[vault] = streak
            keeper.alerter.alert(
                "blocked",
                f"vault {vault}: out of band and blocked for {streak} block{'s' * (streak > 1)} "
                f"(since block {first}): {why}",
                key=vault,
            )
