"""Operator commands (``keeper rehearse``, ``keeper check``) against a real anvil, on bad input.

Each refusal is one ``keeper: error:`` line and exit code 1, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet.tx import account
from tests.unit.test_ops_commands import refusing_rpc  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

NOT_A_BATCHER = "0x" + "b0" * 20
ADMIN = account(ANVIL_KEYS[0]).address


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil() as n:
        yield n


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("keeper: error: ")
    return err[0]


@pytest.mark.parametrize("code", ["", "0x00"], ids=["no-code", "not-a-batcher"])
@pytest.mark.parametrize("admin", [[], ["--admin", ADMIN]], ids=["from-logs", "given"])
def test_rehearse_refuses_a_batcher_that_is_not_one_in_one_line(
    code: str,
    admin: list[str],
    node: Anvil,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # With --admin, the batcher's hasRole() was called before anything checked the batcher:
    # BadFunctionCallOutput as a traceback. Without it, "no current admin ... found in its
    # logs: pass --admin" sent the operator to a flag that then crashed.
    w3 = connect(node.url)
    w3.provider.make_request("anvil_setCode", [NOT_A_BATCHER, code or "0x"])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # the fork reads a block
    monkeypatch.setenv("KEEPER_BATCHER", NOT_A_BATCHER)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "22" * 20)
    args = ["rehearse", "--env-file", os.devnull, "--fork-url", node.url, *admin]
    assert main(args) == 1
    line = one_error_line(capsys)
    batcher = w3.to_checksum_address(NOT_A_BATCHER)
    assert batcher in line
    assert ("is not a RebalanceBatcher" if code else "has no contract code") in line
    assert "pass --admin" not in line


def test_rehearse_says_why_anvil_could_not_fork_without_the_url_s_secret(
    refusing_rpc: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fork URL answers its chain id (so it passes the reachability check), then refuses the
    # block number anvil forks at. The error was "anvil did not start after 3 attempts on free
    # ports": a port problem, and not the RPC's answer.
    monkeypatch.setenv("KEEPER_BATCHER", NOT_A_BATCHER)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "22" * 20)
    assert main(["rehearse", "--env-file", os.devnull, "--fork-url", refusing_rpc]) == 1
    line = one_error_line(capsys)
    assert "free ports" not in line
    assert "the method is not available" in line
    assert "SECRET-API-KEY" not in line
