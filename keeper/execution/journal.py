"""The SQLite journal (WAL mode): written *before* every send, so a restart never sends twice.

Two tables of sends:

- ``intents``: one row per decided batch (the vaults, the block it was decided at, its status).
- ``txs``: one row per signed transaction: nonce, hash, the signed raw bytes, the fee fields.
  Every version of a replaced transaction is a row of its own with the same nonce.

and one of readings, ``locked``: each vault's locked collateral at the keeper's last reading of it
(:meth:`Journal.remember_locked`), so that a restarted keeper still sees a settlement made while
it was down (:attr:`keeper.app.observe.Observation.freed`).

A transaction moves through these states (anything else is refused with ``NonceError``)::

    signed --send--> sent --receipt--> mined --block gone--> reorged
       |               |                 ^                      |
       |               +--> replaced     +----------------------+  (re-included)
       +--> dropped    +--> dropped (its nonce was used by a transaction not in the journal)
       +--> refused (the node refused the signed bytes for good, never having taken them)

``replaced``: another version of the same nonce was mined. ``dropped``: the nonce was consumed by
something else. ``refused``: a node refused the bytes for what they are ("invalid sender",
"intrinsic gas too low") before any node took them: they never used the nonce, and are never
sent again. ``reverted`` is ``mined`` with a failed status. The journal never stores a
private key: the raw signed transaction is public the moment it is sent.

The states are :class:`TxStatus` and :class:`IntentStatus`; the strings stored in the database
are their values, so a journal written before they were enums reads the same.

**A journal that cannot be written** (disk full, read-only, an I/O error) raises
:class:`~keeper.errors.ExecutionError` naming the journal, never a bare ``sqlite3`` error: the
cycle fails and counts toward the breaker, and since the signed row is written before the send,
nothing was sent. A failed write is rolled back whole (SQLite may already have rolled it back
itself: a second ``ROLLBACK`` would hide the real error), so the journal works again once the
disk has room. A new batch's intent and its first signed row are one write (:class:`NewIntent`):
a failure leaves neither, never an ``open`` intent with no transaction. Settling a nonce (its
versions, then its intent) is one write too (:meth:`Journal.atomic`): a crash between them leaves
the nonce pending, for the restart's ``reconcile`` to settle, never a ``mined`` version whose
intent stays ``open``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from keeper.errors import ConfigError, ExecutionError, JournalWriteError, NonceError
from keeper.units import Wei


class TxStatus(StrEnum):
    """Where one signed transaction version stands (the value is what the database stores)."""

    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    REVERTED = "reverted"
    REPLACED = "replaced"
    DROPPED = "dropped"
    REORGED = "reorged"
    #: Refused for good by the node before any node took it: its nonce was never used.
    REFUSED = "refused"


class IntentStatus(StrEnum):
    """Where one decided batch stands (the value is what the database stores)."""

    OPEN = "open"
    MINED = "mined"
    FAILED = "failed"
    ABANDONED = "abandoned"
    REORGED = "reorged"


#: Signed or sent and not yet resolved, or mined into a block a reorg removed (its nonce is in
#: flight again until a version is mined: see ``Sender.poll_nonce``).
PENDING = frozenset({TxStatus.SIGNED, TxStatus.SENT, TxStatus.REORGED})

_T = TxStatus
_TRANSITIONS: dict[TxStatus, frozenset[TxStatus]] = {
    _T.SIGNED: frozenset({_T.SENT, _T.MINED, _T.REVERTED, _T.REPLACED, _T.DROPPED, _T.REFUSED}),
    _T.SENT: frozenset({_T.SENT, _T.MINED, _T.REVERTED, _T.REPLACED, _T.DROPPED}),
    _T.MINED: frozenset({_T.MINED, _T.REORGED}),
    _T.REVERTED: frozenset({_T.REVERTED, _T.REORGED}),
    _T.REORGED: frozenset({_T.MINED, _T.REVERTED, _T.REPLACED, _T.DROPPED, _T.SENT}),
    # A late receipt wins over a guess.
    _T.REPLACED: frozenset({_T.MINED, _T.REVERTED, _T.REORGED}),
    _T.DROPPED: frozenset({_T.MINED, _T.REVERTED}),
    _T.REFUSED: frozenset({_T.MINED, _T.REVERTED}),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    block INTEGER NOT NULL,
    vaults TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id INTEGER NOT NULL REFERENCES intents(id),
    account TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE,
    raw_tx TEXT NOT NULL,
    max_fee INTEGER NOT NULL,
    priority_fee INTEGER NOT NULL,
    gas INTEGER NOT NULL,
    status TEXT NOT NULL,
    sent_block INTEGER,
    mined_block INTEGER,
    mined_block_hash TEXT,
    gas_used INTEGER,
    effective_gas_price INTEGER,
    l1_fee INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_account_nonce ON txs(account, nonce);
CREATE INDEX IF NOT EXISTS txs_status ON txs(status);
CREATE INDEX IF NOT EXISTS txs_account_mined ON txs(account, mined_block);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS locked (
    vault TEXT PRIMARY KEY,
    amount TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class NewIntent:
    """A batch to open as an intent in the same write as its first signed transaction."""

    vaults: tuple[str, ...]
    block: int
    note: str = ""


@dataclass(frozen=True)
class TxRecord:
    """One journaled transaction version."""

    id: int
    intent_id: int
    account: str
    nonce: int
    tx_hash: str
    raw_tx: str
    max_fee: Wei
    priority_fee: Wei
    gas: int
    status: TxStatus
    sent_block: int | None
    mined_block: int | None
    mined_block_hash: str | None
    gas_used: int | None
    effective_gas_price: Wei | None
    l1_fee: Wei | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Intent:
    """One decided batch."""

    id: int
    created_at: float
    block: int
    vaults: tuple[str, ...]
    status: IntentStatus
    note: str


def damage(db: sqlite3.Connection) -> str | None:
    """What SQLite's ``quick_check`` finds wrong with a journal (its first two lines), or None.

    ``quick_check`` reads every page (about 0.3 s for 100,000 sends): a page a disk or a torn
    copy damaged is otherwise found only when a query reads it, and a truncated copy's lost rows
    read as missing, not as an error.
    """
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:  # a page it cannot even walk
        return str(exc)
    found = [str(r[0]) for r in rows]
    if found == ["ok"]:
        return None
    lines = [line for f in found for line in f.splitlines() if not line.startswith("***")]
    return "; ".join(lines[:2]) or "quick_check failed"


#: What a ``keeper vault`` action writes after its pid in the signer lock it holds
#: (:func:`signer_lock_path`), where a keeper writes its journal's path.
DEPOSITOR_HOLDER = "none, a keeper vault "


def claim_file(path: str, holder: str) -> int | str:
    """Take an exclusive ``flock`` on ``path`` for this process and write ``holder`` in it.

    Opened without following a symlink (mode 600): the temporary directory is shared, the name
    anyone's to work out, and the claim truncates what it opens. The lock goes with the
    returned descriptor (closed, or the process ended).

    Returns:
        The open descriptor, or, when another process holds the lock, what it wrote there.

    Raises:
        OSError: The file cannot be opened (another user's, or a link planted there).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        return held
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    return fd


def signer_lock_path(chain_id: int | str, genesis: str, account: str) -> str:
    """The lock file of one signing key on one chain, on this machine.

    ``keeper run`` claims it (:meth:`Journal.claim_signer`) and every ``keeper vault`` action
    takes it too (:mod:`keeper.app.depositor`), so two processes never sign from one key at
    once: ``keeper-signer-<chain id>-0x<genesis hash, 16 hex digits>-<address, lower case>.lock``
    in the temporary directory.
    """
    prefix = genesis.lower().removeprefix("0x")[:16]
    name = f"keeper-signer-{chain_id}-0x{prefix}-{account.lower()}.lock"
    return os.path.join(tempfile.gettempdir(), name)


class Journal:
    """The keeper's write-ahead record of intents and signed transactions.

    Args:
        path: The SQLite file (created with its parent directory if missing); ``":memory:"``
            for tests. An empty file becomes a journal; a database that has tables but not
            the journal's is refused and left as it was (see :func:`check_journal`).

    Raises:
        ConfigError: ``path`` is a directory, another program's database or not SQLite, or
            cannot be opened (one line, naming it).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            if Path(self.path).is_dir():
                raise ConfigError(f"journal {path} is a directory, not a journal file")
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create journal directory for {path}: {exc}") from None
            _refuse_foreign(Path(self.path))  # before any write: no table, no WAL switch
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a row that says "signed" is on disk before the transaction leaves the process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open journal {path}: {exc}") from None
        self._claim: int | None = None  # the lock file's descriptor while claimed
        self._signer: int | None = None  # the signer's lock file's descriptor while claimed
        self._atomic = False  # inside atomic(): the writes join its transaction

    def close(self) -> None:
        """Close the database (and give up the claims, if any)."""
        self._db.close()
        self.release()

    def release(self) -> None:
        """Give up the claims (:meth:`claim`, :meth:`claim_signer`); the database stays open.

        For a keeper whose loop ended inside a process that goes on (a test, a caller of
        :func:`keeper.app.loop.keep`): its claims held every later keeper off.
        """
        for fd in (self._claim, self._signer):
            if fd is not None:
                os.close(fd)  # the lock goes with the descriptor
        self._claim = self._signer = None

    def claim(self) -> None:
        """Claim the journal for this process's signing keeper; refuse one another holds.

        Two keepers signing from one journal (a second ``keeper run``, or a restart while the
        old process still runs) could each sign the next nonce for its own batch. The claim is
        an exclusive ``flock`` on ``<journal>.lock`` (which names the holder's pid), held until
        :meth:`close` or the process ends: the kernel drops it with the process, SIGKILL
        included, so a restart after a crash is never refused. Idempotent; a no-op for
        ``:memory:``.

        The lock is the one beside the journal's file, symlinks resolved: a keeper started with
        a symlink to the journal and one started with the file itself (SQLite follows the link:
        one database, one WAL) took two locks and both signed. A journal with a second hard link
        is refused: SQLite keeps a WAL beside each name, so a keeper on one name does not see
        what was journaled through the other.

        Raises:
            ConfigError: Another process holds the claim (one line, naming its pid), the
                journal has another hard link, is damaged (SQLite's ``quick_check``), or
                cannot be written.
        """
        if self.path == ":memory:" or self._claim is not None:
            return
        try:
            links = os.stat(self.path).st_nlink
        except OSError as exc:
            raise ConfigError(f"cannot read journal {self.path}: {exc}") from None
        if links > 1:
            raise ConfigError(
                f"journal {self.path} has {links} hard links: SQLite keeps a WAL beside each "
                "name, so a keeper using one name does not see what was journaled through "
                "another; remove the other names (a symlink is fine)"
            )
        lock = f"{os.path.realpath(self.path)}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open the journal's lock file {lock}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"journal {self.path} is in use by another keeper (pid {holder}): two keepers "
                "signing from one journal could sign the same nonce twice; stop that one first"
            ) from None
        damage = self._damage()
        if damage is not None:
            os.close(fd)
            raise ConfigError(
                f"journal {self.path} is damaged ({damage}): a signing keeper cannot trust it to "
                "say what is in flight; restore it from a backup, or move it away (and the "
                "-wal file beside it) and start with a fresh journal once the signer has no "
                "transaction pending"
            )
        try:
            # A journal this keeper may read but not write (mode 444, a file of another user)
            # passed start-up and failed every cycle that had something to send. A write that
            # changes nothing asks for write access now, before the first cycle.
            with self._tx() as db:
                db.execute("UPDATE meta SET value = value WHERE 0")
        except ExecutionError as exc:
            os.close(fd)
            raise ConfigError(
                f"journal {self.path} cannot be written ({exc.__cause__ or exc}): a signing "
                "keeper journals every transaction before it sends it; give this user write "
                "access to the file and its directory, or use another --journal"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._claim = fd

    def claim_signer(self, account: str) -> None:
        """Claim ``account`` on this journal's chain for this process; refuse one another holds.

        Two ``keeper run`` with one key and a journal each pass :meth:`claim` (two journals):
        both sent the same batch at two nonces, and the second was mined failing every vault it
        held (too soon after the first). The claim is an exclusive ``flock`` on
        ``keeper-signer-<chain id>-<genesis>-<address>.lock`` in the temporary directory (it
        names the holder's pid and journal), held until :meth:`close` or the process ends.
        Only processes sharing that directory see it: one machine, one ``TMPDIR`` (a systemd
        unit with ``PrivateTmp`` has its own). Call it after :meth:`bind_chain`. Idempotent; a
        no-op for ``:memory:``.

        Raises:
            ConfigError: Another process holds the signer (one line, naming its pid and
                journal), or the journal is not bound to a chain yet.
        """
        if self.path == ":memory:" or self._signer is not None:
            return
        rows = self._query("SELECT key, value FROM meta WHERE key IN ('chain_id', 'genesis')")
        chain = {str(r["key"]): str(r["value"]) for r in rows}
        if set(chain) != {"chain_id", "genesis"}:
            raise ConfigError(f"journal {self.path} is not bound to a chain: cannot claim a signer")
        lock = signer_lock_path(chain["chain_id"], chain["genesis"], account)
        try:
            claimed = claim_file(lock, f"{os.getpid()} {os.path.realpath(self.path)}")
        except OSError as exc:
            raise ConfigError(
                f"cannot open the signer's lock file {lock}: {exc.strerror or exc} (another "
                f"user's keeper may be sending from {account}, or a link is planted there)"
            ) from None
        if isinstance(claimed, str):
            pid, _, journal = claimed.partition(" ")
            if journal.startswith(DEPOSITOR_HOLDER):  # a `keeper vault` action holds it
                action = journal.removeprefix(DEPOSITOR_HOLDER)
                raise ConfigError(
                    f"signer {account} is in use by `keeper vault {action}` on this machine "
                    f"(pid {pid}): its transactions and this keeper's would race for the "
                    "account's nonces; wait until it ends, or give the keeper its own key"
                ) from None
            raise ConfigError(
                f"signer {account} is in use by another keeper on this machine (pid {pid}, "
                f"journal {journal or 'unknown'}): two keepers sending from one key each send "
                "the batch; stop that one first, or give this one its own key"
            ) from None
        self._signer = claimed

    def _damage(self) -> str | None:
        """What SQLite's ``quick_check`` finds wrong with the journal (its first line), or None.

        A page a disk or a torn copy damaged is found only when a query reads it: the keeper
        signed and sent from such a journal whenever its first cycle's reads missed it, and a
        truncated copy's lost rows read as NULL, not as an error. ``quick_check`` reads every
        page (about 0.3 s for 100,000 sends), once, at the claim.
        """
        return damage(self._db)

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode (``wal`` on disk, ``memory`` for ``:memory:``)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Several writes as one: committed together at the end, or none of them.

        Any exception inside (a crash's ``KeyboardInterrupt`` or ``SystemExit`` included) rolls
        every write back, and a process killed inside leaves nothing on disk: SQLite commits
        nothing before the end. Does not nest.
        """
        if self._atomic:
            raise RuntimeError("Journal.atomic() does not nest")
        with self._tx():
            self._atomic = True
            try:
                yield
            finally:
                self._atomic = False

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write, committed whole or rolled back whole (see the module docstring).

        Inside :meth:`atomic` it is part of that one transaction.
        """
        if self._atomic:
            yield self._db
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL at the commit): a
                # ROLLBACK then would fail too and hide the error that matters.
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalWriteError(f"journal {self.path}: write failed: {exc}") from exc

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A read, its rows fetched; an unreadable journal is an ``ExecutionError``."""
        try:
            return list(self._db.execute(sql, tuple(args)).fetchall())
        except sqlite3.Error as exc:
            raise ExecutionError(f"journal {self.path}: read failed: {exc}") from exc

    # -- the chain ---------------------------------------------------------------------------
    def bind_chain(self, chain_id: int, genesis_hash: str) -> None:
        """Tie the journal to one chain, on first use; refuse any other chain after that.

        A journal's nonces and mined blocks are one chain's. Under a devnet restarted from
        genesis they are above the new chain's (its head, the account's nonce), and the keeper
        would wait for a head past them. A journal written before this binding existed is bound
        on its first use.

        Raises:
            ConfigError: The journal belongs to another chain (one line, naming both).
        """
        genesis = genesis_hash.lower()
        with self._tx() as db:
            rows = {
                r["key"]: r["value"]
                for r in db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('chain_id', 'genesis')"
                )
            }
            if not rows:
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (("chain_id", str(chain_id)), ("genesis", genesis)),
                )
                return
        if rows.get("chain_id") != str(chain_id) or rows.get("genesis") != genesis:
            raise ConfigError(
                f"journal {self.path} belongs to another chain (chain id "
                f"{rows.get('chain_id')}, genesis {str(rows.get('genesis'))[:10]}…) than the "
                f"RPC's (chain id {chain_id}, genesis {genesis[:10]}…), e.g. a devnet restarted "
                "from genesis: start with a fresh journal (--journal or KEEPER_JOURNAL_PATH "
                "set to a new file, or move this one away)"
            )

    # -- intents ----------------------------------------------------------------------------
    def open_intent(self, vaults: Sequence[str], block: int, note: str = "") -> int:
        """Record a decided batch before anything is signed; return its id."""
        with self._tx() as db:
            return _insert_intent(db, NewIntent(tuple(vaults), block, note))

    def set_intent(self, intent_id: int, status: IntentStatus, note: str | None = None) -> None:
        """Set an intent's status."""
        try:
            status = IntentStatus(status)
        except ValueError:
            raise ValueError(f"unknown intent status {status!r}") from None
        with self._tx() as db:
            if note is None:
                db.execute(
                    "UPDATE intents SET status=?, updated_at=? WHERE id=?",
                    (status.value, time.time(), intent_id),
                )
            else:
                db.execute(
                    "UPDATE intents SET status=?, note=?, updated_at=? WHERE id=?",
                    (status.value, note, time.time(), intent_id),
                )

    def intent(self, intent_id: int) -> Intent:
        """Return one intent."""
        rows = self._query("SELECT * FROM intents WHERE id=?", (intent_id,))
        if not rows:
            raise KeyError(intent_id)
        return intent_from_row(rows[0])

    def intents(self, limit: int = 50) -> list[Intent]:
        """Return the latest intents, newest first."""
        rows = self._query("SELECT * FROM intents ORDER BY id DESC LIMIT ?", (limit,))
        return [intent_from_row(r) for r in rows]

    # -- transactions -----------------------------------------------------------------------
    def record_signed(
        self,
        *,
        intent_id: int | NewIntent,
        account: str,
        nonce: int,
        tx_hash: str,
        raw_tx: str,
        max_fee: Wei,
        priority_fee: Wei,
        gas: int,
        l1_fee: Wei | None = None,
    ) -> TxRecord:
        """Record a signed transaction *before* it is sent.

        Re-signing a transaction that was reorged out or dropped can produce the very same bytes
        (same nonce, call and fees): that row is reused for the new intent, back in ``signed``.
        A :class:`NewIntent` is opened in the same write (both rows or neither).

        Raises:
            NonceError: The same transaction is already journaled and still live.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT status FROM txs WHERE tx_hash=?", (tx_hash,)).fetchone()
            if row is not None and row["status"] not in (TxStatus.REORGED, TxStatus.DROPPED):
                raise NonceError(f"transaction {tx_hash} is already journaled ({row['status']})")
            if isinstance(intent_id, NewIntent):
                intent_id = _insert_intent(db, intent_id)
            if row is not None:
                db.execute(
                    "UPDATE txs SET intent_id=?, status=?, sent_block=NULL, "
                    "mined_block=NULL, mined_block_hash=NULL, updated_at=? WHERE tx_hash=?",
                    (intent_id, TxStatus.SIGNED.value, now, tx_hash),
                )
            else:
                db.execute(
                    "INSERT INTO txs (intent_id, account, nonce, tx_hash, raw_tx, max_fee, "
                    "priority_fee, gas, status, l1_fee, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        intent_id,
                        account,
                        nonce,
                        tx_hash,
                        raw_tx,
                        max_fee,
                        priority_fee,
                        gas,
                        TxStatus.SIGNED.value,
                        l1_fee,
                        now,
                        now,
                    ),
                )
        return self.tx(tx_hash)

    def mark(self, tx_hash: str, status: TxStatus, **fields: Any) -> TxRecord:
        """Move a transaction to ``status`` (checked against the state machine) and set fields.

        Raises:
            NonceError: The transition is not allowed.
        """
        try:
            status = TxStatus(status)
        except ValueError:
            raise ValueError(f"unknown tx status {status!r}") from None
        allowed = {"sent_block", "mined_block", "mined_block_hash", "gas_used"}
        allowed |= {"effective_gas_price", "l1_fee"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown tx fields {sorted(bad)}")
        with self._tx() as db:
            row = db.execute("SELECT status FROM txs WHERE tx_hash=?", (tx_hash,)).fetchone()
            if row is None:
                raise NonceError(f"transaction {tx_hash} is not in the journal")
            current = TxStatus(row["status"])
            if status != current and status not in _TRANSITIONS[current]:
                raise NonceError(f"transaction {tx_hash}: {current} -> {status} is not allowed")
            sets = ["status=?", "updated_at=?"] + [f"{k}=?" for k in fields]
            db.execute(
                f"UPDATE txs SET {', '.join(sets)} WHERE tx_hash=?",
                (status.value, time.time(), *fields.values(), tx_hash),
            )
        return self.tx(tx_hash)

    def tx(self, tx_hash: str) -> TxRecord:
        """Return one transaction version by hash."""
        rows = self._query("SELECT * FROM txs WHERE tx_hash=?", (tx_hash,))
        if not rows:
            raise KeyError(tx_hash)
        return tx_from_row(rows[0])

    def versions(self, account: str, nonce: int) -> list[TxRecord]:
        """Every version signed for ``nonce``, oldest first."""
        rows = self._query(
            "SELECT * FROM txs WHERE account=? AND nonce=? ORDER BY id", (account, nonce)
        )
        return [tx_from_row(r) for r in rows]

    def pending(self, account: str | None = None) -> list[TxRecord]:
        """Transactions not yet resolved (:data:`PENDING`), oldest first."""
        q = "SELECT * FROM txs WHERE status IN (?, ?, ?)"
        args: tuple[Any, ...] = tuple(s.value for s in (_T.SIGNED, _T.SENT, _T.REORGED))
        if account is not None:
            q += " AND account=?"
            args = (*args, account)
        return [tx_from_row(r) for r in self._query(q + " ORDER BY nonce, id", args)]

    def pending_nonces(self, account: str) -> list[int]:
        """Nonces with at least one pending version, ascending."""
        return sorted({t.nonce for t in self.pending(account)})

    def with_status(self, status: TxStatus, account: str | None = None) -> list[TxRecord]:
        """Transactions currently in ``status``, oldest first."""
        q = "SELECT * FROM txs WHERE status=?"
        args: tuple[Any, ...] = (TxStatus(status).value,)
        if account is not None:
            q += " AND account=?"
            args = (*args, account)
        return [tx_from_row(r) for r in self._query(q + " ORDER BY id", args)]

    def mined_since(self, account: str, block: int) -> list[TxRecord]:
        """``account``'s transactions mined (or reverted, or reorged) at ``block`` or later.

        Indexed on ``(account, mined_block)``: a reorg check reads only the blocks that are not
        yet final, however long the journal's history.
        """
        q = (
            "SELECT * FROM txs WHERE account=? AND mined_block IS NOT NULL AND mined_block>=? "
            "AND status IN (?, ?, ?) ORDER BY id"
        )
        statuses = (TxStatus.MINED.value, TxStatus.REVERTED.value, TxStatus.REORGED.value)
        return [tx_from_row(r) for r in self._query(q, (account, block, *statuses))]

    def newest_mined_block(self, account: str, *, reorged: bool = False) -> int | None:
        """The highest block holding one of ``account``'s mined or reverted transactions.

        With ``reorged``, transactions marked reorged count too (at the block they were in).
        """
        statuses = [TxStatus.MINED.value, TxStatus.REVERTED.value]
        if reorged:
            statuses.append(TxStatus.REORGED.value)
        marks = ", ".join("?" * len(statuses))
        rows = self._query(
            f"SELECT MAX(mined_block) AS b FROM txs WHERE account=? AND status IN ({marks})",
            (account, *statuses),
        )
        return None if not rows or rows[0]["b"] is None else int(rows[0]["b"])

    def newest_mined_at_or_below(self, account: str, block: int) -> TxRecord | None:
        """``account``'s mined (or reverted) transaction in the highest block <= ``block``."""
        q = (
            "SELECT * FROM txs WHERE account=? AND mined_block IS NOT NULL AND mined_block<=? "
            "AND status IN (?, ?) ORDER BY mined_block DESC, id DESC LIMIT 1"
        )
        rows = self._query(q, (account, block, TxStatus.MINED.value, TxStatus.REVERTED.value))
        return tx_from_row(rows[0]) if rows else None

    def recent(self, limit: int = 20) -> list[TxRecord]:
        """The latest transactions, newest first."""
        rows = self._query("SELECT * FROM txs ORDER BY id DESC LIMIT ?", (limit,))
        return [tx_from_row(r) for r in rows]

    def counts(self) -> dict[TxStatus, int]:
        """Number of transactions per status."""
        rows = self._query("SELECT status, COUNT(*) AS n FROM txs GROUP BY status")
        return {TxStatus(r["status"]): int(r["n"]) for r in rows}

    def max_settled_nonce(self, account: str) -> int | None:
        """The highest nonce of ``account`` the journal saw used on chain (settled, not pending).

        A ``refused`` version never used its nonce: not counted.
        """
        unused = (*PENDING, TxStatus.REFUSED)
        marks = ", ".join("?" * len(unused))
        rows = self._query(
            f"SELECT MAX(nonce) FROM txs WHERE account=? AND status NOT IN ({marks})",
            (account, *(s.value for s in unused)),
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def max_nonce(self, account: str) -> int | None:
        """The highest nonce the journal ever signed for ``account``."""
        rows = self._query("SELECT MAX(nonce) FROM txs WHERE account=?", (account,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    # -- readings ----------------------------------------------------------------------------
    def locked_seen(self) -> dict[str, int]:
        """Each vault's locked collateral (token units) at the keeper's last reading of it."""
        rows = self._query("SELECT vault, amount FROM locked")
        return {str(r["vault"]): int(r["amount"]) for r in rows}

    def remember_locked(self, readings: Mapping[str, int]) -> None:
        """Keep ``readings`` (vault -> locked collateral, token units), in place of older ones.

        Stored as text: an amount in token units can pass SQLite's 64-bit integers. One write.
        """
        if not readings:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT INTO locked (vault, amount) VALUES (?, ?) "
                "ON CONFLICT(vault) DO UPDATE SET amount = excluded.amount",
                [(vault, str(int(amount))) for vault, amount in readings.items()],
            )


def check_journal(path: Path) -> None:
    """Check, read-only, that ``path`` is a keeper journal: a SQLite file with its tables.

    For a reader (``keeper status``): a path naming another file (a typo, an empty file) would
    otherwise be read as a journal with nothing in it (and :class:`Journal` would make an empty
    one a journal).

    Raises:
        ConfigError: ``path`` cannot be opened as SQLite, or holds no ``intents`` and ``txs``.
    """
    if path.is_dir():
        raise ConfigError(f"journal {path} is a directory, not a journal file")
    if not _is_journal(_tables(path)):
        raise ConfigError(_not_a_journal(path))


def _refuse_foreign(path: Path) -> None:
    """Refuse, before :class:`Journal` writes anything, an existing database that is not one.

    A new path or an empty database (no tables) becomes a journal; a journal (of any schema
    this module still opens: ``intents`` and ``txs``, the other tables added on open) opens;
    a database with tables but not those (another program's file named by mistake) is
    refused, read-only, so that it is left byte for byte as it was.

    Raises:
        ConfigError: ``path`` is a database with tables but not a keeper journal, or is not
            SQLite at all.
    """
    try:
        if not path.exists() or path.stat().st_size == 0:
            return
    except OSError:
        return  # let sqlite3.connect report it, naming the journal
    tables = _tables(path)
    if tables and not _is_journal(tables):
        raise ConfigError(_not_a_journal(path))


def _tables(path: Path) -> set[str]:
    """The names of the tables in the SQLite file ``path``, read through a read-only handle.

    Raises:
        ConfigError: ``path`` cannot be opened or read as SQLite (one line, naming it).
    """
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open journal {path}: {exc}") from None
    return {str(r[0]) for r in rows}


def _is_journal(tables: set[str]) -> bool:
    """Whether a database with these tables is a keeper journal (of any schema version)."""
    return {"intents", "txs"} <= tables


def _not_a_journal(path: Path) -> str:
    return f"{path} is not a keeper journal (it has no intents and txs tables)"


def _insert_intent(db: sqlite3.Connection, new: NewIntent) -> int:
    """Insert ``new`` as an ``open`` intent inside the caller's write; return its id."""
    now = time.time()
    cur = db.execute(
        "INSERT INTO intents (created_at, updated_at, block, vaults, status, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (now, now, new.block, json.dumps(list(new.vaults)), IntentStatus.OPEN.value, new.note),
    )
    return int(cur.lastrowid or 0)


def tx_from_row(row: sqlite3.Row) -> TxRecord:
    """A ``txs`` row as a :class:`TxRecord`."""
    record = TxRecord(**dict(row))
    return replace(record, status=TxStatus(record.status))


def intent_from_row(row: sqlite3.Row) -> Intent:
    """An ``intents`` row as an :class:`Intent`."""
    return Intent(
        id=int(row["id"]),
        created_at=float(row["created_at"]),
        block=int(row["block"]),
        vaults=tuple(json.loads(row["vaults"])),
        status=IntentStatus(row["status"]),
        note=str(row["note"]),
    )
