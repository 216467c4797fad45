"""The ``blocked`` alert: raised when a vault's streak reaches the limit, then only as it doubles.

A vault out of band and blocked for hours used to log an ``ALERT blocked`` warning every block
(the webhook was throttled, the log line was not).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from keeper.app.observe import _alert_long_blocks
from keeper.ops.alerts import Alerter


def _keeper(limit: int) -> SimpleNamespace:
    return SimpleNamespace(
        blocked_since={},
        blocked_alerted={},
        config=SimpleNamespace(blocked_alert_blocks=limit),
        alerter=Alerter(None, min_interval_s=0),
    )


def _alerted_at(keeper: SimpleNamespace, blocks: range, blocked: dict[str, str]) -> list[int]:
    at = []
    for block in blocks:
        before = len(keeper.alerter.sent)
        _alert_long_blocks(keeper, blocked, block)  # type: ignore[arg-type]
        if len(keeper.alerter.sent) > before:
            at.append(block)
    return at


def test_alerts_at_the_limit_then_each_time_the_streak_doubles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keeper = _keeper(limit=20)
    with caplog.at_level(logging.WARNING):
        at = _alerted_at(keeper, range(100, 400), {"0xv": "OptionVaultOracleGap(...)"})
    # streaks of 20, 40, 80 and 160 blocks (the first block seen is block 100, the first of each)
    assert at == [119, 139, 179, 259]
    assert len([r for r in caplog.records if "ALERT blocked" in r.getMessage()]) == 4
    assert "blocked for 160 blocks (since block 100)" in keeper.alerter.sent[-1]["message"]


def test_a_new_episode_alerts_again_at_the_limit() -> None:
    keeper = _keeper(limit=3)
    blocked = {"0xv": "OptionVaultTooSoon(...)"}
    assert _alerted_at(keeper, range(10, 20), blocked) == [12, 15]
    _alert_long_blocks(keeper, {}, 20)  # type: ignore[arg-type]  # the vault is served
    assert _alerted_at(keeper, range(21, 25), blocked) == [23]


def test_each_vault_has_its_own_streak() -> None:
    keeper = _keeper(limit=2)
    a, b = {"0xa": "x"}, {"0xa": "x", "0xb": "y"}
    for block in range(0, 3):
        _alert_long_blocks(keeper, a, block)  # type: ignore[arg-type]
    for block in range(3, 6):
        _alert_long_blocks(keeper, b, block)  # type: ignore[arg-type]
    sent = [(m["message"].split(":")[0], m["message"]) for m in keeper.alerter.sent]
    assert [v for v, _ in sent] == ["vault 0xa", "vault 0xa", "vault 0xb"]
    assert "blocked for 2 blocks" in sent[0][1]
    assert "blocked for 4 blocks" in sent[1][1]
    assert "blocked for 2 blocks (since block 3)" in sent[2][1]


def test_the_limit_counts_the_blocks_the_vault_was_seen_blocked() -> None:
    """``KEEPER_BLOCKED_ALERT_BLOCKS``: alert when a wanted vault stays blocked this many blocks.
    The streak counted the blocks after the first one seen blocked, so the alert came with the
    vault blocked one block more than the limit (21 blocks at 20, and a limit of 1 never alerted
    on a vault seen blocked in one block)."""
    keeper = _keeper(limit=1)
    assert _alerted_at(keeper, range(100, 101), {"0xv": "x"}) == [100]
    assert "blocked for 1 block (since block 100)" in keeper.alerter.sent[-1]["message"]
    keeper = _keeper(limit=20)
    # blocks 100..119 are 20 blocks
    assert _alerted_at(keeper, range(100, 120), {"0xv": "x"}) == [119]
    assert "blocked for 20 blocks (since block 100)" in keeper.alerter.sent[-1]["message"]
