"""Start and stop an anvil node from ``node_modules/.bin`` on a port the OS picks, by PID."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from keeper.errors import ChainError, ConfigError
from keeper.locations import node_bin

logger = logging.getLogger(__name__)

#: Anvil's default mnemonic accounts ("test test ... junk"): public, devnet only.
ANVIL_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def free_port() -> int:
    """Ask the OS for a free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: States anvil keeps for reads at past blocks (``--prune-history``): enough for every reader
#: here, which reads at most a few blocks behind the head. Without it anvil writes older states to
#: ``~/.foundry/anvil/tmp`` (up to 3,600 of them, about 13 MB each with 10,000 vaults), and a node
#: that is killed rather than stopped leaves them there: 78 GB had piled up on this machine.
HISTORY_BLOCKS = 256

#: Every node this process started and has not stopped yet. A node runs in its own session, so a
#: terminal's Ctrl-C never reaches it: if the caller's clean-up is itself cut short (a second
#: Ctrl-C before it reached ``stop``) the process exits with its node still running.
#: :func:`_stop_leftovers` runs at interpreter exit and stops these, by PID (not after a SIGKILL,
#: which runs nothing). Each is kept with the PID of the process that started it: a forked child
#: that exits through ``atexit`` leaves its parent's nodes be.
_RUNNING: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
_RUNNING_LOCK = threading.Lock()


def _stop_leftovers() -> None:
    me = os.getpid()
    with _RUNNING_LOCK:
        procs = [proc for proc, owner in _RUNNING.values() if owner == me]
        _RUNNING.clear()
    for proc in procs:
        _terminate(proc)
        logger.info("anvil pid %d stopped at exit", proc.pid)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s, and reap."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


atexit.register(_stop_leftovers)


#: The alias a fork's URL goes by on anvil's command line, and the variable that holds it.
_FORK_ALIAS = "keeper_fork"
_FORK_VARIABLE = "KEEPER_ANVIL_FORK_URL"


def _dies_with_parent() -> list[str]:
    """A prefix that has the kernel SIGTERM the node when its starter dies, SIGKILL included.

    ``atexit`` and ``finally`` do not run after a SIGKILL (the OOM killer, a CI timeout), and
    the node, in its own session, ran on with nothing left to stop it. util-linux's ``setpriv
    --pdeathsig`` sets Linux's parent-death signal and then execs anvil, so the PID is anvil's
    own (no ``preexec_fn``, which may deadlock a process with threads). The signal follows the
    *thread* that started the node, so it is set only from the main thread, which lives as long
    as the process; elsewhere, or without ``setpriv``, the node is started as before.
    """
    if not sys.platform.startswith("linux"):
        return []
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv else []


class Anvil:
    """A running anvil process that this object started and will stop, by PID.

    Use it as a context manager::

        with Anvil() as node:
            w3 = connect(node.url)

    The node keeps the last ``history`` states in memory and writes none to disk
    (:data:`HISTORY_BLOCKS`); ``history=None`` leaves anvil's own default.

    With ``setup_at_once`` and a whole-second ``block_time``, the node mines each transaction at
    once until :meth:`start_block_time`: a devnet's deployment (a hundred-odd transactions, each
    one waiting for its block) takes seconds instead of minutes. anvil's
    ``evm_setIntervalMining`` takes whole seconds only, so a block time such as 0.5 is anvil's
    from the start (its setup waits at most that long a transaction).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        block_time: float | None = None,
        fork_url: str | None = None,
        fork_block: int | None = None,
        chain_id: int | None = None,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
        startup_timeout_s: float = 15.0,
        history: int | None = HISTORY_BLOCKS,
        setup_at_once: bool = False,
    ) -> None:
        self.binary = binary or node_bin("anvil")
        self.port = port
        self._want_port = port
        self.block_time = block_time
        self.fork_url = fork_url
        self.fork_block = fork_block
        self.chain_id = chain_id
        self.extra_args = extra_args
        self.startup_timeout_s = startup_timeout_s
        self.history = history
        #: The block time :meth:`start_block_time` will start (the node mines at once until then).
        self._later_block_time = (
            int(block_time)
            if setup_at_once and block_time is not None and float(block_time).is_integer()
            else None
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None
        #: The fork's ``foundry.toml`` (its URL's alias), while the node runs.
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._listening: _Listening | None = None

    @property
    def url(self) -> str:
        """HTTP JSON-RPC URL of the running node."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the anvil process this object started, if it is running."""
        return self._proc.pid if self._proc else None

    def start(self) -> Anvil:
        """Start anvil and wait until it answers JSON-RPC.

        Without a port, anvil is given ``--port 0`` and the OS picks one as anvil binds it; the
        port is read from the ``Listening on`` line anvil prints once it listens. So the node
        this object talks to is the one it started: a port picked beforehand (bind to 0, close,
        spawn) could be taken by another process in between, and that process's node would
        have answered in its place. With ``port``, anvil must report listening on it too.

        However the wait ends short of a node that answers (an error, a Ctrl-C), the process
        it spawned is stopped before the exception leaves.

        Raises:
            ConfigError: The anvil binary is missing (run ``make install``).
            ChainError: The port is taken or anvil did not come up in time.
        """
        if not self.binary.exists():
            raise ConfigError(f"anvil not found at {self.binary}: run `make install`")
        if self._want_port is not None and _port_in_use(self._want_port):
            raise ChainError(f"port {self._want_port} is already in use")
        self._spawn()
        try:
            self.port = self._wait_listening()
            self._wait_ready()
        except BaseException:
            # A ChainError, a Ctrl-C (KeyboardInterrupt) or any other error while waiting: the
            # node runs in its own session and no caller holds it yet (``__exit__`` does not run
            # when ``__enter__`` raises), so stop it here.
            self.stop()
            raise
        logger.info("anvil pid %d listening on %s", self.pid, self.url)
        return self

    def _spawn(self) -> None:
        port = 0 if self._want_port is None else self._want_port
        # No --quiet: anvil says where it listens on stdout (then logs each RPC method there).
        cmd = [str(self.binary), "--host", "127.0.0.1", "--port", str(port)]
        if self.block_time is not None and self._later_block_time is None:
            cmd += ["--block-time", str(self.block_time)]
        env: dict[str, str] | None = None
        if self.fork_url is not None:
            # Not on the command line, which every user of the host reads (``ps``): an RPC URL
            # carries its API key. anvil resolves an alias from the ``foundry.toml`` of its
            # working directory, whose value names a variable of its environment.
            self._workdir = tempfile.TemporaryDirectory(prefix="keeper-anvil-")
            Path(self._workdir.name, "foundry.toml").write_text(
                f'[rpc_endpoints]\n{_FORK_ALIAS} = "${{{_FORK_VARIABLE}}}"\n'
            )
            env = {**os.environ, _FORK_VARIABLE: self.fork_url}
            cmd += ["--fork-url", _FORK_ALIAS]
        if self.fork_block is not None:
            cmd += ["--fork-block-number", str(self.fork_block)]
        if self.chain_id is not None:
            cmd += ["--chain-id", str(self.chain_id)]
        if self.history is not None and "--prune-history" not in self.extra_args:
            cmd += ["--prune-history", str(self.history)]
        cmd += list(self.extra_args)
        cmd = _dies_with_parent() + cmd
        # stderr goes to a file, not a pipe: a pipe nobody drains can block the node.
        self._stderr = tempfile.NamedTemporaryFile(prefix="anvil-", suffix=".log")  # noqa: SIM115
        # Its own session: a terminal's Ctrl-C (SIGINT to the foreground process group) reaches
        # the keeper, which stops cleanly and then stops this node by PID, not the node first.
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self._workdir.name if self._workdir is not None else None,
            env=env,
        )
        with _RUNNING_LOCK:
            _RUNNING[self._proc.pid] = (self._proc, os.getpid())
        # stdout is read by a daemon thread for as long as the node runs: up to the "Listening
        # on" line for the port, then to nowhere (a log line per RPC call: a pipe nobody drains
        # blocks the node once full, and a file would grow without bound in a long run).
        self._listening = _Listening()
        assert self._proc.stdout is not None
        threading.Thread(
            target=_drain,
            args=(self._proc.stdout, self._listening),
            name=f"anvil-{self._proc.pid}-stdout",
            daemon=True,
        ).start()

    def _wait_listening(self) -> int:
        """The port anvil says it listens on, once it says so."""
        assert self._proc is not None
        assert self._listening is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._listening.done.wait(0.05):
            self._raise_if_exited()
            if time.monotonic() >= deadline:
                raise ChainError(f"anvil did not start listening within {self.startup_timeout_s}s")
        port = self._listening.port
        if port is None:  # stdout closed without the line: anvil exits, or has
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._raise_if_exited()
            raise ChainError("anvil closed its output without saying where it listens")
        if self._want_port is not None and port != self._want_port:
            raise ChainError(f"anvil listens on port {port}, not {self._want_port}")
        return port

    def _raise_if_exited(self) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return
        raise AnvilExitedError(exit_reason(self._read_stderr(), code))

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                resp = requests.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1.0,
                )
                if resp.ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise ChainError(f"anvil did not answer on {self.url} within {self.startup_timeout_s}s")

    def start_block_time(self) -> None:
        """Mine a block every ``block_time`` seconds from now on (see ``setup_at_once``).

        Nothing to do for a node that has mined by its block time from the start, or has none.

        Raises:
            ChainError: The node did not answer, or refused.
        """
        seconds = self._later_block_time
        if seconds is None:
            return
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "evm_setIntervalMining",
            "params": [seconds],
        }
        try:
            answer = requests.post(self.url, json=request, timeout=5.0).json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(
                f"anvil at {self.url} did not start {seconds}-s blocks: {exc}"
            ) from exc
        if not isinstance(answer, dict) or "error" in answer:
            raise ChainError(f"anvil at {self.url} refused {seconds}-s blocks: {answer}")
        self._later_block_time = None
        logger.info("anvil pid %s: a block every %d s from now on", self.pid, seconds)

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        return Path(self._stderr.name).read_text(errors="replace")

    def stop(self) -> None:
        """Stop the process this object started (SIGTERM, then SIGKILL), and reap it."""
        proc = self._proc
        if proc is None:
            if self._workdir is not None:  # a spawn that failed
                self._workdir.cleanup()
                self._workdir = None
            return
        # Forgotten only once it is stopped: cut short (a Ctrl-C), the exit hook still stops it.
        _terminate(proc)
        self._proc = None
        with _RUNNING_LOCK:
            _RUNNING.pop(proc.pid, None)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        logger.info("anvil pid %d stopped", proc.pid)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Listening:
    """Where anvil says it listens: ``done`` is set once it says so, or once its stdout ends."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.done = threading.Event()


#: anvil's line once it listens (without ``--quiet``), e.g. ``Listening on 127.0.0.1:8545``.
_LISTENING = re.compile(rb"^Listening on 127\.0\.0\.1:(\d+)\s*$")


def _drain(stream: IO[bytes], listening: _Listening) -> None:
    """Read anvil's stdout to its end: the port from the ``Listening on`` line, the rest dropped."""
    try:
        for line in stream:
            if listening.done.is_set():
                continue
            match = _LISTENING.match(line)
            if match:
                listening.port = int(match.group(1))
                listening.done.set()
    except (OSError, ValueError):
        pass  # closed under us by ``stop``
    finally:
        listening.done.set()
        with contextlib.suppress(OSError):
            stream.close()


#: How long :func:`exit_reason`'s line may be (a cause may quote an HTTP body: a whole page).
_REASON_CHARS = 300


def exit_reason(stderr: str, code: int) -> str:
    """One line for an anvil that exited on start: its error and the deepest cause it names.

    anvil prints ``Error: <what failed>``, then ``Context:`` and one ``- <cause>`` line a level,
    the deepest last; after them may come lines that are no cause (``HTTP diagnostics:`` and the
    fork URL's response headers, the start of a body it could not parse, a hint). Without an
    ``Error:`` line, its stderr's last line; without any, the exit code.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    error = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
    if error is None:
        reason = lines[-1] if lines else f"exit code {code}"
    else:
        what = lines[error].removeprefix("Error:").strip()
        causes = [line.removeprefix("- ") for line in lines[error + 1 :] if line.startswith("- ")]
        # reqwest's chain numbers its levels ("Error #3: end of file ..."): the text is the cause.
        cause = re.sub(r"^Error #\d+: ", "", causes[-1]) if causes else ""
        reason = f"{what}: {cause}" if cause else what
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


class AnvilExitedError(ChainError):
    """anvil exited before it answered: ``reason`` is :func:`exit_reason`'s line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"anvil exited on start: {reason}")
        self.reason = reason

    @property
    def transient(self) -> bool:
        """Whether starting it again may get past its cause (:func:`exit_is_transient`)."""
        return exit_is_transient(self.reason)


#: anvil's HTTP failure of a fork request: ``HTTP error 502 with body: ...``.
_HTTP_STATUS = re.compile(r"\bHTTP error (\d{3})\b")
#: A JSON-RPC error answer: ``server returned an error response: error code -32603: ...``.
_RPC_ERROR = re.compile(r"error response: error code (-?\d+): (.*)$")
#: anvil's (reqwest's, the OS's) words for a request the network lost, lower case: a connection
#: reset, refused or closed early, an answer cut short, a timeout, a resolver that failed for now.
_TRANSPORT_WORDS = (
    "connection reset",
    "connection refused",
    "connection aborted",
    "connection closed before message completed",
    "broken pipe",
    "end of file before message length reached",
    "unexpected eof",
    "unexpected end of file",
    "timed out",
    "timeout",
    "temporary failure in name resolution",
)


def exit_is_transient(reason: str) -> bool:
    """Whether an anvil that exited on start for ``reason`` may start if started again.

    ``reason`` is :func:`exit_reason`'s line. Transient, as for the keeper's own reads
    (:mod:`keeper.chain.retry`): an HTTP 5xx, 408 or 429 from the fork URL, a JSON-RPC error that
    means "ask again" (-32603, a rate limit, "header not found"), or a request the network lost
    (:data:`_TRANSPORT_WORDS`). Anything else is not: another HTTP status (a 401/403/404 of a
    wrong key or path), a block the fork URL does not have, an answer that is no JSON, a port in
    use.
    """
    # Here, not at the top: ``keeper --help`` imports this module (its dev keys) and no web3.
    from keeper.chain.retry import rpc_error_is_transient

    status = _HTTP_STATUS.search(reason)
    if status is not None:  # by the status alone: its body may say anything
        code = int(status.group(1))
        return code >= 500 or code in (408, 429)
    rpc = _RPC_ERROR.search(reason)
    if rpc is not None:
        return rpc_error_is_transient({"code": int(rpc.group(1)), "message": rpc.group(2)})
    lower = reason.lower()
    return any(words in lower for words in _TRANSPORT_WORDS)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
