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


#: A private key's 64 hex digits (not any account of the tests).
KEY_DIGITS = "7c" + "85" * 31


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["check", "--rpc-url", "http://127.0.0.1:1"], "KEEPER_SIMULATE_FROM"),
        (["check", "--rpc-url", "http://127.0.0.1:1"], "KEEPER_VAULTS"),
        (["run", "--rpc-url", "http://127.0.0.1:1"], "KEEPER_BATCHER"),
        (["rehearse", "--fork-url", "http://127.0.0.1:1", "--admin", f"0x{KEY_DIGITS}"], None),
        (["vault", "info", "--rpc-url", "http://127.0.0.1:1", "--vault", KEY_DIGITS], None),
    ],
    ids=["simulate-from", "vaults", "batcher", "rehearse-admin", "vault-flag"],
)
def test_a_private_key_given_for_an_address_is_refused_without_printing_it(
    argv: list[str],
    env: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``KEEPER_SIMULATE_FROM=<the keeper's key>`` (it wants the keeper's address) was refused
    with the key itself in the line: ``'0x7c85…' is not a 20-byte hex address``."""
    if env is not None:
        monkeypatch.setenv(env, f"0x{KEY_DIGITS}")
    try:
        code = main([*argv, "--env-file", os.devnull])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out = capsys.readouterr()
    assert code != 0
    assert KEY_DIGITS not in out.err + out.out
    line = out.err.strip().splitlines()[-1]
    assert line.startswith("keeper: error: ")
    assert "not a 20-byte hex address" in line
    assert "not shown" in line


def test_an_address_that_is_not_key_like_is_still_quoted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a key-like value is hidden: a short typo is shown, so it can be found."""
    monkeypatch.setenv("KEEPER_VAULTS", "0x123")
    line = _one_line(capsys, ["check", "--rpc-url", "http://127.0.0.1:1"])
    assert "'0x123' is not a 20-byte hex address" in line


def _unreadable(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """Make ``target`` unreadable as a file of another user, mode 600, is (root reads all)."""
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.resolve() == target.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--rpc-url", "http://127.0.0.1:1"],
        ["run", "--rpc-url", "http://127.0.0.1:1", "--max-cycles", "1"],
        ["status"],
        ["rehearse", "--fork-url", "http://127.0.0.1:1"],
        ["vault", "info", "--rpc-url", "http://127.0.0.1:1", "--vault", VAULT],
    ],
    ids=["check", "run", "status", "rehearse", "vault"],
)
@pytest.mark.parametrize("named", [False, True], ids=["default-.env", "--env-file"])
def test_an_unreadable_dotenv_file_is_one_line(
    argv: list[str],
    named: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A ``.env`` of mode 600 owned by another user (how a key in it is guarded) ended every
    command in a ``PermissionError`` traceback from the dotenv check."""
    env = tmp_path / ".env"
    env.write_text(f"KEEPER_PRIVATE_KEY=0x{KEY_DIGITS}\n")
    _unreadable(monkeypatch, env)
    monkeypatch.chdir(tmp_path)
    try:
        code = main([*argv, *(["--env-file", str(env)] if named else [])])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - any escape is the defect
        pytest.fail(f"a traceback, not one line: {type(exc).__name__}: {exc}")
    out = capsys.readouterr()
    assert code == 1
    line = out.err.strip().splitlines()[-1]
    assert line.startswith("keeper: error: dotenv file ")
    assert "cannot be read (Permission denied)" in line
    assert KEY_DIGITS not in out.err + out.out


def test_an_env_file_behind_a_directory_that_cannot_be_searched_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Path.exists()`` raises ``PermissionError`` (not False) under such a directory."""
    env = tmp_path / "secret" / "keeper.env"
    real_exists = Path.exists

    def exists(self: Path, **kwargs: bool) -> bool:
        if self == env:
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    code = main(["status", "--env-file", str(env)])
    assert code == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"keeper: error: --env-file {env} cannot be read (Permission denied)"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "no host"),
        ("http://:8545", "no host"),
        ("http://127.0.0.1:notaport", "port is not a number"),
        ("http://127.0.0.1:70000", "port is not a number"),
        ("http://127.0.0.1:8545 http://127.0.0.1:8546", "port is not a number"),
        ("https:///v3/SECRETKEY", "no host"),
    ],
)
@pytest.mark.parametrize("typed", [True, False], ids=["flag", "setting"])
def test_an_rpc_url_that_can_never_connect_is_refused_as_a_setting(
    url: str,
    why: str,
    typed: bool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It passed as a setting and was retried as an unreachable node: `keeper run` for all of
    KEEPER_STARTUP_TIMEOUT_S (60 s by default), `keeper check` three times. Typed as --rpc-url it
    is refused as argparse refuses a value (exit 2), from KEEPER_RPC_URL as a setting (exit 1)."""
    if typed:
        line = _one_line(capsys, ["check", "--rpc-url", url])
        assert line.startswith("keeper: error: argument --rpc-url: RPC URL is not a valid URL")
    else:
        monkeypatch.setenv("KEEPER_RPC_URL", url)
        line = _one_line(capsys, ["check"])
        assert line.startswith("keeper: error: KEEPER_RPC_URL: RPC URL is not a valid URL")
    assert why in line
    assert "cannot reach" not in line
    assert url not in line
    assert "SECRETKEY" not in line
