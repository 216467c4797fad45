"""A transaction of the keeper's that reverted at mining is alerted with why it reverted.

A receipt says only ``status: 0``. A queue fill that reverted under the chaos suite's ``harsh``
section (seed 61) raised a ``redemption_queue`` alert that said "transaction 0x… reverted" and no
more, as did a reverted batch's ``failed_batch`` alert and a reverted settlement's: the operator
had to find the block and replay the call by hand. The keeper now replays the journaled signed
call at the block that mined it and names the decoded error, or why it could not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from eth_abi.abi import encode as abi_encode
from web3.exceptions import ContractLogicError

from keeper.app.act import account_outcome
from keeper.app.collaborators import Keeper
from keeper.app.settle import book_resumed, settle_expired
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import SendOutcome
from keeper.units import Wei
from tests.unit.test_app_cycle import make_keeper, snap
from tests.unit.test_app_settle import (
    FILL,
    NOW,
    VAULT,
    FakeQueue,
    FakeVault,
    SettleSender,
    _Call,
    _Functions,
    settle_keeper,
    settle_then_fill,
)
from tests.unit.test_fees_paid import signed

#: ``Error(string)``: decoded by any decoder.
ERROR_STRING = bytes.fromhex("08c379a0")
PAUSED = ERROR_STRING + abi_encode(["string"], ["queue paused"])


@dataclass
class Replays:
    """``eth_call`` as the replay sees it: the revert data it answers, or a failure it raises."""

    data: bytes = PAUSED
    fails: BaseException | None = None
    calls: list[tuple[dict[str, Any], Any]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], block_identifier: Any = "latest") -> bytes:
        self.calls.append((params, block_identifier))
        if self.fails is not None:
            raise self.fails
        raise ContractLogicError("execution reverted", data="0x" + self.data.hex())


@dataclass
class SignedSender(SettleSender):
    """Journals real signed bytes (the replay decodes them); a call whose selector is in
    ``reverts`` is mined reverted at block 101."""

    reverts: tuple[bytes, ...] = ()

    def raw(self, to: str, data: bytes) -> str:
        return signed(to, data)

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        if self.sent[nonce][1][:4] not in self.reverts:
            return super().wait(nonce, timeout_s)
        tx_hash = f"0x{nonce + 1:064x}"
        self.journal.mark(tx_hash, TxStatus.REVERTED)
        return SendOutcome(nonce, tx_hash, TxStatus.REVERTED, 101, 40_000, Wei(7), 0)


def queue_keeper(
    monkeypatch: pytest.MonkeyPatch, sender: SettleSender, replays: Replays
) -> tuple[Keeper, FakeQueue]:
    """One vault with an expired series and a queue its settlement serves."""
    queue, vault = FakeQueue(), FakeVault()
    vault.add_expired(3)
    monkeypatch.setattr(_Functions, "redemptionQueue", lambda self: _Call(lambda: queue.address))
    k = settle_keeper(monkeypatch, vault, sender)
    eth: Any = k.w3.eth
    eth.others[queue.address] = queue
    eth.call = replays
    return k, queue


def queue_alerts(k: Keeper) -> list[str]:
    return [a["message"] for a in k.alerter.sent if a["kind"] == "redemption_queue"]


def test_a_fill_reverted_at_mining_is_alerted_with_the_replayed_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender, replays = SignedSender(reverts=(FILL,)), Replays()
    k, queue = queue_keeper(monkeypatch, sender, replays)
    settle_then_fill(k, [VAULT], 100, NOW)
    [message] = queue_alerts(k)
    assert message.endswith(
        f"transaction 0x{2:064x} reverted: Error('queue paused') (replayed at block 101)"
    )
    # the journaled call itself, as it was sent, at the block that mined it
    [(params, at)] = replays.calls
    assert at == 101
    assert params["from"] == sender.address
    assert params["to"].lower() == queue.address.lower()
    assert (params["data"], params["value"]) == (FILL, 0)
    assert "gas" not in params  # the node's cap: an eth_call out of gas is an RPC error
    assert k.metrics.value("keeper_gas_spent_wei_total") >= 40_000 * 7  # its fees still booked


def test_a_replay_that_cannot_be_read_says_so_and_the_fill_is_still_booked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = SignedSender(reverts=(FILL,))
    replays = Replays(fails=requests.ConnectionError("connection reset"))
    k, _ = queue_keeper(monkeypatch, sender, replays)
    settle_then_fill(k, [VAULT], 100, NOW)
    [message] = queue_alerts(k)
    assert message.endswith("reverted: reason unknown (its replay failed: ConnectionError)")
    assert k.metrics.value("keeper_gas_spent_wei_total") >= 40_000 * 7


def _replays_by_gas(at_limit: BaseException | None) -> Any:
    """An ``eth_call`` that does not revert with the node's gas cap, and at the transaction's
    own limit raises ``at_limit`` (None: does not revert either)."""
    seen: list[dict[str, Any]] = []

    def call(params: dict[str, Any], block_identifier: Any = "latest") -> bytes:
        seen.append(dict(params))
        if "gas" in params and at_limit is not None:
            raise at_limit
        return b""

    call.seen = seen  # type: ignore[attr-defined]
    return call


def test_a_replay_that_does_not_revert_says_what_that_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from web3.exceptions import Web3RPCError

    sender, replays = SignedSender(reverts=(FILL,)), Replays()
    k, _ = queue_keeper(monkeypatch, sender, replays)
    k.w3.eth.call = _replays_by_gas(Web3RPCError("EVM error OutOfGas"))  # type: ignore[attr-defined]
    settle_then_fill(k, [VAULT], 100, NOW)
    [message] = queue_alerts(k)
    assert message.endswith(
        "reason unknown (its replay at block 101 does not revert with ample gas: out of gas at "
        "its limit of 300000, or the state changed later in that block)"
    )
    assert [p.get("gas") for p in k.w3.eth.call.seen] == [None, 300_000]  # type: ignore[attr-defined]


def test_a_replay_that_reverts_only_at_the_transactions_limit_names_that_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batcher refuses a queue it cannot give its full gas (RebalanceBatcherInsufficientGas):
    chaos ``harsh`` (seed 61) had a fill batch revert so, alerted as "reason unknown"."""
    from web3.exceptions import ContractLogicError

    sender, replays = SignedSender(reverts=(FILL,)), Replays()
    k, _ = queue_keeper(monkeypatch, sender, replays)
    refusal = ContractLogicError("execution reverted", data="0x" + b"\x01\x02\x03\x04".hex())
    k.w3.eth.call = _replays_by_gas(refusal)  # type: ignore[attr-defined]
    settle_then_fill(k, [VAULT], 100, NOW)
    [message] = queue_alerts(k)
    assert "unknown error 0x01020304" in message
    assert message.endswith("at its gas limit of 300000 (replayed at block 101)")


def test_a_replay_that_reverts_at_no_gas_limit_says_the_state_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender, replays = SignedSender(reverts=(FILL,)), Replays()
    k, _ = queue_keeper(monkeypatch, sender, replays)
    k.w3.eth.call = _replays_by_gas(None)  # type: ignore[attr-defined]
    settle_then_fill(k, [VAULT], 100, NOW)
    [message] = queue_alerts(k)
    assert message.endswith(
        "reason unknown (its replay at block 101 does not revert, at its gas limit of 300000 or "
        "with more: the state changed later in that block)"
    )


def test_a_resumed_fill_that_reverted_is_alerted_with_the_replayed_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sent by an earlier cycle, found reverted by this one's settle step."""
    sender, replays = SignedSender(), Replays()
    k, queue = queue_keeper(monkeypatch, sender, replays)
    record = sender.submit_new([VAULT], 100, queue.address, FILL, 300_000)
    sender.journal.mark(record.tx_hash, TxStatus.REVERTED)
    outcome = SendOutcome(0, record.tx_hash, TxStatus.REVERTED, 104, 40_000, Wei(7), 0)
    assert book_resumed(k, outcome, queue.address, FILL, [VAULT]) == ()
    [message] = queue_alerts(k)
    assert message.endswith(
        f"transaction {record.tx_hash} ended reverted: Error('queue paused') "
        "(replayed at block 104)"
    )


def test_a_settlement_reverted_with_the_series_unsettled_names_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault, sender, replays = FakeVault(), SignedSender(), Replays()
    sender.status = "reverted"
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    k.w3.eth.call = replays  # type: ignore[attr-defined]
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "failed"
    assert s.reason.endswith("reverted: Error('queue paused') (replayed at block 101)")
    [alert] = [a["message"] for a in k.alerter.sent if a["kind"] == "settlement"]
    assert "Error('queue paused')" in alert


def test_a_batch_reverted_at_mining_is_alerted_with_the_replayed_reason() -> None:
    batcher = "0x" + "ba" * 20
    sender = SignedSender(journal=Journal(":memory:"))
    k = make_keeper([snap(0, 0)], sender=sender, batcher=batcher)
    replays = Replays()
    k.w3.eth.call = replays  # type: ignore[attr-defined]
    record = sender.submit_new([VAULT], 100, batcher, b"\xaa\xbb\xcc\xdd", 500_000)
    outcome = SendOutcome(0, record.tx_hash, TxStatus.REVERTED, 102, 90_000, Wei(7), 0)
    account_outcome(k, outcome, 1)
    [alert] = [a["message"] for a in k.alerter.sent if a["kind"] == "failed_batch"]
    assert alert == (
        f"batch {record.tx_hash} ended reverted: Error('queue paused') (replayed at block 102)"
    )
    assert replays.calls[0][0]["data"] == b"\xaa\xbb\xcc\xdd"


def test_an_outcome_the_journal_holds_no_signed_bytes_for_is_still_alerted() -> None:
    """A stand-in's journal row (or any row whose bytes do not decode) is no reason to fail the
    booking: the alert says the reason is unknown."""
    batcher = "0x" + "ba" * 20
    sender = SettleSender()  # journals "0x02", not a signed transaction
    k = make_keeper([snap(0, 0)], sender=sender, batcher=batcher)
    record = sender.submit_new([VAULT], 100, batcher, b"\xaa\xbb\xcc\xdd", 500_000)
    outcome = SendOutcome(0, record.tx_hash, TxStatus.REVERTED, 102, 90_000, Wei(7), 0)
    account_outcome(k, outcome, 1)
    [alert] = [a["message"] for a in k.alerter.sent if a["kind"] == "failed_batch"]
    assert alert.startswith(f"batch {record.tx_hash} ended reverted: reason unknown (")
