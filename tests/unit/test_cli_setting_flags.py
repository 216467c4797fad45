"""A malformed ``--rpc-url``, ``--journal``, ``--addresses`` or ``--env-file``: exit code 2.

These flags override settings and were validated with the ``KEEPER_*`` settings, so a value
typed wrong (``--rpc-url localhost:8545``, ``--journal out/``) exited 1, as a bad ``.env`` does,
where ``--policy foo`` beside them exited 2 (README, "Exit codes"). The line drawn: what the typed
text alone shows cannot be right is 2 (an RPC URL that is not http(s):// or ws(s)://, or lists an
endpoint twice; a path that is empty or names a directory, ``out/`` or ``.``); what is found by
looking -- the file missing, unreadable, not JSON, a directory on disk -- is the file's fault, 1.
The same bad value from ``KEEPER_RPC_URL`` or ``.env`` stays 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import pytest

from keeper.cli import build_parser, main

VAULT = "0x" + "00" * 19 + "01"
DOWN = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once
GOOD = "good.json"  # a well-formed addresses file, written by the fixture

#: Each command that takes the flag, with a value whose text cannot be right.
MALFORMED = [
    # --rpc-url: no scheme, another scheme, nothing, an endpoint twice, a bracket left open
    ["check", "--rpc-url", "localhost:8545"],
    ["check", "--rpc-url", "", "--json"],
    ["run", "--rpc-url", "ftp://node", "--max-cycles", "1"],
    ["run", "--rpc-url", f"{DOWN},{DOWN}", "--max-cycles", "1"],
    ["vault", "info", "--vault", VAULT, "--rpc-url", "http://[::1"],
    ["vault", "deposit", "--vault", VAULT, "--amount", "1", "--rpc-url", "localhost"],
    ["web", "--addresses", GOOD, "--rpc-url", "localhost:8545"],
    ["demo", "--rpc-url", "localhost:8545"],
    # --journal: empty, or a directory by its text
    ["status", "--journal", ""],
    ["status", "--journal", "out/", "--json"],
    ["check", "--rpc-url", DOWN, "--journal", "."],
    ["run", "--rpc-url", DOWN, "--journal", "out/", "--max-cycles", "1"],
    ["demo", "--rpc-url", DOWN, "--journal", "out/.."],
    ["status", "--journal", "journal/."],  # pathlib reads it as journal, a file
    # --addresses: the same
    ["check", "--rpc-url", DOWN, "--addresses", ""],
    ["run", "--rpc-url", DOWN, "--addresses", "deployments/", "--max-cycles", "1"],
    ["rehearse", "--fork-url", DOWN, "--addresses", ""],
    ["web", "--addresses", "", "--rpc-url", DOWN],
    ["devnet", "step", "--addresses", "out/"],
    ["demo", "--rpc-url", DOWN, "--addresses", "."],
    # --env-file: the same (an empty one read as "." and exited 1, "is a directory")
    ["check", "--env-file", ""],
    ["run", "--env-file", "", "--max-cycles", "1"],
    ["status", "--env-file", ".", "--json"],
    ["rehearse", "--fork-url", DOWN, "--env-file", ""],
    ["web", "--addresses", GOOD, "--env-file", "conf/"],
    ["vault", "info", "--vault", VAULT, "--env-file", ""],
    ["devnet", "step", "--addresses", "out/."],
]


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``.env`` and no ``KEEPER_*`` variable; a well-formed addresses file at ``GOOD``."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("KEEPER_")]:
        monkeypatch.delenv(name)
    book = {"vaults": [VAULT], "lens": "0x" + "22" * 20, "batcher": "0x" + "33" * 20}
    (tmp_path / GOOD).write_text(json.dumps(book))


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize("argv", MALFORMED, ids=[" ".join(a) or "''" for a in MALFORMED])
def test_a_malformed_setting_flag_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    out, err = capsys.readouterr()
    line = err.strip().splitlines()[-1]
    assert line.startswith("keeper: error: argument ")
    flags = ("--rpc-url", "--journal", "--addresses", "--env-file")
    bad = next(f for f, v in itertools.pairwise(argv) if f in flags and v not in (DOWN, GOOD))
    assert f"argument {bad}: " in line  # names the flag typed wrong
    assert line.endswith("--help')")
    if "--json" in argv:
        assert json.loads(out)["exit_code"] == 2


def test_every_command_checks_the_form_of_these_flags() -> None:
    """Each parser that takes one of the flags refuses an empty value as argparse refuses one."""
    seen: list[str] = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            for flag in ("--rpc-url", "--journal", "--addresses", "--env-file"):
                if flag in action.option_strings:
                    seen.append(f"{parser.prog} {flag}")
                    assert action.type is not None, f"{parser.prog} {flag}"
                    with pytest.raises(argparse.ArgumentTypeError):
                        action.type("")  # type: ignore[operator]

    walk(build_parser())
    # check, run, status, demo, devnet up/step, rehearse, web and the seven vault actions
    assert len(seen) >= 20, seen
    assert sum(s.endswith(" --env-file") for s in seen) >= 12, seen  # and their --env-file


@pytest.mark.parametrize(
    ("argv", "env", "dotenv"),
    [
        (["check"], {"KEEPER_RPC_URL": "localhost:8545"}, ""),
        (["run", "--max-cycles", "1"], {"KEEPER_RPC_URL": "ftp://node"}, ""),
        (["vault", "info", "--vault", VAULT, "--json"], {}, "KEEPER_RPC_URL=localhost:8545\n"),
        (["check", "--json"], {}, f"KEEPER_RPC_URL={DOWN},{DOWN}\n"),
        (["status"], {"KEEPER_JOURNAL_PATH": "."}, ""),
        (["check", "--rpc-url", DOWN], {"KEEPER_ADDRESSES_FILE": "."}, ""),
    ],
)
def test_the_same_value_from_the_environment_stays_exit_code_1(
    argv: list[str],
    env: dict[str, str],
    dotenv: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Path(".env").write_text(dotenv)
    assert _code(argv) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("keeper: error: ")
    if "--json" in argv:
        assert json.loads(out)["exit_code"] == 1


@pytest.mark.parametrize(
    "argv",
    [
        # the file is missing, is a directory on disk, or is not JSON: found by looking
        ["check", "--rpc-url", DOWN, "--addresses", "missing.json"],
        ["check", "--rpc-url", DOWN, "--addresses", "sub"],
        ["web", "--addresses", "bad.json", "--rpc-url", DOWN],
        ["devnet", "step", "--addresses", "missing.json"],
        ["status", "--journal", "sub"],
        ["status", "--journal", "missing.sqlite"],
        ["status", "--journal", "bad.json"],
    ],
)
def test_a_file_the_command_line_names_stays_exit_code_1(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    Path("sub").mkdir()
    Path("bad.json").write_text("{not json")
    assert _code(argv) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("keeper: error: ")


@pytest.mark.parametrize("text", ["journal/", "out/..", ".", "journal/."])
def test_a_journal_path_setting_that_names_a_directory_is_refused_as_a_setting(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pathlib reads ``journal/`` as ``journal``: ``KEEPER_JOURNAL_PATH=journal/`` made a file
    named ``journal`` where its operator meant a directory. Refused by the rule ``--journal``
    follows, as a setting (exit 1), naming the variable."""
    from keeper.errors import ConfigError
    from keeper.settings import load_journal_path, load_settings

    monkeypatch.setenv("KEEPER_JOURNAL_PATH", text)
    with pytest.raises(ConfigError, match=r"^KEEPER_JOURNAL_PATH: "):
        load_settings(env_file=None)
    with pytest.raises(ConfigError, match=r"^KEEPER_JOURNAL_PATH: "):
        load_journal_path(env_file=None)
    assert _code(["status"]) == 1
