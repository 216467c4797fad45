"""Conflicting or missing configuration is one error line (issue 15, item 6).

Each test runs the real ``keeper`` command in a subprocess, the way a user does, and asserts the
exit code and the single stderr line. None needs a node: the refusals come before any network.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from keeper.chain.anvil import free_port
from tests.conftest import keeper_command

ADDRESSES = {
    "chain_id": 31337,
    "lens": "0x" + "11" * 20,
    "batcher": "0x" + "22" * 20,
    "vaults": ["0x" + "33" * 20],
}


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_ARTIFACTS_DIR" in os.environ:
        base["KEEPER_ARTIFACTS_DIR"] = os.environ["KEEPER_ARTIFACTS_DIR"]
    return subprocess.run(
        [*keeper_command(), *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("keeper: error: ")
    return lines[0]


@pytest.mark.parametrize("command", ["check", "run"])
def test_chain_id_disagreeing_with_the_addresses_file_names_both(
    command: str, tmp_path: Path
) -> None:
    (tmp_path / "devnet.json").write_text(json.dumps(ADDRESSES))
    proc = _run(tmp_path, command, "--addresses", "devnet.json", KEEPER_CHAIN_ID="8453")
    line = _one_line(proc)
    assert "KEEPER_CHAIN_ID is 8453" in line
    assert "devnet.json is for chain 31337" in line


def test_chain_id_in_the_env_file_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "devnet.json").write_text(json.dumps(ADDRESSES))
    (tmp_path / "base.env").write_text("KEEPER_CHAIN_ID=8453\n")
    proc = _run(tmp_path, "check", "--env-file", "base.env", "--addresses", "devnet.json")
    assert "KEEPER_CHAIN_ID is 8453" in _one_line(proc)


def test_an_agreeing_chain_id_is_fine(tmp_path: Path) -> None:
    (tmp_path / "devnet.json").write_text(json.dumps(ADDRESSES))
    dead = f"http://127.0.0.1:{free_port()}"
    proc = _run(
        tmp_path, "check", "--addresses", "devnet.json", "--rpc-url", dead, KEEPER_CHAIN_ID="31337"
    )
    assert "cannot reach RPC" in _one_line(proc)  # past the settings: the chain ids agree
    assert "chain" not in proc.stderr


def test_status_takes_no_addresses_file(tmp_path: Path) -> None:
    # It reads only the journal: no addresses, RPC or policy flag to be misled by.
    (tmp_path / "devnet.json").write_text(json.dumps(ADDRESSES))
    proc = _run(tmp_path, "status", "--addresses", "devnet.json")
    assert proc.returncode == 2
    assert "unrecognized arguments: --addresses" in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["check"],
        ["run", "--max-cycles", "1"],
        ["status"],
        ["rehearse", "--fork-url", "http://127.0.0.1:1"],
        ["vault", "info", "--vault", "0x" + "33" * 20],
    ],
)
def test_a_missing_env_file_is_an_error(argv: list[str], tmp_path: Path) -> None:
    proc = _run(tmp_path, *argv, "--env-file", "/nonexistent.env")
    assert _one_line(proc) == "keeper: error: --env-file /nonexistent.env does not exist"


def test_an_env_file_that_is_a_directory_is_named_as_one(tmp_path: Path) -> None:
    # It was "does not exist", for a directory that plainly does.
    proc = _run(tmp_path, "status", "--env-file", str(tmp_path))
    want = f"keeper: error: --env-file {tmp_path} is a directory, not a dotenv file"
    assert _one_line(proc) == want


def test_no_env_file_flag_and_no_dotenv_is_fine(tmp_path: Path) -> None:
    proc = _run(tmp_path, "status", "--journal", "none.sqlite")
    assert "env" not in proc.stderr


def test_a_vault_address_with_a_broken_checksum_is_refused_before_the_rpc(tmp_path: Path) -> None:
    # Mixed case is an EIP-55 checksum; this one has a letter's case flipped (a typo). It was
    # re-cased and sent to the node, which answered "no contract code there".
    good = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first deployment, checksummed
    bad = good.replace("F642", "f642")
    dead = f"http://127.0.0.1:{free_port()}"
    # A typed address: a usage error (2), as argparse's own refusals.
    line = _one_line(_run(tmp_path, "vault", "info", "--vault", bad, "--rpc-url", dead), 2)
    assert f"--vault: '{bad}' has a mixed-case EIP-55 checksum that does not match" in line
    assert "RPC" not in line
    line = _one_line(_run(tmp_path, "vault", "info", "--vault", good.lower(), "--rpc-url", dead))
    assert "cannot reach RPC" in line  # all lower case: no checksum to check
