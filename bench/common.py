"""Shared bench helpers: summary statistics, machine info, progress lines, timing."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger("bench")

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent


def progress(message: str, *args: object) -> None:
    """A progress line on stderr (the bench's only chatter)."""
    logger.info(message, *args)


def setup_logging(verbose: bool = False) -> None:
    """Progress lines to stderr; the keeper's own logs only when ``verbose``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[bench %(asctime)s] %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("keeper").setLevel(logging.INFO if verbose else logging.WARNING)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of ``values`` (at least one)."""
    if not values:
        raise ValueError("summary of no values")
    return {
        "median": float(statistics.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def summary_int(values: Sequence[int]) -> dict[str, int]:
    """Median, min and max of integer amounts (wei, gas), kept exact: a float holds 53 bits, and
    a WETH amount in wei needs 61. An even count's median is the middle two's mean, rounded down.
    """
    if not values:
        raise ValueError("summary of no values")
    s = sorted(int(v) for v in values)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) // 2
    return {"median": median, "min": s[0], "max": s[-1]}


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when undefined (zero or non-finite)."""
    if denominator == 0 or not math.isfinite(numerator) or not math.isfinite(denominator):
        return None
    return numerator / denominator


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn`` and return its result and the wall time in seconds."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _anvil_version() -> str:
    anvil = REPO / "node_modules" / ".bin" / "anvil"
    try:
        out = subprocess.run(
            [str(anvil), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return "unavailable"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, load, Python/numpy/web3/anvil versions and the date (UTC)."""
    import numpy
    import web3

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "load_avg_at_start": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "web3": web3.__version__,
        "anvil": _anvil_version(),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def profile_call(fn: Callable[[], object], top: int = 18) -> str:
    """Run ``fn`` under ``cProfile``; return the top functions by cumulative time, as text."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    repo = str(REPO) + "/"
    out = [line.replace(repo, "").rstrip() for line in lines[start:] if line.strip()]
    return "\n".join(_shorten_site_packages(line) for line in out)


def _shorten_site_packages(line: str) -> str:
    marker = "site-packages/"
    i = line.find(marker)
    if i < 0:
        return line
    j = line.rfind(" ", 0, i)
    return line[: j + 1] + line[i + len(marker) :]
