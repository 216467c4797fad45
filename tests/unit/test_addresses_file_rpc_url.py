"""An addresses file's ``rpc_url`` wins over ``KEEPER_RPC_URL``: never without a word.

The precedence is the documented one (a devnet's file names its own node). But an operator who
points ``KEEPER_RPC_URL`` at a local anvil fork of the testnet, with a file whose ``rpc_url`` is
the testnet itself, was connected to the testnet without being told: the fork has the file's
chain id, so no chain check stops it, and ``keeper check`` and ``keeper vault`` logged nothing
(``keeper run`` only its usual "connected to chain ... at RPC ..." line). ``keeper run`` with a
key would have sent real transactions to the testnet. Now the keeper warns, naming both
endpoints by scheme, host and port only (a URL's path may hold an API key).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from keeper.chain.anvil import free_port
from keeper.settings import load_settings
from tests.conftest import keeper_command

ADDRESSES = {
    "chain_id": 421614,
    "lens": "0x" + "11" * 20,
    "batcher": "0x" + "22" * 20,
    "vaults": ["0x" + "33" * 20],
}
#: The testnet, with an API key in its path.
FILE_URL = "https://arb-sepolia.example.org/v2/sEcReTkEy123"
#: The operator's fork.
ENV_URL = "http://127.0.0.1:18646"


def _addresses(tmp_path: Path, rpc_url: str | None = FILE_URL) -> Path:
    path = tmp_path / "deployment.json"
    body = dict(ADDRESSES)
    if rpc_url is not None:
        body["rpc_url"] = rpc_url
    path.write_text(json.dumps(body))
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_file_rpc_url_over_keeper_rpc_url_is_warned_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KEEPER_RPC_URL", ENV_URL)
    file = _addresses(tmp_path)
    with caplog.at_level(logging.WARNING):
        settings = load_settings(env_file=None, addresses=file)
    assert settings.rpc_urls == [FILE_URL]  # the documented precedence stands
    (line,) = _warnings(caplog)
    assert str(file) in line
    assert "https://arb-sepolia.example.org" in line
    assert "http://127.0.0.1:18646" in line
    assert "KEEPER_RPC_URL" in line
    assert "--rpc-url" in line
    assert "sEcReTkEy123" not in line


def test_file_rpc_url_over_keeper_rpc_urls_is_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KEEPER_RPC_URLS", f"{ENV_URL},http://127.0.0.1:18647")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(env_file=None, addresses=_addresses(tmp_path))
    assert settings.rpc_urls == [FILE_URL]
    (line,) = _warnings(caplog)
    assert "KEEPER_RPC_URLS" in line
    assert "http://127.0.0.1:18647" in line


def test_keeper_rpc_url_in_the_dotenv_file_is_warned_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"KEEPER_RPC_URL={ENV_URL}\n")
    with caplog.at_level(logging.WARNING):
        load_settings(env_file=env_file, addresses=_addresses(tmp_path))
    (line,) = _warnings(caplog)
    assert "http://127.0.0.1:18646" in line


@pytest.mark.parametrize(
    ("env", "flag", "file_url"),
    [
        ({}, None, FILE_URL),  # nothing else named: the file's URL is the only one
        ({"KEEPER_RPC_URL": FILE_URL}, None, FILE_URL),  # they agree
        ({"KEEPER_RPC_URL": FILE_URL + "/"}, None, FILE_URL),  # a trailing slash
        ({"KEEPER_RPC_URL": "HTTPS" + FILE_URL[5:]}, None, FILE_URL),  # the scheme's case
        ({"KEEPER_RPC_URL": ""}, None, FILE_URL),  # an empty variable unsets it
        ({"KEEPER_RPC_URL": "notaurl"}, None, FILE_URL),  # never usable, so never read
        ({"KEEPER_RPC_URL": ENV_URL}, ENV_URL, FILE_URL),  # --rpc-url wins over both
        ({"KEEPER_RPC_URL": ENV_URL}, None, None),  # the file names no rpc_url
    ],
)
def test_no_warning_when_nothing_is_overridden(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    flag: str | None,
    file_url: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        load_settings(env_file=None, addresses=_addresses(tmp_path, file_url), rpc_url=flag)
    assert _warnings(caplog) == []


def test_keeper_check_says_which_rpc_it_uses(tmp_path: Path) -> None:
    # Two closed ports: the command fails to connect either way, after saying which it uses.
    file_port, env_port = free_port(), free_port()
    file = _addresses(tmp_path, f"http://127.0.0.1:{file_port}")
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    proc = subprocess.run(
        [*keeper_command(), "check", "--env-file", os.devnull, "--addresses", str(file)],
        cwd=tmp_path,
        env={**base, "KEEPER_RPC_URL": f"http://127.0.0.1:{env_port}", "KEEPER_RPC_RETRIES": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    warned = [line for line in proc.stderr.splitlines() if "KEEPER_RPC_URL" in line]
    assert len(warned) == 1, proc.stderr
    assert f"http://127.0.0.1:{file_port}" in warned[0]
    assert f"http://127.0.0.1:{env_port}" in warned[0]


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("KEEPER_LENS", "lens", "0x" + "44" * 20),
        ("KEEPER_BATCHER", "batcher", "0x" + "55" * 20),
    ],
)
def test_a_contract_address_the_file_hides_is_warned_naming_both(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    field: str,
    value: str,
) -> None:
    """The lens-version error and docs/deploy.md said to point ``KEEPER_LENS`` at a new lens;
    with an addresses file (the README's `keeper run --addresses ...`) the file's ``lens`` won
    without a word, and the keeper kept meeting the old lens (helper-127). The file still wins;
    the keeper now says so, naming both addresses."""
    monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        s = load_settings(env_file=None, addresses=_addresses(tmp_path))
    assert getattr(s, field).lower() == str(ADDRESSES[field]).lower()
    [warning] = _warnings(caplog)
    assert name in warning, warning
    assert value.lower() in warning.lower(), warning
    assert str(ADDRESSES[field]).lower() in warning.lower(), warning
    caplog.clear()
    monkeypatch.setenv(name, str(ADDRESSES[field]))  # the same address: nothing to say
    with caplog.at_level(logging.WARNING):
        load_settings(env_file=None, addresses=_addresses(tmp_path))
    assert _warnings(caplog) == []
