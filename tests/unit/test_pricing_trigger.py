"""The off-chain trigger: the contract's checks, in its order, with its integer rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keeper.chain.lens import (
    OracleState,
    Series,
    VaultSnapshot,
    VaultThresholds,
    encode_lean_answer,
    lean_snapshot,
)
from keeper.pricing.trigger import TRIGGER_BAND, TRIGGER_TIME, Blocker, Derived, derive

NOW = 1_700_000_000
WAD = 10**18
PRICE = 3000 * 10**8
BAND = WAD // 2


def snap(**kw: object) -> VaultSnapshot:
    """A vault with no series (so its net delta is its inventory, exactly), target 0."""
    th = kw.pop("thresholds", None) or VaultThresholds(
        0, BAND, 60, 86_400, 10 * WAD, 50, 100, 3600, 600
    )
    base = VaultSnapshot(
        vault="0x" + "a0" * 20,
        oracle=OracleState(1, PRICE, NOW - 5, 8, False, NOW - 10_000),
        net_delta=0,
        inventory=0,
        thresholds=th,  # type: ignore[arg-type]
        last_rebalance=NOW - 100,
        pool_price=PRICE,
        volatility=8 * 10**17,
        total_assets=0,
        total_supply=0,
        free_quote=10**12,
        paused=False,
        trigger_ready=False,
        trigger=0,
        series=(),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def run(*snaps: VaultSnapshot) -> Derived:
    return derive(
        lean_snapshot([s.vault for s in snaps], [encode_lean_answer(list(snaps), 1, NOW)])
    )


def one(s: VaultSnapshot) -> tuple[bool, int, Blocker]:
    d = run(s)
    return bool(d.ready[0]), int(d.trigger[0]), Blocker(int(d.blocker[0]))


def test_band_is_strict() -> None:
    assert one(snap(inventory=BAND)) == (False, 0, Blocker.WITHIN_BAND)
    assert one(snap(inventory=BAND + 1)) == (True, TRIGGER_BAND, Blocker.NONE)


def test_time_trigger_needs_a_nonzero_deviation() -> None:
    due = NOW - 86_400
    assert one(snap(inventory=1, last_rebalance=due)) == (True, TRIGGER_TIME, Blocker.NONE)
    assert one(snap(inventory=1, last_rebalance=due + 1)) == (False, 0, Blocker.WITHIN_BAND)
    assert one(snap(inventory=0, last_rebalance=due)) == (False, 0, Blocker.WITHIN_BAND)


@pytest.mark.parametrize(
    ("change", "blocker"),
    [
        ({"paused": True}, Blocker.PAUSED),
        ({"last_rebalance": NOW - 59}, Blocker.TOO_SOON),
        ({"oracle": OracleState(1, PRICE, NOW, 8, True, NOW - 10_000)}, Blocker.SEQUENCER_DOWN),
        ({"oracle": OracleState(1, PRICE, NOW, 8, False, NOW - 600)}, Blocker.SEQUENCER_GRACE),
        ({"oracle": OracleState(1, 0, NOW, 8, False, NOW - 10_000)}, Blocker.INVALID_PRICE),
        (
            {"oracle": OracleState(1, PRICE, NOW - 3601, 8, False, NOW - 10_000)},
            Blocker.STALE_ORACLE,
        ),
        (
            {"oracle": OracleState(1, PRICE, NOW + 1, 8, False, NOW - 10_000)},
            Blocker.STALE_ORACLE,
        ),
        ({"pool_price": PRICE + PRICE // 100 + 1}, Blocker.ORACLE_GAP),
        (
            {
                "free_quote": 0,
                "thresholds": VaultThresholds(WAD, BAND, 60, 86_400, WAD, 50, 100, 3600, 600),
            },
            Blocker.NO_TRADE,
        ),
        (
            {"thresholds": VaultThresholds(-WAD, BAND, 60, 86_400, WAD, 50, 100, 3600, 600)},
            Blocker.NO_TRADE,
        ),
    ],
)
def test_each_check_blocks(change: dict[str, object], blocker: Blocker) -> None:
    base = {"inventory": WAD} if "thresholds" not in change else {}
    ready, trigger, why = one(snap(**{**base, **change}))
    assert (ready, trigger, why) == (False, 0, blocker)


def test_boundaries_that_pass() -> None:
    ok = (True, TRIGGER_BAND, Blocker.NONE)
    assert one(snap(inventory=WAD, last_rebalance=NOW - 60)) == ok  # min interval reached
    assert one(snap(inventory=WAD, last_rebalance=0, thresholds=None)) == ok  # never rebalanced
    assert (
        one(snap(inventory=WAD, oracle=OracleState(1, PRICE, NOW - 3600, 8, False, NOW - 601)))
        == ok
    )
    assert one(snap(inventory=WAD, pool_price=PRICE + PRICE // 100)) == ok  # gap == max gap


def test_checks_run_in_the_contracts_order() -> None:
    stale = OracleState(1, PRICE, NOW - 4000, 8, True, NOW - 10_000)
    d = run(snap(paused=True, oracle=stale), snap(oracle=stale))
    assert d.blocker.tolist() == [Blocker.PAUSED, Blocker.SEQUENCER_DOWN]
    assert d.oracle_fault.tolist() == [Blocker.SEQUENCER_DOWN] * 2


def test_a_buy_too_small_to_round_to_a_unit_of_quote_is_no_trade() -> None:
    # want * price < 1e20 rounds the quote spent to zero: 1e20 / 3e11 ~ 3.3e8 wei.
    th = VaultThresholds(10**8, 10**6, 60, 86_400, WAD, 50, 100, 3600, 600)
    assert one(snap(thresholds=th)) == (False, 0, Blocker.NO_TRADE)
    th = VaultThresholds(10**9, 10**6, 60, 86_400, WAD, 50, 100, 3600, 600)
    assert one(snap(thresholds=th)) == (True, TRIGGER_BAND, Blocker.NONE)


def test_expired_series_are_out_of_the_book_and_valued_at_their_max_payoff() -> None:
    """As ``OptionBook._book``/``_expiredLocked``: no delta (never a digital), NAV at max payoff."""
    expired = (
        Series(1, 0, 2950 * 10**8, 100 * 10**8, NOW, 3 * WAD + 1, False, 0),  # call spread
        Series(4, 0, 2900 * 10**8, 50 * 10**8, NOW, 9 * WAD, False, 0),
        Series(2, 1, 3100 * 10**8, 10**16, NOW - 5, 2 * WAD, False, 0),  # put, cap >= K: K
        Series(3, 1, 3100 * 10**8, 50 * 10**8, NOW, WAD, False, 0),
    )
    d = run(snap(series=expired, inventory=7))
    assert d.net_delta[0] == 7  # the inventory alone, exactly
    assert not d.uncertain[0]
    assert d.contracts[0] == 0
    assert d.gamma[0] == 0
    assert d.tau[0] == float("inf")
    max_payoff = (3 * WAD + 1) * 100 * 10**8 + 9 * WAD * 50 * 10**8
    max_payoff += 2 * WAD * 3100 * 10**8 + WAD * 50 * 10**8
    bare = run(snap(series=(), inventory=7))
    assert d.nav[0] == pytest.approx(bare.nav[0] - max_payoff / 1e20, rel=1e-12)


def test_live_book_net_delta_and_nav() -> None:
    live = (Series(1, 0, 3000 * 10**8, 500 * 10**8, NOW + 30 * 86_400, 5 * WAD, False, 0),)
    d = run(snap(series=live, inventory=2 * WAD))
    assert 0 < d.book_delta_f[0] < 5 * WAD
    assert d.net_delta[0] == 2 * WAD - round(d.book_delta_f[0])
    assert d.contracts[0] == 5.0
    assert d.tau[0] == pytest.approx(30 / 365)
    assert d.gamma[0] > 0
    # NAV = quote + inventory * price - option value (no unpaid payoffs here)
    assert d.nav[0] < 10**12 + 2 * 3000 * 10**6
    assert d.nav[0] > 10**12 + 2 * 3000 * 10**6 - 5 * 500 * 10**6


def test_no_series_nav_is_exact_arithmetic() -> None:
    d = run(snap(inventory=3 * WAD))
    assert d.nav[0] == 10**12 + 3 * 3000 * 10**6


def test_a_straddles_doubt_scales_with_its_gross_delta_not_its_net() -> None:
    """Each series' float delta errs relative to its own delta, so the doubt sums |delta|.

    A call and a put on one strike nearly cancel: the book's net delta is a few contracts' worth,
    the gross a thousand. A band crossing by 1e-10 of the gross is within the pricing tolerance
    (1e-9 relative) of the float deltas, however small the net.
    """
    expiry = NOW + 30 * 86_400
    straddle = (
        Series(1, 0, 3000 * 10**8, 10**16, expiry, 1000 * WAD, False, 0),
        Series(2, 1, 3000 * 10**8, 10**16, expiry, 1000 * WAD, False, 0),
    )
    probe = run(snap(series=straddle))
    gross = 1000 * WAD  # |call delta| + |put delta| = 1 for uncapped options on one strike
    assert abs(probe.book_delta_f[0]) < gross / 10  # they nearly cancel
    past_band = BAND + gross // 10**10
    d = run(snap(series=straddle, inventory=round(probe.book_delta_f[0]) - past_band))
    assert int(d.trigger[0]) == TRIGGER_BAND
    assert d.uncertain[0]
    clear = BAND + gross // 10**7  # 100 times the tolerance: no doubt
    d = run(snap(series=straddle, inventory=round(probe.book_delta_f[0]) - clear))
    assert int(d.trigger[0]) == TRIGGER_BAND
    assert not d.uncertain[0]


def test_a_tight_caps_doubt_scales_with_its_legs_delta_not_the_spreads() -> None:
    """A capped option is a spread of two legs, each of whose float delta errs relative to its
    own: a 1e-7 USD cap's legs nearly cancel (on chain, a 1e-7 cap 1 s before expiry was off by
    6.6e-6 of the spread's delta), so the doubt sums the legs' |delta|, not the spread's."""
    expiry = NOW + 30 * 86_400
    tight = (Series(1, 1, 3000 * 10**8, 10, expiry, 1000 * WAD, False, 0),)  # a put, cap 1e-7
    probe = run(snap(series=tight))
    legs = 1000 * WAD  # |put delta at K| + |put delta at K - cap|: about 1
    assert abs(probe.book_delta_f[0]) < legs / 10**6  # the legs cancel
    past_band = BAND + legs // 10**10
    d = run(snap(series=tight, inventory=round(probe.book_delta_f[0]) + past_band))
    assert int(d.trigger[0]) == TRIGGER_BAND
    assert d.uncertain[0]
    clear = BAND + legs // 10**7
    d = run(snap(series=tight, inventory=round(probe.book_delta_f[0]) + clear))
    assert int(d.trigger[0]) == TRIGGER_BAND
    assert not d.uncertain[0]
