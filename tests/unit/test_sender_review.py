"""Sender defects a review found; each test was written first and failed on the tree before its fix.

No node: the journaled sender runs against the scripted single-account
:class:`~tests.unit.test_audit_findings.FakeChain`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.app.act import settle_in_flight
from keeper.chain.connection import FailoverProvider
from keeper.errors import ChainError, ExecutionError, FeeCapError
from keeper.execution.journal import IntentStatus, Journal, TxStatus
from keeper.execution.sender import TxRefusedError
from tests.unit.test_audit_findings import (
    CALL,
    GWEI,
    VAULT,
    FakeChain,
    Reply,
    Session,
    _rpc_error,
    make_sender,
    stub_keeper,
)


def test_a_stale_plan_whose_cancel_hits_the_cap_at_restart_is_never_broadcast() -> None:
    """Signed at the fee cap, then the process died; on restart the plan no longer simulates and
    its cancel cannot be bumped under the cap, so ``reconcile`` leaves it unsent. The next poll
    must not broadcast it anyway (it would be mined into a failure)."""
    chain = FakeChain(base_fee=60 * GWEI)  # 2 * base + tip > the 100 gwei cap: priced at the cap
    acct = Account.create()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, acct)
    stale = s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)  # ... and it died
    assert stale.max_fee == 100 * GWEI

    restarted = make_sender(chain, journal, acct, still_valid=lambda to, data: False)
    assert restarted.reconcile().rebroadcast == 0
    for _ in range(5):
        with contextlib.suppress(FeeCapError):  # a wait for the base fee; the chain tells the rest
            restarted.poll_nonce(stale.nonce)
        chain.mine()
    assert not [t for t in chain.mined if t.data == CALL], "the stale plan was broadcast and mined"
    assert journal.tx(stale.tx_hash).status is TxStatus.SIGNED


def _error_reply(req: dict[str, Any]) -> Any:
    return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": None}}


def _null_result(req: dict[str, Any]) -> Any:
    return {"jsonrpc": "2.0", "id": req["id"], "result": None}


def fail_first_send(
    chain: FakeChain, fault: Exception, *, reached: bool = False, delay_s: float = 0.0
) -> list[bytes]:
    """Make ``chain``'s first ``eth_sendRawTransaction`` raise ``fault`` after ``delay_s`` (the
    node took it first when ``reached``); returns every raw transaction sent, in order."""
    real_send = chain.send_raw_transaction
    sent: list[bytes] = []

    def first_fails(raw: Any) -> HexBytes:
        sent.append(bytes(HexBytes(raw)))
        if len(sent) == 1:
            if reached:
                real_send(raw)
            time.sleep(delay_s)
            raise fault
        return real_send(raw)

    chain.send_raw_transaction = first_fails  # type: ignore[method-assign]
    return sent


def malformed_send_answer(reply: Reply) -> Exception:
    """What web3 raises for ``reply`` to ``eth_sendRawTransaction`` (through the real provider)."""
    provider = FailoverProvider(
        ["http://rpc.example"],
        session=Session({"eth_sendRawTransaction": [reply]}),  # type: ignore[arg-type]
        sleep=lambda s: None,
        timeout_s=1,
        hedge_s=0.5,
    )
    try:
        Web3(provider).eth.send_raw_transaction(HexBytes(b"\x02"))
    except Web3Exception as exc:
        return exc
    raise AssertionError("the malformed answer raised nothing")


@pytest.mark.parametrize("reached_the_pool", [True, False], ids=["reached", "lost"])
@pytest.mark.parametrize(
    "reply", [_error_reply, _null_result], ids=["error-with-null-message", "null-result"]
)
def test_a_malformed_answer_to_a_send_is_an_unknown_outcome_settled_by_receipt(
    reply: Reply, reached_the_pool: bool
) -> None:
    """A node answers a send with a JSON-RPC error whose message is ``null`` (or a ``null``
    result): whether the transaction reached its pool is unknown, as after a cut connection. The
    send must not fail the cycle as a permanent refusal; the journaled bytes are sent again,
    identical (at once: the answer came fast), and mined once."""
    chain = FakeChain()
    calls = fail_first_send(chain, malformed_send_answer(reply), reached=reached_the_pool)
    s = make_sender(chain, Journal(":memory:"), Account.create(), sleep=chain.mine)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert len(calls) == 2
    assert record.status is TxStatus.SENT  # taken by the second try (or "already known")
    outcome = s.wait(record.nonce, timeout_s=1)
    assert outcome.status is TxStatus.MINED
    assert outcome.tx_hash == record.tx_hash
    assert len([t for t in chain.mined if t.data == CALL]) == 1


def test_a_send_refused_because_the_txpool_is_full_waits_and_is_mined_later() -> None:
    """geth answers ``txpool is full`` when its pool is at capacity and the transaction pays no
    more than the cheapest one it holds: a price refusal, like "transaction underpriced", not a
    fault of the keeper. The row waits in the journal (bumped if it lasts) and is mined once the
    pool has room; the send does not fail the cycle."""
    chain = FakeChain()
    real_send = chain.send_raw_transaction
    full_for = [3]

    def full_pool(raw: Any) -> HexBytes:
        if full_for[0] > 0:
            full_for[0] -= 1
            raise _rpc_error("txpool is full")
        return real_send(raw)

    chain.send_raw_transaction = full_pool  # type: ignore[method-assign]
    s = make_sender(chain, Journal(":memory:"), Account.create(), sleep=chain.mine)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert record.status is TxStatus.SIGNED
    outcome = s.wait(record.nonce, timeout_s=1)
    assert outcome.status is TxStatus.MINED
    assert len([t for t in chain.mined if t.data == CALL]) == 1


def test_a_stuck_stale_plan_whose_cancel_hits_the_cap_is_not_broadcast_again() -> None:
    """Sent at the fee cap, then evicted from the node's pool (never mined); by the time it is
    due for a replacement its plan no longer simulates, and the cancel cannot be bumped under the
    cap. The keeper must wait (fee cap) rather than put the stale call back in the pool."""
    chain = FakeChain(base_fee=60 * GWEI)  # priced at the 100 gwei cap
    acct = Account.create()
    journal = Journal(":memory:")
    valid = [True]
    s = make_sender(
        chain, journal, acct, replace_after_blocks=2, still_valid=lambda to, data: valid[0]
    )
    sent = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert sent.status is TxStatus.SENT
    chain.pool.clear()  # the node evicted it
    valid[0] = False  # and the chain moved: the plan would now fail
    for _ in range(8):
        chain.mine()
        with contextlib.suppress(FeeCapError):
            s.poll_nonce(sent.nonce)
    chain.mine()
    assert not [t for t in chain.mined if t.data == CALL], "the stale plan was broadcast and mined"


def test_a_receipt_without_a_block_yet_is_waited_on_not_a_crash() -> None:
    """Some nodes answer ``eth_getTransactionReceipt`` for a transaction still in their pool with a
    receipt whose ``blockNumber`` and ``blockHash`` are ``null`` (the provider passes it: the
    keys are there). It is not mined yet: the wait goes on, and settles on the real receipt."""
    chain = FakeChain()
    real_receipt = chain.get_transaction_receipt
    pending_answers = [2]

    def pending_receipt_first(tx_hash: Any) -> dict[str, Any]:
        if pending_answers[0] > 0:
            pending_answers[0] -= 1
            return {"status": 1, "gasUsed": 0, "blockNumber": None, "blockHash": None}
        return real_receipt(tx_hash)

    chain.get_transaction_receipt = pending_receipt_first  # type: ignore[method-assign]
    s = make_sender(chain, Journal(":memory:"), Account.create(), sleep=chain.mine)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    outcome = s.wait(record.nonce, timeout_s=1)
    assert outcome.status is TxStatus.MINED
    assert outcome.block_number is not None


@pytest.mark.parametrize("reached_the_pool", [True, False], ids=["reached", "lost"])
def test_a_send_whose_outcome_a_fast_fault_hid_goes_out_again_at_once_byte_for_byte(
    reached_the_pool: bool,
) -> None:
    """A 502, a 429 or a cut connection answers a send in milliseconds, and whether the node took
    the transaction is unknown. The journaled bytes were only broadcast again by the next poll, a
    block later: on a public RPC that fails one request in five, one batch in five a block late.
    The identical bytes (same hash: never a second transaction) go out again at once."""
    import requests

    chain = FakeChain()
    cut = requests.exceptions.ChunkedEncodingError("connection closed mid-response")
    sent = fail_first_send(chain, cut, reached=reached_the_pool)
    s = make_sender(chain, Journal(":memory:"), Account.create())
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert len(sent) == 2
    assert sent[0] == sent[1]  # byte for byte
    assert record.status is TxStatus.SENT  # the node has it (taken, or "already known")
    assert [t.tx_hash for t in chain.pool.values()] == [record.tx_hash]
    chain.mine()
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
    assert len([t for t in chain.mined if t.data == CALL]) == 1


def test_a_send_that_timed_out_waits_for_the_next_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send that failed only after a while (a timeout) is not tried again within the cycle:
    the cycle has already spent that while; the next poll settles it."""
    import requests

    from keeper.execution import sender as sender_mod

    monkeypatch.setattr(sender_mod, "RESEND_UNKNOWN_WITHIN_S", 0.05)
    chain = FakeChain()
    timeout = requests.exceptions.ReadTimeout("read timed out")
    sent = fail_first_send(chain, timeout, delay_s=0.1)
    s = make_sender(chain, Journal(":memory:"), Account.create())
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert len(sent) == 1
    assert record.status is TxStatus.SIGNED  # the row says what may be in flight
    assert s.poll_nonce(record.nonce) is None  # the next poll: the identical bytes again
    assert len(sent) == 2
    chain.mine()
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED


def test_a_reorged_batch_mined_again_is_booked_once() -> None:
    """A batch mined, booked (``mined``, its gas), reorged out and mined again at its nonce was
    booked a second time when it settled again: ``keeper_rebalances{state="mined"}`` 2 and
    ``keeper_gas_spent_wei`` twice its fee, for one batch on the chain and one fee paid."""
    from keeper.app.act import settle_in_flight
    from keeper.execution.simulate import REBALANCE_SELECTOR
    from tests.unit.test_audit_findings import stub_keeper

    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    k = stub_keeper(s)
    s.submit_new([VAULT], chain.block_number, VAULT, REBALANCE_SELECTOR, 100_000)
    chain.mine()
    settle_in_flight(k, chain.block_number)
    mined = k.metrics.value("keeper_rebalances_total", {"state": "mined"})
    gas = k.metrics.value("keeper_gas_spent_wei_total")
    assert (mined, gas > 0) == (1, True)

    chain.reorg()  # the block is gone; the batch is back in the pool
    assert settle_in_flight(k, chain.block_number).reorged
    for _ in range(3):
        chain.mine()
        settle_in_flight(k, chain.block_number)
    assert len([t for t in chain.mined if t.data == REBALANCE_SELECTOR]) == 1
    assert k.metrics.value("keeper_rebalances_total", {"state": "reorged"}) == 1
    assert k.metrics.value("keeper_rebalances_total", {"state": "mined"}) == 1
    assert k.metrics.value("keeper_gas_spent_wei_total") == gas


def test_a_cancel_pays_the_gas_a_transfer_needs_on_this_chain() -> None:
    """A cancel was signed with a fixed 21,000 gas. On Arbitrum the gas limit also pays the L1
    calldata, so a plain transfer needs more, and the node refused the cancel ("intrinsic gas
    too low"): a stale plan could not be cancelled there. Its gas is now the node's estimate
    of that transfer (with headroom), never under 21,000."""
    chain = FakeChain(transfer_gas=48_000)
    journal = Journal(":memory:")
    acct = Account.create()
    s = make_sender(chain, journal, acct)
    stale = s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)  # then it died
    restarted = make_sender(chain, journal, acct, still_valid=lambda to, data: False)
    restarted.reconcile()  # the plan no longer simulates: cancelled at its nonce
    chain.mine()
    outcome = restarted.poll_nonce(stale.nonce)
    assert outcome is not None
    assert outcome.cancelled
    cancel = journal.tx(outcome.tx_hash)
    assert cancel.gas >= 48_000
    assert not [t for t in chain.mined if t.data == CALL]


class _Killed(BaseException):
    """The process dying between two journal writes (a SIGKILL's effect, in-process)."""


@pytest.mark.parametrize("outcome", ["mined", "dropped"])
def test_a_crash_while_settling_leaves_the_journal_as_before_and_a_restart_settles_it(
    tmp_path: Any, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settling a nonce writes several rows: its versions, then its intent. A crash between them
    left the version ``mined`` (or ``dropped``) and its intent ``open`` for good: the restart's
    ``reconcile`` only looks at pending versions, so the intent was never closed. The writes are
    now one journal transaction: a crash leaves the nonce pending, and the restart settles it."""
    from keeper.execution.journal import IntentStatus
    from tests.unit.test_sender_lagging_receipts import spend_nonce_elsewhere

    monkeypatch.setattr("keeper.execution.sender.DROP_GRACE_S", 0.0)
    chain = FakeChain()
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    me = Account.create()
    s = make_sender(chain, journal, me)
    if outcome == "mined":
        record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
        chain.mine()
    else:  # signed, never sent; another transaction takes its nonce
        record = s.prepare(journal.open_intent([VAULT], 0), VAULT, CALL, 100_000)
        spend_nonce_elsewhere(chain, record.nonce)

    real_set_intent = journal.set_intent

    def killed(*args: Any, **kwargs: Any) -> None:
        raise _Killed

    def poll_until_killed() -> None:
        for _ in range(5):  # a dropped nonce is judged on a later look
            s.poll_nonce(record.nonce)
            chain.mine()

    journal.set_intent = killed  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        poll_until_killed()
    journal.set_intent = real_set_intent  # type: ignore[method-assign]
    journal.close()

    again = Journal(path)
    assert again.tx(record.tx_hash).status in {TxStatus.SIGNED, TxStatus.SENT}
    assert again.intent(record.intent_id).status is IntentStatus.OPEN
    restarted = make_sender(chain, again, me)
    for _ in range(5):
        restarted.reconcile()
        if not again.pending(me.address):
            break
        chain.mine()
    want = TxStatus.MINED if outcome == "mined" else TxStatus.DROPPED
    assert again.tx(record.tx_hash).status is want
    closed = IntentStatus.MINED if outcome == "mined" else IntentStatus.ABANDONED
    assert again.intent(record.intent_id).status is closed


def test_an_l1_fee_quote_that_fails_after_the_send_does_not_fail_the_sent_batch() -> None:
    """The L1 fee is priced on the exact signed bytes *after* the broadcast: bookkeeping, not
    part of the transaction. A quote that fails for good (the fee oracle reverts: a
    ``ChainError`` that is not transient) must not turn a batch that went out into a failed
    send: the caller would skip its wait and the loop would count a failed cycle toward the
    breaker for a batch that is mined. The record comes back ``sent``, with no L1 fee."""
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())

    def oracle_reverts(raw: bytes) -> int:
        raise ChainError("GasPriceOracle.getL1Fee(bytes) failed: ContractLogicError")

    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000, l1_fee=oracle_reverts)
    assert record.status is TxStatus.SENT
    assert record.l1_fee is None
    chain.mine()
    assert s.wait(record.nonce, timeout_s=1).status is TxStatus.MINED


def test_a_reorged_tx_reincluded_while_an_earlier_nonce_held_the_settle_step_is_booked() -> None:
    """Two batches (nonces n and n+1) mined in one block that a reorg removes; both go back to
    the pool. The settle step resends n and stops there (nothing is polled behind a pending
    nonce), so n+1 stays ``reorged``. Both are mined again. The next cycle's reorg check finds
    n+1's new receipt and settles it in the journal, but threw the outcome away: it was no
    longer pending, so no poll found it, and the settle step never booked it (a re-inclusion
    that reverted was never alerted, its fees never counted). Every finished nonce must reach
    the settle step once."""
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    first = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    second = s.submit_new([VAULT], chain.block_number, VAULT, CALL + b"\x01", 100_000)
    chain.mine()
    for record in (first, second):
        assert s.wait(record.nonce, timeout_s=1).status is TxStatus.MINED

    chain.reorg()  # both back in the pool
    keeper = stub_keeper(s)
    settled = settle_in_flight(keeper, chain.block_number)
    assert settled.blocked is not None  # the first is in flight again; the second not polled
    chain.mine()  # both mined again

    booked: list[str] = []
    for _ in range(3):
        settled = settle_in_flight(keeper, chain.block_number)
        booked += [o.tx_hash for o in settled.resumed]
        chain.mine()
    assert sorted(booked) == sorted([first.tx_hash, second.tx_hash])


def refuse_for_good(chain: FakeChain, message: str) -> list[bytes]:
    """Make ``chain`` refuse every send of ``CALL`` with ``message`` (a property of the signed
    bytes: sending them again can only be refused again); returns every raw transaction sent."""
    real_send = chain.send_raw_transaction
    sent: list[bytes] = []

    def refuse(raw: Any) -> HexBytes:
        sent.append(bytes(HexBytes(raw)))
        if bytes(HexBytes(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["data"])) == CALL:
            raise _rpc_error(message)
        return real_send(raw)

    chain.send_raw_transaction = refuse  # type: ignore[method-assign]
    return sent


@pytest.mark.parametrize("message", ["invalid sender", "intrinsic gas too low"])
def test_a_journaled_tx_the_node_refuses_for_good_is_abandoned_not_sent_every_cycle(
    message: str,
) -> None:
    """Signed, then the process died; on restart the node refuses the journaled bytes for good.
    They were broadcast again at the restart and at every poll after it, each a failed cycle,
    for ever (a restart began it again), and the nonce held every later batch. Never accepted
    by a node, they cannot be pending anywhere: the version is marked refused, its intent
    abandoned with the node's reason, and the nonce goes to the next batch."""
    chain = FakeChain()
    acct = Account.create()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, acct)
    refused = s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)  # ... it died
    sent = refuse_for_good(chain, message)

    restarted = make_sender(chain, journal, acct)
    report = restarted.reconcile()
    assert report.refused == ((refused.tx_hash, 0, message),)
    assert len(sent) == 1
    assert journal.tx(refused.tx_hash).status is TxStatus.REFUSED
    intent = journal.intent(refused.intent_id)
    assert intent.status is IntentStatus.ABANDONED
    assert message in intent.note
    assert not restarted.has_pending()
    for _ in range(3):
        assert restarted.take_reconciled() == []
        chain.mine()
    assert len(sent) == 1  # never sent again
    other = bytes.fromhex("deadbeef")  # a batch the node takes
    nxt = restarted.submit_new([VAULT], chain.block_number, VAULT, other, 100_000)
    assert nxt.nonce == 0  # the refused bytes never took the nonce: no gap
    chain.mine()
    outcome = restarted.poll_nonce(0)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED


def test_a_new_batch_refused_for_good_fails_its_cycle_once_and_is_not_sent_again() -> None:
    """The node refuses a new batch for good: the cycle fails with an alert (a refused batch is
    systemic, for the breaker), and the signed row is not broadcast again by the next cycles'
    settle step (it was, every cycle, and the breaker halted the keeper on it)."""
    chain = FakeChain()
    sent = refuse_for_good(chain, "intrinsic gas too low")
    s = make_sender(chain, Journal(":memory:"), Account.create())
    with pytest.raises(ExecutionError, match="intrinsic gas too low"):
        s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    k = stub_keeper(s)
    for _ in range(3):
        chain.mine()
        settled = settle_in_flight(k, chain.block_number)
        assert settled.blocked is None
    assert len(sent) == 1
    assert s.journal.intents()[0].status is IntentStatus.ABANDONED


def test_a_refused_tx_found_pending_is_alerted_once_and_does_not_fail_the_cycle() -> None:
    """A row left signed (as by a keeper before this fix) that the node refuses for good when
    the settle step broadcasts it: one alert, the cycle goes on, and it is never sent again."""
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create())
    refused = s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)
    sent = refuse_for_good(chain, "invalid sender")
    k = stub_keeper(s)
    for _ in range(3):
        settled = settle_in_flight(k, chain.block_number)  # no ExecutionError
        assert settled.blocked is None
        chain.mine()
    assert len(sent) == 1
    alerts = [a for a in k.alerter.sent if a["kind"] == "failed_batch"]
    assert len(alerts) == 1
    assert refused.tx_hash in alerts[0]["message"]
    assert "invalid sender" in alerts[0]["message"]


def test_a_tx_a_node_took_before_is_never_abandoned_when_another_refuses_it() -> None:
    """A version a node accepted (``sent``) may still be mined: a refusal now (another endpoint,
    another rule) does not free its nonce, so no later batch can be mined besides it."""
    chain = FakeChain()
    journal = Journal(":memory:")
    acct = Account.create()
    s = make_sender(chain, journal, acct)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert record.status is TxStatus.SENT
    chain.pool.clear()  # the node forgot it; another may still hold it
    refuse_for_good(chain, "invalid sender")
    restarted = make_sender(chain, journal, acct)
    with pytest.raises(ExecutionError, match="invalid sender"):
        restarted.reconcile()
    assert journal.tx(record.tx_hash).status is TxStatus.SENT
    assert journal.intent(record.intent_id).status is IntentStatus.OPEN
    assert restarted.has_pending()


def test_a_tx_refused_for_good_at_the_restart_is_alerted_once_by_the_loop() -> None:
    """The restart's reconciliation finds the refusal: one alert naming it, no failed cycle."""
    from types import SimpleNamespace

    from keeper.app.loop import Runner

    chain = FakeChain()
    journal = Journal(":memory:")
    acct = Account.create()
    refused = make_sender(chain, journal, acct).prepare(
        journal.open_intent([VAULT], 1), VAULT, CALL, 100_000
    )
    sent = refuse_for_good(chain, "intrinsic gas too low")
    k = stub_keeper(make_sender(chain, journal, acct))
    blocks = iter(range(10, 20))

    def cycle(keeper: Any) -> Any:
        settle_in_flight(keeper, chain.block_number)
        return SimpleNamespace(
            waiting=None, nothing_evaluated=lambda: None, dropped={}, failed={}, tx_status=None
        )

    runner = Runner(
        k, poll_interval_s=0, cycle=cycle, block_number=lambda: next(blocks), max_cycles=3
    )
    assert runner.run() == 3
    assert runner.failed_cycles == 0
    assert len(sent) == 1
    alerts = [a for a in k.alerter.sent if a["kind"] == "failed_batch"]
    assert len(alerts) == 1
    assert refused.tx_hash in alerts[0]["message"]


def test_a_version_whose_first_broadcast_timed_out_is_kept_when_the_retry_is_refused() -> None:
    """The first broadcast timed out (a node may have taken the bytes) and the immediate resend
    went to another endpoint, which refused them for good ("exceeds block gas limit": a rule
    nodes may not share). The first node may still mine them, so the version keeps its nonce:
    not marked refused, its intent not abandoned, and no later batch takes the nonce."""
    import requests

    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create())
    real_send = chain.send_raw_transaction
    calls: list[int] = []

    def timeout_then_refuse(raw: Any) -> HexBytes:
        calls.append(1)
        if len(calls) == 1:
            real_send(raw)  # the node took it; its answer was lost
            raise requests.exceptions.ReadTimeout("read timed out")
        raise _rpc_error("exceeds block gas limit")

    chain.send_raw_transaction = timeout_then_refuse  # type: ignore[method-assign]
    with pytest.raises(ExecutionError, match="exceeds block gas limit") as raised:
        s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert len(calls) == 2
    assert not isinstance(raised.value, TxRefusedError)
    record = journal.versions(s.address, 0)[-1]
    assert record.status is not TxStatus.REFUSED
    assert journal.intent(record.intent_id).status is IntentStatus.OPEN
    assert s.has_pending()
    chain.send_raw_transaction = real_send  # type: ignore[method-assign]
    chain.mine()
    outcome = s.poll_nonce(0)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED


@pytest.mark.parametrize("what", ["settle", "fill"])
def test_a_refused_settlement_or_queue_fill_is_booked_as_what_it_is_not_as_a_batch(
    what: str,
) -> None:
    """A settle or a queue fill left signed, refused for good when broadcast again: it was
    counted as a failed rebalance and alerted as ``failed_batch``; it is a failed settlement
    (``settlement``) or a queue fill that did not happen (``redemption_queue``), as the settle
    step books either when it does not get mined."""
    from eth_abi.abi import encode

    from keeper.app.settle import FILL_SELECTOR, SETTLE_SELECTOR

    call = (
        SETTLE_SELECTOR + encode(["uint256", "uint80"], [3, 7])
        if what == "settle"
        else FILL_SELECTOR
    )
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create())
    record = s.prepare(journal.open_intent([VAULT], 1), VAULT, call, 100_000)
    real_send = chain.send_raw_transaction
    chain.send_raw_transaction = lambda raw: (_ for _ in ()).throw(  # type: ignore[method-assign]
        _rpc_error("invalid sender")
    )
    k = stub_keeper(s)
    settled = settle_in_flight(k, chain.block_number)
    assert settled.blocked is None
    chain.send_raw_transaction = real_send  # type: ignore[method-assign]
    kinds = [a["kind"] for a in k.alerter.sent]
    assert kinds == ["settlement" if what == "settle" else "redemption_queue"]
    assert record.tx_hash in k.alerter.sent[0]["message"]
    assert "invalid sender" in k.alerter.sent[0]["message"]
    assert k.metrics.value("keeper_rebalances_total", {"state": "failed"}) == 0
    failed = k.metrics.value("keeper_settlements_total", {"outcome": "failed"})
    assert failed == (1 if what == "settle" else 0)


def test_a_timed_out_broadcast_whose_head_read_failed_is_still_kept_after_a_restart() -> None:
    """The broadcast timed out twice (a node may hold the bytes) and the head read right after
    failed too, so nothing in the journal said the bytes had gone out: after a restart the
    row looked never sent, and a for-good refusal from another node freed its nonce while
    the first node could still mine it. The journal now keeps that it went out."""
    import requests

    chain = FakeChain()
    journal = Journal(":memory:")
    acct = Account.create()
    s = make_sender(chain, journal, acct)
    real_send = chain.send_raw_transaction
    head_down = {"reads": 0}  # how many head reads fail from now (every retry of one read)

    class HeadlessChain(FakeChain):
        @property
        def block_number(self) -> int:
            if head_down["reads"] > 0:
                head_down["reads"] -= 1
                raise requests.exceptions.ConnectionError("connection refused")
            return FakeChain.block_number.fget(self)  # type: ignore[attr-defined,no-any-return]

    chain.__class__ = HeadlessChain

    def taken_then_timeout(raw: Any) -> HexBytes:
        with contextlib.suppress(Exception):
            real_send(raw)  # the node took it (the resend: already known); the answer was lost
        head_down["reads"] = 3
        raise requests.exceptions.ReadTimeout("read timed out")

    chain.send_raw_transaction = taken_then_timeout  # type: ignore[method-assign]
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert chain.pool  # out, though the keeper never heard so
    refuse_for_good(chain, "exceeds block gas limit")
    restarted = make_sender(chain, journal, acct)
    with contextlib.suppress(ExecutionError):
        restarted.reconcile()
    assert journal.tx(record.tx_hash).status is not TxStatus.REFUSED
    assert journal.intent(record.intent_id).status is IntentStatus.OPEN
    assert restarted.has_pending()
