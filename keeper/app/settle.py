"""Settle expired series: the keeper calls ``settle(id, roundId)`` soon after each expiry.

A vault settles a series at the first oracle round at or after its expiry, named by a round-id hint
the contract checks against the previous round (``prev.updatedAt < expiry <= hint.updatedAt``, same
phase). :func:`keeper.chain.rounds.expiry_round` finds the hint off-chain by searching the feed's
rounds (halving). Chainlink proxy round ids are ``phaseId << 64 | aggregatorRound``; when a phase
began after expiry the search goes on in the phase before it, as the vault looks there too. The
first round of a phase cannot be checked
on chain, so a series whose expiry falls across a phase change waits for the vault's fallback
(``settle(id, 0)`` from expiry + ``SETTLEMENT_GRACE``, at the current healthy price).

:func:`settle_expired` runs in every cycle after the observation, for the vaults whose lean
snapshot holds an expired series (healthy or not: a stale oracle is the fallback's business and
is alerted): it reads their open series, finds each expired one's hint, simulates, and sends
through the keeper's journaled :class:`~keeper.execution.sender.Sender` (dry run: it only logs).
Several series, of one vault or many, go in one ``RebalanceBatcher.settleBatch`` transaction
(``SETTLE_BATCH_MAX`` a transaction, or the batcher's ``maxBatch`` if smaller, each series in its
own guarded call): series that expire
together (a common expiry across vaults) used to be settled one transaction each, one block each,
with every hedge held behind them. The batch is called first; a series that would fail is left
out and booked as below, and after mining each series is booked by the receipt (the batcher's
``SettlementFailed`` names one someone settled first in the same block). A lone series, or any
when there is no batcher or the batch does not simulate as a whole, goes to its vault's own
``settle``; so do the series a batch that reverted at mining left unsettled, in the same cycle
(the revert is alerted once), and the series the batcher skipped for gas (logged, not alerted).
Once a call of the batch has failed (a vault whose feed burns its whole gas allowance only at
mining), a later series the batcher cannot give its full allowance no longer reverts the whole
batch: it is called with what is left, and when that is not enough it is reported with
``RebalanceBatcherInsufficientGas`` in ``SettlementFailed``, which says nothing about the series:
it is tried again, by its own transaction, never booked ``failed`` (a batch booked a cycle late
books it ``waiting``, and the next step sends it again). Each series is counted in
``keeper_settlements{outcome}``:

- ``settled``: the keeper's transaction settled it;
- ``settled_by_other``: someone else settled it first (anyone may: a market maker, another
  keeper). Either the simulation is refused with ``OptionVaultAlreadySettled``, or the
  transaction passed its simulation and reverted at mining, and the series, read again, is
  settled (the other settle landed first in the same block). Logged at info, no alert. A re-read
  the node cannot answer fails the cycle as transient, and the transaction is kept for the next
  cycle's settle step, which books it (:func:`book_resumed`), fees included, once;
- ``failed``: a revert in simulation, a failed send, a revert with the series still unsettled, or
  an expiry round that cannot be read (a feed that reverts or has no code: that vault's fault,
  so the cycle goes on; an unreachable node still fails the cycle as transient). Alerted
  (``settlement``). A send the node refused after the sender journaled it stays pending in the
  journal (the next cycle sends it again at its nonce), so, as for a ``waiting`` one below, the
  rest of the cycle sends nothing behind it;
- ``waiting``: no oracle round the vault takes yet (none since expiry, one dated after the
  block, or one that answered <= 0 before the grace period); or the settlement was sent and has
  no receipt within the cycle (the journal keeps it; the next cycle books it ``settled`` or
  otherwise; the rest of this cycle sends nothing behind it, no other settlement and no batch); or
  an earlier transaction of the keeper's is still pending (nothing new is sent until it is
  mined: that may be this very settlement); or the base fee is above the cap (nothing signed,
  as a rebalance waits); or a batch booked a cycle late skipped it for gas;
  ``simulated``: a dry run.

``keeper_expired_unsettled`` is the number left unsettled after the cycle. The fees of every
mined settlement transaction, reverted or not, are counted in ``keeper_gas_spent_wei`` and
``keeper_l1_fee_spent_wei`` (:mod:`keeper.app.fees`).

A settlement or queue fill whose receipt did not come within its cycle is finished by the next
cycle's settle step (:func:`keeper.app.act.settle_in_flight`), which hands it to
:func:`book_resumed`: it is booked here, as a settlement, never as a rebalance.

A settlement frees collateral, so after the cycle's hedge the keeper fills each freed vault's
ERC-7540 redemption queue (``RedemptionQueue.fill()``, permissionless) when the queue has requests
the freed quote can serve (``fillable() > 0``), or holds shares sent to it without a request (its
vault balance above ``totalPending()``: the fill discards them, and the vault stops reserving quote
for them): queued holders are paid pro rata before anyone can take the freed quote another way. A
series settled by someone else frees it too, and is followed by the same fill, as is a settlement
whose receipt came a cycle late (booked by :func:`book_resumed`, filled by the next cycle), and one
someone else made before the keeper saw the series expired (the observation finds the vault's locked
collateral fallen: :attr:`keeper.app.observe.Observation.freed`), and the queues the sweep found the
free quote can serve between settlements (:mod:`keeper.app.sweep`). The fills come last in the cycle
(:func:`fill_due_queues`), after the hedge: a fill transaction never holds a hedge back (the hedge
went a block behind each), and the fill pays out the quote that hedge freed (a book that expired
leaves inventory the hedge sells; before, that quote waited for a later fill). A fill does not move
a vault's delta: it pays quote for shares. A hedge that buys spends free quote first, as the book
needs; the queue is paid at the NAV either way, and instant exits still cannot take the quote its
requests are owed (the vault reserves it). A vault stays due (``keeper.fill_due``) until a cycle
that can send has looked at it: one held by a pending transaction (an earlier one, this cycle's
settlement or hedge) or a fill left pending drops none. :func:`fill_queues` simulates and sends them
like settlements: several queues in one ``RebalanceBatcher.fillBatch`` transaction (a common expiry
frees many vaults' collateral at once, and one fill a transaction held every hedge one block a
queue), a lone queue, or any when there is no batcher or the batch does not simulate, by its own
``fill()``. A fill with no receipt within its wait (or held under the fee cap) holds the rest of the
cycle as a settlement does: no later fill is sent behind it, and the next cycle polls it before it
sends anything. A fill that did not go through (reverted at mining, failed inside a mined
``fillBatch``, cancelled, or dropped) is read again as a settlement is, at the block that mined it
(the head for one never mined): a queue with nothing left to fill there
(:func:`keeper.strategy.fills.fill_raced`) was filled by someone else first, or changed in the same
block, and is logged, not alerted; the others are ``redemption_queue`` alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper.app.fees import book_fees_paid, why_reverted
from keeper.chain.answers import failed_events
from keeper.chain.artifacts import load_artifact
from keeper.chain.queues import work_left
from keeper.chain.retry import is_transient, read_with_retry
from keeper.chain.rounds import expiry_round
from keeper.chain.vaults import queue_unrequested
from keeper.errors import ExecutionError, FeeCapError, TxTimeoutError, first_line
from keeper.execution.decode import revert_data
from keeper.execution.journal import TxStatus
from keeper.execution.simulate import FILL_BATCH_SELECTOR, SETTLE_BATCH_SELECTOR, shared_codec
from keeper.strategy.fills import fill_raced

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper
    from keeper.execution.sender import SendOutcome

logger = logging.getLogger(__name__)

__all__ = [
    "SettleStep",
    "Settlement",
    "book_refused",
    "book_resumed",
    "fill_due_queues",
    "fill_queues",
    "settle_expired",
]

_SETTLE_GAS_NUM, _SETTLE_GAS_DEN = 13, 10

#: ``OptionVaultAlreadySettled(uint256)``: the vault's refusal of a series settled already.
_ALREADY_SETTLED = bytes(keccak(text="OptionVaultAlreadySettled(uint256)")[:4])
#: ``RebalanceBatcherInsufficientGas(uint256,uint256)`` as a ``settleBatch`` outcome: the series
#: was skipped for gas after an earlier call of the batch failed (one that burned its allowance
#: at mining); it says nothing about the series, which is settled again.
_SKIPPED_FOR_GAS = bytes(keccak(text="RebalanceBatcherInsufficientGas(uint256,uint256)")[:4])
#: The vault's refusals a simulation on a node behind the cycle's block gives (see
#: :func:`_behind`): ``OptionVaultNotExpired`` (the step settles only series expired at the
#: cycle's block) and ``OptionVaultSettlementRound`` (the hint is a round the search read at it).
_BEHIND_REFUSALS = frozenset(
    bytes(keccak(text=error)[:4])
    for error in ("OptionVaultNotExpired(uint256,uint256)", "OptionVaultSettlementRound(uint80)")
)
#: Selectors of the calls this module sends: the vault's ``settle(uint256 id, uint80 roundId)``
#: and the queue's ``fill()`` (``tests/unit/test_selectors.py`` checks them against the ABIs).
SETTLE_SELECTOR = bytes(keccak(text="settle(uint256,uint80)")[:4])
FILL_SELECTOR = bytes(keccak(text="fill()")[:4])
#: topic0 of the batcher's ``SettlementFailed(address indexed vault, uint256 indexed id, bytes)``.
SETTLEMENT_FAILED_TOPIC = bytes(keccak(text="SettlementFailed(address,uint256,bytes)"))
#: topic0 of the batcher's ``QueueFillFailed(address indexed queue, bytes reason)``.
QUEUE_FILL_FAILED_TOPIC = bytes(keccak(text="QueueFillFailed(address,bytes)"))
#: Series a ``settleBatch`` transaction: ~52k gas each in a batch (docs/benchmarks.md, section
#: 6), well under a block. A batcher deployed with a smaller ``maxBatch`` sets the size instead
#: (:func:`_settle_batch_size`).
SETTLE_BATCH_MAX = 20
#: Index of the ``settled`` flag in a ``Series`` tuple (IOptionVault.Series).
_SETTLED = 6


class _PendingError(ExecutionError):
    """Sent, but not settled within the wait: the journal keeps it, the next cycle books it.

    Or not sent because the base fee is above the cap: the next cycle tries again.
    """


class _JournaledError(ExecutionError):
    """The node refused the send after the sender journaled its signed row.

    The row is pending in the journal (the next cycle sends it again at its nonce): a failure to
    alert, and nothing new may be signed behind it this cycle.
    """


class _RevertedError(ExecutionError):
    """The chain refused the call, in its simulation or at mining.

    ``data`` is the simulation's revert data; ``outcome`` the transaction reverted at mining.
    """

    def __init__(
        self, message: str, *, data: bytes = b"", outcome: SendOutcome | None = None
    ) -> None:
        super().__init__(message)
        self.data = data
        self.outcome = outcome


@dataclass(frozen=True)
class Settlement:
    """One expired series and what the keeper did about it."""

    vault: str
    series_id: int
    round_id: int | None  # the hint sent (0: the fallback), None when nothing was sent
    outcome: str  # settled | settled_by_other | simulated | waiting | failed
    reason: str = ""
    tx_hash: str | None = None
    #: Sent and not yet settled (or held under the fee cap, or refused after it was journaled):
    #: nothing new may be sent this cycle, neither another settlement nor the batch
    #: (:func:`keeper.app.cycle.run_cycle`).
    pending: bool = False

    @property
    def blocks(self) -> str:
        """Why nothing new may be sent behind this settlement."""
        return f"settlement of series {self.series_id} of {self.vault} pending: {self.reason}"


@dataclass(frozen=True)
class SettleStep:
    """What :func:`settle_expired` did: each expired series, and what it left pending."""

    settlements: tuple[Settlement, ...]
    #: Why nothing new may be sent behind this step: a settlement it sent has no receipt yet,
    #: waits under the fee cap, or was refused after it was journaled (its row holds the
    #: nonce). The cycle's batch and its queue fills wait too
    #: (:func:`keeper.app.cycle.run_cycle`). ``None`` when the step left nothing pending.
    pending: str | None = None


def settle_expired(
    keeper: Keeper,
    vaults: Sequence[str],
    block: int,
    now: int,
    blocked: str | None = None,
    *,
    fill: Sequence[str] = (),
) -> SettleStep:
    """Settle every expired, unsettled series of ``vaults`` (see the module docstring).

    Reads nothing for a vault with no expired series; the cycle passes only the vaults whose lean
    snapshot holds one (:attr:`keeper.app.observe.Observation.expired`).

    Args:
        keeper: The collaborators.
        vaults: The vaults to look at.
        block: The block the cycle observed.
        now: Its timestamp.
        blocked: Why nothing new may be sent this cycle (an earlier transaction, perhaps this
            very settlement, still pending: :func:`keeper.app.act.settle_in_flight`). Each
            expired series is then ``waiting``, and nothing is simulated or sent: a settlement
            is never sent twice.
        fill: Vaults whose redemption queues may have something to fill: freed by a
            settlement :func:`keeper.app.act.settle_in_flight` finished (:func:`book_resumed`)
            or by someone else's. They are made due in ``keeper.fill_due``, with the vaults
            this step's settlements freed, and :func:`fill_due_queues` fills them after the
            cycle's hedge (once a vault).
    """
    slots: list[Settlement | None] = []  # one a series, in order; None until its send ends
    candidates: list[_Candidate] = []
    touched: list[str] = []  # the vaults with expired series, in order
    # Each (feed, expiry)'s round hint, searched once: a common expiry across many vaults of one
    # feed is one search, not one a series.
    hints: dict[tuple[str, int], int | None] = {}
    abi = load_artifact("OptionVault").abi
    unreadable = 0
    for address in vaults:
        vault = keeper.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        try:
            expired, feed = _expired_series(keeper, vault, now, feed=blocked is None)
        except Exception as exc:
            if is_transient(exc):
                raise  # the node, not the vault: the cycle fails as transient
            keeper.alerter.alert(
                "settlement",
                f"vault {vault.address}: cannot read its series to settle them: {_why(exc)}",
                key=vault.address,
            )
            unreadable += 1  # the lens flagged an expired series there: one at least
            continue
        if expired:
            touched.append(vault.address)
        for series_id, expiry in expired:
            if blocked is not None:
                keeper.metrics.settlements.labels("waiting").inc()
                slots.append(Settlement(vault.address, series_id, None, "waiting", blocked))
                continue
            found = _hint(keeper, vault, feed, series_id, expiry, (now, block), hints)
            if isinstance(found, Settlement):
                slots.append(found)
                continue
            candidates.append(_Candidate(len(slots), vault, series_id, found))
            slots.append(None)
    pending = _settle_candidates(keeper, candidates, slots, block)
    if pending is not None:
        blocked = pending
    out = [s for s in slots if s is not None]
    freed = [v for v in touched if any(s.vault == v and s.outcome in _NOW_SETTLED for s in out)]
    # A vault handed over while nothing can be sent stays due, and so do the queues behind a
    # fill left pending: the next step that can send looks at every one again (a queue filled
    # since reads nothing to fill, so none is filled twice).
    due = keeper.fill_due
    for address in (*freed, *fill):
        due.setdefault(address, None)
    unsettled = sum(1 for s in out if s.outcome not in _NOW_SETTLED)
    keeper.metrics.expired_unsettled.set(unsettled + unreadable)
    return SettleStep(tuple(out), pending)


def _expired_series(
    keeper: Keeper, vault: Any, now: int, *, feed: bool
) -> tuple[list[tuple[int, int]], str]:
    """``vault``'s expired, unsettled series (id, expiry), and its feed when it has any.

    The feed is read only when ``feed`` (something may be sent). Each read takes
    ``KEEPER_RPC_RETRIES`` attempts (:attr:`Keeper.rpc_retries`), as the step's other reads.
    """
    attempts = keeper.rpc_retries
    rows = read_with_retry(vault.functions.openSeries().call, attempts=attempts)
    expired = [(int(s[0]), int(s[4])) for s in rows if not s[6] and s[4] <= now]
    if not expired or not feed:
        return expired, ""
    return expired, str(read_with_retry(vault.functions.oracle().call, attempts=attempts))


def fill_due_queues(
    keeper: Keeper, block: int, blocked: str | None = None, filled: list[str] | None = None
) -> str | None:
    """Fill the redemption queues of the vaults due (``keeper.fill_due``), after the hedge.

    The cycle calls it last, after its hedge and its queue sweep: a fill never delays a hedge,
    and it pays out the quote the hedge just freed (a book that expired leaves inventory the
    hedge sells for quote). A vault stays due until a call that can send has looked at it.

    Args:
        keeper: The collaborators.
        block: The block the cycle observed.
        blocked: Why nothing new may be sent (a transaction of this cycle, or an earlier one,
            still pending; a hedge waiting under the fee cap): nothing is filled, every vault
            stays due.
        filled: Given, the vaults whose queues were filled (a dry run: would be) are added.

    Returns:
        Why nothing new may be sent behind a fill (:func:`fill_queues`), else None.
    """
    due = keeper.fill_due
    if blocked is not None or not due:
        return None
    pending = fill_queues(keeper, list(due), block, filled)
    if pending is None:
        due.clear()
    return pending


@dataclass(frozen=True)
class _Candidate:
    """An expired series with its round hint, ready to settle.

    ``slot`` is its place in the step's list of settlements.
    """

    slot: int
    vault: Any
    series_id: int
    hint: int


def _settle_candidates(
    keeper: Keeper, candidates: Sequence[_Candidate], slots: list[Settlement | None], block: int
) -> str | None:
    """Settle ``candidates``, filling in their ``slots``; return what a send left pending.

    Several at once go through the batcher's ``settleBatch``, ``SETTLE_BATCH_MAX`` (or the
    batcher's smaller ``maxBatch``) a transaction (:func:`_settle_batch`); a lone one, or any
    when there is no batcher (or the batch does not simulate: a batcher without
    ``settleBatch``, or a signer without its keeper role), goes to its vault's own ``settle``
    (:func:`_settle_one`). Once a send is left pending, the rest wait: nothing is sent behind
    it.
    """
    pending: str | None = None
    singles: list[_Candidate] = list(candidates)
    if keeper.batcher is not None and len(candidates) > 1:
        singles = []
        size = _settle_batch_size(keeper, keeper.batcher)
        for start in range(0, len(candidates), size):
            chunk = candidates[start : start + size]
            if pending is not None:
                _wait_behind(keeper, chunk, slots, pending)
                continue
            fallback, pending = _settle_batch(keeper, chunk, slots, block)
            singles.extend(fallback)
    for c in singles:
        if pending is not None:
            _wait_behind(keeper, [c], slots, pending)
            continue
        one = _settle_one(keeper, c.vault, c.series_id, c.hint, block)
        slots[c.slot] = one
        if one.pending:
            pending = one.blocks
    return pending


def _settle_batch_size(keeper: Keeper, batcher: str) -> int:
    """Series a ``settleBatch``: ``SETTLE_BATCH_MAX``, or the batcher's smaller ``maxBatch``.

    A longer batch reverts whole (``RebalanceBatcherBadBatchSize``). ``maxBatch`` is read once
    per batcher (the start-up check hands it to the codec).
    """
    codec = keeper.codec or shared_codec()
    return min(SETTLE_BATCH_MAX, codec.max_batch(keeper.w3, batcher))


def _wait_behind(
    keeper: Keeper, chunk: Sequence[_Candidate], slots: list[Settlement | None], why: str
) -> None:
    """``chunk`` is not sent this cycle: an earlier send is still pending."""
    for c in chunk:
        keeper.metrics.settlements.labels("waiting").inc()
        slots[c.slot] = Settlement(c.vault.address, c.series_id, None, "waiting", why)


#: Outcomes after which the series is settled on chain.
_NOW_SETTLED = frozenset({"settled", "settled_by_other"})


def _settle_batch(
    keeper: Keeper, chunk: Sequence[_Candidate], slots: list[Settlement | None], block: int
) -> tuple[list[_Candidate], str | None]:
    """Settle ``chunk`` in one ``settleBatch`` transaction, filling in its ``slots``.

    The batch is first called (``eth_call``): a series that would fail is left out, booked
    ``settled_by_other`` when it is settled already, else ``failed``; a lone survivor goes to its
    vault's own ``settle``. After mining, each series is booked by the receipt: the batcher's
    ``SettlementFailed`` names the ones that failed inside it (someone settled them first in
    the block: ``settled_by_other``), the rest are ``settled``.

    A series the batcher skipped for gas (``RebalanceBatcherInsufficientGas`` as its outcome,
    in the simulation or the receipt: a call before it in the batch failed, perhaps burning at
    mining gas its estimate never saw) is not failed, and not alerted: it goes to its vault's own
    ``settle`` in this cycle, as after a batch reverted whole.

    Returns:
        The candidates to settle one a transaction instead (all of them when the batch does not
        simulate as a whole; the lone survivor; those skipped for gas; those still unsettled
        after the batch reverted at mining), and what the send left pending, if anything.
    """
    assert keeper.batcher is not None
    batcher = keeper.w3.eth.contract(
        address=Web3.to_checksum_address(keeper.batcher), abi=load_artifact("RebalanceBatcher").abi
    )
    simulated = _simulate_batch(keeper, batcher, chunk, slots, block)
    if simulated is None:
        return list(chunk), None
    keep, again = simulated
    if len(keep) < 2:
        return [*keep, *again], None
    vaults = list(dict.fromkeys(c.vault.address for c in keep))
    try:
        sent = _send(
            keeper,
            _batch_call(batcher, keep),
            batcher.address,
            vaults,
            block,
            f"settle {len(keep)} series",
        )
    except _RevertedError as exc:
        return [*_book_reverted_batch(keeper, keep, slots, exc), *again], None
    except _PendingError as exc:
        logger.info("settlement batch of %d series: %s", len(keep), exc)
        held = []
        for c in keep:
            keeper.metrics.settlements.labels("waiting").inc()
            held.append(
                Settlement(c.vault.address, c.series_id, c.hint, "waiting", str(exc), pending=True)
            )
            slots[c.slot] = held[-1]
        return again, held[0].blocks
    except _JournaledError as exc:
        held = []
        for c in keep:
            held.append(
                _failed(keeper, c.vault.address, c.series_id, c.hint, str(exc), pending=True)
            )
            slots[c.slot] = held[-1]
        return again, held[0].blocks
    except ExecutionError as exc:
        for c in keep:
            slots[c.slot] = _failed(keeper, c.vault.address, c.series_id, c.hint, str(exc))
        return again, None
    if sent is None:
        for c in keep:
            logger.info(
                "dry run: would settle series %d of %s at %d (batch)",
                c.series_id,
                c.vault.address,
                c.hint,
            )
            keeper.metrics.settlements.labels("simulated").inc()
            slots[c.slot] = Settlement(c.vault.address, c.series_id, c.hint, "simulated")
        return again, None
    failures = _batch_failures(keeper, sent)
    for c in keep:
        failure = failures.get((c.vault.address.lower(), c.series_id))
        if failure is not None and failure[:4] == _SKIPPED_FOR_GAS:
            logger.info(
                "series %d of %s skipped for gas in batch %s (%s): settled by its own transaction",
                c.series_id,
                c.vault.address,
                sent.tx_hash,
                keeper.decoder.decode(failure),
            )
            again.append(c)
            continue
        slots[c.slot] = _book_mined(
            keeper, c.vault.address, c.series_id, c.hint, failure, sent.tx_hash, "batch"
        )
    return again, None


def _simulate_batch(
    keeper: Keeper,
    batcher: Any,
    chunk: Sequence[_Candidate],
    slots: list[Settlement | None],
    block: int,
) -> tuple[list[_Candidate], list[_Candidate]] | None:
    """Call ``settleBatch`` for ``chunk``: the series that would settle, and those skipped for gas.

    A series the call skipped for gas (``RebalanceBatcherInsufficientGas``: a call before it
    failed and the call's gas ran short) goes to its vault's own ``settle``. The others are
    booked in their ``slots`` (:func:`_book_failure`; ``block`` is the cycle's). ``None`` when
    the call reverts as a whole (a batcher without ``settleBatch``, a caller without its keeper
    role).
    """
    answer = _call_batch(keeper, _batch_call(batcher, chunk), "settlement", "series")
    if answer is None:
        return None
    keep: list[_Candidate] = []
    again: list[_Candidate] = []
    for c, row in zip(chunk, answer, strict=True):
        if bool(row[2]):
            keep.append(c)
        elif bytes(row[3])[:4] == _SKIPPED_FOR_GAS:
            again.append(c)
        else:
            slots[c.slot] = _book_failure(
                keeper,
                c.vault.address,
                c.series_id,
                c.hint,
                bytes(row[3]),
                "simulation reverted",
                block=block,
            )
    return keep, again


def _call_batch(keeper: Keeper, call: Any, what: str, item: str) -> Any | None:
    """``eth_call`` a batcher ``call`` from the keeper: its outcomes, or None.

    None when it reverts as a whole (a batcher without that function, a caller without its
    keeper role), which the caller meets by sending one ``item`` a transaction. Also None, with
    no call, in a dry run with no one to call as (no signer, no ``KEEPER_SIMULATE_FROM``): the
    batcher takes only its keeper, and from address 0 its refusal would read as a fault that
    ``keeper run`` does not have. Each ``item`` is then simulated on its own (``settle()`` and
    ``fill()`` are anyone's).
    """
    origin = keeper.sender.address if keeper.sender is not None else keeper.simulate_from
    if origin is None:
        logger.info(
            "dry run: the %s batch is not simulated (the batcher takes only its keeper: set a "
            "signer or KEEPER_SIMULATE_FROM); each %s is simulated on its own",
            what,
            item,
        )
        return None
    try:
        return read_with_retry(lambda: call.call({"from": origin}), attempts=keeper.rpc_retries)
    except ContractLogicError as exc:
        data = revert_data(exc)
        reason = keeper.decoder.decode(data) if data else str(exc)
        logger.warning("%s batch does not simulate (%s): one %s a transaction", what, reason, item)
        return None


def _book_reverted_batch(
    keeper: Keeper,
    keep: Sequence[_Candidate],
    slots: list[Settlement | None],
    exc: _RevertedError,
) -> list[_Candidate]:
    """Book a ``settleBatch`` refused in its gas estimate, or reverted at mining.

    After a revert at mining each series is read again: one settled by someone else is booked
    so, and the others are returned, to be settled one a transaction in this cycle (each
    simulated first), with one ``settlement`` alert for the batch. Booked ``failed`` and batched
    again the next cycle, they never settled while the cause lasted: a vault whose feed burns
    gas at mining starves the batch's later calls (``RebalanceBatcherInsufficientGas`` reverts
    it whole), and with it every other vault's series of its expiry. A read that fails gives the
    outcome back to the sender whole, for the next cycle, and raises.
    """
    outcome = exc.outcome
    if outcome is None:
        for c in keep:
            slots[c.slot] = _failed(keeper, c.vault.address, c.series_id, c.hint, str(exc))
        return []
    try:
        settled = [_is_settled(keeper, c.vault, c.series_id, outcome.block_number) for c in keep]
    except Exception as read_exc:
        if is_transient(read_exc) and keeper.sender is not None:
            keeper.sender.give_back([outcome])  # booked whole by the next cycle
        else:
            book_fees_paid(keeper, outcome)
        raise
    book_fees_paid(keeper, outcome)
    again: list[_Candidate] = []
    for c, done in zip(keep, settled, strict=True):
        if done:
            slots[c.slot] = _by_other(
                keeper, c.vault.address, c.series_id, c.hint, str(exc), outcome.tx_hash
            )
        else:
            again.append(c)
    if again:
        keeper.alerter.alert(
            "settlement",
            f"settlement batch of {len(keep)} series: {exc}; {len(again)} go one a transaction",
            key=outcome.tx_hash,
        )
    return again


def _book_mined(
    keeper: Keeper,
    vault: str,
    series_id: int,
    hint: int,
    failure: bytes | None,
    tx_hash: str,
    how: str,
) -> Settlement:
    """Book one series of a mined ``settleBatch``.

    ``failure`` is its ``SettlementFailed`` reason, ``None`` when it settled.
    """
    if failure is None:
        return _settled(keeper, vault, series_id, hint, f"{how} {tx_hash}", tx_hash)
    return _book_failure(
        keeper, vault, series_id, hint, failure, f"failed inside batch {tx_hash}", tx_hash
    )


def _book_failure(
    keeper: Keeper,
    vault: str,
    series_id: int,
    hint: int,
    failure: bytes,
    what: str,
    tx_hash: str | None = None,
    *,
    block: int | None = None,
) -> Settlement:
    """Book a series a ``settleBatch`` did not settle, by its revert data.

    ``settled_by_other`` when the vault refused it as settled already, else ``failed``
    (``what``: where it failed). ``block``: the cycle's, for a refusal in the simulation
    (:func:`_behind`).
    """
    if failure[:4] == _ALREADY_SETTLED:
        why = keeper.decoder.decode(failure)
        return _by_other(keeper, vault, series_id, hint, why, tx_hash)
    if failure[:4] == _SKIPPED_FOR_GAS:
        # Not the series' fault: it is still expired and unsettled, and the next settle step
        # sends it again (the in-cycle path sends it by its own transaction at once).
        why = f"skipped for gas ({what}: {keeper.decoder.decode(failure)}): tried again"
        keeper.metrics.settlements.labels("waiting").inc()
        logger.info("settlement of series %d of %s waits: %s", series_id, vault, why)
        return Settlement(vault, series_id, hint, "waiting", why, tx_hash)
    if block is not None and (waits := _behind(keeper, vault, series_id, hint, failure, block)):
        return waits
    reason = keeper.decoder.decode(failure) if failure else "no revert data"
    return _failed(keeper, vault, series_id, hint, f"{what}: {reason}", tx_hash)


def _behind(
    keeper: Keeper, vault: str, series_id: int, hint: int, failure: bytes, block: int
) -> Settlement | None:
    """``waiting``, with no alert, for a simulation refusal a node behind the cycle could give.

    The step settles only series expired at the cycle's block, with a round its search read
    there: a simulation answered "not expired" or "not the expiry round" (``_BEHIND_REFUSALS``)
    may have run on a node behind that block. Chaos ``harsh``'s lagging failover raised four
    false ``settlement`` alerts so. The settlement is called again pinned to ``block``
    (:func:`_refused_at`): refused there too, the hint is wrong, not the node, and None is
    returned at once (the caller alerts it, as it does any other refusal: None too). Taken
    there, the series waits for the next cycle. A refusal of the same hint in a later cycle is
    alerted whatever the pinned call says (a node that stays behind), in every cycle it lasts:
    until 2026-12-07 a wrong hint waited a cycle before its alert, and every other cycle after.
    """
    if failure[:4] not in _BEHIND_REFUSALS:
        return None
    key = (vault.lower(), series_id, hint)
    if key in keeper.settle_refused_once or _refused_at(keeper, vault, series_id, hint, block):
        keeper.settle_refused_once.add(key)
        return None
    keeper.settle_refused_once.add(key)
    why = f"simulated on a node behind the cycle's block? {keeper.decoder.decode(failure)}"
    keeper.metrics.settlements.labels("waiting").inc()
    logger.info("settlement of series %d of %s waits: %s", series_id, vault, why)
    return Settlement(vault, series_id, hint, "waiting", why)


def _refused_at(keeper: Keeper, vault: str, series_id: int, hint: int, block: int) -> bool:
    """Whether ``settle(series_id, hint)`` reverts at ``block`` (an ``eth_call`` pinned there).

    A node behind ``block`` answers "header not found" and the read fails over; when no node
    can answer, it cannot tell: False.
    """
    contract = keeper.w3.eth.contract(
        address=Web3.to_checksum_address(vault), abi=load_artifact("OptionVault").abi
    )
    origin = keeper.sender.address if keeper.sender is not None else keeper.simulate_from
    call = contract.functions.settle(series_id, hint)
    try:
        read_with_retry(
            lambda: call.call({"from": origin} if origin else {}, block_identifier=block),
            attempts=keeper.rpc_retries,
        )
    except ContractLogicError:
        return True
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.info(
            "settlement of series %d of %s: no node answers at block %d", series_id, vault, block
        )
        return False
    return False


def _batch_call(batcher: Any, chunk: Sequence[_Candidate]) -> Any:
    """``settleBatch(vaults, ids, hints)`` for ``chunk``."""
    return batcher.functions.settleBatch(
        [c.vault.address for c in chunk], [c.series_id for c in chunk], [c.hint for c in chunk]
    )


def _batch_failures(keeper: Keeper, outcome: SendOutcome) -> dict[tuple[str, int], bytes]:
    """The series that failed inside a mined ``settleBatch``, with their revert data.

    Keyed by (vault in lower case, series id), from the batcher's ``SettlementFailed`` events in
    the receipt (read again when the outcome carries none).
    """
    failed: dict[tuple[str, int], bytes] = {}
    receipt = _receipt_of(keeper, outcome)
    for topics, reason in failed_events(receipt, keeper.batcher or "", SETTLEMENT_FAILED_TOPIC, 2):
        vault = "0x" + bytes(topics[1])[-20:].hex()
        failed[(vault, int.from_bytes(bytes(topics[2]), "big"))] = reason
    return failed


def _receipt_of(keeper: Keeper, outcome: SendOutcome) -> Any:
    """The receipt of a mined ``outcome``: its own, or read from the node when it has none."""
    if outcome.receipt is not None:
        return outcome.receipt
    return read_with_retry(
        lambda: keeper.w3.eth.get_transaction_receipt(HexStr(outcome.tx_hash)),
        attempts=keeper.rpc_retries,
    )


def _hint(
    keeper: Keeper,
    vault: Any,
    feed: str,
    series_id: int,
    expiry: int,
    at: tuple[int, int],
    hints: dict[tuple[str, int], int | None],
) -> int | Settlement:
    """The round hint to settle ``series_id`` (expiring at ``expiry``) with.

    Or, when there is none, its settlement: ``waiting`` for a round, or ``failed``. ``at`` is
    the cycle's (timestamp, block): the feed is read at that block. ``hints`` keeps each
    (feed, expiry)'s answer for the rest of the step.
    """
    now, block = at
    key = (feed.lower(), expiry)
    try:
        if key not in hints:
            hints[key] = expiry_round(keeper.w3, feed, expiry, now, block)
        hint = hints[key]
    except Exception as exc:
        # A vault's own fault (a feed that reverts or has no code) fails its settlement only;
        # the cycle goes on to the other vaults and the hedge. An unreachable node fails it.
        if is_transient(exc):
            raise
        return _failed(
            keeper, vault.address, series_id, None, f"cannot find its expiry round: {_why(exc)}"
        )
    if hint is None:
        keeper.metrics.settlements.labels("waiting").inc()
        why = "no oracle round the vault takes yet (none since expiry, or dated after the block)"
        return Settlement(vault.address, series_id, None, "waiting", why)
    return hint


def _settle_one(keeper: Keeper, vault: Any, series_id: int, hint: int, block: int) -> Settlement:
    """Settle one series with its own transaction to its vault."""
    call = vault.functions.settle(series_id, hint)
    try:
        sent = _send(keeper, call, vault.address, [vault.address], block, f"settle {series_id}")
    except _RevertedError as exc:
        outcome = exc.outcome
        if outcome is None and (
            waits := _behind(keeper, vault.address, series_id, hint, exc.data, block)
        ):
            return waits
        tx_hash = outcome.tx_hash if outcome is not None else None
        already = outcome is None and exc.data[:4] == _ALREADY_SETTLED
        try:
            by_other = already or (
                outcome is not None and _is_settled(keeper, vault, series_id, outcome.block_number)
            )
        except Exception as read_exc:
            if outcome is not None:
                if is_transient(read_exc) and keeper.sender is not None:
                    # The journal has settled the nonce, so no poll finds it again: kept whole
                    # (its fees too) for the next cycle's settle step, which books it
                    # (:func:`book_resumed`) and fills the queue it may have freed.
                    keeper.sender.give_back([outcome])
                else:
                    book_fees_paid(keeper, outcome)
            raise
        if outcome is not None:
            book_fees_paid(keeper, outcome)
        if by_other:
            return _by_other(keeper, vault.address, series_id, hint, str(exc), tx_hash)
        return _failed(keeper, vault.address, series_id, hint, str(exc), tx_hash)
    except _PendingError as exc:
        keeper.metrics.settlements.labels("waiting").inc()
        logger.info("settlement of series %d of %s: %s", series_id, vault.address, exc)
        return Settlement(vault.address, series_id, hint, "waiting", str(exc), pending=True)
    except _JournaledError as exc:
        return _failed(keeper, vault.address, series_id, hint, str(exc), pending=True)
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
    keeper: Keeper, call: Any, to: str, vaults: Sequence[str], block: int, note: str
) -> SendOutcome | None:
    """Simulate ``call`` (``eth_estimateGas``), then send it through the journaled sender.

    Returns the mined outcome, or None in a dry run (no sender).

    Raises:
        ExecutionError: The send failed, or the transaction was not mined (dropped); the message
            says which. A revert, in the simulation or at mining, is its subclass ``_RevertedError``
            (with the revert data, or the reverted transaction); a transaction sent but not
            settled within the wait (no receipt yet, or stuck under the fee cap) is its subclass
            ``_PendingError``: the journal keeps it and the next cycle's settle step books it.
            So is a base fee above the cap at the send (nothing signed: the next cycle tries
            again), a wait as for a rebalance, not a failure. A send the node refused after
            the sender journaled it is its subclass ``_JournaledError``: a failure that, like a
            pending one, holds every later send of the cycle. The fees of a transaction that
            reverted at mining are the caller's to book (once it has read what the revert
            means: a read that fails gives the outcome back to the sender whole).
    """
    sender = keeper.sender
    origin = sender.address if sender is not None else keeper.simulate_from
    try:
        gas = int(call.estimate_gas({"from": origin} if origin else {}))
    except ContractLogicError as exc:
        data = revert_data(exc)
        reason = keeper.decoder.decode(data) if data else str(exc)
        raise _RevertedError(f"simulation reverted: {reason}", data=data) from exc
    if sender is None:
        return None
    data = bytes.fromhex(call._encode_transaction_data()[2:])
    try:
        record = sender.submit_new(
            list(vaults), block, to, data, _gas_limit(keeper, to, gas), note=note
        )
    except FeeCapError as exc:
        _fee_capped(keeper, exc)
        raise _PendingError(f"not sent, {exc}: the next cycle tries again") from exc
    except ExecutionError as exc:
        if sender.journal.pending_nonces(sender.address):
            # Journaled before the refusal (nothing was pending before this send: the step
            # sends nothing then): the row holds its nonce until a later cycle settles it.
            raise _JournaledError(f"send failed: {exc}") from exc
        raise ExecutionError(f"send failed: {exc}") from exc
    try:
        outcome = sender.wait(record.nonce)
    except (TxTimeoutError, FeeCapError) as exc:
        if isinstance(exc, FeeCapError):
            _fee_capped(keeper, exc)
        raise _PendingError(
            f"sent as {record.tx_hash}, no receipt yet ({exc}): the next cycle books it"
        ) from exc
    except ExecutionError as exc:
        if sender.journal.pending_nonces(sender.address):
            # Refused on a later broadcast (the wait's poll), its row still pending at its
            # nonce: held as a refusal at the send is, nothing is signed behind it.
            raise _JournaledError(f"send failed: {exc}") from exc
        raise ExecutionError(f"send failed: {exc}") from exc
    if outcome.status == TxStatus.REVERTED:
        why = why_reverted(keeper, outcome)
        raise _RevertedError(f"transaction {outcome.tx_hash} reverted: {why}", outcome=outcome)
    if outcome.cancelled:
        # Its plan stopped simulating while it waited (someone else settled or filled first)
        # and a cancel took its nonce: the call never ran. Booked as a revert is, by reading
        # again what became of it, never as done.
        raise _RevertedError(
            f"transaction {outcome.tx_hash} cancelled: the call no longer simulated",
            outcome=outcome,
        )
    book_fees_paid(keeper, outcome)
    if outcome.status != TxStatus.MINED:
        raise ExecutionError(f"transaction {outcome.status}")
    return outcome


def _fee_capped(keeper: Keeper, exc: FeeCapError) -> None:
    """A settlement or fill waits for the base fee: the spike's one ``stuck_tx`` alert.

    As a rebalance's: expired series, and the queues they free, waited with it unalerted.
    """
    from keeper.app.act import fee_capped  # act imports this module

    fee_capped(keeper, exc)


def _gas_limit(keeper: Keeper, to: str, estimate: int) -> int:
    """The gas limit signed for a settlement or a fill whose ``eth_estimateGas`` is ``estimate``.

    The estimate with a margin (x1.3). A batch (``settleBatch``, ``fillBatch``) gets the
    batcher's ``vaultGasLimit`` on top, within the block's gas limit: before each vault or queue
    the batcher requires that much gas left (``RebalanceBatcherInsufficientGas`` reverts the
    whole batch otherwise), so a call cheaper at the estimate than at mining starved the next
    one. Chaos ``harsh`` (seed 61) had a fill batch revert so: estimated on a node behind, its
    first queue had nothing to fill there and ~700k gas of work at mining. Unused gas is not
    paid for.
    """
    limit = estimate * _SETTLE_GAS_NUM // _SETTLE_GAS_DEN
    if keeper.batcher is None or to.lower() != keeper.batcher.lower():
        return limit
    codec = keeper.codec or shared_codec()
    vault_gas, block_gas = codec.limits(keeper.w3, to)
    return max(limit, min(limit + vault_gas, block_gas))


def _is_settled(keeper: Keeper, vault: Any, series_id: int, block: int | None = None) -> bool:
    """Whether ``series_id`` of ``vault`` is settled (read again after a revert).

    ``block``: the block that mined our reverted settle, or for one that never got mined the
    cycle's head; read there, a node behind answers "header not found" and the read fails over,
    where ``latest`` on that node would say "not settled" (a false alert). ``None``: ``latest``
    (no head known).
    """
    at = "latest" if block is None else block
    row = read_with_retry(
        lambda: vault.functions.series(series_id).call(block_identifier=at),
        attempts=keeper.rpc_retries,
    )
    return bool(row[_SETTLED])


def _why(exc: BaseException) -> str:
    """One line for an exception in an alert: its type and the first line of its message."""
    return f"{type(exc).__name__}: {first_line(exc)}"


def _failed(
    keeper: Keeper,
    vault: str,
    series_id: int,
    hint: int | None,
    reason: str,
    tx_hash: str | None = None,
    *,
    pending: bool = False,
) -> Settlement:
    keeper.metrics.settlements.labels("failed").inc()
    keeper.alerter.alert(
        "settlement",
        f"vault {vault}: cannot settle expired series {series_id}: {reason}",
        key=f"{vault}:{series_id}",
    )
    return Settlement(vault, series_id, hint, "failed", reason, tx_hash, pending)


def _by_other(
    keeper: Keeper,
    vault: str,
    series_id: int,
    hint: int,
    reason: str,
    tx_hash: str | None = None,
) -> Settlement:
    """Someone else settled the series first: nothing is lost, nothing to alert."""
    keeper.metrics.settlements.labels("settled_by_other").inc()
    logger.info("series %d of %s was settled by someone else first (%s)", series_id, vault, reason)
    return Settlement(vault, series_id, hint, "settled_by_other", reason, tx_hash)


def book_resumed(
    keeper: Keeper,
    outcome: SendOutcome,
    to: str,
    data: bytes,
    vaults: Sequence[str],
    head: int | None = None,
) -> tuple[str, ...]:
    """Book a settlement or queue fill sent by an earlier cycle and finished by this one.

    Called by :func:`keeper.app.act.settle_in_flight` for a transaction that is not a
    rebalance: a ``settle`` is counted as the in-cycle path counts it (``settled``,
    ``settled_by_other`` when it did not get mined but the series is settled now, else ``failed``
    and a ``settlement`` alert), a queue ``fill`` that did not get mined is alerted as
    ``redemption_queue``, and any other call that did not get mined as ``settlement``.

    Args:
        keeper: The collaborators.
        outcome: How the transaction ended (a cancel counts as not mined).
        to: The call's target (the call a cancel replaced, for a cancel).
        data: The call's calldata (likewise).
        vaults: The vaults of the transaction's journal intent.
        head: The cycle's head block: a settlement that did not get mined is read there (see
            :func:`_is_settled`), else at ``latest``.

    A ``settleBatch`` is booked series by series, as the in-cycle path books it: by its
    receipt's ``SettlementFailed`` events when mined, else by reading each series again.

    Returns:
        The vaults whose series are now settled (by this transaction or by someone else): their
        freed quote may serve their redemption queues, which this cycle makes due
        (``settle_expired(fill=...)``) and fills after its hedge, as after a settlement of its
        own. Else empty.
    """
    mined = outcome.status == TxStatus.MINED and not outcome.cancelled
    how = "cancelled" if outcome.cancelled else str(outcome.status)
    if how == TxStatus.REVERTED:
        how += f": {why_reverted(keeper, outcome)}"
    batch = _settle_batch_args(data)
    if batch is not None:
        return _book_resumed_batch(keeper, outcome, batch, mined, how, head)
    queues = _fill_batch_args(data)
    if queues is not None:
        failures = _fill_failures(keeper, outcome) if mined else {}
        pairs = list(zip(_owners(queues, vaults), queues, strict=True))
        unfilled = [(v, q) for v, q in pairs if not mined or q.lower() in failures]
        # Read before anything is booked, as a settlement is (a read that fails raises).
        raced = _raced_fills(keeper, unfilled, outcome.block_number or head)
        book_fees_paid(keeper, outcome)
        for owner, queue in unfilled:
            why = (
                keeper.decoder.decode(failures[queue.lower()])
                if mined
                else f"transaction {outcome.tx_hash} ended {how}"
            )
            _fill_not_done(keeper, owner, why, raced)
        if mined:
            logger.info("fill batch %s mined (resumed)", outcome.tx_hash)
        return ()
    settle = _settle_args(data)
    if settle is not None:
        series_id, hint = settle
        if mined:
            book_fees_paid(keeper, outcome)
            _settled(keeper, to, series_id, hint, "resumed")
            return (to,)
        reason = f"transaction {outcome.tx_hash} ended {how}"
        vault = keeper.w3.eth.contract(
            address=Web3.to_checksum_address(to), abi=load_artifact("OptionVault").abi
        )
        # Read before anything is booked: a read that fails leaves this outcome unbooked whole,
        # and the next cycle books it (see ``settle_in_flight``).
        by_other = _is_settled(keeper, vault, series_id, outcome.block_number or head)
        book_fees_paid(keeper, outcome)
        if by_other:
            _by_other(keeper, to, series_id, hint, reason, outcome.tx_hash)
            return (to,)
        _failed(keeper, to, series_id, hint, reason, outcome.tx_hash)
        return ()
    owner = vaults[0] if vaults else to
    fill = not mined and bytes(data[:4]) == FILL_SELECTOR
    raced = _raced_fills(keeper, [(owner, to)], outcome.block_number or head) if fill else set()
    book_fees_paid(keeper, outcome)
    if mined:
        logger.info("transaction %s to %s mined (resumed)", outcome.tx_hash, to)
    elif fill:
        _fill_not_done(keeper, owner, f"transaction {outcome.tx_hash} ended {how}", raced)
    else:
        keeper.alerter.alert(
            "settlement",
            f"transaction {outcome.tx_hash} to {to} for {owner} ended {how}",
            key=outcome.tx_hash,
        )
    return ()


def _book_resumed_batch(
    keeper: Keeper,
    outcome: SendOutcome,
    batch: Sequence[tuple[str, int, int]],
    mined: bool,
    how: str,
    head: int | None,
) -> tuple[str, ...]:
    """:func:`book_resumed` for a ``settleBatch``: each of its series, by what became of it.

    Everything is read before anything is booked: a read that fails leaves the outcome unbooked
    whole, for the next cycle.
    """
    if mined:
        failures = _batch_failures(keeper, outcome)
        book_fees_paid(keeper, outcome)
        done = [
            _book_mined(
                keeper, v, sid, hint, failures.get((v.lower(), sid)), outcome.tx_hash, "resumed"
            )
            for v, sid, hint in batch
        ]
    else:
        abi = load_artifact("OptionVault").abi
        at = outcome.block_number or head
        settled = [
            _is_settled(
                keeper,
                keeper.w3.eth.contract(address=Web3.to_checksum_address(v), abi=abi),
                sid,
                at,
            )
            for v, sid, _ in batch
        ]
        book_fees_paid(keeper, outcome)
        reason = f"transaction {outcome.tx_hash} ended {how}"
        done = [
            (_by_other if was else _failed)(keeper, v, sid, hint, reason, outcome.tx_hash)
            for (v, sid, hint), was in zip(batch, settled, strict=True)
        ]
    return tuple(dict.fromkeys(d.vault for d in done if d.outcome in _NOW_SETTLED))


def _settled(
    keeper: Keeper, vault: str, series_id: int, hint: int, how: str, tx_hash: str | None = None
) -> Settlement:
    """The keeper's own transaction settled the series."""
    keeper.metrics.settlements.labels("settled").inc()
    logger.info("settled series %d of %s at round %d (%s)", series_id, vault, hint, how)
    return Settlement(vault, series_id, hint, "settled", tx_hash=tx_hash)


def _settle_batch_args(data: bytes) -> list[tuple[str, int, int]] | None:
    """``(vault, series id, round hint)`` of each series of a ``settleBatch`` call's calldata.

    ``None`` for any other call.
    """
    if bytes(data[:4]) != SETTLE_BATCH_SELECTOR:
        return None
    vaults, ids, hints = abi_decode(["address[]", "uint256[]", "uint80[]"], bytes(data[4:]))
    return [
        (Web3.to_checksum_address(v), int(i), int(h))
        for v, i, h in zip(vaults, ids, hints, strict=True)
    ]


def _settle_args(data: bytes) -> tuple[int, int] | None:
    """``(series id, round hint)`` of a ``settle`` call's calldata; ``None`` for any other call."""
    if bytes(data[:4]) != SETTLE_SELECTOR or len(data) < 68:
        return None
    series_id, hint = abi_decode(["uint256", "uint80"], data[4:68])
    return int(series_id), int(hint)


def book_refused(
    keeper: Keeper, to: str, data: bytes, vaults: Sequence[str], why: str, tx_hash: str
) -> bool:
    """Book a settlement or queue fill the node refused for good (never sent again).

    As one that did not get mined: a ``settle`` is a ``failed`` settlement with a
    ``settlement`` alert, a queue ``fill`` a ``redemption_queue`` alert. Returns False, booking
    nothing, for any other call (the caller books it as a batch).
    """
    batch = _settle_batch_args(data)
    if batch is not None:
        for vault, series_id, hint in batch:
            _failed(keeper, vault, series_id, hint, why, tx_hash)
        return True
    settle = _settle_args(data)
    if settle is not None:
        _failed(keeper, to, *settle, why, tx_hash)
        return True
    if bytes(data[:4]) == FILL_SELECTOR:
        _queue_alert(keeper, vaults[0] if vaults else to, why)
        return True
    queues = _fill_batch_args(data)
    if queues is not None:
        for vault in _owners(queues, vaults):
            _queue_alert(keeper, vault, why)
        return True
    return False


def _fill_batch_args(data: bytes) -> list[str] | None:
    """The queues of a ``fillBatch`` call's calldata; ``None`` for any other call."""
    if bytes(data[:4]) != FILL_BATCH_SELECTOR:
        return None
    (queues,) = abi_decode(["address[]"], bytes(data[4:]))
    return [Web3.to_checksum_address(q) for q in queues]


def _owners(queues: Sequence[str], vaults: Sequence[str]) -> list[str]:
    """Each queue's vault: the journal intent names them in the queues' order (else the queue)."""
    if len(vaults) == len(queues):
        return list(vaults)
    return list(queues)


def _fill_failures(keeper: Keeper, outcome: SendOutcome) -> dict[str, bytes]:
    """The queues (lower case) that failed inside a mined ``fillBatch``, with the revert data."""
    receipt = _receipt_of(keeper, outcome)
    return {
        "0x" + bytes(topics[1])[-20:].hex(): reason
        for topics, reason in failed_events(
            receipt, keeper.batcher or "", QUEUE_FILL_FAILED_TOPIC, 1
        )
    }


def fill_queues(
    keeper: Keeper, addresses: Sequence[str], block: int, filled: list[str] | None = None
) -> str | None:
    """Fill the redemption queues of the vaults at ``addresses`` that have something to fill.

    Something to fill: requests that free quote can serve, or shares no request escrowed (the
    fill discards them). Each vault once, in order. Several queues go through the batcher's
    ``fillBatch``, as many a transaction as a ``settleBatch`` takes
    (:func:`_settle_batch_size`); a lone one, or any when there is no batcher or the batch does
    not simulate as a whole (a batcher without ``fillBatch``, a signer without its keeper
    role), by its own ``fill()``. Once a send is left pending, nothing more is sent. The vaults
    whose queues were filled, or in a dry run simulated and would be, are added to ``filled``.

    Returns:
        Why nothing new may be sent behind a fill: it was sent and has no receipt within its
        wait (the journal keeps it, the next cycle books it), or it waits for the base fee to
        fall under the cap. Else None: filled, nothing to fill, a dry run, or a failure
        (alerted, never raised: the queue waits for the next settlement, the next queue
        sweep or anyone's ``fill()``). Only an unreachable node (transient) raises, and fails
        the cycle.
    """
    abi = load_artifact("OptionVault").abi
    seen: set[str] = set()
    todo: list[tuple[str, Any]] = []
    for address in addresses:
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        vault = keeper.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        queue = _queue_to_fill(keeper, vault)
        if queue is not None:
            todo.append((vault.address, queue))
    pending: str | None = None
    singles = todo
    if keeper.batcher is not None and len(todo) > 1:
        singles = []
        batcher = keeper.w3.eth.contract(
            address=Web3.to_checksum_address(keeper.batcher),
            abi=load_artifact("RebalanceBatcher").abi,
        )
        size = _settle_batch_size(keeper, keeper.batcher)
        for start in range(0, len(todo), size):
            if pending is not None:
                break
            fallback, pending = _fill_batch(
                keeper, batcher, todo[start : start + size], block, filled
            )
            singles.extend(fallback)
    for vault_address, queue in singles:
        if pending is not None:
            break
        pending = _fill_one(keeper, vault_address, queue, block, filled)
    return pending


def _fill_batch(
    keeper: Keeper,
    batcher: Any,
    chunk: Sequence[tuple[str, Any]],
    block: int,
    filled: list[str] | None = None,
) -> tuple[list[tuple[str, Any]], str | None]:
    """Fill ``chunk``'s queues in one ``fillBatch`` transaction.

    The batch is first called (``eth_call``): a queue that would fail is left out with a
    ``redemption_queue`` alert, and a lone survivor is filled by its own ``fill()``. After
    mining, a queue the receipt's ``QueueFillFailed`` names is alerted.

    Returns:
        The queues to fill one a transaction instead (all of them when the batch does not
        simulate as a whole; the lone survivor), and what the send left pending, if anything.
    """
    call = batcher.functions.fillBatch([q.address for _, q in chunk])
    answer = _call_batch(keeper, call, "queue fill", "queue")
    if answer is None:
        return list(chunk), None
    keep: list[tuple[str, Any]] = []
    for (vault_address, queue), row in zip(chunk, answer, strict=True):
        if bool(row[1]):
            keep.append((vault_address, queue))
        else:
            why = keeper.decoder.decode(bytes(row[4])) if row[4] else "no revert data"
            _queue_alert(keeper, vault_address, f"simulation reverted: {why}")
    if len(keep) < 2:
        return keep, None
    vaults = [v for v, _ in keep]
    call = batcher.functions.fillBatch([q.address for _, q in keep])
    sent = _send_fill(keeper, call, batcher.address, [(v, q.address) for v, q in keep], block)
    mined = sent.outcome
    if mined is None:
        if sent.simulated and filled is not None:
            filled.extend(vaults)
        return [], sent.pending
    failures = _fill_failures(keeper, mined)
    failed = [(v, q.address) for v, q in keep if q.address.lower() in failures]
    # Booked already (its fees): a node that cannot answer leaves them alerted, not raised.
    raced = _raced_fills(keeper, failed, mined.block_number, node_raises=False)
    for vault_address, queue in keep:
        failed_with = failures.get(queue.address.lower())
        if failed_with is None:
            logger.info(
                "filled the redemption queue of %s (tx %s, batch)", vault_address, mined.tx_hash
            )
            if filled is not None:
                filled.append(vault_address)
        else:
            why = keeper.decoder.decode(failed_with) if failed_with else "no revert data"
            _fill_not_done(keeper, vault_address, f"failed in the batch: {why}", raced)
    return [], None


def _queue_to_fill(keeper: Keeper, vault: Any) -> Any | None:
    """``vault``'s redemption queue when it has something to fill, else None.

    Each read is retried on a transient failure (``KEEPER_RPC_RETRIES`` attempts,
    :attr:`Keeper.rpc_retries`, as the cycle's other reads). A queue that cannot be read is
    alerted (None); an unreachable node (transient, after the retries) raises.
    """
    attempts = keeper.rpc_retries
    try:
        queue_address = str(
            read_with_retry(vault.functions.redemptionQueue().call, attempts=attempts)
        )
        if int(queue_address, 16) == 0:
            return None
        queue = keeper.w3.eth.contract(
            address=Web3.to_checksum_address(queue_address),
            abi=load_artifact("RedemptionQueue").abi,
        )
        fillable = int(read_with_retry(queue.functions.fillable().call, attempts=attempts))
        if (
            fillable == 0
            and read_with_retry(lambda: queue_unrequested(vault, queue), attempts=attempts) == 0
        ):
            return None
    except Exception as exc:
        if is_transient(exc):
            raise
        _queue_alert(keeper, vault.address, f"cannot read it: {_why(exc)}")
        return None
    return queue


def _fill_one(
    keeper: Keeper, vault_address: str, queue: Any, block: int, filled: list[str] | None = None
) -> str | None:
    """Send ``queue.fill()`` for ``vault_address``'s queue (see :func:`fill_queues`)."""
    sent = _send_fill(
        keeper, queue.functions.fill(), queue.address, [(vault_address, queue.address)], block
    )
    if sent.outcome is not None:
        logger.info(
            "filled the redemption queue of %s (tx %s)", vault_address, sent.outcome.tx_hash
        )
    if (sent.outcome is not None or sent.simulated) and filled is not None:
        filled.append(vault_address)
    return sent.pending


@dataclass(frozen=True)
class _FillSent:
    """How a fill's send ended.

    Mined (``outcome``), left ``pending``, or neither: a dry run (``simulated``), or a failure
    already alerted.
    """

    outcome: SendOutcome | None = None
    pending: str | None = None
    simulated: bool = False


def _send_fill(
    keeper: Keeper, call: Any, to: str, pairs: Sequence[tuple[str, str]], block: int
) -> _FillSent:
    """Send a queue fill, ``fill()`` or ``fillBatch``, for ``pairs`` (vault, its queue).

    See :func:`_send`. A failure is a ``redemption_queue`` alert for each vault, except, after a
    revert at mining (or a cancel), for a queue that had nothing left to fill at that block
    (:func:`_raced_fills`). A send the node refused after it was journaled holds the cycle as a
    pending one does.
    """
    vaults = [v for v, _ in pairs]
    if len(vaults) == 1:
        what, note = f"the redemption queue of {vaults[0]}", "fill queue"
    else:
        what, note = f"the redemption queues of {len(vaults)} vaults", f"fill {len(vaults)} queues"
    try:
        sent = _send(keeper, call, to, vaults, block, note)
    except _PendingError as exc:
        logger.info("filling %s: %s", what, exc)
        return _FillSent(pending=f"filling {what} pending: {exc}")
    except _JournaledError as exc:
        for v in vaults:
            _queue_alert(keeper, v, str(exc))
        return _FillSent(pending=f"filling {what} pending: {exc}")
    except _RevertedError as exc:
        raced: set[str] = set()
        if exc.outcome is not None:
            try:
                raced = _raced_fills(keeper, pairs, exc.outcome.block_number)
            except Exception:
                # The node (transient): kept whole, fees too, for the next cycle's settle step,
                # which reads it again (:func:`book_resumed`), as a reverted settlement is.
                if keeper.sender is not None:
                    keeper.sender.give_back([exc.outcome])
                else:
                    book_fees_paid(keeper, exc.outcome)
                raise
            book_fees_paid(keeper, exc.outcome)
        for v in vaults:
            _fill_not_done(keeper, v, str(exc), raced)
        return _FillSent()
    except ExecutionError as exc:
        for v in vaults:
            _queue_alert(keeper, v, str(exc))
        return _FillSent()
    if sent is None:
        logger.info("dry run: would fill %s", what)
        return _FillSent(simulated=True)
    return _FillSent(outcome=sent)


def _raced_fills(
    keeper: Keeper,
    pairs: Sequence[tuple[str, str]],
    block: int | None,
    *,
    node_raises: bool = True,
) -> set[str]:
    """The vaults (lower case) of ``pairs`` (vault, queue) whose queue had nothing left to fill.

    Read at ``block``: the block that mined (or cancelled) the keeper's fill that did not go
    through, or the head for one never mined; ``None``, ``latest``. A queue with nothing left
    there (:func:`keeper.strategy.fills.fill_raced`) was filled by someone else first, or its
    free quote went first to another exit: no failure. A queue or vault that refuses the read
    cannot be told raced (alerted). All are read before any is booked.

    Raises:
        Exception: The node could not answer (transient), unless ``node_raises`` is False (then
            as a refusal): the caller keeps the outcome for the next cycle, as for a settlement.
    """
    at: int | str = "latest" if block is None else block
    abis = load_artifact("OptionVault").abi, load_artifact("RedemptionQueue").abi
    raced: set[str] = set()
    for vault_address, queue_address in pairs:
        key = vault_address.lower()
        try:
            queue = keeper.w3.eth.contract(
                address=Web3.to_checksum_address(queue_address), abi=abis[1]
            )
            if vault_address.lower() == queue_address.lower():  # the journal named no vault
                vault_address = str(
                    read_with_retry(queue.functions.share().call, attempts=keeper.rpc_retries)
                )
            vault = keeper.w3.eth.contract(
                address=Web3.to_checksum_address(vault_address), abi=abis[0]
            )
            if fill_raced(*work_left(vault, queue, at, attempts=keeper.rpc_retries)):
                raced.add(key)
        except Exception as exc:
            if node_raises and is_transient(exc):
                raise
            logger.warning("cannot read the queue %s again: %s", queue_address, _why(exc))
    return raced


def _fill_not_done(keeper: Keeper, vault: str, reason: str, raced: set[str]) -> None:
    """A fill of ``vault``'s queue did not go through: alerted, unless it raced (logged)."""
    if vault.lower() in raced:
        logger.info(
            "the redemption queue of %s had nothing left to fill: someone else filled it first "
            "(%s)",
            vault,
            reason,
        )
        return
    _queue_alert(keeper, vault, reason)


def _queue_alert(keeper: Keeper, vault: str, reason: str) -> None:
    keeper.alerter.alert(
        "redemption_queue", f"vault {vault}: cannot fill its redemption queue: {reason}", key=vault
    )
