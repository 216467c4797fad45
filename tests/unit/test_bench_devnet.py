"""The bench's bulk devnet and its two cycles, on a small anvil devnet (no timings asserted).

The bulk deployment must yield real, independent vault clones -- registered by the factory, each
with its own seed deposit and option series -- and the naive per-vault loop must see the same
vaults and reach the same decisions as the keeper's lens cycle, with one round trip per field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cycle import NaiveBot, our_cycle, our_keeper
from bench.devnet import SEED_DEPOSIT, SERIES, BenchDevnet, start_devnet
from keeper.chain.lens import LensReader
from keeper.execution.simulate import BatchCodec

pytestmark = pytest.mark.integration

N = 4


@pytest.fixture(scope="module")
def dev() -> Iterator[BenchDevnet]:
    d = start_devnet(N)
    try:
        yield d
    finally:
        d.close()


def test_bulk_devnet_makes_independent_registered_clones(dev: BenchDevnet) -> None:
    vaults = dev.stack.vaults
    assert len(set(vaults)) == N
    factory = dev.contract("VaultFactory", dev.stack.vault_factory)
    assert factory.functions.vaultCount().call() == N
    assert all(factory.functions.isVault(v).call() for v in vaults)
    snaps = LensReader(dev.w3, dev.stack.lens).read(list(vaults)).snapshots
    assert all(s.valid for s in snaps)
    assert [len(s.series) for s in snaps] == [len(SERIES)] * N
    # Each clone holds its own deposit and its own claims contract.
    assert {s.total_supply > 0 for s in snaps} == {True}
    assert all(s.total_assets >= SEED_DEPOSIT * 9 // 10 for s in snaps)
    claims = {dev.contract("OptionVault", v).functions.claims().call() for v in vaults}
    assert len(claims) == N
    # Every vault can be rebalanced by the batcher: it holds each vault's keeper role.
    first = dev.contract("OptionVault", vaults[0])
    role = first.functions.KEEPER_ROLE().call()
    assert all(
        dev.contract("OptionVault", v).functions.hasRole(role, dev.stack.batcher).call()
        for v in vaults
    )
    # Automine is back on after the bulk deployment.
    assert dev.rpc("anvil_getAutomine") is True


def test_naive_loop_agrees_with_our_cycle_and_costs_one_call_per_field(
    dev: BenchDevnet, tmp_path: Path
) -> None:
    keeper = our_keeper(dev, tmp_path)
    requests, planned, _ = our_cycle(keeper, BatchCodec())
    naive = NaiveBot.build(dev, keeper)
    naive_requests, acting, _ = naive.cycle()
    assert planned == acting == N  # freshly written books are all far from target
    # 11 reads per vault (its venue's pool depth the 11th) + one seriesGreeks per series, + the
    # block header.
    assert naive_requests == N * (11 + len(SERIES)) + 1
    assert requests < naive_requests
    assert requests <= 5
