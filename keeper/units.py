"""Integer money: ``Wei`` and ``Wad`` NewTypes and Solidity-style rounding.

Token amounts and fees are Python ``int`` everywhere outside :mod:`keeper.pricing`. The helpers
here mirror the contracts' arithmetic: ``mul_div_down`` is OpenZeppelin ``Math.mulDiv`` (floor),
``mul_div_up`` is ``Math.mulDiv(..., Rounding.Ceil)``; both refuse results that would not fit a
``uint256``, as the contract would revert.

Floats enter integer land in exactly one place, :func:`wad_from_float`, which converts through the
float's exact binary value (``float.as_integer_ratio``) and rounds toward zero -- the same
direction as Solidity's signed division, so a float never rounds a delta *away* from zero.

Deltas, band, target and max trade are ``Wad`` from the lens (:mod:`keeper.chain.lens`) through
``VaultView`` and ``VaultDecision`` (:mod:`keeper.strategy.types`); they become floats only
through :func:`wad_to_float`.
"""

from __future__ import annotations

from typing import NewType

#: An amount of the chain's native token in wei (1e-18 ETH), or a fee per gas in wei.
Wei = NewType("Wei", int)
#: An 18-decimal fixed-point number (1.0 == 10**18), as used for deltas, vol and Greeks on-chain.
Wad = NewType("Wad", int)

WAD = 10**18
#: What the ``deviation``, ``band`` and ``trade`` columns of ``keeper check`` and ``keeper
#: rehearse`` count (the tables print the wad as a decimal).
DELTA_COLUMNS_UNIT = (
    "deviation, band, trade: the vault's net delta, in whole units of its underlying "
    "(the hedge token, e.g. WETH)"
)
UINT256_MAX = 2**256 - 1
INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1


def _check_uint(name: str, value: int) -> None:
    if value < 0 or value > UINT256_MAX:
        raise ValueError(f"{name}={value} is not a uint256")


def mul_div_down(x: int, y: int, denominator: int) -> int:
    """Return ``floor(x * y / denominator)`` with uint256 semantics (OpenZeppelin ``mulDiv``).

    Raises:
        ValueError: An input is negative or above ``2**256 - 1``, the denominator is zero, or the
            result does not fit a uint256 (the contract would revert).
    """
    _check_uint("x", x)
    _check_uint("y", y)
    _check_uint("denominator", denominator)
    if denominator == 0:
        raise ValueError("division by zero")
    result = x * y // denominator
    _check_uint("result", result)
    return result


def mul_div_up(x: int, y: int, denominator: int) -> int:
    """Return ``ceil(x * y / denominator)`` with uint256 semantics (``mulDiv`` with ``Ceil``).

    Raises:
        ValueError: As :func:`mul_div_down`.
    """
    down = mul_div_down(x, y, denominator)
    if (x * y) % denominator:
        down += 1
        _check_uint("result", down)
    return down


def wad_mul_down(x: int, y: int) -> int:
    """Return ``x * y / 1e18`` rounded down (both non-negative wads)."""
    return mul_div_down(x, y, WAD)


def wad_div_down(x: int, y: int) -> int:
    """Return ``x * 1e18 / y`` rounded down (both non-negative wads)."""
    return mul_div_down(x, WAD, y)


def wad_div_up(x: int, y: int) -> int:
    """Return ``x * 1e18 / y`` rounded up (both non-negative wads)."""
    return mul_div_up(x, WAD, y)


def bps_up(amount: int, bps: int) -> int:
    """Return ``amount * (10_000 + bps) / 10_000`` rounded up: an amount plus a margin."""
    return mul_div_up(amount, 10_000 + bps, 10_000)


def wad_from_float(x: float) -> Wad:
    """Convert a float to a wad, rounding toward zero (the one float-to-int conversion).

    The float is taken at its exact binary value, so ``wad_from_float(0.1)`` is
    ``100000000000000005`` (0.1 is not exactly representable) rather than a rounding artefact of
    ``0.1 * 1e18``.

    Raises:
        ValueError: ``x`` is not finite or the result does not fit an int256.
    """
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"cannot convert {x} to a wad")
    num, den = x.as_integer_ratio()  # exact; den is a power of two
    result = abs(num) * WAD // den  # floor of a non-negative value: truncation toward zero
    if num < 0:
        result = -result
    if not INT256_MIN <= result <= INT256_MAX:
        raise ValueError(f"{x} does not fit an int256 wad")
    return Wad(result)


def wad_to_float(x: int) -> float:
    """Convert a wad to a float, correctly rounded (the one wad-to-float conversion).

    Python's ``int / int`` is correctly rounded, so this is ``float(Fraction(x, WAD))``, faster.
    """
    return x / WAD


def format_units(amount: int, decimals: int) -> str:
    """Render integer token units as an exact decimal string (no float, no rounding)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    digits = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


def format_fixed(amount: int, decimals: int, places: int) -> str:
    """Integer token units as a decimal with ``places`` digits and thousands separators.

    For display only: computed in integers and rounded half away from zero (a float would round
    2.5 USDC to 2, half to even, and 1.00005 down, having no exact binary value).
    """
    if not 0 <= places <= decimals:
        raise ValueError(f"places={places} must be in [0, decimals={decimals}]")
    step = 10 ** (decimals - places)
    whole, rest = divmod(abs(amount), step)
    if 2 * rest >= step:
        whole += 1
    units, frac = divmod(whole, 10**places)
    sign = "-" if amount < 0 and whole else ""
    return f"{sign}{units:,}" + (f".{frac:0{places}d}" if places else "")


#: Seconds in the pricing year (365 days): the contract's and the keeper's time unit for tau.
YEAR_SECONDS = 31_536_000
