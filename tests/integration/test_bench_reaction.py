"""The reaction benchmark's own path, short: it broke once unnoticed (a vault parameter the
contract came to refuse), since ``make bench`` runs apart from ``make test``."""

from __future__ import annotations

import pytest

from bench.reaction import bench_reaction

pytestmark = pytest.mark.integration


def test_reaction_bench_runs_two_trials_against_the_real_keeper_loop() -> None:
    r = bench_reaction(trials=2)
    assert r["trials"] == 2
    assert len(r["blocks"]) == 2
    # Each oracle move is hedged in a later block, within the bench's own 30 s wait.
    assert all(b >= 1 for b in r["blocks"])
