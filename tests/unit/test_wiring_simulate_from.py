"""Whom ``keeper check`` simulates as, and that start-up checks that account is a keeper.

README and ``.env.example`` say ``keeper check`` simulates as the signer when one is set, else as
``KEEPER_SIMULATE_FROM``. The code took ``KEEPER_SIMULATE_FROM`` first, so a key in ``.env``
beside a ``KEEPER_SIMULATE_FROM`` left from a dry-run set-up made ``keeper check`` simulate as
another account than the one ``keeper run`` signs with. And neither account was checked against
the batcher's keeper registry in a dry run: a wrong key passed ``keeper check`` with exit 0
whenever nothing was planned, and otherwise ended it in ``rebalanceBatch reverts:
RebalanceBatcherUnauthorized(caller=...)``, where ``keeper run`` names the mistake at start-up.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from keeper.app import wiring
from keeper.chain.vaults import check_batcher
from keeper.errors import ConfigError
from keeper.settings import Settings

KEY = "0x" + "42" * 32
SIGNER = Account.from_key(KEY).address
OTHER = "0x" + "5e" * 20
BATCHER = "0x" + "33" * 20


class _CheckedError(Exception):
    """Stops build_keeper once the batcher check was called."""


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str]]:
    """No node: every start-up read before the batcher's stands in; the batcher check records
    the account it was asked about, and whom it would name, then stops the wiring."""
    calls: list[tuple[str | None, str]] = []
    monkeypatch.setattr(wiring, "connect", lambda *a, **k: SimpleNamespace())
    monkeypatch.setattr(wiring, "resolve_vaults", lambda w3, s: list(s.vaults))
    monkeypatch.setattr(wiring, "check_lens", lambda *a, **k: None)

    def check(w3: Any, batcher: str, keeper: str | None, **kw: Any) -> int:
        calls.append((keeper, kw.get("who", "signer")))
        raise _CheckedError

    monkeypatch.setattr(wiring, "check_batcher", check)
    return calls


def _settings(**fields: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, lens="0x" + "22" * 20, vaults=["0x" + "11" * 20], batcher=BATCHER, **fields
    )


def test_check_simulates_as_the_signer_even_with_simulate_from_set(
    checked: list[tuple[str | None, str]],
) -> None:
    with pytest.raises(_CheckedError):
        wiring.connect_keeper(
            _settings(private_key=KEY, simulate_from=OTHER), dry_run=True, simulate_as_signer=True
        )
    assert checked == [(SIGNER, "signer")]


def test_check_without_a_signer_checks_simulate_from(
    checked: list[tuple[str | None, str]],
) -> None:
    with pytest.raises(_CheckedError):
        wiring.connect_keeper(_settings(simulate_from=OTHER), dry_run=True, simulate_as_signer=True)
    assert [(k and k.lower(), who) for k, who in checked] == [(OTHER, "KEEPER_SIMULATE_FROM")]


def test_a_dry_run_with_neither_checks_no_keeper(checked: list[tuple[str | None, str]]) -> None:
    with pytest.raises(_CheckedError):
        wiring.connect_keeper(_settings(), dry_run=True, simulate_as_signer=True)
    assert [keeper for keeper, _ in checked] == [None]


def test_a_signing_keeper_checks_its_signer(checked: list[tuple[str | None, str]]) -> None:
    with pytest.raises(_CheckedError):
        wiring.connect_keeper(_settings(private_key=KEY, simulate_from=OTHER))
    assert checked == [(SIGNER, "signer")]


class _Eth:
    """A batcher that answers ``maxBatch() = 20`` and ``isKeeper(...) = false``."""

    def get_code(self, address: str) -> bytes:
        return b"\x60\x00"

    def call(self, tx: dict[str, Any]) -> bytes:
        max_batch = bytes(tx["data"])[:4] == keccak(text="maxBatch()")[:4]
        return (20 if max_batch else 0).to_bytes(32, "big")


@pytest.mark.parametrize(
    ("who", "fix"),
    [("signer", "use the keeper key"), ("KEEPER_SIMULATE_FROM", "use the keeper's address")],
)
def test_an_account_that_is_not_a_keeper_is_named_as_what_it_is(who: str, fix: str) -> None:
    w3: Any = SimpleNamespace(eth=_Eth())
    with pytest.raises(ConfigError) as info:
        check_batcher(w3, BATCHER, OTHER, attempts=1, who=who)
    message = str(info.value)
    assert message.lower().startswith(f"{who.lower()} {OTHER}")
    assert "is not a registered keeper of batcher" in message
    assert fix in message
