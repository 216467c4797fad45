"""One keeper cycle: settle, observe, price, decide, act -- :func:`run_cycle`.

``keeper check`` and ``keeper rehearse`` run one (:func:`run_alone`), the benchmarks call it once;
:class:`~keeper.app.loop.Runner` calls it once per new block. Each step lives in its own module:

1. **Settle what is in flight** (:mod:`keeper.app.act`). Reorged batches are marked and their
   intents re-evaluated by this cycle's fresh observation, never resent as they were; each
   pending transaction is polled once (and replaced if stuck); while one is pending, nothing new
   is signed.
2. **Observe** (:mod:`keeper.app.observe`). One lens call per 250 vaults; each vault's oracle is
   checked as the contract would (stale or down -> no trade for that vault, and an alert). Then
   the expired series are settled (:func:`keeper.app.settle.settle_expired`, many in one
   ``settleBatch``), before the hedge; the queues they free are made due.
3. **Price** (:mod:`keeper.pricing.book`, :mod:`keeper.app.market`). Position gamma from the open
   series (vectorized Black-Scholes) -- where the contract's fixed-point ints become floats, once
   -- and the vol forecast (EWMA over the oracle rounds seen so far, else the vaults' own vol).
4. **Decide** (:func:`keeper.strategy.plan`) with the cycle's costs: the gas price from the latest
   base fee plus the tip, and the L1 fee of a batch (fixed and per-vault parts).
5. **Act** (:mod:`keeper.app.act`). Simulate the exact batch, drop vaults that would revert, then
   journal, sign, send and wait.
6. **Explain and log.** A vault the policy wanted but whose own trigger refuses is asked why
   (:func:`keeper.app.observe.explain_blocked`), and the decoded blocker joins its decision's
   reason; then every decision is logged. This comes after the send (even a failed one), so its
   reads never delay a hedge; a read the node fails loses only the explanation ("unknown"),
   except in a cycle with no next one (:func:`run_alone`), which it fails.
7. **Sweep the redemption queues** (:mod:`keeper.app.sweep`), once every
   ``queue_sweep_s`` of chain time: queues the free quote can serve between settlements are
   made due.
8. **Fill the queues due** (:func:`keeper.app.settle.fill_due_queues`): those a settlement
   freed and those the sweep found, after the hedge, so a fill never holds a hedge back and
   pays out the quote the hedge freed. Nothing is filled behind a transaction still pending
   (the vaults stay due), and an unreachable node here does not fail the cycle that hedged
   (but for :func:`run_alone`'s cycle: it has no next one to fill them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from web3.exceptions import Web3Exception

from keeper.app.act import (
    Acted,
    Settled,
    act,
    log_decisions,
    settle_in_flight,
    slippage_bounds,
    watch_balance,
)
from keeper.app.collaborators import Keeper
from keeper.app.market import batch_costs, market_view
from keeper.app.observe import Observation, explain_blocked, observe
from keeper.app.settle import Settlement, fill_due_queues, settle_expired
from keeper.app.sweep import sweep_queues
from keeper.app.wiring import connect_keeper
from keeper.chain.connection import rpc_counter
from keeper.chain.retry import is_transient
from keeper.errors import ChainError, ExecutionError, KeeperError, first_line
from keeper.ops.metrics import Metrics
from keeper.settings import Settings
from keeper.strategy import CostInputs, MarketView, RebalancePlan, VaultDecision, plan

logger = logging.getLogger(__name__)


def run_cycle(keeper: Keeper, head: int | None = None) -> CycleResult:
    """Run one settle -> observe -> price -> decide -> act cycle and return what happened.

    Args:
        keeper: The collaborators.
        head: The head block number, when the caller already read it.

    Raises:
        KeeperError: A failed cycle: the loop tells transient causes (an unreachable node) from
            systemic ones (a reverted batch, a lost keeper role). Oracle problems and fee spikes
            are not failures: the affected vaults are skipped, or the batch waits, with an alert.
    """
    meter = _Meter(keeper)
    try:
        return _run_cycle(keeper, head, meter)
    except BaseException:
        # A failed cycle's requests and time count too (a flaky node's cycles cost the most).
        meter.stop(keeper.metrics, head)
        raise


def _run_cycle(keeper: Keeper, head: int | None, meter: _Meter) -> CycleResult:
    settled = settle_in_flight(keeper, head)
    seen = observe(keeper, head)
    # Expired series first; nothing is sent while an earlier transaction is pending. The queues
    # their settlements free are filled last, after the hedge.
    done = settle_expired(
        keeper,
        seen.expired,
        seen.block,
        seen.timestamp,
        settled.blocked,
        fill=(*settled.freed, *seen.freed),
    )
    # A settlement this step left pending holds the batch too: nothing is sent behind it.
    views = seen.healthy.views()
    market = market_view(keeper, seen.healthy, views, seen.timestamp)
    costs = batch_costs(keeper, views, seen.block)
    the_plan = plan(keeper.policy, views, market, costs)
    try:
        # The bounds only matter to a batch being simulated: not read on a cycle with none.
        bounds = slippage_bounds(seen.healthy) if the_plan.batch else None
        acted = act(
            keeper, the_plan, seen.block, settled.blocked or done.pending, bounds, costs=costs
        )
    except BaseException:
        # The cycle fails for its send: a blocker read the node fails after it hides nothing.
        the_plan, _ = explain_blocked(keeper, the_plan, seen.block, seen.healthy)
        log_decisions(keeper, the_plan, views, seen.block)
        raise
    # After the send: naming what blocks the vaults left out is for the logs and alerts, and its
    # reads stay off the path between the decision and the send. With no next cycle (`keeper
    # check`), a blocker read the node fails fails it: its report would show the reason unknown.
    the_plan, blocked = explain_blocked(
        keeper, the_plan, seen.block, seen.healthy, node_fails=keeper.one_cycle
    )
    log_decisions(keeper, the_plan, views, seen.block)
    spent = acted.outcome is not None or acted.waiting is not None or bool(settled.resumed)
    watch_balance(keeper, seen.block, spent)
    # After the hedge: queues the free quote can serve, made due.
    sweep_queues(keeper, seen.healthy.snap.vaults, seen.block, seen.timestamp)
    out = acted.outcome
    failed = None
    if out is not None and out.status != "mined" and not acted.vault_reverted:
        failed = f"batch {out.tx_hash} ended {out.status}"
    # Last, the queues due: nothing behind a pending send or a failed batch (they stay due).
    filled: list[str] = []
    try:
        fill_due_queues(
            keeper, seen.block, settled.blocked or done.pending or acted.waiting or failed, filled
        )
    except Exception as exc:
        if not is_transient(exc) or keeper.one_cycle:
            raise  # one cycle (`keeper check`, `rehearse`): no next one to fill them, so it fails
        # The node, after the hedge went out: the vaults stay due (a mined fill whose receipt
        # could not be read went back to the sender whole), and the next cycle fills them. The
        # cycle that hedged is not failed for it.
        logger.warning("queue fills wait for the next cycle: %s", first_line(exc))
    result = CycleResult.of(
        keeper,
        settled,
        seen,
        market,
        costs,
        the_plan,
        acted,
        meter,
        blocked,
        settlements=done.settlements,
        queue_fills=tuple(filled),
    )
    if failed is not None:
        raise ExecutionError(failed)
    return result


class _Meter:
    """RPC round trips, calls and wall time of one cycle, published to the metrics at the end."""

    def __init__(self, keeper: Keeper) -> None:
        self.counter = keeper.counter or rpc_counter(keeper.w3)
        self.started = time.monotonic()
        self.requests0, self.calls0 = self.counter.snapshot()
        self.stopped: tuple[int, int, float] | None = None

    def stop(self, metrics: Metrics, block: int | None) -> tuple[int, int, float]:
        """Return (requests, calls, seconds) since the start and record them (once)."""
        if self.stopped is not None:
            return self.stopped
        requests1, calls1 = self.counter.snapshot()
        requests, calls = requests1 - self.requests0, calls1 - self.calls0
        seconds = time.monotonic() - self.started
        metrics.rpc_requests_cycle.set(requests)
        metrics.rpc_calls_cycle.set(calls)
        metrics.rpc_requests.inc(requests)
        metrics.cycle_seconds.observe(seconds)
        if block is not None:
            metrics.last_block.set(block)
        self.stopped = (requests, calls, seconds)
        return self.stopped


def nothing_evaluated(skipped: Mapping[str, str], vaults: int) -> str | None:
    """Why none of ``vaults`` could be judged, given the vaults ``skipped`` and why; else ``None``.

    See :meth:`CycleResult.nothing_evaluated` (``keeper rehearse`` reads its report the same way).
    """
    faults = [why for why in skipped.values() if why != "paused"]
    if vaults == 0 or len(skipped) != vaults or not faults:
        return None
    reasons = list(dict.fromkeys(faults))
    others = len(reasons) - 1
    more = f" (and {others} other reason{'s' * (others > 1)}; see the table)" if others else ""
    paused = vaults - len(faults)
    if paused:
        head = f"no vault was judged ({len(faults)} skipped by a fault, {paused} paused)"
    else:
        head = f"every vault was skipped ({len(faults)} of {vaults})"
    return f"{head}: {reasons[0]}{more}"


@dataclass(frozen=True)
class CycleResult:
    """What one cycle saw, decided and did."""

    block: int
    timestamp: int
    dry_run: bool
    vaults: int
    decisions: tuple[VaultDecision, ...]
    skipped: dict[str, str]
    planned: tuple[str, ...]
    simulated: tuple[str, ...]
    #: Planned vaults the simulation left out, with why: one that would fail, or one deferred to
    #: a later batch (its reason starts ``deferred:``; the batcher's ``maxBatch``, the block gas).
    dropped: dict[str, str]
    tx_hash: str | None
    tx_status: str | None
    gas_used: int | None
    fee_wei: int | None
    l1_fee_wei: int | None
    costs: CostInputs
    forecast_vol: float
    reorged_intents: tuple[int, ...]
    resumed: tuple[str, ...]
    #: A wanted batch not (yet) mined, and why (fee cap, pending tx); ``None`` when served.
    waiting: str | None
    rpc_requests: int
    rpc_calls: int
    seconds: float
    #: Vaults the policy wanted but whose own trigger refused, with the decoded blocker.
    blocked: dict[str, str] = field(default_factory=dict)
    #: Vaults the batcher dropped inside the mined batch, with the decoded reason.
    failed: dict[str, str] = field(default_factory=dict)
    #: Each expired series the cycle found and what became of it (a dry run: ``simulated``).
    settlements: tuple[Settlement, ...] = ()
    #: Vaults whose redemption queues the cycle filled (a dry run: simulated, would fill).
    queue_fills: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        keeper: Keeper,
        settled: Settled,
        seen: Observation,
        market: MarketView,
        costs: CostInputs,
        the_plan: RebalancePlan,
        acted: Acted,
        meter: _Meter,
        blocked: dict[str, str] | None = None,
        *,
        settlements: tuple[Settlement, ...] = (),
        queue_fills: tuple[str, ...] = (),
    ) -> CycleResult:
        """Assemble the result of a cycle from its steps (stops the meter)."""
        requests, calls, seconds = meter.stop(keeper.metrics, seen.block)
        sim, out = acted.simulation, acted.outcome
        return cls(
            block=seen.block,
            timestamp=seen.timestamp,
            dry_run=keeper.dry_run,
            vaults=seen.vaults,
            decisions=the_plan.decisions,
            skipped=seen.skipped,
            planned=the_plan.batch,
            simulated=sim.vaults if sim else (),
            dropped={**sim.dropped, **sim.deferred} if sim else {},
            tx_hash=out.tx_hash if out else None,
            tx_status=out.status if out else None,
            gas_used=out.gas_used if out else None,
            fee_wei=acted.l2_fee_wei,
            l1_fee_wei=acted.l1_fee_wei,
            costs=costs,
            forecast_vol=market.forecast_vol,
            reorged_intents=settled.reorged,
            resumed=tuple(o.tx_hash for o in settled.resumed),
            waiting=acted.waiting,
            rpc_requests=requests,
            rpc_calls=calls,
            seconds=seconds,
            blocked=dict(blocked or {}),
            failed=dict(acted.failed),
            settlements=settlements,
            queue_fills=queue_fills,
        )

    def nothing_evaluated(self) -> str | None:
        """Why no vault could be judged, or ``None`` when at least one was (or all are paused).

        ``keeper check`` exits 1 with this line: every vault was skipped, at least one by a
        fault (a stale or non-positive oracle, a sequencer down, a lens read that failed), so
        the cycle judged nothing. A paused vault is its admin's choice, not a fault: every
        vault paused is not a failure, but a paused one does not hide another's fault.
        ``keeper run`` keeps polling instead: there it is a market condition, with an alert.
        """
        return nothing_evaluated(self.skipped, self.vaults)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``keeper check --json``)."""
        d = asdict(self)
        d["decisions"] = [asdict(x) for x in self.decisions]
        return d


def dry_run_cycle(settings: Settings) -> CycleResult:
    """``keeper check``: one dry-run cycle from settings, simulated as the signer if one is set.

    Its alerts are logged, never POSTed to ``KEEPER_ALERT_WEBHOOK_URL``: a look at the vaults
    is not the running keeper, and must not page whoever watches its alerts.

    Raises:
        KeeperError: Start-up or the cycle (:func:`run_alone`) failed.
    """
    quiet = settings.model_copy(update={"alert_webhook_url": None})
    return run_alone(connect_keeper(quiet, dry_run=True, simulate_as_signer=True))


def run_alone(keeper: Keeper) -> CycleResult:
    """Run one cycle that has no next one (``keeper check``, ``keeper rehearse``), whole.

    Its queue sweep reads every vault's queue, not a slice for the next cycles; and a read the
    node fails that ``keeper run`` leaves to its next cycle (the queue sweep's, the fill step's,
    the blockers') fails it (:attr:`Keeper.one_cycle`): its report would show no fill, or a
    blocker unknown, as if the chain said so.

    Raises:
        KeeperError: The cycle failed; an error of web3 or the transport (what ``keeper run``
            counts as a failed cycle) becomes a one-line :class:`ChainError`.
    """
    keeper.sweep_slice = max(1, len(keeper.vaults))
    keeper.one_cycle = True
    try:
        return run_cycle(keeper)
    except (OSError, Web3Exception, ValueError) as exc:
        # What `keeper run`'s loop counts as a failed cycle; here the one line that ends it.
        if isinstance(exc, KeeperError):
            raise
        logger.debug("the cycle failed", exc_info=True)
        raise ChainError(
            f"the cycle failed on an RPC answer: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
