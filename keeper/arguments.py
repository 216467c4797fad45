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
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from keeper.errors import ConfigError


class _StoreOnce(argparse._StoreAction):
    """argparse's ``store``, refusing an option given twice (the last would win, silently)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen: set[str] | None = getattr(parser, "_given", None)
        if seen is not None and option_string is not None:
            if self.dest in seen:
                parser.error(f"{option_string} given twice: give it once")
            seen.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose :meth:`error` prints one line, no usage.

    Two more rules than argparse's: an option that takes one value may be given once
    (``--vault A --vault B`` is an error, not B), and a flag must be spelt whole (no prefix
    matching: ``--amo`` is not ``--amount``, so a flag added later cannot change what an old
    command line means).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)
        self._given: set[str] = set()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """argparse's, counting the options given afresh for each parse."""
        self._given = set()
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        """Print ``keeper: error: <message> (see '<prog> --help')`` on stderr and exit 2.

        Raises:
            UsageError: A ``SystemExit`` (code 2) carrying the line, for the CLI to repeat as
                JSON on stdout when the command line asks for ``--json``.
        """
        one_line = f"{' '.join(message.split())} (see '{self.prog} --help')"
        sys.stderr.write(f"keeper: error: {one_line}\n")
        raise UsageError(one_line)


class UsageError(SystemExit):
    """A command line argparse refused: exit code 2, its one-line ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def refuse(prog: str, message: str) -> NoReturn:
    """Refuse a command line after parsing, as argparse refuses one: one line, exit code 2.

    For the checks argparse cannot make: a float's range, a spec or an address, flags that do
    not go together, an amount finer than the token (its decimals read from the chain).

    Args:
        prog: The command whose ``--help`` the line points at (``keeper vault deposit``).
        message: What is wrong.

    Raises:
        UsageError: Always (exit code 2; repeated as JSON under ``--json`` by :mod:`keeper.cli`).
    """
    OneLineArgumentParser(prog=prog).error(message)


@contextmanager
def command_line(prog: str) -> Iterator[None]:
    """Checks of what was typed: a ``ConfigError`` raised inside is a usage error (exit code 2).

    Refused through :func:`refuse`, as argparse refuses a value, not as a failure at run time
    (exit code 1).

    Wrap only what reads nothing but the command line: a ``KEEPER_*`` setting, a file's content
    or the node refused inside would be blamed on what was typed.
    """
    try:
        yield
    except ConfigError as exc:
        refuse(prog, str(exc))


def check_policy_flag(spec: str | None) -> None:
    """Parse a ``--policy`` flag's spec now, so a bad one is refused as what was typed.

    The settings parse it too, but only once the node is asked (``keeper check --policy foo``
    said "no VaultLens address" first) and as a run-time error. Call it inside
    :func:`command_line`.

    Raises:
        ConfigError: Not a policy spec (an unknown family or key, a bad value).
    """
    if spec is not None:
        from keeper.strategy.policies import parse_policy  # only for the commands that take it

        parse_policy(spec)


def expand_home(text: str) -> str:
    """``text`` with a leading ``~`` or ``~user`` made the home directory, as a shell would.

    A dotenv file is read by no shell: ``KEEPER_JOURNAL_PATH=~/keeper/journal.sqlite`` named a
    directory called ``~`` under the one the keeper was started from. ``~`` elsewhere in the
    text is a character of a name, as in a shell.

    Raises:
        ValueError: The home directory is not known (no such user, or no ``HOME``); the
            message does not repeat the text.
    """
    if not text.startswith("~"):
        return text
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):
        raise ValueError("starts with ~ but that home directory is not known (no such user?)")
    return expanded


def path_form_problem(text: str) -> str | None:
    """Why ``text`` cannot name a file, by its form alone; ``None`` when it can.

    Empty, a NUL, or a directory by its spelling: ending in a separator (pathlib reads ``out/``
    as ``out``, so ``--journal out/`` made a file named ``out``) or in ``.`` or ``..`` (the
    text's last part: pathlib reads ``out/.`` as ``out`` too). Nothing is looked up: whether the
    file exists, may be read or holds what it should is found by the command that opens it (a
    run-time failure, exit code 1).
    """
    if not text:
        return "is empty: give a file's path"
    if "\x00" in text:
        return "holds a NUL character"
    if text.endswith(("/", os.sep)):
        return "ends in a separator: give a file's path, not a directory's"
    last = text.replace(os.sep, "/").rsplit("/", 1)[-1]
    if last in (".", "..") or Path(text).name in ("", ".", ".."):
        return "names a directory (. or ..): give a file's path"
    return None


def file_path(text: str) -> Path:
    """An argparse ``type`` for a file a flag names (``--journal``, ``--addresses``).

    A leading ``~`` is the home directory (:func:`expand_home`). A text that cannot name a file
    (:func:`path_form_problem`) is refused as typed, exit code 2; the message does not repeat
    the path (it may hold a key).
    """
    try:
        text = expand_home(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    problem = path_form_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def file_path_or_stdout(text: str) -> str:
    """An argparse ``type`` for an output file that may be ``-``, standard output.

    Any other text is a file's path by :func:`file_path`'s rules (``~``, the form check).
    """
    return text if text == "-" else str(file_path(text))


def rpc_url(text: str) -> str:
    """An argparse ``type`` for ``--rpc-url``: the rules of ``KEEPER_RPC_URL``, checked as typed.

    http(s):// or ws(s)://, a host, a numeric port, no endpoint listed twice (comma-separated:
    fallbacks in order). A bad one is exit code 2, where the same text in ``KEEPER_RPC_URL`` is a
    bad setting (1). The message names the part that is wrong, never the URL (it may hold an API
    key). Whether a node answers there is found at run time. The scheme in any case, kept in
    lowercase (``HTTP://`` is ``http://``).
    """
    from keeper.chain.urls import check_rpc_url_text, lower_schemes

    try:
        check_rpc_url_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return lower_schemes(text)


def one_rpc_url(text: str) -> str:
    """An argparse ``type`` for a flag that names one node (``keeper rehearse --fork-url``).

    The one RPC URL rule (:func:`keeper.chain.urls.check_rpc_url`), checked as typed: a bad
    one is exit code 2. The message names the part that is wrong, never the URL. The scheme in
    any case, kept in lowercase.
    """
    from keeper.chain.urls import check_rpc_url, lower_scheme

    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give the node's URL (http://, https://, ...)")
    try:
        check_rpc_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return lower_scheme(text)


def parse_whole(text: str) -> int | None:
    """``text`` as a whole number, ``None`` when it is not one.

    An integer literal (``5000000``, ``5_000_000``) or one written with an exponent (``5e6``,
    ``2.5e5``). Not a whole number: ``1.5``, ``inf``, or past 10**77 (about 2**256: nothing a
    flag counts is larger, and a huge exponent would build a number of billions of digits).
    """
    try:
        return int(text)
    except ValueError:
        pass
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not d.is_finite() or d.adjusted() > 77 or d != d.to_integral_value():
        return None
    return int(d)


def whole_number(text: str) -> int:
    """An argparse ``type`` for a whole number, exponents allowed (``--gas-fixed 5e6``).

    Its range is the command's to check (a negative count then gets the command's own message).
    """
    value = parse_whole(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}")
    return value


def int_between(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in ``[low, high]`` (no upper bound if ``None``).

    Out of range is then a usage error (exit code 2), as a value that is not a number is, not a
    run-time failure (exit code 1).
    """
    bounds = f"from {low} to {high}" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        value = parse_whole(text)
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {text!r}")
        return value

    return parse
