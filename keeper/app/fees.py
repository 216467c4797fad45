"""What a transaction of the keeper's paid once mined: its L2 execution fee and its L1 data fee.

Every transaction that got mined, reverted or not, a cancel too, is booked once, by whichever
path finishes it (the cycle's send, the next cycle's settle step, a settlement or queue fill), in
``keeper_gas_spent_wei`` (L2 execution) and ``keeper_l1_fee_spent_wei`` (L1 data). A dropped
transaction paid nothing. The L1 fee comes from the best source there is:

- an OP Stack receipt's ``l1Fee``: what the chain charged;
- an Arbitrum receipt's ``gasUsedForL1``: Arbitrum's ``gasUsed`` includes the L1 part, so it is
  split out of the L2 fee (``gasUsedForL1 × effectiveGasPrice``) and the rest is the L2 fee;
- else (the devnet, whose fee oracle is a contract; a node that does not report it) the quote of
  the *mined version's* exact signed bytes: journaled when the first version was sent, priced now
  from the journal's bytes for a version that was not priced (a fee-bumped replacement, a cancel,
  a settlement). A quote that cannot be read now is left out with a warning: a fee counter is not
  worth failing the booking of a mined transaction.

A transaction that reverted at mining is also explained here (:func:`why_reverted`): its
receipt holds no reason, its replay at its block does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

from hexbytes import HexBytes
from rlp.exceptions import RLPException  # type: ignore[import-untyped]

from keeper.chain.retry import is_transient
from keeper.errors import KeeperError
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome, decode_signed
from keeper.execution.transactions import receipt_field, replay_revert

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

logger = logging.getLogger(__name__)


class Paid(NamedTuple):
    """Wei paid for L2 execution and for L1 data (``None``: not known)."""

    l2_wei: int
    l1_wei: int | None


def fees_paid(keeper: Keeper, outcome: SendOutcome) -> Paid:
    """What ``outcome``'s mined version paid (``Paid(0, None)`` when nothing was mined)."""
    if outcome.status not in (TxStatus.MINED, TxStatus.REVERTED) or not outcome.gas_used:
        return Paid(0, None)
    price = int(outcome.effective_gas_price or 0)
    l2 = outcome.gas_used * price
    receipt = outcome.receipt
    if receipt is not None:
        op_fee = receipt_field(receipt, "l1Fee")
        if op_fee is not None:
            return Paid(l2, op_fee)
        arb_gas = receipt_field(receipt, "gasUsedForL1")
        if arb_gas is not None:
            return Paid(l2 - arb_gas * price, arb_gas * price)
    return Paid(l2, _quoted(keeper, outcome.tx_hash))


def book_fees_paid(keeper: Keeper, outcome: SendOutcome) -> Paid:
    """Count :func:`fees_paid` in the keeper's spend counters and return it."""
    paid = fees_paid(keeper, outcome)
    if paid.l2_wei:
        keeper.metrics.gas_spent_wei.inc(paid.l2_wei)
    if paid.l1_wei:
        keeper.metrics.l1_fee_spent_wei.inc(paid.l1_wei)
    return paid


def _quoted(keeper: Keeper, tx_hash: str) -> int | None:
    """The journaled L1 quote of ``tx_hash``, else one priced now on its journaled bytes."""
    sender = keeper.sender
    if sender is None:
        return None
    record = sender.journal.tx(tx_hash)
    if record.l1_fee is not None:
        return int(record.l1_fee)
    if keeper.l1fee.name == "none":
        return None
    try:
        to, data = sender.call_of(tx_hash)
        return int(keeper.l1fee.fee(bytes(HexBytes(record.raw_tx)), to, data))
    except Exception as exc:
        if not (is_transient(exc) or isinstance(exc, KeeperError)):
            raise
        logger.warning("L1 fee of %s not priced: %s", tx_hash, type(exc).__name__)
        return None


def why_reverted(keeper: Keeper, outcome: SendOutcome) -> str:
    """Why ``outcome``'s mined version reverted, in one line.

    Its journaled signed call replayed at the block that mined it (:func:`replay_revert`), the
    error decoded. The receipt says only that it reverted; an alert that says no more leaves the
    operator to replay it by hand. One read, only for a reverted transaction; a replay that
    cannot be read (or a version the journal does not hold) says so and raises nothing, so a
    booking never waits on it.
    """
    sender = keeper.sender
    if sender is None:
        return "reason unknown (no journal to replay it from)"
    if outcome.block_number is None:
        return "reason unknown (no block to replay it at)"
    try:
        tx = decode_signed(sender.journal.tx(outcome.tx_hash).raw_tx)
    except (KeyError, RLPException, ValueError) as exc:
        return f"reason unknown (its signed bytes are not journaled: {type(exc).__name__})"
    why, _ = replay_revert(
        keeper.w3, sender.address, tx, outcome.block_number, keeper.decoder.decode
    )
    return why
