"""A node (or a proxy on the way) whose answers are well-formed JSON-RPC envelopes around a
``result`` that cannot be one: each command ends in one ``keeper: error:`` line, no traceback.

Found by a bad-input audit: ``eth_chainId`` answered ``null`` crashed start-up with
``TypeError: int() can't convert non-string with explicit base``, and ``eth_getCode`` answered
``"garbage"`` with ``binascii.Error: Non-hexadecimal digit found``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from keeper.cli import main
from tests.rpc_stub import rpc_stub

VAULT = "0x" + "11" * 20


def _null_chain_id(request: dict[str, Any]) -> dict[str, Any]:
    return {"result": None} if request["method"] == "eth_chainId" else {"result": "0x0"}


def _garbage_after_the_chain_id(request: dict[str, Any]) -> dict[str, Any]:
    return {"result": "0x7a69"} if request["method"] == "eth_chainId" else {"result": "garbage"}


@pytest.mark.parametrize(
    ("answer", "method"),
    [(_null_chain_id, "eth_chainId"), (_garbage_after_the_chain_id, "eth_getCode")],
    ids=["null-chain-id", "non-hex-code"],
)
@pytest.mark.parametrize(
    "command",
    [["check"], ["vault", "info", "--vault", VAULT]],
    ids=["check", "vault-info"],
)
def test_a_malformed_answer_ends_in_one_line(
    answer: Any,
    method: str,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL", "KEEPER_RPC_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "22" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", VAULT)
    with rpc_stub(answer) as node:
        try:
            code = main([*command, "--rpc-url", node.url, "--env-file", os.devnull])
        except Exception as exc:  # noqa: BLE001 - any escape is the defect
            pytest.fail(f"a traceback, not one line: {type(exc).__name__}: {exc}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("keeper: error: ")
    assert f"malformed answer to {method}" in err[-1]
