"""Time the backtester and the pricing kernels; print JSON (no assertions).

.venv/bin/python bench/bench_backtest.py [--paths 10000] [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from keeper.backtest import BacktestConfig, OptionSpec, gbm_paths, run_backtest
from keeper.backtest.frontier import FrontierPoint, compare_at_equal_error
from keeper.pricing import payoff, vanilla_delta, vanilla_greeks
from keeper.strategy import (
    Policy,
    TimePolicy,
    fixed_cost_usd,
    l2_default_costs,
    marginal_cost_usd,
    parse_policy,
)


def edge_experiment(n_paths: int) -> dict[str, object]:
    """Band-to-edge versus band-to-target at equal error (a contract what-if)."""
    s0, k, vol, mat, n, steps = 3000.0, 3000.0, 0.6, 30 / 365, 100.0, 720
    ps = gbm_paths(s0, 0.0, vol, mat, steps, n_paths, seed=1)
    costs = l2_default_costs()
    fixed = fixed_cost_usd(costs)

    def run(width: float, edge: bool) -> tuple[float, float, float]:
        hedge, tc, gains, count = (np.zeros(n_paths) for _ in range(4))
        for i in range(steps):
            spot = ps.spots[:, i]
            target = n * vanilla_delta(spot, k, mat - ps.times[i], vol)
            dev = hedge - target
            act = (np.abs(dev) > width * n) | (i == 0)
            new = target + (np.sign(dev) * width * n if edge and i > 0 else 0.0)
            trade = np.where(act, new - hedge, 0.0)
            tc += np.where(act, marginal_cost_usd(costs, trade * spot) + fixed, 0.0)
            hedge = np.where(act, new, hedge)
            count += act
            gains += hedge * (ps.spots[:, i + 1] - spot)
        err = n * payoff(ps.spots[:, -1], k) - gains
        return float(np.std(err, ddof=1)), float(tc.mean()), float(count.mean())

    front: dict[str, list[FrontierPoint]] = {"band": [], "edge": []}
    for w in np.geomspace(0.002, 0.3, 13):
        for fam, edge in (("band", False), ("edge", True)):
            e, c, r = run(float(w), edge)
            front[fam].append(FrontierPoint(fam, float(w), f"{fam}:{w:.4g}", e, c, r))
    return {
        "edge_vs_target_at_equal_error": compare_at_equal_error(front, "edge", ("band",))[
            "summary"
        ],
        "paths": n_paths,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--options", type=int, default=1_000_000)
    ap.add_argument("--edge-experiment", action="store_true")
    a = ap.parse_args()
    if a.edge_experiment:
        print(json.dumps(edge_experiment(a.paths), indent=2))
        return
    out: dict[str, float] = {}

    rng = np.random.default_rng(0)
    n = a.options
    s, k = rng.uniform(1000, 5000, n), rng.uniform(1000, 5000, n)
    t, v = rng.uniform(0, 1, n), rng.uniform(0.1, 1.5, n)
    vanilla_delta(s[:1000], k[:1000], t[:1000], v[:1000])
    t0 = time.perf_counter()
    vanilla_delta(s, k, t, v)
    out["deltas_per_s"] = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    vanilla_greeks(s, k, t, v)
    out["full_greeks_per_s"] = n / (time.perf_counter() - t0)

    for name, policy in (
        ("time_every_1", TimePolicy(every=1)),
        ("band", parse_policy("band:width=0.05")),
        ("costaware", parse_policy("costaware:risk_aversion=1e-4")),
    ):
        timing = time_backtest(a.paths, a.steps, policy)
        out["paths_s"] = timing["paths_seconds"]
        out[f"backtest_{name}_s"] = timing["seconds"]
    out["paths"], out["steps"] = a.paths, a.steps
    print(json.dumps(out, indent=2))


def time_backtest(n_paths: int, steps: int, policy: Policy) -> dict[str, float]:
    """Time one policy's backtest over ``n_paths`` GBM paths of ``steps`` steps (30 days, ATM).

    Returns the path generation time and the backtest time (the figure ``bench/run.py`` reports)
    separately, in seconds.
    """
    mat = 30 / 365
    t0 = time.perf_counter()
    paths = gbm_paths(3000.0, 0.0, 0.6, mat, steps, n_paths, seed=1)
    paths_s = time.perf_counter() - t0
    opt = OptionSpec(3000.0, mat, contracts=100.0)
    cfg = BacktestConfig(0.6, costs=l2_default_costs())
    t0 = time.perf_counter()
    run_backtest(paths, opt, cfg, [policy])
    return {"paths_seconds": paths_s, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    main()
