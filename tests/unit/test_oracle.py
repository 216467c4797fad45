"""Oracle checks mirror the vault's: positive answer, heartbeat, sequencer up and past grace."""

from __future__ import annotations

import pytest

from keeper.chain.lens import OracleState, VaultThresholds
from keeper.chain.oracle import check_oracle, oracle_verdict
from keeper.errors import OracleError, StaleOracleError

NOW = 1_700_000_000
TH = VaultThresholds(
    0, 10**17, 0, 3600, 10**18, 50, 100, oracle_heartbeat=3600, sequencer_grace_period=3600
)


def state(
    answer: int = 3000 * 10**8,
    age: int = 10,
    down: bool = False,
    up_for: int | None = 7200,
) -> OracleState:
    return OracleState(
        round_id=1,
        answer=answer,
        updated_at=NOW - age,
        decimals=8,
        sequencer_down=down,
        sequencer_started_at=0 if up_for is None else NOW - up_for,
    )


def test_healthy() -> None:
    check_oracle(state(), TH, NOW)
    assert oracle_verdict(state(), TH, NOW).ok


def test_no_sequencer_feed_skips_sequencer_checks() -> None:
    check_oracle(state(up_for=None), TH, NOW)


@pytest.mark.parametrize("answer", [0, -1])
def test_non_positive_answer(answer: int) -> None:
    with pytest.raises(OracleError, match="not positive"):
        check_oracle(state(answer=answer), TH, NOW)


def test_heartbeat_boundary() -> None:
    check_oracle(state(age=3600), TH, NOW)  # exactly the heartbeat: still fresh
    with pytest.raises(StaleOracleError, match="3601s old, heartbeat 3600s"):
        check_oracle(state(age=3601), TH, NOW)
    verdict = oracle_verdict(state(age=4000), TH, NOW)
    assert not verdict.ok
    assert verdict.stale


def test_a_round_dated_after_the_block_is_stale_as_the_contract_has_it() -> None:
    """``RebalanceRules._oracleStatus``: ``now - updatedAt`` wraps above any heartbeat."""
    check_oracle(state(age=0), TH, NOW)  # the block's own second: fresh
    for ahead in (1, 86_400, 2**64):
        with pytest.raises(StaleOracleError, match=f"dated {ahead}s after the block"):
            check_oracle(state(age=-ahead), TH, NOW)
        assert oracle_verdict(state(age=-ahead), TH, NOW).stale


def test_sequencer_down() -> None:
    with pytest.raises(OracleError, match="sequencer is down") as info:
        check_oracle(state(down=True), TH, NOW)
    assert not isinstance(info.value, StaleOracleError)


def test_sequencer_grace_boundary() -> None:
    with pytest.raises(OracleError, match="grace period"):
        check_oracle(state(up_for=3600), TH, NOW)  # contract: must be strictly past grace
    check_oracle(state(up_for=3601), TH, NOW)
    verdict = oracle_verdict(state(up_for=10), TH, NOW)
    assert not verdict.ok
    assert not verdict.stale


def test_sequencer_is_checked_before_the_price_like_the_contract() -> None:
    verdict = oracle_verdict(state(answer=0, age=99_999, down=True), TH, NOW)
    assert verdict.reason == "L2 sequencer is down"
    assert not verdict.stale
