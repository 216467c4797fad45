"""``keeper status``: what the journal says -- its chain; pending, mined, replaced, dropped txs."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from keeper.arguments import file_path, int_between
from keeper.execution.journal_status import journal_status
from keeper.json_units import GAS, WEI, float_unit, units_object
from keeper.settings import JOURNAL_FLAG_HELP, env_file_arg, load_journal_path

#: The most entries ``--limit`` may ask for: far more than a terminal shows, and far below
#: SQLite's 64-bit integers (a larger number crashed the query with ``OverflowError``).
MAX_LIMIT = 1_000_000

_WEI_PER_GAS: Mapping[str, Any] = MappingProxyType({**WEI, "unit": "ETH per gas"})
_UNIX_TIME = float_unit("s since 1970-01-01 UTC")
#: The scale of each number in a transaction row (``pending[]``, ``recent[]``); ids, nonces and
#: blocks are identifiers, with none.
_TX_UNITS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "max_fee": _WEI_PER_GAS,
        "priority_fee": _WEI_PER_GAS,
        "gas": GAS,
        "gas_used": GAS,
        "effective_gas_price": _WEI_PER_GAS,
        "l1_fee": WEI,
        "created_at": _UNIX_TIME,
        "updated_at": _UNIX_TIME,
    }
)
#: ``keeper status --json``'s ``units``, in ``keeper check --json``'s form (by path).
JSON_UNITS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        **{
            f"{table}[].{key}": unit
            for table in ("pending", "recent")
            for key, unit in _TX_UNITS.items()
        },
        "intents[].created_at": _UNIX_TIME,
    }
)


def register(subparsers: Any) -> None:
    """Add the ``status`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show the journal: pending and recent rebalance transactions",
        description=(
            "Read the keeper's SQLite journal (KEEPER_JOURNAL_PATH or --journal) and print "
            "the transactions still pending, the latest batches and their outcomes. Needs no "
            "RPC connection and reads no other setting."
        ),
    )
    # Only the flags it uses: it reads no RPC, addresses or policy, so it neither offers nor
    # validates them (a bad KEEPER_RPC_URL cannot fail it).
    p.add_argument(
        "--env-file",
        type=file_path,
        default=None,
        metavar="PATH",
        help="dotenv file for KEEPER_JOURNAL_PATH (default .env if present)",
    )
    p.add_argument("--journal", type=file_path, metavar="PATH", help=JOURNAL_FLAG_HELP)
    p.add_argument(
        "--limit",
        type=int_between(1, MAX_LIMIT),
        default=10,
        metavar="N",
        help=f"recent entries to show, from 1 to {MAX_LIMIT} (default 10)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON (exact integers; its 'units' names each one's scale)",
    )
    p.set_defaults(func=status)


def status(args: argparse.Namespace) -> int:
    """Print the journal's state."""
    path = load_journal_path(env_file=env_file_arg(args.env_file), journal=args.journal)
    st = journal_status(path, args.limit)
    if args.json:
        body = {**st.to_dict(), "units": units_object(JSON_UNITS)}
        print(json.dumps(body, indent=2, default=str))
        return 0
    if st.chain_id is None:
        chain = "no chain yet: no keeper has run on it"
    else:
        chain = f"chain {st.chain_id}, genesis {(st.genesis or '?')[:10]}…"
    print(f"journal {st.path} ({chain})")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(st.counts.items()))
    print("transactions: " + (counts or "none"))
    print(f"pending: {len(st.pending)}")
    for t in st.pending:
        fees = f"max fee {t.max_fee} wei/gas, tip {t.priority_fee} wei/gas"
        print(f"  nonce {t.nonce} {t.tx_hash} {t.status} {fees}")
    print("recent transactions:")
    nw = max((len(str(t.nonce)) for t in st.recent), default=0)
    for t in st.recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t.updated_at))
        block = f"block {t.mined_block}" if t.mined_block is not None else ""
        print(f"  {when} nonce {t.nonce:<{nw}} {t.status:<8} {t.tx_hash} {block}".rstrip())
    print("recent batches:")
    iw = max((len(str(i.id)) for i in st.intents), default=0)
    bw = max((len(str(i.block)) for i in st.intents), default=0)
    vw = max((len(str(len(i.vaults))) for i in st.intents), default=0)
    for i in st.intents:
        n = len(i.vaults)
        vaults = f"{n:>{vw}} vault{'' if n == 1 else 's'}"
        line = f"  #{i.id:<{iw}} block {i.block:<{bw}} {i.status:<9} {vaults:<{vw + 7}} {i.note}"
        print(line.rstrip())
    return 0
