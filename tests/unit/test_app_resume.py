"""Transactions resumed by the next cycle's settle step are booked by what they call.

A pending nonce whose receipt did not come within its cycle is finished by
:func:`keeper.app.act.settle_in_flight`: a batch as a rebalance, a lone vault's own rebalance
as the in-cycle path books it, and a settlement or queue fill as a settlement, never a rebalance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

from keeper.app.act import settle_in_flight
from keeper.app.collaborators import Keeper
from keeper.chain.retry import RpcUnavailableError
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import SendOutcome
from keeper.execution.simulate import REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR, BatchCodec
from keeper.units import Wei
from tests.unit.test_app_cycle import BATCHER, FakeSender, make_keeper, snap, vault
from tests.unit.test_app_settle import SETTLE, VAULT, FakeEth, FakeVault, FakeW3
from tests.unit.test_audit_findings import FakeChain, make_sender

FILL = bytes(keccak(text="fill()")[:4])
QUEUE = "0x" + "91" * 20


@dataclass
class ResumingSender(FakeSender):
    """One journaled nonce (0) that the settle step finds finished as ``outcome``."""

    outcome: SendOutcome | None = None
    calls: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def journal_call(
        self,
        vaults: list[str],
        to: str,
        data: bytes,
        tx_hash: str = "0xaa",
        *,
        raw_tx: str = "0x02",
        l1_fee: int | None = None,
        intent: int | None = None,
    ) -> int:
        """Journal a signed version calling ``to`` with ``data``: its intent's id.

        ``intent``: a version of that intent (a replacement or a cancel), else a new intent.
        """
        if intent is None:
            intent = self.journal.open_intent(vaults, 90)
        self.journal.record_signed(
            intent_id=intent,
            account=self.address,
            nonce=0,
            tx_hash=tx_hash,
            raw_tx=raw_tx,
            max_fee=Wei(1),
            priority_fee=Wei(1),
            gas=300_000,
            l1_fee=None if l1_fee is None else Wei(l1_fee),
        )
        self.calls[tx_hash] = (to, data)
        return intent

    def poll_nonce(self, nonce: int) -> SendOutcome | None:
        assert self.outcome is not None
        for v in self.journal.versions(self.address, nonce):
            won = v.tx_hash == self.outcome.tx_hash
            self.journal.mark(v.tx_hash, self.outcome.status if won else TxStatus.REPLACED)
        return self.outcome

    def call_of(self, tx_hash: str) -> tuple[str, bytes]:
        return self.calls[tx_hash]


def ended(status: str, tx_hash: str = "0xaa", cancelled: bool = False) -> SendOutcome:
    mined = status != "dropped"
    return SendOutcome(
        0,
        tx_hash,
        TxStatus(status),
        101 if mined else None,
        60_000 if mined else None,
        Wei(5) if mined else None,
        0,
        cancelled=cancelled,
    )


def resuming(sender: ResumingSender, w3_vault: FakeVault | None = None) -> Keeper:
    k = make_keeper([snap(0, -(10**18) // 2)], sender=sender, batcher=BATCHER)
    if w3_vault is not None:
        k.w3 = FakeW3(FakeEth(w3_vault))  # type: ignore[assignment]
    return k


def rebalances(k: Keeper) -> dict[str, float]:
    states = ("sent", "mined", "failed", "vault_reverted", "cancelled", "replaced")
    return {
        s: v for s in states if (v := k.metrics.value("keeper_rebalances_total", {"state": s})) != 0
    }


def kinds(k: Keeper) -> list[str]:
    return [a["kind"] for a in k.alerter.sent]


@pytest.mark.parametrize(
    "selector", [REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR], ids=["rebalance", "rebalanceTo"]
)
def test_a_resumed_lone_vault_revert_is_booked_as_the_in_cycle_path_books_it(
    selector: bytes,
) -> None:
    sender = ResumingSender(outcome=ended("reverted"))
    data = selector if selector == REBALANCE_SELECTOR else selector + abi_encode(["int256"], [5])
    sender.journal_call([vault(0)], vault(0), data)
    k = resuming(sender)
    settled = settle_in_flight(k)
    assert [o.tx_hash for o in settled.resumed] == ["0xaa"]
    assert rebalances(k) == {"sent": 1, "vault_reverted": 1}
    assert "failed_batch" not in kinds(k)
    assert k.metrics.value("keeper_trigger_disagreements_total") == 1
    assert k.lens.forgotten == 1  # type: ignore[attr-defined]  # the next read is a full one
    assert k.metrics.value("keeper_gas_spent_wei_total") == 300_000


def test_a_resumed_batch_is_still_a_rebalance() -> None:
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([vault(0), vault(1)], BATCHER, BatchCodec().encode([vault(0), vault(1)]))
    k = resuming(sender)
    settle_in_flight(k)
    assert rebalances(k) == {"sent": 1, "mined": 1}
    assert k.metrics.value("keeper_vaults_rebalanced_total") == 2  # the intent's vaults


def test_a_resumed_batch_books_a_vault_that_failed_inside_it() -> None:
    # The receipt came a cycle late; the vault the batcher dropped is booked as in the cycle.
    topic = keccak(text="VaultRebalanceFailed(address,bytes)")
    log = {
        "address": BATCHER,
        "topics": [topic, bytes(12) + bytes.fromhex(vault(1)[2:])],
        "data": abi_encode(["bytes"], [b""]),
    }
    outcome = replace(ended("mined"), receipt={"status": 1, "logs": [log]})
    sender = ResumingSender(outcome=outcome)
    sender.journal_call([vault(0), vault(1)], BATCHER, BatchCodec().encode([vault(0), vault(1)]))
    k = resuming(sender)
    settle_in_flight(k)
    assert rebalances(k) == {"sent": 1, "mined": 1}
    assert k.metrics.value("keeper_vaults_rebalanced_total") == 1
    assert k.metrics.value("keeper_trigger_disagreements_total") == 1
    assert k.lens.forgotten == 1  # type: ignore[attr-defined]


def test_a_resumed_reverted_batch_still_alerts_as_a_failed_batch() -> None:
    sender = ResumingSender(outcome=ended("reverted"))
    sender.journal_call([vault(0)], BATCHER, BatchCodec().encode([vault(0)]))
    k = resuming(sender)
    settle_in_flight(k)
    assert rebalances(k) == {"sent": 1, "failed": 1}
    assert "failed_batch" in kinds(k)
    assert k.lens.forgotten == 0  # type: ignore[attr-defined]


def test_a_cancelled_lone_rebalance_is_classified_by_the_call_it_cancelled() -> None:
    sender = ResumingSender(outcome=ended("mined", tx_hash="0xbb", cancelled=True))
    intent = sender.journal_call([vault(0)], vault(0), REBALANCE_SELECTOR)
    sender.journal_call([vault(0)], sender.address, b"", tx_hash="0xbb", intent=intent)  # cancel
    k = resuming(sender)
    settle_in_flight(k)
    assert rebalances(k) == {"sent": 1, "cancelled": 1}
    assert kinds(k) == []


def settle_call(sid: int) -> bytes:
    return SETTLE + abi_encode(["uint256", "uint256"], [sid, 77])


def settlements(k: Keeper) -> dict[str, float]:
    names = ("settled", "settled_by_other", "failed")
    return {
        n: v
        for n in names
        if (v := k.metrics.value("keeper_settlements_total", {"outcome": n})) != 0
    }


def test_a_resumed_mined_settlement_is_a_settlement_not_a_rebalance() -> None:
    fake = FakeVault()
    fake.add_expired(3)
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    settled = settle_in_flight(k)
    assert len(settled.resumed) == 1
    assert rebalances(k) == {}
    assert settlements(k) == {"settled": 1}
    assert kinds(k) == []


def test_a_resumed_settlement_frees_its_vaults_redemption_queue_for_this_cycle() -> None:
    """The queue fill that follows a settlement in its own cycle follows a resumed one too.

    Without it, a settlement whose receipt came a cycle late left the queue unfilled until the
    next settlement or someone else's ``fill()``: the series was no longer expired, so the settle
    step never looked at the vault again.
    """
    fake = FakeVault()
    fake.add_expired(3)
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    assert settle_in_flight(k).freed == (VAULT,)


def test_a_resumed_batch_frees_no_queue() -> None:
    sender = ResumingSender(outcome=ended("mined"))
    sender.journal_call([vault(0)], BATCHER, BatchCodec().encode([vault(0)]))
    assert settle_in_flight(resuming(sender)).freed == ()


def test_a_resumed_settlement_reverted_by_a_race_is_settled_by_another() -> None:
    fake = FakeVault()
    fake.add_expired(3)
    fake.rows[3][6] = True  # someone else settled it first
    sender = ResumingSender(outcome=ended("reverted"))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    assert settle_in_flight(k).freed == (VAULT,)  # settled all the same: its quote is free
    assert rebalances(k) == {}
    assert settlements(k) == {"settled_by_other": 1}
    assert kinds(k) == []


def test_a_dropped_settlement_is_read_at_the_cycle_head_not_latest() -> None:
    # Never mined, so there is no block of its own to read at: the cycle's head is, and a node
    # behind it answers "header not found" (it fails over) instead of "not settled" at its own
    # `latest`, which was a false `settlement` alert for a series someone else settled.
    fake = FakeVault(lagging=True)
    fake.add_expired(3)
    fake.rows[3][6] = True  # settled by someone else, in a block the lagging node lacks
    sender = ResumingSender(outcome=ended("dropped"))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    settle_in_flight(k, head=120)
    assert fake.reads == [120]
    assert settlements(k) == {"settled_by_other": 1}
    assert kinds(k) == []


@pytest.mark.parametrize("status", ["reverted", "dropped"])
def test_a_resumed_settlement_that_failed_alerts_as_a_settlement(status: str) -> None:
    fake = FakeVault()
    fake.add_expired(3)  # still unsettled
    sender = ResumingSender(outcome=ended(status))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    settle_in_flight(k)
    assert rebalances(k) == {}
    assert settlements(k) == {"failed": 1}
    assert kinds(k) == ["settlement"]


def test_a_resumed_queue_fill_is_no_rebalance() -> None:
    sender = ResumingSender(outcome=ended("reverted"))
    sender.journal_call([VAULT], QUEUE, FILL)
    k = resuming(sender)
    settle_in_flight(k)
    assert rebalances(k) == {}
    assert settlements(k) == {}
    assert kinds(k) == ["redemption_queue"]


def test_a_settlement_mined_while_the_keeper_was_down_is_booked_and_frees_its_queue() -> None:
    """The keeper dies right after sending a settlement; it is mined while the keeper is down.
    On restart the journal's reconciliation finds its receipt and settles the nonce, so the
    first cycle's settle step has nothing pending to poll: the settlement must still be booked
    (and its vault's redemption queue filled) as one that finished a cycle late is."""
    chain = FakeChain()
    acct = Account.create()
    journal = Journal(":memory:")
    before = make_sender(chain, journal, acct)
    signed = before.prepare(journal.open_intent([VAULT], 1), VAULT, settle_call(3), 200_000)
    chain.send_raw_transaction(signed.raw_tx)  # sent, and then the process died
    chain.mine()

    restarted = make_sender(chain, journal, acct)
    assert restarted.reconcile().mined == 1  # what the loop runs before its first cycle
    fake = FakeVault()
    fake.add_expired(3)
    k = resuming(ResumingSender(), fake)
    k.sender = restarted
    settled = settle_in_flight(k)
    assert settlements(k) == {"settled": 1}
    assert [v.lower() for v in settled.freed] == [VAULT.lower()]  # filled after the hedge


def test_a_finished_settlement_whose_booking_read_fails_is_booked_once_by_the_next_cycle() -> None:
    """A settlement that did not get mined is booked by reading whether someone else settled its
    series. That read can fail (every endpoint down): the cycle fails, but the journal has
    already settled the nonce, so nothing is pending any more. The next cycle must still book
    it, and only once."""
    fake = FakeVault(read_error=RpcUnavailableError("no endpoint answered eth_call"))
    fake.add_expired(3)  # still unsettled
    sender = ResumingSender(outcome=ended("dropped"))
    sender.journal_call([VAULT], VAULT, settle_call(3))
    k = resuming(sender, fake)
    with pytest.raises(RpcUnavailableError):
        settle_in_flight(k)
    assert settlements(k) == {}
    assert kinds(k) == []
    assert sender.journal.pending_nonces(sender.address) == []  # the journal settled it
    settled = settle_in_flight(k)
    assert [o.tx_hash for o in settled.resumed] == ["0xaa"]
    assert settlements(k) == {"failed": 1}
    assert kinds(k) == ["settlement"]
    settle_in_flight(k)
    assert settlements(k) == {"failed": 1}


def test_reconciled_settlements_are_booked_once_each_across_a_failed_booking_read() -> None:
    """Two settlements mined while the keeper was down, the second reverted; reading whether its
    series is settled fails on the first cycle. The first is booked once, and the second is
    booked by the next cycle instead of being lost with the failed one."""
    chain = FakeChain()
    acct = Account.create()
    journal = Journal(":memory:")
    before = make_sender(chain, journal, acct)
    for sid in (3, 4):
        signed = before.prepare(journal.open_intent([VAULT], 1), VAULT, settle_call(sid), 200_000)
        chain.send_raw_transaction(signed.raw_tx)
        if sid == 4:
            reverted = signed.tx_hash
    chain.mine()  # ... and then the process died
    chain.receipts[reverted]["status"] = 0

    restarted = make_sender(chain, journal, acct)
    assert restarted.reconcile().mined == 2
    fake = FakeVault(read_error=RpcUnavailableError("no endpoint answered eth_call"))
    fake.add_expired(3)
    fake.add_expired(4)
    k = resuming(ResumingSender(), fake)
    k.sender = restarted
    with pytest.raises(RpcUnavailableError):
        settle_in_flight(k)
    assert settlements(k) == {"settled": 1}
    settled = settle_in_flight(k)
    assert settlements(k) == {"settled": 1, "failed": 1}
    assert [o.tx_hash for o in settled.resumed] == [reverted]
    assert kinds(k) == ["settlement"]
    settle_in_flight(k)
    assert settlements(k) == {"settled": 1, "failed": 1}
