"""RPC faults at the transport: start-up refusals, rate limits, garbled answers, a cut send.

A real HTTP server on loopback (:func:`tests.rpc_stub.rpc_stub`) or a scripted session stands
in for the node.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from keeper.chain.connection import connect
from keeper.chain.retry import RpcUnavailableError, deadline
from keeper.errors import ChainError
from tests.rpc_stub import rpc_stub
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
