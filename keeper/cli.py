"""The ``keeper`` command line.

Each subcommand lives in its own module under :mod:`keeper.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``; the code behind
it lives in :mod:`keeper.app`. Any :class:`~keeper.errors.KeeperError` becomes one clear line on
stderr and exit code 1.

Only the module of the command being run is imported (all of them for ``--help`` or an unknown
command), so ``keeper run`` never loads what ``keeper backtest`` or ``keeper demo`` needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import keeper.commands
from keeper import __version__
from keeper.errors import KeeperError

logger = logging.getLogger("keeper")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand in :mod:`keeper.commands`.

    Args:
        only: Register just this subcommand, if it exists (the one about to run).
    """
    parser = argparse.ArgumentParser(
        prog="keeper",
        description=(
            "Keeper for on-chain option vaults: reads every vault in one call, prices the "
            "options, decides when a hedge is worth its full L2 cost, and sends one batched "
            "rebalance transaction."
        ),
    )
    parser.add_argument("--version", action="version", version=f"keeper {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = sorted(m.name for m in pkgutil.iter_modules(keeper.commands.__path__))
    if only in names:
        names = [only]
    for name in names:
        importlib.import_module(f"keeper.commands.{name}").register(sub)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand in ``argv``: the first word that is not an option (none take a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_command_name(argv))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeeperError as exc:
        print(f"keeper: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("keeper: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
