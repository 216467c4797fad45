"""``keeper demo``: the whole job on a local anvil, with the real keeper loop hedging live.

:func:`run_demo`:

1. starts anvil on a free port (or ``--port``; or uses ``--rpc-url``), always stopped by PID in a
   ``finally``, which also removes the addresses file written for it (as ``keeper devnet up``
   does: the file never points at a stopped node; a ``--rpc-url`` node's file stays);
2. deploys the stack (:func:`keeper.devnet.stack.deploy_stack`), gives each vault its own band and
   vol parameter, and writes the addresses file (``out/devnet.json``) that ``keeper run
   --addresses`` reads;
3. builds the keeper exactly as ``keeper run`` does -- :func:`keeper.settings.load_settings` over
   that addresses file, :func:`keeper.app.wiring.build_keeper`, and a
   :class:`keeper.app.loop.Runner` signing with the keeper key and journaling under ``out/`` --
   and runs one keeper cycle per market step (:class:`keeper.devnet.market.Market`: oracle path,
   arbitrageur, depositors, desk);
4. reports: a progress callback per step, then a :class:`DemoResult` (per-vault rebalances, gas,
   L1 fee, time outside the band, NAV and share price, deposits and withdrawals) written as JSON
   and drawn as a PNG (:mod:`keeper.app.demo_chart`).

Ctrl-C (SIGINT) or SIGTERM during the steps stops the loop after the cycle in progress; the
report and chart of the steps done are still written, with ``interrupted`` set. Anvil runs in its
own session, so a terminal's Ctrl-C does not kill it under the demo's feet.

Gas, the L2 fee and the L1 fee come from the keeper's own :class:`~keeper.app.cycle.CycleResult`
(the receipt's gas, and the L1 fee the keeper read for the exact signed transaction). A batch's
gas and fees are split evenly across the vaults it rebalanced for the per-vault columns.

By default anvil mines on demand (automine) and time is advanced per step by pinning the step's
first block timestamp, which is what makes 4 vaults x 150 steps take under two minutes from a
fresh clone; ``--block-time 1`` gives real 1-second blocks to the steps (every transaction then
waits for its block). The deployment and the opening are mined at once either way (a whole-second
block time starts after them: :class:`~keeper.chain.anvil.Anvil`'s ``setup_at_once``).

**Reproducible.** With on-demand mining, chain time comes from the transactions alone: each block
is one second after the previous one (:func:`keeper.devnet.market.deterministic_clock`), each
step pins its first block ``step_seconds`` later, and the run starts on a day boundary. So the
same seed gives the same blocks, timestamps, decisions and rebalances in every run. With
``--block-time`` the wall clock decides which transactions share a block: not reproducible.

The devnet (deployment, market, transactions) and matplotlib are imported inside the functions
that use them, so importing this module (as the ``keeper`` CLI does for every command) loads
neither.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception
from web3.logs import DISCARD

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult, run_cycle
from keeper.app.defaults import DEFAULT_POLICY
from keeper.app.demo_chart import plot_demo
from keeper.app.devnet_session import refuse_running_devnet
from keeper.app.loop import Runner
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.errors import ChainError, ConfigError, KeeperError
from keeper.execution.simulate import REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR, BatchCodec
from keeper.locations import check_image_path, check_writable
from keeper.settings import load_settings
from keeper.strategy.policies import parse_policy
from keeper.units import WAD

if TYPE_CHECKING:
    from keeper.devnet.market import Accounts, Market, MarketConfig, QueuedExit, StepRecord
    from keeper.devnet.stack import DevnetStack

#: Uniswap V3's ``Swap(address,address,int256,int256,uint160,uint128,int24)`` event topic.
POOL_SWAP_TOPIC = Web3.keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)")
#: ``OptionVault.Rebalanced``'s topic: every rebalance emits it, batched or sent to the vault.
REBALANCED_TOPIC = Web3.keccak(text="Rebalanced(int256,int256,uint256,uint256,uint256,uint8)")

logger = logging.getLogger(__name__)

#: Per-vault (band in 1e18 underlying, vol parameter in 1e18), cycled over the vaults.
VAULT_PROFILES: tuple[tuple[int, int], ...] = (
    (WAD // 2, 8 * 10**17),
    (WAD, 6 * 10**17),
    (WAD // 4, 10**18),
    (2 * WAD, 7 * 10**17),
)


@dataclass(frozen=True)
class DemoConfig:
    """What :func:`run_demo` runs and where it writes."""

    vaults: int = 4
    steps: int = 150
    seed: int = 7
    policy: str = DEFAULT_POLICY
    step_seconds: int = 600
    vol: float = 0.8
    drift: float = 0.0
    jump_intensity: float = 0.0
    #: Chance a market step queues a holder's exit in a vault's redemption queue.
    queue_prob: float = 0.05
    json_path: Path | None = Path("out/demo.json")
    plot_path: Path | None = Path("out/demo.png")
    addresses_path: Path = Path("out/devnet.json")
    journal_path: Path = Path("out/demo-journal.sqlite")
    port: int | None = None
    block_time: float | None = None
    rpc_url: str | None = None
    anvil_binary: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.vaults <= 100:
            raise ConfigError("--vaults must be between 1 and 100")
        if self.steps < 1:
            raise ConfigError("--steps must be >= 1")
        # NaN fails every comparison: test finite first.
        if self.block_time is not None and not (
            math.isfinite(self.block_time) and self.block_time > 0
        ):
            raise ConfigError(f"--block-time must be a finite number > 0, got {self.block_time}")
        if self.port is not None and not 1 <= self.port <= 65_535:
            raise ConfigError("--port must be between 1 and 65535")
        if self.step_seconds < 1:
            raise ConfigError(f"--step-seconds must be >= 1, got {self.step_seconds}")
        # NaN fails every comparison: test finite first.
        for flag, value in (("--vol", self.vol), ("--jumps", self.jump_intensity)):
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{flag} must be a finite number >= 0, got {value}")
        if not math.isfinite(self.drift):
            raise ConfigError(f"--drift must be a finite number, got {self.drift}")
        if not 0.0 <= self.queue_prob <= 1.0:  # NaN fails it too
            raise ConfigError(f"--queue-prob must be a number in [0, 1], got {self.queue_prob}")
        if self.plot_path is not None:
            check_image_path(self.plot_path, "--plot")
        self.market()  # the market's own checks, before anything starts
        parse_policy(self.policy)  # the keeper's, too

    def market(self) -> MarketConfig:
        """The market driver's config."""
        from keeper.devnet.market import MarketConfig

        return MarketConfig(
            seed=self.seed,
            steps=self.steps,
            step_seconds=self.step_seconds,
            vol=self.vol,
            drift=self.drift,
            jump_intensity=self.jump_intensity,
            queue_prob=self.queue_prob,
        )


@dataclass(frozen=True)
class Progress:
    """One progress tick (after each keeper cycle)."""

    step: int
    steps: int
    price8: int
    rebalance_txs: int
    vault_rebalances: int
    elapsed_s: float


@dataclass
class VaultStats:
    """Per-vault totals of the run."""

    vault: str
    band: int
    volatility: int
    rebalances: int = 0
    rebalance_failures: int = 0
    gas_used: int = 0
    l2_fee_wei: int = 0
    l1_fee_wei: int = 0
    steps_outside_band: int = 0
    seconds_outside_band: int = 0
    deposits: int = 0
    deposited: int = 0
    withdrawals: int = 0
    withdrawn: int = 0
    options_written: int = 0
    premiums: int = 0
    series_settled: int = 0
    nav: int = 0
    total_supply: int = 0
    share_price: int = 0
    net_delta_end: int = 0
    target_delta: int = 0
    deviation_over_band_end: float = 0.0
    trigger_ready_end: bool = False
    rebalanced_last_cycle: bool = False


@dataclass
class Trace:
    """Per step: time, prices, and per vault the deviation before and after the keeper."""

    times: list[int] = field(default_factory=list)
    prices: list[int] = field(default_factory=list)
    pool_prices: list[int] = field(default_factory=list)
    pre: dict[str, list[float]] = field(default_factory=dict)
    post: dict[str, list[float]] = field(default_factory=dict)
    rebalanced: dict[str, list[bool]] = field(default_factory=dict)


@dataclass
class DemoResult:
    """Everything the demo measured (``to_json`` is the ``--json`` file)."""

    chain_id: int
    rpc_url: str
    policy: str
    seed: int
    steps: int
    steps_done: int
    step_seconds: int
    addresses_file: str
    vault_stats: list[VaultStats]
    rebalance_txs: int
    vault_rebalances: int
    max_batch: int
    batches_2plus: int
    failed_txs: int
    failed_cycles: int
    sender_dropped_but_mined: int
    deposits: int
    withdrawals: int
    options_written: int
    series_settled: int
    gas_used_total: int
    l2_fee_total_wei: int
    l1_fee_total_wei: int
    max_abs_deviation_over_band_at_end: float
    price_start8: int
    price_end8: int
    duration_s: float
    trace: Trace
    flows: list[dict[str, Any]]
    writes: list[dict[str, Any]]
    tx_hashes: list[str]
    #: Stopped by SIGINT/SIGTERM before the last step: the report covers ``steps_done`` steps.
    interrupted: bool = False
    #: Swaps the pool made in the mined transactions (its own ``Swap`` logs): at most one per
    #: batch, however many vaults it rebalanced (their opposite trades cross inside the batch,
    #: and a fully crossed batch makes none), and one for a lone vault's transaction (the vault
    #: swaps itself).
    pool_swaps: int = 0
    #: Each holder's exit queued in a vault's redemption queue
    #: (:class:`~keeper.devnet.market.QueuedExit`), as the flows are kept.
    queued: list[dict[str, Any]] = field(default_factory=list)
    #: Of the shares queued, those filled by the end (the keeper fills after a settlement, and
    #: from free quote at its queue sweep).
    queued_filled_shares: int = 0

    @property
    def queued_exits(self) -> int:
        """Exits queued in the vaults' redemption queues."""
        return len(self.queued)

    @property
    def queued_shares(self) -> int:
        """The shares those exits queued."""
        return sum(int(q["shares"]) for q in self.queued)

    @property
    def gas_per_vault_rebalance(self) -> float:
        """Gas of the mined batches per vault rebalanced (0 with none)."""
        return self.gas_used_total / self.vault_rebalances if self.vault_rebalances else 0.0

    @property
    def l1_fee_per_vault_rebalance_wei(self) -> float:
        """L1 data fee of the mined batches per vault rebalanced, wei (0 with none)."""
        return self.l1_fee_total_wei / self.vault_rebalances if self.vault_rebalances else 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON report (traces left out; flows and writes kept for checking)."""
        out = asdict(self)
        out.pop("trace")
        out.pop("vault_stats")
        out["vaults"] = len(self.vault_stats)
        out["per_vault"] = [asdict(v) for v in self.vault_stats]
        out["queued_exits"] = self.queued_exits
        out["queued_shares"] = self.queued_shares
        out["gas_per_vault_rebalance"] = round(self.gas_per_vault_rebalance)
        out["l1_fee_per_vault_rebalance_wei"] = round(self.l1_fee_per_vault_rebalance_wei)
        return out


# ----------------------------------------------------------------------------- the run


class _MarketStepFailed(Exception):  # noqa: N818 - internal carrier, never seen by users
    """Carries a market failure out of the Runner (which would count a KeeperError and go on)."""

    def __init__(self, step: int, cause: BaseException) -> None:
        super().__init__(f"market step {step} failed: {cause}")
        self.step = step
        self.cause = cause


class _Tracker:
    """Collects the market's records and the keeper's cycle results as the run goes."""

    def __init__(self, keeper: Keeper, market: Market, stack: DevnetStack, cfg: DemoConfig) -> None:
        self.keeper = keeper
        self.market = market
        self.cfg = cfg
        self.step = 0
        self.results: list[CycleResult] = []
        self.batches: list[tuple[str, tuple[str, ...]]] = []
        batcher_abi = load_artifact("RebalanceBatcher").abi
        self.batcher = keeper.w3.eth.contract(
            address=Web3.to_checksum_address(stack.batcher), abi=batcher_abi
        )
        self.pool = Web3.to_checksum_address(stack.pool)
        self.stats = {v: VaultStats(v, 0, 0) for v in stack.vaults}
        self.trace = Trace()
        for v in stack.vaults:
            self.trace.pre[v] = []
            self.trace.post[v] = []
            self.trace.rebalanced[v] = []
        self.started = time.monotonic()
        self.progress: Callable[[Progress], None] | None = None
        self.vault_rebalances = 0
        self.pool_swaps = 0
        self.gas_used = 0
        self.l2_fee = 0
        self.l1_fee = 0

    def on_market(self, rec: StepRecord) -> None:
        self.trace.times.append(rec.timestamp)
        self.trace.prices.append(rec.price8)
        self.trace.pool_prices.append(rec.pool_price8)

    def account(self, tx_hash: str, gas: int, l2_fee: int, l1_fee: int) -> set[str]:
        """Book one mined transaction: its per-vault rebalances, gas and fees split evenly.

        A rebalanced vault is one that emitted its own ``Rebalanced`` event (in a batch or in a
        lone vault's transaction sent to the vault itself); a failed one is the batcher's
        ``VaultRebalanceFailed``. Returns the vaults it rebalanced.
        """
        receipt = self.keeper.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        ok = [
            str(log["address"])
            for log in receipt["logs"]
            if log["address"] in self.stats
            and log["topics"]
            and log["topics"][0] == REBALANCED_TOPIC
        ]
        failed = [
            str(Web3.to_checksum_address(e["args"]["vault"]))
            for e in self.batcher.events.VaultRebalanceFailed().process_receipt(
                receipt, errors=DISCARD
            )
        ]
        members = ok + failed
        n = max(len(members), 1)
        for j, v in enumerate(members):
            s = self.stats[v]
            # Even split; the first member takes the rounding remainder.
            s.gas_used += gas // n + (gas % n if j == 0 else 0)
            s.l2_fee_wei += l2_fee // n + (l2_fee % n if j == 0 else 0)
            s.l1_fee_wei += l1_fee // n + (l1_fee % n if j == 0 else 0)
        for v in ok:
            self.stats[v].rebalances += 1
        for v in failed:
            self.stats[v].rebalance_failures += 1
        self.vault_rebalances += len(ok)
        self.pool_swaps += sum(
            1
            for log in receipt["logs"]
            if log["address"] == self.pool and log["topics"] and log["topics"][0] == POOL_SWAP_TOPIC
        )
        self.batches.append((tx_hash, tuple(members)))
        self.gas_used += gas
        self.l2_fee += l2_fee
        self.l1_fee += l1_fee
        return set(ok)

    def after_cycle(self, result: CycleResult | None) -> None:
        """Book the cycle's batch and observe every vault after it (also after a failed cycle)."""
        done: set[str] = set()
        if result is not None:
            self.results.append(result)
            if (
                result.tx_hash is not None
                and result.tx_status == "mined"
                and self.is_rebalance(result.tx_hash)
            ):
                done = self.account(
                    result.tx_hash,
                    result.gas_used or 0,
                    result.fee_wei or 0,
                    result.l1_fee_wei or 0,
                )
        pre = {d.vault: d.deviation for d in result.decisions} if result is not None else {}
        post = {s.vault: s for s in self.keeper.lens.read(self.keeper.vaults).snapshots}
        for v, snap in post.items():
            band = snap.thresholds.band
            dev_post = (snap.net_delta - snap.thresholds.target_delta) / WAD
            dev_pre = pre[v] / WAD if v in pre else dev_post
            self.trace.pre[v].append(dev_pre)
            self.trace.post[v].append(dev_post)
            self.trace.rebalanced[v].append(v in done)
            st = self.stats[v]
            st.rebalanced_last_cycle = v in done
            if abs(snap.net_delta - snap.thresholds.target_delta) > band:
                st.steps_outside_band += 1
                st.seconds_outside_band += self.cfg.step_seconds
        if self.progress is not None:
            self.progress(
                Progress(
                    step=self.step,
                    steps=self.cfg.steps,
                    price8=self.trace.prices[-1] if self.trace.prices else 0,
                    rebalance_txs=len(self.batches),
                    vault_rebalances=self.vault_rebalances,
                    elapsed_s=time.monotonic() - self.started,
                )
            )

    def is_rebalance(self, tx_hash: str) -> bool:
        """Whether the keeper's transaction is a rebalance: a batch, or a lone vault's own call.

        The journal also holds the keeper's settlements, queue fills and cancels (a 0-value
        transfer to itself at a stale batch's nonce); none of them rebalances a vault. Told from
        the signed bytes the journal holds; a hash it does not hold counts as a rebalance.
        """
        sender = self.keeper.sender
        if sender is None:
            return True
        try:
            to, data = sender.call_of(tx_hash)
        except KeyError:
            return True
        if to == self.batcher.address:  # settleBatch and fillBatch go there too
            return bytes(data[:4]) == (self.keeper.codec or BatchCodec()).selector
        return bytes(data[:4]) in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR)

    def reconcile(self) -> tuple[int, int]:
        """Check every journaled batch against the chain; book any mined one not booked yet.

        A cycle can fail after its batch was mined (e.g. the node reported the keeper's nonce as
        used before it served the receipt, so the sender gave the transaction up as dropped);
        the batch still counts. Returns ``(failed batches, dropped but mined)``: a failed batch is
        a rebalance intent none of whose rebalance versions has a successful receipt (one
        cancelled at its nonce counts as failed). Settlements and queue fills are not batches:
        they are neither booked nor counted.
        """
        if self.keeper.sender is None:
            return 0, 0
        booked = {h for h, _ in self.batches}
        rows = self.keeper.sender.journal.recent(limit=1_000_000)
        landed: set[int] = set()
        intents: set[int] = set()
        dropped_but_mined = 0
        for row in sorted(rows, key=lambda r: r.id):
            if not self.is_rebalance(row.tx_hash):
                continue
            intents.add(row.intent_id)
            try:
                receipt = self.keeper.w3.eth.get_transaction_receipt(row.tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
            if int(receipt["status"]) != 1:
                continue
            landed.add(row.intent_id)
            if row.status == "dropped":
                dropped_but_mined += 1
            if row.tx_hash not in booked:
                gas = int(receipt["gasUsed"])
                self.account(
                    row.tx_hash, gas, gas * int(receipt["effectiveGasPrice"]), row.l1_fee or 0
                )
        return len(intents - landed), dropped_but_mined


def deploy_demo_stack(w3: Web3, accounts: Accounts, n_vaults: int, price8: int) -> DevnetStack:
    """Deploy the demo's devnet and give each vault its profile's band and vol.

    The stack has ``n_vaults`` vaults on the demo's thresholds (a 60 s minimum interval, 50
    underlying per trade); the demo, ``keeper devnet up`` and the chaos suite all use it.
    """
    from keeper.devnet.stack import StackConfig, ThresholdParams, deploy_stack

    stack = deploy_stack(
        w3,
        admin=accounts.admin,
        desk=accounts.desk.address,
        keeper=accounts.keeper_address,
        config=StackConfig(
            n_vaults=n_vaults,
            price8=price8,
            thresholds=ThresholdParams(min_interval=60, max_trade=50 * WAD),
        ),
    )
    configure_vaults(w3, stack, accounts)
    return stack


def configure_vaults(w3: Web3, stack: DevnetStack, accounts: Accounts) -> None:
    """Give vault i the band and vol of ``VAULT_PROFILES[i % 4]`` (admin setters)."""
    from keeper.devnet.tx import transact

    abi = load_artifact("OptionVault").abi
    for i, v in enumerate(stack.vaults):
        band, vol = VAULT_PROFILES[i % len(VAULT_PROFILES)]
        vault = w3.eth.contract(address=Web3.to_checksum_address(v), abi=abi)
        if vault.functions.thresholds().call()[1] != band:
            transact(w3, accounts.admin, vault.functions.setBand(band))
        if vault.functions.volatility().call() != vol:
            transact(w3, accounts.admin, vault.functions.setVolatility(vol))


def run_demo(cfg: DemoConfig, progress: Callable[[Progress], None] | None = None) -> DemoResult:
    """Run the demo end to end (see the module docstring) and return what it measured.

    Raises:
        ConfigError: anvil is missing, or an output path cannot be written.
        ChainError: the port is taken, the node cannot be reached or fails, or a market
            transaction failed or settled to the wrong share amount.
        Halt: the keeper's circuit breaker tripped.
    """
    started = time.monotonic()
    for path in (cfg.json_path, cfg.plot_path, cfg.addresses_path, cfg.journal_path):
        if path is not None:
            check_writable(path)
    refuse_running_devnet(cfg.addresses_path)
    # SIGTERM outside the keeper loop is a KeyboardInterrupt (``keeper.cli``): the ``finally``
    # that stops anvil runs, however the demo is stopped.
    node: Anvil | None = None
    node_up = False
    try:
        if cfg.rpc_url is not None:
            w3 = connect(cfg.rpc_url, timeout_s=10)
            url = cfg.rpc_url
            try:
                return _run(w3, url, cfg, progress, started)
            finally:
                # Give the borrowed node its wall clock back (the demo set a 1 s block interval).
                with contextlib.suppress(OSError, Web3Exception):
                    w3.provider.make_request(
                        "anvil_removeBlockTimestampInterval",  # type: ignore[arg-type]
                        [],
                    )
        else:
            # The deployment and the opening are mined at once; the block time starts after.
            node = Anvil(
                port=cfg.port,
                block_time=cfg.block_time,
                binary=cfg.anvil_binary,
                setup_at_once=True,
            )
            node.start()
            node_up = True
            url = node.url
            w3 = connect(url)
        return _run(w3, url, cfg, progress, started, node)
    except _MarketStepFailed as exc:
        if isinstance(exc.cause, ConfigError):
            raise ConfigError(_one_line(str(exc))) from exc.cause
        raise ChainError(_one_line(str(exc))) from exc.cause
    except (OSError, Web3Exception) as exc:
        raise ChainError(_one_line(f"demo: the node failed: {type(exc).__name__}: {exc}")) from exc
    finally:
        if node is not None:
            node.stop()
            if node_up:
                _remove_addresses_of(cfg.addresses_path, node.url)


def _remove_addresses_of(path: Path, url: str) -> None:
    """Remove the addresses file the demo wrote for its own anvil, now stopped.

    As ``keeper devnet up`` does, so the file never points at a stopped node. A file for another
    node (the demo failed before writing its own) is left alone.
    """
    try:
        written = json.loads(path.read_text()).get("rpc_url")
    except (OSError, ValueError, AttributeError):
        return
    if written == url:
        path.unlink(missing_ok=True)
        logger.info("removed %s: the demo's anvil at %s has stopped", path, url)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _run(
    w3: Web3,
    url: str,
    cfg: DemoConfig,
    progress: Callable[[Progress], None] | None,
    started: float,
    node: Anvil | None = None,
) -> DemoResult:
    from keeper.devnet.market import Market, demo_accounts, deterministic_clock
    from keeper.devnet.stack import write_addresses

    accounts = demo_accounts()
    mcfg = cfg.market()
    if cfg.block_time is None:
        # Block timestamps from the transactions alone, never the wall clock: the seeded run
        # reproduces exactly (see docs/demo.md, "Reproducible").
        deterministic_clock(w3)
    stack = deploy_demo_stack(w3, accounts, cfg.vaults, mcfg.spot8)
    write_addresses(cfg.addresses_path, stack, rpc_url=url)
    # The journal belongs to this run's fresh chain: a previous run's rows would be foreign.
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{cfg.journal_path}{suffix}").unlink(missing_ok=True)
    settings = load_settings(
        env_file=None,
        addresses=cfg.addresses_path,
        private_key=accounts.keeper_key,
        journal_path=cfg.journal_path,
        policy=cfg.policy,
        poll_interval_s=0.01 if cfg.block_time is None else 0.2,
        receipt_timeout_s=60,
    )
    keeper = build_keeper(w3, settings)
    market = Market(w3, stack, accounts, mcfg, exact_preview=cfg.block_time is None)
    opening = market.setup()
    if node is not None:
        node.start_block_time()
    tracker = _Tracker(keeper, market, stack, cfg)
    tracker.progress = progress

    def cycle(k: Keeper) -> CycleResult:
        """One market step, then the keeper's real cycle on what it left behind."""
        tracker.step += 1
        i = tracker.step
        try:
            rec = market.step(i)
        except (KeeperError, Web3Exception, OSError, ValueError) as exc:
            raise _MarketStepFailed(i, exc) from exc
        tracker.on_market(rec)
        if i >= cfg.steps:
            runner.stop()  # the loop ends after this cycle, whether it succeeds or fails
        result: CycleResult | None = None
        try:
            result = run_cycle(k)
        finally:
            tracker.after_cycle(result)
        return result

    runner = Runner(
        keeper,
        breaker_threshold=settings.breaker_threshold,
        poll_interval_s=settings.poll_interval_s,
        max_cycles=cfg.steps,
        cycle=cycle,
    )
    runner.run()  # SIGINT/SIGTERM stop it after the current cycle (anvil has its own session)
    if tracker.step == 0:
        # Stopped before its first step: nothing to report or draw, as for a stop in the set-up.
        raise KeyboardInterrupt
    result = _summarize(w3, url, cfg, stack, keeper, market, tracker, opening, started)
    result.interrupted = tracker.step < cfg.steps
    if cfg.json_path is not None:
        cfg.json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    if cfg.plot_path is not None:
        plot_demo(cfg.plot_path, result)
    return result


def _queued_filled(w3: Web3, queued: list[QueuedExit]) -> int:
    """Of the shares ``queued``, those no longer pending at the end: filled (or discarded dust).

    Each holder's requests on a vault are one position in its queue (a second request joins
    the first), so pending is read once per (vault, holder).
    """
    requested: dict[tuple[str, str], int] = {}
    for q in queued:
        requested[(q.vault, q.holder)] = requested.get((q.vault, q.holder), 0) + q.shares
    vault_abi, queue_abi = load_artifact("OptionVault").abi, load_artifact("RedemptionQueue").abi
    filled = 0
    for (vault, holder), shares in requested.items():
        v = w3.eth.contract(address=Web3.to_checksum_address(vault), abi=vault_abi)
        queue = w3.eth.contract(
            address=Web3.to_checksum_address(v.functions.redemptionQueue().call()),
            abi=queue_abi,
        )
        filled += shares - int(queue.functions.pendingRedeemRequest(0, holder).call())
    return filled


def _summarize(
    w3: Web3,
    url: str,
    cfg: DemoConfig,
    stack: DevnetStack,
    keeper: Keeper,
    market: Market,
    tracker: _Tracker,
    opening: StepRecord,
    started: float,
) -> DemoResult:
    abi = load_artifact("OptionVault").abi
    snaps = market.snapshots()
    for v, st in tracker.stats.items():
        s = snaps[v]
        vault = w3.eth.contract(address=Web3.to_checksum_address(v), abi=abi)
        st.band = s.thresholds.band
        st.volatility = s.volatility
        st.nav = s.total_assets
        st.total_supply = s.total_supply
        st.share_price = int(vault.functions.convertToAssets(10**12).call())
        st.net_delta_end = s.net_delta
        st.target_delta = s.thresholds.target_delta
        st.deviation_over_band_end = (
            abs(s.net_delta - s.thresholds.target_delta) / s.thresholds.band
        )
        st.trigger_ready_end = s.trigger_ready
    flows = [f for r in market.records for f in r.flows]
    writes = [w for r in market.records for w in r.writes]
    settled = [x for r in market.records for x in r.settlements]
    queued = [q for r in market.records for q in r.queued]
    for f in flows:
        st = tracker.stats[f.vault]
        if f.kind == "deposit":
            st.deposits += 1
            st.deposited += f.assets
        else:
            st.withdrawals += 1
            st.withdrawn += f.assets
    for w in writes:
        tracker.stats[w.vault].options_written += 1
        tracker.stats[w.vault].premiums += w.premium
    for x in settled:
        tracker.stats[x.vault].series_settled += 1
    failed_batches, dropped_but_mined = tracker.reconcile()
    m = keeper.metrics
    stats = list(tracker.stats.values())
    return DemoResult(
        chain_id=int(w3.eth.chain_id),
        rpc_url=url,
        policy=cfg.policy,
        seed=cfg.seed,
        steps=cfg.steps,
        steps_done=tracker.step,
        step_seconds=cfg.step_seconds,
        addresses_file=str(cfg.addresses_path),
        vault_stats=stats,
        rebalance_txs=len(tracker.batches),
        vault_rebalances=tracker.vault_rebalances,
        pool_swaps=tracker.pool_swaps,
        max_batch=max((len(b) for _, b in tracker.batches), default=0),
        batches_2plus=sum(1 for _, b in tracker.batches if len(b) >= 2),
        failed_txs=failed_batches,
        failed_cycles=int(m.value("keeper_cycles_total", {"result": "failed"})),
        sender_dropped_but_mined=dropped_but_mined,
        deposits=sum(1 for f in flows if f.kind == "deposit"),
        withdrawals=sum(1 for f in flows if f.kind == "withdraw"),
        options_written=len(writes),
        series_settled=len(settled),
        gas_used_total=tracker.gas_used,
        l2_fee_total_wei=tracker.l2_fee,
        l1_fee_total_wei=tracker.l1_fee,
        max_abs_deviation_over_band_at_end=max(
            (s.deviation_over_band_end for s in stats), default=0.0
        ),
        price_start8=opening.price8,
        price_end8=market.records[-1].price8,
        duration_s=round(time.monotonic() - started, 3),
        trace=tracker.trace,
        flows=[asdict(f) for f in flows],
        writes=[asdict(w) for w in writes],
        tx_hashes=[h for h, _ in tracker.batches],
        queued=[asdict(q) for q in queued],
        queued_filled_shares=_queued_filled(w3, queued),
    )
