"""The oracle round a series settles at: the first round at or after its expiry.

A vault settles a series at the first round of its price feed with ``updatedAt >= expiry``, named
by a round-id hint it checks against the previous round (``prev.updatedAt < expiry <=
hint.updatedAt``, same phase, rounds stamped ahead of their time passed over: see
:meth:`_Rounds.past_ahead`). :func:`expiry_round` finds that hint by searching the feed's rounds
by halving, in the latest phase and, when a phase began after expiry, in older phases of a
Chainlink proxy, as ``RebalanceRules._hasExpiryRound`` does. Used by the keeper's
settlement (``keeper/app/settle.py``) and the devnet's market.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError
from web3.types import BlockIdentifier

from keeper.errors import ChainError

__all__ = [
    "AHEAD_WINDOW",
    "MAX_AHEAD_ROUNDS",
    "MAX_PHASES_BACK",
    "MAX_PHASE_ROUND",
    "SETTLEMENT_GRACE_S",
    "expiry_round",
]

#: ``RebalanceRules.SETTLEMENT_GRACE``: from expiry + this, ``settle(id, 0)`` is allowed.
SETTLEMENT_GRACE_S = 86_400
#: ``RebalanceRules.MAX_PHASES_BACK``: older phases looked through for the expiry round.
MAX_PHASES_BACK = 4
#: ``RebalanceRules.MAX_AHEAD_ROUNDS``: rounds stamped ahead of their time (each dated after
#: the expiry round, which follows them) the vault passes over in a row before it.
MAX_AHEAD_ROUNDS = 4
#: ``RebalanceRules.AHEAD_WINDOW``: rounds after a candidate looked at for one dated before it.
AHEAD_WINDOW = MAX_AHEAD_ROUNDS + 1
#: Candidates :meth:`_Rounds.past_ahead` passes over at most (each a few reads).
_AHEAD_SEARCHES = 16
#: ``RebalanceRules.MAX_PHASE_ROUND``: the highest round id the search of a phase doubles to.
MAX_PHASE_ROUND = 1 << 32
_AGGREGATOR_ROUND = (1 << 64) - 1
_AGGREGATOR_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": inputs,
        "outputs": [
            {"name": "roundId", "type": "uint80"},
            {"name": "answer", "type": "int256"},
            {"name": "startedAt", "type": "uint256"},
            {"name": "updatedAt", "type": "uint256"},
            {"name": "answeredInRound", "type": "uint80"},
        ],
    }
    for name, inputs in (
        ("latestRoundData", []),
        ("getRoundData", [{"name": "roundId", "type": "uint80"}]),
    )
]


def expiry_round(
    w3: Web3, feed: str, expiry: int, now: int, block: BlockIdentifier = "latest"
) -> int | None:
    """The round id to settle a series expiring at ``expiry`` with, or None to wait.

    The first round with ``updatedAt >= expiry`` whose predecessor in its phase is older than
    expiry (the vault's expiry round): in the feed's latest phase, or, while a phase began at or
    after expiry (or has no round yet: the vault takes an older phase's expiry round then too),
    in the one before it (up to ``MAX_PHASES_BACK``), every read through the
    feed's own ``getRoundData`` and each round found by halving, as
    ``RebalanceRules._hasExpiryRound`` searches. When its answer is not positive the vault
    refuses it (``OptionVaultInvalidPrice``) until expiry + the grace period, then settles it at
    the current healthy price: None until then, the round after. None too while it is dated
    after ``now`` (the vault takes it once the block reaches its date). 0 (the vault's
    fallback) from expiry + the grace period when no phase has such a round (no round since
    expiry, a phase change across expiry, a phase whose first round cannot be read): the vault
    refuses the fallback whenever one has, so that no one can settle at a later price of their
    choosing.

    Every read is at ``block`` (the cycle's: ``now`` is its timestamp). At ``latest``, a node
    behind the others (a failover's) answered "no such round" for one the search had seen
    exist, and the settlement was alerted as failed; pinned, such a node answers "header not
    found" and the read fails over.

    Raises:
        ChainError: A round of the latest phase after its first cannot be read. The phase holds
            an expiry round then (its first round is before expiry, its latest at or after), so
            the vault refuses the fallback: there is no hint to give this cycle.
    """
    agg = w3.eth.contract(address=Web3.to_checksum_address(feed), abi=_AGGREGATOR_ABI)
    latest = agg.functions.latestRoundData().call(block_identifier=block)
    round_id, updated_at = int(latest[0]), int(latest[3])
    fallback = 0 if now >= expiry + SETTLEMENT_GRACE_S else None
    phase, last = round_id >> 64, round_id & _AGGREGATOR_ROUND
    if updated_at < expiry and last != 0:
        return fallback  # no round since expiry
    # Round 0 of its phase: a proxy moved to an aggregator with no round yet (dated 0). An
    # older phase may hold the expiry round, which the vault takes: searched below.
    rounds = _Rounds(agg, expiry, now, fallback, block)
    if last > 1:
        first = rounds.at(phase, 1)[1]
        if first == 0:
            return fallback
        if first < expiry:
            found = rounds.down_from(phase, last, updated_at)
            return rounds.hint(phase, rounds.past_ahead(phase, found))
    for _ in range(MAX_PHASES_BACK):
        if phase <= 1:
            return fallback
        phase -= 1
        first = rounds.at(phase, 1)[1]
        if first == 0:
            return fallback  # no such phase, or it cannot be read
        if first < expiry:
            return rounds.hint(phase, rounds.past_ahead(phase, rounds.up_from_first(phase)))
        # this one began at or after expiry too
    return fallback


class _Rounds:
    """One feed's rounds, read through its ``getRoundData``, and the searches over a phase's."""

    def __init__(
        self, agg: Any, expiry: int, now: int, fallback: int | None, block: BlockIdentifier
    ) -> None:
        self.agg, self.expiry, self.fallback, self.block = agg, expiry, fallback, block
        #: The cycle's timestamp: a round dated after it is not hinted yet (:meth:`hint`).
        self.now = now
        #: Rounds read so far, by (phase, k): a search and its checks ask some twice.
        self._read: dict[tuple[int, int], tuple[int, int]] = {}

    def at(self, phase: int, k: int, exists: bool = False) -> tuple[int, int]:
        """(answer, updatedAt) of round ``k`` of ``phase``; updatedAt 0 when it cannot be read.

        A round that cannot be read (a revert, no answer, updatedAt 0) is one past the phase's
        end, as the vault's ``_roundTime`` takes it. ``exists``: the round is known to exist (the
        phase runs past it without gaps), and one that cannot be read is a :class:`ChainError`:
        taken for the phase's end, it made the search give the fallback, which the vault refuses.
        """
        why = f"round {k} of phase {phase} cannot be read, though the phase has later rounds"
        known = self._read.get((phase, k))
        if known is None:
            try:
                rid = (phase << 64) | k
                row = self.agg.functions.getRoundData(rid).call(block_identifier=self.block)
            except (ContractLogicError, BadFunctionCallOutput) as exc:
                if exists:
                    raise ChainError(f"{why}: {type(exc).__name__}") from exc
                return 0, 0
            known = self._read[(phase, k)] = (int(row[1]), int(row[3]))
        if exists and known[1] == 0:
            raise ChainError(f"{why}: updatedAt 0")
        return known

    def down_from(self, phase: int, last: int, last_at: int) -> int | None:
        """The first round at or after expiry, galloping down from ``last`` before halving.

        The phase's first round is before expiry and ``last`` at or after it (``last_at``). A
        series is usually settled a few rounds after its expiry, so this costs a read or two.
        Every round up to ``last`` exists: one that cannot be read is a :class:`ChainError`.
        """
        lo, hi, hi_at, step = 1, last, last_at, 1
        while hi - step > lo:
            m = self.at(phase, hi - step, exists=True)[1]
            if m < self.expiry:
                lo = hi - step
                break
            hi, hi_at, step = hi - step, m, step * 2
        return self.first_from(phase, lo, hi, hi_at, exists=True)

    def up_from_first(self, phase: int) -> int | None:
        """The first round at or after expiry, doubling up from round 2 before halving.

        The phase's first round is before expiry (``RebalanceRules._reachesExpiry``). None when
        the phase ended before expiry.
        """
        lo, hi = 1, 2
        hi_at = self.at(phase, hi)[1]
        while hi_at != 0 and hi_at < self.expiry:
            if hi == MAX_PHASE_ROUND:
                return None
            lo, hi = hi, hi * 2
            hi_at = self.at(phase, hi)[1]
        return self.first_from(phase, lo, hi, hi_at)

    def first_from(
        self, phase: int, lo: int, hi: int, hi_at: int, exists: bool = False
    ) -> int | None:
        """The first round at or after expiry, halving from ``lo`` up to ``hi``.

        ``lo`` is before expiry, ``hi`` missing or at or after it (``hi_at``). None when the
        phase ended before expiry. ``exists``: every round up to ``hi`` does (see :meth:`at`).
        """
        while hi - lo > 1:
            mid = (lo + hi) // 2
            m = self.at(phase, mid, exists)[1]
            if m == 0 or m >= self.expiry:
                hi, hi_at = mid, m
            else:
                lo = mid
        return hi if hi_at != 0 else None

    def stamped_ahead(self, phase: int, k: int, at: int) -> bool:
        """Whether a round of the ``AHEAD_WINDOW`` after round ``k`` is dated before ``at``.

        As ``RebalanceRules._laterDatedBefore`` reads them: it stops at the first that does not
        exist.
        """
        for i in range(1, AHEAD_WINDOW + 1):
            later = self.at(phase, k + i)[1]
            if later == 0:
                return False
            if later < at:
                return True
        return False

    def past_ahead(self, phase: int, k: int | None) -> int | None:
        """``k``, or the round the vault takes instead when ``k`` was stamped ahead of its time.

        The halving takes times to rise with round ids. A round dated after a round that
        follows it (within ``AHEAD_WINDOW``) breaks that; the vault refuses it and takes the
        first round at or after expiry after it, passing over up to ``MAX_AHEAD_ROUNDS`` such
        rounds in a row (``RebalanceRules._firstSinceExpiry``): one published after expiry
        otherwise left no round to settle with, and no fallback. ``k`` itself when it is not
        stamped ahead.
        """
        for _ in range(_AHEAD_SEARCHES):
            if k is None:
                return None
            at = self.at(phase, k, exists=True)[1]
            if not self.stamped_ahead(phase, k, at):
                return k
            # The expiry round is after k: double up from it, then halve.
            lo, step, hi = k, 1, k + 1
            hi_at = self.at(phase, hi)[1]
            while hi_at != 0 and hi_at < self.expiry:
                lo, step = hi, step * 2
                hi = k + step
                hi_at = self.at(phase, hi)[1]
            k = self.first_from(phase, lo, hi, hi_at)
        return k

    def hint(self, phase: int, k: int | None) -> int | None:
        """Round ``k``'s id to send, None to wait, or the fallback when ``k`` is None.

        The id once the round can settle: it is not dated after the block (the vault refuses
        it until the block reaches its date, and takes it then: hinted at once, the refusal read
        as a wrong hint and was alerted), and its answer is positive or the grace period is over
        (the vault then settles it at the current healthy price). ``k`` None: the phase has no
        expiry round.
        """
        if k is None:
            return self.fallback
        answer, at = self.at(phase, k, exists=True)  # read by the search: it exists
        if at > self.now:
            return None
        return (phase << 64) | k if answer > 0 or self.fallback == 0 else None
