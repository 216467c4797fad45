"""What each vault's ERC-7540 redemption queue could fill now: read for many vaults at once.

The keeper's queue sweep (:mod:`keeper.app.sweep`) asks every vault for its queue
(``redemptionQueue()``, set once by the vault's admin, so a queue found is never asked again),
then each queue for ``fillable()`` (the pending shares the vault's free quote can redeem now)
and ``totalPending()``: batches of ``eth_call`` (:func:`keeper.chain.calls.call_each`), the
queues asked after the vaults.

:func:`work_left` reads one queue again at one block: after a fill of the keeper's did not go
through, whether anything was left for it to do there (:func:`keeper.strategy.fills.fill_raced`).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.chain.calls import call_each
from keeper.chain.retry import read_with_retry
from keeper.chain.vaults import queue_unrequested
from keeper.errors import ChainError

REDEMPTION_QUEUE = HexBytes(keccak(text="redemptionQueue()")[:4])
FILLABLE = HexBytes(keccak(text="fillable()")[:4])
TOTAL_PENDING = HexBytes(keccak(text="totalPending()")[:4])


@dataclass(frozen=True)
class QueueState:
    """A vault's redemption queue, as read: shares a ``fill()`` would redeem, and all pending."""

    queue: str
    fillable: int
    pending: int


def read_queues(
    w3: Web3,
    vaults: Sequence[str],
    block: int | str,
    known: MutableMapping[str, str],
    *,
    attempts: int = 3,
) -> dict[str, QueueState]:
    """The queue state of each of ``vaults`` that has a redemption queue, at ``block``.

    ``known`` maps a vault to its queue (checksummed): the vaults in it are not asked again, and
    each queue found is added. A vault without a queue, or one whose calls fail (a revert, an
    answer that does not decode), is left out: nothing to fill that the sweep could know of.

    Raises:
        ChainError: The node could not be reached after ``attempts``.
    """
    try:
        ask = [v for v in vaults if v not in known]
        answers = call_each(w3, [_tx(v, REDEMPTION_QUEUE) for v in ask], block, attempts=attempts)
        for vault, raw in zip(ask, answers, strict=True):
            queue = _address(raw)
            if queue is not None:
                known[vault] = queue
        have = [v for v in vaults if v in known]
        txs = [_tx(known[v], sel) for v in have for sel in (FILLABLE, TOTAL_PENDING)]
        raws = call_each(w3, txs, block, attempts=attempts)
    except ChainError as exc:  # no endpoint answered: named as this read, still transient
        raise ChainError(f"redemption queue reads failed: {exc}") from exc
    except (OSError, Web3Exception, ValueError) as exc:  # the node
        raise ChainError(f"redemption queue reads failed: {type(exc).__name__}") from exc
    out: dict[str, QueueState] = {}
    for i, vault in enumerate(have):
        fillable, pending = _uint(raws[2 * i]), _uint(raws[2 * i + 1])
        if fillable is not None and pending is not None:
            out[vault] = QueueState(known[vault], fillable, pending)
    return out


def work_left(vault: Any, queue: Any, block: int | str, *, attempts: int = 3) -> tuple[int, int]:
    """What a ``fill()`` of ``queue`` would still do at ``block``: ``(fillable, unrequested)``.

    ``fillable`` is the queue's ``fillable()`` (pending shares the vault's free quote can
    redeem), ``unrequested`` the shares it holds beyond ``totalPending()`` (the fill discards
    them), read only when ``fillable`` is 0. ``vault`` and ``queue`` are web3 contracts.

    Raises:
        Whatever the read raises once its retries are spent: the caller tells a node that cannot
        answer (transient) from a queue or vault that refuses the call.
    """
    fillable = int(
        read_with_retry(
            lambda: queue.functions.fillable().call(block_identifier=block), attempts=attempts
        )
    )
    if fillable:
        return fillable, 0
    at = None if isinstance(block, str) else block  # queue_unrequested reads None as latest
    return 0, read_with_retry(lambda: queue_unrequested(vault, queue, at), attempts=attempts)


def _tx(to: str, selector: HexBytes) -> dict[str, Any]:
    return {"to": to_checksum_address(to), "data": selector}


def _uint(raw: bytes | None) -> int | None:
    """A ``uint256`` return value, or ``None`` when there is none."""
    if raw is None or len(raw) != 32:
        return None
    return int.from_bytes(raw, "big")


def _address(raw: bytes | None) -> str | None:
    """An ``address`` return value, checksummed; ``None`` for the zero address or no answer."""
    value = _uint(raw)
    if value is None or value == 0 or value >> 160:
        return None
    return str(to_checksum_address(value.to_bytes(20, "big")))
