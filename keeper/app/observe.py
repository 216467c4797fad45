"""Observe: one lean lens read, its off-chain derivation, then only the vaults to act on.

The lens returns raw state (:meth:`~keeper.chain.lens.LensReader.read_lean`);
:func:`~keeper.pricing.book.book_of` derives every vault's net delta, gamma, NAV and the
contract's own trigger off-chain, vectorized. A vault is left out of this cycle, with the reason
in ``skipped``, when the lens could not read it or its oracle fails the contract's own checks
(stale, non-positive, sequencer down or in its grace period) -- both with an alert -- or when it is
paused. Oracle problems are never cycle failures: the breaker is for the keeper's own faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from keeper.chain.lens import LensRead
from keeper.chain.oracle import oracle_fault_reason
from keeper.pricing.book import VaultBook, book_of

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

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


def observe(keeper: Keeper) -> Observation:
    """Read every vault through the lean lens and keep the healthy ones, alerting on the rest."""
    book = book_of(keeper.lens.read_lean(keeper.vaults))
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
    for i in np.flatnonzero(skip).tolist():
        vault = snap.vaults[i]
        if errors[i]:
            flags = LensRead(int(errors[i]))
            skipped[vault] = f"lens could not read: {flags.describe()}"
            kind = "oracle" if flags & _ORACLE_READ_ERRORS else "lens_read"
            keeper.alerter.alert(kind, f"vault {vault}: {skipped[vault]}", key=vault)
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
            keeper.alerter.alert(kind, f"vault {vault}: {verdict.reason}", key=vault)
        else:
            skipped[vault] = "paused"
    healthy = book.take(~skip) if skipped else book
    return Observation(snap.block_number, now, len(snap), healthy, skipped)
