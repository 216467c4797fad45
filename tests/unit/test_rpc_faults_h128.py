"""RPC faults at the transport: start-up refusals, rate limits, garbled answers, a cut send.

A JSON-RPC node on loopback (:func:`tests.rpc_stub.rpc_stub`, :func:`tests.rpc_stub.json_rpc_node`)
or a scripted session stands in for the node.
"""

from __future__ import annotations

import http.server
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from keeper.chain.connection import MAX_RETRY_AFTER_S, EndpointHealth, connect
from keeper.chain.retry import RpcUnavailableError, deadline
from keeper.errors import ChainError
from tests.local_http import serving
from tests.rpc_stub import Reply, connect_unhedged, json_rpc_node, rpc_stub
from tests.unit.test_rpc_faults import A, B, Session, http_error, ok, provider


@pytest.mark.parametrize("status", [401, 403])
def test_connect_json_rpc_refusal_in_401_or_403_fails_at_once(status: int) -> None:
    """Alchemy refuses a wrong API key with an HTTP 401 whose body is a JSON-RPC error ("Must
    be authenticated!"). At start-up that was retried as a node that is down (`keeper run`: its
    whole KEEPER_STARTUP_TIMEOUT_S), then said as "cannot reach RPC". A bare 401 fails at once;
    so must this, in one line with the provider's words."""

    def refuse(req: dict[str, Any]) -> dict[str, Any]:
        error = {"code": -32600, "message": "Must be authenticated!"}
        return {"http_status": status, "error": error}

    started = time.monotonic()
    with rpc_stub(refuse) as stub, deadline(30), pytest.raises(ChainError) as info:
        connect(stub.url)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"RPC at {stub.url} refused the request (HTTP {status}")
    assert "Must be authenticated!" in message
    assert "check the URL's path and API key" in message
    assert "\n" not in message
    assert len(stub.methods) == 1


# -- Retry-After --------------------------------------------------------------------------------
def _limited(retry_after: str) -> Any:
    def reply(req: dict[str, Any], timeout: float) -> Any:
        raise http_error(429, retry_after=retry_after)

    return reply


def test_read_after_a_429_waits_out_its_retry_after_before_asking_again() -> None:
    """A 429's Retry-After was honoured only by the read that got it: the next read (the loop's
    next poll, after that read gave up) went straight out and got another 429."""
    slept: list[float] = []
    s = Session({A: [_limited("1"), ok("0x7")]})
    p = provider(s, [A], attempts=1, sleep=slept.append)
    with pytest.raises(RpcUnavailableError):
        p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert len(s.log) == 1
    assert p.make_request("eth_blockNumber", [])["result"] == "0x7"  # type: ignore[arg-type]
    assert len(s.log) == 2
    assert sum(slept) >= 0.9  # it waited before its first request went out


def test_read_under_a_deadline_shorter_than_retry_after_is_not_sent() -> None:
    """Under a deadline that ends before the Retry-After, a read fails at once (transient) and
    sends nothing: another request inside that window only earns another 429. Within one
    read, the wait before a retry was capped at 5 s, so a 30 s Retry-After was not honoured."""
    slept: list[float] = []
    s = Session({A: [_limited("30"), ok("0x7")]})
    p = provider(s, [A], sleep=slept.append)
    with deadline(10), pytest.raises(RpcUnavailableError, match="Retry-After"):
        p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert len(s.log) == 1
    with deadline(10), pytest.raises(RpcUnavailableError, match="Retry-After"):
        p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert len(s.log) == 1
    assert sum(slept) < 1


def test_read_goes_to_another_endpoint_while_one_asked_to_wait() -> None:
    s = Session({A: [_limited("30"), ok("0xa")], B: [ok("0xb")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0xb"  # type: ignore[arg-type]
    assert p.make_request("eth_blockNumber", [])["result"] == "0xb"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A, B, B]


# -- a fake node over real HTTP -----------------------------------------------------------------
CHAIN_ID = 31337


def answer(req: dict[str, Any]) -> dict[str, Any]:
    """A healthy node: chain 31337; ``eth_call`` answers its ``data`` back (one word)."""
    method = req["method"]
    result: Any
    if method == "eth_chainId":
        result = hex(CHAIN_ID)
    elif method == "eth_blockNumber":
        result = "0x64"
    elif method == "eth_getTransactionCount":
        result = "0x5"
    elif method == "eth_call":
        result = req["params"][0]["data"]
    else:
        result = None
    return {"jsonrpc": "2.0", "id": req["id"], "result": result}


def _word(i: int) -> str:
    return "0x" + f"{i:064x}"


def _calls(w3: Any, n: int) -> list[bytes]:
    with w3.batch_requests() as batch:
        for i in range(n):
            batch.add(w3.eth.call({"to": "0x" + "11" * 20, "data": _word(i + 1)}, "latest"))
        return [bytes(r) for r in batch.execute()]


def _garbled_once(garble: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Reply:
    batches: list[int] = []

    def handler(body: Any) -> Any:
        if not isinstance(body, list):
            return answer(body)
        batches.append(1)
        out = [answer(r) for r in body]
        return garble(out) if len(batches) == 1 else out

    return handler


@pytest.mark.parametrize(
    "garble",
    [
        pytest.param(lambda out: out[:-1], id="an-answer-missing"),
        pytest.param(lambda out: [out[0], {**out[1], "id": out[0]["id"]}, out[2]], id="dup-id"),
        pytest.param(lambda out: [out[0], {**out[1], "id": 10**9}, out[2]], id="foreign-id"),
        pytest.param(lambda out: [out[0], {**out[1], "id": None}, out[2]], id="null-id"),
        pytest.param(lambda out: [*out, {**out[0], "result": "0x" + "ff" * 32}], id="one-extra"),
        pytest.param(lambda out: {"jsonrpc": "2.0", "id": None, "result": "0x"}, id="not-a-list"),
    ],
)
def test_batch_read_whose_ids_do_not_match_its_requests_is_asked_again(
    garble: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    """Each request of a batch is answered by the item with its id. A batch answer with one
    missing, one id twice, an id nobody asked for, a null id or an extra item was taken by
    position after web3 sorted it: a short list (a vault's read silently dropped from the lens
    batch, the calls after it shifted onto the wrong vaults) or one request's answer given to
    another. It is a malformed answer: asked again, or elsewhere."""
    with json_rpc_node(_garbled_once(garble)) as node:
        w3 = connect_unhedged(node.url)
        assert _calls(w3, 3) == [bytes.fromhex(_word(i)[2:]) for i in (1, 2, 3)]
    assert node.methods.count("batch") == 2


def test_batch_read_answered_out_of_order_is_put_back_in_request_order() -> None:
    with json_rpc_node(_garbled_once(lambda out: out[::-1])) as node:
        w3 = connect_unhedged(node.url)
        assert _calls(w3, 3) == [bytes.fromhex(_word(i)[2:]) for i in (1, 2, 3)]
    assert node.methods.count("batch") == 1


def _header(number: int) -> dict[str, Any]:
    return {
        "number": hex(number),
        "hash": "0x" + f"{number:064x}",
        "parentHash": "0x" + "00" * 32,
        "timestamp": hex(1_700_000_000 + number),
        "baseFeePerGas": "0x3b9aca00",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "transactions": [],
    }


def _null_latest_once() -> Reply:
    nulls: list[int] = []

    def handler(body: Any) -> Any:
        items = body if isinstance(body, list) else [body]
        out = []
        for req in items:
            if req["method"] == "eth_getBlockByNumber":
                result = _header(100) if len(nulls) else None
                nulls.append(1)
                out.append({"jsonrpc": "2.0", "id": req["id"], "result": result})
            else:
                out.append(answer(req))
        return out if isinstance(body, list) else out[0]

    return handler


def test_a_null_latest_block_is_a_malformed_answer_and_asked_again() -> None:
    """Every node has a latest block: ``null`` for it is garbage (a proxy's empty answer), not
    "no such block". It reached web3 as ``BlockNotFound``, a permanent error: the cycle's cost
    read (``batch_costs``) and the send's nonce-and-base-fee batch failed for good, and the
    loop counted each such cycle toward the breaker."""
    from web3.exceptions import BlockNotFound

    from keeper.chain.retry import is_transient

    assert not is_transient(BlockNotFound("Block with id: 'latest' not found."))
    with json_rpc_node(_null_latest_once()) as node:
        w3 = connect_unhedged(node.url)
        assert w3.eth.get_block("latest")["number"] == 100
    assert [m for m in node.methods if m != "batch"][-2:] == ["eth_getBlockByNumber"] * 2
    with json_rpc_node(_null_latest_once()) as node:
        w3 = connect(node.url)
        with w3.batch_requests() as batch:
            batch.add(w3.eth.get_transaction_count("0x" + "11" * 20, "pending"))
            batch.add(w3.eth.get_block("latest"))
            _, block = batch.execute()
        assert block["number"] == 100  # type: ignore[index]


def test_a_null_block_by_number_is_still_an_answer() -> None:
    """A block above the node's head is ``null``: that is an answer (the reorg check reads it
    so), not a malformed one."""
    from web3.exceptions import BlockNotFound

    def handler(body: Any) -> Any:
        if body["method"] == "eth_getBlockByNumber":
            return {"jsonrpc": "2.0", "id": body["id"], "result": None}
        return answer(body)

    with json_rpc_node(handler) as node:
        w3 = connect_unhedged(node.url)
        with pytest.raises(BlockNotFound):
            w3.eth.get_block(500)
    assert node.methods.count("eth_getBlockByNumber") == 1


@contextmanager
def _ws_upgrade_answered(status: int) -> Iterator[str]:
    """A server that answers a WebSocket upgrade with a plain HTTP ``status``."""

    class Gate(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            error = {"code": -32600, "message": "Must be authenticated!"}
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Gate) as url:
        yield url.replace("http://", "ws://") + "/v2/SECRETKEY"


@pytest.mark.parametrize("status", [401, 403])
def test_connect_websocket_refused_at_its_upgrade_fails_at_once(status: int) -> None:
    """A wss:// URL with a wrong API key is refused at the WebSocket upgrade (an HTTP 401/403).
    That was a ProviderConnectionError ("InvalidStatus"), transient: `keeper run` retried it
    for its whole start-up timeout, then said it could not reach the node."""
    started = time.monotonic()
    with _ws_upgrade_answered(status) as url, deadline(30), pytest.raises(ChainError) as info:
        connect(url)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"refused the request (HTTP {status})" in message
    assert "SECRETKEY" not in message


def test_connect_websocket_upgrade_answered_503_is_retried_and_named() -> None:
    with _ws_upgrade_answered(503) as url, pytest.raises(ChainError) as info:
        connect(url, attempts=2)
    message = str(info.value)
    assert message.startswith("cannot reach RPC at ws://127.0.0.1:")
    assert "HTTP 503" in message
    assert "(gave up after 2 tries" in message


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        pytest.param(
            (
                200,
                {"Content-Type": "text/html; charset=utf-8"},
                "<html><body>It works!</body></html>",
            ),
            "answered a web page (HTTP 200, text/html), not JSON-RPC",
            id="a-web-page",
        ),
        pytest.param(
            (405, {"Content-Type": "text/html"}, "<h1>405 Not Allowed</h1>"), "HTTP 405", id="405"
        ),
        pytest.param((400, {"Content-Type": "text/plain"}, "Bad Request"), "HTTP 400", id="400"),
    ],
)
def test_connect_url_that_is_no_json_rpc_endpoint_fails_at_once(
    reply: tuple[int, dict[str, str], str], said: str
) -> None:
    """An RPC URL that points at a web site (a web page, a 405 to a POST, a bare 400) gets the
    same answer every time; `keeper run` asked again for its whole start-up timeout (60 s)
    before the one line. A node that is down or busy (a 5xx, a cut body) is still waited for."""
    started = time.monotonic()
    with (
        json_rpc_node(lambda body: reply) as node,
        deadline(30),
        pytest.raises(ChainError) as info,
    ):
        connect(node.url)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"RPC at {node.url} ")
    assert said in message
    assert "check the URL" in message
    assert len(node.bodies) == 1


def test_connect_waits_for_a_json_body_cut_short() -> None:
    """A truncated JSON body is a node's answer cut on the way: asked again."""
    cut: tuple[int, dict[str, str], str] = (200, {}, '{"jsonrpc":"2.0","id":')
    with json_rpc_node(lambda body: cut) as node, pytest.raises(ChainError, match="3 tries"):
        connect(node.url, attempts=3)
    assert len(node.bodies) == 3


def test_a_retry_after_is_honoured_for_a_minute_at_most() -> None:
    """A server's ``Retry-After: 86400`` (bogus, or a provider's day-long ban) held its endpoint,
    a lone keeper's only one, for a day: every read failed at once, sending nothing. It holds it
    for ``MAX_RETRY_AFTER_S`` at most; a shorter one as asked."""
    long_ban, asked = EndpointHealth("http://a"), EndpointHealth("http://b")
    long_ban.fail(1_000.0, 86_400.0)
    asked.fail(1_000.0, 7.0)
    assert long_ban.retry_after_until == 1_000.0 + MAX_RETRY_AFTER_S == 1_060.0
    assert long_ban.cooling_until == 1_060.0
    assert asked.retry_after_until == 1_007.0
