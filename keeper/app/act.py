"""Act: the plan -> simulate -> journal -> send -> account, and what was already in flight.

- :func:`settle_in_flight` runs first in every cycle: reorged batches are counted and alerted (their
  intents are re-evaluated by this cycle's fresh observation, never resent as they were), and
  each pending transaction is polled once (settled, rebroadcast, replaced if stuck, or cancelled
  if its plan went stale). While one is still pending nothing new is signed. One that finished
  (here, or in the restart's reconciliation while the keeper was down) is booked by what it
  calls: a batch, or a lone vault's own rebalance, as :func:`act` books it (a vault's revert as
  ``vault_reverted``), and a settlement or queue fill by :func:`keeper.app.settle.book_resumed`,
  never as a rebalance.
- :func:`act` simulates the exact batch (dropping vaults that would revert), and with a signer
  opens a journal intent (only once the nonce and fees are known), sends, waits, and books the
  outcome in the metrics, with the vaults the batcher dropped inside the mined batch
  (:func:`failed_in_batch`) booked as trigger disagreements. Without a signer it simulates only
  (from ``simulate_from``), and without either it does nothing.
- **Fee spikes are waits, not failures.** A base fee above the cap (``FeeCapError``) leaves the
  batch unsent, or a pending one waiting in the journal; one ``stuck_tx`` alert with the base fee
  and the cap fires per spike, and the cycle succeeds. A receipt that does not come in time
  leaves the transaction to the next cycle's settle step.
- :func:`log_decisions` and :func:`watch_balance` are the per-cycle metrics, logs and alerts.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from eth_utils.crypto import keccak
from prometheus_client import Gauge

from keeper.app.fees import Paid, book_fees_paid, why_reverted
from keeper.app.settle import book_refused, book_resumed
from keeper.chain.answers import failed_events
from keeper.chain.retry import is_transient
from keeper.errors import ExecutionError, FeeCapError, JournalWriteError, TxTimeoutError
from keeper.execution.journal import PENDING, IntentStatus
from keeper.execution.sender import Sender, SendOutcome, TxRefusedError
from keeper.execution.simulate import (
    REBALANCE_SELECTOR,
    REBALANCE_TO_SELECTOR,
    BatchCodec,
    Simulation,
    simulate_batch,
    simulate_direct,
)
from keeper.ops.logs import DECISIONS, log_decision
from keeper.ops.metrics import Metrics
from keeper.strategy import CostInputs, RebalancePlan, VaultView
from keeper.strategy.planner import batch_value_usd, reselect, venue_key
from keeper.units import wad_to_float

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper
    from keeper.pricing.book import VaultBook

decisions_log = logging.getLogger(DECISIONS)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    """What the cycle found in flight: reorged intents, and the pending sends it finished."""

    reorged: tuple[int, ...] = ()
    resumed: tuple[SendOutcome, ...] = ()
    #: Why nothing new may be sent this cycle (a transaction still pending), else ``None``.
    blocked: str | None = None
    #: Vaults whose series a resumed settlement left settled: the cycle fills their redemption
    #: queues after its hedge (:func:`keeper.app.settle.book_resumed`).
    freed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Acted:
    """What the cycle did with its plan (all ``None`` when nothing was simulated or sent)."""

    simulation: Simulation | None = None
    outcome: SendOutcome | None = None
    #: The L1 data fee: the mined version's (:mod:`keeper.app.fees`), else the quote of the
    #: version sent (a send still waiting).
    l1_fee_wei: int | None = None
    #: The L2 execution fee the mined version paid (on Arbitrum, without its L1 part).
    l2_fee_wei: int | None = None
    #: A batch that was wanted but not (yet) mined: why (fee cap, pending tx, no receipt yet).
    waiting: str | None = None
    #: A lone vault's own transaction was mined but reverted: the vault's checks refused at
    #: mining what they accepted in the simulation (the chain moved in between, e.g. an oracle
    #: update ahead of it in the block). The batcher would have mined it as a failed vault; it is
    #: booked the same way, not as a failed cycle.
    vault_reverted: bool = False
    #: Vaults the batcher dropped inside the mined batch (its ``VaultRebalanceFailed``): their
    #: checks refused at mining what the simulation accepted. ``{vault: decoded reason}``.
    failed: Mapping[str, str] = field(default_factory=dict)


def settle_in_flight(keeper: Keeper, head: int | None = None) -> Settled:
    """Mark reorged batches and poll each pending transaction once (never blocks on one).

    Args:
        keeper: The collaborators.
        head: The head block, when the caller already read it (saves a request).
    """
    if keeper.sender is None:
        return Settled()
    sender = keeper.sender
    reorged = sender.check_reorgs(head, keeper.probe_headers)
    for intent in reorged:
        what = _what_intent_calls(keeper, sender, intent)
        if what == "batch":
            keeper.metrics.rebalances.labels("reorged").inc()
        keeper.alerter.alert(
            "reorg",
            f"{what} of intent {intent} was reorged out; sending it again at its nonce (or a "
            "cancel, if it no longer simulates)",
            key=str(intent),
        )
    resumed: list[SendOutcome] = []
    freed: list[str] = []
    blocked: str | None = None

    def book(finished: Sequence[SendOutcome]) -> None:
        # The journal has settled these already: one whose booking fails (a transient read) is
        # given back to the sender with those after it, and the next cycle books them. Each
        # booking reads before it counts anything, so none is counted twice.
        for i, done in enumerate(finished):
            try:
                vaults = _book_resumed(keeper, done, head)
            except BaseException:
                sender.give_back(finished[i:])
                raise
            freed.extend(v for v in vaults if v not in freed)
            resumed.append(done)

    # Finished while the keeper was down (found by the restart's reconciliation), or finished
    # last cycle but not booked then: booked alike.
    book(sender.take_reconciled())
    for nonce in sender.journal.pending_nonces(sender.address):
        try:
            done = sender.poll_nonce(nonce)
        except FeeCapError as exc:
            fee_capped(keeper, exc)
            blocked = f"tx at nonce {nonce} waits for the base fee to fall under the cap"
            break
        except TxRefusedError as exc:
            # Never sent again (abandoned, unless another version of its nonce is in flight,
            # which the next cycle polls): alerted once, the cycle goes on.
            if refused(keeper, exc.record.tx_hash, exc.record.nonce, exc.reason):
                blocked = f"tx at nonce {nonce} still pending"
                break
            continue
        if done is None:
            blocked = f"tx at nonce {nonce} still pending"
            break
        book([done])
    if blocked is None and (resumed or _base_fee_under_cap(keeper)):
        fee_ok(keeper)
    return Settled(tuple(reorged), tuple(resumed), blocked, tuple(freed))


def _base_fee_under_cap(keeper: Keeper) -> bool:
    """Whether a spike alerted (:func:`fee_capped`) is over: the head's base fee is under the cap.

    Asked when nothing waits. A spike that ended with nothing sent (the batch was never signed,
    and the next cycles wanted nothing) left the flag set, and the next spike was silent.
    """
    head = keeper.head_block
    if not keeper.fee_capped or head is None or keeper.sender is None:
        return False
    return int(head.get("baseFeePerGas", 0) or 0) <= keeper.sender.caps.max_fee_per_gas


def _book_resumed(keeper: Keeper, done: SendOutcome, head: int | None) -> tuple[str, ...]:
    """Book a pending transaction that finished, by what it calls (see the module docstring).

    The call is the winning version's; a cancel's is the call it replaced (the nonce's first
    version). The vaults are its journal intent's. Returns the vaults a settlement freed (see
    :func:`keeper.app.settle.book_resumed`), else none.
    """
    sender = keeper.sender
    assert sender is not None
    to, data, vaults = _call_of(sender, done.tx_hash, done.nonce)
    selector = bytes(data[:4])
    if done.reincluded and done.status == "mined" and not done.cancelled:
        # Mined and booked before a reorg removed its block, now mined again as it was: one
        # transaction on the chain and one fee paid, already counted (a re-inclusion that ends
        # otherwise, reverted or cancelled, is booked as what it is). A rebalance's counter
        # says so; a settlement or fill is no rebalance.
        if _is_rebalance(keeper, selector):
            keeper.metrics.rebalances.labels("reincluded").inc()
        logger.info("tx %s mined again after a reorg (booked when first mined)", done.tx_hash)
        return ()
    if selector in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR):
        reverted = done.status == "reverted" and not done.cancelled
        account_outcome(keeper, done, len(vaults), vault_reverted=reverted)
        if reverted:
            block = done.block_number if done.block_number is not None else head
            _vault_reverted(keeper, vaults, done, block)
    elif selector == (keeper.codec or BatchCodec()).selector:
        failed = failed_in_batch(keeper, done, vaults)
        account_outcome(keeper, done, len(vaults) - len(failed))
        _book_failed_in_batch(keeper, failed, done, done.block_number)
    else:
        return book_resumed(keeper, done, to, data, vaults, head)
    return ()


def _is_rebalance(keeper: Keeper, selector: bytes) -> bool:
    """Whether a call is a rebalance: a batch, or a lone vault's own ``rebalance``."""
    batch = (keeper.codec or BatchCodec()).selector
    return selector in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR, batch)


def _what_intent_calls(keeper: Keeper, sender: Sender, intent: int) -> str:
    """``batch`` for a rebalance intent, else ``transaction`` (a settlement, a queue fill)."""
    rows = [t for t in sender.journal.pending(sender.address) if t.intent_id == intent]
    if not rows:
        return "transaction"
    _, data = sender.call_of(rows[0].tx_hash)
    return "batch" if _is_rebalance(keeper, bytes(data[:4])) else "transaction"


def _call_of(sender: Sender, tx_hash: str, nonce: int) -> tuple[str, bytes, tuple[str, ...]]:
    """What a journaled version calls: ``(to, data, vaults)``.

    A cancel's call is the one it replaced: its intent's first version at the nonce (not the
    nonce's first version: a refused one of an earlier intent that freed the nonce, which
    booked a queue fill's cancel as a cancelled rebalance). The vaults are its journal
    intent's.
    """
    intent = sender.journal.tx(tx_hash).intent_id
    to, data = sender.call_of(tx_hash)
    if to == sender.address and not data:  # a cancel: what did it cancel?
        ours = [v for v in sender.journal.versions(sender.address, nonce) if v.intent_id == intent]
        to, data = sender.call_of(ours[0].tx_hash)
    return to, data, sender.journal.intent(intent).vaults


def refused(keeper: Keeper, tx_hash: str, nonce: int, reason: str) -> bool:
    """A journaled transaction the node refused for good: booked failed, alerted once.

    By what it calls, as :func:`_book_resumed` books one that did not get mined: a settlement
    or queue fill by :func:`keeper.app.settle.book_refused`, anything else (a batch, a vault's
    own rebalance, a cancel of one) as a failed rebalance with a ``failed_batch`` alert.

    Returns ``True``, booking nothing, when another version of its nonce is still in flight
    (a refused replacement): that version is booked when it settles (mined, reverted, or
    dropped), and the nonce stays pending.
    """
    why = f"tx {tx_hash} at nonce {nonce} refused by the node for good ({reason}): not sent again"
    sender = keeper.sender
    if sender is not None:
        if any(v.status in PENDING for v in sender.journal.versions(sender.address, nonce)):
            logger.warning("%s; the version it replaces stays in flight", why)
            return True
        to, data, vaults = _call_of(sender, tx_hash, nonce)
        if book_refused(keeper, to, data, vaults, why, tx_hash):
            return False
    keeper.metrics.rebalances.labels("failed").inc()
    keeper.alerter.alert("failed_batch", why, key=tx_hash)
    return False


def fee_capped(keeper: Keeper, exc: FeeCapError) -> None:
    """A send waits for the base fee: alert once per spike (with the base fee and the cap)."""
    if keeper.fee_capped:
        return
    keeper.fee_capped = True
    if exc.base_fee > exc.cap:
        message = (
            f"base fee {exc.base_fee} wei is above the max fee cap {exc.cap} wei: the batch "
            "waits (raise KEEPER_MAX_FEE_PER_GAS_WEI to pay more)"
        )
    else:
        # A replacement's bump (``bump_fees``) would pass a cap, the base fee under it: the
        # transaction in flight waits at its fees.
        message = (
            f"{exc}: the transaction in flight waits at its fees (raise "
            "KEEPER_MAX_PRIORITY_FEE_WEI or KEEPER_MAX_FEE_PER_GAS_WEI to replace it)"
        )
    keeper.alerter.alert(
        "stuck_tx",
        message,
        key="fee_cap",
        base_fee=exc.base_fee,
        cap=exc.cap,
    )


def fee_ok(keeper: Keeper) -> None:
    """The base fee is under the cap again: the next spike alerts again."""
    if keeper.fee_capped:
        keeper.fee_capped = False
        keeper.alerter.reset("stuck_tx", "fee_cap")


def act(
    keeper: Keeper,
    the_plan: RebalancePlan,
    block: int,
    blocked: str | None = None,
    slippage_bps: Mapping[str, int] | None = None,
    costs: CostInputs | None = None,
) -> Acted:
    """Simulate the plan's batch and, with a signer, send what survives the simulation.

    Args:
        keeper: The collaborators.
        the_plan: The plan.
        block: The block it was decided at.
        blocked: Why nothing new may be sent this cycle (from :func:`settle_in_flight`, or a
            settlement this cycle left pending).
        slippage_bps: Each vault's ``maxSlippageBps`` (:func:`slippage_bounds`): when a pool's
            one swap cannot meet its strictest leg, the simulation drops the vaults with the
            smallest bound first, in the swaps that fall short alone when the batch spans
            several (each decision's venue, else its pool:
            :func:`~keeper.execution.simulate.simulate_batch`); and a batch selected again
            after a cut holds back a pool whose swap is past them (:func:`_priced_again`).
        costs: The cycle's cost inputs. With a cost-gated policy, a batch the simulation cut
            short of the plan's (a vault dropped or deferred) is priced again as it will execute
            (:func:`~keeper.strategy.planner.batch_value_usd`); when it is not worth its cost,
            only what the batch selection keeps of it is sent (:func:`_priced_again`), and the
            other vaults are deferred to the next cycle's plan.

    Raises:
        ExecutionError: The send failed (already counted and alerted).
    """
    if not the_plan.batch or keeper.batcher is None:
        return Acted()
    sim_from = keeper.sender.address if keeper.sender else keeper.simulate_from
    if sim_from is None:
        return Acted()
    if keeper.sender is not None and blocked is not None:
        return Acted(waiting=blocked)
    posts = {d.vault: int(d.post_deviation) for d in the_plan.decisions if d.act}
    benefit = {d.vault: d.benefit_usd for d in the_plan.decisions if d.act}
    # The swap each leg joins: its venue (pools on one venue swap in a row on it), else its
    # pool's own, as the planner keys them. A swap short of its bound drops only its vaults.
    swaps = {d.vault: venue_key(d.pool, d.venue) for d in the_plan.decisions if d.act}
    batcher = keeper.batcher

    def resimulate(vaults: Sequence[str]) -> Simulation:
        return simulate_batch(
            keeper.w3,
            batcher,
            vaults,
            sim_from,
            keeper.decoder,
            codec=keeper.codec,
            posts=posts,
            slippage_bps=slippage_bps,
            pools=swaps,
            headroom_bps=keeper.config.gas_headroom_bps,
            benefit=benefit,
        )

    sim = _simulate_direct(keeper, the_plan.batch, posts, sim_from)
    if sim is None:
        sim = resimulate(the_plan.batch)
    # Before the deferrals are logged: a batch held here defers its vaults as the simulation does.
    sim = _priced_again(keeper, the_plan, sim, costs, resimulate, slippage_bps)
    for vault, reason in sim.deferred.items():
        # Left for the next batch (the batcher's maxBatch, the block's gas): no disagreement.
        log_decision(
            decisions_log, "deferred", block=block, vault=vault, outcome="deferred", reason=reason
        )
    if sim.dropped:
        # The off-chain view was wrong about these: read every vault in full next cycle, in
        # case a cached book is what was wrong (a reorg can repeat a book version).
        keeper.lens.forget()
    for vault, reason in sim.dropped.items():
        # Every planned vault was ready by the off-chain trigger (the planner requires it).
        keeper.metrics.trigger_disagreements.inc()
        _alert_if_refused(keeper, vault, reason)
        log_decision(
            decisions_log,
            "dropped by simulation",
            block=block,
            vault=vault,
            outcome="dropped",
            reason=reason,
        )
    if keeper.sender is None or not sim.vaults:
        return Acted(sim)
    return _send(keeper, sim, block)


#: A dropped vault's reason when the vault itself refused the batcher's call (OpenZeppelin's
#: ``AccessControlUnauthorizedAccount``: ``batchPlan`` needs BATCHER_ROLE, ``rebalance`` the
#: KEEPER_ROLE).
_REFUSED_BY_VAULT = "AccessControlUnauthorizedAccount("


def _alert_if_refused(keeper: Keeper, vault: str, reason: str) -> None:
    """Alert at once, with the fix, for a vault dropped because it refused the batcher.

    One that never granted this batcher its roles (another deployment's vault, or a grant
    forgotten) fails every block.
    """
    if reason.startswith(_REFUSED_BY_VAULT):
        keeper.alerter.alert(
            "blocked", refuses_batcher(vault, keeper.batcher, reason), key=f"refused-{vault}"
        )


def refuses_batcher(
    vault: str,
    batcher: str | None,
    why: str,
    roles: Sequence[str] = ("BATCHER_ROLE", "KEEPER_ROLE"),
) -> str:
    """The ``blocked`` alert for a vault that refuses the batcher: why, and the grant to make.

    Keyed ``refused-<vault>`` by both its callers (a refusal in a cycle's simulation, a role
    found missing at start-up), so one throttle covers both.
    """
    return (
        f"vault {vault} refuses the batcher: {why}; its admin must grant batcher {batcher} "
        f"the vault's {' and '.join(roles)} (grantRole)"
    )


def _priced_again(
    keeper: Keeper,
    the_plan: RebalancePlan,
    sim: Simulation,
    costs: CostInputs | None,
    resimulate: Callable[[Sequence[str]], Simulation],
    slippage_bps: Mapping[str, int] | None = None,
) -> Simulation:
    """``sim``, or what of it is worth sending when a cost-gated batch the simulation cut is not.

    The survivors are selected again as the planner selects (:func:`reselect`, with each
    vault's ``slippage_bps``: a pool whose swap the cut left past its legs' bounds is held back,
    as the planner holds it); a strict subset worth its cost is simulated once more
    (``resimulate``) and sent if it simulates whole. Each survivor it leaves out is deferred
    with why: a pool held back for its slippage bound in the planner's words for it, any other
    as not worth its cost.
    """
    if costs is None or not keeper.policy.cost_gated or not sim.vaults:
        return sim
    if {v.lower() for v in sim.vaults} == {v.lower() for v in the_plan.batch}:
        return sim  # the batch the plan priced
    # A lone survivor simulated through the batcher is a batch of one, not its own transaction.
    priced = costs if sim.to is not None or len(sim.vaults) > 1 else replace(costs, gas_direct=0)
    value = batch_value_usd(the_plan, sim.vaults, priced)
    if value > 0.0:
        return sim
    held: dict[str, str] = {}
    best = reselect(the_plan, sim.vaults, replace(costs, gas_direct=0), slippage_bps, held)
    if best:
        again = resimulate(best)
        if {v.lower() for v in again.vaults} == {v.lower() for v in best}:
            sent = {v.lower() for v in best}
            past = {v.lower(): why for v, why in held.items()}
            note = (
                "deferred: not worth its cost in the batch the simulation left (priced again "
                "without the vaults it dropped)"
            )
            rest = {
                v: (
                    "deferred: in the batch the simulation left (selected again without the "
                    f"vaults it dropped), {past[v.lower()]}"
                    if v.lower() in past
                    else note
                )
                for v in sim.vaults
                if v.lower() not in sent
            }
            return replace(
                again,
                dropped={**sim.dropped, **again.dropped},
                deferred={**sim.deferred, **again.deferred, **rest},
            )
    why = (
        f"deferred: the batch the simulation left is worth {value:.4g} USD after its cost "
        "(priced again without the vaults it dropped)"
    )
    logger.info("holding a batch of %d vaults: %s", len(sim.vaults), why)
    return replace(
        sim,
        vaults=(),
        calldata=b"",
        gas=0,
        deferred={**sim.deferred, **dict.fromkeys(sim.vaults, why)},
    )


def slippage_bounds(book: VaultBook) -> dict[str, int]:
    """Each vault's ``maxSlippageBps`` as the lens read it, for :func:`act`."""
    snap = book.snap
    return dict(zip(snap.vaults, (int(b) for b in snap.max_slippage_bps.tolist()), strict=True))


def _simulate_direct(
    keeper: Keeper, batch: Sequence[str], posts: dict[str, int], sim_from: str
) -> Simulation | None:
    """A lone vault's simulation sent to the vault itself, or ``None`` for the batcher's path.

    Only with ``direct_single`` and a one-vault batch. A vault whose keeper role the signer
    lacks is remembered (``keeper.no_direct``) and goes through the batcher from then on.
    """
    if len(batch) != 1 or not keeper.config.direct_single:
        return None
    vault = batch[0]
    if vault in keeper.no_direct:
        return None
    sim = simulate_direct(
        keeper.w3,
        vault,
        sim_from,
        keeper.decoder,
        post=posts.get(vault, 0),
        headroom_bps=keeper.config.gas_headroom_bps,
    )
    if sim is None:
        keeper.no_direct.add(vault)
        logger.info(
            "%s lacks vault %s's keeper role: its rebalances go through the batcher",
            sim_from,
            vault,
        )
    return sim


def _send(keeper: Keeper, sim: Simulation, block: int) -> Acted:
    assert keeper.sender is not None
    assert keeper.batcher is not None
    l1_paid: list[int] = []
    to = sim.to or keeper.batcher

    def price_l1(raw: bytes) -> int:
        fee = int(keeper.l1fee.fee(raw, to, sim.calldata))
        l1_paid.append(fee)
        return fee

    try:
        record = keeper.sender.submit_new(
            sim.vaults, block, to, sim.calldata, sim.gas, l1_fee=price_l1
        )
    except FeeCapError as exc:
        fee_capped(keeper, exc)
        return Acted(sim, waiting=f"base fee above the cap ({exc.base_fee} > {exc.cap} wei)")
    except ExecutionError as exc:
        kept = keeper.sender.journal.pending(keeper.sender.address)
        if kept and isinstance(exc, JournalWriteError):
            # The write that failed may be the one after the broadcast: the node may hold the
            # batch and mine it. Its signed row stays, and the next poll sends the same bytes.
            keeper.alerter.alert(
                "failed_batch",
                f"batch for {len(sim.vaults)} vaults at nonce {kept[-1].nonce}: {exc}; the "
                f"transaction {kept[-1].tx_hash} may be out (mined or not, its receipt settles "
                "it); the next cycle sends the same bytes again (one hash: never a second "
                "transaction) once the journal can be written",
                key=kept[-1].tx_hash,
            )
            raise
        if kept:
            # Journaled, then refused for now (insufficient funds, a full pool), not for good:
            # the row stays at its nonce, the next cycle's poll sends it again, and it is booked
            # when it settles. Counted failed here, a batch mined later was failed and mined.
            keeper.alerter.alert(
                "failed_batch",
                f"batch for {len(sim.vaults)} vaults not sent: {exc}; kept at nonce "
                f"{kept[-1].nonce}, sent again next cycle",
                key=kept[-1].tx_hash,
            )
            raise
        keeper.metrics.rebalances.labels("failed").inc()
        key = exc.record.tx_hash if isinstance(exc, TxRefusedError) else ""
        keeper.alerter.alert("failed_batch", f"batch for {len(sim.vaults)} vaults: {exc}", key=key)
        raise
    last = l1_paid[-1] if l1_paid else None
    try:
        result = keeper.sender.wait(record.nonce, keeper.config.receipt_timeout_s)
    except FeeCapError as exc:
        fee_capped(keeper, exc)
        return Acted(sim, l1_fee_wei=last, waiting=f"tx at nonce {record.nonce} waits (fee cap)")
    except TxTimeoutError:
        return Acted(sim, l1_fee_wei=last, waiting=f"tx at nonce {record.nonce} not mined yet")
    fee_ok(keeper)
    vault_reverted = sim.to is not None and result.status == "reverted" and not result.cancelled
    failed = failed_in_batch(keeper, result, sim.vaults)  # none in a lone vault's receipt
    n_rebalanced = len(sim.vaults) - len(failed)
    paid = account_outcome(keeper, result, n_rebalanced, vault_reverted=vault_reverted)
    if vault_reverted:
        _vault_reverted(keeper, sim.vaults, result, block)
    _book_failed_in_batch(keeper, failed, result, block)
    return Acted(
        sim,
        result,
        paid.l1_wei,
        l2_fee_wei=paid.l2_wei,
        vault_reverted=vault_reverted,
        failed=failed,
    )


#: topic0 of the batcher's ``VaultRebalanceFailed(address indexed vault, bytes reason)``.
VAULT_FAILED_TOPIC = keccak(text="VaultRebalanceFailed(address,bytes)")


def failed_in_batch(keeper: Keeper, outcome: SendOutcome, vaults: Sequence[str]) -> dict[str, str]:
    """The vaults of a mined batch that the batcher dropped, with the decoded reason.

    Read from the receipt's ``VaultRebalanceFailed`` events of the keeper's batcher; a vault is
    named as ``vaults`` (the batch as sent) names it. Empty for a batch that did not get mined,
    a cancel, or no receipt.
    """
    receipt = outcome.receipt
    if receipt is None or outcome.status != "mined" or outcome.cancelled or not keeper.batcher:
        return {}
    named = {v.lower(): v for v in vaults}
    failed: dict[str, str] = {}
    for topics, reason in failed_events(receipt, keeper.batcher, VAULT_FAILED_TOPIC, 1):
        address = "0x" + bytes(topics[1])[-20:].hex()
        why = keeper.decoder.decode(reason) if reason else "no revert data"
        failed[named.get(address, address)] = why
    return failed


def _book_failed_in_batch(
    keeper: Keeper, failed: Mapping[str, str], outcome: SendOutcome, block: int | None
) -> None:
    """Book the vaults that failed inside a mined batch as :func:`_vault_reverted` books one.

    The simulation accepted them, so the chain moved between it and the mining (an oracle
    update or a pause ahead of the batch in its block): each counts as a trigger disagreement,
    gets a decision line with the decoded reason, and the next cycle reads every vault in full.
    """
    if not failed:
        return
    keeper.lens.forget()
    for vault, why in failed.items():
        keeper.metrics.trigger_disagreements.inc()
        log_decision(
            decisions_log,
            "failed inside the mined batch",
            block=block,
            vault=vault,
            outcome="failed",
            reason=f"tx {outcome.tx_hash}: {why} (the vault's checks refused at mining what the "
            "simulation accepted; the batcher rebalanced the others)",
        )


def _vault_reverted(
    keeper: Keeper, vaults: Sequence[str], outcome: SendOutcome, block: int | None
) -> None:
    """A lone vault's own transaction reverted at mining: re-decide from a full read.

    The simulation passed at the signed gas limit, so the revert is the chain having moved
    between the simulation and the mining: it is the plan that was wrong, not the keeper, as
    when a vault fails inside a mined batch. Counted as a trigger disagreement; the next cycle
    reads every vault in full (``lens.forget()``).
    """
    keeper.metrics.trigger_disagreements.inc()
    keeper.lens.forget()
    why = why_reverted(keeper, outcome)
    _note_failed(keeper, outcome.tx_hash, f"reverted: {why} (the vault refused at mining)")
    for vault in vaults:
        log_decision(
            decisions_log,
            "reverted on-chain",
            block=block,
            vault=vault,
            outcome="reverted",
            reason=f"tx {outcome.tx_hash}: {why}: the vault's checks refused at mining what the "
            "simulation accepted (the chain moved in between)",
        )


def account_outcome(
    keeper: Keeper,
    outcome: SendOutcome,
    n_vaults: int = 0,
    *,
    vault_reverted: bool = False,
) -> Paid:
    """Book a finished send in the metrics (and alert when it did not get mined).

    ``vault_reverted``: a lone vault's own transaction that the vault refused at mining, booked
    as ``vault_reverted`` with no alert, as the batcher books a vault failing in a mined batch.
    Returns what it paid (:func:`keeper.app.fees.book_fees_paid`: the mined version's fees).
    """
    m = keeper.metrics
    m.rebalances.labels("sent").inc()
    if outcome.replacements:
        m.rebalances.labels("replaced").inc(outcome.replacements)
    if outcome.cancelled:
        m.rebalances.labels("cancelled").inc()
    elif outcome.status == "mined":
        m.rebalances.labels("mined").inc()
        m.vaults_rebalanced.inc(n_vaults)
    elif vault_reverted:
        m.rebalances.labels("vault_reverted").inc()
    else:
        m.rebalances.labels("failed").inc()
        how = str(outcome.status)
        if outcome.status == "reverted":
            how += f": {why_reverted(keeper, outcome)}"
        keeper.alerter.alert(
            "failed_batch", f"batch {outcome.tx_hash} ended {how}", key=outcome.tx_hash
        )
        _note_failed(keeper, outcome.tx_hash, how)
    return book_fees_paid(keeper, outcome)


def _note_failed(keeper: Keeper, tx_hash: str, how: str) -> None:
    """Journal why the batch ``tx_hash`` failed on its intent, for ``keeper status``.

    Bookkeeping only: a journal that cannot be written now is said in the log, not raised.
    """
    if keeper.sender is None:
        return
    journal = keeper.sender.journal
    try:
        journal.set_intent(journal.tx(tx_hash).intent_id, IntentStatus.FAILED, how)
    except (ExecutionError, KeyError) as exc:
        logger.warning("why batch %s failed is not journaled: %s", tx_hash, exc)


def log_decisions(
    keeper: Keeper, the_plan: RebalancePlan, views: Sequence[VaultView], block: int
) -> None:
    """Log each vault's decision and set its delta, band and deviation gauges.

    The log lines are built only when the decisions logger would emit them; each vault's labelled
    gauges are looked up once per process and set only when their value changed
    (:class:`_VaultGauges`): at 10,000 vaults a cycle spent tens of milliseconds here otherwise.
    """
    gauges = _vault_gauges(keeper.metrics)
    logging_on = decisions_log.isEnabledFor(logging.INFO)
    for d, v in zip(the_plan.decisions, views, strict=True):
        deviation = abs(d.deviation) / d.band if d.band else math.inf
        gauges.publish(d.vault, wad_to_float(v.net_delta), wad_to_float(d.band), deviation)
        if logging_on:
            log_decision(
                decisions_log,
                "decision",
                block=block,
                vault=d.vault,
                delta=v.net_delta,
                target=v.target_delta,
                band=d.band,
                deviation=d.deviation,
                trade=d.trade,
                benefit_usd=round(d.benefit_usd, 6),
                cost_usd=round(d.cost_usd, 6),
                outcome="act" if d.act else "skip",
                # which of the vault's triggers lets it trade (none for a skip)
                trigger=("time" if d.on_time_trigger else "band") if d.act else "none",
                reason=d.reason,
            )


class _VaultGauges:
    """One :class:`Metrics`' per-vault gauges (delta, band, deviation) and their last values.

    ``labels()`` costs ~2 us a call and a ``set()`` ~1 us; only this module sets these gauges, so
    a value equal to the last one set needs no call.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.children: dict[str, tuple[Gauge, Gauge, Gauge]] = {}
        self.last: dict[str, tuple[float, float, float]] = {}

    def publish(self, vault: str, delta: float, band: float, deviation: float) -> None:
        """Set ``vault``'s three gauges to these values (only those that changed)."""
        values = (delta, band, deviation)
        last = self.last.get(vault)
        if last == values:
            return
        children = self.children.get(vault)
        if children is None:
            m = self.metrics
            children = self.children[vault] = (
                m.vault_delta.labels(vault),
                m.vault_band.labels(vault),
                m.vault_deviation.labels(vault),
            )
        for k, (child, value) in enumerate(zip(children, values, strict=True)):
            if last is None or last[k] != value:
                child.set(value)
        self.last[vault] = values


_GAUGES: weakref.WeakKeyDictionary[Metrics, _VaultGauges] = weakref.WeakKeyDictionary()


def _vault_gauges(metrics: Metrics) -> _VaultGauges:
    """The labelled-gauge cache of ``metrics`` (``labels()`` costs ~2 us a call)."""
    cache = _GAUGES.get(metrics)
    if cache is None:
        cache = _GAUGES[metrics] = _VaultGauges(metrics)
    return cache


#: Blocks between balance reads when the keeper sends nothing (the balance only falls by sends).
BALANCE_EVERY_BLOCKS = 10


def watch_balance(keeper: Keeper, block: int | None = None, spent: bool = True) -> None:
    """Publish the signer's balance, alerting when it is below ``low_balance_wei``.

    Read after a cycle that sent something, else every :data:`BALANCE_EVERY_BLOCKS` blocks. A
    read the node cannot answer now (transient) is logged and tried again next cycle: it comes
    after the send, and must not fail a cycle whose batch went out.
    """
    if keeper.sender is None:
        return
    last = keeper.balance_read_at
    recent = block is not None and last is not None and block - last < BALANCE_EVERY_BLOCKS
    if recent and not spent:
        return
    try:
        balance = keeper.sender.balance()
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.warning("keeper balance not read: %s; read again next cycle", type(exc).__name__)
        return
    keeper.balance_read_at = block
    keeper.metrics.balance_wei.set(balance)
    low = keeper.config.low_balance_wei
    if balance < low:
        keeper.alerter.alert(
            "low_balance",
            f"keeper {keeper.sender.address} holds {balance} wei (< {low})",
            key=keeper.sender.address,
        )
