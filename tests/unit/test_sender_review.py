"""Sender defects a review found; each test was written first and failed on the tree before its fix.

No node: the journaled sender runs against the scripted single-account
:class:`~tests.unit.test_audit_findings.FakeChain`.
"""

from __future__ import annotations

import contextlib

from eth_account import Account

from keeper.errors import FeeCapError
from keeper.execution.journal import Journal, TxStatus
from tests.unit.test_audit_findings import CALL, GWEI, VAULT, FakeChain, make_sender


def test_a_stale_plan_whose_cancel_hits_the_cap_at_restart_is_never_broadcast() -> None:
    """Signed at the fee cap, then the process died; on restart the plan no longer simulates and
    its cancel cannot be bumped under the cap, so ``reconcile`` leaves it unsent. The next poll
    must not broadcast it anyway (it would be mined into a failure)."""
    chain = FakeChain(base_fee=60 * GWEI)  # 2 * base + tip > the 100 gwei cap: priced at the cap
    acct = Account.create()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, acct)
    stale = s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)  # ... and it died
    assert stale.max_fee == 100 * GWEI

    restarted = make_sender(chain, journal, acct, still_valid=lambda to, data: False)
    assert restarted.reconcile().rebroadcast == 0
    for _ in range(5):
        with contextlib.suppress(FeeCapError):  # a wait for the base fee; the chain tells the rest
            restarted.poll_nonce(stale.nonce)
        chain.mine()
    assert not [t for t in chain.mined if t.data == CALL], "the stale plan was broadcast and mined"
    assert journal.tx(stale.tx_hash).status is TxStatus.SIGNED
