"""The ``units`` object of the commands' ``--json``: the scale of each raw number, by its path.

A path names a key of the printed object (``gas_used``), of each row of a list
(``decisions[].band``: the ``band`` of every decision) or of a nested object (``costs.gas_fixed``).
An integer scale (``wad``, ``wei``, ``gas``) has ``decimals``: the amount is
``value / 10**decimals`` of ``unit``; ``underlying`` is the vault's underlying token (WETH on the
devnet), whatever its own decimals (a delta is always a wad). A ``float`` is already in its
``unit``. Counts and identifiers (blocks, chain ids, vault counts, pool and venue ids) have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

WAD_UNDERLYING: Mapping[str, Any] = MappingProxyType(
    {"scale": "wad", "decimals": 18, "unit": "underlying"}
)
WEI: Mapping[str, Any] = MappingProxyType({"scale": "wei", "decimals": 18, "unit": "ETH"})
GAS: Mapping[str, Any] = MappingProxyType({"scale": "gas", "decimals": 0, "unit": "gas"})


def float_unit(unit: str) -> Mapping[str, str]:
    """A float already in ``unit``."""
    return MappingProxyType({"scale": "float", "unit": unit})


#: The numbers of a :class:`keeper.strategy.types.VaultDecision` as both ``check`` and
#: ``rehearse`` print it (``decisions[]``); its ``pool`` and ``venue`` are identifiers.
DECISION_UNITS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "decisions[].deviation": WAD_UNDERLYING,
        "decisions[].band": WAD_UNDERLYING,
        "decisions[].trade": WAD_UNDERLYING,
        "decisions[].post_deviation": WAD_UNDERLYING,
        "decisions[].benefit_usd": float_unit("USD"),
        "decisions[].cost_usd": float_unit("USD"),
        "decisions[].notional_usd": float_unit("USD"),
    }
)


def units_object(units: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``units`` as the JSON prints it (plain dicts)."""
    return {path: dict(unit) for path, unit in units.items()}
