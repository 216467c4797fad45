"""docs/web.md's table of browser tests names every test in tests/browser, and counts them right.

Two tests added to tests/browser/test_vault_page.py (2026-12-07) were missing from the table,
and its count still said 37 cases of 35 tests. Only that file was checked: the rows of the
other browser test files (``` `test_vault_page_usdt.py`: `test_a`, `test_b` ```) could lose or
gain a test, or a new file go unlisted, unseen. Every file of tests/browser is now held to its
rows, test by test and case by case (a parametrized test's ids in parentheses after its name),
from what pytest collects. Counts only: the run times beside them change with the machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "web.md"
BROWSER = REPO / "tests" / "browser"
#: The file a row without a ``` `file.py`: ``` prefix is of.
MAIN = "test_vault_page.py"


@cache
def _collected() -> dict[str, dict[str, list[str]]]:
    """file -> test -> its case ids ([] when not parametrized), as pytest collects tests/browser."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", BROWSER],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    tests: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for m in re.finditer(r"^tests/browser/(\w+\.py)::(test_\w+)(?:\[(.+)\])?$", out, flags=re.M):
        cases = tests[m[1]].setdefault(m[2], [])
        if m[3] is not None:
            cases.append(m[3])
    assert tests, f"pytest collected nothing in tests/browser:\n{out}"
    return dict(tests)


def _rows() -> dict[str, dict[str, list[str]]]:
    """file -> test -> case ids, as the table's first cells name them.

    A cell is ``` `test_x` ``` (a test of test_vault_page.py), ``` `test_x` (a, b) ``` (its
    cases), or ``` `file.py`: `test_x`, `test_y` ``` (tests of another file).
    """
    text = DOC.read_text()
    start = text.index("## Browser tests")
    table = text[start : text.index("\n\n", text.index("| Test |", start))]
    rows: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for cell in re.findall(r"^\| (`[^|]+?) \|", table, flags=re.M):
        file = re.match(r"`(\w+\.py)`: ", cell)
        named = re.findall(r"`(test_\w+)`(?: \(([^)]*)\))?", cell)
        assert named, f"a row names no test: {cell!r}"
        for test, cases in named:
            tests = rows[file[1] if file else MAIN]
            assert test not in tests, f"{test} has two rows"
            tests[test] = [c.strip() for c in cases.split(",")] if cases else []
    return dict(rows)


def test_every_browser_test_file_has_its_rows_in_docs_web_md() -> None:
    files = {p.name for p in BROWSER.glob("test_*.py")}
    assert set(_collected()) == files, "a browser test file collects no test"
    assert set(_rows()) == files, "docs/web.md's table must list every file of tests/browser"


def test_each_files_rows_name_its_tests_and_their_cases() -> None:
    rows, collected = _rows(), _collected()
    for file, tests in collected.items():
        assert rows.get(file) == tests, f"docs/web.md's rows for tests/browser/{file}"


def test_docs_web_md_counts_the_browser_tests_and_their_cases() -> None:
    text = " ".join(DOC.read_text().split())
    said = re.findall(r"the (\d+) test cases \((\d+) tests\) of `(\w+\.py)`", text)
    assert said, "docs/web.md no longer counts the cases of test_vault_page.py"
    for cases, tests, file in said:
        collected = _collected()[file]
        assert int(tests) == len(collected), file
        assert int(cases) == sum(max(1, len(c)) for c in collected.values()), file
