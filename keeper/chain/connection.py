"""The one place that builds a web3 connection. Callers pass the result in; nothing is global.

``connect`` accepts ``http(s)://`` and ``ws(s)://`` URLs. web3 8 ships no synchronous WebSocket
provider, so :class:`WebSocketProvider` below speaks JSON-RPC over one ``websockets.sync`` socket
(request/response only; the keeper polls for new blocks instead of subscribing).

Every connection goes through a :class:`FailoverProvider`: several endpoints with health scoring,
hedged reads (a slow read gets a concurrent second request; the first good answer wins), retries
of transient read failures under the per-cycle deadline (:mod:`keeper.chain.retry`), never a
retried or hedged send, and raw transactions to a separate (private) URL when one is set.

Every connection carries an :class:`RpcCounter` middleware, so the runner can report how many
round trips (HTTP requests or WebSocket messages) and JSON-RPC calls each cycle cost.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast
from urllib.parse import urlsplit

import requests
from eth_utils.conversions import to_text
from urllib3.exceptions import NewConnectionError
from web3 import Web3
from web3._utils.batching import sort_batch_response_by_response_ids
from web3.exceptions import ProviderConnectionError, Web3Exception
from web3.middleware import Web3Middleware
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from keeper.chain.retry import (
    LogQueryTooLargeError,
    RpcUnavailableError,
    backoff_s,
    is_transient,
    log_query_too_large,
    remaining_s,
    retry_after_s,
    rpc_error_is_answer,
    rpc_error_is_transient,
)
from keeper.chain.urls import check_rpc_url, check_rpc_urls, lower_scheme
from keeper.errors import ChainError, ConfigError, first_line

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


def _answers(sent: Any) -> Callable[[Any], bool]:
    """Whether a WebSocket message answers ``sent`` (a decoded request or batch).

    Its answer by id (a batch's: a list), or an error the node could not tie to a request
    (``"id": null`` or none: a parse error, a refused request, a gateway's rate limit): one
    request is in flight on a socket at a time, so that error is its answer. Anything else (a
    stray notification, a late answer) is skipped.
    """

    def answers(message: Any) -> bool:
        if isinstance(message, dict) and "error" in message and message.get("id") is None:
            return True
        if isinstance(sent, list):
            return isinstance(message, list)
        return isinstance(message, dict) and message.get("id") == sent.get("id")

    return answers


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
        return f"WS connection {redact_url(self.endpoint_uri)}"

    def _socket(self) -> ClientConnection:
        if self._conn is None:
            try:
                # legacy=True: a long-lived connection, not a context manager (websockets >= 17.1).
                self._conn = ws_connect(
                    self.endpoint_uri, open_timeout=self.timeout_s, max_size=2**26, legacy=True
                )
            except InvalidStatus as exc:
                # The upgrade answered with a plain HTTP status: a 401/403/404 refuses the
                # caller (a wrong API key or path), as over HTTP, and no retry changes it.
                status = exc.response.status_code
                where = redact_url(self.endpoint_uri)
                if status in (401, 403, 404):
                    answer = requests.Response()
                    answer.status_code = status
                    raise requests.HTTPError(
                        f"{status} Client Error: websocket upgrade refused at {where}",
                        response=answer,
                    ) from None
                raise ProviderConnectionError(
                    f"cannot open websocket to {where}: HTTP {status}"
                ) from None
            except (OSError, WebSocketException, TimeoutError) as exc:
                where = redact_url(self.endpoint_uri)
                raise ProviderConnectionError(
                    f"cannot open websocket to {where}: {type(exc).__name__}"
                ) from None
        return self._conn

    def _roundtrip(self, payload: bytes, expect: Callable[[Any], bool]) -> Any:
        with self._lock:
            conn = self._socket()
            try:
                conn.send(to_text(payload))
                while True:
                    message = conn.recv(timeout=self.timeout_s)
                    try:
                        decoded = json.loads(message)
                    except ValueError as exc:
                        # Cut short or garbled on the way: the answer never arrived (transient,
                        # as an unreadable HTTP body is), and what follows on this socket cannot
                        # be trusted to answer the next request.
                        self.close_locked()
                        raise ProviderConnectionError(
                            f"unreadable message from {redact_url(self.endpoint_uri)}: "
                            f"{type(exc).__name__}"
                        ) from None
                    if expect(decoded):
                        return decoded
                    # Anything else (a stray notification) is skipped.
            except (OSError, WebSocketException, TimeoutError) as exc:
                self.close_locked()
                raise ProviderConnectionError(
                    f"websocket to {redact_url(self.endpoint_uri)} failed: {type(exc).__name__}"
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
        response = self._roundtrip(payload, _answers(json.loads(payload)))
        return cast(RPCResponse, response)

    def make_batch_request(
        self, requests: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        """Send a JSON-RPC batch (one message) and return the responses in request order."""
        payload = self.encode_batch_rpc_request(requests)
        response = self._roundtrip(payload, _answers(json.loads(payload)))
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


#: Methods that only read: retried and failed over. Anything else (sends, ``anvil_*``,
#: ``evm_*``) is sent once, to one endpoint.
READ_METHODS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
        "eth_syncing",
        "net_version",
        "web3_clientVersion",
    }
)
#: Methods routed to the send URL when one is configured.
SEND_METHODS = frozenset({"eth_sendRawTransaction"})


def _json_rpc_in_error_status(resp: requests.Response) -> Any | None:
    """The JSON-RPC answer some providers send with an HTTP 4xx or 5xx, else ``None``.

    A refused send ("nonce too low", "already known") in a 400's body is the node's answer, and
    the sender must read it as one: raised as an HTTP error, only "400 Client Error" reached it.
    A 429 is left to ``raise_for_status`` (a rate limit: retried, its ``Retry-After`` honoured),
    and so is a 4xx whose body is not a JSON-RPC response (an error page, a bare JSON object).

    Some providers answer a revert or invalid parameters with status 500 and a JSON-RPC error
    body: read as the 500, it was retried on every endpoint until the deadline and its reason
    lost. A 5xx whose every item is a JSON-RPC error object that answers the request itself
    (:func:`~keeper.chain.retry.rpc_error_is_answer`: a revert, invalid parameters, a refused
    send) is that answer; any other 5xx body (no JSON, no JSON-RPC error, a busy node's error, a
    gateway's own "no backends available" or "gateway timeout", which may follow a send the node
    took) stays the transient HTTP error: failed over, its ``Retry-After`` honoured, a send's
    outcome unknown.
    """
    status = resp.status_code
    if not 400 <= status < 600 or status == 429:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None

    def answers(item: Any) -> bool:
        """A 4xx: any JSON-RPC response; a 5xx: only an error that answers the request."""
        if not (isinstance(item, dict) and "jsonrpc" in item):
            return False
        if status < 500:
            return "error" in item or "result" in item
        error = item.get("error")
        return (
            _error_object(error)
            and rpc_error_is_answer(error)
            and not rpc_error_is_transient(error)
        )

    items = body if isinstance(body, list) else [body]
    return body if items and all(answers(i) for i in items) else None


#: HTTP statuses that refuse the caller (a wrong or spent API key), whatever the body says.
REFUSAL_STATUSES = frozenset({401, 403})


class _RefusalAnswerError(requests.HTTPError):
    """A JSON-RPC answer sent with an HTTP 401/403 (Alchemy's "Must be authenticated!").

    Raised by the transport: a read takes it as the endpoint's refusal (:func:`_refused`) and
    goes to the others. A send, a one-off request and the chain-id check at connect read its
    ``answer`` as the node's (:func:`_post_answer`).
    """

    def __init__(self, message: str, response: requests.Response, answer: Any) -> None:
        super().__init__(message, response=response)
        self.answer = answer


def _post_answer(transport: _Transport, payload: bytes, timeout_s: float) -> Any:
    """``transport.post``, with a JSON-RPC answer in an HTTP 401/403 returned as the answer."""
    try:
        return transport.post(payload, timeout_s)
    except _RefusalAnswerError as exc:
        return exc.answer


class NotJsonAnswerError(requests.exceptions.ChunkedEncodingError):
    """An HTTP answer whose body is not JSON: transient like a cut body, and said in its words."""


class _Transport:
    """One round trip to one endpoint with a per-call timeout; returns the decoded JSON."""

    def __init__(self, url: str, timeout_s: float, session: requests.Session | None) -> None:
        self.url = url
        self._ws = WebSocketProvider(url, timeout_s=timeout_s) if url.startswith("ws") else None
        self.is_http = self._ws is None
        self._session = session if session is not None else requests.Session()

    def post(self, payload: bytes, timeout_s: float) -> Any:
        """Send ``payload`` and return the decoded answer.

        A JSON-RPC answer sent with an HTTP 401/403 is raised as :class:`_RefusalAnswerError`
        (an ``HTTPError`` in the provider's own words, the answer with it).
        """
        if self._ws is not None:
            return self._ws._roundtrip(payload, _answers(json.loads(payload)))
        try:
            resp = self._session.post(
                self.url,
                data=payload,
                headers={"Content-Type": "application/json"},
                timeout=timeout_s,
            )
            answer = _json_rpc_in_error_status(resp)
            if answer is None:
                resp.raise_for_status()
        except requests.RequestException as exc:
            # requests names the URL in its messages ("... for url: https://host/v2/<key>",
            # "Max retries exceeded with url: /v2/<key>"), and these messages reach the logs
            # and the alerts: the same exception (type, response) with the URL's secrets out.
            clean = type(exc)(scrub_url(str(exc), self.url), response=exc.response)
            clean.never_connected = _never_connected(exc)  # type: ignore[attr-defined]
            raise clean from None
        if answer is not None:
            if resp.status_code in REFUSAL_STATUSES:
                first = answer[0] if isinstance(answer, list) else answer
                error = first.get("error") if isinstance(first, dict) else None
                said = ""
                if isinstance(error, dict):
                    message = scrub_url(str(error.get("message", ""))[:120], self.url)
                    said = f": JSON-RPC error {error.get('code')}: {message}"
                raise _RefusalAnswerError(f"{resp.status_code} Client Error{said}", resp, answer)
            return answer
        try:
            return resp.json()
        except ValueError:
            # A body cut short or garbled on the way (the node's answer never arrived: retried),
            # or a URL that is no JSON-RPC endpoint at all (a web page), said as such at the end.
            kind = resp.headers.get("Content-Type", "no Content-Type").split(";")[0].strip()
            raise NotJsonAnswerError(
                f"the answer is not JSON (HTTP {resp.status_code}, {kind}): "
                "a body cut short, or no JSON-RPC endpoint at this URL"
            ) from None

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


#: A read probes an endpoint whose head it last heard longer ago than this (see
#: :class:`FailoverProvider`): well inside :data:`HEAD_TTL_S`, so every endpoint's head stays
#: fresh while reads go on.
HEAD_PROBE_S = 2.5
#: Most heads kept per endpoint for :meth:`EndpointHealth.behind`.
HEAD_HISTORY = 32
#: The longest ``Retry-After`` an endpoint is held for, seconds: past it the endpoint is asked
#: again (and held again if it refuses again).
MAX_RETRY_AFTER_S = 60.0


@dataclass
class EndpointHealth:
    """The health score of one endpoint: recent failures and a latency average.

    Attributes:
        url: The endpoint (redacted when printed).
        failures: Failures in a row (0 after a success).
        latency_s: Exponentially weighted mean latency of successful calls.
        cooling_until: ``time.monotonic()`` before which it is tried only if nothing else is.
        served: Successful calls.
        failed: Failed calls.
        by_method: Mean latency per JSON-RPC method.
        retry_after_until: Before this, the server asked not to be asked again (429/503).
        head: The head block number it last answered (``eth_blockNumber``, the ``latest``
            block), and ``head_at``, when (``time.monotonic()``); ``head_sent``, when the
            request that told it was sent.
        heads: The heads it answered within :data:`HEAD_TTL_S`: ``(answered at, head)``.
    """

    url: str
    failures: int = 0
    latency_s: float = 0.0
    cooling_until: float = 0.0
    served: int = 0
    failed: int = 0
    by_method: dict[str, float] = field(default_factory=dict)
    retry_after_until: float = 0.0
    head: int | None = None
    head_at: float = 0.0
    head_sent: float = 0.0
    heads: list[tuple[float, int]] = field(default_factory=list)

    def score(
        self, now: float, behind: bool = False, unmeasured_s: float = 0.0
    ) -> tuple[bool, bool, bool, float]:
        """Sort key: lower is better (not cooling, not in a Retry-After, not behind, faster).

        Failures rank an endpoint down through its cool-down, which grows with each failure in
        a row. Once it is over the endpoint competes again: ranked by its failure count instead,
        an endpoint that failed once lost every read to the others for good (only a success
        resets the count, and it was never asked again), and a keeper whose failover node lags
        ran blocks behind the chain from one failed request on. ``behind``: see :meth:`behind`.

        An endpoint that never answered has no latency: it counts as ``unmeasured_s`` (the
        provider passes the measured endpoints' mean), neither first nor last. As 0 it ranked
        first, and the read after the primary's first answer went elsewhere however fast the
        primary was; as last, a primary that failed its first request would never get the
        reads back after its cool-down.
        """
        latency = self.latency_s if self.served else unmeasured_s
        return (self.cooling_until > now, self.retry_after_until > now, behind, latency)

    def fresh_head(self, now: float) -> int | None:
        """The head it answered within :data:`HEAD_TTL_S`, else ``None``."""
        return self.head if self.head is not None and now - self.head_at <= HEAD_TTL_S else None

    def behind(self, now: float, others: Sequence[EndpointHealth]) -> bool:
        """Whether its head lags a head another endpoint answered before it was asked.

        Its head, heard within :data:`HEAD_TTL_S`, is more than :data:`LAG_TOLERANCE` blocks
        below a head another endpoint had *already answered when the request that told it was
        sent*. Causal, so that two endpoints level with the chain, heard at different moments (the
        keeper's own reads, head probes), never rank each other down: the later answer may
        hold blocks the earlier could not. A head heard longer ago counts for nothing, so an
        endpoint is never ranked down for good by an old answer.
        """
        mine = self.fresh_head(now)
        if mine is None:
            return False
        for other in others:
            if other is self:
                continue
            for answered, head in other.heads:
                fresh = now - answered <= HEAD_TTL_S
                if fresh and answered <= self.head_sent and head - mine > LAG_TOLERANCE:
                    return True
        return False

    def saw_head(self, number: int, now: float, sent: float | None = None) -> None:
        """Record the head it answered at ``now``, to a request sent at ``sent`` (or ``now``)."""
        self.head, self.head_at = number, now
        self.head_sent = now if sent is None else sent
        self.heads = [(t, h) for t, h in self.heads if now - t <= HEAD_TTL_S][-(HEAD_HISTORY - 1) :]
        self.heads.append((now, number))

    def ok(self, seconds: float, method: str = "") -> None:
        """Record a success of ``method`` that took ``seconds``."""
        self.failures = 0
        self.served += 1
        self.latency_s = seconds if self.served == 1 else 0.8 * self.latency_s + 0.2 * seconds
        if method:
            last = self.by_method.get(method)
            self.by_method[method] = seconds if last is None else 0.8 * last + 0.2 * seconds

    def expected_s(self, method: str) -> float:
        """The mean latency of ``method`` here (of any call, before the first of it)."""
        return self.by_method.get(method, self.latency_s)

    def fail(self, now: float, retry_after: float | None = None) -> None:
        """Record a failure: cool down for longer each time (and at least ``retry_after``).

        A ``Retry-After`` is honoured for :data:`MAX_RETRY_AFTER_S` at most: a bogus or
        day-long one would otherwise silence a keeper with one endpoint for as long.
        """
        if retry_after is not None:
            retry_after = min(retry_after, MAX_RETRY_AFTER_S)
        self.failures += 1
        self.failed += 1
        cool = min(30.0, 0.25 * 2 ** min(self.failures - 1, 8))
        self.cooling_until = now + max(cool, retry_after or 0.0)
        if retry_after:
            self.retry_after_until = now + retry_after


class _BusyAnswerError(RpcUnavailableError):
    """An endpoint answered with a transient JSON-RPC error object (ask again, or elsewhere).

    Transient wherever it surfaces: a read asks again, and a send (whose chain-id check of an
    endpoint :func:`connect` could not ask raises it before anything is sent) is an unknown
    outcome settled by nonce and receipt, never a systemic failure.
    """


class _WrongChainError(ChainError):
    """An endpoint connect could not ask is on another chain: it is never used (permanent)."""


class FailoverProvider(JSONBaseProvider):
    """JSON-RPC over several endpoints: failover, health scoring and hedged reads.

    - **Reads** (:data:`READ_METHODS`) are *hedged*: the read goes to the healthiest endpoint,
      and if no answer came within the hedge delay (``max(hedge_s, 4 x`` that endpoint's mean
      latency for the method``)``, at most ``timeout_s``), the same read goes also to the next
      healthy endpoint (with a single HTTP endpoint: to the same one again), while the first
      stays in flight; the first good answer wins, and the slower attempts finish in the
      background (their outcome still scores their endpoint). At most :attr:`max_inflight`
      attempts of one read run at once. A transient failure (see :mod:`keeper.chain.retry`)
      launches the next attempt at once; when nothing is in flight and every endpoint is
      cooling down it backs off with jitter first. An endpoint whose server sent a
      ``Retry-After`` (HTTP 429/503) ranks last and is not asked again before it ends, by this
      read or any later one; a read that would have to wait for it past the deadline (without
      one: past ``timeout_s``) fails at once, sending nothing. Every attempt
      has the full ``timeout_s`` (clipped to the deadline). An HTTP refusal (a bare 401, 403,
      404: a wrong API key or path; a 401/403 with a JSON-RPC error in its body, as Alchemy and
      Infura refuse a key) is the endpoint's, not the read's: the endpoint cools down
      and the read goes to the others, failing with that error only when every endpoint
      refused it. Attempts stop at the current
      :func:`~keeper.chain.retry.deadline` (or ``attempts`` per endpoint when no deadline is
      set; at most 10 per endpoint under one), with
      :class:`~keeper.chain.retry.RpcUnavailableError`.
    - **Sends** (``eth_sendRawTransaction``) go once to ``send_url`` if set (a private RPC),
      else to the healthiest endpoint, and are never retried nor hedged: the journaled sender
      resolves an unknown outcome by nonce and receipt.
    - Anything else (``anvil_*``, ``evm_*``) goes once to the healthiest endpoint.
    - **Chain ids**: an endpoint :func:`connect` could not ask for its chain id (down at start)
      is asked before its first use (a read, a send, a head probe). On another chain it is
      never used; still down, that use fails as the endpoint's (transient) failure.
    - **Head probes** (with ``head_probe_s``, and two or more HTTP endpoints): a read first asks,
      in the background (``eth_blockNumber``), every HTTP endpoint that is not cooling down and
      whose head was last heard more than ``head_probe_s`` ago (each at most once per
      ``head_probe_s``, and never while its last probe is in flight). Without them an endpoint
      no read asked for its head had none to compare, so a lagging one was never ranked down: a
      faster failover node 3 blocks behind kept every read for good.

    Args:
        urls: The read endpoints, in order of preference.
        send_url: Where raw transactions go (``None``: the read endpoints).
        timeout_s: The full per-request timeout.
        hedge_s: The floor of the hedge delay (it adapts upwards to each method's observed
            latency).
        attempts: Read attempts per endpoint.
        session: A ``requests.Session`` (tests pass a fake).
        sleep: Injected for tests.
        head_probe_s: How old an endpoint's head may be before a read probes it (``None``: no
            probes; tests of exact request sequences turn them off).
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        send_url: str | None = None,
        timeout_s: float = 10.0,
        hedge_s: float = 1.0,
        attempts: int = 3,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        head_probe_s: float | None = HEAD_PROBE_S,
    ) -> None:
        super().__init__()
        if not urls:
            raise ConfigError("no RPC URL configured")
        try:  # the settings' rule (keeper.chain.urls): a URL given here is held to it too
            check_rpc_urls(urls)
            if send_url:
                check_rpc_url(send_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # HTTP:// is http:// (RFC 3986 3.1): the transports and the logs meet one spelling.
        urls = [lower_scheme(u) for u in urls]
        send_url = lower_scheme(send_url) if send_url else send_url
        self.endpoint_uri = urls[0]
        self.timeout_s = timeout_s
        self.hedge_s = min(hedge_s, timeout_s)
        self.attempts = max(1, attempts)
        #: Most attempts of one read in flight at once (the primary and its hedges).
        self.max_inflight = max(2, len(urls))
        self._sleep = sleep
        self._transports = [_Transport(u, timeout_s, session) for u in urls]
        self.health = [EndpointHealth(u) for u in urls]
        self._send = _Transport(send_url, timeout_s, session) if send_url else None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        http = sum(1 for t in self._transports if t.is_http)
        self.head_probe_s = head_probe_s if http >= 2 else None
        #: When each endpoint was last probed for its head (``time.monotonic()``), and the
        #: endpoints with a probe still in flight (never a second one: a black-holed endpoint
        #: would otherwise hold a worker per probe until each timed out).
        self._probed_at = [-math.inf] * len(urls)
        self._probing: set[int] = set()
        #: The chain :func:`connect` checked (``None``: not checked, nothing is); the endpoints
        #: it could not ask (an index; ``len(urls)``: the send URL), and those on another chain.
        self.chain_id: int | None = None
        self._unchecked: set[int] = set()
        self._wrong_chain: dict[int, int] = {}
        #: Endpoints (by index as in ``_unchecked``) that answered :meth:`chain_ids` with a
        #: ``Retry-After``: until when (``time.monotonic()``), and that answer.
        self._held: dict[int, tuple[float, str]] = {}

    def __str__(self) -> str:
        return f"RPC {', '.join(redact_url(h.url) for h in self.health)}"

    def _order(self) -> list[int]:
        """The endpoints, healthiest first (never one on another chain)."""
        now = time.monotonic()
        with self._lock:
            measured = [h.latency_s for h in self.health if h.served]
            neutral = sum(measured) / len(measured) if measured else 0.0
            keys = [
                (h.score(now, h.behind(now, self.health), neutral), i)
                for i, h in enumerate(self.health)
                if i not in self._wrong_chain
            ]
        return [i for _, i in sorted(keys)]

    def adopt_chain(self, chain_id: int, answers: Sequence[tuple[str, int | None, str]]) -> None:
        """Remember the chain :func:`connect` checked, and the endpoints it could not ask.

        ``answers`` is :meth:`chain_ids`'s, in its order (the read endpoints, then the send
        URL): each endpoint without a chain id there is asked before its first use.
        """
        with self._lock:
            self.chain_id = chain_id
            self._unchecked = {i for i, (_, cid, _) in enumerate(answers) if cid is None}

    def _check_chain(self, i: int, timeout: float) -> None:
        """Ask endpoint ``i`` (``len(urls)``: the send URL) its chain id, if not known yet.

        Raises:
            _WrongChainError: It is on another chain (from now on it is never used).
            _BusyAnswerError: It answered no chain id (it cools down as after a failure).
            Exception: The transport's error (it is down still).
        """
        transport = self._send if i == len(self._transports) else self._transports[i]
        assert transport is not None
        with self._lock:
            expected, theirs = self.chain_id, self._wrong_chain.get(i)
            if theirs is None and (expected is None or i not in self._unchecked):
                return
        if theirs is None:
            payload = self.encode_rpc_request(RPCEndpoint("eth_chainId"), [])
            response = transport.post(payload, timeout)
            result = response.get("result") if isinstance(response, dict) else None
            # Not a quantity (``-0x1``: int() reads it as -1, another chain for good): garbled.
            theirs = int(result, 16) if _is_quantity(result) else None
            if theirs is None:  # an error, or not a number: ask again later
                raise _BusyAnswerError(f"no chain id from {redact_url(transport.url)}")
            with self._lock:
                self._unchecked.discard(i)
                if theirs != expected:
                    self._wrong_chain[i] = theirs
            if theirs == expected:
                return
            logger.error(
                "RPC at %s is on chain %d, expected chain %s: it is not used",
                redact_url(transport.url),
                theirs,
                expected,
            )
        raise _WrongChainError(
            f"RPC at {redact_url(transport.url)} is on chain {theirs}, expected chain {expected}"
        )

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Abandoned attempts run on until their timeout: room for a few of them.
                self._pool = ThreadPoolExecutor(
                    max_workers=4 * self.max_inflight, thread_name_prefix="rpc-hedge"
                )
            return self._pool

    def _attempt(
        self,
        i: int,
        payload: bytes,
        method: str,
        timeout: float,
        methods: Mapping[Any, str],
        probe: bool = False,
    ) -> Any:
        """One read attempt on endpoint ``i`` (a worker thread); scores the endpoint.

        ``methods`` maps a batch's request ids to their methods (empty for one request). A head
        ``probe`` that succeeds records the head only: a cheap ``eth_blockNumber`` says nothing
        of the endpoint's latency for reads, nor that its reads stopped failing.
        """
        health, transport = self.health[i], self._transports[i]
        try:
            self._check_chain(i, timeout)
            started = time.monotonic()
            response = transport.post(payload, timeout)
        except Exception as exc:
            if is_transient(exc) or _refused(exc) or isinstance(exc, _BusyAnswerError):
                with self._lock:
                    health.fail(time.monotonic(), retry_after_s(exc))
            raise
        too_large = _log_query_too_large(response) if method == "eth_getLogs" else None
        if too_large is not None:
            # An answer, not a fault (the endpoint is not scored): the same query fails the same
            # way here and elsewhere, so it is not asked again. The caller narrows the range.
            words = " ".join(scrub_url(str(too_large.get("message", "")), transport.url).split())
            said = f"JSON-RPC error {too_large.get('code')}: {words[:160]}"
            raise LogQueryTooLargeError(f"eth_getLogs query too large for the RPC ({said})", said)
        error = _transient_error(response)
        if error is not None:
            with self._lock:
                health.fail(time.monotonic())
            raise _BusyAnswerError(f"JSON-RPC error {error.get('code')}: {error.get('message')}")
        bad = _malformed(response, method, methods, None if methods else _sent_id(payload))
        if bad is None and _null_latest(payload, response, method):
            bad = "eth_getBlockByNumber (a null latest block)"
        if bad is not None:
            # An envelope whose result cannot be what was asked (a block without its number, a
            # null count): the endpoint or a proxy on the way is broken. Ask again, or elsewhere.
            with self._lock:
                health.fail(time.monotonic())
            raise _BusyAnswerError(f"malformed answer to {bad}")
        head = _head_of(payload, response, method)
        with self._lock:
            now = time.monotonic()
            if not probe:
                health.ok(now - started, method)
            if head is not None:
                health.saw_head(head, now, started)
            behind = (
                method in NOT_YET_METHODS
                and isinstance(response, dict)
                and response.get("result", 0) is None
                and health.behind(now, self.health)
            )
            if behind:
                # "Not yet" from an endpoint behind the others is no answer: the transaction
                # may be in a block it does not have. It cools down, and the read goes elsewhere
                # or waits for the others' cool-down; if only it answers, the read fails
                # (transient) rather than report a mined transaction as missing.
                health.fail(now)
        if behind:
            raise _BusyAnswerError(f"no {method} answer from an endpoint behind the best head")
        return response

    def best_head(self) -> int | None:
        """The highest head any endpoint answered within :data:`HEAD_TTL_S`, else ``None``."""
        with self._lock:
            return self._best_head(time.monotonic())

    def _best_head(self, now: float) -> int | None:
        """The highest head any endpoint answered within :data:`HEAD_TTL_S` (call locked)."""
        return max(
            (h for h in (e.fresh_head(now) for e in self.health) if h is not None), default=None
        )

    def _pick(self, busy: Collection[int], refused: Collection[int] = ()) -> int:
        """The healthiest endpoint with no attempt of this read in flight, if any.

        With every endpoint busy: the healthiest HTTP one again (a duplicate request; a
        WebSocket endpoint answers one request at a time, so a duplicate there would only queue).
        Never one in ``refused`` (it refused this read: see :func:`_refused`).
        """
        order = [i for i in self._order() if i not in refused]
        for i in order:
            if i not in busy:
                return i
        for i in order:
            if self._transports[i].is_http:
                return i
        return -1

    def _first_checked(self, timeout: float) -> int:
        """The healthiest endpoint, its chain id checked (see :meth:`_check_chain`).

        Raises:
            _WrongChainError: Every endpoint is on another chain.
        """
        for i in self._order():
            try:
                self._check_chain(i, timeout)
            except _WrongChainError:
                continue
            return i
        raise _WrongChainError("every RPC endpoint is on another chain than the one connected")

    def _once(self, payload: bytes, method: str) -> Any:
        """Anything but a read: once, to the healthiest endpoint, never retried."""
        i = self._first_checked(self.timeout_s)
        health, transport = self.health[i], self._transports[i]
        left = remaining_s()
        timeout = self.timeout_s if left is None else min(self.timeout_s, max(left, self.hedge_s))
        started = time.monotonic()
        response = _post_answer(transport, payload, timeout)
        with self._lock:
            health.ok(time.monotonic() - started, method)
        return response

    def _probe_heads(self) -> None:
        """Ask, in the background, each endpoint whose head is not known lately for it."""
        every = self.head_probe_s
        if every is None:
            return
        now = time.monotonic()
        due: list[int] = []
        with self._lock:
            for i, health in enumerate(self.health):
                if (
                    self._transports[i].is_http
                    and i not in self._wrong_chain
                    and i not in self._probing
                    and health.cooling_until <= now
                    and now - health.head_at > every
                    and now - self._probed_at[i] > every
                ):
                    self._probed_at[i] = now
                    self._probing.add(i)
                    due.append(i)
        if not due:
            return
        payload = self.encode_rpc_request(RPCEndpoint("eth_blockNumber"), [])
        pool = self._executor()
        for n, i in enumerate(due):
            # Its outcome scores the endpoint (_attempt); nobody waits for it.
            try:
                probe = pool.submit(
                    self._attempt, i, payload, "eth_blockNumber", self.timeout_s, {}, True
                )
            except RuntimeError:  # the pool was shut down (close()): no probe left in flight
                with self._lock:
                    self._probing.difference_update(due[n:])
                return
            probe.add_done_callback(functools.partial(self._probe_done, i))

    def _probe_done(self, i: int, _: Future[Any]) -> None:
        with self._lock:
            self._probing.discard(i)

    def _read(self, payload: bytes, method: str, methods: Mapping[Any, str] | None = None) -> Any:
        """A hedged read (see the class docstring); ``methods`` as in :meth:`_attempt`."""
        self._probe_heads()
        # Under a deadline (a cycle's, start-up's) the deadline is the bound, not the count.
        per_endpoint = self.attempts if remaining_s() is None else max(self.attempts, 10)
        budget = per_endpoint * len(self._transports)
        pool = self._executor()
        inflight: dict[Future[Any], int] = {}
        launched = 0
        failed = 0
        hedge_at = 0.0  # when the next attempt may go out (0: now)
        held_to: float | None = None  # a hedge onto a busy cooling endpoint waits until then
        last: BaseException | None = None
        with self._lock:  # an endpoint on another chain is never used (see _check_chain)
            refused = {i for i in self._wrong_chain if i < len(self._transports)}
        if len(refused) == len(self._transports):
            raise _WrongChainError("every RPC endpoint is on another chain than the one connected")
        while True:
            left = remaining_s()
            now = time.monotonic()
            can_launch = launched < budget and (left is None or left > 0)
            if can_launch and now >= hedge_at and len(inflight) < self.max_inflight:
                i = self._pick(set(inflight.values()), refused)
                wait = self._backoff(i, failed, left) if i >= 0 and not inflight else 0.0
                if i >= 0 and not inflight:
                    # The best endpoint left asked not to be asked again yet (a 429's or 503's
                    # Retry-After, this read's or an earlier one's): a request inside that
                    # window only earns another refusal. Past the deadline (without one, past
                    # a request's timeout), the read gives up now, sending nothing.
                    asked = self.health[i].retry_after_until - now
                    if asked > (left if left is not None else self.timeout_s):
                        raise RpcUnavailableError(
                            f"{method} failed on every RPC endpoint: rate-limited, asked to "
                            f"wait {asked:.0f}s more (Retry-After)",
                            method,
                            retry_after_s=asked,
                        ) from last
                if i < 0:
                    hedge_at = math.inf  # nowhere to hedge: wait for what is in flight
                elif inflight and self.health[i].cooling_until > now:
                    # No hedge onto a cooling endpoint before its cool-down ends; but onto one
                    # this read already waits on (every endpoint busy: a lone one on a failure
                    # streak, cooling 8 s after six) a stall would then cost the whole timeout,
                    # so it waits as a retry after a failure would (:meth:`_backoff`), once.
                    hedge_at = self.health[i].cooling_until
                    if i in inflight.values():
                        if held_to is None:
                            held_to = now + self._backoff(i, max(failed, 1), left)
                        hedge_at = min(hedge_at, held_to)
                    if now < hedge_at:
                        i = -1
                if wait > 0:
                    self._sleep(wait)
                    left = remaining_s()
                    if left is not None and left <= 0:
                        break
                if i >= 0:
                    timeout = self.timeout_s
                    if left is not None:
                        timeout = min(timeout, max(left, self.hedge_s))
                    inflight[
                        pool.submit(self._attempt, i, payload, method, timeout, methods or {})
                    ] = i
                    launched += 1
                    held_to = None
                    delay = max(self.hedge_s, 4 * self.health[i].expected_s(method))
                    hedge_at = time.monotonic() + min(self.timeout_s, delay)
            if not inflight:
                if launched >= budget or (left is not None and left <= 0):
                    break
                continue
            until: float | None = None
            if launched < budget and len(inflight) < self.max_inflight and hedge_at < math.inf:
                until = max(0.0, hedge_at - time.monotonic())
            done, _ = wait_futures(list(inflight), timeout=until, return_when=FIRST_COMPLETED)
            for fut in done:
                i = inflight.pop(fut)
                exc = fut.exception()
                if exc is None:
                    return fut.result()
                if _refused(exc) or isinstance(exc, _WrongChainError):
                    # The endpoint's refusal, not the read's: the others may answer it.
                    refused.add(i)
                    if len(refused) == len(self._transports):
                        raise exc
                elif not isinstance(exc, _BusyAnswerError) and not is_transient(exc):
                    raise exc
                last = exc
                failed += 1
                hedge_at = 0.0  # a failure: the next attempt goes out now
                logger.debug(
                    "%s on %s failed (%s), attempt %d/%d",
                    method,
                    redact_url(self.health[i].url),
                    type(exc).__name__,
                    launched,
                    budget,
                )
        raise RpcUnavailableError(
            f"{method} failed on every RPC endpoint: {failure_reason(last)}", method
        ) from last

    def _backoff(self, i: int, failed: int, left: float | None) -> float:
        """How long to wait before an attempt on endpoint ``i``.

        Until the end of its server's Retry-After, whether this read or an earlier one was
        told it (a read that needs longer than that gives up first: see :meth:`_read`); after
        a failure of this read with every endpoint cooling down, a short jittered backoff;
        else 0.
        """
        nxt = self.health[i]
        now = time.monotonic()
        asked = nxt.retry_after_until - now
        if asked > 0:
            return min(asked, left) if left is not None else asked
        if failed == 0 or nxt.cooling_until <= now:
            return 0.0
        wait = min(nxt.cooling_until - now, backoff_s(failed, 0.1, 2.0) + 0.05)
        return min(wait, left) if left is not None else wait

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Send one JSON-RPC request (see the class docstring for reads and sends)."""
        payload = self.encode_rpc_request(method, params)
        if str(method) in SEND_METHODS:
            if self._send is not None:
                self._check_chain(len(self._transports), self.timeout_s)
                transport = self._send
            else:
                transport = self._transports[self._first_checked(self.timeout_s)]
            return cast(RPCResponse, _post_answer(transport, payload, self.timeout_s))
        if str(method) in READ_METHODS:
            return cast(RPCResponse, self._read(payload, str(method)))
        return cast(RPCResponse, self._once(payload, str(method)))

    def make_batch_request(
        self, requests_info: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        """Send a JSON-RPC batch (reads only are retried) and return the responses in order."""
        payload = self.encode_batch_rpc_request(requests_info)
        is_read = all(str(m) in READ_METHODS for m, _ in requests_info)
        if is_read:
            ids = [r.get("id") for r in json.loads(payload)]
            methods = {rid: str(m) for rid, (m, _) in zip(ids, requests_info, strict=True)}
            response = self._read(payload, "batch", methods)
            if isinstance(response, list):  # each request's answer by its id (checked)
                return cast(list[RPCResponse], in_request_order(response, ids))
        else:
            response = self._once(payload, "batch")
        if not isinstance(response, list):
            return cast(RPCResponse, response)
        return sort_batch_response_by_response_ids(response)

    def is_connected(self, show_traceback: bool = False) -> bool:
        """Whether some endpoint answers ``web3_clientVersion``."""
        try:
            response = self.make_request(RPCEndpoint("web3_clientVersion"), [])
        except (RpcUnavailableError, OSError, requests.RequestException, Web3Exception):
            if show_traceback:
                raise
            return False
        return "result" in response

    def chain_ids(self) -> list[tuple[str, int | None, str]]:
        """Ask every endpoint (and the send URL) for its chain id: ``(url, id or None, error)``.

        An endpoint that answered an earlier call with a ``Retry-After`` (HTTP 429/503) is not
        asked again before it ends (:data:`MAX_RETRY_AFTER_S` at most): its answer is that one
        again. A read endpoint is also held by its health, so no read goes there before then.
        """
        payload = self.encode_rpc_request(RPCEndpoint("eth_chainId"), [])
        out: list[tuple[str, int | None, str]] = []
        targets = list(self._transports) + ([self._send] if self._send else [])
        for i, transport in enumerate(targets):
            until, said = self._held.get(i, (0.0, ""))
            if time.monotonic() < until:
                out.append((transport.url, None, said))
                continue
            try:
                response = transport.post(payload, self.timeout_s)
                error = response.get("error") if isinstance(response, dict) else None
                if isinstance(error, dict):  # a refusal (a wrong API key), said as the node says it
                    message = scrub_url(str(error.get("message", ""))[:120], transport.url)
                    why = f"JSON-RPC error {error.get('code')}: {message}"
                    out.append((transport.url, None, why))
                    continue
                result = response.get("result") if isinstance(response, dict) else None
                if not _is_quantity(result):
                    out.append((transport.url, None, "malformed answer to eth_chainId"))
                    continue
                out.append((transport.url, int(result, 16), ""))
            except _RefusalAnswerError as exc:  # a refused API key, in the provider's words
                out.append((transport.url, None, f"HTTP {exc}"))
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else "?"
                out.append((transport.url, None, f"HTTP {status}"))
                asked = retry_after_s(exc)
                if asked:
                    now = time.monotonic()
                    self._held[i] = (now + min(asked, MAX_RETRY_AFTER_S), f"HTTP {status}")
                    if i < len(self._transports):
                        with self._lock:
                            self.health[i].fail(now, asked)
            except (OSError, requests.RequestException, Web3Exception, ValueError, KeyError) as exc:
                out.append((transport.url, None, scrub_url(failure_reason(exc), transport.url)))
        return out

    def held_s(self, endpoints: Collection[int]) -> tuple[float, int]:
        """How long until one of ``endpoints`` may be asked its chain id again, and which one.

        ``endpoints`` are indexes in :meth:`chain_ids`' answers. 0 s when one is not held by a
        ``Retry-After``.
        """
        now = time.monotonic()
        return min((max(0.0, self._held.get(i, (0.0, ""))[0] - now), i) for i in endpoints)

    def close(self) -> None:
        """Close WebSocket endpoints and stop the hedging threads (without waiting for them)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for t in [*self._transports, *([self._send] if self._send else [])]:
            t.close()


def _never_connected(exc: requests.RequestException) -> bool:
    """Whether no connection was made (refused, no such host, a connect timeout).

    Then nothing of the request left this machine. A session makes one try (no retries), so
    the error of the one connection it tried to open is the whole story.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` is a request that never reached the endpoint (no connection was made).

    A broadcast that failed so is not an unknown outcome: no node can hold its bytes.
    """
    return bool(getattr(exc, "never_connected", False))


_ERRNO = re.compile(r"\[Errno (-?\d+)\] ([^'\")\]]+)")


_Answer = tuple[str, int | None, str]


def _failing(answers: Sequence[_Answer], send_url: str | None) -> list[_Answer]:
    """What keeps :func:`connect` from going on (nothing: it goes on).

    Every read endpoint, when none answered its chain id; else the send endpoint, when one is
    set and did not answer. Transactions go only to the send endpoint (a private RPC): down
    at start-up, the keeper signed and never sent (each broadcast refused), so it is required
    as the reads are.
    """
    reads = list(answers[:-1] if send_url else answers)
    if not any(cid is not None for _, cid, _ in reads):
        return reads
    if send_url and answers[-1][1] is None:
        return [answers[-1]]
    return []


def _unreachable(answers: Sequence[_Answer], send_url: str | None) -> str:
    """The one line :func:`connect` gives up with (see :func:`_failing`)."""
    failing = _failing(answers, send_url)
    url, _, error = failing[-1]
    reads = answers[:-1] if send_url else answers
    if any(cid is not None for _, cid, _ in reads):  # only the send endpoint is down
        return (
            f"cannot reach the send RPC (KEEPER_SEND_RPC_URL) at {redact_url(url)}: {error}: "
            "transactions go only there"
        )
    return f"cannot reach RPC at {redact_url(url)}: {error}"


def failure_reason(exc: BaseException | None) -> str:
    """Why a request failed, short enough for a one-line error.

    A transport error's message is urllib3's repr of its connection pool and its cause (some
    300 characters): the OS error alone is kept (``ConnectionError: connection refused (errno
    111)``), or ``timed out``. ``None`` (the time allowed ran out before any answer) is said so.
    """
    if exc is None:
        return "no answer in the time allowed"
    if isinstance(exc, NotJsonAnswerError):
        return str(exc)
    name = type(exc).__name__
    if isinstance(exc, requests.RequestException):
        text = str(exc)
        found = _ERRNO.search(text)
        if found is not None:
            return f"{name}: {found.group(2).strip().lower()} (errno {found.group(1)})"
        if "timed out" in text.lower():
            return f"{name}: read timed out" if "read" in text.lower() else f"{name}: timed out"
    return f"{name}: {first_line(exc)}"


#: What a read's ``result`` must be, per method: a string (a quantity or data), a list, or an
#: object with these keys (``None`` allowed where the method can find nothing).
_STRING_RESULTS = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_maxPriorityFeePerGas",
        "net_version",
        "web3_clientVersion",
    }
)
#: Of those, the ones that are not hex (a decimal network id, a client's name).
_TEXT_RESULTS = frozenset({"net_version", "web3_clientVersion"})
#: Of those, the ones that are data (``0x`` alone is empty data); the others are quantities.
_DATA_RESULTS = frozenset({"eth_call", "eth_getCode", "eth_getStorageAt"})
#: Data, as JSON-RPC writes it: ``0x`` and whole bytes, two hex digits each (``0x`` alone is
#: empty data). An odd count lost a digit on the way: web3 pads it on the left and decodes
#: another number.
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
#: A quantity: ``0x`` and at least one hex digit. ``0x`` alone, ``12`` (no ``0x``: web3 read it
#: as hex, 18) and ``-0x1`` (Python's ``int`` reads it as -1) are garbage, not a number.
_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")
#: Each key's value must be a quantity or data (hex), but ``eth_feeHistory``'s (a list): a block
#: number ``null`` or a list reached ``int()`` as a TypeError, past every fault handler (the
#: keeper never reads a pending block, whose number is ``null``).
_OBJECT_RESULTS: Mapping[str, tuple[str, ...]] = {
    "eth_getBlockByNumber": ("number",),
    "eth_getBlockByHash": ("number",),
    "eth_getTransactionReceipt": ("transactionHash", "blockNumber"),
    "eth_getTransactionByHash": ("hash",),
    "eth_feeHistory": ("baseFeePerGas",),
}
#: Of those keys, the quantities (the others are hashes: data).
_QUANTITY_KEYS = frozenset({"number", "blockNumber"})
#: Keys that, when there, must be a quantity too (a block's timestamp: ``null`` is garbage).
_OBJECT_QUANTITIES: Mapping[str, tuple[str, ...]] = {
    "eth_getBlockByNumber": ("timestamp",),
    "eth_getBlockByHash": ("timestamp",),
}
_BLOCK_NUMBERS = ("baseFeePerGas", "gasLimit", "gasUsed", "size", "difficulty", "totalDifficulty")
_TX_NUMBERS = ("blockNumber", "nonce", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
#: Keys that, when there and not ``null``, must be a quantity: the ones web3 or the keeper read
#: as integers (a receipt's ``status``, an OP receipt's ``l1Fee``, Arbitrum's ``gasUsedForL1``).
#: Garbage there came back from web3's formatters as a ValueError (a permanent error), or as a
#: wrong number: ``12`` read as 18, ``-0x1`` as -1 (a receipt's status 18 is "reverted").
_OBJECT_NUMBERS: Mapping[str, tuple[str, ...]] = {
    "eth_getBlockByNumber": _BLOCK_NUMBERS,
    "eth_getBlockByHash": _BLOCK_NUMBERS,
    "eth_getTransactionReceipt": (
        "status",
        "gasUsed",
        "cumulativeGasUsed",
        "effectiveGasPrice",
        "transactionIndex",
        "l1Fee",
        "gasUsedForL1",
    ),
    "eth_getTransactionByHash": _TX_NUMBERS,
    "eth_feeHistory": ("oldestBlock",),
}
_NULLABLE = frozenset(
    {
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
    }
)


def _rpc_id(value: Any) -> str | None:
    """A JSON-RPC id as a key (a node may echo ``1`` as ``"1"``), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def _answers_batch(response: Any, methods: Mapping[Any, str]) -> bool:
    """Whether ``response`` answers the batch whose ids are ``methods``' keys, each once.

    Or is one error object: the node's refusal of the whole batch.
    """
    if isinstance(response, Mapping):
        return "error" in response
    if not isinstance(response, list) or len(response) != len(methods):
        return False
    got = sorted(
        str(_rpc_id(item.get("id"))) if isinstance(item, Mapping) else "" for item in response
    )
    return got == sorted(str(_rpc_id(i)) for i in methods)


def in_request_order(response: list[Any], ids: Sequence[Any]) -> list[Any]:
    """A batch's answers in the order of its requests' ``ids`` (see :func:`_answers_batch`)."""
    by_id = {_rpc_id(item.get("id")): item for item in response}
    return [by_id[_rpc_id(i)] for i in ids]


def _sent_id(payload: bytes) -> str | None:
    """The id of the one request in ``payload`` (see :func:`_rpc_id`), else ``None``."""
    try:
        sent = json.loads(payload)
    except ValueError:
        return None
    return _rpc_id(sent.get("id")) if isinstance(sent, Mapping) else None


def _error_object(error: Any) -> bool:
    """Whether ``error`` is a JSON-RPC error object: an integer ``code`` and a ``message``."""
    return (
        isinstance(error, Mapping)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
    )


def _malformed(
    response: Any, method: str, methods: Mapping[Any, str], sent_id: str | None = None
) -> str | None:
    """The method of the first answer in ``response`` whose ``result`` cannot be an answer to it.

    An error object is an answer (decoded elsewhere). ``methods`` maps a batch's ids to methods:
    its answer must then be a list answering each of them once and nothing else (else
    ``"batch"``), or one error object (the node refused the whole batch). One request's answer
    is one object, under the request's id ``sent_id`` (as :func:`_rpc_id`) when given.

    The envelope is checked as web3 reads it: ``"jsonrpc": "2.0"``, a ``result`` or an error
    object (an integer ``code`` and a ``message``), never both. Anything else reached web3 as
    ``BadResponseFormat`` (a list for one request: an ``AttributeError``), a permanent error,
    when it is an answer garbled on the way.
    """
    if methods and not _answers_batch(response, methods):
        return "batch"
    if not methods and isinstance(response, list):
        return method
    names = {_rpc_id(i): m for i, m in methods.items()}
    items = response if isinstance(response, list) else [response]
    for item in items:
        if not isinstance(item, Mapping):
            return method
        name = names.get(_rpc_id(item.get("id")), method) if methods else method
        if item.get("jsonrpc") != "2.0":
            return name
        if "error" in item:
            if "result" in item or not _error_object(item["error"]):
                return name
            continue
        if "result" not in item:
            return name
        if sent_id is not None and _rpc_id(item.get("id")) != sent_id:
            return name
        result = item["result"]
        if result is None:
            ok = name in _NULLABLE or (name not in _STRING_RESULTS and name not in _OBJECT_RESULTS)
        elif name in _STRING_RESULTS:
            form = _HEX if name in _DATA_RESULTS else _QUANTITY
            ok = isinstance(result, str) and (name in _TEXT_RESULTS or bool(form.fullmatch(result)))
        elif name == "eth_feeHistory":
            fees = result.get("baseFeePerGas") if isinstance(result, Mapping) else None
            ok = isinstance(fees, list) and all(_is_quantity(f) for f in fees)
            ok = ok and _numbers_ok(cast(Mapping[str, Any], result), name)
        elif name in _OBJECT_RESULTS:
            ok = (
                isinstance(result, Mapping)
                and all(
                    isinstance(result.get(k), str)
                    and bool((_QUANTITY if k in _QUANTITY_KEYS else _HEX).fullmatch(result[k]))
                    for k in _OBJECT_RESULTS[name]
                )
                and all(
                    _is_quantity(result[k]) for k in _OBJECT_QUANTITIES.get(name, ()) if k in result
                )
                and _numbers_ok(result, name)
            )
        elif name == "eth_getLogs":
            ok = isinstance(result, list)
        else:
            ok = True
        if not ok:
            return name
    return None


def _is_quantity(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a JSON-RPC quantity (see :data:`_QUANTITY`)."""
    return isinstance(value, str) and bool(_QUANTITY.fullmatch(value))


def _numbers_ok(result: Mapping[str, Any], method: str) -> bool:
    """Whether each of ``method``'s :data:`_OBJECT_NUMBERS` in ``result`` is a quantity or null."""
    return all(
        result.get(k) is None or _is_quantity(result[k]) for k in _OBJECT_NUMBERS.get(method, ())
    )


#: Reads whose ``null`` result means "not (yet) on this node's chain": from an endpoint more than
#: :data:`LAG_TOLERANCE` blocks behind the best head it is no answer, and the read goes elsewhere.
NOT_YET_METHODS = frozenset({"eth_getTransactionReceipt"})

#: How long an endpoint's answered head counts for its rank, and how many blocks behind the
#: best one it may be before it loses its rank (a block can land between two endpoints' answers).
HEAD_TTL_S = 10.0
LAG_TOLERANCE = 1


def _head_answers(payload: bytes, response: Any, method: str) -> list[tuple[str, Any]]:
    """The answers (method, ``result``) in ``response`` to ``eth_blockNumber`` or ``latest``.

    Error objects are left out; none when the request asked neither.
    """
    if method not in ("eth_blockNumber", "eth_getBlockByNumber", "batch"):
        return []
    try:
        sent = json.loads(payload)
    except ValueError:
        return []
    calls = sent if isinstance(sent, list) else [sent]
    items = response if isinstance(response, list) else [response]
    asked = {
        _rpc_id(c.get("id")): str(c.get("method"))
        for c in calls
        if isinstance(c, Mapping)
        and (
            c.get("method") == "eth_blockNumber"
            or (
                c.get("method") == "eth_getBlockByNumber"
                and (c.get("params") or [None])[0] == "latest"
            )
        )
    }
    return [
        (asked[_rpc_id(item.get("id"))], item["result"])
        for item in items
        if isinstance(item, Mapping) and _rpc_id(item.get("id")) in asked and "result" in item
    ]


def _head_of(payload: bytes, response: Any, method: str) -> int | None:
    """The head block number in an answer to ``eth_blockNumber`` or the ``latest`` block.

    Only those: a block read by number says nothing about the endpoint's head. ``None`` when
    the request asked neither.
    """
    heads: list[int] = []
    for _, result in _head_answers(payload, response, method):
        number = result.get("number") if isinstance(result, Mapping) else result
        if isinstance(number, str):
            try:
                heads.append(int(number, 16))
            except ValueError:
                continue
    return max(heads, default=None)


def _null_latest(payload: bytes, response: Any, method: str) -> bool:
    """Whether ``response`` answers a read of the ``latest`` block with ``null``.

    Every node has a latest block: that answer is garbage (an empty answer on the way), not
    "no such block" as ``null`` for a block by number is.
    """
    return any(
        m == "eth_getBlockByNumber" and result is None
        for m, result in _head_answers(payload, response, method)
    )


#: ``chain_ids``' error for an endpoint's HTTP refusal of any request: a bare 4xx but a timeout
#: or a rate limit (401/403: a wrong API key, 404: a wrong path, 400/405: no JSON-RPC endpoint
#: there), or a 401/403 with a JSON-RPC error (Alchemy's "Must be authenticated!").
_BARE_REFUSAL = re.compile(r"HTTP (4(?!08|29)\d\d)|HTTP (401|403) Client Error(: .*)?")
#: ``chain_ids``' error for a web page answered with a 2xx: a web site at that URL, not a node
#: (a JSON body cut short is not HTML).
_WEB_PAGE = re.compile(r"the answer is not JSON \((HTTP 2\d\d, text/html)\).*")


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` is an endpoint's HTTP refusal of any request (not transient).

    A bare HTTP 4xx (401/403: a wrong or spent API key, 404: a wrong path) says nothing of the
    read: another endpoint may answer it. Nor does a JSON-RPC error in a 401/403 (Alchemy's
    "Must be authenticated!", :class:`_RefusalAnswerError`). Any other
    JSON-RPC answer in a 4xx is an answer, not this (:func:`_json_rpc_in_error_status`).
    """
    return isinstance(exc, requests.HTTPError) and not is_transient(exc)


def _log_query_too_large(response: Any) -> Mapping[str, Any] | None:
    """The error object of a log query's answer that says the query is too large, else ``None``."""
    error = response.get("error") if isinstance(response, Mapping) else None
    return cast(Mapping[str, Any], error) if log_query_too_large(error) else None


def _transient_error(response: Any) -> Mapping[str, Any] | None:
    """The first transient JSON-RPC error object in a response or batch, else ``None``."""
    items = response if isinstance(response, list) else [response]
    for item in items:
        error = item.get("error") if isinstance(item, Mapping) else None
        if rpc_error_is_transient(error):
            return cast(Mapping[str, Any], error)
    return None


def connect(
    rpc_url: str | Sequence[str],
    *,
    expected_chain_id: int | None = None,
    timeout_s: float = 10.0,
    counter: RpcCounter | None = None,
    send_url: str | None = None,
    hedge_s: float | None = None,
    attempts: int = 3,
    name: str = "RPC",
) -> Web3:
    """Connect to one or several JSON-RPC endpoints (HTTP or WebSocket) and check they answer.

    Every connection goes through a :class:`FailoverProvider`, even with one URL (it retries
    transient read failures under the deadline).

    Args:
        rpc_url: ``http(s)://`` or ``ws(s)://`` URL, or several (failover, healthiest first).
        expected_chain_id: When given, refuse a node on any other chain.
        timeout_s: Full per-request timeout.
        counter: Where to count requests (a fresh :class:`RpcCounter` when omitted); reach it
            afterwards with :func:`rpc_counter`.
        send_url: Send raw transactions here (a private RPC) instead of the read endpoints.
        hedge_s: Floor of the short timeout of a read's first attempts (default 0.25 s).
        attempts: Read attempts per endpoint.
        name: What the endpoints are, in a wrong chain's error (``keeper rehearse``: its fork).

    Raises:
        ConfigError: A URL scheme is not supported.
        ChainError: No endpoint can be reached (within the current deadline; without one, in
            ``attempts`` tries), or one is on the wrong chain (every endpoint that answers must
            agree).
    """
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    if not urls:
        raise ConfigError("no RPC URL configured")
    provider = FailoverProvider(
        urls,
        send_url=send_url,
        timeout_s=timeout_s,
        hedge_s=hedge_s if hedge_s is not None else min(0.25, timeout_s),
        attempts=attempts,
    )
    started = time.monotonic()
    answers = provider.chain_ids()
    tries = 1
    while not answers or _failing(answers, send_url):
        # Every endpoint refused (a bare HTTP 4xx but 408/429, or a 401/403 with a JSON-RPC
        # error: a wrong path or API key), or answered a web page (no node at that URL): no
        # retry changes that, and `keeper run` retried it for its whole start-up timeout.
        failing = _failing(answers, send_url)
        if failing and all(_BARE_REFUSAL.fullmatch(error) for _, _, error in failing):
            url, _, error = failing[0]
            raise ChainError(
                f"RPC at {redact_url(url)} refused the request ({error}): check the URL's path "
                "and API key"
            )
        if failing and all(
            _BARE_REFUSAL.fullmatch(error) or _WEB_PAGE.fullmatch(error) for _, _, error in failing
        ):
            url, _, error = next(f for f in failing if _WEB_PAGE.fullmatch(f[2]))
            page = cast(re.Match[str], _WEB_PAGE.fullmatch(error)).group(1)
            raise ChainError(
                f"RPC at {redact_url(url)} answered a web page ({page}), not JSON-RPC: check "
                "the URL"
            )
        # Without a deadline (a one-shot command), ``attempts`` tries a quarter second apart and
        # more: one 502 or cut connection is not a node that is down.
        left = remaining_s()
        if (left is None and tries >= attempts) or (left is not None and left <= 0):
            waited = f" (gave up after {tries} tries in {time.monotonic() - started:.0f}s)"
            raise ChainError(_unreachable(answers, send_url) + (waited if tries > 1 else ""))
        # A 429's (or 503's) Retry-After is waited out, as after start-up; one that runs past
        # the deadline (without one: past a request's timeout, as a read gives up) ends here.
        asked, held = provider.held_s([i for i, a in enumerate(answers) if a in failing])
        if asked > (left if left is not None else timeout_s):
            url, _, error = answers[held]
            past = (
                f"more than the {left:.0f}s start-up has left"
                if left is not None
                else f"longer than a request's timeout ({timeout_s:.0f}s)"
            )
            raise ChainError(
                f"RPC at {redact_url(url)} asked to wait {asked:.0f}s ({error}, Retry-After), "
                f"{past}: a rate limit"
            )
        if left is None:
            logger.debug("chain id read failed (try %d of %d); trying again", tries, attempts)
            pause = 0.25 * tries
        else:
            if tries == 1:  # said once, at once: the deadline may be a minute away
                down = "; ".join(f"{redact_url(u)}: {e}" for u, _, e in failing)
                logger.warning("cannot reach RPC at %s; retrying for up to %.0fs", down, left)
            pause = min(left, 1.0)
        provider._sleep(max(pause, asked))
        answers = provider.chain_ids()
        tries += 1
    ids = {cid for _, cid, _ in answers if cid is not None}
    for url, cid, error in answers:
        if cid is None:  # a read endpoint (the send endpoint answered: see _failing)
            logger.warning("cannot reach RPC at %s: %s; using the others", redact_url(url), error)
    if len(ids) > 1:
        listed = ", ".join(f"{redact_url(u)}: {c}" for u, c, _ in answers if c is not None)
        raise ChainError(f"the RPC endpoints disagree on the chain ({listed})")
    chain_id = ids.pop()
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(f"{name} is on chain {chain_id}, expected chain {expected_chain_id}")
    provider.adopt_chain(chain_id, answers)  # those that did not answer: checked at first use
    w3 = Web3(provider)
    # web3's default "validation" middleware asks the node for eth_chainId before every
    # eth_call/eth_estimateGas (several per cycle). The chain id is checked once, here, and
    # every transaction is signed locally with it, so the per-call check only costs RPCs.
    if "validation" in w3.middleware_onion:
        w3.middleware_onion.remove("validation")
    counter = install_counter(w3, counter)
    w3.keeper_rpc_counter = counter  # type: ignore[attr-defined]
    logger.info("connected to chain %d at %s", chain_id, provider)
    return w3


def best_head(w3: Web3) -> int | None:
    """The highest head any endpoint of ``w3`` answered within :data:`HEAD_TTL_S`.

    ``None`` when none did, or when ``w3`` was not built by :func:`connect`. One stale or lagging
    answer cannot lower it: it is a lower bound on the chain's head.
    """
    provider = getattr(w3, "provider", None)
    return provider.best_head() if isinstance(provider, FailoverProvider) else None


def rpc_counter(w3: Web3) -> RpcCounter:
    """Return the request counter of a connection built by :func:`connect` (or attach one)."""
    counter = getattr(w3, "keeper_rpc_counter", None)
    if isinstance(counter, RpcCounter):
        return counter
    counter = install_counter(w3)
    w3.keeper_rpc_counter = counter  # type: ignore[attr-defined]
    return counter


def redact_url(url: str) -> str:
    """Keep the scheme and host only.

    RPC URLs often carry an API key in the path or query, or credentials before the host
    (``user:password@``). The scheme in lowercase: ``HTTP://`` is named as ``http://`` is.
    """
    scheme, _, rest = lower_scheme(url).partition("://")
    if not rest:
        return url  # not a URL: nothing to hide
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


def scrub_url(text: str, url: str) -> str:
    """``text`` with ``url``'s secrets (its credentials, path and query) replaced by ``…``.

    ``url`` is found as written and with its scheme in lowercase, as a library may quote it.
    """
    for written in dict.fromkeys((url, lower_scheme(url))):
        text = text.replace(written, redact_url(url))
    parts = urlsplit(url)
    secrets = [parts.path + (f"?{parts.query}" if parts.query else ""), parts.query]
    if "@" in parts.netloc:
        secrets.append(parts.netloc.rsplit("@", 1)[0])
    for secret in sorted(secrets, key=len, reverse=True):
        if secret.strip("/"):
            text = text.replace(secret, "…")
    return text


__all__ = [
    "EndpointHealth",
    "FailoverProvider",
    "RpcCounter",
    "WebSocketProvider",
    "connect",
    "install_counter",
    "redact_url",
    "rpc_counter",
    "scrub_url",
]
