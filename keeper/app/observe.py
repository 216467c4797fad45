"""Observe: one lens read, then only the vaults the keeper may act on.

A vault is left out of this cycle, with the reason in ``skipped``, when the lens could not read it
or its oracle fails the contract's own checks (stale, non-positive, sequencer down or in its grace
period) -- both with an alert -- or when it is paused. Oracle problems are never cycle failures:
the breaker is for the keeper's own faults.

After the policy has decided, :func:`explain_blocked` asks the vaults it wanted to act on but
whose own trigger is not ready *why* (``rebalanceBlocker()``, decoded: e.g.
``OptionVaultOracleGap(...)``). Those outside their on-chain band are counted in
``keeper_vaults_blocked``, and a vault that stays out of band and blocked for
``blocked_alert_blocks`` blocks raises an alert. Vaults the keeper can act on,
or does not want to, are never asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keeper.chain.blockers import read_blockers
from keeper.chain.lens import LensRead, VaultSnapshot
from keeper.chain.oracle import oracle_verdict
from keeper.strategy import RebalancePlan
from keeper.strategy.policies import Reason

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


#: In a decision's reason (``"<family>: <reason text> (<numbers>)"``, see
#: :func:`keeper.strategy.plan`): the policy wanted the vault but its own trigger refused.
NOT_READY = f": {Reason.NOT_READY.text} ("


def explain_blocked(
    keeper: Keeper, the_plan: RebalancePlan, block: int
) -> tuple[RebalancePlan, dict[str, str]]:
    """Name the blocker of every vault the policy wanted but whose trigger is not ready.

    Returns the plan with those decisions' reasons extended (``band: contract trigger not
    ready: OptionVaultOracleGap(...) (|dev| ...)``), and ``{vault: blocker}``. Sets
    ``keeper_vaults_blocked`` and alerts (kind ``blocked``) for a vault blocked
    ``blocked_alert_blocks`` blocks in a row.
    """
    wanted = [d.vault for d in the_plan.decisions if NOT_READY in d.reason]
    blocked: dict[str, str] = {}
    if wanted:
        raw = read_blockers(keeper.w3, wanted, block)
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


def _alert_long_blocks(keeper: Keeper, blocked: dict[str, str], block: int) -> None:
    since = keeper.blocked_since
    for vault in [v for v in since if v not in blocked]:
        del since[vault]
    limit = keeper.config.blocked_alert_blocks
    for vault, why in blocked.items():
        first = since.setdefault(vault, block)
        if block - first >= limit:
            keeper.alerter.alert(
                "blocked",
                f"vault {vault}: out of band and blocked for {block - first} blocks "
                f"(since block {first}): {why}",
                key=vault,
            )
