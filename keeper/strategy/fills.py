"""When a redemption queue is worth a ``fill()`` outside a settlement: a pure rule.

After a settlement the keeper fills every queue the freed collateral can serve at all
(:mod:`keeper.app.settle`). Between settlements, free quote (a deposit, the hedge selling
inventory, quote free all along) serves queued holders only as far as it goes, and each fill
costs the keeper gas (a transaction of its own, or its share of a ``fillBatch``) while paying
only what the quote covers. The sweep (:mod:`keeper.app.sweep`) therefore fills a queue when a
fill would redeem at least ``MIN_FILL_PARTS_PER_100`` % of its pending shares, all of them
included: a queue the free quote serves by a crumb waits for more, and at most one fill a queue
each sweep period keeps the gas bounded whatever the amounts.

A fill of the keeper's that did not go through (reverted at mining, failed inside a
``fillBatch``, cancelled or dropped) is a failure only when the queue, read again at that block,
still had something to fill (:func:`fill_raced`): else someone else's fill, or a change of the
queue in the same block, did it first, and nothing is owed that a fill could pay.
"""

from __future__ import annotations

#: Smallest fill worth sending between settlements, in percent of the queue's pending shares.
MIN_FILL_PARTS_PER_100 = 1


def worth_filling(fillable: int, pending: int) -> bool:
    """True when a ``fill()`` would redeem shares, at least 1 % of the pending ones.

    Args:
        fillable: Shares a fill would redeem now (the queue's ``fillable()``).
        pending: All of the queue's pending shares (``totalPending()``).
    """
    return fillable > 0 and fillable * 100 >= pending * MIN_FILL_PARTS_PER_100


def fill_raced(fillable: int, unrequested: int) -> bool:
    """True when a fill that did not go through had nothing left to do at its block.

    Someone else's fill took every share the free quote could serve (or the quote went to
    another exit first) and no unrequested share was left to discard: a race, not a failure.

    Args:
        fillable: The queue's ``fillable()`` at that block.
        unrequested: Shares it held beyond ``totalPending()`` there.
    """
    return fillable == 0 and unrequested == 0
