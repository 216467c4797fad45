"""A queue request for shares Redeem can pay now: refused unless asked for on purpose.

The CLI refused such a request (``keeper vault request-redeem``: "the vault can pay all ... now:
redeem them at once"), while the page only noted it in the preview and sent it: a depositor
clicking Request redeem was put in a queue that waits for a fill and cannot be cancelled, with
Redeem paying at once. The page now refuses it too, nothing sent, unless "Queue them even when
Redeem can pay them now" is ticked: someone may queue on purpose (docs/web.md, README).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keeper.devnet.tx import transact
from tests.browser.conftest import Devnet, Wallet
from tests.browser.light import light_devnet

USDC = 10**6
REFUSED = '[data-testid="queue-tx-status"] li[data-state="refused"]'
IDLE = '[data-testid="queue-panel"]:not(.busy)'


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """conftest's ``devnet``, lighter: the stack with one vault."""
    with light_devnet(tmp_path_factory.mktemp("web-queue-redeemable")) as devnet:
        yield devnet


def test_a_request_redeem_can_pay_now_is_refused_unless_ticked(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    w3, me = devnet.w3, devnet.depositor
    address = devnet.addresses["vaults"][0]
    vault, queue = devnet.vault(address), devnet.queue(address)
    transact(w3, me, devnet.usdc.functions.approve(address, 100 * USDC))
    transact(w3, me, vault.functions.deposit(100 * USDC, me.address))
    shares = vault.functions.balanceOf(me.address).call()
    assert vault.functions.maxRedeem(me.address).call() >= shares, "an instant exit pays them all"

    page.goto(f"{server}#/vault/{address}")
    page.wait_for_selector('#main[data-ready="true"]')
    page.click('[data-testid="connect"]')
    page.wait_for_selector('[data-testid="pos-shares"]')

    # The preview says it before the click; the click is refused, nothing sent.
    page.fill('[data-testid="input-request"]', "10")
    page.wait_for_selector('[data-testid="preview-request"][data-state="ready"][data-value]')
    note = page.inner_text('[data-testid="note-request"]')
    assert "Redeem pays these now" in note
    assert "Queue them even when Redeem can pay them now" in note
    page.click('[data-testid="submit-request"]')
    line = page.wait_for_selector(REFUSED).inner_text()
    page.wait_for_selector(IDLE)
    assert "the vault can pay all" in line
    assert "use Redeem" in line
    assert "Nothing was sent" in line
    assert wallet.sent == []
    assert queue.functions.pendingRedeemRequest(0, me.address).call() == 0
    assert page.input_value('[data-testid="input-request"]') == "10"  # kept, to be corrected

    # Ticked, the same request is queued on purpose: approve, then requestRedeem.
    page.check('[data-testid="queue-anyway"]')
    page.click('[data-testid="submit-request"]')
    page.wait_for_selector('[data-testid="result-request"]')
    page.wait_for_selector(IDLE)
    assert len(wallet.sent) == 2, "approve, then requestRedeem"
    assert queue.functions.pendingRedeemRequest(0, me.address).call() == 10 * 10**12
    # The choice is made again for the next request: the box is cleared after a request.
    assert not page.is_checked('[data-testid="queue-anyway"]')
