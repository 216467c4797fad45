"""``keeper status``: what the journal says -- pending, recent transactions and batches.

Reads the SQLite journal only; needs no RPC connection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from keeper.errors import ConfigError
from keeper.execution.journal import Intent, Journal, TxRecord, TxStatus, check_journal


@dataclass(frozen=True)
class JournalStatus:
    """The journal's transactions still pending, the latest ones, and the latest batches."""

    path: Path
    counts: dict[TxStatus, int]
    pending: list[TxRecord]
    recent: list[TxRecord]
    intents: list[Intent]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``keeper status --json``); raw signed transactions are left out."""
        return {
            "journal": str(self.path),
            "counts": self.counts,
            "pending": [_tx(t) for t in self.pending],
            "recent": [_tx(t) for t in self.recent],
            "intents": [asdict(i) for i in self.intents],
        }


def journal_status(path: Path, limit: int) -> JournalStatus:
    """Read the journal at ``path``: everything pending, and the last ``limit`` entries.

    Raises:
        ConfigError: There is no journal at ``path``, or the file there is not one.
    """
    if not path.exists():
        raise ConfigError(f"no journal at {path} (the keeper has not sent anything yet)")
    check_journal(path)  # read-only: a file that is not a journal is left as it was
    journal = Journal(path)
    try:
        pending = journal.pending()
        recent = journal.recent(limit)
        intents = journal.intents(limit)
        counts = journal.counts()
    finally:
        journal.close()
    return JournalStatus(path, counts, list(pending), list(recent), list(intents))


def _tx(t: TxRecord) -> dict[str, Any]:
    d = asdict(t)
    d.pop("raw_tx", None)
    return d
