"""The standard normal CDF and density, vectorized.

Two CDFs live here, and each has one job:

* :func:`norm_cdf` is Hart's (1968) double-precision algorithm 5666 as given by West (2005),
  exactly as ``docs/pricing-model.md`` specifies, so the keeper's Greeks agree with the
  contract's (which use the same approximation) to fixed-point rounding. It is accurate to about
  1e-14 absolute in float64, so the backtester uses it too: one CDF for every price the keeper
  or the backtester computes.
* :func:`norm_cdf_exact` evaluates ``erfc`` from :mod:`math` element by element. It is slow and
  only serves as the reference in tests and analytic checks.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_CUT = 7.07106781186547
_NUM = (
    3.52624965998911e-02,
    0.700383064443688,
    6.37396220353165,
    33.912866078383,
    112.079291497871,
    221.213596169931,
    220.206867912376,
)
_DEN = (
    8.83883476483184e-02,
    1.75566716318264,
    16.064177579207,
    86.7807322029461,
    296.564248779674,
    637.333633378831,
    793.826512519948,
    440.413735824752,
)


def _lower_tail(y: FloatArray) -> FloatArray:
    """Return N(-y) for y >= 0 (Hart/West), elementwise."""
    e = np.exp(-0.5 * y * y)
    num = np.full_like(y, _NUM[0])
    for c in _NUM[1:]:
        num = num * y + c
    den = np.full_like(y, _DEN[0])
    for c in _DEN[1:]:
        den = den * y + c
    out: FloatArray = e * num / den
    far = y >= _CUT
    if np.any(far):
        yf = y[far]
        frac = yf + 1.0 / (yf + 2.0 / (yf + 3.0 / (yf + 4.0 / (yf + 0.65))))
        out[far] = np.exp(-0.5 * yf * yf) / frac / 2.506628274631
    out[y > 37.0] = 0.0
    return out


def norm_cdf(x: ArrayLike) -> FloatArray:
    """Standard normal CDF by Hart/West, exactly as the contracts compute it.

    Args:
        x: Any array-like of floats (NaN propagates).

    Returns:
        N(x) as a float64 array of the same shape (0-d for a scalar input).
    """
    xa = np.asarray(x, dtype=np.float64)
    y = np.abs(xa)
    low = _lower_tail(np.atleast_1d(y).copy()).reshape(y.shape)
    out: FloatArray = np.where(xa < 0.0, low, 1.0 - low)
    return out


def norm_pdf(x: ArrayLike) -> FloatArray:
    """Standard normal density φ(x) = exp(−x²/2)/√(2π)."""
    xa = np.asarray(x, dtype=np.float64)
    out: FloatArray = np.exp(-0.5 * xa * xa) / _SQRT_2PI
    return out


def norm_cdf_exact(x: ArrayLike) -> FloatArray:
    """Reference CDF, 0.5·erfc(−x/√2) with :func:`math.erfc` (slow; tests and checks only)."""
    xa = np.asarray(x, dtype=np.float64)
    flat = [0.5 * math.erfc(-v / math.sqrt(2.0)) for v in xa.ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(xa.shape)
