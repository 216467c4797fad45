"""Faults the chaos suite does not inject: an unwritable journal, a failover node that is behind.

The journal is written before every send, so a write that fails must (1) send nothing, (2) leave
no half-written batch behind (an ``open`` intent with no transaction), (3) leave the journal
usable once the disk has room again, and (4) fail the cycle as a :class:`KeeperError` the loop
counts toward its breaker, never escape it as a bare ``sqlite3`` error that kills the process.

A full disk is SQLite's ``SQLITE_FULL`` ("database or disk is full"), produced here by capping the
file at the pages it already has (``PRAGMA max_page_count``); a read-only one is ``PRAGMA
query_only`` ("attempt to write a readonly database"). Both are the errors a real disk gives.

A failover endpoint a few blocks behind has not seen the newest blocks: a block the cycle's head
covers but that node cannot find is not a reorg (the tests at the end).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3.exceptions import BlockNotFound, TransactionNotFound

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult
from keeper.app.loop import Runner
from keeper.chain.retry import is_transient
from keeper.errors import ExecutionError, Halt, KeeperError
from keeper.execution import sender as sender_module
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import IntentStatus, Journal, TxStatus
from keeper.execution.sender import ReconcileReport, Sender
from keeper.units import Wei
from tests.unit.test_app_cycle import dummy_result, make_keeper, snap

KEY = "0x" + "11" * 32
CAPS = FeeCaps(Wei(10**12), Wei(10**10))
TARGET = "0x" + "ba" * 20
#: A large batch's calldata: its signed row needs pages the intent's row does not.
BIG_CALL = bytes(range(256)) * 12


def full(journal: Journal) -> None:
    """No page more: the next write that needs one fails with ``SQLITE_FULL``."""
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count={pages}")


def roomy(journal: Journal) -> None:
    """The disk has room again."""
    journal._db.execute("PRAGMA max_page_count=1073741823")


def read_only(journal: Journal) -> None:
    journal._db.execute("PRAGMA query_only=1")


class FakeEth:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.block_number = 7

    def send_raw_transaction(self, raw: bytes) -> bytes:
        self.sent.append(bytes(raw))
        return b"\x00" * 32

    def get_transaction_count(self, address: str, block: str = "latest") -> int:
        return 0


def make_sender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Sender, FakeEth]:
    eth = FakeEth()
    monkeypatch.setattr(
        sender_module, "pending_nonce_and_base_fee", lambda w3, address: (0, Wei(10**9))
    )
    w3: Any = SimpleNamespace(eth=eth)
    s = Sender(w3, Account.from_key(KEY), Journal(tmp_path / "j.sqlite"), CAPS, chain_id=1)
    return s, eth


@pytest.mark.parametrize("fault", [full, read_only], ids=["disk-full", "read-only"])
def test_an_unwritable_journal_is_a_keeper_error(tmp_path: Path, fault: Any) -> None:
    j = Journal(tmp_path / "j.sqlite")
    fault(j)
    with pytest.raises(ExecutionError, match="journal"):
        j.open_intent(["0x" + "aa" * 20], 1, note="x" * 5000)


def test_a_full_disk_at_the_send_sends_nothing_and_leaves_no_orphan_intent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, eth = make_sender(tmp_path, monkeypatch)
    full(s.journal)
    with pytest.raises(KeeperError):
        s.submit_new([TARGET], 3, TARGET, BIG_CALL, 500_000)
    assert eth.sent == []
    # The intent and its signed row are one write: neither or both.
    assert s.journal.intents() == []
    assert s.journal.pending(s.address) == []


def test_the_journal_works_again_once_the_disk_has_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, eth = make_sender(tmp_path, monkeypatch)
    full(s.journal)
    with pytest.raises(KeeperError):
        s.submit_new([TARGET], 3, TARGET, BIG_CALL, 500_000)
    roomy(s.journal)
    record = s.submit_new([TARGET], 4, TARGET, BIG_CALL, 500_000)
    assert record.status is TxStatus.SENT
    assert len(eth.sent) == 1
    assert [i.status for i in s.journal.intents()] == [IntentStatus.OPEN]


def test_the_loop_counts_an_unwritable_journal_toward_the_breaker_and_never_crashes(
    tmp_path: Path,
) -> None:
    k: Keeper = make_keeper([snap(0, 0)])
    journal = Journal(tmp_path / "j.sqlite")
    read_only(journal)
    blocks = iter(range(1, 100))

    def cycle(keeper: Keeper) -> CycleResult:
        journal.open_intent(["0x" + "aa" * 20], 1)
        raise AssertionError("unreachable: the journal is read-only")

    runner = Runner(
        k, breaker_threshold=3, poll_interval_s=0, cycle=cycle, block_number=lambda: next(blocks)
    )
    with pytest.raises(Halt, match=r"3 consecutive failed cycles.*journal"):
        runner.run()
    assert [a["kind"] for a in k.alerter.sent] == ["halt"]


# -- a failover node that is behind ------------------------------------------------------------


class LaggingEth(FakeEth):
    """A node ``behind`` blocks behind the head the cycle saw: newer blocks and receipts unknown."""

    def __init__(self, node_head: int, blocks: dict[int, str]) -> None:
        super().__init__()
        self.node_head = node_head
        self.blocks = blocks  # number -> hash (the canonical chain)

    def get_block(self, number: int) -> dict[str, Any]:
        if number > self.node_head or number not in self.blocks:
            raise BlockNotFound(f"block {number} not found")
        return {"number": number, "hash": HexBytes(self.blocks[number])}

    def get_transaction_receipt(self, tx_hash: Any) -> Any:
        raise TransactionNotFound("not seen yet")


def mined_at(s: Sender, block: int, block_hash: str) -> str:
    intent = s.journal.open_intent([TARGET], block - 1)
    record = s.prepare(intent, TARGET, b"\x01", 100_000)
    s.journal.mark(record.tx_hash, TxStatus.SENT, sent_block=block - 1)
    s.journal.mark(record.tx_hash, TxStatus.MINED, mined_block=block, mined_block_hash=block_hash)
    return record.tx_hash


def test_a_failover_node_behind_the_head_is_not_a_reorg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cycle saw head 12 (from the healthy endpoint); our batch was mined at block 10; the
    # read of block 10 lands on a failover node still at block 8. The block is not gone: that
    # node has not seen it yet. Marking it reorged raises a false reorg alert and puts a mined
    # nonce back in flight.
    s, _ = make_sender(tmp_path, monkeypatch)
    monkeypatch.setattr(s, "_base_fee", lambda: Wei(10**9))
    block_hash = "0x" + "ab" * 32
    tx_hash = mined_at(s, 10, block_hash)
    s.w3 = SimpleNamespace(eth=LaggingEth(8, {10: block_hash}))  # type: ignore[assignment]
    assert s.check_reorgs(head=12) == []
    assert s.journal.tx(tx_hash).status is TxStatus.MINED
    # Once that node has the block, it is checked as usual (same hash: still canonical).
    s.w3.eth.node_head = 12  # type: ignore[attr-defined]
    assert s.check_reorgs(head=12) == []
    assert s.journal.tx(tx_hash).status is TxStatus.MINED


def test_a_chain_now_shorter_than_the_mined_block_is_still_a_reorg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The head itself is below the block (what anvil_rollback shows): the block is gone.
    s, _ = make_sender(tmp_path, monkeypatch)
    monkeypatch.setattr(s, "_base_fee", lambda: Wei(10**9))
    tx_hash = mined_at(s, 10, "0x" + "ab" * 32)
    s.w3 = SimpleNamespace(eth=LaggingEth(9, {}))  # type: ignore[assignment]
    assert s.check_reorgs(head=9) == [s.journal.tx(tx_hash).intent_id]
    assert s.journal.tx(tx_hash).status is TxStatus.REORGED


class ProbeOnlySender:
    """The loop's view of a sender: the newest block holding a mined tx of ours, and a reconcile."""

    def __init__(self) -> None:
        self.newest_mined: int | None = None
        self.block_timing: object = None  # set by the run loop

    def reorg_probe(self) -> int | None:
        return self.newest_mined

    def reconcile(self) -> ReconcileReport:
        return ReconcileReport()


def test_no_cycle_runs_on_a_head_below_a_block_that_holds_our_mined_tx() -> None:
    # The cycle at head 8 gets its batch mined at block 10 (the receipt proves block 10 exists).
    # The next poll lands on a failover node 3 blocks behind: head 9. It is past the last head, so
    # today a cycle runs on it, and its reorg check sees block 10 "above the head" -- gone -- and
    # raises a false reorg (seen in the chaos suite's harsh section). No cycle may run on a view
    # older than our own receipt: the loop waits for a head at or past block 10.
    sender = ProbeOnlySender()
    k: Keeper = make_keeper([snap(0, 0)], sender=sender)
    heads = iter([8, 9, 9, 10, 11])
    seen: list[int | None] = []

    def cycle(keeper: Keeper) -> CycleResult:
        seen.append(runner._head)
        sender.newest_mined = 10
        return dummy_result()

    runner = Runner(
        k, poll_interval_s=0, cycle=cycle, block_number=lambda: next(heads), max_cycles=2
    )
    assert runner.run() == 2
    assert seen == [8, 10]


def settled_at_nonce_5(s: Sender, status: TxStatus) -> None:
    """Journal a transaction of ours at nonce 5, sent at block 9 and ended ``status`` at 10."""
    intent = s.journal.open_intent([TARGET], 1)
    old = s.journal.record_signed(
        intent_id=intent,
        account=s.address,
        nonce=5,
        tx_hash="0x" + "55" * 32,
        raw_tx="0x02",
        max_fee=Wei(10**9),
        priority_fee=Wei(10**6),
        gas=100_000,
    )
    s.journal.mark(old.tx_hash, TxStatus.SENT, sent_block=9)
    s.journal.mark(old.tx_hash, status, mined_block=10, mined_block_hash="0x" + "ab" * 32)


def test_no_new_transaction_at_a_nonce_the_journal_saw_mined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen in the harsh section: nonce 5 was mined (reverted: a lone vault refused); the next
    # cycle's pending nonce came from a node that had not seen that block and said 5 again. A new
    # batch was signed at nonce 5, refused as "nonce too low", and its wait found nonce 5's old
    # receipt: the new intent was booked with the old reverted transaction (a failed cycle, 3 in
    # a row, toward the breaker) and stayed open for good. A nonce below our own receipts is a
    # node that is behind: nothing is signed, and the cycle fails as a transient fault.
    s, eth = make_sender(tmp_path, monkeypatch)
    settled_at_nonce_5(s, TxStatus.REVERTED)
    monkeypatch.setattr(
        sender_module, "pending_nonce_and_base_fee", lambda w3, address: (5, Wei(10**9))
    )
    with pytest.raises(KeeperError) as caught:
        s.submit_new([TARGET], 11, TARGET, b"\x01", 100_000)
    assert is_transient(caught.value)
    assert eth.sent == []
    assert len(s.journal.intents()) == 1
    # A node that has seen it answers 6: the batch goes at nonce 6.
    monkeypatch.setattr(
        sender_module, "pending_nonce_and_base_fee", lambda w3, address: (6, Wei(10**9))
    )
    assert s.submit_new([TARGET], 11, TARGET, b"\x01", 100_000).nonce == 6


def test_a_behind_nonce_answer_is_asked_again_before_the_cycle_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the harsh chaos section about one cycle in fifteen failed on this guard alone: the read
    # had failed over to the node 3 blocks behind. Asked again, the next answer is usually the
    # healthy node's: the batch goes in this cycle, at the right nonce, and nothing twice.
    s, eth = make_sender(tmp_path, monkeypatch)
    settled_at_nonce_5(s, TxStatus.MINED)
    answers = [5, 5, 6]
    asked: list[int] = []

    def read(w3: Any, address: str) -> tuple[int, Wei]:
        asked.append(answers[len(asked)])
        return asked[-1], Wei(10**9)

    monkeypatch.setattr(sender_module, "pending_nonce_and_base_fee", read)
    assert s.submit_new([TARGET], 11, TARGET, b"\x01", 100_000).nonce == 6
    assert asked == [5, 5, 6]
    assert len(eth.sent) == 1
    # a node that stays behind still fails the cycle as transient, nothing signed
    answers[:] = [6, 6, 6, 6, 6]
    asked.clear()
    s.journal.mark(
        s.journal.versions(s.address, 6)[0].tx_hash,
        TxStatus.MINED,
        mined_block=11,
        mined_block_hash="0x" + "cd" * 32,
    )
    with pytest.raises(KeeperError) as caught:
        s.submit_new([TARGET], 12, TARGET, b"\x01", 100_000)
    assert is_transient(caught.value)
    assert len(asked) == 3
    assert len(eth.sent) == 1
