"""``keeper status``: what the journal says -- its chain, pending, recent transactions and batches.

Reads the SQLite journal only, read-only: it needs no RPC connection and no write access to the
journal or its directory (an operator reading the journal of a keeper that runs as another
user), and leaves every byte as it was (it never switches a journal to WAL or adds the tables
of a newer schema, as opening it as the keeper does would).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from keeper.errors import ConfigError
from keeper.execution.journal import (
    PENDING,
    Intent,
    TxRecord,
    TxStatus,
    damage,
    intent_from_row,
    tx_from_row,
)


@dataclass(frozen=True)
class JournalStatus:
    """The journal's chain, its transactions still pending, the latest ones and latest batches."""

    path: Path
    counts: dict[TxStatus, int]
    pending: list[TxRecord]
    recent: list[TxRecord]
    intents: list[Intent]
    #: The chain the journal is bound to (``None``: no keeper has run on it yet).
    chain_id: int | None = None
    genesis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``keeper status --json``); raw signed transactions are left out."""
        return {
            "journal": str(self.path),
            "chain_id": self.chain_id,
            "genesis": self.genesis,
            "counts": self.counts,
            "pending": [_tx(t) for t in self.pending],
            "recent": [_tx(t) for t in self.recent],
            "intents": [asdict(i) for i in self.intents],
        }


def journal_status(path: Path, limit: int) -> JournalStatus:
    """Read the journal at ``path``: its chain, everything pending, and the last ``limit`` entries.

    Raises:
        ConfigError: There is no journal at ``path``, the file there is not one, or it is
            damaged (one line, naming it).
    """
    if not path.exists():
        raise ConfigError(f"no journal at {path} (the keeper has not sent anything yet)")
    if path.is_dir():
        raise ConfigError(f"journal {path} is a directory, not a journal file")
    try:
        with closing(_open_read_only(path)) as db:
            db.row_factory = sqlite3.Row
            return _read(db, path, limit)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CORRUPT:
            raise ConfigError(_damaged(path, str(exc))) from None
        raise ConfigError(f"cannot open journal {path}: {exc}") from None


def _read(db: sqlite3.Connection, path: Path, limit: int) -> JournalStatus:
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master")}
    if not {"intents", "txs"} <= tables:
        raise ConfigError(f"{path} is not a keeper journal (it has no intents and txs tables)")
    _check_whole(db, path)
    chain: dict[str, str] = {}
    if "meta" in tables:  # a journal of an older schema has none
        rows = db.execute("SELECT key, value FROM meta WHERE key IN ('chain_id', 'genesis')")
        chain = {str(r["key"]): str(r["value"]) for r in rows}
    marks = ", ".join("?" * len(PENDING))
    pending = db.execute(
        f"SELECT * FROM txs WHERE status IN ({marks}) ORDER BY nonce, id",
        tuple(s.value for s in PENDING),
    )
    recent = db.execute("SELECT * FROM txs ORDER BY id DESC LIMIT ?", (limit,))
    intents = db.execute("SELECT * FROM intents ORDER BY id DESC LIMIT ?", (limit,))
    counts = db.execute("SELECT status, COUNT(*) FROM txs GROUP BY status")
    return JournalStatus(
        path,
        {TxStatus(r[0]): int(r[1]) for r in counts},
        [tx_from_row(r) for r in pending],
        [tx_from_row(r) for r in recent],
        [intent_from_row(r) for r in intents],
        int(chain["chain_id"]) if "chain_id" in chain else None,
        chain.get("genesis"),
    )


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that can neither write ``path`` nor create a file beside it.

    With no ``-wal`` file beside it, no keeper has the journal open (one that closed cleanly
    removed it) and the file holds every committed row: it is read as immutable, which SQLite
    does without its ``-shm`` and ``-wal`` files (a read-only open of a WAL journal would create
    them, and fails where it cannot). With a ``-wal`` file, a keeper runs on it, or was killed:
    the rows that file holds are read too, through SQLite's read-only mode.
    """
    real = path.resolve()  # SQLite keeps the -wal beside the file a symlink names
    live = Path(f"{real}-wal").exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    return sqlite3.connect(f"{real.as_uri()}?{mode}", uri=True)


def _check_whole(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged journal (SQLite's ``quick_check``), as a signing keeper does.

    A truncated copy's lost rows read as missing, not as an error: a status listing the rest
    would mislead.

    Raises:
        ConfigError: What ``quick_check`` found (its first two lines).
    """
    found = damage(db)
    if found is not None:
        raise ConfigError(_damaged(path, found))


def _damaged(path: Path, what: str) -> str:
    return (
        f"journal {path} is damaged ({what}): restore it from a backup (a keeper refuses to "
        "sign from it)"
    )


def _tx(t: TxRecord) -> dict[str, Any]:
    d = asdict(t)
    d.pop("raw_tx", None)
    return d
