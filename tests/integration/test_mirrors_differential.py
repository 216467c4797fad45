"""Differential tests of the keeper's Python mirrors against the compiled contracts.

Each test calls the real contract (anvil and py-evm, via the ``chain`` fixture) and the keeper's
own Python on the same inputs:

* ``RebalanceRules.plan`` (trigger, amountIn, minOut, NoTradePossible) against the live
  planner's ``executed_trade`` + ``funded_trade`` (what ``planner._int_trades`` books), with the
  batcher's crossing amount ``mulDiv(amountIn, 1e20, price)`` for a buy;
* ``RebalanceRules.lockOf`` against ``keeper.devnet.market.lock_per_contract``;
* ``RebalanceRules.bookDelta`` (the vault's hot path) against ``capped_greeks`` as
  ``keeper.pricing.trigger.derive`` uses it, at the tolerance ``derive`` assumes
  (``PRICING_REL_TOL`` of the legs' |delta| + ``QUANTUM_WEI`` per contract);
* ``UniswapV3Venue.priceFromSqrtPriceX96`` against ``price8_from_sqrt_price_x96``.
"""

from __future__ import annotations

import numpy as np
import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keeper.chain.artifacts import load_artifact
from keeper.devnet import uniswap as uni
from keeper.devnet.market import lock_per_contract
from keeper.devnet.tx import account, deploy, transact
from keeper.pricing.black_scholes import YEAR_SECONDS, capped_greeks
from keeper.pricing.trigger import PRICING_REL_TOL, QUANTUM_WEI
from keeper.strategy.rebalance_rule import executed_trade, funded_trade
from tests.conftest import Chain, examples

pytestmark = pytest.mark.integration

BPS = 10_000
E20 = 10**20
NO_TRADE = keccak(text="OptionVaultNoTradePossible(int256)")[:4]
WITHIN_BAND = keccak(text="OptionVaultWithinBand(int256,int256,uint256)")[:4]
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _obj(x: int) -> np.ndarray:
    return np.array([x], dtype=object)


def _py_trade(
    dev: int, post: int, band: int, max_trade: int, price: int, free: int, inv: int
) -> int:
    """``planner._int_trades`` for one vault: executed_trade, then funded_trade."""
    t = int(executed_trade(_obj(dev), _obj(post), _obj(band), _obj(max_trade))[0])
    return funded_trade(t, price, free, inv)


def _pack(
    target: int,
    band: int,
    min_i: int,
    max_i: int,
    max_trade: int,
    slip: int,
    gap: int,
    heartbeat: int,
    grace: int,
) -> tuple[int, int]:
    t0 = (target & ((1 << 96) - 1)) | band << 96 | min_i << 192 | max_i << 224
    t1 = max_trade | slip << 96 | gap << 112 | heartbeat << 128 | grace << 160
    return t0, t1


# ---------------------------------------------------------------------------- plan


def test_plan_amount_in_matches_funded_trade(chain: Chain) -> None:
    w3 = chain.w3
    admin = account(chain.keys[0])
    rules = deploy(w3, admin, load_artifact("RebalanceRules"))
    feed = deploy(w3, admin, load_artifact("MockV3Aggregator"), 8, 3000 * 10**8)
    venue = deploy(w3, admin, load_artifact("StubVenue"), 3000 * 10**8)
    state = {"price": 3000 * 10**8}
    seen: dict[str, int] = {}

    def set_price(price: int) -> None:
        if state["price"] != price:
            transact(w3, admin, feed.functions.updateAnswer(price))
            transact(w3, admin, venue.functions.setPrice(price))
            state["price"] = price

    def check(
        inv: int,
        dev: int,
        post: int,
        band: int,
        max_trade: int,
        price: int,
        free: int,
        slip: int,
        last: int,
    ) -> None:
        set_price(price)
        now = int(w3.eth.get_block("latest")["timestamp"])
        target = inv - dev  # empty book: net = inventory, so d = net - target = dev
        t0, t1 = _pack(target, band, 1, 3600, max_trade, slip, slip, 172_800, 3600)
        inp = (
            t0,
            t1,
            last,
            now,
            feed.address,
            "0x" + "00" * 20,
            venue.address,
            inv,
            free,
            10**18,
            post,
        )
        (trig, before, p_price, buy, amount_in, min_out), err = rules.functions.plan([], inp).call()
        err = bytes(err)
        # The keeper's trigger (pricing/trigger.derive): |target - net| > band, else time.
        band_hit = abs(dev) > band
        timed = dev != 0 and now >= last + 3600
        if not (band_hit or timed):
            seen["within"] = seen.get("within", 0) + 1
            assert err[:4] == WITHIN_BAND, (inv, dev, band, err.hex())
            return
        assert trig == (1 if band_hit else 2)
        py = _py_trade(dev, post, band, max_trade, price, free, inv)
        if err:
            seen["none"] = seen.get("none", 0) + 1
            assert err[:4] == NO_TRADE, err.hex()
            assert py == 0, (inv, dev, post, band, max_trade, price, free, py)
            return
        assert p_price == price
        assert before == inv
        seen["buy" if buy else "sell"] = seen.get("buy" if buy else "sell", 0) + 1
        if buy:
            assert dev < 0
            crossed = amount_in * E20 // price  # RebalanceBatcher._settleOne at P
            assert py == crossed, (inv, dev, post, band, max_trade, price, free, py, crossed)
            # compensated_post's premise: minOut >= (1 - s) of the booked buy (floored).
            assert min_out == amount_in * (BPS - slip) * E20 // (price * BPS)
            assert min_out >= crossed * (BPS - slip) // BPS
        else:
            assert dev > 0
            assert py == -amount_in, (inv, dev, post, band, max_trade, price, free, py, amount_in)
            assert min_out == amount_in * (BPS - slip) * price // (E20 * BPS)

    w = 10**18
    edges = [
        # inv, dev, post, band, maxTrade, price, free, slip, last
        (10 * w, 5 * w, 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 0),
        (10 * w, -5 * w, 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 0),
        (10 * w, -5 * w, 0, w, 100 * w, 3000 * 10**8, 3000 * 10**6, 100, 0),  # free binds
        (10 * w, -5 * w, 0, w, 2 * w, 3000 * 10**8, 10**12, 100, 0),  # maxTrade binds
        (0, 5 * w, 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 0),  # no inventory
        (10 * w, -5 * w, 0, w, 100 * w, 3000 * 10**8, 0, 100, 0),  # no free quote
        (10 * w, w, 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 2**40),  # exactly at the band edge
        (10 * w, w + 1, 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 2**40),  # one wei past it
        (10 * w, -(w + 1), 0, w, 100 * w, 3000 * 10**8, 10**12, 100, 2**40),
        (10 * w, -(10**12 + 1), 0, 10**12, 100 * w, 3000 * 10**8, 10**12, 100, 0),  # 1 wei quote
        (10 * w, -(w + 33333333333334), 0, w, 33333333333333, 3000 * 10**8, 10**12, 100, 0),
        (10 * w, -5 * w, -2 * w, 3 * w, 100 * w, 3000 * 10**8, 10**12, 1000, 0),
        (10 * w, 5 * w, 2 * w, 3 * w, 100 * w, 3000 * 10**8, 10**12, 1, 0),
        (10 * w, -5 * w, -3 * w, w, 100 * w, 1, 10**12, 1, 0),  # price 1e-8 USD
        (10 * w, -5 * w, 0, w, 100 * w, 2**127 - 1, 2**96, 1, 0),  # the largest answer
    ]
    for e in edges:
        check(*e)

    @settings(max_examples=examples(chain, 300), deadline=None, suppress_health_check=HEALTH)
    @given(
        inv=st.integers(0, 10**24),
        dev=st.integers(-(10**24), 10**24),
        post=st.integers(-(10**24), 10**24) | st.just(0),
        band=st.integers(10**12, 10**24),
        max_trade=st.integers(10**12, 10**24),
        price=st.sampled_from([3000 * 10**8, 1, 99_999_999, 10**8 + 1, 123_456_789_012, 10**16])
        | st.integers(1, 10**20),
        free=st.integers(0, 10**20) | st.just(0),
        slip=st.integers(1, 1000),
    )
    def agree(
        inv: int, dev: int, post: int, band: int, max_trade: int, price: int, free: int, slip: int
    ) -> None:
        check(inv, dev, post, band, max_trade, price, free, slip, 0)

    agree()
    assert {"within", "none", "buy", "sell"} <= seen.keys(), seen


# ---------------------------------------------------------------------------- lockOf


def test_lock_per_contract_matches_lock_of(chain: Chain) -> None:
    w3 = chain.w3
    rules = deploy(w3, account(chain.keys[0]), load_artifact("RebalanceRules"))
    expiry = int(w3.eth.get_block("latest")["timestamp"]) + 86_400

    @settings(max_examples=examples(chain, 150), deadline=None, suppress_health_check=HEALTH)
    @given(
        put=st.booleans(),
        strike=st.integers(10**6, 10**16),
        cap=st.integers(1, 10**16),
    )
    @example(put=True, strike=3000 * 10**8, cap=3000 * 10**8)
    @example(put=True, strike=3000 * 10**8, cap=3000 * 10**8 + 1)
    @example(put=False, strike=10**6, cap=1)
    def agree(put: bool, strike: int, cap: int) -> None:
        w0, _ = rules.functions.packSeries(int(put), strike, cap, expiry, 10**18).call()
        assert rules.functions.lockOf(w0).call() == lock_per_contract(int(put), strike, cap)

    agree()


# ---------------------------------------------------------------------------- book delta


def test_book_delta_within_the_trigger_tolerance(chain: Chain) -> None:
    """One series' on-chain delta vs ``derive``'s float (size·delta rounded), at its tolerance."""
    w3 = chain.w3
    rules = deploy(w3, account(chain.keys[0]), load_artifact("RebalanceRules"))
    now = int(w3.eth.get_block("latest")["timestamp"])
    worst: list[tuple[float, tuple[object, ...]]] = []

    def check(put: bool, spot: int, strike: int, cap: int, vol: int, tau: int, size: int) -> None:
        w0, _ = rules.functions.packSeries(int(put), strike, cap, now + tau, size).call()
        on = int(rules.functions.bookDelta([w0], spot, vol, now).call())
        g = capped_greeks(
            spot / 1e8, strike / 1e8, cap / 1e8, tau / YEAR_SECONDS, vol / 1e18, call=not put
        )
        per = float(g.delta)
        off = float(size) * per
        # + 1 wei: the contract truncates size * d / 1e18 toward zero, derive rounds (rint).
        tol = PRICING_REL_TOL * float(size) * float(g.delta_legs) + QUANTUM_WEI * size / 1e18 + 1.0
        err = abs(round(off) - on)
        worst.append(
            (err / tol if tol else float("inf"), (put, spot, strike, cap, vol, tau, size, on, off))
        )
        assert err <= tol, (put, spot, strike, cap, vol, tau, size, on, off, err, tol)

    @settings(max_examples=examples(chain, 300), deadline=None, suppress_health_check=HEALTH)
    @given(
        put=st.booleans(),
        spot=st.integers(10**6, 10**13),
        strike=st.integers(10**6, 10**13),
        cap=st.integers(1, 10**13) | st.integers(1, 1000),  # down to 1e-8 USD: tight spreads
        vol=st.integers(10**16, 5 * 10**18),
        tau=st.integers(1, 730 * 86_400),
        size=st.integers(10**12, 10**27),
    )
    @example(
        put=False, spot=3000 * 10**8, strike=3000 * 10**8, cap=10**8, vol=10**16, tau=1, size=10**18
    )
    @example(
        put=True, spot=2999 * 10**8, strike=3000 * 10**8, cap=10**6, vol=10**16, tau=1, size=10**27
    )
    def agree(put: bool, spot: int, strike: int, cap: int, vol: int, tau: int, size: int) -> None:
        check(put, spot, strike, cap, vol, tau, size)

    agree()


# ---------------------------------------------------------------------------- venue price


@pytest.mark.parametrize("underlying_first", [True, False])
def test_price8_matches_the_venue(chain: Chain, underlying_first: bool) -> None:
    from tests.integration.test_uniswap_devnet import _market

    m = _market(chain, underlying_first)
    kw = {
        "quote_decimals": 6,
        "underlying_decimals": 18,
        "underlying_is_token0": underlying_first,
    }
    assert bool(m.venue.functions.underlyingIsToken0().call()) == underlying_first

    @settings(max_examples=examples(chain, 200), deadline=None, suppress_health_check=HEALTH)
    @given(s=st.integers(uni.MIN_SQRT_RATIO, uni.MAX_SQRT_RATIO - 1))
    @example(s=uni.MIN_SQRT_RATIO)
    @example(s=uni.MAX_SQRT_RATIO - 1)
    def agree(s: int) -> None:
        try:
            on = int(m.venue.functions.priceFromSqrtPriceX96(s).call())
        except Exception:  # noqa: BLE001 - mulDiv overflow: the Python must not return a value
            on = None
        off = uni.price8_from_sqrt_price_x96(s, **kw)
        assert on == off, (s, on, off)

    agree()


# ---------------------------------------------------------------------------- ERC-4626 previews


def test_erc4626_shares_matches_the_vault_previews() -> None:
    """``keeper.devnet.market.erc4626_shares`` against a live vault's previews and conversions.

    A bench devnet vault (seed deposit, open series: the NAV is not the quote balance), at
    several oracle prices, so ``totalAssets`` moves while ``totalSupply`` stays.
    """
    from bench.devnet import start_devnet
    from keeper.devnet.market import erc4626_shares

    dev = start_devnet(1)
    try:
        vault = dev.contract("OptionVault", dev.stack.vaults[0])
        feed = dev.contract("MockV3Aggregator", dev.stack.price_feed)
        checked = 0
        for price in (3000 * 10**8, 2_500 * 10**8 + 1, 3_700 * 10**8 - 7, 9_999 * 10**8):
            transact(dev.w3, dev.admin, feed.functions.updateAnswer(price))
            block = dev.w3.eth.block_number
            ta = int(vault.functions.totalAssets().call(block_identifier=block))
            ts = int(vault.functions.totalSupply().call(block_identifier=block))
            assert ts > 0
            for assets in (0, 1, 2, 999_999, 10**6, 123_456_789, ta, ta + 1, 10**15, 2**100):
                f = vault.functions
                dep = int(f.previewDeposit(assets).call(block_identifier=block))
                wd = int(f.previewWithdraw(assets).call(block_identifier=block))
                conv = int(f.convertToShares(assets).call(block_identifier=block))
                assert dep == erc4626_shares(assets, ta, ts, round_up=False), (price, assets)
                assert conv == erc4626_shares(assets, ta, ts, round_up=False), (price, assets)
                assert wd == erc4626_shares(assets, ta, ts, round_up=True), (price, assets)
                checked += 1
        assert checked == 40
    finally:
        dev.close()


def test_book_delta_of_a_tiny_cap_is_within_the_trigger_tolerance(chain: Chain) -> None:
    """A capped put with a 1e-7 USD cap, 1 s before expiry, spot 1e-6 USD above the strike.

    Its two legs nearly cancel: the float delta differs from the contract's by 6.6e-6 of the
    spread's delta (49,055,553 wei a contract). ``derive``'s tolerance once scaled with the
    spread's |delta| (~7,569 wei here) and called such a trigger certain; it scales with the
    legs' |delta| now, which the difference is well within.
    """
    w3 = chain.w3
    rules = deploy(w3, account(chain.keys[0]), load_artifact("RebalanceRules"))
    now = int(w3.eth.get_block("latest")["timestamp"])
    put, spot, strike, cap, vol, tau, size = (
        True,
        300_000_000_100,
        3000 * 10**8,
        10,
        10**16,
        1,
        10**18,
    )
    w0, _ = rules.functions.packSeries(int(put), strike, cap, now + tau, size).call()
    on = int(rules.functions.bookDelta([w0], spot, vol, now).call())
    g = capped_greeks(
        spot / 1e8, strike / 1e8, cap / 1e8, tau / YEAR_SECONDS, vol / 1e18, call=not put
    )
    off = float(size) * float(g.delta)
    spread_tol = PRICING_REL_TOL * abs(off) + QUANTUM_WEI * size / 1e18 + 1.0
    legs_tol = PRICING_REL_TOL * float(size) * float(g.delta_legs) + QUANTUM_WEI * size / 1e18
    err = abs(round(off) - on)
    assert err > spread_tol  # the case: out of a tolerance on the spread's own delta
    assert err <= legs_tol, (on, off, err, legs_tol)
