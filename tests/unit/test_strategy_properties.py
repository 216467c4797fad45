"""Property tests of the decision side against the contract's rules (hypothesis).

* How far: the planner's float → Wad step takes a request as the contract does, and a buy's
  slippage-compensated request books an end inside the vault's band even for deviations worth
  billions (the float error of the compensation's arithmetic included).
* Bad inputs: a vault whose oracle price the contract refuses never acts.
* The plan keeps the contract's rule (``RebalanceRules.plan``) for any vaults and costs; a lone
  vault decides live as the backtester decides (issue 11 part B); a fee spike never adds a vault
  to the cost-gated batch; Black–Scholes Greeks stay finite at the extremes.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keeper.pricing.black_scholes import capped_greeks, vanilla_delta, vanilla_greeks
from keeper.strategy import CostAwarePolicy, HedgeState, VaultView, parse_policy, plan
from keeper.strategy.costs import lone_share_usd
from keeper.strategy.planner import state_from_views
from keeper.strategy.policies import risk_benefit_usd
from keeper.strategy.rebalance_rule import (
    compensated_post,
    executable,
    executed_trade,
    funded_trade,
    post_deviation_wad,
)
from keeper.units import Wad
from tests.unit.test_strategy import COSTS, MARKET, vault

WAD = 10**18
BPS = 10_000
E20 = 10**20


def _obj(*xs: int) -> np.ndarray:
    out = np.empty(len(xs), dtype=object)
    out[:] = [int(x) for x in xs]
    return out


def _int_trade(dev: int, post: int, band: int, max_trade: int) -> int:
    return int(executed_trade(_obj(dev), _obj(post), _obj(band), _obj(max_trade))[0])


# ---------------------------------------------------------------- float → Wad: the request


@settings(max_examples=300, deadline=None)
@given(
    dev=st.integers(-(10**24), 10**24).filter(bool),
    post=st.floats(-1e7, 1e7, allow_nan=False),
    band=st.integers(10**12, 10**24),
)
@example(dev=5 * WAD, post=-1.0, band=10 * WAD)
@example(dev=-5 * WAD, post=2.0, band=10 * WAD)
def test_the_wad_request_is_taken_as_the_contract_takes_the_float_one(
    dev: int, post: float, band: int
) -> None:
    """The live planner (``post_deviation_wad``, then ``executed_trade`` on Wads) and the
    backtester (``executed_trade`` on the float request) end at the same point, up to the
    float's rounding: a request across the target is the target in both, as ``tradeSize`` has
    it, not the same distance on the deviation's side."""
    live = dev + _int_trade(dev, post_deviation_wad(dev, post), band, 10**30)
    f = executed_trade(
        np.array([dev / WAD]), np.array([post]), np.array([band / WAD]), np.array([np.inf])
    )
    backtest = dev / WAD + float(f[0])
    assert abs(live / WAD - backtest) <= 1e-12 * max(abs(dev) / WAD, 1.0)
    if post * dev <= 0:  # across the target, or no request: to the target
        assert live == 0


# ---------------------------------------------------------------- a buy's booked end


@settings(max_examples=400, deadline=None)
@given(
    dev=st.integers(-(10**24), -(10**16)),
    band_frac=st.floats(0.001, 0.999),
    slip_bps=st.integers(1, 1000),
    price=st.integers(10**8, 10**16),
)
@example(dev=-499_999_999_999_999_854_480_848, band_frac=0.25, slip_bps=1, price=2_686_965_238_432)
def test_a_compensated_buy_to_the_band_edge_books_an_end_inside_the_band(
    dev: int, band_frac: float, slip_bps: int, price: int
) -> None:
    """A buy asked to the band edge (the policy's point clamped there), compensated by the
    vault's slippage bound, books at least ``minOut``; its end is inside the band whatever the
    size (the contract allows a band and a deviation up to a million units): the float error of
    ``compensated_post``'s arithmetic on ``|d|`` is allowed for, as the quote rounding is.
    (Where ``s·|d|`` reaches the band no request is safe: the case is left out.)"""
    band = max(10**15, int(-dev * band_frac))
    rounding = 2.0 * E20 / WAD / price
    if slip_bps * -dev >= 0.99 * band * BPS - 4 * rounding * WAD * BPS:
        return  # s·|d| at the band: even a buy to the target may end outside it
    req = compensated_post(
        np.array([dev / WAD]),
        np.array([-band / WAD]),
        np.array([band / WAD]),
        np.array([slip_bps / BPS]),
        np.array([rounding]),
    )[0]
    trade = _int_trade(dev, post_deviation_wad(dev, float(req)), band, 10**30)
    amount_in = trade * price // E20
    assert funded_trade(trade, price, 10**60, None) == amount_in * E20 // price
    min_out = amount_in * (BPS - slip_bps) * E20 // (price * BPS)
    end = dev + min_out  # the least the buy may book
    assert -band <= end <= 0


# ---------------------------------------------------------------- inputs the contract refuses


@pytest.mark.parametrize("spot", [0.0, -1.0, math.nan])
@pytest.mark.parametrize(
    "spec",
    ["time:interval=60", "band:width=0.05", "ww:risk_aversion=0.02", "costaware:risk_aversion=1"],
)
def test_a_vault_without_a_valid_oracle_price_never_acts(spot: float, spec: str) -> None:
    """``RebalanceRules.oracleStatus`` refuses an answer <= 0 (and the lens reads no other kind of
    bad one), so a view flagged ready with such a price (hand-built, or a bug upstream) must not
    be planned as a trade priced at 0 USD: it holds (the contract is not ready), and the plan
    stays finite."""
    bad = replace(vault("0xbad", dev=-5.0), spot=spot)
    good = vault("0x900d", dev=-5.0)
    p = plan(parse_policy(spec), [bad, good], MARKET, COSTS)
    d_bad, d_good = p.decisions
    assert not d_bad.act
    assert d_bad.trade == 0
    assert d_good.act
    assert p.batch == ("0x900d",)
    assert math.isfinite(p.marginal_cost_usd)
    assert math.isfinite(p.benefit_usd)


# ---------------------------------------------------------------- the plan keeps the rule

SPECS = [
    "time:interval=60",
    "band:width=0.05",
    "volband:width=0.05",
    "bandedge:width=0.05",
    "ww:risk_aversion=0.02",
    "costaware:risk_aversion=1e-3",
    "costaware:risk_aversion=1e-5",
]


def _view(
    i: int,
    dev: int,
    band: int,
    max_trade: int,
    price: int,
    gamma: float,
    ready: bool,
    free: int | None,
    inventory: int | None,
    slip: int,
    pool: int,
) -> VaultView:
    return VaultView(
        vault=f"0x{i:040x}",
        net_delta=Wad(dev),
        target_delta=Wad(0),
        band=Wad(band),
        max_trade=Wad(max_trade),
        last_rebalance=MARKET.now - 600,
        min_interval=60,
        max_interval=3600,
        spot=price / 1e8,
        gamma=gamma,
        vol=0.8,
        contracts=10.0,
        trigger_ready=ready,
        time_to_expiry=0.05,
        free_quote=free,
        inventory=inventory,
        oracle_price=price,
        max_slippage_bps=slip,
        pool=pool,
    )


VIEWS = st.builds(
    _view,
    st.integers(0, 10**6),
    st.integers(-(10**24), 10**24),
    st.integers(10**12, 10**24),
    st.integers(10**12, 10**24),
    st.integers(1, 10**16),
    st.floats(0.0, 10.0),
    st.booleans(),
    st.none() | st.integers(-(10**6), 10**16),
    st.none() | st.integers(-(10**18), 10**25),
    st.integers(0, 1000),
    st.integers(0, 2),
)


@settings(max_examples=200, deadline=None)
@given(
    views=st.lists(VIEWS, min_size=1, max_size=5, unique_by=lambda v: v.vault),
    spec=st.sampled_from(SPECS),
    gas_price=st.integers(0, 10**12),
    l1_fixed=st.integers(0, 10**17),
    vol=st.floats(0.0, 50.0),
)
def test_every_planned_trade_is_one_the_contract_executes(
    views: list[VaultView], spec: str, gas_price: int, l1_fixed: int, vol: float
) -> None:
    """Whatever the policy, costs and vaults (within the contract's bounds): a vault acts only
    when ready; its trade is exactly ``tradeSize`` of its requested point capped as
    ``RebalanceRules.plan`` caps it; it reduces |deviation| without crossing the target, is at
    most ``maxTrade``, and, when neither ``maxTrade`` nor the vault's funds cut it, ends inside
    the band; a buy spends no more quote than is free, a sell no more than the inventory; every
    number of the plan is finite."""
    costs = replace(COSTS, gas_price_wei=gas_price, l1_fee_fixed_wei=l1_fixed)
    p = plan(parse_policy(spec), views, replace(MARKET, forecast_vol=vol), costs)
    assert math.isfinite(p.marginal_cost_usd)
    assert math.isfinite(p.benefit_usd)
    for v, d in zip(views, p.decisions, strict=True):
        assert math.isfinite(d.benefit_usd)
        assert math.isfinite(d.cost_usd)
        if not d.act:
            assert d.trade == 0
            continue
        assert v.trigger_ready
        dev = v.net_delta - v.target_delta
        planned = _int_trade(dev, d.post_deviation, v.band, v.max_trade)
        q = d.trade
        assert q == funded_trade(planned, v.oracle_price, v.free_quote, v.inventory)
        after = dev + q
        assert q != 0
        assert abs(after) < abs(dev)
        assert after * dev >= 0
        assert abs(q) <= v.max_trade
        if q == planned and abs(q) < v.max_trade and abs(dev) > v.band:
            assert abs(after) <= v.band
        if q > 0 and v.free_quote is not None:
            assert q * v.oracle_price // E20 <= max(v.free_quote, 0)
        if q < 0 and v.inventory is not None:
            assert -q <= max(v.inventory, 0)


# ---------------------------------------------------------------- live and backtest: one formula


@settings(max_examples=300, deadline=None)
@given(
    dev=st.integers(-(10**22), 10**22).filter(bool) | st.integers(-(10**19), 10**19).filter(bool),
    band=st.integers(10**12, 10**22) | st.integers(10**15, 10**18),
    max_trade=st.integers(10**12, 10**24),
    spot=st.integers(1, 10**5).map(float),
    gamma=st.floats(0.0, 1.0) | st.floats(0.0, 0.01),
    tau=st.floats(1e-6, 1.0),
    spec=st.sampled_from(
        [*SPECS, "ww:risk_aversion=2", "costaware:risk_aversion=1e-2,horizon=3600"]
    ),
    direct=st.booleans(),
    elapsed=st.integers(0, 10_000),
)
@example(  # ww's return point inside the vault's band: priced with a lone vault's fixed cost
    dev=WAD // 2,
    band=WAD // 10,
    max_trade=100 * WAD,
    spot=3000.0,
    gamma=0.002,
    tau=0.05,
    spec="ww:risk_aversion=0.02",
    direct=True,
    elapsed=600,
)
def test_a_lone_vault_decides_live_as_the_backtester_does(
    dev: int,
    band: int,
    max_trade: int,
    spot: float,
    gamma: float,
    tau: float,
    spec: str,
    direct: bool,
    elapsed: int,
) -> None:
    """Issue 11 part B: the keeper and the backtester use one rule for *whether* and *how far*.
    A lone vault (no slippage bound to compensate, funds unbounded) planned live acts exactly
    when the backtester's evaluation of the same state acts (its vault bound, a lone vault's
    fixed cost), and trades the same amount up to the quote rounding of a buy."""
    costs = COSTS if direct else replace(COSTS, gas_direct=0, l1_fee_direct_wei=0)
    policy = parse_policy(spec)
    ready = abs(dev) > band or elapsed >= 3600  # the contract's band or time trigger
    price = round(spot * 1e8)
    view = replace(
        _view(1, dev, band, max_trade, price, gamma, ready, 10**40, 10**40, 0, 0),
        last_rebalance=MARKET.now - elapsed,
        time_to_expiry=tau,
    )
    (d,) = plan(policy, [view], MARKET, costs).decisions

    def arr(x: float) -> np.ndarray:
        return np.array([x], dtype=np.float64)

    state = HedgeState(  # as keeper.backtest.engine builds it for a VaultBound policy
        deviation=arr(dev / WAD),
        spot=arr(spot),
        gamma=arr(gamma),
        vol=arr(MARKET.forecast_vol),
        contracts=arr(10.0),
        tau=arr(tau),
        elapsed_s=arr(float(elapsed)),
        max_interval_s=arr(3600.0),
        max_trade=arr(max_trade / WAD),
        ready=np.array([ready]),
        reference_vol=arr(MARKET.reference_vol),
        band=arr(band / WAD),
    )
    ev = policy.evaluate(state, costs, lone_share_usd(costs))
    backtest_acts = bool(ev.act[0] and executable(ev.trade, state.spot)[0])
    assert d.act == backtest_acts
    if d.act:
        quote_unit = 1e-6 / spot  # a buy's quote floors, whole underlying each
        assert d.trade / WAD == pytest.approx(float(ev.trade[0]), rel=1e-9, abs=2 * quote_unit)


# ---------------------------------------------------------------- a fee spike


@settings(max_examples=150, deadline=None)
@given(
    views=st.lists(
        st.builds(
            lambda i, dev, price, gamma, pool: _view(
                i, dev, 10**15, 10**24, price, gamma, True, None, None, 0, pool
            ),
            st.integers(0, 10**6),
            st.integers(-(10**20), 10**20),
            st.integers(10**10, 10**12),
            st.floats(0.0, 0.1),
            st.integers(0, 1),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda v: v.vault,
    ),
    risk_aversion=st.sampled_from([1e-2, 1e-3, 1e-4, 1e-5]),
    gas_price=st.integers(10**6, 10**9),
    spike=st.integers(2, 1000),
    l1=st.booleans(),
)
def test_a_fee_spike_never_adds_a_vault_to_the_costaware_batch(
    views: list[VaultView], risk_aversion: float, gas_price: int, spike: int, l1: bool
) -> None:
    """The L2 gas price or the L1 data fee ``spike`` times higher: the cost-gated batch is a
    subset of what it was (never a vault more for a dearer transaction)."""
    policy = CostAwarePolicy(risk_aversion=risk_aversion)
    calm = replace(COSTS, gas_price_wei=gas_price)
    if l1:
        dear = replace(
            calm,
            l1_fee_fixed_wei=calm.l1_fee_fixed_wei * spike,
            l1_fee_per_vault_wei=calm.l1_fee_per_vault_wei * spike,
            l1_fee_direct_wei=calm.l1_fee_direct_wei * spike,
        )
    else:
        dear = replace(calm, gas_price_wei=gas_price * spike)
    before = plan(policy, views, MARKET, calm)
    after = plan(policy, views, MARKET, dear)
    assert set(after.batch) <= set(before.batch)
    assert after.fixed_cost_usd >= before.fixed_cost_usd or not after.batch


# ---------------------------------------------------------------- Black–Scholes at the extremes


@settings(max_examples=300, deadline=None)
@given(
    spot=st.floats(1e-8, 1.7e30),
    strike=st.floats(0.01, 1e8),
    tau=st.floats(-1.0, 10.0),
    # The vault's vol is a Wad: 0 or at least 1e-18. Below that (a subnormal float) the gamma at
    # the money, pdf / (spot * vol * sqrt(tau)), overflows to inf, as it should.
    vol=st.just(0.0) | st.floats(1e-18, 1e3),
    call=st.booleans(),
    cap=st.just(math.inf) | st.floats(0.01, 1e8),
)
def test_greeks_stay_finite_and_bounded_at_the_extremes(
    spot: float, strike: float, tau: float, vol: float, call: bool, cap: float
) -> None:
    """Expiry now or past, zero or huge vol, spot at, far above or far below the strike: every
    Greek is finite, a delta is within [-1, 1] (a vanilla's of its sign), a vanilla's gamma is
    not negative, and the delta-only path agrees."""
    with np.errstate(all="ignore"):
        g = capped_greeks(spot, strike, cap, tau, vol, call=call)
        v = vanilla_greeks(spot, strike, tau, vol, call=call)
        fast = float(vanilla_delta(spot, strike, tau, vol, call=call))
    for greeks in (g, v):
        for name in ("value", "delta", "gamma", "vega", "delta_legs"):
            assert math.isfinite(float(getattr(greeks, name))), name
        assert -1.0 <= float(greeks.delta) <= 1.0
    assert float(v.gamma) >= 0.0
    assert (0.0 <= fast <= 1.0) if call else (-1.0 <= fast <= 0.0)
    assert fast == float(v.delta)


@pytest.mark.parametrize(
    ("gamma", "vol"), [(1.0, 1.38e-185), (1e-200, 0.8), (5e-324, 1e-18)], ids=str
)
def test_no_deviation_has_no_risk_to_reduce_even_when_gamma_s_vol_squared_underflows(
    gamma: float, vol: float
) -> None:
    """The auto horizon is ``Δ²/(Γ·S·σ)²``: with ``Γ·S·σ`` positive but its square under the
    smallest float (a deep out-of-the-money book's gamma of 1e-200, or a subnormal vol), a vault
    at exactly its target (Δ = 0, as after a rebalance to target) had 0/0, a NaN horizon and a
    NaN ``benefit_usd`` in its decision (the property test above found it, 1 run in 5)."""
    state = state_from_views([vault(dev=0.0, gamma=gamma)], replace(MARKET, forecast_vol=vol))
    out = risk_benefit_usd(state, np.asarray([0.0]), 1e-2, None, 7 * 86_400)
    assert out.tolist() == [0.0]
