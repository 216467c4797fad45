"""README documents ``keeper devnet up|step --json``'s market-step record, key by key.

README listed the keys of ``up``'s ready object and then said only "then each market step's
record": a script reading ``price8``, a flow's ``assets`` or a write's ``size`` had no word on
what they are or their scale. Each key of the record and of its rows is now named in README's
``keeper devnet`` passage.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from keeper.app.devnet_session import DevnetInfo
from keeper.devnet.market import Flow, QueuedExit, Settlement, StepRecord, Write

README = Path(__file__).resolve().parents[2] / "README.md"


def _devnet_json_passage() -> str:
    """README's paragraph on ``--json`` under "Try it by hand" (up to the next blank line)."""
    text = README.read_text()
    start = text.index("With `--json`, stdout carries one JSON object a line")
    end = text.index("\n\n", start)
    return text[start:end]


@pytest.mark.parametrize("record", [DevnetInfo, StepRecord, Flow, Write, Settlement, QueuedExit])
def test_readme_names_every_key_of_the_devnet_json(record: type) -> None:
    named = set(re.findall(r"`([a-z0-9_]+)`", _devnet_json_passage()))
    keys = {f.name for f in dataclasses.fields(record)}
    assert keys - named == set()
