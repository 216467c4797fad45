"""``keeper check``'s table says why a vault inside its band acts: its time trigger."""

from __future__ import annotations

import dataclasses

from keeper.commands.check import format_table
from keeper.strategy.types import VaultDecision, Wad
from tests.unit.test_app_cycle import dummy_result

WAD = 10**18


def _decision(vault: str, deviation: int, act: bool = True) -> VaultDecision:
    return VaultDecision(
        vault=vault,
        act=act,
        reason="costaware: risk reduction exceeds cost",
        deviation=Wad(deviation),
        band=Wad(2 * WAD),
        trade=Wad(-deviation if act else 0),
        benefit_usd=1.0,
        cost_usd=0.5,
    )


def test_a_vault_inside_its_band_that_acts_is_said_to_act_on_its_time_trigger() -> None:
    """An operator saw ACT at dev/band 0.66 with no cause: the vault's own rule acts inside the
    band only when ``maxInterval`` has passed since its last rebalance (``RebalanceRules.plan``),
    so an act inside it is the time trigger."""
    inside, outside, on_edge = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
    result = dataclasses.replace(
        dummy_result(),
        decisions=(
            _decision(inside, -13 * WAD // 10),
            _decision(outside, 3 * WAD),
            _decision(on_edge, 2 * WAD),  # the band is strict: on its edge is inside
        ),
    )
    text = format_table(result, "costaware")
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("0x")}
    assert "ACT (time)" in rows[inside[:10] + "…"]
    assert "ACT (time)" in rows[on_edge[:10] + "…"]
    assert "ACT (time)" not in rows[outside[:10] + "…"]
    reasons = {
        line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("  0x")
    }
    assert "time trigger" in reasons[inside]
    assert "maxInterval" in reasons[inside]
    assert "time trigger" not in reasons[outside]


def test_the_header_counts_one_vault_in_the_singular() -> None:
    one = format_table(dataclasses.replace(dummy_result(), vaults=1), "band").splitlines()[0]
    two = format_table(dataclasses.replace(dummy_result(), vaults=2), "band").splitlines()[0]
    assert "  1 vault  " in one
    assert "  2 vaults  " in two
