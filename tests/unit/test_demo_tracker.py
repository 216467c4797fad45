"""The demo's summary counts only the keeper's rebalance transactions as rebalance txs.

The keeper's journal also holds its settlements, queue fills and cancels. ``_Tracker.reconcile``
booked every mined journal transaction it had not booked yet as a rebalance transaction (adding
its gas and fees to the rebalance totals) and counted every journal intent without a mined
version as a failed rebalance. No node: the chain, the journal and the batcher are stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from keeper.app.demo import _Tracker
from keeper.execution.simulate import (
    FILL_BATCH_SELECTOR,
    REBALANCE_SELECTOR,
    SETTLE_BATCH_SELECTOR,
    BatchCodec,
)

BATCHER = "0x" + "bb" * 20
VAULT = "0x" + "aa" * 20
QUEUE = "0x" + "cc" * 20
KEEPER = "0x" + "dd" * 20
SETTLE = bytes.fromhex("8e1f5d6a")  # any selector but the rebalance ones
FILL = bytes.fromhex("3a4b66f1")
BATCH = BatchCodec().selector  # rebalanceBatch


@dataclass
class Row:
    id: int
    intent_id: int
    tx_hash: str
    status: str
    l1_fee: int | None = 0


class Chain:
    def __init__(self, receipts: dict[str, dict[str, Any]]) -> None:
        self.receipts = receipts

    def get_transaction_receipt(self, tx_hash: str) -> dict[str, Any]:
        return self.receipts[tx_hash]


def _tracker(rows: list[Row], calls: dict[str, tuple[str, bytes]], mined: set[str]) -> _Tracker:
    receipts = {
        h: {
            "status": 1 if h in mined else 0,
            "gasUsed": 50_000,
            "effectiveGasPrice": 10,
            "logs": [],
        }
        for h in calls
    }
    sender = SimpleNamespace(
        journal=SimpleNamespace(recent=lambda limit: rows),
        call_of=lambda h: calls[h],
        address=KEEPER,
    )
    t = _Tracker.__new__(_Tracker)
    t.keeper = SimpleNamespace(w3=SimpleNamespace(eth=Chain(receipts)), sender=sender, codec=None)  # type: ignore[assignment]
    t.batcher = SimpleNamespace(  # type: ignore[assignment]
        address=BATCHER,
        events=SimpleNamespace(
            VaultRebalanceFailed=lambda: SimpleNamespace(process_receipt=lambda r, errors: [])
        ),
    )
    t.pool = "0x" + "ee" * 20
    t.stats = {}
    t.batches = []
    t.vault_rebalances = t.pool_swaps = t.gas_used = t.l2_fee = t.l1_fee = 0
    return t


def test_settlements_fills_and_cancels_are_not_rebalance_transactions() -> None:
    calls = {
        "0x01": (VAULT, SETTLE + b"\x00" * 64),  # intent 1: a settlement, mined
        "0x02": (QUEUE, FILL),  # intent 2: a queue fill, mined
        "0x03": (BATCHER, BATCH),  # intent 3: a batch, stuck ...
        "0x04": (KEEPER, b""),  # ... and cancelled at its nonce: the cancel was mined
        "0x05": (VAULT, REBALANCE_SELECTOR),  # intent 4: a lone vault's rebalance, reverted
        "0x06": (VAULT, SETTLE + b"\x00" * 64),  # intent 5: a settlement, reverted
        # Found with the queue sweep: the batcher's settleBatch and fillBatch counted as
        # rebalances (the demo's summary booked a fill's gas as a rebalance's).
        "0x07": (BATCHER, SETTLE_BATCH_SELECTOR),  # intent 6: settlements, batched, mined
        "0x08": (BATCHER, FILL_BATCH_SELECTOR),  # intent 7: queue fills, batched, mined
    }
    rows = [
        Row(1, 1, "0x01", "mined"),
        Row(2, 2, "0x02", "mined"),
        Row(3, 3, "0x03", "replaced"),
        Row(4, 3, "0x04", "mined"),
        Row(5, 4, "0x05", "reverted"),
        Row(6, 5, "0x06", "reverted"),
        Row(7, 6, "0x07", "mined"),
        Row(8, 7, "0x08", "mined"),
    ]
    t = _tracker(rows, calls, mined={"0x01", "0x02", "0x04", "0x07", "0x08"})
    failed, dropped_but_mined = t.reconcile()
    assert t.batches == []  # nothing the keeper sent here rebalanced anything
    assert t.gas_used == t.l2_fee == t.l1_fee == 0
    # the cancelled batch and the reverted rebalance; the settlements and the fill are no batch
    assert failed == 2
    assert dropped_but_mined == 0


def test_a_mined_rebalance_the_cycle_missed_is_still_booked() -> None:
    calls = {"0x0a": (BATCHER, BATCH), "0x0b": (VAULT, REBALANCE_SELECTOR)}
    rows = [Row(1, 1, "0x0a", "dropped"), Row(2, 2, "0x0b", "mined")]
    t = _tracker(rows, calls, mined={"0x0a", "0x0b"})
    failed, dropped_but_mined = t.reconcile()
    assert [h for h, _ in t.batches] == ["0x0a", "0x0b"]
    assert t.gas_used == 100_000
    assert (failed, dropped_but_mined) == (0, 1)
