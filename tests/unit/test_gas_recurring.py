"""The live cost model prices gas as a rebalance recurs, and a first purchase's surcharge apart.

Found on the tree before the fix: the live gas defaults were a vault's first-purchase figures (its
underlying balance written from zero: a ~17k SSTORE), while most rebalances are recurring
(docs/benchmarks.md, "Batching gain": 227,433 first and 210,406 recurring for a lone vault;
140,369 and 123,350 a vault in a batch of 10).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from keeper.app.market import batch_costs
from keeper.strategy import CostAwarePolicy, VaultView, parse_policy, plan
from keeper.strategy.planner import batch_value_usd
from tests.unit.test_app_cycle import WAD, make_keeper, snap
from tests.unit.test_planner_speed import _view
from tests.unit.test_strategy import MARKET

# -- gas as it recurs --------------------------------------------------------------------------

#: docs/benchmarks.md, "Batching gain" (bench/batching.py, 2026-12-07): gas of a lone vault's own
#: rebalance, and a vault's share of a batch of 10, on a first purchase and a recurring one.
LONE_FIRST, LONE_RECURRING = 227_433, 210_406
BATCH10_FIRST, BATCH10_RECURRING = 10 * 140_369, 10 * 123_350
#: A batch of one through the batcher (the run of 2026-12-07 18:01 UTC, bench/results/latest.json,
#: "batch_details"): its runs hold two figures 3,876 apart (the swap's two paths), as the lone
#: vault's own transaction's do (227,433 / 231,309 and 210,406 / 214,282).
BATCHED_ONE_FIRST = (241_399, 245_275)
BATCHED_ONE_RECURRING = (224_372, 228_248)


def _planned_gas(views: list[VaultView], *, direct: bool = True) -> float:
    """The gas the live cost model prices ``views``'s plan at (no L1 fee, fee or impact).

    ``direct=False``: the keeper sends a lone vault through the batcher (``direct_single`` off,
    or the signer lacks the vault's keeper role).
    """
    k = make_keeper([snap(0, -WAD)])  # no batcher: no L1 fee to price
    k.config = k.config.model_copy(
        update={"impact_coef": 0.0, "pool_fee_bps": 0.0, "direct_single": direct}
    )
    k.policy = parse_policy("band:width=0.05")  # every ready vault out of its band acts
    costs = batch_costs(k, views)
    the_plan = plan(k.policy, views, MARKET, costs)
    assert len(the_plan.batch) == len(views)
    usd = the_plan.fixed_cost_usd + the_plan.marginal_cost_usd
    return usd * 1e18 / (costs.gas_price_wei * costs.eth_usd)


def _buyer(i: int, holds: bool) -> VaultView:
    """A vault half an underlying short of target, holding underlying or none."""
    return replace(_view(i, -WAD // 2, WAD // 10, 10 * WAD), inventory=WAD if holds else 0)


def test_a_recurring_rebalance_is_priced_at_the_recurring_gas() -> None:
    """Before: 228,000 for a lone vault (8.4% over the recurring 210,406) and 1,426,000 for a
    batch of 10 (15.6% over the recurring 1,233,500), whatever the vaults held."""
    assert _planned_gas([_buyer(0, holds=True)]) == pytest.approx(LONE_RECURRING, rel=5e-3)
    ten = [_buyer(i, holds=True) for i in range(10)]
    assert _planned_gas(ten) == pytest.approx(BATCH10_RECURRING, rel=1e-2)


def test_a_batch_of_one_through_the_batcher_is_priced_as_measured() -> None:
    """The batcher's path for one vault is its own (``rebalanceBatch``'s ``n == 1``: the vault
    swaps its own trade), not a batch's fixed part, swap and marginal vault. Before: 246,000
    gas (fixed 30,000 + per vault 110,000 + swap 106,000), 7.8% over the higher of the two
    recurring figures and 9.6% over the lower; 263,100 on a first purchase."""
    low, high = BATCHED_ONE_RECURRING
    assert low * 0.995 <= _planned_gas([_buyer(0, holds=True)], direct=False) <= high * 1.005
    low, high = BATCHED_ONE_FIRST
    assert low * 0.995 <= _planned_gas([_buyer(0, holds=False)], direct=False) <= high * 1.005
    # Two vaults or more are a batch, as before.
    two = [_buyer(i, holds=True) for i in range(2)]
    assert _planned_gas(two, direct=False) == _planned_gas(two)


def test_a_buy_by_a_vault_that_holds_no_underlying_pays_the_first_purchase_gas() -> None:
    assert _planned_gas([_buyer(0, holds=False)]) == pytest.approx(LONE_FIRST, rel=5e-3)
    ten = [_buyer(i, holds=False) for i in range(10)]
    assert _planned_gas(ten) == pytest.approx(BATCH10_FIRST, rel=1e-2)
    # Half of them first purchases: half the surcharge.
    mixed = [_buyer(i, holds=i % 2 == 0) for i in range(10)]
    half = (BATCH10_FIRST + BATCH10_RECURRING) / 2
    assert _planned_gas(mixed) == pytest.approx(half, rel=1e-2)


def test_a_sale_pays_no_surcharge() -> None:
    """A sale lowers the vault's underlying balance: nothing is written from zero."""
    seller = replace(_view(0, WAD // 2, WAD // 10, 10 * WAD), inventory=WAD)
    assert _planned_gas([seller]) == pytest.approx(LONE_RECURRING, rel=5e-3)


def test_the_first_purchase_surcharge_can_hold_back_a_marginal_buy() -> None:
    """The cost-aware policy weighs the surcharge: a buy whose benefit lies between its
    recurring cost and its first-purchase cost is made by a vault that holds underlying and
    held back by one that holds none."""
    k = make_keeper([snap(0, -WAD)])
    k.config = k.config.model_copy(update={"impact_coef": 0.0, "pool_fee_bps": 0.0})
    holder, empty = _buyer(0, holds=True), _buyer(1, holds=False)
    costs = batch_costs(k, [holder])
    recurring = plan(CostAwarePolicy(risk_aversion=1.0), [holder], MARKET, costs)
    first = plan(CostAwarePolicy(risk_aversion=1.0), [empty], MARKET, costs)
    gap = first.decisions[0].cost_usd - recurring.decisions[0].cost_usd
    assert gap == pytest.approx(17_100 * costs.gas_price_wei * costs.eth_usd / 1e18, rel=0.02)
    # A risk aversion that puts the benefit halfway between the two rebalances' full costs
    # (each vault alone: its own transaction).
    unit = recurring.decisions[0].benefit_usd  # at risk aversion 1
    lone_recurring = recurring.fixed_cost_usd + recurring.marginal_cost_usd
    lone_first = first.fixed_cost_usd + first.marginal_cost_usd
    assert lone_first - lone_recurring == pytest.approx(gap)
    policy = CostAwarePolicy(risk_aversion=(lone_recurring + lone_first) / 2 / unit)
    assert plan(policy, [holder], MARKET, costs).batch == (holder.vault,)
    assert plan(policy, [empty], MARKET, costs).batch == ()


def test_a_batch_priced_again_after_the_simulation_keeps_its_first_purchases() -> None:
    """``batch_value_usd`` (what act.py prices a batch the simulation cut short at) counts the
    surcharge of each first purchase in it, as the plan did."""
    k = make_keeper([snap(0, -WAD)])
    k.config = k.config.model_copy(update={"impact_coef": 0.0, "pool_fee_bps": 0.0})
    views = [_buyer(i, holds=i % 2 == 0) for i in range(4)]
    costs = batch_costs(k, views)
    the_plan = plan(CostAwarePolicy(risk_aversion=1.0), views, MARKET, costs)
    assert len(the_plan.batch) == 4
    assert [d.first_buy for d in the_plan.decisions] == [False, True, False, True]
    cost = the_plan.fixed_cost_usd + the_plan.marginal_cost_usd
    value = batch_value_usd(the_plan, the_plan.batch, costs)
    assert value == pytest.approx(the_plan.benefit_usd - cost, rel=1e-12)
    held = [_buyer(i, holds=True) for i in range(4)]
    recurring = plan(CostAwarePolicy(risk_aversion=1.0), held, MARKET, costs)
    surcharge = 2 * 17_100 * costs.gas_price_wei * costs.eth_usd / 1e18
    recurring_cost = recurring.fixed_cost_usd + recurring.marginal_cost_usd
    assert cost - recurring_cost == pytest.approx(surcharge)
