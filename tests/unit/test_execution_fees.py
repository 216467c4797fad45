"""EIP-1559 fees under caps; replacement bumps of at least 12.5% on both fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.errors import FeeCapError
from keeper.execution.fees import FeeCaps, Fees, bump_fees, initial_fees
from keeper.units import Wei

CAPS = FeeCaps(Wei(100 * 10**9), Wei(2 * 10**9))


def test_initial_fees_two_base_fees_plus_tip() -> None:
    f = initial_fees(10**9, 10**6, CAPS)
    assert f == Fees(Wei(2 * 10**9 + 10**6), Wei(10**6))


def test_initial_fees_capped() -> None:
    f = initial_fees(60 * 10**9, 5 * 10**9, CAPS)
    assert f.max_fee_per_gas == CAPS.max_fee_per_gas
    assert f.max_priority_fee_per_gas == CAPS.max_priority_fee_per_gas


def test_base_fee_above_cap_refused() -> None:
    with pytest.raises(FeeCapError, match="exceeds the max fee cap"):
        initial_fees(101 * 10**9, 1, CAPS)


@given(
    st.integers(min_value=1, max_value=50 * 10**9),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=40 * 10**9),
)
def test_bump_is_at_least_12_5_percent_on_both_and_under_caps(
    max_fee: int, tip: int, base: int
) -> None:
    tip = min(tip, max_fee)
    old = Fees(Wei(max_fee), Wei(tip))
    try:
        new = bump_fees(old, CAPS, base_fee=base)
    except FeeCapError:
        assert max_fee * 9 > CAPS.max_fee_per_gas * 8 or tip * 9 > CAPS.max_priority_fee_per_gas * 8
        return
    assert new.max_fee_per_gas * 8 >= max_fee * 9
    assert new.max_priority_fee_per_gas * 8 >= tip * 9
    assert new.max_fee_per_gas > max_fee
    assert new.max_fee_per_gas <= CAPS.max_fee_per_gas
    assert new.max_priority_fee_per_gas <= CAPS.max_priority_fee_per_gas
    assert new.max_priority_fee_per_gas <= new.max_fee_per_gas


def test_bump_rounds_up() -> None:
    new = bump_fees(Fees(Wei(9), Wei(1)), CAPS)
    assert new.max_fee_per_gas == 11  # 10.125 -> 11
    assert new.max_priority_fee_per_gas == 2


def test_bump_over_cap_raises() -> None:
    with pytest.raises(FeeCapError, match="replacement max fee"):
        bump_fees(Fees(Wei(95 * 10**9), Wei(10**6)), CAPS)
    with pytest.raises(FeeCapError, match="replacement tip"):
        bump_fees(Fees(Wei(10**9), Wei(19 * 10**8)), CAPS)


def test_bump_follows_a_rising_market_under_cap() -> None:
    new = bump_fees(Fees(Wei(2 * 10**9), Wei(10**6)), CAPS, base_fee=10 * 10**9)
    assert new.max_fee_per_gas == 20 * 10**9 + new.max_priority_fee_per_gas
