"""The lean lens answer: fixed-offset words decoded with numpy, chunks merged, rows taken."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from web3.exceptions import Web3RPCError

from keeper.chain.lens import (
    LEAN_KNOWN_BIT,
    LEAN_SELECTOR,
    LEAN_SINCE_SELECTOR,
    LEAN_SOURCE_CACHED,
    LEAN_SOURCE_FULL,
    LEAN_SOURCE_VIEWS,
    LeanSnapshot,
    LensRead,
    LensReader,
    OracleState,
    Series,
    VaultSnapshot,
    VaultThresholds,
    decode_lean_words,
    encode_lean_answer,
    lean_snapshot,
)
from keeper.errors import ChainError
from keeper.pricing.book import book_of

NOW = 1_700_000_000
WAD = 10**18


def snap(i: int, **kw: object) -> VaultSnapshot:
    base = VaultSnapshot(
        vault="0x" + f"{i + 0xA0:040x}",
        oracle=OracleState(7 + (1 << 70), 3000 * 10**8, NOW - 5, 8, False, NOW - 10_000),
        net_delta=0,
        inventory=(1 << 100) + i,
        thresholds=VaultThresholds(-3 * WAD - i, WAD // 2, 60, 86_400, 10 * WAD, 50, 100, 3600, 60),
        last_rebalance=NOW - 100 - i,
        pool_price=3001 * 10**8,
        volatility=8 * 10**17,
        total_assets=0,
        total_supply=0,
        free_quote=(1 << 127) + 5,
        paused=i % 2 == 1,
        trigger_ready=False,
        trigger=0,
        series=(
            Series(1, 0, 3200 * 10**8, 400 * 10**8, NOW + 30 * 86_400, 2 * WAD + i, False, 0),
            Series(2, 1, 2800 * 10**8, 10**16 - 1, NOW + 7 * 86_400, (1 << 95) + 3, False, 0),
        )[: i % 3],
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_selectors_match_the_signatures() -> None:
    assert keccak(text="snapshotLean(address[])")[:4] == LEAN_SELECTOR
    sig = "snapshotLeanSince(uint256[],address[],address[],address[])"
    assert keccak(text=sig)[:4] == LEAN_SINCE_SELECTOR


def test_round_trip_of_every_field() -> None:
    snaps = [snap(i) for i in range(5)]
    versions = [0, 1, 2**32 - 1, 77, 5]
    sources = [LEAN_SOURCE_FULL] * 4 + [LEAN_SOURCE_VIEWS]
    answer = encode_lean_answer(snaps, 42, NOW, 7, versions=versions, sources=sources)
    lean = lean_snapshot([s.vault for s in snaps], [answer])
    assert (lean.block_number, lean.block_timestamp, lean.base_fee) == (42, NOW, 7)
    assert lean.book_version.tolist() == [0, 1, 2**32 - 1, 77, 0]  # views: no version
    assert not lean.cached.any()
    for i, s in enumerate(snaps):
        t = s.thresholds
        assert lean.inventory[i] == s.inventory
        assert lean.quote_balance[i] == s.free_quote
        assert lean.target_delta[i] == t.target_delta
        assert (lean.band[i], lean.max_trade[i]) == (t.band, t.max_trade)
        assert lean.volatility[i] == s.volatility
        assert (lean.min_interval[i], lean.max_interval[i]) == (t.min_interval, t.max_interval)
        assert (lean.max_slippage_bps[i], lean.max_oracle_gap_bps[i]) == (50, 100)
        assert (lean.oracle_heartbeat[i], lean.sequencer_grace_period[i]) == (3600, 60)
        assert lean.last_rebalance[i] == s.last_rebalance
        assert bool(lean.paused[i]) == s.paused
        rows = np.flatnonzero(lean.series_owner == i)
        assert len(rows) == len(s.series)
        for j, x in zip(rows.tolist(), s.series, strict=True):
            assert lean.series_strike[j] == x.strike
            assert lean.series_cap[j] == x.cap
            assert lean.series_size[j] == x.size
            assert lean.series_expiry[j] == x.expiry
            assert bool(lean.series_is_call[j]) == x.is_call
    assert len(lean.oracles) == 1
    assert lean.oracles[0] == snaps[0].oracle
    assert lean.oracle_answer[0] == 3000 * 10**8
    assert lean.venue_price[0] == 3001 * 10**8
    assert lean.oracle_idx.tolist() == [0] * 5


def test_a_venues_pool_depth_and_fee_tier_round_trip_and_reach_the_views() -> None:
    """The venue entry's depth (word 2) and fee tier (word 1, bits [160,184)) decode, and the
    views carry them in USD and bps; a venue that does not say them reads 0, as does a depth
    past 128 bits (no venue's answer: the venue caps it)."""
    snaps = [snap(0), snap(1)]
    deep, none = "0x" + "d1" * 20, "0x" + "d2" * 20
    answer = encode_lean_answer(
        snaps,
        42,
        NOW,
        venues=[deep, none],
        venue_depths={deep: (3_000_000 * 10**8, 3000)},
    )
    lean = lean_snapshot([s.vault for s in snaps], [answer])
    assert lean.venue_depth.tolist() == [3_000_000 * 10**8, 0]
    assert lean.venue_fee_pips.tolist() == [3000, 0]
    assert lean.venue_address.tolist() == [int(deep, 16), int(none, 16)]
    assert lean.venue_errors.tolist() == [0, 0]
    book = book_of(lean)
    assert book.pool_depths_and_fees() == ([3_000_000.0, 0.0], [30.0, 0.0])
    views = book.views()
    assert (views[0].pool_depth_usd, views[0].pool_fee_bps) == (3_000_000.0, 30.0)
    huge = encode_lean_answer(snaps[:1], 42, NOW, venues=[deep], venue_depths={deep: (2**200, 1)})
    assert lean_snapshot([snaps[0].vault], [huge]).venue_depth.tolist() == [0]


def test_a_depth_past_128_bits_leaves_the_fee_tier_unknown_too() -> None:
    """No Uniswap V3 venue answers such a depth (it caps it), so the answer is not one, its fee
    bits included: a fee tier beside a depth of 0 would read as a pool with nothing in range
    (impact 1), not as a venue that does not say (the defaults)."""
    snaps = [snap(0)]
    deep = "0x" + "d1" * 20
    huge = encode_lean_answer(snaps, 42, NOW, venues=[deep], venue_depths={deep: (2**200, 500)})
    lean = lean_snapshot([snaps[0].vault], [huge])
    assert lean.venue_depth.tolist() == [0]
    assert lean.venue_fee_pips.tolist() == [0]
    assert book_of(lean).pool_depths_and_fees() == ([0.0], [0.0])


def test_negative_answer_and_target_keep_their_sign() -> None:
    s = snap(0, oracle=OracleState(1, -5, NOW, 8, False, 0))
    lean = lean_snapshot([s.vault], [encode_lean_answer([s], 1, NOW)])
    assert lean.oracle_answer[0] == -5
    assert lean.target_delta[0] == -3 * WAD
    assert not lean.oracle_has_sequencer[0]


def test_chunks_merge_with_their_entry_indexes_shifted() -> None:
    a = [snap(0), snap(1, pool_price=1)]
    b = [snap(2, oracle=OracleState(2, 2000 * 10**8, NOW, 8, False, 0)), snap(3)]
    lean = lean_snapshot(
        [s.vault for s in a + b], [encode_lean_answer(a, 10, NOW), encode_lean_answer(b, 9, NOW)]
    )
    assert lean.calls == 2
    assert lean.block_number == 9  # the oldest chunk
    assert lean.oracle_idx.tolist() == [0, 0, 1, 2]
    assert lean.venue_idx.tolist() == [0, 1, 2, 2]
    assert lean.oracle_answer[lean.oracle_idx[2]] == 2000 * 10**8
    assert lean.series_owner.tolist() == [1, 2, 2]


def test_take_keeps_rows_and_their_series() -> None:
    snaps = [snap(i) for i in range(6)]
    lean = lean_snapshot([s.vault for s in snaps], [encode_lean_answer(snaps, 1, NOW)])
    part = lean.take(np.array([False, False, True, False, True, True]))
    assert part.vaults == (snaps[2].vault, snaps[4].vault, snaps[5].vault)
    assert part.series_owner.tolist() == [0, 0, 1, 2, 2]
    assert part.inventory.tolist() == [s.inventory for s in (snaps[2], snaps[4], snaps[5])]
    assert part.oracles == lean.oracles


def test_read_errors_and_missing_entries() -> None:
    s = snap(0, read_errors=LensRead.SERIES | LensRead.INVENTORY)
    raw = bytearray(encode_lean_answer([s], 1, NOW))
    # Mark the vault's oracle and venue entries "none" (lanes 2 and 3 of its meta word).
    meta = 64 + 8 * 32
    raw[meta : meta + 16] = b"\xff" * 16
    lean = lean_snapshot([s.vault], [bytes(raw)])
    assert lean.read_errors[0] == LensRead.SERIES | LensRead.INVENTORY
    assert lean.oracle_idx[0] == -1
    assert lean.venue_idx[0] == -1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-1],  # not whole words
        lambda b: (64).to_bytes(32, "big") + b[32:],  # not a uint256[] answer
        lambda b: b[:64] + (1).to_bytes(32, "big") + b[96:],  # layout 1 (7-word records)
        lambda b: b[:-32],  # sections do not add up
    ],
)
def test_malformed_answers_raise(mangle: object) -> None:
    good = encode_lean_answer([snap(1)], 1, NOW)
    with pytest.raises(ChainError):
        decode_lean_words(mangle(good))  # type: ignore[operator]


def test_answer_for_another_number_of_vaults_raises() -> None:
    with pytest.raises(ChainError, match="records for 2 vaults"):
        lean_snapshot(["0x" + "01" * 20, "0x" + "02" * 20], [encode_lean_answer([snap(0)], 1, NOW)])


class _Eth:
    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.calls: list[dict[str, object]] = []

    def call(self, tx: dict[str, object], block: object) -> bytes:
        self.calls.append(tx)
        return self.answers[len(self.calls) - 1]


class _W3:
    def __init__(self, eth: _Eth) -> None:
        self.eth = eth
        self.provider = object()


def test_reader_chunks_by_lean_chunk_and_caches_calldata() -> None:
    snaps = [snap(i) for i in range(5)]
    answers = [encode_lean_answer(snaps[:2], 1, NOW), encode_lean_answer(snaps[2:4], 1, NOW)]
    answers.append(encode_lean_answer(snaps[4:], 1, NOW))
    eth = _Eth(answers)
    reader = LensReader(_W3(eth), "0x" + "11" * 20, lean_chunk=2)  # type: ignore[arg-type]
    lean = reader.read_lean([s.vault for s in snaps])
    assert len(eth.calls) == 3
    assert all(c["gas"] == reader.lean_call_gas for c in eth.calls)
    data = bytes(eth.calls[0]["data"])  # type: ignore[arg-type]
    assert data[:4] == LEAN_SELECTOR
    assert int.from_bytes(data[36:68], "big") == 2
    assert lean.inventory.tolist() == [s.inventory for s in snaps]
    first = reader._lean_calldata([s.vault for s in snaps])
    assert reader._lean_calldata([s.vault for s in snaps]) is first


def test_cached_records_carry_only_balances_clock_and_book() -> None:
    snaps = [snap(1), snap(2), snap(4)]
    answer = encode_lean_answer(
        snaps,
        1,
        NOW,
        versions=[9, 10, 11],
        sources=[LEAN_SOURCE_FULL, LEAN_SOURCE_CACHED, LEAN_SOURCE_FULL],
    )
    c = decode_lean_words(answer)
    assert c.records.shape == (3, 8, 4)
    assert c.oracles.shape[1:] == (5, 4)
    assert len(c.series) == 1 + 1  # snap(1) and snap(4) have one series each; snap(2) is cached
    book = c.records[:, 7]
    assert book[:, 3].tolist() == [9, 10, 11]  # lane 0: version
    assert book[:, 2].tolist() == [0, 1, 0]  # lane 1: source
    cached = c.records[1]
    assert cached[0].tolist() == [2**64 - 1, 2**64 - 1, 0, 0]  # lanes 3, 2, 1, 0
    assert not cached[2:6].any()
    assert cached[6, 2:].tolist() == [0, 0]  # heartbeat, grace
    assert cached[6, :2].tolist() == [0, NOW - 102]  # paused, lastRebalance
    with pytest.raises(ChainError, match="no book cache"):
        lean_snapshot([s.vault for s in snaps], [answer])


def test_take_keeps_version_and_cached() -> None:
    snaps = [snap(i) for i in range(3)]
    lean = lean_snapshot(
        [s.vault for s in snaps], [encode_lean_answer(snaps, 1, NOW, versions=[4, 5, 6])]
    )
    lean = replace(lean, cached=np.array([True, False, True]))
    part = lean.take(np.array([False, True, True]))
    assert part.book_version.tolist() == [5, 6]
    assert part.cached.tolist() == [False, True]


# ------------------------------------------------------------------ the reader's book cache

ZERO = "0x" + "00" * 20
FEED_A = ("0x" + "fa" * 20, "0x" + "5a" * 20)
FEED_B = ("0x" + "fb" * 20, ZERO)  # no sequencer feed
VENUE_A = "0x" + "ea" * 20
VENUE_B = "0x" + "eb" * 20


@dataclass
class _Vault:
    snap: VaultSnapshot
    version: int
    feed: tuple[str, str]
    venue: str
    views: bool = False  # not an OptionVault layout: source 2, never cached


@dataclass
class _Lens:
    """A fake ``VaultLens`` over a world of vaults, answering both lean functions by the spec."""

    world: dict[int, _Vault]
    block: int = 100
    requests: list[bytes] = field(default_factory=list)
    out_of_gas_above: int | None = None

    def call(self, tx: dict[str, Any], block: object) -> bytes:
        data = bytes(tx["data"])
        self.requests.append(data)
        if data[:4] == LEAN_SELECTOR:
            (vaults,) = abi_decode(["address[]"], data[4:])
            entries = [int(v, 16) for v in vaults]
            pairs: list[tuple[str, str]] = []
            venues: list[str] = []
        else:
            assert data[:4] == LEAN_SINCE_SELECTOR
            entries, fs, qs, vs = abi_decode(
                ["uint256[]", "address[]", "address[]", "address[]"], data[4:]
            )
            pairs, venues = list(zip(fs, qs, strict=True)), list(vs)
        if self.out_of_gas_above is not None and len(entries) > self.out_of_gas_above:
            raise Web3RPCError("out of gas")
        rows = [self.world[e & ((1 << 160) - 1)] for e in entries]
        sources = []
        for e, v in zip(entries, rows, strict=True):
            known = bool(e & LEAN_KNOWN_BIT) and (e >> 160) & 0xFFFFFFFF == v.version
            if v.views:
                sources.append(LEAN_SOURCE_VIEWS)
            elif known and not v.snap.read_errors:
                sources.append(LEAN_SOURCE_CACHED)
            else:
                sources.append(LEAN_SOURCE_FULL)
        return encode_lean_answer(
            [v.snap for v in rows],
            self.block,
            NOW,
            versions=[v.version for v in rows],
            sources=sources,
            feeds=[v.feed for v in rows],
            venues=[v.venue for v in rows],
            entry_feeds=pairs,
            entry_venues=venues,
        )


def _world(n: int = 9) -> dict[int, _Vault]:
    oa = OracleState(7, 3000 * 10**8, NOW - 5, 8, False, NOW - 10_000)
    ob = OracleState(9, 1500 * 10**8, NOW - 9, 8, False, 0)
    world = {}
    for i in range(n):
        s = snap(i, oracle=oa if i % 2 == 0 else ob, pool_price=3001 * 10**8 + int(i % 3 == 0))
        world[int(s.vault, 16)] = _Vault(
            s,
            version=10 + i,
            feed=FEED_A if i % 2 == 0 else FEED_B,
            venue=VENUE_A if i % 3 else VENUE_B,
        )
    return world


def _rows(lean: LeanSnapshot) -> list[dict[str, object]]:
    """Every field of every vault, entry indexes resolved (tables differ in order by call)."""
    skip = {"vaults", "oracles", "calls", "cached", "oracle_idx", "venue_idx"}
    cols = [
        f
        for f in LeanSnapshot.__dataclass_fields__
        if f not in skip and not f.startswith(("series_", "oracle_", "venue_", "block", "base"))
    ]
    out = []
    for i, v in enumerate(lean.vaults):
        oi, vi = int(lean.oracle_idx[i]), int(lean.venue_idx[i])
        ser = np.flatnonzero(lean.series_owner == i)
        out.append(
            {
                "vault": v,
                **{c: getattr(lean, c)[i] for c in cols},
                "oracle": lean.oracles[oi] if oi >= 0 else None,
                "oracle_has_sequencer": bool(lean.oracle_has_sequencer[oi]) if oi >= 0 else None,
                "venue_price": lean.venue_price[vi] if vi >= 0 else None,
                "venue_depth": (lean.venue_depth[vi], int(lean.venue_fee_pips[vi]))
                if vi >= 0
                else None,
                "series": [
                    (
                        lean.series_strike[j],
                        lean.series_cap[j],
                        lean.series_size[j],
                        lean.series_expiry[j],
                        bool(lean.series_is_call[j]),
                    )
                    for j in ser.tolist()
                ],
            }
        )
    return out


def _reader(lens: _Lens, **kw: Any) -> LensReader:
    return LensReader(_W3(lens), "0x" + "11" * 20, **kw)  # type: ignore[arg-type]


def _full(world: dict[int, _Vault], vaults: list[str]) -> LeanSnapshot:
    """The same world read with no cache: every record in full."""
    return _reader(_Lens(world), lean_chunk=4, book_cache=False).read_lean(vaults)


def _entries(data: bytes) -> tuple[list[int], list[tuple[str, str]], list[str]]:
    assert data[:4] == LEAN_SINCE_SELECTOR
    e, f, q, v = abi_decode(["uint256[]", "address[]", "address[]", "address[]"], data[4:])
    return (
        list(e),
        [(a.lower(), b.lower()) for a, b in zip(f, q, strict=True)],
        list(map(str.lower, v)),
    )


def _move_balances(world: dict[int, _Vault], k: int) -> None:
    """What changes without a version bump: balances, last rebalance, paused; and the feeds."""
    for v in world.values():
        s = v.snap
        v.snap = replace(
            s,
            inventory=s.inventory + 1000 * k,
            free_quote=s.free_quote - 7 * k,
            last_rebalance=s.last_rebalance + 60 * k,
            paused=not s.paused,
            oracle=replace(s.oracle, round_id=s.oracle.round_id + k, answer=s.oracle.answer + k),
            pool_price=s.pool_price + k,
        )


def test_second_read_is_completed_from_the_cache_as_a_full_read() -> None:
    world = _world()
    vaults = [v.snap.vault for v in world.values()]
    keys = list(world)
    # One unreadable vault (never cached) and one read through its views (never cached).
    world[keys[5]].snap = replace(world[keys[5]].snap, read_errors=LensRead.ORACLE)
    world[keys[7]].views = True
    lens = _Lens(world)
    reader = _reader(lens, lean_chunk=4)  # chunks of 4, 4, 1
    first = reader.read_lean(vaults)
    assert [r[:4] for r in lens.requests] == [LEAN_SELECTOR] * 3  # cold: snapshotLean
    assert _rows(first) == _rows(_full(world, vaults))
    assert not first.cached.any()
    assert reader.last_lean_cached == 0

    _move_balances(world, 1)
    # Vault 2 changed its book (thresholds and series) and bumped its version.
    v2 = world[keys[2]]
    v2.snap = replace(
        v2.snap, thresholds=replace(v2.snap.thresholds, band=WAD), series=v2.snap.series[:1]
    )
    v2.version += 1
    lens.requests.clear()
    second = reader.read_lean(vaults)
    expected_cached = [i not in (2, 5, 7) for i in range(9)]
    assert second.cached.tolist() == expected_cached
    assert reader.last_lean_cached == 6
    assert _rows(second) == _rows(_full(world, vaults))
    assert second.band[2] == WAD
    assert len(np.flatnonzero(second.series_owner == 2)) == 1
    assert second.book_version.tolist() == [
        0 if i == 7 else world[k].version for i, k in enumerate(keys)
    ]

    # What the reader sent: the known bit and the version it held, and per chunk the distinct
    # feed pairs and venues of its known vaults.
    assert len(lens.requests) == 3
    at = 0
    for data in lens.requests:
        entries, feeds, venues = _entries(data)
        held = [i for i in range(at, at + len(entries)) if i not in (5, 7)]
        for i, e in zip(range(at, at + len(entries)), entries, strict=True):
            assert e & ((1 << 160) - 1) == keys[i]
            assert bool(e & LEAN_KNOWN_BIT) == (i in held)
            assert (e >> 160) & 0xFFFFFFFF == (10 + i if i in held else 0)
            assert e >> 193 == 0
        want_feeds = {world[keys[i]].feed for i in held}
        assert sorted(feeds) == sorted({(a.lower(), b.lower()) for a, b in want_feeds})
        assert sorted(venues) == sorted({world[keys[i]].venue.lower() for i in held})
        at += len(entries)


def test_a_new_version_replaces_the_cached_book() -> None:
    world = _world(6)
    vaults = [v.snap.vault for v in world.values()]
    keys = list(world)
    lens = _Lens(world)
    reader = _reader(lens, lean_chunk=4)
    reader.read_lean(vaults)
    v1 = world[keys[1]]
    v1.snap = replace(
        v1.snap,
        volatility=5 * 10**17,
        series=(Series(9, 1, 2500 * 10**8, 10**8, NOW + 86_400, 3 * WAD, False, 0),),
    )
    # Moved to another feed and venue (vault 0's).
    v1.feed, v1.venue = FEED_A, VENUE_B
    v0 = world[keys[0]].snap
    v1.snap = replace(v1.snap, oracle=v0.oracle, pool_price=v0.pool_price)
    v1.version += 1
    second = reader.read_lean(vaults)
    assert not second.cached[1]
    assert second.cached.sum() == 5
    lens.requests.clear()
    _move_balances(world, 2)
    third = reader.read_lean(vaults)
    assert third.cached.all()
    assert _rows(third) == _rows(_full(world, vaults))
    assert third.volatility[1] == 5 * 10**17
    assert third.series_strike[third.series_owner == 1].tolist() == [2500 * 10**8]
    entries, feeds, venues = _entries(lens.requests[0])
    assert (entries[1] >> 160) & 0xFFFFFFFF == v1.version
    # The chunk's known vaults are now all on FEED_A or FEED_B, venues A and B.
    assert sorted(feeds) == sorted([FEED_A, FEED_B])
    assert sorted(venues) == sorted([VENUE_A, VENUE_B])


def test_a_vault_that_errors_leaves_the_cache() -> None:
    world = _world(4)
    vaults = [v.snap.vault for v in world.values()]
    keys = list(world)
    lens = _Lens(world)
    reader = _reader(lens)
    reader.read_lean(vaults)
    v3 = world[keys[3]]
    v3.snap = replace(v3.snap, read_errors=LensRead.THRESHOLDS)
    v3.version += 1
    second = reader.read_lean(vaults)
    assert second.cached.tolist() == [True, True, True, False]
    assert second.read_errors[3] == LensRead.THRESHOLDS
    v3.snap = replace(v3.snap, read_errors=LensRead.NONE)  # clean again, same version
    lens.requests.clear()
    third = reader.read_lean(vaults)
    entries, _, _ = _entries(lens.requests[0])
    assert not entries[3] & LEAN_KNOWN_BIT  # not held: asked for in full
    assert third.cached.tolist() == [True, True, True, False]
    assert _rows(third) == _rows(_full(world, vaults))


def test_steady_reads_reuse_the_calldata() -> None:
    world = _world(5)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens, lean_chunk=2)
    reader.read_lean(vaults)
    reader.read_lean(vaults)
    req = reader.lean_request(vaults)
    reader.read_lean(vaults)  # every vault cached: nothing held changed
    assert reader.lean_request(vaults) is req
    assert req.known.all()
    first = next(iter(world.values()))
    first.version += 1
    reader.read_lean(vaults)
    again = reader.lean_request(vaults)
    assert again is not req
    assert again.version[0] == first.version
    assert again.datas[1:] == req.datas[1:]  # only the first chunk's entries changed


def test_out_of_gas_rechunks_the_entries() -> None:
    world = _world(7)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens, lean_chunk=4)
    reader.read_lean(vaults)
    _move_balances(world, 3)
    lens.out_of_gas_above = 2
    lens.requests.clear()
    second = reader.read_lean(vaults)
    assert reader.lean_chunk == 2
    assert second.cached.all()
    assert _rows(second) == _rows(_full(world, vaults))
    sent = [_entries(d)[0] for d in lens.requests if len(_entries(d)[0]) <= 2]
    assert [len(e) for e in sent] == [2, 2, 2, 1]
    assert all(e & LEAN_KNOWN_BIT for es in sent for e in es)


def test_reader_without_the_cache_always_reads_in_full() -> None:
    world = _world(3)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens, book_cache=False)
    reader.read_lean(vaults)
    lean = reader.read_lean(vaults)
    assert [r[:4] for r in lens.requests] == [LEAN_SELECTOR] * 2
    assert not lean.cached.any()
    assert lean.book_version.tolist() == [10, 11, 12]


def test_a_changed_vault_list_keeps_the_held_vaults() -> None:
    world = _world(6)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens)
    reader.read_lean(vaults[:4])
    lens.requests.clear()
    order = [vaults[5], vaults[2], vaults[0], vaults[4]]
    lean = reader.read_lean(order)
    assert lean.cached.tolist() == [False, True, True, False]
    assert _rows(lean) == _rows(_full(world, order))
    entries, _, _ = _entries(lens.requests[0])
    assert [bool(e & LEAN_KNOWN_BIT) for e in entries] == [False, True, True, False]


class _Answer:
    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers

    def call(self, tx: dict[str, object], block: object) -> bytes:
        return self.answers.pop(0)


def test_a_cached_record_the_reader_did_not_hold_is_refused() -> None:
    snaps = [snap(0), snap(1)]
    vaults = [s.vault for s in snaps]
    bad = encode_lean_answer(snaps, 1, NOW, sources=[LEAN_SOURCE_FULL, LEAN_SOURCE_CACHED])
    reader = LensReader(_W3(_Answer([bad])), "0x" + "11" * 20)  # type: ignore[arg-type]
    with pytest.raises(ChainError, match="not held"):
        reader.read_lean(vaults)
    # Held at version 3, but the lens answers "cached" at version 4.
    good = encode_lean_answer(snaps, 1, NOW, versions=[3, 3])
    wrong = encode_lean_answer(
        snaps, 2, NOW, versions=[3, 4], sources=[LEAN_SOURCE_CACHED, LEAN_SOURCE_CACHED]
    )
    reader = LensReader(_W3(_Answer([good, wrong])), "0x" + "11" * 20)  # type: ignore[arg-type]
    reader.read_lean(vaults)
    with pytest.raises(ChainError, match="not held"):
        reader.read_lean(vaults)


def test_entry_tables_not_led_by_the_sent_feeds_are_refused() -> None:
    world = _world(2)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens)
    reader.read_lean(vaults)
    # A lens that ignores the feed list: cached records, but its entries in another order.
    _, sent_feeds, _ = _entries(reader.lean_request(vaults).datas[0])
    assert sorted(sent_feeds) == sorted([FEED_A, FEED_B])
    snaps = [v.snap for v in world.values()]
    swapped = encode_lean_answer(
        snaps,
        2,
        NOW,
        versions=[v.version for v in world.values()],
        sources=[LEAN_SOURCE_CACHED] * 2,
        feeds=[v.feed for v in world.values()],
        venues=[v.venue for v in world.values()],
        entry_feeds=sent_feeds[::-1],
        entry_venues=[VENUE_A, VENUE_B],
    )
    reader.w3 = _W3(_Answer([swapped]))  # type: ignore[assignment]
    with pytest.raises(ChainError, match="entry tables"):
        reader.read_lean(vaults)


@pytest.mark.parametrize("wide", [False, True])
def test_amounts_stay_exact_with_or_without_high_lanes(wide: bool) -> None:
    # Narrow values take the 64-bit shortcuts; one wide value sends the column the long way.
    targets = [-1, 2**63 - 1, -(2**63), 0] + ([2**63] if wide else [])
    inv = [0, 2**64 - 1, 5, 7] + ([2**64] if wide else [])
    size = [1, 2**64 - 1, 3, 4] + ([2**64 + 1] if wide else [])
    snaps = [
        snap(
            1,
            vault="0x" + f"{k + 1:040x}",
            thresholds=replace(snap(1).thresholds, target_delta=t),
            inventory=i,
            free_quote=i,
            series=(replace(snap(1).series[0], size=z),),
        )
        for k, (t, i, z) in enumerate(zip(targets, inv, size, strict=True))
    ]
    lean = lean_snapshot([s.vault for s in snaps], [encode_lean_answer(snaps, 1, NOW)])
    assert lean.target_delta.tolist() == targets
    assert lean.inventory.tolist() == inv
    assert lean.quote_balance.tolist() == inv
    assert lean.series_size.tolist() == size
    assert all(type(x) is int for x in [*lean.target_delta, *lean.inventory, *lean.series_size])


def test_a_reordered_vault_list_all_held_gets_its_own_series() -> None:
    world = _world(6)
    vaults = [v.snap.vault for v in world.values()]
    reader = _reader(_Lens(world))
    reader.read_lean(vaults)
    order = vaults[::-1]
    lean = reader.read_lean(order)
    assert lean.cached.all()
    assert _rows(lean) == _rows(_full(world, order))
    again = reader.read_lean(order)  # and once more, now that the cache follows this order
    assert again.cached.all()
    assert _rows(again) == _rows(_full(world, order))


def test_forget_and_the_periodic_full_read() -> None:
    world = _world(3)
    vaults = [v.snap.vault for v in world.values()]
    lens = _Lens(world)
    reader = _reader(lens, full_every=4)
    kinds = []
    for k in range(9):
        if k == 5:
            reader.forget()
        lens.requests.clear()
        lean = reader.read_lean(vaults)
        kinds.append("full" if lens.requests[0][:4] == LEAN_SELECTOR else "since")
        assert lean.cached.all() == (kinds[-1] == "since")
    # Reads 1..9: the 4th and 8th are full by the period, the 6th after forget().
    assert kinds == ["full", "since", "since", "full", "since", "full", "since", "full", "since"]


def test_the_periodic_full_read_repairs_a_version_repeated_on_another_fork() -> None:
    world = _world(2)
    vaults = [v.snap.vault for v in world.values()]
    reader = _reader(_Lens(world), full_every=3)
    reader.read_lean(vaults)
    # A reorg replays one change with another value: the version is the one held.
    first = next(iter(world.values()))
    first.snap = replace(first.snap, volatility=first.snap.volatility + 1)
    stale = reader.read_lean(vaults)
    assert stale.volatility[0] == first.snap.volatility - 1  # the stale copy, by design
    fresh = reader.read_lean(vaults)  # the third read is full
    assert fresh.volatility[0] == first.snap.volatility


def test_chunks_from_two_blocks_judge_time_by_the_newest() -> None:
    """Chunks read at different blocks (``latest`` moved between them): ``block_timestamp`` is
    the cycle's "now", against which oracle ages, the trigger's elapsed time, tau and expiry are
    judged, and the batch executes later still. The oldest chunk's made a feed look fresher
    than it is (its age counted from the older block), the opposite of what the docstring
    promised; the newest is conservative for staleness and nearest the execution."""
    a, b = [snap(0)], [snap(1)]
    lean = lean_snapshot(
        [s.vault for s in a + b],
        [encode_lean_answer(a, 10, NOW + 2), encode_lean_answer(b, 9, NOW)],
    )
    assert lean.block_number == 9  # the state read: the oldest chunk's
    assert lean.block_timestamp == NOW + 2
