"""The loop's block pacing under RPC faults: a faulted head poll is answered late, not lost.

A faulted read is retried or hedged inside the failover provider and comes back late (a hedge
after 0.25 s, a 429's one-second Retry-After). Timed by its answer, that sighting was late, and
the interval to it long and the one after it short: the loop found the sightings irregular and
stopped pacing for as long as the faults lasted (docs/chaos.md: "under 20% faults nothing
changed"), the very time fewer polls matter most.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from keeper.app.cycle import CycleResult
from keeper.app.loop import Runner
from tests.unit.test_app_cycle import _FakeClock, dummy_result, make_keeper, snap

BLOCK_S = 1.0
POLL_S = 0.2
#: Every fifth head poll is faulted: answered after this many seconds (hedge, Retry-After,
#: a retry's backoff), in turn.
DELAYS = (0.25, 1.0, 0.15)


def _faulted_run(monkeypatch: pytest.MonkeyPatch, cycles: int = 60) -> tuple[Runner, list[float]]:
    clock = _FakeClock()
    monkeypatch.setattr("keeper.app.loop.time.monotonic", clock.monotonic)
    calls = itertools.count(1)
    delays = itertools.cycle(DELAYS)
    late: list[float] = []  # how long after its block's arrival each head was seen

    def block_number() -> int:
        n = next(calls)
        clock.now += next(delays) if n % 5 == 0 else 0.01  # the node reads it at the end
        return int(clock.now / BLOCK_S)

    def cycle(keeper: object) -> CycleResult:
        clock.now += 0.3
        return dummy_result()

    runner = Runner(
        make_keeper([snap(0, 0)]),
        poll_interval_s=POLL_S,
        cycle=cycle,
        block_number=block_number,
        max_cycles=cycles,
    )
    runner._stop.wait = clock.wait  # type: ignore[method-assign]
    real_wait = runner._wait_new_block

    def timed(last: int | None) -> int | None:
        head = real_wait(last)
        if head is not None:
            late.append(clock.now - head * BLOCK_S)
        return head

    runner._wait_new_block = timed  # type: ignore[method-assign]
    runner.run()
    return runner, late


def test_loop_paces_its_polls_while_some_head_polls_are_faulted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, late = _faulted_run(monkeypatch)
    assert runner.cycles == 60
    assert runner.block_interval_s() == pytest.approx(BLOCK_S, abs=0.2)
    # Paced: about two polls a block (unpaced: about four).
    assert runner.polls <= 60 * 2.7, f"{runner.polls} polls for 60 cycles"
    # Never later than a poll period plus the faulted poll's own delay.
    assert max(late) <= POLL_S + max(DELAYS) + 0.05, max(late)


def test_loop_sees_most_heads_within_a_poll_period_under_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unpaced under faults, a poll period's wait after each faulted or empty poll put three
    heads in ten later than a poll period plus a clean poll's latency. Paced from when each
    sighting's poll was sent, a late answer does not push the next paced poll past its block."""
    _, late = _faulted_run(monkeypatch)
    ranked = sorted(late)
    assert ranked[int(0.7 * len(ranked))] <= POLL_S + 0.02, ranked


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"number": None}, id="number-null"),
        pytest.param({"number": [1]}, id="number-a-list"),
        pytest.param({"timestamp": None}, id="timestamp-null"),
    ],
)
def test_loop_keeps_running_when_the_head_block_is_garbled(field: dict[str, object]) -> None:
    """A head block whose number or timestamp is not a quantity (null, a list) passed the
    answer's shape check and reached ``int()`` as a TypeError, which the loop does not catch
    (only a bug should crash it): one garbled answer from a proxy killed `keeper run`. It is a
    malformed answer, asked again; the loop goes on to the good one."""
    from keeper.chain.connection import connect
    from tests.rpc_stub import json_rpc_node
    from tests.unit.test_rpc_faults_h128 import _header, answer

    blocks: list[int] = []

    def node(body: Any) -> Any:
        if isinstance(body, dict) and body["method"] == "eth_getBlockByNumber":
            blocks.append(1)
            good = _header(100 + len(blocks))
            result = {**good, **field} if len(blocks) % 2 else good
            return {"jsonrpc": "2.0", "id": body["id"], "result": result}
        return answer(body)

    def cycle(keeper: Any) -> CycleResult:
        head = keeper.head_block  # what the cycle's costs read of the poll's header
        assert int(head["number"]) > 100
        assert int(head["timestamp"]) > 0
        return dummy_result()

    with json_rpc_node(node) as stub:
        keeper = make_keeper([snap(0, 0)])
        keeper.w3 = connect(stub.url)
        runner = Runner(keeper, poll_interval_s=0.01, cycle=cycle, max_cycles=2)
        assert runner.run() == 2
    assert runner.failed_cycles == 0


def test_loop_says_when_the_head_went_back_below_its_last_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A head below the block the last cycle ran on (a failover node far behind, a devnet that
    was reset) was waited past in silence: no cycle, no log line, no alert, for as long as it
    lasted. It is said once per episode, and the loop goes on when the head passes it."""
    heads = iter([100, 40, 41, 42, 43, 101])
    runner = Runner(
        make_keeper([snap(0, 0)]),
        poll_interval_s=0.0,
        cycle=lambda k: dummy_result(),
        block_number=lambda: next(heads),
        max_cycles=2,
    )
    with caplog.at_level("WARNING", logger="keeper.app.loop"):
        assert runner.run() == 2
    said = [r.getMessage() for r in caplog.records if "below block 100" in r.getMessage()]
    assert said == [
        "head 40 is below block 100, which the last cycle ran on: a node behind, or a chain "
        "that went back; waiting for a head past it"
    ]


def test_loop_says_a_head_went_back_after_an_unchanged_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heads = iter([100, 100, 40, 40, 101])
    runner = Runner(
        make_keeper([snap(0, 0)]),
        poll_interval_s=0.0,
        cycle=lambda k: dummy_result(),
        block_number=lambda: next(heads),
        max_cycles=2,
    )
    with caplog.at_level("WARNING", logger="keeper.app.loop"):
        assert runner.run() == 2
    assert sum("head 40 is below block 100" in r.getMessage() for r in caplog.records) == 1
