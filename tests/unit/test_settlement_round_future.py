"""The keeper's settlement hint when the expiry round is dated after the cycle's block.

The vault refuses a round dated after the block (``RebalanceRules._expiryRoundPrice``:
``updatedAt <= block.timestamp``) and takes it once the block reaches its date
(docs/security.md: "A future-dated round with no round after it passes once the block reaches
its date"). The keeper hinted it at once: its simulation was refused as the round
(``OptionVaultSettlementRound``), which reads as a wrong hint, and a ``settlement`` alert fired
for a series that only had to wait.
"""

from __future__ import annotations

from keeper.chain.rounds import SETTLEMENT_GRACE_S, expiry_round
from tests.unit.test_settlement_round_ahead import EXPIRY, FEED, NOW, PHASE, W3, Feed


def test_an_expiry_round_dated_after_the_block_waits_until_the_block_reaches_it() -> None:
    times = [EXPIRY - 7200, EXPIRY - 300, NOW + 30]  # the expiry round, dated 30 s ahead
    w3 = W3(Feed(times))
    assert expiry_round(w3, FEED, EXPIRY, NOW) is None  # type: ignore[arg-type]
    assert expiry_round(w3, FEED, EXPIRY, NOW + 30) == PHASE | 3  # type: ignore[arg-type]


def test_after_the_grace_a_round_dated_after_the_block_still_waits_not_the_fallback() -> None:
    """The fallback is refused while the feed holds an expiry round: no 0 hint either."""
    late = EXPIRY + SETTLEMENT_GRACE_S + 60
    times = [EXPIRY - 300, late + 30]
    assert expiry_round(W3(Feed(times)), FEED, EXPIRY, late) is None  # type: ignore[arg-type]
