"""A one-line progress bar on stderr, redrawn with a carriage return (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Callable as ``bar(done, total)``; redraws at most every 0.1 s and on completion."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        """Draw the bar for ``done`` of ``total``."""
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(self._width * frac)
        bar = "#" * filled + "." * (self._width - filled)
        elapsed = now - self._start
        self._stream.write(f"\r{self._label} [{bar}] {frac:4.0%} {elapsed:5.1f}s")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
