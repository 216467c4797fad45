"""Price paths for the backtester: GBM, Merton jump-diffusion, historical oracle rounds.

Every generator returns a :class:`PathSet` of shape ``(paths, steps + 1)`` on a uniform grid
``t_i = i·T/steps``; Monte Carlo paths are drawn from ``numpy.random.default_rng(seed)`` so the
same seed gives the same paths.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keeper.errors import ConfigError
from keeper.locations import read_utf8
from keeper.pricing.black_scholes import YEAR_SECONDS
from keeper.pricing.normal import FloatArray
from keeper.pricing.vol import realized_vol


@dataclass(frozen=True)
class PathSet:
    """Spot paths on a uniform time grid.

    Attributes:
        times: Grid times in years, shape ``(steps + 1,)``.
        spots: Spot prices, shape ``(paths, steps + 1)``.
        model: ``gbm``, ``merton`` or ``historical``.
        realized_vol: The realized vol of the source data (historical only).
    """

    times: FloatArray
    spots: FloatArray
    model: str
    realized_vol: float | None = None

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.spots.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of grid steps."""
        return int(self.spots.shape[1] - 1)


def _check(spot: float, maturity: float, steps: int, paths: int) -> None:
    if not (spot > 0.0 and maturity > 0.0 and steps >= 1 and paths >= 1):
        raise ConfigError("need spot > 0, maturity > 0, steps >= 1 and paths >= 1")


def gbm_paths(
    spot: float, drift: float, vol: float, maturity: float, steps: int, paths: int, seed: int
) -> PathSet:
    """Geometric Brownian motion ``dS = μS dt + σS dW`` (exact log-normal steps)."""
    return merton_paths(spot, drift, vol, maturity, steps, paths, seed, 0.0, 0.0, 0.0)


def merton_paths(
    spot: float,
    drift: float,
    vol: float,
    maturity: float,
    steps: int,
    paths: int,
    seed: int,
    jump_intensity: float,
    jump_mean: float,
    jump_std: float,
) -> PathSet:
    """Merton jump-diffusion, drift-compensated so that ``E[S_t] = S_0·e^{μt}``.

    Log-jumps are normal ``N(jump_mean, jump_std²)`` arriving at ``jump_intensity`` per year;
    the log step is ``(μ − σ²/2 − λk)dt + σ√dt·Z + Σ jumps`` with ``k = e^{m + s²/2} − 1``.
    """
    _check(spot, maturity, steps, paths)
    if vol < 0.0 or jump_intensity < 0.0 or jump_std < 0.0:
        raise ConfigError("vol, jump intensity and jump std must be >= 0")
    rng = np.random.default_rng(seed)
    dt = maturity / steps
    k = math.exp(jump_mean + 0.5 * jump_std**2) - 1.0
    mean = (drift - 0.5 * vol * vol - jump_intensity * k) * dt
    log_steps = mean + vol * math.sqrt(dt) * rng.standard_normal((paths, steps))
    model = "gbm"
    if jump_intensity > 0.0:
        model = "merton"
        n = rng.poisson(jump_intensity * dt, size=(paths, steps))
        log_steps += n * jump_mean + np.sqrt(n) * jump_std * rng.standard_normal((paths, steps))
    spots = np.empty((paths, steps + 1), dtype=np.float64)
    spots[:, 0] = spot
    np.cumsum(log_steps, axis=1, out=spots[:, 1:])
    np.exp(spots[:, 1:], out=spots[:, 1:])
    spots[:, 1:] *= spot
    return PathSet(np.linspace(0.0, maturity, steps + 1), spots, model)


#: A Unix time in seconds past the year 5000: the CSV is in milliseconds (what most exchange and
#: price APIs export), which read as seconds stretch a day of rounds to 2.7 years.
MAX_TIMESTAMP_S = 1e11


def load_rounds_csv(path: Path) -> tuple[FloatArray, FloatArray]:
    """Read oracle rounds from a CSV with a ``timestamp,price`` header (seconds, USD)."""
    try:
        with io.StringIO(read_utf8(path, "CSV"), newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"timestamp", "price"} <= set(reader.fieldnames):
                raise ConfigError(f"{path}: the CSV needs a 'timestamp,price' header")
            rows = [(float(r["timestamp"]), float(r["price"])) for r in reader]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: a timestamp or price is not a number") from exc
    if len(rows) < 3:
        raise ConfigError(f"{path}: need at least 3 rounds, got {len(rows)}")
    rows.sort()
    t = np.asarray([r[0] for r in rows], dtype=np.float64)
    p = np.asarray([r[1] for r in rows], dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ConfigError(f"{path}: every timestamp and price must be a finite number")
    if not np.all(p > 0.0) or not np.all(np.diff(t) > 0.0):
        raise ConfigError(f"{path}: prices must be positive and timestamps distinct")
    if t[-1] >= MAX_TIMESTAMP_S:  # read as seconds, hourly rounds in ms span centuries
        raise ConfigError(
            f"{path}: timestamp {t[-1]:.0f} is past the year 5000 in seconds: it looks like "
            "milliseconds; give Unix seconds"
        )
    return t, p


def historical_paths(
    timestamps: FloatArray, prices: FloatArray, spot: float, maturity: float, steps: int
) -> PathSet:
    """Cut oracle rounds into consecutive windows of ``maturity`` years, one path per window.

    On each grid time the path shows the latest round at or before it (what an oracle reader
    sees). Each window is rescaled to start at ``spot`` (returns are unchanged), so one strike
    fits every path. The realized vol of the whole series is attached for pricing.

    Raises:
        ConfigError: the data cover less than one window.
    """
    _check(spot, maturity, steps, 1)
    span = maturity * YEAR_SECONDS
    n_windows = int((timestamps[-1] - timestamps[0]) // span)
    if n_windows < 1:
        days = (timestamps[-1] - timestamps[0]) / 86400
        raise ConfigError(
            f"the CSV covers {days:.2f} days, less than one maturity ({maturity * 365:.2f} days)"
        )
    grid = timestamps[0] + np.arange(n_windows)[:, None] * span + np.linspace(0.0, span, steps + 1)
    idx = np.searchsorted(timestamps, grid, side="right") - 1
    raw = prices[idx]
    spots = raw / raw[:, :1] * spot
    return PathSet(
        np.linspace(0.0, maturity, steps + 1),
        spots,
        "historical",
        realized_vol=realized_vol(timestamps, prices),
    )
