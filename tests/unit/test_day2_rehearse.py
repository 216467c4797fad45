"""``keeper rehearse`` on a bad ``--fork-url``: one line that names the flag, before any anvil.

``--fork-url`` without a scheme was refused as "RPC URL has no scheme", the words of a bad
``KEEPER_RPC_URL``: an operator whose ``.env`` holds a good one looked for the fault there.
"""

from __future__ import annotations

import os

import pytest

from keeper.cli import main
from tests.unit.test_cli_keeper import _clean_env, one_error_line  # noqa: F401 - autouse

ENV = {"KEEPER_BATCHER": "0x" + "b0" * 20, "KEEPER_LENS": "0x" + "11" * 20}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:8545", "RPC URL has no scheme"),
        ("ftp://127.0.0.1:8545", "unsupported RPC URL scheme 'ftp' (http, https, ws, wss)"),
    ],
)
def test_a_fork_url_that_is_not_one_is_named_as_the_fork_url(
    url: str, why: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "22" * 20)
    assert main(["rehearse", "--env-file", os.devnull, "--fork-url", url]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"keeper: error: --fork-url: {why}"), line
    assert "no fork was started" in line
