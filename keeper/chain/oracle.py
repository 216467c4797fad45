"""Oracle checks that mirror the vault's own (``OptionVault`` refuses to trade on the same terms).

A vault reverts with ``OptionVaultInvalidPrice`` when the answer is not positive or above
:data:`MAX_ANSWER` (its pricing would overflow),
``OptionVaultStaleOracle`` when ``now - updatedAt > heartbeat`` or ``updatedAt > now`` (a round
dated after the block), ``OptionVaultSequencerDown`` when
the sequencer feed says down, and ``OptionVaultSequencerGracePeriod`` when the sequencer came back
``gracePeriod`` seconds ago or less (the sequencer is checked first, as the contract does).
The full lens reports a sequencer feed whose ``startedAt`` is 0 like "no feed", where the
contract treats it as down (:func:`oracle_verdict`); the lean lens says whether the vault has a
feed, and :func:`oracle_fault_reason` follows the contract exactly. The vectorized form of these
checks, for every vault at once, is :func:`keeper.pricing.trigger.derive`. The keeper checks the
same before spending gas, so a bad price means no transaction and an alert, never a revert.
"""

from __future__ import annotations

from dataclasses import dataclass

from keeper.chain.lens import OracleState, VaultThresholds
from keeper.errors import OracleError, StaleOracleError

#: ``RebalanceRules.MAX_ANSWER``: the largest answer a vault uses (the lean lens reads an answer as
#: an int128 and marks a wider one unreadable).
MAX_ANSWER = 2**127 - 1


@dataclass(frozen=True)
class OracleVerdict:
    """The outcome of checking one vault's oracle: ``ok`` or the reason it cannot be used."""

    ok: bool
    reason: str = ""
    stale: bool = False


def check_oracle(state: OracleState, thresholds: VaultThresholds, now: int) -> None:
    """Raise unless the vault's oracle could be used at ``now`` (the block timestamp).

    Raises:
        OracleError: The answer is not positive, the sequencer is down, or it came back within
            the grace period.
        StaleOracleError: The answer is older than the heartbeat, or dated after the block.
    """
    verdict = oracle_verdict(state, thresholds, now)
    if not verdict.ok:
        raise (StaleOracleError if verdict.stale else OracleError)(verdict.reason)


def oracle_fault_reason(
    state: OracleState, *, has_sequencer: bool, heartbeat: int, grace: int, now: int
) -> OracleVerdict:
    """The verdict of the contract's oracle checks, with the sequencer feed known exactly.

    The lean lens reports whether a vault has a sequencer feed; down means ``answer != 0`` or
    ``startedAt == 0``, as ``RebalanceRules.oracleStatus`` has it.
    """
    if has_sequencer:
        if state.sequencer_down or state.sequencer_started_at == 0:
            return OracleVerdict(False, "L2 sequencer is down")
        up_for = now - state.sequencer_started_at
        if up_for <= grace:
            return OracleVerdict(False, f"L2 sequencer up for {up_for}s, grace period {grace}s")
    if state.answer <= 0:
        return OracleVerdict(False, f"oracle answer {state.answer} is not positive")
    if state.answer > MAX_ANSWER:
        return OracleVerdict(False, f"oracle answer {state.answer} is above 2**127 - 1")
    age = now - state.updated_at
    if age < 0:
        # The contract's unchecked ``block.timestamp - updatedAt`` wraps above any heartbeat.
        return OracleVerdict(
            False, f"oracle answer is dated {-age}s after the block: a broken feed", stale=True
        )
    if age > heartbeat:
        return OracleVerdict(
            False, f"oracle answer is {age}s old, heartbeat {heartbeat}s", stale=True
        )
    return OracleVerdict(True)


def oracle_verdict(state: OracleState, thresholds: VaultThresholds, now: int) -> OracleVerdict:
    """:func:`oracle_fault_reason` for a full-lens snapshot and its thresholds.

    The full lens already reports a sequencer feed whose ``startedAt`` is 0 as "no feed".
    """
    return oracle_fault_reason(
        state,
        has_sequencer=state.has_sequencer_feed,
        heartbeat=thresholds.oracle_heartbeat,
        grace=thresholds.sequencer_grace_period,
        now=now,
    )
