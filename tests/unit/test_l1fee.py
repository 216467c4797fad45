"""The Ecotone L1 data-fee formula and the unsigned-transaction bytes the OP oracle expects."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from keeper.chain.l1fee import (
    OP_UNSIGNED_OVERHEAD_GAS,
    EcotoneParams,
    NoL1Fee,
    calldata_gas,
    ecotone_l1_fee,
    unsigned_tx_bytes,
)

PARAMS = EcotoneParams(
    l1_base_fee=20 * 10**9, base_fee_scalar=1_368, blob_base_fee=5, blob_base_fee_scalar=810_949
)


def test_calldata_gas_counts_zero_and_nonzero_bytes() -> None:
    assert calldata_gas(b"") == 0
    assert calldata_gas(b"\x00\x00\x01") == 4 + 4 + 16
    assert calldata_gas(b"\xff" * 10, overhead=7) == 167


def test_ecotone_by_hand() -> None:
    data = bytes([0, 0, 1, 2, 3])  # 2 zero bytes, 3 non-zero
    gas = 2 * 4 + 3 * 16 + 68 * 16
    scaled = 16 * PARAMS.l1_base_fee * PARAMS.base_fee_scalar + 5 * 810_949
    assert ecotone_l1_fee(data, PARAMS) == gas * scaled // 16_000_000
    # The documented numbers: 1,144 gas * (437,760,000,000,000 + 4,054,745) / 16e6.
    assert gas == 1_144
    assert ecotone_l1_fee(data, PARAMS) == 31_299_840_289


def test_ecotone_without_overhead_and_zero_params() -> None:
    assert ecotone_l1_fee(b"\x01", PARAMS, overhead=0) == (
        16 * (16 * PARAMS.l1_base_fee * PARAMS.base_fee_scalar + 5 * 810_949) // 16_000_000
    )
    assert ecotone_l1_fee(b"\x01" * 100, EcotoneParams(0, 0, 0, 0)) == 0


@given(st.binary(max_size=300), st.binary(max_size=50))
def test_ecotone_monotone_in_data(data: bytes, extra: bytes) -> None:
    assert ecotone_l1_fee(data + extra, PARAMS) >= ecotone_l1_fee(data, PARAMS)
    assert OP_UNSIGNED_OVERHEAD_GAS == 1_088


def test_unsigned_bytes_hash_to_the_signing_hash() -> None:
    acct = Account.create()
    tx = {
        "type": 2,
        "chainId": 10,
        "nonce": 7,
        "to": "0x" + "22" * 20,
        "data": b"\x12\x34" + b"\x00" * 40,
        "value": 0,
        "gas": 300_000,
        "maxFeePerGas": 2_000_000,
        "maxPriorityFeePerGas": 1_000,
    }
    signed = acct.sign_transaction(tx)
    unsigned = unsigned_tx_bytes(bytes(signed.raw_transaction))
    assert unsigned[0] == 2
    assert len(unsigned) < len(signed.raw_transaction)
    # The signature is r, s (32 bytes each) and yParity: about 67 bytes, which the OP oracle's
    # 68-byte pad stands for.
    assert 64 <= len(signed.raw_transaction) - len(unsigned) <= 68
    from eth_account.typed_transactions.typed_transaction import TypedTransaction

    assert keccak(unsigned) == TypedTransaction.from_bytes(signed.raw_transaction).hash()


def test_no_l1_fee_reader() -> None:
    assert NoL1Fee().fee(b"\x01", "0x" + "00" * 20, b"") == 0


def test_arbitrum_reader_calls_node_interface_and_multiplies() -> None:
    from dataclasses import dataclass, field
    from typing import Any

    from eth_abi.abi import decode, encode
    from hexbytes import HexBytes

    from keeper.chain.l1fee import ARB_NODE_INTERFACE, ArbitrumL1Fee

    @dataclass
    class Eth:
        seen: list[dict[str, Any]] = field(default_factory=list)

        def call(self, tx: dict[str, Any]) -> HexBytes:
            self.seen.append(tx)
            return HexBytes(encode(["uint64", "uint256", "uint256"], [1_500, 10**7, 3 * 10**10]))

    @dataclass
    class W3:
        eth: Eth

    w3 = W3(Eth())
    to = "0x" + "ba" * 20
    fee = ArbitrumL1Fee(w3).fee(b"signed", to, b"\x01\x02")  # type: ignore[arg-type]
    assert fee == 1_500 * 10**7
    tx = w3.eth.seen[0]
    assert tx["to"] == ARB_NODE_INTERFACE
    data = bytes(tx["data"])
    assert data[:4] == keccak(text="gasEstimateL1Component(address,bool,bytes)")[:4]
    target, creation, payload = decode(["address", "bool", "bytes"], data[4:])
    assert (target.lower(), creation, payload) == (to, False, b"\x01\x02")


@pytest.mark.parametrize("answer", [b"", b"\x00" * 31], ids=["0x", "short"])
@pytest.mark.parametrize("call", ["op fee", "op params", "arbitrum fee"])
def test_an_oracle_answer_that_is_not_its_return_type_is_a_chain_error(
    answer: bytes, call: str
) -> None:
    """A node answering ``0x`` (no code at the predeploy on a misconfigured chain, a proxy that
    strips the result) or a short word: eth-abi's ``InsufficientDataBytes`` is none of the
    errors a cycle may fail with, so the L1-fee quote of a cycle ended ``keeper run`` with a
    traceback. It must be a ``ChainError`` (one failed cycle, one line)."""
    from dataclasses import dataclass
    from typing import Any

    from hexbytes import HexBytes

    from keeper.app.loop import _CYCLE_ERRORS
    from keeper.chain.l1fee import ArbitrumL1Fee, OpL1Fee
    from keeper.errors import ChainError

    @dataclass
    class Eth:
        def call(self, tx: dict[str, Any], *args: Any) -> HexBytes:
            return HexBytes(answer)

    @dataclass
    class W3:
        eth: Eth
        provider: object = None

    acct = Account.create()
    tx = {"type": 2, "chainId": 10, "nonce": 0, "to": "0x" + "22" * 20, "data": b"", "value": 0}
    tx |= {"gas": 21_000, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1}
    signed = bytes(acct.sign_transaction(tx).raw_transaction)
    w3: Any = W3(Eth())
    op, arbitrum = OpL1Fee(w3, attempts=1), ArbitrumL1Fee(w3, attempts=1)
    run = {
        "op fee": lambda: op.fee(signed, "", b""),
        "op params": op.params,
        "arbitrum fee": lambda: arbitrum.fee(signed, "0x" + "22" * 20, b""),
    }[call]
    # An empty answer at the NodeInterface: a node that does not emulate it (test below).
    said = "KEEPER_L1_FEE_MODE" if (call, answer) == ("arbitrum fee", b"") else "not what it"
    with pytest.raises(ChainError, match=said) as info:
        run()
    assert isinstance(info.value, _CYCLE_ERRORS)


def test_a_node_without_arbitrums_nodeinterface_names_the_setting_that_skips_it() -> None:
    """An anvil on an Arbitrum chain id (a fork of Arbitrum Sepolia, a local "testnet" of that
    id) answers ``0x`` at the NodeInterface, which only Arbitrum's own nodes emulate: every cycle
    failed with "the node's answer (0 bytes) is not what it returns", and nothing said that
    ``KEEPER_L1_FEE_MODE=none`` is the way to run there (helper-120's operator walk)."""
    from dataclasses import dataclass
    from typing import Any

    from hexbytes import HexBytes

    from keeper.chain.l1fee import ArbitrumL1Fee
    from keeper.errors import ChainError

    @dataclass
    class Eth:
        def call(self, tx: dict[str, Any], *args: Any) -> HexBytes:
            return HexBytes(b"")

    @dataclass
    class W3:
        eth: Eth

    w3: Any = W3(Eth())
    with pytest.raises(ChainError, match="KEEPER_L1_FEE_MODE=none") as info:
        ArbitrumL1Fee(w3, attempts=1).fee(b"signed", "0x" + "22" * 20, b"")
    assert "\n" not in str(info.value)
