"""The SQLite journal: WAL mode, write-before-send records, and the transaction state machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from keeper.errors import ConfigError, NonceError
from keeper.execution.journal import Journal

ACCT = "0x" + "aa" * 20


def record(
    j: Journal, intent: int, nonce: int, h: str, fee: int = 100, account: str = ACCT
) -> None:
    j.record_signed(
        intent_id=intent,
        account=account,
        nonce=nonce,
        tx_hash=h,
        raw_tx="0x02f8",
        max_fee=fee,
        priority_fee=1,
        gas=21_000,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "sub" / "journal.sqlite")


def test_wal_mode_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    assert j.journal_mode == "wal"
    intent = j.open_intent(["0x1", "0x2"], block=5)
    record(j, intent, 0, "0xaa")
    j.close()
    again = Journal(path)
    assert [t.tx_hash for t in again.pending(ACCT)] == ["0xaa"]
    assert again.intent(intent).vaults == ("0x1", "0x2")
    assert again.intent(intent).status == "open"


def test_happy_path(journal: Journal) -> None:
    i = journal.open_intent(["0xv"], 1)
    record(journal, i, 3, "0x01")
    assert journal.tx("0x01").status == "signed"
    journal.mark("0x01", "sent", sent_block=10)
    rec = journal.mark(
        "0x01", "mined", mined_block=11, mined_block_hash="0xbb", gas_used=5, effective_gas_price=7
    )
    assert rec.status == "mined"
    assert rec.sent_block == 10
    assert rec.gas_used == 5
    assert journal.pending(ACCT) == []
    assert journal.counts() == {"mined": 1}
    assert journal.max_nonce(ACCT) == 3


def test_atomic_writes_commit_together_or_not_at_all(journal: Journal) -> None:
    i = journal.open_intent(["0xv"], 1)
    record(journal, i, 0, "0x01")

    def half_done() -> None:
        with journal.atomic():
            journal.mark("0x01", "sent", sent_block=10)
            journal.set_intent(i, "abandoned", "gone")
            assert journal.tx("0x01").status == "sent"  # its own writes are visible inside
            journal.mark("0x01", "signed")  # refused (sent -> signed): all of it rolls back

    with pytest.raises(NonceError):
        half_done()
    assert journal.tx("0x01").status == "signed"
    assert journal.intent(i).status == "open"
    with journal.atomic():
        journal.mark("0x01", "sent", sent_block=10)
        journal.set_intent(i, "mined")
    assert (journal.tx("0x01").status, journal.intent(i).status) == ("sent", "mined")
    with pytest.raises(RuntimeError, match="does not nest"), journal.atomic(), journal.atomic():
        pass
    journal.mark("0x01", "mined")  # an ordinary write still works afterwards


def test_replacement_versions_share_a_nonce(journal: Journal) -> None:
    i = journal.open_intent(["0xv"], 1)
    record(journal, i, 0, "0x01", fee=100)
    journal.mark("0x01", "sent")
    record(journal, i, 0, "0x02", fee=113)
    assert [v.tx_hash for v in journal.versions(ACCT, 0)] == ["0x01", "0x02"]
    assert journal.pending_nonces(ACCT) == [0]
    journal.mark("0x02", "sent")
    journal.mark("0x02", "mined")
    journal.mark("0x01", "replaced")
    assert journal.pending(ACCT) == []


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (["sent", "mined"], "signed"),
        (["sent", "mined"], "dropped"),
        (["dropped"], "sent"),
        (["sent", "replaced"], "sent"),
    ],
)
def test_illegal_transitions_refused(journal: Journal, path: list[str], bad: str) -> None:
    i = journal.open_intent([], 1)
    record(journal, i, 0, "0x01")
    for status in path:
        journal.mark("0x01", status)
    with pytest.raises(NonceError, match="is not allowed"):
        journal.mark("0x01", bad)


def test_reorg_then_reinclusion(journal: Journal) -> None:
    i = journal.open_intent([], 1)
    record(journal, i, 0, "0x01")
    journal.mark("0x01", "sent")
    journal.mark("0x01", "mined", mined_block=4, mined_block_hash="0xa")
    journal.mark("0x01", "reorged")
    assert journal.with_status("reorged", ACCT)[0].tx_hash == "0x01"
    journal.mark("0x01", "mined", mined_block=5, mined_block_hash="0xb")
    assert journal.tx("0x01").mined_block == 5


def test_unknown_inputs(journal: Journal) -> None:
    with pytest.raises(NonceError, match="not in the journal"):
        journal.mark("0xnope", "sent")
    i = journal.open_intent([], 1)
    record(journal, i, 0, "0x01")
    with pytest.raises(ValueError, match="unknown tx status"):
        journal.mark("0x01", "lost")
    with pytest.raises(ValueError, match="unknown tx fields"):
        journal.mark("0x01", "sent", private_key="x")
    with pytest.raises(ValueError, match="unknown intent status"):
        journal.set_intent(i, "weird")


def test_intents_status_and_listing(journal: Journal) -> None:
    a = journal.open_intent(["0x1"], 1)
    b = journal.open_intent(["0x2"], 2)
    journal.set_intent(a, "reorged", "block reorganized away")
    assert [x.id for x in journal.intents()] == [b, a]
    assert journal.intent(a).note == "block reorganized away"
    with pytest.raises(KeyError):
        journal.intent(999)


def test_mined_since_reads_only_the_rows_not_yet_final(journal: Journal) -> None:
    # A long history of final transactions is never loaded by the per-cycle reorg check.
    assert journal.newest_mined_block(ACCT) is None
    for n in range(50):
        i = journal.open_intent([], n)
        record(journal, i, n, f"0x{n:02x}")
        journal.mark(f"0x{n:02x}", "sent")
        journal.mark(f"0x{n:02x}", "mined", mined_block=100 + n, mined_block_hash=f"0xb{n}")
    journal.mark("0x31", "reorged")  # nonce 49, block 149
    other = "0x" + "bb" * 20
    record(journal, journal.open_intent([], 1), 0, "0xff", account=other)
    journal.mark("0xff", "sent")
    journal.mark("0xff", "mined", mined_block=200, mined_block_hash="0xc")
    recent = journal.mined_since(ACCT, 146)
    assert [r.mined_block for r in recent] == [146, 147, 148, 149]
    assert recent[-1].status == "reorged"
    assert journal.newest_mined_block(ACCT) == 148  # the reorged one is not a probe target
    assert journal.newest_mined_block(ACCT, reorged=True) == 149
    assert journal.newest_mined_block(other) == 200
    # the start-up history check's probe: the newest final one, never a reorged one
    final = journal.newest_mined_at_or_below(ACCT, 140)
    assert final is not None
    assert (final.mined_block, final.mined_block_hash) == (140, "0xb40")
    probe = journal.newest_mined_at_or_below(ACCT, 1_000)
    assert probe is not None
    assert probe.mined_block == 148
    assert journal.newest_mined_at_or_below(ACCT, 99) is None
    assert journal.newest_mined_at_or_below(other, 199) is None


GENESIS_A = "0x" + "aa" * 32
GENESIS_B = "0x" + "bb" * 32


def test_a_journal_belongs_to_the_chain_it_was_first_used_on(tmp_path: Path) -> None:
    # A devnet restarted from genesis under the same journal file: the journal's mined blocks
    # and nonces are another chain's. The keeper used to wait forever for a head past them.
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.bind_chain(31337, GENESIS_A)
    j.bind_chain(31337, GENESIS_A)  # the same chain again: fine
    j.close()
    j = Journal(path)  # the binding is on disk
    with pytest.raises(ConfigError) as err:
        j.bind_chain(31337, GENESIS_B)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert "0xaaaaaaaa" in msg
    assert "0xbbbbbbbb" in msg
    assert "fresh journal" in msg
    with pytest.raises(ConfigError, match="chain id 10"):
        j.bind_chain(10, GENESIS_A)
    j.close()


def test_a_journal_from_before_the_binding_is_bound_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.open_intent(["0xA"], block=1)
    j.bind_chain(8453, GENESIS_A)  # no binding yet: taken, not refused
    with pytest.raises(ConfigError):
        j.bind_chain(8453, GENESIS_B)


def test_a_journal_claimed_by_another_keeper_process_is_refused(tmp_path: Path) -> None:
    """Two signing keepers on one journal could both sign the next nonce: the second stops.

    The claim is the lock of another process (here a child that holds it): the kernel drops it
    when that process exits, SIGKILL included, so a restart after a crash is never refused.
    """
    from tests.unit.test_durability_claim import held_by_a_child

    path = tmp_path / "journal.sqlite"
    with (
        held_by_a_child(path) as pid,
        pytest.raises(ConfigError, match=rf"in use by another keeper \(pid {pid}\)"),
    ):
        Journal(path).claim()
    journal = Journal(path)
    journal.claim()  # the holder died: free again
    journal.claim()  # and a claim is idempotent within its process's journal
    journal.close()
    Journal(path).claim()  # closed: released
    Journal(":memory:").claim()  # nothing on disk to share


def test_a_journal_the_keeper_may_not_write_is_refused_at_its_claim(tmp_path: Path) -> None:
    """A read-only journal (mode 444, or another user's file) passed start-up: every cycle with
    something to send then failed on "attempt to write a readonly database" until the breaker
    halted. The claim, at start-up, asks for write access and refuses it in one line."""
    path = tmp_path / "journal.sqlite"
    Journal(path).close()  # a journal on disk
    before = path.read_bytes()
    journal = Journal(path)
    # What SQLite does to a file it may only read (root ignores mode bits, so a test cannot
    # chmod its way there): every write is "attempt to write a readonly database".
    journal._db.execute("PRAGMA query_only = ON")
    with pytest.raises(ConfigError) as info:
        journal.claim()
    assert str(info.value).startswith(
        f"journal {path} cannot be written (attempt to write a readonly database)"
    )
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before  # nothing written
    journal.close()
    writable = Journal(path)
    writable.claim()  # the refused claim left no lock behind
    writable.close()


def test_a_journal_path_that_is_a_directory_is_named_as_one(tmp_path: Path) -> None:
    # As `keeper status` says it, not SQLite's "unable to open database file".
    with pytest.raises(ConfigError) as info:
        Journal(tmp_path)
    assert str(info.value) == f"journal {tmp_path} is a directory, not a journal file"
