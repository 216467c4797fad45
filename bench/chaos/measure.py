"""Pure measurements over what the chain monitor and the keeper's journal recorded.

Definitions (also in ``docs/chaos.md``):

- **Need.** A vault *needs* a hedge from the first block whose post-state has it outside its band
  (``|net delta - target| > band``) until a ``Rebalanced`` event of it (the need is
  *served*: blocks to rebalance = event block - first outside block) or until a block whose
  post-state has it back inside with no rebalance (the need *lapsed*: the market moved it back
  before any hedge). Needs still open when the run ends are counted apart. The same need
  measured *from ready*: from the first block that had the vault outside its band with its own
  ``rebalanceTrigger()`` ready (the chain would take the hedge), which leaves out the blocks the
  contract itself refuses, e.g. while the pool is off the oracle by more than the allowed gap.
- **Duplicate rebalance.** A mined rebalance of vault V whose intent was decided at a block no
  later than the block where the previous rebalance of V was mined: the keeper hedged a need it
  had already hedged, without having seen the first hedge land. Two mined transactions of one
  intent count as well.
- **Nonce gap.** A nonce below the keeper's highest pooled nonce that neither the chain nor the
  pool holds: a later transaction can never be mined.
- **Orphan intent.** An intent left ``open`` in the journal with no transaction row at all (it can
  never be resolved); ``open`` intents with a transaction still pending are "in flight".
- **Unneeded replacement.** A nonce the keeper signed more than one version of although its first
  version's max fee covered the base fee of every block from its send to the block that mined
  the nonce: the first version was never priced out, so waiting would have mined it. (A
  replacement that was needed: some block's base fee was above that max fee.)
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BlockObs:
    """One block as the monitor saw it."""

    number: int
    base_fee: int
    #: Per vault: outside its band in the block's post-state.
    outside: dict[str, bool]
    #: Per vault: hashes of the transactions that rebalanced it in this block.
    rebalanced: dict[str, list[str]] = field(default_factory=dict)
    #: Per vault: hashes of batches in which its rebalance failed (``VaultRebalanceFailed``).
    failed: dict[str, list[str]] = field(default_factory=dict)
    #: Per vault: its own ``rebalanceTrigger()`` was ready in the block's post-state (the chain
    #: would accept a hedge; false while e.g. the pool is off the oracle by more than the gap).
    ready: dict[str, bool] = field(default_factory=dict)


@dataclass
class NeedStats:
    """How needs went."""

    served: list[int] = field(default_factory=list)
    #: Per served need: blocks from the first block that had it outside *and* its own trigger
    #: ready (the chain would take the hedge) to the rebalance; a need never ready before its
    #: hedge is left out.
    served_from_ready: list[int] = field(default_factory=list)
    lapsed: int = 0
    open_at_end: int = 0
    rebalances: int = 0
    #: Rebalances with no band exit before them, of a vault whose own trigger was ready in the
    #: block before (its ``maxInterval`` passed: the time trigger): a need of its own.
    rebalances_on_time: int = 0
    rebalances_without_need: int = 0


def needs(blocks: Iterable[BlockObs]) -> NeedStats:
    """Walk the blocks in order and pair each band exit with its rebalance (see module doc)."""
    out = NeedStats()
    opened: dict[str, int] = {}
    ready_at: dict[str, int] = {}
    was_ready: dict[str, bool] = {}  # the block before's post-state
    for b in sorted(blocks, key=lambda x: x.number):
        vaults = set(b.outside) | set(b.rebalanced)
        for v in sorted(vaults):
            hits = b.rebalanced.get(v, [])
            out.rebalances += len(hits)
            if hits:
                start = opened.pop(v, None)
                ready = ready_at.pop(v, None)
                if start is None and was_ready.get(v, False):
                    out.rebalances_on_time += 1
                elif start is None:
                    out.rebalances_without_need += 1
                else:
                    out.served.append(b.number - start)
                    if ready is not None:
                        out.served_from_ready.append(b.number - ready)
            if b.outside.get(v, False):
                opened.setdefault(v, b.number)
                if b.ready.get(v, False):
                    ready_at.setdefault(v, b.number)
            elif v in opened and not hits:
                del opened[v]
                ready_at.pop(v, None)
                out.lapsed += 1
        was_ready = b.ready
    out.open_at_end = len(opened)
    return out


def percentiles(values: Sequence[int]) -> dict[str, float | None]:
    """``{median, p90, max}`` (nearest-rank p90); ``None`` for each when empty."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    s = sorted(values)
    p90 = s[max(0, -(-9 * len(s) // 10) - 1)]
    return {"median": float(statistics.median(s)), "p90": float(p90), "max": float(s[-1])}


def histogram(values: Sequence[int]) -> dict[str, int]:
    """How many values of each size, ``{"1": 14, "2": 6, ...}`` in ascending order (JSON keys)."""
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return {str(k): counts[k] for k in sorted(counts)}


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely ``k`` or more of ``n`` needs are slow when
    each is slow with probability ``p``. The short chaos run judges its p90 target with it."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


# ----------------------------------------------------------------------------- the journal


@dataclass(frozen=True)
class JournalView:
    """The journal's rows the measurements need (read-only)."""

    #: intent id -> (decision block, status)
    intents: dict[int, tuple[int, str]]
    #: tx hash -> (intent id, nonce, status)
    txs: dict[str, tuple[int, int, str]]

    @property
    def orphan_intents(self) -> int:
        """Intents ``open`` with no transaction row."""
        with_tx = {i for i, _, _ in self.txs.values()}
        return sum(1 for i, (_, s) in self.intents.items() if s == "open" and i not in with_tx)

    @property
    def open_intents(self) -> int:
        """Intents still ``open`` (orphans and those in flight)."""
        return sum(1 for _, s in self.intents.values() if s == "open")

    def pending_nonces(self) -> set[int]:
        """Nonces with a ``signed`` or ``sent`` version."""
        return {n for _, n, s in self.txs.values() if s in ("signed", "sent")}


def read_journal(path: Path) -> JournalView:
    """Read the keeper's SQLite journal (empty view if it does not exist yet)."""
    if not path.exists():
        return JournalView({}, {})
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        intents = {
            int(r[0]): (int(r[1]), str(r[2]))
            for r in db.execute("SELECT id, block, status FROM intents")
        }
        txs = {
            str(r[0]).lower(): (int(r[1]), int(r[2]), str(r[3]))
            for r in db.execute("SELECT tx_hash, intent_id, nonce, status FROM txs")
        }
    finally:
        db.close()
    return JournalView(intents, txs)


def duplicate_rebalances(blocks: Iterable[BlockObs], journal: JournalView) -> tuple[int, int]:
    """Count duplicate rebalances (module doc); also return rebalances not in the journal."""
    last_mined: dict[str, int] = {}
    mined_intents: dict[int, set[str]] = {}
    dup = foreign = 0
    for b in sorted(blocks, key=lambda x: x.number):
        for v in sorted(b.rebalanced):
            for h in b.rebalanced[v]:
                row = journal.txs.get(h.lower())
                if row is None:
                    foreign += 1
                    last_mined[v] = b.number
                    continue
                intent = row[0]
                decided = journal.intents.get(intent, (b.number, ""))[0]
                prev = last_mined.get(v)
                hashes = mined_intents.setdefault(intent, set())
                if (prev is not None and prev >= decided) or (hashes and h.lower() not in hashes):
                    dup += 1
                hashes.add(h.lower())
                last_mined[v] = b.number
    return dup, foreign


def nonce_gaps(latest_nonce: int, pool_nonces: Iterable[int]) -> int:
    """Nonces in ``[latest_nonce, max(pool))`` that the pool does not hold."""
    pool = set(pool_nonces)
    if not pool:
        return 0
    return sum(1 for n in range(latest_nonce, max(pool)) if n not in pool)


def pool_nonces(txpool_content: dict[str, Any], address: str) -> set[int]:
    """The keeper's nonces in anvil's ``txpool_content`` (pending and queued)."""
    out: set[int] = set()
    for section in ("pending", "queued"):
        by_addr = txpool_content.get(section) or {}
        for addr, txs in by_addr.items():
            if addr.lower() == address.lower():
                out |= {int(n) for n in txs}
    return out


def replacements(path: Path, blocks: Iterable[BlockObs]) -> tuple[int, int]:
    """Return (nonces replaced, of them unneeded) from the journal at ``path`` (module doc).

    A nonce not mined by the end is judged up to the last block seen.
    """
    base = {b.number: b.base_fee for b in blocks}
    if not path.exists() or not base:
        return 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT nonce, status, sent_block, mined_block, max_fee FROM txs ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    versions: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        versions.setdefault(int(r[0]), []).append(r)
    replaced = unneeded = 0
    for vs in versions.values():
        if len(vs) < 2:
            continue
        replaced += 1
        first = vs[0]
        mined = [int(v[3]) for v in vs if v[1] in ("mined", "reverted") and v[3] is not None]
        end = mined[0] if mined else max(base)
        start = int(first[2]) if first[2] is not None else end
        if all(base.get(b, 0) <= int(first[4]) for b in range(start + 1, end + 1)):
            unneeded += 1
    return replaced, unneeded
