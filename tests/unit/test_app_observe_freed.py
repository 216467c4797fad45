"""The vaults whose locked collateral fell since the last read: a settlement, by anyone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from keeper.app.observe import _freed
from keeper.execution.journal import Journal

VAULTS = ["0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20]


def locked(*values: int) -> Any:
    return np.array(values, dtype=object)


def errors(*values: int) -> Any:
    return np.array(values, dtype=np.int64)


def test_a_fall_in_locked_collateral_is_a_freed_vault() -> None:
    keeper: Any = SimpleNamespace(locked_seen={}, sender=None)
    # the first read has nothing to compare with
    assert _freed(keeper, VAULTS, locked(10, 10, 10), errors(0, 0, 0)) == ()
    # b settled a series (its collateral fell), c wrote one (it rose), a did neither
    assert _freed(keeper, VAULTS, locked(10, 4, 12), errors(0, 0, 0)) == (VAULTS[1],)
    assert keeper.locked_seen == dict(zip(VAULTS, (10, 4, 12), strict=True))
    # nothing moved: nothing freed again
    assert _freed(keeper, VAULTS, locked(10, 4, 12), errors(0, 0, 0)) == ()


def test_a_row_the_lens_could_not_read_keeps_its_last_reading() -> None:
    """An unreadable row answers 0: neither a fall then, nor a rise hiding a later fall."""
    keeper: Any = SimpleNamespace(locked_seen={}, sender=None)
    _freed(keeper, VAULTS, locked(10, 10, 10), errors(0, 0, 0))
    assert _freed(keeper, VAULTS, locked(0, 10, 10), errors(1, 0, 0)) == ()
    assert keeper.locked_seen[VAULTS[0]] == 10
    assert _freed(keeper, VAULTS, locked(6, 10, 10), errors(0, 0, 0)) == (VAULTS[0],)


def test_a_restart_starts_from_the_readings_its_journal_kept(tmp_path: Path) -> None:
    """A settlement made while the keeper was down is a fall at the restart's first read."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    keeper: Any = SimpleNamespace(locked_seen={}, sender=SimpleNamespace(journal=journal))
    _freed(keeper, VAULTS, locked(10, 10, 2**70), errors(0, 0, 0))  # 2**70: past SQLite's int64
    journal.close()  # the keeper stops; b's series is settled meanwhile

    journal = Journal(path)
    assert journal.locked_seen() == dict(zip(VAULTS, (10, 10, 2**70), strict=True))
    restarted: Any = SimpleNamespace(
        locked_seen=journal.locked_seen(), sender=SimpleNamespace(journal=journal)
    )
    assert _freed(restarted, VAULTS, locked(10, 4, 2**70), errors(0, 0, 0)) == (VAULTS[1],)
    assert Journal(path).locked_seen()[VAULTS[1]] == 4


def test_only_the_readings_that_changed_are_written() -> None:
    written: list[dict[str, int]] = []
    journal = SimpleNamespace(remember_locked=written.append)
    keeper: Any = SimpleNamespace(locked_seen={}, sender=SimpleNamespace(journal=journal))
    _freed(keeper, VAULTS, locked(10, 10, 10), errors(0, 0, 0))
    _freed(keeper, VAULTS, locked(10, 4, 10), errors(0, 0, 0))
    _freed(keeper, VAULTS, locked(10, 4, 10), errors(0, 0, 0))  # nothing moved: no write
    _freed(keeper, VAULTS, locked(0, 4, 12), errors(1, 0, 0))  # a's row unreadable: kept
    assert written == [
        dict(zip(VAULTS, (10, 10, 10), strict=True)),
        {VAULTS[1]: 4},
        {VAULTS[2]: 12},
    ]
