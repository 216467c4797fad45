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

from keeper.app.loop import Runner
from keeper.execution import sender as sender_module
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import QUIET_RECHECK_S, Sender
from tests.unit.test_audit_findings import (
    CALL,
    VAULT,
    FakeChain,
    fake_w3,
    make_sender,
    stub_keeper,
)


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


def _wait_on_blocks(
    clock: _Clock, interval: float | None, *, loop_saw_head: bool = True, confirmations: int = 3
) -> tuple[Counter[str], float]:
    """``Sender.wait`` on a batch needing ``confirmations``, on a chain mining a block every 2 s,
    polled every 0.2 s. The batch is sent 0.5 s into its block (the loop saw the head, then the
    cycle ran), so the next block comes 1.5 s after the send. With ``interval`` the run loop
    tells the sender the head it saw, when, and the interval (``loop_saw_head=False``: a loop
    that tells only the interval, its head an older one). Returns the head reads made and the
    delay from the confirming block to the settled outcome."""
    chain = FakeChain()
    next_block = [clock.now + 1.5]
    mined_at: list[float] = []

    def sleep(seconds: float) -> None:
        assert seconds > 0
        clock.now += seconds
        while clock.now >= next_block[0]:
            chain.mine()
            mined_at.append(next_block[0])
            next_block[0] += 2.0

    s = make_sender(chain, Journal(":memory:"), Account.create(), poll_s=0.2, sleep=sleep)
    s.confirmations = confirmations
    if interval is not None:
        head, seen = chain.block_number if loop_saw_head else -1, clock.now - 0.5
        s.block_timing = lambda: (head, seen, interval)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    counted = _Counted(chain)
    w3 = fake_w3(chain)
    w3.eth = counted
    s.w3 = w3
    outcome = s.wait(record.nonce, timeout_s=60)
    assert outcome.status is TxStatus.MINED
    assert len(mined_at) == confirmations  # mined in the first block, confirmed by the last
    return counted.reads, clock.now - mined_at[-1]


def test_receipt_polls_are_paced_to_the_chain_block_interval(clock: _Clock) -> None:
    """Told the chain's block interval (the loop measures it), a quiet wait sleeps until a poll
    before the next block is due, at most ``QUIET_RECHECK_S``: on 2-s blocks polled every 0.2 s,
    about 2 head reads a block instead of 10, and the outcome still within a poll of the block.
    """
    unpaced, unpaced_delay = _wait_on_blocks(clock, None)
    paced, paced_delay = _wait_on_blocks(clock, 2.0)
    assert unpaced["block_number"] >= 25  # ~10 a block over the 5.5 s waited
    assert paced["block_number"] <= 10
    # The same full looks: the receipt and nonce reads follow the blocks, not the polls.
    assert paced["receipt"] <= unpaced["receipt"]
    assert unpaced_delay <= 0.2 + 1e-9
    assert paced_delay <= 0.2 + 1e-9


def test_paced_polls_count_from_the_loop_sighting_of_the_head(clock: _Clock) -> None:
    """The sender first reads the head after the cycle's work, 0.5 s into the block here: from
    its own sighting alone it would wake 0.3 s after the next block. It counts from the loop's
    (earlier) sighting of the same head; a head the loop never saw counts from the sender's."""
    _reads, delay = _wait_on_blocks(clock, 2.0, confirmations=1)
    assert delay <= 0.2 + 1e-9
    _reads, late = _wait_on_blocks(clock, 2.0, loop_saw_head=False, confirmations=1)
    assert late == pytest.approx(0.3, abs=1e-6)  # woke at its own sighting + 1.8 s


def test_the_run_loop_tells_its_sender_the_block_interval_it_measures() -> None:
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    runner = Runner(stub_keeper(s), poll_interval_s=0.2, max_cycles=1)
    assert s.block_timing is not None
    assert s.block_timing() is None  # no head seen yet
    runner._head, runner._head_seen_at = 7, 123.0
    assert s.block_timing() is None  # too few blocks seen for an interval
    runner._intervals.extend([2.0] * 5)
    assert s.block_timing() == (7, 123.0, 2.0)
