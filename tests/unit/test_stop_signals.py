"""A SIGINT/SIGTERM stops ``keeper run``'s loop and a ready ``keeper devnet up``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from keeper.app.devnet_session import _stop_on_signals
from keeper.app.loop import Runner
from keeper.app.signals import StopRequest
from tests.unit.test_app_cycle import make_keeper, quiet_runner


@contextmanager
def _fails_after(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds`` (a blocked lock is interrupted)."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)


@main_thread_only
def test_a_signal_while_the_served_devnet_enters_its_wait_stops_it() -> None:
    """The served devnet waits on ``stop.wait(...)``, which holds the event's lock for a moment
    on the way in and out. A SIGINT then ran the handler in the same thread, and its
    ``stop.set()`` waited for that lock for good: ``devnet up`` hung after "devnet ready"
    instead of stopping. The handler must not take a lock in the interrupted thread."""
    stop = StopRequest()
    with _stop_on_signals(stop):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        with _fails_after(3.0):
            with stop._event._cond:  # type: ignore[attr-defined]  # as Event.wait holds it
                handler(signal.SIGINT, None)
            assert stop.wait(3.0)
    assert signal.getsignal(signal.SIGINT) is not handler


@main_thread_only
def test_a_signal_while_the_loop_enters_its_wait_stops_it() -> None:
    """``keeper run``'s loop waits between cycles on ``stop.wait(...)``, as the devnet does:
    its handler's ``self.stop()`` (an ``Event.set()``) waited for the lock that wait held, and
    a SIGTERM (systemd's stop) could leave the keeper hung instead of stopping after its
    cycle."""
    runner: Runner = quiet_runner(make_keeper([]), 1)
    with runner._signals():
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with _fails_after(3.0):
            with runner._stop._event._cond:  # type: ignore[attr-defined]  # as wait holds it
                handler(signal.SIGTERM, None)
            assert runner._stop.wait(3.0)
    assert runner.stopping


@main_thread_only
def test_a_signal_another_thread_receives_still_stops_the_served_devnet() -> None:
    """The kernel may hand a process's SIGINT to any of its threads (anvil's stdout reader, an
    RPC worker). Python then runs the handler only when the main thread next runs bytecode, and
    the served devnet's main thread slept in one ``stop.wait(3600)``: ``devnet up`` hung after
    "devnet ready" for up to an hour (seen in CI). It must wake on its own to run the handler."""
    from keeper.app.devnet_session import DevnetConfig, _serve

    def from_another_thread() -> None:
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this thread, not main

    stop = StopRequest()
    cfg = DevnetConfig(addresses_path=Path("unused.json"))
    with _stop_on_signals(stop), _fails_after(5.0):
        threading.Thread(target=from_another_thread, daemon=True).start()
        assert _serve(None, cfg, stop, None) == 0  # type: ignore[arg-type]  # no market step
    assert stop.is_set()


@main_thread_only
def test_a_sigterm_another_thread_receives_still_stops_the_loop_waiting_for_a_block() -> None:
    """``keeper run`` waits for the next block (and backs off after a transient fault, up to
    minutes) in ``stop.wait``: a SIGTERM the kernel handed to an RPC worker thread waited there
    until the wait ended. The loop now wakes every moment to run the handler."""
    from tests.unit.test_app_cycle import dummy_result

    def from_another_thread() -> None:
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    runner = Runner(
        make_keeper([]),
        poll_interval_s=3600,
        cycle=lambda keeper: dummy_result(),
        block_number=lambda: 1,  # no new block: the loop waits a poll interval
        max_cycles=2,
    )
    with _fails_after(5.0):
        threading.Thread(target=from_another_thread, daemon=True).start()
        assert runner.run() == 1
    assert runner.stopping


class _SignalsInItsFinalizer:
    """An object whose ``__del__`` receives the SIGTERM, as pycryptodome's ``SmartPointer`` did
    in ``test_sigterm_while_the_stack_deploys_stops_anvil``."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGTERM)


@main_thread_only
def test_a_sigterm_that_lands_in_a_finalizer_still_interrupts_the_command() -> None:
    """Python ignores an exception raised in ``__del__`` ("Exception ignored in"). The handler's
    ``KeyboardInterrupt`` raised there was lost, and, the handler having set SIGTERM to ignored
    for the clean-up, so was every later SIGTERM: the demo ran to its end and exited 0. The
    interrupt must reach the command's own code instead."""
    from keeper.cli import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    reached_the_end = False

    def command() -> None:
        nonlocal reached_the_end
        with sigterm_as_interrupt():
            obj = _SignalsInItsFinalizer()
            del obj  # the handler runs inside __del__
            for _ in range(1000):  # the command goes on: calls and loops check for signals
                time.sleep(0.001)
            reached_the_end = True

    with _fails_after(5.0), pytest.raises(KeyboardInterrupt):
        command()
    assert not reached_the_end
    assert signal.getsignal(signal.SIGTERM) is before


_SIGNAL_WHILE_THE_COMMAND_LOADS = """
import os, signal, sys, time
import keeper.cli as cli
real = cli.build_parser
def build_parser(only=None):
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))  # lands while the command's modules load
    time.sleep(5)
    return real(only)
cli.build_parser = build_parser
sys.exit(cli.main(["status", "--journal", os.devnull]))
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_command_loads_is_an_interruption_not_a_traceback(name: str) -> None:
    """Loading a command's modules (web3 and the rest) takes a second or more: a Ctrl-C then
    printed a ``KeyboardInterrupt`` traceback from some import, and a SIGTERM killed the process
    with no clean-up, where the README promises ``keeper: interrupted`` and exit code 130."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_THE_COMMAND_LOADS, name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 130, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.strip().splitlines()[-1] == "keeper: interrupted"
    assert "Traceback" not in proc.stderr
