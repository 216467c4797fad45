"""The keeper's settlement hint at the edges of a Chainlink proxy's phases (helper-130).

A proxy moved to an aggregator with no round yet answers ``latestRoundData`` with round
``phase << 64 | 0``, dated 0. The vault still settles at the older phase's expiry round
(``tests/forge/SettlementPhaseEdges.t.sol``,
``test_settle_APhaseWithNoRoundYetLeavesTheOlderRound``), and refuses the fallback (the latest
answer, 0, is no price). The search took "dated 0" for "no round since expiry": it waited until
the grace period, then hinted the fallback, which the vault refused, alerted every cycle, while
the series could settle.
"""

from __future__ import annotations

from keeper.chain.rounds import SETTLEMENT_GRACE_S, expiry_round
from tests.unit.test_audit_findings2 import NOW, _PhasedFeed, _PhasedW3

FEED = "0x" + "fe" * 20


def _holds(expiry: int) -> dict[int, tuple[int, int]]:
    return {
        1: (3000 * 10**8, expiry - 7200),
        2: (3000 * 10**8, expiry - 60),
        3: (2900 * 10**8, expiry + 30),
        4: (2950 * 10**8, expiry + 3600),
    }


def test_a_latest_phase_with_no_round_yet_leaves_the_older_phases_expiry_round() -> None:
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    feed = _PhasedFeed({1: _holds(expiry), 2: {0: (0, 0)}})
    assert expiry_round(_PhasedW3(feed), FEED, expiry, NOW) == (1 << 64) | 3
    before_grace = expiry + SETTLEMENT_GRACE_S - 1
    assert expiry_round(_PhasedW3(feed), FEED, expiry, before_grace) == (1 << 64) | 3


def test_a_feed_without_phases_and_no_round_still_waits_then_falls_back() -> None:
    """Round 0 of phase 0 (a bare aggregator with no round): nothing older to search."""
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    feed = _PhasedFeed({0: {0: (0, 0)}})
    assert expiry_round(_PhasedW3(feed), FEED, expiry, NOW) == 0
    assert expiry_round(_PhasedW3(feed), FEED, expiry, expiry + 60) is None
