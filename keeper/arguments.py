"""An argument parser whose errors are one line: ``keeper: error: …``, exit code 2.

argparse reports a bad value (``--paths abc``, ``--model foo``, a missing argument) through
:meth:`argparse.ArgumentParser.error`, which prints the whole usage text first: twenty lines for
``keeper backtest``, the error last. :class:`OneLineArgumentParser` prints only the error and a
pointer to ``--help``, and exits with argparse's usage-error code 2 (a
:class:`~keeper.errors.KeeperError` at run time exits 1).

A subparser reports the errors of its own arguments (types, choices, missing values); unknown
flags reach the top-level parser, so :mod:`keeper.cli` parses with ``parse_known_args`` and
reports them itself, pointing at the command's own ``--help``. So every command gets one-line
errors when the top-level parser is a :class:`OneLineArgumentParser` and its
``add_subparsers(...)`` is given ``parser_class=OneLineArgumentParser``; :mod:`keeper.cli` does
both.

This module lives outside :mod:`keeper.commands` because the CLI imports every module there as a
command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn


class OneLineArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose :meth:`error` prints one line, no usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``keeper: error: <message> (see '<prog> --help')`` on stderr and exit 2."""
        one_line = " ".join(message.split())
        self.exit(2, f"keeper: error: {one_line} (see '{self.prog} --help')\n")


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in ``[low, high]`` (no upper bound if ``None``).

    Out of range is then a usage error (exit code 2), as a value that is not a number is, not a
    run-time failure (exit code 1).
    """
    bounds = f"from {low} to {high}" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {text!r}")
        return value

    return parse
