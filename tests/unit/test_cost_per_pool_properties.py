"""Properties of the per-pool cost model (hypothesis): what each pool's own figures may change.

* Pools that all say the same figures plan exactly as the one pair does: the same decisions
  (act mask, trades, costs, reasons) and the same batch cost.
* A batch's cost does not depend on the order of its members.
* Adding another pool's vaults never changes a vault's policy decision (its trade, benefit and
  cost; for the rule policies whether it acts): only the batch selection may.
* The first purchase's surcharge is paid once by each vault that buys from no inventory, never
  by a sale, never when ``gas_first_buy`` is 0.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.strategy import RebalancePlan, VaultView, parse_policy, plan
from keeper.strategy.costs import batch_cost_usd, first_buy_usd, l2_default_costs
from keeper.strategy.planner import _venue_keys
from keeper.strategy.types import CostInputs, PoolTerms
from keeper.units import Wad
from tests.unit.test_strategy import MARKET

WAD = 10**18
#: Each pool's spot: a pool is one oracle price (``RebalanceBatcher._join``).
SPOTS = (3_000.0, 60_000.0, 150.0, 3_000.0)
POLICIES = (
    "costaware:risk_aversion=0.001",
    "costaware:risk_aversion=0.00001",
    "ww:risk_aversion=1",
    "band:width=0.05",
    "bandedge:width=0.05",
    "volband:width=0.05,ref=0.6",
    "time:interval=600",
)
RULES = POLICIES[2:]

fees = st.sampled_from((1.0, 5.0, 30.0, 100.0))
impacts = st.floats(1e-9, 1e-4).map(lambda d: float(d))
terms = st.builds(PoolTerms, fees, impacts)


@st.composite
def views(draw: st.DrawFn, pools: tuple[int, ...] = (0, 1, 2), start: int = 0) -> VaultView:
    """A vault in one of ``pools``: any deviation, gamma, readiness and inventory."""
    pool = draw(st.sampled_from(pools))
    spot = SPOTS[pool]
    dev = draw(st.integers(-30 * WAD, 30 * WAD) | st.just(0))
    inventory = draw(st.none() | st.just(0) | st.integers(1, 40 * WAD))
    i = draw(st.integers(0, 2**32))
    return VaultView(
        vault=f"0x{start + i:040x}",
        net_delta=Wad(dev),
        target_delta=Wad(0),
        band=Wad(WAD // 10),
        max_trade=Wad(draw(st.sampled_from((100 * WAD, 5 * WAD)))),
        last_rebalance=MARKET.now - draw(st.integers(0, 7_200)),
        min_interval=60,
        max_interval=3_600,
        spot=spot,
        gamma=draw(st.just(0.0) | st.floats(1e-4, 0.05)) * 3_000.0 / spot,
        vol=0.8,
        contracts=draw(st.floats(1.0, 50.0)),
        trigger_ready=draw(st.booleans() | st.just(True)),
        time_to_expiry=draw(st.floats(0.01, 0.5)),
        inventory=inventory,
        oracle_price=int(spot * 1e8),
        pool=pool,
        venue=draw(st.sampled_from((pool, None))) if pool != 3 else 0,  # pool 3 shares venue 0
        max_slippage_bps=draw(st.sampled_from((0, 100))),
    )


def _unique(vs: list[VaultView]) -> list[VaultView]:
    return list({v.vault: v for v in vs}.values())


vault_lists = st.lists(views(), min_size=1, max_size=8).map(_unique)


@st.composite
def cost_inputs(draw: st.DrawFn) -> CostInputs:
    """The live defaults at any gas price, with or without the direct path and the surcharge."""
    base = l2_default_costs()
    return replace(
        base,
        gas_price_wei=draw(st.sampled_from((10**7, 10**9, 3 * 10**10))),
        gas_direct=draw(st.sampled_from((0, 211_000))),
        gas_batch_one=draw(st.sampled_from((0, 225_000))),
        gas_per_vault=110_000,
        gas_first_buy=draw(st.sampled_from((0, 17_100))),
    )


def _total(p: RebalancePlan) -> float:
    return p.fixed_cost_usd + p.marginal_cost_usd


# ---------------------------------------------------------------- (a) one figure for every pool


@settings(max_examples=80, deadline=None)
@given(
    vs=vault_lists,
    c=cost_inputs(),
    same=terms,
    scalar=terms,
    spec=st.sampled_from(POLICIES),
)
def test_pools_that_all_say_one_figure_plan_as_the_one_pair_does(
    vs: list[VaultView], c: CostInputs, same: PoolTerms, scalar: PoolTerms, spec: str
) -> None:
    """Every pool at ``same``: the plan is the one of ``same`` as the one pair, bit for bit,
    whatever the pair the cycle also carries (``scalar``: the live keeper's largest, or any)."""
    policy = parse_policy(spec)
    one = replace(c, pool_fee_bps=same.fee_bps, impact_coef=same.impact_coef, pool_terms={})
    own = {v.pool: same for v in vs}
    for pair in (same, scalar):
        per_pool = replace(
            c, pool_fee_bps=pair.fee_bps, impact_coef=pair.impact_coef, pool_terms=own
        )
        assert plan(policy, vs, MARKET, per_pool) == plan(policy, vs, MARKET, one)


@pytest.mark.parametrize(
    ("same", "x"),
    [
        (PoolTerms(30.0, 1 / 20e3), [100.0, 700.0]),
        (PoolTerms(5.0, 1 / 60e6), [100.0, 200.0]),
        (PoolTerms(5.0, 1 / 60e6), [-100.0, 1_100.0]),
    ],
)
def test_a_batch_across_pools_at_one_figure_costs_what_the_one_pair_prices(
    same: PoolTerms, x: list[float]
) -> None:
    """Found by the property above: two pools that say the same figures priced a batch across
    them a rounding away from the one pair (USD 1.869681692403924 against ...9237): their fees
    were summed pool by pool (``Σ rate·|net|``, not ``rate·Σ|net|``), their impacts likewise."""
    c = l2_default_costs()
    one = replace(c, pool_fee_bps=same.fee_bps, impact_coef=same.impact_coef)
    for venues in (None, [0, 0], [0, 1]):
        per_pool = batch_cost_usd(replace(c, pool_terms={0: same, 1: same}), x, [0, 1], venues)
        assert per_pool == batch_cost_usd(one, x, [0, 1], venues)


# ---------------------------------------------------------------- (b) the members' order


@st.composite
def batches(
    draw: st.DrawFn,
) -> tuple[CostInputs, list[float], list[int], list[int] | None, list[bool]]:
    c = draw(cost_inputs())
    n = draw(st.integers(1, 10))
    pools = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    x = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.just(0.0), min_size=n, max_size=n))
    first = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    own = draw(st.dictionaries(st.integers(0, 4), terms))
    venue_of = draw(st.lists(st.integers(0, 2), min_size=5, max_size=5))
    venues = draw(st.none() | st.just([venue_of[p] for p in pools]))
    return replace(c, pool_terms=own), x, pools, venues, first


@settings(max_examples=300, deadline=None)
@given(batch=batches(), data=st.data())
def test_a_batchs_cost_does_not_depend_on_its_members_order(
    batch: tuple[CostInputs, list[float], list[int], list[int] | None, list[bool]],
    data: st.DataObject,
) -> None:
    c, x, pools, venues, first = batch
    order = data.draw(st.permutations(range(len(x))))

    def at(values: list[int] | list[float] | list[bool]) -> list[int] | list[float] | list[bool]:
        return [values[i] for i in order]

    cost = batch_cost_usd(c, x, pools, venues, first)
    moved = batch_cost_usd(c, at(x), at(pools), None if venues is None else at(venues), at(first))
    # The nets are sums in another order: equal to their float rounding.
    assert moved == pytest.approx(cost, rel=1e-12, abs=1e-9)


# ---------------------------------------------------------------- (c) another pool's vaults


def _policy_side(p: RebalancePlan, vault: str) -> tuple[float, float]:
    d = next(d for d in p.decisions if d.vault == vault)
    return d.benefit_usd, d.cost_usd


@settings(max_examples=80, deadline=None)
@given(
    base=st.lists(views(pools=(0, 1)), min_size=1, max_size=6).map(_unique),
    more=st.lists(views(pools=(2, 3), start=2**40), min_size=1, max_size=4).map(_unique),
    c=cost_inputs(),
    own=st.fixed_dictionaries({0: terms, 1: terms, 2: terms, 3: terms}),
    spec=st.sampled_from(POLICIES),
    shared=st.booleans(),
)
def test_another_pools_vaults_never_change_a_vaults_policy_decision(
    base: list[VaultView],
    more: list[VaultView],
    c: CostInputs,
    own: dict[int, PoolTerms],
    spec: str,
    shared: bool,
) -> None:
    """Pools 2 and 3 (3 on pool 0's venue) added to pools 0 and 1: each vault of 0 and 1 keeps
    its benefit and cost (its trade's), its reason, and for a rule policy whether it acts.

    The vaults that would share a transaction split its fixed cost in *how far* they go
    (``_fixed_share_usd``, over every ready vault): the added ones are not ready, or the
    transaction costs nothing fixed (``shared``), so that split is the same in both plans.
    """
    policy = parse_policy(spec)
    if shared:
        c = replace(c, gas_fixed=0, gas_swap=0, l1_fee_fixed_wei=0, gas_direct=0, gas_batch_one=0)
    else:
        more = [replace(v, trigger_ready=False) for v in more]
    c = replace(c, pool_terms=own)
    alone = plan(policy, base, MARKET, c)
    together = plan(policy, base + more, MARKET, c)
    for v in base:
        assert _policy_side(together, v.vault) == _policy_side(alone, v.vault)
    if spec in RULES:
        assert together.decisions[: len(base)] == alone.decisions


# ---------------------------------------------------------------- (d) the first purchase


@settings(max_examples=80, deadline=None)
@given(vs=vault_lists, c=cost_inputs(), own=st.dictionaries(st.integers(0, 3), terms))
def test_the_first_purchase_is_charged_once_per_vault_buying_from_no_inventory(
    vs: list[VaultView], c: CostInputs, own: dict[int, PoolTerms]
) -> None:
    c = replace(c, pool_terms=own)
    for spec in ("costaware:risk_aversion=0.001", "band:width=0.05"):
        p = plan(parse_policy(spec), vs, MARKET, c)
        by = {v.vault: v for v in vs}
        acting = [d for d in p.decisions if d.act]
        for d in p.decisions:
            buys_first = d.act and d.trade > 0 and by[d.vault].inventory == 0
            assert d.first_buy == (buys_first and c.gas_first_buy > 0), d
        if not acting:
            continue
        x = [d.notional_usd for d in acting]
        pools = np.asarray([d.pool for d in acting], dtype=np.int64)
        venues = _venue_keys([d.pool for d in acting], [d.venue for d in acting])
        charged = batch_cost_usd(c, x, pools, venues, [d.first_buy for d in acting])
        assert _total(p) == pytest.approx(charged, rel=1e-12, abs=1e-12)
        plain = batch_cost_usd(c, x, pools, venues)
        firsts = sum(d.first_buy for d in acting)
        # A difference of two totals: good to their last bits (a USD 545k swap on a thin pool
        # costs USD 16.8M, whose float spacing is 3.7e-9).
        slack = 1e-9 + 4 * float(np.spacing(charged))
        assert charged - plain == pytest.approx(firsts * first_buy_usd(c), rel=1e-9, abs=slack)


@settings(max_examples=80, deadline=None)
@given(vs=vault_lists, c=cost_inputs(), own=st.dictionaries(st.integers(0, 3), terms))
def test_a_first_purchase_costs_the_surcharge_more_and_only_in_whether(
    vs: list[VaultView], c: CostInputs, own: dict[int, PoolTerms]
) -> None:
    """Each vault at no inventory against the same vault holding some: a buy's trade is the
    same (a buy is capped by quote, not inventory), its cost is the surcharge more; a sale's
    is capped to nothing (no surcharge)."""
    c = replace(c, pool_terms=own, gas_first_buy=17_100)
    policy = parse_policy("costaware:risk_aversion=0.001")
    empty = plan(policy, [replace(v, inventory=0) for v in vs], MARKET, c)
    held = plan(policy, [replace(v, inventory=1_000 * WAD) for v in vs], MARKET, c)
    for e, h in zip(empty.decisions, held.decisions, strict=True):
        assert not h.first_buy
        if e.deviation < 0:  # a buy (short of target): the same trade, the surcharge more
            assert e.benefit_usd == h.benefit_usd
            if e.act:
                assert e.first_buy
                assert e.cost_usd == pytest.approx(h.cost_usd + first_buy_usd(c), rel=1e-12)
        else:  # a sale from nothing is nothing
            assert not e.act
            assert not e.first_buy
