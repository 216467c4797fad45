"""A halted keeper exits 3, apart from every other error (1), so a service manager can leave it
down; the systemd unit in scripts/ is tied to that code."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import keeper.app.loop
from keeper.cli import EXIT_HALTED, EXIT_USAGE, build_parser, main
from keeper.errors import ChainError, Halt

UNIT = Path(__file__).resolve().parents[2] / "scripts" / "keeper.service"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _keep_raising(exc: Exception) -> Any:
    def keep(*_args: object, **_kwargs: object) -> None:
        raise exc

    return keep


def test_run_halted_by_its_breaker_exits_3_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "circuit breaker: 5 consecutive failed cycles; last: ChainError: node down"
    monkeypatch.setattr(keeper.app.loop, "keep", _keep_raising(Halt(text)))
    assert main(["run", "--dry-run"]) == EXIT_HALTED == 3
    assert capsys.readouterr().err.strip().splitlines() == [f"keeper: error: {text}"]


def test_run_stopped_by_another_error_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(keeper.app.loop, "keep", _keep_raising(ChainError("node down")))
    assert main(["run", "--dry-run"]) == 1
    assert capsys.readouterr().err.strip() == "keeper: error: node down"


def _service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    return unit["Service"]


def test_the_systemd_unit_restarts_on_failure_but_not_after_a_halt_or_a_refused_command_line() -> (
    None
):
    service = _service()
    assert service["Restart"] == "on-failure"
    # 2: the unit's own command line was refused (a bad flag value): it would be refused again
    # on every restart, as the ExecStart does not change until someone edits it.
    assert sorted(service["RestartPreventExitStatus"].split()) == sorted(
        [str(EXIT_USAGE), str(EXIT_HALTED)]
    )
    # SIGTERM lets the cycle under way finish; the stop timeout must outlast a cycle's reads
    # (KEEPER_CYCLE_DEADLINE_S, 20 s by default) and the receipt wait it bounds.
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"].rstrip("s")) >= 60

    # What it starts is a `keeper run` this CLI accepts.
    program, *argv = service["ExecStart"].split()
    assert program.endswith("/.venv/bin/keeper")
    args = build_parser(only="run").parse_args(argv)
    assert args.command == "run"
    assert args.addresses is not None


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_is_one_systemd_accepts(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit, its install path pointed at this checkout."""
    unit = tmp_path / "keeper.service"
    unit.write_text(UNIT.read_text().replace("/opt/option-vault-keeper", str(UNIT.parents[1])))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
