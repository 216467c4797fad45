"""Volatility from oracle rounds: realized vol and an EWMA variance forecast.

Both take a series of ``(timestamp, price)`` rounds with **irregular spacing** (oracle rounds
arrive on deviation or heartbeat, not on a clock). Each log return ``r_i = ln(P_i / P_{i-1})``
over ``Δt_i`` seconds is an estimate of variance *rate* ``r_i² / Δt_i``, so returns over longer
gaps carry proportionally more variance and nothing needs resampling:

* realized variance (per year) = ``Σ r_i² / Σ Δt_i · YEAR_SECONDS`` (the maximum-likelihood
  estimate for a driftless Brownian log-price observed at arbitrary times);
* EWMA (RiskMetrics, ``λ = 0.94``): ``v_i = λ·v_{i−1} + (1 − λ)·r_i² / Δt_i · YEAR_SECONDS``,
  seeded with ``seed_var`` (or the first return's rate). ``v_i`` is the forecast of the annual
  variance after round ``i``; the keeper's forecast vol is ``√v_last``.

Pure functions over numpy arrays; no I/O.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from keeper.pricing.black_scholes import YEAR_SECONDS
from keeper.pricing.normal import FloatArray


def log_returns(timestamps: ArrayLike, prices: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return ``(r, dt)``: log returns and their spacing in seconds, for increasing timestamps.

    Raises:
        ValueError: fewer than two rounds, a non-positive price, or timestamps not increasing.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size < 2:
        raise ValueError("need at least two (timestamp, price) rounds of equal length")
    if not np.all(p > 0.0):
        raise ValueError("prices must be positive")
    dt = np.diff(t)
    if not np.all(dt > 0.0):
        raise ValueError("timestamps must be strictly increasing")
    return np.diff(np.log(p)), dt


def realized_vol(timestamps: ArrayLike, prices: ArrayLike) -> float:
    """Annualized realized vol ``√(Σ r² / Σ Δt · YEAR_SECONDS)`` over irregular rounds."""
    r, dt = log_returns(timestamps, prices)
    return math.sqrt(float(np.sum(r * r)) / float(np.sum(dt)) * YEAR_SECONDS)


def ewma_variance(
    timestamps: ArrayLike, prices: ArrayLike, lam: float = 0.94, seed_var: float | None = None
) -> FloatArray:
    """Annualized EWMA variance after each return (length ``len(prices) − 1``).

    Args:
        timestamps: Round timestamps in seconds, strictly increasing.
        prices: Round prices, positive.
        lam: Decay λ in (0, 1); RiskMetrics uses 0.94 per observation.
        seed_var: Annual variance before the first return; defaults to the first return's rate.
    """
    if not 0.0 < lam < 1.0:
        raise ValueError(f"EWMA lambda must be in (0, 1), got {lam}")
    r, dt = log_returns(timestamps, prices)
    rate = r * r / dt * YEAR_SECONDS
    v = float(rate[0]) if seed_var is None else float(seed_var)
    out = np.empty_like(rate)
    # A recursion: a short Python loop over rounds (a few thousand at most per call).
    for i, x in enumerate(rate.tolist()):
        v = lam * v + (1.0 - lam) * x
        out[i] = v
    return out


def ewma_vol_forecast(
    timestamps: ArrayLike, prices: ArrayLike, lam: float = 0.94, seed_var: float | None = None
) -> float:
    """The EWMA forecast vol (annualized) after the last round."""
    return math.sqrt(float(ewma_variance(timestamps, prices, lam, seed_var)[-1]))
