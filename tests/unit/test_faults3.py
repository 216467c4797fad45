"""Faults the chaos suite does not inject: a journal that cannot be written (disk full, read-only).

The journal is written before every send, so a write that fails must (1) send nothing, (2) leave
no half-written batch behind (an ``open`` intent with no transaction), (3) leave the journal
usable once the disk has room again, and (4) fail the cycle as a :class:`KeeperError` the loop
counts toward its breaker, never escape it as a bare ``sqlite3`` error that kills the process.

A full disk is SQLite's ``SQLITE_FULL`` ("database or disk is full"), produced here by capping the
file at the pages it already has (``PRAGMA max_page_count``); a read-only one is ``PRAGMA
query_only`` ("attempt to write a readonly database"). Both are the errors a real disk gives.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult
from keeper.app.loop import Runner
from keeper.errors import ExecutionError, Halt, KeeperError
from keeper.execution import sender as sender_module
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import IntentStatus, Journal, TxStatus
from keeper.execution.sender import Sender
from keeper.units import Wei
from tests.unit.test_app_cycle import make_keeper, snap

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
