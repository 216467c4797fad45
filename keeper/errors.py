"""The keeper's one exception tree.

Everything the keeper raises on purpose derives from :class:`KeeperError`, so the CLI can turn
any of them into one clear line and a non-zero exit. Catch narrowly and re-raise ``from``.
"""

from __future__ import annotations


class KeeperError(Exception):
    """Root of every error the keeper raises on purpose."""

    #: The command's own JSON output already carries this error (its ``error`` key), so the CLI
    #: prints no second JSON object for it under ``--json`` (:mod:`keeper.cli`).
    json_reported: bool = False


class ConfigError(KeeperError):
    """Settings, files or addresses are missing or malformed."""


class OracleError(KeeperError):
    """The price oracle or the sequencer feed cannot be trusted right now."""


class StaleOracleError(OracleError):
    """The oracle's latest round is older than its heartbeat allows, or dated after the block."""


class ChainError(KeeperError):
    """The chain or the node misbehaves: unreachable RPC, wrong chain id, node start failure."""


class ExecutionError(KeeperError):
    """A transaction could not be built, signed, sent or confirmed."""


class TxRevertedError(ExecutionError):
    """A call or transaction reverted; ``reason`` carries the decoded custom error."""

    def __init__(self, reason: str, data: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


class TxTimeoutError(ExecutionError):
    """A transaction was not mined or confirmed in time."""


class FeeCapError(ExecutionError):
    """The fee the network needs (or a replacement's required bump) exceeds the configured cap.

    Not a failure of the keeper: the transaction waits (and one stuck-transaction alert fires)
    until the base fee falls under the cap. ``base_fee`` and ``cap`` are in wei per gas (0 when
    unknown).
    """

    def __init__(self, message: str, base_fee: int = 0, cap: int = 0) -> None:
        super().__init__(message)
        self.base_fee = base_fee
        self.cap = cap


class JournalWriteError(ExecutionError):
    """The send journal could not be written (a full disk, a read-only file).

    The journal may then lag what was sent: a batch broadcast just before may be out.
    """


class NonceError(ExecutionError):
    """The journal and the chain disagree about a nonce in a way the keeper cannot reconcile."""


class Halt(KeeperError):  # noqa: N818 - a command, not a fault: the name reads as one
    """The keeper must stop: the circuit breaker tripped or an operator asked it to."""


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C (or SIGTERM) that cut a step short which the user must know about.

    Still a ``KeyboardInterrupt`` (clean-up runs, exit 130); the CLI prints its message after
    ``keeper: interrupted:``, e.g. the hash of a transaction sent before its receipt came.
    """


#: The most characters :func:`first_line` keeps.
FIRST_LINE_MAX = 200


def first_line(exc: BaseException) -> str:
    """An exception's message for a one-line log or alert: its first line, at most 200 chars.

    A longer line is cut at its last space that leaves room for `` ...`` (or hard, with no
    space) and ends in `` ...`` (ASCII: any terminal prints it), so a hash or a URL is never
    cut short unannounced.
    """
    text = str(exc).strip().splitlines()
    if not text:
        return "no message"
    line = text[0]
    if len(line) <= FIRST_LINE_MAX:
        return line
    room = FIRST_LINE_MAX - 4
    cut = line.rfind(" ", 0, room + 1)
    return (line[:cut] if cut > 0 else line[:room]).rstrip() + " ..."
