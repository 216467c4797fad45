"""``keeper rehearse --json`` says the scale of every raw number it prints, as ``keeper check``.

Its report printed the decisions' wads, the outcomes' deltas before and after (the vault's
``Rebalanced`` event: wads), the fork's gas and fees (wei) and the time as bare numbers. A
top-level ``units`` object now names each one's scale by its path, in ``keeper check --json``'s
form (:data:`keeper.commands.check.JSON_UNITS`); every other key is as it was. The report is
built here and printed by the command itself (``keeper.app.rehearse.rehearse`` replaced: no
anvil, no node).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import pytest

from keeper.app.rehearse import RehearsalReport, RehearsedVault, VaultRole
from keeper.cli import main
from keeper.commands.rehearse import format_report
from tests.json_units_cases import amount, assert_unit_forms, numbers, two_decisions
from tests.unit.test_cli_keeper import _clean_env  # noqa: F401 - autouse
from tests.unit.test_rehearse_report import ADMIN, BATCHER, OTHER, VAULT, _idle_report

#: Counts and identifiers: not amounts of anything.
PLAIN = {"fork_block", "chain_id", "vaults", "decisions[].pool", "decisions[].venue"}


def _report() -> RehearsalReport:
    decisions = two_decisions(VAULT, OTHER, notional_usd=3456.75, pool=1, venue=2)
    return _idle_report(
        fork_block=12_345,
        chain_id=8453,
        vaults=2,
        planned=[VAULT],
        simulated=[VAULT],
        outcomes=[RehearsedVault(VAULT, True, -1_234_567_890_123_456_789, 0, None, "Rebalanced")],
        tx_hash="0xab",
        tx_status="mined",
        tx_to=VAULT,
        gas_used=412_345,
        fork_txs=["0xab"],
        l2_fee_wei=4_123_450_000_000,
        l1_fee_wei=41_000_000_000,
        decisions=[dataclasses.asdict(d) for d in decisions],
        vault_roles=[VaultRole(VAULT, True, ADMIN, None)],
        seconds=3.25,
    )


def _printed(
    report: RehearsalReport, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """``keeper rehearse --json``'s stdout, for ``report``."""
    import keeper.app.rehearse as rehearse_module

    monkeypatch.setenv("KEEPER_BATCHER", BATCHER)
    monkeypatch.setenv("KEEPER_LENS", ADMIN)
    monkeypatch.setenv("KEEPER_VAULTS", f"{VAULT},{OTHER}")
    monkeypatch.setattr(rehearse_module, "rehearse", lambda *a, **k: report)
    argv = ["rehearse", "--env-file", os.devnull, "--fork-url", "http://127.0.0.1:9", "--json"]
    assert main(argv) == 0
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    return body


def test_every_number_in_the_json_has_a_unit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A field added later without its unit fails here, not in a script reading it."""
    body = _printed(_report(), monkeypatch, capsys)
    paths = numbers(body)
    for d in body["decisions"]:
        paths |= numbers(d, "decisions[].")
    for o in body["outcomes"]:
        paths |= numbers(o, "outcomes[].")
    # None when the vault failed: numbers when it rebalanced
    paths |= {"outcomes[].delta_before", "outcomes[].delta_after"}
    assert "units" in body
    missing = sorted(paths - PLAIN - set(body["units"]))
    assert missing == []
    assert_unit_forms(body["units"])
    assert body["units"]["outcomes[].delta_before"] == {
        "scale": "wad",
        "decimals": 18,
        "unit": "underlying",
    }
    assert body["units"]["gas_used"] == {"scale": "gas", "decimals": 0, "unit": "gas"}
    assert body["units"]["total_fee_wei"] == {"scale": "wei", "decimals": 18, "unit": "ETH"}
    assert body["units"]["seconds"] == {"scale": "float", "unit": "s"}


def test_the_table_is_rebuilt_from_the_json_and_its_units(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report()
    body = _printed(report, monkeypatch, capsys)
    units = body["units"]
    table = format_report(report)
    rows = [line.split() for line in table.splitlines() if line.startswith("0x")]
    for row, d in zip(rows, body["decisions"], strict=True):
        dev = amount(units, "decisions[].deviation", d["deviation"])
        band = amount(units, "decisions[].band", d["band"])
        trade = amount(units, "decisions[].trade", d["trade"])
        assert row[1:4] == [f"{dev:+.4f}", f"{band:.4f}", f"{trade:+.4f}"]
    assert rows[0][1] == "-1.2346"  # the table's figure, not a tautology of the JSON
    l2 = amount(units, "l2_fee_wei", body["l2_fee_wei"])
    l1 = amount(units, "l1_fee_wei", body["l1_fee_wei"])
    total = amount(units, "total_fee_wei", body["total_fee_wei"])
    assert (
        f"the cycle mined there): gas {body['gas_used']}, L2 fee {l2:.9f} ETH, "
        f"L1 fee {l1:.9f} ETH, total {total:.9f} ETH"
    ) in table


def test_the_existing_keys_are_unchanged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripts read them: ``units`` is added beside them, nothing renamed or rescaled."""
    report = _report()
    body = _printed(report, monkeypatch, capsys)
    before = json.loads(json.dumps({"policy": body["policy"], **report.to_dict()}))
    assert {k: v for k, v in body.items() if k != "units"} == before
