"""docs/web.md's table of browser tests names every test in tests/browser, and counts them right.

Two tests added to tests/browser/test_vault_page.py (2026-12-07) were missing from the table,
and its count still said 37 cases of 35 tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "web.md"
TESTS = REPO / "tests" / "browser" / "test_vault_page.py"


def _defined() -> list[str]:
    return re.findall(r"^def (test_\w+)\(", TESTS.read_text(), flags=re.M)


def test_every_browser_test_has_a_row_in_docs_web_md() -> None:
    rows = re.findall(r"^\| `(test_\w+)`", DOC.read_text(), flags=re.M)
    assert len(rows) == len(set(rows)), "a test has two rows"
    assert set(rows) == set(_defined()), "docs/web.md's table must list tests/browser's tests"


def test_docs_web_md_counts_the_browser_tests_and_their_cases() -> None:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", TESTS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    cases = len([line for line in collected.splitlines() if "::test_" in line])
    said = re.search(r"the (\d+) test cases \((\d+) tests\)", DOC.read_text())
    assert said is not None
    assert (int(said.group(1)), int(said.group(2))) == (cases, len(_defined()))
