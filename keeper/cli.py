"""The ``keeper`` command line.

Each subcommand lives in its own module under :mod:`keeper.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``; the code behind
it lives in :mod:`keeper.app`. Any :class:`~keeper.errors.KeeperError` becomes one clear line on
stderr and exit code 1 (3 for a halt: :data:`EXIT_HALTED`); under a ``--json`` flag also
``{"error": ..., "exit_code": 1}`` on stdout, unless the command's own JSON already carries it.
A command line refused, by argparse or by a command's own checks of what was typed
(:func:`keeper.arguments.command_line`), is exit code 2, also as JSON under ``--json``: see
:data:`EXIT_CODES_HELP`.
When the reader of stdout goes away (``keeper status | head``), the command stops quietly with
exit code 141, as a process killed by ``SIGPIPE`` would, instead of printing a
``BrokenPipeError``.

Only the module of the command being run is imported (all of them for ``--help`` or an unknown
command), so ``keeper run`` never loads what ``keeper backtest`` or ``keeper demo`` needs.
"""

from __future__ import annotations

import _thread
import argparse
import importlib
import json
import logging
import os
import pkgutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import keeper.commands
from keeper import __version__
from keeper.arguments import OneLineArgumentParser, UsageError
from keeper.errors import Halt, Interrupted, KeeperError
from keeper.ops.logs import MaskingStream, key_like_runs, setup_logging, verbosity

logger = logging.getLogger("keeper")

#: Exit code when stdout's reader closed the pipe: 128 + SIGPIPE, what a shell reports for a
#: process the signal ended (``set -o pipefail`` sees it; a plain pipeline does not).
EXIT_BROKEN_PIPE = 141

#: Exit code of a keeper its circuit breaker stopped (:class:`~keeper.errors.Halt`): a human must
#: look before it runs again, so a service manager should not restart it (systemd's
#: ``RestartPreventExitStatus``, docs/deploy.md). Every other run-time error is 1 and may be
#: restarted.
EXIT_HALTED = 3

#: Exit code of a refused command line (argparse's, and the commands' own checks of what was
#: typed): restarting the same command line would be refused again, so a service manager should
#: not restart it either.
EXIT_USAGE = 2


def _exit_code(exc: KeeperError) -> int:
    """The exit code of a command that ``exc`` ended."""
    return EXIT_HALTED if isinstance(exc, Halt) else 1


#: ``keeper --help``'s epilog: every exit code (README.md, "Exit codes", says the same).
EXIT_CODES_HELP = """\
exit codes:
  0    done
  1    failed at run time: the node, a revert, a refusal of the chain's state, a KEEPER_*
       setting (environment or .env) or a file the command line names (missing,
       unreadable, a directory, its contents malformed)
  2    the command line is wrong: an unknown flag, a bad or missing value, a number out of
       range, an --rpc-url, --journal, --addresses, --env-file or --fork-url whose text
       cannot be right, flags that do not go together (nothing was sent)
  3    halted by the circuit breaker (keeper run): look before restarting
  130  interrupted (Ctrl-C, SIGTERM; keeper run stops after its cycle, exit 0)
  141  stdout's reader went away (keeper status | head)
under --json the error is also a JSON object on stdout, its exit_code the same code.
each command's flags: keeper COMMAND --help"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand in :mod:`keeper.commands`.

    Args:
        only: Register just this subcommand, if it exists (the one about to run).
    """
    parser = OneLineArgumentParser(
        prog="keeper",
        description=(
            "Keeper for on-chain option vaults: reads every vault in one call, prices the "
            "options, decides when a hedge is worth its full L2 cost, and sends one batched "
            "rebalance transaction."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keeper {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser
    )
    names = sorted(m.name for m in pkgutil.iter_modules(keeper.commands.__path__))
    if only in names:
        names = [only]
    for name in names:
        importlib.import_module(f"keeper.commands.{name}").register(sub)
    _take_verbose_everywhere(parser)
    return parser


def _take_verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let every command and action take ``-v`` too (``keeper check -vv``), not only ``keeper``.

    Each level counts into its own ``verbose_sub`` (absent unless given, so a level that has
    none does not reset another's); :func:`_run` adds it to the top level's count.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.add_argument(
                    "-v",
                    "--verbose",
                    dest="verbose_sub",
                    action="count",
                    default=argparse.SUPPRESS,
                    help="more log output (-vv for debug); also before the command",
                )
                _take_verbose_everywhere(command)


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand in ``argv``: the first word that is not an option (none take a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code.

    A closed stdout (the reader of a pipe exited) ends the command quietly with
    :data:`EXIT_BROKEN_PIPE`: stdout is flushed here, inside the handler, for output still in
    Python's buffer and for ``--help``'s ``SystemExit``, then pointed at ``/dev/null`` so the
    interpreter's own flush at exit cannot raise again.
    """
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    """Parse and run one command, with its errors and interruptions said in one line.

    A ``KeeperError`` is one line and exit code 1 (:data:`EXIT_HALTED` for a ``Halt``); Ctrl-C or
    SIGTERM is ``keeper: interrupted``
    and 130 from the start: loading a command's modules takes a second or more, and a signal
    then is an interruption too, not a traceback or a silent death.
    """
    with _masking_typed_keys(argv):
        try:
            with sigterm_as_interrupt():
                return _parse_and_run(argv)
        except KeeperError as exc:
            print(f"keeper: error: {exc}", file=sys.stderr)
            return _exit_code(exc)
        except KeyboardInterrupt as exc:
            # A plain Ctrl-C says nothing more; an Interrupted names what it cut short.
            detail = str(exc) if isinstance(exc, Interrupted) else ""
            print(f"keeper: interrupted{': ' + detail if detail else ''}", file=sys.stderr)
            return 130


@contextmanager
def _masking_typed_keys(argv: Sequence[str] | None) -> Iterator[None]:
    """Mask, on stdout and stderr, every run of 64 hex digits the user typed (see MaskingStream).

    Read from the arguments, the ``KEEPER_*`` variables, and the dotenv files a command may read
    (``.env``, ``--env-file``). A private key pasted into a path, a policy or an address setting
    was echoed in full by the error naming it (a missing keystore, an unknown policy family).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    values = [*args, *(v for k, v in os.environ.items() if k.startswith("KEEPER_"))]
    files = [".env", *(args[i + 1] for i, a in enumerate(args[:-1]) if a == "--env-file")]
    files += [a.split("=", 1)[1] for a in args if a.startswith("--env-file=")]
    for name in files:
        try:
            with open(name, encoding="utf-8", errors="replace") as f:
                values.append(f.read(1_000_000))
        except OSError:
            pass
    secrets = key_like_runs(values)
    if not secrets:
        yield
        return
    out, err = sys.stdout, sys.stderr
    sys.stdout = MaskingStream(out, secrets)
    sys.stderr = MaskingStream(err, secrets)
    crashed = False
    try:
        yield
    except Exception:
        # An unexpected error: the interpreter prints its traceback after this returns, which
        # would name the typed key in full. The streams stay masked for the process's last
        # words (Ctrl-C and exits, handled, restore them).
        crashed = True
        raise
    finally:
        if not crashed:
            sys.stdout, sys.stderr = out, err


def _parse_and_run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _parse_and_call(argv)
    except UsageError as exc:
        # A refused command line asking for JSON gets its error as JSON on stdout too, as a
        # command's own error does (below): a script reading stdout parses every outcome. Not
        # `keeper demo --json PATH`, whose --json names a file (a flag is last or before one).
        if any(
            a == "--json" and (i + 1 == len(argv) or argv[i + 1].startswith("-"))
            for i, a in enumerate(argv)
        ):
            print(json.dumps({"error": exc.message, "exit_code": EXIT_USAGE}))
        raise


def _parse_and_call(argv: list[str]) -> int:
    parser = build_parser(only=_command_name(argv))
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse reports unknown flags from the top-level parser, pointing at `keeper --help`;
        # the command's own --help is where the right flag is.
        words = (_command_name(argv), getattr(args, "action", None))  # `keeper vault info`
        known = bool(getattr(args, "func", None))
        prog = " ".join([parser.prog, *(str(w) for w in words if w and known)])
        OneLineArgumentParser(prog=prog).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.verbose += getattr(args, "verbose_sub", 0)
    level = verbosity(args.verbose)
    # Plain text until a command sets up its own format (run, check: JSON lines); either way one
    # handler on the root logger formats every library's records alike.
    logging.getLogger().setLevel(level)
    setup_logging(json_lines=False, level=level)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except KeeperError as exc:
        # A command asked for JSON (`--json`, a flag) gets its error as JSON on stdout too, so a
        # script reading stdout parses every outcome; the line on stderr stays for people.
        # `keeper backtest --json -` asks for JSON on stdout too (its --json names a file).
        wants_json = getattr(args, "json", None) is True or getattr(args, "json_out", None) == "-"
        if wants_json and not exc.json_reported:
            print(json.dumps({"error": str(exc), "exit_code": _exit_code(exc)}))
        raise
    return code


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Take SIGTERM as Ctrl-C while a command runs: a ``KeyboardInterrupt``, so clean-up runs.

    Python's default action for SIGTERM (a service manager, ``timeout``, ``kill``) ends the
    process at once, skipping every ``finally``: an anvil a command started (the demo's, the
    rehearsal's fork) runs in its own session and was left running. ``keeper run``'s loop
    installs its own handler while it runs (stop after the cycle), and puts this one back.
    Only the first SIGTERM raises: a second one must not cut the clean-up short.

    A signal that lands while Python runs a finalizer (``__del__``, a weakref callback) has its
    handler's exception ignored there ("Exception ignored in ..."), which lost the stop for good.
    While the command runs, such a lost ``KeyboardInterrupt`` of this handler is raised again in
    the main thread (``_thread.interrupt_main``, from a helper thread a moment later: raised from
    the hook itself, it would be ignored in turn), and at the latest when the command returns.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False
    lost = False
    running = True
    lock = threading.Lock()

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        raised = True
        raise KeyboardInterrupt

    def interrupt_again() -> None:
        time.sleep(0.01)  # past the finalizer that swallowed the first one
        with lock:
            if running:
                _thread.interrupt_main()

    previous_hook = sys.unraisablehook

    def unraisable(u: sys.UnraisableHookArgs) -> None:
        nonlocal lost
        if raised and u.exc_type is not None and issubclass(u.exc_type, KeyboardInterrupt):
            lost = True
            threading.Thread(target=interrupt_again, name="sigterm-again", daemon=True).start()
            return
        previous_hook(u)

    old = signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = unraisable
    try:
        yield
        if lost:
            raise KeyboardInterrupt
    finally:
        with lock:
            running = False
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())
