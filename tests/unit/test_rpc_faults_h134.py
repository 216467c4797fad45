"""RPC faults, part three: a rate limit at start-up, garbled quantities, malformed envelopes.

A real HTTP server on loopback stands in for the node where start-up (:func:`connect`) talks to
it; a scripted session (:class:`tests.unit.test_rpc_faults.Session`) elsewhere.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from keeper.chain.connection import connect
from keeper.chain.retry import deadline
from keeper.errors import ChainError

#: ``reply(request, seconds since the node started)``: ``(status, headers, JSON body)``.
Reply = Callable[[dict[str, Any], float], tuple[int, dict[str, str], Any]]


@contextmanager
def node(reply: Reply) -> Iterator[tuple[str, list[float]]]:
    """A JSON-RPC node on a free loopback port: its URL, and when each request came (seconds)."""
    started = time.monotonic()
    seen: list[float] = []

    class Node(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            now = time.monotonic() - started
            seen.append(now)
            status, headers, answer = reply(body, now)
            out = json.dumps(answer).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def rate_limited_until(until_s: float, retry_after: str, chain_id: int = 31337) -> Reply:
    """429 with ``Retry-After`` for ``until_s`` seconds, then the chain id."""

    def reply(req: dict[str, Any], now: float) -> tuple[int, dict[str, str], Any]:
        if now < until_s:
            return 429, {"Retry-After": retry_after}, {"message": "Too Many Requests"}
        return 200, {}, {"jsonrpc": "2.0", "id": req["id"], "result": hex(chain_id)}

    return reply


# -- a 429 at start-up ---------------------------------------------------------------------------
def test_connect_waits_out_a_429s_retry_after_before_asking_again() -> None:
    """A 429 answered to the chain id at start-up was asked again a second later, whatever its
    Retry-After said: three requests into a 2 s rate limit. Start-up waits as asked, then asks
    once."""
    with node(rate_limited_until(1.8, "2")) as (url, seen), deadline(30):
        w3 = connect(url)
    assert w3.provider is not None
    assert len(seen) == 2, seen
    assert seen[1] - seen[0] >= 1.9


def test_connect_fails_at_once_when_retry_after_passes_the_start_up_deadline() -> None:
    """A Retry-After longer than start-up has left: no request can succeed in time, so start-up
    ends at once, in one line that says why, instead of asking every second until the end."""
    started = time.monotonic()
    with (
        node(rate_limited_until(1e9, "30")) as (url, seen),
        deadline(5),
        pytest.raises(ChainError) as info,
    ):
        connect(url)
    assert time.monotonic() - started < 1.5
    assert len(seen) == 1
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"RPC at {url} asked to wait 30s (HTTP 429, Retry-After), more ")


def test_a_retry_after_longer_than_max_is_held_to_max_at_start_up() -> None:
    """A bogus day-long Retry-After is held for MAX_RETRY_AFTER_S (60 s) at most, as after
    start-up: past a start-up deadline of 5 s, so it ends at once, saying 60 s."""
    with (
        node(rate_limited_until(1e9, "86400")) as (url, _),
        deadline(5),
        pytest.raises(ChainError, match=r"wait 60s"),
    ):
        connect(url)


def test_an_endpoint_rate_limited_at_start_up_is_not_read_before_its_retry_after() -> None:
    """With two endpoints, one answering 429 with Retry-After at start-up: the keeper starts on
    the other, and its first reads go there, not to the one that asked to be left alone."""
    with (
        node(rate_limited_until(1e9, "30")) as (limited, limited_seen),
        node(rate_limited_until(0, "0")) as (fine, fine_seen),
        deadline(10),
    ):
        w3 = connect([limited, fine])
        assert len(limited_seen) == 1
        assert w3.eth.chain_id == 31337
        assert len(limited_seen) == 1
        assert len(fine_seen) >= 2  # its chain id, the read (and maybe a head probe)
