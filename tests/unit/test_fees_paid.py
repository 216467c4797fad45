"""What a mined transaction paid is booked from the version that got mined, on every path.

``keeper_gas_spent_wei`` and ``keeper_l1_fee_spent_wei`` count every transaction of the keeper's
that got mined (reverted or not, a cancel too). These tests pin the paths that used to miss the
L1 fee or book the wrong one: a batch whose receipt came a cycle late, a replacement or a cancel
that won its nonce, a settlement; and the receipts that say themselves what was charged (OP
Stack's ``l1Fee``, Arbitrum's ``gasUsedForL1``, which Arbitrum's ``gasUsed`` includes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from keeper.app.act import settle_in_flight
from keeper.app.cycle import run_cycle
from keeper.app.settle import settle_expired
from keeper.execution.journal import TxRecord, TxStatus
from keeper.execution.sender import SendOutcome, decode_signed
from keeper.execution.simulate import BatchCodec
from keeper.units import Wei
from tests.unit.test_app_cycle import (
    BATCHER,
    NOW,
    WAD,
    FakeSender,
    batch_simulates,
    make_keeper,
    snap,
    vault,
)
from tests.unit.test_app_resume import ResumingSender, ended, resuming
from tests.unit.test_app_settle import VAULT, FakeVault, SettleSender, settle_keeper

KEY = Account.create()
SELF = KEY.address


def signed(to: str, data: bytes, max_fee: int = 10**9) -> str:
    """A real signed EIP-1559 transaction (its bytes are what the L1 fee is priced on)."""
    tx = {
        "type": 2,
        "chainId": 10,
        "nonce": 0,
        "to": to_checksum_address(to),
        "data": data,
        "gas": 300_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": 1,
        "value": 0,
    }
    return "0x" + bytes(KEY.sign_transaction(tx).raw_transaction).hex()


def bytes_fee(signed_tx: bytes | str) -> int:
    """An L1 fee that depends on every byte of the signed transaction: two versions of a nonce
    always price apart. (Their length alone did not: a replacement's extra fee byte is lost
    whenever its signature's r or s starts with a zero byte, 1 run in ~64.)"""
    return int.from_bytes(keccak(bytes(HexBytes(signed_tx)))[:6], "big")


class BytesL1:
    """The L1 fee of :func:`bytes_fee` (so the bytes priced matter)."""

    name = "op"

    def __init__(self) -> None:
        self.priced: list[str] = []

    def fee(self, signed_tx: bytes, to: str, data: bytes) -> int:
        self.priced.append(to)
        return bytes_fee(signed_tx)


def l1_spent(k: Any) -> float:
    return float(k.metrics.value("keeper_l1_fee_spent_wei_total"))


def l2_spent(k: Any) -> float:
    return float(k.metrics.value("keeper_gas_spent_wei_total"))


def test_a_batch_whose_receipt_came_a_cycle_late_books_its_journaled_l1_fee() -> None:
    data = BatchCodec().encode([vault(0)])
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([vault(0)], BATCHER, data, l1_fee=777)  # priced when it was sent
    k = resuming(sender)
    settle_in_flight(k)
    assert l1_spent(k) == 777
    assert l2_spent(k) == 60_000 * 5


@dataclass
class ReplacingSender(FakeSender):
    """The first version is priced at its send; ``winner`` (a replacement or a cancel) is mined."""

    cancel: bool = False

    def submit_new(
        self, vaults: Any, block: int, to: str, data: bytes, gas: int, **kw: Any
    ) -> TxRecord:
        intent = self.journal.open_intent(vaults, block)
        self.sent.append((intent, to, data, gas))
        raw = signed(to, data)
        first = self.journal.record_signed(
            intent_id=intent,
            account=self.address,
            nonce=0,
            tx_hash="0xfirst",
            raw_tx=raw,
            max_fee=Wei(10**9),
            priority_fee=Wei(1),
            gas=gas,
        )
        fee = kw["l1_fee"](bytes(HexBytes(raw)))
        return self.journal.mark(first.tx_hash, TxStatus.SENT, l1_fee=Wei(fee))

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        first = self.journal.tx("0xfirst")
        to, data = (SELF, b"") if self.cancel else (self.sent[0][1], self.sent[0][2])
        self.journal.record_signed(
            intent_id=first.intent_id,
            account=self.address,
            nonce=0,
            tx_hash="0xwinner",
            raw_tx=signed(to, data, max_fee=10**10),
            max_fee=Wei(10**10),
            priority_fee=Wei(2),
            gas=first.gas,
        )
        self.journal.mark("0xfirst", TxStatus.REPLACED)
        self.journal.mark("0xwinner", TxStatus.MINED)
        return SendOutcome(0, "0xwinner", TxStatus.MINED, 101, 50_000, Wei(7), 1, None, self.cancel)

    def call_of(self, tx_hash: str) -> tuple[str, bytes]:
        d = decode_signed(self.journal.tx(tx_hash).raw_tx)
        return str(d["to"]), bytes(d["data"])


@pytest.mark.parametrize("cancel", [False, True], ids=["replacement", "cancel"])
def test_the_l1_fee_booked_is_the_mined_versions_not_the_first_versions(
    monkeypatch: pytest.MonkeyPatch, cancel: bool
) -> None:
    batch_simulates(monkeypatch)
    monkeypatch.setattr("keeper.app.act.simulate_direct", lambda *a, **kw: None)
    sender, l1 = ReplacingSender(cancel=cancel), BytesL1()
    k = make_keeper([snap(0, -WAD), snap(1, -WAD)], sender=sender, batcher=BATCHER, l1fee=l1)
    result = run_cycle(k)
    assert result.tx_hash == "0xwinner"
    winner = bytes_fee(sender.journal.tx("0xwinner").raw_tx)
    first = bytes_fee(sender.journal.tx("0xfirst").raw_tx)
    assert winner != first  # a cancel carries no calldata; a replacement's fees differ
    assert l1_spent(k) == winner
    assert result.l1_fee_wei == winner


def test_a_settlement_books_its_l1_fee(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass
    class PricedSettleSender(SettleSender):
        def raw(self, to: str, data: bytes) -> str:
            return signed(to, data)

        def call_of(self, tx_hash: str) -> tuple[str, bytes]:
            d = decode_signed(self.journal.tx(tx_hash).raw_tx)
            return str(d["to"]), bytes(d["data"])

    fake = FakeVault()
    fake.add_expired(3)
    sender = PricedSettleSender()
    k = settle_keeper(monkeypatch, fake, sender)
    k.l1fee = l1 = BytesL1()
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "settled"
    assert l1.priced == [to_checksum_address(VAULT)]
    assert l1_spent(k) == bytes_fee(sender.journal.tx(s.tx_hash or "").raw_tx)
    assert l2_spent(k) == 30_000 * 7


def test_an_op_receipts_l1_fee_is_what_was_charged() -> None:
    sender = ResumingSender(outcome=replace(ended("mined"), receipt={"l1Fee": "0x3e8"}))
    sender.journal_call([vault(0)], BATCHER, BatchCodec().encode([vault(0)]), l1_fee=777)
    k = resuming(sender)
    settle_in_flight(k)
    assert (l2_spent(k), l1_spent(k)) == (60_000 * 5, 1000)


def test_an_arbitrum_receipts_gas_used_includes_the_l1_part() -> None:
    receipt = {"gasUsedForL1": "0x2710"}  # 10,000 of the 60,000 gas paid for L1 data
    sender = ResumingSender(outcome=replace(ended("mined"), receipt=receipt))
    sender.journal_call([vault(0)], BATCHER, BatchCodec().encode([vault(0)]))
    k = resuming(sender)
    settle_in_flight(k)
    assert l2_spent(k) == 50_000 * 5
    assert l1_spent(k) == 10_000 * 5


def test_a_dropped_transaction_paid_nothing() -> None:
    sender = ResumingSender(outcome=ended("dropped"))
    sender.journal_call([vault(0)], BATCHER, BatchCodec().encode([vault(0)]), l1_fee=777)
    k = resuming(sender)
    settle_in_flight(k)
    assert (l2_spent(k), l1_spent(k)) == (0, 0)


def test_an_unpriced_version_whose_quote_fails_now_books_no_l1_fee() -> None:
    class Down:
        name = "op"

        def fee(self, signed_tx: bytes, to: str, data: bytes) -> int:
            raise ConnectionError("connection reset")

    data = BatchCodec().encode([vault(0)])
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([vault(0)], BATCHER, data, raw_tx=signed(BATCHER, data))
    k = resuming(sender)
    k.l1fee = Down()
    settle_in_flight(k)  # booked all the same
    assert (l2_spent(k), l1_spent(k)) == (60_000 * 5, 0)
