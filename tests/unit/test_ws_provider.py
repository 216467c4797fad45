"""The WebSocket provider: answers matched to requests over one socket, without a node.

The socket is a scripted fake: each request sent gets the next scripted messages back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from keeper.chain.connection import FailoverProvider, WebSocketProvider

WS, B = "ws://a.example", "http://b.example"

#: ``script(request)``: the messages the node sends back to one request (JSON text or not).
Script = Callable[[Any], list[str]]


class FakeSocket:
    """A ``ClientConnection`` that answers each message sent with ``script``'s messages."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.pending: list[str] = []
        self.sent: list[Any] = []
        self.closed = False

    def send(self, text: str) -> None:
        request = json.loads(text)
        self.sent.append(request)
        self.pending.extend(self.script(request))

    def recv(self, timeout: float | None = None) -> str:
        if not self.pending:
            time.sleep(timeout or 0.0)
            raise TimeoutError("no message")
        return self.pending.pop(0)

    def close(self) -> None:
        self.closed = True


def ws_provider(script: Script, timeout_s: float = 0.5) -> tuple[WebSocketProvider, FakeSocket]:
    p = WebSocketProvider(WS, timeout_s=timeout_s)
    sock = FakeSocket(script)
    p._conn = sock  # type: ignore[assignment]
    return p, sock


def failover(script: Script, urls: list[str], **kw: Any) -> tuple[FailoverProvider, FakeSocket]:
    """A failover provider whose WebSocket endpoint talks to ``script``."""
    kw.setdefault("timeout_s", 0.5)
    kw.setdefault("hedge_s", 0.5)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("head_probe_s", None)
    p = FailoverProvider(urls, **kw)
    sock = FakeSocket(script)
    ws = p._transports[urls.index(WS)]._ws
    assert ws is not None
    ws._conn = sock  # type: ignore[assignment]
    return p, sock


def message(**fields: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", **fields})


def test_an_answer_is_matched_by_its_id_and_a_notification_is_skipped() -> None:
    def script(req: Any) -> list[str]:
        note = message(method="eth_subscription", params={"subscription": "0x01", "result": {}})
        return [
            note,
            message(id=req["id"] + 1000, result="0xold"),
            message(id=req["id"], result="0x01"),
        ]

    p, _ = ws_provider(script)
    assert p.make_request("eth_blockNumber", [])["result"] == "0x01"  # type: ignore[arg-type]


def test_a_notification_is_not_taken_for_a_batch_answer() -> None:
    """A batch took the first message without an id as its answer: a stray notification."""

    def script(req: Any) -> list[str]:
        note = message(method="eth_subscription", params={"subscription": "0x01", "result": {}})
        return [
            note,
            json.dumps([{"jsonrpc": "2.0", "id": r["id"], "result": "0x01"} for r in req]),
        ]

    p, _ = ws_provider(script)
    out = p.make_batch_request([("eth_blockNumber", []), ("eth_chainId", [])])  # type: ignore[list-item]
    assert isinstance(out, list)
    assert [r["result"] for r in out] == ["0x01", "0x01"]


@pytest.mark.parametrize("null_id", [True, False], ids=["id-null", "id-missing"])
def test_an_error_without_an_id_is_the_answer_to_the_request_in_flight(null_id: bool) -> None:
    """A node that cannot tell which request an error answers (a parse error, a refused
    request, a rate limit at the gateway) sends it with ``"id": null``, or without an id. One
    request is in flight on the socket at a time, so it is that request's answer; it was skipped
    as a stray message, and the request waited out its timeout for an answer that never came."""
    error = {"code": -32600, "message": "invalid request"}
    fields: dict[str, Any] = {"id": None} if null_id else {}

    p, _ = ws_provider(lambda req: [message(error=error, **fields)], timeout_s=2.0)
    started = time.monotonic()
    assert p.make_request("eth_blockNumber", [])["error"] == error  # type: ignore[arg-type]
    assert p.make_batch_request([("eth_blockNumber", [])])["error"] == error  # type: ignore[call-overload, list-item]
    assert time.monotonic() - started < 1.0

    # Through the failover provider: a read's error answer, a batch's too, and a rate limit
    # said so goes to the next endpoint at once.
    f, _ = failover(lambda req: [message(error=error, **fields)], [WS], timeout_s=2.0)
    started = time.monotonic()
    assert f.make_request("eth_call", [])["error"] == error  # type: ignore[arg-type]
    batch = f.make_batch_request([("eth_call", []), ("eth_call", [])])  # type: ignore[list-item]
    assert batch["error"] == error  # type: ignore[call-overload]
    assert time.monotonic() - started < 1.0


def test_a_rate_limit_without_an_id_fails_over_at_once() -> None:
    limit = {"code": 429, "message": "Your app has exceeded its compute units per second"}
    f, sock = failover(
        lambda req: [message(id=None, error=limit)], [WS, B], timeout_s=2.0, hedge_s=2.0
    )
    http = f._transports[1]

    def post_b(payload: bytes, timeout_s: float) -> Any:
        return {"jsonrpc": "2.0", "id": json.loads(payload)["id"], "result": "0x0b"}

    http.post = post_b  # type: ignore[method-assign]
    started = time.monotonic()
    assert f.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert len(sock.sent) == 1
    f.close()


def test_an_unreadable_message_is_transient_as_an_unreadable_http_body_is() -> None:
    """A message that is not JSON (cut short, garbled on the way, a proxy's error page) escaped
    as json's ``ValueError``: a permanent error, so the read failed at once instead of going to
    the next endpoint, while an unreadable HTTP body is transient. The socket is dropped too:
    what comes next on it cannot be trusted to answer the next request."""
    from web3.exceptions import ProviderConnectionError

    from keeper.chain.retry import is_transient

    p, sock = ws_provider(lambda req: ['{"jsonrpc": "2.0", "id": 1, "res'])
    with pytest.raises(ProviderConnectionError, match="unreadable") as caught:
        p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert is_transient(caught.value)
    assert sock.closed
    assert p._conn is None

    f, _ = failover(lambda req: [b"\xff\xfe not json".decode("latin-1")], [WS, B])
    f._transports[1].post = lambda payload, timeout_s: {  # type: ignore[method-assign]
        "jsonrpc": "2.0",
        "id": json.loads(payload)["id"],
        "result": "0x0b",
    }
    assert f.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    f.close()
