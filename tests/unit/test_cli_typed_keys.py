"""A private key typed where something else belongs is never echoed (a new user's walkthrough).

Address settings refused a key without showing it, but a path, a policy or a number did not:
``KEEPER_KEYSTORE_PATH=<key>`` answered "keystore <key> does not exist", ``--policy <key>``
"unknown family '<key>'". The CLI now masks, on stdout and stderr, every run of 64 hex digits
the user typed (arguments, ``KEEPER_*`` variables, the dotenv file).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from keeper.cli import main
from keeper.ops.logs import MaskingStream, key_like_runs

KEY = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def _code(argv: list[str]) -> int:
    """``main``'s exit code (a usage error exits 2 from inside argparse)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    return out + err


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--journal", "0x" + KEY],
        ["status", "--journal", KEY, "--json"],
        ["status", "--journal", "j.sqlite", "--limit", KEY],
    ],
)
def test_a_key_in_an_argument_is_not_echoed(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert _code(argv) != 0
    said = _said(capsys)
    assert "keeper: error:" in said
    assert KEY not in said
    assert "***" in said


def test_a_key_in_a_path_setting_is_not_echoed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", KEY)
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "x")
    vault = "0x" + "01" * 20
    assert main(["vault", "info", "--vault", vault, "--rpc-url", "http://127.0.0.1:1"]) == 1
    said = _said(capsys)
    assert "keystore *** does not exist" in said
    assert KEY not in said


def test_a_key_in_the_dotenv_file_is_not_echoed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"KEEPER_JOURNAL_PATH=0x{KEY}\n")
    assert main(["status"]) == 1
    said = _said(capsys)
    assert "no journal at 0x***" in said
    assert KEY not in said


def test_only_the_typed_runs_are_masked() -> None:
    other = "ab" * 32  # a transaction hash the keeper prints: not typed, so shown
    assert key_like_runs(["--journal", f"x/0x{KEY}.sqlite", "5"]) == {KEY}
    sink = io.StringIO()
    stream = MaskingStream(sink, {KEY})
    stream.write(f"tx 0x{other} keystore {KEY}.json")
    assert sink.getvalue() == f"tx 0x{other} keystore ***.json"


_CRASH = f"""
import sys
import keeper.commands.status as st
def status(args):  # a bug, not a KeeperError, naming what the user typed
    raise RuntimeError(f"cannot use journal {{args.journal}}")
st.status = status
from keeper.cli import main
sys.exit(main(["status", "--journal", "{KEY}"]))
"""


def test_an_unexpected_errors_traceback_does_not_echo_a_typed_key() -> None:
    """The interpreter prints an uncaught error's traceback after ``main`` returns: the streams
    were put back first and it named the key in full (helper-116)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _CRASH], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "RuntimeError: cannot use journal ***" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr


def test_a_key_typed_after_other_hex_digits_is_masked_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).parent)
    assert _code(["status", "--journal", "deadbeef" + KEY]) == 1
    said = _said(capsys)
    assert KEY[-8:] not in said
    assert "no journal at ***" in said
    # and the key said alone, elsewhere, is masked too (each 64-digit window of the run)
    assert key_like_runs(["deadbeef" + KEY]) >= {KEY, "deadbeef" + KEY}
