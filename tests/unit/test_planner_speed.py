"""The planner's vectorized steps give what their per-vault definitions give.

``_select`` prices every one-member-smaller batch at once and ``_int_trades`` runs the contract's
trade rule over all vaults in one call; the references below are the per-vault loops they replaced
(and :func:`wad_from_float`'s exact ``Fraction`` definition).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from keeper.strategy.costs import (
    batch_cost_usd,
    fixed_cost_usd,
    l2_default_costs,
    lone_usd,
    per_vault_fixed_usd,
    swap_usd,
)
from keeper.strategy.planner import _int_trades, _select
from keeper.strategy.rebalance_rule import executed_trade
from keeper.strategy.types import CostInputs, VaultView
from keeper.units import INT256_MAX, INT256_MIN, Wad, wad_from_float


def _select_reference(benefit: np.ndarray, notional: np.ndarray, costs: CostInputs) -> np.ndarray:
    """The greedy removal as first written: every smaller batch priced by batch_cost_usd."""
    keep = np.ones(len(benefit), dtype=bool)
    while keep.any():
        idx = np.flatnonzero(keep)
        value = float(benefit[idx].sum()) - batch_cost_usd(costs, notional[idx])
        without = np.array(
            [
                float(benefit[idx].sum() - benefit[i])
                - batch_cost_usd(costs, notional[idx[idx != i]])
                for i in idx
            ]
        )
        best = int(np.argmax(without))
        if without[best] > value:
            keep[idx[best]] = False
        else:
            break
    return keep


def _select_vectorized_reference(
    benefit: np.ndarray, notional: np.ndarray, costs: CostInputs
) -> np.ndarray:
    """``_select`` before the certified runs: one vectorized O(n) round per removal."""
    keep = np.zeros(len(benefit), dtype=bool)
    fixed, per, swap = fixed_cost_usd(costs), per_vault_fixed_usd(costs), swap_usd(costs)
    fee, impact = costs.pool_fee_bps / 1e4, costs.impact_coef
    idx = np.arange(len(benefit))
    b = np.asarray(benefit, dtype=np.float64)
    x = np.asarray(notional, dtype=np.float64)
    while len(idx):
        m = len(idx)
        total = b.sum()
        net = float(np.sum(x))
        cost = (
            fixed + m * per + (swap if net != 0.0 else 0.0) + (fee + impact * abs(net)) * abs(net)
        )
        lone = lone_usd(costs)
        if m == 1 and lone is not None:
            cost = lone + (fee + impact * abs(net)) * abs(net)
        value = float(total) - cost
        if m == 1:
            without = np.zeros(1)  # the empty batch: no benefit, no cost
        else:
            net_wo = net - x
            abs_wo = np.abs(net_wo)
            cost_wo = (
                fixed
                + (m - 1) * per
                + np.where(net_wo != 0.0, swap, 0.0)
                + (fee + impact * abs_wo) * abs_wo
            )
            if m == 2 and lone is not None:
                cost_wo = lone + (fee + impact * abs_wo) * abs_wo
            without = (total - b) - cost_wo
        best = int(np.argmax(without))
        if not without[best] > value:
            break
        idx = np.concatenate((idx[:best], idx[best + 1 :]))
        b = np.concatenate((b[:best], b[best + 1 :]))
        x = np.concatenate((x[:best], x[best + 1 :]))
    keep[idx] = True
    return keep


def _costs(rng: np.random.Generator) -> CostInputs:
    return CostInputs(
        gas_fixed=int(rng.integers(0, 200_000)),
        gas_per_vault=int(rng.integers(0, 300_000)),
        gas_price_wei=int(rng.integers(0, 10**10)),
        l1_fee_fixed_wei=int(rng.integers(0, 10**13)),
        l1_fee_per_vault_wei=int(rng.integers(0, 10**12)),
        eth_usd=float(rng.uniform(100, 5000)),
        pool_fee_bps=float(rng.choice([0.0, 1.0, 5.0, 30.0])),
        impact_coef=float(rng.choice([0.0, 1e-9, 2e-9, 1e-7])),
        gas_swap=int(rng.choice([0, 125_000])),
        gas_direct=int(rng.choice([0, 216_000])),
        l1_fee_direct_wei=int(rng.integers(0, 10**13)),
        gas_batch_one=int(rng.choice([0, 230_000])),  # a batch of one's own figure, or none
    )


def test_select_matches_the_per_member_reference() -> None:
    rng = np.random.default_rng(12)
    removed = 0
    for trial in range(400):
        n = int(rng.integers(1, 60))
        costs = _costs(rng)
        # Same-side books (removals pay: impact grows with the net) and crossing ones.
        sign = 1.0 if trial % 3 == 0 else rng.choice([-1.0, 1.0], n)
        notional = sign * rng.lognormal(8, 2, n)
        benefit = rng.lognormal(0, 2, n) * (1 + (trial % 5))
        got, want = _select(benefit, notional, costs), _select_reference(benefit, notional, costs)
        assert got.tolist() == want.tolist(), trial
        removed += int((~want).sum())
    assert removed > 1_000  # the greedy removal was exercised, not just the first round


def test_select_edge_cases() -> None:
    costs = _costs(np.random.default_rng(3))
    empty = np.zeros(0)
    assert _select(empty, empty, costs).tolist() == []
    for benefit, notional in (([0.0], [0.0]), ([1e9], [5.0]), ([0.0, 0.0], [3.0, -3.0])):
        b, x = np.array(benefit), np.array(notional)
        assert _select(b, x, costs).tolist() == _select_reference(b, x, costs).tolist()


def _view(i: int, deviation: int, band: int, max_trade: int) -> VaultView:
    return VaultView(
        vault=f"0x{i:040x}",
        net_delta=Wad(deviation + 7),
        target_delta=Wad(7),
        band=Wad(band),
        max_trade=Wad(max_trade),
        last_rebalance=0,
        min_interval=0,
        max_interval=0,
        spot=3000.0,
        gamma=0.0,
        vol=0.8,
        contracts=1.0,
        trigger_ready=True,
        time_to_expiry=0.1,
    )


wads = st.integers(min_value=-(10**30), max_value=10**30)


@given(st.lists(st.tuples(wads, wads, wads.map(abs), wads.map(abs)), max_size=20))
def test_int_trades_match_one_vault_at_a_time(rows: list[tuple[int, int, int, int]]) -> None:
    views = [_view(i, d, b, m) for i, (d, _, b, m) in enumerate(rows)]
    devs = [d for d, _, _, _ in rows]
    posts = [Wad(p) for _, p, _, _ in rows]

    def one(x: int) -> np.ndarray:
        a = np.empty(1, dtype=object)
        a[0] = x
        return a

    want = [
        int(executed_trade(one(d), one(p), one(v.band), one(v.max_trade))[0])
        for d, p, v in zip(devs, posts, views, strict=True)
    ]
    assert _int_trades(devs, posts, views) == want


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_wad_from_float_is_the_exact_value_truncated(x: float) -> None:
    want = int(Fraction(x) * 10**18)
    if INT256_MIN <= want <= INT256_MAX:
        assert wad_from_float(x) == want


def _book(rng: np.random.Generator, n: int, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Benefits and notionals (USD) of ``n`` candidates in one of the shapes the greedy meets."""
    if shape == "same-side":  # most benefits below the per-vault cost: most members leave
        return 1e-3 * rng.lognormal(-1, 1, n), rng.lognormal(8, 1.5, n)
    if shape == "small-notional":  # benefit, fee and impact of one size: the order keeps moving
        return 1e-3 * rng.lognormal(-1, 1, n), rng.lognormal(2, 1.5, n)
    if shape == "crossing":
        return rng.lognormal(0, 2, n), rng.choice([-1.0, 1.0], n) * rng.lognormal(6, 1.5, n)
    if shape == "identical":  # one kind: every round a tie, broken by position
        return np.full(n, 55.0), np.full(n, 6000.0)
    # A few kinds, interleaved, one with a zero notional.
    kind = rng.integers(0, 4, n)
    return (55.0 * (1 + 0.01 * kind), 6000.0 * (kind != 3) * (1 + 0.02 * kind))


def test_select_matches_the_vectorized_reference_at_scale() -> None:
    rng = np.random.default_rng(7)
    removed = 0
    for trial in range(15):
        shape = ("same-side", "small-notional", "crossing", "identical", "kinds")[trial % 5]
        n = int(rng.integers(1_000, 3_000))
        costs = l2_default_costs() if trial < 5 else _costs(rng)
        benefit, notional = _book(rng, n, shape)
        got = _select(benefit, notional, costs)
        want = _select_vectorized_reference(benefit, notional, costs)
        assert got.tolist() == want.tolist(), (trial, shape)
        removed += int((~want).sum())
    assert removed > 15_000  # most rounds removed a member


def test_select_near_ties_and_degenerate_books() -> None:
    costs = l2_default_costs()
    per = per_vault_fixed_usd(costs)
    b0 = 55.0
    cases = [
        # One member; zero notionals; a net exactly zero; all benefits zero.
        ([1e-3], [5.0]),
        ([1e-3] * 50, [0.0] * 50),
        ([1e-3] * 40, [100.0, -100.0] * 20),
        ([0.0] * 30, list(np.linspace(1.0, 30.0, 30))),
        # Benefits one ulp apart, equal notionals: near-ties the runs must leave to exact rounds.
        ([b0, np.nextafter(b0, 0.0)] * 300, [6000.0] * 600),
        ([b0 + per * (i % 3) * 1e-12 for i in range(600)], [6000.0] * 600),
        # Notionals one ulp apart, and a member whose notional equals the net of the others.
        ([b0] * 600, [6000.0, np.nextafter(6000.0, 0.0)] * 300),
        ([1e-3] * 200 + [1e-3], [10.0] * 200 + [2000.0]),
    ]
    for benefit, notional in cases:
        b, x = np.asarray(benefit, dtype=np.float64), np.asarray(notional, dtype=np.float64)
        got = _select(b, x, costs)
        assert got.tolist() == _select_vectorized_reference(b, x, costs).tolist()
    for benefit, notional in cases[:4]:
        b, x = np.asarray(benefit, dtype=np.float64), np.asarray(notional, dtype=np.float64)
        assert _select(b, x, costs).tolist() == _select_reference(b, x, costs).tolist()
    # Without a swap, fee or impact cost: only the per-vault cost and the benefits decide.
    rng = np.random.default_rng(5)
    free = CostInputs(
        gas_fixed=0,
        gas_per_vault=300_000,
        gas_price_wei=10**9,
        l1_fee_fixed_wei=0,
        l1_fee_per_vault_wei=10**11,
        eth_usd=3000.0,
        pool_fee_bps=0.0,
        impact_coef=0.0,
    )
    b, x = 1e-3 * rng.lognormal(0, 1, 2_000), rng.lognormal(8, 1.5, 2_000)
    assert _select(b, x, free).tolist() == _select_vectorized_reference(b, x, free).tolist()
