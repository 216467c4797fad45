from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.pricing import (
    YEAR_SECONDS,
    capped_greeks,
    ewma_variance,
    ewma_vol_forecast,
    norm_cdf,
    norm_cdf_exact,
    norm_pdf,
    payoff,
    realized_vol,
    vanilla_delta,
    vanilla_greeks,
)


def _hart_scalar(x: float) -> float:
    """docs/pricing-model.md, written out independently, one scalar at a time."""
    y = abs(x)
    if y > 37.0:
        low = 0.0
    elif y < 7.07106781186547:
        num = (
            (
                (
                    (((3.52624965998911e-02 * y + 0.700383064443688) * y + 6.37396220353165) * y)
                    + 33.912866078383
                )
                * y
                + 112.079291497871
            )
            * y
            + 221.213596169931
        ) * y + 220.206867912376
        den = (
            (
                (
                    (
                        (((8.83883476483184e-02 * y + 1.75566716318264) * y + 16.064177579207) * y)
                        + 86.7807322029461
                    )
                    * y
                    + 296.564248779674
                )
                * y
                + 637.333633378831
            )
            * y
            + 793.826512519948
        ) * y + 440.413735824752
        low = math.exp(-y * y / 2) * num / den
    else:
        low = (
            math.exp(-y * y / 2)
            / (y + 1 / (y + 2 / (y + 3 / (y + 4 / (y + 0.65)))))
            / 2.506628274631
        )
    return 1.0 - low if x >= 0 else low


def test_norm_cdf_matches_the_documented_hart_west_algorithm() -> None:
    xs = np.concatenate([np.linspace(-40, 40, 4001), [-7.0710678118654, 7.0710678118655, 0.0]])
    got = norm_cdf(xs)
    want = np.array([_hart_scalar(float(x)) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_norm_cdf_is_accurate_against_erfc() -> None:
    xs = np.linspace(-12, 12, 20001)
    assert np.max(np.abs(norm_cdf(xs) - norm_cdf_exact(xs))) < 1e-14


def test_norm_cdf_shapes_symmetry_and_tails() -> None:
    assert norm_cdf(0.3).shape == ()
    x = np.linspace(-5, 5, 12).reshape(3, 4)
    np.testing.assert_allclose(norm_cdf(x) + norm_cdf(-x), 1.0, atol=1e-15)
    assert norm_cdf(-40.0) == 0.0
    assert norm_cdf(40.0) == 1.0
    assert norm_pdf(0.0) == pytest.approx(1 / math.sqrt(2 * math.pi))


def test_black_scholes_textbook_value() -> None:
    # Hull, "Options, Futures and Other Derivatives": S=49, K=50, r=5%, σ=20%, 20 weeks: 2.40.
    g = vanilla_greeks(49.0, 50.0, 20 / 52, 0.2, rate=0.05)
    assert float(g.value) == pytest.approx(2.4005, abs=1e-3)
    assert float(g.delta) == pytest.approx(0.522, abs=1e-3)


def test_put_call_parity_and_delta_relation() -> None:
    rng = np.random.default_rng(3)
    s, k = rng.uniform(50, 150, 500), rng.uniform(50, 150, 500)
    t, v, r = rng.uniform(0.01, 2, 500), rng.uniform(0.05, 1.5, 500), rng.uniform(0, 0.1, 500)
    c = vanilla_greeks(s, k, t, v, rate=r, call=True)
    p = vanilla_greeks(s, k, t, v, rate=r, call=False)
    np.testing.assert_allclose(c.value - p.value, s - k * np.exp(-r * t), atol=1e-9)
    np.testing.assert_allclose(c.delta - p.delta, 1.0, atol=1e-14)
    np.testing.assert_array_equal(c.gamma, p.gamma)


@pytest.mark.parametrize("call", [True, False])
def test_greeks_are_derivatives_of_the_value(call: bool) -> None:
    s, k, t, v, r = 3000.0, 3200.0, 0.1, 0.7, 0.03
    g = vanilla_greeks(s, k, t, v, rate=r, call=call)
    h = 1e-3 * s
    up = vanilla_greeks(s + h, k, t, v, rate=r, call=call)
    dn = vanilla_greeks(s - h, k, t, v, rate=r, call=call)
    assert float(g.delta) == pytest.approx(float(up.value - dn.value) / (2 * h), rel=1e-5)
    assert float(g.gamma) == pytest.approx(float(up.delta - dn.delta) / (2 * h), rel=1e-4)
    hv = 1e-5
    vu = vanilla_greeks(s, k, t, v + hv, rate=r, call=call).value
    vd = vanilla_greeks(s, k, t, v - hv, rate=r, call=call).value
    assert float(g.vega) == pytest.approx(float(vu - vd) / (2 * hv), rel=1e-5)
    assert float(vanilla_delta(s, k, t, v, rate=r, call=call)) == float(g.delta)


def test_expiry_and_zero_vol_follow_the_doc() -> None:
    s = np.array([40.0, 50.0, 60.0])
    c = vanilla_greeks(s, 50.0, 0.0, 0.3)
    p = vanilla_greeks(s, 50.0, 0.0, 0.3, call=False)
    np.testing.assert_array_equal(c.value, [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(c.delta, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(p.value, [10.0, 0.0, 0.0])
    np.testing.assert_array_equal(p.delta, [-1.0, 0.0, 0.0])
    np.testing.assert_array_equal(c.gamma, 0.0)
    np.testing.assert_array_equal(p.vega, 0.0)
    # Zero vol before expiry: intrinsic on the forward K·e^{−rτ}.
    z = vanilla_greeks(49.5, 50.0, 1.0, 0.0, rate=0.05)
    assert float(z.value) == pytest.approx(49.5 - 50 * math.exp(-0.05))
    assert float(z.delta) == 1.0
    assert np.all(np.isfinite(vanilla_delta(s, 50.0, 0.0, 0.0)))


def test_capped_options_are_spreads() -> None:
    s, k, cap, t, v = np.array([2500.0, 3000.0, 3600.0]), 3000.0, 500.0, 0.2, 0.8
    cc = capped_greeks(s, k, cap, t, v)
    c1, c2 = vanilla_greeks(s, k, t, v), vanilla_greeks(s, k + cap, t, v)
    np.testing.assert_allclose(cc.value, c1.value - c2.value, rtol=1e-15)
    np.testing.assert_allclose(cc.delta, c1.delta - c2.delta, rtol=1e-15)
    cp = capped_greeks(s, k, cap, t, v, call=False)
    p1, p2 = vanilla_greeks(s, k, t, v, call=False), vanilla_greeks(s, k - cap, t, v, call=False)
    np.testing.assert_allclose(cp.gamma, p1.gamma - p2.gamma, rtol=1e-12)
    # A put cap at or above the strike cannot bind: a plain put.
    big = capped_greeks(s, k, 4000.0, t, v, call=False)
    np.testing.assert_array_equal(big.value, p1.value)
    unc = capped_greeks(s, k, math.inf, t, v)
    np.testing.assert_array_equal(unc.delta, c1.delta)
    assert np.all(cc.value <= cap)
    np.testing.assert_array_equal(payoff([2900.0, 3200.0, 9000.0], k, cap=cap), [0, 200, 500])


def test_vectorized_call_flag_array() -> None:
    g = vanilla_greeks([100.0, 100.0], 100.0, 0.5, 0.4, call=np.array([True, False]))
    assert float(g.delta[0]) - float(g.delta[1]) == pytest.approx(1.0)


def _irregular_gbm(sigma: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dt = rng.uniform(60, 7200, n)  # irregular oracle rounds, 1 min to 2 h
    t = np.concatenate([[1.7e9], 1.7e9 + np.cumsum(dt)])
    steps = sigma * np.sqrt(dt / YEAR_SECONDS) * rng.standard_normal(n)
    return t, 3000.0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


def test_realized_vol_handles_irregular_spacing() -> None:
    t, p = _irregular_gbm(0.7, 20_000, 11)
    assert realized_vol(t, p) == pytest.approx(0.7, rel=0.02)


def test_ewma_forecast_tracks_a_vol_change() -> None:
    t1, p1 = _irregular_gbm(0.3, 3000, 1)
    t2, p2 = _irregular_gbm(1.2, 3000, 2)
    t = np.concatenate([t1, t1[-1] + 600 + (t2 - t2[0])])
    p = np.concatenate([p1, p1[-1] * p2 / p2[0]])
    v = ewma_variance(t, p, lam=0.94, seed_var=0.09)
    assert v.shape == (len(p) - 1,)
    mid = math.sqrt(float(np.mean(v[2000:2999])))
    assert mid == pytest.approx(0.3, rel=0.25)
    assert ewma_vol_forecast(t, p) == pytest.approx(1.2, rel=0.5)
    assert math.sqrt(float(np.mean(v[-1000:]))) == pytest.approx(1.2, rel=0.2)


@pytest.mark.parametrize(
    ("t", "p", "match"),
    [
        ([1.0], [1.0], "at least two"),
        ([1.0, 2.0], [1.0, 0.0], "positive"),
        ([2.0, 1.0], [1.0, 1.0], "increasing"),
    ],
)
def test_vol_estimators_reject_bad_rounds(t: list[float], p: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        realized_vol(t, p)


def test_ewma_rejects_bad_lambda() -> None:
    with pytest.raises(ValueError, match="lambda"):
        ewma_variance([1.0, 2.0], [1.0, 1.1], lam=1.0)
