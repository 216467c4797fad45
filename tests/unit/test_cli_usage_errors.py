"""Usage errors: exit code 2, and as JSON on stdout too when the command line asks for JSON.

From a new user's walkthrough: ``--json`` runs that argparse refused left stdout empty (the README
says a script reading stdout parses every outcome), and out-of-range counts (``--max-cycles 0``,
``--paths 0``, ``--steps 0``) exited 1 as run-time failures instead of 2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from keeper.cli import main


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--journal", "j.sqlite", "--limit", "0", "--json"],
        ["vault", "deposit", "--vault", "0x" + "01" * 20, "--json"],  # --amount missing
        ["check", "--json", "--no-such-flag"],
    ],
)
def test_a_refused_command_line_asking_for_json_says_so_as_json(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert body["exit_code"] == 2
    assert "--help" in body["error"]
    assert err.startswith("keeper: error: ")
    assert body["error"] in err


def test_without_json_a_refused_command_line_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _code(["status", "--journal", "j.sqlite", "--limit", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--limit" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--max-cycles", "0"],
        ["backtest", "--paths", "0"],
        ["backtest", "--steps", "0"],
        ["devnet", "step", "--steps", "0"],
        ["devnet", "up", "--vaults", "101"],
        ["demo", "--steps", "0"],
        ["demo", "--vaults", "0"],
    ],
)
def test_an_out_of_range_count_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    err = capsys.readouterr().err
    assert "must be a whole number" in err


def test_a_json_option_that_names_a_file_is_not_a_request_for_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # `keeper demo --json PATH` writes a report file: a usage error is not JSON on stdout then.
    report = str(tmp_path / "report.json")
    assert _code(["demo", "--json", report, "--vaults", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--vaults" in err


@pytest.mark.parametrize(
    ("argv", "given"),
    [
        (["demo", "--port", "0"], "'0'"),
        (["demo", "--port", "70000"], "'70000'"),
        (["demo", "--step-seconds", "0"], "'0'"),
        (["demo", "--step-seconds=-5"], "'-5'"),
        (["demo", "--seed", "-1"], "'-1'"),
        (["devnet", "up", "--port", "70000"], "'70000'"),
        (["devnet", "up", "--step-seconds", "0"], "'0'"),
        (["devnet", "up", "--seed", "-1"], "'-1'"),
        (["backtest", "--seed", "-1"], "'-1'"),
        (["web", "--addresses", "devnet.json", "--port", "70000"], "'70000'"),
    ],
)
def test_an_out_of_range_port_step_or_seed_is_a_usage_error_naming_the_value(
    argv: list[str], given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ports, step seconds and seeds out of range exited 1 (``--port must be between 1 and
    65535``, without the value given) while ``--vaults 0`` beside them exits 2: every whole
    number out of its range is a usage error, and the line names what was typed."""
    assert _code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "must be a whole number" in err
    assert given in err
