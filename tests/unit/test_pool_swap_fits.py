"""A pool whose swap cannot meet its legs' slippage bound is not planned; other pools still are.

Found on anvil (tests/integration/test_cost_per_pool_onchain.py): a vault on a USD 60k WBTC pool
wanting a USD 35k buy (its pool keeps ~37% of it; the vault accepts 1%) was planned beside a
WETH vault on a USD 60M pool. The batch's simulation reverted on the WBTC swap
(``HedgeVenueInsufficientOutput``), which names no pool, and dropped every vault at the
strictest bound, the WETH vault too: nothing was sent, cycle after cycle. The planner knows each
pool's fee and depth: it holds back a pool whose net swap the batcher could not fill.
"""

from __future__ import annotations

from dataclasses import replace

from keeper.app.market import batch_costs
from keeper.strategy import RebalancePlan, VaultView, parse_policy, plan
from keeper.units import Wad
from tests.unit.test_app_costs import LenL1
from tests.unit.test_app_cycle import BATCHER, WAD, make_keeper, snap
from tests.unit.test_cost_per_pool import DEEP, THIN
from tests.unit.test_strategy import MARKET

#: Both vaults accept 1% (the devnet's maxSlippageBps).
DEEP_1 = replace(DEEP, max_slippage_bps=100)
#: 10 underlying short (a USD 30k buy) on the USD 20k, 30 bps pool: its swap keeps ~60%.
THIN_BIG = replace(
    THIN,
    net_delta=Wad(THIN.net_delta - 19 * WAD // 2),
    max_trade=Wad(100 * WAD),
    max_slippage_bps=100,
)


def _plan(spec: str, views: list[VaultView]) -> RebalancePlan:
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None})
    return plan(parse_policy(spec), views, MARKET, batch_costs(k, views))


def test_a_pool_whose_swap_cannot_meet_the_bound_is_held_back_and_the_other_pool_is_sent() -> None:
    for spec in ("costaware:risk_aversion=1", "band:width=0.05"):
        p = _plan(spec, [DEEP_1, THIN_BIG])
        deep, thin = p.decisions
        assert deep.act, (spec, deep.reason)
        assert not thin.act, (spec, thin.reason)
        assert "slippage bound (100 bps)" in thin.reason, thin.reason
        assert p.batch == (DEEP_1.vault,)


def test_a_lone_vault_whose_swap_cannot_meet_its_bound_is_not_planned() -> None:
    p = _plan("band:width=0.05", [THIN_BIG])
    assert not p.decisions[0].act
    assert p.batch == ()


def test_a_pool_whose_legs_cross_to_a_small_net_is_planned() -> None:
    """A buy of USD 30k against a sale of USD 29.7k in the thin pool: only USD 300 swaps (the
    pool keeps ~1.8% of it, USD ~5, well inside 1% of the USD 30k the buyer is owed)."""
    seller = replace(
        THIN_BIG,
        vault="0x" + "5e" * 20,
        net_delta=Wad(THIN.target_delta + 99 * WAD // 10),
        inventory=100 * WAD,
    )
    p = _plan("band:width=0.05", [THIN_BIG, seller])
    assert all(d.act for d in p.decisions), [d.reason for d in p.decisions]


def test_a_bound_of_zero_is_no_bound() -> None:
    """A view that does not say its bound (``max_slippage_bps`` 0) is not held back by it."""
    p = _plan("band:width=0.05", [replace(THIN_BIG, max_slippage_bps=0)])
    assert p.decisions[0].act
