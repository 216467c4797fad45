"""A journal SQLite finds damaged is refused at the claim, at start-up, in one line.

Before the keeper trusts it to say what is in flight: a journal whose pages a disk or a copy
damaged opened, and ``keeper run`` signed and sent from it whenever its first cycle's reads
missed the damaged pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keeper.errors import ConfigError
from keeper.execution.journal import Journal, NewIntent, TxStatus
from keeper.units import Wei

ACCT = "0x" + "aa" * 20


def journal_with_history(
    path: Path, rows: int = 300, *, account: str = ACCT, chain: tuple[int, str] | None = None
) -> None:
    """A journal of ``rows`` mined sends from ``account``, bound to ``chain`` when given."""
    j = Journal(path)
    if chain is not None:
        j.bind_chain(*chain)
    for n in range(rows):
        r = j.record_signed(
            intent_id=NewIntent(("0xv",), n),
            account=account,
            nonce=n,
            tx_hash=f"0x{n:064x}",
            raw_tx="0x" + "ee" * 600,
            max_fee=Wei(1),
            priority_fee=Wei(1),
            gas=21_000,
        )
        j.mark(r.tx_hash, TxStatus.SENT)
        j.mark(r.tx_hash, TxStatus.MINED, mined_block=n)
    j.close()


@pytest.mark.parametrize(
    "damage",
    ["a page zeroed in the middle", "a page zeroed at the end", "half a page cut off the end"],
)
def test_a_damaged_journal_is_refused_at_the_claim_in_one_line(tmp_path: Path, damage: str) -> None:
    """A journal whose pages a disk or a copy damaged opened, and ``keeper run`` signed and sent
    from it whenever its first cycle's reads missed the damaged pages (a truncated copy's lost
    rows read as NULL, not as an error). The claim checks it first (``PRAGMA quick_check``)."""
    path = tmp_path / "journal.sqlite"
    journal_with_history(path)
    size = path.stat().st_size
    if damage == "half a page cut off the end":
        os.truncate(path, size - 2048)
    else:
        with path.open("r+b") as fh:
            fh.seek(4096 * 20 if damage.endswith("middle") else size - 4096)
            fh.write(b"\0" * 4096)
    journal = Journal(path)
    with pytest.raises(ConfigError) as info:
        journal.claim()
    message = str(info.value)
    assert message.startswith(f"journal {path} is damaged ("), message
    assert "\n" not in message
    journal.close()
    # The refused claim left no lock: a keeper with a good journal at that path starts.
    path.unlink()
    journal = Journal(path)
    journal.claim()
    journal.close()


def test_an_intact_journal_with_history_passes_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal_with_history(path, rows=50)
    journal = Journal(path)
    journal.claim()
    assert journal.max_nonce(ACCT) == 49
    journal.close()
