"""The lean lens answer: fixed-offset words decoded with numpy, chunks merged, rows taken."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from keeper.chain.lens import (
    LEAN_SELECTOR,
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


def test_selector_matches_the_abi() -> None:
    from eth_utils.crypto import keccak

    assert keccak(text="snapshotLean(address[])")[:4] == LEAN_SELECTOR


def test_round_trip_of_every_field() -> None:
    snaps = [snap(i) for i in range(5)]
    lean = lean_snapshot([s.vault for s in snaps], [encode_lean_answer(snaps, 42, NOW, 7)])
    assert (lean.block_number, lean.block_timestamp, lean.base_fee) == (42, NOW, 7)
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
        lambda b: b[:64] + (2).to_bytes(32, "big") + b[96:],  # another layout version
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
