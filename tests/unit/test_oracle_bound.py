"""An oracle answer the pricing cannot take is invalid, as RebalanceRules says (helper-94)."""

from __future__ import annotations

import pytest

from keeper.chain.lens import OracleState, VaultThresholds
from keeper.chain.oracle import check_oracle
from keeper.errors import OracleError

NOW = 1_700_000_000
TH = VaultThresholds(
    0, 10**17, 0, 3600, 10**18, 50, 100, oracle_heartbeat=3600, sequencer_grace_period=3600
)


def _state(answer: int) -> OracleState:
    return OracleState(1, answer, NOW - 10, 8, False, NOW - 7200)


def test_the_largest_usable_answer_is_healthy() -> None:
    check_oracle(_state(2**127 - 1), TH, NOW)


@pytest.mark.parametrize("answer", [2**127, 10**49, 2**255 - 1])
def test_an_answer_the_pricing_would_overflow_on_is_invalid(answer: int) -> None:
    with pytest.raises(OracleError, match="above 2\\*\\*127 - 1"):
        check_oracle(_state(answer), TH, NOW)
