"""The settle and fill steps' own reads take ``KEEPER_RPC_RETRIES`` attempts (``rpc_retries``).

The lens, the blockers and the queue sweep read with ``Keeper.rpc_retries``; the settle and fill
steps' reads (the batch simulations, a mined batch's receipt, a series or a queue read again
after a revert, a settlement pinned to the cycle's block) took the helper's default of 3, and a
due queue's ``fillable()`` read had no retry of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from web3.exceptions import ContractLogicError

from keeper.app.collaborators import Keeper
from keeper.app.settle import settle_expired
from tests.unit.test_app_fill_race import RacedQueue, one_queue
from tests.unit.test_app_settle import (
    NOW,
    VAULT,
    FakeVault,
    SettleSender,
    _refusal,
    settle_keeper,
    settle_then_fill,
)
from tests.unit.test_app_settle_batch import OTHER, BatchSender, batch_keeper, two_vaults

T = TypeVar("T")
RETRIES = 7


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each ``read_with_retry`` of the settle step and of ``work_left``: (caller, attempts)."""
    seen: list[tuple[str, int]] = []

    def read_with_retry(fn: Callable[[], T], *, attempts: int = 3, **_: Any) -> T:
        seen.append((sys._getframe(1).f_code.co_name, attempts))
        return fn()

    monkeypatch.setattr("keeper.app.settle.read_with_retry", read_with_retry)
    monkeypatch.setattr("keeper.chain.queues.read_with_retry", read_with_retry)
    return seen


def _retries(k: Keeper) -> Keeper:
    k.rpc_retries = RETRIES
    return k


def _check(seen: list[tuple[str, int]], *sites: str) -> None:
    assert {s for s, _ in seen} >= set(sites), seen
    assert [s for s, n in seen if n != RETRIES] == [], seen


def test_a_settle_batch_simulation_and_its_receipt(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    vaults = two_vaults()
    k, _ = batch_keeper(monkeypatch, vaults, BatchSender(with_receipt=False))
    k.w3.eth.get_transaction_receipt = lambda tx_hash: {"logs": []}  # type: ignore[attr-defined]
    settle_expired(_retries(k), [VAULT, OTHER], 100, NOW)
    _check(reads, "_call_batch", "_receipt_of")


def test_a_reverted_settlement_read_again(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    vault = FakeVault()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, SettleSender("reverted"))
    [s] = settle_expired(_retries(k), [VAULT], 100, NOW).settlements
    assert s.outcome == "failed"
    _check(reads, "_is_settled")


def test_a_refusal_called_again_at_the_cycles_block(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    vault = FakeVault()
    vault.add_expired(3)
    vault.sim_error = _refusal("OptionVaultNotExpired(uint256,uint256)", (3, NOW + 60))
    k = settle_keeper(monkeypatch, vault, SettleSender())
    [s] = settle_expired(_retries(k), [VAULT], 100, NOW).settlements
    assert s.outcome == "waiting"
    _check(reads, "_refused_at")


def test_a_due_queue_and_a_fill_read_again(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    """The due queue's ``fillable()`` (and ``redemptionQueue()``) before the fill, then the
    queue read again at the block that mined the reverted fill (``work_left``)."""
    queue = RacedQueue("0x" + "9e" * 20)
    k, sender = one_queue(monkeypatch, queue, sender=SettleSender(status="reverted"))
    settle_then_fill(_retries(k), [], 100, NOW, fill=(VAULT,))
    assert sender is not None
    assert sender.sent
    _check(reads, "_queue_to_fill", "work_left")


def test_a_due_queue_read_is_retried_before_the_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``fillable()`` read that fails once at the transport is asked again (no sleep here),
    and the queue is filled: it had no retry of its own."""
    monkeypatch.setattr("keeper.chain.retry.backoff_s", lambda *a, **kw: 0.0)
    queue = RacedQueue("0x" + "9e" * 20)
    k, sender = one_queue(monkeypatch, queue, sender=SettleSender())
    failed: list[bool] = []

    class FailingOnce:
        def call(self, block_identifier: Any = "latest") -> int:
            if not failed:
                failed.append(True)
                raise ConnectionError("reset by peer")
            return 5 * 10**6

    queue.fillable = FailingOnce  # type: ignore[assignment,method-assign]
    settle_then_fill(_retries(k), [], 100, NOW, fill=(VAULT,))
    assert failed
    assert sender is not None
    assert [to for to, _ in sender.sent] == [queue.address]


def test_a_queue_that_refuses_the_read_is_still_alerted_not_retried(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    queue = RacedQueue("0x" + "9e" * 20)
    queue.read_error = ContractLogicError("execution reverted", data="0x")
    k, sender = one_queue(monkeypatch, queue, sender=SettleSender())
    settle_then_fill(_retries(k), [], 100, NOW, fill=(VAULT,))
    assert sender is not None
    assert sender.sent == []
    assert [a["kind"] for a in k.alerter.sent] == ["redemption_queue"]


def test_the_reads_that_find_the_expired_series(
    monkeypatch: pytest.MonkeyPatch, reads: list[tuple[str, int]]
) -> None:
    """``openSeries()`` and ``oracle()``, the step's first reads, take the same attempts."""
    vault = FakeVault()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, SettleSender())
    [s] = settle_expired(_retries(k), [VAULT], 100, NOW).settlements
    assert s.outcome == "settled"
    assert [n for site, n in reads if site == "_expired_series"] == [RETRIES, RETRIES], reads


def test_the_expired_series_reads_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``openSeries()`` and an ``oracle()`` read that each fail once at the transport are
    asked again (no sleep here), and the series is settled, not the cycle failed."""
    monkeypatch.setattr("keeper.chain.retry.backoff_s", lambda *a, **kw: 0.0)
    vault = FakeVault()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, SettleSender())
    failed: list[str] = []
    functions = vault.functions

    def failing_once(name: str) -> Callable[[], Any]:
        real = getattr(functions, name)

        class Call:
            def call(self) -> Any:
                if name not in failed:
                    failed.append(name)
                    raise ConnectionError("reset by peer")
                return real().call()

        return Call

    monkeypatch.setattr(functions, "openSeries", failing_once("openSeries"))
    monkeypatch.setattr(functions, "oracle", failing_once("oracle"))
    [s] = settle_expired(_retries(k), [VAULT], 100, NOW).settlements
    assert failed == ["openSeries", "oracle"]
    assert s.outcome == "settled"
