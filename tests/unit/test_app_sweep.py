"""The queue sweep: which redemption queues are read, when, and which are made due for a fill."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from keeper.app.collaborators import Keeper
from keeper.app.sweep import SWEEP_SLICE, sweep_queues
from keeper.chain.queues import FILLABLE, REDEMPTION_QUEUE, TOTAL_PENDING, QueueState, read_queues
from keeper.chain.retry import RpcUnavailableError, is_transient
from keeper.errors import ChainError
from keeper.settings import CycleConfig
from keeper.strategy import worth_filling
from tests.unit.test_app_cycle import make_keeper, snap

V1, V2, V3 = (str(to_checksum_address("0x" + c * 20)) for c in ("a1", "a2", "a3"))
Q1, Q2 = (str(to_checksum_address("0x" + c * 20)) for c in ("e1", "e2"))
ZERO = "0x" + "00" * 20


def _word(value: int | str) -> bytes:
    if isinstance(value, str):
        return abi_encode(["address"], [value])
    return abi_encode(["uint256"], [value])


class _Eth:
    """Answers each ``eth_call`` from a table keyed by (to, selector); counts the calls."""

    def __init__(self, table: dict[tuple[str, bytes], Any]) -> None:
        self.table, self.calls = table, 0

    def call(self, tx: Any, block: Any) -> bytes:
        self.calls += 1
        answer = self.table[(str(tx["to"]), bytes(tx["data"]))]
        if isinstance(answer, BaseException):
            raise answer
        return bytes(answer)


class _W3:
    provider = object()  # not a JSON-RPC provider: one call at a time

    def __init__(self, table: dict[tuple[str, bytes], Any]) -> None:
        self.eth = _Eth(table)


def _chain(fillable1: Any = 5, pending1: int = 100) -> _W3:
    """V1 and V2 have queues, V3 none; Q1 answers ``fillable1``, Q2 has nothing fillable."""
    answer1 = fillable1 if isinstance(fillable1, Exception) else _word(fillable1)
    return _W3(
        {
            (V1, bytes(REDEMPTION_QUEUE)): _word(Q1),
            (V2, bytes(REDEMPTION_QUEUE)): _word(Q2),
            (V3, bytes(REDEMPTION_QUEUE)): _word(ZERO),
            (Q1, bytes(FILLABLE)): answer1,
            (Q1, bytes(TOTAL_PENDING)): _word(pending1),
            (Q2, bytes(FILLABLE)): _word(0),
            (Q2, bytes(TOTAL_PENDING)): _word(40),
        }
    )


def test_read_queues_leaves_out_vaults_without_a_queue_and_asks_each_vault_once() -> None:
    w3, known = _chain(), {}
    states = read_queues(w3, [V1, V2, V3], 7, known)  # type: ignore[arg-type]
    assert states == {V1: QueueState(Q1, 5, 100), V2: QueueState(Q2, 0, 40)}
    assert known == {V1: Q1, V2: Q2}
    assert w3.eth.calls == 3 + 4
    read_queues(w3, [V1, V2, V3], 8, known)  # type: ignore[arg-type]
    assert w3.eth.calls == 7 + 1 + 4  # only V3 is asked for its queue again


def test_a_queue_whose_read_reverts_is_left_out_not_raised() -> None:
    w3 = _chain(fillable1=ValueError("execution reverted"))
    assert read_queues(w3, [V1, V2], 7, {}) == {V2: QueueState(Q2, 0, 40)}  # type: ignore[arg-type]


def test_a_node_lost_during_the_reads_is_a_chain_error() -> None:
    w3 = _chain(fillable1=requests.ConnectionError("refused"))
    with pytest.raises(ChainError, match="redemption queue reads failed: ConnectionError"):
        read_queues(w3, [V1, V2], 7, {}, attempts=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fillable", "pending", "worth"),
    [
        (0, 100, False),  # nothing to fill
        (0, 0, False),
        (1, 101, False),  # under 1 % of the pending shares
        (1, 100, True),  # exactly 1 %
        (100, 100, True),  # all of it
        (3, 3, True),  # all of a small queue
        (10**30, 10**32, True),
        (10**30 - 1, 10**32, False),
    ],
)
def test_a_fill_is_worth_sending_from_one_percent_of_the_pending_shares(
    fillable: int, pending: int, worth: bool
) -> None:
    assert worth_filling(fillable, pending) is worth


class _Sender:
    """Only its presence matters here: the keeper signs."""


def _keeper(w3: _W3, period: int = 3_600, signing: bool = True) -> Keeper:
    k = make_keeper([snap(0, 0)], sender=_Sender() if signing else None)
    k.w3 = w3  # type: ignore[assignment]
    k.config = CycleConfig(eth_usd=3000.0, queue_sweep_s=period)
    return k


def test_the_sweep_makes_due_the_queues_worth_a_fill_once_a_period_of_chain_time() -> None:
    w3 = _chain(fillable1=5, pending1=100)
    k = _keeper(w3)
    k.fill_due["0x" + "ff" * 20] = None  # already due (a settlement freed it)
    assert sweep_queues(k, [V1, V2, V3], 10, 1_000) == (V1,)
    assert list(k.fill_due) == ["0x" + "ff" * 20, V1]
    assert k.metrics.value("keeper_queues_fillable") == 1
    calls = w3.eth.calls
    assert sweep_queues(k, [V1, V2, V3], 11, 1_000 + 3_599) == ()  # not a period yet
    assert w3.eth.calls == calls
    assert sweep_queues(k, [V1, V2, V3], 12, 1_000 + 3_600) == (V1,)
    assert w3.eth.calls > calls
    assert list(k.fill_due) == ["0x" + "ff" * 20, V1]  # once


def test_a_queue_the_free_quote_serves_by_a_crumb_is_not_made_due() -> None:
    k = _keeper(_chain(fillable1=5, pending1=10**6))
    assert sweep_queues(k, [V1, V2, V3], 10, 1_000) == ()
    assert k.fill_due == {}
    assert k.metrics.value("keeper_queues_fillable") == 0


@pytest.mark.parametrize("signing", [True, False])
def test_no_sweep_when_it_is_off(signing: bool) -> None:
    w3 = _chain()
    k = _keeper(w3, 0, signing)
    assert sweep_queues(k, [V1, V2, V3], 10, 1_000) == ()
    assert w3.eth.calls == 0
    assert k.swept_at is None


def test_a_dry_run_sweeps_as_the_signing_keeper_does() -> None:
    """Found: a dry run (``keeper check``, ``keeper run --dry-run``) read no queues, so it never
    showed the fills from free quote that the signing keeper would send."""
    w3 = _chain(fillable1=5, pending1=100)
    k = _keeper(w3, signing=False)
    assert sweep_queues(k, [V1, V2, V3], 10, 1_000) == (V1,)
    assert list(k.fill_due) == [V1]


def test_a_sweep_slice_as_large_as_the_vaults_reads_them_all_in_one_cycle() -> None:
    """``keeper check`` is one cycle: it reads every vault's queue at once (``sweep_slice``)."""
    many = [str(to_checksum_address(f"0x{i:040x}")) for i in range(1, SWEEP_SLICE + 11)]
    table: dict[tuple[str, bytes], Any] = {(v, bytes(REDEMPTION_QUEUE)): _word(ZERO) for v in many}
    w3 = _W3(table)
    w3.eth.table.update(_chain(fillable1=7, pending1=7).eth.table)
    k = _keeper(w3, signing=False)
    vaults = [*many, V1]
    k.sweep_slice = len(vaults)
    assert sweep_queues(k, vaults, 10, 1_000) == (V1,)
    assert k.sweep_left == []


def test_a_sweep_the_node_cannot_answer_is_tried_again_next_cycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w3 = _chain(fillable1=requests.ConnectionError("refused"))
    k = _keeper(w3)
    assert sweep_queues(k, [V1, V2], 10, 1_000) == ()  # after the reads' own retries
    assert k.sweep_left == [V1, V2]  # nothing read: the same slice next cycle
    assert "trying again next cycle" in caplog.text
    w3.eth.table[(Q1, bytes(FILLABLE))] = _word(50)
    assert sweep_queues(k, [V1, V2], 11, 1_002) == (V1,)
    assert k.sweep_left == []
    assert k.swept_at == 1_000  # the sweep that started then, finished
    assert sweep_queues(k, [V1, V2], 12, 1_000 + 3_599) == ()


def test_a_sweep_the_node_cannot_answer_fails_a_cycle_with_no_next_one() -> None:
    """``keeper check`` is one cycle (``one_cycle``): a sweep it lost to the node would have
    shown no fill as if none were due (tests/integration/test_check_chaos.py)."""
    k = _keeper(_chain(fillable1=requests.ConnectionError("refused")), signing=False)
    k.one_cycle = True
    with pytest.raises(ChainError, match="redemption queue reads failed"):
        sweep_queues(k, [V1, V2], 10, 1_000)
    assert not k.fill_due


def test_a_large_sweep_reads_a_slice_a_cycle_and_skips_a_vault_unhealthy_at_its_turn() -> None:
    """Reading 1,000 queues takes ~1.2 s on anvil: a sweep goes on over several cycles, each
    reading ``SWEEP_SLICE`` vaults, so no cycle waits for all of it."""
    many = [str(to_checksum_address(f"0x{i:040x}")) for i in range(1, 2 * SWEEP_SLICE + 51)]
    table: dict[tuple[str, bytes], Any] = {(v, bytes(REDEMPTION_QUEUE)): _word(ZERO) for v in many}
    w3 = _W3(table)
    w3.eth.table.update(_chain(fillable1=7, pending1=7).eth.table)
    k = _keeper(w3)
    vaults = [V1, *many, V2]
    asked: list[int] = []
    for cycle in range(3):
        calls = w3.eth.calls
        healthy = [v for v in vaults if not (cycle == 2 and v == V2)]  # V2 unhealthy at its turn
        found = sweep_queues(k, healthy, 10 + cycle, 1_000 + cycle)
        asked.append(w3.eth.calls - calls)
        assert found == ((V1,) if cycle == 0 else ())
        assert k.metrics.value("keeper_queues_fillable") == (1 if cycle == 2 else 0)
    # V1's queue (1 + 2 calls) and 249 queue-less vaults; then 250; then the last 52, less V2
    assert asked == [SWEEP_SLICE + 2, SWEEP_SLICE, 51]
    assert k.sweep_left == []
    assert sweep_queues(k, vaults, 13, 1_003) == ()  # the next sweep starts an hour on
    assert k.swept_at == 1_000


def test_no_endpoint_answering_is_named_as_the_queue_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # A check that fails on it says so in its one line: "keeper: error: batch failed on every
    # RPC endpoint: ..." named no read.
    def call_each(*args: Any, **kw: Any) -> list[bytes | None]:
        raise RpcUnavailableError("batch failed on every RPC endpoint: HTTPError: 500")

    monkeypatch.setattr("keeper.chain.queues.call_each", call_each)
    with pytest.raises(ChainError) as info:
        read_queues(_chain(), [V1], 7, {})  # type: ignore[arg-type]
    assert str(info.value) == (
        "redemption queue reads failed: batch failed on every RPC endpoint: HTTPError: 500"
    )
    assert is_transient(info.value)
