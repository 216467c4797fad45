"""The market driver's pure parts: the seeded path, premiums, collateral sizing, ERC-4626 math."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.app.demo import DemoConfig
from keeper.backtest.price_paths import merton_paths
from keeper.chain.lens import Series
from keeper.devnet.market import (
    CALL,
    PUT,
    SIZE_LOT,
    USDC,
    WAD,
    MarketConfig,
    demo_accounts,
    erc4626_shares,
    lock_per_contract,
    option_value_usd,
    premium_quote,
    price_path,
    put_room,
    size_within_collateral,
    to_price8,
)
from keeper.errors import ConfigError
from keeper.pricing import YEAR_SECONDS, capped_greeks


def test_price_path_is_seeded_and_starts_at_spot() -> None:
    cfg = MarketConfig(seed=11, steps=50)
    a, b = price_path(cfg), price_path(cfg)
    assert a == b
    assert len(a) == 51
    assert a[0] == cfg.spot8
    assert all(isinstance(p, int) and p > 0 for p in a)
    assert price_path(MarketConfig(seed=12, steps=50)) != a


def test_price_path_is_the_backtesters_generator_rounded_to_1e8() -> None:
    cfg = MarketConfig(seed=3, steps=20, step_seconds=600, vol=0.9, drift=0.1)
    ref = merton_paths(3000.0, 0.1, 0.9, 20 * 600 / YEAR_SECONDS, 20, 1, 3, 0.0, -0.03, 0.05)
    assert price_path(cfg) == [round(float(x) * 10**8) for x in ref.spots[0]]
    jumpy = price_path(MarketConfig(seed=3, steps=20, vol=0.9, drift=0.1, jump_intensity=5e4))
    assert jumpy != price_path(cfg)


def test_price_path_moves_like_its_vol() -> None:
    cfg = MarketConfig(seed=5, steps=4000, step_seconds=600, vol=0.8)
    px = np.asarray(price_path(cfg), dtype=float)
    rets = np.diff(np.log(px))
    realized = float(rets.std() * math.sqrt(YEAR_SECONDS / 600))
    assert 0.75 < realized < 0.85


def test_to_price8_rounds_to_nearest_and_refuses_nonsense() -> None:
    assert to_price8(3000.123456789) == 300012345679
    assert to_price8(1e-12) == 1
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError):
            to_price8(bad)


def test_lock_per_contract_mirrors_the_vault() -> None:
    # Call: the cap (1e8) in quote units (1e6), i.e. cap / 100, rounded up.
    assert lock_per_contract(CALL, 3000 * 10**8, 500 * 10**8) == 500 * USDC
    assert lock_per_contract(CALL, 3000 * 10**8, 101) == 2  # 1.01 units -> 2 (ceil)
    # A put pays at most its strike, even with a larger cap.
    assert lock_per_contract(PUT, 100 * 10**8, 500 * 10**8) == 100 * USDC
    assert lock_per_contract(PUT, 3000 * 10**8, 500 * 10**8) == 500 * USDC


def test_option_value_is_capped_black_scholes_at_the_vault_vol() -> None:
    value, delta = option_value_usd(
        3000 * 10**8, 3100 * 10**8, 400 * 10**8, 86_400, 8 * 10**17, CALL
    )
    ref = capped_greeks(3000.0, 3100.0, 400.0, 86_400 / YEAR_SECONDS, 0.8, call=True)
    assert value == pytest.approx(float(ref.value))
    assert delta == pytest.approx(float(ref.delta))
    assert 0 < delta < 1
    put_value, put_delta = option_value_usd(
        3000 * 10**8, 2900 * 10**8, 400 * 10**8, 86_400, 8 * 10**17, PUT
    )
    assert put_value > 0
    assert -1 < put_delta < 0


def test_premium_rounds_up_and_is_never_zero() -> None:
    # 12.3456789 USD x 2 contracts = 24.6913578 USD -> 24,691,358 units (up).
    assert premium_quote(12.3456789, 2 * WAD, 0) == 24_691_358
    # The markup applies on top.
    assert premium_quote(10.0, WAD, 200) == 10_200_000
    # A worthless far-out-of-the-money option still costs one unit (the vault refuses 0).
    assert premium_quote(0.0, WAD, 0) == 1
    assert premium_quote(1e-9, WAD // 10, 0) == 1
    for args in ((1.0, 0, 0), (1.0, WAD, -1), (math.nan, WAD, 0), (-1.0, WAD, 0)):
        with pytest.raises(ConfigError):
            premium_quote(*args)


@given(
    value=st.floats(min_value=0.0, max_value=5_000.0),
    size=st.integers(min_value=1, max_value=10**24),
    markup=st.integers(min_value=0, max_value=5_000),
)
def test_premium_is_at_least_the_value(value: float, size: int, markup: int) -> None:
    premium = premium_quote(value, size, markup)
    exact = value * size / WAD * (10_000 + markup) / 10_000 * USDC
    assert premium >= exact - 1e-6 * max(exact, 1.0)
    assert premium <= exact + 1 + 1e-9 * exact


def test_size_within_collateral_fits_the_budget() -> None:
    # 1M free, 15% budget = 150k; each contract locks 500 and its hedge buys 1,500.
    size = size_within_collateral(10**6 * USDC, 500 * USDC, 1_500 * USDC, 1_500, 1000 * WAD)
    assert size == 75 * WAD
    # The max size caps it; sizes are whole lots.
    assert size_within_collateral(10**6 * USDC, 500 * USDC, 0, 1_500, 30 * WAD) == 30 * WAD
    odd = size_within_collateral(1_000 * USDC, 700 * USDC, 0, 10_000, 10 * WAD)
    assert odd % SIZE_LOT == 0
    assert odd == 14 * SIZE_LOT  # 1.428 contracts -> 1.4
    # Nothing fits: zero, which the desk treats as "do not write".
    assert size_within_collateral(40 * USDC, 500 * USDC, 0, 10_000, 10 * WAD) == 0  # 0.08
    assert size_within_collateral(0, 500 * USDC, 0, 10_000, 10 * WAD) == 0
    with pytest.raises(ConfigError):
        size_within_collateral(10**6, 0, 0, 10_000, WAD)


@given(
    free=st.integers(min_value=0, max_value=10**15),
    lock=st.integers(min_value=1, max_value=10**12),
    hedge=st.integers(min_value=-(10**9), max_value=10**12),
    budget=st.integers(min_value=1, max_value=10_000),
    max_size=st.integers(min_value=1, max_value=10**24),
)
def test_size_within_collateral_never_overcommits(
    free: int, lock: int, hedge: int, budget: int, max_size: int
) -> None:
    size = size_within_collateral(free, lock, hedge, budget, max_size)
    per = lock + max(hedge, 0)
    assert 0 <= size <= max_size
    assert size % SIZE_LOT == 0
    # Its commitment fits in the budget (exact integer comparison, no float).
    assert size * per <= free * budget // 10_000 * WAD
    # And one more lot would not fit, unless the max size stopped it.
    if size + SIZE_LOT <= max_size:
        assert (size + SIZE_LOT) * per > free * budget // 10_000 * WAD


def test_erc4626_shares_is_oz_math_with_six_decimals_offset() -> None:
    # Empty vault: 1 quote unit -> 1e6 shares (virtual shares 1e6, virtual assets 1).
    assert erc4626_shares(1, 0, 0, round_up=False) == 10**6
    # 1,000 USDC into a vault of 2,000,001 USDC NAV and 2e18 shares.
    ta, ts = 2_000_001 * USDC, 2 * 10**18
    down = erc4626_shares(1_000 * USDC, ta, ts, round_up=False)
    up = erc4626_shares(1_000 * USDC, ta, ts, round_up=True)
    assert down == (1_000 * USDC) * (ts + 10**6) // (ta + 1)
    assert up == down + 1
    # Exact division: both roundings agree.
    assert erc4626_shares(10, 9, 10**6 * 10 - 10**6, round_up=True) == erc4626_shares(
        10, 9, 10**6 * 10 - 10**6, round_up=False
    )


def _series(sid: int, kind: int, size: int, settled: bool = False) -> Series:
    return Series(sid, kind, 3000 * 10**8, 500 * 10**8, 1, size, settled, 0)


def test_put_room_keeps_puts_within_a_quarter_of_inventory() -> None:
    assert put_room(0, []) == 0
    assert put_room(40 * WAD, []) == 10 * WAD
    book = [_series(1, CALL, 30 * WAD), _series(2, PUT, 4 * WAD), _series(3, PUT, 9 * WAD, True)]
    assert put_room(40 * WAD, book) == 6 * WAD  # the settled put no longer counts
    assert put_room(8 * WAD, book) == 0


def test_market_config_refuses_bad_knobs() -> None:
    for kw in (
        {"steps": 0},
        {"step_seconds": 0},
        {"spot8": 0},
        {"vol": -0.1},
        {"deposit_prob": 1.5},
        {"put_share": -0.1},
        {"min_deposit": 0},
        {"min_deposit": 10, "max_deposit": 5},
    ):
        with pytest.raises(ConfigError):
            MarketConfig(**kw)


def test_demo_accounts_are_distinct_roles() -> None:
    a = demo_accounts()
    addresses = [
        a.admin.address,
        a.desk.address,
        a.keeper_address,
        a.arbitrageur.address,
        a.buyer.address,
        *(d.address for d in a.depositors),
    ]
    assert len(set(addresses)) == len(addresses) == 8
    with pytest.raises(ConfigError):
        demo_accounts(("0x" + "11" * 32,) * 3)


def test_demo_config_refuses_bad_input() -> None:
    for kw in ({"vaults": 0}, {"steps": 0}, {"block_time": 0.0}, {"port": 70_000}):
        with pytest.raises(ConfigError):
            DemoConfig(**kw)
    assert DemoConfig().market().steps == 150


def test_a_negative_seed_is_refused_before_anything_starts() -> None:
    """numpy refuses a negative seed with a bare ValueError, which reached the user as a traceback
    after anvil had started and the stack was deployed (``keeper demo --seed -1``, ``keeper devnet
    up --seed -1``). Both configs now refuse it in one line, before a node starts."""
    from keeper.app.devnet_session import DevnetConfig

    with pytest.raises(ConfigError, match=r"--seed must be >= 0, got -1"):
        MarketConfig(seed=-1)
    with pytest.raises(ConfigError, match=r"--seed must be >= 0, got -1"):
        DemoConfig(seed=-1)
    with pytest.raises(ConfigError, match=r"--seed must be >= 0, got -1"):
        DevnetConfig(seed=-1)
    assert MarketConfig(seed=0).seed == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_block_time_and_market_every_must_be_finite_and_positive(bad: float) -> None:
    """NaN passed the ``<= 0`` checks: ``keeper devnet up --market-every nan`` took market steps in
    a busy loop (``Event.wait(nan)`` returns at once), and ``--block-time nan`` reached anvil,
    which refused it, and was reported as "anvil did not start after 3 attempts"."""
    from keeper.app.devnet_session import DevnetConfig

    with pytest.raises(ConfigError, match=r"--block-time must be a finite number > 0"):
        DemoConfig(block_time=bad)
    with pytest.raises(ConfigError, match=r"--block-time must be a finite number > 0"):
        DevnetConfig(block_time=bad)
    with pytest.raises(ConfigError, match=r"--market-every must be a finite number > 0"):
        DevnetConfig(market_every_s=bad)
