"""A fault-injecting JSON-RPC HTTP proxy, to sit between the keeper and anvil.

Each request the keeper sends is faulted with probability ``rate``; the kind is drawn uniformly
from :data:`FAULT_KINDS` by a seeded RNG (one draw per HTTP request, so a JSON-RPC batch is
faulted as a whole, except ``rpc_error``, which errors a random non-empty subset of its calls and
forwards the rest):

========== ==================================================================== =============
kind       what the client sees                                                 node reached
========== ==================================================================== =============
http_500   ``500 Internal Server Error``, empty JSON body                        no
http_502   ``502 Bad Gateway``                                                   no
http_429   ``429 Too Many Requests`` with ``Retry-After: <retry_after_s>``       no
timeout    the answer only after ``delay_s`` (set it past the client timeout)    yes
cut        the status line, headers and half the body, then the socket closes    yes
rpc_error  HTTP 200 with a JSON-RPC error object: -32603 internal error,         no (those
           -32000 "header not found" or -32005 "rate limit exceeded"             calls)
========== ==================================================================== =============

``timeout`` and ``cut`` forward the request first: the node did the work (a sent transaction is
in its pool) and only the answer is lost, which is the "unknown outcome" a sender must resolve.

Two more kinds are opt-in (:data:`EXTRA_KINDS`, the ``harsh`` section), so the default mix and its
numbers stay as they were:

========== ==================================================================== =============
malformed  HTTP 200 whose body is not JSON (the node's answer, garbled half-way)  yes
stale      the answer of a node ``lag_blocks`` behind: ``eth_blockNumber`` and   yes (at the
           every ``latest``/``pending`` tag read ``lag_blocks`` back, a receipt  older block)
           mined since then ``null``
========== ==================================================================== =============

``lag_blocks`` with ``rate=1`` and ``kinds=("stale",)`` makes the whole proxy a node that is
behind: a failover target that lags (``KEEPER_RPC_URLS=<faulty>,<lagging>``).

:class:`SendGate` lets a scenario stop the world at an ``eth_sendRawTransaction``: it is called
before the request is forwarded (and may drop it) and after. The chaos runner SIGKILLs the keeper
there, so a kill lands exactly "after sign, before send" or "after send, before the answer".

Loopback only; port 0 picks a free port. The counters are read with :meth:`FaultProxy.stats`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

logger = logging.getLogger(__name__)

FAULT_KINDS: tuple[str, ...] = ("http_500", "http_502", "http_429", "timeout", "cut", "rpc_error")
#: Opt-in kinds (see the module docstring): a garbled body, and a node that is behind.
EXTRA_KINDS: tuple[str, ...] = ("malformed", "stale")
#: Where each method carries its block tag (the index into ``params``).
_TAG_AT: dict[str, int] = {
    "eth_call": 1,
    "eth_estimateGas": 1,
    "eth_getBalance": 1,
    "eth_getTransactionCount": 1,
    "eth_getCode": 1,
    "eth_getStorageAt": 2,
    "eth_getBlockByNumber": 0,
}
#: The JSON-RPC error objects ``rpc_error`` answers with (one drawn per faulted call).
RPC_ERRORS: tuple[tuple[int, str], ...] = (
    (-32603, "internal error"),
    (-32000, "header not found"),
    (-32005, "rate limit exceeded"),
)


class SendGate(Protocol):
    """Hooks around each request that carries ``eth_sendRawTransaction``."""

    def before(self, calls: list[dict[str, Any]]) -> bool:
        """Called before forwarding; return False to drop the request (the socket closes)."""
        ...

    def after(self, calls: list[dict[str, Any]]) -> None:
        """Called after the node answered, before the answer is written back."""
        ...


@dataclass(frozen=True)
class ProxyStats:
    """What the proxy saw and did."""

    requests: int
    calls: int
    faulted: int
    by_kind: dict[str, int]
    rpc_error_codes: dict[int, int]
    dropped_sends: int
    #: Requests by what they asked: the method, or ``batch:<method>+<method>…`` (sorted, unique).
    by_method: dict[str, int]


class FaultProxy:
    """A threaded HTTP proxy that forwards JSON-RPC to ``upstream`` and injects faults.

    Args:
        upstream: The node's ``http://host:port`` URL.
        rate: Probability in [0, 1] that a request is faulted (settable while running).
        kinds: The fault kinds to draw from (uniformly).
        seed: Seeds the RNG (draws are serialised under a lock, so a run's sequence of fault
            decisions is reproducible for a given sequence of requests).
        delay_s: How long ``timeout`` holds the answer (set it past the client timeout).
        retry_after_s: The ``Retry-After`` header of a 429.
        upstream_timeout_s: Timeout of the forwarded request.
        lag_blocks: How far behind a ``stale`` answer is.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        kinds: tuple[str, ...] = FAULT_KINDS,
        seed: int = 0,
        delay_s: float = 2.5,
        retry_after_s: int = 1,
        upstream_timeout_s: float = 30.0,
        lag_blocks: int = 3,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS + EXTRA_KINDS)
        if unknown or not kinds:
            raise ValueError(
                f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS + EXTRA_KINDS}"
            )
        self.lag_blocks = lag_blocks
        parsed = urllib.parse.urlparse(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.upstream_path = parsed.path or "/"
        self.kinds = tuple(kinds)
        self.delay_s = delay_s
        self.retry_after_s = retry_after_s
        self.upstream_timeout_s = upstream_timeout_s
        self.gate: SendGate | None = None
        self._rate = 0.0
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._requests = 0
        self._calls = 0
        self._by_kind: Counter[str] = Counter()
        self._codes: Counter[int] = Counter()
        self._dropped_sends = 0
        self._by_method: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """The fault probability per request."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {value}")
        self._rate = value

    @property
    def url(self) -> str:
        """The proxy's URL (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> FaultProxy:
        """Listen on ``127.0.0.1:port`` (0: a free port) in a daemon thread."""
        proxy = self

        class Handler(_Handler):
            owner = proxy

        server = _Server(("127.0.0.1", port), Handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        logger.debug("fault proxy on %s -> %s", self.url, self.upstream_host)
        return self

    def stop(self) -> None:
        """Stop listening (requests in flight finish on their daemon threads)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        with self._lock:
            return ProxyStats(
                requests=self._requests,
                calls=self._calls,
                faulted=sum(self._by_kind.values()),
                by_kind={k: self._by_kind.get(k, 0) for k in self.kinds},
                rpc_error_codes=dict(self._codes),
                dropped_sends=self._dropped_sends,
                by_method=dict(self._by_method.most_common()),
            )

    # -- decisions --------------------------------------------------------------------------
    def _draw(
        self, n_calls: int, what: str = "?"
    ) -> tuple[str | None, list[tuple[int, str] | None]]:
        """Pick this request's fault (or None) and, for ``rpc_error``, each call's error."""
        with self._lock:
            self._requests += 1
            self._by_method[what] += 1
            self._calls += n_calls
            if self._rng.random() >= self._rate:
                return None, []
            kind = self._rng.choice(self.kinds)
            self._by_kind[kind] += 1
            errors: list[tuple[int, str] | None] = []
            if kind == "rpc_error":
                hit = [self._rng.random() < 0.5 for _ in range(n_calls)]
                if not any(hit):
                    hit[self._rng.randrange(n_calls)] = True
                for h in hit:
                    err = self._rng.choice(RPC_ERRORS) if h else None
                    if err is not None:
                        self._codes[err[0]] += 1
                    errors.append(err)
            return kind, errors

    def _count_dropped_send(self) -> None:
        with self._lock:
            self._dropped_sends += 1

    def forward(self, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to the node; return its status and body."""
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.upstream_timeout_s
        )
        try:
            conn.request(
                "POST", self.upstream_path, body=body, headers={"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _method(call: dict[str, Any]) -> str:
    """A call's method; an ``eth_call`` also names its 4-byte selector, a block read its tag."""
    method = str(call.get("method", "?"))
    params = call.get("params") or []
    if method == "eth_call" and params and isinstance(params[0], dict):
        data = str(params[0].get("data") or params[0].get("input") or "")
        return f"eth_call({data[:10]})"
    if method == "eth_getBlockByNumber" and params:
        tag = str(params[0])
        return f"eth_getBlockByNumber({tag if not tag.startswith('0x') else 'number'})"
    return method


def _what(calls: list[dict[str, Any]], *, batch: bool) -> str:
    """What a request asked, for :attr:`ProxyStats.by_method`."""
    methods = sorted({_method(c) for c in calls})
    if not batch:
        return methods[0] if methods else "?"
    return "batch:" + "+".join(methods)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: in a burst of new connections (a keeper's
    # parallel reads, on a loaded machine) the kernel dropped the SYNs beyond it, and each such
    # client connected on its retransmit a second later, counted as the keeper's latency.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished (e.g. a SIGKILLed keeper) is expected; anything else is logged."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        logger.warning("fault proxy: error serving %s: %r", client_address, exc)


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: an answer goes out in two sends (headers, body), and with Nagle on the body
    # waited for the client's delayed ACK, ~40 ms a request on a kept-alive connection: the
    # suite counted the harness's latency as the keeper's (tests/unit/test_fault_proxy.py).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default writes every request to stderr."""

    def do_POST(self) -> None:
        """Forward one JSON-RPC request (single or batch), faulting it per the owner's draw."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            payload = None
        calls: list[dict[str, Any]] = (
            [c for c in payload if isinstance(c, dict)]
            if isinstance(payload, list)
            else [payload]
            if isinstance(payload, dict)
            else []
        )
        proxy = self.owner
        kind, errors = proxy._draw(
            max(len(calls), 1), _what(calls, batch=isinstance(payload, list))
        )
        if kind in ("http_500", "http_502", "http_429"):
            status = {"http_500": 500, "http_502": 502, "http_429": 429}[kind]
            extra = {"Retry-After": str(proxy.retry_after_s)} if status == 429 else {}
            self._reply(status, b'{"error":"injected"}', extra)
            return
        if kind == "rpc_error" and calls:
            self._rpc_errors(payload, calls, errors)
            return
        if kind == "stale" and calls:
            self._stale(payload, calls)
            return
        sends = any(c.get("method") == "eth_sendRawTransaction" for c in calls)
        gate = proxy.gate if sends else None
        if gate is not None and not gate.before(calls):
            proxy._count_dropped_send()
            self.close_connection = True
            self._abort()
            return
        try:
            status, answer = proxy.forward(body)
        except OSError:
            self._reply(502, b'{"error":"upstream unreachable"}', {})
            return
        if gate is not None:
            gate.after(calls)
        if kind == "timeout":
            time.sleep(proxy.delay_s)
            self._reply(status, answer, {})
        elif kind == "cut":
            self._cut(status, answer)
        elif kind == "malformed":
            self._reply(status, answer[: max(len(answer) // 2, 1)] + b"\x00garbled", {})
        else:
            self._reply(status, answer, {})

    # -- answers ----------------------------------------------------------------------------
    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (e.g. after a timeout)

    def _cut(self, status: int, body: bytes) -> None:
        """Promise the whole body, send half of it, then close the socket."""
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: max(len(body) // 2, 1)])
            self.wfile.flush()
        except OSError:
            return
        self._abort()

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _rpc_errors(
        self, payload: Any, calls: list[dict[str, Any]], errors: list[tuple[int, str] | None]
    ) -> None:
        """Answer the drawn calls with error objects; forward the others (as a sub-batch)."""

        def error(call: dict[str, Any], err: tuple[int, str]) -> dict[str, Any]:
            return {
                "jsonrpc": "2.0",
                "id": call.get("id"),
                "error": {"code": err[0], "message": err[1]},
            }

        if not isinstance(payload, list):
            err = errors[0] or RPC_ERRORS[0]
            self._reply(200, json.dumps(error(calls[0], err)).encode(), {})
            return
        rest = [c for c, e in zip(calls, errors, strict=True) if e is None]
        by_id: dict[Any, Any] = {}
        if rest:
            try:
                status, answer = self.owner.forward(json.dumps(rest).encode())
            except OSError:
                self._reply(502, b'{"error":"upstream unreachable"}', {})
                return
            parsed = json.loads(answer) if status == 200 else []
            if isinstance(parsed, list):
                by_id = {r.get("id"): r for r in parsed if isinstance(r, dict)}
        out = [
            error(c, e) if e is not None else by_id.get(c.get("id"), error(c, RPC_ERRORS[0]))
            for c, e in zip(calls, errors, strict=True)
        ]
        self._reply(200, json.dumps(out).encode(), {})

    def _stale(self, payload: Any, calls: list[dict[str, Any]]) -> None:
        """Answer as a node ``lag_blocks`` behind would (see the module docstring)."""
        proxy = self.owner
        try:
            _, head_answer = proxy.forward(
                b'{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}'
            )
            head = int(json.loads(head_answer)["result"], 16)
        except (OSError, ValueError, KeyError):
            self._reply(502, b'{"error":"upstream unreachable"}', {})
            return
        behind = max(0, head - proxy.lag_blocks)
        out: list[dict[str, Any]] = []
        for call in calls:
            method = str(call.get("method"))
            rid = call.get("id")
            if method == "eth_blockNumber":
                out.append({"jsonrpc": "2.0", "id": rid, "result": hex(behind)})
                continue
            params = list(call.get("params") or [])
            at = _TAG_AT.get(method)
            if at is not None:
                while len(params) <= at:
                    params.append("latest")
                tag = params[at]
                if tag in ("latest", "pending", "safe", "finalized"):
                    params[at] = hex(behind)
                elif isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) > behind:
                    out.append({"jsonrpc": "2.0", "id": rid, "result": None})  # not seen yet
                    continue
            try:
                _, answer = proxy.forward(json.dumps({**call, "params": params}).encode())
                item = json.loads(answer)
            except (OSError, ValueError):
                self._reply(502, b'{"error":"upstream unreachable"}', {})
                return
            result = item.get("result") if isinstance(item, dict) else None
            if (
                method == "eth_getTransactionReceipt"
                and isinstance(result, dict)
                and int(str(result.get("blockNumber") or "0x0"), 16) > behind
            ):
                item = {"jsonrpc": "2.0", "id": rid, "result": None}  # not seen yet
            out.append(item)
        body = out if isinstance(payload, list) else out[0]
        self._reply(200, json.dumps(body).encode(), {})
