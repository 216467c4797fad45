"""Many read-only `eth_call` requests in one JSON-RPC batch; a failing call loses only itself.

:func:`call_each` is used where the keeper asks many contracts one small question each, off the
hedge's path: why a vault's trigger is not ready (:mod:`keeper.chain.blockers`), and what each
redemption queue could fill (:mod:`keeper.chain.queues`). :func:`call_batch`, all or nothing, is
also the lens's read (:mod:`keeper.chain.lens`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.providers import JSONBaseProvider

from keeper.chain.retry import is_transient, read_with_retry

logger = logging.getLogger(__name__)

#: Calls in one JSON-RPC batch request. Hosted endpoints cap batches (often at 100 to 1,000
#: calls); larger lists go in several requests.
CALLS_PER_REQUEST = 250


def call_each(
    w3: Web3, txs: Sequence[dict[str, Any]], block: int | str, *, attempts: int = 3
) -> list[bytes | None]:
    """Each call's return data at ``block``, in order; ``None`` for a call that failed.

    ``CALLS_PER_REQUEST`` calls a JSON-RPC batch (one plain call a request when the provider
    takes no batches, or for a lone call), transient failures retried ``attempts`` times. A
    request in which some call failed (a revert, an error result) is asked again one call at a
    time, so a failing call loses only its own answer.

    Raises:
        OSError | Web3Exception | ValueError: The node could not be reached (a transport
            error, after the retries).
    """
    out: list[bytes | None] = []
    for start in range(0, len(txs), CALLS_PER_REQUEST):
        chunk = txs[start : start + CALLS_PER_REQUEST]
        try:
            out.extend(read_with_retry(partial(call_batch, w3, chunk, block), attempts=attempts))
        except (OSError, Web3Exception, ValueError) as exc:
            if is_transient(exc):
                raise
            out.extend(_one(w3, tx, block) for tx in chunk)
    return out


def call_batch(w3: Web3, txs: Sequence[dict[str, Any]], block: int | str) -> list[bytes]:
    """Each call's return data at ``block``, in one JSON-RPC batch; any failure fails them all.

    Plain calls, one a request, when the provider takes no batches, or for a lone call.
    """
    if len(txs) > 1 and isinstance(w3.provider, JSONBaseProvider):
        with w3.batch_requests() as batch:
            for tx in txs:
                batch.add(w3.eth.call(tx, block))  # type: ignore[arg-type]
            results = batch.execute()
        return [bytes(cast(bytes, r)) for r in results]
    return [bytes(w3.eth.call(tx, block)) for tx in txs]  # type: ignore[arg-type]


def _one(w3: Web3, tx: dict[str, Any], block: int | str) -> bytes | None:
    try:
        return bytes(w3.eth.call(tx, block))  # type: ignore[arg-type]
    except (Web3Exception, ValueError) as exc:
        if is_transient(exc):
            raise
        logger.debug("eth_call to %s failed: %s", tx["to"], type(exc).__name__)
        return None
