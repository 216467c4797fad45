"""Walking skeleton: forge artifact -> deploy with web3.py -> eth-account-signed tx, per backend."""

from __future__ import annotations

import os

import pytest

from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, deploy, transact
from tests.conftest import Chain

pytestmark = pytest.mark.integration


def test_deploy_and_signed_mint(chain: Chain) -> None:
    admin = account(chain.keys[0])
    token = deploy(chain.w3, admin, load_artifact("MintableERC20"), "USD Coin", "USDC", 6)
    assert token.functions.decimals().call() == 6

    depositor = account(chain.keys[1])
    nonce_before = chain.w3.eth.get_transaction_count(admin.address)
    receipt = transact(chain.w3, admin, token.functions.mint(depositor.address, 1_234_567))

    assert receipt["status"] == 1
    assert receipt["from"] == admin.address
    assert chain.w3.eth.get_transaction_count(admin.address) == nonce_before + 1
    assert token.functions.balanceOf(depositor.address).call() == 1_234_567
    assert token.functions.totalSupply().call() == 1_234_567


def test_anvil_stopped_by_pid(anvil_chain: Chain) -> None:
    node = anvil_chain.anvil
    assert node is not None
    assert node.pid is not None
    pid = node.pid
    os.kill(pid, 0)  # alive: raises if not
    node.stop()
    assert node.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
