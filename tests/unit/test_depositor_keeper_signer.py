"""A depositor action signed with a running keeper's own key, on the same machine.

``keeper run`` claims its signer with a lock of its own
(``keeper-signer-<chain id>-<genesis>-<address>.lock``, :meth:`Journal.claim_signer`) and
``keeper vault`` took another (``keeper-vault-…``): a deposit signed with the keeper's key went
ahead while the keeper ran, and the two raced for the account's nonces (the keeper's batch and
the deposit signed at one nonce, or the keeper's nonce manager overtaken). A depositor action now
also takes the keeper's signer lock, so each refuses the other.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from eth_account import Account

from keeper.app.depositor import keeper_signer_lock, signer_lock
from keeper.errors import ConfigError, ExecutionError
from keeper.execution.journal import Journal, signer_lock_path

GENESIS = "0x" + "ab" * 32
#: :meth:`VaultClient.chain_key` of that chain: ``"<chain id>-<genesis, 16 hex digits>-"``.
CHAIN = f"31337-{GENESIS[2:18]}-"
KEY = Account.create()


@pytest.fixture(autouse=True)
def _own_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_a_depositor_action_with_a_running_keepers_key_is_refused(tmp_path: Path) -> None:
    keeper = Journal(tmp_path / "journal.sqlite")
    keeper.bind_chain(31337, GENESIS)
    keeper.claim_signer(KEY.address)
    try:
        with pytest.raises(ExecutionError) as info, signer_lock(KEY.address, "deposit", CHAIN):
            pytest.fail("a deposit ran with the key of a running keeper")
        message = str(info.value)
        assert message.startswith(f"deposit refused: {KEY.address} signs for a running keeper")
        assert str(tmp_path / "journal.sqlite") in message  # which keeper: its journal
        assert message.endswith("nothing sent")
        assert "\n" not in message
        # Another chain's keeper (or another key) holds nothing up.
        with signer_lock(KEY.address, "deposit", f"10-{GENESIS[2:18]}-"):
            pass
        with signer_lock(Account.create().address, "deposit", CHAIN):
            pass
    finally:
        keeper.close()
    with signer_lock(KEY.address, "deposit", CHAIN):
        pass  # free once the keeper stopped


def test_a_keeper_is_refused_its_key_while_a_depositor_action_signs_with_it(tmp_path: Path) -> None:
    keeper = Journal(tmp_path / "journal.sqlite")
    keeper.bind_chain(31337, GENESIS)
    try:
        with (
            signer_lock(KEY.address, "withdraw", CHAIN),
            pytest.raises(
                ConfigError,
                match=rf"^signer {KEY.address} is in use by `keeper vault withdraw` on this "
                rf"machine \(pid {os.getpid()}\): .* race for the account's nonces",
            ),
        ):
            keeper.claim_signer(KEY.address)
        keeper.claim_signer(KEY.address)  # the action ended: the keeper may start
    finally:
        keeper.close()


def test_the_keeper_and_a_depositor_name_one_lock_file(tmp_path: Path) -> None:
    """The one path both compute (:func:`signer_lock_path`), from the journal's genesis hash and
    from the depositor's chain key."""
    keeper = Journal(tmp_path / "journal.sqlite")
    keeper.bind_chain(31337, GENESIS)
    try:
        keeper.claim_signer(KEY.address)
        held = {p.name for p in tmp_path.glob("keeper-signer-*.lock")}
    finally:
        keeper.close()
    assert held == {Path(signer_lock_path(31337, GENESIS, KEY.address)).name}
    assert keeper_signer_lock(KEY.address, CHAIN) == Path(
        signer_lock_path(31337, GENESIS, KEY.address)
    )
