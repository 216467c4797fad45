"""A queue fill that did not go through is read again at its block before it is alerted.

A reverted settlement is read again at the block that mined it, and one someone else settled
first is booked ``settled_by_other`` without an alert (:mod:`keeper.app.settle`). A fill is
read the same way: when the queue had nothing left to fill at the block that mined (or
cancelled) the keeper's fill, someone else's fill, or a change of the queue in the same block,
took it first: logged, no ``redemption_queue`` alert. A queue with something still to fill there
is a real failure, and alerted as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from keeper.app.settle import book_resumed
from keeper.chain.retry import RpcUnavailableError
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome
from keeper.units import Wei
from tests.unit.test_app_fill_batch import (
    Q1,
    Q2,
    FillSender,
    alerted,
    fill_data,
    with_queues,
)
from tests.unit.test_app_settle import (
    FILL,
    NOW,
    VAULT,
    FakeVault,
    SettleSender,
    _Call,
    _Functions,
    settle_keeper,
    settle_then_fill,
)
from tests.unit.test_app_settle_batch import BATCHER, OTHER

MINED_AT = 101  # the block SettleSender and FillSender mine at


class _AtBlock:
    """A view call answered by block: ``answers[block]``, else ``answers["latest"]``."""

    def __init__(self, queue: RacedQueue, answers: dict[Any, int]) -> None:
        self.q, self.answers = queue, answers

    def call(self, block_identifier: Any = "latest") -> int:
        self.q.reads.append(block_identifier)
        if self.q.read_error is not None:
            raise self.q.read_error
        return self.answers.get(block_identifier, self.answers["latest"])


class RacedQueue:
    """A queue with requests before the send; at ``MINED_AT``, ``fillable_after`` and
    ``pending_after`` (someone else's fill in the same block took everything by default)."""

    def __init__(self, address: str, fillable_after: int = 0, pending_after: int = 0) -> None:
        self.address = address
        self.functions = self
        self.fillable_after, self.pending_after = fillable_after, pending_after
        self.reads: list[Any] = []
        self.read_error: Exception | None = None

    def fillable(self) -> _AtBlock:
        return _AtBlock(self, {"latest": 5 * 10**6, MINED_AT: self.fillable_after})

    def totalPending(self) -> _AtBlock:  # noqa: N802  # the contract's name
        return _AtBlock(self, {"latest": 9 * 10**6, MINED_AT: self.pending_after})

    def fill(self) -> _Call:
        return _Call(lambda: None, FILL, lambda: 60_000)


def _vault_balances(monkeypatch: pytest.MonkeyPatch, held: dict[Any, int]) -> None:
    """The vaults' ``balanceOf(queue)``: ``held[block]``, else ``held["latest"]``."""

    class Balance:
        def call(self, block_identifier: Any = "latest") -> int:
            return held.get(block_identifier, held["latest"])

    monkeypatch.setattr(_Functions, "balanceOf", lambda self, who: Balance(), raising=False)


def one_queue(
    monkeypatch: pytest.MonkeyPatch,
    queue: RacedQueue,
    held_after: int = 0,
    sender: SettleSender | None = None,
) -> tuple[Any, SettleSender | None]:
    """A vault due for a fill of ``queue``; every transaction the sender mines reverts."""
    vault = FakeVault()
    monkeypatch.setattr(_Functions, "redemptionQueue", lambda self: _Call(lambda: queue.address))
    _vault_balances(monkeypatch, {"latest": 9 * 10**6, MINED_AT: held_after})
    k = settle_keeper(monkeypatch, vault, sender)
    k.w3.eth.others[queue.address] = queue  # type: ignore[attr-defined]
    return k, sender


def test_a_fill_reverted_by_a_race_in_its_block_is_not_alerted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    queue = RacedQueue("0x" + "9e" * 20)
    k, sender = one_queue(monkeypatch, queue, sender=SettleSender(status="reverted"))
    assert sender is not None
    with caplog.at_level("INFO", logger="keeper.app.settle"):
        settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    assert sender.sent == [(queue.address, FILL)]
    assert alerted(k) == []
    assert MINED_AT in queue.reads  # read at the block that mined it, not at a later head
    assert any("someone else" in r.getMessage() for r in caplog.records)
    assert k.metrics.value("keeper_gas_spent_wei_total") == 30_000 * 7  # its fees still count


@pytest.mark.parametrize(("fillable_after", "held_after"), [(3 * 10**6, 0), (0, 10**6)])
def test_a_fill_reverted_with_work_left_in_the_queue_is_alerted(
    monkeypatch: pytest.MonkeyPatch, fillable_after: int, held_after: int
) -> None:
    """Requests the free quote still serves, or shares sent without a request (the fill
    discards them): a real failure."""
    queue = RacedQueue("0x" + "9e" * 20, fillable_after=fillable_after)
    k, _ = one_queue(
        monkeypatch, queue, held_after=held_after, sender=SettleSender(status="reverted")
    )
    settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    [message] = alerted(k)
    assert VAULT in message
    assert "reverted" in message


def test_a_fill_whose_queue_cannot_be_read_again_is_alerted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A queue that refuses the re-read (its own fault, not the node's) cannot be told raced."""
    from web3.exceptions import ContractLogicError

    queue = RacedQueue("0x" + "9e" * 20)
    k, _ = one_queue(monkeypatch, queue, sender=SettleSender(status="reverted"))
    real_fillable = queue.fillable

    def fillable_then_refuse() -> _AtBlock:
        if queue.reads:
            queue.read_error = ContractLogicError("execution reverted", data="0x")
        return real_fillable()

    queue.fillable = fillable_then_refuse  # type: ignore[method-assign]
    settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    [message] = alerted(k)
    assert VAULT in message


def test_a_transient_failure_of_the_re_read_gives_the_fill_back_for_the_next_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As for a settlement: the node failing the re-read fails the cycle, and the reverted fill
    is given back to the sender whole, so the next cycle books it (fees once)."""
    queue = RacedQueue("0x" + "9e" * 20)
    k, sender = one_queue(monkeypatch, queue, sender=SettleSender(status="reverted"))
    assert sender is not None
    given: list[Any] = []
    sender.give_back = given.extend  # type: ignore[attr-defined]
    real_fillable = queue.fillable

    def fillable_then_drop() -> _AtBlock:
        if queue.reads:
            queue.read_error = RpcUnavailableError("no endpoint answered eth_call")
        return real_fillable()

    queue.fillable = fillable_then_drop  # type: ignore[method-assign]
    with pytest.raises(RpcUnavailableError):
        settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    assert [o.block_number for o in given] == [MINED_AT]
    assert alerted(k) == []
    assert k.metrics.value("keeper_gas_spent_wei_total") == 0  # booked by the next cycle


def _raced_pair(monkeypatch: pytest.MonkeyPatch, sender: Any) -> Any:
    """Two vaults' queues; at the mined block Q1 has nothing left (raced), Q2 still has work."""
    k, _ = with_queues(monkeypatch, sender)
    eth: Any = k.w3.eth
    eth.others[Q1] = RacedQueue(Q1)
    eth.others[Q2] = RacedQueue(Q2, fillable_after=2 * 10**6)
    _vault_balances(monkeypatch, {"latest": 9 * 10**6, MINED_AT: 0})
    return k


def test_only_the_queue_with_work_left_is_alerted_after_failing_inside_a_mined_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = FillSender(fails_at_mining={Q1, Q2})
    k = _raced_pair(monkeypatch, sender)
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent[1] == (BATCHER, fill_data([Q1, Q2]))
    [message] = alerted(k)
    assert OTHER in message
    assert "failed in the batch" in message


def test_a_fill_batch_reverted_whole_alerts_only_the_queues_with_work_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RebalanceBatcherInsufficientGas``: a queue with more to do at mining than at the
    estimate reverts the whole batch; the one someone else filled in the block is not alerted."""

    class RevertsBatch(FillSender):
        def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
            if self.sent[nonce][1] != fill_data([Q1, Q2]):
                return super().wait(nonce, timeout_s)
            tx_hash = f"0x{nonce + 1:064x}"
            self.journal.mark(tx_hash, TxStatus.REVERTED)
            return SendOutcome(nonce, tx_hash, TxStatus.REVERTED, MINED_AT, 80_000, Wei(7), 0)

    k = _raced_pair(monkeypatch, RevertsBatch())
    settle_then_fill(k, [VAULT, OTHER], 100, NOW)
    [message] = alerted(k)
    assert OTHER in message


def test_a_resumed_fill_that_reverted_in_a_race_is_not_alerted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finished a cycle late (``settle_in_flight``), booked by ``book_resumed``: read again at
    the block that mined it, as the in-cycle path reads it."""
    queue = RacedQueue("0x" + "9e" * 20)
    k, _ = one_queue(monkeypatch, queue)
    reverted = SendOutcome(4, "0x" + "77" * 32, TxStatus.REVERTED, MINED_AT, 80_000, Wei(7), 0)
    assert book_resumed(k, reverted, queue.address, FILL, [VAULT], head=130) == ()
    assert alerted(k) == []
    assert MINED_AT in queue.reads
    assert k.metrics.value("keeper_gas_spent_wei_total") == 80_000 * 7


def test_a_resumed_fill_batch_that_did_not_get_mined_alerts_only_the_queue_with_work_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k = _raced_pair(monkeypatch, None)
    dropped = SendOutcome(4, "0x" + "77" * 32, TxStatus.DROPPED, None, 0, Wei(0), 0)
    data = fill_data([Q1, Q2])
    assert book_resumed(k, dropped, BATCHER, data, [VAULT, OTHER], head=MINED_AT) == ()
    [message] = alerted(k)
    assert OTHER in message
    eth: Any = k.w3.eth
    assert MINED_AT in eth.others[Q1].reads  # at the cycle's head: it never got mined
