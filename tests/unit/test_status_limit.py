"""``keeper status --limit``: bounded, so a huge number is a one-line usage error, not a crash.

``--limit 99999999999999999999999`` reached SQLite and crashed with a traceback
(``OverflowError: Python int too large to convert to SQLite INTEGER``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keeper.cli import main
from keeper.execution.journal import Journal
from tests.unit.test_cli_keeper import _clean_env, one_error_line  # noqa: F401 - autouse


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.open_intent(["0x1"], block=1)
    j.close()
    return path


@pytest.mark.parametrize("limit", ["99999999999999999999999", str(2**63), "1000001"])
def test_status_refuses_a_limit_too_large_in_one_line(
    limit: str, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["status", "--env-file", os.devnull, "--journal", str(journal), "--limit", limit])
    assert info.value.code == 2
    line = one_error_line(capsys)
    assert "--limit" in line
    assert "1000000" in line


def test_status_accepts_the_largest_limit(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["status", "--env-file", os.devnull, "--journal", str(journal), "--limit", "1000000"]
    assert main(args) == 0
    assert "block 1" in capsys.readouterr().out


def test_status_help_states_the_bound(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["status", "--help"])
    assert info.value.code == 0
    assert "1000000" in " ".join(capsys.readouterr().out.split())
