"""``keeper status --json`` names the scale of each number, as ``check`` and ``rehearse`` do.

A script reading a transaction's ``max_fee`` (wei per gas), ``gas`` (its gas limit), ``l1_fee``
(wei) or ``created_at`` (Unix seconds, a float) had to know the journal's internals: the JSON
had no ``units`` object, and README documented neither the keys nor their scales. Every number
in a row that is not a count or an identifier (ids, nonces, blocks) now has its path in
``units``, and every path there names a key the rows have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keeper.cli import main
from keeper.execution.journal import Journal, TxStatus
from keeper.units import Wei

GENESIS = "0x" + "ab" * 32

#: Row keys that count or identify, and so carry no unit (as ``check``'s ``block``).
IDENTIFIERS = {"id", "intent_id", "nonce", "sent_block", "mined_block", "block"}


def _journal(path: Path) -> None:
    """A journal with one mined transaction (its fees booked) and one still pending."""
    j = Journal(path)
    j.bind_chain(8453, GENESIS)
    for n in range(2):
        i = j.open_intent([f"0x{n + 1:040x}"], 100 + n)
        j.record_signed(
            intent_id=i,
            account="0x" + "0a" * 20,
            nonce=n,
            tx_hash=f"0x{n + 1:064x}",
            raw_tx="0x02" + "ff" * 100,
            max_fee=Wei(2_000_000),
            priority_fee=Wei(1_000_000),
            gas=300_000,
        )
        j.mark(f"0x{n + 1:064x}", TxStatus.SENT, sent_block=100 + n)
    j.mark(
        f"0x{1:064x}",
        TxStatus.MINED,
        mined_block=101,
        mined_block_hash="0x" + "01" * 32,
        gas_used=250_000,
        effective_gas_price=1_500_000,
        l1_fee=300_000_000_000,
    )
    j.close()


@pytest.fixture
def body(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``keeper status --json`` of :func:`_journal`'s journal."""
    path = tmp_path / "journal.sqlite"
    _journal(path)
    assert main(["status", "--journal", str(path), "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_every_number_of_a_row_has_its_scale(body: dict[str, Any]) -> None:
    assert body["pending"]
    assert body["recent"]
    assert body["intents"]
    units = body["units"]
    needed = {
        f"{table}[].{key}"
        for table in ("pending", "recent", "intents")
        for row in body[table]
        for key, value in row.items()
        if isinstance(value, int | float) and key not in IDENTIFIERS
    }
    assert needed - set(units) == set()
    for unit in units.values():
        assert unit["scale"] in {"wei", "gas", "float"}
        assert "unit" in unit


def test_every_unit_path_names_a_key_of_its_rows(body: dict[str, Any]) -> None:
    for unit_path in body["units"]:
        table, key = unit_path.split("[].")
        assert body[table], unit_path
        assert all(key in row for row in body[table]), unit_path


def test_the_numbers_stay_raw(body: dict[str, Any]) -> None:
    mined = next(t for t in body["recent"] if t["status"] == "mined")
    units = body["units"]
    assert mined["l1_fee"] == 300_000_000_000
    assert units["recent[].l1_fee"] == {"scale": "wei", "decimals": 18, "unit": "ETH"}
    assert mined["max_fee"] == 2_000_000
    assert units["recent[].max_fee"]["unit"] == "ETH per gas"
    assert units["recent[].gas"] == {"scale": "gas", "decimals": 0, "unit": "gas"}
    assert isinstance(mined["created_at"], float)
    assert units["recent[].created_at"]["scale"] == "float"
