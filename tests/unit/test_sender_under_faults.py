"""The sender under sustained RPC faults (found in chaos runs at 50% and 60% faults).

A receipt wait that outlives its cycle's read deadline hands the nonce to the next cycle.

``keeper run`` runs each cycle under ``KEEPER_CYCLE_DEADLINE_S``
(:func:`keeper.chain.retry.deadline`), and the failover provider launches no read once it is
spent: every read then fails at once, without a request. A wait for the batch's receipt that was
still going at that moment could read nothing more, yet it polled on until
``KEEPER_RECEIPT_TIMEOUT_S``: in a 60%-fault chaos run the keeper sat 44 s blind on one nonce,
218 polls that sent no request, while the chain moved on. The wait now stops there with
:class:`TxTimeoutError`; the journal keeps the nonce pending, and the next cycle (a new deadline)
polls it once a block, as it polls any transaction still pending.

Also: a mined receipt is not hidden behind a failing head read (one confirmation), and a resend
refused as "nonce too low" after an unknown first try is not logged as a stranger's nonce use.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from keeper.chain.retry import RpcUnavailableError, deadline, remaining_s
from keeper.errors import TxTimeoutError
from keeper.execution.journal import Journal, TxStatus
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, fake_w3, make_sender
from tests.unit.test_sender_quiet_polls import _Clock, clock  # noqa: F401 - a fixture


class _UnderDeadline:
    """``chain`` as the failover provider serves it: nothing is asked once the deadline is spent
    (``FailoverProvider._read`` launches no attempt and raises ``RpcUnavailableError``)."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        left = remaining_s()
        if left is not None and left <= 0:
            raise RpcUnavailableError(f"{name} failed on every RPC endpoint: no time left", name)
        self.reads += 1
        return getattr(self.chain, name)


def test_a_receipt_wait_stops_at_the_cycle_deadline_and_the_next_cycle_settles_it(
    clock: _Clock,  # noqa: F811 - the fixture
) -> None:
    chain = FakeChain()

    def sleep(seconds: float) -> None:
        assert seconds > 0
        clock.now += seconds

    s = make_sender(chain, Journal(":memory:"), Account.create(), poll_s=0.2, sleep=sleep)
    served = _UnderDeadline(chain)
    with deadline(5.0):
        record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
        w3 = fake_w3(chain)
        w3.eth = served
        s.w3 = w3
        started = clock.now
        with pytest.raises(TxTimeoutError, match="deadline"):
            s.wait(record.nonce, timeout_s=120)
        # Stopped with the deadline (a poll's pause at most past it), not 115 s later.
        assert clock.now - started <= 5.0 + s.poll_s
    assert served.reads > 0
    assert s.journal.pending_nonces(s.address) == [record.nonce]  # kept for the next cycle
    chain.mine()
    with deadline(5.0):  # the next cycle's
        outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED


def test_a_wait_without_a_deadline_polls_until_its_own_timeout(
    clock: _Clock,  # noqa: F811 - the fixture
) -> None:
    """Outside a cycle (no deadline: the depositor's commands, tests) nothing changes."""
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create(), poll_s=0.2)
    s._sleep = lambda seconds: setattr(clock, "now", clock.now + seconds)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.pool.clear()  # never mined
    started = clock.now
    with pytest.raises(TxTimeoutError, match="not confirmed in time"):
        s.wait(record.nonce, timeout_s=30)
    assert clock.now - started >= 30


class _HeadDown:
    """The head read fails (at 50% faults the failover provider's ten attempts took 9.4 s);
    every other read answers."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.receipt_reads = 0

    @property
    def block_number(self) -> int:
        raise RpcUnavailableError("eth_blockNumber failed on every RPC endpoint", "eth_blockNumber")

    def get_transaction_receipt(self, tx_hash: Any) -> Any:
        self.receipt_reads += 1
        return self.chain.get_transaction_receipt(tx_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)


def _sent_then_head_down(confirmations: int) -> tuple[FakeChain, Any, int, _HeadDown]:
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create(), confirmations=confirmations)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()  # mined in the next block: its receipt is there to read
    eth = _HeadDown(chain)
    w3 = fake_w3(chain)
    w3.eth = eth
    s.w3 = w3
    return chain, s, record.nonce, eth


def test_a_mined_receipt_is_settled_although_the_head_read_fails() -> None:
    """helper-106 (50% faults, seed 77): a poll reads the head before the receipts, so a head
    read that kept failing hid a receipt readable since block 108 for 9.4 s, 11 blocks. With
    one confirmation the head is not needed: the receipt's own block counts as seen."""
    _chain, s, nonce, eth = _sent_then_head_down(confirmations=1)
    outcome = s.poll_nonce(nonce)
    assert eth.receipt_reads >= 1
    assert outcome is not None
    assert outcome.status is TxStatus.MINED


def test_a_receipt_short_of_its_confirmations_still_waits_for_the_head() -> None:
    _chain, s, nonce, _eth = _sent_then_head_down(confirmations=2)
    with pytest.raises(RpcUnavailableError):
        s.poll_nonce(nonce)


def test_a_resend_refused_as_nonce_used_after_an_unknown_first_try_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """helper-106: a send cut after the node took it is sent again at once; the node, which has
    mined the first copy, answers "nonce too low". That is this transaction's own nonce use, and
    was logged as a WARNING "nonce N already used", as a stranger taking it would be."""
    import requests

    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    send = chain.send_raw_transaction
    tries: list[Any] = []

    def cut_after_taking(raw: Any) -> Any:
        tries.append(raw)
        if len(tries) > 1:
            return send(raw)
        send(raw)
        chain.mine()  # taken and mined; the answer is lost
        raise requests.ConnectionError("connection cut")

    chain.send_raw_transaction = cut_after_taking  # type: ignore[method-assign]
    with caplog.at_level("INFO", logger="keeper.execution.sender"):
        record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    assert len(tries) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not [m for m in warned if "already used" in m], warned
    assert any("first try's outcome was unknown" in r.message for r in caplog.records)
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
