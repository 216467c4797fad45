"""A receipt in hand is at least as new as the head: its own block counts as seen.

A poll reads the head first, then the receipt. When the block lands between the two reads (a
receipt read that was retried or hedged under faults; or just the moment a block arrives), the
receipt's block is above the head the poll read. With ``confirmations=1`` (the mining block is
the one confirmation) the batch was left unsettled for another ``poll_s`` and two more reads
(the head and the receipt again): in the chaos suite under 20% faults a third of the sends were
settled one poll late, and the next cycle started late with them (up to a second more when one
of those reads drew a 429).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_account import Account

from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import Sender
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, make_sender


class _MinedAfterTheHeadRead:
    """``chain`` as the sender reads it, where the next block lands right after the first head
    read (before the receipt read): the receipt's block is above the head that poll read."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.head_reads = 0

    @property
    def block_number(self) -> int:
        head = self.chain.block_number
        self.head_reads += 1
        if self.head_reads == 1:
            self.chain.mine()
        return head

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)


def _race(s: Sender, chain: FakeChain) -> None:
    eth = _MinedAfterTheHeadRead(chain)
    s.w3 = SimpleNamespace(eth=eth, provider=object())  # type: ignore[assignment]


def test_a_receipt_above_the_head_read_is_settled_at_once_with_one_confirmation() -> None:
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create())
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    _race(s, chain)
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
    assert journal.tx(record.tx_hash).status is TxStatus.MINED


def test_a_receipt_above_the_head_read_still_waits_for_more_confirmations() -> None:
    """``confirmations=2``: the receipt's block is one block deep, however it was seen."""
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create(), confirmations=2)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    _race(s, chain)
    assert s.poll_nonce(record.nonce) is None
    assert journal.tx(record.tx_hash).status is TxStatus.SENT
    chain.mine()
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
