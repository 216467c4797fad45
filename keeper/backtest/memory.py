"""How much memory a backtest needs, checked before anything is allocated.

The backtester holds every path in memory (:class:`~keeper.backtest.price_paths.PathSet`,
``paths × (steps + 1)`` float64) and, while it draws them, the normal draws and the log steps of
the same shape; Merton paths add jump counts and jump draws. The engine then keeps a handful of
arrays over paths per policy (hedge, last rebalance, count, trading cost, gains, and each
result's costs) and some dozens of per-step temporaries over paths. :func:`estimate_bytes` adds
these up, an upper bound: measured peaks (``ru_maxrss``) came to 0.6–0.8 of it for GBM, Merton
and frontier runs. :func:`check_memory` refuses a run whose estimate exceeds the limit, in one line,
instead of letting numpy fail halfway with an ``ArrayMemoryError``.
"""

from __future__ import annotations

import os
from pathlib import Path

from keeper.errors import ConfigError

#: float64 arrays of ``paths × steps`` alive at the peak of path generation, per model: the draws,
#: the log steps and the spots (Merton: also the jump counts, the jump draws and a temporary).
PATH_ARRAYS = {"gbm": 3, "merton": 6, "historical": 3}
#: Arrays over paths the engine keeps per policy (5 state arrays, 2 per result, 2 temporaries).
POLICY_ARRAYS = 9
#: Per-step temporaries over paths (greeks, the hedge state, the decision), an upper bound.
STEP_ARRAYS = 48
#: Python, numpy and matplotlib themselves.
BASE_BYTES = 128 * 2**20


def estimate_bytes(paths: int, steps: int, n_policies: int, model: str = "gbm") -> int:
    """Peak memory of a run of ``n_policies`` policies over ``paths × steps`` (bytes)."""
    grid = paths * (steps + 1) * PATH_ARRAYS.get(model, max(PATH_ARRAYS.values()))
    per_path = POLICY_ARRAYS * max(1, n_policies) + STEP_ARRAYS
    return BASE_BYTES + 8 * (grid + paths * per_path)


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Memory available to a new process: ``MemAvailable`` (Linux), else the free pages."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_limit() -> int | None:
    """Half the available memory (``None`` when the platform does not say)."""
    avail = available_bytes()
    return None if avail is None else avail // 2


def human(n: float) -> str:
    """Bytes in binary units: ``74.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(
    paths: int, steps: int, n_policies: int, model: str, limit: int | None, source: str
) -> None:
    """Refuse a run whose :func:`estimate_bytes` exceeds ``limit`` (``None``: no check).

    Args:
        paths: Number of paths.
        steps: Grid steps.
        n_policies: Policies run together (the frontier sweep included).
        model: Path model (``gbm``, ``merton``, ``historical``).
        limit: Bytes allowed.
        source: What set the limit, for the message (e.g. "half the available memory").

    Raises:
        ConfigError: The run would need more than ``limit``.
    """
    need = estimate_bytes(paths, steps, n_policies, model)
    if limit is not None and need > limit:
        raise ConfigError(
            f"{paths:,} paths x {steps:,} steps x {n_policies} policies need about "
            f"{human(need)} of memory, more than the limit of {human(limit)} ({source}): use "
            f"fewer --paths or --steps"
        )
