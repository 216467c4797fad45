"""Settling expired series with stand-in contracts: who settled first, and what is alerted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError

from keeper.app.collaborators import Keeper
from keeper.app.settle import SettleStep, fill_due_queues, settle_expired
from keeper.errors import ExecutionError, TxTimeoutError
from keeper.execution.journal import Journal, TxRecord, TxStatus
from keeper.execution.sender import SendOutcome
from keeper.units import Wei
from tests.unit.test_app_cycle import NOW, make_keeper, snap

SETTLE = bytes(keccak(text="settle(uint256,uint80)")[:4])
FILL = bytes(keccak(text="fill()")[:4])
ALREADY_SETTLED = bytes(keccak(text="OptionVaultAlreadySettled(uint256)")[:4])
VAULT = "0x" + "a1" * 20
FEED = "0x" + "fe" * 20
NO_QUEUE = "0x" + "00" * 20
HINT = 77


class _Call:
    """A bound contract call: ``call()``, ``estimate_gas()`` and its calldata."""

    def __init__(
        self, read: Callable[[], Any], data: bytes = b"", estimate: Callable[[], int] | None = None
    ) -> None:
        self._read, self._data, self._estimate = read, data, estimate

    def call(self) -> Any:
        return self._read()

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        assert self._estimate is not None
        return self._estimate()

    def _encode_transaction_data(self) -> str:
        return "0x" + self._data.hex()


class _SeriesCall:
    """``series(id)``: at ``latest`` a lagging node's answer (unsettled) when ``v.lagging``."""

    def __init__(self, vault: FakeVault, sid: int) -> None:
        self.v, self.sid = vault, sid

    def call(self, block_identifier: Any = "latest") -> Any:
        if self.v.read_error is not None:
            error, self.v.read_error = self.v.read_error, None
            raise error
        self.v.reads.append(block_identifier)
        row = list(self.v.rows[self.sid])
        if self.v.lagging and block_identifier == "latest":
            row[6] = False  # the node has not seen the block that settled it
        return tuple(row)


class _Functions:
    def __init__(self, vault: FakeVault) -> None:
        self.v = vault

    def openSeries(self) -> _Call:  # noqa: N802  # the contract's name
        return _Call(lambda: [tuple(s) for s in self.v.rows.values()])

    def oracle(self) -> _Call:
        return _Call(lambda: FEED)

    def series(self, sid: int) -> _Call:
        return _SeriesCall(self.v, sid)

    def redemptionQueue(self) -> _Call:  # noqa: N802
        return _Call(lambda: NO_QUEUE)

    def settle(self, sid: int, hint: int) -> _Call:
        return _SettleCall(
            self.v,
            SETTLE + abi_encode(["uint256", "uint80"], [sid, hint]),
            lambda: self.v.simulate_settle(sid),
        )


class _SettleCall(_Call):
    """``settle(id, hint)``: ``estimate_gas`` at ``latest``; ``call`` pinned to a block answers
    as that block's chain does (``v.pinned_error``, else it settles)."""

    def __init__(self, vault: FakeVault, data: bytes, estimate: Callable[[], int]) -> None:
        super().__init__(lambda: None, data, estimate)
        self.v = vault

    def call(self, tx: dict[str, Any] | None = None, block_identifier: Any = "latest") -> Any:
        self.v.pinned.append(block_identifier)
        if self.v.pinned_error is not None:
            raise self.v.pinned_error
        return 0


@dataclass
class FakeVault:
    """One vault's series: ``rows[id] = [id, kind, strike, cap, expiry, size, settled, payout]``."""

    address: str = VAULT
    rows: dict[int, list[Any]] = field(default_factory=dict)
    #: Raised by the settle simulation, if set.
    sim_error: ContractLogicError | None = None
    #: ``latest`` reads come from a node a few blocks behind (see :class:`_SeriesCall`).
    lagging: bool = False
    reads: list[Any] = field(default_factory=list)
    #: Raised by the next ``series(id)`` read, once (an RPC fault).
    read_error: Exception | None = None
    #: Raised by a ``settle`` call pinned to a block (the chain at that block refuses it too).
    pinned_error: Exception | None = None
    #: The blocks ``settle`` was called at (``eth_call``).
    pinned: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.functions = _Functions(self)

    def add_expired(self, sid: int) -> None:
        self.rows[sid] = [sid, 0, 3000 * 10**8, 0, NOW - 3600, 10**18, False, 0]

    def settled(self, sid: int) -> bool:
        return bool(self.rows[sid][6])

    def simulate_settle(self, sid: int) -> int:
        if self.sim_error is not None:
            raise self.sim_error
        return 40_000


VAULT_GAS_LIMIT = bytes(keccak(text="vaultGasLimit()")[:4])


@dataclass
class FakeEth:
    vault: FakeVault
    chain_id: int = 10
    block_number: int = 100
    #: Other contracts by address: a second vault, a redemption queue.
    others: dict[str, Any] = field(default_factory=dict)

    #: The batcher's ``vaultGasLimit()`` and the block's gas limit (a batch's gas limit).
    vault_gas_limit: int = 2_000_000
    block_gas_limit: int = 30_000_000

    def call(self, params: dict[str, Any], block_identifier: Any = "latest") -> bytes:
        """The batcher's ``vaultGasLimit()``; else the replay of a reverted transaction
        (``why_reverted``): it fails as the vault's reads fail, else reverts without data."""
        if bytes(params.get("data", b""))[:4] == VAULT_GAS_LIMIT:
            return self.vault_gas_limit.to_bytes(32, "big")
        if self.vault.read_error is not None:
            raise self.vault.read_error
        raise ContractLogicError("execution reverted", data="0x")

    def get_block(self, block: Any) -> dict[str, Any]:
        return {"number": self.block_number, "gasLimit": self.block_gas_limit}

    def contract(self, address: str, abi: Any) -> Any:
        if address.lower() in self.others:
            return self.others[address.lower()]
        assert address.lower() == self.vault.address.lower()
        return self.vault


@dataclass
class FakeW3:
    eth: FakeEth


@dataclass
class SettleSender:
    """Sends through a journal; ``on_mine`` runs as the transaction is mined (the same block)."""

    status: str = "mined"
    on_mine: Callable[[], None] | None = None
    address: str = "0x" + "ee" * 20
    journal: Journal = field(default_factory=lambda: Journal(":memory:"))
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def submit_new(
        self, vaults: Any, block: int, to: str, data: bytes, gas: int, **kw: Any
    ) -> TxRecord:
        intent = self.journal.open_intent(vaults, block, kw.get("note", ""))
        self.sent.append((to, data))
        return self.journal.record_signed(
            intent_id=intent,
            account=self.address,
            nonce=len(self.sent) - 1,
            tx_hash=f"0x{len(self.sent):064x}",
            raw_tx=self.raw(to, data),
            max_fee=Wei(1),
            priority_fee=Wei(1),
            gas=gas,
        )

    def raw(self, to: str, data: bytes) -> str:
        """The signed bytes journaled for a call (a stand-in no code here decodes)."""
        return "0x02"

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        if self.on_mine is not None:
            self.on_mine()
        tx_hash = f"0x{nonce + 1:064x}"
        self.journal.mark(tx_hash, TxStatus(self.status))
        return SendOutcome(nonce, tx_hash, TxStatus(self.status), 101, 30_000, Wei(7), 0)


class NoReceiptSender(SettleSender):
    """Sends, and no receipt comes within the wait (the journal keeps the transaction)."""

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        raise TxTimeoutError(f"nonce {nonce}: no receipt in 120 s")


def settle_keeper(
    monkeypatch: pytest.MonkeyPatch, vault: FakeVault, sender: SettleSender | None
) -> Keeper:
    monkeypatch.setattr("keeper.app.settle.expiry_round", lambda w3, feed, expiry, now, block: HINT)
    k = make_keeper([snap(0, 0)], sender=sender)
    k.w3 = FakeW3(FakeEth(vault))  # type: ignore[assignment]
    return k


def outcomes(k: Keeper) -> dict[str, float]:
    names = ("settled", "settled_by_other", "failed", "simulated", "waiting")
    return {
        n: v
        for n in names
        if (v := k.metrics.value("keeper_settlements_total", {"outcome": n})) != 0
    }


def reverts(*_: Any) -> Any:
    """A read the chain refuses (a contract's own fault, not the node's)."""
    raise ContractLogicError("execution reverted", data="0x")


def settle_then_fill(
    k: Keeper,
    vaults: Any,
    block: int,
    now: int,
    blocked: str | None = None,
    *,
    fill: Any = (),
) -> tuple[SettleStep, str | None]:
    """The cycle's settle step, then its last step, the queue fills (the hedge goes between).

    Returns the settle step and what the fills left pending.
    """
    step = settle_expired(k, vaults, block, now, blocked, fill=fill)
    return step, fill_due_queues(k, block, blocked or step.pending)


def test_an_expired_series_is_settled_through_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert (s.series_id, s.round_id, s.outcome) == (3, HINT, "settled")
    assert sender.sent == [(VAULT, SETTLE + abi_encode(["uint256", "uint80"], [3, HINT]))]
    assert outcomes(k) == {"settled": 1}
    assert k.metrics.value("keeper_expired_unsettled") == 0


def test_a_settlement_beaten_in_its_block_is_settled_by_another_not_an_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The simulation passed; someone else's settle landed first in the same block."""
    vault = FakeVault()
    vault.add_expired(3)

    def other_settles_first() -> None:
        vault.rows[3][6] = True

    sender = SettleSender("reverted", on_mine=other_settles_first)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "settled_by_other"
    assert s.tx_hash == f"0x{1:064x}"  # our reverted transaction
    assert outcomes(k) == {"settled_by_other": 1}
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]
    assert k.metrics.value("keeper_expired_unsettled") == 0  # the series is settled
    assert k.metrics.value("keeper_gas_spent_wei_total") == 30_000 * 7  # paid all the same


def test_a_settlement_beaten_in_its_block_read_on_a_node_behind_is_not_an_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The re-read after the revert asked ``latest``; a node behind (the chaos suite's lagging
    failover) answered "not settled", and a false ``settlement`` alert fired. It now reads at the
    block that mined the revert (101): settled there, by the other settle in that block."""
    vault = FakeVault(lagging=True)
    vault.add_expired(3)

    def other_settles_first() -> None:
        vault.rows[3][6] = True

    sender = SettleSender("reverted", on_mine=other_settles_first)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "settled_by_other"
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]
    assert vault.reads[-1] == 101


def test_a_settlement_reverted_with_the_series_still_unsettled_is_alerted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault, sender = FakeVault(), SettleSender("reverted")
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "failed"
    assert "reverted" in s.reason
    assert outcomes(k) == {"failed": 1}
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert k.metrics.value("keeper_expired_unsettled") == 1


def test_a_simulation_refused_as_already_settled_is_settled_by_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The series was settled between the keeper's read and its simulation: nothing to do."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    data = "0x" + (ALREADY_SETTLED + abi_encode(["uint256"], [3])).hex()
    vault.sim_error = ContractLogicError("execution reverted", data=data)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "settled_by_other"
    assert s.tx_hash is None
    assert sender.sent == []
    assert outcomes(k) == {"settled_by_other": 1}
    assert k.alerter.sent == []


@pytest.mark.parametrize(
    ("error", "args"),
    [
        ("OptionVaultNotExpired(uint256,uint256)", (3, NOW + 60)),
        ("OptionVaultSettlementRound(uint80)", (HINT,)),
    ],
    ids=["not-expired", "round"],
)
def test_a_refusal_a_node_behind_could_give_waits_once_then_is_alerted(
    monkeypatch: pytest.MonkeyPatch, error: str, args: tuple[int, ...]
) -> None:
    """Chaos ``harsh`` (a failover 3 blocks behind), seed 61: false ``settlement`` alerts from
    settlements simulated on the lagging node, "OptionVaultNotExpired" (it had not reached the
    expiry the cycle's block had passed) and "OptionVaultSettlementRound(83)" (it lacked the
    round the search found at the cycle's block). Either refusal now waits a cycle with no
    alert; the same refusal of the same hint again is alerted (a wrong hint, not a node)."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    types = error[error.index("(") + 1 : -1].split(",")
    data = keccak(text=error)[:4] + abi_encode(types, list(args))
    vault.sim_error = ContractLogicError("execution reverted", data="0x" + data.hex())
    k = settle_keeper(monkeypatch, vault, sender)
    [first] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert first.outcome == "waiting"
    assert first.reason.startswith("simulated on a node behind the cycle's block?")
    assert sender.sent == []
    assert k.alerter.sent == []
    [second] = settle_expired(k, [VAULT], 101, NOW + 2).settlements
    assert second.outcome == "failed"
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert outcomes(k) == {"waiting": 1, "failed": 1}


def _refusal(error: str, args: tuple[int, ...]) -> ContractLogicError:
    types = error[error.index("(") + 1 : -1].split(",")
    data = keccak(text=error)[:4] + abi_encode(types, list(args))
    return ContractLogicError("execution reverted", data="0x" + data.hex())


def test_a_hint_refused_at_the_cycles_block_too_is_alerted_in_its_first_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refusal "not the expiry round" waited a cycle before its alert, as if a node behind the
    cycle's block had answered, even when the chain at that very block refuses the hint (a hint
    the keeper's search and the vault disagree on). The refusal is now checked there, by a call
    pinned to the cycle's block: refused there too, it is a wrong hint, alerted at once."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    vault.sim_error = vault.pinned_error = _refusal("OptionVaultSettlementRound(uint80)", (HINT,))
    k = settle_keeper(monkeypatch, vault, sender)
    [first] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert first.outcome == "failed"
    assert first.reason.startswith("simulation reverted")
    assert vault.pinned == [100]
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert sender.sent == []


def test_a_refusal_that_persists_is_failed_every_cycle_after_its_first_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused at ``latest`` cycle after cycle while the cycle's block takes the hint (a node
    that stays behind): one wait, then failed and alerted every cycle. The second refusal
    forgot the first, so the third waited again without an alert: the outcome flipped between
    ``waiting`` and ``failed`` every cycle for as long as the refusal lasted."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    vault.sim_error = _refusal("OptionVaultNotExpired(uint256,uint256)", (3, NOW + 60))
    k = settle_keeper(monkeypatch, vault, sender)
    seen = [settle_expired(k, [VAULT], 100 + i, NOW + 2 * i).settlements[0] for i in range(4)]
    assert [s.outcome for s in seen] == ["waiting", "failed", "failed", "failed"]
    assert sender.sent == []


def test_any_other_simulation_revert_is_alerted(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = FakeVault()
    vault.add_expired(3)
    vault.sim_error = ContractLogicError("execution reverted", data="0xdeadbeef")
    k = settle_keeper(monkeypatch, vault, SettleSender())
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert s.outcome == "failed"
    assert s.reason.startswith("simulation reverted")
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]


def test_nothing_is_settled_while_an_earlier_transaction_is_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A settlement still unmined from an earlier cycle must not be sent again at a new nonce."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW, blocked="tx at nonce 0 still pending").settlements
    assert (s.series_id, s.outcome) == (3, "waiting")
    assert "still pending" in s.reason
    assert sender.sent == []
    assert outcomes(k) == {"waiting": 1}
    assert k.metrics.value("keeper_expired_unsettled") == 1


def test_the_cycle_hands_a_pending_transaction_to_the_settle_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keeper.app.act import Settled
    from keeper.app.cycle import run_cycle

    seen: list[str | None] = []

    def settle(
        keeper: Keeper, vaults: Any, block: int, now: int, blocked: Any = None, **kw: Any
    ) -> SettleStep:
        seen.append(blocked)
        return SettleStep(())

    monkeypatch.setattr("keeper.app.cycle.settle_in_flight", lambda k, h: Settled(blocked="p"))
    monkeypatch.setattr("keeper.app.cycle.settle_expired", settle)
    run_cycle(make_keeper([snap(0, 0)]))
    assert seen == ["p"]


def test_a_settlement_without_a_receipt_yet_waits_for_the_next_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sent, no receipt within the cycle: the journal keeps it and the next cycle books it.

    Counting it ``failed`` (with an alert) now and ``settled`` when it lands would count the
    series twice.
    """

    vault, sender = FakeVault(), NoReceiptSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert (s.series_id, s.outcome) == (3, "waiting")
    assert "no receipt" in s.reason
    assert len(sender.sent) == 1
    assert outcomes(k) == {"waiting": 1}
    assert k.alerter.sent == []


def test_a_feed_that_reverts_fails_that_settlement_and_the_cycle_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dead feed (``latestRoundData`` reverts) is that vault's problem, not the keeper's.

    It raised out of the settle step, before the plan, so no vault was hedged that cycle; and a
    revert is not transient, so the breaker counted every such cycle until the keeper halted.
    """
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    monkeypatch.setattr("keeper.app.settle.expiry_round", reverts)  # a dead feed
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert (s.series_id, s.outcome) == (3, "failed")
    assert "ContractLogicError" in s.reason
    assert sender.sent == []
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert k.metrics.value("keeper_expired_unsettled") == 1


def test_a_vault_whose_series_cannot_be_read_is_alerted_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    monkeypatch.setattr(_Functions, "openSeries", lambda self: _Call(reverts))
    assert settle_expired(k, [VAULT], 100, NOW).settlements == ()
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert sender.sent == []
    # Its expired series are still unsettled: at least one (the lens flagged the vault), not 0
    # (helper-117: the gauge read 0 while the alert said the series could not be read).
    assert k.metrics.value("keeper_expired_unsettled") == 1


def test_an_unreachable_node_still_fails_the_cycle_as_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keeper.chain.retry import RpcUnavailableError, is_transient

    vault = FakeVault()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, SettleSender())

    def down(w3: Any, feed: str, expiry: int, now: int, block: int) -> int:
        raise RpcUnavailableError("every endpoint failed")

    monkeypatch.setattr("keeper.app.settle.expiry_round", down)
    with pytest.raises(RpcUnavailableError) as info:
        settle_expired(k, [VAULT], 100, NOW)
    assert is_transient(info.value)
    assert k.alerter.sent == []


def test_a_base_fee_over_the_cap_makes_a_settlement_wait_not_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fee spike is a wait (as for a rebalance): no ``failed`` count, no ``settlement`` alert."""
    from keeper.errors import FeeCapError

    class CappedSender(SettleSender):
        def submit_new(self, *a: Any, **kw: Any) -> TxRecord:
            raise FeeCapError("base fee 900 gwei is above the cap of 50 gwei")

    vault, sender = FakeVault(), CappedSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    [s] = settle_expired(k, [VAULT], 100, NOW).settlements
    assert (s.series_id, s.outcome) == (3, "waiting")
    assert "above the cap" in s.reason
    assert outcomes(k) == {"waiting": 1}
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]


def test_a_queue_that_cannot_be_read_after_a_settlement_is_alerted_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``fill_queues`` alerts and never raises, its reads included: the settlement stands."""
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    monkeypatch.setattr(_Functions, "redemptionQueue", lambda self: _Call(reverts))
    step, _ = settle_then_fill(k, [VAULT], 100, NOW)
    [s] = step.settlements
    assert s.outcome == "settled"
    assert [a["kind"] for a in k.alerter.sent] == ["redemption_queue"]


def test_a_settlement_left_pending_holds_every_later_send_of_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing new is sent while one of the keeper's transactions is pending, within a cycle too.

    The second series was sent behind the first's missing receipt (and waited on for another
    receipt timeout), and the cycle's batch behind both.
    """

    vault, sender = FakeVault(), NoReceiptSender()
    vault.add_expired(3)
    vault.add_expired(4)
    k = settle_keeper(monkeypatch, vault, sender)
    first, second = settle_expired(k, [VAULT], 100, NOW).settlements
    assert (first.series_id, first.outcome, first.pending) == (3, "waiting", True)
    assert (second.series_id, second.outcome, second.pending) == (4, "waiting", False)
    assert len(sender.sent) == 1
    assert "pending" in second.reason


def test_the_cycle_sends_no_batch_behind_what_the_settle_step_left_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keeper.app.cycle import run_cycle
    from keeper.app.settle import Settlement

    pending = Settlement(VAULT, 3, HINT, "waiting", "sent as 0x01, no receipt yet", pending=True)
    blocked: list[str | None] = []

    def act(
        keeper: Keeper, the_plan: Any, block: int, why: Any = None, bounds: Any = None, **_: Any
    ) -> Any:
        from keeper.app.act import Acted

        blocked.append(why)
        return Acted()

    step = SettleStep((pending,), pending.blocks)
    monkeypatch.setattr("keeper.app.cycle.settle_expired", lambda *a, **kw: step)
    monkeypatch.setattr("keeper.app.cycle.act", act)
    run_cycle(make_keeper([snap(0, 0)]))
    assert len(blocked) == 1
    assert blocked[0] is not None
    assert "series 3" in blocked[0]


@pytest.mark.parametrize(
    ("waiting", "status", "held"),
    [
        (None, None, False),  # nothing to hedge: the fills go
        (None, "mined", False),  # the hedge mined: the fills go behind it
        ("tx at nonce 4: no receipt yet", None, True),  # the hedge waits: no fill behind it
        (None, "reverted", True),  # the batch failed: the cycle fails, the vaults stay due
    ],
)
def test_the_cycle_fills_the_queues_due_after_its_hedge_and_never_behind_a_pending_one(
    monkeypatch: pytest.MonkeyPatch, waiting: str | None, status: str | None, held: bool
) -> None:
    """Found: the settle step filled the freed queues before the cycle's hedge, which then went
    a block behind each fill transaction. The fills now come last, after the hedge."""
    from keeper.app.act import Acted
    from keeper.app.cycle import run_cycle

    order: list[str] = []
    fills: list[str | None] = []

    def act(
        keeper: Keeper, the_plan: Any, block: int, why: Any = None, bounds: Any = None, **_: Any
    ) -> Any:
        order.append("hedge")
        if status is None:
            return Acted(waiting=waiting)
        outcome = SendOutcome(4, "0x" + "44" * 32, TxStatus(status), 101, 1, Wei(1), 0)
        return Acted(outcome=outcome)

    def fill_last(
        keeper: Keeper, block: int, blocked: str | None = None, filled: Any = None
    ) -> None:
        order.append("fill")
        fills.append(blocked)

    monkeypatch.setattr("keeper.app.cycle.settle_expired", lambda *a, **kw: SettleStep(()))
    monkeypatch.setattr("keeper.app.cycle.act", act)
    monkeypatch.setattr("keeper.app.cycle.fill_due_queues", fill_last)
    k = make_keeper([snap(0, 0)])
    if status == "reverted":
        with pytest.raises(ExecutionError, match="reverted"):
            run_cycle(k)
    else:
        run_cycle(k)
    assert order == ["hedge", "fill"]
    [blocked] = fills
    assert (blocked is not None) is held, blocked


def test_a_node_that_fails_the_fills_after_the_hedge_leaves_the_cycle_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fills come after the hedge: an unreachable node there does not fail the cycle that
    hedged (the vaults stay due for the next one); any other error still does."""
    from keeper.app.act import Acted
    from keeper.app.cycle import run_cycle

    errors: list[Exception] = [ConnectionError("connection reset"), ValueError("a bug")]

    def fill_fails(
        keeper: Keeper, block: int, blocked: str | None = None, filled: Any = None
    ) -> None:
        keeper.fill_due[VAULT] = None
        raise errors.pop(0)

    monkeypatch.setattr("keeper.app.cycle.settle_expired", lambda *a, **kw: SettleStep(()))
    monkeypatch.setattr("keeper.app.cycle.act", lambda *a, **kw: Acted())
    monkeypatch.setattr("keeper.app.cycle.fill_due_queues", fill_fails)
    k = make_keeper([snap(0, 0)])
    assert run_cycle(k).block > 0
    assert list(k.fill_due) == [VAULT]
    with pytest.raises(ValueError, match="a bug"):
        run_cycle(k)


def test_a_vault_freed_by_a_resumed_settlement_gets_its_queue_filled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault, sender = FakeVault(), SettleSender()
    vault.add_expired(3)
    k = settle_keeper(monkeypatch, vault, sender)
    filled: list[str] = []
    monkeypatch.setattr(
        "keeper.app.settle._queue_to_fill", lambda keeper, v: filled.append(v.address)
    )
    # Settled in this cycle and freed by a resumed settlement: one fill, not two.
    settle_then_fill(k, [VAULT], 100, NOW, fill=(VAULT,))
    assert filled == [VAULT]
    vault.rows.clear()
    settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    assert filled == [VAULT, VAULT]
    settle_then_fill(k, [], 100, NOW, "tx at nonce 4 still pending", fill=(VAULT,))
    assert filled == [VAULT, VAULT]  # nothing is sent while a transaction is pending


def test_a_vault_freed_while_a_transaction_was_pending_is_filled_once_nothing_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found: a freed vault handed to a step that could send nothing (an earlier transaction
    still pending) was dropped. The observation had already taken the fall in locked
    collateral as seen, so no later cycle handed the vault over again, and its queued holders
    waited for the vault's next settlement. The keeper now keeps it due until a step can fill."""
    vault, sender = FakeVault(), SettleSender()
    k = settle_keeper(monkeypatch, vault, sender)
    filled: list[str] = []
    monkeypatch.setattr(
        "keeper.app.settle._queue_to_fill", lambda keeper, v: filled.append(v.address)
    )
    settle_then_fill(k, [], 100, NOW, "tx at nonce 4 still pending", fill=(VAULT,))
    assert filled == []
    settle_then_fill(k, [], 101, NOW, "tx at nonce 4 still pending")
    assert filled == []
    settle_then_fill(k, [], 102, NOW)  # nothing pending now, and nothing new handed over
    assert filled == [VAULT]
    settle_then_fill(k, [], 103, NOW)
    assert filled == [VAULT]  # once


def test_a_fill_left_pending_keeps_the_queues_behind_it_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fill without a receipt holds the rest of the step: the queues after it are not dropped,
    the next step that can send looks at every one again (a filled one reads nothing to fill)."""
    vault, sender = FakeVault(), SettleSender()
    k = settle_keeper(monkeypatch, vault, sender)
    other = "0x" + "b2" * 20
    looked: list[list[str]] = []

    def fill_queues(keeper: Keeper, addresses: Any, block: int, filled: Any = None) -> str | None:
        looked.append(list(addresses))
        return "filling pending: no receipt" if len(looked) == 1 else None

    monkeypatch.setattr("keeper.app.settle.fill_queues", fill_queues)
    _, pending = settle_then_fill(k, [], 100, NOW, fill=(VAULT, other))
    assert pending is not None
    settle_then_fill(k, [], 101, NOW)
    settle_then_fill(k, [], 102, NOW)
    assert looked == [[VAULT, other], [VAULT, other]]


def test_the_cycle_hands_the_freed_vaults_to_the_settle_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keeper.app.act import Settled
    from keeper.app.cycle import run_cycle

    seen: list[Any] = []

    def settle(
        keeper: Keeper, vaults: Any, block: int, now: int, blocked: Any = None, **kw: Any
    ) -> SettleStep:
        seen.append(kw.get("fill"))
        return SettleStep(())

    monkeypatch.setattr("keeper.app.cycle.settle_in_flight", lambda k, h: Settled(freed=(VAULT,)))
    monkeypatch.setattr("keeper.app.cycle.settle_expired", settle)
    run_cycle(make_keeper([snap(0, 0)]))
    assert seen == [(VAULT,)]


class FakeQueue:
    """A redemption queue with requests the freed quote can serve: ``fill()`` is worth sending."""

    address = "0x" + "9e" * 20

    def __init__(self) -> None:
        self.functions = self

    def fillable(self) -> _Call:
        return _Call(lambda: 5 * 10**6)

    def fill(self) -> _Call:
        return _Call(lambda: None, FILL, lambda: 60_000)


def test_a_queue_fill_left_pending_holds_every_later_send_of_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fill with no receipt within its wait holds the rest of the cycle, as a settlement does.

    The step settles every expired series first, then fills the queues they freed: the second
    vault's fill would go at the next nonce behind the first fill's missing receipt (and wait
    for another receipt timeout), and the cycle's batch behind both.
    """

    class FillWithoutReceipt(SettleSender):
        def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
            if self.sent[nonce][1][:4] == FILL:
                raise TxTimeoutError(f"nonce {nonce}: no receipt in 120 s")
            return super().wait(nonce, timeout_s)

    queue, first, second = FakeQueue(), FakeVault(), FakeVault(address="0x" + "b2" * 20)
    first.add_expired(3)
    second.add_expired(4)
    monkeypatch.setattr(_Functions, "redemptionQueue", lambda self: _Call(lambda: queue.address))
    sender = FillWithoutReceipt()
    k = settle_keeper(monkeypatch, first, sender)
    k.w3.eth.others.update({queue.address: queue, second.address: second})  # type: ignore[attr-defined]
    step, pending = settle_then_fill(k, [first.address, second.address], 100, NOW)
    # both settlements, then the first fill; no second fill behind it
    assert [to for to, _ in sender.sent] == [first.address, second.address, queue.address]
    done = {s.series_id: s for s in step.settlements}
    assert done[3].outcome == done[4].outcome == "settled"
    assert step.pending is None
    assert pending is not None
    assert "redemption queue" in pending


def test_a_fill_for_a_resumed_settlement_left_pending_holds_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fill after a settlement booked a cycle late holds the cycle the same way."""

    queue, vault, sender = FakeQueue(), FakeVault(), NoReceiptSender()
    monkeypatch.setattr(_Functions, "redemptionQueue", lambda self: _Call(lambda: queue.address))
    k = settle_keeper(monkeypatch, vault, sender)
    k.w3.eth.others[queue.address] = queue  # type: ignore[attr-defined]
    step, pending = settle_then_fill(k, [], 100, NOW, fill=(VAULT,))
    assert sender.sent == [(queue.address, FILL)]
    assert step.settlements == ()
    assert pending is not None
    assert "no receipt" in pending
    assert k.alerter.sent == []  # a wait, not a failure


def test_a_settlement_the_node_refuses_after_it_was_journaled_holds_the_rest_of_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sender journals the signed row before the broadcast; a refusal leaves it pending.

    The next cycle sends that row again at its nonce. The second series was signed at the next
    nonce behind it, which cannot be mined before it (a wait of a whole receipt timeout), and
    the batch behind both. The refusal is still a failure, alerted.
    """
    from keeper.errors import ExecutionError

    class RefusingSender(SettleSender):
        def submit_new(self, *a: Any, **kw: Any) -> TxRecord:
            super().submit_new(*a, **kw)  # journaled as signed, as the real sender does
            raise ExecutionError("node refused transaction 0x01: insufficient funds for gas")

    vault, sender = FakeVault(), RefusingSender()
    vault.add_expired(3)
    vault.add_expired(4)
    k = settle_keeper(monkeypatch, vault, sender)
    step = settle_expired(k, [VAULT], 100, NOW)
    first, second = step.settlements
    assert (first.series_id, first.outcome, first.pending) == (3, "failed", True)
    assert "insufficient funds" in first.reason
    assert (second.series_id, second.outcome) == (4, "waiting")
    assert len(sender.sent) == 1
    assert step.pending is not None
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]


def test_a_settlement_refused_before_anything_was_journaled_does_not_hold_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keeper.errors import ExecutionError

    class RefusingSender(SettleSender):
        def submit_new(self, *a: Any, **kw: Any) -> TxRecord:
            raise ExecutionError("journal cannot be written: disk full")

    vault, sender = FakeVault(), RefusingSender()
    vault.add_expired(3)
    vault.add_expired(4)
    k = settle_keeper(monkeypatch, vault, sender)
    step = settle_expired(k, [VAULT], 100, NOW)
    assert [(s.outcome, s.pending) for s in step.settlements] == [("failed", False)] * 2
    assert step.pending is None


@dataclass
class KeepingSender(SettleSender):
    """A :class:`SettleSender` that keeps finished outcomes given back for the next settle step
    (the sender's ``give_back``/``take_reconciled``), as the real one does."""

    unbooked: list[SendOutcome] = field(default_factory=list)

    def take_reconciled(self) -> list[SendOutcome]:
        done, self.unbooked = self.unbooked, []
        return done

    def give_back(self, unbooked: Any) -> None:
        self.unbooked[:0] = unbooked

    def check_reorgs(self, head: int | None = None, headers: Any = None) -> list[int]:
        return []

    def call_of(self, tx_hash: str) -> tuple[str, bytes]:
        return self.sent[int(tx_hash, 16) - 1]


def test_a_settlement_whose_re_read_fails_is_booked_by_the_next_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our settle reverted at mining (another settle landed first in its block), and reading
    the series again to tell who settled it failed (every endpoint down): the cycle fails as
    transient. The journal had already settled the nonce, so no later poll finds it: the
    outcome was lost, never booked (not ``settled_by_other``, and the vault's redemption queue,
    which the settlement freed, never filled), though its gas was. It is kept for the next
    cycle's settle step, which books it once, fees included."""
    from keeper.app.act import settle_in_flight
    from keeper.chain.retry import RpcUnavailableError

    vault = FakeVault()
    vault.add_expired(3)

    def other_settles_first() -> None:
        vault.rows[3][6] = True
        vault.read_error = RpcUnavailableError("no endpoint answered eth_call")

    sender = KeepingSender("reverted", on_mine=other_settles_first)
    k = settle_keeper(monkeypatch, vault, sender)
    with pytest.raises(RpcUnavailableError):
        settle_expired(k, [VAULT], 100, NOW)
    assert outcomes(k) == {}
    settled = settle_in_flight(k, 101)
    assert [o.tx_hash for o in settled.resumed] == [f"0x{1:064x}"]
    assert settled.freed == (VAULT,)  # its queue is filled by this cycle's settle step
    assert outcomes(k) == {"settled_by_other": 1}
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]
    assert k.metrics.value("keeper_gas_spent_wei_total") == 30_000 * 7  # booked once
    settle_in_flight(k, 102)
    assert outcomes(k) == {"settled_by_other": 1}
