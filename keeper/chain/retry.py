"""Errors classified once (transient or permanent), and retries of reads under a deadline.

**Transient** -- asking again, later or elsewhere, may well succeed:

- transport failures: a refused or reset connection, a connection cut mid-response (requests'
  ``ChunkedEncodingError``), an unreadable answer (an HTTP body or a WebSocket message that is
  not JSON), a timeout, a dropped WebSocket;
- HTTP 408 (a proxy or load balancer that gave up waiting for the node), HTTP 429 (its
  ``Retry-After`` is honoured) and any 5xx;
- JSON-RPC error objects that mean "the node is busy or behind": ``-32603`` internal error,
  ``-32005`` / ``-32016`` / ``429`` rate limits, ``-32000`` "header not found" and "missing trie
  node" or "unknown block" (a load-balanced node that has not seen the block yet, or lacks its
  state: another endpoint, or the same one a moment later, has it), "rate limit" or "request
  rate exceeded", ``-32002`` "request timed out" (geth, past its RPC timeout);
- :class:`RpcUnavailableError`: the failover provider already retried and gave up.

**Permanent** -- the same question gets the same answer: a revert (``ContractLogicError``),
invalid parameters (``-32602``), an unknown method, authorisation (HTTP 401/403), a bad answer.
A JSON-RPC answer a provider sends with an HTTP 4xx other than 429 never reaches these rules as
an HTTP error: the transport returns it as the answer it is (``keeper.chain.connection``); so
does a JSON-RPC error in an HTTP 5xx body that answers the request itself (a revert, invalid
parameters, a refused send: :func:`rpc_error_is_answer`), which some providers send with status
500. A 5xx whose body is no JSON-RPC error, or any other one (a gateway's own "no backends
available", "backend offline", "gateway timeout"), stays the transient HTTP error.

**A log query too large** -- an ``eth_getLogs`` block range or result count over the provider's
limit ("query returned more than 10000 results", "block range is too wide", "exceed maximum
block range", "Log response size exceeded", ...: :func:`log_query_too_large`), whatever its code
(``-32005`` included): permanent for that exact query, raised as :class:`LogQueryTooLargeError`
and never asked again as it is; the caller splits the range (:mod:`keeper.chain.logs`). A
``-32005`` without that wording ("rate limit", "too many requests", "limit exceeded") is a rate
limit and stays transient.

Reads are retried with full-jitter exponential backoff, at most ``attempts`` times and never past
the current :func:`deadline` (the loop sets one per cycle; the failover provider in
:mod:`keeper.chain.connection` honours the same deadline). **Sends are never retried here**: a
send whose outcome is unknown is resolved by nonce and receipt (:mod:`keeper.execution.sender`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    Web3RPCError,
)
from websockets.exceptions import WebSocketException

from keeper.errors import ChainError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Exceptions that mean "the node was not reached or did not answer", never "the call failed".
#: (``requests.ConnectionError`` covers ``ChunkedEncodingError``'s sibling ``ProtocolError``
#: wrapping; ``ChunkedEncodingError`` itself derives from ``RequestException`` only.)
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
    WebSocketException,
    TimeExhausted,
)

#: JSON-RPC error codes that mean "busy or behind, ask again" (429: Alchemy's rate limit over a
#: WebSocket, where no HTTP status can say it).
TRANSIENT_RPC_CODES = frozenset({-32603, -32005, -32016, 429})
#: Messages (lower case, spaces removed) of ``-32000`` errors that are transient.
TRANSIENT_RPC_MESSAGES = (
    "headernotfound",
    "missingtrienode",
    "unknownblock",
    "ratelimit",
    "rateexceeded",
    "toomanyrequests",
    "timeout",
    "timedout",
)
#: How providers say an ``eth_getLogs`` query is too large (a block range or a result count),
#: matched in the error's message and data (lower case): Infura and geth-based nodes ("query
#: returned more than 10000 results", "range 1000000 exceeds limit of 10000"), Alchemy ("Log
#: response size exceeded"), BSC ("exceed maximum block range: 50000"), erigon ("block range too
#: large"), QuickNode ("eth_getLogs is limited to a 10,000 range"), reth ("query exceeds max
#: results"), Alchemy's free tier ("You can make eth_getLogs requests with up to a 500 block
#: range", -32600), and others ("block range is too wide", "larger than max block range").
LOG_QUERY_TOO_LARGE = re.compile(
    r"query returned more than \d+ results"
    r"|exceeds? max(imum)? results"
    r"|log response size exceeded"
    r"|block range (is )?too (wide|large|big)"
    r"|exceeds? (the )?max(imum)? block range"
    r"|(bigger|larger|greater) than (the )?max ?block ?range"
    r"|range \d+ (exceeds|is bigger than) (the )?(range )?limit"
    r"|limited to an? [\d,]+ (block )?range"
    r"|requests with up to an? [\d,]+k? block range"
)
#: geth's code for a request that ran past its RPC timeout ("request timed out"); other nodes
#: use it for refusals too ("IP address not on whitelist"), so only its timeouts are transient.
RPC_TIMEOUT_CODE = -32002


class RpcUnavailableError(ChainError):
    """No endpoint answered a read before the deadline or the attempts ran out (transient).

    Attributes:
        method: The JSON-RPC method.
        retry_after_s: Set when the read gave up without sending because every endpoint left
            asked (a ``Retry-After``) not to be asked again for this long, seconds: more than
            the deadline had left. Asking again before then only earns another refusal.
    """

    def __init__(self, message: str, method: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.retry_after_s = retry_after_s


class LogQueryTooLargeError(ChainError):
    """An ``eth_getLogs`` query over the provider's block-range or result limit (permanent).

    The same query never succeeds: ask for a narrower block range (:mod:`keeper.chain.logs`).

    Attributes:
        said: The provider's words (``JSON-RPC error <code>: <message>``), one line.
    """

    def __init__(self, message: str, said: str = "") -> None:
        super().__init__(message)
        self.said = said


def log_query_too_large(error: Mapping[str, Any] | None) -> bool:
    """Whether a JSON-RPC ``error`` object says a log query is too large (see the docstring)."""
    if not isinstance(error, Mapping):
        return False
    said = f"{error.get('message', '')} {error.get('data') or ''}".lower()
    return LOG_QUERY_TOO_LARGE.search(said) is not None


#: A send the node already holds (its hash): the sender waits for it, never sends another.
SEND_ALREADY_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown")
#: A send whose nonce is taken: the sender settles the nonce by its receipts.
SEND_NONCE_TOO_LOW = ("nonce too low", "noncetoolow", "nonce is too low", "oldnonce")
#: The node will not take it at today's base fee (or as a replacement): it waits, never fails.
SEND_UNDERPRICED = (
    "max fee per gas less than block base fee",
    "fee cap less than block base fee",
    "feecaptoolow",
    "transaction underpriced",
    "replacement transaction underpriced",
    # geth's pool at capacity, the transaction paying no more than its cheapest: a price refusal.
    "txpool is full",
)
#: The node refuses the signed bytes for what they are: sending them again can only be refused
#: again (geth's and anvil's words; a price or a nonce refusal is not one of these).
SEND_REFUSED_FOR_GOOD = (
    "invalid sender",
    "intrinsic gas too low",
    "exceeds block gas limit",
    "oversized data",
    "transaction type not supported",
    "invalid chain id",
    "max priority fee per gas higher than max fee per gas",
)
#: JSON-RPC codes that answer the request itself, whoever sends them: 3 (EIP-1474's execution
#: reverted), an invalid request, an unknown method, invalid parameters.
ANSWER_RPC_CODES = frozenset({3, -32600, -32601, -32602})
#: Words (lower case, spaces removed) of an error about the request itself: a revert, a call out
#: of gas, funds short, or a send the node refused (the sender's lists above, which
#: :mod:`keeper.execution.sender` reads them by).
ANSWER_RPC_MESSAGES = tuple(
    dict.fromkeys(
        w.replace(" ", "")
        for w in (
            "revert",
            "out of gas",
            "insufficient funds",
            *SEND_ALREADY_KNOWN,
            *SEND_NONCE_TOO_LOW,
            *SEND_UNDERPRICED,
            *SEND_REFUSED_FOR_GOOD,
        )
    )
)


def rpc_error_is_answer(error: Mapping[str, Any] | None) -> bool:
    """Whether a JSON-RPC ``error`` object answers the request itself, by its code or words.

    What an HTTP 5xx body must say to be read as the node's answer rather than the status
    (``keeper.chain.connection``): a gateway in front of the nodes answers its own failures in
    JSON-RPC too (Optimism's proxyd: ``-32011`` "no backends available for method" and
    ``-32010`` "backend offline" with 503, ``-32000`` "internal error" with 500, ``-32015``
    "gateway timeout" with 504), and those are as transient as the bare status. Only a revert
    (code 3, "revert" in its words, or ``-32603`` with revert data), invalid parameters or an
    unknown method, a log query too large, or a refused send in the node's words is an answer.
    """
    if not isinstance(error, Mapping):
        return False
    code = error.get("code")
    message = str(error.get("message", "")).lower().replace(" ", "")
    return (
        code in ANSWER_RPC_CODES
        or (code == -32603 and bool(error.get("data")))
        or any(m in message for m in ANSWER_RPC_MESSAGES)
        or log_query_too_large(error)
    )


def rpc_error_is_transient(error: Mapping[str, Any] | None) -> bool:
    """Whether a JSON-RPC ``error`` object means "ask again" (see the module docstring)."""
    if not isinstance(error, Mapping) or log_query_too_large(error):
        return False
    code = error.get("code")
    message = str(error.get("message", "")).lower().replace(" ", "")
    if code in TRANSIENT_RPC_CODES:
        # Some nodes report a revert as -32603 with revert data: that is an answer. So is a call
        # that runs out of gas (anvil: -32603 "EVM error OutOfGas"): every node gives it, and
        # retried on each endpoint it scored healthy nodes as failing. A rate limit may carry
        # data too (Infura's back-off): still a rate limit.
        if "outofgas" in message:
            return False
        return "revert" not in message and not (code == -32603 and error.get("data"))
    if code == -32000:
        return any(m in message for m in TRANSIENT_RPC_MESSAGES)
    if code == RPC_TIMEOUT_CODE:
        return "timeout" in message or "timedout" in message
    return False


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RpcUnavailableError):
        return True
    if isinstance(exc, ContractLogicError):
        return False
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status in (408, 429) or status >= 500
    if isinstance(exc, Web3RPCError):
        response = exc.rpc_response if isinstance(exc.rpc_response, Mapping) else {}
        return rpc_error_is_transient(response.get("error"))
    return isinstance(exc, TRANSPORT_ERRORS)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` -- or an exception it was raised ``from`` -- is transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _one_is_transient(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def is_transport_error(exc: BaseException) -> bool:
    """True for a transient failure worth retrying right here (kept for callers of the old name).

    :class:`RpcUnavailableError` is transient but *not* retried again: the provider already did.
    """
    return not isinstance(exc, RpcUnavailableError) and _one_is_transient(exc)


def retry_after_s(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` (seconds) on an HTTP 429/503, else ``None``."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    return parse_retry_after(headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header: delta seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- the per-cycle deadline -------------------------------------------------------------------
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "keeper_read_deadline", default=None
)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound every retry inside the block to ``seconds`` from now (nested deadlines: earliest).

    ``None`` leaves the current deadline as it is.
    """
    if seconds is None:
        yield
        return
    new = time.monotonic() + max(0.0, seconds)
    current = _DEADLINE.get()
    token = _DEADLINE.set(new if current is None else min(current, new))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining_s() -> float | None:
    """Seconds left before the current deadline (``None``: no deadline; never negative)."""
    end = _DEADLINE.get()
    return None if end is None else max(0.0, end - time.monotonic())


def backoff_s(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Full-jitter backoff before retry ``attempt`` (1-based).

    Uniform in ``[0, initial_s * 2**(attempt-1)]``, never below ``initial_s / 2`` and never
    above ``max_s``.
    """
    top = min(max_s, initial_s * 2 ** max(0, attempt - 1))
    draw = (rng or random).uniform(0.0, top)
    return min(max_s, max(initial_s / 2, draw))


def read_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    initial_s: float = 0.2,
    max_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` and retry it on transient errors, within ``attempts`` and the deadline.

    Args:
        fn: The read (no arguments; close over them). Never a send.
        attempts: Total attempts, at least 1.
        initial_s: Base of the jittered backoff (doubles per retry, up to ``max_s``).
        max_s: Longest backoff.
        sleep: Injected for tests.

    Returns:
        ``fn()``'s result. The last transient error is re-raised once attempts or the deadline
        run out; any other exception propagates at once.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not is_transport_error(exc) or attempt >= max(1, attempts):
                raise
            wait = backoff_s(attempt, initial_s, max_s)
            hint = retry_after_s(exc)
            if hint is not None:
                wait = max(wait, min(hint, max_s))
            left = remaining_s()
            if left is not None and left <= wait:
                raise
            logger.warning(
                "chain read failed (%s), attempt %d; retrying in %.2fs",
                type(exc).__name__,
                attempt,
                wait,
            )
            sleep(wait)
