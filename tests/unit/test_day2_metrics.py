"""The Prometheus endpoint as an operator scrapes it: every series an alert rule needs, documented.

Two things an operator's alert rules depend on:

* A labelled counter's series must exist at 0 from the start. A series that first appears at 1
  (the first failed cycle, the first failed batch after a restart) is invisible to ``rate()`` and
  ``increase()``, which need two samples: ``increase(keeper_rebalances_total{state="failed"}
  [10m]) > 0`` missed the first failed batch of every process.
* The README's metrics table names each metric as it is exposed, with its type, its labels and
  their values: a rule written from the README must match what is served.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

import keeper
from keeper.ops import metrics
from keeper.ops.metrics import Metrics

README = Path(keeper.__file__).resolve().parent.parent / "README.md"


def _exposition(m: Metrics) -> dict[str, tuple[str, set[tuple[tuple[str, str], ...]]]]:
    """Each exposed family: its type and the label sets of its samples (``le`` left out)."""
    from prometheus_client import generate_latest

    out: dict[str, tuple[str, set[tuple[tuple[str, str], ...]]]] = {}
    for fam in text_string_to_metric_families(generate_latest(m.registry).decode()):
        if fam.name.endswith("_created"):  # the text format's start time of each counter
            continue
        labels = {
            tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            for s in fam.samples
            if not s.name.endswith("_created")
        }
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        out[name] = (fam.type, labels)
    return out


def test_every_outcome_of_a_labelled_counter_is_served_at_zero_before_it_happens() -> None:
    m = Metrics()
    assert m.registry.get_sample_value("keeper_cycles_total", {"result": "failed"}) == 0
    assert m.registry.get_sample_value("keeper_rebalances_total", {"state": "failed"}) == 0
    assert m.registry.get_sample_value("keeper_settlements_total", {"outcome": "failed"}) == 0
    for metric, (label, values) in metrics.LABEL_VALUES.items():
        for value in values:
            assert m.registry.get_sample_value(metric, {label: value}) == 0, (metric, value)


def test_the_keeper_books_only_label_values_the_metrics_declare() -> None:
    # A value booked in the code but not declared would be a series no rule knows of (and not
    # served at 0 before it happens).
    names = {"cycles": "keeper_cycles_total", "rebalances": "keeper_rebalances_total"}
    names["settlements"] = "keeper_settlements_total"
    root = Path(keeper.__file__).resolve().parent
    booked = re.compile(r"\.(cycles|rebalances|settlements)\.labels\(\"(\w+)\"\)")
    used: dict[str, set[str]] = {v: set() for v in names.values()}
    for path in root.rglob("*.py"):
        text = path.read_text()
        for attr, value in booked.findall(text):
            used[names[attr]].add(value)
    for metric, values in used.items():
        assert values, metric
        assert values <= set(metrics.LABEL_VALUES[metric][1]), (metric, values)


def _readme_table() -> dict[str, tuple[str, str]]:
    """The README's metrics table: ``metric`` -> (type, labels cell)."""
    text = README.read_text()
    start = text.index("| metric | type | labels | meaning |")
    rows: dict[str, tuple[str, str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = cells[0].strip("`")
        rows[name] = (cells[1], cells[2])
    return rows


def test_the_readme_metrics_table_is_what_the_endpoint_serves() -> None:
    m = Metrics()
    m.vault_delta.labels("0xv").set(1)
    m.vault_band.labels("0xv").set(1)
    m.vault_deviation.labels("0xv").set(1)
    served = _exposition(m)
    served = {k: v for k, v in served.items() if k.startswith("keeper_")}
    table = _readme_table()
    assert sorted(table) == sorted(served)
    for name, (kind, labels_cell) in table.items():
        served_kind, label_sets = served[name]
        assert kind == served_kind, name
        keys = {k for labels in label_sets for k, _ in labels}
        documented = set(re.findall(r"`(\w+)`:", labels_cell))
        assert documented == keys, (name, documented, keys)
        if name in metrics.LABEL_VALUES:
            label, values = metrics.LABEL_VALUES[name]
            assert documented == {label}, name
            listed = set(re.findall(r"`(\w+)`", labels_cell.split(":", 1)[1]))
            assert listed == set(values), (name, listed)
