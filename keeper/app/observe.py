"""Observe: one lens read, then only the vaults the keeper may act on.

A vault is left out of this cycle, with the reason in ``skipped``, when the lens could not read it
or its oracle fails the contract's own checks (stale, non-positive, sequencer down or in its grace
period) -- both with an alert -- or when it is paused. Oracle problems are never cycle failures:
the breaker is for the keeper's own faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.lens import LensRead, VaultSnapshot
from keeper.chain.oracle import oracle_verdict

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
    healthy: tuple[VaultSnapshot, ...]
    skipped: dict[str, str]


def observe(keeper: Keeper) -> Observation:
    """Read every vault through the lens and keep the healthy ones, alerting on the rest."""
    obs = keeper.lens.read(keeper.vaults)
    now = obs.block_timestamp
    skipped: dict[str, str] = {}
    healthy: list[VaultSnapshot] = []
    for s in obs.snapshots:
        if not s.valid:
            skipped[s.vault] = f"lens could not read: {s.describe_read_errors()}"
            kind = "oracle" if s.read_errors & _ORACLE_READ_ERRORS else "lens_read"
            keeper.alerter.alert(kind, f"vault {s.vault}: {skipped[s.vault]}", key=s.vault)
            continue
        verdict = oracle_verdict(s.oracle, s.thresholds, now)
        if not verdict.ok:
            skipped[s.vault] = verdict.reason
            kind = "stale_oracle" if verdict.stale else "oracle"
            keeper.alerter.alert(kind, f"vault {s.vault}: {verdict.reason}", key=s.vault)
            continue
        if s.paused:
            skipped[s.vault] = "paused"
            continue
        healthy.append(s)
    return Observation(obs.block_number, now, len(obs.snapshots), tuple(healthy), skipped)
