"""The sender on a real chain: journal-first sends, stuck-tx replacement, restart, reorgs.

Transactions are plain ``MintableERC20.mint`` calls: the sender does not care what it sends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, deploy
from keeper.errors import FeeCapError
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender
from keeper.units import Wei
from tests.conftest import Chain

pytestmark = pytest.mark.integration

CAPS = FeeCaps(Wei(10**12), Wei(10**10))


@dataclass
class Rig:
    w3: Web3
    token: Contract
    keeper: LocalAccount
    key: str
    journal_path: Path

    def sender(self, **kw: Any) -> Sender:
        kw.setdefault("poll_s", 0.02)
        kw.setdefault("receipt_timeout_s", 20)
        return Sender(self.w3, self.keeper, Journal(self.journal_path), CAPS, **kw)

    def mint_data(self, amount: int) -> bytes:
        data = self.token.functions.mint(self.keeper.address, amount)._encode_transaction_data()
        return bytes.fromhex(data[2:])

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in resp, resp
        return resp["result"]

    def minted(self) -> int:
        return int(self.token.functions.balanceOf(self.keeper.address).call())

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.keeper.address))


def spend_nonce_elsewhere(r: Rig, nonce: int) -> None:
    """Another process with the same key uses ``nonce`` for something the journal never saw."""
    other = r.keeper.sign_transaction(
        {
            "type": 2,
            "chainId": r.w3.eth.chain_id,
            "nonce": nonce,
            "to": r.keeper.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**6,
        }
    )
    r.w3.eth.send_raw_transaction(other.raw_transaction)


def make_rig(chain: Chain, tmp_path: Path) -> Rig:
    admin = account(chain.keys[0])
    token = deploy(chain.w3, admin, load_artifact("MintableERC20"), "Token", "TOK", 6)
    return Rig(chain.w3, token, account(chain.keys[1]), chain.keys[1], tmp_path / "journal.sqlite")


@pytest.fixture
def rig(anvil_chain: Chain, tmp_path: Path) -> Rig:
    return make_rig(anvil_chain, tmp_path)


def test_send_and_wait_journals_before_sending(chain: Chain, tmp_path: Path) -> None:
    r = make_rig(chain, tmp_path)
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], chain.w3.eth.block_number)
    outcome = s.send_and_wait(intent, r.token.address, r.mint_data(7), 120_000)
    assert outcome.status == "mined"
    assert outcome.replacements == 0
    assert r.minted() == 7
    rec = s.journal.tx(outcome.tx_hash)
    assert rec.status == "mined"
    assert rec.nonce == 0
    assert rec.mined_block == outcome.block_number
    assert rec.gas_used == outcome.gas_used
    assert rec.raw_tx.startswith("0x02")
    assert s.journal.intent(intent).status == "mined"
    # The next send takes the next nonce.
    second = s.send_and_wait(intent, r.token.address, r.mint_data(1), 120_000)
    assert second.nonce == 1
    assert r.nonce() == 2


def test_confirmations_are_waited_for(rig: Rig) -> None:
    r = rig
    s = r.sender(confirmations=3)
    rec = s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000)
    assert s.poll_nonce(rec.nonce) is None  # mined: 1 confirmation of 3
    r.rpc("evm_mine")
    assert s.poll_nonce(rec.nonce) is None
    r.rpc("evm_mine")
    outcome = s.poll_nonce(rec.nonce)
    assert outcome is not None
    assert outcome.status == "mined"
    assert len(s.journal.versions(s.address, rec.nonce)) == 1  # never replaced while mined


def test_stuck_transaction_is_replaced_with_a_bump(rig: Rig) -> None:
    r = rig
    s = r.sender(replace_after_blocks=2)
    r.rpc("evm_setAutomine", False)
    intent = s.journal.open_intent([], 0)
    first = s.submit(intent, r.token.address, r.mint_data(5), 120_000)
    # Keep the base fee just above the first version's max fee: it cannot be mined.
    for _ in range(2):
        r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
        r.rpc("evm_mine")
    assert r.w3.eth.get_transaction_count(r.keeper.address) == 0
    assert s.poll_nonce(first.nonce) is None  # K blocks passed: replaced now
    versions = s.journal.versions(s.address, first.nonce)
    assert len(versions) == 2
    second = versions[1]
    assert second.max_fee * 8 >= first.max_fee * 9
    assert second.priority_fee * 8 >= first.priority_fee * 9
    assert second.max_fee <= CAPS.max_fee_per_gas
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
    r.rpc("evm_mine")
    outcome = s.wait(first.nonce, timeout_s=5)
    assert outcome.status == "mined"
    assert outcome.tx_hash == second.tx_hash
    assert outcome.replacements == 1
    assert s.journal.tx(first.tx_hash).status == "replaced"
    assert r.minted() == 5  # once
    assert r.nonce() == 1


def test_stuck_transaction_at_the_cap_raises_fee_cap_error(rig: Rig) -> None:
    r = rig
    caps = FeeCaps(Wei(2_001_000_000), Wei(1_000_000))  # the first send already sits at the cap
    s = Sender(r.w3, r.keeper, Journal(r.journal_path), caps, replace_after_blocks=1)
    r.rpc("evm_setAutomine", False)
    first = s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000)
    assert first.max_fee == caps.max_fee_per_gas
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
    r.rpc("evm_mine")
    with pytest.raises(FeeCapError, match="exceeds"):
        s.poll_nonce(first.nonce)
    assert len(s.journal.versions(s.address, first.nonce)) == 1


def test_crash_between_sign_and_send_then_restart(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([], 0)
    signed = s.prepare(intent, r.token.address, r.mint_data(3), 120_000)  # ... and the process dies
    s.journal.close()
    assert r.nonce() == 0
    assert r.w3.eth.get_transaction_count(r.keeper.address, "pending") == 0

    restarted = r.sender()
    report = restarted.reconcile()
    assert report.rebroadcast == 1
    assert report.dropped == 0
    outcome = restarted.wait(signed.nonce, timeout_s=10)
    assert outcome.tx_hash == signed.tx_hash  # the identical signed bytes, not a new tx
    assert r.minted() == 3
    assert r.nonce() == 1
    # No gap and no duplicate: the next transaction takes nonce 1.
    nxt = restarted.send_and_wait(intent, r.token.address, r.mint_data(1), 120_000)
    assert nxt.nonce == 1
    assert r.minted() == 4
    assert restarted.reconcile().rebroadcast == 0


def test_crash_after_send_before_journal_update_is_not_resent(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([], 0)
    signed = s.prepare(intent, r.token.address, r.mint_data(2), 120_000)
    r.w3.eth.send_raw_transaction(signed.raw_tx)  # sent and mined, but the row still says signed
    assert s.journal.tx(signed.tx_hash).status == "signed"
    restarted = r.sender()
    report = restarted.reconcile()
    assert report.mined == 1
    assert report.rebroadcast == 0
    assert restarted.journal.tx(signed.tx_hash).status == "mined"
    assert r.minted() == 2
    assert r.nonce() == 1


def test_nonce_taken_by_another_transaction_is_dropped(rig: Rig) -> None:
    r = rig
    s = r.sender()
    signed = s.prepare(s.journal.open_intent([], 0), r.token.address, r.mint_data(9), 120_000)
    spend_nonce_elsewhere(r, 0)
    report = r.sender().reconcile()
    assert report.dropped == 1
    assert Journal(r.journal_path).tx(signed.tx_hash).status == "dropped"
    assert r.minted() == 0


def test_reorg_marks_the_batch_and_hands_it_back(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], 0)
    outcome = s.send_and_wait(intent, r.token.address, r.mint_data(4), 120_000)
    assert s.check_reorgs() == []
    r.rpc("anvil_rollback", 1)  # the block with our transaction is gone
    assert r.minted() == 0
    reorged = s.check_reorgs()
    assert reorged == [intent]
    assert s.journal.tx(outcome.tx_hash).status == "reorged"
    assert s.journal.intent(intent).status == "reorged"
    # Nothing was resent blindly: no pending transaction, the nonce is free again.
    assert not s.has_pending()
    assert r.w3.eth.get_transaction_count(r.keeper.address, "pending") == 0
    # Re-evaluation decides to act again: a fresh intent reuses the freed nonce (no gap).
    again = s.send_and_wait(
        s.journal.open_intent([r.token.address], 0), r.token.address, r.mint_data(4), 120_000
    )
    assert again.nonce == outcome.nonce
    assert r.minted() == 4


def test_private_key_never_in_logs_journal_or_errors(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig
    logging.getLogger("keeper").propagate = True
    bare = r.key.removeprefix("0x").lower()
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        s = r.sender(replace_after_blocks=1)
        s.send_and_wait(s.journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000)
        r.rpc("evm_setAutomine", False)
        rec = s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000)
        r.rpc("anvil_setNextBlockBaseFeePerGas", hex(rec.max_fee + 1))
        r.rpc("evm_mine")
        s.poll_nonce(rec.nonce)
        tight = Sender(r.w3, r.keeper, s.journal, FeeCaps(Wei(1), Wei(1)))
        try:
            tight.submit(s.journal.open_intent([], 0), r.token.address, b"", 50_000)
        except FeeCapError as exc:
            errors.append(str(exc))
            errors.append(repr(exc))
        errors.append(repr(s))
    assert errors
    journal_bytes = r.journal_path.read_bytes()
    for wal in r.journal_path.parent.glob("journal.sqlite*"):
        journal_bytes += wal.read_bytes()
    text = caplog.text.lower() + " ".join(errors).lower()
    assert bare not in text
    assert bare.encode() not in journal_bytes.lower()
    assert bytes.fromhex(bare) not in journal_bytes
    assert "tx signed" in caplog.text  # the logs did record the sends


def test_nonce_seen_used_before_its_receipt_is_not_dropped(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node may report the nonce used a moment before it serves the receipt: wait, then settle."""
    r = rig
    s = r.sender()
    record = s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(5), 120_000)
    assert r.nonce() == 1  # automine: already mined
    real_receipt = s._receipt
    hidden = {"left": 3}

    def late_receipt(tx_hash: str) -> Any:
        if hidden["left"] > 0:
            hidden["left"] -= 1
            return None
        return real_receipt(tx_hash)

    monkeypatch.setattr(s, "_receipt", late_receipt)
    assert s.poll_nonce(record.nonce) is None  # taken, no receipt yet: not dropped
    outcome = s.wait(record.nonce)
    assert outcome.status == "mined"
    assert Journal(r.journal_path).tx(record.tx_hash).status == "mined"


def test_nonce_taken_by_a_stranger_is_dropped_after_the_grace(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rig
    monkeypatch.setattr("keeper.execution.sender.DROP_GRACE_S", 0.2)
    s = r.sender()
    signed = s.prepare(s.journal.open_intent([], 0), r.token.address, r.mint_data(9), 120_000)
    spend_nonce_elsewhere(r, 0)
    assert s.poll_nonce(signed.nonce) is None  # first sighting: within the grace
    outcome = s.wait(signed.nonce)
    assert outcome.status == "dropped"
    assert Journal(r.journal_path).tx(signed.tx_hash).status == "dropped"
    assert r.minted() == 0
