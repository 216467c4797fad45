"""The loop: :class:`Runner` runs :func:`~keeper.app.cycle.run_cycle` once per new block.

:func:`keep` is ``keeper run``: a keeper wired from settings, looped until stopped.

- **Start-up** (in :func:`keep`) retries transient errors up to ``KEEPER_STARTUP_TIMEOUT_S``, then
  exits with one line naming what it gave up on. The journal is reconciled inside the loop,
  under its error handling: a restarted keeper never sends twice, and a node that is down at
  start-up is retried block after block like any other transient fault.
- **Transient failures** (:func:`keeper.chain.retry.is_transient`: the node could not be reached
  or was busy, before the cycle's deadline) never count toward the breaker: the loop backs off a
  little and tries again at the next block. A failed block-number poll is not a cycle at all.
- **The breaker is for systemic failure**: a permanent error repeated ``breaker_threshold``
  times in a row (a reverted batch, a lost keeper role, no gas money, a wrong chain) halts with
  an alert. Oracle problems and fee spikes never fail a cycle.
- **Unserved need.** When vaults wanted a rebalance that could not be served (failed cycles, a
  batch waiting on the fee cap or a pending transaction, a vault the chain refused: dropped by
  the simulation, failed inside the mined batch, reverted alone) for ``unserved_alert_blocks``
  blocks, an ``unserved`` alert fires (once per episode).
- Every cycle, failed or not, counts toward ``max_cycles``. SIGINT/SIGTERM stop cleanly after
  the cycle in progress.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, cast

from web3.exceptions import Web3Exception
from web3.providers import JSONBaseProvider

from keeper.app.act import refused, watch_balance
from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult, run_cycle
from keeper.app.signals import StopRequest
from keeper.app.wiring import connect_keeper
from keeper.chain.retry import deadline, is_transient
from keeper.errors import ConfigError, ExecutionError, Halt, KeeperError, first_line
from keeper.settings import Settings

logger = logging.getLogger(__name__)

#: What a failed cycle may raise (anything else is a bug and crashes loudly).
_CYCLE_ERRORS = (KeeperError, OSError, Web3Exception, ValueError)


class Runner:
    """Loops :func:`~keeper.app.cycle.run_cycle` once per new block until stopped or halted.

    Args:
        keeper: The collaborators.
        breaker_threshold: Consecutive systemic failures before :class:`~keeper.errors.Halt`.
        poll_interval_s: How often to look for a new block.
        max_cycles: Stop after this many cycles, failed ones included (``None``: until stopped).
        cycle: The cycle function (tests and the demo pass their own).
        block_number: Reads the head block number (injected for tests).
        on_result: Called with each successful cycle's result.
        cycle_deadline_s: Retries of one cycle's reads stop after this many seconds.
        unserved_alert_blocks: Alert after this many blocks of unserved need.
        max_backoff_s: Longest pause after consecutive transient failures.
        head_stall_s: Alert (``head_stalled``) when no new block has been seen for this many
            seconds, and again each time the stall doubles; 0: never.
    """

    def __init__(
        self,
        keeper: Keeper,
        *,
        breaker_threshold: int = 5,
        poll_interval_s: float = 1.0,
        max_cycles: int | None = None,
        cycle: Callable[[Keeper], CycleResult] | None = None,
        block_number: Callable[[], int] | None = None,
        on_result: Callable[[CycleResult], None] | None = None,
        cycle_deadline_s: float | None = None,
        unserved_alert_blocks: int = 10,
        max_backoff_s: float = 8.0,
        head_stall_s: float = 0.0,
    ) -> None:
        if max_cycles is not None and max_cycles < 1:
            raise ConfigError(f"max cycles must be at least 1 (got {max_cycles})")
        self.keeper = keeper
        self.breaker_threshold = max(1, breaker_threshold)
        self.poll_interval_s = poll_interval_s
        self.max_cycles = max_cycles
        self._cycle = cycle or (lambda k: run_cycle(k, self._head))
        self._block_number = block_number or self._poll_head
        self._on_result = on_result
        self.cycle_deadline_s = cycle_deadline_s
        self.unserved_alert_blocks = max(1, unserved_alert_blocks)
        self.max_backoff_s = max_backoff_s
        self.head_stall_s = head_stall_s
        #: When the newest head was first seen (``time.monotonic()``), and its number; the
        #: stall it has lasted when last alerted (0: not alerted).
        self._new_head_at: float | None = None
        self._new_head: int | None = None
        self._stall_alerted = 0.0
        self._stop = StopRequest()
        self._head: int | None = None
        #: The block whose header the head polls fetch too (see :meth:`_poll_head`).
        self._probe: int | None = None
        self._reconciled = keeper.sender is None
        #: Systemic failures in a row (the breaker's count).
        self.failures = 0
        #: Transient failures in a row (back-off only).
        self.transient = 0
        #: Cycles run, failed ones included.
        self.cycles = 0
        self.failed_cycles = 0
        #: Cycles that ran but judged no vault (every one skipped, one at least by a
        #: fault), and the last why.
        self.unjudged_cycles = 0
        self.last_unjudged: str | None = None
        self.last_error: str | None = None
        #: First block of the current episode of unserved need, and whether it was alerted.
        self.unserved_since: int | None = None
        self._unserved_alerted = False
        #: When the current head was first seen (monotonic s), and recent block intervals
        #: measured between heads the loop waited for (see :meth:`_wait_new_block`).
        self._head_seen_at: float | None = None
        self._intervals: deque[float] = deque(maxlen=16)
        #: When the current head was seen by a clean poll (one after an empty poll, answered
        #: within half a poll period), else None: intervals are measured between two of those.
        self._clean_seen_at: float | None = None
        #: Block-number polls made (each is an RPC request).
        self.polls = 0
        if keeper.sender is not None and keeper.sender.block_timing is None:
            # Its receipt waits pace their head polls to the blocks this loop sees.
            keeper.sender.block_timing = self.block_timing

    def _poll_head(self) -> int:
        """Read the head block's header (kept for the cycle's costs) and return its number.

        With the sender's reorg probe set (:meth:`~keeper.execution.sender.Sender.reorg_probe`,
        taken once per wait), that block's header comes in the same JSON-RPC batch, so the
        cycle's reorg check needs no read of its own. If the batch fails for any reason but a
        transient one (e.g. the probed block is gone), the head is read alone and the reorg
        check reads the block itself, as without a probe.
        """
        keeper, probe = self.keeper, self._probe
        w3 = keeper.w3
        keeper.probe_headers = None
        if probe is not None and isinstance(w3.provider, JSONBaseProvider):
            try:
                with w3.batch_requests() as batch:
                    batch.add(w3.eth.get_block("latest"))
                    batch.add(w3.eth.get_block(probe))
                    header, probed = batch.execute()
            except Exception as exc:
                if is_transient(exc):
                    raise
                logger.debug("head and reorg probe in one batch failed: %s", exc)
            else:
                keeper.head_block = cast(Mapping[str, Any], header)
                keeper.probe_headers = {probe: probed}
                return int(keeper.head_block["number"])
        keeper.head_block = w3.eth.get_block("latest")
        return int(keeper.head_block["number"])

    def _reorg_probe(self) -> int | None:
        sender = self.keeper.sender
        if sender is None:
            return None
        try:
            return sender.reorg_probe()
        except ExecutionError as exc:  # the journal: the cycle's reorg check will say more
            logger.debug("no reorg probe: %s", exc)
            return None

    def stop(self, *_: object) -> None:
        """Ask the loop to stop after the current cycle (not from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def run(self) -> int:
        """Run until stopped or ``max_cycles`` (returns the cycles run) or the breaker trips.

        Raises:
            Halt: ``breaker_threshold`` consecutive systemic failures.
        """
        try:
            with self._signals():
                self._loop()
        finally:  # a Halt too: its last lines say how it ended and what was not delivered
            self.keeper.alerter.flush_now()  # held alerts, a failed halt: once more
            held = self.keeper.alerter.held
            if held:
                logger.warning(
                    "%d alert%s not delivered to the webhook (%s): it was still failing",
                    len(held),
                    "" if len(held) == 1 else "s",
                    ", ".join(held),
                )
            logger.info(
                "keeper stopped after %d cycle%s (%d failed)",
                self.cycles,
                "" if self.cycles == 1 else "s",
                self.failed_cycles,
            )
        return self.cycles

    def _loop(self) -> None:
        last: int | None = None
        while not self._stop.is_set():
            head = self._wait_new_block(last)
            if head is None:
                break
            last = self._head = head
            self.cycles += 1
            try:
                with deadline(self.cycle_deadline_s):
                    self._reconcile_once()
                    result = self._cycle(self.keeper)
            except _CYCLE_ERRORS as exc:
                # A failed cycle, not a crash: transient ones back off, systemic ones count
                # toward the breaker.
                self.failed_cycles += 1
                self.keeper.metrics.cycles.labels("failed").inc()
                self._need(head, cause=f"{type(exc).__name__}: {exc}")
                if is_transient(exc):
                    self._transient_failure(exc)
                else:
                    self._fail(f"{type(exc).__name__}: {exc}")
            else:
                self._succeeded(result, head)
            # Alerts held while the webhook failed go out once it is back (never raises).
            self.keeper.alerter.flush()
            if self.max_cycles is not None and self.cycles >= self.max_cycles:
                break

    def _reconcile_once(self) -> None:
        if self._reconciled or self.keeper.sender is None:
            return
        report = self.keeper.sender.reconcile()
        self._reconciled = True
        if report.rebroadcast or report.dropped or report.cancelled or report.refused:
            logger.warning("restart: journal reconciled %s", report)
        for tx_hash, nonce, reason in report.refused:
            refused(self.keeper, tx_hash, nonce, reason)

    def _succeeded(self, result: CycleResult, head: int) -> None:
        self.failures = 0
        self.transient = 0
        self.keeper.metrics.consecutive_failures.set(0)
        self.keeper.metrics.cycles.labels("ok").inc()
        self._need(head, cause=_unserved_cause(self.keeper, result))
        why = result.nothing_evaluated()
        if why is not None:
            self.unjudged_cycles += 1
            self.last_unjudged = why
        if self._on_result is not None:
            self._on_result(result)

    def _need(self, head: int, *, cause: str | None) -> None:
        """Track an episode of unserved need; alert once it lasts ``unserved_alert_blocks``.

        ``cause``: why this cycle left the need unserved (its failure, a wait, a refusal), or
        ``None`` when it served it. The alert names the episode's latest cause, never one from
        an earlier episode.
        """
        if cause is None:
            if self.unserved_since is not None:
                logger.info("need served again after block %d", self.unserved_since)
            self.unserved_since = None
            self._unserved_alerted = False
            return
        if self.unserved_since is None:
            self.unserved_since = head
        blocks = head - self.unserved_since
        if blocks >= self.unserved_alert_blocks and not self._unserved_alerted:
            self._unserved_alerted = True
            self.keeper.alerter.alert(
                "unserved",
                f"vaults have gone unserved for {blocks} blocks (since block "
                f"{self.unserved_since}); the last cycle's cause: {cause}",
                key=str(self.unserved_since),
            )

    def _transient_failure(self, exc: BaseException) -> None:
        self.transient += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.keeper.metrics.transient_failures.inc()
        logger.warning(
            "cycle failed on a transient fault (%d in a row; the breaker does not count it): %s",
            self.transient,
            self.last_error,
        )
        pause = min(self.max_backoff_s, self.poll_interval_s * (2 ** (self.transient - 1) - 1))
        if pause > 0:
            self._stop.wait(pause)

    def _fail(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        self.keeper.metrics.consecutive_failures.set(self.failures)
        logger.error("cycle failed (%d in a row): %s", self.failures, message)
        if self.failures >= self.breaker_threshold:
            text = f"circuit breaker: {self.failures} consecutive failed cycles; last: {message}"
            self.keeper.alerter.alert("halt", text)
            raise Halt(text)

    def block_interval_s(self) -> float | None:
        """The chain's block interval as this loop measured it, when blocks come regularly.

        The median of the recent intervals, or None with fewer than five of them or when they
        are irregular (spread wider than two poll periods plus a tenth of the median): a chain
        that mines on demand (anvil's default) has no interval to pace to.
        """
        if len(self._intervals) < 5:
            return None
        median = statistics.median(self._intervals)
        spread = max(self._intervals) - min(self._intervals)
        if spread > 2 * self.poll_interval_s + 0.1 * median:
            return None
        return median

    def block_timing(self) -> tuple[int, float, float] | None:
        """The newest head, when this loop first saw it (monotonic s), and the block interval.

        ``None`` until a head was seen and the interval is known (:meth:`block_interval_s`).
        """
        interval = self.block_interval_s()
        if interval is None or self._head is None or self._head_seen_at is None:
            return None
        return self._head, self._head_seen_at, interval

    def _wait_new_block(self, last: int | None) -> int | None:
        """Poll the block number until a head above ``last`` (None when stopped).

        Paced: once the block interval is known, the first poll waits until one poll interval
        before the next block is due (the current head's sighting plus the interval), since a
        poll before that finds nothing. Fewer polls are fewer requests that a flaky or
        rate-limited RPC can fail. A head counts as seen when the poll that found it was sent
        (a faulted poll answers late, retried or hedged by the provider). The interval is the
        median of recent intervals between clean sightings (an empty poll before, the answer
        within half a poll period), so neither a slow cycle nor a faulted poll skews it, and
        a block is still seen within one poll interval of its arrival (plus a faulted poll's
        delay).

        A head below the newest block holding one of our mined transactions (the reorg probe)
        is an answer from a node behind the one that gave our receipt: it is skipped like an
        old head. (After a real reorg that shortened the chain, the chain regrows past that
        height within a few blocks, and the reorg check then sees the block's new hash.)
        """
        interval = self.block_interval_s()
        if interval is not None and self._head_seen_at is not None and self.poll_interval_s > 0:
            early = self._head_seen_at + interval - self.poll_interval_s - time.monotonic()
            if early > 0:
                self._stop.wait(early)
        waited = went_back = False
        self._probe = self._reorg_probe()
        if self._new_head_at is None:
            self._new_head_at = time.monotonic()
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                with deadline(self.cycle_deadline_s):
                    self.polls += 1
                    head = self._block_number()
            except _CYCLE_ERRORS as exc:
                # Never a breaker count: no cycle ran. A systemic fault shows in the cycles.
                logger.warning("cannot read the block number: %s: %s", type(exc).__name__, exc)
                why = f"{type(exc).__name__}: {first_line(exc)}"
                self._stalled(f"the block number cannot be read: {why}")
                self._stop.wait(self.poll_interval_s)
                continue
            if self._probe is not None and head < self._probe:
                # Older than our own receipt: a node behind the one that mined our batch (a
                # failover endpoint that lags). A cycle on it would call that block gone.
                if not waited:
                    logger.warning(
                        "head %d is below block %d, which holds our newest mined tx: a node "
                        "behind; waiting for a head at or past it",
                        head,
                        self._probe,
                    )
            elif last is not None and head < last:
                # Back below the block the last cycle ran on: a failover node far behind, or
                # a chain that went back (a devnet reset). Waited past, as an old head is, but
                # said (once a wait): it may last, and no cycle runs to tell.
                if not went_back:
                    went_back = True
                    logger.warning(
                        "head %d is below block %d, which the last cycle ran on: a node behind, "
                        "or a chain that went back; waiting for a head past it",
                        head,
                        last,
                    )
            elif last is None or head > last:
                # A faulted poll is retried or hedged inside the provider and answers late: its
                # block may have come at any time since the poll went out. Counted from the
                # answer, that sighting lengthened one interval and shortened the next, and
                # under faults the loop found the blocks irregular and stopped pacing. The head
                # counts as seen when its poll was sent (never later than the block's arrival
                # plus a poll period), and intervals run between clean sightings only.
                clean = waited and time.monotonic() - sent <= self.poll_interval_s / 2
                if (
                    clean
                    and last is not None
                    and head == last + 1
                    and self._clean_seen_at is not None
                ):
                    self._intervals.append(sent - self._clean_seen_at)
                self._clean_seen_at = sent if clean else None
                self._head_seen_at = sent
                self._advanced(head, sent)
                return head
            self._stalled(f"the head is still block {head}")
            waited = True
            self._stop.wait(self.poll_interval_s)
        return None

    def _stalled(self, what: str) -> None:
        """Alert a head that has not advanced for ``head_stall_s``, and as the stall doubles.

        No cycle runs while the loop waits for a block, so nothing else would say it: a node or
        sequencer that stopped, or every endpoint down. Each episode and each doubling is its
        own alert key (the alerter throttles repeats of one key).
        """
        if self.head_stall_s <= 0 or self._new_head_at is None:
            return
        due = self._stall_alerted * 2 if self._stall_alerted else self.head_stall_s
        if time.monotonic() - self._new_head_at < due:
            return
        self._stall_alerted = due
        self.keeper.alerter.alert(
            "head_stalled",
            f"no new block for {due:.0f} s ({what}): a stalled node or sequencer, or every "
            "endpoint down; no cycle runs until a new block",
            key=f"{self._new_head}@{self._new_head_at:.3f}:{due:.0f}",
        )

    def _advanced(self, head: int, seen_at: float) -> None:
        """A new head: the end of a stall episode (said when it was alerted)."""
        if self._stall_alerted and self._new_head_at is not None:
            logger.info(
                "a new block (%d) after %.0f s without one", head, seen_at - self._new_head_at
            )
        self._new_head, self._new_head_at, self._stall_alerted = head, seen_at, 0.0

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %d: stopping after the current cycle", signum)
            self._stop.set_from_handler()  # no lock here (see StopRequest)

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _unserved_cause(keeper: Keeper, result: CycleResult) -> str | None:
    """Why a cycle that ran left a need unserved, or ``None`` when it served every one.

    A wait (a transaction pending, the fee cap), or, for a signing keeper, the chain's refusal:
    a vault the simulation dropped (not one deferred to the next batch), one that failed inside
    the mined batch, or a lone vault's own transaction that reverted: its need stands.
    """
    if result.waiting is not None:
        return result.waiting
    if keeper.sender is None:
        return None
    for vault, why in result.dropped.items():
        if not why.startswith("deferred"):
            return f"{vault} dropped by the simulation: {why}"
    for vault, why in result.failed.items():
        return f"{vault} failed in the mined batch: {why}"
    if result.tx_status == "reverted":
        return "the lone vault's own transaction reverted"
    return None


def keep(settings: Settings, *, dry_run: bool = False, max_cycles: int | None = None) -> int:
    """``keeper run``: wire a keeper from settings and loop until stopped; return the cycles run.

    Start-up (the connection, the vaults, the batcher and keeper role, the L1-fee reader) retries
    transient errors for ``startup_timeout_s`` before giving up with one line.

    Raises:
        ConfigError: Bad settings, key, vaults or batcher, a signer without the keeper role,
            ``max_cycles`` below 1, or a journal or signer another keeper holds.
        ChainError: The RPC cannot be reached (after the start-up deadline).
        Halt: The breaker tripped.
        KeeperError: With ``max_cycles``, every cycle run failed (one line, the last error), or
            judged no vault (each one skipped, one at least by a fault, as ``keeper check``
            exits 1 on).
    """
    if max_cycles is not None and max_cycles < 1:
        raise ConfigError(f"--max-cycles must be at least 1 (got {max_cycles})")
    with deadline(settings.startup_timeout_s):
        keeper = connect_keeper(settings, dry_run=dry_run)
    sender = keeper.sender
    try:
        if sender is not None:
            # One keeper per key on this machine, whatever its journal (the journal's own claim
            # is taken by connect_keeper): two would each send the batch.
            sender.journal.claim_signer(sender.address)
        if settings.metrics_port:
            keeper.metrics.serve(settings.metrics_port)
        return _keep(keeper, settings, max_cycles)
    finally:
        if sender is not None:
            # This process may go on (a refused signer included): the next keeper may start.
            sender.journal.release()


def _keep(keeper: Keeper, settings: Settings, max_cycles: int | None) -> int:
    """:func:`keep` once the keeper is wired and its journal and signer claimed."""
    # The signer's balance before the first cycle: an account nobody funded has every send
    # refused (insufficient funds), which fails the cycle before its own balance read, so no
    # low_balance alert said why until the breaker halted.
    watch_balance(keeper)
    logger.info(
        "keeping %d vaults with policy %s (%s)",
        len(keeper.vaults),
        settings.policy,
        "dry-run" if keeper.dry_run else f"signer {keeper.sender.address if keeper.sender else ''}",
    )
    runner = Runner(
        keeper,
        breaker_threshold=settings.breaker_threshold,
        poll_interval_s=settings.poll_interval_s,
        max_cycles=max_cycles,
        cycle_deadline_s=settings.cycle_deadline_s,
        unserved_alert_blocks=settings.unserved_alert_blocks,
        head_stall_s=settings.head_stall_s,
    )
    cycles = runner.run()
    if max_cycles is not None and cycles > 0:
        # A bounded run (a smoke test, a cron job) in which nothing worked is a failure, and so
        # is one in which no cycle could judge any vault (a stale oracle throughout).
        if runner.failed_cycles == cycles:
            raise KeeperError(f"all {cycles} cycles failed; the last: {runner.last_error}")
        if runner.failed_cycles + runner.unjudged_cycles == cycles:
            raise KeeperError(
                f"no vault was judged in any of the {cycles} cycles; "
                f"the last: {runner.last_unjudged}"
            )
    return cycles
