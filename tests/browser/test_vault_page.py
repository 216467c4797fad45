"""The depositors' web app in a real browser: what it shows, deposit, withdraw, a refused redeem.

See conftest.py for the set-up (anvil + the demo's devnet, the frozen clock, the injected wallet
that signs with an anvil key). Tests run in file order and share the chain; each one checks the
page against the chain, not against the page's own numbers.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from web3 import Web3

from tests.browser.conftest import SCREENSHOTS, Devnet, Wallet

ONE_SHARE = 10**12  # the vault's shares have 6 + 6 (decimals offset) decimals
PRICE_SHARES = 10**6 * ONE_SHARE  # the page reads the share price as the value of 1M shares


def busiest_vault(devnet: Devnet) -> str:
    """The vault with the most Rebalanced events (the page's richest history)."""
    best, most = devnet.addresses["vaults"][0], -1
    for v in devnet.addresses["vaults"]:
        n = len(devnet.vault(v).events.Rebalanced().get_logs(from_block=0))
        if n > most:
            best, most = v, n
    return str(best)


def open_vault(page: Any, server: str, vault: str) -> None:
    page.goto(f"{server}#/vault/{vault}")
    page.wait_for_selector('#main[data-ready="true"][data-rebalances-ready="true"]')


def raw(page: Any, testid: str) -> int:
    return int(page.get_attribute(f'[data-testid="{testid}"]', "data-raw"))


def connect_wallet(page: Any, devnet: Devnet) -> None:
    page.click('[data-testid="connect"]')
    page.wait_for_selector('[data-testid="pos-shares"]')
    short = devnet.depositor.address[:6]
    assert page.inner_text('[data-testid="account"]').startswith(short)


def fill_and_preview(page: Any, action: str, text: str) -> dict[str, int]:
    """Type an amount and wait for the preview; returns its value, preview and block."""
    page.fill(f'[data-testid="input-{action}"]', text)
    sel = f'[data-testid="preview-{action}"]'
    page.wait_for_selector(f'{sel}[data-state="ready"][data-value]')
    attr = page.get_attribute
    return {
        "value": int(attr(sel, "data-value")),
        "preview": int(attr(sel, "data-preview")),
        "block": int(attr(sel, "data-block")),
    }


def tx_states(page: Any) -> list[str]:
    return list(page.evaluate("window.__txStates"))


def test_vault_page_shows_the_vault_as_the_chain_has_it(
    page: Any, server: str, devnet: Devnet
) -> None:
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    open_vault(page, server, vault_address)
    links = page.locator('[data-testid="vault-link"]')
    assert links.count() == len(devnet.addresses["vaults"])

    block = int(page.get_attribute("#main", "data-block"))
    fns = vault.functions
    assert raw(page, "nav") == fns.totalAssets().call(block_identifier=block)
    assert raw(page, "share-price") == fns.convertToAssets(PRICE_SHARES).call(
        block_identifier=block
    )
    assert raw(page, "free") == fns.freeQuote().call(block_identifier=block)
    assert raw(page, "locked") == fns.lockedCollateral().call(block_identifier=block)
    assert raw(page, "inventory") == fns.hedgeInventory().call(block_identifier=block)
    nav = fns.totalAssets().call(block_identifier=block)
    text = page.inner_text('[data-testid="nav"]')
    assert text == f"{nav // 10**6:,}.{nav % 10**6:06d}".rstrip("0").rstrip(".") + " USDC"

    series = fns.openSeries().call(block_identifier=block)
    assert series, "the demo leaves open options"
    rows = page.locator('[data-testid="option-row"]')
    assert rows.count() == len(series)
    assert [int(rows.nth(i).get_attribute("data-id")) for i in range(len(series))] == [
        s[0] for s in series
    ]

    events = vault.events.Rebalanced().get_logs(from_block=0, to_block=block)
    assert events, "the demo's keeper rebalanced this vault"
    reb = page.locator('[data-testid="rebalance-row"]')
    assert reb.count() == min(12, len(events))
    newest = events[-1]
    assert reb.first.get_attribute("data-tx") == newest["transactionHash"].to_0x_hex()
    receipt = devnet.w3.eth.get_transaction_receipt(newest["transactionHash"])
    gas = reb.first.locator('[data-testid="rebalance-gas"]').get_attribute("data-raw")
    assert int(gas) == receipt["gasUsed"]
    # anvil's receipts carry no l1Fee: the page says n/a rather than inventing one.
    assert "l1Fee" not in receipt
    assert reb.first.locator('[data-testid="rebalance-l1"]').inner_text() == "n/a"

    delta_chart = page.locator('[data-testid="chart-delta"] svg')
    assert delta_chart.locator("polygon.band").count() == 1
    assert int(page.get_attribute('[data-testid="charts"]', "data-samples")) >= 10
    # Today's vaults have no ERC-7540 queue: the panel stays hidden (feature-detected).
    queue = page.locator('[data-testid="queue-panel"]')
    assert queue.get_attribute("data-detected") == "false"
    assert not queue.is_visible()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "web-vault.png"), full_page=True)


def test_deposit_approves_the_exact_amount_then_mints_the_previewed_shares(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    vault_address = busiest_vault(devnet)
    vault, usdc = devnet.vault(vault_address), devnet.usdc
    me = devnet.depositor.address
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    assert vault.functions.balanceOf(me).call() == 0
    assert usdc.functions.allowance(me, vault_address).call() == 0
    shares0, cash0 = vault.functions.balanceOf(me).call(), usdc.functions.balanceOf(me).call()

    p = fill_and_preview(page, "deposit", "2,500.123457")
    assert p["value"] == 2_500_123_457
    assert p["preview"] == vault.functions.previewDeposit(p["value"]).call(
        block_identifier=p["block"]
    )
    assert "Approves exactly 2,500.123457 USDC" in page.inner_text('[data-testid="note-deposit"]')
    page.click('[data-testid="submit-deposit"]')
    result = page.wait_for_selector('[data-testid="result-deposit"]')

    assert len(wallet.sent) == 2, "approve, then deposit"
    approve = devnet.w3.eth.get_transaction(wallet.sent[0])
    assert approve["to"] == usdc.address
    spender, amount = decode(["address", "uint256"], bytes(approve["input"])[4:])
    assert (Web3.to_checksum_address(spender), amount) == (vault_address, p["value"])
    minted = vault.functions.balanceOf(me).call() - shares0
    assert minted == p["preview"]
    assert cash0 - usdc.functions.balanceOf(me).call() == p["value"]
    assert int(result.get_attribute("data-shares")) == minted
    assert int(result.get_attribute("data-assets")) == p["value"]
    assert usdc.functions.allowance(me, vault_address).call() == 0
    assert tx_states(page) == ["checking", "signing", "pending", "confirmed"] * 2
    page.wait_for_function(
        f"document.querySelector('[data-testid=pos-shares]')?.dataset.raw === '{minted}'"
    )
    page.locator('[data-testid="actions"]').scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "web-deposit.png"), full_page=False)


def test_withdraw_burns_the_previewed_shares(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    vault_address = busiest_vault(devnet)
    vault, usdc = devnet.vault(vault_address), devnet.usdc
    me = devnet.depositor.address
    assert vault.functions.balanceOf(me).call() > 0, "the deposit test leaves a position"
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    shares0, cash0 = vault.functions.balanceOf(me).call(), usdc.functions.balanceOf(me).call()

    p = fill_and_preview(page, "withdraw", "1000.5")
    assert p["value"] == 1_000_500_000
    assert p["value"] <= vault.functions.maxWithdraw(me).call()
    assert p["preview"] == vault.functions.previewWithdraw(p["value"]).call(
        block_identifier=p["block"]
    )
    page.click('[data-testid="submit-withdraw"]')
    result = page.wait_for_selector('[data-testid="result-withdraw"]')

    assert len(wallet.sent) == 1
    burned = shares0 - vault.functions.balanceOf(me).call()
    assert burned == p["preview"]
    assert usdc.functions.balanceOf(me).call() - cash0 == p["value"]
    assert int(result.get_attribute("data-shares")) == burned
    assert tx_states(page) == ["checking", "signing", "pending", "confirmed"]


def test_redeem_above_max_redeem_is_refused_with_the_decoded_reason(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    me = devnet.depositor.address
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    max_redeem = vault.functions.maxRedeem(me).call()
    assert max_redeem > 0
    shares0 = vault.functions.balanceOf(me).call()
    asked = max_redeem + 1  # one share unit (1e-12 share) above the limit

    text = f"{asked // ONE_SHARE}.{asked % ONE_SHARE:012d}"
    p = fill_and_preview(page, "redeem", text)
    assert p["value"] == asked
    assert "Above your maxRedeem" in page.inner_text('[data-testid="note-redeem"]')
    page.click('[data-testid="submit-redeem"]')
    line = page.wait_for_selector('[data-testid="tx-status"] li[data-state="refused"]')

    message = line.inner_text()
    assert "ERC4626ExceededMaxRedeem" in message
    fmt = f"{max_redeem // ONE_SHARE:,}.{max_redeem % ONE_SHARE:012d}".rstrip("0").rstrip(".")
    assert f"can redeem at most {fmt} shares now" in message
    assert "free liquidity" in message
    assert wallet.sent == [], "a refused redeem sends nothing"
    assert vault.functions.balanceOf(me).call() == shares0
    assert tx_states(page) == ["checking", "refused"]
    page.locator('[data-testid="actions"]').scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "web-redeem-refused.png"), full_page=False)
