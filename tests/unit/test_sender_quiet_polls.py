"""Waiting on a receipt reads only the head until a new block can have changed anything.

A poll reads the head, each version's receipt and the ``latest`` nonce. Neither a receipt nor the
nonce can change without a block, so a poll at the head the last full look was taken at, with
nothing found then, reads the head alone. On a 2-second L2 block, polled every 0.2 s, that is one
read a poll instead of three for nine polls in ten. A look is taken anyway once
``QUIET_RECHECK_S`` has passed: the head can come from a node that stalled, or a lagging failover
endpoint, while another already serves the receipt.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from eth_account import Account

from keeper.execution import sender as sender_module
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import QUIET_RECHECK_S, Sender
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, fake_w3, make_sender


class _Counted:
    """``chain`` as the sender reads it, counting each RPC read by name."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.reads: Counter[str] = Counter()

    @property
    def block_number(self) -> int:
        self.reads["block_number"] += 1
        return self.chain.block_number

    def get_transaction_receipt(self, tx_hash: Any) -> dict[str, Any]:
        self.reads["receipt"] += 1
        return self.chain.get_transaction_receipt(tx_hash)

    def get_transaction_count(self, address: Any, block: Any = "latest") -> int:
        self.reads[f"nonce_{block}"] += 1
        return self.chain.get_transaction_count(address, block)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(sender_module.time, "monotonic", c.monotonic)
    return c


def _sent(**kw: Any) -> tuple[FakeChain, Journal, Sender, _Counted, int]:
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create(), **kw)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    counted = _Counted(chain)
    w3 = fake_w3(chain)
    w3.eth = counted
    s.w3 = w3
    return chain, journal, s, counted, record.nonce


def _settled_at_the_second_receipt_read(s: Sender, nonce: int, counted: _Counted) -> None:
    outcome = s.poll_nonce(nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
    assert counted.reads["receipt"] == 2


def test_polls_at_an_unchanged_head_read_only_the_head(clock: _Clock) -> None:
    chain, _journal, s, counted, nonce = _sent()
    assert s.poll_nonce(nonce) is None  # the full look: head, receipt, nonce
    assert counted.reads == Counter(block_number=1, receipt=1, nonce_latest=1)
    for _ in range(4):
        clock.now += 0.2
        assert s.poll_nonce(nonce) is None
    assert counted.reads == Counter(block_number=5, receipt=1, nonce_latest=1)
    chain.mine()
    _settled_at_the_second_receipt_read(s, nonce, counted)


def test_a_head_that_stays_put_is_looked_past_after_the_recheck_time(clock: _Clock) -> None:
    """A stalled head (a node that stopped following the chain) never hides a receipt for long:
    here the receipt is served while the head read stays at the block it was sent in."""
    chain, _journal, s, counted, nonce = _sent()
    assert s.poll_nonce(nonce) is None
    head = chain.block_number
    chain.mine()
    counted.chain = _FrozenHead(chain, head)  # type: ignore[assignment]
    clock.now += QUIET_RECHECK_S / 2
    assert s.poll_nonce(nonce) is None
    assert counted.reads["receipt"] == 1
    clock.now += QUIET_RECHECK_S / 2
    _settled_at_the_second_receipt_read(s, nonce, counted)


def test_a_receipt_waiting_for_confirmations_is_read_again_only_at_a_new_head(
    clock: _Clock,
) -> None:
    chain, _journal, s, counted, nonce = _sent(confirmations=2)
    chain.mine()
    assert s.poll_nonce(nonce) is None  # mined, one block deep
    clock.now += 0.2
    assert s.poll_nonce(nonce) is None
    assert counted.reads["receipt"] == 1
    chain.mine()
    _settled_at_the_second_receipt_read(s, nonce, counted)


def test_a_due_replacement_is_still_sent_at_the_next_head(clock: _Clock) -> None:
    """Quiet polls never hold back a replacement: it is due only at a higher head anyway."""
    chain, journal, s, _counted, nonce = _sent(replace_after_blocks=2)
    chain.pool.clear()  # the node forgot it: mined it never will be
    for _ in range(3):  # due at the second block, replaced at the third
        chain.mine()
        clock.now += 0.2
        assert s.poll_nonce(nonce) is None
        clock.now += 0.2
        assert s.poll_nonce(nonce) is None  # quiet
    versions = journal.versions(s.address, nonce)
    assert len(versions) == 2
    chain.mine()
    outcome = s.poll_nonce(nonce)
    assert outcome is not None
    assert outcome.tx_hash == versions[-1].tx_hash


class _FrozenHead:
    def __init__(self, chain: FakeChain, head: int) -> None:
        self.chain = chain
        self.head = head

    @property
    def block_number(self) -> int:
        return self.head

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)
