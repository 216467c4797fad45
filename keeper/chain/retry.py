"""Retries for chain reads: bounded attempts, exponential backoff, transport errors only.

A revert (``ContractLogicError``) or a bad answer is never retried: asking again would give the
same answer. Only a failure to *talk* to the node is: a refused or reset connection, a timeout,
a dropped WebSocket, an HTTP 5xx/429.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from web3.exceptions import ProviderConnectionError, TimeExhausted
from websockets.exceptions import WebSocketException

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Exceptions that mean "the node was not reached or did not answer", never "the call failed".
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
    WebSocketException,
    TimeExhausted,
)


def is_transport_error(exc: BaseException) -> bool:
    """True for connection failures, timeouts, and HTTP 429/5xx answers."""
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status == 429 or status >= 500
    return isinstance(exc, TRANSPORT_ERRORS)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    logger.warning(
        "chain read failed (%s), attempt %d; retrying",
        type(exc).__name__ if exc else "?",
        state.attempt_number,
    )


def read_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    initial_s: float = 0.2,
    max_s: float = 5.0,
) -> T:
    """Call ``fn`` and retry it on transport errors only.

    Args:
        fn: The read (no arguments; close over them).
        attempts: Total attempts, at least 1.
        initial_s: First backoff; doubles each time up to ``max_s``.
        max_s: Longest backoff.

    Returns:
        ``fn()``'s result. The last transport error is re-raised once attempts run out; any other
        exception propagates at once.
    """
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=initial_s, min=initial_s, max=max_s),
        retry=retry_if_exception(is_transport_error),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(fn)
