"""Devnet conveniences over the project's one send path: deploy an artifact, send a call.

Everything here goes through :class:`keeper.execution.transactions.Transactor` (the light
send-and-wait, uncapped fees with a 0.001 gwei tip) and adds only what local chains need: the gas
margin below and deployment from a forge artifact. For local chains only (demo, tests,
benchmarks); the keeper's own batches go through the journaled
:class:`~keeper.execution.sender.Sender`.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from keeper.chain.artifacts import Artifact
from keeper.errors import ChainError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.transactions import Transactor, account

__all__ = ["account", "deploy", "gas_with_margin", "transact", "transactor"]

#: Gas limit = estimate x 13/10 + 30k. Uniswap V3 pools write an oracle observation only in the
#: first swap or mint of a new ``block.timestamp``; ``eth_estimateGas`` runs on a pending block
#: stamped with the wall clock, so when the clock ticks between estimate and mining the call
#: needs ~20-25k more gas than estimated (seen intermittently on anvil under load).
GAS_MARGIN_NUM, GAS_MARGIN_DEN, GAS_MARGIN_ADD = 13, 10, 30_000

#: How long a devnet transaction may take to be mined.
RECEIPT_TIMEOUT_S = 60.0


def gas_with_margin(estimate: int) -> int:
    """Return the gas limit to send with for an ``eth_estimateGas`` result."""
    return estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN + GAS_MARGIN_ADD


def transactor(
    w3: Web3,
    signer: LocalAccount,
    *,
    track_nonce: bool = False,
    poll_s: float = 0.1,
    decoder: ErrorDecoder | None = None,
) -> Transactor:
    """The light sender for ``signer`` on a local chain (uncapped fees, the devnet gas margin)."""
    return Transactor(
        w3,
        signer,
        gas_limit=gas_with_margin,
        receipt_timeout_s=RECEIPT_TIMEOUT_S,
        poll_s=poll_s,
        decoder=decoder,
        track_nonce=track_nonce,
        name_interrupted=False,  # the devnet stops with the process: a Ctrl-C is just that
    )


def deploy(w3: Web3, signer: LocalAccount, artifact: Artifact, *args: Any) -> Contract:
    """Deploy ``artifact`` with constructor ``args`` and return the bound contract.

    Raises:
        TxRevertedError: The constructor reverted.
    """
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    init_code = bytes(HexBytes(factory.constructor(*args).data_in_transaction))
    receipt = transactor(w3, signer).send(None, init_code, what=f"deploy {artifact.name}")
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deploying {artifact.name} created no contract")
    return w3.eth.contract(address=address, abi=artifact.abi)


def transact(w3: Web3, signer: LocalAccount, call: ContractFunction) -> TxReceipt:
    """Send a contract call from ``signer`` and wait for it (see :class:`Transactor`).

    Raises:
        TxRevertedError: The call would revert (nothing sent) or reverted on-chain.
    """
    return transactor(w3, signer).call(call)
