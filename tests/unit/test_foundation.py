"""The toolchain fails loudly: a missing anvil, port or artifact is a KeeperError, never a skip."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from keeper.chain.anvil import Anvil, free_port
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.errors import ChainError, ConfigError, KeeperError


def test_missing_anvil_binary_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="anvil not found"):
        Anvil(binary=tmp_path / "anvil").start()


def test_port_taken_is_chain_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ChainError, match=f"port {port} is already in use"):
            Anvil(port=port).start()


def test_uncompiled_contract_is_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEPER_ARTIFACTS_DIR", str(tmp_path))
    load_artifact.cache_clear()
    try:
        with pytest.raises(ConfigError, match="not compiled"):
            load_artifact("MintableERC20")
    finally:
        load_artifact.cache_clear()


def test_compiled_artifact_loads() -> None:
    art = load_artifact("MintableERC20")
    assert art.bytecode.startswith("0x60")
    assert any(item.get("name") == "mint" for item in art.abi)


def test_unreachable_rpc_is_chain_error() -> None:
    port = free_port()  # nothing listens here
    with pytest.raises(ChainError, match="cannot reach RPC"):
        connect(f"http://127.0.0.1:{port}", timeout_s=1.0)


def test_rpc_url_secret_is_redacted() -> None:
    port = free_port()
    with pytest.raises(ChainError) as info:
        connect(f"http://127.0.0.1:{port}/v3/SECRET-API-KEY", timeout_s=1.0)
    assert "SECRET-API-KEY" not in str(info.value)


def test_a_node_down_at_start_up_is_said_at_once_not_after_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # keeper run retries a node that is down for its start-up timeout (60 s by default) and
    # printed nothing until it gave up: one warning now says so at the first failure.
    import logging

    from keeper.chain.retry import deadline

    url = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING), deadline(1.5), pytest.raises(ChainError):
        connect(url, timeout_s=0.2)
    waiting = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(waiting) == 1
    assert waiting[0].startswith(f"cannot reach RPC at {url}")
    assert "for up to 1s" in waiting[0] or "for up to 2s" in waiting[0]


def test_unsupported_scheme_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported RPC URL scheme"):
        connect("ftp://example.invalid")


def test_error_tree_has_one_root() -> None:
    assert issubclass(ConfigError, KeeperError)
    assert issubclass(ChainError, KeeperError)


def test_one_faulted_answer_at_connect_is_tried_again_without_a_deadline() -> None:
    """``keeper vault``/``check`` connect without a start-up deadline, and a single 502 (or cut
    connection) from the RPC to the chain-id read failed the command: on an RPC that fails one
    request in five, one command in five. The read is tried up to ``attempts`` times; a node
    that stays down still fails in one line."""
    from tests.rpc_stub import rpc_stub

    first_fails = iter([None])  # a 502, then the chain id
    with rpc_stub(lambda request: next(first_fails, {"result": "0x7a69"})) as node:
        w3 = connect(node.url, timeout_s=1.0)
    assert w3.provider is not None
    assert node.methods == ["eth_chainId", "eth_chainId"]


def test_a_json_rpc_answer_inside_an_http_4xx_is_read_as_the_answer() -> None:
    """Some providers send a JSON-RPC error with an HTTP 400. The transport raised the bare
    ``HTTPError`` ("400 Client Error"), so the sender could not read a refusal it knows
    ("nonce too low", "already known") and took it for an unknown failure. The body is the
    node's answer: it is raised as the JSON-RPC error it is. A 4xx without one stays an
    HTTP error, and a 429 stays a rate limit (retried, with its ``Retry-After``)."""
    import requests
    from web3.exceptions import Web3RPCError

    from tests.rpc_stub import rpc_stub

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["method"] == "eth_chainId":
            return {"result": "0x7a69"}
        return {"http_status": 400, "error": {"code": -32000, "message": "nonce too low"}}

    with rpc_stub(answer) as node:
        w3 = connect(node.url, timeout_s=1.0)
        with pytest.raises(Web3RPCError, match="nonce too low"):
            w3.eth.send_raw_transaction(b"\x02\x01")

    def not_json_rpc(request: dict[str, Any]) -> dict[str, Any]:
        if request["method"] == "eth_chainId":
            return {"result": "0x7a69"}
        return {"http_status": 403}  # {"jsonrpc", "id"} only: no result, no error

    with rpc_stub(not_json_rpc) as node:
        w3 = connect(node.url, timeout_s=1.0)
        with pytest.raises((requests.HTTPError, ChainError), match="403"):
            w3.eth.send_raw_transaction(b"\x02\x01")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            {"http_status": 401, "error": {"code": -32001, "message": "invalid API key"}},
            "JSON-RPC error -32001: invalid API key",
        ),
        ({"http_status": 403}, "HTTP 403"),
    ],
    ids=["json-rpc-error", "bare-4xx"],
)
def test_an_endpoint_that_refuses_at_connect_is_named_with_its_reason(
    answer: dict[str, Any], said: str
) -> None:
    """A wrong API key answered at connect with an error said only "cannot reach RPC at ...:
    KeyError" (a JSON-RPC error) or "HTTPError" (a bare 401/403): the line must say why."""
    from tests.rpc_stub import rpc_stub

    with rpc_stub(lambda request: dict(answer)) as node, pytest.raises(ChainError) as caught:
        connect(node.url, timeout_s=1.0)
    assert said in str(caught.value)
    assert "KeyError" not in str(caught.value)


def test_first_line_cuts_a_long_message_at_a_word_and_says_so() -> None:
    """A 200-character cut fell mid-word (a hash or a URL cut short, with nothing saying the
    line went on)."""
    from keeper.errors import first_line

    words = "eth_getTransactionReceipt failed on every RPC endpoint: " + "word " * 60
    line = first_line(ChainError(words + "\nsecond line"))
    assert len(line) <= 200
    assert line.endswith(" ...")
    assert words.startswith(line.removesuffix(" ..."))
    assert line.removesuffix(" ...").endswith("word")
    assert first_line(ChainError("short\nmore")) == "short"
    assert first_line(ChainError("")) == "no message"
    unbroken = "x" * 300
    assert first_line(ChainError(unbroken)) == "x" * 196 + " ..."
