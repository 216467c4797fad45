"""The vault's own rebalance rules, off-chain and vectorized: lean snapshot in, trigger out.

:func:`derive` prices every open series of every vault at once (the Black-Scholes of
:mod:`keeper.pricing.black_scholes`, the Hart/West CDF the contracts use) and then runs, for all
vaults at once, the checks of ``OptionVault._evaluate`` and ``RebalanceRules.plan`` in their
order -- so :attr:`Derived.blocker` names the first check that fails, as
``rebalanceBlocker()`` would:

1. unreadable: a lens read failed (the contract would revert or we cannot know);
2. paused;
3. too soon: ``last != 0 and now < last + minInterval``;
4. sequencer down (``answer != 0 or startedAt == 0``), 5. in its grace period
   (``now <= startedAt + grace``), 6. invalid price (``answer <= 0``), 7. stale
   (``now > updatedAt + heartbeat`` or ``updatedAt > now``) -- ``RebalanceRules.oracleStatus``;
8. within band: neither ``|target - net| > band`` (strict) nor ``diff != 0 and now >= last +
   maxInterval``;
9. oracle gap: ``|spot - price| * 10_000 > maxOracleGapBps * price``;
10. no trade: a buy with ``min(min(|diff|, maxTrade) * price / 1e20, freeQuote) == 0`` or a sell
    with no inventory.

Every check is the contract's integer rule on exact ints (numpy ``object`` arrays), except those
that need the book's delta, which is a float: the contract's fixed-point Black-Scholes and ours
agree to ~1e-11 relative to each series' delta, so only a deviation within that share of the book's
gross delta of the band (or a buy within it of rounding to zero) can decide differently;
:attr:`Derived.uncertain` marks those rows. An expired series is out of the book, as on chain (no
delta; the NAV counts it at its maximum payoff until it settles), so a book with no live series has
an exact delta of 0. Whatever this module decides, the keeper simulates the exact batch before
signing, so a disagreement drops a vault from the batch and is counted; it never sends a failing
transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from keeper.chain.lens import LeanSnapshot, LensRead
from keeper.pricing.black_scholes import YEAR_SECONDS, capped_greeks

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
Bool = npt.NDArray[np.bool_]

#: Float-vs-fixed-point agreement assumed by :attr:`Derived.uncertain` (measured: 2.9e-11).
PRICING_REL_TOL = 1e-9
#: The contract's delta resolution, wei of delta per contract: its per-contract delta is a 1e18
#: fixed-point int (each ln, exp and CDF rounds), so a tiny book's delta is off by a few wei.
QUANTUM_WEI = 100.0
BPS = 10_000
UNDERLYING_PRICE_TO_QUOTE = 10**20
#: ``IOptionVault.Trigger``.
TRIGGER_NONE, TRIGGER_BAND, TRIGGER_TIME = 0, 1, 2


class Blocker(IntEnum):
    """The first of the contract's checks that fails (``NONE``: a rebalance would go through)."""

    NONE = 0
    UNREADABLE = 1
    PAUSED = 2
    TOO_SOON = 3
    SEQUENCER_DOWN = 4
    SEQUENCER_GRACE = 5
    INVALID_PRICE = 6
    STALE_ORACLE = 7
    WITHIN_BAND = 8
    ORACLE_GAP = 9
    NO_TRADE = 10


@dataclass(frozen=True)
class Derived:
    """Per vault (rows of the snapshot): the trigger and the priced book.

    Attributes:
        ready: ``rebalanceTrigger()``'s bool.
        trigger: Its ``Trigger`` (0 when not ready).
        blocker: The first failing check (:class:`Blocker`).
        uncertain: The decision rests on the float delta within pricing tolerance of a boundary.
        price: The oracle answer (1e8 ints; 0 when unreadable), and ``spot`` it as USD.
        net_delta: Inventory minus the book's delta, exact int wad (the float delta rounded).
        net_delta_f: The same as a float (wad units).
        book_delta_f: The book's delta, float wad.
        gamma: |position gamma|, whole underlying per USD.
        contracts: Open size, whole underlying.
        tau: Years to the nearest open expiry (``inf`` with none).
        nav: ``totalAssets`` at the oracle answer, quote units as a float (``nan`` without a
            positive answer: the vault would use its last accepted price, which the lens does not
            read).
        vol: The vault's vol parameter as a float.
        oracle_fault: The first failing oracle check (a :class:`Blocker` from
            ``SEQUENCER_DOWN`` to ``STALE_ORACLE``, or 0), whatever check precedes it.
    """

    ready: Bool
    trigger: I64
    blocker: I64
    uncertain: Bool
    price: Obj
    spot: F64
    net_delta: Obj
    net_delta_f: F64
    book_delta_f: F64
    gamma: F64
    contracts: F64
    tau: F64
    nav: F64
    vol: F64
    oracle_fault: I64


def _gather(values: Obj | I64 | Bool, idx: I64, fill: object) -> Obj:
    """``values[idx]`` with ``fill`` where ``idx < 0``, as an object array."""
    out = np.full(len(idx), fill, dtype=object)
    ok = idx >= 0
    out[ok] = np.asarray(values, dtype=object)[idx[ok]]
    return out


def derive(snap: LeanSnapshot) -> Derived:
    """Every vault's trigger, net delta, gamma and NAV from one lean snapshot (see the module)."""
    n = len(snap)
    now = snap.block_timestamp
    oi, vi = snap.oracle_idx, snap.venue_idx
    o_err = np.where(oi >= 0, snap.oracle_errors[np.maximum(oi, 0)], 0) if n else np.zeros(0)
    v_err = np.where(vi >= 0, snap.venue_errors[np.maximum(vi, 0)], 0) if n else np.zeros(0)
    unreadable = (snap.read_errors != 0) | (o_err != 0) | (v_err != 0) | (oi < 0) | (vi < 0)
    answer = _gather(snap.oracle_answer, oi, 0)
    price = np.where(answer > 0, answer, 0).astype(object)
    spot = price.astype(np.float64) / 1e8
    vol = snap.volatility.astype(np.float64) / 1e18

    # --- the book, priced (float). As in ``OptionBook._book``, a series is in the book only while
    # it is live (expiry > now): an expired one waiting for settlement has no delta (it is never
    # hedged as a digital), and the NAV counts it at its maximum payoff (``_expiredLocked``).
    owner = snap.series_owner
    live_s = snap.series_expiry > now
    size_f = snap.series_size.astype(np.float64)
    live_size = np.where(live_s, size_f, 0.0)
    tau_s = np.maximum(snap.series_expiry - now, 0)
    tau = tau_s / YEAR_SECONDS
    g = capped_greeks(
        spot[owner],
        snap.series_strike / 1e8,
        snap.series_cap / 1e8,
        tau,
        vol[owner],
        call=snap.series_is_call,
    )
    book_f: F64 = np.bincount(owner, weights=live_size * g.delta, minlength=n).astype(np.float64)
    # Each leg's float delta errs relative to its own delta: the doubt sums the legs' |delta| (a
    # straddle's net delta can be a thousandth of its gross, a tight cap's of its two legs').
    gross_f = np.bincount(owner, weights=live_size * g.delta_legs, minlength=n)
    contracts: F64 = np.bincount(owner, weights=live_size / 1e18, minlength=n).astype(np.float64)
    gamma = np.abs(np.bincount(owner, weights=live_size / 1e18 * g.gamma, minlength=n))
    value_q = np.bincount(owner, weights=live_size / 1e18 * g.value * 1e6, minlength=n)
    expired_q = np.bincount(owner, weights=_max_payoff_q(snap) * ~live_s, minlength=n)
    nearest = np.full(n, math.inf)
    if live_s.any():
        np.minimum.at(nearest, owner[live_s], tau[live_s])
    live = np.bincount(owner, weights=live_s.astype(np.float64), minlength=n) > 0
    book = np.empty(n, dtype=object)
    book[:] = [int(x) for x in np.rint(book_f).tolist()]
    exact = ~live  # no live series: the contract's book delta is exactly 0
    book[exact] = 0
    inventory = snap.inventory
    net = inventory - book
    net_f = inventory.astype(np.float64) - book_f
    # Tolerance of the float delta against the contract's fixed-point one.
    tol = np.where(exact, 0.0, PRICING_REL_TOL * gross_f + QUANTUM_WEI * contracts)

    # --- the checks, in the contract's order
    blocker = np.zeros(n, dtype=np.int64)

    def block(mask: object, why: Blocker) -> None:
        blocker[(blocker == 0) & np.asarray(mask, dtype=bool)] = int(why)

    last = snap.last_rebalance
    has_seq = _gather(snap.oracle_has_sequencer, oi, False).astype(bool)
    seq_down = _gather(snap.oracle_sequencer_down, oi, False).astype(bool)
    started = _gather(snap.oracle_sequencer_started_at, oi, 0).astype(np.int64)
    updated = _gather(snap.oracle_updated_at, oi, 0).astype(np.int64)
    # The oracle's own verdict, whatever comes before it (observe alerts on it).
    oracle_fault = np.zeros(n, dtype=np.int64)
    for mask, why in (
        (has_seq & (seq_down | (started == 0)), Blocker.SEQUENCER_DOWN),
        (has_seq & (now <= started + snap.sequencer_grace_period), Blocker.SEQUENCER_GRACE),
        (np.asarray(answer <= 0, dtype=bool), Blocker.INVALID_PRICE),
        ((now > updated + snap.oracle_heartbeat) | (updated > now), Blocker.STALE_ORACLE),
    ):
        oracle_fault[(oracle_fault == 0) & mask] = int(why)
    block(unreadable, Blocker.UNREADABLE)
    block(snap.paused, Blocker.PAUSED)
    block((last != 0) & (now < last + snap.min_interval), Blocker.TOO_SOON)
    first = (blocker == 0) & (oracle_fault != 0)
    blocker[first] = oracle_fault[first]

    diff = snap.target_delta - net
    diff_f = snap.target_delta.astype(np.float64) - net_f
    abs_diff = np.abs(diff)
    band_hit = np.asarray(abs_diff > snap.band, dtype=bool)
    margin = np.abs(np.abs(diff_f) - snap.band.astype(np.float64))
    uncertain = margin <= tol
    time_due = now >= last + snap.max_interval
    nonzero = np.asarray(diff != 0, dtype=bool)
    uncertain |= ~band_hit & time_due & (np.abs(diff_f) <= tol)
    trigger = np.where(band_hit, TRIGGER_BAND, np.where(nonzero & time_due, TRIGGER_TIME, 0))
    block(trigger == TRIGGER_NONE, Blocker.WITHIN_BAND)

    pool = _gather(snap.venue_price, vi, 0)
    gap = np.abs(pool - price)
    block(gap * BPS > snap.max_oracle_gap_bps.astype(object) * price, Blocker.ORACLE_GAP)

    want = np.minimum(abs_diff, snap.max_trade)
    free = snap.quote_balance - snap.locked - snap.settled_unpaid
    buy = np.asarray(diff > 0, dtype=bool)
    buy_none = (free <= 0) | (want * price < UNDERLYING_PRICE_TO_QUOTE)
    sell_none = inventory == 0
    block(np.where(buy, buy_none, sell_none).astype(bool), Blocker.NO_TRADE)
    uncertain |= (
        buy
        & ~np.asarray(free <= 0, dtype=bool)
        & (np.abs(want.astype(np.float64) * spot * 1e8 - 1e20) <= tol * spot * 1e8 + 1e8)
    )

    ready = blocker == 0
    nav = (
        snap.quote_balance.astype(np.float64)
        + inventory.astype(np.float64) * spot / 1e12
        - value_q
        - expired_q
        - snap.settled_unpaid.astype(np.float64)
    )
    nav = np.where(spot > 0, np.maximum(nav, 0.0), np.nan)
    return Derived(
        ready=ready,
        trigger=np.where(ready, trigger, TRIGGER_NONE).astype(np.int64),
        blocker=blocker,
        uncertain=uncertain & (ready | (blocker >= int(Blocker.WITHIN_BAND))),
        oracle_fault=oracle_fault,
        price=price,
        spot=spot,
        net_delta=net,
        net_delta_f=net_f,
        book_delta_f=book_f,
        gamma=gamma,
        contracts=contracts,
        tau=nearest,
        nav=nav,
        vol=vol,
    )


def _max_payoff_q(snap: LeanSnapshot) -> F64:
    """Each series' maximum payoff in quote units (``RebalanceRules.lockOf``, as a float).

    ``size * maxPayoff / 1e20``, where the payoff is capped at ``cap`` (a put's at its strike when
    the cap is above it): the value of an expired series until it settles.
    """
    cap = snap.series_cap.astype(np.float64)
    strike = snap.series_strike.astype(np.float64)
    put_floor = ~snap.series_is_call & (cap > strike)
    max_payoff = np.where(put_floor, strike, cap)
    return np.asarray(snap.series_size.astype(np.float64) * max_payoff / 1e20, dtype=np.float64)


def describe(blocker: int) -> str:
    """The blocker in words (logs, ``keeper check``)."""
    return Blocker(blocker).name.lower().replace("_", " ")


__all__ = ["QUANTUM_WEI", "Blocker", "Derived", "LensRead", "derive", "describe"]
