"""The redemption queue panel while instant exits are closed.

With the oracle stale, the vault pays no exit and a fill redeems nothing, with its free quote all
there. The panel said "The free quote can fill nothing now: the pending requests wait for
collateral to free up (settlement, expiry, hedge sales)", sending the holder to wait for the
wrong thing: it now gives the vault's reason (the page's own ``gates``), as the Liquidity panel
does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, transact
from tests.browser.conftest import Devnet
from tests.browser.light import light_devnet, write_a_call

USDC = 10**6


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """conftest's ``devnet``, lighter: the stack with one vault."""
    with light_devnet(tmp_path_factory.mktemp("web-queue-closed")) as devnet:
        yield devnet


def test_a_queue_that_cannot_fill_while_exits_are_closed_says_why(
    page: Any, server: str, devnet: Devnet
) -> None:
    w3, me = devnet.w3, devnet.depositor
    address = devnet.addresses["vaults"][0]
    vault, queue = devnet.vault(address), devnet.queue(address)
    transact(w3, me, devnet.usdc.functions.approve(address, 1_000 * USDC))
    transact(w3, me, vault.functions.deposit(1_000 * USDC, me.address))
    price = write_a_call(devnet, address)  # the vault's value now depends on the price
    feed = w3.eth.contract(
        address=vault.functions.oracle().call(), abi=load_artifact("MockV3Aggregator").abi
    )
    heartbeat = vault.functions.thresholds().call()[7]
    stale = w3.eth.get_block("latest")["timestamp"] - heartbeat - 1
    round_id = feed.functions.latestRound().call() + 1
    transact(
        w3, account(ANVIL_KEYS[0]), feed.functions.updateRoundData(round_id, price, stale, stale)
    )
    assert vault.functions.maxRedeem(me.address).call() == 0
    shares = vault.functions.balanceOf(me.address).call()
    transact(w3, me, vault.functions.approve(queue.address, shares))
    transact(w3, me, queue.functions.requestRedeem(shares, me.address, me.address))
    assert queue.functions.fillable().call() == 0
    assert vault.functions.freeQuote().call() > 1_000 * USDC  # the free quote is all there

    page.goto(f"{server}#/vault/{address}")
    page.wait_for_selector('#main[data-ready="true"]')
    note = page.wait_for_selector('[data-testid="queue-fill-none"]').inner_text()
    assert "exits are closed" in note, note
    assert "stale" in note, note
    assert "collateral to free up" not in note, note
