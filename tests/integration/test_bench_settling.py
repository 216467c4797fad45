"""The settlement benchmark's own path, short (``make bench`` runs apart from ``make test``)."""

from __future__ import annotations

import pytest

from bench.settling import bench_settling

pytestmark = pytest.mark.integration


def test_settle_bench_settles_a_common_expiry_in_one_transaction_not_one_a_series() -> None:
    [row] = bench_settling([3])["rows"]
    one, batched = row["single"], row["batch"]
    assert one["transactions"] == one["blocks"] == 3  # one block a series, in turn
    assert batched["transactions"] == batched["blocks"] == 1
    assert batched["gas_per_series"] < one["gas_per_series"]  # the 21k intrinsic gas, shared
    assert row["cost_ratio"] < 1
