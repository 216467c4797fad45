"""A new user's trial of the CLI (trial 3): per-action help for ``keeper vault``, the backtest's
cost flags under ``--costs none``, and one-line refusals of bad input. No node needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keeper.cli import main
from keeper.errors import ConfigError
from keeper.settings import load_settings


def _code(argv: list[str]) -> int:
    """``main``'s exit code, a usage error's ``SystemExit`` (code 2) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


ACTIONS = ("info", "deposit", "withdraw", "redeem", "request-redeem", "claim", "fill")


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("action", ACTIONS)
def test_each_vault_action_has_its_own_help_with_an_example(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _help(capsys, "vault", action)
    assert out.startswith(f"usage: keeper vault {action} "), out
    assert f"keeper vault {action} --vault 0x" in out  # an example of this action
    assert "--vault ADDR" in out
    assert "--json" in out


@pytest.mark.parametrize(
    ("action", "flag", "others"),
    [
        ("deposit", "--amount X", ("--shares", "--owner")),
        ("withdraw", "--amount X", ("--shares", "--owner")),
        ("redeem", "--shares X", ("--amount", "--owner")),
        ("request-redeem", "--shares X", ("--amount", "--owner")),
        ("info", "--owner ADDR", ("--amount", "--shares")),
        ("claim", "--shares X", ("--amount", "--owner")),
    ],
)
def test_vault_action_help_shows_only_its_arguments_and_their_units(
    action: str, flag: str, others: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    out = _help(capsys, "vault", action)
    assert flag in out
    for other in others:
        assert other not in out, f"{action} --help lists {other}"
    if "amount" in flag:
        assert "asset units" in out
    if "shares" in flag:
        assert "share units" in out


def test_vault_help_lists_the_actions_and_points_at_their_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _help(capsys, "vault")
    for action in ACTIONS:
        assert action in out
    assert "keeper vault ACTION --help" in out


def test_vault_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert "default: the signer" in _help(capsys, "vault", "info")
    assert "default: all that is claimable" in _help(capsys, "vault", "claim")
    assert "default: KEEPER_RPC_URL" in _help(capsys, "vault", "deposit")


@pytest.mark.parametrize(
    "argv",
    [
        ["withdraw", "--amount", "1", "--shares", "1"],
        ["redeem", "--shares", "1", "--amount", "1"],
        ["fill", "--shares", "1"],
        ["info", "--amount", "1"],
    ],
)
def test_a_flag_another_action_takes_is_refused_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEEPER_PRIVATE_KEY", raising=False)
    args = ["vault", argv[0], "--vault", "0x" + "11" * 20, "--rpc-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--env-file", os.devnull, *argv[1:]])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("keeper: error: unrecognized arguments: ")


# ------------------------------------------------- (2) backtest: cost flags under --costs none
BACKTEST = ["backtest", "--paths", "50", "--steps", "10", "--seed", "3", "--no-progress"]


@pytest.mark.parametrize(
    ("costs", "flags", "named"),
    [
        (["--costs", "none"], ["--gas-price-gwei", "5"], "--gas-price-gwei"),
        (
            ["--costs", "none"],
            ["--l1-fee-wei", "100", "--eth-usd", "2000"],
            "--l1-fee-wei, --eth-usd",
        ),
        ([], ["--pool-fee-bps", "30"], "--pool-fee-bps"),  # --costs none is the default
        (["--costs", "none"], ["--impact-coef=0.001"], "--impact-coef"),
        (["--costs", "none"], ["--gas-direct", "0", "--l1-fee-direct-wei", "1"], "--gas-direct"),
    ],
)
def test_backtest_refuses_cost_flags_without_costs_l2(
    costs: list[str],
    flags: list[str],
    named: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    code = _code([*BACKTEST, *costs, *flags, "--json", "-"])
    captured = capsys.readouterr()
    assert code == 2, "the cost flags were silently ignored, or not refused as a usage error"
    assert json.loads(captured.out)["exit_code"] == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith("keeper: error: ")
    assert named in err[0]
    assert "--costs l2" in err[0]


def test_backtest_cost_flags_still_apply_with_costs_l2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BACKTEST, "--costs", "l2", "--gas-price-gwei", "5", "--json", "-"]) == 0
    capsys.readouterr()
    assert main([*BACKTEST, "--costs", "none", "--json", "-"]) == 0


# ------------------------------------------------------ (3) bad .env and environment values
SECRET = "0x" + "4c" * 32


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("where", "typo", "meant"),
    [
        ("env", "KEEPER_PRIVATEKEY", "KEEPER_PRIVATE_KEY"),
        ("dotenv", "KEEPER_PRIVATE_KEYS", "KEEPER_PRIVATE_KEY"),
        ("dotenv", "KEEPER_POLCY", "KEEPER_POLICY"),
        ("env", "KEEPER_RPC_ULR", "KEEPER_RPC_URL"),
    ],
)
def test_a_misspelt_setting_is_refused_naming_the_right_one(
    where: str,
    typo: str,
    meant: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A misspelt KEEPER_PRIVATE_KEY used to leave the keeper silently in dry-run mode.
    _clean_env(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text("KEEPER_RPC_URL=http://127.0.0.1:9\n")
    if where == "env":
        monkeypatch.setenv(typo, SECRET)
    else:
        env_file.write_text(f"KEEPER_RPC_URL=http://127.0.0.1:9\n{typo}={SECRET}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=env_file)
    message = str(info.value)
    assert typo in message
    assert meant in message
    assert SECRET not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("where", "name", "said"),
    [
        ("dotenv", "KEEPER_DRY_RUN", "a dry run is `keeper check` or `keeper run --dry-run`"),
        ("env", "KEEPER_DRY_RUN", "a dry run is `keeper check` or `keeper run --dry-run`"),
        ("dotenv", "KEEPER_SOMETHING_ELSE", "every setting is in .env.example"),
    ],
)
def test_a_name_far_from_every_setting_is_refused_in_the_dotenv_file(
    where: str, name: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user's ``KEEPER_DRY_RUN=true`` in ``.env`` was ignored: a keeper with a key would
    sign though its operator meant a dry run. The keeper's own file holds only its settings."""
    _clean_env(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text("KEEPER_RPC_URL=http://127.0.0.1:9\n")
    if where == "env":
        monkeypatch.setenv(name, "true")
    else:
        env_file.write_text(f"KEEPER_RPC_URL=http://127.0.0.1:9\n{name}=true\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=env_file)
    assert str(info.value).startswith(f"{name} (in ")
    assert said in str(info.value)


def test_a_name_far_from_every_setting_in_the_environment_is_another_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("KEEPER_SOMETHING_ELSE", "1")
    env_file = tmp_path / ".env"
    env_file.write_text("KEEPER_RPC_URL=http://127.0.0.1:9\n")
    assert load_settings(env_file=env_file).rpc_url == "http://127.0.0.1:9"


def test_settings_of_other_tools_are_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deploy script reads KEEPER_ADDRESS; tests set KEEPER_ARTIFACTS_DIR and KEEPER_CHROMIUM.
    _clean_env(monkeypatch)
    monkeypatch.setenv("KEEPER_ADDRESS", "0x" + "12" * 20)
    env_file = tmp_path / ".env"
    env_file.write_text("KEEPER_ADDRESS=0x" + "12" * 20 + "\nKEEPER_CHROMIUM=/usr/bin/x\n")
    assert load_settings(env_file=env_file).private_key is None


def test_a_dotenv_line_that_does_not_parse_is_one_error_without_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "KEEPER_PRIVATE_KEY 0x..." (no "=") was skipped with a warning: the keeper ran dry.
    _clean_env(monkeypatch)
    env_file = tmp_path / "keeper.env"
    env_file.write_text(f"KEEPER_RPC_URL=http://127.0.0.1:9\nKEEPER_PRIVATE_KEY {SECRET}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=env_file)
    message = str(info.value)
    assert str(env_file) in message
    assert "line 2" in message
    assert SECRET not in message
    assert SECRET[2:] not in message


@pytest.mark.parametrize("limit", ["-3", "0"])
def test_status_refuses_a_limit_below_one(
    limit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.sqlite"
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--journal", str(journal), "--limit", limit])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--limit" in err[0]


@pytest.mark.parametrize(
    ("entry", "field"), [({"chain_id": "abc"}, "chain_id"), ({"lens": "0x1234"}, "lens")]
)
def test_a_bad_value_in_the_addresses_file_is_reported_by_the_file(
    entry: dict[str, str], field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was reported as KEEPER_CHAIN_ID / KEEPER_LENS, which the user never set.
    _clean_env(monkeypatch)
    path = tmp_path / "devnet.json"
    path.write_text(json.dumps({"vaults": ["0x" + "33" * 20], **entry}))
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None, addresses=path)
    message = str(info.value)
    assert f"{path}: {field}" in message
    assert f"KEEPER_{field.upper()}" not in message


@pytest.mark.parametrize("url", ["notaurl", "hooks.example.com/T000/SECRET", "ftp://x/SECRET"])
def test_an_alert_webhook_url_without_http_is_refused_without_echoing_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was accepted, and every alert then failed to send (logged, never delivered).
    _clean_env(monkeypatch)
    monkeypatch.setenv("KEEPER_ALERT_WEBHOOK_URL", url)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    message = str(info.value)
    assert message.startswith("KEEPER_ALERT_WEBHOOK_URL: ")
    assert "http" in message
    assert url not in message
    assert "SECRET" not in message


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_bad_policy_is_reported_before_any_network(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was checked only after connecting: with the RPC down, the user saw the RPC error first,
    # fixed it, and only then learnt the policy was wrong.
    _clean_env(monkeypatch)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "33" * 20)
    args = [command, "--rpc-url", "http://127.0.0.1:9", "--policy", "bogus:x=1"]
    assert _code([*args, "--env-file", os.devnull]) == 2  # what was typed: a usage error
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("keeper: error: ")
    assert "unknown family 'bogus'" in err[-1]


def test_web_config_refuses_a_chain_id_that_is_not_a_number() -> None:
    # It ended in a ValueError traceback.
    from keeper.app.web import build_config

    addresses = {"chain_id": "abc", "vaults": ["0x" + "33" * 20]}
    with pytest.raises(ConfigError, match="chain_id 'abc' is not a number"):
        build_config(addresses, rpc_url="http://127.0.0.1:9", chain_id=31337)


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_missing_lens_is_reported_before_any_network_and_names_the_file_key(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It was found only after connecting (the RPC error came first), and named KEEPER_LENS alone
    # to a user whose addresses come from a file.
    _clean_env(monkeypatch)
    path = tmp_path / "devnet.json"
    path.write_text(json.dumps({"vaults": ["0x" + "33" * 20], "batcher": "0x" + "22" * 20}))
    args = [command, "--addresses", str(path), "--rpc-url", "http://127.0.0.1:9"]
    assert main([*args, "--env-file", os.devnull]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "KEEPER_LENS" in err[0]
    assert "'lens' in the addresses file" in err[0]


def test_check_help_says_it_keeps_no_journal(capsys: pytest.CaptureFixture[str]) -> None:
    # `check --journal zz/j.sqlite` was accepted, described as "SQLite journal path", and
    # never opened: check never signs.
    text = " ".join(_help(capsys, "check").split())
    assert "--journal PATH not read: check never signs, so it keeps no journal" in text
    assert "--journal PATH SQLite journal path (default" in " ".join(_help(capsys, "run").split())
