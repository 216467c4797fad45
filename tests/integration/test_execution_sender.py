"""The sender on a real chain: journal-first sends, stuck-tx replacement, restart, reorgs.

Transactions are plain ``MintableERC20.mint`` calls: the sender does not care what it sends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, deploy
from keeper.errors import FeeCapError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender, decode_signed
from keeper.execution.transactions import replay_revert
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


def spend_nonce_elsewhere(r: Rig, nonce: int, *, mined: bool = True) -> None:
    """Another process with the same key uses ``nonce`` for something the journal never saw.

    ``mined``: wait for its receipt. Anvil's automine can answer the send a moment before the
    block is in: a ``latest`` nonce read right after could still be ``nonce`` (seen once, under
    load, as a reconcile that rebroadcast instead of dropping).
    """
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
    tx_hash = r.w3.eth.send_raw_transaction(other.raw_transaction)
    if mined:
        r.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


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
    # In its own block first: anvil's automine can answer the send a moment before that block is
    # in, and the test's evm_mine below then mined it instead, a confirmation short at the end.
    r.w3.eth.wait_for_transaction_receipt(rec.tx_hash, timeout=30)  # type: ignore[arg-type]
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
    assert s.poll_nonce(first.nonce) is None  # K blocks passed: due, not replaced yet ...
    assert s.poll_nonce(first.nonce) is None  # ... nor at the same head again ...
    assert len(s.journal.versions(s.address, first.nonce)) == 1
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
    r.rpc("evm_mine")
    assert s.poll_nonce(first.nonce) is None  # ... but by a poll at a later head: replaced now
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
    assert s.poll_nonce(first.nonce) is None  # due; a later head confirms it
    for _ in range(2):  # ... and then every poll at a later head says so
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
    sent = r.w3.eth.send_raw_transaction(signed.raw_tx)  # sent and mined, but the row says signed
    # Mined before the restart: anvil's automine can answer the send a moment before its block
    # is in, and a reconcile reading the chain in that moment rebroadcast it instead.
    r.w3.eth.wait_for_transaction_receipt(sent, timeout=30)
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


def test_reorg_marks_the_batch_and_keeps_its_nonce_in_flight(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], 0)
    outcome = s.send_and_wait(intent, r.token.address, r.mint_data(4), 120_000)
    assert s.check_reorgs() == []
    r.rpc("anvil_rollback", 1)  # the block with our transaction is gone (and anvil's pool too)
    assert r.minted() == 0
    reorged = s.check_reorgs()
    assert reorged == [intent]
    assert s.journal.tx(outcome.tx_hash).status == "reorged"
    assert s.journal.intent(intent).status == "reorged"
    # Its nonce is in flight again (a node may hold the transaction again): nothing new is sent
    # at another nonce meanwhile; the settle step waits on it like on any pending one.
    assert s.has_pending()
    # Re-simulated (no checker here: valid), the identical bytes go out again at their nonce.
    again = s.wait(outcome.nonce)
    assert (again.tx_hash, again.status) == (outcome.tx_hash, "mined")
    assert s.journal.intent(intent).status == "mined"
    assert r.minted() == 4
    assert r.nonce() == outcome.nonce + 1
    assert not s.has_pending()


@pytest.mark.parametrize("node_reinjects", [False, True], ids=["dropped", "back-in-the-pool"])
def test_a_reorged_batch_is_mined_once(rig: Rig, node_reinjects: bool) -> None:
    # geth puts a reorganized block's transactions back in its pool; anvil drops them. Either
    # way the reorged transaction is mined exactly once, and nothing else takes its nonce.
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], 0)
    outcome = s.send_and_wait(intent, r.token.address, r.mint_data(4), 120_000)
    r.rpc("anvil_rollback", 1)
    if node_reinjects:  # what geth does (automine mines it at once, in a new block)
        r.w3.eth.send_raw_transaction(HexBytes(s.journal.tx(outcome.tx_hash).raw_tx))
    assert s.check_reorgs() == [intent]
    done = s.resume()
    assert [(d.tx_hash, d.status) for d in done] == [(outcome.tx_hash, "mined")]
    assert r.minted() == 4
    assert r.nonce() == outcome.nonce + 1


def test_a_reorged_batch_that_no_longer_simulates_is_cancelled(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], 0)
    outcome = s.send_and_wait(intent, r.token.address, r.mint_data(4), 120_000)
    r.rpc("anvil_rollback", 1)
    stale = r.sender(still_valid=lambda to, data: False)
    assert stale.check_reorgs() == [intent]
    (done,) = stale.resume()
    assert done.cancelled
    assert done.nonce == outcome.nonce
    assert r.minted() == 0
    assert stale.journal.intent(intent).status == "abandoned"
    assert r.nonce() == outcome.nonce + 1


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
    # Automine: mined by the time the send answered, or (a loaded machine: the first try timed
    # out and the identical resend was "already known") a moment later.
    deadline = time.monotonic() + 10
    while r.nonce() != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.nonce() == 1
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


def manual_mining_sender(r: Rig) -> tuple[Sender, int]:
    """A sender replacing after 3 blocks, automine off, a few blocks in; and the head."""
    s = r.sender(replace_after_blocks=3)
    r.rpc("evm_setAutomine", False)
    for _ in range(5):
        r.rpc("evm_mine")
    return s, r.w3.eth.block_number


def assert_mined_unreplaced(r: Rig, s: Sender, nonce: int, *, mine: bool) -> None:
    """No replacement was signed at ``nonce``, and its one version is mined (after a block)."""
    assert len(s.journal.versions(s.address, nonce)) == 1
    if mine:
        r.rpc("evm_mine")
    outcome = s.wait(nonce, timeout_s=5)
    assert outcome.status == "mined"
    assert outcome.replacements == 0


def test_one_stale_answer_does_not_replace_a_mined_transaction(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replacement is judged on two polls at different heads, not on one poll's reads.

    A node that answers as of a few blocks back (a replayed or lagging answer from the endpoint
    whose head the keeper trusts) shows a mined transaction as neither receipted nor using its
    nonce: one such poll signed a replacement for a mined transaction, a `stuck_tx` alert and a
    signed row for nothing (refused on broadcast, never mined twice).
    """
    r = rig
    s = r.sender(replace_after_blocks=2)
    record = s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(5), 120_000)
    for _ in range(3):
        r.rpc("evm_mine")  # mined (automine), and past replace_after_blocks since the send
    real_receipt, real_nonce = s._receipt, s.chain_nonce
    stale = {"receipt": 1, "nonce": 1}

    def receipt(tx_hash: str) -> Any:
        if stale["receipt"] > 0:
            stale["receipt"] -= 1
            return None
        return real_receipt(tx_hash)

    def nonce(block: str = "latest") -> int:
        if stale["nonce"] > 0:
            stale["nonce"] -= 1
            return 0  # the account as of before the send
        return real_nonce(block)

    monkeypatch.setattr(s, "_receipt", receipt)
    monkeypatch.setattr(s, "chain_nonce", nonce)
    assert s.poll_nonce(record.nonce) is None
    assert stale == {"receipt": 0, "nonce": 0}  # both stale answers were served
    assert_mined_unreplaced(r, s, record.nonce, mine=False)


def test_the_replacement_clock_starts_no_earlier_than_the_block_the_plan_was_read_at(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sent_block`` read from a node behind started the clock blocks too early.

    The harsh chaos run: a batch decided at block 104 was journaled as sent at 101 (the head
    read after the broadcast came from the failover node, 3 blocks behind), so the next poll,
    at 104 on the primary, found it "3 blocks old" and signed a replacement while the original
    waited for its first block (mined at 105; the replacement was refused as nonce too low).
    """
    r = rig
    s, head = manual_mining_sender(r)
    real_head = s._head
    lagging = {"left": 1}

    def head_read() -> int:
        if lagging["left"] > 0:
            lagging["left"] -= 1
            return real_head() - 3  # a node 3 blocks behind answers the sent_block read
        return real_head()

    monkeypatch.setattr(s, "_head", head_read)
    record = s.submit_new([], head, r.token.address, r.mint_data(5), 120_000)
    assert lagging["left"] == 0
    assert record.sent_block == head  # the block the plan was read at, not the lagging answer
    assert s.poll_nonce(record.nonce) is None
    assert_mined_unreplaced(r, s, record.nonce, mine=True)


def test_the_replacement_clock_starts_at_the_best_head_the_connection_heard(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan itself read at a lagging head: the harsh chaos run after the fix above.

    With the primary cooling down, the cycle's head, the lens and the ``sent_block`` read all
    came from the failover node 3 blocks behind; the next poll's head came from the primary.
    Each batch was mined 4 blocks after its ``sent_block``, one block too late to escape a
    replacement (3 of them in seed 7's run). The connection knows the best head any endpoint
    answered in the last seconds: the clock starts there.
    """
    r = rig
    s, head = manual_mining_sender(r)
    real_head = s._head
    monkeypatch.setattr(s, "_head", lambda: real_head() - 3)  # every head read of ours lags
    monkeypatch.setattr("keeper.execution.sender.best_head", lambda w3: real_head())
    record = s.submit_new([], head - 3, r.token.address, r.mint_data(5), 120_000)
    assert record.sent_block == head
    monkeypatch.setattr(s, "_head", real_head)  # the next poll reads the primary
    assert s.poll_nonce(record.nonce) is None
    assert_mined_unreplaced(r, s, record.nonce, mine=True)


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


# -- the send path, pinned (each of these fails if its one line is reverted) -------------------
def test_the_signed_row_exists_before_the_broadcast(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rig
    s = r.sender()
    seen: list[str] = []
    real = r.w3.eth.send_raw_transaction

    def spy(raw: Any) -> Any:
        journaled = [t for t in s.journal.pending(s.address) if t.raw_tx == "0x" + bytes(raw).hex()]
        seen.append(journaled[0].status if journaled else "not journaled")
        return real(raw)

    monkeypatch.setattr(r.w3.eth, "send_raw_transaction", spy)
    s.submit_new([r.token.address], 0, r.token.address, r.mint_data(1), 120_000)
    s.submit(s.journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000)
    assert seen == ["signed", "signed"]


def test_a_failed_journal_write_broadcasts_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rig
    s = r.sender()

    def broken(**kw: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(s.journal, "record_signed", broken)
    with pytest.raises(OSError, match="disk full"):
        s.submit_new([r.token.address], 0, r.token.address, r.mint_data(1), 120_000)
    assert r.w3.eth.get_transaction_count(r.keeper.address, "pending") == 0
    assert r.minted() == 0


def test_nonce_comes_from_the_pending_pool_not_the_latest_block(rig: Rig) -> None:
    """A transaction the journal does not know sits in the pool (automine off)."""
    r = rig
    r.rpc("evm_setAutomine", False)
    spend_nonce_elsewhere(r, 0, mined=False)  # in the pool at nonce 0, unknown to the journal
    assert r.nonce() == 0
    s = r.sender()
    record = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(3), 120_000)
    assert record.nonce == 1
    r.rpc("evm_mine")
    assert s.wait(record.nonce, timeout_s=5).status == "mined"
    assert r.minted() == 3
    assert r.nonce() == 2


def test_the_journal_nonce_is_followed_by_the_next_one(rig: Rig) -> None:
    """A journaled ``sent`` row the pool no longer holds: its nonce is still taken."""
    r = rig
    r.rpc("evm_setAutomine", False)
    s = r.sender()
    first = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(1), 120_000)
    assert first.status == "sent"
    r.rpc("anvil_dropTransaction", first.tx_hash)
    assert r.w3.eth.get_transaction_count(r.keeper.address, "pending") == 0
    second = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(2), 120_000)
    assert second.nonce == first.nonce + 1


# -- faults ------------------------------------------------------------------------------------
def test_a_broadcast_with_an_unknown_outcome_is_settled_by_receipt_and_never_mined_twice(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    r = rig
    s = r.sender()
    real = r.w3.eth.send_raw_transaction
    calls: list[int] = []

    def reaches_the_node_then_the_connection_drops(raw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            # Mined before the fault: anvil's automine can answer the send a moment before its
            # block is in, and the resend 0.1 s later was then "already known" (marked sent).
            r.w3.eth.wait_for_transaction_receipt(real(raw), timeout=30)
            raise requests.exceptions.ChunkedEncodingError("connection closed mid-response")
        return real(raw)

    drops = reaches_the_node_then_the_connection_drops
    monkeypatch.setattr(r.w3.eth, "send_raw_transaction", drops)
    record = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(4), 120_000)
    # The fault came fast, so the identical bytes went out once more at once; anvil had mined
    # the first (automine) and refused them as nonce too low: the row still says what may be in
    # flight, and its receipt settles it.
    assert len(calls) == 2
    assert record.status == "signed"
    outcome = s.wait(record.nonce, timeout_s=5)
    assert outcome.status == "mined"
    assert outcome.tx_hash == record.tx_hash
    assert r.minted() == 4
    assert len(calls) == 2  # nothing sent after that


def test_fee_spike_above_the_cap_waits_then_is_mined_when_it_falls(rig: Rig) -> None:
    r = rig
    gwei = 10**9
    caps = FeeCaps(Wei(50 * gwei), Wei(gwei))
    s = Sender(r.w3, r.keeper, Journal(r.journal_path), caps, replace_after_blocks=1, poll_s=0.02)
    r.rpc("evm_setAutomine", False)
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(80 * gwei))
    r.rpc("evm_mine")
    # A new batch is not even journaled while the base fee is above the cap.
    with pytest.raises(FeeCapError) as info:
        s.submit_new([r.token.address], 0, r.token.address, r.mint_data(1), 120_000)
    assert (info.value.base_fee, info.value.cap) == (80 * gwei, 50 * gwei)
    assert s.journal.intents() == []
    # A batch journaled before the spike (crash before its send) is refused by the node as
    # underpriced on restart: it waits in the journal. Past its replacement clock (found due by
    # one poll, confirmed by the next at a later head) it is replaced at the most the cap allows
    # (still refused: it waits), and past that one's clock no bump fits under the cap: the poll
    # says so (FeeCapError, the settle step's "waits for the base fee"), and every poll after
    # it. Nothing is mined meanwhile.
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(gwei))
    r.rpc("evm_mine")
    signed = s.prepare(s.journal.open_intent([], 0), r.token.address, r.mint_data(6), 120_000)
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(80 * gwei))
    r.rpc("evm_mine")
    restarted = Sender(
        r.w3, r.keeper, Journal(r.journal_path), caps, replace_after_blocks=1, poll_s=0.02
    )
    restarted.reconcile()
    polls: list[str] = []
    for _ in range(5):
        r.rpc("anvil_setNextBlockBaseFeePerGas", hex(80 * gwei))
        r.rpc("evm_mine")
        try:
            polls.append(repr(restarted.poll_nonce(signed.nonce)))
        except FeeCapError:
            polls.append("FeeCapError")
    assert polls == ["None", "None", "None", "FeeCapError", "FeeCapError"]
    assert r.minted() == 0
    versions = restarted.journal.versions(restarted.address, signed.nonce)
    assert [v.max_fee for v in versions] == [signed.max_fee, caps.max_fee_per_gas]
    # The spike ends: mined within 3 blocks.
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(gwei))
    outcome, blocks = None, 0
    while outcome is None and blocks < 3:
        r.rpc("evm_mine")
        blocks += 1
        outcome = restarted.poll_nonce(signed.nonce)
    assert outcome is not None
    assert outcome.status == "mined"
    assert r.minted() == 6
    assert r.nonce() == 1


def test_a_stale_plan_is_cancelled_at_its_nonce_on_restart(rig: Rig) -> None:
    r = rig
    s = r.sender()
    intent = s.journal.open_intent([r.token.address], 0)
    signed = s.prepare(intent, r.token.address, r.mint_data(3), 120_000)  # ... and the process dies
    checked: list[tuple[str, bytes]] = []

    def no_longer_needed(to: str, data: bytes) -> bool:
        checked.append((to, data))
        return False

    restarted = r.sender(still_valid=no_longer_needed)
    report = restarted.reconcile()
    assert report.cancelled == 1
    assert report.rebroadcast == 0
    assert checked == [(r.token.address, r.mint_data(3))]  # re-simulated before rebroadcasting
    outcome = restarted.wait(signed.nonce, timeout_s=10)
    assert outcome.cancelled
    assert outcome.tx_hash != signed.tx_hash
    assert r.minted() == 0  # the stale call never ran
    assert r.nonce() == 1  # and the nonce is used: no gap
    assert restarted.journal.intent(intent).status == "abandoned"
    assert restarted.journal.tx(signed.tx_hash).status == "replaced"


def test_a_stuck_stale_plan_is_replaced_by_a_cancel(rig: Rig) -> None:
    r = rig
    valid = {"now": True}
    s = r.sender(replace_after_blocks=1, still_valid=lambda to, data: valid["now"])
    r.rpc("evm_setAutomine", False)
    first = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(5), 120_000)
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
    r.rpc("evm_mine")
    valid["now"] = False  # the need passed while it was stuck
    assert s.poll_nonce(first.nonce) is None  # due
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
    r.rpc("evm_mine")
    assert s.poll_nonce(first.nonce) is None  # confirmed at a later head: cancelled
    versions = s.journal.versions(s.address, first.nonce)
    assert len(versions) == 2
    r.rpc("evm_mine")
    outcome = s.wait(first.nonce, timeout_s=5)
    assert outcome.cancelled
    assert r.minted() == 0


def test_only_transactions_not_yet_final_are_rechecked_for_reorgs(rig: Rig) -> None:
    from keeper.chain.connection import rpc_counter

    r = rig
    s = r.sender(finality_depth=3)
    for amount in (1, 2):
        s.submit_new([r.token.address], 0, r.token.address, r.mint_data(amount), 120_000)
        s.wait(amount - 1, timeout_s=5)
    counter = rpc_counter(r.w3)

    def calls_of(fn: Any) -> dict[str, int]:
        before = dict(counter.by_method or {})
        fn()
        after = counter.by_method or {}
        return {m: n - before.get(m, 0) for m, n in after.items() if n - before.get(m, 0)}

    # Two recent batches: one header read proves both still canonical (no receipts).
    assert calls_of(lambda: s.check_reorgs()) == {"eth_blockNumber": 1, "eth_getBlockByNumber": 1}
    for _ in range(4):
        r.rpc("evm_mine")
    # Deep enough now, but the last check saw them shallow: one more header read, at a head
    # where they are final (a reorg in between, during failing cycles, is still found) ...
    assert calls_of(lambda: s.check_reorgs()) == {"eth_blockNumber": 1, "eth_getBlockByNumber": 1}
    # ... then final: nothing is read but the head.
    assert calls_of(lambda: s.check_reorgs()) == {"eth_blockNumber": 1}
    head = r.w3.eth.block_number
    assert calls_of(lambda: s.check_reorgs(head=head)) == {}


def test_a_transaction_reverted_at_mining_replays_to_its_decoded_error(rig: Rig) -> None:
    """What ``why_reverted`` reads for an alert: the journaled signed bytes decode to the call as
    sent, and its replay at the mining block answers the token's own error."""
    r = rig
    s = r.sender()
    data = r.token.functions.transfer(r.token.address, 5)._encode_transaction_data()
    call = bytes.fromhex(data[2:])
    rec = s.submit_new([r.token.address], 0, r.token.address, call, 120_000)  # no estimate
    outcome = s.wait(rec.nonce, timeout_s=10)
    assert outcome.status == "reverted"
    assert outcome.block_number is not None
    tx = decode_signed(s.journal.tx(outcome.tx_hash).raw_tx)
    assert (tx["to"], tx["data"], tx["value"], tx["gas"]) == (r.token.address, call, 0, 120_000)
    decoder = ErrorDecoder([load_artifact("MintableERC20").abi])
    why, revert = replay_revert(r.w3, s.address, tx, outcome.block_number, decoder.decode)
    assert why == (
        f"ERC20InsufficientBalance(sender={r.keeper.address.lower()}, balance=0, needed=5) "
        f"(replayed at block {outcome.block_number})"
    )
    assert revert[:4] == bytes.fromhex("e450d38c")


def test_a_transaction_out_of_gas_at_mining_replays_to_its_gas_limit(rig: Rig) -> None:
    """helper-109: the replay ran at the transaction's own gas limit, and a node answers an
    ``eth_call`` out of gas with an RPC error (anvil: -32603 "EVM error OutOfGas"), not a
    revert: the alert said "its replay failed: RpcUnavailableError", pointing at the node. The
    replay runs with the node's cap: it does not revert, and the reason names the limit."""
    r = rig
    s = r.sender()
    rec = s.submit_new([r.token.address], 0, r.token.address, r.mint_data(5), 30_000)
    outcome = s.wait(rec.nonce, timeout_s=10)
    assert outcome.status == "reverted"
    assert outcome.block_number is not None
    tx = decode_signed(s.journal.tx(outcome.tx_hash).raw_tx)
    decoder = ErrorDecoder([load_artifact("MintableERC20").abi])
    provider: Any = r.w3.provider
    failed = [h.failed for h in provider.health]
    why, revert = replay_revert(r.w3, s.address, tx, outcome.block_number, decoder.decode)
    assert why == (
        f"reason unknown (its replay at block {outcome.block_number} does not revert with ample "
        "gas: out of gas at its limit of 30000, or the state changed later in that block)"
    )
    assert revert == b""
    # The second replay, at its limit, ran out of gas: the node's answer, not a node failing
    # (helper-116: retried on every endpoint, it scored healthy endpoints as failing).
    assert [h.failed for h in provider.health] == failed
