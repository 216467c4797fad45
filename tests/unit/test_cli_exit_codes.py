"""Exit codes: 2 for a command line that is wrong, 1 for a failure at run time, 3 for a halt.

argparse refuses a value it cannot parse with 2; a value refused by a check after parsing (a
range, a spec, an address, flags that do not go together) exited 1 beside it, as if the RPC
were down. Every check of what was typed is a usage error now (README, "Exit codes"); what is
found at run time -- a ``KEEPER_*`` setting from the environment or ``.env``, a file named on the
command line, the node, a revert -- stays 1. Under ``--json`` the ``exit_code`` field says the
same code as the process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from keeper.chain.anvil import ANVIL_KEYS
from keeper.cli import main

VAULT = "0x" + "00" * 19 + "01"
DOWN = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once

#: Every post-parse check of a command-line value: each must exit 2.
USAGE = [
    # keeper backtest: scenario_from_args and its helpers, then --plot's suffix
    ["backtest", "--vol", "-1"],
    ["backtest", "--spot", "0"],
    ["backtest", "--strike", "nan"],
    ["backtest", "--maturity", "-1"],
    ["backtest", "--contracts", "0"],
    ["backtest", "--cap", "0"],
    ["backtest", "--drift", "inf"],
    ["backtest", "--rate", "nan"],
    ["backtest", "--model", "merton", "--jump-intensity", "-1"],
    ["backtest", "--model", "merton", "--jump-std", "-1"],
    ["backtest", "--model", "merton", "--jump-mean", "inf"],
    ["backtest", "--forecast", "ewma", "--ewma-lambda", "1"],
    ["backtest", "--max-memory", "0"],
    ["backtest", "--policy", "foo"],
    ["backtest", "--policy", "time:every=1,interval=60"],
    ["backtest", "--frontier", "--families", "nope"],
    ["backtest", "--frontier", "--families", ","],
    ["backtest", "--csv", "rounds.csv"],
    ["backtest", "--model", "historical", "--paths", "10"],
    ["backtest", "--model", "historical"],
    ["backtest", "--ewma-lambda", "0.9"],
    ["backtest", "--families", "band"],
    ["backtest", "--gas-fixed", "5"],
    ["backtest", "--costs", "l2", "--eth-usd", "0"],
    ["backtest", "--costs", "l2", "--pool-fee-bps", "20000"],
    ["backtest", "--costs", "l2", "--gas-price-gwei", "-1"],
    ["backtest", "--costs", "l2", "--gas-price-gwei", "1e300"],
    ["backtest", "--costs", "l2", "--gas-fixed", "5"],
    ["backtest", "--costs", "l2", "--gas-direct", "0", "--l1-fee-direct-wei", "5"],
    ["backtest", "--vault-band", "0"],
    ["backtest", "--vault-band", "1e9"],
    ["backtest", "--vault-max-trade", "1"],
    ["backtest", "--vault-band", "1", "--vault-max-trade", "0"],
    ["backtest", "--vault-band", "1", "--vault-max-interval", "10"],
    ["backtest", "--vault-band", "1", "--vault-min-interval", "-1"],
    ["backtest", "--vault-band", "1", "--vault-min-interval", "0.5"],
    ["backtest", "--vault-band", "1", "--vault-min-interval", "600", "--vault-max-interval", "60"],
    ["backtest", "--vault-bands", "1"],
    ["backtest", "--frontier", "--vault-bands", "x"],
    ["backtest", "--frontier", "--vault-bands", "-1"],
    ["backtest", "--frontier", "--vault-bands", "1e12"],
    ["backtest", "--plot", "chart.txt"],
    # keeper demo: DemoConfig's checks (anvil is started only after them)
    ["demo", "--block-time", "0"],
    ["demo", "--block-time", "nan"],
    ["demo", "--vol", "-1"],
    ["demo", "--jumps", "-1"],
    ["demo", "--drift", "nan"],
    ["demo", "--queue-prob", "2"],
    ["demo", "--policy", "foo"],
    ["demo", "--plot", "chart.txt"],
    # keeper devnet up: DevnetConfig's checks
    ["devnet", "up", "--block-time", "0"],
    ["devnet", "up", "--market-every", "-1"],
    ["devnet", "up", "--market-every", "nan"],
    # keeper vault: addresses and amounts, refused before the RPC is asked anything
    ["vault", "info", "--vault", "0x12", "--rpc-url", DOWN],
    ["vault", "info", "--vault", VAULT, "--owner", "", "--rpc-url", DOWN],
    ["vault", "deposit", "--vault", VAULT, "--amount", "-5", "--rpc-url", DOWN],
    ["vault", "deposit", "--vault", VAULT, "--amount", "1e3", "--rpc-url", DOWN],
    ["vault", "withdraw", "--vault", VAULT, "--amount", "1,5", "--rpc-url", DOWN],
    ["vault", "redeem", "--vault", VAULT, "--shares", "abc", "--rpc-url", DOWN],
    ["vault", "request-redeem", "--vault", VAULT, "--shares", "0", "--rpc-url", DOWN],
    ["vault", "claim", "--vault", VAULT, "--shares", "-1", "--rpc-url", DOWN],
    # keeper rehearse, check, run: addresses and the policy spec, before any node or file
    ["rehearse", "--fork-url", DOWN, "--admin", "0x12"],
    ["rehearse", "--fork-url", DOWN, "--vault-admin", "0x12"],
    ["rehearse", "--fork-url", DOWN, "--policy", "foo"],
    ["check", "--policy", "foo", "--rpc-url", DOWN],
    ["run", "--policy", "foo", "--rpc-url", DOWN, "--max-cycles", "1"],
    # a flag overriding a setting, its text wrong (more in tests/unit/test_cli_setting_flags.py)
    ["check", "--rpc-url", "localhost:8545"],
    ["status", "--journal", "."],
]


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``.env`` and no ``KEEPER_*`` variable: what a case gets is its command line."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("KEEPER_")]:
        monkeypatch.delenv(name)


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _never_open_vault(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a refused command line reached the vault")


@pytest.mark.parametrize("argv", USAGE, ids=[" ".join(a) for a in USAGE])
def test_a_value_refused_after_parsing_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("keeper.app.depositor.open_vault", _never_open_vault)
    assert _code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keeper: error: ")
    assert "\n" not in err  # one line, as argparse's own refusals
    assert err.endswith("--help')")  # pointing at the command's own --help


@pytest.mark.parametrize(
    "argv",
    [
        ["vault", "info", "--vault", "0x12", "--rpc-url", DOWN, "--json"],
        ["vault", "deposit", "--vault", VAULT, "--amount", "1e3", "--json"],
        ["check", "--policy", "foo", "--json"],
        ["backtest", "--vol", "-1", "--json", "-"],
        ["rehearse", "--fork-url", DOWN, "--admin", "0x12", "--json"],
    ],
)
def test_under_json_a_refused_value_says_exit_code_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(argv) == 2
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert body["exit_code"] == 2
    assert body["error"] in err


class _Vault:
    """A vault of a 6-decimal asset, for the precision the CLI can check only once it is read."""

    asset_decimals = 6
    share_decimals = 12

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused amount reached VaultClient.{name}")


@pytest.mark.parametrize(
    "argv",
    [
        ["vault", "deposit", "--vault", VAULT, "--amount", "0.0000001"],
        ["vault", "withdraw", "--vault", VAULT, "--amount", "1.1234567"],
        ["vault", "redeem", "--vault", VAULT, "--shares", "0.0000000000001"],
        ["vault", "request-redeem", "--vault", VAULT, "--shares", "0.0000000000001", "--json"],
    ],
)
def test_an_amount_more_precise_than_the_token_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[5])
    monkeypatch.setattr("keeper.app.depositor.open_vault", lambda settings, vault: _Vault())
    assert _code(argv) == 2
    out, err = capsys.readouterr()
    assert "decimals (the token's precision)" in err
    if "--json" in argv:
        assert json.loads(out)["exit_code"] == 2


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        # the node is down: a run-time failure
        (["vault", "info", "--vault", VAULT, "--rpc-url", DOWN, "--json"], {}),
        # a bad setting from the environment is not a command-line value
        (["vault", "info", "--vault", VAULT, "--json"], {"KEEPER_RPC_URL": "ftp://x"}),
        (["check", "--json"], {"KEEPER_POLICY": "foo", "KEEPER_RPC_URL": DOWN}),
        # a file the command line names, missing: found at run time
        (["status", "--journal", "missing.sqlite", "--json"], {}),
    ],
)
def test_a_failure_at_run_time_stays_exit_code_1(
    argv: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _code(argv) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["exit_code"] == 1


def test_keeper_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {code}" in out
