"""Vectorized Black–Scholes value, delta, gamma and vega: vanilla and capped options.

Formulas are those of ``docs/pricing-model.md`` (the contracts use them with ``rate = 0``); the
backtester passes a non-zero ``rate``. Every function broadcasts its arguments with numpy, so one
call prices a million options or ten thousand paths at once. The normal CDF is Hart/West
(:func:`keeper.pricing.normal.norm_cdf`), the one the contracts use.

Units: ``spot`` and ``strike`` in USD per whole underlying, ``tau`` in years (seconds /
31,536,000), ``vol`` annualized, ``rate`` continuously compounded. Greeks are per contract (one
whole underlying): delta in underlying, gamma per 1 USD move of spot, vega in USD per 1.00 of vol.

At expiry (``tau == 0``), and whenever ``vol·√tau == 0``, the option is worth its intrinsic value
on the forward ``K·e^{−r·tau}``: delta is 1 for a call with ``S > K·e^{−r·tau}``, −1 for a put
with ``S < K·e^{−r·tau}``, else 0, and gamma = vega = 0 (with ``tau = 0`` exactly the doc's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.pricing.normal import FloatArray, _lower_tail, norm_pdf
from keeper.units import YEAR_SECONDS as YEAR_SECONDS  # re-exported: the pricing year

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Greeks:
    """Per-contract value and Greeks, each an array of the broadcast shape."""

    value: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    #: The sum of the legs' |delta|: |delta| for a vanilla, |delta(K)| + |delta(K ± cap)| for a
    #: capped option. Its float delta errs relative to each leg's, and a tight cap's two legs
    #: nearly cancel (a 1e-7 USD cap: 6.6e-6 of its delta), so the doubt scales with this.
    delta_legs: FloatArray


def _cdf_pair(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return (N(x), N(−x)) with one Hart/West evaluation, bit-identical to two calls."""
    flat = np.abs(x).ravel().copy()
    low = _lower_tail(flat).reshape(x.shape)
    neg = x < 0.0
    up = 1.0 - low
    return np.where(neg, low, up), np.where(neg, up, low)


def _prep(
    spot: ArrayLike, strike: ArrayLike, tau: ArrayLike, vol: ArrayLike, rate: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    s, k, t, v, r = (np.asarray(a, dtype=np.float64) for a in (spot, strike, tau, vol, rate))
    s, k, t, v, r = np.broadcast_arrays(s, k, t, v, r)
    t = np.maximum(t, 0.0)
    sqrt_t = np.sqrt(t)
    sd = v * sqrt_t
    live = sd > 0.0
    return s, k, t, v, r, np.where(live, sd, 1.0), live


def _d1(
    s: FloatArray, k: FloatArray, t: FloatArray, v: FloatArray, r: FloatArray, sd: FloatArray
) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = (np.log(s / k) + (r + 0.5 * v * v) * t) / sd
    return out


def vanilla_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    tau: ArrayLike,
    vol: ArrayLike,
    *,
    call: ArrayLike = True,
    rate: ArrayLike = 0.0,
) -> Greeks:
    """Value, delta, gamma and vega of European calls or puts (``call`` may be an array)."""
    s, k, t, v, r, sd, live = _prep(spot, strike, tau, vol, rate)
    is_call = np.broadcast_to(np.asarray(call, dtype=bool), s.shape)
    disc_k = k * np.exp(-r * t)
    d1 = np.where(live, _d1(s, k, t, v, r, sd), 0.0)
    d2 = d1 - np.where(live, sd, 0.0)
    n1, m1 = _cdf_pair(d1)
    n2, m2 = _cdf_pair(d2)
    call_v = s * n1 - disc_k * n2
    put_v = disc_k * m2 - s * m1
    value = np.where(is_call, call_v, put_v)
    delta = np.where(is_call, n1, n1 - 1.0)
    pdf = norm_pdf(d1)
    gamma = np.where(live, pdf / (s * sd), 0.0)
    vega = np.where(live, s * pdf * np.sqrt(t), 0.0)
    # Dead options (expiry or zero vol): intrinsic on the forward.
    itm_call = s > disc_k
    itm_put = s < disc_k
    dead_value = np.where(is_call, np.maximum(s - disc_k, 0.0), np.maximum(disc_k - s, 0.0))
    dead_delta = np.where(is_call, itm_call.astype(np.float64), -itm_put.astype(np.float64))
    out_delta = np.where(live, delta, dead_delta)
    return Greeks(
        value=np.where(live, value, dead_value),
        delta=out_delta,
        gamma=gamma,
        vega=vega,
        delta_legs=np.abs(out_delta),
    )


def vanilla_delta(
    spot: ArrayLike,
    strike: ArrayLike,
    tau: ArrayLike,
    vol: ArrayLike,
    *,
    call: ArrayLike = True,
    rate: ArrayLike = 0.0,
) -> FloatArray:
    """Delta only (one CDF evaluation): the fast path for the live keeper and the backtester."""
    s, k, t, v, r, sd, live = _prep(spot, strike, tau, vol, rate)
    is_call = np.broadcast_to(np.asarray(call, dtype=bool), s.shape)
    d1 = np.where(live, _d1(s, k, t, v, r, sd), 0.0)
    n1, _ = _cdf_pair(d1)
    delta = np.where(is_call, n1, n1 - 1.0)
    disc_k = k * np.exp(-r * t)
    dead = np.where(is_call, (s > disc_k).astype(np.float64), -(s < disc_k).astype(np.float64))
    out: FloatArray = np.where(live, delta, dead)
    return out


def capped_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    cap: ArrayLike,
    tau: ArrayLike,
    vol: ArrayLike,
    *,
    call: ArrayLike = True,
    rate: ArrayLike = 0.0,
) -> Greeks:
    """Greeks of capped options, priced as spreads (``cap = inf`` means uncapped).

    A capped call is C(K) − C(K + cap). A capped put is P(K) − P(K − cap) when cap < K, and a
    plain put otherwise (its payoff cannot exceed K).
    """
    s, k, c, t, v, r = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spot, strike, cap, tau, vol, rate))
    )
    is_call = np.broadcast_to(np.asarray(call, dtype=bool), s.shape)
    base = vanilla_greeks(s, k, t, v, call=is_call, rate=r)
    capped = np.isfinite(c) & np.where(is_call, True, c < k)
    if not np.any(capped):
        return base
    c_safe = np.where(capped, c, 0.0)  # uncapped rows: a harmless leg at K, masked out below
    other_k = np.where(is_call, k + c_safe, k - c_safe)
    leg = vanilla_greeks(s, other_k, t, v, call=is_call, rate=r)
    m = capped
    return Greeks(
        value=np.where(m, base.value - leg.value, base.value),
        delta=np.where(m, base.delta - leg.delta, base.delta),
        gamma=np.where(m, base.gamma - leg.gamma, base.gamma),
        vega=np.where(m, base.vega - leg.vega, base.vega),
        delta_legs=np.where(m, base.delta_legs + leg.delta_legs, base.delta_legs),
    )


def payoff(
    spot: ArrayLike, strike: ArrayLike, *, call: ArrayLike = True, cap: ArrayLike = np.inf
) -> FloatArray:
    """Payoff at expiry per contract: vanilla, or capped at ``cap`` USD."""
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    raw = np.where(np.asarray(call, dtype=bool), np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    out: FloatArray = np.minimum(raw, np.asarray(cap, dtype=np.float64))
    return out
