"""The keeper's settlement hint past rounds stamped ahead of their time.

helper-107's audit (2026-12-07): one round published after expiry but dated days later made the
vault refuse it, every honest round after it, and the fallback: no way to settle. The vault now
passes over such rounds (``RebalanceRules._firstSinceExpiry``, up to 4 in a row), and the hint
must name the round it takes. The halving search alone found the round stamped ahead (the first
with ``updatedAt >= expiry`` if times rose with ids): a hint the vault refuses, so the keeper
alerted ``settlement`` every cycle while the series stayed unsettled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from keeper.chain.rounds import AHEAD_WINDOW, MAX_AHEAD_ROUNDS, SETTLEMENT_GRACE_S, expiry_round

NOW = 1_700_000_000
EXPIRY = NOW - 40 * 86_400
PHASE = 1 << 64
FEED = "0x" + "fe" * 20


#: The block each read asked for, in order (see the pinning test).
READ_AT: list[Any] = []


@dataclass
class _Call:
    value: Any

    def call(self, block_identifier: Any = "latest") -> Any:
        READ_AT.append(block_identifier)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@dataclass
class Feed:
    """One phase (id 1) of a Chainlink proxy: ``times[k - 1]`` is round ``k``'s updatedAt."""

    times: list[int]

    def row(self, rid: int) -> Any:
        k = rid & (PHASE - 1)
        if rid >> 64 != 1 or not 1 <= k <= len(self.times):
            return ContractLogicError("execution reverted", data="0x")  # no such round
        return ((1 << 64) | k, 3000 * 10**8, self.times[k - 1], self.times[k - 1], rid)

    def contract(self, address: str, abi: Any) -> Any:
        feed = self

        class Functions:
            def latestRoundData(self) -> _Call:  # noqa: N802  # the feed's own name
                return _Call(feed.row(PHASE | len(feed.times)))

            def getRoundData(self, rid: int) -> _Call:  # noqa: N802
                return _Call(feed.row(rid))

        return type("Proxy", (), {"functions": Functions()})()


@dataclass
class W3:
    eth: Feed


def vault_accepts(times: list[int], k: int, expiry: int = EXPIRY) -> bool:
    """``RebalanceRules._expiryRoundPrice``'s round check (its answer is positive here)."""
    at = times[k - 1]
    if not (expiry <= at <= NOW and k > 1):
        return False
    if any(t < at for t in times[k : k + AHEAD_WINDOW]):
        return False  # _laterDatedBefore: a round after it is dated before it, stamped ahead
    for _ in range(MAX_AHEAD_ROUNDS + 1):  # _firstSinceExpiry
        k -= 1
        prev = times[k - 1]
        if prev < expiry:
            return True
        if prev <= at or k <= 1:
            return False
    return False


def hint(times: list[int]) -> int | None:
    found = expiry_round(W3(Feed(times)), FEED, EXPIRY, NOW)  # type: ignore[arg-type]
    return None if found is None else found & (PHASE - 1)


def test_the_hint_is_the_honest_round_after_one_stamped_ahead() -> None:
    times = [
        EXPIRY - 7200,
        EXPIRY - 300,  # the last round before expiry
        EXPIRY + 10 * 86_400,  # published after expiry, dated 10 days later
        EXPIRY + 60,  # the honest expiry round
        EXPIRY + 3600,
        NOW - 10,
    ]
    assert hint(times) == 4
    assert [k for k in range(1, 7) if vault_accepts(times, k)] == [4]


def test_the_hint_passes_over_up_to_four_rounds_stamped_ahead_in_a_row() -> None:
    ahead = [EXPIRY + 10 * 86_400 - i for i in range(MAX_AHEAD_ROUNDS)]
    times = [EXPIRY - 300, *ahead, EXPIRY + 60, NOW - 10]
    assert hint(times) == 2 + MAX_AHEAD_ROUNDS


def test_an_earlier_expiry_round_is_the_hint_not_one_after_a_round_stamped_ahead() -> None:
    times = [EXPIRY - 300, EXPIRY + 10, EXPIRY + 10 * 86_400, EXPIRY + 60, NOW - 10]
    assert hint(times) == 2
    assert [k for k in range(1, 6) if vault_accepts(times, k)] == [2]


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.integers(1, 86_400), min_size=1, max_size=6),
    gap=st.integers(0, 86_400),
    ahead=st.lists(st.integers(2, 30 * 86_400), max_size=MAX_AHEAD_ROUNDS, unique=True),
    after=st.lists(st.integers(1, 86_400), max_size=40),
)
def test_the_hint_is_the_one_round_the_vault_takes(
    before: list[int], gap: int, ahead: list[int], after: list[int]
) -> None:
    """Honest rounds before and after expiry, and between them up to 4 rounds published after
    expiry, each dated after the honest round that follows and before the one ahead of it: the
    vault takes exactly one round, the honest first at or after expiry, and it is the hint."""
    pre = [EXPIRY - sum(before[i:]) for i in range(len(before))]  # rising, all before expiry
    honest = EXPIRY + gap
    stamps = sorted((honest + d for d in ahead), reverse=True)  # each dated before the last
    post = [honest]
    for d in after:
        post.append(post[-1] + d)
    times = [*pre, *stamps, *[min(t, NOW - 1) for t in post]]
    expected = len(pre) + len(stamps) + 1
    accepted = [k for k in range(1, len(times) + 1) if vault_accepts(times, k)]
    assert accepted == [expected]
    assert hint(times) == expected


@settings(max_examples=300, deadline=None)
@given(
    pre=st.integers(1, 4),
    post=st.integers(1, 4),
    gap=st.integers(0, 86_400),
    ahead=st.lists(st.integers(0, 2), min_size=8, max_size=8),
    stamp=st.integers(3 * 86_400, 20 * 86_400),
)
def test_the_hint_is_the_one_round_the_vault_takes_with_rounds_stamped_ahead_anywhere(
    pre: int, post: int, gap: int, ahead: list[int], stamp: int
) -> None:
    """Up to 2 rounds stamped ahead (dated days after expiry) after any honest round, before
    expiry or after, rising or not (helper-108's shapes): exactly the first honest round at or
    after expiry is taken, and it is the hint."""
    times: list[int] = []
    expected = 0
    for i in range(pre + post):
        honest = EXPIRY - 100 * (pre - i) if i < pre else EXPIRY + gap + 100 * (i - pre)
        times.append(honest)
        if i == pre:
            expected = len(times)
        times.extend(EXPIRY + stamp + 7 * j + i for j in range(ahead[i]))
    times.append(NOW - 10)  # a fresh round, after every stamp
    accepted = [k for k in range(1, len(times) + 1) if vault_accepts(times, k)]
    assert accepted == [expected]
    assert hint(times) == expected


def test_helper_108s_shapes_name_the_honest_round() -> None:
    e = EXPIRY
    two_rising_before_expiry = [e - 1000, e + 5, e + 50, e - 60, e + 20, NOW - 10]
    assert hint(two_rising_before_expiry) == 5
    two_rising_after_expiry = [e - 1000, e + 10 * 86_400, e + 20 * 86_400, e + 60, NOW - 10]
    assert hint(two_rising_after_expiry) == 4
    three_around_expiry = [e - 1000, e + 5, e + 50, e - 60, e + 100, e + 20, NOW - 10]
    assert hint(three_around_expiry) == 6
    for times in (two_rising_before_expiry, two_rising_after_expiry, three_around_expiry):
        assert [k for k in range(1, len(times) + 1) if vault_accepts(times, k)] == [hint(times)]


def test_before_the_grace_a_feed_with_no_round_since_expiry_waits() -> None:
    """Unchanged: no round at or after expiry, no hint until the grace, then the fallback."""
    times = [EXPIRY - 300, EXPIRY - 60]
    assert expiry_round(W3(Feed(times)), FEED, EXPIRY, EXPIRY + 60) is None  # type: ignore[arg-type]
    late = EXPIRY + SETTLEMENT_GRACE_S
    assert expiry_round(W3(Feed(times)), FEED, EXPIRY, late) == 0  # type: ignore[arg-type]


def test_every_read_of_the_search_is_at_the_cycles_block() -> None:
    """At ``latest``, a failover node behind the others answered "no such round" for a round
    the search had seen (chaos ``harsh``, seed 61: three false ``settlement`` alerts, "round 118
    cannot be read, though the phase has later rounds"). Pinned to the cycle's block, such a node
    answers "header not found" and the read fails over."""
    times = [EXPIRY - 300, EXPIRY + 10 * 86_400, EXPIRY + 60, NOW - 10]
    READ_AT.clear()
    assert expiry_round(W3(Feed(times)), FEED, EXPIRY, NOW, 1234) == PHASE | 3  # type: ignore[arg-type]
    assert len(READ_AT) >= 4
    assert set(READ_AT) == {1234}
