"""The queue sweep: fill redemption queues the free quote can serve, between settlements.

A settlement frees collateral, and the cycle fills the queues it freed after its hedge
(:func:`keeper.app.settle.fill_due_queues`). Quote also becomes free without one: a deposit, the
hedge selling inventory, or quote that was free when the holder queued. Before the sweep, that quote
served the queued holders only at the vault's next settlement, or when someone called ``fill()``.

Every ``queue_sweep_s`` seconds of chain time (``KEEPER_QUEUE_SWEEP_S``; 0 turns it off), at the end
of a cycle, after its hedge has been sent, :func:`sweep_queues` reads every healthy
vault's queue (JSON-RPC batches, :func:`keeper.chain.queues.read_queues`, ``SWEEP_SLICE`` vaults a
cycle) and makes due the ones :func:`keeper.strategy.fills.worth_filling` accepts: the cycle's last
step fills them right after, in one ``fillBatch`` when there are several, as it fills after a
settlement. A slice the node cannot answer is read again the next cycle; it never fails one. A dry
run sweeps too, and its fill step simulates and reports the fills instead of sending them;
``keeper check`` and ``keeper rehearse``, one cycle each, read every vault's queue at once
(``Keeper.sweep_slice``), and with no next cycle a read the node fails fails it
(``Keeper.one_cycle``; :func:`keeper.app.cycle.run_alone`).
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


#: Vaults whose queues one cycle reads: a sweep of more goes on over the next cycles. Reading
#: 1,000 vaults' queues took 851 ms on anvil on a first sweep (three ``eth_call`` a vault, 12
#: JSON-RPC requests) and 548 ms once the queues are known; 250 a cycle took 132 ms
#: (docs/benchmarks.md, section 7): the next cycle's reaction does not wait for the rest.
SWEEP_SLICE = 250


def sweep_queues(keeper: Keeper, vaults: Sequence[str], block: int, now: int) -> tuple[str, ...]:
    """Go on with the queue sweep, or start one if it is due at chain time ``now``.

    ``vaults`` are the cycle's healthy vaults. A sweep starts with them, every ``queue_sweep_s``
    of chain time, and reads ``keeper.sweep_slice`` of them a cycle until it has read them all;
    a vault that is not healthy when its turn comes waits for the next sweep. A slice the node
    cannot answer is read again next cycle (with ``keeper.one_cycle``, there is none: its
    :class:`~keeper.errors.ChainError` fails the cycle). The queues worth a fill are added to
    ``keeper.fill_due`` and returned (empty when no sweep is under way, or none was worth one).
    """
    period = keeper.config.queue_sweep_s
    if period == 0:
        return ()
    if not keeper.sweep_left:
        if not vaults or (keeper.swept_at is not None and now - keeper.swept_at < period):
            return ()
        keeper.swept_at, keeper.sweep_left, keeper.sweep_found = now, list(vaults), 0
    healthy = set(vaults)
    size = keeper.sweep_slice
    part = [v for v in keeper.sweep_left[:size] if v in healthy]
    try:
        # At the head, not the observed block: after this cycle's hedge, which may have spent
        # free quote on inventory.
        states = (
            read_queues(keeper.w3, part, "latest", keeper.queue_of, attempts=keeper.rpc_retries)
            if part
            else {}
        )
    except ChainError as exc:
        if keeper.one_cycle:
            raise  # no next cycle to read it: a check would report no fill as if none was due
        logger.warning("queue sweep at block %d: %s; trying again next cycle", block, exc)
        return ()
    del keeper.sweep_left[:size]
    found = tuple(v for v, s in states.items() if worth_filling(s.fillable, s.pending))
    for vault in found:
        keeper.fill_due.setdefault(vault, None)
    keeper.sweep_found += len(found)
    if not keeper.sweep_left:
        keeper.metrics.queues_fillable.set(keeper.sweep_found)
    if found:
        logger.info(
            "queue sweep at block %d: %d of %d queues can be filled from free quote",
            block,
            len(found),
            len(states),
        )
    return found
