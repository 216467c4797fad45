"""The README's batch-gas figures are the ones in bench/results/latest.json (helper-96's audit).

The README's "Last runs here" table quotes the batch section by hand, in thousands of gas rounded
to 0.1k; every such figure must be the median the JSON holds (docs/benchmarks.md is rendered from
it), not a figure of an earlier run or another statistic of the runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _k(gas: float) -> str:
    return f"{gas / 1000:.1f}k"


def _row(readme: str, label: str) -> str:
    rows = [line for line in readme.splitlines() if line.startswith(f"| {label} |")]
    assert len(rows) == 1, label
    return rows[0]


def test_readme_batch_gas_rows_quote_latest_json() -> None:
    readme = (REPO / "README.md").read_text()
    res = json.loads((REPO / "bench" / "results" / "latest.json").read_text())
    first = {r["batch_size"]: r for r in res["batch"]}[10]
    details = res["batch_details"]
    again = {r["batch_size"]: r for r in details["recurring_rows"]}[10]
    single, single_again = (
        details["single_tx"]["gas"]["median"],
        details["single_tx_recurring"]["gas"]["median"],
    )

    cost = _row(readme, "cost per vault, batch of 10")
    assert f"{round(first['ratio_to_single'] * 100)}% ({_k(first['gas_per_vault'])} gas" in cost
    assert f"against {_k(single)} for one tx" in cost
    assert (
        f"{round(again['ratio_to_single'] * 100)}%, {_k(again['gas_per_vault'])} against "
        f"{_k(single_again)})" in cost
    ), cost

    gas = _row(readme, "gas per vault, batch of 10")
    assert f"{_k(first['gas_per_vault'])} on a first purchase" in gas
    assert f"{_k(again['gas_per_vault'])} recurring" in gas, gas

    lone = _row(readme, "a single vault through the keeper's path")
    assert f"{_k(single)} on a first purchase" in lone
    assert f"{_k(single_again)} recurring" in lone, lone
    # Every k-figure in the three rows is one the JSON gives.
    known = {_k(x) for x in (first["gas_per_vault"], again["gas_per_vault"], single, single_again)}
    for line in (cost, gas, lone):
        for fig in re.findall(r"\d+\.\dk", line):
            assert fig in known, (fig, line)
