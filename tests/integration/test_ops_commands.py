"""Operator commands (``keeper rehearse``, ``keeper check``) against a real anvil, on bad input.

Each refusal is one ``keeper: error:`` line and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet.tx import account, transact
from tests.integration.test_demo import _anvils_on
from tests.integration.test_trial3 import Devnet, _addresses, devnet  # noqa: F401 - a fixture
from tests.unit.test_cli_keeper import _clean_env, one_error_line  # noqa: F401 - autouse
from tests.unit.test_ops_commands import (  # noqa: F401 - a fixture
    json_rpc_server,
    method_not_found,
    refusing_rpc,
    vv_logs,
)

pytestmark = pytest.mark.integration

NOT_A_BATCHER = "0x" + "b0" * 20
ADMIN = account(ANVIL_KEYS[0]).address
#: What rehearse needs to reach its fork: a batcher (not one), a lens and a vault.
REHEARSE_ENV = {
    "KEEPER_BATCHER": NOT_A_BATCHER,
    "KEEPER_LENS": "0x" + "11" * 20,
    "KEEPER_VAULTS": "0x" + "22" * 20,
}


@pytest.fixture
def rehearse_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """:data:`REHEARSE_ENV` in the environment for the test."""
    for name, value in REHEARSE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil() as n:
        yield n


@pytest.mark.parametrize("code", ["", "0x00"], ids=["no-code", "not-a-batcher"])
@pytest.mark.parametrize("admin", [[], ["--admin", ADMIN]], ids=["from-logs", "given"])
def test_rehearse_refuses_a_batcher_that_is_not_one_in_one_line(
    code: str,
    admin: list[str],
    node: Anvil,
    rehearse_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # With --admin, the batcher's hasRole() was called before anything checked the batcher:
    # BadFunctionCallOutput as a traceback. Without it, "no current admin ... found in its
    # logs: pass --admin" sent the operator to a flag that then crashed.
    w3 = connect(node.url)
    w3.provider.make_request("anvil_setCode", [NOT_A_BATCHER, code or "0x"])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # the fork reads a block
    args = ["rehearse", "--env-file", os.devnull, "--fork-url", node.url, *admin]
    assert main(args) == 1
    line = one_error_line(capsys)
    batcher = w3.to_checksum_address(NOT_A_BATCHER)
    assert batcher in line
    assert ("is not a RebalanceBatcher" if code else "has no contract code") in line
    assert "pass --admin" not in line


def test_rehearse_says_why_anvil_could_not_fork_without_the_url_s_secret(
    refusing_rpc: str,  # noqa: F811 - the fixture
    rehearse_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fork URL answers its chain id (so it passes the reachability check), then refuses the
    # block number anvil forks at. The error was "anvil did not start after 3 attempts on free
    # ports": a port problem, and not the RPC's answer.
    assert main(["rehearse", "--env-file", os.devnull, "--fork-url", refusing_rpc]) == 1
    line = one_error_line(capsys)
    assert "free ports" not in line
    assert "the method is not available" in line
    assert "SECRET-API-KEY" not in line


@pytest.fixture
def webhook() -> Iterator[list[bytes]]:
    """A local alert webhook that records what is POSTed to it."""
    posts: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkey = pytest.MonkeyPatch()
    monkey.setenv("KEEPER_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/hook")
    try:
        yield posts
    finally:
        monkey.undo()
        server.shutdown()
        server.server_close()


def test_check_is_a_dry_run_that_posts_no_alert_to_the_webhook(
    devnet: Devnet,  # noqa: F811 - the fixture
    webhook: list[bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # keeper check, "one cycle of keeper run that never signs", POSTed the cycle's alerts
    # (here one `oracle` alert per vault) to the production webhook: an operator's look at the
    # vaults paged whoever watches it. It logs them on stderr; keeper run alerts.
    feed = devnet.w3.eth.contract(
        address=devnet.stack.price_feed, abi=load_artifact("MockV3Aggregator").abi
    )
    with devnet.rolled_back():
        transact(devnet.w3, account(ANVIL_KEYS[0]), feed.functions.updateAnswer(0))
        args = ["check", "--env-file", os.devnull, "--addresses", _addresses(tmp_path, devnet)]
        assert main([*args, "--json"]) == 1
    captured = capsys.readouterr()
    assert "not positive" in json.loads(captured.out)["skipped"][devnet.stack.vaults[0]]
    assert "ALERT oracle" in captured.err  # still logged
    assert webhook == []


@pytest.mark.parametrize("command", ["check", "rehearse"])
def test_one_v_shows_the_decision_lines(
    command: str,
    devnet: Devnet,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `keeper -v` is "more log output", but check and rehearse set WARNING unless -vv: -v
    # showed nothing more.
    args = [command, "--env-file", os.devnull, "--addresses", _addresses(tmp_path, devnet)]
    if command == "rehearse":
        args += ["--fork-url", devnet.node.url]
    assert main(args) == 0
    assert '"decision"' not in capsys.readouterr().err
    assert main(["-v", *args]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert any(line["level"] == "info" and line["msg"] == "decision" for line in lines)


@pytest.fixture
def refusing_proxy(devnet: Devnet) -> Iterator[tuple[str, set[str]]]:  # noqa: F811 - the fixture
    """A proxy to the devnet's node that refuses the methods in its set (a JSON-RPC error)."""
    refused: set[str] = set()
    upstream = devnet.node.url

    def answer(req: dict[str, Any]) -> Any:
        if req.get("method") in refused:
            return method_not_found(req, f"{req['method']} is not available")
        return requests.post(upstream, json=req, timeout=10).json()

    with json_rpc_server(answer) as url:
        yield url, refused


def test_check_on_an_rpc_refusing_a_read_of_the_cycle_is_one_line(
    devnet: Devnet,  # noqa: F811 - the fixture
    refusing_proxy: tuple[str, set[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Past start-up, the cycle's read of the latest block (for the gas price) got a permanent
    # JSON-RPC error: a MethodUnavailable traceback. keeper run counts it as a failed cycle.
    url, refused = refusing_proxy
    refused.add("eth_getBlockByNumber")
    addresses = _addresses(tmp_path, devnet, rpc_url=url)
    assert main(["check", "--env-file", os.devnull, "--addresses", addresses]) == 1
    line = one_error_line(capsys)
    assert "eth_getBlockByNumber is not available" in line


@pytest.mark.parametrize("listed", ["vaults", "factory"])
def test_an_rpc_that_does_not_serve_eth_call_is_not_blamed_on_the_addresses(
    listed: str,
    devnet: Devnet,  # noqa: F811 - the fixture
    refusing_proxy: tuple[str, set[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A send-only endpoint given as the RPC refuses eth_call (-32601): check said "<vault> is
    # not a vault (asset() failed: MethodUnavailable)", or "is not a vault factory", sending the
    # operator to addresses that are right.
    url, refused = refusing_proxy
    refused.add("eth_call")
    change: dict[str, Any] = {"rpc_url": url}
    if listed == "factory":
        change["vaults"] = []
    addresses = _addresses(tmp_path, devnet, **change)
    assert main(["check", "--env-file", os.devnull, "--addresses", addresses]) == 1
    line = one_error_line(capsys)
    assert "is not a vault" not in line
    assert "eth_call is not available" in line


def test_vv_logs_of_rehearse_name_the_fork_url_by_scheme_and_host_only(
    refusing_rpc: str,  # noqa: F811 - the fixture
    rehearse_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As keeper check's (tests/unit/test_ops_commands.py): urllib3's debug lines of the
    # reachability check quoted the fork URL's path and query.
    err = vv_logs("rehearse", "--fork-url", refusing_rpc, capsys)
    assert "urllib3" in err
    assert "SECRET-API-KEY" not in err
    assert "QUERY-SECRET" not in err


@pytest.mark.parametrize(
    "signer",
    [
        {"KEEPER_SIMULATE_FROM": account(ANVIL_KEYS[3]).address},
        {"KEEPER_PRIVATE_KEY": ANVIL_KEYS[3]},
    ],
    ids=["simulate-from", "key"],
)
def test_check_without_a_batcher_says_that_is_why_it_did_not_simulate(
    signer: dict[str, str],
    devnet: Devnet,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # With KEEPER_SIMULATE_FROM (or a key) set and no batcher, the table said "(not simulated:
    # no signer and no KEEPER_SIMULATE_FROM)": the one thing that was configured.
    for name, value in signer.items():
        monkeypatch.setenv(name, value)
    path = Path(_addresses(tmp_path, devnet))
    addresses = {k: v for k, v in json.loads(path.read_text()).items() if k != "batcher"}
    path.write_text(json.dumps(addresses))
    args = [
        "check",
        "--env-file",
        os.devnull,
        "--addresses",
        str(path),
        "--policy",
        "band:width=1e-4",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "batch: 0x" in out  # a plan that was not simulated
    assert "no KEEPER_SIMULATE_FROM" not in out
    assert (
        "(not simulated: no batcher configured: KEEPER_BATCHER or 'batcher' in --addresses)" in out
    )


def test_check_skips_every_vault_while_the_sequencer_is_down_past_its_grace_period(
    devnet: Devnet,  # noqa: F811 - the fixture
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The lean lens packed "sequencer down" as `(answer != 0 ? 1 : 0) << 64`: a uint8 shifted
    # out of its type, always 0. A sequencer down for longer than the grace period read as up,
    # and check printed ACT for the vaults and exited 0.
    feeds = load_artifact("MockV3Aggregator").abi
    sequencer = devnet.w3.eth.contract(address=devnet.stack.sequencer_feed, abi=feeds)
    price = devnet.w3.eth.contract(address=devnet.stack.price_feed, abi=feeds)
    admin = account(ANVIL_KEYS[0])
    with devnet.rolled_back():
        transact(devnet.w3, admin, sequencer.functions.updateAnswer(1))  # down
        devnet.w3.provider.make_request("evm_increaseTime", [2 * 86_400])  # type: ignore[arg-type]
        transact(devnet.w3, admin, price.functions.updateAnswer(3000 * 10**8))  # a fresh price
        args = ["check", "--env-file", os.devnull, "--addresses", _addresses(tmp_path, devnet)]
        assert main([*args, "--json", "--policy", "band:width=1e-4"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"] == {v: "L2 sequencer is down" for v in devnet.stack.vaults}
    assert out["planned"] == []


def test_check_on_a_factory_that_lists_no_vault_says_so(
    node: Anvil, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With KEEPER_FACTORY set, an empty registry said "no vaults: set KEEPER_VAULTS or
    # KEEPER_FACTORY": the one setting that was there.
    factory = "0x" + "fa" * 20
    w3 = connect(node.url)
    # Answers 32 zero bytes to any call: vaultCount() == 0.
    w3.provider.make_request("anvil_setCode", [factory, "0x60206000f3"])  # type: ignore[arg-type]
    monkeypatch.setenv("KEEPER_FACTORY", factory)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    assert main(["check", "--env-file", os.devnull, "--rpc-url", node.url]) == 1
    line = one_error_line(capsys)
    assert f"factory {w3.to_checksum_address(factory)} lists no vaults" in line


def test_sigterm_while_rehearse_runs_on_its_fork_stops_the_fork(node: Anvil) -> None:
    """SIGTERM (a service manager, ``timeout``, ``kill``) while the fork is up.

    Python's default action ended the process at once, skipping the ``finally`` that stops the
    fork's anvil, which runs in its own session and was left running. Any command now takes
    SIGTERM as Ctrl-C: its clean-up runs, and it exits 130 with ``keeper: interrupted``.
    """
    import signal
    import subprocess
    import sys

    # The fork is up and rehearse is checking the batcher when the signal comes.
    script = (
        "import os, signal, sys, time\n"
        "import keeper.app.rehearse as r\n"
        "from keeper.cli import main\n"
        "def hang(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "r.check_batcher = hang\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {
        **os.environ,
        **REHEARSE_ENV,
    }
    args = ["rehearse", "--env-file", os.devnull, "--fork-url", node.url]
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        leaked = _anvils_on(node.url)
        for pid in leaked:  # by PID, so a failing run leaves nothing behind either
            os.kill(pid, signal.SIGTERM)
    assert leaked == []
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "keeper: interrupted"
