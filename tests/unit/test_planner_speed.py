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

from keeper.strategy.costs import batch_cost_usd
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
