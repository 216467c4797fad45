from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

import keeper.backtest.plot as plot_module
from keeper.backtest import (
    BacktestConfig,
    OptionSpec,
    bs_price,
    build_frontier,
    compare_at_equal_error,
    gbm_paths,
    historical_paths,
    load_rounds_csv,
    merton_paths,
    run_backtest,
    sweep_policies,
)
from keeper.backtest.engine import VaultBound
from keeper.backtest.frontier import FrontierPoint, cost_at_error, efficient
from keeper.backtest.memory import (
    BASE_BYTES,
    available_bytes,
    check_memory,
    estimate_bytes,
    human,
)
from keeper.backtest.plot import plot_frontier
from keeper.backtest.price_paths import PathSet
from keeper.errors import ConfigError
from keeper.pricing import YEAR_SECONDS, vanilla_delta, vanilla_greeks
from keeper.strategy import BandPolicy, CostAwarePolicy, TimePolicy, l2_default_costs
from keeper.strategy.types import CostInputs, HedgeState

HULL_T = 20 / 52
HULL_OPTION = OptionSpec(strike=50.0, maturity=HULL_T, contracts=100_000)


def test_paths_are_seeded_and_have_the_right_moments() -> None:
    a = gbm_paths(100.0, 0.1, 0.3, 1.0, 50, 20_000, seed=4)
    b = gbm_paths(100.0, 0.1, 0.3, 1.0, 50, 20_000, seed=4)
    np.testing.assert_array_equal(a.spots, b.spots)
    assert a.spots.shape == (20_000, 51)
    assert np.all(a.spots[:, 0] == 100.0)
    st = a.spots[:, -1]
    assert np.mean(st) == pytest.approx(100 * math.exp(0.1), rel=0.01)
    assert np.std(np.log(st)) == pytest.approx(0.3, rel=0.02)
    j = merton_paths(100.0, 0.1, 0.3, 1.0, 50, 40_000, 4, 5.0, -0.1, 0.15)
    assert j.model == "merton"
    assert np.mean(j.spots[:, -1]) == pytest.approx(100 * math.exp(0.1), rel=0.015)
    # jumps add variance: 0.3² + 5·(0.1² + 0.15²)
    assert np.var(np.log(j.spots[:, -1])) == pytest.approx(0.09 + 5 * 0.0325, rel=0.05)


def test_time_every_one_converges_to_bs_price_and_derman_kamal() -> None:
    s, k, vol, t = 100.0, 100.0, 0.2, 1.0
    opt = OptionSpec(strike=k, maturity=t, contracts=1.0)
    cfg = BacktestConfig(vol=vol, rate=0.0)
    vega = float(vanilla_greeks(s, k, t, vol).vega)
    stds = []
    for n in (64, 256):
        paths = gbm_paths(s, 0.05, vol, t, n, 6000, seed=n)
        [res] = run_backtest(paths, opt, cfg, [TimePolicy(every=1)])
        price = bs_price(opt, s, vol, 0.0)
        assert res.hedge_cost_mean == pytest.approx(
            price, abs=4 * res.hedge_cost_std / math.sqrt(6000)
        )
        dk = math.sqrt(math.pi / 4) * vega * vol / math.sqrt(n)
        assert res.hedge_cost_std == pytest.approx(dk, rel=0.1)
        stds.append(res.hedge_cost_std)
    assert stds[0] / stds[1] == pytest.approx(2.0, rel=0.1)  # std ∝ 1/√N


def test_put_call_parity_of_hedging_results() -> None:
    paths = gbm_paths(49.0, 0.13, 0.2, HULL_T, 40, 2000, seed=9)
    cfg = BacktestConfig(vol=0.2, rate=0.05, discounted=True)
    pol = [TimePolicy(every=2)]
    [call] = run_backtest(paths, OptionSpec(50.0, HULL_T, True, True, 10.0), cfg, pol)
    [put] = run_backtest(paths, OptionSpec(50.0, HULL_T, False, True, 10.0), cfg, pol)
    # Short call minus short put hedged at the same times is a short forward: deterministic.
    want = 10.0 * (49.0 - 50.0 * math.exp(-0.05 * HULL_T))
    np.testing.assert_allclose(call.hedge_cost - put.hedge_cost, want, atol=1e-9)


def test_zero_vol_gives_zero_hedging_error() -> None:
    paths = gbm_paths(49.0, 0.05, 0.0, HULL_T, 20, 500, seed=1)
    [res] = run_backtest(paths, HULL_OPTION, BacktestConfig(0.0, 0.05, True), [TimePolicy(1)])
    assert res.error_std == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("discounted", [True, False])
def test_hull_delta_hedging_table(discounted: bool) -> None:
    # Hull's table: std(cost)/price for rebalancing every 5, 4, 2, 1, 0.5, 0.25 weeks.
    hull = (0.43, 0.39, 0.26, 0.19, 0.14, 0.09)
    paths = gbm_paths(49.0, 0.13, 0.2, HULL_T, 80, 10_000, seed=2026)
    pols = [TimePolicy(every=k) for k in (20, 16, 8, 4, 2, 1)]
    res = run_backtest(paths, HULL_OPTION, BacktestConfig(0.2, 0.05, discounted), pols)
    ratios = [r.ratio_std_to_price for r in res]
    assert all(a > b for a, b in itertools.pairwise(ratios))
    if discounted:
        for got, want in zip(ratios, hull, strict=True):
            assert got == pytest.approx(want, abs=0.03)
        assert res[-1].hedge_cost_mean / 100_000 == pytest.approx(2.40, abs=0.03)
    else:  # interest ignored: the same shape, slightly higher at fine intervals
        assert ratios[0] == pytest.approx(0.43, abs=0.04)
        assert 0.09 < ratios[-1] < 0.18


def test_long_is_the_mirror_of_short_and_caps_work() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.7, 0.1, 50, 1000, seed=3)
    cfg = BacktestConfig(0.7)
    short = OptionSpec(3000.0, 0.1, contracts=2.0, cap=400.0)
    long = OptionSpec(3000.0, 0.1, short=False, contracts=2.0, cap=400.0)
    [s] = run_backtest(paths, short, cfg, [TimePolicy(1)])
    [lg] = run_backtest(paths, long, cfg, [TimePolicy(1)])
    np.testing.assert_allclose(s.hedge_cost, -lg.hedge_cost, atol=1e-9)
    assert bs_price(short, 3000.0, 0.7, 0.0) < 400.0
    assert s.hedge_cost_mean == pytest.approx(2 * bs_price(short, 3000.0, 0.7, 0.0), rel=0.05)


def test_costs_monotone_in_time_interval_and_band_width() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.6, 30 / 365, 240, 1500, seed=8)
    cfg = BacktestConfig(0.6, costs=l2_default_costs())
    opt = OptionSpec(3000.0, 30 / 365, contracts=50.0)
    times = run_backtest(paths, opt, cfg, [TimePolicy(every=k) for k in (1, 2, 4, 8, 16, 48)])
    tc = [r.trading_cost_mean for r in times]
    assert all(a >= b for a, b in itertools.pairwise(tc))  # less frequent: not dearer
    widths = (0.005, 0.01, 0.02, 0.05, 0.1, 0.3)
    bands = run_backtest(paths, opt, cfg, [BandPolicy(w) for w in widths])
    bc = [r.trading_cost_mean for r in bands]
    assert all(a >= b for a, b in itertools.pairwise(bc))  # wider: not dearer
    # with costs, the hedge cost includes them; the error excludes them
    r = times[0]
    assert r.hedge_cost_mean - r.trading_cost_mean == pytest.approx(
        float(np.mean(r.hedge_cost - r.trading_cost))
    )


def test_no_costs_means_zero_trading_cost() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.6, 0.05, 20, 100, seed=8)
    res = run_backtest(paths, OptionSpec(3000.0, 0.05), BacktestConfig(0.6), [BandPolicy(0.01)])
    assert res[0].trading_cost_mean == 0.0


def _write_csv(path: Path, sigma: float, days: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(days * 24 * 4)
    dt = rng.uniform(300, 1500, n)
    t = 1.7e9 + np.concatenate([[0.0], np.cumsum(dt)])
    p = 2000 * np.exp(
        np.concatenate(
            [[0.0], np.cumsum(sigma * np.sqrt(dt / YEAR_SECONDS) * rng.standard_normal(n))]
        )
    )
    rows = "\n".join(f"{int(a)},{b:.6f}" for a, b in zip(t, p, strict=True))
    path.write_text("timestamp,price\n" + rows + "\n")


def test_historical_csv_paths(tmp_path: Path) -> None:
    f = tmp_path / "rounds.csv"
    _write_csv(f, 0.5, 100, seed=1)
    t, p = load_rounds_csv(f)
    ps = historical_paths(t, p, spot=3000.0, maturity=7 / 365, steps=168)
    assert ps.model == "historical"
    assert ps.n_paths >= 9  # ~100 days of data, weekly windows
    assert np.all(ps.spots[:, 0] == 3000.0)
    assert ps.realized_vol == pytest.approx(0.5, rel=0.05)
    [res] = run_backtest(
        ps, OptionSpec(3000.0, 7 / 365), BacktestConfig(ps.realized_vol or 0.5), [TimePolicy(1)]
    )
    assert math.isfinite(res.hedge_cost_mean)


def test_historical_csv_errors(tmp_path: Path) -> None:
    f = tmp_path / "short.csv"
    _write_csv(f, 0.5, 1, seed=1)
    t, p = load_rounds_csv(f)
    with pytest.raises(ConfigError, match="less than one maturity"):
        historical_paths(t, p, 3000.0, 30 / 365, 10)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,px\n1,2\n")
    with pytest.raises(ConfigError, match="header"):
        load_rounds_csv(bad)
    bad.write_text("timestamp,price\n1,2\n2,x\n3,4\n")
    with pytest.raises(ConfigError, match="not a number"):
        load_rounds_csv(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rounds_csv(tmp_path / "missing.csv")
    # Excel's "CSV UTF-8" export starts with a byte-order mark: read as the header it precedes
    bad.write_bytes(b"\xef\xbb\xbftimestamp,price\n1,2\n2,3\n3,4\n")
    assert [list(a) for a in load_rounds_csv(bad)] == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]
    # a spreadsheet's "Unicode" export is UTF-16: named as such, not as a number that is not one
    bad.write_bytes("timestamp,price\n1,2\n2,3\n3,4\n".encode("utf-16"))
    with pytest.raises(ConfigError) as info:
        load_rounds_csv(bad)
    assert str(info.value) == (
        f"CSV {bad} is not UTF-8 text (byte 0xff at offset 0): save it as UTF-8"
    )


def test_frontier_sweep_sorting_and_comparison() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.6, 30 / 365, 120, 400, seed=5)
    costs = l2_default_costs()
    gamma0 = 20.0 * float(vanilla_greeks(3000.0, 3000.0, 30 / 365, 0.6).gamma)
    sweep = sweep_policies(120, 20.0, 3000.0, gamma0, costs, ("time", "band", "costaware"))
    res = run_backtest(
        paths, OptionSpec(3000.0, 30 / 365, contracts=20.0), BacktestConfig(0.6, costs=costs), sweep
    )
    front = build_frontier(sweep, res)
    assert set(front) == {"time", "band", "costaware"}
    for pts in front.values():
        costs_sorted = [p.trading_cost_mean for p in pts]
        assert costs_sorted == sorted(costs_sorted)
    cmp = compare_at_equal_error(front)
    assert cmp["target"] == "costaware"
    assert isinstance(cmp["points"], list)
    assert cmp["points"]


def test_equal_error_interpolation() -> None:
    pts = [
        FrontierPoint("band", 1, "a", 10.0, 100.0, 1),
        FrontierPoint("band", 2, "b", 40.0, 25.0, 1),
        FrontierPoint("band", 3, "c", 50.0, 200.0, 1),  # dominated
    ]
    assert [p.policy for p in efficient(pts)] == ["a", "b"]
    assert cost_at_error(pts, 20.0) == pytest.approx(50.0)  # log-log: cost ∝ 1/error here
    assert cost_at_error(pts, 5.0) is None  # never extrapolates
    front = {"band": pts, "costaware": [FrontierPoint("costaware", 1, "x", 20.0, 40.0, 1)]}
    summary = compare_at_equal_error(front, against=("band",))["summary"]
    assert isinstance(summary, dict)
    assert summary["band"]["median_reduction"] == pytest.approx(0.2)
    # an offset paid by everyone shrinks the absolute costs: 1 − 30/40 = 25%
    shifted = compare_at_equal_error(front, against=("band",), offset=10.0)["summary"]
    assert isinstance(shifted, dict)
    band_at_20 = math.exp(np.interp(math.log(20.0), np.log([10.0, 40.0]), np.log([90.0, 15.0])))
    assert shifted["band"]["median_reduction"] == pytest.approx(1 - 30.0 / band_at_20)


def test_costaware_in_backtest_never_pays_more_than_it_gains() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.6, 30 / 365, 60, 300, seed=6)
    costs = l2_default_costs()
    cheap = CostAwarePolicy(risk_aversion=1e-12)  # risk nearly free: never worth hedging again
    [res] = run_backtest(
        paths,
        OptionSpec(3000.0, 30 / 365, contracts=10.0),
        BacktestConfig(0.6, costs=costs),
        [cheap],
    )
    assert res.rebalances_mean == 1.0  # only the opening hedge


def test_memory_estimate_bounds_the_arrays_and_grows_with_the_run() -> None:
    paths = gbm_paths(3000.0, 0.0, 0.6, 0.1, 50, 1000, seed=1)
    est = estimate_bytes(1000, 50, 1)
    # At least the paths, the draws and the log steps (three float64 grids) on top of the base.
    assert est - BASE_BYTES >= 3 * paths.spots.nbytes
    assert estimate_bytes(2000, 50, 1) - BASE_BYTES == pytest.approx(2 * (est - BASE_BYTES))
    assert estimate_bytes(1000, 50, 60) > estimate_bytes(1000, 50, 2)
    assert estimate_bytes(1000, 50, 1, "merton") > est
    assert estimate_bytes(10**9, 720, 2) > 2**40  # the run: terabytes


def test_check_memory_refuses_in_one_line() -> None:
    check_memory(1000, 50, 2, "gbm", None, "no limit")
    check_memory(1000, 50, 2, "gbm", estimate_bytes(1000, 50, 2), "exact")
    with pytest.raises(ConfigError) as info:
        check_memory(10**9, 720, 2, "gbm", 8 * 2**30, "--max-memory 8")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("1,000,000,000 paths x 720 steps x 2 policies need about ")
    assert "TiB of memory, more than the limit of 8.0 GiB (--max-memory 8)" in msg


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683584 kB\nMemAvailable:    2097152 kB\n")
    assert available_bytes(meminfo) == 2 * 2**30
    assert human(2 * 2**30) == "2.0 GiB"
    assert human(512) == "512 B"
    assert human(3 * 2**40) == "3.0 TiB"
    # Without the file it falls back to the free pages (Linux has them) or says nothing.
    fallback = available_bytes(tmp_path / "missing")
    assert fallback is None or fallback > 0


def _point(fam: str, param: float, err: float, cost: float) -> FrontierPoint:
    return FrontierPoint(fam, param, f"{fam}:x={param}", err, cost, 3.0)


def test_frontier_plot_keeps_coinciding_families_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures: list[Figure] = []
    monkeypatch.setattr(plot_module.plt, "close", figures.append)
    band = [_point("band", w, 1000 / w, 10 * w + 1) for w in (0.01, 0.05, 0.2)]
    front = {
        "time": [_point("time", k, 900 * k, 50 / k) for k in (1, 4, 16)],
        "band": band,
        "volband": [_point("volband", p.param, p.error_std, p.trading_cost_mean) for p in band],
    }
    [single] = run_backtest(
        gbm_paths(3000.0, 0.0, 0.6, 0.05, 20, 50, seed=2),
        OptionSpec(strike=3000.0, maturity=0.05, contracts=10.0),
        BacktestConfig(vol=0.6, costs=l2_default_costs()),
        [BandPolicy(width=0.05)],
    )
    png = tmp_path / "f.png"
    plot_frontier(png, front, [single], "title")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [fig] = figures
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"time", "band", "volband (same points as band)"}
    under, over = lines["band"], lines["volband (same points as band)"]
    # The line drawn on top is narrower and dashed, so the one beneath still shows.
    assert over.get_zorder() > under.get_zorder()
    assert over.get_linewidth() < under.get_linewidth()
    assert over.get_linestyle() != under.get_linestyle()
    assert over.get_marker() != under.get_marker()
    # The single policy is a marker named in the legend, with no text drawn over the points.
    assert len(ax.texts) == 0
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()][-1] == "band:width=0.05"
    assert ax.get_ylabel() == "mean trading cost (USD)"


def test_frontier_plot_without_costs_shows_rebalances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures: list[Figure] = []
    monkeypatch.setattr(plot_module.plt, "close", figures.append)
    front = {"band": [_point("band", w, 1000 / w, 0.0) for w in (0.01, 0.05, 0.2)]}
    plot_frontier(tmp_path / "n.png", front, [], "no costs")
    ax = figures[0].axes[0]
    assert ax.get_ylabel() == "mean rebalances (no trading costs)"
    assert list(ax.get_lines()[0].get_ydata()) == [3.0, 3.0, 3.0]


def test_a_backtested_rebalance_pays_the_lone_vaults_own_transaction() -> None:
    # The backtester hedges one vault, which the live keeper sends to the vault itself: each
    # rebalance must cost that transaction (gas_direct), not a batch of one.
    from dataclasses import replace

    from keeper.strategy.costs import direct_usd

    paths = gbm_paths(3000.0, 0.0, 0.6, 0.05, 10, 50, seed=3)
    free_trades = replace(l2_default_costs(), pool_fee_bps=0.0, impact_coef=0.0)
    for gas_direct in (150_000, 400_000):
        costs = replace(free_trades, gas_direct=gas_direct, l1_fee_direct_wei=10**12)
        (r,) = run_backtest(
            paths, OptionSpec(3000.0, 0.05), BacktestConfig(0.6, costs=costs), [TimePolicy(1)]
        )
        assert r.rebalances_mean == 10.0  # every step, the opening trade included
        assert r.trading_cost_mean == pytest.approx(10 * direct_usd(costs), rel=1e-12)


class _FarPolicy(TimePolicy):
    """Every step, asks for a post-trade deviation far past the band (the vault clamps it)."""

    def post_deviation(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> np.ndarray:
        return 10.0 * s.deviation


def _resimulate(
    paths: PathSet,
    option: OptionSpec,
    band: float,
    far: bool,
    max_trade: float = math.inf,
    max_interval_steps: float = math.inf,
    min_interval_steps: float = 0.0,
) -> tuple[Any, Any]:
    """The contract's rule, step by step, on its own: the rebalance counts and hedge costs.

    The trigger is the band (strict) or the time trigger (``deviation != 0`` and
    ``max_interval_steps`` since the last rebalance), never sooner than ``min_interval_steps``
    after the last (the opening hedge excepted); the far policy's post-trade point is
    clamped to the band (inside it, when the time trigger fires, it is no trade); every trade,
    the opening one included, is capped at ``max_trade``; a buy worth less than one quote unit
    (1e-6 USD) or a sell of less than one wei is refused (no trade).
    """
    spots, times = paths.spots, paths.times
    out_cost, out_count = [], []
    for path in spots:
        hedge, count, gains, last = 0.0, 0, 0.0, 0
        for i in range(paths.n_steps):
            tau = option.maturity - float(times[i])
            target = option.contracts * float(vanilla_delta(path[i], option.strike, tau, 0.6))
            d = hedge - target
            if i == 0:
                size = abs(d)  # the opening hedge
            elif i - last < min_interval_steps:
                size = 0.0  # too soon (OptionVaultTooSoon)
            elif abs(d) > band or (d != 0.0 and i - last >= max_interval_steps):
                size = max(abs(d) - band, 0.0) if far else abs(d)
            else:
                size = 0.0
            size = min(size, max_trade)
            if (size * path[i] >= 1e-6) if d < 0.0 else (size >= 1e-18):
                hedge -= math.copysign(size, d)
                count += 1
                last = i
            gains += hedge * (path[i + 1] - path[i])
        x = max(path[-1] - option.strike, 0.0)
        out_cost.append(option.contracts * x - gains)
        out_count.append(count)
    return np.asarray(out_count, dtype=float), np.asarray(out_cost)


@pytest.mark.parametrize(
    ("far", "max_trade", "max_interval_steps", "min_interval_steps"),
    [
        (False, math.inf, math.inf, 0.0),
        (True, math.inf, math.inf, 0.0),
        (False, 0.2, 5.5, 0.0),
        (True, 0.2, 5.5, 0.0),
        (False, math.inf, math.inf, 3.0),
        (True, 0.2, 5.5, 2.5),
    ],
)
def test_a_vault_bound_policy_trades_as_the_contract_lets_it(
    far: bool, max_trade: float, max_interval_steps: float, min_interval_steps: float
) -> None:
    # The vault accepts a rebalance only when |deviation| > its band, or when its time trigger
    # fires, never sooner than minInterval after the last, returns no farther than the band and
    # trades at most maxTrade: a time policy due every step trades only when the vault allows
    # it, and one asking for a point past the band ends exactly on it (or as far as maxTrade
    # takes it).
    option = OptionSpec(3000.0, 30 / 365, contracts=10.0)
    paths = gbm_paths(3000.0, 0.0, 0.6, 30 / 365, 48, 20, seed=11)
    band = 0.15
    step_s = float(paths.times[1] - paths.times[0]) * YEAR_SECONDS
    policy = _FarPolicy(every=1) if far else TimePolicy(every=1)
    vault = VaultBound(
        policy, band, max_trade, max_interval_steps * step_s, min_interval_steps * step_s
    )
    bound, free = run_backtest(paths, option, BacktestConfig(0.6), [vault, policy])
    counts, costs = _resimulate(
        paths, option, band, far, max_trade, max_interval_steps, min_interval_steps
    )
    assert bound.rebalances_mean == pytest.approx(float(np.mean(counts)), abs=1e-12)
    np.testing.assert_allclose(bound.hedge_cost, costs, rtol=1e-9, atol=1e-6)
    # unbound, the time policy trades every step (but where delta stands still, deep in the
    # money: a trade under one quote unit is no trade); the far one never (a point past
    # |deviation| is no trade) beyond the opening hedge
    every_step = float(np.mean(_resimulate(paths, option, 0.0, False)[0]))
    assert 47.0 < every_step <= 48.0
    assert free.rebalances_mean == (1.0 if far else every_step)
    assert bound.rebalances_mean != free.rebalances_mean
    assert bound.policy.startswith(f"{policy.spec}@vault_band=0.15")
    assert ("max_trade=0.2" in bound.policy) == math.isfinite(max_trade)
    assert ("min_interval=" in bound.policy) == (min_interval_steps > 0)
    if min_interval_steps > 0:  # the floor binds: fewer rebalances than without it
        without, _ = _resimulate(paths, option, band, far, max_trade, max_interval_steps)
        assert bound.rebalances_mean < float(np.mean(without))
        # at most the opening hedge, then one every ceil(floor) of the 47 steps left
        assert bound.rebalances_mean <= 1 + 47 // math.ceil(min_interval_steps)
    elif math.isfinite(max_trade):
        # the caps bind: the opening hedge alone (~5 underlying) takes many steps at 0.2
        assert bound.rebalances_mean > 20


def test_the_time_trigger_fires_on_the_step_its_interval_ends() -> None:
    # On a 3-day, hourly grid, 24 steps came to 86399.99999999999 s, short of a 86,400 s
    # maxInterval by rounding: the trigger fired one step late.
    option = OptionSpec(3000.0, 3 / 365, contracts=10.0)
    paths = gbm_paths(3000.0, 0.0, 0.6, 3 / 365, 72, 10, seed=5)
    step_s = float(paths.times[1] - paths.times[0]) * YEAR_SECONDS
    assert 24 * step_s != 86_400.0  # the rounding this test is about
    policy = TimePolicy(every=1)
    (bound,) = run_backtest(
        paths, option, BacktestConfig(0.6), [VaultBound(policy, 1e6, max_interval_s=86_400.0)]
    )
    counts, costs = _resimulate(paths, option, 1e6, False, max_interval_steps=24)
    assert bound.rebalances_mean == float(np.mean(counts)) == 3.0  # steps 0, 24 and 48
    np.testing.assert_allclose(bound.hedge_cost, costs, rtol=1e-9, atol=1e-6)


def test_a_vault_band_must_be_positive() -> None:
    for band in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="vault band"):
            VaultBound(TimePolicy(every=1), band)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="max trade"):
            VaultBound(TimePolicy(every=1), 0.1, max_trade=bad)
        with pytest.raises(ValueError, match="max interval"):
            VaultBound(TimePolicy(every=1), 0.1, max_interval_s=bad)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="min interval"):
            VaultBound(TimePolicy(every=1), 0.1, min_interval_s=bad)
    with pytest.raises(ValueError, match="must not pass its max interval"):
        VaultBound(TimePolicy(every=1), 0.1, max_interval_s=60.0, min_interval_s=61.0)


def test_the_vault_bound_sweep_pairs_each_costaware_point_with_its_own_threshold() -> None:
    from keeper.backtest.frontier import WIDTHS, vault_bound_sweep

    costs = l2_default_costs()
    gamma0 = 20.0 * float(vanilla_greeks(3000.0, 3000.0, 30 / 365, 0.6).gamma)
    bound = vault_bound_sweep(120, 20.0, 3000.0, gamma0, costs, (0.5, 2.0))
    plain = sweep_policies(120, 20.0, 3000.0, gamma0, costs, ("costaware",))
    assert [b.policy for b in bound] == [p for p in plain for _ in (0.5, 2.0)]
    assert [b.band for b in bound] == pytest.approx(
        [m * w * 20.0 for w in WIDTHS for m in (0.5, 2.0)]
    )
    assert {b.family for b in bound} == {"costaware@vault"}
    with pytest.raises(ValueError, match="multiples"):
        vault_bound_sweep(120, 20.0, 3000.0, gamma0, costs, (0.0,))


@pytest.mark.parametrize("vol", [0.0, 0.6])
def test_a_trade_the_contract_refuses_is_no_rebalance(vol: float) -> None:
    # A call struck at 1,000,000 USD on ETH at 3,000 is worthless: at vol 0 its delta is 0 (the
    # opening "trade" is 0), at 60% it is ~1e-250 underlying. RebalanceRules.plan refuses such a
    # trade (`OptionVaultNoTradePossible`: a buy below one quote unit, a sell below one wei),
    # and the live keeper never sends it; the backtester counted every one as a rebalance and
    # charged it a whole transaction (time:every=1: 1 at vol 0, ~9.5 per path at 60%).
    paths = gbm_paths(3000.0, 0.0, 0.6, 30 / 365, 48, 20, seed=1)
    option = OptionSpec(1e6, 30 / 365, contracts=10.0)
    policies = [TimePolicy(every=1), BandPolicy(width=1e-9), CostAwarePolicy(1e-4)]
    results = run_backtest(paths, option, BacktestConfig(vol, costs=l2_default_costs()), policies)
    for r in results:
        assert r.rebalances_mean == 0.0, r.policy
        assert r.trading_cost_mean == 0.0, r.policy
        assert r.opening_cost_mean == 0.0, r.policy


def test_the_smallest_executable_trades_are_rebalances() -> None:
    # The contract's minimum, exactly: a buy of one quote unit (1e-6 USD of notional at the
    # oracle price) and a sell of one wei go through; anything smaller is no trade.
    from keeper.strategy.rebalance_rule import executable

    spot = np.full(6, 2000.0)
    trade = np.array([5.001e-10, 4.999e-10, -1e-18, -0.999e-18, 0.0, -0.0])
    assert executable(trade, spot).tolist() == [True, False, True, False, False, False]


def test_a_time_interval_policy_is_due_on_the_step_its_interval_ends() -> None:
    # On a 3-day hourly grid 24 steps came to 86399.99999999999 s: time:interval=86400 fired
    # one step late (steps 25 and 50) where the vault's own time trigger, and time:every=24,
    # fire at steps 24 and 48.
    option = OptionSpec(3000.0, 3 / 365, contracts=10.0)
    paths = gbm_paths(3000.0, 0.0, 0.6, 3 / 365, 72, 10, seed=5)
    by_steps, by_seconds = run_backtest(
        paths, option, BacktestConfig(0.6), [TimePolicy(every=24), TimePolicy(interval=86_400.0)]
    )
    assert by_seconds.rebalances_mean == by_steps.rebalances_mean == 3.0
    np.testing.assert_array_equal(by_seconds.hedge_cost, by_steps.hedge_cost)


@pytest.mark.parametrize(
    "rows",
    [
        "0,3000\n3600,inf\n7200,3010\n",  # an infinite price made every path NaN
        "0,3000\n3600,3005\ninf,3010\n",  # an infinite timestamp: a traceback, not one line
        "0,3000\n3600,1e400\n7200,3010\n",  # a price that overflows to inf
    ],
)
def test_historical_csv_refuses_a_non_finite_price_or_timestamp(tmp_path: Path, rows: str) -> None:
    bad = tmp_path / "rounds.csv"
    bad.write_text("timestamp,price\n" + rows)
    with pytest.raises(ConfigError, match="finite"):
        load_rounds_csv(bad)


def test_historical_csv_refuses_millisecond_timestamps(tmp_path: Path) -> None:
    # Hourly rounds in milliseconds (an exchange API's export) read as seconds made rounds 41.7
    # days apart: 4,165 "30-day paths" of one or two prices each and a realized vol of 0.07%,
    # run without a word.
    ms = tmp_path / "ms.csv"
    rows = "".join(f"{1_700_000_000_000 + i * 3_600_000},{3000 + i % 7}\n" for i in range(100))
    ms.write_text("timestamp,price\n" + rows)
    with pytest.raises(ConfigError, match="milliseconds"):
        load_rounds_csv(ms)
