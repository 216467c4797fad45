"""Progress on stderr (no dependency): a one-line bar on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Callable as ``bar(done, total)``.

    On a terminal (``live``, by default when ``stream`` is a TTY) one line is redrawn with a
    carriage return, at most every 0.1 s and on completion. In a log (CI, a pipe, a file) a
    redrawn line would be one long line of carriage returns: a plain line is written instead
    each time the run crosses another 10%, and on completion.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        width: int = 30,
        *,
        live: bool | None = None,
    ) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._live = self._stream.isatty() if live is None else live
        self._start = time.monotonic()
        self._last = 0.0
        self._decile = 0  # the last tenth written in a log

    def __call__(self, done: int, total: int) -> None:
        """Draw the bar (or write the line) for ``done`` of ``total``."""
        now = time.monotonic()
        frac = done / total if total else 1.0
        elapsed = now - self._start
        if not self._live:
            decile = 10 if done >= total else min(9, int(frac * 10))
            if decile <= self._decile:
                return
            self._decile = decile
            self._stream.write(f"{self._label} {decile * 10:3d}% {elapsed:6.1f}s\n")
            self._stream.flush()
            return
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        filled = int(self._width * frac)
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {frac:4.0%} {elapsed:5.1f}s")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
