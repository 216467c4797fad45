"""Fail on any High or Medium slither finding that is not suppressed in place.

Usage: ``python scripts/slither_gate.py out/slither.json``. slither exits non-zero whenever it
finds anything, so ``make lint`` judges its JSON instead: every detector result of impact High or
Medium fails the gate (Low and Informational are printed as a count only). A finding is fixed in
the code or suppressed where it occurs with ``// slither-disable-next-line <detector>`` and a
one-line reason; slither then leaves it out of the JSON.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

GATED = ("High", "Medium")


def _where(result: dict[str, object]) -> str:
    elements = result.get("elements")
    if isinstance(elements, list) and elements:
        first = elements[0]
        if isinstance(first, dict):
            mapping = first.get("source_mapping")
            if isinstance(mapping, dict):
                lines = mapping.get("lines") or [0]
                return f"{mapping.get('filename_relative', '?')}:{lines[0]}"
    return "?"


def main(argv: list[str]) -> int:
    """Print the summary and return 1 if a High or Medium finding is left."""
    if len(argv) != 2:
        sys.stderr.write("usage: slither_gate.py SLITHER_JSON\n")
        return 2
    report = json.loads(Path(argv[1]).read_text())
    if not report.get("success", False):
        sys.stderr.write(f"slither did not run: {report.get('error')}\n")
        return 2
    results = report.get("results", {}).get("detectors", [])
    counts = Counter(str(r["impact"]) for r in results)
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("High", "Medium", "Low"))
    sys.stdout.write(f"slither: {summary}, {counts.get('Informational', 0)} Informational\n")
    gated = [r for r in results if r["impact"] in GATED]
    for r in gated:
        first_line = str(r["description"]).strip().splitlines()[0]
        sys.stdout.write(f"  {r['impact']} {r['check']} at {_where(r)}: {first_line}\n")
    if gated:
        sys.stdout.write(
            "fix each, or suppress it in place: // slither-disable-next-line <detector> -- why\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
