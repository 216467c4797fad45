"""The loop: :class:`Runner` runs :func:`~keeper.app.cycle.run_cycle` once per new block.

:func:`keep` is ``keeper run``: a keeper wired from settings, looped until stopped.

It reconciles the journal on start (a restarted keeper never sends twice), polls for new blocks,
halts with an alert after ``breaker_threshold`` consecutive failed cycles, and stops cleanly on
SIGINT/SIGTERM (the cycle in progress finishes first). A failed cycle is a
:class:`~keeper.errors.KeeperError` or a transport error that outlived the read retries; oracle
problems never fail a cycle (:mod:`keeper.app.observe` skips those vaults and alerts).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from web3.exceptions import Web3Exception

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult, run_cycle
from keeper.app.wiring import connect_keeper
from keeper.errors import Halt, KeeperError
from keeper.settings import Settings

logger = logging.getLogger(__name__)


class Runner:
    """Loops :func:`~keeper.app.cycle.run_cycle` once per new block until stopped or halted.

    Args:
        keeper: The collaborators.
        breaker_threshold: Consecutive failed cycles before :class:`~keeper.errors.Halt`.
        poll_interval_s: How often to look for a new block.
        max_cycles: Stop after this many cycles (``None``: run until stopped).
        cycle: The cycle function (tests and the demo pass their own).
        block_number: Reads the head block number (injected for tests).
        on_result: Called with each successful cycle's result.
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
                except (KeeperError, OSError, Web3Exception, ValueError) as exc:
                    # KeeperError, or a transport failure that outlived the read retries: a
                    # failed cycle, not a crash (the breaker decides when to stop).
                    self.keeper.metrics.cycles.labels("failed").inc()
                    self._fail(f"{type(exc).__name__}: {exc}")
                    continue
                self._succeeded(result)
                if self.max_cycles is not None and self.cycles >= self.max_cycles:
                    break
        logger.info("keeper stopped after %d cycles", self.cycles)
        return self.cycles

    def _succeeded(self, result: CycleResult) -> None:
        self.failures = 0
        self.keeper.metrics.consecutive_failures.set(0)
        self.keeper.metrics.cycles.labels("ok").inc()
        self.cycles += 1
        if self._on_result is not None:
            self._on_result(result)

    def _fail(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        self.keeper.metrics.consecutive_failures.set(self.failures)
        logger.error("cycle failed (%d in a row): %s", self.failures, message)
        if self.failures >= self.breaker_threshold:
            text = f"circuit breaker: {self.failures} consecutive failed cycles; last: {message}"
            self.keeper.alerter.alert("halt", text)
            raise Halt(text)

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


def keep(settings: Settings, *, dry_run: bool = False, max_cycles: int | None = None) -> int:
    """``keeper run``: wire a keeper from settings and loop until stopped; return the cycles run.

    Raises:
        ConfigError: Bad settings, key or vaults.
        ChainError: The RPC cannot be reached.
        Halt: The breaker tripped.
    """
    keeper = connect_keeper(settings, dry_run=dry_run)
    if settings.metrics_port:
        keeper.metrics.serve(settings.metrics_port)
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
    )
    return runner.run()
