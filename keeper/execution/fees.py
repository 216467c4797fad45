"""EIP-1559 fees under a cap, and the replacement bump.

A first send asks ``maxFeePerGas = min(cap, 2 * baseFee + tip)`` (two blocks of base-fee growth
of headroom) and ``maxPriorityFeePerGas = min(tipCap, tip)``. A replacement raises *both* fields
by at least 12.5% (rounded up; nodes require 10%, geth's txpool replacement rule), and never goes
above the caps: if the bump would, :class:`~keeper.errors.FeeCapError` is raised instead, so an
operator raises the cap rather than the keeper silently overpaying.
"""

from __future__ import annotations

from dataclasses import dataclass

from keeper.errors import FeeCapError
from keeper.units import Wei, mul_div_up

#: The minimum replacement bump, in basis points (12.5%).
MIN_BUMP_BPS = 1_250


@dataclass(frozen=True)
class FeeCaps:
    """The most the keeper will ever bid, per gas."""

    max_fee_per_gas: Wei
    max_priority_fee_per_gas: Wei


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee fields of one transaction."""

    max_fee_per_gas: Wei
    max_priority_fee_per_gas: Wei


def initial_fees(base_fee: int, tip: int, caps: FeeCaps) -> Fees:
    """Return the fees for a first send at the current ``base_fee``.

    Raises:
        FeeCapError: The base fee alone exceeds the cap: nothing under the cap can be mined.
    """
    if base_fee > caps.max_fee_per_gas:
        raise FeeCapError(
            f"base fee {base_fee} wei exceeds the max fee cap {caps.max_fee_per_gas} wei",
            base_fee,
            caps.max_fee_per_gas,
        )
    priority = min(tip, caps.max_priority_fee_per_gas)
    max_fee = min(2 * base_fee + priority, caps.max_fee_per_gas)
    priority = min(priority, max_fee)
    return Fees(Wei(max_fee), Wei(priority))


def bump_fees(
    old: Fees, caps: FeeCaps, *, base_fee: int = 0, min_bump_bps: int = MIN_BUMP_BPS
) -> Fees:
    """Return replacement fees: both fields up by at least ``min_bump_bps``, under the caps.

    The new max fee is also lifted to ``2 * base_fee + tip`` when the market moved more than the
    bump (still capped).

    Raises:
        FeeCapError: A bumped field would exceed its cap.
    """
    tip = max(
        mul_div_up(old.max_priority_fee_per_gas, 10_000 + min_bump_bps, 10_000),
        old.max_priority_fee_per_gas + (1 if old.max_priority_fee_per_gas else 0),
    )
    max_fee = max(
        mul_div_up(old.max_fee_per_gas, 10_000 + min_bump_bps, 10_000), old.max_fee_per_gas + 1
    )
    if tip > caps.max_priority_fee_per_gas:
        raise FeeCapError(
            f"replacement tip {tip} wei exceeds the priority fee cap "
            f"{caps.max_priority_fee_per_gas} wei",
            base_fee,
            caps.max_fee_per_gas,
        )
    if max_fee > caps.max_fee_per_gas:
        raise FeeCapError(
            f"replacement max fee {max_fee} wei exceeds the cap {caps.max_fee_per_gas} wei"
            f" (base fee {base_fee} wei)",
            base_fee,
            caps.max_fee_per_gas,
        )
    market = min(2 * base_fee + tip, caps.max_fee_per_gas)
    max_fee = max(max_fee, market, tip)
    return Fees(Wei(max_fee), Wei(tip))
