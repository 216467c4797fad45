"""A file setting written ``~/...`` names a file in the home directory.

A dotenv file is not read by a shell, so nothing expanded ``~`` in it: ``KEEPER_JOURNAL_PATH=
~/keeper/journal.sqlite`` made a directory named ``~`` in whatever directory the keeper was
started from, and a keeper started from another one opened another, empty journal (the record
that keeps it from sending twice). ``KEEPER_KEYSTORE_PATH`` and ``KEEPER_ADDRESSES_FILE`` said
their file did not exist. The flags (``--journal=~/x``, which bash does not expand in every mode)
are read the same way.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from eth_account import Account

from keeper.arguments import expand_home, file_path
from keeper.errors import ConfigError
from keeper.settings import load_journal_path, load_settings

KEY = "0x" + "4c" * 32
LENS = "0x" + "1e" * 20


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / "keeper").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def _env(home: Path, text: str) -> Path:
    env = home.parent / "work" / ".env"
    env.write_text(text)
    return env


def test_a_journal_path_in_the_dotenv_file_under_home(home: Path) -> None:
    env = _env(home, "KEEPER_JOURNAL_PATH=~/keeper/journal.sqlite\n")
    assert load_journal_path(env_file=env) == home / "keeper" / "journal.sqlite"
    assert load_settings(env_file=env).journal_path == home / "keeper" / "journal.sqlite"


def test_a_keystore_under_home_is_found(home: Path) -> None:
    keystore = home / "keeper" / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(KEY, "pw", kdf="pbkdf2", iterations=2)))
    env = _env(home, "KEEPER_KEYSTORE_PATH=~/keeper/key.json\nKEEPER_KEYSTORE_PASSWORD=pw\n")
    signer = load_settings(env_file=env).signer()
    assert signer is not None
    assert signer.address == Account.from_key(KEY).address


def test_an_addresses_file_under_home_is_read(home: Path) -> None:
    (home / "keeper" / "devnet.json").write_text(json.dumps({"lens": LENS}))
    env = _env(home, "KEEPER_ADDRESSES_FILE=~/keeper/devnet.json\n")
    settings = load_settings(env_file=env)
    assert settings.lens is not None
    assert settings.lens.lower() == LENS
    assert settings.addresses_file == home / "keeper" / "devnet.json"


def test_a_file_flag_under_home(home: Path) -> None:
    assert file_path("~/keeper/journal.sqlite") == home / "keeper" / "journal.sqlite"
    assert file_path("~") == home  # the form check is on what the text names
    assert file_path("keeper/~journal") == Path("keeper/~journal")  # ~ only at the start


def test_an_unknown_users_home_is_one_line_without_the_path(home: Path) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as flag:
        file_path("~no-such-user-here/journal.sqlite")
    assert "~no-such-user-here" not in str(flag.value)
    assert "home directory" in str(flag.value)
    env = _env(home, "KEEPER_JOURNAL_PATH=~no-such-user-here/journal.sqlite\n")
    with pytest.raises(ConfigError, match="KEEPER_JOURNAL_PATH") as setting:
        load_journal_path(env_file=env)
    assert "\n" not in str(setting.value)


def test_text_not_starting_with_a_tilde_is_left_as_it_is(home: Path) -> None:
    assert expand_home("journal.sqlite") == "journal.sqlite"
    assert expand_home("./~/journal.sqlite") == "./~/journal.sqlite"
    assert expand_home("~/x") == str(home / "x")
