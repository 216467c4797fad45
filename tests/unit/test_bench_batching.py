"""The batching bench's summaries of wei amounts (no chain): exact integers, never floats."""

from __future__ import annotations

from bench.batching import _Round, _single, bought_summary
from bench.common import summary_int

BIG = 2**60 + 1  # above 2**53: a float cannot hold it


def test_summary_int_is_exact_on_amounts_a_float_would_round() -> None:
    assert summary_int([BIG, 3, BIG + 2]) == {"median": BIG, "min": 3, "max": BIG + 2}
    # an even count: the mean of the middle two, rounded down to the wei
    assert summary_int([BIG, BIG + 3]) == {"median": BIG + 1, "min": BIG, "max": BIG + 3}
    assert all(type(v) is int for v in summary_int([BIG, BIG + 3]).values())


def test_single_transaction_figures_are_exact_wei() -> None:
    r = _Round(
        singles=[
            {"gas": 227_396, "l2_fee": BIG, "l1_fee": 57_284_238_125},
            {"gas": 227_400, "l2_fee": BIG + 2, "l1_fee": 57_284_238_125},
            {"gas": 231_272, "l2_fee": BIG + 4, "l1_fee": 56_898_052_250},
        ]
    )
    s = _single(r)
    assert s["cost_wei"] == {
        "median": BIG + 57_284_238_125,
        "min": BIG + 4 + 56_898_052_250,
        "max": BIG + 2 + 57_284_238_125,
    }
    assert s["gas"]["median"] == 227_400
    assert all(
        type(v) is int for part in ("gas", "l1_fee_wei", "cost_wei") for v in s[part].values()
    )


def test_bought_weth_is_summarized_in_exact_wei() -> None:
    bought = [1_482_021_421_058_178_731, 1_482_020_249_663_679_701, 1_484_662_957_279_898_623]
    out = bought_summary(_Round(bought=bought), _Round(bought=[722_237_893_957_174_917]))
    assert out["first"] == {
        "median": 1_482_021_421_058_178_731,
        "min": 1_482_020_249_663_679_701,
        "max": 1_484_662_957_279_898_623,
    }
    assert out["recurring"]["median"] == 722_237_893_957_174_917
