"""Property tests of the decision side against the contract's rules (hypothesis).

* How far: the planner's float → Wad step takes a request as the contract does, and a buy's
  slippage-compensated request books an end inside the vault's band even for deviations worth
  billions (the float error of the compensation's arithmetic included).
* Bad inputs: a vault whose oracle price the contract refuses never acts.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keeper.strategy import parse_policy, plan
from keeper.strategy.rebalance_rule import (
    compensated_post,
    executed_trade,
    funded_trade,
    post_deviation_wad,
)
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
