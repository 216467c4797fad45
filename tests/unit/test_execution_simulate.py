"""The batch gas rule reads the batcher's ``BOOKKEEPING_GAS()`` once, never a copied constant."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from keeper.execution.simulate import BatchCodec, VaultOutcome, batch_gas_needed, shared_codec

BATCHER = "0x" + "ab" * 20
SELECTOR = keccak(text="BOOKKEEPING_GAS()")[:4]


def fake_w3(value: int) -> tuple[Any, list[dict[str, Any]]]:
    """A connection whose ``eth_call`` answers ``value`` and records each request."""
    calls: list[dict[str, Any]] = []

    def call(tx: dict[str, Any]) -> bytes:
        calls.append(tx)
        assert bytes(tx["data"]) == SELECTOR
        return abi_encode(["uint256"], [value])

    return SimpleNamespace(eth=SimpleNamespace(call=call)), calls


def test_bookkeeping_gas_is_read_once_per_batcher() -> None:
    codec = BatchCodec()
    w3, calls = fake_w3(40_000)
    assert codec.bookkeeping_gas(w3, BATCHER) == 40_000
    assert codec.bookkeeping_gas(w3, BATCHER.upper().replace("0X", "0x")) == 40_000
    assert len(calls) == 1  # cached: no request in later cycles
    other = "0x" + "cd" * 20
    assert codec.bookkeeping_gas(w3, other) == 40_000
    assert len(calls) == 2


def test_shared_codec_is_one_object() -> None:
    assert shared_codec() is shared_codec()


def test_batch_gas_needed_uses_the_batchers_reserve() -> None:
    outcomes = [
        VaultOutcome(vault="0x" + "01" * 20, ok=True, delta_before=0, delta_after=0, reason="")
    ]
    calldata = b"\x01" * 68
    base = batch_gas_needed(calldata, outcomes, 630_000, 0)
    assert batch_gas_needed(calldata, outcomes, 630_000, 40_000) == base + 40_000
    # intrinsic + calldata + per-vault bookkeeping + vaultGasLimit * 64/63
    assert base == 21_000 + 16 * 68 + 30_000 + 640_000


def test_codec_encodes_each_vaults_post_deviation() -> None:
    from eth_abi.abi import decode as abi_decode

    from keeper.execution.simulate import BatchCodec

    codec = BatchCodec()
    a, b = "0x" + "11" * 20, "0x" + "22" * 20
    data = codec.encode([a, b], [-5 * 10**17, 0])
    assert data[:4] == codec.selector
    vaults, posts = abi_decode(["address[]", "int256[]"], data[4:])
    assert [v.lower() for v in vaults] == [a, b]
    assert list(posts) == [-5 * 10**17, 0]
    # No requests: every vault to its target.
    assert abi_decode(["address[]", "int256[]"], codec.encode([a])[4:])[1] == (0,)
