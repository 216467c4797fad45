"""``keeper devnet up|step`` through the real CLI (issue 15, item 4).

``up`` runs in its own process group, as in a terminal; the test reads its banner, moves the
market with ``step`` and runs ``check`` against it from other processes, then sends the group a
SIGINT (a terminal's Ctrl-C): the devnet stops, its anvil is gone and its addresses file removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import cast

import pytest
import requests

from keeper.chain.anvil import ANVIL_KEYS, free_port
from keeper.devnet.tx import account
from tests.conftest import keeper_command
from tests.integration.test_demo import _anvils_on

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_ARTIFACTS_DIR" in os.environ:
        env["KEEPER_ARTIFACTS_DIR"] = os.environ["KEEPER_ARTIFACTS_DIR"]
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*keeper_command(), *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _start_up(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``keeper devnet up ARGS`` in its own process group, as in a terminal (Ctrl-C: SIGINT)."""
    return subprocess.Popen(
        [*keeper_command(), "devnet", "up", *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _reap(up: subprocess.Popen[str], port: int | None = None) -> None:
    """Kill ``devnet up`` if it still runs, and stop any anvil on ``port``, each by PID.

    So a failing test leaves nothing running: the anvil is in its own session, beyond ``kill``.
    """
    if up.poll() is None:
        up.kill()
        up.wait()
    for pid in _anvils_on(port) if port is not None else []:
        os.kill(pid, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_devnet_up_prints_what_to_use_steps_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    addresses = tmp_path / "devnet.json"
    up = _start_up(tmp_path, "--port", str(port), "--vaults", "2", "--addresses", str(addresses))
    try:
        banner: list[str] = []
        deadline = time.monotonic() + 180
        assert up.stdout is not None
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            banner.append(line.rstrip())
            if line.startswith("Ctrl-C stops the devnet"):
                break
        text = "\n".join(banner)
        assert f"RPC URL         http://127.0.0.1:{port}" in text, text
        assert f"addresses file  {addresses}" in text
        keeper = account(ANVIL_KEYS[3]).address
        assert f"3  keeper       {keeper}" in text
        assert f"the keeper key is account 3 ({keeper}), registered on the batcher" in text
        assert "never use them on a real chain" in text
        for index in (6, 7, 8):
            depositor = account(ANVIL_KEYS[index]).address
            assert any(
                ln.strip().startswith(f"{index}  depositor")
                and depositor in ln
                and "100,000,000 USDC" in ln
                for ln in banner
            ), text
        session = json.loads(addresses.read_text())["devnet"]
        anvil_pid = int(session["pid"])
        assert _alive(anvil_pid)

        step = _run(tmp_path, "devnet", "step", "--steps", "2", "--addresses", str(addresses))
        assert step.returncode == 0, step.stderr
        assert [ln.split(":")[0] for ln in step.stdout.splitlines()] == ["step 1", "step 2"]
        step = _run(tmp_path, "devnet", "step", "--addresses", str(addresses))
        assert step.stdout.startswith("step 3: oracle ")
        assert json.loads(addresses.read_text())["devnet"]["step"] == 3

        check = _run(tmp_path, "check", "--addresses", str(addresses), "--env-file", os.devnull)
        assert check.returncode == 0, check.stderr
        assert "2 vaults" in check.stdout

        os.killpg(up.pid, signal.SIGINT)
        _out, err = up.communicate(timeout=60)
    finally:
        _reap(up)
    assert up.returncode == 0, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"devnet stopped; removed {addresses}"
    assert not addresses.exists()
    assert not _alive(anvil_pid)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_stack_deploys_ends_devnet_up_at_once(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C (SIGINT to the group, as a terminal sends it) or SIGTERM (to the keeper) while the
    stack deploys: the signal only set the flag the served devnet waits on, so the deployment
    went on to the end, printed the banner, and only then stopped, with exit 0. Now it stops
    there: anvil stopped, no addresses file, exit 130 with the one line other commands print."""
    port = free_port()
    addresses = tmp_path / "devnet.json"
    up = _start_up(tmp_path, "--port", str(port), "--vaults", "4", "--addresses", str(addresses))
    try:
        assert up.stdout is not None
        first = up.stdout.readline()
        assert first.startswith("anvil is up at"), first
        anvils = _anvils_on(port)
        assert len(anvils) == 1
        time.sleep(0.3)  # into the deployment (seconds long)
        if signum == signal.SIGINT:
            os.killpg(up.pid, signum)
        else:
            up.send_signal(signum)
        out, err = up.communicate(timeout=60)
    finally:
        _reap(up, port)
    assert up.returncode == 130, err
    assert "devnet ready" not in out
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "keeper: interrupted"
    assert not _alive(anvils[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_devnet_step_without_a_devnet_is_one_line(tmp_path: Path) -> None:
    proc = _run(tmp_path, "devnet", "step", "--addresses", str(tmp_path / "none.json"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"keeper: error: {tmp_path / 'none.json'} does not exist: "
        "start a devnet with `keeper devnet up`"
    ]


def test_devnet_up_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = _run(tmp_path, "devnet", "up", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"keeper: error: port {port} is already in use"


def test_devnet_up_and_step_json_print_one_object_a_line(tmp_path: Path) -> None:
    """``--json``: stdout carries only JSON lines a script can read (the progress goes to stderr):
    ``up``'s ready object (where the devnet is and who is who), then each ``step``'s record."""
    port = free_port()
    addresses = tmp_path / "devnet.json"
    args = ["--json", "--port", str(port), "--vaults", "1", "--addresses", str(addresses)]
    up = _start_up(tmp_path, *args)
    try:
        assert up.stdout is not None
        ready = json.loads(up.stdout.readline())
        assert ready["rpc_url"] == f"http://127.0.0.1:{port}"
        assert ready["chain_id"] == 31337
        assert ready["addresses_path"] == str(addresses)
        assert ready["vaults"] == json.loads(addresses.read_text())["vaults"]
        keeper = next(a for a in ready["accounts"] if a["role"] == "keeper")
        assert keeper["address"] == account(ANVIL_KEYS[3]).address
        assert isinstance(ready["pid"], int)
        # The account to use by hand is funded, and unlike the market's depositors (which
        # approved every vault for good) it has approved nothing: `keeper vault deposit` shows
        # its exact approval. It was depositor 1, whose allowance was already 2**256 - 1.
        you = next(a for a in ready["accounts"] if a["role"] == "you")
        assert you["index"] == 1
        assert you["address"] == account(ANVIL_KEYS[1]).address
        assert you["usdc"] == 1_000_000 * 10**6
        usdc = json.loads(addresses.read_text())["usdc"]
        allowance = (
            "0xdd62ed3e"
            + (you["address"][2:].rjust(64, "0") + ready["vaults"][0][2:].rjust(64, "0")).lower()
        )
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"to": usdc, "data": allowance}, "latest"],
        }
        answer = requests.post(ready["rpc_url"], json=body, timeout=10).json()["result"]
        assert int(answer, 16) == 0

        step = _run(
            tmp_path, "devnet", "step", "--json", "--steps", "2", "--addresses", str(addresses)
        )
        assert step.returncode == 0, step.stderr
        records = [json.loads(line) for line in step.stdout.splitlines()]
        assert [r["step"] for r in records] == [1, 2]
        assert all(r["price8"] > 0 and r["pool_price8"] > 0 for r in records)
        assert all(isinstance(r["writes"], list) for r in records)

        os.killpg(up.pid, signal.SIGINT)
        out, err = up.communicate(timeout=60)
    finally:
        _reap(up)
    assert up.returncode == 0, err
    assert out.strip() == ""  # nothing after the ready line: the rest went to stderr
    assert "anvil is up at" in err


def _block_number(url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    return int(requests.post(url, json=body, timeout=10).json()["result"], 16)


def _rpc(url: str, method: str, *params: object) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return requests.post(url, json=body, timeout=10).json()["result"]


def test_a_devnet_with_a_block_time_deploys_at_once_then_mines_by_the_clock(
    tmp_path: Path,
) -> None:
    """``--block-time 2``: the deployment (every transaction of it waiting for its block) took
    about four minutes of 2-s blocks, with nothing said after "deploying". The node now mines
    the deployment at once and starts its 2-s blocks when the devnet is ready: the deployment's
    blocks are under a second apart on the chain's own clock, and the ready node mines every 2 s,
    not on demand."""
    port = free_port()
    addresses = tmp_path / "devnet.json"
    args = ["--json", "--port", str(port), "--vaults", "1", "--block-time", "2"]
    up = _start_up(tmp_path, *args, "--addresses", str(addresses))
    try:
        assert up.stdout is not None
        ready = json.loads(up.stdout.readline())
        url = ready["rpc_url"]
        assert _rpc(url, "anvil_getIntervalMining") == 2
        assert _rpc(url, "anvil_getAutomine") is False
        # The ready line comes before the first 2-s block can have moved the head far: the
        # deployment's blocks are the chain's first ones.
        head = _block_number(url)
        assert head > 20, head  # the deployment is many transactions, a block each
        first = int(
            cast(dict[str, str], _rpc(url, "eth_getBlockByNumber", "0x1", False))["timestamp"], 16
        )
        last = int(
            cast(dict[str, str], _rpc(url, "eth_getBlockByNumber", hex(head - 2), False))[
                "timestamp"
            ],
            16,
        )
        assert last - first < head - 3, (first, last, head)  # 2-s blocks would be 2 s a block
        deadline = time.monotonic() + 30
        while _block_number(url) == head and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _block_number(url) > head  # mines with no transaction sent: by the clock
        os.killpg(up.pid, signal.SIGINT)
        _out, err = up.communicate(timeout=60)
    finally:
        _reap(up, port)
    assert up.returncode == 0, err


def test_devnet_step_refuses_a_devnet_that_takes_its_own_market_steps(tmp_path: Path) -> None:
    """``devnet up --market-every S`` sends the market's transactions from the same accounts as
    ``devnet step`` (and bumps the same step counter): the two raced for nonces, and a step could
    fail on "nonce too low" or be taken twice. ``step`` now refuses such a devnet in one line and
    sends nothing, and ``up --json`` says it has its timer."""
    port = free_port()
    addresses = tmp_path / "devnet.json"
    args = ["--json", "--port", str(port), "--vaults", "1", "--addresses", str(addresses)]
    up = _start_up(tmp_path, *args, "--market-every", "3600")
    try:
        assert up.stdout is not None
        ready = json.loads(up.stdout.readline())
        assert ready["market_every_s"] == 3600
        head = _block_number(ready["rpc_url"])
        step = _run(tmp_path, "devnet", "step", "--addresses", str(addresses))
        assert _block_number(ready["rpc_url"]) == head
        assert json.loads(addresses.read_text())["devnet"]["step"] == 0
        os.killpg(up.pid, signal.SIGINT)
        up.communicate(timeout=60)
    finally:
        _reap(up, port)
    assert step.returncode == 1, step.stdout
    assert step.stdout == ""
    assert step.stderr.strip().splitlines() == [
        f"keeper: error: the devnet of {addresses} takes its own market step every 3600 s "
        "(keeper devnet up --market-every): `keeper devnet step` would race it for the same "
        "accounts' nonces; start the devnet without --market-every to step it by hand"
    ]


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda s: s.pop("seed"), "seed"),
        (lambda s: s.update(step="three"), "step"),
        (lambda s: s.pop("step_seconds"), "step_seconds"),
        (lambda s: s.update(vol="high"), "vol"),
        (lambda s: s.update(market_every_s="often"), "market_every_s"),
    ],
)
def test_devnet_step_on_a_devnet_file_with_a_bad_session_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object, key: str
) -> None:
    """A ``devnet`` section missing a key, or with a non-integer one, was a KeyError or
    ValueError traceback from ``int(session[...])``: now one line naming the key."""
    from dataclasses import fields

    from keeper.chain.anvil import Anvil
    from keeper.cli import main
    from keeper.devnet.stack import DevnetStack

    zero = "0x" + "00" * 20
    with Anvil() as node:
        raw: dict[str, object] = {f.name: zero for f in fields(DevnetStack)}
        raw.update(chain_id=31337, pool_fee=500, pool_tick_spacing=10, vaults=[zero])
        session = {"rpc_url": node.url, "pid": node.pid, "seed": 7, "step": 0, "step_seconds": 600}
        edit(session)  # type: ignore[operator]
        raw["devnet"] = session
        path = tmp_path / "devnet.json"
        path.write_text(json.dumps(raw))
        assert main(["devnet", "step", "--addresses", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"keeper: error: {path}: devnet.{key} ")
