"""Per-vault gauges: looked up once, set only when a value changed, always current."""

from __future__ import annotations

from keeper.app.act import _vault_gauges
from keeper.ops.metrics import Metrics


def test_vault_gauges_follow_every_change_and_skip_repeats() -> None:
    m = Metrics()
    g = _vault_gauges(m)
    assert _vault_gauges(m) is g
    g.publish("0xa", -0.5, 0.1, 5.0)
    g.publish("0xb", 1.0, 0.2, float("inf"))
    assert m.value("keeper_vault_delta", {"vault": "0xa"}) == -0.5
    assert m.value("keeper_vault_deviation", {"vault": "0xb"}) == float("inf")
    g.publish("0xa", -0.5, 0.1, 5.0)  # unchanged: nothing to set
    g.publish("0xa", 0.25, 0.1, 2.5)
    assert m.value("keeper_vault_delta", {"vault": "0xa"}) == 0.25
    assert m.value("keeper_vault_band", {"vault": "0xa"}) == 0.1
    assert m.value("keeper_vault_deviation", {"vault": "0xa"}) == 2.5
    # A second registry has its own gauges.
    other = Metrics()
    _vault_gauges(other).publish("0xa", 9.0, 1.0, 9.0)
    assert m.value("keeper_vault_delta", {"vault": "0xa"}) == 0.25
    assert other.value("keeper_vault_delta", {"vault": "0xa"}) == 9.0
