"""The contract's partial-rebalance bound agrees with the keeper's ``executed_trade``.

Deploys ``RebalanceRules`` and compares its ``tradeSize`` (the rule ``OptionVault.rebalanceTo``
runs before the quote and inventory caps) with :func:`executed_trade` on exact Wad ints, over
random deviations, requests, bands and trade caps (hypothesis) and the edge cases by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, deploy
from keeper.strategy.rebalance_rule import executed_trade
from tests.conftest import Chain, examples

pytestmark = pytest.mark.integration

BOUND = 10**24  # the vault's hard bounds on band, maxTrade and |target|


def _python(dev: int, post: int, band: int, max_trade: int) -> int:
    def o(x: int) -> np.ndarray:
        return np.array([x], dtype=object)

    return int(executed_trade(o(dev), o(post), o(band), o(max_trade))[0])


EDGES = [
    (30, 0, 10, 100),
    (30, 5, 10, 100),
    (30, 25, 10, 100),
    (30, -5, 10, 100),
    (-30, -5, 10, 100),
    (-30, 5, 10, 100),
    (8, 3, 10, 100),
    (8, 9, 10, 100),
    (300, 5, 10, 100),
    (0, 5, 10, 100),
    (10, 10, 10, 100),  # exactly on the band edge
    (-(2**200), -(2**255), 10**24, 10**24),  # int256.min request
    (2**200, 2**255 - 1, 10**24, 10**24),
]


def test_trade_size_matches_executed_trade(chain: Chain) -> None:
    rules = deploy(chain.w3, account(chain.keys[0]), load_artifact("RebalanceRules"))

    def onchain(dev: int, post: int, band: int, max_trade: int) -> int:
        size = int(rules.functions.tradeSize(dev, post, band, max_trade).call())
        return -size if dev > 0 else size

    for dev, post, band, max_trade in EDGES:
        assert onchain(dev, post, band, max_trade) == _python(dev, post, band, max_trade)

    @settings(
        max_examples=examples(chain, 150),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        dev=st.integers(-2 * BOUND, 2 * BOUND),
        post=st.integers(-2 * BOUND, 2 * BOUND),
        band=st.integers(10**12, BOUND),
        max_trade=st.integers(10**12, BOUND),
    )
    def agree(dev: int, post: int, band: int, max_trade: int) -> None:
        assert onchain(dev, post, band, max_trade) == _python(dev, post, band, max_trade)

    agree()
