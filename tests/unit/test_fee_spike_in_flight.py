"""A fee spike that catches a batch in flight: one ``stuck_tx`` alert, and no send a poll.

helper-106 found both in ``fee_spike`` chaos runs with seeds 3 and 41 (seed 7, the suite's,
sends its batch after the spike):

- The batch in flight is refused as underpriced by the spike's base fee. Once it is due, it is
  replaced at the cap, still below the base fee. That replacement raised ``stuck_tx`` "replaced
  stuck tx", and the next poll, which cannot bump under the cap, raised the fee-cap
  ``stuck_tx``: two pages for one spike (the target is one), and the first read as a slow
  mempool. A replacement signed at the cap below the base fee is now the fee-cap wait's (logged;
  its alert comes with the ``FeeCapError`` that follows).
- A version refused as underpriced was broadcast again at every poll (29 refused sends in 7 s of
  1-s blocks); only a new block can change the node's answer, so it is now tried once a head.
"""

from __future__ import annotations

import contextlib
from typing import Any

from eth_account import Account

from keeper.app.act import settle_in_flight
from keeper.app.wiring import _sender
from keeper.errors import FeeCapError
from keeper.execution.journal import Journal
from keeper.ops.alerts import Alerter
from keeper.settings import Settings
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, fake_w3, stub_keeper

GWEI = 10**9


def _in_flight_at_a_spike() -> tuple[FakeChain, Any, Alerter]:
    """A batch sent at a quiet base fee, then refused: the next block's is 80 gwei (cap 50)."""
    chain = FakeChain()
    chain.base_fee = 1_000
    settings = Settings(max_fee_per_gas_wei=50 * GWEI, replace_after_blocks=3)
    alerter = Alerter(None)
    s = _sender(fake_w3(chain), settings, Account.create(), Journal(":memory:"), alerter, 10)
    s._sleep = lambda _: None
    s._still_valid = lambda to, data: True  # the plan still simulates
    s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.pool.clear()  # evicted: the version in flight is now refused as underpriced
    chain.base_fee = 80 * GWEI
    return chain, s, alerter


def test_a_spike_with_a_batch_in_flight_raises_one_stuck_tx_alert() -> None:
    chain, s, alerter = _in_flight_at_a_spike()
    keeper = stub_keeper(s)
    keeper.alerter = alerter
    for _ in range(8):  # eight blocks of the spike, a cycle each
        chain.mine()
        settle_in_flight(keeper, chain.block_number)
    stuck = [a["message"] for a in alerter.sent if a["kind"] == "stuck_tx"]
    assert len(stuck) == 1, stuck
    assert "above the max fee cap" in stuck[0]
    assert len(s.journal.versions(s.address, 0)) == 2  # replaced at the cap all the same
    chain.base_fee = 1_000  # the spike is over: the capped version is sent again and mined
    for _ in range(2):
        settle_in_flight(keeper, chain.block_number)
        chain.mine()
    settle_in_flight(keeper, chain.block_number)
    assert not s.journal.pending_nonces(s.address)
    assert [tx.max_fee for tx in chain.mined] == [50 * GWEI]


def test_an_underpriced_version_is_broadcast_again_once_a_head() -> None:
    chain, s, _alerter = _in_flight_at_a_spike()
    while len(s.journal.versions(s.address, 0)) < 2:  # replaced at the cap, refused: underpriced
        chain.mine()
        with contextlib.suppress(FeeCapError):
            s.poll_nonce(0)
    sends: list[Any] = []
    send = chain.send_raw_transaction

    def counted(raw: Any) -> Any:
        sends.append(raw)
        return send(raw)

    chain.send_raw_transaction = counted  # type: ignore[method-assign]
    chain.mine()
    for _ in range(10):  # ten polls at one head
        assert s.poll_nonce(0) is None
    assert len(sends) == 1
    chain.mine()
    assert s.poll_nonce(0) is None
    assert len(sends) == 2
