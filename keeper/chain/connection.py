"""The one place that builds a web3 connection. Callers pass the result in; nothing is global.

``connect`` accepts ``http(s)://`` and ``ws(s)://`` URLs. web3 8 ships no synchronous WebSocket
provider, so :class:`WebSocketProvider` below speaks JSON-RPC over one ``websockets.sync`` socket
(request/response only; the keeper polls for new blocks instead of subscribing).

Every connection carries an :class:`RpcCounter` middleware, so the runner can report how many
round trips (HTTP requests or WebSocket messages) and JSON-RPC calls each cycle cost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_utils.conversions import to_text
from web3 import HTTPProvider, Web3
from web3._utils.batching import sort_batch_response_by_response_ids
from web3.exceptions import ProviderConnectionError, Web3Exception
from web3.middleware import Web3Middleware
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from keeper.errors import ChainError, ConfigError

logger = logging.getLogger(__name__)


@dataclass
class RpcCounter:
    """Counts JSON-RPC traffic through one ``Web3``.

    Attributes:
        requests: Round trips to the node (a JSON-RPC batch counts once).
        calls: JSON-RPC method calls (a batch of N counts N).
        by_method: Calls per method name.
    """

    requests: int = 0
    calls: int = 0
    by_method: dict[str, int] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        if self.by_method is None:
            self.by_method = {}

    def record(self, methods: Sequence[str]) -> None:
        """Record one round trip carrying ``methods``."""
        with self._lock:
            self.requests += 1
            self.calls += len(methods)
            assert self.by_method is not None
            for m in methods:
                self.by_method[m] = self.by_method.get(m, 0) + 1

    def snapshot(self) -> tuple[int, int]:
        """Return ``(requests, calls)`` so far."""
        with self._lock:
            return self.requests, self.calls


def counting_middleware(counter: RpcCounter) -> type[Web3Middleware]:
    """Build a middleware class that records every request into ``counter``."""

    class _Counting(Web3Middleware):
        def wrap_make_request(self, make_request: Any) -> Any:
            def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                counter.record([str(method)])
                return cast(RPCResponse, make_request(method, params))

            return middleware

        def wrap_make_batch_request(self, make_batch_request: Any) -> Any:
            def middleware(requests_info: list[tuple[RPCEndpoint, Any]]) -> Any:
                counter.record([str(m) for m, _ in requests_info])
                return make_batch_request(requests_info)

            return middleware

    return _Counting


def install_counter(w3: Web3, counter: RpcCounter | None = None) -> RpcCounter:
    """Attach a counting middleware to ``w3`` (outermost layer) and return its counter."""
    counter = counter or RpcCounter()
    w3.middleware_onion.inject(counting_middleware(counter), name="rpc_counter", layer=0)
    return counter


class WebSocketProvider(JSONBaseProvider):
    """A synchronous JSON-RPC provider over one WebSocket (``ws://`` or ``wss://``).

    Thread-safe by a lock: one request in flight at a time, answered in order. Subscriptions are
    not supported (the keeper polls).
    """

    def __init__(self, endpoint_uri: str, timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint_uri = endpoint_uri
        self.timeout_s = timeout_s
        self._conn: ClientConnection | None = None
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return f"WS connection {_redact(self.endpoint_uri)}"

    def _socket(self) -> ClientConnection:
        if self._conn is None:
            try:
                # legacy=True: a long-lived connection, not a context manager (websockets >= 17.1).
                self._conn = ws_connect(
                    self.endpoint_uri, open_timeout=self.timeout_s, max_size=2**26, legacy=True
                )
            except (OSError, WebSocketException, TimeoutError) as exc:
                raise ProviderConnectionError(
                    f"cannot open websocket to {_redact(self.endpoint_uri)}: {type(exc).__name__}"
                ) from None
        return self._conn

    def _roundtrip(self, payload: bytes, expect: Callable[[Any], bool]) -> Any:
        with self._lock:
            conn = self._socket()
            try:
                conn.send(to_text(payload))
                while True:
                    message = conn.recv(timeout=self.timeout_s)
                    decoded = json.loads(message)
                    if expect(decoded):
                        return decoded
                    # Anything else (a stray notification) is skipped.
            except (OSError, WebSocketException, TimeoutError) as exc:
                self.close_locked()
                raise ProviderConnectionError(
                    f"websocket to {_redact(self.endpoint_uri)} failed: {type(exc).__name__}"
                ) from None

    def close_locked(self) -> None:
        """Drop the socket (the next request reconnects). Caller holds the lock."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except (OSError, WebSocketException):
                logger.debug("websocket close failed", exc_info=True)

    def close(self) -> None:
        """Close the socket."""
        with self._lock:
            self.close_locked()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Send one JSON-RPC request and wait for its response."""
        payload = self.encode_rpc_request(method, params)
        request_id = json.loads(payload)["id"]
        response = self._roundtrip(
            payload, lambda d: isinstance(d, dict) and d.get("id") == request_id
        )
        return cast(RPCResponse, response)

    def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        """Send a JSON-RPC batch (one message) and return the responses in request order."""
        payload = self.encode_batch_rpc_request(requests)
        response = self._roundtrip(payload, lambda d: isinstance(d, list | dict) and "id" not in d)
        if not isinstance(response, list):
            return cast(RPCResponse, response)
        return sort_batch_response_by_response_ids(response)

    def is_connected(self, show_traceback: bool = False) -> bool:
        """Whether the node answers ``web3_clientVersion``."""
        try:
            response = self.make_request(RPCEndpoint("web3_clientVersion"), [])
        except ProviderConnectionError:
            if show_traceback:
                raise
            return False
        return "result" in response


def _provider(rpc_url: str, timeout_s: float) -> HTTPProvider | WebSocketProvider:
    if rpc_url.startswith(("http://", "https://")):
        return HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s})
    if rpc_url.startswith(("ws://", "wss://")):
        return WebSocketProvider(rpc_url, timeout_s=timeout_s)
    raise ConfigError(f"unsupported RPC URL scheme: {rpc_url.split('://')[0]!r}")


def connect(
    rpc_url: str | Sequence[str],
    *,
    expected_chain_id: int | None = None,
    timeout_s: float = 10.0,
    counter: RpcCounter | None = None,
) -> Web3:
    """Connect to a JSON-RPC endpoint (HTTP or WebSocket) and check it answers.

    Args:
        rpc_url: ``http(s)://`` or ``ws(s)://`` URL, or several: the first that answers wins.
        expected_chain_id: When given, refuse a node on any other chain.
        timeout_s: Per-request timeout.
        counter: Where to count requests (a fresh :class:`RpcCounter` when omitted); reach it
            afterwards with :func:`rpc_counter`.

    Raises:
        ConfigError: A URL scheme is not supported.
        ChainError: No node can be reached, or it is on the wrong chain.
    """
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    if not urls:
        raise ConfigError("no RPC URL configured")
    providers = [(url, _provider(url, timeout_s)) for url in urls]
    last_error = ""
    for url, provider in providers:
        w3 = Web3(provider)
        try:
            chain_id = w3.eth.chain_id
        except (OSError, Web3Exception, ValueError) as exc:
            # The transport's message repeats the full URL (and any API key): name the type only.
            last_error = f"cannot reach RPC at {_redact(url)}: {type(exc).__name__}"
            if url != urls[-1]:
                logger.warning("%s; trying the next RPC URL", last_error)
            continue
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ChainError(f"RPC is on chain {chain_id}, expected chain {expected_chain_id}")
        # web3's default "validation" middleware asks the node for eth_chainId before every
        # eth_call/eth_estimateGas (several per cycle). The chain id is checked once, here, and
        # every transaction is signed locally with it, so the per-call check only costs RPCs.
        if "validation" in w3.middleware_onion:
            w3.middleware_onion.remove("validation")
        counter = install_counter(w3, counter)
        w3.keeper_rpc_counter = counter  # type: ignore[attr-defined]
        logger.info("connected to chain %d at %s", chain_id, _redact(url))
        return w3
    raise ChainError(last_error)


def rpc_counter(w3: Web3) -> RpcCounter:
    """Return the request counter of a connection built by :func:`connect` (or attach one)."""
    counter = getattr(w3, "keeper_rpc_counter", None)
    if isinstance(counter, RpcCounter):
        return counter
    counter = install_counter(w3)
    w3.keeper_rpc_counter = counter  # type: ignore[attr-defined]
    return counter


def _redact(url: str) -> str:
    """Hide anything after the host: RPC URLs often carry an API key in the path or query."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}"


__all__ = [
    "RpcCounter",
    "WebSocketProvider",
    "connect",
    "install_counter",
    "rpc_counter",
]
