"""The in-process py-evm chain (eth-tester): a real EVM with no node at all."""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3


def pyevm_chain(
    num_accounts: int = 10, gas_limit: int = 60_000_000
) -> tuple[Web3, tuple[str, ...]]:
    """Build a fresh Prague-VM chain in this process.

    Args:
        num_accounts: How many pre-funded accounts to create.
        gas_limit: Block gas limit (large deployments need more than the default 30M).

    Returns:
        The web3 connection and the private keys of its pre-funded accounts.
    """
    backend = PyEVMBackend(
        genesis_parameters=PyEVMBackend.generate_genesis_params({"gas_limit": gas_limit}),
        genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=num_accounts),
    )
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    keys = tuple(key.to_hex() for key in backend.account_keys)
    return w3, keys
