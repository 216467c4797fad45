"""Runs ``keeper run`` as a real subprocess and restarts it whenever it exits.

The keeper is driven only through its CLI and its environment (``KEEPER_*``), as an operator's
process manager would run it. What the harness learns about each process life comes from:

- its **exit code** (3 for a halt, ``keeper.cli.EXIT_HALTED``) and stderr (the CLI prints
  ``keeper: error: circuit breaker: ...`` on a halt);
- its **JSON log lines** on stderr (copied to ``<log_dir>/keeper-<n>.log``):
  ``keeping N vaults ...`` (start-up done), ``cycle failed (k in a row): ...``,
  ``ALERT <kind>: ...`` (field ``alert``), ``tx <event> nonce=.. hash=..``, and
  ``journal reconciled: ...`` (what a restart rebroadcast is logged before this line);
- its **Prometheus metrics** (``KEEPER_METRICS_PORT``, a free port per life), scraped once a
  second for ``keeper_cycles_total{result=...}``: the last scrape before a process dies is its
  count (a SIGKILL can lose up to a second of cycles). The port is picked here and bound by the
  child, so another process can take it in between: a life that exits at start-up on that
  (``KEEPER_METRICS_PORT ...: cannot listen``) is counted in ``port_clashes``, not as an exit,
  and the restart picks another port.

Only processes started here are signalled, by PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from keeper.chain.anvil import free_port
from keeper.cli import EXIT_HALTED

logger = logging.getLogger("bench")

_TX_LINE = re.compile(r"^tx (\S+) nonce=(\d+) hash=(0x[0-9a-fA-F]+)")
_TB_NOISE = ("Traceback", "During handling", "The above exception")
_CYCLES = re.compile(r'^keeper_cycles_total\{result="(\w+)"\} ([0-9.e+]+)$', re.M)


@dataclass
class Life:
    """One keeper process, from spawn to exit."""

    index: int
    pid: int
    log_path: Path
    started_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    #: Set when the harness SIGKILLed it on purpose (the kill point), or stopped it.
    killed_at: str | None = None
    stopped: bool = False
    #: The start-up finished (``keeping N vaults`` was logged).
    ready: bool = False
    halted: bool = False
    failed_cycles: int = 0
    cycles_by_result: dict[str, int] = field(default_factory=dict)
    alerts: Counter[str] = field(default_factory=Counter)
    tx_events: list[tuple[str, int, str]] = field(default_factory=list)
    #: Hashes sent by the start-up reconcile (before ``journal reconciled``).
    rebroadcast: list[str] = field(default_factory=list)
    reconciled: bool = False
    last_error: str = ""
    #: It exited at start-up because another process had bound the metrics port the harness
    #: picked for it (``free_port()`` then a bind in the child: a race of the harness's own).
    port_clash: bool = False

    @property
    def crashed(self) -> bool:
        """It exited on its own (not killed or stopped by the harness, nor lost its port)."""
        return (
            self.exit_code is not None
            and self.killed_at is None
            and not self.stopped
            and not self.port_clash
        )


class Supervisor:
    """Keeps one ``keeper run`` process alive, restarting it after every exit.

    Args:
        env: The process environment (``KEEPER_*`` settings included).
        args: Arguments after ``keeper run``.
        cwd: Working directory (no ``.env`` there, so only ``env`` configures the keeper).
        log_dir: Where each life's log goes.
        restart_delay_s: Pause before a restart (a process manager's back-off).
    """

    def __init__(
        self,
        env: dict[str, str],
        args: list[str],
        cwd: Path,
        log_dir: Path,
        *,
        python: str,
        restart_delay_s: float = 0.5,
    ) -> None:
        self.env = env
        self.args = args
        self.cwd = cwd
        self.log_dir = log_dir
        self.python = python
        self.restart_delay_s = restart_delay_s
        self.lives: list[Life] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._current: Life | None = None
        self._metrics_port = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._scraper: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> Supervisor:
        """Spawn the keeper and keep it alive in a background thread."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()
        self._scraper = threading.Thread(target=self._scrape_loop, name="scraper", daemon=True)
        self._scraper.start()
        return self

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until some life finished its start-up."""
        return self._ready.wait(timeout_s)

    @property
    def current(self) -> Life | None:
        """The running life, if any."""
        with self._lock:
            return self._current

    def kill(self, point: str) -> bool:
        """SIGKILL the running keeper (a deliberate crash at ``point``); False if none runs."""
        with self._lock:
            proc, life = self._proc, self._current
            if proc is None or life is None or proc.poll() is not None or life.killed_at:
                return False
            life.killed_at = point
            os.kill(proc.pid, signal.SIGKILL)
        logger.debug("SIGKILL keeper pid %d at %s", proc.pid, point)
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop restarting; SIGTERM the running keeper (SIGKILL after ``timeout_s``).

        Loops until the supervising thread is gone, so a process spawned while stopping is
        stopped too.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        thread = self._thread
        while thread is not None and thread.is_alive():
            with self._lock:
                proc, life = self._proc, self._current
            if proc is not None and life is not None and proc.poll() is None:
                if not life.stopped:
                    self._scrape(life)
                    life.stopped = True
                    proc.send_signal(signal.SIGTERM)
                elif time.monotonic() > deadline:
                    proc.kill()
            thread.join(timeout=0.2)
        if self._scraper is not None:
            self._scraper.join(timeout=5)

    # -- the loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            life, proc = self._spawn()
            reader = threading.Thread(target=self._read, args=(life, proc.stderr), daemon=True)
            reader.start()
            code = proc.wait()
            reader.join(timeout=10)
            with self._lock:
                self._ended(life, code)
                self._proc = None
                self._current = None
            if life.port_clash:
                logger.info("keeper pid %d lost its metrics port: restarting", life.pid)
            elif life.crashed:
                logger.debug(
                    "keeper pid %d exited %d (%s)", life.pid, code, life.last_error or "no error"
                )
            if not self._stopping.is_set():
                self._stopping.wait(self.restart_delay_s)

    @staticmethod
    def _ended(life: Life, code: int) -> None:
        """Book a life's end: its exit code, and a halt by that code (its text may be lost)."""
        life.exit_code = code
        life.halted = life.halted or code == EXIT_HALTED
        life.ended_at = time.monotonic()

    def _spawn(self) -> tuple[Life, subprocess.Popen[bytes]]:
        port = free_port()
        env = dict(self.env, KEEPER_METRICS_PORT=str(port))
        index = len(self.lives)
        log_path = self.log_dir / f"keeper-{index:03d}.log"
        proc = subprocess.Popen(
            [self.python, "-m", "keeper.cli", "run", *self.args],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        life = Life(index, proc.pid, log_path, time.monotonic())
        with self._lock:
            self._proc, self._current, self._metrics_port = proc, life, port
            self.lives.append(life)
        return life, proc

    def _read(self, life: Life, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with life.log_path.open("w") as out:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(line + "\n")
                self._parse(life, line)

    def _parse(self, life: Life, line: str) -> None:
        try:
            rec: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            # Plain lines: the CLI's own error line, or a raw traceback.
            if line.startswith("keeper: error:"):
                life.last_error = line.removeprefix("keeper: error:").strip()
                life.halted = life.halted or "circuit breaker" in line
                life.port_clash = not life.ready and life.last_error.startswith(
                    "KEEPER_METRICS_PORT"
                )
            elif line.strip() and not line[0].isspace() and not line.startswith(_TB_NOISE):
                life.last_error = line.strip()[:300]  # a traceback's last line: the exception
            return
        if not isinstance(rec, dict):
            return
        msg = str(rec.get("msg", ""))
        if msg.startswith("keeping "):
            life.ready = True
            self._ready.set()
        elif msg.startswith("cycle failed"):
            life.failed_cycles += 1
        elif msg.startswith("journal reconciled"):
            life.reconciled = True
        if "alert" in rec:
            kind = str(rec["alert"])
            life.alerts[kind] += 1
            life.halted = life.halted or kind == "halt"
        m = _TX_LINE.match(msg)
        if m:
            event, nonce, tx_hash = m.group(1), int(m.group(2)), m.group(3).lower()
            life.tx_events.append((event, nonce, tx_hash))
            if life.ready and not life.reconciled and event in ("sent", "rebroadcast"):
                life.rebroadcast.append(tx_hash)

    # -- metrics ----------------------------------------------------------------------------
    def _scrape_loop(self) -> None:
        while not self._stopping.wait(1.0):
            life = self.current
            if life is not None:
                self._scrape(life)

    def _scrape(self, life: Life) -> None:
        with self._lock:
            port = self._metrics_port if life is self._current else 0
        if not port:
            return
        with contextlib.suppress(requests.RequestException):
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=0.5).text
            found = {k: int(float(v)) for k, v in _CYCLES.findall(text)}
            if found:
                life.cycles_by_result = found

    # -- summary ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts over every life (exits are the ones the harness did not cause)."""
        lives = self.lives
        crashed = [x for x in lives if x.crashed]
        alerts: Counter[str] = Counter()
        for x in lives:
            alerts.update(x.alerts)
        ok = sum(x.cycles_by_result.get("ok", 0) for x in lives)
        failed = sum(x.failed_cycles for x in lives)
        errors: Counter[str] = Counter(_short(x.last_error) for x in crashed)
        return {
            "processes": len(lives),
            "exits": len(crashed),
            "breaker_halts": sum(1 for x in crashed if x.halted),
            "startup_exits": sum(1 for x in crashed if not x.ready),
            "cycles": ok + failed,
            "ok_cycles": ok,
            "failed_cycles": failed,
            "oracle_cycles": sum(x.cycles_by_result.get("oracle", 0) for x in lives),
            "alerts": dict(alerts),
            "exit_reasons": dict(errors.most_common(6)),
            "port_clashes": sum(1 for x in lives if x.port_clash),
        }


def _short(error: str) -> str:
    """An exit reason without hashes and numbers, so alike reasons group together."""
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", error)
    text = re.sub(r"\b\d+\b", "N", text)
    return text[:120] or "(no error line)"
