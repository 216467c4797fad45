"""The CLI when its stdout's reader goes away: ``keeper status | head -1``.

Each test runs the real ``keeper`` command in a subprocess with stdout on a pipe, the way a shell
pipeline does, and asserts the exit code and an empty stderr (no ``BrokenPipeError`` traceback,
and no "Exception ignored ... BrokenPipeError" from the interpreter's final flush).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from keeper.cli import EXIT_BROKEN_PIPE
from keeper.execution.journal import Journal
from tests.conftest import keeper_command

#: Batches in the journal: ``status --limit`` prints one line each, about 600 bytes, so the
#: output is several times a pipe's buffer (64 KiB on Linux) and the writer must block on it.
BATCHES = 400
NOTE = "a batch note long enough to fill the pipe quickly " * 12


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "journal.sqlite"
    j = Journal(path)
    vaults = ["0x" + "11" * 20, "0x" + "22" * 20]
    for block in range(BATCHES):
        j.open_intent(vaults, block, note=NOTE)
    j.close()
    return path


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    # A user's shell: no KEEPER_* settings, and Python's stdout buffered as usual (with
    # PYTHONUNBUFFERED, argparse's own write of --help meets the closed pipe and ignores it).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KEEPER_") and k != "PYTHONUNBUFFERED"
    }
    return subprocess.Popen(
        [*keeper_command(), *args],
        cwd=tmp_path,  # no .env here
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _status(journal: Path) -> list[str]:
    return ["status", "--journal", str(journal), "--limit", str(BATCHES)]


def test_status_piped_into_head_stops_quietly(tmp_path: Path, journal: Path) -> None:
    # `keeper status ... | head -1`: read one line, then close the pipe while keeper still writes
    proc = _start(tmp_path, *_status(journal))
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert first == f"journal {journal} (no chain yet: no keeper has run on it)\n"
    assert err == ""
    assert code == EXIT_BROKEN_PIPE


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--help",), id="help"),  # argparse's SystemExit after printing
        pytest.param(("status", "--journal", "{journal}", "--limit", "1"), id="short-status"),
    ],
)
def test_output_to_a_closed_pipe_stops_quietly(
    tmp_path: Path, journal: Path, args: tuple[str, ...]
) -> None:
    # The reader is gone before keeper writes anything, so even a short output (one that sits in
    # Python's buffer until the final flush) meets a closed pipe.
    proc = _start(tmp_path, *(a.format(journal=journal) for a in args))
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert err == ""
    assert code == EXIT_BROKEN_PIPE


def test_status_read_to_the_end_is_unchanged(tmp_path: Path, journal: Path) -> None:
    proc = _start(tmp_path, *_status(journal))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"journal {journal} (no chain yet: no keeper has run on it)"
    assert sum(1 for line in lines if line.startswith("  #")) == BATCHES
