"""What an operator is told (alerts, metrics) on the rarer paths.

Found by a review of the observability (helper-117): each test states what the README promises,
and each failed on the tree before its fix.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account

from keeper.app.act import _send, settle_in_flight
from keeper.app.collaborators import Keeper
from keeper.app.loop import Runner
from keeper.app.settle import SETTLE_SELECTOR
from keeper.errors import Halt, KeeperError
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.simulate import REBALANCE_SELECTOR, Simulation
from keeper.ops.alerts import Alerter
from keeper.settings import CycleConfig
from tests.unit.test_audit_findings import VAULT, FakeChain, _rpc_error, make_sender, stub_keeper
from tests.unit.test_ops import FakeSession

BATCHER = "0x" + "bb" * 20


def _alerting_keeper(alerter: Alerter) -> Keeper:
    """A keeper with nothing but ``alerter`` (for a loop whose cycles are stand-ins)."""
    return Keeper(
        w3=None,  # type: ignore[arg-type]
        vaults=[],
        lens=None,  # type: ignore[arg-type]
        policy=None,  # type: ignore[arg-type]
        config=CycleConfig(),
        alerter=alerter,
    )


def _rebalances(keeper: Keeper, state: str) -> float:
    return keeper.metrics.value("keeper_rebalances_total", {"state": state})


# ----------------------------------------------------------------------------------------------
# 1. A batch the node refuses once (not "for good") is counted failed, then mined as well.
class _BrokeOnce(FakeChain):
    """The first broadcast is refused for want of gas money; the account is then funded."""

    broke: bool = True

    def send_raw_transaction(self, raw: Any) -> Any:
        if self.broke:
            self.broke = False
            raise _rpc_error("insufficient funds for gas * price + value")
        return super().send_raw_transaction(raw)


def test_a_batch_refused_once_then_mined_is_not_counted_both_failed_and_mined() -> None:
    chain = _BrokeOnce()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    keeper = stub_keeper(s)
    keeper.batcher = BATCHER
    # a lone vault's own rebalance() (KEEPER_DIRECT_SINGLE)
    sim = Simulation(
        vaults=(VAULT,), calldata=REBALANCE_SELECTOR, gas=100_000, outcomes=(), to=VAULT
    )

    # Cycle 1: the node refuses the broadcast; the row stays signed at its nonce (it is sent
    # again by the next poll), the cycle fails.
    with pytest.raises(KeeperError):
        _send(keeper, sim, chain.block_number)
    assert [t.status for t in s.journal.pending(s.address)] == [TxStatus.SIGNED]

    # Cycle 2: the same signed bytes go out again and get mined; cycle 3 books them.
    settle_in_flight(keeper, chain.block_number)
    chain.mine()
    settled = settle_in_flight(keeper, chain.block_number)
    assert [o.status for o in settled.resumed] == [TxStatus.MINED]

    counts = {st: _rebalances(keeper, st) for st in ("sent", "mined", "failed")}
    # One transaction, mined: it must not also be in the "failed" state.
    assert counts == {"sent": 1.0, "mined": 1.0, "failed": 0.0}, counts


# ----------------------------------------------------------------------------------------------
# 2. A settlement that a reorg removes is counted and alerted as a reorged *rebalance* batch.
def test_a_reorged_settlement_is_not_counted_as_a_reorged_or_reincluded_rebalance() -> None:
    chain = FakeChain()
    s = make_sender(chain, Journal(":memory:"), Account.create())
    keeper = stub_keeper(s)
    keeper.batcher = BATCHER
    settle = SETTLE_SELECTOR + abi_encode(["uint256", "uint80"], [3, 7])
    rec = s.submit_new([VAULT], chain.block_number, VAULT, settle, 100_000, note="settle 3")
    chain.mine()
    assert s.wait(rec.nonce, timeout_s=1).status is TxStatus.MINED

    chain.reorg()  # its block is gone; the settlement goes back to the pool
    first = settle_in_flight(keeper, chain.block_number)
    assert first.reorged
    chain.mine()  # mined again, as it was
    settle_in_flight(keeper, chain.block_number)
    settle_in_flight(keeper, chain.block_number)

    reorg_alerts = [a["message"] for a in keeper.alerter.sent if a["kind"] == "reorg"]
    assert reorg_alerts, "a reorg alert fired"
    # README: keeper_rebalances{state} counts rebalance transactions; a settlement is counted in
    # keeper_settlements. No rebalance was ever sent here.
    counted = {st: _rebalances(keeper, st) for st in ("reorged", "reincluded")}
    assert counted == {"reorged": 0.0, "reincluded": 0.0}, (counted, reorg_alerts)


# ----------------------------------------------------------------------------------------------
# 3. The breaker's halt, right after the webhook's back-off ended: held alerts are never sent.
def test_alerts_held_while_the_webhook_was_down_go_out_before_the_keeper_halts(
    caplog: Any,
) -> None:
    now = [0.0]
    hook = FakeSession(fail=True)
    alerter = Alerter("http://hook.invalid/x", session=hook, clock=lambda: now[0])  # type: ignore[arg-type]
    keeper = _alerting_keeper(alerter)
    # A one-off alert while the webhook is down: held for the 60 s back-off.
    alerter.alert("reorg", "block 7 reorganized away", key="7")
    assert alerter.held == ["reorg"]

    cycles = [0]

    def failing_cycle(_: Keeper) -> Any:
        cycles[0] += 1
        if cycles[0] == 2:  # the webhook is back, and the back-off is over
            now[0] = 61.0
            hook.fail = False
        raise KeeperError("batcher refuses the signer: keeper role lost")

    heads = iter(range(1, 100))
    runner = Runner(
        keeper,
        breaker_threshold=2,
        poll_interval_s=0,
        cycle=failing_cycle,
        block_number=lambda: next(heads),
    )
    with caplog.at_level(logging.WARNING), pytest.raises(Halt):
        runner.run()

    kinds = [p["kind"] for p in hook.posts]
    assert "halt" in kinds  # the webhook took the halt ...
    # ... and the reorg alert held for it was never sent, while the exit line blames the webhook:
    assert "reorg" in kinds, (kinds, [r.getMessage() for r in caplog.records][-2:])


def test_a_halt_whose_post_fails_is_named_among_the_alerts_not_delivered(caplog: Any) -> None:
    hook = FakeSession(fail=True)
    alerter = Alerter("http://hook.invalid/x", session=hook)  # type: ignore[arg-type]
    keeper = _alerting_keeper(alerter)

    def failing_cycle(_: Keeper) -> Any:
        raise KeeperError("batcher refuses the signer: keeper role lost")

    heads = iter(range(1, 100))
    runner = Runner(
        keeper,
        breaker_threshold=1,
        poll_interval_s=0,
        cycle=failing_cycle,
        block_number=lambda: next(heads),
    )
    with caplog.at_level(logging.WARNING), pytest.raises(Halt):
        runner.run()
    assert [p["kind"] for p in hook.tried] == ["halt", "halt"]  # at the halt, and at exit
    lines = [r.getMessage() for r in caplog.records]
    # The last word the log gives on the webhook says the alert is *held* (it is not: a halt is
    # never held and the process exits) and the exit summary of undelivered alerts omits it.
    undelivered = [m for m in lines if "not delivered to the webhook" in m]
    assert any("halt" in m for m in undelivered), lines[-3:]


# ----------------------------------------------------------------------------------------------
# 4. "replaced stuck tx at nonce N" is throttled by kind alone: a second stuck nonce is muted.
def test_a_second_stuck_nonce_replaced_within_the_throttle_interval_is_alerted() -> None:
    from types import SimpleNamespace

    from keeper.app.wiring import _sender
    from tests.unit.test_audit_findings import CALL, GWEI, fake_w3

    class _Chain(FakeChain):
        def call(self, *_: Any, **__: Any) -> bytes:
            return b""  # the plan still simulates: a stuck version is bumped, not cancelled

    chain = _Chain(base_fee=GWEI)
    alerter = Alerter(None)  # only logs; ``sent`` records each alert not throttled
    settings = SimpleNamespace(
        journal_path=":memory:",
        max_fee_per_gas_wei=100 * GWEI,
        max_priority_fee_wei=GWEI,
        priority_fee_wei=GWEI // 10,
        confirmations=1,
        replace_after_blocks=2,
        receipt_timeout_s=1.0,
        poll_interval_s=0.0,
        finality_depth=12,
    )
    s = _sender(fake_w3(chain), settings, Account.create(), Journal(":memory:"), alerter, 10)  # type: ignore[arg-type]

    def stuck_then_replaced() -> int:
        rec = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
        chain.base_fee *= 4  # a fee spike under the cap: the version in the pool is stuck
        for _ in range(6):
            chain._new_block([])  # blocks without it
            if s.poll_nonce(rec.nonce) is not None:
                break
            if len(s.journal.versions(s.address, rec.nonce)) > 1:
                break
        assert len(s.journal.versions(s.address, rec.nonce)) == 2, "replaced with a bump"
        chain.mine()
        out = None
        for _ in range(3):
            out = s.poll_nonce(rec.nonce)
            if out is not None:
                break
            chain._new_block([])
        assert out is not None
        assert out.status is TxStatus.MINED
        return rec.nonce

    first = stuck_then_replaced()
    second = stuck_then_replaced()  # seconds later: another nonce, another stuck transaction
    assert (first, second) == (0, 1)
    replaced = [a["message"] for a in alerter.sent if a["kind"] == "stuck_tx"]
    assert replaced == [
        "replaced stuck tx at nonce 0",
        "replaced stuck tx at nonce 1",
    ], replaced


# ----------------------------------------------------------------------------------------------
# 5. One stuck_tx alert "per spike": after a spike in which nothing was sent, the next is silent.
def test_the_next_fee_spike_alerts_again_after_one_that_ended_with_nothing_sent() -> None:
    from tests.unit.test_audit_findings import GWEI

    now = [0.0]
    chain = FakeChain(base_fee=500 * GWEI)  # above the 100 gwei cap
    s = make_sender(chain, Journal(":memory:"), Account.create())
    keeper = stub_keeper(s)
    keeper.batcher = BATCHER
    keeper.alerter = Alerter(None, clock=lambda: now[0])
    sim = Simulation(
        vaults=(VAULT,), calldata=REBALANCE_SELECTOR, gas=100_000, outcomes=(), to=VAULT
    )

    # Spike 1: the batch waits, one stuck_tx alert.
    assert _send(keeper, sim, chain.block_number).waiting is not None
    # The spike ends; the policy wants nothing for a while (nothing signed, nothing pending).
    # The loop hands each cycle the head it read (its base fee under the cap now).
    chain.base_fee = GWEI
    for _ in range(3):
        chain.mine()
        keeper.head_block = {"number": chain.block_number, "baseFeePerGas": chain.base_fee}
        settle_in_flight(keeper, chain.block_number)
    # An hour later, spike 2: the batch waits again.
    now[0] = 3600.0
    chain.base_fee = 500 * GWEI
    assert _send(keeper, sim, chain.block_number).waiting is not None

    spikes = [a for a in keeper.alerter.sent if a["kind"] == "stuck_tx"]
    assert len(spikes) == 2, [a["message"] for a in spikes]


# ----------------------------------------------------------------------------------------------
# 6. A settlement held by the fee cap: no stuck_tx alert (README: "one stuck_tx alert").
class _Call:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def estimate_gas(self, *_: Any) -> int:
        return 80_000

    def _encode_transaction_data(self) -> str:
        return "0x" + self._data.hex()


class _Vault:
    address = VAULT

    class functions:  # noqa: N801 - web3's contract surface
        @staticmethod
        def settle(series_id: int, hint: int) -> _Call:
            return _Call(SETTLE_SELECTOR + abi_encode(["uint256", "uint80"], [series_id, hint]))


def test_a_settlement_held_by_the_fee_cap_raises_a_stuck_tx_alert() -> None:
    from keeper.app.settle import _settle_one
    from tests.unit.test_audit_findings import GWEI

    chain = FakeChain(base_fee=500 * GWEI)  # above the 100 gwei cap
    s = make_sender(chain, Journal(":memory:"), Account.create())
    keeper = stub_keeper(s)
    keeper.batcher = BATCHER
    outcomes = [_settle_one(keeper, _Vault(), 3, 7, chain.block_number) for _ in range(5)]
    assert {o.outcome for o in outcomes} == {"waiting"}
    assert keeper.metrics.value("keeper_settlements_total", {"outcome": "waiting"}) == 5
    kinds = [a["kind"] for a in keeper.alerter.sent]
    assert "stuck_tx" in kinds, (kinds, outcomes[-1].reason)


# ----------------------------------------------------------------------------------------------
# 3b. SIGTERM while waiting for a block, after the back-off ended: the held alert is not tried.
def test_alerts_held_while_the_webhook_was_down_are_tried_once_more_at_a_clean_stop(
    caplog: Any,
) -> None:
    now = [0.0]
    hook = FakeSession(fail=True)
    alerter = Alerter("http://hook.invalid/x", session=hook, clock=lambda: now[0])  # type: ignore[arg-type]
    keeper = _alerting_keeper(alerter)
    alerter.alert("reorg", "block 7 reorganized away", key="7")  # held: the webhook is down
    polls = [0]
    runner: Runner

    def head() -> int:
        polls[0] += 1
        if polls[0] == 2:  # waiting for block 2: the webhook is back, then SIGTERM arrives
            now[0] = 61.0
            hook.fail = False
            runner.stop()
        return 1

    runner = Runner(keeper, poll_interval_s=0, cycle=lambda k: _ok_result(), block_number=head)
    with caplog.at_level(logging.WARNING):
        assert runner.run() == 1
    lines = [r.getMessage() for r in caplog.records]
    assert [p["kind"] for p in hook.posts] == ["reorg"], lines[-1:]


def _ok_result() -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        waiting=None, dropped={}, failed={}, tx_status=None, nothing_evaluated=lambda: None
    )


# ----------------------------------------------------------------------------------------------
# A journal write that fails after the broadcast (a full disk): the batch is out, not "not sent".
class _FullAfterBroadcast:
    """The journal's connection, whose row updates fail once ``full`` is set (SQLITE_FULL)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.full = False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.full and sql.lstrip().upper().startswith("UPDATE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_journal_write_failing_after_the_broadcast_is_not_alerted_as_not_sent() -> None:
    """helper-122: with the disk full between the broadcast and the journal's note of it, the
    ``failed_batch`` alert said "batch ... not sent ...; kept at nonce N, sent again next
    cycle", while the node held the transaction (and would mine it). It must say it may be out,
    and that the same bytes (one hash: never a second transaction) are what goes again."""
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create())
    keeper = stub_keeper(s)
    keeper.batcher = BATCHER
    seen: list[str] = []
    keeper.alerter.alert = lambda kind, message, **kw: seen.append(f"{kind}: {message}") or True  # type: ignore[method-assign]
    db = _FullAfterBroadcast(journal._db)
    journal._db = db  # type: ignore[assignment]
    sent = s._broadcast

    def broadcast_then_fill(record: Any) -> str:
        out = sent(record)
        db.full = True
        return out

    s._broadcast = broadcast_then_fill  # type: ignore[method-assign]
    sim = Simulation(
        vaults=(VAULT,), calldata=REBALANCE_SELECTOR, gas=100_000, outcomes=(), to=VAULT
    )
    with pytest.raises(KeeperError):
        _send(keeper, sim, chain.block_number)
    assert chain.pool, "the node holds the batch"
    [alert] = [a for a in seen if a.startswith("failed_batch")]
    assert "not sent" not in alert, alert
    assert "may be out" in alert, alert
    assert "same bytes" in alert, alert
