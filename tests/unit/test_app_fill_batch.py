"""Several redemption queues filled in one ``fillBatch`` transaction, with stand-in contracts.

A common expiry frees the collateral of many vaults at once; each vault with requests waiting
gets its queue filled after the settlements. One ``fill()`` a transaction, each waiting for its
receipt, held every hedge one block a queue, as settlements did before ``settleBatch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from web3.exceptions import ContractLogicError

from keeper.app.collaborators import Keeper
from keeper.app.settle import QUEUE_FILL_FAILED_TOPIC, book_refused, book_resumed
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome
from keeper.execution.simulate import FILL_BATCH_SELECTOR, SETTLE_BATCH_SELECTOR, shared_codec
from keeper.units import Wei
from tests.unit.test_app_settle import FILL, NOW, VAULT, FakeQueue, _Call, settle_then_fill
from tests.unit.test_app_settle_batch import (
    BATCHER,
    OTHER,
    UNAUTHORIZED,
    BatchSender,
    FakeBatcher,
    NoReceiptSender,
    batch_data,
    batch_keeper,
    two_vaults,
)

Q1 = "0x" + "91" * 20
Q2 = "0x" + "92" * 20
BROKEN = bytes.fromhex("deadbeef")


def fill_data(queues: list[str]) -> bytes:
    return FILL_BATCH_SELECTOR + abi_encode(["address[]"], [queues])


def queues_of(data: bytes) -> list[str]:
    (queues,) = abi_decode(["address[]"], data[4:])
    return [q.lower() for q in queues]


class _FillCall:
    def __init__(self, batcher: FillBatcher, queues: list[str]) -> None:
        self.b, self.queues = batcher, [q.lower() for q in queues]

    def call(self, tx: dict[str, Any] | None = None) -> Any:
        if self.b.refuse_fill:
            raise ContractLogicError("execution reverted", data="0x" + UNAUTHORIZED.hex())
        self.b.fill_simulated.append(self.queues)
        return [
            (q, False, 0, 0, BROKEN) if q in self.b.fails else (q, True, 5, 5, b"")
            for q in self.queues
        ]

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        return 300_000

    def _encode_transaction_data(self) -> str:
        return "0x" + fill_data(self.queues).hex()


@dataclass
class FillBatcher(FakeBatcher):
    """The batcher's ``fillBatch`` too: a queue in ``fails`` fails inside it."""

    fails: set[str] = field(default_factory=set)
    refuse_fill: bool = False
    fill_simulated: list[list[str]] = field(default_factory=list)

    def fillBatch(self, queues: list[str]) -> _FillCall:  # noqa: N802
        return _FillCall(self, queues)


@dataclass
class FillSender(BatchSender):
    """Mines a ``fillBatch``: a queue in ``fails_at_mining`` is named by ``QueueFillFailed``."""

    fails_at_mining: set[str] = field(default_factory=set)

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        _to, data = self.sent[nonce]
        if data[:4] != FILL_BATCH_SELECTOR:
            return super().wait(nonce, timeout_s)
        logs = [
            {
                "address": BATCHER,
                "topics": [QUEUE_FILL_FAILED_TOPIC, bytes(12) + bytes.fromhex(q[2:])],
                "data": abi_encode(["bytes"], [BROKEN]),
            }
            for q in queues_of(data)
            if q in self.fails_at_mining
        ]
        tx_hash = f"0x{nonce + 1:064x}"
        self.journal.mark(tx_hash, TxStatus.MINED)
        return SendOutcome(
            nonce, tx_hash, TxStatus.MINED, 101, 80_000, Wei(7), 0, receipt={"logs": logs}
        )


def with_queues(
    monkeypatch: pytest.MonkeyPatch, sender: Any, **batcher: Any
) -> tuple[Keeper, FillBatcher]:
    """Two vaults with expired series, each with a queue whose requests the settlement serves."""
    vaults = two_vaults()
    k, plain = batch_keeper(monkeypatch, vaults, sender)
    fill_batcher = FillBatcher(plain.vaults, **batcher)
    eth: Any = k.w3.eth
    eth.others[BATCHER] = fill_batcher
    for vault, address in zip(vaults, (Q1, Q2), strict=True):
        queue = FakeQueue()
        queue.address = address
        eth.others[address] = queue
        vault.functions.redemptionQueue = lambda a=address: _Call(lambda: a)  # type: ignore[method-assign]
    return k, fill_batcher


def alerted(k: Keeper) -> list[str]:
    return [a["message"] for a in k.alerter.sent if a["kind"] == "redemption_queue"]


def test_queues_freed_by_one_expiry_are_filled_in_one_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = FillSender()
    k, batcher = with_queues(monkeypatch, sender)
    step, pending = settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [
        (BATCHER, batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])),
        (BATCHER, fill_data([Q1, Q2])),
    ]
    assert batcher.fill_simulated == [[Q1, Q2]]
    assert step.pending is None
    assert pending is None
    assert alerted(k) == []
    # one journal intent naming both vaults, in the queues' order
    [intent] = {sender.journal.tx(f"0x{2:064x}").intent_id}
    assert [v.lower() for v in sender.journal.intent(intent).vaults] == [VAULT, OTHER]
    # Its gas limit: the estimate (300,000) x1.3, plus the batcher's vaultGasLimit (2,000,000),
    # which it requires left before each queue: a first queue with more to fill at mining than
    # at the estimate once starved the second (chaos harsh, seed 61).
    assert sender.journal.tx(f"0x{2:064x}").gas == 390_000 + 2_000_000


def test_a_batchs_gas_reserve_stays_within_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    sender = FillSender()
    k, _ = with_queues(monkeypatch, sender)
    k.w3.eth.block_gas_limit = 1_000_000  # type: ignore[attr-defined]
    shared_codec()._limits = None  # read the limits afresh
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.journal.tx(f"0x{2:064x}").gas == 1_000_000
    shared_codec()._limits = None


def test_a_queue_that_would_fail_is_left_out_and_the_lone_survivor_fills_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = FillSender()
    k, _ = with_queues(monkeypatch, sender, fails={Q1})
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent[1:] == [(Q2, FILL)]
    [message] = alerted(k)
    assert VAULT in message
    assert "simulation reverted" in message


def test_a_queue_failing_inside_the_mined_batch_is_alerted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = FillSender(fails_at_mining={Q2})
    k, _ = with_queues(monkeypatch, sender)
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent[1] == (BATCHER, fill_data([Q1, Q2]))
    [message] = alerted(k)
    assert OTHER in message
    assert "failed in the batch" in message


def test_a_fill_batch_that_does_not_simulate_fills_one_queue_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batcher deployed before ``fillBatch``: the whole call reverts, and each queue is filled
    by its own ``fill()``, as before."""
    sender = FillSender()
    k, _ = with_queues(monkeypatch, sender, refuse_fill=True)
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent[1:] == [(Q1, FILL), (Q2, FILL)]
    assert alerted(k) == []


def test_a_fill_batch_without_a_receipt_holds_the_rest_of_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FillsWithoutReceipt(FillSender):
        def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
            if self.sent[nonce][1][:4] == FILL_BATCH_SELECTOR:
                return NoReceiptSender.wait(self, nonce, timeout_s)
            return super().wait(nonce, timeout_s)

    sender = FillsWithoutReceipt()
    k, _ = with_queues(monkeypatch, sender)
    step, pending = settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert [data[:4] for _, data in sender.sent] == [SETTLE_BATCH_SELECTOR, FILL_BATCH_SELECTOR]
    assert step.pending is None
    assert pending is not None
    assert "filling the redemption queues of 2 vaults pending" in pending
    assert alerted(k) == []  # a wait, not a failure


def test_a_dry_run_simulates_the_fill_batch_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k, batcher = with_queues(monkeypatch, None)
    k.simulate_from = "0x" + "5e" * 20  # KEEPER_SIMULATE_FROM, or the signer (`keeper check`)
    # nothing is settled in a dry run, so nothing frees a queue: hand the vaults over as freed
    settle_then_fill(k, [], 100, NOW, fill=(VAULT, OTHER))
    assert batcher.fill_simulated == [[Q1, Q2]]


def test_a_dry_run_with_no_one_to_simulate_as_simulates_each_fill_on_its_own(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no signer and no KEEPER_SIMULATE_FROM the batcher is not called (from address 0 it
    refuses): each queue's own fill() is simulated, and nothing is alerted."""
    k, batcher = with_queues(monkeypatch, None)
    with caplog.at_level("INFO", logger="keeper.app.settle"):
        settle_then_fill(k, [], 100, NOW, fill=(VAULT, OTHER))
    assert batcher.fill_simulated == []
    assert alerted(k) == []
    would = [r.getMessage() for r in caplog.records if "would fill" in r.getMessage()]
    assert [m.split(" of ")[-1].lower() for m in would] == [VAULT, OTHER]


def _resumed(status: TxStatus, receipt: Any = None) -> SendOutcome:
    return SendOutcome(4, "0x" + "77" * 32, status, 120, 80_000, Wei(7), 0, receipt=receipt)


def test_a_resumed_fill_batch_alerts_each_queue_it_did_not_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k, _ = with_queues(monkeypatch, None)
    data = fill_data([Q1, Q2])
    failed = {
        "address": BATCHER,
        "topics": [QUEUE_FILL_FAILED_TOPIC, bytes(12) + bytes.fromhex(Q2[2:])],
        "data": abi_encode(["bytes"], [BROKEN]),
    }
    mined = _resumed(TxStatus.MINED, {"logs": [failed]})
    assert book_resumed(k, mined, BATCHER, data, [VAULT, OTHER]) == ()
    [message] = alerted(k)
    assert OTHER in message
    assert k.metrics.value("keeper_gas_spent_wei_total") == 80_000 * 7


@pytest.mark.parametrize("how", ["dropped", "refused"])
def test_a_fill_batch_that_did_not_get_mined_alerts_each_queue(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Dropped, or refused by the node for good: neither queue was filled; booked as fills (a
    ``redemption_queue`` alert each), not as a failed rebalance."""
    k, _ = with_queues(monkeypatch, None)
    data = fill_data([Q1, Q2])
    if how == "dropped":
        assert book_resumed(k, _resumed(TxStatus.DROPPED), BATCHER, data, [VAULT, OTHER]) == ()
    else:
        assert book_refused(k, BATCHER, data, [VAULT, OTHER], "refused", "0x" + "88" * 32)
    messages = alerted(k)
    assert len(messages) == 2
    assert VAULT in messages[0]
    assert OTHER in messages[1]
    assert [a["kind"] for a in k.alerter.sent] == ["redemption_queue"] * 2
