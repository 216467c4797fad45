"""The settlement benchmark's own path, short (``make bench`` runs apart from ``make test``)."""

from __future__ import annotations

import pytest

from bench.settling import bench_settling

pytestmark = pytest.mark.integration


def test_settle_bench_settles_and_fills_a_common_expiry_in_two_transactions() -> None:
    [row] = bench_settling([3])["rows"]
    one, batched = row["single"], row["batch"]
    # one block a series, then one a queue, in turn; the hedge waits for the series alone
    assert one["transactions"] == one["blocks"] == 6
    assert one["hedge_blocks"] == 3
    assert batched["transactions"] == batched["blocks"] == 2  # settleBatch, then fillBatch
    assert batched["hedge_blocks"] == 1
    assert batched["gas_per_vault"] < one["gas_per_vault"]  # the 21k intrinsic gas, shared
    assert row["cost_ratio"] < 1
