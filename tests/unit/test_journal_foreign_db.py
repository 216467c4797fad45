"""Opening a journal for writing refuses a SQLite file that is not one, and leaves it alone.

``keeper run --journal other.sqlite`` (a typo naming another application's database) added the
journal's tables to that file and ran with it. ``keeper status`` already refused the same file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from keeper.errors import ConfigError
from keeper.execution.journal import Journal, check_journal

ACCT = "0x" + "aa" * 20


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()


def _schema(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return sorted(db.execute("SELECT type, name FROM sqlite_master").fetchall())
    finally:
        db.close()


def test_a_foreign_database_is_refused_and_left_byte_for_byte_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    _foreign(path)
    before, schema = path.read_bytes(), _schema(path)
    with pytest.raises(ConfigError) as info:
        Journal(path)
    message = str(info.value)
    assert f"{path} is not a keeper journal" in message
    assert "\n" not in message
    assert path.read_bytes() == before
    assert _schema(path) == schema == [("table", "t")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]  # no -wal, no -shm


def test_a_foreign_database_in_a_subclass_of_keeper_error_with_the_status_message(
    tmp_path: Path,
) -> None:
    # One rule for both: the reader (check_journal) and the writer (Journal) say the same.
    path = tmp_path / "other.sqlite"
    _foreign(path)
    with pytest.raises(ConfigError) as writer:
        Journal(path)
    with pytest.raises(ConfigError) as reader:
        check_journal(path)
    assert str(writer.value) == str(reader.value)


def test_a_new_path_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.sqlite"
    j = Journal(path)
    j.open_intent(["0x1"], block=1)
    j.close()
    check_journal(path)


def test_an_empty_file_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    Journal(path).close()
    check_journal(path)


def test_an_existing_journal_reopens_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    intent = j.open_intent(["0x1", "0x2"], block=5)
    j.record_signed(
        intent_id=intent,
        account=ACCT,
        nonce=0,
        tx_hash="0xaa",
        raw_tx="0x02f8",
        max_fee=100,
        priority_fee=1,
        gas=21_000,
    )
    j.close()
    again = Journal(path)
    assert [t.tx_hash for t in again.pending(ACCT)] == ["0xaa"]
    assert again.intent(intent).vaults == ("0x1", "0x2")
    again.close()


def test_a_journal_of_an_earlier_schema_opens_and_gains_the_new_tables(tmp_path: Path) -> None:
    # A journal written before ``meta`` and ``locked`` existed: intents and txs only.
    path = tmp_path / "old.sqlite"
    j = Journal(path)
    j.open_intent(["0x1"], block=3)
    j.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE meta")
    db.execute("DROP TABLE locked")
    db.commit()
    db.close()
    again = Journal(path)
    assert again.locked_seen() == {}
    assert [i.block for i in again.intents(10)] == [3]
    again.close()
    assert {"meta", "locked"} <= {name for _, name in _schema(path)}
