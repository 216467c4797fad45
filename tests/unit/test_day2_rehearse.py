"""``keeper rehearse`` on a bad ``--fork-url``: one line that names the flag, before any anvil.

``--fork-url`` without a scheme was refused as "RPC URL has no scheme", the words of a bad
``KEEPER_RPC_URL``: an operator whose ``.env`` holds a good one looked for the fault there.
It is checked as typed now, by the one RPC URL rule (``keeper.chain.urls``), a usage error
(exit 2) as a malformed ``--rpc-url`` is: it was exit 1, found only when the keeper connected.
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
        ("rpc.example:8545", "RPC URL has no scheme"),
        ("ftp://rpc.example:8545", "unsupported RPC URL scheme 'ftp' (http, https, ws, wss)"),
    ],
)
def test_a_fork_url_that_is_not_one_is_named_as_the_fork_url(
    url: str, why: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "22" * 20)
    with pytest.raises(SystemExit) as exited:
        main(["rehearse", "--env-file", os.devnull, "--fork-url", url])
    assert exited.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"keeper: error: argument --fork-url: {why}"), line
    assert url not in line  # a fork URL may hold an API key
