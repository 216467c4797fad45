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


def test_why_every_endpoint_failed_is_said_short() -> None:
    """A node that died mid-command left 300 characters of urllib3's repr in the one line, and a
    read that ran out of time before any answer said `NoneType: None`."""
    import requests

    from keeper.chain.connection import failure_reason

    urllib3_text = (
        "HTTPConnectionPool(host='127.0.0.1', port=18621): Max retries exceeded with url: / "
        "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at "
        "0x7f0c2c1e2d50>: Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert failure_reason(requests.ConnectionError(urllib3_text)) == (
        "ConnectionError: connection refused (errno 111)"
    )
    timed_out = "HTTPConnectionPool(host='h', port=1): Read timed out. (read timeout=2.0)"
    assert failure_reason(requests.ReadTimeout(timed_out)) == "ReadTimeout: read timed out"
    assert failure_reason(None) == "no answer in the time allowed"
    assert failure_reason(ValueError("odd")) == "ValueError: odd"


def test_a_web_server_that_is_not_a_json_rpc_endpoint_is_said_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An RPC URL pointing at a web page (200, HTML) said only ``ChunkedEncodingError``."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>It works!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL", "KEEPER_RPC_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "22" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", VAULT)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code = main(["check", "--rpc-url", url, "--env-file", os.devnull])
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == (
        f"keeper: error: RPC at {url} answered a web page (HTTP 200, text/html), not JSON-RPC: "
        "check the URL"
    )
    assert "ChunkedEncodingError" not in err[-1]
