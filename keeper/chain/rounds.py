"""The oracle round a series settles at: the first round at or after its expiry.

A vault settles a series at the first round of its price feed with ``updatedAt >= expiry``, named
by a round-id hint it checks against the previous round (``prev.updatedAt < expiry <=
hint.updatedAt``, same phase). :func:`expiry_round` finds that hint by walking the feed's rounds
back from the latest one, and into older phases of a Chainlink proxy (``phaseAggregators``) when
a phase began after expiry, as ``RebalanceRules._hasExpiryRound`` does. Used by the keeper's
settlement (``keeper/app/settle.py``) and the devnet's market.
"""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

__all__ = ["MAX_PHASES_BACK", "MAX_WALK", "SETTLEMENT_GRACE_S", "expiry_round"]

#: ``RebalanceRules.SETTLEMENT_GRACE``: from expiry + this, ``settle(id, 0)`` is allowed.
SETTLEMENT_GRACE_S = 86_400
#: Most rounds walked back for one hint (a series is settled within a few blocks of expiry, so
#: the round it needs is among the latest few).
MAX_WALK = 256
#: ``RebalanceRules.MAX_PHASES_BACK``: older phases looked through for the expiry round.
MAX_PHASES_BACK = 4
_AGGREGATOR_ROUND = (1 << 64) - 1
_PROXY_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "phaseAggregators",
        "stateMutability": "view",
        "inputs": [{"name": "phaseId", "type": "uint16"}],
        "outputs": [{"name": "", "type": "address"}],
    }
]
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

    The first round with ``updatedAt >= expiry`` whose predecessor in its phase is older than
    expiry (the vault's expiry round): in the feed's latest phase, or, while a phase began at or
    after expiry, in the one before it (a Chainlink proxy's ``phaseAggregators``, up to
    ``MAX_PHASES_BACK``). When its answer is not positive the vault refuses it
    (``OptionVaultInvalidPrice``) until expiry + the grace period, then settles it at the current
    healthy price: None until then, the round after. 0 (the vault's fallback) from expiry + the
    grace period when no phase has such a round (no round since expiry, a phase change across
    expiry, a feed whose older phases cannot be read): the vault refuses the fallback whenever
    one has, so that no one can settle at a later price of their choosing. More than
    ``MAX_WALK`` rounds since expiry also gives 0; the vault refuses it and the failure is
    alerted.
    """
    address = Web3.to_checksum_address(feed)
    agg = w3.eth.contract(address=address, abi=_AGGREGATOR_ABI)
    latest = agg.functions.latestRoundData().call()
    round_id, answer, updated_at = int(latest[0]), int(latest[1]), int(latest[3])
    fallback = 0 if now >= expiry + SETTLEMENT_GRACE_S else None
    phases_back = 0
    for _ in range(MAX_WALK):
        if updated_at < expiry:
            return fallback  # this phase's rounds (and older phases') ended before expiry
        if round_id & _AGGREGATOR_ROUND <= 1:
            # The phase's first round is at or after expiry: the round may be in the one before.
            phase = round_id >> 64
            if phase <= 1 or phases_back == MAX_PHASES_BACK:
                return fallback
            phases_back += 1
            older = _phase_latest(w3, address, phase - 1)
            if older is None:
                return fallback
            round_id, answer, updated_at = older
            continue
        prev = agg.functions.getRoundData(round_id - 1).call()
        if int(prev[3]) < expiry:
            return round_id if answer > 0 or fallback == 0 else None
        round_id, answer, updated_at = round_id - 1, int(prev[1]), int(prev[3])
    return fallback


def _phase_latest(w3: Web3, proxy: ChecksumAddress, phase: int) -> tuple[int, int, int] | None:
    """The last round of ``phase`` of the Chainlink proxy ``proxy``, from the phase's aggregator.

    Returns (its proxy round id, answer, updatedAt), or None when the feed has no such phase or
    it cannot be read (a feed without phases reverts), as the vault treats it. Transport errors
    are raised: the caller's retry classifies them.
    """
    try:
        fns = w3.eth.contract(address=proxy, abi=_PROXY_ABI).functions
        aggregator = str(fns.phaseAggregators(phase).call())
        if int(aggregator, 16) == 0:
            return None
        older = w3.eth.contract(address=Web3.to_checksum_address(aggregator), abi=_AGGREGATOR_ABI)
        row = older.functions.latestRoundData().call()
    except (ContractLogicError, BadFunctionCallOutput):
        return None
    local = int(row[0]) & _AGGREGATOR_ROUND
    return (phase << 64) | local, int(row[1]), int(row[3])
