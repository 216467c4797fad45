"""``keeper check --json`` says the scale of every raw number it prints.

Deviation, band and trade were raw wads (``100000000000000000``) with nothing saying so: a
script had to know the keeper's internals to read 0.1 WETH. Every key is kept as it was (scripts
read them); a top-level ``units`` object names each raw field's scale: ``wad``/``wei`` integers
with their ``decimals`` (the amount is ``value / 10**decimals`` of its ``unit``), ``gas`` counts,
and the floats' units. This test reads only the JSON and ``units`` and prints the table's figures.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from keeper.commands.check import format_table, json_report
from tests.json_units_cases import amount, assert_unit_forms, numbers, two_decisions
from tests.unit.test_app_cycle import dummy_result


def _result() -> Any:
    decisions = two_decisions("0x" + "11" * 20, "0x" + "22" * 20)
    base = dummy_result()
    costs = dataclasses.replace(base.costs, l1_fee_fixed_wei=41_000_000_000, eth_usd=3123.456)
    return dataclasses.replace(base, decisions=decisions, costs=costs, vaults=2)


def _amount(body: dict[str, Any], path: str, value: int) -> float:
    return amount(body["units"], path, value)


def test_the_table_is_rebuilt_from_the_json_and_its_units() -> None:
    result = _result()
    body = json.loads(json.dumps(json_report(result, "costaware"), default=str))
    table = format_table(result, "costaware")
    rows = [line.split() for line in table.splitlines() if line.startswith("0x")]
    assert len(rows) == 2
    for row, d in zip(rows, body["decisions"], strict=True):
        dev = _amount(body, "decisions[].deviation", d["deviation"])
        band = _amount(body, "decisions[].band", d["band"])
        trade = _amount(body, "decisions[].trade", d["trade"])
        assert row[1:5] == [f"{dev:+.4f}", f"{band:.4f}", f"{abs(dev) / band:.2f}", f"{trade:+.4f}"]
        assert body["units"]["decisions[].benefit_usd"]["unit"] == "USD"
        assert row[5:7] == [f"{d['benefit_usd']:.4g}", f"{d['cost_usd']:.4g}"]
    assert rows[0][1] == "-1.2346"  # the figures are the table's, not a tautology of the JSON
    # the costs line: gas counts and wei as integers, ETH in USD
    c = body["costs"]
    assert body["units"]["costs.gas_fixed"] == {"scale": "gas", "decimals": 0, "unit": "gas"}
    assert body["units"]["costs.gas_price_wei"]["unit"] == "ETH per gas"
    assert body["units"]["costs.eth_usd"]["unit"] == "USD per ETH"
    l1 = _amount(body, "costs.l1_fee_fixed_wei", c["l1_fee_fixed_wei"])
    assert l1 == 41e-9  # 41 gwei, in ETH
    assert (
        f"costs: gas {c['gas_fixed']} + {c['gas_per_vault']}/vault at {c['gas_price_wei']} wei; "
        f"L1 fee {c['l1_fee_fixed_wei']} + {c['l1_fee_per_vault_wei']}/vault wei; "
        f"ETH ${c['eth_usd']:,.2f}"
    ) in table


def test_every_number_in_the_json_has_a_unit() -> None:
    """A field added later without its unit fails here, not in a script reading it."""
    body = json.loads(json.dumps(json_report(_result(), "costaware"), default=str))
    # counts and identifiers: not amounts of anything
    plain = {
        "block",
        "timestamp",
        "vaults",
        "rpc_requests",
        "rpc_calls",
        "decisions[].pool",
        "decisions[].venue",
    }
    paths = numbers(body) | numbers(body["costs"], "costs.")
    for d in body["decisions"]:
        paths |= numbers(d, "decisions[].")
    paths |= {"gas_used", "fee_wei", "l1_fee_wei"}  # null in a dry run, numbers in a sent one
    missing = sorted(paths - plain - set(body["units"]))
    assert missing == []
    assert_unit_forms(body["units"])


def test_the_existing_keys_are_unchanged() -> None:
    """Scripts read them: ``units`` is added beside them, nothing renamed or rescaled."""
    result = _result()
    body = json_report(result, "costaware")
    before = {"policy": "costaware", **result.to_dict()}
    for key, value in before.items():
        assert key in body
        if key == "decisions":
            for new, old in zip(body[key], value, strict=True):
                assert {k: new[k] for k in old} == old
        else:
            assert body[key] == value
    assert set(body) - set(before) == {"units", "not_simulated"}
