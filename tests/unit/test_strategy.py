from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.backtest.frontier import WIDTHS, sweep_policies
from keeper.errors import ConfigError
from keeper.pricing import YEAR_SECONDS
from keeper.strategy import (
    NO_COSTS,
    POLICIES,
    BandPolicy,
    CostAwarePolicy,
    CostInputs,
    HedgeState,
    MarketView,
    Policy,
    PolicySpecError,
    Positive,
    Reason,
    Rule,
    Steps,
    SweepGrid,
    TimePolicy,
    VaultView,
    VolBandPolicy,
    WhalleyWilmottPolicy,
    fixed_cost_usd,
    impact_coef_from_quote,
    l2_default_costs,
    marginal_cost_usd,
    parse_policy,
    per_vault_fixed_usd,
    plan,
    proportional_rate,
    state_from_views,
)
from keeper.strategy.costs import batch_cost_usd, swap_usd
from keeper.strategy.policies import _REGISTRY
from keeper.strategy.rebalance_rule import (
    compensated_post,
    executed_trade,
    funded_trade,
    post_deviation_wad,
    return_fraction,
)
from keeper.strategy.types import FloatArray
from keeper.units import wad_to_float

WAD = 10**18
COSTS = l2_default_costs()
MARKET = MarketView(now=1_700_000_000, forecast_vol=0.8, reference_vol=0.8)


def vault(
    name: str = "0x" + "11" * 20,
    dev: float = 1.0,
    *,
    ready: bool = True,
    contracts: float = 10.0,
    gamma: float = 0.002,
    spot: float = 3000.0,
    elapsed: int = 600,
    max_interval: int = 3600,
    max_trade: int = 100 * WAD,
    tau: float = 0.05,
) -> VaultView:
    net = round(dev * WAD)
    return VaultView(
        vault=name,
        net_delta=net,
        target_delta=0,
        band=WAD // 10,
        max_trade=max_trade,
        last_rebalance=MARKET.now - elapsed,
        min_interval=60,
        max_interval=max_interval,
        spot=spot,
        gamma=gamma,
        vol=0.8,
        contracts=contracts,
        trigger_ready=ready,
        time_to_expiry=tau,
    )


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("spec", "cls", "param"),
    [
        ("time:every=4", TimePolicy, 4.0),
        ("band:width=0.05", BandPolicy, 0.05),
        ("volband:width=0.05,ref=0.8", VolBandPolicy, 0.05),
        ("ww:risk_aversion=1", WhalleyWilmottPolicy, 1.0),
        ("costaware:horizon=3600,risk_aversion=0.001", CostAwarePolicy, 0.001),
        ("costaware:risk_aversion=2,horizon=auto", CostAwarePolicy, 2.0),
    ],
)
def test_parse_policy_round_trips(spec: str, cls: type[Policy], param: float) -> None:
    p = parse_policy(spec)
    assert isinstance(p, cls)
    assert p.param == param
    assert parse_policy(p.spec) == p
    assert p.with_param(param * 2).param == pytest.approx(param * 2)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gamma:x=1", "unknown family"),
        ("band", "missing width"),
        ("band:width=0", "positive"),
        ("band:width=nan", "positive"),
        ("band:size=1", "bad parameter"),
        ("band:width=0.1,width=0.2", "twice"),
        ("time:every=2.5", "whole number"),
        ("time:", "every=STEPS"),
        ("costaware:risk_aversion=abc", "not a number"),
        ("ww:risk_aversion", "bad parameter"),
    ],
)
def test_bad_policy_specs_raise_one_clear_line(spec: str, match: str) -> None:
    with pytest.raises(PolicySpecError, match=match) as info:
        parse_policy(spec)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ConfigError)
    assert "\n" not in str(info.value)


def test_the_registry_knows_every_family_in_definition_order() -> None:
    assert list(POLICIES) == ["time", "band", "volband", "bandedge", "ww", "costaware"]
    assert all(POLICIES[f].family == f for f in POLICIES)


def test_a_policy_is_one_class() -> None:
    @dataclass(frozen=True)
    class FlatPolicy(Policy, family="flat"):
        """Act when |deviation| > size (whole underlying)."""

        size: Positive
        every: Steps | None = None

        @classmethod
        def sweep(cls, grid: SweepGrid) -> list[Policy]:
            return [cls(size=h) for h in grid.half_widths()]

        def _rule(
            self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
        ) -> Rule:
            h = np.full_like(s.deviation, self.size)
            return Rule(np.abs(s.deviation) > h, h, Reason.OUTSIDE_BAND, Reason.INSIDE_BAND)

    try:
        p = parse_policy("flat:size=0.5")
        assert p == FlatPolicy(size=0.5)
        assert p.spec == "flat:size=0.5"
        assert parse_policy("flat:size=0.5,every=3") == FlatPolicy(0.5, 3)
        with pytest.raises(PolicySpecError, match="missing size"):
            parse_policy("flat:every=3")
        with pytest.raises(PolicySpecError, match="whole number"):
            parse_policy("flat:size=1,every=1.5")
        with pytest.raises(PolicySpecError, match=r"allowed: size, every"):
            parse_policy("flat:width=1")
        views = [vault(dev=0.4), vault(dev=-0.6)]
        assert [d.act for d in plan(p, views, MARKET, COSTS).decisions] == [False, True]
        assert "deviation outside band" in plan(p, views, MARKET, COSTS).decisions[1].reason
        sweep = sweep_policies(10, 2.0, 3000.0, 0.001, None, ("flat",))
        assert [q.param for q in sweep] == pytest.approx([w * 2.0 for w in WIDTHS])
        with pytest.raises(TypeError, match="already"):

            class Again(FlatPolicy, family="flat"):
                pass

    finally:
        _REGISTRY.pop("flat", None)


def test_reasons_have_distinct_texts() -> None:
    assert len({r.text for r in Reason}) == len(Reason)


# ---------------------------------------------------------------- costs


def test_cost_model_adds_gas_l1_fee_and_slippage() -> None:
    c = CostInputs(100_000, 200_000, 10**9, 10**12, 2 * 10**12, 2000.0, 5.0, 1e-8)
    assert fixed_cost_usd(c) == pytest.approx((1e5 * 1e9 + 1e12) * 2000 / 1e18)
    assert per_vault_fixed_usd(c) == pytest.approx((2e5 * 1e9 + 2e12) * 2000 / 1e18)
    x = 50_000.0
    want = per_vault_fixed_usd(c) + 5e-4 * x + 1e-8 * x * x
    assert float(marginal_cost_usd(c, -x)) == pytest.approx(want)
    assert fixed_cost_usd(NO_COSTS) == 0.0


def test_impact_coefficient_from_a_quote() -> None:
    # 1M USD trade; the quote returns 0.25% less than the oracle; 5 bps of that is the fee.
    k = impact_coef_from_quote(1e6, 1000.0, 997.5, 5.0)
    assert k == pytest.approx(0.002 / 1e6)
    assert impact_coef_from_quote(1e6, 1000.0, 1000.0, 5.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        impact_coef_from_quote(0.0, 1.0, 1.0, 5.0)


def test_l2_defaults_are_small_but_positive() -> None:
    c = l2_default_costs()
    assert 0 < fixed_cost_usd(c) + per_vault_fixed_usd(c) < 0.1  # cents, not dollars
    assert c.l1_fee_fixed_wei > 0
    assert c.l1_fee_per_vault_wei > 0


# ---------------------------------------------------------------- policies


def test_ww_band_matches_the_closed_form() -> None:
    s, gamma, gam, r, tau, dev = 2500.0, 0.004, 3e-4, 0.05, 0.25, 0.7
    state = replace(
        state_from_views([vault(dev=dev, gamma=gamma, spot=s, tau=tau)], MARKET), rate=r
    )
    lam = COSTS.pool_fee_bps / 1e4 + COSTS.impact_coef * dev * s
    want = (1.5 * math.exp(-r * tau) * lam * s * gamma**2 / gam) ** (1 / 3)
    h = WhalleyWilmottPolicy(risk_aversion=gam).half_width(state, COSTS)
    assert float(h[0]) == pytest.approx(want, rel=1e-12)
    ev = WhalleyWilmottPolicy(risk_aversion=gam).evaluate(state, COSTS)
    assert bool(ev.act[0]) == (dev > want)


def test_costaware_benefit_is_the_documented_formula() -> None:
    g, horizon, dev = 1e-3, 3600.0, 2.5
    v = vault(dev=dev, max_trade=WAD)  # the trade is capped at 1: residual 1.5
    state = state_from_views([v], MARKET)
    ev = CostAwarePolicy(risk_aversion=g, horizon=horizon).evaluate(state, COSTS)
    assert float(ev.trade[0]) == -1.0
    want = g * (dev**2 - 1.5**2) * (3000.0 * 0.8) ** 2 * horizon / YEAR_SECONDS
    assert float(ev.benefit_usd[0]) == pytest.approx(want, rel=1e-12)
    assert float(ev.cost_usd[0]) == pytest.approx(float(marginal_cost_usd(COSTS, 3000.0)))
    # auto horizon: the gamma regrowth time Δ²/(ΓSσ)², capped by τ; the trade stops at its
    # return point, inside the vault's band (0.1).
    auto = CostAwarePolicy(risk_aversion=g).evaluate(
        state_from_views([vault(dev=0.3)], MARKET), COSTS
    )
    q = float(auto.trade[0])
    assert -0.3 < q < 0.0
    assert abs(0.3 + q) <= 0.1
    h = min(0.3**2 / (0.002 * 3000 * 0.8) ** 2, 0.05)
    want = g * (0.09 - (0.3 + q) ** 2) * 2400.0**2 * h
    assert float(auto.benefit_usd[0]) == pytest.approx(want, rel=1e-12)


def test_time_policy_live_uses_interval_or_max_interval() -> None:
    views = [vault(elapsed=3599), vault(elapsed=3600), vault(elapsed=10, dev=0.0)]
    act = [d.act for d in plan(TimePolicy(every=4), views, MARKET, COSTS).decisions]
    assert act == [False, True, False]
    act = [d.act for d in plan(TimePolicy(interval=600), views, MARKET, COSTS).decisions]
    assert act == [True, True, False]


def test_band_and_volband_widths() -> None:
    views = [vault(dev=0.49), vault(dev=-0.51)]
    assert [d.act for d in plan(BandPolicy(0.05), views, MARKET, COSTS).decisions] == [False, True]
    hot = MarketView(MARKET.now, forecast_vol=1.6, reference_vol=0.8)  # band doubles
    assert [d.act for d in plan(VolBandPolicy(0.05), views, hot, COSTS).decisions] == [False, False]
    assert [d.act for d in plan(VolBandPolicy(0.025), views, hot, COSTS).decisions] == [False, True]


def test_plan_never_batches_a_vault_the_contract_would_refuse() -> None:
    views = [vault("0xA", dev=5.0, ready=False), vault("0xB", dev=5.0), vault("0xC", dev=0.01)]
    for policy in (BandPolicy(0.05), TimePolicy(interval=1), CostAwarePolicy(risk_aversion=1.0)):
        p = plan(policy, views, MARKET, COSTS)
        assert "0xA" not in p.batch
        assert "0xB" in p.batch
        assert [d.vault for d in p.decisions] == ["0xA", "0xB", "0xC"]
        assert "not ready" in p.decisions[0].reason
        assert p.decisions[0].trade == 0
    p = plan(BandPolicy(0.05), views, MARKET, COSTS)
    assert p.decisions[1].trade == -5 * WAD
    assert p.decisions[1].deviation == 5 * WAD


def test_costaware_batch_shares_the_fixed_cost() -> None:
    # fixed ≈ 6 USD; a lone vault is a batch of one here (no direct path)
    costs = replace(COSTS, gas_fixed=2_000_000, gas_price_wei=10**9, gas_direct=0)
    fixed = fixed_cost_usd(costs)
    policy = CostAwarePolicy(risk_aversion=2.56e-3, horizon=3600.0)
    one = vault("0x1", dev=2.0)
    ev = policy.evaluate(state_from_views([one], MARKET), costs)
    net = float(ev.benefit_usd[0] - ev.cost_usd[0])
    assert 0 < net < fixed < 3 * net  # alone it cannot pay the fixed cost; three together can
    assert plan(policy, [one], MARKET, costs).batch == ()
    skipped = plan(policy, [one], MARKET, costs).decisions[0]
    assert not skipped.act
    assert "fixed cost" in skipped.reason
    three = [vault(f"0x{i}", dev=2.0) for i in range(3)]
    p = plan(policy, [*three, vault("0xsmall", dev=0.001)], MARKET, costs)
    assert p.batch == ("0x0", "0x1", "0x2")
    assert p.fixed_cost_usd == pytest.approx(fixed)
    assert p.benefit_usd > p.fixed_cost_usd + p.marginal_cost_usd
    assert not p.decisions[3].act  # its benefit does not cover its own marginal cost


def test_rule_policies_are_not_cost_gated() -> None:
    costs = replace(COSTS, gas_fixed=10**9, gas_price_wei=10**9)  # absurd fixed cost
    p = plan(BandPolicy(0.05), [vault(dev=1.0)], MARKET, costs)
    assert p.batch == ("0x" + "11" * 20,)
    assert p.decisions[0].cost_usd > 0


def test_empty_plan() -> None:
    p = plan(BandPolicy(0.05), [], MARKET, COSTS)
    assert p.batch == ()
    assert p.decisions == ()


def test_vectorized_and_planner_decisions_agree() -> None:
    rng = np.random.default_rng(5)
    views = [vault(f"0x{i}", dev=float(d)) for i, d in enumerate(rng.normal(0, 1, 50))]
    policy = WhalleyWilmottPolicy(risk_aversion=1e-4)
    ev = policy.evaluate(state_from_views(views, MARKET), COSTS)
    p = plan(policy, views, MARKET, COSTS)
    assert [d.act for d in p.decisions] == ev.act.tolist()
    assert 0 < len(p.batch) < 50


# ---------------------------------------------------------------- properties

policies = st.one_of(
    st.builds(TimePolicy, every=st.integers(1, 10), interval=st.floats(1, 1e5)),
    st.builds(BandPolicy, width=st.floats(1e-4, 1.0)),
    st.builds(VolBandPolicy, width=st.floats(1e-4, 1.0), ref=st.floats(0.1, 2.0)),
    st.builds(WhalleyWilmottPolicy, risk_aversion=st.floats(1e-9, 10.0)),
    st.builds(
        CostAwarePolicy,
        risk_aversion=st.floats(1e-9, 10.0),
        horizon=st.one_of(st.none(), st.floats(1.0, 1e6)),
        cap=st.floats(60.0, 1e7),
    ),
)
cost_inputs = st.builds(
    CostInputs,
    gas_fixed=st.integers(0, 10**6),
    gas_per_vault=st.integers(0, 10**6),
    gas_price_wei=st.integers(0, 10**11),
    l1_fee_fixed_wei=st.integers(0, 10**15),
    l1_fee_per_vault_wei=st.integers(0, 10**15),
    eth_usd=st.floats(0.0, 1e4),
    pool_fee_bps=st.floats(0.0, 100.0),
    impact_coef=st.floats(0.0, 1e-5),
)


@settings(max_examples=300, deadline=None)
@given(
    policy=policies,
    costs=cost_inputs,
    small=st.floats(0.0, 50.0),
    extra=st.floats(0.0, 50.0),
    sign=st.sampled_from([1.0, -1.0]),
    gamma=st.floats(0.0, 0.1),
    spot=st.floats(1.0, 1e5),
    tau=st.floats(1e-4, 2.0),
    max_trade=st.integers(1, 200),
    elapsed=st.integers(0, 10**5),
)
def test_policies_are_monotone_in_deviation(
    policy: Policy,
    costs: CostInputs,
    small: float,
    extra: float,
    sign: float,
    gamma: float,
    spot: float,
    tau: float,
    max_trade: int,
    elapsed: int,
) -> None:
    kw = dict(gamma=gamma, spot=spot, tau=tau, max_trade=max_trade * WAD, elapsed=elapsed)
    lo = vault("0xlo", dev=sign * small, **kw)  # type: ignore[arg-type]
    hi = vault("0xhi", dev=sign * (small + extra), **kw)  # type: ignore[arg-type]
    for each in ([lo], [hi]):
        assert len(plan(policy, each, MARKET, costs).decisions) == 1
    act_lo = plan(policy, [lo], MARKET, costs).decisions[0].act
    act_hi = plan(policy, [hi], MARKET, costs).decisions[0].act
    assert not (act_lo and not act_hi)


@settings(max_examples=300, deadline=None)
@given(
    costs=cost_inputs,
    gamma_aversion=st.floats(1e-9, 10.0),
    horizon=st.one_of(st.none(), st.floats(1.0, 1e6)),
    devs=st.lists(st.floats(-30.0, 30.0), min_size=1, max_size=8),
    gamma=st.floats(0.0, 0.05),
)
def test_costaware_never_acts_when_cost_exceeds_benefit(
    costs: CostInputs,
    gamma_aversion: float,
    horizon: float | None,
    devs: list[float],
    gamma: float,
) -> None:
    policy = CostAwarePolicy(risk_aversion=gamma_aversion, horizon=horizon)
    views = [vault(f"0x{i}", dev=d, gamma=gamma) for i, d in enumerate(devs)]
    p = plan(policy, views, MARKET, costs)
    for d in p.decisions:
        if d.act:
            assert d.benefit_usd > d.cost_usd
    if p.batch:
        assert p.benefit_usd > p.fixed_cost_usd + p.marginal_cost_usd
    # The backtester's single-vault transaction carries the whole fixed cost.
    ev = policy.evaluate(state_from_views(views, MARKET), costs, fixed_cost_usd(costs))
    assert np.all(ev.benefit_usd[ev.act] > ev.cost_usd[ev.act])


# ---------------------------------------------------------------- how far: partial rebalances


def _obj(*xs: int) -> np.ndarray:
    out = np.empty(len(xs), dtype=object)
    out[:] = [int(x) for x in xs]
    return out


@settings(max_examples=300, deadline=None)
@given(
    dev=st.integers(-(10**24), 10**24),
    post=st.integers(-(10**24), 10**24),
    band=st.integers(0, 10**23),
    max_trade=st.integers(1, 10**24),
)
def test_executed_trade_keeps_the_contract_bounds(
    dev: int, post: int, band: int, max_trade: int
) -> None:
    q = int(executed_trade(_obj(dev), _obj(post), _obj(band), _obj(max_trade))[0])
    after = dev + q
    assert abs(after) <= abs(dev)  # never increases |deviation|
    assert after * dev >= 0  # never crosses the target
    assert abs(q) <= max_trade
    if abs(q) < max_trade:
        assert abs(after) <= band or abs(after) == abs(dev) <= band  # ends inside the band
    if post == 0 and abs(dev) <= max_trade:
        assert after == 0  # no choice given: to target, as today
    # The float version (the backtester's) is the same rule.
    f = executed_trade(
        np.array([dev / WAD]),
        np.array([post / WAD]),
        np.array([band / WAD]),
        np.array([max_trade / WAD]),
    )
    assert float(f[0]) == pytest.approx(q / WAD, rel=1e-9, abs=1e-12)


def test_executed_trade_examples() -> None:
    def t(dev: int, post: int, band: int = 10, max_trade: int = 100) -> int:
        return int(executed_trade(_obj(dev), _obj(post), _obj(band), _obj(max_trade))[0])

    assert t(30, 0) == -30  # to target
    assert t(30, 5) == -25  # to a keeper-chosen point inside the band
    assert t(30, 25) == -20  # a request outside the band ends at the band edge
    assert t(30, -5) == -30  # a request across the target stops at the target
    assert t(-30, -5) == 25
    assert t(8, 3) == -5  # time trigger inside the band: any point toward the target
    assert t(8, 9) == 0  # ... but never away from it
    assert t(300, 5) == -100  # capped at maxTrade: ends outside the band, carried over


@settings(max_examples=300, deadline=None)
@given(
    trade=st.integers(-(10**24), 10**24),
    price=st.integers(1, 10**14),
    free_quote=st.integers(0, 10**16),
    inventory=st.integers(0, 10**24),
)
def test_funded_trade_spends_no_more_than_the_vault_holds(
    trade: int, price: int, free_quote: int, inventory: int
) -> None:
    """``RebalanceRules.plan``: a buy spends min(floor(trade * price / 1e20), freeQuote) quote,
    a sell min(|trade|, inventory) underlying."""
    q = funded_trade(trade, price, free_quote, inventory)
    assert q * trade >= 0
    assert abs(q) <= abs(trade)
    if trade > 0:
        amount_in = min(trade * price // 10**20, free_quote)
        assert q == amount_in * 10**20 // price  # what amountIn buys at the oracle, floored
        assert q * price // 10**20 <= amount_in  # never more than the quote it can spend
        assert trade - q <= 10**20 // price + 1 or amount_in == free_quote
    else:
        assert q == -min(-trade, inventory)
    assert funded_trade(trade, price, None, None) == trade  # no limits: the trade itself


@settings(max_examples=400, deadline=None)
@given(
    dev=st.floats(-50.0, -1e-3),
    frac=st.floats(0.0, 2.0),
    band=st.floats(1e-3, 5.0),
    slip_bps=st.integers(1, 1000),
    price=st.integers(10**8, 10**13),
)
def test_a_compensated_buy_books_no_farther_out_than_its_point(
    dev: float, frac: float, band: float, slip_bps: int, price: int
) -> None:
    """Exact ints, as the contract books: request ``compensated_post``, plan it
    (``executed_trade``, ``funded_trade`` with free quote unbounded), receive the least the
    contract accepts (``minOut``); the booked end is within the point the contract would have
    planned to for the policy's request, ``w = min(|d|, band, request)``, and never past the
    target."""
    post = dev * frac  # the policy's point, on the deviation's side (may be past the band)
    rounding = 2.0 * 10**20 / 1e18 / price
    req = compensated_post(
        np.array([dev]),
        np.array([post]),
        np.array([band]),
        np.array([slip_bps / 1e4]),
        np.array([rounding]),
    )[0]
    assert req <= 0.0  # on the deviation's side, never past the target
    assert req >= dev or req == post  # nearer than |d|, or the request left alone
    d, b = round(dev * WAD), round(band * WAD)
    req_wad = post_deviation_wad(d, float(req))
    trade = executed_trade(
        np.array([d], dtype=object),
        np.array([req_wad], dtype=object),
        np.array([b], dtype=object),
        np.array([10**30], dtype=object),
    )[0]
    planned = funded_trade(int(trade), price, 10**40, None)
    amount_in = int(trade) * price // 10**20
    min_out = amount_in * (10_000 - slip_bps) * 10**20 // (price * 10_000)
    assert planned >= min_out
    end = d + min_out  # the worst booked end: the least the buy may receive
    w = min(-d, b, round(-post * WAD))
    assert end <= 0  # never past the target
    if w == 0 or req == 0.0:
        # to the target (asked, or the point is nearer the target than s of the trade can
        # reach): short of it by at most s of the trade
        assert -end <= -d * slip_bps // 10_000 + 10**20 // price + 2
    else:
        assert -end <= w + 2  # within the point (2 wei: the float conversions)


def test_compensated_post_leaves_sells_and_target_requests_alone() -> None:
    dev = np.array([2.0, -2.0, -2.0, -0.3])
    post = np.array([0.5, 0.0, -0.5, -0.5])
    out = compensated_post(dev, post, np.full(4, 0.5), np.full(4, 0.01), np.full(4, 1e-9))
    assert out[0] == 0.5  # a sell books exactly what it sold
    assert out[1] == 0.0  # to the target: it ends within s * |d| of it
    # a buy from -2 to the edge -0.5: plans 1.5 / 0.99 = 1.51515..., less the rounding
    assert out[2] == pytest.approx(-(2.0 - 1.5 / 0.99 - 1e-9), abs=1e-12)
    # |d| 0.3 under the 0.5 request: w = |d|, no trade asked, and none made up
    assert out[3] == -0.5


def test_funded_trade_examples() -> None:
    price = 3000 * 10**8
    assert funded_trade(5 * WAD, price, 10**12, 0) == 5 * WAD  # USD 15,000 of USD 1M free
    assert funded_trade(5 * WAD, price, 3000 * 10**6, 0) == WAD  # USD 3,000 free: 1 ETH
    assert funded_trade(5 * WAD, price, 0, 10 * WAD) == 0
    assert funded_trade(5 * WAD, 0, 10**12, 0) == 0  # no price: the contract buys nothing
    assert funded_trade(-5 * WAD, price, 0, WAD // 100) == -(WAD // 100)
    assert funded_trade(-5 * WAD, price, 0, 10 * WAD) == -5 * WAD


def test_the_planner_prices_the_trade_the_vault_can_pay_for() -> None:
    """A vault short 1 ETH of delta with USD 300 of free quote buys 0.1 ETH: its benefit and cost
    are those of 0.1 ETH, and so is its decision's trade."""
    capped = replace(vault(dev=-1.0), free_quote=300 * 10**6, oracle_price=3000 * 10**8)
    policy = CostAwarePolicy(risk_aversion=1.0)
    [d] = plan(policy, [capped], MARKET, NO_COSTS).decisions
    assert d.act
    assert d.trade == WAD // 10
    ev = policy.evaluate(state_from_views([capped], MARKET), NO_COSTS, trade=np.array([0.1]))
    assert d.benefit_usd == float(ev.benefit_usd[0])
    [full] = plan(policy, [vault(dev=-1.0)], MARKET, NO_COSTS).decisions
    assert full.benefit_usd > d.benefit_usd


def test_post_deviation_rounds_toward_the_target() -> None:
    assert post_deviation_wad(5 * WAD, 0.1) == 100000000000000005  # 0.1's exact binary value
    assert post_deviation_wad(-5 * WAD, 0.1) == 0  # across the target: the target, as on chain
    assert post_deviation_wad(-5 * WAD, -0.1) == -100000000000000005
    assert post_deviation_wad(0, 0.3) == 0
    assert post_deviation_wad(WAD, math.inf) == 0


def test_a_request_past_the_deviation_is_the_deviation_and_never_overflows() -> None:
    # The contract keeps at most |d| of a deviation: a request past it is |d| (no trade). A
    # return point of 1e61 underlying (bandedge:width=1e60, ww:risk_aversion=1e-200: a huge
    # no-trade half-width) became a wad past int256 and plan() raised ValueError for the cycle.
    assert post_deviation_wad(5 * WAD, 1e70) == 5 * WAD
    assert post_deviation_wad(-5 * WAD, -1e300) == -5 * WAD
    assert post_deviation_wad(5 * WAD, 5.5) == 5 * WAD
    assert post_deviation_wad(5 * WAD, 4.5) == 45 * WAD // 10  # below |d|: exact, as before
    for spec in ("bandedge:width=1e60", "ww:risk_aversion=1e-200"):
        decisions = plan(parse_policy(spec), [vault(dev=5.0), vault(dev=-5.0)], MARKET, COSTS)
        for d in decisions.decisions:
            assert not d.act
            assert "inside band" in d.reason


def test_return_fraction_limits() -> None:
    x = return_fraction(np.array([0.0, 1e-9, 1e-3, 0.1, 1.0, 1e3, np.inf]))
    assert x[0] == 1.0  # proportional costs only: the band edge
    assert x[-1] == 0.0  # fixed cost only: the target
    assert np.all(np.diff(x) <= 0.0)
    assert 1.0 - x[2] == pytest.approx(1e-3 ** (1 / 3), rel=0.1)  # 1 − x ≈ φ^{1/3}
    assert x[5] == pytest.approx(1 / 2e3, rel=0.05)  # x ≈ 1/(2φ)


def test_band_and_time_trade_to_target_ww_and_costaware_to_their_return_point() -> None:
    views = [vault(dev=0.5, contracts=1.0)]
    state = state_from_views(views, MARKET)
    for policy in (BandPolicy(0.05), TimePolicy(interval=1)):
        (d,) = plan(policy, views, MARKET, COSTS).decisions
        assert d.act
        assert d.trade == -views[0].net_delta
        assert d.post_deviation == 0
    ww = WhalleyWilmottPolicy(risk_aversion=2e-2)
    h = float(ww.half_width(state, COSTS)[0])
    assert h < 0.1  # its band is inside the vault's
    (d,) = plan(ww, views, MARKET, COSTS).decisions
    assert d.act
    post = d.deviation + d.trade
    assert post == d.post_deviation
    assert 0 < post <= round(h * WAD)  # stops at its return point, inside its band
    # No fixed cost at all: exactly the Whalley–Wilmott edge.
    free = replace(
        COSTS, gas_fixed=0, gas_per_vault=0, gas_swap=0, l1_fee_fixed_wei=0, l1_fee_per_vault_wei=0
    )
    p = ww.post_deviation(state, free)
    assert p is not None
    assert float(p[0]) == pytest.approx(float(ww.half_width(state, free)[0]), rel=1e-12)
    # A dominant fixed cost: nearly to target.
    dear = replace(COSTS, gas_per_vault=10**12, gas_price_wei=10**9)
    p = ww.post_deviation(state, dear)
    assert p is not None
    assert 0 <= float(p[0]) < 1e-3 * h


def test_a_lone_vault_returns_to_the_point_the_backtester_validated() -> None:
    # The backtester prices a rebalance's return point with a lone vault's fixed cost; live, the
    # planner priced it with none, so a vault alone traded less each time, and more often, than
    # the rule the frontier measured. With k vaults ready the share is the batch's, split k ways.
    from keeper.strategy.costs import fixed_cost_usd, lone_share_usd
    from keeper.strategy.rebalance_rule import post_deviation_wad

    for policy in (CostAwarePolicy(risk_aversion=1e-2), WhalleyWilmottPolicy(risk_aversion=2e-2)):
        views = [vault(dev=0.5, contracts=1.0)]  # a sell: no slippage compensation
        state = state_from_views(views, MARKET)
        (d,) = plan(policy, views, MARKET, COSTS).decisions
        assert d.act
        p = policy.post_deviation(state, COSTS, lone_share_usd(COSTS))
        assert p is not None
        assert d.post_deviation == post_deviation_wad(
            views[0].net_delta - views[0].target_delta, float(p[0])
        )
        three = [vault(f"0x{i}", dev=0.5, contracts=1.0) for i in range(3)]
        shared = (fixed_cost_usd(COSTS) + swap_usd(COSTS)) / 3
        p3 = policy.post_deviation(state_from_views(three, MARKET), COSTS, shared)
        assert p3 is not None
        for d3 in plan(policy, three, MARKET, COSTS).decisions:
            assert d3.post_deviation == post_deviation_wad(
                views[0].net_delta - views[0].target_delta, float(p3[0])
            )


def test_bandedge_acts_like_band_and_returns_like_costaware() -> None:
    from keeper.strategy.policies import BandEdgePolicy, return_point

    views = [vault(dev=0.5, contracts=1.0)]
    state = state_from_views(views, MARKET)
    edge = BandEdgePolicy(0.05)
    # the same trigger as band, at 0.05 underlying: acts outside it, holds inside it
    (inside,) = plan(edge, [vault(dev=0.04, contracts=1.0)], MARKET, COSTS).decisions
    assert not inside.act
    (d,) = plan(edge, views, MARKET, COSTS).decisions
    assert d.act
    post = d.deviation + d.trade
    assert post == d.post_deviation
    assert 0 < post <= round(0.05 * WAD)  # stops inside its band, short of the target
    p = edge.post_deviation(state, COSTS)
    expected = return_point(state, COSTS, np.full(1, 0.05), 0.0)
    assert float(p[0]) == pytest.approx(float(expected[0]), rel=1e-12)
    assert parse_policy("bandedge:width=0.05") == edge


def test_the_costaware_reason_compares_benefit_with_cost_not_a_threshold() -> None:
    # Its rule's threshold is the cost in USD: printed as "threshold" beside |dev| it read as a
    # band that the keeper acted inside of and skipped outside of.
    policy = CostAwarePolicy(risk_aversion=1e-4)
    views = [vault("0xa", dev=5.0), vault("0xb", dev=0.01)]
    for d in plan(policy, views, MARKET, COSTS).decisions:
        assert "threshold" not in d.reason
        assert f"benefit {d.benefit_usd:.4g} USD vs marginal cost {d.cost_usd:.4g} USD" in d.reason
        assert d.reason.startswith("costaware: risk reduction ")
    # The band's threshold is a deviation: it keeps its name beside |dev|.
    (d,) = plan(BandPolicy(0.05), [vault(dev=5.0, contracts=10.0)], MARKET, COSTS).decisions
    assert "|dev| 5, threshold 0.5, " in d.reason


def test_the_time_reason_names_the_interval_and_the_time_elapsed() -> None:
    # The time rule compares the time since the last rebalance with an interval: printed as
    # "threshold" beside |dev| it read as a deviation band of 600 or 3,600.
    views = [vault("0xa", elapsed=700), vault("0xb", elapsed=100)]
    due, early = plan(TimePolicy(interval=600), views, MARKET, COSTS).decisions
    assert due.act
    assert not early.act
    for d in (due, early):
        assert "threshold" not in d.reason
    assert due.reason.startswith("time: time interval reached (elapsed 700 s of 600 s, |dev| 1, ")
    assert early.reason.startswith("time: time interval not reached (elapsed 100 s of 600 s, ")
    # No interval given: the vault's own maximum interval.
    (d,) = plan(TimePolicy(every=4), [vault(elapsed=3599)], MARKET, COSTS).decisions
    assert "(elapsed 3599 s of 3600 s, " in d.reason


def test_a_deviation_exactly_on_the_band_edge_does_not_act() -> None:
    # The contract's trigger is a strict `>`; the off-chain band rule matches it.
    on_edge = vault(dev=0.5, contracts=10.0)  # band:width=0.05 of 10 contracts = 0.5 exactly
    assert 0.05 * 10.0 == 0.5
    (d,) = plan(BandPolicy(0.05), [on_edge], MARKET, COSTS).decisions
    assert not d.act
    assert "inside band" in d.reason
    (d,) = plan(BandPolicy(0.05), [vault(dev=0.5 + 1e-15, contracts=10.0)], MARKET, COSTS).decisions
    assert d.act
    state = state_from_views([on_edge], MARKET)
    assert float(state.deviation[0]) == 0.5
    assert not bool(BandPolicy(0.05).evaluate(state, COSTS).act[0])


def test_batch_cost_is_one_swap_on_the_net() -> None:
    c = replace(COSTS, gas_direct=0)  # one vault as a batch of one
    one = batch_cost_usd(c, [3000.0])
    assert one == pytest.approx(
        fixed_cost_usd(c)
        + per_vault_fixed_usd(c)
        + swap_usd(c)
        + float(marginal_cost_usd(c, 3000.0))
        - per_vault_fixed_usd(c)
    )
    crossed = batch_cost_usd(c, [3000.0, -3000.0])  # fully crossed: no swap, no fee, no impact
    assert crossed == pytest.approx(fixed_cost_usd(c) + 2 * per_vault_fixed_usd(c))
    partly = batch_cost_usd(c, [3000.0, -1000.0])
    assert partly == pytest.approx(
        fixed_cost_usd(c)
        + 2 * per_vault_fixed_usd(c)
        + swap_usd(c)
        + float(proportional_rate(c, 2000.0)) * 2000.0
    )
    assert batch_cost_usd(c, []) == 0.0


def test_costaware_keeps_a_vault_whose_trade_crosses_another() -> None:
    policy = CostAwarePolicy(risk_aversion=1e-3, horizon=3600.0)
    costs = COSTS
    # Two that each pay alone, opposite: both stay, and the batch costs less than apart.
    a, b = vault("0xa", dev=3.0), vault("0xb", dev=-3.0)
    p = plan(policy, [a, b], MARKET, costs)
    assert p.batch == ("0xa", "0xb")
    apart = sum(batch_cost_usd(costs, [wad_to_float(d.trade) * 3000.0]) for d in p.decisions)
    assert p.fixed_cost_usd + p.marginal_cost_usd < apart


def test_a_large_fixed_l1_fee_reaches_the_live_plan() -> None:
    # Through the runner's own cost inputs (keeper.app.market.batch_costs), not a hand-built
    # CostInputs: an L1 fee dropped on the way would leave both plans equal.
    from keeper.app.cycle import run_cycle
    from tests.unit.test_app_cycle import BATCHER, make_keeper, snap

    class L1:
        name = "op"

        def __init__(self, wei: int) -> None:
            self.wei = wei

        def fee(self, signed: bytes, to: str, data: bytes) -> int:
            return self.wei  # the same for one and two vaults: all of it is the fixed part

    def planned(l1_wei: int) -> tuple[str, ...]:
        k = make_keeper([snap(0, -WAD // 2)], batcher=BATCHER, l1fee=L1(l1_wei), chain_id=10)
        # The batch's fee, so no direct path (tests/unit/test_app_costs.py covers that fee).
        k.config = k.config.model_copy(update={"direct_single": False})
        k.policy = CostAwarePolicy(risk_aversion=1e-3)
        result = run_cycle(k)
        assert k.l1_estimate is not None
        assert k.l1_estimate[1] == (l1_wei, 0, l1_wei)
        return result.planned

    assert planned(0) != ()
    assert planned(10**18) == ()  # 1 ETH of L1 fee (3000 USD): the batch no longer pays


def test_a_lone_vault_sent_to_itself_is_priced_as_its_own_transaction() -> None:
    # The keeper sends a one-vault plan to the vault itself (KEEPER_DIRECT_SINGLE); the cost
    # model must price that transaction, not a batch of one.
    from keeper.strategy.costs import single_fixed_usd, wei_to_usd

    c = replace(COSTS, gas_direct=200_000, l1_fee_direct_wei=7 * 10**12)
    direct = wei_to_usd(200_000 * c.gas_price_wei + 7 * 10**12, c.eth_usd)
    assert single_fixed_usd(c) == direct
    assert batch_cost_usd(c, [3000.0]) == pytest.approx(
        direct + float(proportional_rate(c, 3000.0)) * 3000.0
    )
    # Two or more vaults are a batch, as before; without gas_direct one vault is a batch of one.
    batch_only = replace(c, gas_direct=0)
    assert batch_cost_usd(c, [3000.0, -1000.0]) == batch_cost_usd(batch_only, [3000.0, -1000.0])
    assert single_fixed_usd(batch_only) == pytest.approx(
        fixed_cost_usd(c) + swap_usd(c) + per_vault_fixed_usd(c)
    )


def test_costaware_weighs_the_direct_path_when_dropping_to_one_vault() -> None:
    from keeper.strategy.planner import _select

    c = replace(COSTS, l1_fee_fixed_wei=0, l1_fee_per_vault_wei=0, pool_fee_bps=0.0)
    c = replace(c, impact_coef=0.0, gas_fixed=30_000, gas_per_vault=119_000, gas_swap=106_000)
    c = replace(c, gas_direct=0)  # first without the direct path: a lone vault is a batch of one
    gas_usd = c.gas_price_wei * c.eth_usd / 1e18  # one gas, USD
    x = np.array([3000.0, 3000.0])
    # B's benefit is worth 140k gas: more than its 119k in a batch, so a batch of two keeps it;
    # but A alone, sent to itself at 216k gas, saves 255k + 119k - 216k = 158k gas > 140k.
    b = np.array([1.0, 140_000 * gas_usd])
    assert _select(b, x, c).tolist() == [True, True]
    direct = replace(c, gas_direct=216_000)
    assert _select(b, x, direct).tolist() == [True, False]
    # A lone vault whose benefit lies between its direct cost and a batch of one's is sent.
    lone = np.array([230_000 * gas_usd])
    assert _select(lone, x[:1], direct).tolist() == [True]
    assert _select(lone, x[:1], c).tolist() == [False]  # a batch of one costs 255k: not sent


# ---------------------------------------------------------------- pools


def test_batch_cost_prices_each_pool_on_its_own_net() -> None:
    """``RebalanceBatcher`` crosses legs only within a pool and swaps each pool's net alone."""
    c = replace(COSTS, gas_direct=0)
    fixed, per, swap = fixed_cost_usd(c), per_vault_fixed_usd(c), swap_usd(c)

    def pool_cost(net: float) -> float:
        return swap + float(proportional_rate(c, net)) * abs(net)

    # One pool, whatever its key: the one-swap price.
    assert batch_cost_usd(c, [3000.0, -1000.0], [7, 7]) == batch_cost_usd(c, [3000.0, -1000.0])
    assert batch_cost_usd(COSTS, [3000.0], [5]) == batch_cost_usd(COSTS, [3000.0])  # direct
    # Opposite trades in two pools cross nothing: two swaps, each on its own leg.
    apart = batch_cost_usd(c, [3000.0, -3000.0], [0, 1])
    assert apart == pytest.approx(fixed + 2 * per + pool_cost(3000.0) + pool_cost(-3000.0))
    assert apart > batch_cost_usd(c, [3000.0, -3000.0])
    mixed = batch_cost_usd(c, [3000.0, -1000.0, 500.0], [0, 0, 1])
    assert mixed == pytest.approx(fixed + 3 * per + pool_cost(2000.0) + pool_cost(500.0))
    # A pool whose legs cross exactly swaps nothing and pays no swap gas.
    assert batch_cost_usd(c, [3000.0, -3000.0, 500.0], [0, 0, 1]) == pytest.approx(
        fixed + 3 * per + pool_cost(500.0)
    )


def test_pools_on_one_venue_add_their_impacts_before_squaring() -> None:
    """Two pools on one venue (vaults on one Uniswap pool with different oracle answers) swap in a
    row on it: the second starts where the first moved the price. Under the linear impact model
    the pair pays ``impact_coef · (net_1 + net_2)²``, not the sum of squares; fees and swap gas
    stay per swap."""
    c = replace(COSTS, gas_direct=0)
    fixed, per, swap = fixed_cost_usd(c), per_vault_fixed_usd(c), swap_usd(c)
    fee, k = c.pool_fee_bps / 1e4, c.impact_coef
    assert k > 0.0
    # Same side: the impacts compound.
    same = batch_cost_usd(c, [3000.0, 1000.0], [0, 1], [9, 9])
    assert same == pytest.approx(fixed + 2 * per + 2 * swap + fee * 4000.0 + k * 4000.0**2)
    # Opposite sides: the second swap undoes part of the first's move.
    opposite = batch_cost_usd(c, [3000.0, -1000.0], [0, 1], [9, 9])
    assert opposite == pytest.approx(fixed + 2 * per + 2 * swap + fee * 4000.0 + k * 2000.0**2)
    # On two venues, or with no venue given, each pool is its own.
    apart = batch_cost_usd(c, [3000.0, 1000.0], [0, 1])
    assert batch_cost_usd(c, [3000.0, 1000.0], [0, 1], [1, 2]) == apart
    assert apart == pytest.approx(
        fixed + 2 * per + 2 * swap + fee * 4000.0 + k * (3000.0**2 + 1000.0**2)
    )
    # Within one pool nothing changes: the legs cross, one swap on the net.
    assert batch_cost_usd(c, [3000.0, 1000.0], [4, 4], [9, 9]) == batch_cost_usd(
        c, [3000.0, 1000.0]
    )


def test_costaware_prices_two_pools_on_one_venue_as_swaps_in_a_row() -> None:
    """Each pool pays for itself, and on two venues the union is worth more than either; on one
    venue their impacts compound, the union is worth less than the best pool alone, and only the
    best pool is sent (the other waits for a later block)."""
    c = replace(COSTS, gas_direct=0, impact_coef=1e-8)  # 5x the default: a thin pool
    policy = CostAwarePolicy(risk_aversion=1e-3, horizon=3600.0)
    a, b = vault("0xa", dev=3.0), replace(vault("0xb", dev=3.2), pool=1)
    alone = [plan(policy, [v], MARKET, c) for v in (a, b)]
    values = [p.benefit_usd - p.fixed_cost_usd - p.marginal_cost_usd for p in alone]
    assert min(values) > 0.0
    apart = plan(policy, [replace(a, venue=0), replace(b, venue=1)], MARKET, c)
    assert apart.batch == ("0xa", "0xb")
    assert apart.benefit_usd - apart.fixed_cost_usd - apart.marginal_cost_usd > max(values)
    one = plan(policy, [replace(a, venue=5), replace(b, venue=5)], MARKET, c)
    notional = [wad_to_float(p.decisions[0].trade) * 3000.0 for p in alone]
    union = sum(p.benefit_usd for p in alone) - batch_cost_usd(c, notional, [0, 1], [5, 5])
    assert union < max(values)
    best = "0xa" if values[0] > values[1] else "0xb"
    assert one.batch == (best,)
    other = next(d for d in one.decisions if d.vault != best)
    assert not other.act
    assert "across pools" in other.reason
    # The plan's cost is the batch's as it executes: its one pool, one swap.
    kept = next(p for p in alone if p.batch == (best,))
    assert one.fixed_cost_usd + one.marginal_cost_usd == pytest.approx(
        kept.fixed_cost_usd + kept.marginal_cost_usd
    )


def test_costaware_selects_each_pool_and_prices_the_union_as_it_executes() -> None:
    policy = CostAwarePolicy(risk_aversion=1e-3, horizon=3600.0)
    a, b = vault("0xa", dev=3.0), vault("0xb", dev=-3.0)
    one = plan(policy, [a, b], MARKET, COSTS)
    two = plan(policy, [a, replace(b, pool=1)], MARKET, COSTS)
    assert two.batch == one.batch == ("0xa", "0xb")  # each pays alone
    notional = [wad_to_float(d.trade) * 3000.0 for d in two.decisions]
    assert two.fixed_cost_usd == fixed_cost_usd(COSTS)
    assert two.fixed_cost_usd + two.marginal_cost_usd == batch_cost_usd(COSTS, notional, [0, 1])
    # Their trades no longer cross: the union costs more than the one pool.
    assert two.marginal_cost_usd > one.marginal_cost_usd


def test_costaware_sends_only_the_best_pool_when_the_union_is_worth_nothing() -> None:
    """Each lone vault pays for its own (direct) transaction, but together in one batch, each in
    its own pool, they pay the batch's fixed cost, two vaults' gas and two swaps: more than both
    benefits. Only the pool worth more is sent."""
    c = replace(
        COSTS,
        gas_fixed=30_000,
        gas_per_vault=150_000,
        gas_swap=150_000,
        gas_direct=160_000,
        gas_price_wei=10**9,
        l1_fee_fixed_wei=0,
        l1_fee_per_vault_wei=0,
        l1_fee_direct_wei=0,
        pool_fee_bps=0.0,
        impact_coef=0.0,
    )
    policy = CostAwarePolicy(risk_aversion=1e-3, horizon=3600.0)
    a, b = vault("0xa", dev=1.0), replace(vault("0xb", dev=1.2), pool=1)
    alone = [plan(policy, [v], MARKET, c) for v in (a, b)]
    assert all(p.benefit_usd > p.fixed_cost_usd + p.marginal_cost_usd for p in alone)
    both = [wad_to_float(p.decisions[0].trade) * 3000.0 for p in alone]
    union = sum(p.benefit_usd for p in alone) - batch_cost_usd(c, both, [0, 1])
    assert union < 0.0
    p = plan(policy, [a, b], MARKET, c)
    assert p.batch == ("0xb",)
    assert p.benefit_usd > p.fixed_cost_usd + p.marginal_cost_usd
    assert "across pools" in p.decisions[0].reason
    assert p.decisions[0].benefit_usd == alone[0].benefit_usd


def test_a_vaults_pool_is_its_venue_and_oracle_price_across_lens_chunks() -> None:
    """``RebalanceBatcher._join``'s pool: same venue (one token pair) and oracle price. The same
    venue read in two lens chunks has two entries, but one pool."""
    from keeper.chain.lens import (
        OracleState,
        VaultSnapshot,
        VaultThresholds,
        encode_lean_answer,
        lean_snapshot,
    )
    from keeper.pricing.book import book_of

    now = MARKET.now

    def snap(tag: str, price: int) -> VaultSnapshot:
        return VaultSnapshot(
            vault="0x" + tag * 20,
            oracle=OracleState(1, price, now - 5, 8, False, 0),
            net_delta=0,
            inventory=WAD,
            thresholds=VaultThresholds(0, WAD // 2, 60, 86_400, 100 * WAD, 50, 100, 3600, 600),
            last_rebalance=now - 100,
            pool_price=price,
            volatility=8 * 10**17,
            total_assets=0,
            total_supply=0,
            free_quote=123 * 10**6,
            paused=False,
            trigger_ready=False,
            trigger=0,
            series=(),
        )

    venue_a, venue_b = "0x" + "a1" * 20, "0x" + "b1" * 20
    price = 3000 * 10**8
    chunks = [
        ([snap("01", price), snap("02", price)], [venue_a, venue_b]),
        ([snap("03", price), snap("04", price + 1)], [venue_a, venue_a]),
    ]
    answers = [encode_lean_answer(s, 1, now, venues=v) for s, v in chunks]
    book = book_of(lean_snapshot([x.vault for s, _ in chunks for x in s], answers))
    views = book.views()
    assert [v.pool for v in views] == [0, 1, 0, 2]
    # Pools 0 and 2 swap on one venue (the cost model compounds their impacts).
    assert [v.venue for v in views] == [0, 1, 0, 0]
    assert [v.free_quote for v in views] == [123 * 10**6] * 4
    assert [v.inventory for v in views] == [WAD] * 4
    assert [v.oracle_price for v in views] == [price, price, price, price + 1]


@pytest.mark.parametrize("gamma0", [0.0, 1e-200])
def test_a_frontier_sweep_at_zero_gamma_still_gives_policies_that_parse(gamma0: float) -> None:
    # At-the-money with --vol 0 (or deep out of the money) the position gamma at t0 is 0 or
    # squares below the smallest float: Γ₀² must stay above 0 (SweepGrid.gamma_sq), else the
    # swept ww and costaware risk aversions are 0, a spec parse_policy refuses.
    assert SweepGrid(10, 100.0, 3000.0, gamma0, WIDTHS).gamma_sq > 0.0
    for pol in sweep_policies(10, 100.0, 3000.0, gamma0, COSTS, ("ww", "costaware")):
        assert pol.param > 0.0
        assert parse_policy(pol.spec).spec == pol.spec


def test_a_swept_policys_spec_parses_back_to_the_same_policy() -> None:
    # The frontier's JSON and table name each swept point by its spec; run with --policy, that
    # spec must be the same policy (Policy.spec round-trips), not one rounded to 6 digits.
    gamma0 = 20.0 * 0.00081234567
    swept = sweep_policies(720, 20.0, 3000.0, gamma0, COSTS)
    swept += [TimePolicy(interval=1_234_567.0), CostAwarePolicy(risk_aversion=1.2345678e-4)]
    for pol in swept:
        assert parse_policy(pol.spec) == pol, pol.spec
    # Short values keep their short form.
    assert CostAwarePolicy(risk_aversion=1e-4).spec == "costaware:risk_aversion=0.0001,cap=604800"
    assert TimePolicy(every=4).spec == "time:every=4"
