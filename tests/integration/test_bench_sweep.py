"""The queue sweep benchmark's own path, short (``make bench`` runs apart from ``make test``)."""

from __future__ import annotations

import pytest

from bench.sweep import bench_sweep

pytestmark = pytest.mark.integration


def test_sweep_bench_reads_every_queue_in_batches_and_counts_the_naive_requests() -> None:
    out = bench_sweep([3], {3: (1, 1)})
    [row] = out["rows"]
    assert row["n_vaults"] == 3
    # one batch for the vaults' queues, one for the queues' two reads; then the second alone
    assert row["first"]["requests"] == 2
    assert row["later"]["requests"] == 1
    assert row["slice"]["vaults"] == 3
    assert row["naive"]["requests"] == 3 * 3  # three calls a vault, one request each
    assert row["naive_vs_first"] is not None
