"""``KEEPER_CHAIN_ID`` and an addresses file's ``chain_id`` must be chain ids.

A chain id is positive and at most ``2**63 - 37`` (EIP-2294). ``KEEPER_CHAIN_ID=0`` or ``-1``
(a placeholder), or ``421614`` with zeros pasted after it, was accepted and only failed once the
keeper had connected, as the RPC's fault: ``RPC is on chain 421614, expected chain -1``. With an
addresses file, ``-1`` was compared with the file's id instead (``KEEPER_CHAIN_ID is -1 but
addresses file ... is for chain 421614``). Each is now refused as what it is, before any
network access, whether or not an addresses file is given.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from keeper.errors import ConfigError
from keeper.settings import load_settings

#: EIP-2294's bound: ``floor(MAX_UINT64 / 2) - 36``.
MAX_CHAIN_ID = 2**63 - 37


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)


def _file(tmp_path: Path, chain_id: object = 421614) -> Path:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"chain_id": chain_id, "lens": "0x" + "11" * 20}))
    return path


@pytest.mark.parametrize("value", ["0", "-1", str(MAX_CHAIN_ID + 1), "4216140000000000000000"])
@pytest.mark.parametrize("with_file", [False, True], ids=["env-only", "with-addresses-file"])
def test_a_value_that_is_no_chain_id_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, with_file: bool
) -> None:
    monkeypatch.setenv("KEEPER_CHAIN_ID", value)
    with pytest.raises(ConfigError, match=r"^KEEPER_CHAIN_ID") as caught:
        load_settings(env_file=None, addresses=_file(tmp_path) if with_file else None)
    assert "addresses file" not in str(caught.value)  # not blamed on the file's chain id
    assert "chain id" in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, MAX_CHAIN_ID + 1])
def test_an_addresses_file_chain_id_that_is_no_chain_id_is_refused(
    tmp_path: Path, value: int
) -> None:
    file = _file(tmp_path, value)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(file))}: chain_id"):
        load_settings(env_file=None, addresses=file)


@pytest.mark.parametrize("value", ["1", "421614", str(MAX_CHAIN_ID)])
def test_real_chain_ids_are_read(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEEPER_CHAIN_ID", value)
    assert load_settings(env_file=None).chain_id == int(value)
