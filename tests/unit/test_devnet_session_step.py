"""A devnet market step draws the same flows whichever process takes it (``devnet step``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from keeper.app.devnet_session import _step


class _Market:
    """Steps by drawing once from each of the market's generators."""

    def __init__(self, history: int) -> None:
        # A process that played other steps before: its generators are elsewhere in their streams.
        self.rng = np.random.default_rng(history)
        self.queue_rng = np.random.default_rng(history + 1)

    def step(self, i: int) -> Any:
        return i, self.rng.random(), self.queue_rng.random()


def test_the_same_step_draws_the_same_queued_exits_in_any_process() -> None:
    """The queued exits have their own generator; it was seeded once per process, so two
    processes taking the same step could queue different exits."""
    first, second = _Market(history=11), _Market(history=97)
    assert _step(first, 3, 7) == _step(second, 3, 7)  # type: ignore[arg-type]
