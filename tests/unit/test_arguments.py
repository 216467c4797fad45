"""Flags given twice, and abbreviated flags, are usage errors (nothing runs, exit code 2).

`keeper vault deposit --vault V1 --vault V2` deposited into V2 and `--amount 1 --amount 2`
deposited 2: argparse keeps the last value of a repeated option, silently. `--amo 1` was taken
for `--amount 1`, and `--rpc` for `--rpc-url` (argparse's prefix matching), so a flag added
later could change what an old command line means.
"""

from __future__ import annotations

import argparse

import pytest

from keeper.arguments import int_between
from keeper.cli import main


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


VAULT_A = "0x" + "a1" * 20
VAULT_B = "0x" + "b2" * 20


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["vault", "deposit", "--vault", VAULT_A, "--vault", VAULT_B, "--amount", "1"], "--vault"),
        (["vault", "deposit", "--vault", VAULT_A, "--amount", "1", "--amount=2"], "--amount"),
        (["backtest", "--paths", "10", "--paths", "20"], "--paths"),
    ],
)
def test_a_flag_given_twice_is_a_usage_error(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"{flag} given twice" in _error(capsys)


def test_an_abbreviated_flag_is_not_taken_for_the_whole_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["vault", "info", "--vault", VAULT_A, "--rpc", "http://127.0.0.1:9"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --rpc http://127.0.0.1:9" in _error(capsys)


def test_counted_flags_still_repeat() -> None:
    from keeper.arguments import OneLineArgumentParser

    p = OneLineArgumentParser(prog="x")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("--url")
    assert p.parse_args(["-vv", "--verbose", "--url", "u"]).verbose == 3


def test_int_between_reads_a_whole_number_written_with_an_exponent() -> None:
    # rehearse --block 2e7 and status --limit 1e2 mean whole numbers, as the backtest's flags do.
    parse = int_between(1, 1000)
    assert parse("1e2") == 100
    assert parse("1_000") == 1000
    for bad in ("1.5e0", "2e3", "0", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be a whole number from 1"):
            parse(bad)
