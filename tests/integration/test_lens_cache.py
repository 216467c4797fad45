"""The lens reader's book cache against the real ``VaultLens`` and vaults, on anvil.

A reader with the cache reads the vaults once in full (``snapshotLean``), then through
``snapshotLeanSince``: while a vault's book version holds, only its balances and clock are read
and the rest of its record comes from the cache. Each read is compared, field by field, with a
reader without the cache at the same block; then each kind of cached field is changed on one
vault, which must come back read in full while the others stay cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from bench.devnet import BenchDevnet, start_devnet
from keeper.chain.lens import LeanSnapshot, LensReader
from keeper.devnet.tx import transact
from keeper.units import WAD

pytestmark = pytest.mark.integration

N = 4


@pytest.fixture(scope="module")
def dev() -> Iterator[BenchDevnet]:
    d = start_devnet(N)
    try:
        yield d
    finally:
        d.close()


def rows(lean: LeanSnapshot) -> list[dict[str, Any]]:
    """Every per-vault field of ``lean``, entries resolved (their order may differ by call)."""
    skip = {"vaults", "oracles", "calls", "cached", "oracle_idx", "venue_idx"}
    cols = [
        f.name
        for f in fields(LeanSnapshot)
        if f.name not in skip
        and not f.name.startswith(("series_", "oracle_", "venue_", "block"))
        and f.name != "base_fee"
    ]
    out = []
    for i, v in enumerate(lean.vaults):
        oi, vi = int(lean.oracle_idx[i]), int(lean.venue_idx[i])
        ser = np.flatnonzero(lean.series_owner == i).tolist()
        out.append(
            {
                "vault": v,
                **{c: getattr(lean, c)[i] for c in cols},
                "oracle": lean.oracles[oi],
                "venue_price": lean.venue_price[vi],
                "venue_depth": (lean.venue_depth[vi], int(lean.venue_fee_pips[vi])),
                "series": [
                    (
                        int(lean.series_strike[j]),
                        int(lean.series_cap[j]),
                        int(lean.series_size[j]),
                        int(lean.series_expiry[j]),
                        bool(lean.series_is_call[j]),
                    )
                    for j in ser
                ],
            }
        )
    return out


def test_cached_reads_equal_full_reads_and_every_cached_change_is_reread(
    dev: BenchDevnet,
) -> None:
    vaults = list(dev.stack.vaults)
    reader = LensReader(dev.w3, dev.stack.lens, lean_chunk=3)  # chunks of 3 and 1
    plain = LensReader(dev.w3, dev.stack.lens, lean_chunk=3, book_cache=False)
    feed = dev.contract("MockV3Aggregator", dev.stack.price_feed)
    c = [dev.contract("OptionVault", v) for v in vaults]

    def read() -> LeanSnapshot:
        block = dev.w3.eth.block_number
        lean = reader.read_lean(vaults, block)
        assert rows(lean) == rows(plain.read_lean(vaults, block))
        assert all(len(r["series"]) == 3 for r in rows(lean))
        return lean

    first = read()
    assert not first.cached.any()
    versions = first.book_version.copy()

    # Hot fields only (the oracle round, time): every record comes from the cache.
    transact(dev.w3, dev.admin, feed.functions.updateAnswer(3_010 * 10**8))
    steady = read()
    assert steady.cached.all()
    assert reader.last_lean_cached == N
    assert (steady.book_version == versions).all()

    venue = c[3].functions.venue().call()
    changes: list[tuple[int, Callable[[], Any]]] = [
        (0, lambda: c[0].functions.setBand(WAD // 3)),
        (1, lambda: c[1].functions.setVolatility(6 * 10**17)),
        (2, lambda: c[2].functions.setTargetDelta(-WAD)),
        (3, lambda: c[3].functions.setVenue(venue)),
        (0, lambda: c[0].functions.setMaxOracleGapBps(40)),
    ]
    for i, change in changes:
        transact(dev.w3, dev.admin, change())
        lean = read()
        assert lean.cached.tolist() == [k != i for k in range(N)], i
        assert lean.book_version[i] == versions[i] + 1
        versions[i] += 1
        again = read()  # the new version is held now
        assert again.cached.all()


def test_the_lean_read_has_each_venues_pool_depth_and_fee_tier(dev: BenchDevnet) -> None:
    """Layout 3: the venue entry carries the Uniswap V3 venue's ``depth()``, which the keeper's
    cost model prices the swap with (1 / depth per USD traded, the fee tier)."""
    lean = LensReader(dev.w3, dev.stack.lens).read_lean(list(dev.stack.vaults))
    venue = dev.contract("UniswapV3Venue", dev.stack.venue)
    depth8, fee = venue.functions.depth().call(block_identifier=lean.block_number)
    assert depth8 > 0
    assert fee == dev.stack.pool_fee
    assert set(lean.venue_idx.tolist()) == {0}
    assert lean.venue_depth[0] == depth8
    assert int(lean.venue_fee_pips[0]) == fee
