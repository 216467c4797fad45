"""``Anvil.start`` never leaves the process it spawned behind, however the start is cut short."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from web3 import Web3

from keeper.chain import anvil as anvil_mod
from keeper.chain.anvil import Anvil
from tests.rpc_stub import rpc_stub

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_while_anvil_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while ``start`` waits for the node to answer (seconds for a fork) reached the
    caller with the node still running in its own session, and nothing left to stop it: ``start``
    stopped the node only on ``ChainError``, and ``with Anvil()`` never got to ``__exit__``."""
    node = Anvil()
    spawned: list[int] = []

    def interrupted(*args: object, **kwargs: object) -> object:
        assert node.pid is not None
        spawned.append(node.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(anvil_mod.requests, "post", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt), node:
            raise AssertionError("the node started")
    finally:
        leaked = [pid for pid in spawned if _alive(pid)]
        for pid in leaked:  # by PID: a failing run leaves nothing behind either
            os.kill(pid, 15)
    assert spawned
    assert leaked == []
    assert node.pid is None


def test_a_free_port_taken_before_anvil_binds_it_is_not_mistaken_for_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between ``free_port()`` closing its socket and anvil binding the port, another process may
    take it: anvil then fails to bind, but the other node answered ``eth_chainId`` first, and the
    caller was handed a URL to a node that is not ours. Here the port ``free_port`` returns is
    already held by such a node."""
    # Another node on the port: answers every JSON-RPC call with chain id 0x1234.
    with rpc_stub(lambda request: {"result": "0x1234"}) as impostor:
        monkeypatch.setattr(anvil_mod, "free_port", lambda: impostor.port)
        with Anvil() as node:
            assert node.pid is not None
            assert node.port != impostor.port
            chain_id = requests.post(
                node.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                timeout=5,
            ).json()["result"]
            assert int(chain_id, 16) == 31337
            assert _alive(node.pid)
    assert impostor.methods == []


def test_anvil_that_logs_every_call_keeps_answering(tmp_path: Path) -> None:
    """The node's stdout (one line per RPC method) is drained: a pipe nobody reads fills at 64 KiB
    and blocks the node. 20,000 calls log far more than that."""
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []} for i in range(2_000)
    ]
    with Anvil() as node:
        for _ in range(10):
            out = requests.post(node.url, json=batch, timeout=10).json()
            assert len(out) == len(batch)
        assert requests.post(node.url, json=batch[0], timeout=10).json()["result"] == "0x0"


_INTERRUPTED_CLEANUP = """
import sys
from keeper.chain.anvil import Anvil

node = Anvil().start()
print(node.pid, flush=True)
try:
    raise KeyboardInterrupt  # the first Ctrl-C: the caller cleans up
finally:
    # a second Ctrl-C during the clean-up before ``node.stop()`` (the demo's runner, its report)
    raise KeyboardInterrupt
"""


def test_a_second_ctrl_c_during_clean_up_leaves_no_anvil_running() -> None:
    """The node runs in its own session, so the terminal's Ctrl-C never reaches it: a second
    Ctrl-C during a caller's clean-up, before it reached ``node.stop()``, left anvil running
    after the keeper had exited, with nothing left to stop it."""
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_CLEANUP],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pid = int(proc.stdout.split()[0])
    try:
        assert "KeyboardInterrupt" in proc.stderr
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        if _alive(pid):  # by PID: a failing run leaves nothing behind either
            os.kill(pid, 15)


_KILLED_OWNER = """
import sys, time
from keeper.chain.anvil import Anvil
node = Anvil().start()
print(node.pid, flush=True)
time.sleep(120)
"""


def test_a_sigkilled_owner_takes_its_anvil_with_it() -> None:
    """A SIGKILL runs no clean-up (no ``finally``, no ``atexit``): a demo or keeper killed so
    (the OOM killer, a CI timeout) left its anvil running, holding its port and memory, with
    nothing left to stop it. The node is now started with the kernel's parent-death signal."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _KILLED_OWNER],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert owner.stdout is not None
    pid = int(owner.stdout.readline().split()[0])
    try:
        assert _alive(pid)
        owner.kill()
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        if owner.poll() is None:
            owner.kill()
        if _alive(pid):  # by PID: a failing run leaves nothing behind either
            os.kill(pid, 9)


def test_a_fork_urls_secrets_are_not_on_anvils_command_line() -> None:
    """``keeper rehearse`` forks the operator's RPC, API key and all; the URL went on anvil's
    command line, which any user of the host reads (``ps``, ``/proc/<pid>/cmdline``). It now
    goes through the environment of the anvil process (only its user reads that), named by an
    alias in a ``foundry.toml`` of its own (helper-126)."""
    with Anvil() as remote:
        port = remote.url.rsplit(":", 1)[1]
        url = f"http://op:SECRETKEY123@127.0.0.1:{port}"
        with Anvil(fork_url=url) as fork:
            assert fork.pid is not None
            cmdline = Path(f"/proc/{fork.pid}/cmdline").read_bytes().replace(b"\0", b" ")
            assert b"SECRETKEY123" not in cmdline, cmdline
            w3 = Web3(Web3.HTTPProvider(fork.url))
            assert w3.eth.chain_id == 31337
            assert w3.eth.block_number == Web3(Web3.HTTPProvider(remote.url)).eth.block_number
