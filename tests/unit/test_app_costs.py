"""The runner's cost inputs price a lone vault as the transaction it sends: the vault's own.

A one-vault plan goes to the vault itself (``KEEPER_DIRECT_SINGLE``), so the planner must see
that transaction's gas and L1 fee (``CostInputs.gas_direct``, ``l1_fee_direct_wei``), read from
the L1-fee oracle with the batch's parts, and must not see them when the path is off.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from keeper.app.cycle import run_cycle
from keeper.app.market import batch_costs, pool_terms
from keeper.execution.simulate import direct_calldata
from keeper.strategy import CostAwarePolicy, plan
from keeper.strategy.costs import DEFAULT_IMPACT_COEF, DEFAULT_POOL_FEE_BPS
from keeper.strategy.planner import state_from_views
from tests.unit.test_app_cycle import BATCHER, WAD, FakeLens, make_keeper, snap, vault
from tests.unit.test_planner_speed import _view
from tests.unit.test_strategy import COSTS, MARKET

DIRECT_LEN = len(direct_calldata(-123))  # a rebalanceTo(post): selector + one word


class LenL1:
    """An OP-style L1 fee: 1,000 wei plus 10 a calldata byte, or ``direct`` for a direct call."""

    name = "op"

    def __init__(self, direct: int | None = None) -> None:
        self.direct = direct
        self.seen: list[int] = []

    def fee(self, signed: bytes, to: str, data: bytes) -> int:
        self.seen.append(len(data))
        if self.direct is not None and len(data) == DIRECT_LEN:
            return self.direct
        return 1_000 + 10 * len(data)


def test_direct_gas_and_l1_fee_reach_the_cost_inputs() -> None:
    l1 = LenL1()
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=l1, chain_id=10)
    costs = batch_costs(k, [_view(0, -WAD, 0, WAD)])
    assert costs.gas_direct == k.config.gas_direct > 0
    assert costs.l1_fee_direct_wei == 1_000 + 10 * DIRECT_LEN
    assert sorted(l1.seen)[0] == DIRECT_LEN  # priced with the two dummy batches, once
    assert len(l1.seen) == 3
    assert costs.l1_fee_direct_wei < costs.l1_fee_fixed_wei + costs.l1_fee_per_vault_wei


def test_no_direct_pricing_without_the_direct_path() -> None:
    off = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    off.config = off.config.model_copy(update={"direct_single": False})
    assert batch_costs(off, [_view(0, -WAD, 0, WAD)]).gas_direct == 0
    # A vault found without its keeper role goes through the batcher: lone vaults are then
    # priced as batches of one (conservative for the vaults that have the role).
    lacking = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    lacking.no_direct.add(vault(0))
    assert batch_costs(lacking, [_view(0, -WAD, 0, WAD)]).gas_direct == 0


def test_a_large_direct_l1_fee_reaches_the_live_plan() -> None:
    # Only the direct transaction's L1 fee is large: a lone vault no longer pays for it.
    def planned(direct_wei: int) -> tuple[str, ...]:
        k = make_keeper([snap(0, -WAD // 2)], batcher=BATCHER, l1fee=LenL1(direct_wei), chain_id=10)
        k.policy = CostAwarePolicy(risk_aversion=1e-3)
        return run_cycle(k).planned

    assert planned(0) == (vault(0),)
    assert planned(10**18) == ()  # 1 ETH (3000 USD) of L1 fee for the vault's own transaction


def test_the_pools_depth_and_fee_tier_price_the_swap_unless_the_settings_pin_them() -> None:
    """Unset, the impact is 1 / the depth the lens read, and the fee the pool's tier: of the
    ready vaults, the thinnest pool and the dearest tier. Set, the settings win."""
    deep = replace(_view(0, -WAD, 0, WAD), pool_depth_usd=50e6, pool_fee_bps=5.0)
    thin = replace(_view(1, -WAD, 0, WAD), pool_depth_usd=2e6, pool_fee_bps=30.0)
    idle = replace(thin, vault=vault(2), trigger_ready=False, pool_depth_usd=1e3)
    assert pool_terms(None, None, [deep, idle]) == (pytest.approx(1 / 50e6), 5.0)
    assert pool_terms(None, None, [deep, thin, idle]) == (pytest.approx(1 / 2e6), 30.0)
    assert pool_terms(2e-9, 1.0, [deep, thin]) == (2e-9, 1.0)
    # A venue that does not say them (0), or no vault ready: the defaults.
    unknown = replace(deep, pool_depth_usd=0.0, pool_fee_bps=0.0)
    assert pool_terms(None, None, [unknown]) == (DEFAULT_IMPACT_COEF, DEFAULT_POOL_FEE_BPS)
    assert pool_terms(None, None, [idle]) == (DEFAULT_IMPACT_COEF, DEFAULT_POOL_FEE_BPS)
    # Nothing in range (under 1 USD beside a fee tier): it sets no figure, its vaults are
    # never ready (test below).
    nothing = replace(deep, pool_depth_usd=0.5)
    assert pool_terms(None, None, [nothing]) == (DEFAULT_IMPACT_COEF, DEFAULT_POOL_FEE_BPS)


def test_a_pool_with_nothing_in_range_is_not_priced_as_the_default_depth() -> None:
    """A Uniswap V3 venue whose pool has no liquidity at its price (it moved past every
    position) answers ``depth()`` with (0, its fee tier): the lens's depth is then exactly 0,
    with the fee tier beside it. That is the pool saying it has nothing in range, not a venue
    that does not say: any trade costs as much as it moves, not USD 500M deep's 2e-9."""
    empty = replace(_view(0, -WAD, 0, WAD), pool_depth_usd=0.0, pool_fee_bps=30.0)
    assert empty.pool_empty
    assert not replace(empty, pool_fee_bps=0.0).pool_empty  # a venue that does not say
    # Its vaults cannot trade (the venue takes all of its input or reverts): never ready.
    state = state_from_views([empty], MARKET)
    assert state.ready.tolist() == [False]
    assert plan(CostAwarePolicy(risk_aversion=1e-3), [empty], MARKET, COSTS).batch == ()


def test_a_pool_with_nothing_in_range_holds_back_its_own_vaults_only() -> None:
    """Found once the empty pool was priced at impact 1: the cost model has one impact for all
    pools (the largest), so one empty pool priced every other pool's vaults at 1 too, and no
    vault anywhere was hedged. Its vaults are now never ready, and it sets no figure."""
    empty = replace(_view(0, -WAD, 0, WAD), pool_depth_usd=0.0, pool_fee_bps=30.0, pool=0, venue=0)
    deep = replace(_view(1, -WAD, 0, WAD), pool_depth_usd=50e6, pool_fee_bps=5.0, pool=1, venue=1)
    impact, fee = pool_terms(None, None, [empty, deep])
    assert (impact, fee) == (pytest.approx(1 / 50e6), 5.0)
    costs = replace(COSTS, impact_coef=impact, pool_fee_bps=fee)
    assert plan(CostAwarePolicy(risk_aversion=1e-3), [empty, deep], MARKET, costs).batch == (
        deep.vault,
    )


def test_a_thin_pool_the_lens_reads_holds_back_a_trade_a_deep_one_makes() -> None:
    """End to end through the lens's answer: the same vault, 0.5 underlying off target,
    under the cost-aware policy. In a pool USD 100M deep the trade is worth it; in one USD 20k
    deep its impact (about 7.5%, USD 110 on USD 1,500) is not. Before, the cost model priced
    every pool as USD 500M deep (KEEPER_IMPACT_COEF's 2e-9), whatever the lens saw."""

    def planned(depth_usd: float) -> tuple[str, ...]:
        k = make_keeper([snap(0, -WAD // 2)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
        k.policy = CostAwarePolicy(risk_aversion=1e-3)
        k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None})
        assert isinstance(k.lens, FakeLens)
        k.lens.depth = (int(depth_usd * 1e8), 500)
        return run_cycle(k).planned

    assert planned(100e6) == (vault(0),)
    assert planned(20e3) == ()


def test_a_vault_held_back_by_its_empty_pool_is_said_so_without_asking_the_chain() -> None:
    """The vault's own trigger is ready, so the chain's ``rebalanceBlocker()`` would report
    nothing: the decision names the empty pool from the lens's read instead."""
    k = make_keeper([snap(0, -WAD // 2)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    k.policy = CostAwarePolicy(risk_aversion=1e-3)
    k.config = k.config.model_copy(update={"impact_coef": None, "pool_fee_bps": None})
    assert isinstance(k.lens, FakeLens)
    k.lens.depth = (0, 500)
    result = run_cycle(k)  # the fake chain answers no eth_call: nothing is asked of it
    assert result.planned == ()
    [decision] = result.decisions
    assert "nothing in range" in decision.reason, decision.reason
