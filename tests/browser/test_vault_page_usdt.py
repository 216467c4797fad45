"""The web page's deposit on a vault whose asset behaves as mainnet USDT does.

USDT's ``approve`` returns nothing (no ``bool``), and reverts when it changes an allowance that
is not zero. The page simulated ``approve`` with the ERC-20 ABI's ``bool`` output: viem found no
data to decode and the page refused the approval ("returned no data"), so no deposit could be
made; and an allowance left short (by a deposit that was not done) was raised in one ``approve``,
which USDT reverts.

The chain here is the devnet stack alone (one vault, no demo), its USDC replaced by a USDT-like
token (:mod:`tests.usdt_like`); the server, browser and wallet are conftest.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import decode

from keeper.devnet.tx import transact
from tests.browser.conftest import Devnet, Wallet
from tests.browser.light import light_devnet
from tests.conftest import rolled_back

USDT = 10**6
ACTIONS_IDLE = '[data-testid="actions"]:not(.busy)'


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """conftest's ``devnet``, lighter: the stack with one vault, its asset USDT-like."""
    with light_devnet(tmp_path_factory.mktemp("web-usdt"), usdt_like=True) as devnet:
        yield devnet


@pytest.fixture
def chain(devnet: Devnet) -> Iterator[Devnet]:
    """Each test starts from the chain as built."""
    with rolled_back(devnet.w3):
        yield devnet


def _deposit(page: Any, server: str, devnet: Devnet, amount: str) -> None:
    vault = devnet.addresses["vaults"][0]
    page.goto(f"{server}#/vault/{vault}")
    page.wait_for_selector('#main[data-ready="true"]')
    page.click('[data-testid="connect"]')
    page.wait_for_selector('[data-testid="pos-shares"]')
    page.fill('[data-testid="input-deposit"]', amount)
    page.wait_for_selector('[data-testid="preview-deposit"][data-state="ready"][data-value]')
    page.click('[data-testid="submit-deposit"]')
    page.wait_for_selector(ACTIONS_IDLE)


def _approvals(devnet: Devnet, wallet: Wallet) -> list[int]:
    """The amounts of the ``approve`` calls the wallet sent, in order."""
    out = []
    for h in wallet.sent:
        tx = devnet.w3.eth.get_transaction(h)
        if tx["to"] == devnet.usdc.address:
            out.append(int(decode(["address", "uint256"], bytes(tx["input"])[4:])[1]))
    return out


def test_a_deposit_approves_a_token_whose_approve_returns_nothing(
    page: Any, server: str, chain: Devnet, wallet: Wallet
) -> None:
    vault = chain.vault(chain.addresses["vaults"][0])
    me = chain.depositor.address
    assert chain.usdc.functions.allowance(me, vault.address).call() == 0
    _deposit(page, server, chain, "250")
    log = page.inner_text('[data-testid="tx-status"]')
    assert page.query_selector('[data-testid="result-deposit"]') is not None, log
    assert _approvals(chain, wallet) == [250 * USDT]
    assert vault.functions.balanceOf(me).call() > 0
    assert chain.usdc.functions.allowance(me, vault.address).call() == 0


def test_a_short_allowance_that_is_not_zero_is_set_to_zero_first(
    page: Any, server: str, chain: Devnet, wallet: Wallet
) -> None:
    vault = chain.vault(chain.addresses["vaults"][0])
    me = chain.depositor.address
    transact(chain.w3, chain.depositor, chain.usdc.functions.approve(vault.address, 1 * USDT))
    _deposit(page, server, chain, "250")
    log = page.inner_text('[data-testid="tx-status"]')
    assert page.query_selector('[data-testid="result-deposit"]') is not None, log
    assert _approvals(chain, wallet) == [0, 250 * USDT]
    assert len(wallet.sent) == 3  # approve 0, approve 250, deposit
    assert chain.usdc.functions.allowance(me, vault.address).call() == 0
