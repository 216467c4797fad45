"""Sign, journal, send, confirm, replace, reconcile: how the keeper sends its batches.

Transactions are built and signed by :mod:`keeper.execution.transactions` (the one builder, also
under the light send-and-wait of depositors and the devnet); this module adds the journal.

The order is fixed: **sign, write the signed bytes to the journal, then send.** A crash anywhere
leaves a journal that says exactly what may be in flight, and :meth:`Sender.reconcile` settles it
against the chain on restart:

- a version of the nonce has a receipt -> ``mined`` (its siblings ``replaced``);
- the nonce is still unused on chain -> the *identical* signed bytes are broadcast again (same
  hash, so it can never become a second transaction), and no later nonce is used first, so no
  gap is left;
- the nonce was consumed by a transaction the journal does not know -> ``dropped``: only once
  one node says, in one answer, that the nonce is used *and* none of our versions has a receipt
  (the nonce and the receipts read one by one can come from different endpoints, one of them a
  failover node blocks behind that has not got our block yet: a mined batch is never dropped).

A transaction not mined ``replace_after_blocks`` blocks after it was sent is replaced by the same
call at the same nonce with both fee fields bumped by at least 12.5%, under the caps
(journal first, again); so is a signed one the node keeps refusing as underpriced. A mined
transaction whose block disappears (a reorg) is marked ``reorged``, and its nonce is in flight
again: a node may hold it again (geth puts a reorganized block's transactions back in its pool),
so a new transaction at another nonce could be mined besides it. It is re-simulated, then sent
again byte for byte at its nonce, or replaced there by a cancel when it no longer simulates,
never resent blindly; its receipt is re-read only until it is ``finality_depth`` blocks deep.

Faults:

- **A send is never retried blindly.** A broadcast whose outcome is unknown (a transport error, a
  5xx, a malformed answer such as an error with a null message) leaves the row as it was; the
  next poll settles it by receipt and nonce, or broadcasts the identical bytes again (same hash:
  it can never become a second transaction). When the fault came fast (within
  :data:`RESEND_UNKNOWN_WITHIN_S`: not a timeout), the identical bytes go out once more at once,
  so the batch is not a block late.
- **Fee spikes.** A base fee above the cap raises :class:`~keeper.errors.FeeCapError` *before*
  anything is journaled (no intent is opened); a journaled transaction the node refuses as
  underpriced ("max fee per gas less than block base fee", or "txpool is full") waits in the
  journal, and is broadcast again (or replaced) once the base fee falls.
- **Refused for good.** Signed bytes the node refuses for what they are ("invalid sender",
  "intrinsic gas too low", ...) are never sent again once no node can hold them (never taken
  before): the version is marked ``refused``, its intent abandoned, and its nonce, never used,
  goes to the next transaction (:class:`TxRefusedError`). A version a node took before, or may
  have taken (a broadcast whose outcome is unknown), may still be mined, so it keeps its nonce
  and stays in flight.
- **Stale plans.** Before a pending transaction is rebroadcast after a restart or replaced, its
  call is re-simulated (``still_valid``); one that no longer succeeds is replaced at the same
  nonce by a *cancel* (a 0-value transfer to itself with bumped fees), not mined into a failure.
  A stale one whose cancel cannot be priced under the cap waits in the journal: every poll
  tries the cancel again (a :class:`~keeper.errors.FeeCapError`), and the stale call is never
  broadcast (again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    BadResponseFormat,
    BlockNotFound,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
    Web3TypeError,
)
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, TxParams

from keeper.chain.connection import best_head, failure_reason, never_sent
from keeper.chain.retry import (
    SEND_ALREADY_KNOWN,
    SEND_NONCE_TOO_LOW,
    SEND_REFUSED_FOR_GOOD,
    SEND_UNDERPRICED,
    RpcUnavailableError,
    is_transient,
    read_with_retry,
    remaining_s,
    rpc_error_is_transient,
)
from keeper.errors import (
    ChainError,
    ConfigError,
    ExecutionError,
    FeeCapError,
    KeeperError,
    NonceError,
    TxTimeoutError,
)
from keeper.execution.fees import FeeCaps, Fees, bump_fees, initial_fees
from keeper.execution.journal import (
    PENDING,
    IntentStatus,
    Journal,
    NewIntent,
    TxRecord,
    TxStatus,
)
from keeper.execution.transactions import (
    base_fee,
    build_tx,
    chain_nonce,
    pending_nonce_and_base_fee,
    sign_tx,
)
from keeper.units import Wei

logger = logging.getLogger(__name__)

# A refused send's words, one list for the sender and the transport (keeper.chain.retry, which
# reads a refusal in an HTTP 5xx body as the node's answer by them).
_ALREADY_KNOWN = SEND_ALREADY_KNOWN
_NONCE_TOO_LOW = SEND_NONCE_TOO_LOW
_UNDERPRICED = SEND_UNDERPRICED
_REFUSED_FOR_GOOD = SEND_REFUSED_FOR_GOOD
#: The least gas of a cancel (a 0-value transfer to itself): a transfer's intrinsic gas. Where
#: the gas limit also pays the L1 calldata (Arbitrum) the node's estimate is more, and is used.
CANCEL_GAS = 21_000


#: What settling a mined version reads from its receipt (``_settle``, ``check_reorgs``).
_RECEIPT_FIELDS = ("status", "gasUsed", "blockHash")

#: Versions not yet settled: a receipt for a sibling replaces them, a stranger's drops them.
_UNSETTLED = frozenset({TxStatus.SIGNED, TxStatus.SENT, TxStatus.REORGED})

#: How long a nonce must look taken by someone else, with no receipt of ours, before it is dropped.
DROP_GRACE_S = 2.0
#: A poll that finds the head where the last full look left it (nothing mined, or a receipt
#: short of its confirmations) reads the head alone: no receipt and no nonce can change without
#: a block. A full look is taken anyway after this long (or one block interval, when the chain's
#: is known and longer), for a head read from a node that stalled, or a lagging failover
#: endpoint, while another already serves the receipt.
QUIET_RECHECK_S = 1.0
#: A broadcast whose outcome a fault hid within this long (a 5xx, a 429, a cut connection; not a
#: timeout) goes out again at once, byte for byte, after :data:`RESEND_PAUSE_S`.
RESEND_UNKNOWN_WITHIN_S = 1.0
RESEND_PAUSE_S = 0.1


class TxRefusedError(ExecutionError):
    """The node refused a journaled version for good before any node took it.

    The version is marked ``refused`` and never sent again; when no other version of its nonce
    is in flight, its intent is abandoned and the nonce goes to the next transaction.
    """

    def __init__(self, message: str, record: TxRecord, reason: str) -> None:
        super().__init__(message)
        self.record = record
        self.reason = reason


class _RefusedForGood(Exception):  # noqa: N818 - internal: _broadcast to _send_journaled
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SendOutcome:
    """How one journaled nonce ended."""

    nonce: int
    tx_hash: str
    status: TxStatus  # MINED | REVERTED | DROPPED
    block_number: int | None
    gas_used: int | None
    effective_gas_price: Wei | None
    replacements: int
    receipt: Any = None
    #: The winner was a cancel: the plan no longer simulated, nothing was rebalanced.
    cancelled: bool = False
    #: Its intent was mined (and booked) before a reorg removed that block: this is the same
    #: intent settling again, not a second rebalance.
    reincluded: bool = False


@dataclass(frozen=True)
class ReconcileReport:
    """What :meth:`Sender.reconcile` found."""

    mined: int = 0
    rebroadcast: int = 0
    dropped: int = 0
    cancelled: int = 0
    #: Versions the node refused for good (see :class:`TxRefusedError`), never sent again:
    #: ``(tx hash, nonce, the node's reason)``, for the loop to alert.
    refused: tuple[tuple[str, int, str], ...] = ()


class Sender:
    """Sends transactions for one account, through the journal.

    Args:
        w3: The connection.
        account: The keeper's signer (its key never leaves eth-account; nothing here logs it).
        journal: The journal.
        caps: Fee caps.
        tip: The priority fee asked on a first send.
        confirmations: Blocks (including the mining block) before a receipt counts.
        replace_after_blocks: Replace a version still unmined this many blocks after its send,
            as found by two polls at different heads (see :meth:`poll_nonce`).
        receipt_timeout_s: Give up waiting (the journal keeps the tx; the next cycle resumes).
        poll_s: How often to look for receipts and new blocks.
        chain_id: The chain id (read from the node when omitted).
        finality_depth: Blocks after which a mined transaction is final (no reorg checks).
        still_valid: ``(to, data) -> bool``: whether a journaled call would still succeed now
            (re-simulated before a rebroadcast after restart and before a replacement);
            ``None`` trusts every plan.
        sleep: Injected for tests.
        block_timing: ``() -> (head, first seen, interval) or None``: the run loop's newest
            head, when it first saw it (``time.monotonic()``), and the chain's block interval,
            when it has measured one. A wait at a quiet head then sleeps until one poll before
            the next block is due instead of polling every ``poll_s``: on 2-s blocks, 2 head
            reads a block instead of 10. ``None`` (or answering ``None``): every ``poll_s``.
        on_event: Called with each event (``signed``, ``sent``, ``underpriced``, ``replaced``,
            ``cancel-signed``, ``mined``, ...) and its record.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        journal: Journal,
        caps: FeeCaps,
        *,
        tip: int = 1_000_000,
        confirmations: int = 1,
        replace_after_blocks: int = 3,
        receipt_timeout_s: float = 120.0,
        poll_s: float = 0.2,
        chain_id: int | None = None,
        finality_depth: int = 12,
        still_valid: Callable[[str, bytes], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[str, TxRecord], None] | None = None,
        block_timing: Callable[[], tuple[int, float, float] | None] | None = None,
    ) -> None:
        self.w3 = w3
        self._account = account
        self.address = str(to_checksum_address(account.address))
        self.journal = journal
        self.caps = caps
        self.tip = Wei(tip)
        self.confirmations = max(1, confirmations)
        self.replace_after_blocks = max(1, replace_after_blocks)
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self.chain_id = chain_id if chain_id is not None else int(w3.eth.chain_id)
        self.finality_depth = max(1, finality_depth)
        self._still_valid = still_valid
        self._sleep = sleep
        self._on_event = on_event
        self.block_timing = block_timing
        #: The newest head read, and when it was first read (monotonic s).
        self._head_seen: tuple[int, float] | None = None
        #: When each nonce was first seen used with no receipt for any of our versions.
        self._taken_since: dict[int, float] = {}
        #: The head at which each nonce was first found due for a replacement.
        self._due: dict[int, int] = {}
        #: Each waiting nonce's last full look that changed nothing: its head, and when.
        self._quiet: dict[int, tuple[int, float]] = {}
        #: What :meth:`reconcile` settled (mined, reverted or dropped), and the reorged
        #: transactions :meth:`check_reorgs` found mined again, for the settle step.
        self._reconciled: list[SendOutcome] = []
        #: The head of the last completed reorg check (or of :meth:`check_history`; else the
        #: block of the first transaction this sender settled): a transaction is final once it
        #: was ``finality_depth`` deep at a head the check saw, not at the head of whenever it
        #: looks next (see :meth:`check_reorgs`).
        self._checked_head: int | None = None

    def __repr__(self) -> str:
        return f"Sender(address={self.address}, chain_id={self.chain_id})"

    # -- helpers ----------------------------------------------------------------------------
    def _emit(self, event: str, record: TxRecord) -> None:
        logger.info(
            "tx %s nonce=%d hash=%s max_fee=%d tip=%d",
            event,
            record.nonce,
            record.tx_hash,
            record.max_fee,
            record.priority_fee,
        )
        if self._on_event is not None:
            self._on_event(event, record)

    def _head(self) -> int:
        head = int(read_with_retry(lambda: self.w3.eth.block_number))
        if self._head_seen is None or self._head_seen[0] != head:
            self._head_seen = (head, time.monotonic())
        return head

    def _timing(self) -> tuple[int, float, float] | None:
        """:attr:`block_timing`'s answer when it has a positive interval, else ``None``."""
        timing = self.block_timing() if self.block_timing is not None else None
        return timing if timing is not None and timing[2] > 0 else None

    def _pause(self, nonce: int) -> float:
        """How long :meth:`wait` sleeps before polling ``nonce`` again.

        ``poll_s``; at a quiet head with the block interval known, until one ``poll_s`` before
        the next block is due (the head's first sighting plus the interval), since a poll
        before that can only read the head again. The first sighting is the earlier of the
        loop's and this sender's: the sender first reads a head only after the cycle's work, so
        its own sighting alone would wake it late.
        """
        timing = self._timing()
        quiet = self._quiet.get(nonce)
        seen = self._head_seen
        if timing is None or quiet is None or seen is None or quiet[0] != seen[0]:
            return self.poll_s
        head, loop_seen, interval = timing
        first = min(seen[1], loop_seen) if head == seen[0] else seen[1]
        return max(self.poll_s, first + interval - self.poll_s - time.monotonic())

    def _base_fee(self) -> Wei:
        return base_fee(self.w3)

    def _cancel_gas(self) -> int:
        """The gas limit of a cancel: :data:`CANCEL_GAS`, or the node's estimate plus a fifth.

        On an L2 whose gas limit also pays the L1 calldata (Arbitrum) a plain transfer needs
        more than 21,000, and the node refuses less ("intrinsic gas too low"); that part moves
        with the L1 price, hence the headroom. An estimate that fails falls back to 21,000.
        """
        me = to_checksum_address(self.address)
        transfer: TxParams = {"from": me, "to": me}
        try:
            estimate = int(read_with_retry(lambda: self.w3.eth.estimate_gas(transfer)))
        except (KeeperError, Web3Exception, ValueError) as exc:
            logger.warning("cancel gas: estimate failed (%s); %d", type(exc).__name__, CANCEL_GAS)
            return CANCEL_GAS
        return CANCEL_GAS if estimate <= CANCEL_GAS else estimate * 6 // 5

    def chain_nonce(self, block: str = "latest") -> int:
        """The account's nonce on chain (``latest``: mined; ``pending``: including the pool)."""
        return chain_nonce(self.w3, self.address, block)  # type: ignore[arg-type]

    def next_nonce(self) -> int:
        """The nonce for a new transaction: past the chain's pending nonce and the journal's."""
        return self._next_nonce_after(self.chain_nonce("pending"))

    #: Reads of the pending nonce before a send gives up on a node that is behind.
    NONCE_READS = 3

    def _fresh_nonce_and_base_fee(self) -> tuple[int, Wei]:
        """The next nonce (:meth:`_next_nonce_after`) and the base fee, in one round trip.

        An answer behind the journal's settled nonces came from a node that lags (a failover
        endpoint the read fell over to): it is asked again, up to :data:`NONCE_READS` times a
        little apart, so the next answer can come from a node that has caught up.

        Raises:
            RpcUnavailableError: Every answer was behind (transient; nothing signed).
        """
        for attempt in range(1, self.NONCE_READS + 1):
            chain, base = pending_nonce_and_base_fee(self.w3, self.address)  # one round trip
            try:
                return self._next_nonce_after(chain), base
            except RpcUnavailableError:
                if attempt == self.NONCE_READS:
                    raise
                logger.info("pending nonce %d is behind the journal: asking again", chain)
                self._sleep(0.2 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_nonce_after(self, chain_pending: int) -> int:
        """Past ``chain_pending`` (the node's ``pending`` count) and every journaled nonce.

        Raises:
            RpcUnavailableError: The answer is at or below a nonce the journal saw used on chain
                (a receipt of ours, or a stranger's transaction): the node is behind (a failover
                endpoint that lags). Transient: nothing is signed, the next cycle asks again. A
                new transaction there could only be refused, and its wait would find the old
                receipt at that nonce and book it for the new batch.
        """
        pending = self.journal.pending_nonces(self.address)
        nonce = max([chain_pending, *(n + 1 for n in pending)])
        settled = self.journal.max_settled_nonce(self.address)
        if settled is not None and nonce <= settled:
            raise RpcUnavailableError(
                f"pending nonce {chain_pending} is at or below nonce {settled}, which the journal "
                "saw used on chain: the node is behind; nothing signed",
                "eth_getTransactionCount",
            )
        return nonce

    def _receipt(self, tx_hash: str) -> Any:
        """``tx_hash``'s receipt, or ``None`` while it is not in a block.

        Some nodes answer for a transaction still in their pool with a receipt whose block
        number is ``null``: not mined yet, the same as no receipt.
        """
        try:
            receipt = read_with_retry(
                lambda: self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            )
        except TransactionNotFound:
            return None
        if receipt is None or receipt.get("blockNumber") is None:
            return None
        missing = [k for k in _RECEIPT_FIELDS if receipt.get(k) is None]
        if missing:
            # A broken endpoint or proxy: no answer, as a block without its number is none.
            raise RpcUnavailableError(
                f"receipt of {tx_hash} without {', '.join(missing)}: malformed, asked again",
                "eth_getTransactionReceipt",
            )
        return receipt

    def _sign(self, to: str, data: bytes, gas: int, fees: Fees, nonce: int) -> tuple[str, str]:
        tx = build_tx(chain_id=self.chain_id, nonce=nonce, to=to, data=data, gas=gas, fees=fees)
        signed = sign_tx(self._account, tx)
        return signed.raw_hex, signed.tx_hash

    def _broadcast(self, record: TxRecord) -> str:
        """Send the journaled raw bytes once (never retried here).

        Returns:
            ``sent``; ``known`` (already in the pool); ``nonce-used``; ``underpriced`` (the
            node will not take it at this base fee: it waits); ``unsent`` (no connection was
            made: refused, no such host, a connect timeout; nothing left this machine); or
            ``unknown`` (a transient failure or a malformed answer: it may or may not have
            reached the pool, settled later by receipt and nonce).

        Raises:
            _RefusedForGood: The node refused the signed bytes for what they are
                (:data:`_REFUSED_FOR_GOOD`).
            ExecutionError: The node refused the transaction for another reason.
        """
        try:
            self.w3.eth.send_raw_transaction(HexBytes(record.raw_tx))
        except Exception as exc:
            text = str(exc).lower().replace(" ", "")
            if any(k.replace(" ", "") in text for k in _ALREADY_KNOWN):
                return "known"
            if any(k.replace(" ", "") in text for k in _NONCE_TOO_LOW):
                return "nonce-used"
            if any(k.replace(" ", "") in text for k in _UNDERPRICED):
                return "underpriced"
            if never_sent(exc):
                logger.warning(
                    "broadcast of %s: not sent (%s); sent again at the next poll",
                    record.tx_hash,
                    failure_reason(exc),
                )
                return "unsent"
            # A malformed answer (an error with a null message, a null result) says nothing
            # about whether the node took it: unknown, as after a cut connection.
            if is_transient(exc) or isinstance(exc, BadResponseFormat | Web3TypeError):
                logger.warning(
                    "broadcast of %s: outcome unknown (%s); settled by receipt and nonce",
                    record.tx_hash,
                    type(exc).__name__,
                )
                return "unknown"
            if isinstance(exc, Web3RPCError | ValueError) and any(
                k.replace(" ", "") in text for k in _REFUSED_FOR_GOOD
            ):
                raise _RefusedForGood(str(exc)) from None
            if isinstance(exc, Web3RPCError | ValueError):
                raise ExecutionError(f"node refused transaction {record.tx_hash}: {exc}") from None
            raise
        return "sent"

    # -- sending ----------------------------------------------------------------------------
    def submit(
        self,
        intent_id: int,
        to: str,
        data: bytes,
        gas: int,
        *,
        l1_fee: Callable[[bytes], int] | None = None,
    ) -> TxRecord:
        """Sign a call, journal it, then send it. Returns the journaled record (``sent``).

        :meth:`prepare` then the send; a crash between the two leaves a ``signed`` row that
        :meth:`reconcile` rebroadcasts unchanged.

        Args:
            intent_id: The journal intent this transaction serves.
            to: Target contract.
            data: Calldata.
            gas: Gas limit (simulated, with headroom).
            l1_fee: Prices the exact signed bytes' L1 fee (stored in the journal).

        Raises:
            FeeCapError: The base fee is above the cap.
            ExecutionError: The node refused the transaction.
        """
        record = self.prepare(intent_id, to, data, gas, l1_fee=l1_fee)
        return self._send_journaled(record)

    def prepare(
        self,
        intent_id: int,
        to: str,
        data: bytes,
        gas: int,
        *,
        l1_fee: Callable[[bytes], int] | None = None,
    ) -> TxRecord:
        """Pick the nonce and fees, sign, and write the signed bytes to the journal (no send).

        Raises:
            FeeCapError: The base fee is above the cap.
        """
        nonce, base = self._fresh_nonce_and_base_fee()
        fees = initial_fees(base, self.tip, self.caps)
        return self._journal_signed(intent_id, to, data, gas, fees, nonce, l1_fee)

    def submit_new(
        self,
        vaults: Sequence[str],
        block: int,
        to: str,
        data: bytes,
        gas: int,
        *,
        l1_fee: Callable[[bytes], int] | None = None,
        note: str = "",
    ) -> TxRecord:
        """Open an intent for ``vaults`` and send its call: :meth:`submit` without orphans.

        The intent is opened only once the nonce and the fees are known, in the same journal
        write as the signed row: a failure before or during that write (a fee spike, an
        unreachable node, a full disk) leaves nothing in the journal. The L1 fee is priced on
        the exact signed bytes after the broadcast; a quote that fails then is left out.

        Raises:
            FeeCapError: The base fee is above the cap (nothing journaled).
            TxRefusedError: The node refused it for good ("intrinsic gas too low", "invalid
                sender": see :meth:`_refused`): marked ``refused``, its intent abandoned, never
                sent again, and the nonce free for the next transaction.
            ExecutionError: The node refused the transaction otherwise (its signed row stays
                pending in the journal: later polls broadcast it again at its nonce), or the
                journal cannot be written (nothing journaled, nothing sent).
        """
        nonce, base = self._fresh_nonce_and_base_fee()
        fees = initial_fees(base, self.tip, self.caps)
        record = self._journal_signed(
            NewIntent(tuple(vaults), block, note),
            to,
            data,
            gas,
            fees,
            nonce,
            None,
        )
        sent = self._send_journaled(record)
        if l1_fee is None:
            return sent
        # Priced after the broadcast: the fee is bookkeeping, not part of the transaction, so it
        # stays off the path between the decision and the send. The batch is out: a quote that
        # fails (an unreachable node, or an oracle that refuses: a KeeperError) is left out.
        try:
            fee = Wei(l1_fee(bytes(HexBytes(record.raw_tx))))
        except Exception as exc:
            if not (is_transient(exc) or isinstance(exc, KeeperError)):
                raise
            logger.warning("L1 fee of %s not priced: %s", record.tx_hash, type(exc).__name__)
            return sent
        return self.journal.mark(sent.tx_hash, sent.status, l1_fee=fee)

    def _journal_signed(
        self,
        intent: int | NewIntent,
        to: str,
        data: bytes,
        gas: int,
        fees: Fees,
        nonce: int,
        l1_fee: Callable[[bytes], int] | None,
        event: str = "signed",
        *,
        signed: tuple[str, str] | None = None,
    ) -> TxRecord:
        """Sign (unless ``signed``, the same transaction's ``(raw, hash)``) and journal it."""
        raw, tx_hash = signed if signed is not None else self._sign(to, data, gas, fees, nonce)
        fee_l1 = Wei(l1_fee(bytes(HexBytes(raw)))) if l1_fee is not None else None
        record = self.journal.record_signed(
            intent_id=intent,
            account=self.address,
            nonce=nonce,
            tx_hash=tx_hash,
            raw_tx=raw,
            max_fee=fees.max_fee_per_gas,
            priority_fee=fees.max_priority_fee_per_gas,
            gas=gas,
            l1_fee=fee_l1,
        )
        self._emit(event, record)
        return record

    def _send_journaled(self, record: TxRecord) -> TxRecord:
        """Broadcast a journaled version and journal what the node answered.

        Raises:
            TxRefusedError: The node refused it for good (see :meth:`_refused`).
            ExecutionError: The node refused it otherwise (it stays pending in the journal).
        """
        began = time.monotonic()
        result = first = ""
        try:
            result = first = self._broadcast(record)
            if (
                result in ("unknown", "unsent")
                and time.monotonic() - began < RESEND_UNKNOWN_WITHIN_S
            ):
                # The identical signed bytes once more, now rather than at the next poll a block
                # later: the same hash, so never a second transaction ("already known" if the
                # first reached the node; with several endpoints, the next healthiest takes it).
                time.sleep(RESEND_PAUSE_S)
                result = self._broadcast(record)
        except _RefusedForGood as exc:
            # A first try whose outcome is unknown may have reached a node that took the bytes
            # (the resend may have gone to another endpoint): then it is not given up.
            raise self._refused(record, exc.reason, maybe_taken=result == "unknown") from None
        if result == "unsent" and first == "unknown":
            result = "unknown"  # the first try may have reached a node
        if result == "unsent":
            # No node holds it: the row stays as it was (a ``signed`` one with no replacement
            # clock, so it is sent again, never replaced, until an endpoint takes it).
            self._emit("unsent", record)
            return record
        if result == "nonce-used":
            # Resolved by the next wait/reconcile: either ours mined or another tx took it.
            if first == "unknown":
                # Most likely by these very bytes: the first try reached the node after all.
                logger.info(
                    "nonce %d used when sending %s again (the first try's outcome was unknown: "
                    "most likely it was mined); its receipt settles it",
                    record.nonce,
                    record.tx_hash,
                )
            else:
                logger.warning(
                    "nonce %d already used when sending %s", record.nonce, record.tx_hash
                )
            return record
        if result in ("underpriced", "unknown"):
            # The row keeps its status (a ``signed`` row is broadcast again by the next poll);
            # the block of the first try starts the replacement clock.
            if record.sent_block is None:
                head = self._sent_block(record)
                if head is None and result == "unknown":
                    # A node may hold it: the journal must say it went out, or a restart takes
                    # it for never sent (a refusal for good would then free its nonce). The
                    # clock starts at the plan's block, or the best head heard lately.
                    head = self._clock_start(record, self.journal.intent(record.intent_id).block)
                if head is not None:
                    record = self.journal.mark(record.tx_hash, record.status, sent_block=head)
            if result == "underpriced":
                self._emit("underpriced", record)
            return record
        updated = self.journal.mark(
            record.tx_hash, TxStatus.SENT, sent_block=self._sent_block(record)
        )
        self._emit("sent" if result == "sent" else "rebroadcast", updated)
        return updated

    def _refused(self, record: TxRecord, reason: str, *, maybe_taken: bool) -> ExecutionError:
        """Journal a refusal for good of ``record``; the error for the caller to raise.

        Only a version no node ever took (``signed``, never broadcast before: no ``sent_block``)
        is given up: it cannot be pending anywhere, so it is marked ``refused`` (never sent
        again) and, when no other version of its nonce is in flight, its intent is abandoned
        and the nonce is free for the next transaction. A version a node may have taken (sent
        once, or broadcast before with an unknown outcome) may still be mined: it stays as it
        was, its nonce held, so no later transaction can be mined besides it (a plain
        :class:`~keeper.errors.ExecutionError`, as any other refusal). ``maybe_taken``: this
        call's first broadcast had an unknown outcome (a timeout, a cut connection).
        """
        message = f"node refused transaction {record.tx_hash} for good: {reason}"
        if maybe_taken or record.status is not TxStatus.SIGNED or record.sent_block is not None:
            return ExecutionError(f"{message} (a node may hold it already: kept in flight)")
        with self.journal.atomic():
            self.journal.mark(record.tx_hash, TxStatus.REFUSED)
            live = [
                v for v in self.journal.versions(self.address, record.nonce) if v.status in PENDING
            ]
            if not live:
                self.journal.set_intent(
                    record.intent_id, IntentStatus.ABANDONED, f"refused by the node: {reason}"
                )
        if not live:
            self._due.pop(record.nonce, None)
        self._emit("refused", record)
        return TxRefusedError(f"{message} (not sent again)", record, reason)

    def _sent_block(self, record: TxRecord) -> int | None:
        """The block that starts ``record``'s replacement clock: the head, read now.

        Never below the block its intent's plan was read at, nor below the best head the
        connection heard from any endpoint in the last seconds: the head read here may come
        from a node behind (a failover endpoint that lags, or a stale answer), and a clock
        started blocks early replaced batches still waiting for their first block.
        """
        head = self._head_or_none()
        if head is None:
            return None  # the next poll starts the clock
        return self._clock_start(record, head)

    def _clock_start(self, record: TxRecord, head: int) -> int:
        """``head``, raised to the intent's block and the connection's best head (see above)."""
        return max(head, self.journal.intent(record.intent_id).block, best_head(self.w3) or 0)

    def _head_or_none(self) -> int | None:
        """The head for ``sent_block``, or ``None`` when it cannot be read right now.

        The transaction is out either way, so the journal must say ``sent``; the next poll
        starts its replacement clock (from the intent's block at the earliest).
        """
        try:
            return self._head()
        except Exception as exc:
            if not is_transient(exc):
                raise
            return None

    def replace(self, nonce: int, *, cancel: bool = False) -> TxRecord | None:
        """Replace the newest version of ``nonce`` with bumped fees (journal first).

        Returns ``None``, signing nothing, when the replacement would be the very bytes the node
        already refused for good (a cancel at the fallback 21,000 gas, refused as "intrinsic gas
        too low" while the estimate still fails): the version in flight stays, and the next
        replacement, when due again, tries anew.

        Args:
            nonce: The nonce.
            cancel: Replace with a 0-value transfer to the keeper itself (the plan went stale).

        Raises:
            FeeCapError: The bump would exceed a cap.
        """
        versions = self.journal.versions(self.address, nonce)
        if not versions:
            raise NonceError(f"no journaled transaction at nonce {nonce}")
        last = _in_flight(versions)
        old = Fees(last.max_fee, last.priority_fee)
        base = self._base_fee()
        fees = bump_fees(old, self.caps, base_fee=base)
        if cancel:
            to, data, gas = self.address, b"", self._cancel_gas()
        else:
            decoded = decode_signed(last.raw_tx)
            to, data, gas = decoded["to"], decoded["data"], last.gas
        signed = self._sign(to, data, gas, fees, nonce)
        tx_hash = signed[1]
        if any(v.tx_hash == tx_hash and v.status is TxStatus.REFUSED for v in versions):
            logger.warning(
                "replacement at nonce %d not signed: the node refused these very bytes (%s); "
                "the version in flight stays",
                nonce,
                tx_hash,
            )
            return None
        record = self._journal_signed(
            last.intent_id,
            to,
            data,
            gas,
            fees,
            nonce,
            None,
            "cancel-signed" if cancel else "replacement-signed",
            signed=signed,
        )
        sent = self._send_journaled(record)
        # Signed at the cap below the base fee (a spike above the cap): it waits for the fee to
        # fall, which the FeeCapError of the next poll says; not a stuck transaction of its own.
        self._emit("replaced-at-cap" if fees.max_fee_per_gas < base else "replaced", last)
        return sent

    def call_of(self, tx_hash: str) -> tuple[str, bytes]:
        """The ``(to, data)`` of a journaled version (a cancel: the keeper itself, no data).

        Lets the caller tell what a finished transaction was (a batch, a vault's own call, a
        settlement) from the signed bytes the journal holds.

        Raises:
            KeyError: The journal holds no version with this hash.
        """
        decoded = decode_signed(self.journal.tx(tx_hash).raw_tx)
        return str(decoded["to"]), bytes(decoded["data"])

    def _is_cancel(self, record: TxRecord) -> bool:
        decoded = decode_signed(record.raw_tx)
        return decoded["to"] == self.address and not decoded["data"]

    def plan_still_valid(self, record: TxRecord) -> bool:
        """Whether ``record``'s call would still succeed now (``True`` without a checker).

        A cancel is always valid. A check that cannot reach the node counts as valid: the
        plan is re-checked at the next replacement.
        """
        if self._still_valid is None or self._is_cancel(record):
            return True
        decoded = decode_signed(record.raw_tx)
        try:
            return bool(self._still_valid(decoded["to"], decoded["data"]))
        except Exception as exc:
            if is_transient(exc):
                return True
            raise

    def _unstick(self, nonce: int, last: TxRecord) -> None:
        """Replace a stuck version: a cancel if its plan went stale, else a bump.

        Raises:
            FeeCapError: The base fee is above what this version or any bump under the cap
                can pay, or its plan went stale and the cancel cannot be priced under the cap
                (the version keeps waiting in the journal, never sent again).
        """
        cancel = not self.plan_still_valid(last)
        try:
            self.replace(nonce, cancel=cancel)
        except FeeCapError:
            if cancel:
                raise  # never put a stale call back in the pool
            base = self._base_fee()
            if base <= last.max_fee:
                # The version itself can be mined again at this base fee, but cannot be bumped:
                # make sure the node holds it (identical bytes), and wait.
                self._send_journaled(last)
                return
            raise

    # -- waiting ----------------------------------------------------------------------------
    def _settle(self, nonce: int, winner: TxRecord, receipt: Any) -> SendOutcome:
        self._due.pop(nonce, None)
        reincluded = self.journal.intent(winner.intent_id).status is IntentStatus.REORGED
        status = TxStatus.MINED if int(receipt["status"]) == 1 else TxStatus.REVERTED
        gas_used = int(receipt["gasUsed"])
        price = Wei(int(receipt.get("effectiveGasPrice", 0) or 0))
        block = int(receipt["blockNumber"])
        if self._checked_head is None:
            self._checked_head = block
        cancelled = self._is_cancel(winner)
        with self.journal.atomic():  # a crash inside leaves the nonce pending, for reconcile
            record = self.journal.mark(
                winner.tx_hash,
                status,
                mined_block=block,
                mined_block_hash="0x" + bytes(receipt["blockHash"]).hex(),
                gas_used=gas_used,
                effective_gas_price=price,
            )
            versions = self.journal.versions(self.address, nonce)
            for v in versions:
                if v.tx_hash != winner.tx_hash and v.status in _UNSETTLED:
                    self.journal.mark(v.tx_hash, TxStatus.REPLACED)
            if cancelled:
                self.journal.set_intent(
                    winner.intent_id,
                    IntentStatus.ABANDONED,
                    "cancelled: the plan no longer simulated",
                )
            else:
                self.journal.set_intent(
                    winner.intent_id,
                    IntentStatus.MINED if status is TxStatus.MINED else IntentStatus.FAILED,
                )
        self._emit("cancelled" if cancelled else status, record)
        return SendOutcome(
            nonce,
            winner.tx_hash,
            status,
            block,
            gas_used,
            price,
            # Its own intent's versions: a refused version of an earlier intent, which freed
            # this nonce, replaced nothing.
            sum(v.intent_id == winner.intent_id for v in versions) - 1,
            receipt,
            cancelled,
            reincluded,
        )

    def _drop(self, nonce: int) -> SendOutcome:
        self._due.pop(nonce, None)
        versions = self.journal.versions(self.address, nonce)
        last = versions[-1]
        with self.journal.atomic():  # a crash inside leaves the nonce pending, for reconcile
            for v in versions:
                if v.status in _UNSETTLED:
                    self.journal.mark(v.tx_hash, TxStatus.DROPPED)
            self.journal.set_intent(
                last.intent_id, IntentStatus.ABANDONED, "nonce used by another transaction"
            )
        self._emit("dropped", last)
        replaced = sum(v.intent_id == last.intent_id for v in versions) - 1
        return SendOutcome(nonce, last.tx_hash, TxStatus.DROPPED, None, None, None, replaced)

    def poll_nonce(self, nonce: int) -> SendOutcome | None:
        """One step of waiting on ``nonce``: settle, replace if stuck, or return ``None``.

        A poll reads the head, then each version's receipt and the ``latest`` nonce. At the head
        where the last full look found nothing to do (unmined, not yet due, or mined short of
        its confirmations) it reads the head alone, until ``QUIET_RECHECK_S`` (or the block
        interval, when known and longer) has passed. With one confirmation, a head read that
        fails does not hide a mined receipt: the receipts are read all the same.

        Raises:
            FeeCapError: The transaction is stuck and cannot be bumped under the caps (it keeps
                waiting in the journal; poll again later).
        """
        versions = self.journal.versions(self.address, nonce)
        if not versions:
            raise NonceError(f"no journaled transaction at nonce {nonce}")
        try:
            head = self._head()
        except Exception as exc:
            # One confirmation needs no head: the receipt's own block counts as seen. A head
            # read that kept failing (its retries took 9.4 s at 50% faults) hid a receipt
            # readable all along.
            if self.confirmations > 1 or not is_transient(exc):
                raise
            found = self._newest_receipt(versions)
            if found is None:
                raise
            return self._settle(nonce, *found)
        quiet = self._quiet.pop(nonce, None)
        timing = self._timing()
        recheck = max(QUIET_RECHECK_S, timing[2] if timing is not None else 0.0)
        if quiet is not None and quiet[0] == head and time.monotonic() - quiet[1] < recheck:
            self._quiet[nonce] = quiet
            return None
        found = self._newest_receipt(versions)
        if found is not None:
            outcome = self._settle_when_confirmed(nonce, *found, head)
            if outcome is None:
                self._quiet[nonce] = (head, time.monotonic())
            return outcome
        if self.chain_nonce("latest") > nonce:
            # Our nonce is used, but by none of our versions (checked just above; re-check the
            # receipts once more in case a block landed between the two reads, or the first
            # look went to a node behind).
            found = self._newest_receipt(versions)
            if found is not None:
                self._taken_since.pop(nonce, None)
                return self._settle_when_confirmed(nonce, *found, head)
            # A node can report the nonce as used a moment before it serves the receipt (seen on
            # anvil about once in 3,000 sends): only a nonce still taken by a stranger after
            # DROP_GRACE_S is dropped, and only when one node says so (_stranger_took).
            first = self._taken_since.setdefault(nonce, time.monotonic())
            if time.monotonic() - first < DROP_GRACE_S or not self._stranger_took(nonce, versions):
                return None
            del self._taken_since[nonce]
            return self._drop(nonce)
        last = _in_flight(versions)
        if last.status is TxStatus.REORGED:
            self._resend_reorged(nonce, last, head)
            return None
        if last.status is TxStatus.SIGNED and (
            last.sent_block is None or head - last.sent_block < self.replace_after_blocks
        ):
            # Never broadcast yet, or refused (underpriced) since ``sent_block``: try again;
            # refused for ``replace_after_blocks`` blocks, it is replaced like a sent one.
            if last.sent_block is None and not self.plan_still_valid(last):
                # Never tried (``reconcile`` left a stale plan unsent when its cancel could not
                # be priced): cancel it at its nonce; a FeeCapError leaves it unsent, waiting.
                self.replace(nonce, cancel=True)
                return None
            after = self._send_journaled(last)
            unsent = after.status is TxStatus.SIGNED and after.sent_block is None
            if last.sent_block is not None or unsent:
                # Refused before (underpriced): only a new block can change the node's answer,
                # so the next try waits for one (a quiet head), not for the next poll. Not sent
                # (no connection): likewise, rather than a broadcast every poll.
                self._quiet[nonce] = (head, time.monotonic())
            return None
        if last.sent_block is None:
            last = self.journal.mark(
                last.tx_hash, last.status, sent_block=self._clock_start(last, head)
            )
        sent_block = last.sent_block if last.sent_block is not None else head
        if head - sent_block < self.replace_after_blocks:
            self._due.pop(nonce, None)
            self._quiet[nonce] = (head, time.monotonic())
            return None
        # Due. Replaced only when a later poll, at a higher head, finds it due and unmined too:
        # one poll's reads can come from a node a few blocks back (a failover endpoint that
        # lags, or a stale answer), where a mined transaction has neither a receipt nor its
        # nonce used, and its head can be 3 blocks above the one ``sent_block`` was read from
        # (the harsh chaos runs' unneeded replacements: refused as nonce too low, but each a
        # ``stuck_tx`` alert and a signed row for nothing). Costs a real replacement one block.
        due = self._due.setdefault(nonce, head)
        if head <= due:
            self._quiet[nonce] = (head, time.monotonic())
            return None
        self._unstick(nonce, last)  # a FeeCapError leaves it due: every later poll tries again
        del self._due[nonce]
        return None

    def _settle_when_confirmed(
        self, nonce: int, winner: TxRecord, receipt: Any, head: int
    ) -> SendOutcome | None:
        """:meth:`_settle` once ``receipt`` is ``confirmations`` blocks deep at ``head``.

        ``None`` before that: mined, waiting for confirmations (never replaced meanwhile). The
        receipt's own block counts as seen: a poll reads the head before the receipts, and a
        block that landed between the two reads (a receipt read retried or hedged under faults)
        is above that head. Taken as too new, a receipt of one confirmation waited a poll and
        two more reads (under 20% faults, a third of the sends).
        """
        mined = int(receipt["blockNumber"])
        if max(head, mined) - mined + 1 >= self.confirmations:
            return self._settle(nonce, winner, receipt)
        return None

    def _resend_reorged(self, nonce: int, last: TxRecord, head: int) -> None:
        """Put a version whose block a reorg removed back in flight, at its own nonce.

        Its nonce is free again, and a node may hold it again in its pool (geth puts a
        reorganized block's transactions back): a new transaction at another nonce could be
        mined *besides* it. So the nonce stays ours until one version is mined: the identical
        bytes are sent again if the call still simulates (it can only be mined once), else a
        cancel replaces it. Journaled as ``sent`` first, from ``head`` (the replacement clock).

        Raises:
            FeeCapError: The cancel cannot be priced under the caps (it stays ``reorged``).
        """
        if not self.plan_still_valid(last):
            logger.warning("reorged tx %s no longer simulates: cancelling it", last.tx_hash)
            self.replace(nonce, cancel=True)
            return
        logger.warning("reorged tx %s: sending it again at nonce %d", last.tx_hash, nonce)
        self._send_journaled(self.journal.mark(last.tx_hash, TxStatus.SENT, sent_block=head))

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        """Wait for ``nonce`` to be mined and confirmed, replacing it when stuck.

        Under a read deadline (a cycle's, :func:`keeper.chain.retry.deadline`) it also stops when
        that is spent, before a pause that would end past it: no read goes out after it (the
        failover provider launches none), so polling on could only fail, blind, until
        ``timeout_s``. The next cycle, under a deadline of its own, polls the nonce.

        Raises:
            TxTimeoutError: Not settled in time, or the read deadline is spent (the journal keeps
                it; a later call, or the next cycle's poll of what is pending, resumes).
            FeeCapError: Stuck and cannot be bumped under the caps.
        """
        deadline = time.monotonic() + (
            timeout_s if timeout_s is not None else self.receipt_timeout_s
        )
        while True:
            try:
                outcome = self.poll_nonce(nonce)
            except Exception as exc:
                # A read that outlived its retries: the journal still holds the truth; poll on.
                if isinstance(exc, FeeCapError) or not is_transient(exc):
                    raise
                logger.warning("waiting on nonce %d: %s", nonce, type(exc).__name__)
                outcome = None
            if outcome is not None:
                return outcome
            if time.monotonic() >= deadline:
                raise TxTimeoutError(f"transaction at nonce {nonce} not confirmed in time")
            pause = min(self._pause(nonce), max(0.0, deadline - time.monotonic()))
            left = remaining_s()
            if left is not None and left <= pause:
                raise TxTimeoutError(
                    f"transaction at nonce {nonce} not confirmed within the cycle's read "
                    "deadline (KEEPER_CYCLE_DEADLINE_S): the next cycle polls it"
                )
            self._sleep(pause)

    def send_and_wait(
        self,
        intent_id: int,
        to: str,
        data: bytes,
        gas: int,
        *,
        l1_fee: Callable[[bytes], int] | None = None,
    ) -> SendOutcome:
        """:meth:`submit` then :meth:`wait`."""
        record = self.submit(intent_id, to, data, gas, l1_fee=l1_fee)
        return self.wait(record.nonce)

    # -- restart and reorgs -----------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        """Settle every pending journal entry against the chain (run at start-up).

        Nonces are handled in ascending order, and a still-unused nonce is rebroadcast with its
        identical signed bytes -- unless its plan no longer simulates, in which case a cancel
        takes the nonce -- so nothing is sent twice, nothing stale is mined, and no nonce gap
        is left. A pending version the node refuses as underpriced waits in the journal. The
        nonces it finds finished (mined while the keeper was down, or dropped) are kept for
        :meth:`take_reconciled`: the next settle step books them as it books its own.
        """
        mined = rebroadcast = dropped = cancelled = 0
        refused: list[tuple[str, int, str]] = []
        latest = self.chain_nonce("latest")
        for nonce in self.journal.pending_nonces(self.address):
            versions = self.journal.versions(self.address, nonce)
            found = self._newest_receipt(versions)
            if found is not None:
                self._reconciled.append(self._settle(nonce, *found))
                mined += 1
                continue
            if nonce < latest:
                late = self._late_receipt(versions)
                if late is not None:
                    self._reconciled.append(self._settle(nonce, late[0], late[1]))
                    mined += 1
                elif self._stranger_took(nonce, versions):
                    self._reconciled.append(self._drop(nonce))
                    dropped += 1
                # else: the nodes disagree; left pending (used: never rebroadcast), for the polls
                continue
            newest = [v for v in versions if v.status in PENDING][-1]
            try:
                if not self.plan_still_valid(newest):
                    try:
                        self.replace(nonce, cancel=True)
                    except FeeCapError as exc:
                        # Leave the stale version unsent; the next poll tries again.
                        logger.warning("cannot cancel stale nonce %d yet: %s", nonce, exc)
                        continue
                    cancelled += 1
                    continue
                self._send_journaled(newest)
            except TxRefusedError as exc:
                # Never sent again; its intent abandoned unless another version is in flight.
                logger.warning("%s", exc)
                refused.append((exc.record.tx_hash, nonce, exc.reason))
                continue
            rebroadcast += 1
        report = ReconcileReport(mined, rebroadcast, dropped, cancelled, tuple(refused))
        logger.info(
            "journal reconciled: %d mined, %d rebroadcast, %d dropped, %d cancelled, %d refused",
            report.mined,
            report.rebroadcast,
            report.dropped,
            report.cancelled,
            len(report.refused),
        )
        return report

    def take_reconciled(self) -> list[SendOutcome]:
        """The finished nonces to book, then forgotten here.

        What :meth:`reconcile` settled, the re-inclusions :meth:`check_reorgs` settled, and what
        :meth:`give_back` returned, since the last call.
        """
        done, self._reconciled = self._reconciled, []
        return done

    def give_back(self, unbooked: Sequence[SendOutcome]) -> None:
        """Keep finished nonces whose booking failed for the next :meth:`take_reconciled`.

        The journal has settled them, so no poll finds them again: without this, a transient
        fault while booking (a read of whether someone else settled a series) lost them.
        """
        self._reconciled[:0] = unbooked

    def _stranger_took(self, nonce: int, versions: Sequence[TxRecord]) -> bool:
        """Whether one node says, in one answer, that ``nonce`` is used and no version mined.

        The reads that found the nonce used and our receipts missing may each have gone to
        another endpoint (the failover provider picks one per request): a node at the head can
        answer the nonce, and one a few blocks behind, which has not got our block yet, the
        receipts. Dropping on that would book a mined batch as abandoned ("nonce used by
        another transaction"). So a drop needs both facts from one node: one JSON-RPC batch,
        the ``latest`` nonce first, then every version's receipt (a batch goes to one endpoint
        whole, and a node answers its items in order, so a receipt mined by the time of the
        nonce read is there). A provider without batches is one node, asked read by read.

        Raises:
            ChainError: The node answered the batch with an error (``RpcUnavailableError``,
                transient, when that error means "ask again").
        """
        provider = self.w3.provider
        if not isinstance(provider, JSONBaseProvider):
            return self.chain_nonce("latest") > nonce and all(
                self._receipt(v.tx_hash) is None for v in versions
            )
        calls: list[tuple[RPCEndpoint, Any]] = [
            (RPCEndpoint("eth_getTransactionCount"), [self.address, "latest"])
        ]
        calls += [(RPCEndpoint("eth_getTransactionReceipt"), [v.tx_hash]) for v in versions]
        request = provider.batch_request_func(self.w3, self.w3.middleware_onion)
        answers = read_with_retry(lambda: request(calls))
        items = answers if isinstance(answers, list) else [answers]
        for item in items:
            error = item.get("error") if isinstance(item, Mapping) else None
            if error is not None or not isinstance(item, Mapping) or "result" not in item:
                message = f"nonce {nonce}: the node answered the nonce and receipts with {item!r}"
                if rpc_error_is_transient(error):
                    raise RpcUnavailableError(message, "batch")
                raise ChainError(message)
        if len(items) != len(calls):
            raise ChainError(f"nonce {nonce}: {len(items)} answers to {len(calls)} reads")
        count, receipts = items[0]["result"], [item["result"] for item in items[1:]]
        used = int(count, 16) if isinstance(count, str) else int(count)
        mined = any(r is not None and r.get("blockNumber") is not None for r in receipts)
        if used > nonce and mined:
            logger.info("nonce %d: a version of ours is mined, its receipt not yet read", nonce)
        elif used <= nonce:
            logger.info("nonce %d: read used, but not by the node asked again: not dropped", nonce)
        return used > nonce and not mined

    def _late_receipt(self, versions: list[TxRecord]) -> tuple[TxRecord, Any] | None:
        """A receipt for one of ``versions`` that shows up within ``DROP_GRACE_S``.

        A node can report a nonce used a moment before it serves the receipt (see
        :meth:`poll_nonce`): only a nonce still without one of our receipts after the grace is
        someone else's.
        """
        until = time.monotonic() + DROP_GRACE_S
        while True:
            found = self._newest_receipt(versions)
            if found is not None or time.monotonic() >= until:
                return found
            self._sleep(min(self.poll_s, 0.2))

    def _newest_receipt(self, versions: list[TxRecord]) -> tuple[TxRecord, Any] | None:
        """The newest of ``versions`` that has a receipt, with it (read newest first), or None."""
        for v in reversed(versions):
            receipt = self._receipt(v.tx_hash)
            if receipt is not None:
                return v, receipt
        return None

    def reorg_probe(self) -> int | None:
        """The block :meth:`check_reorgs` would read: the newest holding a mined tx of ours.

        The loop reads it together with the head (one round trip) and hands the header over;
        ``None`` when nothing mined is journaled.
        """
        return self.journal.newest_mined_block(self.address)

    def check_reorgs(
        self, head: int | None = None, headers: Mapping[int, Any] | None = None
    ) -> list[int]:
        """Mark mined transactions whose block is gone; return their intents to re-evaluate.

        Only transactions not yet final are looked at: mined less than ``finality_depth``
        blocks below the head of the last completed check (or ``head``, if lower). Depth counts
        at a head this check saw, not at whatever head it reads next: after cycles that failed
        for more than ``finality_depth`` blocks (an RPC outage), a reorg in the meantime of a
        block that was shallow then is still looked for (measured from ``head``, its batch
        stayed ``mined`` though no block held it, and its free nonce, below the journal's,
        stopped every later send as "the node is behind"). They are looked at cheaply: blocks
        are hash-chained, so if the newest block holding one of them still has the hash
        journaled for it, none of them moved (one header read, none when ``headers`` already
        holds that block's header, read with the head). Only when it changed are their receipts
        read one by one. A cycle with nothing recent in the journal reads nothing, and the
        journal is asked only for the rows not yet final.

        A block at or below ``head`` that the node cannot find proves nothing: the read went to
        a node behind the one that gave the head (a failover endpoint that lags). Nothing is
        marked; the next cycle looks again. Only a block above the head is gone (the chain is
        now shorter than it).
        """
        if head is None:
            if self.journal.newest_mined_block(self.address, reorged=True) is None:
                return []
            head = self._head()
        checked = head if self._checked_head is None else min(head, self._checked_head)
        recent = self.journal.mined_since(self.address, checked - self.finality_depth)
        if not recent:
            self._checked_head = head
            return []
        live = [r for r in recent if r.status is not TxStatus.REORGED]
        reorged: list[int] = []
        canonical = self._still_canonical(max(live, key=_block), head, headers) if live else True
        if canonical is None:
            logger.warning(
                "block %d (our newest mined tx) not found at head %d: the node is behind; "
                "checked again next cycle",
                _block(max(live, key=_block)),
                head,
            )
            return []
        if not canonical:
            for rec in live:
                receipt = self._receipt(rec.tx_hash)
                block_hash = "0x" + bytes(receipt["blockHash"]).hex() if receipt else None
                if block_hash is None or block_hash != rec.mined_block_hash:
                    # One write: killed between the two, a reorged version under a mined intent
                    # would be booked as a new rebalance when mined again, not as re-included.
                    with self.journal.atomic():
                        self.journal.mark(rec.tx_hash, TxStatus.REORGED)
                        self.journal.set_intent(
                            rec.intent_id, IntentStatus.REORGED, "block reorganized away"
                        )
                    self._emit("reorged", rec)
                    reorged.append(rec.intent_id)
        self._checked_head = head
        # A reorged tx that was re-included elsewhere is mined again (looked for until final).
        # Settled here, it is no longer pending, so no poll finds it: its outcome is kept for
        # the settle step (:meth:`take_reconciled`), which books it as it books a poll's.
        for rec in recent:
            if rec.status is not TxStatus.REORGED or rec.intent_id in reorged:
                continue
            receipt = self._receipt(rec.tx_hash)
            if receipt is not None:
                done = self._settle_when_confirmed(rec.nonce, rec, receipt, head)
                if done is not None:
                    self._reconciled.append(done)
        return reorged

    def _still_canonical(
        self, rec: TxRecord, head: int, headers: Mapping[int, Any] | None = None
    ) -> bool | None:
        """Whether the block ``rec`` was mined in is still the chain's block at that height.

        ``None``: unknown (the node that answered is behind ``head``, see :meth:`check_reorgs`).
        """
        number = _block(rec)
        known = headers.get(number) if headers else None
        try:
            block = known or read_with_retry(lambda: self.w3.eth.get_block(number))
        except BlockNotFound:
            # Above the head: the chain is shorter now, that block is gone. At or below it: this
            # answer came from a node that has not seen it yet.
            return False if number > head else None
        current = block.get("hash") if block is not None else None
        return current is not None and "0x" + bytes(current).hex() == rec.mined_block_hash

    def check_history(self) -> None:
        """Refuse a journal whose final history is not this chain's (run at start-up).

        The genesis binding (:meth:`Journal.bind_chain`) cannot tell a fork restarted from the
        same block: same chain id, same genesis. Our transactions mined less than
        ``finality_depth`` blocks below the head are the reorg check's (it sends them again);
        older ones it no longer reads, and the journal's nonces stay above the account's, so
        every cycle would stop at "the node is behind". Blocks are hash-chained: the newest
        final block holding one of ours still has its journaled hash, or none of them is on
        this chain. One head read and one header read (:meth:`_still_canonical`, the reorg
        check's); a node that cannot find that block proves nothing (it lags) and passes.

        A block that moved while the keeper was down, its transaction mined again in another
        block (a shallow reorg it slept through: geth puts the transactions back in its pool),
        is on this chain: the transaction's receipt says so. It passes, and the first cycle's
        reorg check looks at it and every later one of ours (:meth:`check_reorgs`, from the
        block it was journaled in), as at a reorg seen in time.

        Raises:
            ConfigError: That block has another hash here and the chain has no receipt for our
                transaction (one line, naming the block).
        """
        head = self._head()
        self._checked_head = head
        rec = self.journal.newest_mined_at_or_below(self.address, head - self.finality_depth)
        if rec is None or self._still_canonical(rec, head) is not False:
            return
        number = _block(rec)
        receipt = self._receipt(rec.tx_hash)
        if receipt is not None:
            logger.warning(
                "our transaction %s (nonce %d), journaled in block %d, is in block %d now: a "
                "reorg while the keeper was down; the first cycle checks our blocks from %d",
                rec.tx_hash,
                rec.nonce,
                number,
                int(receipt["blockNumber"]),
                number,
            )
            self._checked_head = number
            return
        raise ConfigError(
            f"journal {self.journal.path}: our transaction {rec.tx_hash} (nonce {rec.nonce}) "
            f"was mined in block {number} ({str(rec.mined_block_hash)[:10]}…), which is not "
            f"on this chain (its block {number} has another hash, and no block holds the "
            "transaction), e.g. a fork restarted from an earlier block: start with a fresh "
            "journal (--journal or KEEPER_JOURNAL_PATH set to a new file, or move this one away)"
        )

    def has_pending(self) -> bool:
        """Whether any journaled transaction of this account is still unresolved."""
        return bool(self.journal.pending_nonces(self.address))

    def resume(self, timeout_s: float | None = None) -> list[SendOutcome]:
        """Wait on every pending nonce, oldest first (the runner calls this before a new batch)."""
        return [self.wait(n, timeout_s) for n in self.journal.pending_nonces(self.address)]

    def balance(self) -> Wei:
        """The keeper account's balance in wei."""
        return Wei(
            int(read_with_retry(lambda: self.w3.eth.get_balance(to_checksum_address(self.address))))
        )


def _newest_not_refused(versions: Sequence[TxRecord]) -> TxRecord:
    """The newest version of a nonce a node may hold (a ``refused`` one it never took)."""
    held = [v for v in versions if v.status is not TxStatus.REFUSED]
    return held[-1] if held else versions[-1]


def _in_flight(versions: Sequence[TxRecord]) -> TxRecord:
    """The version of a pending nonce to wait on, resend or replace.

    The newest still pending (signed, sent, or reorged): after a reorg that is the version the
    removed block held, even when a newer one was settled ``replaced`` by its mining (a bump
    never broadcast, or not mined): that one must not be sent as if it were in flight (its row
    cannot go back to ``sent``, and a cycle failed on it). Else the newest a node may hold.
    """
    pending = [v for v in versions if v.status in PENDING]
    return pending[-1] if pending else _newest_not_refused(versions)


def _block(rec: TxRecord) -> int:
    return rec.mined_block if rec.mined_block is not None else -1


def decode_signed(raw_tx: str) -> dict[str, Any]:
    """The ``to``, ``data``, ``value`` and ``gas`` of a journaled signed typed transaction.

    Raises:
        rlp.exceptions.RLPException, ValueError: ``raw_tx`` is not one.
    """
    typed = TypedTransaction.from_bytes(HexBytes(raw_tx))
    d = typed.as_dict()
    return {
        "to": str(to_checksum_address(d["to"])),
        "data": bytes(HexBytes(d["data"])),
        "value": int(d["value"]),
        "gas": int(d["gas"]),
    }
