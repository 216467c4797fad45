"""Why a vault's contract trigger is not ready: ``OptionVault.rebalanceBlocker()`` for a few vaults.

The lens says only *whether* a vault's own trigger is ready. When the policy wants to act on a
vault whose trigger is not, the keeper asks the vault why, in one JSON-RPC batch of ``eth_call``
(one per such vault, at the lens's block): ``rebalanceBlocker()`` returns the custom error
``rebalance()`` would revert with (e.g. ``OptionVaultOracleGap``), or empty bytes. This is never on
the hot path of vaults the keeper can act on: an in-band or ready vault is not asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.chain.calls import call_each
from keeper.errors import ChainError

#: ``rebalanceBlocker()``'s selector.
REBALANCE_BLOCKER = bytes(keccak(text="rebalanceBlocker()")[:4])
#: Gas cap of one blocker call (it runs the vault's checks once, like the lens does per vault).
BLOCKER_CALL_GAS = 5_000_000


def read_blockers(
    w3: Web3, vaults: Sequence[str], block: int | str = "latest", *, attempts: int = 3
) -> dict[str, bytes | None]:
    """Each vault's ``rebalanceBlocker()`` (the revert data, ``b""`` when none) at ``block``.

    One batch of ``eth_call`` for all of them (:func:`~keeper.chain.calls.call_each`). A vault
    whose call fails (no such function, a revert) maps to ``None``: the reason is unknown, and a
    keeper cycle never fails over an explanation.

    Raises:
        ChainError: The node could not be reached after ``attempts``.
    """
    if not vaults:
        return {}
    txs: list[dict[str, Any]] = [
        {"to": to_checksum_address(v), "data": HexBytes(REBALANCE_BLOCKER), "gas": BLOCKER_CALL_GAS}
        for v in vaults
    ]
    try:
        raw = call_each(w3, txs, block, attempts=attempts)
    except ChainError as exc:  # no endpoint answered: named as this read, still transient
        raise ChainError(f"rebalanceBlocker calls failed: {exc}") from exc
    except (OSError, Web3Exception, ValueError) as exc:  # the node
        raise ChainError(f"rebalanceBlocker calls failed: {type(exc).__name__}") from exc
    return {str(to_checksum_address(v)): _decode(r) for v, r in zip(vaults, raw, strict=True)}


def _decode(raw: bytes | None) -> bytes | None:
    """The ``bytes`` a ``rebalanceBlocker()`` call returned (ABI-encoded), or ``None``."""
    if raw is None:
        return None
    try:
        (data,) = abi_decode(["bytes"], raw)
    except (DecodingError, ValueError, OverflowError):
        return None
    return bytes(data)
