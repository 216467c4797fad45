"""``keeper status``: what the journal says -- pending, mined, replaced and dropped transactions."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from keeper.errors import ConfigError
from keeper.execution.journal import Journal, TxRecord
from keeper.settings import add_settings_args, settings_from_args


def register(subparsers: Any) -> None:
    """Add the ``status`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show the journal: pending and recent rebalance transactions",
        description=(
            "Read the keeper's SQLite journal (KEEPER_JOURNAL_PATH or --journal) and print "
            "the transactions still pending, the latest batches and their outcomes. Needs no "
            "RPC connection."
        ),
    )
    add_settings_args(p)
    p.add_argument("--limit", type=int, default=10, help="recent entries to show (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=status)


def status(args: argparse.Namespace) -> int:
    """Print the journal's state."""
    settings = settings_from_args(args)
    path: Path = settings.journal_path
    if not path.exists():
        raise ConfigError(f"no journal at {path} (the keeper has not sent anything yet)")
    journal = Journal(path)
    try:
        pending = journal.pending()
        recent = journal.recent(args.limit)
        intents = journal.intents(args.limit)
        counts = journal.counts()
    finally:
        journal.close()
    if args.json:
        out = {
            "journal": str(path),
            "counts": counts,
            "pending": [_tx(t) for t in pending],
            "recent": [_tx(t) for t in recent],
            "intents": [asdict(i) for i in intents],
        }
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"journal {path}")
    print("transactions: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    print(f"pending: {len(pending)}")
    for t in pending:
        print(f"  nonce {t.nonce} {t.tx_hash} {t.status} max_fee {t.max_fee} tip {t.priority_fee}")
    print("recent transactions:")
    for t in recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t.updated_at))
        block = f"block {t.mined_block}" if t.mined_block is not None else ""
        print(f"  {when} nonce {t.nonce} {t.status:<8} {t.tx_hash} {block}".rstrip())
    print("recent batches:")
    for i in intents:
        print(f"  #{i.id} block {i.block} {i.status:<9} {len(i.vaults)} vaults {i.note}".rstrip())
    return 0


def _tx(t: TxRecord) -> dict[str, Any]:
    """A JSON-ready transaction (its states are ``StrEnum`` values, printed as their strings)."""
    d = asdict(t)
    d.pop("raw_tx", None)
    return d
