"""A new operator's trial (trial 3) on the devnet stack: wrong addresses and a broken oracle.

Each command runs as a user runs it, in a subprocess, against anvil on a free port. A refusal is
one ``keeper: error:`` line and exit code 1, nothing is sent, and the key never appears.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.app.demo import deploy_demo_stack
from keeper.app.devnet_session import PATH_STEPS
from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.devnet.market import Market, MarketConfig, demo_accounts
from keeper.devnet.stack import DevnetStack
from keeper.devnet.tx import account, transact
from tests.conftest import keeper_command

pytestmark = pytest.mark.integration

KEEPER_KEY = ANVIL_KEYS[3]  # the registered keeper of the demo stack


@dataclass
class Devnet:
    node: Anvil
    w3: Web3
    stack: DevnetStack
    addresses: dict[str, Any]

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Undo whatever the block does to the chain (``evm_snapshot`` / ``evm_revert``)."""
        snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        try:
            yield
        finally:
            self.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    """``keeper devnet up``'s stack with one vault: its market set up, an opening book sold."""
    with Anvil() as node:
        w3 = connect(node.url)
        accounts = demo_accounts()
        config = MarketConfig(seed=7, steps=PATH_STEPS, step_seconds=600, vol=0.8)
        stack = deploy_demo_stack(w3, accounts, 1, config.spot8)
        Market(w3, stack, accounts, config).setup()
        yield Devnet(node, w3, stack, stack.to_json(node.url))


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_ARTIFACTS_DIR" in os.environ:
        base["KEEPER_ARTIFACTS_DIR"] = os.environ["KEEPER_ARTIFACTS_DIR"]
    return subprocess.run(
        [*keeper_command(), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _addresses(tmp_path: Path, devnet: Devnet, **change: Any) -> str:
    path = tmp_path / "devnet.json"
    path.write_text(json.dumps({**devnet.addresses, **change}))
    return str(path)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    assert KEEPER_KEY[2:] not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("keeper: error: ")]
    assert len(errors) == 1, proc.stderr
    # anything else on stderr is a JSON log line, never a traceback or a raw warning
    for line in proc.stderr.splitlines():
        if line.strip() and not line.startswith("keeper: error: "):
            json.loads(line)
    return errors[0]


@pytest.mark.parametrize("what", ["eoa", "token"])
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_lens_that_is_not_a_vault_lens_is_one_clear_line(
    what: str, command: str, devnet: Devnet, tmp_path: Path
) -> None:
    lens = account(ANVIL_KEYS[6]).address if what == "eoa" else devnet.stack.usdc
    nonce = devnet.w3.eth.get_transaction_count(account(KEEPER_KEY).address)
    args = [command, "--addresses", _addresses(tmp_path, devnet, lens=lens)]
    if command == "run":
        args += ["--max-cycles", "1", "--journal", str(tmp_path / "j.sqlite")]
    proc = _run(tmp_path, *args, KEEPER_PRIVATE_KEY=KEEPER_KEY)
    line = _error_line(proc)
    assert lens in line
    assert "VaultLens" in line
    assert "lens" in line.split("VaultLens")[-1]  # says where to fix it
    assert devnet.w3.eth.get_transaction_count(account(KEEPER_KEY).address) == nonce


def test_a_non_positive_oracle_answer_prints_no_raw_numpy_warnings(
    devnet: Devnet, tmp_path: Path
) -> None:
    feed = devnet.w3.eth.contract(
        address=devnet.stack.price_feed, abi=load_artifact("MockV3Aggregator").abi
    )
    with devnet.rolled_back():
        transact(devnet.w3, account(ANVIL_KEYS[0]), feed.functions.updateAnswer(0))
        proc = _run(tmp_path, "check", "--addresses", _addresses(tmp_path, devnet), "--json")
    # every vault skipped: the JSON is still printed, then one error line and exit code 1
    line = _error_line(proc)
    assert "every vault was skipped (1 of 1)" in line
    assert "not positive" in line
    body = json.loads(proc.stdout)  # one JSON object, the error in it (not a second one)
    assert all("not positive" in reason for reason in body["skipped"].values())
    assert body["error"] in line
    assert "RuntimeWarning" not in proc.stderr


@pytest.mark.parametrize("json_out", [False, True])
def test_check_exits_1_when_a_stale_oracle_leaves_no_vault_to_evaluate(
    json_out: bool, devnet: Devnet, tmp_path: Path
) -> None:
    # keeper check printed every vault as skipped and exited 0: a script (or a cron health
    # check) could not tell a keeper that judged nothing from one that judged all was well.
    with devnet.rolled_back():
        devnet.w3.provider.make_request("evm_increaseTime", [200_000])  # type: ignore[arg-type]
        devnet.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        args = ["check", "--addresses", _addresses(tmp_path, devnet)]
        proc = _run(tmp_path, *args, *(["--json"] if json_out else []))
    line = _error_line(proc)
    assert "every vault was skipped (1 of 1)" in line
    assert "old, heartbeat" in line
    if json_out:
        body = json.loads(proc.stdout)
        assert body["skipped"]
        assert line.endswith(body["error"])
    else:
        assert "skipped: oracle answer is" in proc.stdout  # the table still shows each vault
        # no vault was priced, so there is no ETH price to show (it read "ETH $0.00")
        assert "ETH $0.00" not in proc.stdout
        assert "ETH n/a (no vault priced)" in proc.stdout


def test_check_exits_0_on_a_healthy_oracle(devnet: Devnet, tmp_path: Path) -> None:
    proc = _run(tmp_path, "check", "--addresses", _addresses(tmp_path, devnet), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["skipped"] == {}


@pytest.mark.parametrize("what", ["eoa", "token"])
def test_web_refuses_a_vault_address_that_is_not_a_vault(
    what: str, devnet: Devnet, tmp_path: Path
) -> None:
    # keeper web served an EOA or a token as a vault; the page then failed on every read.
    vault = account(ANVIL_KEYS[6]).address if what == "eoa" else devnet.stack.usdc
    args = ["web", "--addresses", _addresses(tmp_path, devnet, vaults=[vault]), "--port", "0"]
    proc = _run(tmp_path, *args)
    line = _error_line(proc)
    assert f"{vault} is not a vault" in line


def test_web_stops_on_a_sigint_even_when_started_with_sigint_ignored(
    devnet: Devnet, tmp_path: Path
) -> None:
    """A script's background job (``keeper web ... &``) starts with SIGINT ignored: ``kill -INT``
    then did nothing to ``keeper web`` (``keeper run`` and ``devnet up`` take SIGINT themselves).
    """
    import signal
    import time

    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    args = ["web", "--addresses", _addresses(tmp_path, devnet), "--port", "0", "--env-file"]
    proc = subprocess.Popen(
        [*keeper_command(), *args, os.devnull],
        cwd=tmp_path,
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "open http" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert "open http" in line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "keeper web: stopped" in out
