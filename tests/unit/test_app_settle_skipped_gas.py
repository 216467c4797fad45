"""A series a mined ``settleBatch`` skipped for gas is tried again, not failed, not alerted.

Once a call of the batch has failed (a vault whose feed burns its whole gas allowance only at
mining), the batcher no longer reverts the whole batch when a later series cannot get its full
allowance: it reports that series with ``RebalanceBatcherInsufficientGas(gasLeft, needed)``
(contracts/interfaces/IRebalanceBatcher.sol, ``settleBatch``). That says nothing about the series
(its hint is not wrong, its vault not broken): the keeper settles it again, by its own
transaction in the same cycle, or, for a batch booked a cycle late, in the next cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from keeper.app.settle import book_resumed, settle_expired
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome
from keeper.units import Wei
from tests.unit.test_app_settle import HINT, NOW, SETTLE, VAULT, outcomes
from tests.unit.test_app_settle_batch import (
    BATCHER,
    OTHER,
    BatchSender,
    batch_data,
    batch_keeper,
    entries_of,
    failed_log,
    two_vaults,
)

SKIPPED = keccak(text="RebalanceBatcherInsufficientGas(uint256,uint256)")[:4] + abi_encode(
    ["uint256", "uint256"], [120_000, 2_071_746]
)


@dataclass
class SkippingSender(BatchSender):
    """Mines a ``settleBatch`` in which ``skipped`` series were skipped for gas: named in
    ``SettlementFailed`` with ``RebalanceBatcherInsufficientGas``, left unsettled."""

    skipped: set[tuple[str, int]] = field(default_factory=set)

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        _to, data = self.sent[nonce]
        if data[:4] != batch_data([])[:4]:
            return super().wait(nonce, timeout_s)
        logs: list[dict[str, Any]] = []
        for vault, sid in entries_of(data):
            if (vault, sid) in self.skipped:
                logs.append(failed_log(vault, sid, SKIPPED))
            else:
                self.vaults[vault].rows[sid][6] = True
        tx_hash = f"0x{nonce + 1:064x}"
        self.journal.mark(tx_hash, TxStatus.MINED)
        return SendOutcome(
            nonce, tx_hash, TxStatus.MINED, 101, 90_000, Wei(7), 0, receipt={"logs": logs}
        )


def test_series_skipped_for_gas_are_settled_one_a_transaction_in_the_same_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults = two_vaults()
    sender = SkippingSender(skipped={(VAULT, 4), (OTHER, 5)})
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [
        (BATCHER, batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])),
        (VAULT, SETTLE + abi_encode(["uint256", "uint80"], [4, HINT])),
        (OTHER, SETTLE + abi_encode(["uint256", "uint80"], [5, HINT])),
    ]
    assert [(s.vault.lower(), s.series_id, s.outcome) for s in step.settlements] == [
        (VAULT, 3, "settled"),
        (VAULT, 4, "settled"),
        (OTHER, 5, "settled"),
    ]
    assert outcomes(k) == {"settled": 3}
    assert k.alerter.sent == [], "a skip for gas is not a failed settlement, nor a bad hint"
    assert k.metrics.value("keeper_expired_unsettled") == 0


def test_a_resumed_batch_books_a_series_skipped_for_gas_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Booked a cycle late (:func:`book_resumed`): the skipped series waits, unalerted, and the
    next cycle's settle step, which finds it still expired and unsettled, sends it again."""
    vaults = two_vaults()
    for sid in (3, 4):
        vaults[0].rows[sid][6] = True  # settled by the batch
    k, _ = batch_keeper(monkeypatch, vaults, None)
    data = batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])
    receipt = {"logs": [failed_log(OTHER, 5, SKIPPED)]}
    done = SendOutcome(4, "0x" + "77" * 32, TxStatus.MINED, 120, 90_000, Wei(7), 0, receipt=receipt)
    freed = book_resumed(k, done, BATCHER, data, [VAULT, OTHER])
    assert [v.lower() for v in freed] == [VAULT]
    assert outcomes(k) == {"settled": 2, "waiting": 1}
    assert k.alerter.sent == []
