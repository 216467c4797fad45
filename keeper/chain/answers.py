"""Decoding a node's answers.

An ``eth_call``'s (a wrong one is a :class:`ChainError`), and the revert reasons a batcher logs in
a receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from keeper.errors import ChainError


def decode_answer(types: Sequence[str], data: bytes, what: str) -> tuple[Any, ...]:
    """Decode ``data`` as ``types``; an answer that cannot be of them is a :class:`ChainError`.

    eth-abi's ``DecodingError`` (``InsufficientDataBytes`` for ``0x``: no contract at the
    address, a node that misbehaves) is none of the errors a cycle may fail with: it would end
    ``keeper run`` with a traceback instead of failing one cycle.
    """
    try:
        return tuple(abi_decode(list(types), bytes(data)))
    except DecodingError as exc:
        raise ChainError(
            f"{what}: the node's answer ({len(bytes(data))} bytes) is not what it returns: {exc}"
        ) from exc


def failed_events(
    receipt: Any, emitter: str, topic: bytes, indexed: int
) -> list[tuple[Any, bytes]]:
    """The ``(topics, revert data)`` of each ``topic`` event ``emitter`` logged in ``receipt``.

    For the batcher's failure events (``VaultRebalanceFailed``, ``SettlementFailed``): ``indexed``
    topics after topic0, then one ``bytes reason`` as their data. Logs of other contracts or
    events, and ones with fewer topics, are skipped.
    """
    out: list[tuple[Any, bytes]] = []
    for log in receipt.get("logs") or ():
        topics: Sequence[Any] = log.get("topics") or ()
        if len(topics) < 1 + indexed or bytes(topics[0]) != topic:
            continue
        if str(log.get("address", "")).lower() != emitter.lower():
            continue
        (reason,) = abi_decode(["bytes"], bytes(log.get("data") or b""))
        out.append((topics, bytes(reason)))
    return out
