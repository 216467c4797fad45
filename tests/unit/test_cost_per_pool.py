"""The live cost model prices each vault's trade at its own pool, and each pool's swap on its net.

Found on the tree before the fix: ``pool_terms`` gave the cycle one impact and one fee tier, the
thinnest and dearest of the ready vaults' pools, so a vault on a deep WETH/USDC pool was priced at
a thin WBTC/USDC pool's figures whenever a vault of that pool was ready in the same cycle, and
held back.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from keeper.app.market import batch_costs
from keeper.strategy import CostAwarePolicy, RebalancePlan, VaultView, parse_policy, plan
from keeper.strategy.costs import batch_cost_usd
from tests.unit.test_app_costs import LenL1
from tests.unit.test_app_cycle import BATCHER, WAD, make_keeper, snap
from tests.unit.test_planner_speed import _view
from tests.unit.test_strategy import MARKET

# -- each vault at its own pool ------------------------------------------------------------------


def _pool_vault(i: int, depth_usd: float, fee_bps: float) -> VaultView:
    """Half an underlying short of target (a buy of USD 1,500), alone in pool and venue ``i``.

    Gamma 0: the cost-aware policy trades it to the target (no return point inside a band),
    so its trade is the same whatever the other vaults are.
    """
    return replace(
        _view(i, -WAD // 2, WAD // 10, 10 * WAD),
        pool=i,
        venue=i,
        pool_depth_usd=depth_usd,
        pool_fee_bps=fee_bps,
        inventory=WAD,
    )


DEEP = _pool_vault(0, 100e6, 5.0)  # a WETH/USDC 0.05% pool, USD 100M deep
THIN = _pool_vault(1, 20e3, 30.0)  # a WBTC/USDC 0.3% pool, USD 20k deep


def _planned(views: list[VaultView], **pinned: float | None) -> RebalancePlan:
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None, **pinned})
    return plan(CostAwarePolicy(risk_aversion=1e-3), views, MARKET, batch_costs(k, views))


def test_a_deep_pools_vault_is_priced_at_its_own_pool_when_a_thin_pools_vault_is_ready() -> None:
    """Before: the thin pool's impact (1 / USD 20k: USD 112.5 on USD 1,500) and 30 bps priced
    the deep pool's vault too, USD 117 against its benefit of USD 27.6: held back."""
    alone = _planned([DEEP])
    both = _planned([DEEP, THIN])
    deep_alone, deep, thin = alone.decisions[0], both.decisions[0], both.decisions[1]
    assert deep_alone.act
    assert deep.act, deep.reason
    assert deep.trade == deep_alone.trade
    assert deep.cost_usd == pytest.approx(deep_alone.cost_usd, rel=1e-12)
    # The thin pool's vault is priced at its own pool: its impact alone is 1,500² / 20k.
    assert not thin.act
    assert thin.cost_usd > 1_500.0**2 / 20e3
    assert both.batch == (DEEP.vault,)


def test_the_batch_pays_each_pools_fee_and_impact_on_that_pools_net() -> None:
    """Two deep-pool vaults and two thin-pool vaults, all buying USD 1,500: each pool's swap
    pays its own fee and impact on its own net (USD 3,000)."""
    deep2 = replace(DEEP, vault="0x" + "d2" * 20)
    thin2 = replace(THIN, vault="0x" + "72" * 20)
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None})
    views = [DEEP, deep2, THIN, thin2]
    costs = batch_costs(k, views)
    x = [1_500.0] * 4
    pools, venues = [0, 0, 1, 1], [0, 0, 1, 1]
    proportional = (5e-4 * 3_000 + 3_000**2 / 100e6) + (30e-4 * 3_000 + 3_000**2 / 20e3)
    free = replace(costs, pool_fee_bps=0.0, impact_coef=0.0, pool_terms={})
    free_usd = batch_cost_usd(free, x, pools)
    assert batch_cost_usd(costs, x, pools, venues) - free_usd == pytest.approx(proportional)


def test_the_settings_still_pin_the_impact_and_fee_for_every_pool() -> None:
    """``KEEPER_IMPACT_COEF`` / ``KEEPER_POOL_FEE_BPS`` set: every vault at those figures, the
    thin pool's too (it then trades)."""
    both = _planned([DEEP, THIN], impact_coef=2e-9, pool_fee_bps=5.0)
    deep, thin = both.decisions
    assert deep.act
    assert thin.act
    assert thin.cost_usd == pytest.approx(deep.cost_usd)


def test_each_vaults_band_is_its_own_pools_as_if_it_were_planned_alone() -> None:
    """Whalley-Wilmott's band scales with the pool's cost rate: planned together, each vault
    gets the band it gets planned alone, at its own pool's figures (its return point differs
    only by its share of the batch's fixed cost)."""
    ww = parse_policy("ww:risk_aversion=1")
    deep, thin = (replace(v, gamma=0.002, contracts=10.0) for v in (DEEP, THIN))
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None})

    def band(reason: str) -> float:
        found = re.search(r"threshold ([-+.e0-9]+)", reason)
        assert found, reason
        return float(found.group(1))

    together = plan(ww, [deep, thin], MARKET, batch_costs(k, [deep, thin])).decisions
    alone = [plan(ww, [v], MARKET, batch_costs(k, [v])).decisions[0] for v in (deep, thin)]
    assert [band(d.reason) for d in together] == [band(d.reason) for d in alone]
    assert band(together[0].reason) < band(together[1].reason) / 2  # the thin pool's is wider


def test_pools_on_one_venue_compound_at_its_impact() -> None:
    """Two pools on one venue (one Uniswap pool, two oracle answers) swap in a row on it: their
    nets add before the venue's impact squares them."""
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": 0.0})
    other = replace(THIN, vault="0x" + "72" * 20, pool=2, venue=1)
    costs = batch_costs(k, [THIN, other])
    free = replace(costs, impact_coef=0.0, pool_terms={})
    x, pools = [1_500.0, 1_500.0], [1, 2]
    rise = batch_cost_usd(costs, x, pools, [1, 1]) - batch_cost_usd(free, x, pools, [1, 1])
    assert rise == pytest.approx(3_000.0**2 / 20e3)
    apart = batch_cost_usd(costs, x, pools) - batch_cost_usd(free, x, pools)
    assert apart == pytest.approx(2 * 1_500.0**2 / 20e3)
