"""``keeper status`` as an operator runs it: read-only, naming the chain, one line when it cannot.

* It names the chain its journal belongs to: an operator with a keeper per chain could read the
  wrong one (``--journal`` or ``KEEPER_JOURNAL_PATH`` of another service) and take its pending
  transactions for this chain's.
* It reads the journal and writes nothing, so it needs no write access to the journal or its
  directory (a keeper running as a service user, an operator reading its journal): it opened
  the journal as the keeper does, switching it to WAL and adding the tables of the current
  schema, and in a directory it could not write it failed with ``unable to open database file``.
* A damaged journal (a torn copy, a truncated file) is one line and exit 1, never rows read
  as if whole.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from keeper.cli import main
from keeper.execution.journal import Journal, TxStatus
from keeper.units import Wei

GENESIS = "0x" + "ab" * 32


def _journal(path: Path, *, sends: int = 1, chain: int | None = 8453) -> None:
    j = Journal(path)
    if chain is not None:
        j.bind_chain(chain, GENESIS)
    for n in range(sends):
        i = j.open_intent([f"0x{n:040x}"], 100 + n)
        j.record_signed(
            intent_id=i,
            account="0xa",
            nonce=n,
            tx_hash=f"0x{n:064x}",
            raw_tx="0x02" + "ff" * 300,
            max_fee=Wei(9),
            priority_fee=Wei(1),
            gas=21_000,
        )
        j.mark(f"0x{n:064x}", TxStatus.SENT, sent_block=100 + n)
        if n < sends - 1:
            j.mark(f"0x{n:064x}", TxStatus.MINED, mined_block=101 + n, mined_block_hash="0x01")
    j.close()


def _state(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_status_names_the_chain_its_journal_belongs_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "base.sqlite"
    _journal(path)
    assert main(["status", "--journal", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"journal {path} (chain 8453, genesis 0xabababab…)"
    assert main(["status", "--journal", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["chain_id"], data["genesis"]) == (8453, GENESIS)


def test_status_of_a_journal_no_keeper_has_bound_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.sqlite"
    _journal(path, sends=0, chain=None)
    assert main(["status", "--journal", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"journal {path} (no chain yet: no keeper has run on it)"
    assert main(["status", "--journal", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["chain_id"], data["genesis"]) == (None, None)


def test_status_writes_nothing_to_the_journal_or_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    _journal(path, sends=3)
    before = _state(tmp_path)
    assert main(["status", "--journal", str(path)]) == 0
    assert "pending: 1" in capsys.readouterr().out
    assert _state(tmp_path) == before  # no -wal, no -shm, not a byte changed


def test_status_leaves_a_journal_of_an_older_schema_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An older keeper's journal: the two tables only, SQLite's default rollback journal.
    path = tmp_path / "old.sqlite"
    _journal(tmp_path / "model.sqlite", sends=2)
    model = sqlite3.connect(tmp_path / "model.sqlite")
    db = sqlite3.connect(path)
    for table in ("intents", "txs"):
        (sql,) = model.execute("SELECT sql FROM sqlite_master WHERE name=?", (table,)).fetchone()
        db.execute(sql)
        rows = model.execute(f"SELECT * FROM {table}").fetchall()
        db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
    db.commit()
    db.close()
    model.close()
    (tmp_path / "model.sqlite").unlink()
    before = _state(tmp_path)
    assert main(["status", "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    assert "transactions: mined 1, sent 1" in out
    assert _state(tmp_path) == before


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.75])
def test_status_of_a_truncated_journal_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: float
) -> None:
    path = tmp_path / "j.sqlite"
    _journal(path, sends=200)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) // 4096 * 4096])
    assert main(["status", "--journal", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"keeper: error: journal {path} is damaged (")


def test_status_reports_mined_replaced_reverted_and_pending_in_the_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keeper.execution.journal import IntentStatus

    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.bind_chain(31337, GENESIS)

    def signed(intent: int, nonce: int, tx: str) -> None:
        j.record_signed(
            intent_id=intent,
            account="0xa",
            nonce=nonce,
            tx_hash=tx,
            raw_tx="0x02",
            max_fee=Wei(9),
            priority_fee=Wei(1),
            gas=21_000,
        )
        j.mark(tx, TxStatus.SENT, sent_block=10 + nonce)

    mined, bumped = j.open_intent(["0xv1", "0xv2"], 10), j.open_intent(["0xv1"], 11)
    reverted, pending = j.open_intent(["0xv2"], 12), j.open_intent(["0xv1", "0xv2"], 13)
    signed(mined, 0, "0xa0")
    j.mark("0xa0", TxStatus.MINED, mined_block=10, mined_block_hash="0x01")
    j.set_intent(mined, IntentStatus.MINED)
    signed(bumped, 1, "0xb0")
    signed(bumped, 1, "0xb1")  # the fee bump of nonce 1, which got mined
    j.mark("0xb0", TxStatus.REPLACED)
    j.mark("0xb1", TxStatus.MINED, mined_block=12, mined_block_hash="0x02")
    j.set_intent(bumped, IntentStatus.MINED)
    signed(reverted, 2, "0xc0")
    j.mark("0xc0", TxStatus.REVERTED, mined_block=13, mined_block_hash="0x03")
    j.set_intent(reverted, IntentStatus.FAILED)
    signed(pending, 3, "0xd0")
    j.close()

    assert main(["status", "--journal", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "transactions: mined 2, replaced 1, reverted 1, sent 1"
    # units said: a bare "max_fee 9 tip 1" left a new user guessing gwei or wei
    assert out[2:4] == ["pending: 1", "  nonce 3 0xd0 sent max fee 9 wei/gas, tip 1 wei/gas"]
    recent = [line.split()[2:] for line in out[5:10]]
    assert recent == [
        ["nonce", "3", "sent", "0xd0"],
        ["nonce", "2", "reverted", "0xc0", "block", "13"],
        ["nonce", "1", "mined", "0xb1", "block", "12"],
        ["nonce", "1", "replaced", "0xb0"],
        ["nonce", "0", "mined", "0xa0", "block", "10"],
    ]
    batches = [line.split()[:4] for line in out[11:]]
    assert batches == [
        ["#4", "block", "13", "open"],
        ["#3", "block", "12", "failed"],
        ["#2", "block", "11", "mined"],
        ["#1", "block", "10", "mined"],
    ]
    assert main(["status", "--journal", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"mined": 2, "replaced": 1, "reverted": 1, "sent": 1}
    assert [(t["nonce"], t["status"]) for t in data["pending"]] == [(3, "sent")]
    assert [t["tx_hash"] for t in data["recent"]] == ["0xd0", "0xc0", "0xb1", "0xb0", "0xa0"]
    assert all("raw_tx" not in t for t in data["recent"])
    assert [i["status"] for i in data["intents"]] == ["open", "failed", "mined", "mined"]
