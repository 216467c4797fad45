"""RPC faults at the transport: start-up refusals, rate limits, garbled answers, a cut send.

A real HTTP server on loopback (:func:`tests.rpc_stub.rpc_stub`) or a scripted session stands
in for the node.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from keeper.chain.connection import connect
from keeper.chain.retry import deadline
from keeper.errors import ChainError
from tests.rpc_stub import rpc_stub


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
