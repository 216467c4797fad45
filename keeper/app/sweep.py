"""The queue sweep: fill redemption queues the free quote can serve, between settlements.

A settlement frees collateral, and the settle step fills the queues it freed
(:mod:`keeper.app.settle`). Quote also becomes free without one: a deposit, the hedge selling
inventory, or quote that was free when the holder queued. Before the sweep, that quote served
the queued holders only at the vault's next settlement, or when someone called ``fill()``.

Every ``queue_sweep_s`` seconds of chain time (``KEEPER_QUEUE_SWEEP_S``; 0 turns it off), at the
end of a signing keeper's cycle, after its hedge has been sent, :func:`sweep_queues` reads every
healthy vault's queue (two JSON-RPC batches, :func:`keeper.chain.queues.read_queues`) and makes
due the ones :func:`keeper.strategy.fills.worth_filling` accepts: the next cycle's settle step
fills them, in one ``fillBatch`` when there are several, as it fills after a settlement. A sweep
the node cannot answer is tried again the next cycle; it never fails one. A dry run does not
sweep: what it found would be filled by no later cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keeper.chain.queues import read_queues
from keeper.errors import ChainError
from keeper.strategy import worth_filling

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

logger = logging.getLogger(__name__)

__all__ = ["sweep_queues"]


def sweep_queues(keeper: Keeper, vaults: Sequence[str], block: int, now: int) -> tuple[str, ...]:
    """Sweep ``vaults``' redemption queues if one is due at chain time ``now``.

    The queues worth a fill are added to ``keeper.fill_due`` and returned (empty when no sweep
    was due, or none was worth one).
    """
    period = keeper.config.queue_sweep_s
    if keeper.dry_run or period == 0 or not vaults:
        return ()
    if keeper.swept_at is not None and now - keeper.swept_at < period:
        return ()
    try:
        # At the head, not the observed block: after this cycle's hedge, which may have spent
        # free quote on inventory.
        states = read_queues(keeper.w3, vaults, "latest", keeper.queue_of)
    except ChainError as exc:
        logger.warning("queue sweep at block %d: %s; trying again next cycle", block, exc)
        return ()
    keeper.swept_at = now
    found = tuple(v for v, s in states.items() if worth_filling(s.fillable, s.pending))
    for vault in found:
        keeper.fill_due.setdefault(vault, None)
    keeper.metrics.queues_fillable.set(len(found))
    if found:
        logger.info(
            "queue sweep at block %d: %d of %d queues can be filled from free quote",
            block,
            len(found),
            len(states),
        )
    return found
