"""Each vault's risk is priced at its own feed's vol forecast, not one forecast for every vault.

The live keeper kept each vault's oracle rounds, then priced every vault at the EWMA forecast
of the longest history: with an ETH vault and a quieter BTC vault, the BTC vault's risk was
priced at ETH's vol (the benefit of a hedge goes with sigma squared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from keeper.app.market import market_view
from keeper.chain.lens import OracleState
from keeper.pricing import ewma_vol_forecast
from keeper.strategy.planner import state_from_views
from tests.unit.test_app_cycle import NOW, WAD, make_keeper, snap, vault
from tests.unit.test_planner_speed import _view

STEP = 3_600  # an oracle round an hour


@dataclass(frozen=True)
class Reading:
    vault: str
    oracle: OracleState


def _path(start: float, swing: float, n: int) -> list[float]:
    """Prices that move by ``swing`` (relative) each round, alternately up and down."""
    return [start * (1 + swing) ** (k % 2) for k in range(n)]


def test_each_feed_prices_its_own_vaults_at_its_own_forecast() -> None:
    k = make_keeper([snap(0, -WAD), snap(1, -WAD), snap(2, -WAD)])
    eth, btc = _path(3_000.0, 0.01, 12), _path(60_000.0, 0.002, 12)
    ids = [vault(0), vault(1), vault(2)]  # 0 and 1 on the ETH feed, 2 on the BTC feed
    market = None
    views = []
    for r in range(12):
        t = NOW - (12 - r) * STEP
        readings = [
            Reading(ids[0], OracleState(r + 1, int(eth[r] * 1e8), t, 8, False, 0)),
            Reading(ids[1], OracleState(r + 1, int(eth[r] * 1e8), t, 8, False, 0)),
            Reading(ids[2], OracleState(500 + r, int(btc[r] * 1e8), t, 8, False, 0)),
        ]
        views = [
            replace(_view(i, -WAD, 0, WAD), vault=ids[i], spot=p)
            for i, p in enumerate((eth[r], eth[r], btc[r]))
        ]
        market = market_view(k, readings, views, t)
    assert market is not None
    times = [NOW - (12 - r) * STEP for r in range(12)]
    eth_vol = ewma_vol_forecast(times, eth, k.config.ewma_lambda)
    btc_vol = ewma_vol_forecast(times, btc, k.config.ewma_lambda)
    assert eth_vol > 4 * btc_vol
    vols = state_from_views(views, market).vol.tolist()
    expected = [eth_vol, eth_vol, btc_vol]
    assert all(math.isclose(v, w, rel_tol=1e-12) for v, w in zip(vols, expected, strict=True))


def test_a_feed_with_too_few_rounds_falls_back_to_its_vaults_own_vol() -> None:
    """Under three rounds a feed has no forecast: its vaults take their own vol parameter (the
    median over the feed's vaults), not another feed's forecast."""
    k = make_keeper([snap(0, -WAD), snap(1, -WAD)])
    eth = _path(3_000.0, 0.01, 5)
    views: list = []
    market = None
    for r in range(5):
        t = NOW - (5 - r) * STEP
        readings = [
            Reading(vault(0), OracleState(r + 1, int(eth[r] * 1e8), t, 8, False, 0)),
            Reading(vault(1), OracleState(900, 60_000 * 10**8, NOW - 5 * STEP, 8, False, 0)),
        ]
        views = [
            replace(_view(0, -WAD, 0, WAD), vault=vault(0), spot=eth[r]),
            replace(_view(1, -WAD, 0, WAD), vault=vault(1), spot=60_000.0, vol=0.45),
        ]
        market = market_view(k, readings, views, t)
    assert market is not None
    vols = state_from_views(views, market).vol.tolist()
    assert vols[1] == 0.45
    assert vols[0] > 0.45
