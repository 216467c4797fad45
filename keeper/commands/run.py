"""``keeper run``: live keeping, one cycle per new block, until SIGINT/SIGTERM or a halt."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from keeper.arguments import check_policy_flag, command_line, int_between
from keeper.ops.logs import setup_logging
from keeper.settings import add_settings_args, secret_values, settings_from_args


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="keep the vaults live (one cycle per new block)",
        description=(
            "Keep the configured vaults: each new block, read every vault through the lens, "
            "check the oracles, price the options, decide with the policy, and send one batched "
            "rebalanceBatch transaction when it is worth its full cost (a lone vault's "
            "rebalance goes to the vault itself when the signer holds its keeper role; "
            "KEEPER_DIRECT_SINGLE). Settings come from "
            "KEEPER_* environment variables and .env (see .env.example); without a signer "
            "(KEEPER_PRIVATE_KEY or KEEPER_KEYSTORE_PATH) it runs in dry-run mode. Stops cleanly "
            "on SIGINT/SIGTERM; halts after KEEPER_BREAKER_THRESHOLD systemic failures in a row "
            "(a transient RPC fault never counts)."
        ),
    )
    add_settings_args(p)
    p.add_argument("--dry-run", action="store_true", help="never sign, even with a key")
    p.add_argument(
        "--max-cycles",
        type=int_between(1),
        metavar="N",
        help="stop after N cycles; exit 1 if all N failed or none judged any vault (default: run "
        "forever)",
    )
    p.add_argument("--text-logs", action="store_true", help="plain-text logs instead of JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the keeper loop; return 0 on a clean stop."""
    from keeper.app.loop import keep

    with command_line("keeper run"):  # the spec typed, refused as such (exit code 2)
        check_policy_flag(args.policy)
    settings = settings_from_args(args)
    setup_logging(
        json_lines=settings.log_json and not args.text_logs,
        level=logging.DEBUG if args.verbose > 1 else logging.INFO,
        secrets=secret_values(settings),
    )
    keep(settings, dry_run=args.dry_run, max_cycles=args.max_cycles)
    return 0
