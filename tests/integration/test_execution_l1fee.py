"""The Python Ecotone formula equals the devnet OpL1FeeOracle's answer, on the exact batch tx."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from keeper.chain.artifacts import load_artifact
from keeper.chain.l1fee import (
    OP_GAS_PRICE_ORACLE,
    EcotoneParams,
    NoL1Fee,
    OpL1Fee,
    ecotone_l1_fee,
    l1_fee_reader,
    unsigned_tx_bytes,
)
from keeper.devnet.tx import account, deploy
from keeper.execution.simulate import BatchCodec
from tests.conftest import Chain

pytestmark = pytest.mark.integration

PARAMS = EcotoneParams(
    l1_base_fee=25 * 10**9, base_fee_scalar=1_368, blob_base_fee=3, blob_base_fee_scalar=810_949
)


def signed_batch(n: int) -> tuple[bytes, bytes]:
    codec = BatchCodec()
    data = codec.encode(["0x" + f"{i + 1:040x}" for i in range(n)])
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 12,
        "to": Web3.to_checksum_address("0x" + "ba" * 20),
        "data": data,
        "value": 0,
        "gas": 40_000 + n * 220_000,
        "maxFeePerGas": 3_000_000_000,
        "maxPriorityFeePerGas": 1_000_000,
    }
    return bytes(Account.create().sign_transaction(tx).raw_transaction), data


def test_formula_matches_the_contract(chain: Chain) -> None:
    admin = account(chain.keys[0])
    oracle = deploy(
        chain.w3,
        admin,
        load_artifact("OpL1FeeOracle"),
        admin.address,
        PARAMS.l1_base_fee,
        PARAMS.blob_base_fee,
        PARAMS.base_fee_scalar,
        PARAMS.blob_base_fee_scalar,
    )
    reader = OpL1Fee(chain.w3, oracle.address)
    assert reader.params() == PARAMS
    # 250 vaults' calldata only on anvil: py-evm interprets the oracle's FastLZ loop over
    # ~40 kB in Python (~30 s); the same bytecode on a native EVM takes milliseconds.
    for n in (1, 2, 10, 250) if chain.backend == "anvil" else (1, 2, 10):
        raw, data = signed_batch(n)
        unsigned = unsigned_tx_bytes(raw)
        on_chain = oracle.functions.getL1Fee(unsigned).call()
        assert on_chain == ecotone_l1_fee(unsigned, PARAMS)
        assert reader.fee(raw, oracle.address, data) == on_chain
    # Several at once (one JSON-RPC batch where the provider takes batches): the same fees.
    raws = [signed_batch(n)[0] for n in (1, 2, 10)]
    assert reader.fees(raws) == [ecotone_l1_fee(unsigned_tx_bytes(r), PARAMS) for r in raws]
    # More vaults, more calldata, more L1 fee.
    assert reader.fee(*signed_batch(2)[:1], "", b"") < reader.fee(*signed_batch(3)[:1], "", b"")


def test_predeploy_install_is_auto_detected(anvil_chain: Chain) -> None:
    w3 = anvil_chain.w3
    assert isinstance(l1_fee_reader(w3, "auto"), NoL1Fee)
    art = load_artifact("OpL1FeeOracle")
    admin = account(anvil_chain.keys[0])
    impl = deploy(w3, admin, art, admin.address, 1, 1, 1, 1)
    code = w3.eth.get_code(impl.address)
    resp = w3.provider.make_request("anvil_setCode", [OP_GAS_PRICE_ORACLE, "0x" + code.hex()])  # type: ignore[arg-type]
    assert "error" not in resp
    gpo = w3.eth.contract(address=Web3.to_checksum_address(OP_GAS_PRICE_ORACLE), abi=art.abi)
    from keeper.devnet.tx import transact

    transact(
        w3,
        admin,
        gpo.functions.initialize(
            admin.address,
            PARAMS.l1_base_fee,
            PARAMS.blob_base_fee,
            PARAMS.base_fee_scalar,
            PARAMS.blob_base_fee_scalar,
        ),
    )
    reader = l1_fee_reader(w3, "auto")
    assert isinstance(reader, OpL1Fee)
    raw, data = signed_batch(5)
    assert reader.fee(raw, "", data) == ecotone_l1_fee(unsigned_tx_bytes(raw), PARAMS)
