"""Settle expired series: the keeper calls ``settle(id, roundId)`` soon after each expiry.

A vault settles a series at the first oracle round at or after its expiry, named by a round-id hint
the contract checks against the previous round (``prev.updatedAt < expiry <= hint.updatedAt``, same
phase). :func:`keeper.chain.rounds.expiry_round` finds the hint off-chain by walking the feed's
rounds back from the latest one. Chainlink proxy round ids are ``phaseId << 64 | aggregatorRound``
and opaque across phases, so the walk stays in the latest phase; the first round of a phase cannot
be checked on chain, and such a series waits for the vault's fallback (``settle(id, 0)`` from expiry
+ ``SETTLEMENT_GRACE``, at the current healthy price).

:func:`settle_expired` runs in every cycle after the observation, for the vaults whose lean
snapshot holds an expired series (healthy or not: a stale oracle is the fallback's business and
is alerted): it reads their open series, and for each expired one it finds the hint, simulates,
and sends through the keeper's journaled :class:`~keeper.execution.sender.Sender` (dry run: it
only logs). A series it cannot
settle (a revert in simulation, a failed send) is counted in ``keeper_settlements{outcome}`` and
alerted; one with no round since expiry yet waits. ``keeper_expired_unsettled`` is the number
left after the cycle.

A settlement frees collateral, so after settling a vault's series the keeper fills the vault's
ERC-7540 redemption queue (``RedemptionQueue.fill()``, permissionless) when the queue has
requests the freed quote can serve (``fillable() > 0``): queued holders are paid pro rata before
anyone can take the freed quote another way. :func:`fill_queue` simulates and sends it like a
settlement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper.chain.artifacts import load_artifact
from keeper.chain.rounds import expiry_round
from keeper.errors import ExecutionError
from keeper.execution.decode import revert_data
from keeper.execution.journal import TxStatus

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper
    from keeper.execution.sender import SendOutcome

logger = logging.getLogger(__name__)

__all__ = ["Settlement", "fill_queue", "settle_expired"]

_SETTLE_GAS_NUM, _SETTLE_GAS_DEN = 13, 10


@dataclass(frozen=True)
class Settlement:
    """One expired series and what the keeper did about it."""

    vault: str
    series_id: int
    round_id: int | None  # the hint sent (0: the fallback), None when nothing was sent
    outcome: str  # settled | simulated | waiting | failed
    reason: str = ""
    tx_hash: str | None = None


def settle_expired(keeper: Keeper, vaults: Sequence[str], block: int, now: int) -> list[Settlement]:
    """Settle every expired, unsettled series of ``vaults`` (see the module docstring).

    Reads nothing for a vault with no expired series; the cycle passes only the vaults whose lean
    snapshot holds one (:attr:`keeper.app.observe.Observation.expired`).
    """
    out: list[Settlement] = []
    abi = load_artifact("OptionVault").abi
    for address in vaults:
        vault = keeper.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        ids = [s[0] for s in vault.functions.openSeries().call() if not s[6] and s[4] <= now]
        if not ids:
            continue
        feed = str(vault.functions.oracle().call())
        settled = [_settle_one(keeper, vault, feed, series_id, block, now) for series_id in ids]
        out.extend(settled)
        if any(x.outcome == "settled" for x in settled):
            fill_queue(keeper, vault, block)
    keeper.metrics.expired_unsettled.set(sum(1 for s in out if s.outcome != "settled"))
    return out


def _settle_one(
    keeper: Keeper, vault: Any, feed: str, series_id: int, block: int, now: int
) -> Settlement:
    expiry = int(vault.functions.series(series_id).call()[4])
    hint = expiry_round(keeper.w3, feed, expiry, now)
    if hint is None:
        keeper.metrics.settlements.labels("waiting").inc()
        return Settlement(vault.address, series_id, None, "waiting", "no oracle round since expiry")
    call = vault.functions.settle(series_id, hint)
    try:
        sent = _send(keeper, call, vault.address, vault.address, block, f"settle {series_id}")
    except ExecutionError as exc:
        return _failed(keeper, vault.address, series_id, hint, str(exc))
    if sent is None:
        logger.info("dry run: would settle series %d of %s at %d", series_id, vault.address, hint)
        keeper.metrics.settlements.labels("simulated").inc()
        return Settlement(vault.address, series_id, hint, "simulated")
    keeper.metrics.settlements.labels("settled").inc()
    logger.info("settled series %d of %s at round %d", series_id, vault.address, hint)
    return Settlement(vault.address, series_id, hint, "settled", tx_hash=sent.tx_hash)


def _send(
    keeper: Keeper, call: Any, to: str, vault: str, block: int, note: str
) -> SendOutcome | None:
    """Simulate ``call`` (``eth_estimateGas``), then send it through the journaled sender.

    Returns the mined outcome, or None in a dry run (no sender).

    Raises:
        ExecutionError: The simulation reverted (decoded), the send failed, or the transaction
            was not mined; the message says which.
    """
    sender = keeper.sender
    origin = sender.address if sender is not None else keeper.simulate_from
    try:
        gas = int(call.estimate_gas({"from": origin} if origin else {}))
    except ContractLogicError as exc:
        data = revert_data(exc)
        reason = keeper.decoder.decode(data) if data else str(exc)
        raise ExecutionError(f"simulation reverted: {reason}") from exc
    if sender is None:
        return None
    data = bytes.fromhex(call._encode_transaction_data()[2:])
    try:
        record = sender.submit_new(
            [vault], block, to, data, gas * _SETTLE_GAS_NUM // _SETTLE_GAS_DEN, note=note
        )
        outcome = sender.wait(record.nonce)
    except ExecutionError as exc:
        raise ExecutionError(f"send failed: {exc}") from exc
    if outcome.status != TxStatus.MINED:
        raise ExecutionError(f"transaction {outcome.status}")
    return outcome


def _failed(keeper: Keeper, vault: str, series_id: int, hint: int, reason: str) -> Settlement:
    keeper.metrics.settlements.labels("failed").inc()
    keeper.alerter.alert(
        "settlement",
        f"vault {vault}: cannot settle expired series {series_id}: {reason}",
        key=f"{vault}:{series_id}",
    )
    return Settlement(vault, series_id, hint, "failed", reason)


def fill_queue(keeper: Keeper, vault: Any, block: int) -> str | None:
    """Fill ``vault``'s redemption queue if it has requests that free quote can serve.

    Returns the transaction hash, or None when there is no queue, nothing to fill, a dry run,
    or a failure (alerted, never raised: the queue waits for the next settlement or anyone's
    ``fill()``).
    """
    queue_address = str(vault.functions.redemptionQueue().call())
    if int(queue_address, 16) == 0:
        return None
    queue = keeper.w3.eth.contract(
        address=Web3.to_checksum_address(queue_address), abi=load_artifact("RedemptionQueue").abi
    )
    if int(queue.functions.fillable().call()) == 0:
        return None
    try:
        sent = _send(
            keeper, queue.functions.fill(), queue.address, vault.address, block, "fill queue"
        )
    except ExecutionError as exc:
        _queue_alert(keeper, vault.address, str(exc))
        return None
    if sent is None:
        logger.info("dry run: would fill the redemption queue of %s", vault.address)
        return None
    logger.info("filled the redemption queue of %s (tx %s)", vault.address, sent.tx_hash)
    return str(sent.tx_hash)


def _queue_alert(keeper: Keeper, vault: str, reason: str) -> None:
    keeper.alerter.alert(
        "redemption_queue", f"vault {vault}: cannot fill its redemption queue: {reason}", key=vault
    )
