"""The journaled sender after reorgs it sees late, crashes inside its reorg check, and cancels.

Found by an adversarial review of the send-once path (FakeChain, no node). Each test failed on
the tree before its fix.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from keeper.app.act import settle_in_flight
from keeper.errors import ConfigError
from keeper.execution.journal import IntentStatus, Journal, TxStatus
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, make_sender, stub_keeper


def _mined_batch(chain: FakeChain, journal: Journal, me: Any) -> tuple[Any, Any]:
    """A sender over ``journal`` and a lone vault's ``rebalance()``, mined in the chain's next
    block and settled."""
    from keeper.execution.simulate import REBALANCE_SELECTOR

    s = make_sender(chain, journal, me)
    rec = s.submit_new([VAULT], chain.block_number, VAULT, REBALANCE_SELECTOR, 100_000)
    chain.mine()
    assert s.wait(rec.nonce, timeout_s=1).status is TxStatus.MINED
    return s, rec


# ------------------------------------------------------------ a reorg the keeper sees late
def test_a_restart_after_a_shallow_reorg_the_keeper_slept_through_is_not_refused(
    tmp_path: Any,
) -> None:
    """The batch is mined in block X and settled; the keeper dies. A 1-block reorg replaces
    block X (geth puts the batch back in its pool) and the batch is mined again in the next
    block: the same transaction, mined once. The keeper comes back more than
    ``finality_depth`` blocks later.

    Before, ``check_history`` found another hash at X and refused to start ("a fork restarted
    from an earlier block: start with a fresh journal"). The transaction's receipt says it is on
    this chain: the start passes, and the first cycle books it re-included, counted once."""
    chain = FakeChain()
    me = Account.create()
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    s, rec = _mined_batch(chain, journal, me)
    mined_at = journal.tx(rec.tx_hash).mined_block
    assert mined_at is not None
    journal.close()  # the process dies here

    chain.reorg()  # block X replaced by an empty sibling; the batch goes back to the pool
    chain.mine()  # ... and is mined again at X + 1
    assert rec.tx_hash in chain.receipts
    for _ in range(s.finality_depth + 1):
        chain.mine()

    again = Journal(path)
    restarted = make_sender(chain, again, me)
    restarted.check_history()
    keeper = stub_keeper(restarted)
    settled = settle_in_flight(keeper, chain.block_number)
    assert settled.reorged == (rec.intent_id,)
    assert settled.blocked is None
    [done] = settled.resumed
    assert done.reincluded
    assert done.tx_hash == rec.tx_hash
    assert keeper.metrics.rebalances.labels("reincluded")._value.get() == 1
    assert again.tx(rec.tx_hash).mined_block == mined_at + 1


def test_a_restart_refuses_a_journal_whose_final_transaction_no_block_holds(
    tmp_path: Any,
) -> None:
    """The same, but no block holds the transaction any more (a fork restarted from an earlier
    block; or a reorg while the keeper was down that the node did not put back): one line,
    naming the block, and a fresh journal to start with. Sending on would sign above a nonce
    the chain has free."""
    chain = FakeChain()
    me = Account.create()
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    s, _ = _mined_batch(chain, journal, me)
    journal.close()

    chain.reorg()
    chain.pool.clear()
    for _ in range(s.finality_depth + 1):
        chain.mine()

    restarted = make_sender(chain, Journal(path), me)
    with pytest.raises(ConfigError, match=r"block 1 .*no block holds the transaction"):
        restarted.check_history()


def test_a_reorg_during_an_outage_longer_than_the_finality_depth_is_still_found() -> None:
    """While the keeper runs: its batch is mined in block X and settled; the next cycles fail
    (an RPC outage) for more than ``finality_depth`` blocks, during which a 1-block reorg
    removes X and the node does not put the batch back (its pool was restarted).

    Before, ``check_reorgs`` counted depth from the head it read when the cycles resumed: X was
    final by then, the batch stayed ``mined`` though no block held it, and its free nonce,
    below the journal's, stopped every later send as "the node is behind", for good. Depth now
    counts from the head of the last completed check: the reorg is found, the batch's own bytes
    go out again at its nonce, and new sends follow it."""
    from keeper.app.act import settle_in_flight
    from tests.unit.test_audit_findings import stub_keeper

    chain = FakeChain()
    me = Account.create()
    journal = Journal(":memory:")
    s, rec = _mined_batch(chain, journal, me)

    chain.reorg()
    chain.pool.clear()  # the node dropped the reorged batch
    for _ in range(s.finality_depth + 1):  # cycles failing meanwhile (RPC outage)
        chain.mine()
    assert rec.tx_hash not in chain.receipts
    assert chain.latest_nonce() == 0

    # Cycles again: the settle step finds the reorg (depth counted from the last check's head,
    # not this one), sends the batch's own bytes again at its nonce, and books it re-included.
    keeper = stub_keeper(s)
    found: list[int] = []
    for _ in range(4):
        settled = settle_in_flight(keeper, chain.block_number)
        found += settled.reorged
        if settled.blocked is None:
            break
        chain.mine()
    assert found == [rec.intent_id]
    assert settled.blocked is None
    assert rec.tx_hash in chain.receipts  # the same transaction, mined again
    assert journal.tx(rec.tx_hash).status is TxStatus.MINED
    assert keeper.metrics.rebalances.labels("reincluded")._value.get() == 1
    # ... and the nonce after it is the next one: a new send goes out.
    nxt = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert nxt.nonce == rec.nonce + 1


# ------------------------------------------------- a reorged nonce with a replaced version
def test_a_reorged_nonce_whose_newest_version_was_replaced_fails_no_cycle() -> None:
    """v1 is stuck, its replacement v2 is signed but its broadcast times out (v2 never reaches
    the node), then v1 is mined after all: v1 ``mined``, v2 ``replaced``. A reorg removes v1's
    block and the node drops v1.

    Before, the poll worked on the newest version, v2 (``replaced``, not ``reorged``), so v1
    was never sent again as a reorged version; once due, v2's bump passed the priority-fee cap
    and the fallback broadcast v2, then journaled ``replaced -> sent``, which the state machine
    refuses: a ``NonceError`` failed the cycle. Now the reorged version is the one in flight:
    v1's own bytes go out again and are mined, and no cycle fails."""
    from keeper.app.act import settle_in_flight
    from keeper.chain.retry import is_transient
    from keeper.errors import NonceError
    from keeper.execution.fees import FeeCaps
    from keeper.execution.sender import Sender
    from keeper.units import Wei
    from tests.unit.test_audit_findings import GWEI, fake_w3, stub_keeper

    chain = FakeChain(base_fee=GWEI)
    me = Account.create()
    journal = Journal(":memory:")
    caps = FeeCaps(Wei(100 * GWEI), Wei(1_200_000))  # room for one bump of the 0.001-gwei tip
    s = Sender(
        fake_w3(chain),
        me,
        journal,
        caps,
        chain_id=10,
        poll_s=0.0,
        sleep=lambda _: None,
        replace_after_blocks=2,
    )
    v1 = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert journal.tx(v1.tx_hash).status is TxStatus.SENT
    chain.base_fee = 5 * GWEI  # v1 (max fee 2.001 gwei) waits in the pool

    real_send = chain.send_raw_transaction
    cut = {"on": True}

    def send(raw: Any) -> Any:
        if cut["on"]:
            raise TimeoutError("read timed out")  # the replacement never reaches the node
        return real_send(raw)

    chain.send_raw_transaction = send  # type: ignore[method-assign]
    for _ in range(6):
        chain.mine()
        s.poll_nonce(v1.nonce)
        if len(journal.versions(s.address, v1.nonce)) > 1:
            break
    v2 = journal.versions(s.address, v1.nonce)[-1]
    assert v2.tx_hash != v1.tx_hash
    assert v2.status is TxStatus.SIGNED
    cut["on"] = False

    chain.base_fee = GWEI
    chain.mine()  # v1, still in the pool, is mined
    outcome = s.poll_nonce(v1.nonce)
    assert outcome is not None
    assert outcome.tx_hash == v1.tx_hash
    assert journal.tx(v2.tx_hash).status is TxStatus.REPLACED

    chain.reorg()
    chain.pool.clear()  # the node drops the reorged v1
    errors: list[BaseException] = []
    for _ in range(6):
        chain.mine()
        try:
            settle_in_flight(stub_keeper(s), chain.block_number)
        except NonceError as exc:
            errors.append(exc)
    assert not errors, (
        f"{len(errors)} of 6 cycles failed with a non-transient NonceError "
        f"(transient: {is_transient(errors[0])}): {errors[0]}"
    )
    assert v1.tx_hash in chain.receipts  # v1's own bytes, mined again
    assert journal.tx(v1.tx_hash).status is TxStatus.MINED
    assert journal.pending_nonces(s.address) == []


# ---------------------------------------------------- a settlement cancelled while it waits
def test_a_settlement_cancelled_during_its_own_wait_is_not_booked_as_settled() -> None:
    """The keeper sends ``settle(series, hint)``; it sits unmined (the base fee jumped above its
    max fee) until it is due for replacement. Meanwhile someone else settles the series, so the
    plan no longer simulates and a *cancel* replaces it, which is mined.

    Before, ``settle._send`` checked only the outcome's status (``mined``) and the series was
    booked ``settled`` by this keeper. Now a cancel is booked as a revert is, by reading the
    series again: settled by someone else."""
    from types import SimpleNamespace

    from keeper.app.settle import _settle_one
    from tests.unit.test_audit_findings import GWEI, stub_keeper

    chain = FakeChain(base_fee=GWEI)
    me = Account.create()
    journal = Journal(":memory:")
    stale = {"yes": False}
    s = make_sender(
        chain,
        journal,
        me,
        sleep=chain.mine,
        replace_after_blocks=2,
        still_valid=lambda to, data: not stale["yes"],
    )
    keeper = stub_keeper(s)

    def estimate_gas(_: Any) -> int:
        return 80_000

    def encode() -> str:
        return "0x" + "ab" * 4 + "00" * 64

    real_send = chain.send_raw_transaction

    def send(raw: Any) -> Any:
        answer = real_send(raw)
        if not stale["yes"]:
            chain.base_fee = 5 * GWEI  # right after it is sent: it waits in the pool ...
            stale["yes"] = True  # ... while someone else settles the series
        return answer

    chain.send_raw_transaction = send  # type: ignore[method-assign]

    call = SimpleNamespace(estimate_gas=estimate_gas, _encode_transaction_data=encode)
    # Read again after the cancel: settled (by someone else), flag 6 of the Series tuple.
    row = SimpleNamespace(call=lambda block_identifier: (0,) * 6 + (True,))
    vault = SimpleNamespace(
        address=VAULT,
        functions=SimpleNamespace(settle=lambda sid, h: call, series=lambda sid: row),
    )

    result = _settle_one(keeper, vault, 7, 42, chain.block_number)
    sent = journal.tx(result.tx_hash) if result.tx_hash else None
    settle_mined = [t for t in chain.mined if t.data[:4] == bytes.fromhex("abababab")]
    assert not settle_mined  # the settle call never made it on chain: the cancel did
    assert sent is not None
    assert s._is_cancel(sent)
    assert result.outcome == "settled_by_other", result
    assert "cancelled" in result.reason
    assert keeper.metrics.settlements.labels("settled")._value.get() == 0


# ------------------------------------------------------ a crash inside the reorg check
class _Killed(BaseException):
    """The process dying between two journal writes (a SIGKILL's effect, in-process)."""


def test_a_crash_inside_the_reorg_check_does_not_book_the_reincluded_batch_a_second_time(
    tmp_path: Any,
) -> None:
    """``check_reorgs`` marks the version ``reorged`` and its intent ``reorged``. Before, that
    was two journal writes: killed between them, the journal held a ``reorged`` version under a
    ``mined`` intent, and once the batch was mined again the restart booked it as a new
    rebalance (``reincluded`` is read from the intent): counted twice for one batch mined once.
    Now it is one write: a crash leaves both as they were, and the restarted keeper finds the
    reorg itself and books the batch re-included."""
    from keeper.app.act import account_outcome, settle_in_flight
    from keeper.execution.simulate import REBALANCE_SELECTOR
    from tests.unit.test_audit_findings import stub_keeper

    chain = FakeChain()
    me = Account.create()
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    s = make_sender(chain, journal, me)
    keeper = stub_keeper(s)
    # a lone vault's own rebalance(), as act() sends it with direct_single
    rec = s.submit_new([VAULT], chain.block_number, VAULT, REBALANCE_SELECTOR, 100_000)
    chain.mine()
    first = s.wait(rec.nonce, timeout_s=1)
    assert first.status is TxStatus.MINED
    account_outcome(keeper, first, 1)  # act() books it: one rebalance
    assert keeper.metrics.rebalances.labels("mined")._value.get() == 1

    chain.reorg()  # the block is gone, the batch back in the pool

    def killed(*_: Any, **__: Any) -> None:
        raise _Killed

    journal.set_intent = killed  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        s.check_reorgs(chain.block_number)
    journal.close()

    chain.mine()  # re-included
    again = Journal(path)
    # Neither write stayed: the version and its intent are as before the check (one write).
    assert again.tx(rec.tx_hash).status is TxStatus.MINED
    assert again.intent(rec.intent_id).status is IntentStatus.MINED
    restarted = make_sender(chain, again, me)
    restarted.check_history()
    restarted.reconcile()
    keeper2 = stub_keeper(restarted)
    keeper2.metrics = keeper.metrics
    # The restarted keeper's first cycle looks again, finds the batch in another block, and
    # books it re-included: one rebalance, counted once.
    settled = settle_in_flight(keeper2, chain.block_number)
    assert settled.reorged == (rec.intent_id,)
    [done] = settled.resumed
    assert done.reincluded
    assert done.tx_hash == rec.tx_hash
    assert keeper.metrics.rebalances.labels("mined")._value.get() == 1
    assert keeper.metrics.rebalances.labels("reincluded")._value.get() == 1


# ----------------------------------------- a cancel at a nonce a refused send freed before
def test_a_cancel_is_booked_by_the_call_it_cancelled_not_by_a_refused_batch_at_its_nonce() -> None:
    """A batch at nonce 0 is refused for good ("exceeds block gas limit"): ``refused``, intent
    abandoned, nonce 0 free. The next transaction, a queue ``fill()`` of another intent, is
    signed at the same nonce 0; it waits unmined until due, its plan is stale by then (someone
    else filled the queue), and a cancel takes the nonce.

    Before, the cancel was booked by the nonce's first version, the refused batch of the other
    intent: a cancelled rebalance (``rebalances{sent,cancelled}``, ``replaced`` += 2), and the
    fill's own booking never happened. Now by its own intent's first version: the fill, with
    its ``redemption_queue`` alert, and one replacement."""
    from keeper.app.act import settle_in_flight
    from keeper.app.settle import FILL_SELECTOR
    from keeper.execution.sender import TxRefusedError
    from keeper.execution.simulate import REBALANCE_SELECTOR
    from tests.unit.test_audit_findings import GWEI, _rpc_error, stub_keeper

    chain = FakeChain(base_fee=GWEI)
    me = Account.create()
    journal = Journal(":memory:")
    stale = {"yes": False}
    s = make_sender(
        chain, journal, me, replace_after_blocks=2, still_valid=lambda to, data: not stale["yes"]
    )
    keeper = stub_keeper(s)
    real_send = chain.send_raw_transaction

    def send(raw: Any) -> Any:
        from eth_account.typed_transactions.typed_transaction import TypedTransaction
        from hexbytes import HexBytes

        data = bytes(HexBytes(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["data"]))
        if data == REBALANCE_SELECTOR:
            raise _rpc_error("exceeds block gas limit")
        answer = real_send(raw)
        if data == FILL_SELECTOR:
            chain.base_fee = 5 * GWEI  # the fill waits in the pool ...
            stale["yes"] = True  # ... while someone else fills the queue
        return answer

    chain.send_raw_transaction = send  # type: ignore[method-assign]
    with pytest.raises(TxRefusedError):
        s.submit_new([VAULT], chain.block_number, VAULT, REBALANCE_SELECTOR, 100_000)
    queue = "0x" + "b2" * 20
    fill = s.submit_new([VAULT], chain.block_number, queue, FILL_SELECTOR, 80_000)
    assert fill.nonce == 0

    for _ in range(12):
        chain.mine()
        settled = settle_in_flight(keeper, chain.block_number)
        if settled.resumed:
            break
    [done] = settled.resumed
    assert done.cancelled
    m = keeper.metrics.rebalances
    booked = {k: m.labels(k)._value.get() for k in ("sent", "cancelled", "replaced")}
    assert booked["sent"] == 0, f"the fill's cancel was booked as a rebalance: {booked}"
    assert done.replacements == 1  # the cancel replaced the fill, not the refused batch
    [alert] = [a for a in keeper.alerter.sent if a["kind"] == "redemption_queue"]
    assert "cancelled" in alert["message"]
