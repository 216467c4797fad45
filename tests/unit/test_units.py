"""Integer money: mul_div rounding mirrors Solidity's, and the one float conversion."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.units import (
    UINT256_MAX,
    WAD,
    bps_up,
    mul_div_down,
    mul_div_up,
    wad_div_down,
    wad_div_up,
    wad_from_float,
    wad_mul_down,
    wad_to_float,
)

u256 = st.integers(min_value=0, max_value=UINT256_MAX)
small = st.integers(min_value=0, max_value=2**128 - 1)  # x * y always fits a uint256
pos = st.integers(min_value=1, max_value=2**128)


@given(small, small, pos)
def test_mul_div_down_is_floor(x: int, y: int, d: int) -> None:
    assert mul_div_down(x, y, d) == (Fraction(x * y, d)).__floor__()


@given(small, small, pos)
def test_mul_div_up_is_ceil_and_at_most_one_more(x: int, y: int, d: int) -> None:
    up = mul_div_up(x, y, d)
    down = mul_div_down(x, y, d)
    assert up == (Fraction(x * y, d)).__ceil__()
    assert up - down in (0, 1)
    assert (up == down) == ((x * y) % d == 0)


@given(u256, u256, st.integers(min_value=1, max_value=UINT256_MAX))
def test_full_width_intermediate_like_openzeppelin(x: int, y: int, d: int) -> None:
    # mulDiv keeps the 512-bit product: only the *result* must fit a uint256.
    exact = x * y // d
    if exact > UINT256_MAX:
        with pytest.raises(ValueError, match="not a uint256"):
            mul_div_down(x, y, d)
    else:
        assert mul_div_down(x, y, d) == exact


def test_rejects_negative_zero_denominator_and_overflow() -> None:
    with pytest.raises(ValueError, match="x=-1 is not a uint256"):
        mul_div_down(-1, 1, 1)
    with pytest.raises(ValueError, match="division by zero"):
        mul_div_up(1, 1, 0)
    with pytest.raises(ValueError, match=r"result=.* is not a uint256"):
        mul_div_up(UINT256_MAX, UINT256_MAX, 1)
    with pytest.raises(ValueError, match=r"x=.* is not a uint256"):
        mul_div_down(UINT256_MAX + 1, 1, 1)


def test_wad_helpers() -> None:
    assert wad_mul_down(3 * WAD // 2, 2 * WAD) == 3 * WAD
    assert wad_div_down(1, 3) == WAD // 3
    assert wad_div_up(1, 3) == WAD // 3 + 1
    assert bps_up(100, 2_000) == 120
    assert bps_up(101, 2_000) == 122  # 121.2 rounds up


@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False))
def test_wad_from_float_truncates_toward_zero(x: float) -> None:
    w = wad_from_float(x)
    exact = Fraction(x) * WAD
    assert abs(Fraction(w)) <= abs(exact)
    assert abs(exact - w) < 1


def test_wad_from_float_exact_binary_value() -> None:
    assert wad_from_float(0.5) == WAD // 2
    assert wad_from_float(0.1) == 100000000000000005  # 0.1 is 0.1000000000000000055...
    assert wad_from_float(-0.1) == -100000000000000005
    assert wad_to_float(WAD // 4) == 0.25
    with pytest.raises(ValueError, match="cannot convert nan"):
        wad_from_float(float("nan"))
    with pytest.raises(ValueError, match="does not fit an int256"):
        wad_from_float(1e100)


@given(st.integers(min_value=-(2**255), max_value=2**255 - 1))
def test_wad_to_float_is_correctly_rounded(x: int) -> None:
    assert wad_to_float(x) == float(Fraction(x, WAD))


def test_displayed_usdc_rounds_half_up_from_the_integer_units() -> None:
    """The demo's and the devnet's tables show USDC from integer units, rounded half up (away
    from zero) in integers: through a float, 2.5 USDC showed as 2 (Python rounds half to even).
    The demo's share price is exact now, at the asset's 6 decimals
    (tests/unit/test_share_price_display.py)."""
    from keeper.commands.demo import _usd
    from keeper.commands.devnet import _flows

    assert _usd(2_500_000) == "3"
    assert _usd(1_234_567_499_999) == "1,234,567"
    assert _usd(10**30 + 500_000) == f"{10**24 + 1:,}"  # past a float's 53 bits
    assert _flows([("deposit", 2_500_000), ("withdraw", 499_999)]) == (
        "deposit 3 USDC, withdraw 0 USDC"
    )


@given(st.integers(-(10**40), 10**40), st.integers(0, 18), st.data())
def test_format_fixed_is_decimal_half_up(amount: int, decimals: int, data: st.DataObject) -> None:
    from decimal import ROUND_HALF_UP, Context, Decimal

    from keeper.units import format_fixed

    places = data.draw(st.integers(0, decimals))
    exact = Decimal(amount).scaleb(-decimals, Context(prec=100))
    want = exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, Context(prec=100))
    if want == 0:
        want = abs(want)  # no "-0"
    assert format_fixed(amount, decimals, places) == f"{want:,.{places}f}"


def test_the_devnet_banner_shows_each_accounts_usdc_rounded_half_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathlib import Path

    from keeper.app.devnet_session import Account, DevnetInfo
    from keeper.commands.devnet import _print_ready

    accounts = (
        Account("keeper", 0, "0x" + "11" * 20, "0x" + "aa" * 32),
        Account("you", 1, "0x" + "01" * 20, "0x" + "dd" * 32, usdc=10**12),
        Account("depositor 1", 6, "0x" + "22" * 20, "0x" + "bb" * 32, usdc=1_000_000_500_000),
    )
    info = DevnetInfo("http://127.0.0.1:1", 31337, 1, Path("d.json"), ("0x" + "33" * 20,), accounts)
    _print_ready(info)
    line = next(x for x in capsys.readouterr().out.splitlines() if "depositor 1" in x)
    assert "1,000,001 USDC" in line  # 1,000,000.5 through a float: 1,000,000


@pytest.mark.parametrize(
    ("units", "shown"), [(1, "0.000001"), (120_000, "0.12"), (999_999, "0.999999")]
)
def test_the_devnet_banner_shows_a_balance_under_one_usdc_exactly(
    capsys: pytest.CaptureFixture[str], units: int, shown: str
) -> None:
    """The admin holds 1 unit after the deployment: the banner said "0 USDC", --json "usdc": 1."""
    from pathlib import Path

    from keeper.app.devnet_session import Account, DevnetInfo
    from keeper.commands.devnet import _print_ready

    accounts = (
        Account("admin", 0, "0x" + "00" * 20, "0x" + "cc" * 32, usdc=units),
        Account("you", 1, "0x" + "01" * 20, "0x" + "dd" * 32, usdc=10**12),
        Account("keeper", 3, "0x" + "11" * 20, "0x" + "aa" * 32),
    )
    info = DevnetInfo("http://127.0.0.1:1", 31337, 1, Path("d.json"), ("0x" + "33" * 20,), accounts)
    _print_ready(info)
    out = capsys.readouterr().out.splitlines()
    line = next(x for x in out if " admin " in x)
    assert f" {shown} USDC" in line
    assert any("account 1 is yours to deposit with" in x for x in out)
    assert any(x.strip().startswith("KEEPER_PRIVATE_KEY=" + "0x" + "dd" * 32) for x in out)
