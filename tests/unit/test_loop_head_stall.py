"""A head that stops advancing is alerted (``head_stalled``), not waited on in silence.

The loop waits for a new block before each cycle. A node that stopped (a stuck sequencer, an
endpoint serving one frozen block) or a head that cannot be read at all left the keeper polling
forever: no cycle ran, so no ``unserved`` alert, and no line said why nothing happened.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from keeper.app.cycle import CycleResult
from keeper.app.loop import Runner
from tests.unit.test_app_cycle import _FakeClock, dummy_result, make_keeper, snap

POLL_S = 1.0


def _run(
    monkeypatch: pytest.MonkeyPatch,
    heads: Callable[[float], int],
    stall_s: float,
    cycles: int,
) -> tuple[Runner, list[str], list[str]]:
    """Run ``cycles`` cycles on a fake clock; the head at time t is ``heads(t)``."""
    clock = _FakeClock()
    monkeypatch.setattr("keeper.app.loop.time.monotonic", clock.monotonic)
    k = make_keeper([snap(0, 0)])

    def block_number() -> int:
        clock.now += 0.01
        return heads(clock.now)

    def cycle(keeper: object) -> CycleResult:
        clock.now += 0.1
        return dummy_result()

    runner = Runner(
        k,
        poll_interval_s=POLL_S,
        cycle=cycle,
        block_number=block_number,
        max_cycles=cycles,
        head_stall_s=stall_s,
    )
    runner._stop.wait = clock.wait  # type: ignore[method-assign]
    assert runner.run() == cycles
    stalled = [a["message"] for a in k.alerter.sent if a["kind"] == "head_stalled"]
    return runner, stalled, [a["kind"] for a in k.alerter.sent]


def _frozen_between(start: float, end: float) -> Callable[[float], int]:
    """A block a second, but none from ``start`` to ``end`` seconds."""

    def head(t: float) -> int:
        if t < start:
            return int(t)
        if t < end:
            return int(start)
        return int(start) + int(t - end) + 1

    return head


def test_a_head_frozen_for_longer_than_the_stall_limit_is_alerted_as_its_stall_doubles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, stalled, _ = _run(monkeypatch, _frozen_between(5.0, 300.0), stall_s=60.0, cycles=12)
    # At 60 s without a new block, then as the stall doubles (120 s, 240 s): three alerts for a
    # 295-second stall, not one a poll.
    assert len(stalled) == 3, stalled
    assert stalled[0].startswith("no new block for 60 s (the head is still block 5):")
    assert "for 120 s" in stalled[1]
    assert "for 240 s" in stalled[2]


def test_a_head_that_cannot_be_read_is_alerted_with_the_last_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def heads(t: float) -> int:
        if 3.0 <= t < 100.0:
            raise requests.ConnectionError("connection refused")
        return int(t)

    _, stalled, _ = _run(monkeypatch, heads, stall_s=30.0, cycles=8)
    assert stalled, "no alert"
    assert stalled[0].startswith("no new block for 30 s (the block number cannot be read:")
    assert "connection refused" in stalled[0]


def test_short_pauses_and_a_limit_of_zero_raise_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _, stalled, _ = _run(monkeypatch, _frozen_between(5.0, 40.0), stall_s=60.0, cycles=10)
    assert stalled == []
    _, stalled, kinds = _run(monkeypatch, _frozen_between(5.0, 300.0), stall_s=0.0, cycles=10)
    assert stalled == []
    assert "head_stalled" not in kinds


def test_every_stall_episode_alerts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def heads(t: float) -> int:  # frozen from 5 to 80 s, then from 100 to 175 s
        if t < 5.0:
            return int(t)
        if t < 80.0:
            return 5
        if t < 100.0:
            return 6 + int(t - 80.0)
        if t < 175.0:
            return 25
        return 26 + int(t - 175.0)

    _, stalled, _ = _run(monkeypatch, heads, stall_s=60.0, cycles=30)
    assert len(stalled) == 2, stalled
