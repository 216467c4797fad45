"""``keeper vault``: exact human-unit conversion and argument checks (no node needed)."""

from __future__ import annotations

import json
import os
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.cli import main
from keeper.commands.vault import format_units, parse_amount
from keeper.errors import ConfigError


def _code(argv: list[str]) -> int:
    """``main``'s exit code, a usage error's ``SystemExit`` (code 2) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("1", 6, 1_000_000),
        ("1500.25", 6, 1_500_250_000),
        ("0.000001", 6, 1),
        ("1_000", 6, 1_000_000_000),
        ("  2.5 ", 18, 2_500_000_000_000_000_000),
        ("12.", 6, 12_000_000),
        (".5", 6, 500_000),
        ("123456789012345678901234567890.123456", 6, 123456789012345678901234567890123456),
        ("7", 0, 7),
    ],
)
def test_parse_amount_is_exact(text: str, decimals: int, units: int) -> None:
    assert parse_amount(text, decimals) == units


@pytest.mark.parametrize(
    ("text", "decimals", "message"),
    [
        ("0.0000001", 6, "more than 6 decimals"),
        ("1.5", 0, "more than 0 decimals"),
        ("abc", 6, "is not a number"),
        ("", 6, "is not a number"),
        ("0", 6, "must be a positive number"),
        ("-1", 6, "must be a positive number"),
        ("NaN", 6, "is not a number"),
        ("Infinity", 6, "is not a number"),
        ("1" + "0" * 80, 6, "too large"),
        ("0." + "0" * 200 + "1", 6, "more than 6 decimals"),
        # Exponent notation moved money: "1e3" deposited 1,000 USDC, and a typo of "1e6" for
        # "1.6" would deposit a million. The web page refuses it, and so does the CLI now.
        ("1e3", 6, "exponent"),
        ("1E3", 6, "exponent"),
        ("1.5e-3", 6, "exponent"),
        ("2e+2", 6, "exponent"),
        ("1e80", 6, "exponent"),
        ("1e9999999999", 6, "exponent"),
        ("+5", 6, "is not a number"),
        ("0x10", 6, "is not a number"),
        (".", 6, "is not a number"),
        ("1 000", 6, "is not a number"),
        # Decimal reads every script's digits: "١٠٠" was 100 USDC, "１２.５" 12.5. An amount of
        # money is refused unless it is in ASCII digits, as the web page refuses it.
        ("\u0661\u0660\u0660", 6, "digits 0-9"),
        ("\uff11\uff12.\uff15", 6, "digits 0-9"),
        ("1\u0660", 6, "digits 0-9"),
    ],
)
def test_parse_amount_refuses(text: str, decimals: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_amount(text, decimals)


def test_parse_amount_says_thousands_separators_are_not_taken() -> None:
    with pytest.raises(ConfigError, match=r"'1,500.25' is not a number \(no thousands separators"):
        parse_amount("1,500.25", 6)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--amount", "abc", "--amount 'abc' is not a number"),
        ("--amount", "0", "--amount must be a positive number"),
        ("--amount", "1e3", "exponent notation"),
    ],
)
def test_a_bad_amount_is_refused_before_the_rpc_is_asked(
    flag: str,
    value: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The amount's syntax needs no token decimals: with the RPC down, a bad amount was reported
    as 'cannot reach RPC', and only a working RPC showed the real mistake."""
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "4c" * 32)
    code = _code(
        [
            "vault",
            "deposit",
            "--vault",
            "0x" + "a1" * 20,
            flag,
            value,
            "--rpc-url",
            "http://127.0.0.1:9",
            "--env-file",
            os.devnull,
        ]
    )
    assert code == 2  # what was typed: a usage error
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "RPC" not in err


def test_parse_amount_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--shares"):
        parse_amount("0.1234567890123", 12, "--shares")


@pytest.mark.parametrize(
    ("units", "decimals", "text"),
    [(1_500_250_000, 6, "1500.25"), (1, 6, "0.000001"), (0, 6, "0"), (-5 * 10**17, 18, "-0.5")],
)
def test_format_units(units: int, decimals: int, text: str) -> None:
    assert format_units(units, decimals) == text


@given(st.integers(min_value=1, max_value=2**200), st.integers(min_value=0, max_value=30))
def test_format_then_parse_round_trips(units: int, decimals: int) -> None:
    text = format_units(units, decimals)
    assert parse_amount(text, decimals) == units
    with localcontext() as ctx:
        ctx.prec = 100  # the default 28 digits would round large amounts (why parse_amount sets it)
        assert Decimal(text).scaleb(decimals) == units


def _isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        # a missing amount is a usage error of the action's own parser (exit 2)
        (["deposit"], "required: --amount", 2),
        (["withdraw", "--shares", "1"], "required: --amount", 2),
        (["redeem", "--amount", "1"], "required: --shares", 2),
        (["deposit", "--amount", "1"], "needs a signer", 1),
        # an empty --owner (an unset shell variable) is refused, not read as "the signer"
        (["info", "--owner", ""], "--owner: '' is not a 20-byte hex address", 2),
    ],
)
def test_cli_refuses_bad_arguments_in_one_line_before_any_network(
    argv: list[str],
    message: str,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    _isolate(monkeypatch)
    # an unreachable RPC: reaching the network would fail differently
    args = ["vault", argv[0], "--vault", "0x" + "11" * 20, "--rpc-url", "http://127.0.0.1:9"]
    args += ["--env-file", os.devnull, *argv[1:]]
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
    else:
        assert main(args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]


def test_cli_bad_key_is_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _isolate(monkeypatch)
    bad = "0x" + "zz" * 32
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", bad)
    args = ["vault", "deposit", "--vault", "0x" + "11" * 20, "--amount", "1"]
    args += ["--rpc-url", "http://127.0.0.1:9", "--env-file", os.devnull]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "not a valid 32-byte hex private key" in captured.err
    assert "zz" * 32 not in captured.err + captured.out


def test_cli_unreachable_rpc_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _isolate(monkeypatch)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "22" * 32)
    args = ["vault", "deposit", "--vault", "0x" + "11" * 20, "--amount", "1"]
    args += ["--rpc-url", "http://127.0.0.1:9", "--env-file", os.devnull]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cannot reach RPC" in err[0]


def test_info_labels_the_position_holder_not_an_owner() -> None:
    # "owner" reads like the vault's owner: the table says whose position it shows. The JSON
    # key stays "owner" (the ERC-4626 word, as in maxWithdraw(owner)).
    from keeper.commands.vault import format_info

    holder = "0x" + "ab" * 20
    info = {
        "vault": "0x" + "11" * 20,
        "name": "Vault",
        "symbol": "V",
        "asset": "0x" + "22" * 20,
        "asset_symbol": "USDC",
        "asset_decimals": 6,
        "share_decimals": 12,
        "underlying": "0x" + "33" * 20,
        "underlying_symbol": "WETH",
        "total_assets": 10**6,
        "total_supply": 10**12,
        "share_price": 10**6,
        "free_quote": 0,
        "locked_collateral": 0,
        "hedge_inventory": 0,
        "net_delta": 0,
        "thresholds": {
            "target_delta": 0,
            "band": 10**18,
            "min_interval": 60,
            "max_interval": 3600,
            "max_trade": 10**18,
            "max_slippage_bps": 50,
            "max_oracle_gap_bps": 100,
        },
        "paused": False,
        "deposits_open": True,
        "exits_open": True,
        "deposits_closed_because": None,
        "exits_closed_because": None,
        "owner": holder,
        "shares": 10**12,
        "shares_value": 10**6,
        "max_withdraw": 10**6,
        "max_redeem": 10**12,
        "asset_balance": 0,
    }
    lines = format_info(info).splitlines()
    assert f"position of  {holder}" in lines
    assert not any(line.startswith("owner") for line in lines)


def test_ctrl_c_while_a_sent_deposit_waits_for_its_receipt_names_the_transaction(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C while ``keeper vault deposit`` waited for its receipt printed only ``keeper:
    interrupted``: the deposit had been sent and was mined afterwards, and nothing said so, so
    the depositor would send it again. It still exits 130, and the line names the transaction."""
    from types import SimpleNamespace
    from typing import Any

    from keeper.execution.transactions import Transactor

    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "22" * 32)
    vault = "0x" + "a1" * 20
    sent: list[bytes] = []

    def wait_for_transaction_receipt(tx_hash: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt

    eth = SimpleNamespace(
        chain_id=10,
        get_transaction_count=lambda address, block="latest": 0,
        estimate_gas=lambda params: 60_000,
        get_block=lambda which: {"number": 1, "baseFeePerGas": 10**9},
        send_raw_transaction=lambda raw: sent.append(bytes(raw)) or b"\x01" * 32,
        wait_for_transaction_receipt=wait_for_transaction_receipt,
    )
    w3 = SimpleNamespace(eth=eth, provider=object())
    hashes: list[str] = []

    class Client:
        """The vault client's deposit, reduced to its one send (through the real Transactor)."""

        asset_decimals = 6

        def __init__(self, w3: Any, address: str, settings: Any) -> None:
            self.w3 = w3

        def deposit(self, signer: Any, assets: int) -> Any:
            t = Transactor(self.w3, signer)
            original = t._broadcast

            def broadcast(raw: Any, tx_hash: str, what: str) -> None:
                hashes.append(tx_hash)
                original(raw, tx_hash, what)

            t._broadcast = broadcast  # type: ignore[method-assign]
            t.send(vault, bytes.fromhex("6e553f65"), what="deposit")
            raise AssertionError("unreachable: interrupted")

    monkeypatch.setattr("keeper.app.depositor.connect", lambda *a, **k: w3)
    monkeypatch.setattr("keeper.app.depositor.VaultClient", Client)
    args = ["vault", "deposit", "--vault", vault, "--amount", "1", "--env-file", os.devnull]
    assert main(args) == 130
    assert len(sent) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("keeper: interrupted: deposit ")
    assert hashes[0] in err[0]
    assert "was sent" in err[0]
    assert "before sending it again" in err[0]


def test_a_devnet_send_cut_by_ctrl_c_is_a_plain_interrupt() -> None:
    """The demo's and devnet's own sends go to a chain that stops with the process: their Ctrl-C
    stays ``keeper: interrupted``, with no "check before sending again" about a chain that is
    gone."""
    from types import SimpleNamespace
    from typing import Any

    from eth_account import Account

    from keeper.devnet.tx import transactor
    from keeper.errors import Interrupted

    def wait_for_transaction_receipt(tx_hash: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt

    eth = SimpleNamespace(
        chain_id=31337,
        get_transaction_count=lambda address, block="latest": 0,
        get_block=lambda which: {"number": 1, "baseFeePerGas": 10**9},
        send_raw_transaction=lambda raw: b"\x01" * 32,
        wait_for_transaction_receipt=wait_for_transaction_receipt,
    )
    t = transactor(SimpleNamespace(eth=eth, provider=object()), Account.create())  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt) as caught:
        t.send("0x" + "a1" * 20, b"\x00", gas=50_000, what="mint")
    assert not isinstance(caught.value, Interrupted)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        # what was typed: a usage error
        (["vault", "info", "--vault", "0x" + "11" * 19, "--rpc-url", "http://127.0.0.1:9"], 2),
        (["vault", "redeem", "--vault", "0x" + "11" * 20, "--shares", "abc"], 2),
        # found at run time
        (["status", "--journal", "/nonexistent-dir/journal.sqlite"], 1),
        (["check", "--rpc-url", "http://127.0.0.1:9", "--addresses", "/nonexistent.json"], 1),
    ],
)
def test_an_error_under_json_is_also_a_json_object_on_stdout(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine reading stdout with --json gets the error as JSON; people still get the line."""
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "59" * 32)
    assert _code([*argv, "--json"]) == code
    captured = capsys.readouterr()
    line = captured.err.strip()
    assert line.startswith("keeper: error: "), captured.err
    assert "\n" not in line, captured.err
    body = json.loads(captured.out)
    assert body == {"error": line.removeprefix("keeper: error: "), "exit_code": code}
    assert "59" * 32 not in captured.out + captured.err


def test_an_error_without_json_leaves_stdout_empty(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["vault", "info", "--vault", "0x" + "11" * 19, "--rpc-url", "http://127.0.0.1:9"]
    assert _code(argv) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("action", ["info", "deposit", "claim", "fill"])
def test_each_actions_json_help_says_what_its_json_holds(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``info --json`` has no ``*_human`` strings (``VaultClient.info``: integers, with
    ``asset_decimals`` and ``share_decimals``), though its ``--help`` promised them; the actions'
    reports do have them (``ActionReport.to_json``)."""
    with pytest.raises(SystemExit):
        main(["vault", action, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    json_help = text.split("--json ", 1)[1].split(" -v,", 1)[0]
    if action == "info":
        assert "_human" not in json_help
        assert "asset_decimals" in json_help
        assert "share_decimals" in json_help
    else:
        assert "*_human strings" in json_help


def test_a_send_record_staged_through_a_planted_symlink_is_refused_and_its_target_kept(
    tmp_path: Path,
) -> None:
    """The send record is staged beside the signer's lock in the shared temporary directory,
    under a name anyone can work out; writing the staged file followed a symlink planted there
    and overwrote its target. It is now created without following a link: refused, nothing
    sent, the target intact (helper-125's review of the signer files)."""
    from keeper.app.depositor import _Run
    from keeper.errors import ExecutionError

    victim = tmp_path / "notes.txt"
    victim.write_text("mine\n")
    record = tmp_path / "keeper-vault-31337-0xabc.sent"
    record.with_suffix(".sent-new").symlink_to(victim)
    run = _Run("deposit", record=record, amount="100 USDC")
    with pytest.raises(ExecutionError, match="cannot be written"):
        run.write("0x" + "11" * 32, 0, "deposit")
    assert victim.read_text() == "mine\n"
    assert not record.exists()
