"""Act: the plan -> simulate -> journal -> send -> account, and what was already in flight.

- :func:`settle_in_flight` runs first in every cycle: reorged batches are counted and alerted (their
  intents are re-evaluated by this cycle's fresh observation, never resent as they were), and a
  pending transaction is waited on (replaced if stuck) before anything new is signed.
- :func:`act` simulates the exact batch (dropping vaults that would revert), and with a signer
  opens a journal intent, sends, waits, and books the outcome in the metrics. Without a signer it
  simulates only (from ``simulate_from``), and without either it does nothing.
- :func:`log_decisions` and :func:`watch_balance` are the per-cycle metrics, logs and alerts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.errors import ExecutionError
from keeper.execution.sender import SendOutcome
from keeper.execution.simulate import Simulation, simulate_batch
from keeper.ops.logs import DECISIONS, log_decision
from keeper.strategy import RebalancePlan, VaultView
from keeper.units import wad_to_float

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

decisions_log = logging.getLogger(DECISIONS)


@dataclass(frozen=True)
class Settled:
    """What the cycle found in flight: reorged intents, and the pending sends it finished."""

    reorged: tuple[int, ...] = ()
    resumed: tuple[SendOutcome, ...] = ()


@dataclass(frozen=True)
class Acted:
    """What the cycle did with its plan (all ``None`` when nothing was simulated or sent)."""

    simulation: Simulation | None = None
    outcome: SendOutcome | None = None
    l1_fee_wei: int | None = None


def settle_in_flight(keeper: Keeper) -> Settled:
    """Mark reorged batches and finish (or replace) a pending transaction before sending more."""
    if keeper.sender is None:
        return Settled()
    reorged = keeper.sender.check_reorgs()
    for intent in reorged:
        keeper.metrics.rebalances.labels("reorged").inc()
        keeper.alerter.alert(
            "reorg", f"batch of intent {intent} was reorged out; re-evaluating", key=str(intent)
        )
    resumed: list[SendOutcome] = []
    if keeper.sender.has_pending():
        resumed = keeper.sender.resume(keeper.config.receipt_timeout_s)
        for done in resumed:
            account_outcome(keeper, done, None)
    return Settled(tuple(reorged), tuple(resumed))


def act(keeper: Keeper, the_plan: RebalancePlan, block: int) -> Acted:
    """Simulate the plan's batch and, with a signer, send what survives the simulation.

    Raises:
        ExecutionError: The send failed (already counted and alerted).
    """
    if not the_plan.batch or keeper.batcher is None:
        return Acted()
    sim_from = keeper.sender.address if keeper.sender else keeper.simulate_from
    if sim_from is None:
        return Acted()
    sim = simulate_batch(
        keeper.w3,
        keeper.batcher,
        the_plan.batch,
        sim_from,
        keeper.decoder,
        codec=keeper.codec,
        posts={d.vault: int(d.post_deviation) for d in the_plan.decisions if d.act},
        headroom_bps=keeper.config.gas_headroom_bps,
    )
    for vault, reason in sim.dropped.items():
        log_decision(
            decisions_log,
            "dropped by simulation",
            block=block,
            vault=vault,
            outcome="dropped",
            reason=reason,
        )
    if keeper.sender is None or not sim.vaults:
        return Acted(sim)
    outcome, l1_paid = _send(keeper, sim, block)
    return Acted(sim, outcome, l1_paid)


def _send(keeper: Keeper, sim: Simulation, block: int) -> tuple[SendOutcome, int | None]:
    assert keeper.sender is not None
    assert keeper.batcher is not None
    intent = keeper.sender.journal.open_intent(sim.vaults, block)
    l1_paid: list[int] = []
    batcher = keeper.batcher

    def price_l1(raw: bytes) -> int:
        fee = int(keeper.l1fee.fee(raw, batcher, sim.calldata))
        l1_paid.append(fee)
        return fee

    try:
        result = keeper.sender.send_and_wait(
            intent, batcher, sim.calldata, sim.gas, l1_fee=price_l1
        )
    except ExecutionError as exc:
        keeper.metrics.rebalances.labels("failed").inc()
        keeper.alerter.alert("failed_batch", f"batch of intent {intent}: {exc}", key=str(intent))
        raise
    last = l1_paid[-1] if l1_paid else None
    account_outcome(keeper, result, last, len(sim.vaults))
    return result, last


def account_outcome(
    keeper: Keeper, outcome: SendOutcome, l1_fee: int | None, n_vaults: int = 0
) -> None:
    """Book a finished send in the metrics (and alert when it did not get mined)."""
    m = keeper.metrics
    m.rebalances.labels("sent").inc()
    if outcome.replacements:
        m.rebalances.labels("replaced").inc(outcome.replacements)
    if outcome.status == "mined":
        m.rebalances.labels("mined").inc()
        m.vaults_rebalanced.inc(n_vaults)
    else:
        m.rebalances.labels("failed").inc()
        keeper.alerter.alert(
            "failed_batch", f"batch {outcome.tx_hash} ended {outcome.status}", key=outcome.tx_hash
        )
    if outcome.gas_used and outcome.effective_gas_price:
        m.gas_spent_wei.inc(outcome.gas_used * outcome.effective_gas_price)
    if l1_fee:
        m.l1_fee_spent_wei.inc(l1_fee)


def log_decisions(
    keeper: Keeper, the_plan: RebalancePlan, views: Sequence[VaultView], block: int
) -> None:
    """Log each vault's decision and set its delta, band and deviation gauges."""
    m = keeper.metrics
    for d, v in zip(the_plan.decisions, views, strict=True):
        deviation = abs(d.deviation) / d.band if d.band else math.inf
        m.vault_delta.labels(d.vault).set(wad_to_float(v.net_delta))
        m.vault_band.labels(d.vault).set(wad_to_float(d.band))
        m.vault_deviation.labels(d.vault).set(deviation)
        log_decision(
            decisions_log,
            "decision",
            block=block,
            vault=d.vault,
            delta=v.net_delta,
            target=v.target_delta,
            band=d.band,
            deviation=d.deviation,
            trade=d.trade,
            benefit_usd=round(d.benefit_usd, 6),
            cost_usd=round(d.cost_usd, 6),
            outcome="act" if d.act else "skip",
            reason=d.reason,
        )


def watch_balance(keeper: Keeper) -> None:
    """Publish the signer's balance, alerting when it is below ``low_balance_wei``."""
    if keeper.sender is None:
        return
    balance = keeper.sender.balance()
    keeper.metrics.balance_wei.set(balance)
    low = keeper.config.low_balance_wei
    if balance < low:
        keeper.alerter.alert(
            "low_balance",
            f"keeper {keeper.sender.address} holds {balance} wei (< {low})",
            key=keeper.sender.address,
        )
