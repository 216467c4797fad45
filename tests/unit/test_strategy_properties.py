"""Property tests of the decision side against the contract's rules (hypothesis).

* How far: the planner's float → Wad step takes a request as the contract does.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keeper.strategy.rebalance_rule import (
    executed_trade,
    post_deviation_wad,
)

WAD = 10**18


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
