"""A JSON-RPC node stub on a free loopback port, for tests of what talks to a node.

Two ways to script it, on one server (:func:`tests.local_http.serving`):

- :func:`json_rpc_node`: ``reply(request)`` gives the whole HTTP answer (any status, headers,
  body, JSON or not), for tests of the transport: rate limits, web pages, garbled batches;
- :func:`rpc_stub`: ``answer(request)`` gives only the JSON-RPC answer's fields, the envelope
  around them filled in.

With ``cors=True`` the node also answers a browser's CORS preflight and allows any origin, as
anvil does, so a page served from another port can use it as its RPC (the browser tests).
"""

from __future__ import annotations

import http.server
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from web3 import Web3

from keeper.chain.connection import connect
from tests.local_http import serving

#: ``reply(request)``: the decoded JSON to answer with (HTTP 200, ``application/json``), or a
#: tuple ``(status, headers, body)``: ``body`` sent as it is when ``str`` or ``bytes``, else as
#: JSON; ``headers`` may set ``Content-Type`` (``application/json`` without it).
Reply = Callable[[Any], Any]

#: ``answer(request)``: the response's fields (``{"result": ...}`` or ``{"error": ...}``), or
#: ``None`` for an HTTP 502 with no body (a gateway that failed). An ``"http_status"`` field is
#: not sent: it is the response's HTTP status (200 without it); a ``"raw_body"`` field is sent
#: alone, as plain text, instead of a JSON-RPC answer (a proxy's "404 page not found").
Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class RpcStub:
    """A running stub: where it listens, and what it was asked, in order.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        bodies: Every request body, decoded (a batch: a list).
        methods: Every request's method (a batch: ``"batch"``).
        times: When each request came, seconds after the stub started.
    """

    url: str = ""
    bodies: list[Any] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def json_rpc_node(reply: Reply, *, cors: bool = False) -> Iterator[RpcStub]:
    """Serve JSON-RPC requests (one or a batch) with ``reply`` until the block ends.

    ``cors``: answer ``OPTIONS`` preflights and allow any origin (see the module docstring).
    """
    allow = {"Access-Control-Allow-Origin": "*"} if cors else {}
    stub = RpcStub()
    started = monotonic()

    class Node(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stub.times.append(monotonic() - started)
            stub.bodies.append(body)
            stub.methods.append(body.get("method", "?") if isinstance(body, dict) else "batch")
            out = reply(body)
            status, headers, raw = out if isinstance(out, tuple) else (200, {}, out)
            if isinstance(raw, bytes):
                data = raw
            else:
                data = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **allow, **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:
            if not cors:
                self.send_error(501)
                return
            self.send_response(204)
            for key, value in {
                **allow,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": self.headers.get(
                    "Access-Control-Request-Headers", "content-type"
                ),
                "Content-Length": "0",
            }.items():
                self.send_header(key, value)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Node) as url:
        stub.url = url
        yield stub


def _enveloped(answer: Answer) -> Reply:
    """``answer``'s fields as the whole HTTP answer (see :data:`Answer`)."""

    def reply(body: Any) -> Any:
        fields = answer(body)
        if fields is None:
            return 502, {}, b""
        status = int(fields.pop("http_status", 200))
        raw = fields.pop("raw_body", None)
        if raw is not None:
            return status, {"Content-Type": "text/plain"}, str(raw)
        return status, {}, {"jsonrpc": "2.0", "id": body.get("id"), **fields}

    return reply


@contextmanager
def rpc_stub(answer: Answer) -> Iterator[RpcStub]:
    """Serve single JSON-RPC requests with ``answer`` (see :data:`Answer`) until the block ends."""
    with json_rpc_node(_enveloped(answer)) as stub:
        yield stub


def connect_unhedged(urls: str | list[str], **kwargs: Any) -> Web3:
    """:func:`~keeper.chain.connection.connect` with no hedged reads, for a test that counts
    the requests a stub was sent.

    A read not answered within the hedge delay (0.25 s) is sent again, by design; on a loaded
    CI machine a loopback stub can take that long, and the count was one more than the test
    meant (a log query "asked twice" by the splitter was the hedge's copy). With the hedge
    delay at the full timeout a read is sent again only after a failure.
    """
    timeout_s = float(kwargs.pop("timeout_s", 10.0))
    return connect(urls, timeout_s=timeout_s, hedge_s=timeout_s, **kwargs)
