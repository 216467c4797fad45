"""Integer price math and artifact loading of keeper.devnet.uniswap (no chain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.devnet import uniswap as uni
from keeper.errors import ConfigError

Q96 = 1 << 96


def _both(price8: int, u0: bool) -> int:
    sqrt = uni.sqrt_price_x96_from_price8(
        price8, quote_decimals=6, underlying_decimals=18, underlying_is_token0=u0
    )
    return uni.price8_from_sqrt_price_x96(
        sqrt, quote_decimals=6, underlying_decimals=18, underlying_is_token0=u0
    )


def test_sqrt_price_known_values() -> None:
    # quote token0: raw price = underlying units per quote unit = 1e18 / (1 * 1e6) at price 1
    assert (
        uni.sqrt_price_x96_from_price8(
            10**8, quote_decimals=6, underlying_decimals=18, underlying_is_token0=False
        )
        == Q96 * 10**6
    )
    # underlying token0 at price 1e6 (1,000,000 quote per underlying): raw = 1e12/1e18 = 1e-6
    # -> sqrt = 2^96 / 1000 (floored root of a floored Q192)
    got = uni.sqrt_price_x96_from_price8(
        10**14, quote_decimals=6, underlying_decimals=18, underlying_is_token0=True
    )
    assert abs(got - Q96 // 1000) <= 1
    # equal decimals, price 1, either order: sqrt = 2^96 exactly
    for u0 in (True, False):
        assert (
            uni.sqrt_price_x96_from_price8(
                10**8, quote_decimals=18, underlying_decimals=18, underlying_is_token0=u0
            )
            == Q96
        )


def test_price8_from_sqrt_known_values() -> None:
    assert (
        uni.price8_from_sqrt_price_x96(
            Q96 * 10**6, quote_decimals=6, underlying_decimals=18, underlying_is_token0=False
        )
        == 10**8
    )
    assert (
        uni.price8_from_sqrt_price_x96(
            Q96, quote_decimals=18, underlying_decimals=18, underlying_is_token0=True
        )
        == 10**8
    )


@given(price8=st.integers(min_value=10**4, max_value=10**16), u0=st.booleans())
def test_price_round_trip(price8: int, u0: bool) -> None:
    back = _both(price8, u0)
    assert abs(back - price8) <= 1 + price8 // 10**9


@given(
    a=st.integers(min_value=uni.MIN_SQRT_RATIO, max_value=uni.MAX_SQRT_RATIO - 1),
    b=st.integers(min_value=uni.MIN_SQRT_RATIO, max_value=uni.MAX_SQRT_RATIO - 1),
)
def test_price8_monotone_in_pool_price(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    kw = {"quote_decimals": 6, "underlying_decimals": 18}
    assert uni.price8_from_sqrt_price_x96(
        lo, underlying_is_token0=True, **kw
    ) <= uni.price8_from_sqrt_price_x96(hi, underlying_is_token0=True, **kw)
    assert uni.price8_from_sqrt_price_x96(
        lo, underlying_is_token0=False, **kw
    ) >= uni.price8_from_sqrt_price_x96(hi, underlying_is_token0=False, **kw)


def test_sqrt_price_rejects_bad_prices() -> None:
    with pytest.raises(ConfigError, match="positive"):
        uni.sqrt_price_x96_from_price8(
            0, quote_decimals=6, underlying_decimals=18, underlying_is_token0=True
        )
    with pytest.raises(ConfigError, match="range"):
        uni.sqrt_price_x96_from_price8(
            10**80, quote_decimals=6, underlying_decimals=18, underlying_is_token0=True
        )


@pytest.mark.parametrize(
    ("spacing", "expected"),
    [
        (1, (-887272, 887272)),
        (10, (-887270, 887270)),
        (60, (-887220, 887220)),
        (200, (-887200, 887200)),
    ],
)
def test_full_range_ticks(spacing: int, expected: tuple[int, int]) -> None:
    assert uni.full_range_ticks(spacing) == expected


def test_amount_in_to_reach_matches_constant_product() -> None:
    # full-range liquidity L at sqrt price s: token1 reserve y = L*s/2^96, token0 x = L*2^96/s.
    liquidity = 10**20
    s = Q96 * 10**6
    # token1 in, price x4 (sqrt x2): dy = L*(2s - s)/2^96 = L*1e6, before the 0.3% fee
    zero_for_one, amount = uni.amount_in_to_reach(s, 2 * s, liquidity, 3000)
    assert not zero_for_one
    net = liquidity * 10**6
    assert amount == -(-net * 10**6 // (10**6 - 3000))
    # token0 in, sqrt halves: dx = L*2^96*(s - s/2)/(s * s/2) = L*2^96/s = L/1e6
    zero_for_one, amount = uni.amount_in_to_reach(s, s // 2, liquidity, 0)
    assert zero_for_one
    assert amount == liquidity // 10**6
    assert uni.amount_in_to_reach(s, s, liquidity, 3000) == (False, 0)


@given(
    s=st.integers(min_value=2**80, max_value=2**110),
    t=st.integers(min_value=2**80, max_value=2**110),
    fee=st.sampled_from([100, 500, 3000, 10000]),
)
def test_amount_in_to_reach_grows_with_distance(s: int, t: int, fee: int) -> None:
    liquidity = 10**22
    _, amount = uni.amount_in_to_reach(s, t, liquidity, fee)
    mid = (s + t) // 2
    _, half = uni.amount_in_to_reach(s, mid, liquidity, fee)
    assert half <= amount


def test_load_hardhat_artifact_reads_string_bytecode() -> None:
    art = uni.load_hardhat_artifact("SwapRouter")
    assert art.name == "SwapRouter"
    assert art.bytecode.startswith("0x6")
    assert any(e.get("name") == "exactInputSingle" for e in art.abi)
    for name in uni.HARDHAT_ARTIFACTS:
        assert len(uni.load_hardhat_artifact(name).bytecode) > 1000


def test_load_hardhat_artifact_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown"):
        uni.load_hardhat_artifact("WETH9")
    with pytest.raises(ConfigError, match="missing"):
        uni.load_hardhat_artifact("SwapRouter", tmp_path)
    bad = tmp_path / uni.HARDHAT_ARTIFACTS["QuoterV2"]
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"abi": [], "bytecode": "0x"}))
    with pytest.raises(ConfigError, match="no bytecode"):
        uni.load_hardhat_artifact("QuoterV2", tmp_path)
    linked = tmp_path / uni.HARDHAT_ARTIFACTS["SwapRouter"]
    linked.parent.mkdir(parents=True)
    linked.write_text(
        json.dumps({"abi": [], "bytecode": "0x6000", "linkReferences": {"a.sol": {}}})
    )
    with pytest.raises(ConfigError, match="linking"):
        uni.load_hardhat_artifact("SwapRouter", tmp_path)


def test_weth9_sentinel_matches_forge_fixture() -> None:
    fixture = Path(uni.__file__).resolve().parents[2] / "tests/forge/utils/UniswapV3Fixture.sol"
    assert uni.WETH9_SENTINEL in fixture.read_text()
