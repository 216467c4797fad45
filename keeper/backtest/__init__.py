"""Backtest: the keeper's own policies and cost model over Monte Carlo or historical paths."""

from keeper.backtest.engine import (
    BacktestConfig,
    OptionSpec,
    PolicyResult,
    bs_price,
    run_backtest,
)
from keeper.backtest.frontier import build_frontier, compare_at_equal_error, sweep_policies
from keeper.backtest.price_paths import (
    PathSet,
    gbm_paths,
    historical_paths,
    load_rounds_csv,
    merton_paths,
)
from keeper.backtest.scenario import RunOutput, Scenario, run_scenario

__all__ = [
    "BacktestConfig",
    "OptionSpec",
    "PathSet",
    "PolicyResult",
    "RunOutput",
    "Scenario",
    "bs_price",
    "build_frontier",
    "compare_at_equal_error",
    "gbm_paths",
    "historical_paths",
    "load_rounds_csv",
    "merton_paths",
    "run_backtest",
    "run_scenario",
    "sweep_policies",
]
