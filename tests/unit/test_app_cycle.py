"""The app layer with stand-in collaborators: one cycle end to end, the breaker, clean shutdown."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult, run_cycle
from keeper.app.loop import Runner
from keeper.chain.connection import RpcCounter
from keeper.chain.lens import (
    LeanSnapshot,
    LensResult,
    OracleState,
    Series,
    VaultSnapshot,
    VaultThresholds,
    encode_lean_answer,
    lean_snapshot,
)
from keeper.chain.retry import RpcUnavailableError
from keeper.errors import (
    ChainError,
    ConfigError,
    ExecutionError,
    FeeCapError,
    Halt,
    KeeperError,
)
from keeper.execution.decode import ErrorDecoder
from keeper.execution.journal import IntentStatus, Journal, TxRecord, TxStatus
from keeper.execution.sender import ReconcileReport, SendOutcome
from keeper.execution.simulate import Simulation
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.pricing.trigger import derive
from keeper.settings import CycleConfig
from keeper.strategy import parse_policy
from keeper.units import Wei

NOW = 1_700_000_000
WAD = 10**18
BATCHER = "0x" + "ba" * 20


def vault(i: int) -> str:
    return "0x" + f"{i + 0xA0:040x}"


def snap(i: int, net_delta: int, *, age: int = 5, valid: bool = True) -> VaultSnapshot:
    return VaultSnapshot(
        vault=vault(i),
        oracle=OracleState(1, 3000 * 10**8, NOW - age, 8, False, 0),
        net_delta=net_delta,
        inventory=0,
        thresholds=VaultThresholds(0, WAD // 10, 0, 86_400, 10 * WAD, 50, 100, 3600, 3600),
        last_rebalance=NOW - 100,
        pool_price=3000 * 10**8,
        volatility=8 * 10**17,
        total_assets=10**12,
        total_supply=10**12,
        free_quote=10**11,
        paused=False,
        trigger_ready=abs(net_delta) > WAD // 10,
        trigger=1,
        # A deep call spread: its delta (~1.6) lets the inventory give any net delta >= -1.6.
        series=(Series(1, 0, 2000 * 10**8, 2000 * 10**8, NOW + 30 * 86_400, 2 * WAD, False, 0),),
        valid=valid,
        read_errors=0 if valid else 1,
    )


def hedged_to(s: VaultSnapshot) -> VaultSnapshot:
    """``s`` with the inventory that makes its lean-derived net delta ``s.net_delta`` (at least
    0: the lens reads inventory, and the keeper derives the net delta from it and the book)."""
    book = derive(lean_snapshot([s.vault], [encode_lean_answer([replace(s, inventory=0)], 1, NOW)]))
    inventory = s.net_delta + int(book.book_delta_f[0])
    assert inventory >= 0, "this net delta needs a larger book"
    return replace(s, inventory=inventory)


@dataclass
class FakeLens:
    snaps: list[VaultSnapshot]
    reads: int = 0
    forgotten: int = 0
    blocks: list[int | str] = field(default_factory=list)

    def forget(self) -> None:
        self.forgotten += 1

    def read(self, vaults: list[str]) -> LensResult:
        self.reads += 1
        return LensResult(tuple(self.snaps), 100 + self.reads, NOW, 1)

    #: The venue's pool (depth 1e8 a USD, fee pips), as ``IUniswapV3Venue.depth`` says them;
    #: ``None``: a venue that does not (each vault its own, made up from its pool price).
    depth: tuple[int, int] | None = None

    def read_lean(self, vaults: list[str], block: int | str = "latest") -> LeanSnapshot:
        self.reads += 1
        self.blocks.append(block)
        snaps = [hedged_to(s) for s in self.snaps]
        if self.depth is None:
            answer = encode_lean_answer(snaps, 100 + self.reads, NOW)
        else:
            venue = "0x" + "5e" * 20
            answer = encode_lean_answer(
                snaps,
                100 + self.reads,
                NOW,
                venues=[venue] * len(snaps),
                venue_depths={venue: self.depth},
            )
        return lean_snapshot(vaults, [answer])


@dataclass
class FakeEth:
    chain_id: int = 10
    block_number: int = 100
    base_fee: int = 1_000_000
    block_reads: int = 0

    def get_block(self, tag: Any) -> dict[str, int]:
        self.block_reads += 1
        return {"number": self.block_number, "baseFeePerGas": self.base_fee}


@dataclass
class FakeW3:
    eth: FakeEth = field(default_factory=FakeEth)


def make_keeper(snaps: list[VaultSnapshot], **kw: Any) -> Keeper:
    return Keeper(
        w3=FakeW3(),  # type: ignore[arg-type]
        vaults=[s.vault for s in snaps],
        lens=FakeLens(snaps),  # type: ignore[arg-type]
        policy=parse_policy("band:width=0.05"),
        # No queue sweep: these stand-ins answer no eth_call (tests/unit/test_app_sweep.py).
        config=CycleConfig(eth_usd=3000.0, queue_sweep_s=0),
        alerter=Alerter(None),
        metrics=Metrics(),
        counter=RpcCounter(),
        **kw,
    )


def test_dry_run_cycle_plans_exactly_the_out_of_band_vaults() -> None:
    # band:width=0.05 of 2 contracts = 0.1 underlying
    k = make_keeper([snap(0, -WAD // 2), snap(1, WAD // 50), snap(2, 3 * WAD // 10)])
    result = run_cycle(k)
    assert result.dry_run
    assert result.planned == (vault(0), vault(2))
    assert [d.act for d in result.decisions] == [True, False, True]
    assert result.tx_hash is None
    assert result.simulated == ()
    assert k.metrics.value("keeper_vault_delta", {"vault": vault(0)}) == -0.5
    assert k.metrics.value("keeper_vault_deviation", {"vault": vault(0)}) == pytest.approx(5.0)
    assert result.to_dict()["decisions"][0]["vault"] == vault(0)


def test_stale_oracle_and_unreadable_vaults_are_skipped_with_alerts() -> None:
    k = make_keeper([snap(0, -WAD, age=4000), snap(1, -WAD, valid=False), snap(2, -WAD)])
    result = run_cycle(k)
    assert set(result.skipped) == {vault(0), vault(1)}
    assert "heartbeat" in result.skipped[vault(0)]
    assert result.planned == (vault(2),)
    kinds = [a["kind"] for a in k.alerter.sent]
    assert "stale_oracle" in kinds
    assert "oracle" in kinds
    # one vault was judged: keeper check exits 0
    assert result.nothing_evaluated() is None


def test_nothing_evaluated_names_the_faults_and_leaves_paused_vaults_out() -> None:
    result = run_cycle(make_keeper([snap(0, -WAD, age=4000), snap(1, -WAD, valid=False)]))
    why = result.nothing_evaluated()
    assert why is not None
    assert why.startswith("every vault was skipped (2 of 2): ")
    assert "heartbeat" in why
    assert "(and 1 other reason; see the table)" in why
    # a paused vault is its admin's choice, not a fault: every vault paused is not a failure
    paused = replace(result, skipped={vault(0): "paused", vault(1): "paused"})
    assert paused.nothing_evaluated() is None
    assert replace(result, vaults=0, skipped={}).nothing_evaluated() is None


def test_nothing_evaluated_when_the_vaults_not_paused_all_have_faults() -> None:
    # One vault paused, the other stale: no vault was judged, and one of them for a fault, so
    # `keeper check` must exit 1 (it exited 0: the paused vault hid the stale oracle).
    result = run_cycle(make_keeper([snap(0, -WAD, age=4000), snap(1, -WAD)]))
    mixed = replace(result, skipped={vault(0): result.skipped[vault(0)], vault(1): "paused"})
    why = mixed.nothing_evaluated()
    assert why is not None
    assert why.startswith("no vault was judged (1 skipped by a fault, 1 paused): ")
    assert "heartbeat" in why
    # one judged vault beside them is enough
    assert replace(result, vaults=3, skipped=mixed.skipped).nothing_evaluated() is None


@dataclass
class FakeSender:
    outcome_status: str = "mined"
    address: str = "0x" + "ee" * 20
    chain_id: int = 10
    journal: Journal = field(default_factory=lambda: Journal(":memory:"))
    sent: list[tuple[int, str, bytes, int]] = field(default_factory=list)
    #: Set by the run loop (``Sender.block_timing``).
    block_timing: Any = None
    #: Finished outcomes to book (the sender's ``take_reconciled``/``give_back``).
    unbooked: list[SendOutcome] = field(default_factory=list)

    def check_reorgs(self, head: int | None = None, headers: Any = None) -> list[int]:
        return []

    def reorg_probe(self) -> int | None:
        return None

    def take_reconciled(self) -> list[SendOutcome]:
        done, self.unbooked = self.unbooked, []
        return done

    def give_back(self, unbooked: Sequence[SendOutcome]) -> None:
        self.unbooked[:0] = unbooked

    def balance(self) -> int:
        return 1

    def submit_new(
        self, vaults: Any, block: int, to: str, data: bytes, gas: int, **kw: Any
    ) -> TxRecord:
        intent = self.journal.open_intent(vaults, block)
        self.sent.append((intent, to, data, gas))
        record = self.journal.record_signed(
            intent_id=intent,
            account=self.address,
            nonce=0,
            tx_hash="0xhash",
            raw_tx="0x02",
            max_fee=Wei(1),
            priority_fee=Wei(1),
            gas=gas,
        )
        # As the sender does: the signed bytes' L1 fee, priced after the broadcast, journaled.
        return self.journal.mark(record.tx_hash, record.status, l1_fee=kw["l1_fee"](b"\x02s"))

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        self.journal.mark("0xhash", TxStatus.MINED)
        return SendOutcome(0, "0xhash", self.outcome_status, 101, 50_000, 7, 1)  # type: ignore[arg-type]


def fake_simulation(monkeypatch: pytest.MonkeyPatch, drop: set[str]) -> None:
    def sim(w3: Any, batcher: str, vaults: Any, sender: str, decoder: Any, **kw: Any) -> Simulation:
        keep = tuple(v for v in vaults if v not in drop)
        return Simulation(
            keep, b"calldata", 300_000, (), {v: "OptionVaultTooSoon(...)" for v in drop}
        )

    monkeypatch.setattr("keeper.app.act.simulate_batch", sim)
    # A lone vault's direct call: as if the signer lacked its keeper role (the batch path).
    monkeypatch.setattr("keeper.app.act.simulate_direct", lambda *a, **kw: None)


class FixedL1:
    name = "op"

    def __init__(self) -> None:
        self.to: list[str] = []

    def fee(self, signed: bytes, to: str, data: bytes) -> int:
        self.to.append(to)
        return 1234


def test_a_lone_vault_goes_to_the_vault_when_its_direct_call_simulates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []

    def direct(w3: Any, v: str, sender: str, decoder: Any, **kw: Any) -> Simulation:
        calls.append((v, kw["post"]))
        return Simulation((v,), b"rebalance", 250_000, (), {}, to=v)

    def batch(*a: Any, **kw: Any) -> Simulation:
        raise AssertionError("a lone vault with its direct call simulating went to the batcher")

    monkeypatch.setattr("keeper.app.act.simulate_direct", direct)
    monkeypatch.setattr("keeper.app.act.simulate_batch", batch)
    sender, l1 = FakeSender(), FixedL1()
    k = make_keeper([snap(0, -WAD), snap(1, 0)], sender=sender, batcher=BATCHER, l1fee=l1)
    result = run_cycle(k)
    assert result.planned == (vault(0),)
    assert result.tx_status == "mined"
    assert calls == [(vault(0), next(d.post_deviation for d in result.decisions if d.act))]
    assert sender.sent[0][1:] == (vault(0), b"rebalance", 250_000)  # to the vault, not BATCHER
    # The L1 fee of the transaction as sent is priced for the vault (the planner's own quotes
    # before it are for batches).
    assert l1.to[-1] == vault(0)
    assert sender.journal.intent(1).vaults == (vault(0),)


def test_a_lone_vaults_reverted_transaction_is_booked_like_a_failed_vault_in_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chain moved between simulation and mining: not a failed cycle, nor a batch alert."""
    monkeypatch.setattr(
        "keeper.app.act.simulate_direct",
        lambda w3, v, *a, **kw: Simulation((v,), b"rebalance", 250_000, (), {}, to=v),
    )
    k = make_keeper([snap(0, -WAD)], sender=FakeSender("reverted"), batcher=BATCHER)
    result = run_cycle(k)  # no ExecutionError
    assert result.tx_status == "reverted"
    m = k.metrics
    assert m.value("keeper_rebalances_total", {"state": "vault_reverted"}) == 1
    assert m.value("keeper_rebalances_total", {"state": "failed"}) == 0
    assert m.value("keeper_trigger_disagreements_total") == 1
    assert m.value("keeper_gas_spent_wei_total") == 350_000  # the gas was spent all the same
    assert k.lens.forgotten == 1  # type: ignore[attr-defined]  # the next read is a full one
    assert "failed_batch" not in [a["kind"] for a in k.alerter.sent]
    assert isinstance(k.sender, FakeSender)
    assert k.sender.journal.intent(1).note.startswith("reverted: "), "keeper status says why"


@dataclass
class FailingVaultSender(FakeSender):
    """A mined batch whose receipt carries the batcher's ``VaultRebalanceFailed`` for ``failed``."""

    failed: str = ""
    reason: bytes = b""

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        self.journal.mark("0xhash", TxStatus.MINED)
        topic = keccak(text="VaultRebalanceFailed(address,bytes)")
        log = {
            "address": BATCHER,
            "topics": [topic, bytes(12) + bytes.fromhex(self.failed[2:])],
            "data": abi_encode(["bytes"], [self.reason]),
        }
        other = {"address": "0x" + "cc" * 20, "topics": [topic, bytes(32)], "data": b""}
        receipt = {"status": 1, "logs": [other, log]}
        return SendOutcome(0, "0xhash", TxStatus.MINED, 101, 50_000, Wei(7), 0, receipt)


def test_a_vault_that_failed_inside_a_mined_batch_is_booked_as_a_disagreement(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The chain moved between simulation and mining, and the batcher dropped one vault.

    It was counted as rebalanced, with no log line, no trigger disagreement and no full read
    next cycle (a lone vault's reverted transaction had all three).
    """
    batch_simulates(monkeypatch)
    monkeypatch.setattr("keeper.app.act.simulate_direct", lambda *a, **kw: None)
    too_soon = keccak(text="OptionVaultTooSoon(uint256,uint256)")[:4] + abi_encode(
        ["uint256", "uint256"], [100, 60]
    )
    sender = FailingVaultSender(failed=vault(1), reason=too_soon)
    k = make_keeper(
        [snap(0, -WAD), snap(1, -WAD), snap(2, -WAD)],
        sender=sender,
        batcher=BATCHER,
        decoder=ErrorDecoder.from_artifacts(),
    )
    with caplog.at_level("INFO", logger="keeper.decisions"):
        result = run_cycle(k)
    assert result.tx_status == "mined"
    assert set(result.planned) == {vault(0), vault(1), vault(2)}
    too_soon_text = "OptionVaultTooSoon(lastRebalance=100, minInterval=60)"
    assert result.failed == {vault(1): too_soon_text}
    m = k.metrics
    assert m.value("keeper_vaults_rebalanced_total") == 2
    assert m.value("keeper_trigger_disagreements_total") == 1
    assert m.value("keeper_rebalances_total", {"state": "mined"}) == 1
    assert k.lens.forgotten == 1  # type: ignore[attr-defined]
    lines = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("vault") == vault(1)]
    failed = [f for f in lines if f.get("outcome") == "failed"]
    assert len(failed) == 1, lines
    assert too_soon_text in failed[0]["reason"]
    assert "failed_batch" not in [a["kind"] for a in k.alerter.sent]


def batch_simulates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch simulates whole (the batcher path)."""
    monkeypatch.setattr(
        "keeper.app.act.simulate_batch",
        lambda w3, batcher, vaults, *a, **kw: Simulation(tuple(vaults), b"batch", 300_000, ()),
    )


def test_a_lone_vault_without_its_role_falls_back_to_the_batcher_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[str] = []

    def direct(w3: Any, v: str, *a: Any, **kw: Any) -> None:
        tried.append(v)

    monkeypatch.setattr("keeper.app.act.simulate_direct", direct)
    batch_simulates(monkeypatch)
    sender = FakeSender()
    k = make_keeper([snap(0, -WAD)], sender=sender, batcher=BATCHER)
    assert run_cycle(k).tx_status == "mined"
    assert sender.sent[0][1] == BATCHER
    assert k.no_direct == {vault(0)}
    k.sender = FakeSender()
    assert run_cycle(k).tx_status == "mined"
    assert tried == [vault(0)]  # remembered: the direct call is not simulated again


def test_direct_single_off_never_tries_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    def direct(*a: Any, **kw: Any) -> None:
        raise AssertionError("direct_single is off")

    monkeypatch.setattr("keeper.app.act.simulate_direct", direct)
    batch_simulates(monkeypatch)
    sender = FakeSender()
    k = make_keeper([snap(0, -WAD)], sender=sender, batcher=BATCHER)
    k.config = CycleConfig(eth_usd=3000.0, direct_single=False, queue_sweep_s=0)
    assert run_cycle(k).tx_status == "mined"
    assert sender.sent[0][1] == BATCHER


def test_send_path_journals_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_simulation(monkeypatch, drop={vault(2)})
    sender = FakeSender()
    k = make_keeper(
        [snap(0, -WAD), snap(1, 0), snap(2, WAD)], sender=sender, batcher=BATCHER, l1fee=FixedL1()
    )
    result = run_cycle(k)
    assert result.planned == (vault(0), vault(2))
    assert result.simulated == (vault(0),)
    assert result.dropped == {vault(2): "OptionVaultTooSoon(...)"}
    # The off-chain view was wrong about vault 2: the next lean read is a full one.
    assert k.lens.forgotten == 1  # type: ignore[attr-defined]
    assert result.tx_status == "mined"
    assert result.l1_fee_wei == 1234
    assert result.fee_wei == 350_000
    assert sender.journal.intent(1).vaults == (vault(0),)
    assert sender.sent[0][1:] == (BATCHER, b"calldata", 300_000)
    m = k.metrics
    assert m.value("keeper_rebalances_total", {"state": "mined"}) == 1
    assert m.value("keeper_rebalances_total", {"state": "replaced"}) == 1
    assert m.value("keeper_l1_fee_spent_wei_total") == 1234
    assert m.value("keeper_gas_spent_wei_total") == 350_000
    assert [a["kind"] for a in k.alerter.sent] == ["low_balance"]


def test_reverted_batch_fails_the_cycle_with_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_simulation(monkeypatch, drop=set())
    k = make_keeper([snap(0, -WAD)], sender=FakeSender("reverted"), batcher=BATCHER)
    with pytest.raises(ExecutionError, match="ended reverted"):
        run_cycle(k)
    assert k.lens.forgotten == 0  # type: ignore[attr-defined]  # nothing was dropped
    assert "failed_batch" in [a["kind"] for a in k.alerter.sent]
    assert k.metrics.value("keeper_rebalances_total", {"state": "failed"}) == 1
    # `keeper status` shows the failed batch with why, as the alert said it (helper-126: its
    # note was empty).
    assert isinstance(k.sender, FakeSender)
    intent = k.sender.journal.intent(1)
    assert intent.status is IntentStatus.FAILED
    assert intent.note.startswith("reverted: "), intent.note


def dummy_result() -> CycleResult:
    return run_cycle(make_keeper([snap(0, 0)]))


def test_breaker_halts_after_n_consecutive_failures() -> None:
    k = make_keeper([snap(0, 0)])
    blocks = iter(range(1, 100))
    calls: list[int] = []

    def cycle(keeper: Keeper) -> CycleResult:
        calls.append(1)
        if len(calls) == 2:
            return dummy_result()  # a success in between resets the count
        raise ChainError("node down")

    runner = Runner(
        k, breaker_threshold=3, poll_interval_s=0, cycle=cycle, block_number=lambda: next(blocks)
    )
    with pytest.raises(Halt, match="3 consecutive failed cycles; last: ChainError: node down"):
        runner.run()
    assert len(calls) == 5
    assert [a["kind"] for a in k.alerter.sent] == ["halt"]
    assert k.metrics.value("keeper_cycles_total", {"result": "failed"}) == 4
    assert k.metrics.value("keeper_cycles_total", {"result": "ok"}) == 1


def test_oracle_errors_do_not_trip_the_breaker() -> None:
    # Every vault's oracle is stale: each cycle skips them with an alert and still succeeds, so
    # even a breaker of 1 never trips (the breaker is for the keeper's own faults).
    k = make_keeper([snap(0, -WAD, age=4000), snap(1, -WAD, age=4000)])
    blocks = iter(range(1, 100))
    results: list[CycleResult] = []
    runner = Runner(
        k,
        breaker_threshold=1,
        poll_interval_s=0,
        block_number=lambda: next(blocks),
        max_cycles=5,
        on_result=results.append,
    )
    assert runner.run() == 5
    assert all(set(r.skipped) == {vault(0), vault(1)} for r in results)
    assert k.metrics.value("keeper_cycles_total", {"result": "failed"}) == 0
    assert "halt" not in [a["kind"] for a in k.alerter.sent]
    assert "stale_oracle" in [a["kind"] for a in k.alerter.sent]


def test_one_cycle_per_new_block() -> None:
    k = make_keeper([snap(0, 0)])
    heads = iter([5, 5, 5, 6, 6, 7])
    seen: list[int] = []

    def cycle(keeper: Keeper) -> CycleResult:
        seen.append(1)
        return dummy_result()

    runner = Runner(
        k, poll_interval_s=0, cycle=cycle, block_number=lambda: next(heads), max_cycles=3
    )
    assert runner.run() == 3
    assert len(seen) == 3


def test_sigterm_stops_cleanly_after_the_cycle() -> None:
    k = make_keeper([snap(0, 0)])
    blocks = iter(range(1, 100))
    before = signal.getsignal(signal.SIGTERM)
    done: list[int] = []

    def cycle(keeper: Keeper) -> CycleResult:
        os.kill(os.getpid(), signal.SIGTERM)
        done.append(1)  # the cycle still finishes
        return dummy_result()

    runner = Runner(k, poll_interval_s=0, cycle=cycle, block_number=lambda: next(blocks))
    assert runner.run() == 1
    assert runner.stopping
    assert done == [1]
    assert signal.getsignal(signal.SIGTERM) == before


def test_transient_errors_never_trip_the_breaker_and_count_toward_max_cycles() -> None:
    import requests

    k = make_keeper([snap(0, 0)])
    blocks = iter(range(1, 100))
    faults = iter(
        [
            requests.ConnectionError("connection reset"),
            requests.exceptions.ChunkedEncodingError("cut mid-response"),
            ChainError("lens read failed"),  # raised from a transient cause below
        ]
        * 3
    )

    def cycle(keeper: Keeper) -> CycleResult:
        exc = next(faults)
        if isinstance(exc, ChainError):
            raise exc from requests.Timeout("read timed out")
        raise exc

    runner = Runner(
        k,
        breaker_threshold=2,
        poll_interval_s=0,
        cycle=cycle,
        block_number=lambda: next(blocks),
        max_cycles=9,
        max_backoff_s=0,
    )
    assert runner.run() == 9  # failed cycles count toward --max-cycles
    assert runner.failures == 0
    assert runner.transient == 9
    assert "halt" not in [a["kind"] for a in k.alerter.sent]
    assert k.metrics.value("keeper_transient_failures_total") == 9


def test_a_permanent_error_trips_the_breaker_even_between_transient_ones() -> None:
    import requests

    k = make_keeper([snap(0, 0)])
    blocks = iter(range(1, 100))
    calls: list[int] = []

    def cycle(keeper: Keeper) -> CycleResult:
        calls.append(1)
        if len(calls) % 2:
            raise ExecutionError("node refused transaction: insufficient funds for gas")
        raise requests.ConnectionError("reset")  # does not reset the systemic count either

    runner = Runner(
        k,
        breaker_threshold=3,
        poll_interval_s=0,
        cycle=cycle,
        block_number=lambda: next(blocks),
        max_backoff_s=0,
    )
    with pytest.raises(Halt, match="insufficient funds"):
        runner.run()
    assert runner.failures == 3


def test_failed_block_number_polls_never_count_toward_the_breaker() -> None:
    import requests

    k = make_keeper([snap(0, 0)])
    polls = iter([requests.ConnectionError("down")] * 20 + list(range(1, 10)))

    def head() -> int:
        item = next(polls)
        if isinstance(item, BaseException):
            raise item
        return item

    runner = Runner(k, breaker_threshold=1, poll_interval_s=0, block_number=head, max_cycles=2)
    assert runner.run() == 2
    assert runner.failures == 0
    assert "halt" not in [a["kind"] for a in k.alerter.sent]


def _unserved_alerts(cycle: Any) -> list[str]:
    """The ``unserved`` alerts of 12 cycles run by ``cycle``, one a block from block 1 (an alert
    after 5 blocks unserved)."""
    k = make_keeper([snap(0, 0)])
    blocks = iter(range(1, 100))
    runner = Runner(
        k,
        poll_interval_s=0,
        cycle=cycle,
        block_number=lambda: next(blocks),
        max_cycles=12,
        unserved_alert_blocks=5,
        max_backoff_s=0,
    )
    runner.run()
    return [a["message"] for a in k.alerter.sent if a["kind"] == "unserved"]


def test_unserved_need_alerts_once_after_n_blocks() -> None:
    import requests

    def cycle(keeper: Keeper) -> CycleResult:
        raise requests.Timeout("slow node")

    alerts = _unserved_alerts(cycle)
    assert len(alerts) == 1
    assert "unserved for 5 blocks (since block 1)" in alerts[0]
    assert "Timeout" in alerts[0]


def test_an_unserved_alert_names_its_own_episodes_cause_not_an_earlier_fault() -> None:
    """helper-106: the alert said "last error: Timeout: slow node", a fault of an episode that had
    ended blocks before, for an episode with no failed cycle at all (a batch waiting on the fee
    cap), and never named the fee cap."""
    import requests

    calls = iter(range(1, 100))

    def cycle(keeper: Keeper) -> Any:
        n = next(calls)
        if n == 1:  # block 1: a transient fault; block 2: served
            raise requests.Timeout("slow node")
        waiting = None if n == 2 else "base fee above the cap (9 > 5 wei)"
        return SimpleNamespace(
            waiting=waiting, nothing_evaluated=lambda: None, dropped={}, failed={}, tx_status=None
        )

    alerts = _unserved_alerts(cycle)
    assert len(alerts) == 1
    assert "since block 3" in alerts[0]
    assert "Timeout" not in alerts[0]
    assert "base fee above the cap" in alerts[0]


@pytest.mark.parametrize("bad", [0, -1])
def test_max_cycles_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        Runner(make_keeper([snap(0, 0)]), max_cycles=bad)


@dataclass
class CappedSender(FakeSender):
    base_fee: int = 80 * 10**9
    cap: int = 50 * 10**9

    def submit_new(
        self, vaults: Any, block: int, to: str, data: bytes, gas: int, **kw: Any
    ) -> TxRecord:
        if self.base_fee > self.cap:
            raise FeeCapError("base fee above the cap", self.base_fee, self.cap)
        return super().submit_new(vaults, block, to, data, gas, **kw)


def test_fee_spike_waits_with_one_alert_and_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_simulation(monkeypatch, drop=set())
    sender = CappedSender()
    k = make_keeper([snap(0, -WAD)], sender=sender, batcher=BATCHER)
    for _ in range(3):
        result = run_cycle(k)
        assert result.tx_hash is None
        assert result.waiting is not None
        assert "above the cap" in result.waiting
    stuck = [a for a in k.alerter.sent if a["kind"] == "stuck_tx"]
    assert len(stuck) == 1
    assert stuck[0]["base_fee"] == str(80 * 10**9)
    assert stuck[0]["cap"] == str(50 * 10**9)
    assert sender.journal.intents() == []  # no orphan intent
    sender.base_fee = 10**9  # the spike ends: the batch goes out
    assert run_cycle(k).tx_status == "mined"
    assert not k.fee_capped


@pytest.mark.parametrize(
    "exc",
    [
        FeeCapError(
            "replacement tip 1125 wei exceeds the priority fee cap 1000 wei", 10**9, 50 * 10**9
        ),
        FeeCapError(
            "replacement max fee 56250000000 wei exceeds the cap 50000000000 wei (base fee 1 wei)",
            1,
            50 * 10**9,
        ),
    ],
)
def test_a_replacement_blocked_by_a_cap_is_not_alerted_as_a_base_fee_spike(
    exc: FeeCapError,
) -> None:
    """``bump_fees`` raises ``FeeCapError`` when a replacement's bumped tip or max fee would
    pass its cap, the base fee well under the max fee cap: the alert must say that, not "base
    fee ... is above the max fee cap" (and name the setting to raise)."""
    from keeper.app.act import fee_capped

    k = make_keeper([snap(0, 0)])
    fee_capped(k, exc)
    (alert,) = [a for a in k.alerter.sent if a["kind"] == "stuck_tx"]
    assert "is above the max fee cap" not in alert["message"]
    assert str(exc) in alert["message"]
    assert "KEEPER_MAX_PRIORITY_FEE_WEI" in alert["message"]
    assert "KEEPER_MAX_FEE_PER_GAS_WEI" in alert["message"]


def test_l1_fee_estimate_is_reused_within_its_age_then_refreshed() -> None:
    from keeper.app.market import L1_ESTIMATE_MAX_AGE_BLOCKS

    calls: list[int] = []

    class CountingL1:
        name = "op"

        def fee(self, signed: bytes, to: str, data: bytes) -> int:
            calls.append(len(data))
            return 1_000 + 10 * len(data)

    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=CountingL1(), chain_id=10)
    first = run_cycle(k)
    assert len(calls) == 3  # one- and two-vault dummy batches, and a lone vault's own call
    assert first.tx_hash is None
    k.w3.eth.block_number += L1_ESTIMATE_MAX_AGE_BLOCKS - 1  # type: ignore[attr-defined]
    run_cycle(k)
    assert len(calls) == 3  # reused: no oracle call
    k.w3.eth.block_number += 1  # type: ignore[attr-defined]
    run_cycle(k)
    assert len(calls) == 6  # stale: read again
    assert k.l1_estimate is not None
    assert k.l1_estimate[1][1] > 0  # a per-vault part from the calldata difference


def test_each_vaults_post_deviation_reaches_the_simulated_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, int] = {}

    def sim(w3: Any, batcher: str, vaults: Any, sender: str, decoder: Any, **kw: Any) -> Simulation:
        seen.update(kw["posts"])
        return Simulation(tuple(vaults), b"calldata", 300_000, (), {})

    monkeypatch.setattr("keeper.app.act.simulate_batch", sim)
    k = make_keeper([snap(0, -WAD), snap(1, 0), snap(2, WAD)], sender=FakeSender(), batcher=BATCHER)
    k.policy = parse_policy("ww:risk_aversion=2")  # trades to its band edge, not the target
    result = run_cycle(k)
    assert result.planned
    assert set(seen) == set(result.planned)  # only the vaults the plan acts on
    assert any(p != 0 for p in seen.values())
    decided = {d.vault: int(d.post_deviation) for d in result.decisions if d.act}
    assert seen == decided


class _FakeClock:
    """Wall time that moves only when the loop waits or a cycle works (deterministic)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float | None = None) -> bool:
        self.now += seconds or 0.0
        return False


def _paced_run(monkeypatch: pytest.MonkeyPatch, block_s: float, cycle_s: float) -> Runner:
    clock = _FakeClock()
    monkeypatch.setattr("keeper.app.loop.time.monotonic", clock.monotonic)
    k = make_keeper([snap(0, 0)])

    def cycle(keeper: Keeper) -> CycleResult:
        clock.now += cycle_s
        return dummy_result()

    runner = Runner(
        k,
        poll_interval_s=0.2,
        cycle=cycle,
        block_number=lambda: int(clock.now / block_s),
        max_cycles=40,
    )
    runner._stop.wait = clock.wait  # type: ignore[method-assign]
    runner.run()
    runner.clock = clock  # type: ignore[attr-defined]
    return runner


def test_block_polls_are_paced_to_the_block_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the interval is known, the loop sleeps until just before the next block is due.

    1-second blocks, 0.3-second cycles, 0.2-second polls: unpaced, every cycle polls about four
    or five times (0.7 s of waiting); paced, about two. Every block is still seen, one cycle
    each, and within a poll interval of its arrival.
    """
    runner = _paced_run(monkeypatch, block_s=1.0, cycle_s=0.3)
    assert runner.cycles == 40
    assert runner.block_interval_s() == pytest.approx(1.0, abs=0.2)
    clock = runner.clock  # type: ignore[attr-defined]
    assert clock.now < 41.5, "no block was missed or seen late"
    assert runner.polls <= 40 * 2.5, f"{runner.polls} polls for 40 cycles"


def test_a_slow_cycle_does_not_make_the_loop_sleep_past_a_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cycles longer than a block: the next head is there at once, and pacing never waits."""
    runner = _paced_run(monkeypatch, block_s=1.0, cycle_s=1.5)
    assert runner.cycles == 40
    clock = runner.clock  # type: ignore[attr-defined]
    assert clock.now < 40 * 1.5 + 1.0, "the loop slept on top of its slow cycles"


def test_irregular_blocks_are_not_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks mined on demand (anvil's default) have no interval: every poll period counts."""
    clock = _FakeClock()
    monkeypatch.setattr("keeper.app.loop.time.monotonic", clock.monotonic)
    arrivals = [0.0]
    for i in range(60):
        arrivals.append(arrivals[-1] + (0.5 if i % 3 else 6.0))  # bursts, then a long gap
    k = make_keeper([snap(0, 0)])
    runner = Runner(
        k,
        poll_interval_s=0.2,
        cycle=lambda keeper: dummy_result(),
        block_number=lambda: sum(1 for t in arrivals if t <= clock.now),
        max_cycles=50,
    )
    runner._stop.wait = clock.wait  # type: ignore[method-assign]
    late: list[float] = []
    real_wait = runner._wait_new_block

    def timed(last: int | None) -> int | None:
        head = real_wait(last)
        if head is not None and last is not None:
            late.append(clock.now - arrivals[head - 1])
        return head

    runner._wait_new_block = timed  # type: ignore[method-assign]
    runner.run()
    assert runner.block_interval_s() is None
    assert max(late) <= 0.2 + 1e-9, "a block was seen later than one poll period"


def test_a_vault_surely_inside_its_band_is_explained_without_a_chain_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # band:width=0.001 of 2 contracts wants |dev| > 0.002; the vaults' own band is 0.1. Vault 0
    # sits inside it (the contract says OptionVaultWithinBand); vault 1 is outside it but
    # rebalanced 100 s ago under a 1,000 s minimum interval (OptionVaultTooSoon): only vault 1
    # is asked why, and only vault 1 counts as blocked.
    asked: list[list[str]] = []

    def fake_read_blockers(w3: Any, vaults: list[str], block: int, **_: Any) -> dict[str, bytes]:
        asked.append(list(vaults))
        return {v: b"" for v in vaults}

    monkeypatch.setattr("keeper.app.observe.read_blockers", fake_read_blockers)
    inside = snap(0, WAD // 20)
    too_soon = snap(1, WAD // 2)
    too_soon = replace(too_soon, thresholds=replace(too_soon.thresholds, min_interval=1_000))
    k = make_keeper([inside, too_soon])
    k.policy = parse_policy("band:width=0.001")
    result = run_cycle(k)
    assert asked == [[vault(1)]]
    assert result.blocked[vault(0)].startswith("OptionVaultWithinBand")
    assert vault(1) in result.blocked
    assert k.metrics.value("keeper_vaults_blocked") == 1
    assert result.planned == ()


def test_one_cycle_is_said_in_the_singular(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO):
        Runner(make_keeper([snap(0, 0)]), max_cycles=1, poll_interval_s=0.0).run()
    assert "keeper stopped after 1 cycle (0 failed)" in caplog.text


def test_the_loops_head_poll_serves_the_cycles_costs() -> None:
    # The loop polls the head's header; the cycle prices its batch with that header's base fee
    # instead of reading the block again (one request fewer between the decision and the send).
    k = make_keeper([snap(0, WAD // 50)])
    eth = k.w3.eth
    eth.base_fee = 7_000_000  # type: ignore[attr-defined]
    eth.block_number = 101  # type: ignore[attr-defined]  # the block FakeLens's first read is at
    seen: list[CycleResult] = []
    Runner(k, max_cycles=1, poll_interval_s=0.0, on_result=seen.append).run()
    assert eth.block_reads == 1  # type: ignore[attr-defined]
    assert k.head_block is not None
    assert k.head_block["number"] == 101
    assert seen[0].costs.gas_price_wei == 7_000_000 + k.config.priority_fee_wei


def test_blockers_are_read_after_the_send_and_their_failure_fails_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Vault 0 is out of band and ready: the plan acts on it. Vault 1 is out of band but too soon
    # (its trigger refuses): the keeper asks why only after the send, and a failed read only
    # loses the explanation.
    import keeper.app.cycle as cycle_mod

    order: list[str] = []
    real_act = cycle_mod.act

    def act(*args: Any, **kw: Any) -> Any:
        order.append("act")
        return real_act(*args, **kw)

    def failing_read_blockers(w3: Any, vaults: list[str], block: int, **_: Any) -> dict[str, bytes]:
        order.append("blockers")
        raise ChainError("rebalanceBlocker calls failed: ConnectionError")

    monkeypatch.setattr(cycle_mod, "act", act)
    monkeypatch.setattr("keeper.app.observe.read_blockers", failing_read_blockers)
    too_soon = snap(1, WAD // 2)
    too_soon = replace(too_soon, thresholds=replace(too_soon.thresholds, min_interval=1_000))
    k = make_keeper([snap(0, -WAD // 2), too_soon])
    result = run_cycle(k)
    assert order == ["act", "blockers"]
    assert result.planned == (vault(0),)
    assert result.blocked == {vault(1): "unknown (rebalanceBlocker() could not be read)"}


def _too_soon_and_failing_blockers(monkeypatch: pytest.MonkeyPatch) -> Keeper:
    """Vault 0 out of band and ready; vault 1 out of band but too soon, and its blocker read
    failing at the node."""

    def failing_read_blockers(w3: Any, vaults: list[str], block: int, **_: Any) -> dict[str, bytes]:
        raise ChainError("rebalanceBlocker calls failed: ConnectionError")

    monkeypatch.setattr("keeper.app.observe.read_blockers", failing_read_blockers)
    too_soon = snap(1, WAD // 2)
    too_soon = replace(too_soon, thresholds=replace(too_soon.thresholds, min_interval=1_000))
    return make_keeper([snap(0, -WAD // 2), too_soon])


def test_a_blocker_read_the_node_fails_fails_a_cycle_with_no_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``keeper check`` is one cycle (``one_cycle``): it showed vault 1 BLOCKED by "unknown
    (rebalanceBlocker() could not be read)" and exited 0, a report with a part missing."""
    k = _too_soon_and_failing_blockers(monkeypatch)
    k.one_cycle = True
    with pytest.raises(ChainError, match="rebalanceBlocker calls failed"):
        run_cycle(k)


def test_a_failed_blocker_read_does_not_hide_why_the_send_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The blockers are read after the send, even a failed one: the cycle fails for the send,
    # not for the explanation that could not be read after it.
    import keeper.app.cycle as cycle_mod

    def act(*args: Any, **kw: Any) -> Any:
        raise ExecutionError("the send failed")

    monkeypatch.setattr(cycle_mod, "act", act)
    k = _too_soon_and_failing_blockers(monkeypatch)
    k.one_cycle = True
    with pytest.raises(ExecutionError, match="the send failed"):
        run_cycle(k)


def test_the_blockers_and_the_queue_sweep_read_with_the_keepers_rpc_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``explain_blocked`` read the blockers, and the sweep the queues, with the helpers' default
    3 attempts, where the lens's reads take ``KEEPER_RPC_RETRIES`` (``Keeper.rpc_retries``, set
    by ``build_keeper``): both reads now fail ``keeper check`` and ``rehearse`` (one cycle), and
    the README says they are retried ``KEEPER_RPC_RETRIES`` times first."""
    used: dict[str, int] = {}

    def read_blockers(w3: Any, vaults: list[str], block: int, *, attempts: int = 3) -> Any:
        used["blockers"] = attempts
        return {v: b"" for v in vaults}

    def read_queues(w3: Any, vaults: Any, block: Any, known: Any, *, attempts: int = 3) -> Any:
        used["queues"] = attempts
        return {}

    monkeypatch.setattr("keeper.app.observe.read_blockers", read_blockers)
    monkeypatch.setattr("keeper.app.sweep.read_queues", read_queues)
    too_soon = snap(1, WAD // 2)
    too_soon = replace(too_soon, thresholds=replace(too_soon.thresholds, min_interval=1_000))
    k = make_keeper([snap(0, -WAD // 2), too_soon])
    k.config = k.config.model_copy(update={"queue_sweep_s": 3600})  # a sweep (read_queues faked)
    k.rpc_retries = 7
    run_cycle(k)
    assert used == {"blockers": 7, "queues": 7}


@dataclass
class RisingEth(FakeEth):
    """A chain that has a new block at every read."""

    def get_block(self, tag: Any) -> dict[str, int]:
        self.block_number += 1
        return super().get_block(tag)


def _keep_settings(monkeypatch: pytest.MonkeyPatch, k: Keeper, cycle: Any) -> tuple[Any, Any]:
    """``keeper.app.loop`` wired to keep ``k`` with ``cycle``, and settings for ``keep``."""
    import keeper.app.loop as loop
    from keeper.settings import load_settings

    monkeypatch.setattr(loop, "connect_keeper", lambda settings, dry_run: k)
    monkeypatch.setattr(loop, "run_cycle", cycle)
    settings = load_settings(
        env_file=None,
        rpc_url="http://127.0.0.1:1",
        lens="0x" + "11" * 20,
        vaults="0x" + "22" * 20,
        poll_interval_s=0.001,
    )
    return loop, settings


def _keep_with(monkeypatch: pytest.MonkeyPatch, cycle: Any, max_cycles: int | None) -> int:
    k = replace(make_keeper([snap(0, 0)]), w3=FakeW3(eth=RisingEth()))
    loop, settings = _keep_settings(monkeypatch, k, cycle)
    return int(loop.keep(settings, dry_run=True, max_cycles=max_cycles))


def test_an_unfunded_signer_is_alerted_before_the_first_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keeper account nobody funded: the node refuses its first send (insufficient funds), the
    cycle fails before it reads the balance, and so on until the breaker halts. No
    ``low_balance`` alert ever said why (helper-103). The balance is read at start-up now."""

    class Unfunded(FakeSender):
        def reconcile(self) -> ReconcileReport:
            return ReconcileReport()

    seen: list[list[str]] = []

    def cycle(keeper: Keeper, head: int | None = None) -> CycleResult:
        seen.append([a["kind"] for a in keeper.alerter.sent])
        raise ExecutionError("node refused transaction 0x01: insufficient funds for gas")

    k = replace(make_keeper([snap(0, 0)], sender=Unfunded()), w3=FakeW3(eth=RisingEth()))
    loop, settings = _keep_settings(monkeypatch, k, cycle)
    with pytest.raises(KeeperError, match="all 1 cycles failed"):
        loop.keep(settings, max_cycles=1)
    assert seen == [["low_balance"]]


def test_run_max_cycles_fails_when_every_cycle_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    # `keeper run --max-cycles N` (a smoke test, a cron job) exited 0 after N failed cycles.
    def down(k: Keeper, head: int | None = None) -> CycleResult:
        raise ChainError("node down")

    with pytest.raises(
        KeeperError, match=r"^all 2 cycles failed; the last: ChainError: node down$"
    ):
        _keep_with(monkeypatch, down, 2)
    calls: list[int] = []

    def once(k: Keeper, head: int | None = None) -> CycleResult:
        calls.append(1)
        if len(calls) == 1:
            raise ChainError("node down")
        return dummy_result()

    assert _keep_with(monkeypatch, once, 2) == 2  # one success is a run that worked


def test_run_max_cycles_fails_when_no_cycle_judged_a_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every vault's oracle stale in every cycle: `keeper check` and `keeper rehearse` exit 1 on
    # that state, and `keeper run --max-cycles N` exited 0 with "0 failed".
    stale = run_cycle(make_keeper([snap(0, -WAD, age=4000)]))
    why = stale.nothing_evaluated()
    assert why is not None

    with pytest.raises(KeeperError) as info:
        _keep_with(monkeypatch, lambda k, head=None: stale, 2)
    assert str(info.value) == f"no vault was judged in any of the 2 cycles; the last: {why}"
    calls: list[int] = []

    def once(k: Keeper, head: int | None = None) -> CycleResult:
        calls.append(1)
        return stale if len(calls) == 1 else dummy_result()

    assert _keep_with(monkeypatch, once, 2) == 2  # one cycle that judged a vault is enough


def test_the_cycle_reads_the_vaults_at_the_head_it_was_woken_for() -> None:
    # Read at "latest", a failover node behind the head answered with older state, and the
    # cycle could plan a hedge the chain had already made (the vault then refuses it, for gas).
    # At the head's number such a node answers "header not found": transient, another node.
    k = make_keeper([snap(0, 0)])
    run_cycle(k, 123)
    run_cycle(k)  # no head known (keeper check): the latest block
    assert k.lens.blocks == [123, "latest"]  # type: ignore[attr-defined]


def test_the_loop_delivers_held_alerts_every_cycle() -> None:
    # Alerts held while the webhook failed go out on the first cycle after its back-off, even
    # when no new alert is raised to carry them.
    k = make_keeper([snap(0, 0)])
    delivered: list[int] = []
    k.alerter.flush = lambda: delivered.append(1) or 0  # type: ignore[method-assign]
    assert quiet_runner(k, 3).run() == 3
    assert delivered == [1, 1, 1, 1]  # and once more at exit (flush_now)


def quiet_runner(k: Keeper, cycles: int) -> Runner:
    """A loop of ``cycles`` cycles that succeed and do nothing, one a block."""
    blocks = iter(range(1, 100))
    return Runner(
        k,
        poll_interval_s=0,
        cycle=lambda keeper: dummy_result(),
        block_number=lambda: next(blocks),
        max_cycles=cycles,
    )


def _keeper_holding_a_reorg_alert() -> Keeper:
    """A keeper whose alert webhook refuses connections, holding one ``reorg`` alert."""
    import requests

    k = make_keeper([snap(0, 0)])

    class Down:
        def post(self, url: str, json: Any, timeout: float) -> Any:
            raise requests.ConnectionError("refused")

    k.alerter = Alerter("http://hook.invalid/x", session=Down())  # type: ignore[arg-type]
    k.alerter.alert("reorg", "block 7 reorganized", key="7")
    return k


def test_alerts_still_held_when_the_loop_stops_are_named_in_its_last_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    k = _keeper_holding_a_reorg_alert()
    with caplog.at_level(logging.WARNING):
        quiet_runner(k, 1).run()
    assert "1 alert not delivered to the webhook (reorg)" in caplog.text


@dataclass
class BalanceUnreadableSender(FakeSender):
    """Sends and mines like :class:`FakeSender`; its balance read outlives its retries."""

    def balance(self) -> int:
        raise RpcUnavailableError("no endpoint answered eth_getBalance", "eth_getBalance")


def test_a_balance_read_that_fails_after_a_mined_batch_does_not_fail_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The balance is read after the send, for its gauge and the low-balance alert. A node
    that cannot answer it then (a transient fault) must not turn the cycle that mined its
    batch into a failed one: ``keeper run --max-cycles 1`` exited 1 ("all 1 cycles failed")
    for a rebalance that was mined, the loop opened an unserved-need episode, and a rehearsal
    ended with an error and no report. The balance is read again next cycle."""
    fake_simulation(monkeypatch, drop=set())
    k = make_keeper([snap(0, -WAD)], sender=BalanceUnreadableSender(), batcher=BATCHER)
    result = run_cycle(k)
    assert result.tx_status == "mined"
    assert k.balance_read_at is None  # not read: the next cycle reads it
    assert k.metrics.value("keeper_rebalances_total", {"state": "mined"}) == 1


def test_a_breaker_halt_still_ends_with_the_stop_line_and_the_undelivered_alerts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The breaker's ``Halt`` left the loop before its last lines: no "keeper stopped after N
    cycles", and, with the webhook down, nothing named the alerts it never delivered, though
    every other stop names them. The halt alert, whose POST failed too, is tried once more at
    exit and named with them (helper-117: it was missing, while the log said it was held)."""
    import logging

    k = _keeper_holding_a_reorg_alert()
    blocks = iter(range(1, 100))

    def cycle(keeper: Keeper) -> CycleResult:
        raise ChainError("node down")

    runner = Runner(
        k, breaker_threshold=2, poll_interval_s=0, cycle=cycle, block_number=lambda: next(blocks)
    )
    with caplog.at_level(logging.INFO), pytest.raises(Halt):
        runner.run()
    assert "keeper stopped after 2 cycles (2 failed)" in caplog.text
    assert "2 alerts not delivered to the webhook (reorg, halt)" in caplog.text
