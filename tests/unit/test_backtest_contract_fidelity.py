"""The backtester's vault against the contract's rules (``RebalanceRules.plan``, ``OptionVault``).

Each test names the contract rule it holds the backtester to.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.backtest import BacktestConfig, OptionSpec, gbm_paths, run_backtest
from keeper.backtest.engine import VaultBound
from keeper.pricing import payoff
from keeper.strategy import BandPolicy, CostAwarePolicy, TimePolicy, l2_default_costs

T = 30 / 365


@pytest.mark.parametrize(("call", "short"), [(False, True), (True, False)])
def test_a_vault_never_sells_underlying_it_does_not_hold(call: bool, short: bool) -> None:
    # RebalanceRules.plan spends min(want, inventory) on a sell, and the inventory is a uint128:
    # a vault cannot go short the underlying. A written put (or a bought call) needs a short
    # hedge, so every rebalance its vault is asked for is OptionVaultNoTradePossible. The
    # backtester sold what the vault did not hold, and reported a hedge the contract refuses.
    paths = gbm_paths(3000.0, 0.0, 0.6, T, 48, 40, seed=2)
    option = OptionSpec(3000.0, T, call=call, short=short, contracts=10.0)
    costs = l2_default_costs()
    policies = [TimePolicy(every=1), BandPolicy(width=0.02), CostAwarePolicy(1e-4)]
    bound = [VaultBound(p, 0.05, max_interval_s=86_400.0) for p in policies]
    results = run_backtest(paths, option, BacktestConfig(0.6, costs=costs), bound)
    unhedged = -option.quantity * payoff(paths.spots[:, -1], 3000.0, call=call, cap=math.inf)
    for r in results:
        assert r.rebalances_mean == 0.0, r.policy
        assert r.trading_cost_mean == 0.0, r.policy
        np.testing.assert_allclose(r.hedge_cost, unhedged, rtol=1e-12, atol=1e-9)


def test_a_vault_sells_at_most_its_inventory() -> None:
    # A bought put is hedged long (buys, then sells back as the put goes out of the money):
    # its vault trades, and its inventory never goes below zero; unbound it trades the same (but
    # for the steps whose deviation is inside the vault's 1e-6 band, worth a fraction of a cent).
    paths = gbm_paths(3000.0, 0.0, 0.6, T, 48, 40, seed=2)
    option = OptionSpec(3000.0, T, call=False, short=False, contracts=10.0)
    policy = TimePolicy(every=1)
    bound, free = run_backtest(
        paths, option, BacktestConfig(0.6), [VaultBound(policy, 1e-6), policy]
    )
    assert bound.rebalances_mean > 40
    np.testing.assert_allclose(bound.hedge_cost, free.hedge_cost, rtol=0.0, atol=0.01)
