"""How far a rebalance trades: the contract's bounds on a keeper-chosen post-trade deviation.

The keeper chooses *when* (the policy's rule) and *how far* (a requested post-trade deviation);
the contract bounds the second. :func:`executed_trade` is that bound, the one definition the live
planner (on exact :data:`~keeper.units.Wad` ints) and the backtester (on float arrays) both run,
written so the contract can mirror it line by line:

Given the deviation ``d = net − target``, the requested post-trade deviation ``p`` (0, or none
given, means "to target"), the vault's ``band`` and ``maxTrade``:

1. ``side = sign(d)``; ``|d| = side·d``.
2. The request is taken on ``d``'s side only and no farther than ``min(|d|, band)``:
   ``w = clamp(side·p, 0, min(|d|, band))``. So the planned trade never crosses the target,
   never increases ``|d|``, and leaves ``|deviation| ≤ band``. A request across the target
   becomes the target; one farther out than the band becomes the band edge. When only the time
   trigger fired (``|d| ≤ band``), any point from ``|d|`` down to the target is allowed, the
   target included.
3. The trade's size is ``min(|d| − w, maxTrade)``: a trade capped at ``maxTrade`` may end
   outside the band, and the remainder is carried to a later block, as today.
4. The trade (added to the vault's net delta) is ``−side · size``; a zero trade is no rebalance.

The contract then caps the trade by what the vault holds (``RebalanceRules.plan``), which
:func:`funded_trade` mirrors on exact ints (the live planner; the backtester's vault-bound runs
cap a sell at the inventory too, and have no free-quote limit: their vault is funded for any
hedge): a buy spends at most the vault's free quote, a sell at
most its inventory. A trade cut short that way may also end outside the band.

What the vault books (``IOptionVault.rebalanceTo``'s NatSpec): a sell moves net delta by exactly
the underlying sold; a buy books the underlying that arrived, short of the planned trade by the
quote rounding and the pool's fee and impact (at most the slippage bound), or past it when the
pool is cheaper than the oracle (by at most the oracle-gap bound). So the live planner asks a buy
for a point nearer the target by the slippage bound (:func:`compensated_post`): what it books
then ends within the policy's point and inside the band (before, a buy to the band edge ended
just outside it, the vault's own trigger armed); a buy to the target ends about the gap past it.
The backtester books the planned trade and charges the fee and impact as cost.

Rounding (the planner's float → Wad step, :func:`post_deviation_wad`): the policy's float
post-trade deviation becomes a Wad by truncating its magnitude toward zero, i.e. toward the
target, so rounding can only trade (at most 1 wei) more, never leave the band; a request past
``|d|`` becomes ``|d|`` (no trade), and one across the target the target, as the contract
takes them.

The policies' choice of ``p`` (:func:`return_fraction`): ``band``, ``volband`` and ``time`` ask
for the target (``p = 0``, the anchors' bots). ``ww`` and ``costaware`` ask for the cost-optimal
return point ``p = x·H`` inside their no-trade half-width ``H``: the edge (``x = 1``) under purely
proportional costs (Whalley–Wilmott), the target (``x → 0``) when the fixed cost dominates.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from keeper.units import Wad, wad_from_float, wad_to_float

FloatArray = NDArray[np.float64]

#: An array of floats (backtest, whole underlying) or of Python ints (``dtype=object``: Wads).
A = TypeVar("A", FloatArray, NDArray[np.object_])


def executed_trade(deviation: A, post: A, band: A, max_trade: A) -> A:
    """The trade the contract executes for a requested post-trade deviation (module docstring).

    Works elementwise on float arrays (the backtester) and on ``dtype=object`` arrays of Python
    ints (the planner's exact Wads): it uses only comparisons, ``+``, ``−`` and ``×`` by ±1.

    Args:
        deviation: ``net − target``.
        post: The requested post-trade deviation (0: to target).
        band: The vault's band (``inf`` in the backtest: no bound).
        max_trade: The vault's ``maxTrade`` (``inf``: no cap).

    Returns:
        The trade, to be added to the net delta (opposite in sign to ``deviation``, or 0).
    """
    side = np.where(deviation > 0, 1, -1)
    mag = deviation * side
    limit = np.minimum(mag, band)
    want = np.minimum(np.maximum(post * side, 0), limit)
    size = np.minimum(mag - want, max_trade)
    out: A = -side * size
    return out


#: ``RebalanceRules.UNDERLYING_PRICE_TO_QUOTE``: underlying (1e18) × price (1e8) / 1e20 = quote
#: (1e6).
UNDERLYING_PRICE_TO_QUOTE = 10**20


def funded_trade(trade: int, price: int, free_quote: int | None, inventory: int | None) -> int:
    """The part of :func:`executed_trade`'s ``trade`` the vault can pay for (exact ints).

    ``RebalanceRules.plan``: a buy (``trade > 0``) spends
    ``amountIn = min(floor(trade · price / 1e20), freeQuote)`` quote, booked here as the
    underlying that quote buys at the oracle price, ``floor(amountIn · 1e20 / price)`` (the
    batcher's crossing rate). Both divisions round down, as ``Math.mulDiv`` does, so the booked
    buy never exceeds ``trade`` nor what the free quote pays for (it is below ``trade`` by at most
    ``1e20 / price`` wei even when the free quote does not bind). A sell (``trade < 0``) is
    ``−min(|trade|, inventory)``. What the pool then delivers differs by its fee and impact,
    which the cost model prices.

    Args:
        trade: The trade (added to the net delta), 1e18 units.
        price: The oracle answer (1e8); a buy at a price of 0 or less buys nothing.
        free_quote: The vault's ``freeQuote()`` (quote units); ``None``: no cap.
        inventory: The vault's hedge inventory (1e18 units); ``None``: no cap.

    Returns:
        The trade the contract executes, of ``trade``'s sign or 0.
    """
    if trade > 0 and free_quote is not None:
        if price <= 0:
            return 0
        quote = min(trade * price // UNDERLYING_PRICE_TO_QUOTE, max(free_quote, 0))
        return quote * UNDERLYING_PRICE_TO_QUOTE // price
    if trade < 0 and inventory is not None:
        return -min(-trade, max(inventory, 0))
    return trade


#: The smallest trade ``RebalanceRules.plan`` executes, whole underlying: a sell spends at least
#: one wei of underlying (``amountIn = min(want, inventory)``).
MIN_SELL = 1e-18
#: A buy spends ``floor(want · price / 1e20)`` quote units (6 decimals): at least one, i.e. a
#: notional of 1e-6 USD at the oracle price.
MIN_BUY_NOTIONAL_USD = 1e-6


def executable(trade: FloatArray, spot: FloatArray) -> NDArray[np.bool_]:
    """Whether the contract executes a planned float trade (the backtester's vault).

    ``RebalanceRules.plan`` refuses a trade whose ``amountIn`` rounds to 0
    (``OptionVaultNoTradePossible``): a buy (``trade > 0``) worth less than one quote unit at the
    oracle price (``trade · spot < 1e-6`` USD), a sell of less than one wei. Such a trade is no
    rebalance: nothing moves and no transaction is paid. (The live planner needs no such test:
    its trades are exact Wads, and :func:`funded_trade` rounds a buy's quote down to 0.)

    Args:
        trade: The trade (added to the net delta), whole underlying.
        spot: The oracle price, USD.
    """
    t = np.asarray(trade, dtype=np.float64)
    buy = (t > 0.0) & (t * np.asarray(spot, dtype=np.float64) >= MIN_BUY_NOTIONAL_USD)
    out: NDArray[np.bool_] = buy | (-t >= MIN_SELL)
    return out


#: The float error :func:`compensated_post` allows for, in ulps of ``|d|`` (about 3 at most).
_FLOAT_ULPS = 8.0


def compensated_post(
    deviation: FloatArray,
    post: FloatArray,
    band: FloatArray,
    shortfall: FloatArray,
    rounding: FloatArray,
) -> FloatArray:
    """The post-trade deviation to request so that a buy's *booked* end is within ``post``.

    A sell books exactly the underlying sold: its request is unchanged. A buy books what
    arrived, which the contract only bounds from below: at least its ``minOut``,
    ``floor(amountIn · (1 − s) · 1e20 / price)`` with ``s`` the vault's ``maxSlippageBps / 1e4``
    (``RebalanceRules.plan``; below it the buy reverts), i.e. at least ``(1 − s)`` of the planned
    underlying ``floor(amountIn · 1e20 / price)`` (:func:`funded_trade`) less 1 wei. With ``w``
    the point the contract would plan to (the request on the deviation's side, clamped to
    ``min(|d|, band)`` as :func:`executed_trade` does), a request ``w'`` books an end of at most
    ``|d| − (|d| − w')·(1 − s)`` plus the rounding. Setting that to ``w`` gives

        ``w' = max(|d| − (|d| − w)/(1 − s) − rounding, 0)``,

    never past the target, so the contract's bounds are unchanged. (Where ``s·|d|`` exceeds
    ``w``, no request is safe: it becomes the target, and ends within ``s·|d|`` of it.)
    ``rounding`` covers :func:`funded_trade`'s two floors (``2e20 / price`` wei) and the 1 wei;
    the request is nearer the target by a few ulps of ``|d|`` more, the error of this float
    arithmetic (which, for a deviation worth billions, exceeds the quote rounding). A request
    for the target (``w = 0``) is left alone: it ends within ``s·|d|`` of the target; so is one
    that asks for no trade (``w = |d|``).

    Why the bound and not an estimate of the fee and impact: an estimate can fall short (the
    cost model's impact understated a thin devnet pool's eightfold on a 16-unit batch), and then
    a buy to the band edge ends just outside the band with the vault's own trigger armed, so a
    keeper network driving ``performUpkeep`` trades again at full fixed cost. The bound's price
    is a buy up to ``s`` of its size farther than the policy's point, typically ``s − fee`` of it
    farther inside, which the cost model prices as traded (the planner plans the larger trade).

    Only the live planner calls this: the backtester books the planned trade in full and
    charges the fee and impact as cost, so its booked end already is the policy's point.

    Args:
        deviation: ``net − target``, whole underlying.
        post: The policy's requested post-trade deviation (signed like ``deviation``).
        band: The vault's band, whole underlying.
        shortfall: ``s`` per row (at or below 0, or not finite: none).
        rounding: The rounding allowance per row, whole underlying (``2e2 / oracle_1e8``).
    """
    mag = np.abs(deviation)
    w = np.minimum(np.minimum(np.maximum(-post, 0.0), mag), band)
    f = np.where(np.isfinite(shortfall) & (shortfall > 0.0), shortfall, 0.0)
    keep = 1.0 - f
    with np.errstate(divide="ignore", invalid="ignore"):
        req = np.where(keep > 0.0, mag - (mag - w) / np.where(keep > 0.0, keep, 1.0), 0.0)
    # The float arithmetic above errs by a few ulps of |d| (|d|'s own rounding from its Wad,
    # the subtraction, the division): past ~USD 5e9 of deviation that exceeds the quote
    # rounding, and a buy to the band edge booked just outside the band.
    req = np.maximum(req - rounding - _FLOAT_ULPS * np.spacing(mag), 0.0)
    out: FloatArray = np.where((deviation < 0.0) & (w > 0.0) & (w < mag), -req, post)
    return out


def post_deviation_wad(deviation: int, post: float) -> Wad:
    """The requested post-trade deviation as a Wad.

    ``post``'s magnitude truncated toward zero (toward the target) and at most ``|deviation|``:
    the contract keeps no more of a deviation than all of it (:func:`executed_trade`), so a
    request past it is the no-trade point ``|deviation|``, and a huge one (the return point of a
    huge no-trade half-width) stays a valid int256. 0 (the target) when ``post`` is 0, not
    finite, or across the target from ``deviation``: the contract takes a request on the other
    side as the target (``tradeSize``), and so does :func:`executed_trade` on the float request
    the backtester sends.
    """
    if deviation == 0 or not math.isfinite(post) or post == 0.0 or (post > 0.0) != (deviation > 0):
        return Wad(0)
    limit = abs(deviation)
    # Past 2·|d| the exact value is past |d| too: convert no more than that (int256-safe).
    mag = min(wad_from_float(min(abs(post), 2.0 * wad_to_float(limit))), limit)
    return Wad(mag if deviation > 0 else -mag)


# ---- the cost-optimal return point -------------------------------------------------------------
#
# A deviation diffusing at rate a² = (Γ·S·σ)² per year, held inside (−H, H) and brought back to
# ±p = ±x·H when it reaches ±H, costs per unit time (fixed cost F and proportional rate λ per
# trade, risk aversion G on the variance rate S²σ²Δ²; the exit time from ±p is (H² − p²)/a² and
# the expected ∫Δ² over a cycle (H⁴ − p⁴)/(6a²)):
#
#     R(p) = a²·(F + λS(H − p))/(H² − p²) + G·S²σ²·(H² + p²)/6.
#
# With φ = F/(λ·S·H) and ψ = G·H³/(3·Γ²·S·λ), dR/dp = 0 reads
#
#     P(x) = 2xφ − (1 − x)² + ψ·x·(1 − x)²·(1 + x)² = 0,   x ∈ [0, 1].
#
# ψ = 1/4 is the value at which H is itself the optimal band under proportional costs alone
# (H³ = ¾·λΓ²S/G); with it, φ = 0 gives x = 1 (trade to the edge) and x → 1/(2φ) → 0 as the
# fixed cost grows (trade to the target); for small φ, 1 − x ≈ φ^{1/3}. The policy's own H is
# taken as that optimal band, so x depends on φ alone and is tabulated once.

_PSI = 0.25
_LOG_PHI = np.linspace(-12.0, 8.0, 801)


def _solve_fraction(phi: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        x = 0.5 * (lo + hi)
        p = 2.0 * x * phi - (1.0 - x) ** 2 + _PSI * x * (1.0 - x) ** 2 * (1.0 + x) ** 2
        lo, hi = (lo, x) if p > 0.0 else (x, hi)
    return 0.5 * (lo + hi)


_FRACTION = np.array([_solve_fraction(10.0**lp) for lp in _LOG_PHI])


def return_fraction(phi: FloatArray) -> FloatArray:
    """The optimal return point as a fraction ``x`` of the no-trade half-width (see above).

    Args:
        phi: Fixed cost over the proportional cost of a full-band trade, ``F/(λ·S·H)`` (≥ 0;
            ``inf`` or NaN, e.g. with no proportional cost, gives 0: trade to the target).

    Returns:
        ``x`` in ``[0, 1]``: 1 at ``φ = 0`` (the edge), decreasing to 0.
    """
    ph = np.asarray(phi, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log10(ph)
    x = np.interp(np.nan_to_num(lp, nan=np.inf, neginf=-np.inf), _LOG_PHI, _FRACTION)
    x = np.where(ph <= 10.0 ** _LOG_PHI[0], 1.0, x)
    x = np.where((ph > 10.0 ** _LOG_PHI[-1]) | ~np.isfinite(ph), 0.0, x)
    out: FloatArray = x
    return out
