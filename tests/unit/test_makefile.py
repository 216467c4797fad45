"""The Makefile's install graph, read with ``make -n`` (nothing runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MISSING = "/nonexistent/keeper-test/chromium"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _dry_run(target: str) -> str:
    out = subprocess.run(
        ["make", "-n", target, f"CHROMIUM={MISSING}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout


def test_the_demo_never_installs_a_browser() -> None:
    # `make demo` is one of the two set-up commands; Chromium serves only the browser tests.
    assert "apt-get" not in _dry_run("demo")
    assert "apt-get" not in _dry_run("install")


def test_the_tests_install_chromium_when_missing_and_drive_the_one_named() -> None:
    plan = _dry_run("test-py")
    assert "apt-get install -y chromium" in plan
    assert f"KEEPER_CHROMIUM={MISSING}" in plan


def test_the_short_chaos_suite_runs_alone_after_the_rest_and_once() -> None:
    # It measures the keeper's reaction in 1-s blocks, so nothing else runs beside it (beside
    # the rest under nice, it still failed one CI run of four): the rest runs first without it
    # (one run of the file, not two), then it runs alone, and either failing fails the target.
    plan = _dry_run("test-py")
    chaos = "tests/integration/test_chaos_short.py"
    rest = f".venv/bin/python -m pytest -n 3 --dist loadfile --ignore={chaos}; rc=$?;"
    alone = f".venv/bin/python -m pytest {chaos}; crc=$?;"
    assert rest in plan
    assert alone in plan
    assert plan.index(rest) < plan.index(alone)
    assert (
        "&" not in plan[plan.index(rest) : plan.index(alone) + len(alone)]
    )  # nothing in the background
    assert "if [ $rc -ne 0 ]; then exit $rc; fi; exit $crc" in plan
