"""The backtester's vault against the contract's rules (``RebalanceRules.plan``, ``OptionVault``).

Each test names the contract rule it holds the backtester to.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.backtest import BacktestConfig, OptionSpec, gbm_paths, run_backtest
from keeper.backtest.engine import VaultBound
from keeper.pricing import YEAR_SECONDS, payoff
from keeper.strategy import BandPolicy, CostAwarePolicy, TimePolicy, l2_default_costs


def _code(argv: list[str]) -> int:
    """``keeper``'s exit code, a usage error's ``SystemExit`` (code 2) included."""
    from keeper.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


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


SMALL = ["backtest", "--paths", "20", "--steps", "24", "--seed", "3", "--no-progress"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # RebalanceRules' hard bounds (MIN_BAND .. MAX_BAND, ...): a vault the contract refuses
        # to set up is no vault to backtest; each ran without a word.
        (
            ["--vault-band", "1e-30"],
            "--vault-band must be between 1e-06 and 1e+06 underlying (the contract's bounds), "
            "got 1e-30",
        ),
        (["--vault-band", "2e6"], "--vault-band must be between 1e-06 and 1e+06 underlying"),
        (
            ["--vault-band", "1", "--vault-max-trade", "1e-30"],
            "--vault-max-trade must be between 1e-06 and 1e+06 underlying (the contract's "
            "bounds), got 1e-30",
        ),
        (
            ["--vault-band", "1", "--vault-max-interval", "1e9"],
            "--vault-max-interval must be between 60 and 2592000 seconds (the contract's "
            "bounds), got 1e+09",
        ),
        (["--vault-band", "1", "--vault-max-interval", "10"], "between 60 and 2592000 seconds"),
        (
            ["--vault-band", "1", "--vault-min-interval", "90000"],
            "--vault-min-interval must be 0 (no floor) or between 1 and 86400 seconds (the "
            "contract's bounds), got 90000",
        ),
        (["--vault-band", "1", "--vault-min-interval", "0.5"], "0 (no floor) or between 1 and"),
        (
            ["--frontier", "--families", "costaware", "--vault-bands", "1e6"],
            "--vault-bands 1e6 puts a vault band at 3e+07 underlying (its multiple of a swept "
            "threshold, up to 0.3 x --contracts 100), outside the contract's 1e-06 .. 1e+06",
        ),
    ],
)
def test_vault_flags_the_contract_refuses_are_refused(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code([*SMALL, *extra]) == 2  # a usage error
    err = capsys.readouterr().err.strip()
    assert err.startswith("keeper: error:")
    assert message in err
    assert "\n" not in err


def test_the_contracts_bounds_themselves_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    from keeper.cli import main

    for extra in (
        ["--vault-band", "1e-6", "--vault-max-trade", "1e6", "--vault-max-interval", "60"],
        ["--vault-band", "1e6", "--vault-max-trade", "1e-6", "--vault-max-interval", "2592000"],
        ["--vault-band", "1", "--vault-min-interval", "0"],
        ["--vault-band", "1", "--vault-min-interval", "86400"],
    ):
        assert main([*SMALL, "--policy", "time:every=1", *extra, "--json", "-"]) == 0, extra
        capsys.readouterr()


def test_the_anchors_vaults_have_a_band_the_contract_accepts() -> None:
    # time@vault and band@vault ran on vaults of band 1e-12 x contracts (1e-10 underlying for
    # 100 contracts), under the contract's MIN_BAND of 1e-6: vaults that cannot exist.
    from keeper.backtest.scenario import Scenario, run_scenario

    sc = Scenario(
        spot=3000.0,
        strike=3000.0,
        rate=0.0,
        vol=0.6,
        drift=0.0,
        maturity=T,
        call=True,
        short=True,
        contracts=100.0,
        steps=12,
        paths=5,
        seed=1,
        policies=(),
        discounted=False,
        costs=l2_default_costs(),
        frontier=True,
        families=("time", "band", "costaware"),
        vault_band_multiples=(1.0,),
        vault_max_trade=5.0,
    )
    out = run_scenario(sc)
    assert out.frontier is not None
    for fam in ("time@vault", "band@vault"):
        for p in out.frontier[fam]:
            assert p.policy.split("@vault_band=")[1].startswith("1e-06,"), p.policy


def test_a_time_policy_with_both_every_and_interval_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The backtest counted grid steps (every) and ignored interval, which is what the live
    # keeper reads: the spec measured one policy and would run another.
    assert _code([*SMALL, "--policy", "time:every=4,interval=3600"]) == 2  # a usage error
    err = capsys.readouterr().err.strip()
    assert err == (
        "keeper: error: policy 'time:every=4,interval=3600': give every=K or interval=SECONDS, "
        "not both (the backtest would count every's grid steps, the live keeper interval's "
        "seconds) (see 'keeper backtest --help')"
    )
    for spec in ("time:every=4", "time:interval=3600"):
        assert _code([*SMALL, "--policy", spec, "--json", "-"]) == 0, spec
        capsys.readouterr()


def _trade_size(d: int, post: int, band: int, max_trade: int) -> int:
    """``RebalanceRules.tradeSize``, line for line, on Wad ints (its magnitude)."""
    up = d > 0
    mag = d if up else -d
    limit = min(mag, band)
    w = 0
    if up and post > 0:
        w = post
    elif not up and post < 0:
        w = -post
    w = min(w, limit)
    return min(mag - w, max_trade)


def _wad(x: float) -> int:
    return round(x * 1e18)


@pytest.mark.parametrize(
    ("band", "max_trade", "max_interval_steps", "min_interval_steps"),
    [(0.3, math.inf, math.inf, 0), (0.3, 2.0, 6, 0), (0.6, 2.0, 4, 2)],
)
def test_costaware_behind_a_vault_trades_as_the_contract_executes(
    band: float, max_trade: float, max_interval_steps: int, min_interval_steps: int
) -> None:
    # The claim's policy on the claim's vault, step by step against the contract's own rules:
    # `OptionVault._evaluate`'s floor (`last != 0 && now < last + minInterval`), `plan`'s
    # triggers (`|d| > band`, else `d != 0 && now >= last + maxInterval`; a fresh vault's
    # lastRebalance 0 is due at once), `tradeSize` on Wads (the keeper's return point clamped
    # to min(|d|, band), at most maxTrade) and the inventory cap of a sell. The policy decides
    # on the trade so executed, as the live planner does.
    from keeper.pricing import vanilla_greeks
    from keeper.strategy.costs import lone_share_usd, marginal_cost_usd
    from keeper.strategy.types import HedgeState

    costs = l2_default_costs()
    fixed = lone_share_usd(costs)
    option = OptionSpec(3000.0, T, contracts=10.0)
    paths = gbm_paths(3000.0, 0.0, 0.6, T, 60, 30, seed=7)
    step_s = float(paths.times[1] - paths.times[0]) * YEAR_SECONDS
    policy = CostAwarePolicy(risk_aversion=3e-5)
    vault = VaultBound(
        policy, band, max_trade, max_interval_steps * step_s, min_interval_steps * step_s
    )
    (res,) = run_backtest(paths, option, BacktestConfig(0.6, costs=costs), [vault])

    n = paths.n_paths
    hedge, last, started = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    count, gains, paid = np.zeros(n), np.zeros(n), np.zeros(n)
    cap = _wad(max_trade) if math.isfinite(max_trade) else 10**30
    for i in range(paths.n_steps):
        s_now = paths.spots[:, i]
        tau = T - float(paths.times[i])
        g = vanilla_greeks(s_now, 3000.0, tau, 0.6)
        target = option.contracts * g.delta
        d = hedge - target
        since = i - last
        if i == 0:
            allowed = np.ones(n, dtype=bool)
            post = np.zeros(n)  # every policy opens its hedge to the target
        else:
            too_soon = started & (since < min_interval_steps)
            timed = (d != 0.0) & (~started | (since >= max_interval_steps))
            allowed = ~too_soon & ((np.abs(d) > band) | timed)
            state = HedgeState(
                deviation=d,
                spot=s_now,
                gamma=option.contracts * np.abs(g.gamma),
                vol=np.full(n, 0.6),
                contracts=np.full(n, option.contracts),
                tau=np.full(n, tau),
                elapsed_s=(since * step_s).astype(np.float64),
                max_interval_s=np.full(n, max_interval_steps * step_s),
                max_trade=np.full(n, max_trade),
                ready=allowed,
                reference_vol=np.full(n, 0.6),
                band=np.full(n, band),
            )
            post = policy.post_deviation(state, costs, fixed)
        trade = np.zeros(n)
        for k in range(n):
            dk, pk = _wad(float(d[k])), _wad(float(post[k]))
            if dk == 0:
                continue
            size = _trade_size(dk, pk, _wad(band) if i else 10**30, cap)
            if dk > 0:  # a sell: at most the inventory
                size = min(size, _wad(float(hedge[k])))
            trade[k] = (size if dk < 0 else -size) / 1e18
        if i == 0:
            act = allowed.copy()
            cost = marginal_cost_usd(costs, trade * s_now) + fixed
        else:
            ev = policy.evaluate(state, costs, fixed, trade)
            act, cost = ev.act, ev.cost_usd
        act &= np.where(trade > 0, trade * s_now >= 1e-6, -trade >= 1e-18)
        paid += np.where(act, cost, 0.0)
        hedge = np.where(act, hedge + trade, hedge)
        last = np.where(act, i, last)
        started |= act
        count += act
        gains += hedge * (paths.spots[:, i + 1] - s_now)
    assert res.rebalances_mean == pytest.approx(float(np.mean(count)), abs=1e-12)
    np.testing.assert_allclose(res.trading_cost, paid, rtol=1e-6, atol=1e-6)
    unhedged = option.contracts * np.maximum(paths.spots[:, -1] - 3000.0, 0.0)
    np.testing.assert_allclose(res.hedge_cost - res.trading_cost, unhedged - gains, atol=1e-3)


def test_a_deviation_exactly_on_the_vault_band_is_no_rebalance() -> None:
    # `plan`'s band trigger is strict (|target - net| > band): a vault exactly on its band edge
    # refuses a rebalance (OptionVaultWithinBand) until its time trigger fires. A call struck at
    # 1 USD has a delta of exactly 1: 10 contracts want 10 underlying, a maxTrade of 9.5 leaves
    # the opening hedge exactly 0.5 short, on a band of 0.5.
    paths = gbm_paths(3000.0, 0.0, 0.6, T, 12, 5, seed=1)
    option = OptionSpec(1.0, T, contracts=10.0)
    step_s = float(paths.times[1] - paths.times[0]) * YEAR_SECONDS
    on_edge = VaultBound(TimePolicy(every=1), 0.5, max_trade=9.5)
    inside = VaultBound(TimePolicy(every=1), 0.4999, max_trade=9.5)
    timed = VaultBound(TimePolicy(every=1), 0.5, max_trade=9.5, max_interval_s=4 * step_s)
    edge, past, late = run_backtest(paths, option, BacktestConfig(0.6), [on_edge, inside, timed])
    assert edge.rebalances_mean == 1.0  # the opening hedge alone
    assert past.rebalances_mean == 2.0  # the carried 0.5 at the next step
    assert late.rebalances_mean == 2.0  # ... or once the time trigger fires


def test_a_vault_bound_run_says_when_its_hedge_would_be_short(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Behind a vault a written put is never hedged (the vault cannot sell what it does not
    # hold): a run that reports no rebalance at all says why, rather than leave it to be read as
    # a policy's choice.
    from keeper.cli import main

    base = [*SMALL, "--policy", "band:width=0.02", "--vault-band", "0.5", "--json", "-"]
    assert main([*base, "--option", "put"]) == 0
    err = capsys.readouterr().err
    assert (
        "a short put is hedged by selling the underlying, and a vault sells no more than it "
        "holds: behind --vault-band or --vault-bands it is never hedged"
    ) in err
    assert main([*base, "--option", "put", "--side", "long"]) == 0
    assert "never hedged" not in capsys.readouterr().err
    assert main([*base, "--side", "long"]) == 0
    assert "a long call is hedged by selling" in capsys.readouterr().err


def test_the_vault_bounds_are_the_contracts() -> None:
    # keeper.backtest.engine copies RebalanceRules' hard bounds: read them from the source.
    import re
    from pathlib import Path

    from keeper.backtest import engine

    sol = (Path(__file__).parents[2] / "contracts" / "RebalanceRules.sol").read_text()

    def const(name: str) -> float:
        m = re.search(rf"constant {name} = ([0-9_e.]+)( days| minutes)?;", sol)
        assert m is not None, name
        unit = {" days": 86_400, " minutes": 60, None: 1}[m.group(2)]
        return float(m.group(1).replace("_", "")) * unit

    assert const("MIN_BAND") / 1e18 == engine.MIN_VAULT_BAND
    assert const("MAX_BAND") / 1e18 == engine.MAX_VAULT_BAND
    assert const("MIN_MAX_TRADE") / 1e18 == engine.MIN_VAULT_MAX_TRADE
    assert const("MAX_MAX_TRADE") / 1e18 == engine.MAX_VAULT_MAX_TRADE
    assert const("MIN_MAX_INTERVAL") == engine.MIN_VAULT_MAX_INTERVAL_S
    assert const("MAX_MAX_INTERVAL") == engine.MAX_VAULT_MAX_INTERVAL_S
    assert const("MIN_MIN_INTERVAL") == engine.MIN_VAULT_MIN_INTERVAL_S
    assert const("MAX_MIN_INTERVAL") == engine.MAX_VAULT_MIN_INTERVAL_S
