"""Logging: one JSON object per line, extra fields kept, secrets masked as a last defence.

Every logger's records go through the one handler :func:`setup_logging` puts on the root logger,
so the lines of urllib3 or web3 (``-vv``) are JSON lines too, never plain text in between.

Decisions are logged on the ``keeper.decisions`` logger with the fields in ``extra={"fields":
{...}}``: one line per vault the cycle judged (vault, delta, band, deviation, cost, benefit,
outcome); a vault skipped before judging (its oracle, its lens record, paused) has none.
Both formats carry those fields: the JSON line as keys, the text line (``keeper run --text-logs``)
as ``key=value`` after the message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

DECISIONS = "keeper.decisions"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; ``record.fields`` (a dict) is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """One plain-text line: time, level, logger, message, then every field as ``key=value``.

    The fields are those of the JSON lines (``record.fields``), in the order they were given; a
    value with spaces or quotes is quoted (``reason="deviation outside band"``).
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the text line."""
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        return line


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


class SecretFilter(logging.Filter):
    """Replace any of the given secrets by ``***`` in every record's final message and fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]
        # Also the key without its 0x prefix.
        self.secrets += [s[2:] for s in self.secrets if s.startswith("0x")]

    def _mask(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets; always keep the record."""
        if not self.secrets:
            return True
        record.msg = self._mask(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                k: self._mask(str(v)) if isinstance(v, str) else v for k, v in fields.items()
            }
        return True


def verbosity(count: int) -> int:
    """The log level of ``-v`` repeated ``count`` times: warning, ``-v`` info, ``-vv`` debug."""
    return logging.WARNING - 10 * min(count, 2)


def setup_logging(
    *,
    json_lines: bool = True,
    level: int = logging.INFO,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every logger's records to ``stream`` (stderr) as JSON or text; return the handler.

    The handler sits on the root logger, so the records of urllib3, web3 and any other library
    come out in the same format (and with the same secrets masked) as the keeper's own: a log
    stream is all JSON lines or all text. It replaces the handler of an earlier call. ``level``
    is the ``keeper`` loggers' level; the other libraries' is the root logger's, which the CLI
    sets from ``-v``.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    ours = logging.getLogger("keeper")
    for logger in (root, ours):
        for old in list(logger.handlers):
            if getattr(old, "_keeper_handler", False):
                logger.removeHandler(old)
    handler._keeper_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    ours.setLevel(level)
    ours.propagate = True
    return handler


def log_decision(logger: logging.Logger, msg: str, **fields: Any) -> None:
    """Log one decision line with structured fields."""
    logger.info(msg, extra={"fields": fields})


#: 64 hex digits or more in a row: a private key's shape (a transaction hash's too; see below).
KEY_LIKE = re.compile(r"[0-9a-fA-F]{64,}")
#: Runs up to this long are also masked by each 64-digit window (a key typed after other hex
#: digits, "deadbeef<key>", is then masked wherever it is said alone too); longer ones whole.
_WINDOWED = 256


def key_like_runs(values: Iterable[str]) -> set[str]:
    """The runs of 64 hex digits or more in ``values`` (what the user typed).

    Arguments and settings; and each 64-digit window of a run up to 256 digits long.
    """
    out: set[str] = set()
    for v in values:
        for m in KEY_LIKE.finditer(v):
            run = m.group(0)
            out.add(run)
            if len(run) <= _WINDOWED:
                out.update(run[i : i + 64] for i in range(len(run) - 63))
    return out


class MaskingStream:
    """A text stream that writes ``***`` for each of ``secrets`` (a last defence, as above).

    The CLI wraps stdout and stderr in it when an argument or a setting holds 64 hex digits in
    a row: a private key pasted into a path, a policy or an address is then never echoed by an
    error line, a log line or a printed result, whichever code path says it. Only those very
    runs are masked, so the transaction hashes the keeper prints stay readable.
    """

    def __init__(self, stream: TextIO, secrets: Iterable[str]) -> None:
        self._stream = stream
        self._secrets = sorted(set(secrets), key=len, reverse=True)

    def write(self, text: str) -> int:
        """Write ``text`` with every secret masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
