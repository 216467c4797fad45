"""What the ``--json`` ``units`` tests of ``keeper check`` and ``keeper rehearse`` share.

Two decisions (one acting, one inside its band) whose wads print as known table figures
(``-1.2346``), and the readers of a report's numbers and of its ``units`` object
(:mod:`keeper.json_units`).
"""

from __future__ import annotations

from typing import Any

from keeper.strategy.types import VaultDecision, Wad

WAD = 10**18


def two_decisions(first: str, second: str, **acting: Any) -> tuple[VaultDecision, VaultDecision]:
    """An acting decision for ``first`` (its deviation prints -1.2346) and a held one.

    ``acting``: more fields of the acting decision (``notional_usd``, ``pool``, ``venue``).
    """
    return (
        VaultDecision(
            vault=first,
            act=True,
            reason="costaware: risk reduction exceeds cost",
            deviation=Wad(-1_234_567_890_123_456_789),
            band=Wad(WAD // 2),
            trade=Wad(1_111_111_111_111_111_111),
            benefit_usd=12.5,
            cost_usd=0.25,
            post_deviation=Wad(-123_456_779_012_345_678),
            **acting,
        ),
        VaultDecision(
            vault=second,
            act=False,
            reason="costaware: inside the band",
            deviation=Wad(37_500_000_000_000_000),
            band=Wad(3 * WAD // 10),
            trade=Wad(0),
            benefit_usd=0.0,
            cost_usd=0.5,
        ),
    )


def numbers(row: dict[str, Any], prefix: str = "") -> set[str]:
    """The paths of ``row``'s numbers (not booleans), each under ``prefix``."""
    return {
        f"{prefix}{k}"
        for k, v in row.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def amount(units: dict[str, Any], path: str, value: int) -> float:
    """``value`` in its unit, read from the report's own ``units``: nothing assumed here."""
    unit = units[path]
    assert unit["scale"] in ("wad", "wei", "gas")
    return float(value / 10 ** unit["decimals"])


def assert_unit_forms(units: dict[str, Any]) -> None:
    """Every entry is a known scale, with ``decimals`` exactly for the integer scales."""
    for path, unit in units.items():
        assert unit["scale"] in ("wad", "wei", "gas", "float"), path
        assert ("decimals" in unit) == (unit["scale"] != "float"), path
        assert unit["unit"], path
