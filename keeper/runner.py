"""Run: observe -> price -> decide -> act, once per new block, with a circuit breaker.

:func:`run_cycle` is one cycle on its own, returning a :class:`CycleResult`; ``keeper check`` and
the benchmarks call it directly. :class:`Runner` loops it per new block (polling), halts with an
alert after ``breaker_threshold`` consecutive failed cycles, and stops cleanly on SIGINT/SIGTERM
(the cycle in progress finishes first). Every collaborator -- the web3 connection, the lens
reader, the policy, the L1-fee reader, the sender, metrics, alerts -- is passed in through
:class:`Keeper`; nothing here builds a connection or reads settings, except
:func:`build_keeper`, which wires a :class:`Keeper` from :class:`~keeper.settings.Settings`.

One cycle:

1. **Settle what is in flight.** Reorged batches are marked and their intents re-evaluated (by
   this very cycle's fresh observation, never resent as they were); a pending transaction is
   waited on (and replaced if stuck) before anything new is signed.
2. **Observe.** One lens call per 250 vaults; each vault's oracle is checked as the contract
   would (stale or down -> no trade for that vault and an alert).
3. **Price.** Position gamma from the open series (vectorized Black-Scholes), the vol forecast
   (EWMA over the oracle rounds seen so far, else the vaults' own vol parameter).
4. **Decide.** :func:`keeper.strategy.plan` with the cycle's costs: gas price from the latest
   base fee plus the tip, the L1 fee of a one- and a two-vault batch (fixed and per-vault parts).
5. **Act.** Simulate the exact batch, drop vaults that would revert, sign, journal, send, wait.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.chain.connection import RpcCounter, rpc_counter
from keeper.chain.l1fee import L1FeeReader, NoL1Fee, l1_fee_reader
from keeper.chain.lens import LensReader, LensResult, VaultSnapshot
from keeper.chain.oracle import oracle_verdict
from keeper.chain.retry import read_with_retry
from keeper.chain.vaults import factory_vaults, validate_vaults
from keeper.errors import ConfigError, ExecutionError, Halt, KeeperError, OracleError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import FeeCaps, Fees
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender, SendOutcome
from keeper.execution.simulate import BatchCodec, Simulation, simulate_batch
from keeper.ops.alerts import Alerter
from keeper.ops.logs import DECISIONS, log_decision
from keeper.ops.metrics import Metrics
from keeper.pricing import YEAR_SECONDS, capped_greeks, ewma_vol_forecast
from keeper.settings import Settings
from keeper.strategy import (
    CostInputs,
    MarketView,
    Policy,
    RebalancePlan,
    VaultDecision,
    VaultView,
    parse_policy,
    plan,
)
from keeper.units import WAD, Wei

logger = logging.getLogger(__name__)
decisions_log = logging.getLogger(DECISIONS)

#: Oracle rounds kept per vault for the EWMA forecast.
HISTORY_LEN = 512
#: A throwaway key that signs nothing but the dummy transactions whose L1 fee is *estimated*
#: (fixed and per-vault parts). Those bytes are never sent. Public on purpose.
_ESTIMATE_KEY = "0x" + "11" * 32
_DUMMY_VAULT = "0x" + "ab" * 20


@dataclass
class CycleConfig:
    """The numbers a cycle needs besides its collaborators."""

    gas_fixed: int = 40_000
    gas_per_vault: int = 220_000
    pool_fee_bps: float = 5.0
    impact_coef: float = 2e-9
    reference_vol: float = 0.8
    ewma_lambda: float = 0.94
    tip_wei: int = 1_000_000
    max_fee_per_gas_wei: int = 10**11
    gas_headroom_bps: int = 2_000
    low_balance_wei: int = 10**16
    receipt_timeout_s: float = 120.0
    eth_usd: float | None = None  # None: the vaults' underlying oracle price (WETH-like)


@dataclass
class PriceHistory:
    """Oracle rounds seen per vault (timestamp, price), for the EWMA vol forecast."""

    rounds: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def add(self, vault: str, updated_at: int, price: float) -> None:
        """Record a round if it is newer than the last one seen."""
        seq = self.rounds.setdefault(vault, [])
        if (not seq or updated_at > seq[-1][0]) and price > 0:
            seq.append((updated_at, price))
            del seq[:-HISTORY_LEN]

    def forecast(self, lam: float) -> float | None:
        """EWMA vol forecast from the longest history (``None`` with fewer than 3 rounds)."""
        best = max(self.rounds.values(), key=len, default=[])
        if len(best) < 3:
            return None
        ts, px = zip(*best, strict=True)
        vol = ewma_vol_forecast(np.asarray(ts), np.asarray(px), lam)
        return vol if math.isfinite(vol) and vol > 0 else None


@dataclass
class Keeper:
    """Everything a cycle talks to. Build with :func:`build_keeper`, or by hand in tests."""

    w3: Web3
    vaults: list[str]
    lens: LensReader
    policy: Policy
    config: CycleConfig
    batcher: str | None = None
    sender: Sender | None = None
    simulate_from: str | None = None
    l1fee: L1FeeReader = field(default_factory=NoL1Fee)
    decoder: ErrorDecoder = field(default_factory=ErrorDecoder)
    metrics: Metrics = field(default_factory=Metrics)
    alerter: Alerter = field(default_factory=lambda: Alerter(None))
    history: PriceHistory = field(default_factory=PriceHistory)
    counter: RpcCounter | None = None
    codec: BatchCodec | None = None
    chain_id: int | None = None
    #: The last L1-fee estimate for planning: (block it was read at, (fixed, per vault)).
    l1_estimate: tuple[int, tuple[int, int]] | None = None

    @property
    def dry_run(self) -> bool:
        """True when there is no signer."""
        return self.sender is None


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
    rpc_requests: int
    rpc_calls: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``keeper check --json``)."""
        d = asdict(self)
        d["decisions"] = [asdict(x) for x in self.decisions]
        return d


# ---------------------------------------------------------------------------- pricing


def position_greeks(
    snaps: Sequence[VaultSnapshot], now: int
) -> tuple[list[float], list[float], list[float]]:
    """Per vault: position gamma (whole underlying per USD), contracts, years to nearest expiry.

    All series of all vaults are priced in one vectorized call, at each vault's oracle price and
    vol parameter (the contract's inputs). Conversions from the contract's fixed point to float
    happen here, once: prices / 10**decimals, sizes / 1e18, vol / 1e18.
    """
    owner: list[int] = []
    spot: list[float] = []
    strike: list[float] = []
    cap: list[float] = []
    tau: list[float] = []
    vol: list[float] = []
    call: list[bool] = []
    size: list[float] = []
    contracts = [0.0] * len(snaps)
    nearest = [math.inf] * len(snaps)
    for i, s in enumerate(snaps):
        s_px = s.oracle.answer / 10**s.oracle.decimals
        for series in s.series:
            if series.settled:
                continue
            t = max(series.expiry - now, 0) / YEAR_SECONDS
            owner.append(i)
            spot.append(s_px)
            strike.append(series.strike / 1e8)
            cap.append(series.cap / 1e8 if series.cap > 0 else math.inf)
            tau.append(t)
            vol.append(s.volatility / WAD)
            call.append(series.is_call)
            size.append(series.size / WAD)
            contracts[i] += series.size / WAD
            nearest[i] = min(nearest[i], t)
    gamma = [0.0] * len(snaps)
    if owner:
        g = capped_greeks(
            np.asarray(spot),
            np.asarray(strike),
            np.asarray(cap),
            np.asarray(tau),
            np.asarray(vol),
            call=np.asarray(call),
        ).gamma
        per = np.zeros(len(snaps))
        np.add.at(per, np.asarray(owner), np.asarray(size) * g)
        gamma = [abs(float(x)) for x in per]
    return gamma, contracts, nearest


def _view(s: VaultSnapshot, gamma: float, contracts: float, tau: float) -> VaultView:
    t = s.thresholds
    return VaultView(
        vault=s.vault,
        net_delta=s.net_delta,
        target_delta=t.target_delta,
        band=t.band,
        max_trade=t.max_trade,
        last_rebalance=s.last_rebalance,
        min_interval=t.min_interval,
        max_interval=t.max_interval,
        spot=s.oracle.answer / 10**s.oracle.decimals,
        gamma=gamma,
        vol=s.volatility / WAD,
        contracts=contracts,
        trigger_ready=s.trigger_ready,
        time_to_expiry=tau,
    )


# ---------------------------------------------------------------------------- costs


def l1_fee_parts(keeper: Keeper, chain_id: int, gas_price: int) -> tuple[int, int]:
    """Estimate the L1 fee of a batch as ``fixed + n * per_vault`` from one- and two-vault txs.

    The dummy transactions are signed with a throwaway key and never sent.
    """
    if isinstance(keeper.l1fee, NoL1Fee) or keeper.batcher is None:
        return 0, 0
    codec = keeper.codec or BatchCodec()
    acct = Account.from_key(_ESTIMATE_KEY)
    fees = Fees(Wei(gas_price), Wei(min(gas_price, keeper.config.tip_wei)))
    out = []
    for n in (1, 2):
        data = codec.encode([_DUMMY_VAULT] * n)
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": 1,
            "to": to_checksum_address(keeper.batcher),
            "data": data,
            "value": 0,
            "gas": keeper.config.gas_fixed + n * keeper.config.gas_per_vault,
            "maxFeePerGas": int(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": int(fees.max_priority_fee_per_gas),
        }
        raw = bytes(acct.sign_transaction(tx).raw_transaction)
        out.append(int(keeper.l1fee.fee(raw, keeper.batcher, data)))
    per = max(out[1] - out[0], 0)
    return max(out[0] - per, 0), per


#: Blocks an L1-fee estimate is reused for when planning (two oracle calls saved per cycle). The
#: L1 fee moves with L1's base fees, once per L1 block (12 s: six 2-s OP blocks); a batch that is
#: sent is always priced afresh on its exact signed bytes.
L1_ESTIMATE_MAX_AGE_BLOCKS = 6


def _l1_estimate(keeper: Keeper, block: int, gas_price: int) -> tuple[int, int]:
    cached = keeper.l1_estimate
    if cached is not None and 0 <= block - cached[0] < L1_ESTIMATE_MAX_AGE_BLOCKS:
        return cached[1]
    if keeper.chain_id is None:
        keeper.chain_id = keeper.sender.chain_id if keeper.sender else int(keeper.w3.eth.chain_id)
    parts = l1_fee_parts(keeper, keeper.chain_id, gas_price)
    keeper.l1_estimate = (block, parts)
    return parts


# ---------------------------------------------------------------------------- the cycle


def run_cycle(keeper: Keeper) -> CycleResult:
    """Run one observe -> price -> decide -> act cycle and return what happened.

    Raises:
        KeeperError: Any failure that should count against the circuit breaker (an unreachable
            node, a reverted or timed-out batch). Oracle problems are not failures: the affected
            vaults are skipped and an alert is sent.
    """
    started = time.monotonic()
    counter = keeper.counter or rpc_counter(keeper.w3)
    req0, calls0 = counter.snapshot()
    m = keeper.metrics
    cfg = keeper.config

    # 1. settle what is in flight
    reorged: list[int] = []
    resumed: list[SendOutcome] = []
    if keeper.sender is not None:
        reorged = keeper.sender.check_reorgs()
        for intent in reorged:
            m.rebalances.labels("reorged").inc()
            keeper.alerter.alert(
                "reorg", f"batch of intent {intent} was reorged out; re-evaluating", key=str(intent)
            )
        if keeper.sender.has_pending():
            resumed = keeper.sender.resume(cfg.receipt_timeout_s)
            for done in resumed:
                _account_outcome(keeper, done, None)

    # 2. observe
    obs: LensResult = keeper.lens.read(keeper.vaults)
    now = obs.block_timestamp
    skipped: dict[str, str] = {}
    healthy: list[VaultSnapshot] = []
    for s in obs.snapshots:
        if not s.valid:
            skipped[s.vault] = f"lens could not read: {s.describe_read_errors()}"
            kind = "oracle" if s.read_errors & 0b11 else "lens_read"
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
        keeper.history.add(s.vault, s.oracle.updated_at, s.oracle.answer / 10**s.oracle.decimals)
        healthy.append(s)

    # 3. price
    gamma, contracts, tau = position_greeks(healthy, now)
    views = [_view(s, g, c, t) for s, g, c, t in zip(healthy, gamma, contracts, tau, strict=True)]
    forecast = keeper.history.forecast(cfg.ewma_lambda)
    if forecast is None:
        vols = [v.vol for v in views if v.vol > 0]
        forecast = float(np.median(vols)) if vols else cfg.reference_vol

    # 4. decide
    head = read_with_retry(lambda: keeper.w3.eth.get_block("latest"))
    base_fee = int(head.get("baseFeePerGas", 0) or 0)
    gas_price = min(base_fee + cfg.tip_wei, cfg.max_fee_per_gas_wei)
    l1_fixed, l1_per = _l1_estimate(keeper, int(head["number"]), gas_price) if views else (0, 0)
    eth_usd = cfg.eth_usd if cfg.eth_usd is not None else (views[0].spot if views else 0.0)
    costs = CostInputs(
        gas_fixed=cfg.gas_fixed,
        gas_per_vault=cfg.gas_per_vault,
        gas_price_wei=gas_price,
        l1_fee_fixed_wei=l1_fixed,
        l1_fee_per_vault_wei=l1_per,
        eth_usd=eth_usd,
        pool_fee_bps=float(cfg.pool_fee_bps),
        impact_coef=cfg.impact_coef,
    )
    market = MarketView(now=now, forecast_vol=forecast, reference_vol=cfg.reference_vol)
    the_plan: RebalancePlan = plan(keeper.policy, views, market, costs)
    _log_decisions(keeper, the_plan, views, obs.block_number)

    # 5. act
    sim: Simulation | None = None
    outcome: SendOutcome | None = None
    l1_paid: int | None = None
    if the_plan.batch and keeper.batcher is not None:
        sim_from = keeper.sender.address if keeper.sender else keeper.simulate_from
        if sim_from is not None:
            sim = simulate_batch(
                keeper.w3,
                keeper.batcher,
                the_plan.batch,
                sim_from,
                keeper.decoder,
                codec=keeper.codec,
                headroom_bps=cfg.gas_headroom_bps,
            )
            for vault, reason in sim.dropped.items():
                log_decision(
                    decisions_log,
                    "dropped by simulation",
                    block=obs.block_number,
                    vault=vault,
                    outcome="dropped",
                    reason=reason,
                )
        if keeper.sender is not None and sim is not None and sim.vaults:
            sent, l1_paid = _send(keeper, sim, obs.block_number)
            outcome = sent

    if keeper.sender is not None:
        balance = keeper.sender.balance()
        m.balance_wei.set(balance)
        if balance < cfg.low_balance_wei:
            keeper.alerter.alert(
                "low_balance",
                f"keeper {keeper.sender.address} holds {balance} wei (< {cfg.low_balance_wei})",
                key=keeper.sender.address,
            )

    req1, calls1 = counter.snapshot()
    seconds = time.monotonic() - started
    m.rpc_requests_cycle.set(req1 - req0)
    m.rpc_calls_cycle.set(calls1 - calls0)
    m.rpc_requests.inc(req1 - req0)
    m.cycle_seconds.observe(seconds)
    m.last_block.set(obs.block_number)
    result = CycleResult(
        block=obs.block_number,
        timestamp=now,
        dry_run=keeper.dry_run,
        vaults=len(obs.snapshots),
        decisions=the_plan.decisions,
        skipped=skipped,
        planned=the_plan.batch,
        simulated=sim.vaults if sim else (),
        dropped=dict(sim.dropped) if sim else {},
        tx_hash=outcome.tx_hash if outcome else None,
        tx_status=outcome.status if outcome else None,
        gas_used=outcome.gas_used if outcome else None,
        fee_wei=(outcome.gas_used or 0) * (outcome.effective_gas_price or 0) if outcome else None,
        l1_fee_wei=l1_paid,
        costs=costs,
        forecast_vol=forecast,
        reorged_intents=tuple(reorged),
        resumed=tuple(o.tx_hash for o in resumed),
        rpc_requests=req1 - req0,
        rpc_calls=calls1 - calls0,
        seconds=seconds,
    )
    if outcome is not None and outcome.status != "mined":
        raise ExecutionError(f"batch {outcome.tx_hash} ended {outcome.status}")
    return result


def _send(keeper: Keeper, sim: Simulation, block: int) -> tuple[SendOutcome, int | None]:
    assert keeper.sender is not None
    assert keeper.batcher is not None
    journal = keeper.sender.journal
    intent = journal.open_intent(sim.vaults, block)
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
    _account_outcome(keeper, result, l1_paid[-1] if l1_paid else None, len(sim.vaults))
    return result, (l1_paid[-1] if l1_paid else None)


def _account_outcome(
    keeper: Keeper, outcome: SendOutcome, l1_fee: int | None, n_vaults: int = 0
) -> None:
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


def _log_decisions(
    keeper: Keeper, the_plan: RebalancePlan, views: Sequence[VaultView], block: int
) -> None:
    m = keeper.metrics
    for d, v in zip(the_plan.decisions, views, strict=True):
        deviation = abs(d.deviation) / d.band if d.band else math.inf
        m.vault_delta.labels(d.vault).set(v.net_delta / WAD)
        m.vault_band.labels(d.vault).set(d.band / WAD)
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


# ---------------------------------------------------------------------------- the loop


class Runner:
    """Loops :func:`run_cycle` once per new block until stopped or halted.

    Args:
        keeper: The collaborators.
        breaker_threshold: Consecutive failed cycles before :class:`~keeper.errors.Halt`.
        poll_interval_s: How often to look for a new block.
        max_cycles: Stop after this many cycles (``None``: run until stopped).
        cycle: The cycle function (tests pass a fake).
        sleep: Injected for tests.
    """

    def __init__(
        self,
        keeper: Keeper,
        *,
        breaker_threshold: int = 5,
        poll_interval_s: float = 1.0,
        max_cycles: int | None = None,
        cycle: Callable[[Keeper], CycleResult] = run_cycle,
        block_number: Callable[[], int] | None = None,
        on_result: Callable[[CycleResult], None] | None = None,
    ) -> None:
        self.keeper = keeper
        self.breaker_threshold = max(1, breaker_threshold)
        self.poll_interval_s = poll_interval_s
        self.max_cycles = max_cycles
        self._cycle = cycle
        self._block_number = block_number or (lambda: int(keeper.w3.eth.block_number))
        self._on_result = on_result
        self._stop = threading.Event()
        self.failures = 0
        self.cycles = 0
        self.last_error: str | None = None

    def stop(self, *_: object) -> None:
        """Ask the loop to stop after the current cycle (signal-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %d: stopping after the current cycle", signum)
            self.stop()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _wait_new_block(self, last: int | None) -> int | None:
        while not self._stop.is_set():
            try:
                head = self._block_number()
            except (KeeperError, OSError, Web3Exception, ValueError) as exc:
                self._fail(f"cannot read the block number: {type(exc).__name__}: {exc}")
                self._stop.wait(self.poll_interval_s)
                continue
            if last is None or head > last:
                return head
            self._stop.wait(self.poll_interval_s)
        return None

    def _fail(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        self.keeper.metrics.consecutive_failures.set(self.failures)
        logger.error("cycle failed (%d in a row): %s", self.failures, message)
        if self.failures >= self.breaker_threshold:
            text = f"circuit breaker: {self.failures} consecutive failed cycles; last: {message}"
            self.keeper.alerter.alert("halt", text)
            raise Halt(text)

    def run(self) -> int:
        """Run until stopped (returns the number of cycles) or until the breaker trips.

        Raises:
            Halt: ``breaker_threshold`` consecutive cycles failed.
        """
        with self._signals():
            if self.keeper.sender is not None:
                report = self.keeper.sender.reconcile()
                if report.rebroadcast or report.dropped:
                    logger.warning("restart: journal reconciled %s", report)
            last: int | None = None
            while not self._stop.is_set():
                head = self._wait_new_block(last)
                if head is None:
                    break
                last = head
                try:
                    result = self._cycle(self.keeper)
                except OracleError as exc:
                    # Not a keeper fault; alert and go on (the breaker is for the keeper's faults).
                    self.keeper.alerter.alert("oracle", str(exc))
                    self.keeper.metrics.cycles.labels("oracle").inc()
                    continue
                except KeeperError as exc:
                    self.keeper.metrics.cycles.labels("failed").inc()
                    self._fail(f"{type(exc).__name__}: {exc}")
                    continue
                except (OSError, Web3Exception, ValueError) as exc:
                    # A transport failure that outlived the read retries: a failed cycle, not a
                    # crash (the breaker decides when to stop).
                    self.keeper.metrics.cycles.labels("failed").inc()
                    self._fail(f"{type(exc).__name__}: {exc}")
                    continue
                self.failures = 0
                self.keeper.metrics.consecutive_failures.set(0)
                self.keeper.metrics.cycles.labels("ok").inc()
                self.cycles += 1
                if self._on_result is not None:
                    self._on_result(result)
                if self.max_cycles is not None and self.cycles >= self.max_cycles:
                    break
        logger.info("keeper stopped after %d cycles", self.cycles)
        return self.cycles


# ---------------------------------------------------------------------------- wiring


def resolve_vaults(w3: Web3, settings: Settings) -> list[str]:
    """The vaults to keep: the configured list, else the factory's registry; each validated.

    Raises:
        ConfigError: None configured, or an address is not a vault.
    """
    vaults = list(settings.vaults)
    if not vaults and settings.factory:
        vaults = factory_vaults(w3, settings.factory, attempts=settings.rpc_retries)
    if not vaults:
        raise ConfigError("no vaults: set KEEPER_VAULTS or KEEPER_FACTORY (or --addresses)")
    return validate_vaults(w3, vaults, attempts=settings.rpc_retries)


def build_keeper(
    w3: Web3,
    settings: Settings,
    *,
    dry_run: bool = False,
    signer: LocalAccount | None = None,
    metrics: Metrics | None = None,
    alerter: Alerter | None = None,
    journal: Journal | None = None,
) -> Keeper:
    """Wire a :class:`Keeper` from settings over an open connection.

    Raises:
        ConfigError: Missing lens/batcher, bad vaults, unreadable key or keystore.
    """
    if settings.lens is None:
        raise ConfigError("KEEPER_LENS is not set (the VaultLens address)")
    if dry_run:
        signer = None
    elif signer is None:
        signer = settings.signer()
    if signer is not None and settings.batcher is None:
        raise ConfigError("KEEPER_BATCHER is not set (the RebalanceBatcher address)")
    vaults = resolve_vaults(w3, settings)
    chain_id = int(w3.eth.chain_id)
    metrics = metrics or Metrics()
    alerter = alerter or Alerter(
        settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    )
    sender = None
    if signer is not None:
        journal = journal or Journal(settings.journal_path)

        def on_event(event: str, record: Any) -> None:
            if event == "replaced":
                alerter.alert("stuck_tx", f"replaced stuck tx at nonce {record.nonce}")

        sender = Sender(
            w3,
            signer,
            journal,
            FeeCaps(Wei(settings.max_fee_per_gas_wei), Wei(settings.max_priority_fee_wei)),
            tip=settings.priority_fee_wei,
            confirmations=settings.confirmations,
            replace_after_blocks=settings.replace_after_blocks,
            receipt_timeout_s=settings.receipt_timeout_s,
            poll_s=min(settings.poll_interval_s, 0.5),
            chain_id=chain_id,
            on_event=on_event,
        )
    config = CycleConfig(
        gas_fixed=settings.gas_fixed,
        gas_per_vault=settings.gas_per_vault,
        pool_fee_bps=float(settings.pool_fee_bps),
        impact_coef=settings.impact_coef,
        reference_vol=settings.reference_vol,
        ewma_lambda=settings.ewma_lambda,
        tip_wei=settings.priority_fee_wei,
        max_fee_per_gas_wei=settings.max_fee_per_gas_wei,
        gas_headroom_bps=settings.gas_headroom_bps,
        low_balance_wei=settings.low_balance_wei,
        receipt_timeout_s=settings.receipt_timeout_s,
        eth_usd=settings.eth_usd,
    )
    return Keeper(
        w3=w3,
        vaults=vaults,
        lens=LensReader(
            w3, settings.lens, chunk=settings.lens_chunk, attempts=settings.rpc_retries
        ),
        policy=parse_policy(settings.policy),
        config=config,
        batcher=settings.batcher,
        sender=sender,
        simulate_from=settings.simulate_from,
        l1fee=l1_fee_reader(w3, settings.l1_fee_mode, chain_id),
        decoder=ErrorDecoder.from_artifacts(),
        metrics=metrics,
        alerter=alerter,
        counter=rpc_counter(w3),
        chain_id=chain_id,
    )
