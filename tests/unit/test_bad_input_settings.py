"""Bad settings found by a bad-input audit that ended in a traceback (or took no bound), each now
one ``keeper: error:`` line with a non-zero exit, before anything is read or sent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account

from keeper.cli import main
from keeper.errors import ConfigError
from keeper.settings import url_secrets

VAULT = "0x" + "11" * 20


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "22" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", VAULT)


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        code = main([*argv, "--env-file", os.devnull])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - any escape is the defect
        pytest.fail(f"a traceback, not one line: {type(exc).__name__}: {exc}")
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("keeper: error: ")
    return err[-1]


@pytest.mark.parametrize("command", ["check", "rehearse"])
def test_a_malformed_ipv6_url_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``urlsplit`` raised ``ValueError: Invalid IPv6 URL`` while the URL's secrets were listed."""
    addresses = tmp_path / "devnet.json"
    book = {"vaults": [VAULT], "lens": "0x" + "22" * 20, "batcher": "0x" + "33" * 20}
    addresses.write_text(json.dumps(book))
    argv = {
        "check": ["check", "--rpc-url", "http://[::1"],
        "rehearse": ["rehearse", "--fork-url", "http://[::1", "--addresses", str(addresses)],
    }[command]
    assert "not a valid URL" in _one_line(capsys, argv)


def test_the_secrets_of_a_url_that_cannot_be_split_are_the_whole_url() -> None:
    assert url_secrets("http://[::1/v3/KEY") == ["http://[::1/v3/KEY"]


def test_an_rpc_timeout_too_large_for_the_clock_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e10 s overflowed the platform's time_t inside urllib3."""
    monkeypatch.setenv("KEEPER_RPC_TIMEOUT_S", "1e10")
    assert "KEEPER_RPC_TIMEOUT_S" in _one_line(capsys, ["check", "--rpc-url", "http://127.0.0.1:1"])


def test_an_impact_coefficient_that_overflows_the_cost_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e300 gave numpy overflow warnings on stderr and an `inf` cost column, with exit 0."""
    monkeypatch.setenv("KEEPER_IMPACT_COEF", "1e300")
    assert "KEEPER_IMPACT_COEF" in _one_line(capsys, ["check", "--rpc-url", "http://127.0.0.1:1"])


def _keystore(tmp_path: Path, c: int) -> Path:
    keyfile = Account.encrypt("0x" + "42" * 32, "pw", kdf="pbkdf2", iterations=2)
    keyfile["crypto"]["kdfparams"]["c"] = c
    path = tmp_path / "ks.json"
    path.write_text(json.dumps(keyfile))
    return path


@pytest.mark.parametrize("c", [10**12, 10**30], ids=["too-many", "overflows"])
def test_a_keystore_asking_for_too_many_iterations_is_refused_before_deriving(
    c: int, tmp_path: Path
) -> None:
    """``c = 10**12`` raised ``OverflowError`` from eth_keyfile; a large valid count would have
    derived the key for hours. Refused before any derivation."""
    from keeper.settings import Settings

    s = Settings(keystore_path=_keystore(tmp_path, c), keystore_password="pw")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="iterations"):
        s.signer()


def test_a_bad_rpc_url_in_the_addresses_file_names_the_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's `rpc_url` without a scheme was reported twice, the second time as
    `KEEPER_RPC_URLS`, a setting nobody had set (the list is split from the file's value)."""
    addresses = tmp_path / "a.json"
    book = {"vaults": [VAULT], "lens": "0x" + "22" * 20, "rpc_url": "localhost:8545"}
    addresses.write_text(json.dumps(book))
    line = _one_line(capsys, ["check", "--addresses", str(addresses)])
    assert "KEEPER_RPC_URLS" not in line
    assert line.count("RPC URL has no scheme") == 1
    assert f"{addresses}: rpc_url: RPC URL has no scheme" in line
