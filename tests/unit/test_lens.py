"""The lens reader: decode an ABI-encoded VaultSnapshot[] and chunk large vault sets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from hexbytes import HexBytes

from keeper.chain.lens import LensCodec, LensRead, LensReader

LENS = "0x" + "1e" * 20


def vault_addr(i: int) -> str:
    return "0x" + f"{i + 1:040x}"


def snap_tuple(vault: str, i: int = 0) -> tuple[Any, ...]:
    oracle = (7 + i, 3000 * 10**8 + i, 1_700_000_000, 8, False, 1_600_000_000)
    thresholds = (-(10**17), 5 * 10**17, 60, 3600, 10**19, 50, 100, 3600, 3600)
    series = [(1, 0, 3200 * 10**8, 500 * 10**8, 1_800_000_000, 2 * 10**18, False, 0)]
    return (
        vault,
        i % 2 == 0,
        0 if i % 2 == 0 else (1 << 6) | 1,
        oracle,
        -(10**18) - i,
        3 * 10**18,
        thresholds,
        1_699_999_000,
        2999 * 10**8,
        8 * 10**17,
        10**12,
        10**12,
        5 * 10**11,
        False,
        True,
        1,
        series,
    )


def encoded(codec: LensCodec, vaults: list[str], block: int = 42, ts: int = 1_700_000_100) -> bytes:
    return encode(codec.output_types, [[snap_tuple(v, i) for i, v in enumerate(vaults)], block, ts])


def test_decode_by_component_names() -> None:
    codec = LensCodec()
    data = encoded(codec, [vault_addr(0), vault_addr(1)])
    snaps, block, ts = codec.decode(data)
    assert (block, ts) == (42, 1_700_000_100)
    assert len(snaps) == 2
    s = snaps[1]
    assert s.vault.lower() == vault_addr(1)
    assert s.oracle.round_id == 8
    assert s.oracle.answer == 3000 * 10**8 + 1
    assert s.oracle.decimals == 8
    assert s.oracle.has_sequencer_feed
    assert s.net_delta == -(10**18) - 1
    assert s.inventory == 3 * 10**18
    assert s.thresholds.target_delta == -(10**17)
    assert s.thresholds.band == 5 * 10**17
    assert s.thresholds.max_interval == 3600
    assert s.thresholds.sequencer_grace_period == 3600
    assert s.pool_price == 2999 * 10**8
    assert s.volatility == 8 * 10**17
    assert s.trigger_ready
    assert s.trigger == 1
    assert len(s.series) == 1
    assert s.series[0].is_call
    assert s.series[0].cap == 500 * 10**8
    assert s.series[0].size == 2 * 10**18
    assert snaps[0].valid
    assert snaps[0].read_errors == 0
    assert not s.valid
    assert s.describe_read_errors() == "oracle, pool price"


def test_encode_is_snapshot_call() -> None:
    codec = LensCodec()
    data = codec.encode([vault_addr(0)])
    assert data[:4] == codec.selector
    (arg,) = decode(["address[]"], data[4:])
    assert [a.lower() for a in arg] == [vault_addr(0)]


@dataclass
class FakeEth:
    codec: LensCodec
    calls: list[list[str]] = field(default_factory=list)

    def call(self, tx: dict[str, Any], block: Any = "latest") -> HexBytes:
        assert tx["to"].lower() == LENS
        data = bytes(tx["data"])
        (vaults,) = decode(["address[]"], data[4:])
        self.calls.append(list(vaults))
        n = len(self.calls)  # each chunk at another block (``latest`` answered by lagging nodes)
        return HexBytes(encoded(self.codec, list(vaults), block=100 - n, ts=1_700_000_100 - n))


@dataclass
class FakeW3:
    eth: FakeEth
    provider: object = field(default_factory=object)  # not a JSON provider: sequential


def test_chunking_preserves_order_and_counts_calls() -> None:
    codec = LensCodec()
    w3 = FakeW3(FakeEth(codec))
    vaults = [vault_addr(i) for i in range(600)]
    reader = LensReader(w3, LENS, codec=codec)  # type: ignore[arg-type]
    result = reader.read(vaults)
    assert result.calls == 3
    assert [len(c) for c in w3.eth.calls] == [250, 250, 100]
    assert [s.vault.lower() for s in result.snapshots] == vaults
    assert result.block_number == 97  # the oldest chunk's block (conservative)
    assert result.block_timestamp == 1_700_000_099  # the newest chunk's time (see LensResult)


def test_up_to_250_vaults_is_one_call() -> None:
    codec = LensCodec()
    w3 = FakeW3(FakeEth(codec))
    reader = LensReader(w3, LENS, codec=codec)  # type: ignore[arg-type]
    result = reader.read([vault_addr(i) for i in range(250)])
    assert result.calls == 1
    assert len(w3.eth.calls) == 1


@dataclass
class GasCappedEth(FakeEth):
    max_vaults: int = 100

    def call(self, tx: dict[str, Any], block: Any = "latest") -> HexBytes:
        from web3.exceptions import Web3RPCError

        (vaults,) = decode(["address[]"], bytes(tx["data"])[4:])
        if len(vaults) > self.max_vaults:
            raise Web3RPCError("{'code': -32603, 'message': 'EVM error OutOfGas'}")
        return super().call(tx, block)


def test_out_of_gas_halves_the_chunk_and_remembers() -> None:
    codec = LensCodec()
    eth = GasCappedEth(codec)
    reader = LensReader(FakeW3(eth), LENS, codec=codec)  # type: ignore[arg-type]
    vaults = [vault_addr(i) for i in range(300)]
    result = reader.read(vaults)
    assert reader.chunk == 62  # 250 -> 125 -> 62
    assert [s.vault.lower() for s in result.snapshots] == vaults
    assert result.calls == 5
    reader.read(vaults[:10])
    assert reader.chunk == 62


def test_read_error_flags_match_the_solidity_constants() -> None:
    sol = (Path(__file__).parents[2] / "contracts/interfaces/IVaultLens.sol").read_text()
    bits = {m[1]: 1 << int(m[2]) for m in re.finditer(r"LENS_READ_(\w+) = 1 << (\d+);", sol)}
    assert bits == {f.name: f.value for f in LensRead if f.name and f.value}
    assert LensRead.ALL.value == (1 << len(bits)) - 1
    assert LensRead.ALL.describe() == "every read (not a vault?)"
    assert LensRead.NONE.describe() == "none"
    assert (LensRead.ORACLE | LensRead.LAST_REBALANCE).describe() == "oracle, last rebalance"


def test_a_snapshot_answer_that_is_not_a_snapshot_is_a_chain_error() -> None:
    """``0x`` (no lens at the address on this chain) or a cut answer: eth-abi's
    ``DecodingError`` escaped ``LensReader.read`` (keeper check, the web page) as a traceback."""
    import pytest

    from keeper.errors import ChainError

    for answer in (b"", b"\x00" * 40):
        with pytest.raises(ChainError, match="not what it returns"):
            LensCodec().decode(answer)
