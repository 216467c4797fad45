"""Decoding a node's ``eth_call`` answer, where a wrong answer is a :class:`ChainError`."""

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
