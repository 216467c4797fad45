"""Devnet transaction helpers: deploy an artifact and send a call, signed locally with eth-account.

These are for local chains (demo, tests, benchmarks). The keeper's own sends go through
``keeper.execution``, which adds the journal, fee caps and replacement.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, TxReceipt

from keeper.chain.artifacts import Artifact
from keeper.errors import TxRevertedError


def account(private_key: str) -> LocalAccount:
    """Return the eth-account signer for a private key."""
    acct: LocalAccount = Account.from_key(private_key)
    return acct


def _fee_fields(w3: Web3) -> dict[str, int]:
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    tip = 1_000_000  # 0.001 gwei: an L2-sized tip
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


#: Gas limit = estimate x 13/10 + 30k. Uniswap V3 pools write an oracle observation only in the
#: first swap or mint of a new ``block.timestamp``; ``eth_estimateGas`` runs on a pending block
#: stamped with the wall clock, so when the clock ticks between estimate and mining the call
#: needs ~20-25k more gas than estimated (seen intermittently on anvil under load).
GAS_MARGIN_NUM, GAS_MARGIN_DEN, GAS_MARGIN_ADD = 13, 10, 30_000


def gas_with_margin(estimate: int) -> int:
    """Return the gas limit to send with for an ``eth_estimateGas`` result."""
    return estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN + GAS_MARGIN_ADD


def sign_and_send(w3: Web3, signer: LocalAccount, tx: TxParams) -> TxReceipt:
    """Fill nonce, chain id, fees and gas, sign locally, send, and wait for the receipt.

    Raises:
        TxRevertedError: The transaction was mined but reverted.
    """
    tx = dict(tx)  # type: ignore[assignment]
    tx.setdefault("from", signer.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(signer.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    for key, value in _fee_fields(w3).items():
        tx.setdefault(key, value)  # type: ignore[misc]
    if "gas" not in tx:
        tx["gas"] = gas_with_margin(int(w3.eth.estimate_gas(tx)))
    signed = signer.sign_transaction(tx)  # type: ignore[arg-type]
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise TxRevertedError(f"transaction {tx_hash.hex()} reverted")
    return receipt


def deploy(w3: Web3, signer: LocalAccount, artifact: Artifact, *args: Any) -> Contract:
    """Deploy ``artifact`` with constructor ``args`` and return the bound contract."""
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(*args).build_transaction({"from": signer.address})
    tx.pop("gas", None)  # web3 filled the bare estimate; sign_and_send adds the margin
    receipt = sign_and_send(w3, signer, tx)
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact.abi)


def transact(w3: Web3, signer: LocalAccount, call: ContractFunction) -> TxReceipt:
    """Build, sign and send a contract call from ``signer``, with the gas margin."""
    tx = call.build_transaction({"from": signer.address})
    tx.pop("gas", None)  # web3 filled the bare estimate; sign_and_send adds the margin
    return sign_and_send(w3, signer, tx)
