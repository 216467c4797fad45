"""``keeper demo`` and ``keeper backtest`` name their outputs as the other file flags do.

Their ``--json``, ``--plot`` (and backtest's ``--csv``) took any text: ``--json out/`` wrote a
file named ``out`` where a directory was meant (pathlib reads ``out/`` as ``out``), ``--json ''``
failed only as "is a directory" at run time, and ``--plot '~/chart.png'`` (quoted, or after
``=``, where no shell expands it) wrote under a directory named ``~``. They now take
:func:`keeper.arguments.file_path`'s rule, as ``--journal`` and ``--addresses`` do: refused as
typed (exit 2, before anything runs), ``~`` the home directory; backtest's ``--json -`` is still
standard output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from keeper.cli import build_parser, main


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--json", "out/"],
        ["backtest", "--json", ""],
        ["backtest", "--plot", "out/"],
        ["backtest", "--model", "historical", "--csv", "rounds/"],
        ["demo", "--json", "out/"],
        ["demo", "--plot", "charts/."],
    ],
)
def test_an_output_that_names_a_directory_is_refused_as_typed(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main([*argv, "--paths", "5", "--steps", "5"] if argv[0] == "backtest" else argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert f"argument {argv[-2]}:" in err
    assert "\n" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written, no directory made


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_outputs_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    demo = _parse("demo", "--json", "~/demo.json", "--plot", "~/demo.png")
    assert (demo.json, demo.plot) == (tmp_path / "demo.json", tmp_path / "demo.png")
    backtest = _parse("backtest", "--json", "~/bt.json", "--plot", "~/bt.png")
    assert backtest.json_out == str(tmp_path / "bt.json")
    assert backtest.plot == tmp_path / "bt.png"


def test_backtest_json_dash_is_still_stdout() -> None:
    assert _parse("backtest", "--json", "-").json_out == "-"
