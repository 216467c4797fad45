"""Read logs over a block range a provider may refuse as too large, by splitting it.

Providers cap ``eth_getLogs`` by block range or by result count, each in its own words
(:func:`keeper.chain.retry.log_query_too_large`); the provider raises
:class:`~keeper.chain.retry.LogQueryTooLargeError` for such an answer and never asks the same
query again. :func:`get_logs` then halves the span it asks for until a query is answered, and
walks on through the range at that span, so a range of ``n`` blocks under a limit of ``k`` costs
about ``log2(n / k)`` refused queries and ``n / k`` answered ones. A single block that is still
too large cannot be split: that is one line naming the block.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from web3 import Web3
from web3.types import FilterParams, LogReceipt

from keeper.chain.retry import LogQueryTooLargeError

logger = logging.getLogger(__name__)


def get_logs(
    w3: Web3,
    address: str,
    topics: Sequence[Any],
    from_block: int = 0,
    to_block: int | None = None,
) -> list[LogReceipt]:
    """The logs of ``address`` matching ``topics`` in ``[from_block, to_block]``, block order.

    Args:
        w3: The connection.
        address: The emitting contract.
        topics: The topic filter, as ``eth_getLogs`` takes it.
        from_block: The first block.
        to_block: The last block (``None``: the latest, read once a split needs a number).

    Raises:
        LogQueryTooLargeError: One block's logs alone are over the provider's limit.
    """

    def ask(start: int, end: int | str) -> list[LogReceipt]:
        query: FilterParams = {
            "address": address,  # type: ignore[typeddict-item]
            "fromBlock": start,
            "toBlock": end,  # type: ignore[typeddict-item]
            "topics": list(topics),
        }
        return list(w3.eth.get_logs(query))

    if to_block is None:
        try:
            return ask(from_block, "latest")
        except LogQueryTooLargeError as exc:
            to_block = int(w3.eth.block_number)
            span = _narrower(from_block, to_block, exc)  # not the same range again, by number
    else:
        span = to_block - from_block + 1
    logs: list[LogReceipt] = []
    start = from_block
    while start <= to_block:
        end = min(to_block, start + span - 1)
        try:
            logs += ask(start, end)
        except LogQueryTooLargeError as exc:
            span = _narrower(start, end, exc)
            continue
        start = end + 1
    return logs


def _narrower(start: int, end: int, refused: LogQueryTooLargeError) -> int:
    """The span to ask for after ``[start, end]`` was refused: half of it, at least one block.

    Raises:
        LogQueryTooLargeError: ``[start, end]`` was a single block (or none: a range past the
            head), which cannot be split.
    """
    if end <= start:
        raise LogQueryTooLargeError(
            f"eth_getLogs: block {start} alone is over the RPC's log limit ({refused.said})",
            refused.said,
        ) from None
    span = (end - start + 2) // 2
    logger.debug("eth_getLogs %d..%d too large for the RPC: %d blocks at a time", start, end, span)
    return span
