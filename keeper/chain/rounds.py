"""The oracle round a series settles at: the first round at or after its expiry.

A vault settles a series at the first round of its price feed with ``updatedAt >= expiry``, named
by a round-id hint it checks against the previous round (``prev.updatedAt < expiry <=
hint.updatedAt``, same phase). :func:`expiry_round` finds that hint by walking the feed's rounds
back from the latest one. Used by the keeper's settlement (``keeper/app/settle.py``) and the
devnet's market.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

__all__ = ["MAX_WALK", "SETTLEMENT_GRACE_S", "expiry_round"]

#: ``RebalanceRules.SETTLEMENT_GRACE``: from expiry + this, ``settle(id, 0)`` is allowed.
SETTLEMENT_GRACE_S = 86_400
#: Most rounds walked back for one hint (a series is settled within a few blocks of expiry, so
#: the round it needs is among the latest few).
MAX_WALK = 256
_AGGREGATOR_ROUND = (1 << 64) - 1
_AGGREGATOR_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": inputs,
        "outputs": [
            {"name": "roundId", "type": "uint80"},
            {"name": "answer", "type": "int256"},
            {"name": "startedAt", "type": "uint256"},
            {"name": "updatedAt", "type": "uint256"},
            {"name": "answeredInRound", "type": "uint80"},
        ],
    }
    for name, inputs in (
        ("latestRoundData", []),
        ("getRoundData", [{"name": "roundId", "type": "uint80"}]),
    )
]


def expiry_round(w3: Web3, feed: str, expiry: int, now: int) -> int | None:
    """The round id to settle a series expiring at ``expiry`` with, or None to wait.

    The first round of the feed's latest phase with ``updatedAt >= expiry`` whose predecessor is
    older than expiry (the vault's expiry round). When its answer is not positive the vault
    refuses it (``OptionVaultInvalidPrice``) until expiry + the grace period, then settles it at
    the current healthy price: None until then, the round after. 0 (the vault's fallback) from
    expiry + the grace period when the latest phase has no such round (no round since expiry,
    or a phase that began after expiry): the vault refuses the fallback whenever the phase has
    one, so that no one can settle at a later price of their choosing. More than ``MAX_WALK``
    rounds since expiry also gives 0; the vault refuses it and the failure is alerted.
    """
    agg = w3.eth.contract(address=Web3.to_checksum_address(feed), abi=_AGGREGATOR_ABI)
    latest = agg.functions.latestRoundData().call()
    round_id, answer, updated_at = int(latest[0]), int(latest[1]), int(latest[3])
    fallback = 0 if now >= expiry + SETTLEMENT_GRACE_S else None
    if updated_at < expiry:
        return fallback
    for _ in range(MAX_WALK):
        if round_id & _AGGREGATOR_ROUND <= 1:
            return fallback  # first round of a phase: the contract cannot check it
        prev = agg.functions.getRoundData(round_id - 1).call()
        if int(prev[3]) < expiry:
            return round_id if answer > 0 or fallback == 0 else None
        round_id, answer = round_id - 1, int(prev[1])
    return fallback
