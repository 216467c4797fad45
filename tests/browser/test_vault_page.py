"""The depositors' web app in a real browser: what it shows, deposit, withdraw, a refused redeem,
and a queued redemption that becomes claimable after settlement and is claimed.

See conftest.py for the set-up (anvil + the demo's devnet, the frozen clock, the injected wallet
that signs with an anvil key). Tests run in file order and share the chain; each one checks the
page against the chain, not against the page's own numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_abi import decode
from eth_account import Account
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.artifacts import load_artifact
from keeper.chain.rounds import expiry_round
from keeper.devnet.tx import transact
from tests.browser.conftest import (
    SCREENSHOTS,
    Devnet,
    NodeCalls,
    PageClock,
    Wallet,
    wallet_page,
)

ONE_SHARE = 10**12  # the vault's shares have 6 + 6 (decimals offset) decimals

#: The actions card once a send is over (its busy class gone).
ACTIONS_IDLE = '[data-testid="actions"]:not(.busy)'


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


def submit_and_wait_for_the_send(page: Any, action: str) -> None:
    """Click ``action``'s submit and wait for the send it starts to end: the Actions card went
    busy, then idle (``window.__actionsBusy``, recorded by wallet.js). Whatever the send sends
    has been sent by then, so a test can check that nothing was."""
    n = page.evaluate("window.__actionsBusy.length")
    page.click(f'[data-testid="submit-{action}"]')
    page.wait_for_function(
        f"(() => {{ const s = window.__actionsBusy.slice({n}); "
        "const i = s.indexOf(true); return i >= 0 && s.indexOf(false, i) > i })()"
    )


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
    # The share price is convertToAssets(one share), in the asset's 6 decimals, as `keeper vault
    # info` shows it (it was the value of 1M shares, with 12 decimals: another number).
    price = fns.convertToAssets(ONE_SHARE).call(block_identifier=block)
    assert raw(page, "share-price") == price
    shown = page.inner_text('[data-testid="share-price"]')
    assert shown == f"{price // 10**6:,}.{price % 10**6:06d}".rstrip("0").rstrip(".") + " USDC"
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
    # The devnet gives each vault an ERC-7540 queue: found through redemptionQueue(), shown.
    panel = page.locator('[data-testid="queue-panel"]')
    assert panel.get_attribute("data-detected") == "true"
    assert panel.is_visible()
    queue = devnet.queue(vault_address)
    page.wait_for_selector(f'#queue-state[data-block="{block}"]')
    pending = queue.functions.totalPending().call(block_identifier=block)
    assert raw(page, "queue-total-pending") == pending
    assert raw(page, "queue-fillable") == queue.functions.fillable().call(block_identifier=block)
    reserved = fns.previewMint(pending).call(block_identifier=block)
    assert raw(page, "reserved") == reserved
    free = fns.freeQuote().call(block_identifier=block)
    assert raw(page, "free-instant") == max(free - reserved, 0)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "web-vault.png"), full_page=True)


def test_deposit_approves_the_exact_amount_then_mints_the_previewed_shares(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    clock = PageClock(page)
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
    # Held, the page's clock keeps its 12 s block poll away until the refresh after the send has
    # shown the deposit (below): it came from the send, not from the poll.
    with clock.held(devnet.w3.eth.block_number):
        page.click('[data-testid="submit-deposit"]')
        clock.run_until('[data-testid="result-deposit"]')
        result = page.query_selector('[data-testid="result-deposit"]')
        # Confirmed, the amount is emptied: left typed, a second click deposited it again.
        clock.run_until(ACTIONS_IDLE)
        assert page.input_value('[data-testid="input-deposit"]') == ""
        minted = vault.functions.balanceOf(me).call() - shares0
        # The refresh after the mined deposit shows it.
        clock.run_until(f'[data-testid="pos-shares"][data-raw="{minted}"]')

    assert result is not None
    assert len(wallet.sent) == 2, "approve, then deposit"
    approve = devnet.w3.eth.get_transaction(wallet.sent[0])
    assert approve["to"] == usdc.address
    spender, amount = decode(["address", "uint256"], bytes(approve["input"])[4:])
    assert (Web3.to_checksum_address(spender), amount) == (vault_address, p["value"])
    assert minted == p["preview"]
    assert cash0 - usdc.functions.balanceOf(me).call() == p["value"]
    assert int(result.get_attribute("data-shares")) == minted
    assert int(result.get_attribute("data-assets")) == p["value"]
    assert usdc.functions.allowance(me, vault_address).call() == 0
    assert tx_states(page) == ["checking", "signing", "pending", "confirmed"] * 2
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
    page.wait_for_selector(ACTIONS_IDLE)
    assert page.input_value('[data-testid="input-withdraw"]') == ""


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


def _preview_of(page: Any, action: str, text: str, value: int) -> int:
    """Type ``text`` and wait for the preview of exactly ``value``; returns its block."""
    page.fill(f'[data-testid="input-{action}"]', text)
    sel = f'[data-testid="preview-{action}"][data-state="ready"][data-value="{value}"]'
    return int(page.wait_for_selector(sel).get_attribute("data-block"))


def test_a_preview_typed_right_after_a_new_block_is_read_at_that_block(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # Previews are "at the latest block", but read the head through viem's 1 s block-number
    # cache: one typed within a second of the last read was computed at the block before.
    open_vault(page, server, busiest_vault(devnet))
    connect_wallet(page, devnet)
    for action, unit in [("deposit", 10**6), ("request", 10**12)]:
        block = _preview_of(page, action, "1", unit)
        devnet.rpc("evm_mine")
        assert _preview_of(page, action, "2", 2 * unit) == block + 1


def test_redeem_of_shares_worth_nothing_is_refused_before_sending(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # One share unit (1e-12 share) is worth 0 USDC units: the vault would burn it for nothing
    # (ERC-4626 lets a redeem pay 0). The page says so in the preview and sends nothing.
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    me = devnet.depositor.address
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    shares0 = vault.functions.balanceOf(me).call()
    assert shares0 > 0
    assert vault.functions.previewRedeem(1).call() == 0

    p = fill_and_preview(page, "redeem", "0.000000000001")
    assert p["value"] == 1
    assert p["preview"] == 0
    assert "worth 0 USDC" in page.inner_text('[data-testid="note-redeem"]')
    page.click('[data-testid="submit-redeem"]')
    line = page.wait_for_selector('[data-testid="tx-status"] li[data-state="refused"]')
    assert "worth 0 USDC" in line.inner_text()
    assert "Nothing was sent" in line.inner_text()
    assert wallet.sent == []
    assert vault.functions.balanceOf(me).call() == shares0
    # Queueing them is refused the same way, and its preview says so before the click.
    p = fill_and_preview(page, "request", "0.000000000001")
    assert p["preview"] == 0
    assert "worth 0 USDC" in page.inner_text('[data-testid="note-request"]')
    page.click('[data-testid="submit-request"]')
    line = page.wait_for_selector('[data-testid="queue-tx-status"] li[data-state="refused"]')
    assert "worth 0 USDC" in line.inner_text()
    assert "Nothing was sent" in line.inner_text()
    assert wallet.sent == []
    assert vault.functions.balanceOf(me).call() == shares0


#: The free quote the other holders leave in the vault before the page's depositor queues: less
#: than its position, so part of its request waits for the collateral a settlement frees.
FREE_LEFT = 600 * 10**6


def drain_free_quote(devnet: Devnet, vault_address: str, keep: int) -> None:
    """The demo's other holders withdraw instantly until about ``keep`` of free quote is left."""
    vault = devnet.vault(vault_address)
    keys = {Account.from_key(k).address: k for k in ANVIL_KEYS}
    owners = {e["args"]["owner"] for e in vault.events.Deposit().get_logs(from_block=0)}
    for owner in sorted(owners - {devnet.depositor.address}):
        free = vault.functions.freeQuote().call()
        if free <= keep:
            break
        if owner not in keys:
            continue
        amount = min(vault.functions.maxWithdraw(owner).call(), free - keep)
        if amount > 0:
            holder = Account.from_key(keys[owner])
            transact(devnet.w3, holder, vault.functions.withdraw(amount, owner, owner))
    assert vault.functions.freeQuote().call() == keep, "the demo's holders hold enough"


def settle_everything(devnet: Devnet, vault_address: str) -> None:
    """Outside the page: past every expiry, one oracle round, settle each series, fill the queue."""
    vault, queue = devnet.vault(vault_address), devnet.queue(vault_address)
    admin = Account.from_key(ANVIL_KEYS[0])
    series = vault.functions.openSeries().call()
    now = max(s[4] for s in series) + 60
    devnet.rpc("evm_setNextBlockTimestamp", now)
    feed_address = vault.functions.oracle().call()
    feed = devnet.w3.eth.contract(
        address=feed_address,
        abi=[
            {
                "type": "function",
                "name": name,
                "stateMutability": mut,
                "inputs": ins,
                "outputs": outs,
            }
            for name, mut, ins, outs in [
                ("updateAnswer", "nonpayable", [{"name": "a", "type": "int256"}], []),
                ("latestAnswer", "view", [], [{"name": "", "type": "int256"}]),
            ]
        ],
    )
    transact(devnet.w3, admin, feed.functions.updateAnswer(feed.functions.latestAnswer().call()))
    for s in series:
        hint = expiry_round(devnet.w3, feed_address, s[4], now)
        assert hint is not None
        transact(devnet.w3, admin, vault.functions.settle(s[0], hint))
    assert vault.functions.openSeries().call() == []
    transact(devnet.w3, admin, queue.functions.fill())


def test_a_queued_redemption_becomes_claimable_after_settlement_and_is_claimed(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    vault_address = busiest_vault(devnet)
    vault, usdc, queue = devnet.vault(vault_address), devnet.usdc, devnet.queue(vault_address)
    me = devnet.depositor.address
    drain_free_quote(devnet, vault_address, FREE_LEFT)
    shares = vault.functions.balanceOf(me).call()
    assert vault.functions.convertToAssets(shares).call() > FREE_LEFT, "more than the free quote"
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)

    # 1. Request redeem of every share: the approval of the queue first, then the request.
    page.click('[data-testid="max-request"]')
    sel = '[data-testid="preview-request"]'
    page.wait_for_selector(f'{sel}[data-state="ready"][data-value="{shares}"]')
    block = int(page.get_attribute(sel, "data-block"))
    value = vault.functions.convertToAssets(shares).call(block_identifier=block)
    assert int(page.get_attribute(sel, "data-preview")) == value
    preview = page.inner_text(sel)
    assert "paid at the NAV when a fill takes them" in preview
    assert "Approves exactly" in page.inner_text('[data-testid="note-request"]')
    assert shares > vault.functions.maxRedeem(me).call(), "not an instant exit"
    page.click('[data-testid="submit-request"]')
    page.wait_for_selector('[data-testid="result-request"]')
    assert len(wallet.sent) == 2, "approve, then requestRedeem"
    approve = devnet.w3.eth.get_transaction(wallet.sent[0])
    assert approve["to"] == vault.address
    spender, amount = decode(["address", "uint256"], bytes(approve["input"])[4:])
    assert (Web3.to_checksum_address(spender), amount) == (queue.address, shares)
    assert vault.functions.balanceOf(me).call() == 0
    assert queue.functions.pendingRedeemRequest(0, me).call() == shares
    assert tx_states(page) == ["checking", "signing", "pending", "confirmed"] * 2

    # 2. The page shows the request pending, and the part the free quote serves as fillable.
    page.wait_for_function(
        f"document.querySelector('[data-testid=queue-pending]')?.dataset.raw === '{shares}'"
    )
    fillable = queue.functions.fillable().call()
    assert 0 < fillable < shares, "part of it waits for collateral"
    assert raw(page, "queue-fillable") == fillable
    assert raw(page, "free-instant") == 0, "the queue's reserve takes the whole free quote"

    # Nothing is claimable yet: a claim is refused with the queue's decoded reason, nothing sent.
    sent0 = len(wallet.sent)
    page.fill('[data-testid="input-claim"]', "1")
    page.wait_for_selector('[data-testid="preview-claim"][data-state="ready"]')
    assert "Above your claimable assets" in page.inner_text('[data-testid="note-claim"]')
    page.click('[data-testid="submit-claim"]')
    line = page.wait_for_selector('[data-testid="queue-tx-status"] li[data-state="refused"]')
    message = line.inner_text()
    assert "Refused by the redemption queue" in message
    assert "RedemptionQueueExceedsClaimable" in message
    assert "You asked to claim 1 USDC but only 0 USDC is claimable" in message
    assert len(wallet.sent) == sent0
    assert tx_states(page)[-2:] == ["checking", "refused"]

    # 3. Anyone may fill: the page's own "Fill queue" fills the part the free quote serves.
    fill = page.locator('[data-testid="preview-fill"]')
    want_shares, want_assets = (
        int(fill.get_attribute("data-shares")),
        int(fill.get_attribute("data-assets")),
    )
    assert want_shares == fillable
    page.click('[data-testid="submit-fill"]')
    result = page.wait_for_selector('[data-testid="result-fill"]')
    assert int(result.get_attribute("data-shares")) == want_shares
    assert int(result.get_attribute("data-assets")) == want_assets
    # The only request gets the whole fill, less the queue's dust rule (IRedemptionQueue): its
    # pending shares round down (so its claimable shares may count one unit more than the fill
    # redeemed) and its assets round down (at most one unit stays in the queue).
    filled = queue.functions.claimableRedeemRequest(0, me).call()
    still = queue.functions.pendingRedeemRequest(0, me).call()
    assert filled + still == shares
    assert want_shares <= filled <= want_shares + 1
    assert still > 0
    assert want_assets - 1 <= queue.functions.maxWithdraw(me).call() <= want_assets
    page.wait_for_function(
        f"document.querySelector('[data-testid=queue-claimable]')?.dataset.raw === '{filled}'"
    )
    assert raw(page, "queue-pending") == still
    page.locator('[data-testid="queue-panel"]').scroll_into_view_if_needed()
    page.locator('[data-testid="queue-panel"]').screenshot(path=str(SCREENSHOTS / "web-queue.png"))

    # 4. Outside the page: expiry, settlement, and the keeper's fill after it.
    settle_everything(devnet, vault_address)
    assert queue.functions.pendingRedeemRequest(0, me).call() == 0, "filled in full"
    claimable_shares = queue.functions.claimableRedeemRequest(0, me).call()
    claimable = queue.functions.maxWithdraw(me).call()
    assert claimable_shares == shares
    page.click('[data-testid="refresh"]')
    page.wait_for_function(
        "document.querySelector('[data-testid=queue-claimable-assets]')?.dataset.raw === "
        f"'{claimable}'"
    )
    assert raw(page, "queue-pending") == 0
    assert raw(page, "queue-claimable") == claimable_shares

    # 5. Claim it all: the USDC balance rises by exactly the claimable assets.
    cash0 = usdc.functions.balanceOf(me).call()
    sent0 = len(wallet.sent)
    page.click('[data-testid="max-claim"]')
    sel = '[data-testid="preview-claim"]'
    page.wait_for_selector(f'{sel}[data-state="ready"][data-value="{claimable}"]')
    assert int(page.get_attribute(sel, "data-preview")) == claimable_shares
    page.click('[data-testid="submit-claim"]')
    result = page.wait_for_selector('[data-testid="result-claim"]')
    assert len(wallet.sent) == sent0 + 1
    assert usdc.functions.balanceOf(me).call() - cash0 == claimable
    assert int(result.get_attribute("data-assets")) == claimable
    assert int(result.get_attribute("data-shares")) == claimable_shares
    assert queue.functions.maxWithdraw(me).call() == 0
    line = page.locator('[data-testid="queue-tx-status"] li').first
    assert line.get_attribute("data-state") == "confirmed"
    assert tx_states(page)[-4:] == ["checking", "signing", "pending", "confirmed"]
    page.wait_for_function(
        "document.querySelector('[data-testid=queue-claimable-assets]')?.dataset.raw === '0'"
    )


def test_shares_sent_to_the_queue_without_a_request_are_shown_and_discarded_by_a_fill(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    """A holder transfers shares to the queue (no request): the page shows them as reserved and
    nobody's, and its "Fill queue" discards them, which frees the reserve."""
    vault_address = busiest_vault(devnet)
    vault, queue = devnet.vault(vault_address), devnet.queue(vault_address)
    keys = {Account.from_key(k).address: k for k in ANVIL_KEYS}
    owners = {e["args"]["owner"] for e in vault.events.Deposit().get_logs(from_block=0)}
    holder = next(
        Account.from_key(keys[o])
        for o in sorted(owners)
        if o in keys and vault.functions.balanceOf(o).call() > 0
    )
    sent = vault.functions.balanceOf(holder.address).call() // 10
    pending = queue.functions.totalPending().call()
    transact(devnet.w3, holder, vault.functions.transfer(queue.address, sent))
    held = vault.functions.balanceOf(queue.address).call()
    assert held == pending + sent

    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    page.wait_for_selector('[data-testid="queue-unrequested"]')
    assert raw(page, "queue-unrequested") == sent
    assert raw(page, "queue-total-pending") == pending
    assert raw(page, "reserved") == vault.functions.previewMint(held).call(), "as the vault does"
    preview = page.locator('[data-testid="preview-fill"]')
    assert int(preview.get_attribute("data-unrequested")) == sent
    assert "discards" in preview.inner_text()

    sent0 = len(wallet.sent)
    page.click('[data-testid="submit-fill"]')
    result = page.wait_for_selector('[data-testid="result-fill"]')
    assert len(wallet.sent) == sent0 + 1
    assert int(result.get_attribute("data-discarded")) == sent
    discard = queue.functions.DISCARD().call()
    assert vault.functions.balanceOf(discard).call() >= sent
    assert vault.functions.balanceOf(queue.address).call() == queue.functions.totalPending().call()
    page.wait_for_function("!document.querySelector('[data-testid=queue-unrequested]')")
    reserved = vault.functions.previewMint(queue.functions.totalPending().call()).call()
    page.wait_for_function(
        f"document.querySelector('[data-testid=reserved]')?.dataset.raw === '{reserved}'"
    )


def _deposits_of(devnet: Devnet, vault_address: str, owner: str) -> int:
    vault = devnet.vault(vault_address)
    return sum(e["args"]["owner"] == owner for e in vault.events.Deposit().get_logs(from_block=0))


def _ready_to_deposit(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> tuple[str, str, int, int]:
    """A vault open for deposits, 1 USDC approved to it, its page open with the wallet connected.

    Returns the vault, the depositor, its deposits so far and the wallet's sends so far.
    """
    vault_address = _vault_open_for_deposits(devnet)
    me = devnet.depositor.address
    _approve_exactly(devnet, vault_address, 10**6)
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    return vault_address, me, _deposits_of(devnet, vault_address, me), len(wallet.sent)


def _retype(page: Any, action: str, text: str) -> str:
    """Empty ``action``'s input (its preview cleared), then type ``text``; returns the preview's
    selector, whose state is then the new text's alone (not one left from the text before)."""
    sel = f'[data-testid="preview-{action}"]'
    page.fill(f'[data-testid="input-{action}"]', "")
    page.wait_for_selector(f"{sel}:not([data-state])", state="attached")
    page.fill(f'[data-testid="input-{action}"]', text)
    return sel


def _refused_amounts(
    page: Any, server: str, devnet: Devnet, wallet: Wallet, cases: list[tuple[str, str]]
) -> list[str]:
    """Each ``(action, amount)`` typed on the busiest vault's page: the error each preview shows.

    Every preview must end in an error, and a deposit submitted after them sends nothing.
    """
    open_vault(page, server, busiest_vault(devnet))
    connect_wallet(page, devnet)
    sent0 = len(wallet.sent)
    errors = []
    for action, text in cases:
        sel = _retype(page, action, text)
        page.wait_for_selector(f'{sel}[data-state="error"]')
        errors.append(page.inner_text(sel))
    submit_and_wait_for_the_send(page, "deposit")
    assert len(wallet.sent) == sent0, "nothing is sent for an amount the page refused"
    return errors


def test_a_decimal_comma_is_refused_not_read_as_a_thousands_separator(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The amount parser deleted every comma: "0,5" (a decimal comma) became 5, ten times what
    # was meant, and "1,500" (1.5 in much of Europe) became 1500. Only the page's own grouping,
    # threes before a '.' ("2,500.123457", the deposit test), is still read.
    cases = [("deposit", t) for t in ("0,5", "1,5", "1,500", "1,50.5", "1.500,25")]
    for text in _refused_amounts(page, server, devnet, wallet, cases):
        assert "comma" in text, text


def test_an_amount_beyond_uint256_is_refused_in_the_pages_words(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # An amount above 2**256 - 1 token units reached viem, whose encoder's message was shown:
    # 'Number "1000…" is not in safe 256-bit unsigned integer range (0 to 1157…)'.
    huge = "1" + "0" * 80
    cases = [(action, huge) for action in ("deposit", "redeem", "request")]
    for text in _refused_amounts(page, server, devnet, wallet, cases):
        assert "too large" in text.lower(), text
        assert "256-bit" not in text, text


def test_a_double_click_on_submit_sends_the_action_once(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # send() set its busy flag only after awaiting the wallet's chain: a second submit in that
    # gap went through too, and a double click deposited twice.
    clock = PageClock(page)
    vault_address = busiest_vault(devnet)
    me = devnet.depositor.address
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    deposits0, sent0 = _deposits_of(devnet, vault_address, me), len(wallet.sent)
    fill_and_preview(page, "deposit", "1")
    with clock.held(devnet.w3.eth.block_number):
        page.dblclick('[data-testid="submit-deposit"]')
        clock.run_until('[data-testid="result-deposit"]')
        # Room for a second send to show up: 5 s of the page's own time (its receipt waits poll
        # every second), its requests all answered, however slow the machine.
        clock.run_on(5_000)
    assert _deposits_of(devnet, vault_address, me) == deposits0 + 1
    assert len(wallet.sent) == sent0 + 2  # the exact approval, then the one deposit


def _vault_open_for_deposits(devnet: Devnet) -> str:
    me = devnet.depositor.address
    for v in devnet.addresses["vaults"]:
        if devnet.vault(v).functions.maxDeposit(me).call() > 0:
            return str(v)
    raise AssertionError("no vault takes deposits")


def _approve_exactly(devnet: Devnet, vault_address: str, amount: int) -> None:
    """The depositor's approval, outside the page: the page then sends the deposit alone."""
    transact(devnet.w3, devnet.depositor, devnet.usdc.functions.approve(vault_address, amount))


def _replace_in_its_nonce(devnet: Devnet, tx_hash: str, how: str) -> str:
    """Put a replacement in ``tx_hash``'s nonce at twice its fees, as a wallet's "cancel" (a
    0-value transfer to oneself) or "speed up" (``repriced``: the same call); returns its hash."""
    w3 = devnet.w3
    original = w3.eth.get_transaction(tx_hash)
    cancel = how == "cancelled"
    signed = devnet.depositor.sign_transaction(
        {
            "type": 2,
            "chainId": w3.eth.chain_id,
            "nonce": original["nonce"],
            "to": devnet.depositor.address if cancel else original["to"],
            "data": "0x" if cancel else original["input"],
            "value": 0,
            "gas": 21_000 if cancel else original["gas"],
            "maxFeePerGas": 2 * original["maxFeePerGas"],
            "maxPriorityFeePerGas": 2 * original["maxPriorityFeePerGas"],
        }
    )
    return w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()


def _read_pending(tx_hash: str) -> Callable[[NodeCalls], bool]:
    """Whether the page's receipt wait has read ``tx_hash`` by its hash (still pending: this
    is where viem learns its sender and nonce) and gone on to ask its receipt."""
    tx_hash = tx_hash.lower()

    def asked(node: NodeCalls) -> bool:
        calls = node.calls
        about = [str(p[0]).lower() == tx_hash if p else False for _, p in calls]
        read = [i for i, (m, _) in enumerate(calls) if m == "eth_getTransactionByHash" and about[i]]
        return bool(read) and any(
            m == "eth_getTransactionReceipt" and about[i]
            for i, (m, _) in enumerate(calls)
            if i > read[0]
        )

    return asked


def _deposit_replaced(
    page: Any, devnet: Devnet, wallet: Wallet, sent0: int, how: str, calls: NodeCalls | None = None
) -> str:
    """Submit the previewed deposit with mining held, replace it in its nonce (``how``, see
    :func:`_replace_in_its_nonce`) once it shows pending (and, given ``calls``, once the page's
    receipt wait has read it: :func:`_read_pending`), then mine the replacement alone; returns
    its hash."""
    devnet.rpc("evm_setAutomine", False)
    try:
        page.click('[data-testid="submit-deposit"]')
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="pending"]')
        assert len(wallet.sent) == sent0 + 1
        if calls is not None:
            calls.wait_for(_read_pending(wallet.sent[-1]))
        replacement = _replace_in_its_nonce(devnet, wallet.sent[-1], how)
        devnet.rpc("evm_mine")
    finally:
        devnet.rpc("evm_setAutomine", True)
    return replacement


def _replaced_deposit_shown(
    page: Any, devnet: Devnet, vault_address: str, deposits0: int, how: str, replacement: str
) -> None:
    """The deposit's line says what its replacement did: cancelled (no deposit, never called
    confirmed) or sped up (confirmed under the replacement's hash, 1 USDC deposited)."""
    me = devnet.depositor.address
    assert devnet.w3.eth.get_transaction_receipt(replacement)["status"] == 1
    line = page.locator('[data-testid="tx-status"] li').first
    if how == "cancelled":
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="cancelled"]')
        assert "confirmed" not in tx_states(page)
        assert _deposits_of(devnet, vault_address, me) == deposits0
        assert page.locator('[data-testid="result-deposit"]').count() == 0
        assert "cancelled" in line.inner_text().lower()
    else:
        result = page.wait_for_selector('[data-testid="result-deposit"]')
        assert line.get_attribute("data-state") == "confirmed"
        assert replacement[:6] in line.inner_text()
        assert "sped up" in line.inner_text()
        assert _deposits_of(devnet, vault_address, me) == deposits0 + 1
        assert int(result.get_attribute("data-assets")) == 10**6


@pytest.mark.parametrize("how", ["cancelled", "repriced"])
def test_a_transaction_the_wallet_replaced_is_shown_as_what_happened(
    page: Any, server: str, devnet: Devnet, wallet: Wallet, how: str
) -> None:
    # viem's receipt wait follows a replacement and resolves with the replacement's receipt: a
    # deposit the wallet cancelled (a 0-value transfer to oneself in its nonce) showed as
    # "confirmed". A cancelled action must say so; a sped-up one (same call, higher fee) is the
    # action itself, confirmed under its new hash.
    vault_address, _, deposits0, sent0 = _ready_to_deposit(page, server, devnet, wallet)
    fill_and_preview(page, "deposit", "1")
    # The page's receipt wait has read the pending transaction before it is replaced.
    calls = NodeCalls(page, devnet.node.url)
    replacement = _deposit_replaced(page, devnet, wallet, sent0, how, calls)
    _replaced_deposit_shown(page, devnet, vault_address, deposits0, how, replacement)


def _fail_rpc_calls(page: Any, devnet: Devnet, failing: Any, reply: Any = None) -> None:
    """Answer the page's JSON-RPC calls to the node for which ``failing(call)`` holds with an
    RPC error, or with ``reply`` (``{"result": None}``: the node does not know it; or a function
    of the call giving that answer); in a batch, those calls alone. The others go to the node."""
    reply = reply or {"error": {"code": -32000, "message": "injected"}}
    node = devnet.node.url.rstrip("/")

    def fault(route: Any) -> None:
        body = route.request.post_data_json
        calls = body if isinstance(body, list) else [body]
        if not any(failing(c) for c in calls):
            route.continue_()
            return
        answer = route.fetch()
        results = answer.json()
        results = results if isinstance(results, list) else [results]
        by_id = {c["id"]: c for c in calls}
        out = [
            {
                "jsonrpc": "2.0",
                "id": r["id"],
                **(reply(by_id[r["id"]]) if callable(reply) else reply),
            }
            if r["id"] in by_id and failing(by_id[r["id"]])
            else r
            for r in results
        ]
        route.fulfill(response=answer, json=out if isinstance(body, list) else out[0])

    page.route(lambda url: url.rstrip("/") == node, fault)


def test_a_receipt_wait_that_fails_is_said_not_left_pending(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The receipt wait was not guarded: when it threw (the RPC failing, viem's 3-minute timeout)
    # the line stayed "pending" for good and the error went uncaught. viem retries the failing
    # lookup 6 times over 12.6 s of backoff, which the page's clock skips (not the retries).
    clock = PageClock(page)
    vault_address, me, deposits0, sent0 = _ready_to_deposit(page, server, devnet, wallet)
    fill_and_preview(page, "deposit", "1")
    failing = {"eth_getTransactionReceipt", "eth_getTransactionByHash"}
    _fail_rpc_calls(page, devnet, lambda call: call.get("method") in failing)
    page.click('[data-testid="submit-deposit"]')
    sel = '[data-testid="tx-status"] li[data-state="unknown"]'
    # Ahead by a minute at most: as in a real wait of 90 s, the wait ends by the failed lookups,
    # never by viem's 3-minute timeout.
    clock.wait_for(sel, ahead_s=60)
    text = page.inner_text(sel)
    assert wallet.sent[-1][:6] in text
    assert "check" in text
    # The deposit was sent once and mined; the page could not read its receipt, and says that
    # rather than calling it failed or confirmed.
    assert len(wallet.sent) == sent0 + 1
    assert _deposits_of(devnet, vault_address, me) == deposits0 + 1
    assert "confirmed" not in tx_states(page)


def test_the_wrong_chain_alert_clears_once_the_wallet_is_on_the_vaults_chain(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The alert stayed up after the wallet moved to the right chain, and a send refused for the
    # chain left no way to tell the wallet had since switched.
    vault_address = _vault_open_for_deposits(devnet)
    open_vault(page, server, vault_address)
    page.evaluate("window.__walletRefuseSwitch = true; window.__walletSetChain('0x1')")
    page.click('[data-testid="connect"]')
    alert = page.locator('[data-testid="alert"]')
    alert.wait_for(state="visible")
    assert "chain 1" in alert.inner_text()
    page.evaluate("window.__walletSetChain(null)")
    alert.wait_for(state="hidden")

    page.evaluate("window.__walletSetChain('0x1')")
    alert.wait_for(state="visible")
    sent0 = len(wallet.sent)
    fill_and_preview(page, "deposit", "1")
    page.click('[data-testid="submit-deposit"]')
    page.wait_for_function(
        "document.querySelector('[data-testid=alert]')?.textContent.includes('switch it to chain')"
    )
    assert len(wallet.sent) == sent0
    page.evaluate("window.__walletRefuseSwitch = false")
    page.click('[data-testid="submit-deposit"]')
    page.wait_for_selector('[data-testid="result-deposit"]')
    assert alert.is_hidden()
    assert len(wallet.sent) > sent0


def _feed(devnet: Devnet, vault_address: str) -> Any:
    address = devnet.vault(vault_address).functions.oracle().call()
    return devnet.w3.eth.contract(address=address, abi=load_artifact("MockV3Aggregator").abi)


def _holder(devnet: Devnet, vault_address: str) -> str:
    """The vault's depositor with the most shares (worth at least one token unit)."""
    vault = devnet.vault(vault_address)
    owners = {e["args"]["owner"] for e in vault.events.Deposit().get_logs(from_block=0)}
    holder = max(sorted(owners), key=lambda o: vault.functions.balanceOf(o).call())
    assert vault.functions.previewRedeem(vault.functions.balanceOf(holder).call()).call() > 0
    return str(holder)


@contextmanager
def _refreshed(page: Any, devnet: Devnet, clock: PageClock) -> Iterator[None]:
    """The body changes the chain; then Refresh is clicked, and the page must show the new head.

    The page's clock is held throughout (:meth:`PageClock.held`): what the page shows then came
    from the click, not from its 12 s poll, however slow the browser.
    """
    with clock.held(devnet.w3.eth.block_number):
        yield
        page.click('[data-testid="refresh"]')
        clock.run_until(f'#main[data-block="{devnet.w3.eth.block_number}"]')


def test_refresh_right_after_a_new_block_shows_that_block(
    page: Any, server: str, devnet: Devnet
) -> None:
    # The page read the head through viem's block-number cache (1 s): a Refresh clicked within
    # a second of the last read showed the block before, and so did the refresh after a sent
    # transaction; the page caught up only at its next 12 s poll.
    clock = PageClock(page)
    vault_address = busiest_vault(devnet)
    open_vault(page, server, vault_address)
    for _ in range(3):
        with _refreshed(page, devnet, clock):
            devnet.rpc("evm_mine")


def _exits(page: Any) -> tuple[str, str]:
    """The page's instant-exit state ("true"/"false") and its note on why they are closed."""
    state = str(page.get_attribute('[data-testid="exits-open"]', "data-raw"))
    note = page.locator('[data-testid="exits-closed"]')
    return state, note.inner_text() if note.count() else ""


def test_an_expired_series_awaiting_settlement_closes_exits_on_the_page(
    page: Any, server: str, devnet: Devnet
) -> None:
    # "Free for instant exits" and "Status: active" ignored the vault's other exit closures: the
    # page showed the free quote as free while maxWithdraw was 0 for everyone.
    admin = Account.from_key(ANVIL_KEYS[0])
    w3 = devnet.w3
    vaults = [
        v for v in devnet.addresses["vaults"] if devnet.vault(v).functions.openSeries().call()
    ]
    assert vaults, "a vault with open options"
    vault_address = str(vaults[0])
    vault = devnet.vault(vault_address)
    series = vault.functions.openSeries().call()
    first = min(series, key=lambda s: s[4])
    now = w3.eth.get_block("latest")["timestamp"]
    if first[4] > now:
        devnet.rpc("evm_setNextBlockTimestamp", first[4] + 1)
    feed = _feed(devnet, vault_address)
    transact(w3, admin, feed.functions.updateAnswer(feed.functions.latestAnswer().call()))
    holder = _holder(devnet, vault_address)
    assert vault.functions.freeQuote().call() > 0
    assert vault.functions.maxWithdraw(holder).call() == 0, "exits wait for the settlement"
    assert vault.functions.maxDeposit(holder).call() == 0

    open_vault(page, server, vault_address)
    assert raw(page, "free-instant") == 0
    state, text = _exits(page)
    assert state == "false"
    assert "expired" in text
    assert f"#{first[0]}" in text
    assert page.get_attribute('[data-testid="deposits-open"]', "data-raw") == "false"
    page.screenshot(path=str(SCREENSHOTS / "web-exits-closed.png"))


def _settled_busiest_vault(devnet: Devnet) -> tuple[str, Any, str, Any, int]:
    """The busiest vault with no expired series left to close its exits: its address, contract,
    a holder of its shares, its feed and the feed's answer."""
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    if vault.functions.openSeries().call():
        settle_everything(devnet, vault_address)
    feed = _feed(devnet, vault_address)
    holder = _holder(devnet, vault_address)
    return vault_address, vault, holder, feed, feed.functions.latestAnswer().call()


def _pause(w3: Web3, admin: Any, vault: Any) -> None:
    """Pause ``vault`` as ``admin``, granting itself the pauser role first."""
    pauser = vault.functions.PAUSER_ROLE().call()
    transact(w3, admin, vault.functions.grantRole(pauser, admin.address))
    transact(w3, admin, vault.functions.pause())


def test_a_stale_oracle_closes_exits_also_while_the_vault_is_paused(
    page: Any, server: str, devnet: Devnet
) -> None:
    admin = Account.from_key(ANVIL_KEYS[0])
    w3 = devnet.w3
    vault_address, vault, holder, feed, answer = _settled_busiest_vault(devnet)
    now = w3.eth.get_block("latest")["timestamp"]
    assert vault.functions.hedgeInventory().call() > 0 or vault.functions.openSeries().call(), (
        "the vault's NAV depends on the price, so a stale oracle closes its exits"
    )
    heartbeat = vault.functions.thresholds().call()[7]
    queue = devnet.queue(vault_address)
    clock = PageClock(page)
    open_vault(page, server, vault_address)
    assert _exits(page) == ("true", "")
    try:
        # Paused: deposits close, exits stay open.
        with _refreshed(page, devnet, clock):
            _pause(w3, admin, vault)
        assert vault.functions.maxWithdraw(holder).call() > 0
        assert _exits(page)[0] == "true"
        assert page.get_attribute('[data-testid="deposits-open"]', "data-raw") == "false"
        reserved = vault.functions.previewMint(queue.functions.totalPending().call()).call()
        free = vault.functions.freeQuote().call()
        assert raw(page, "free-instant") == max(free - reserved, 0) > 0
        # Paused and stale: exits close too (maxDeposit is 0 for the pause alone, so the page
        # reads the oracle as the vault does).
        round_id = feed.functions.latestRound().call() + 1
        stale = now - heartbeat - 1
        with _refreshed(page, devnet, clock):
            transact(w3, admin, feed.functions.updateRoundData(round_id, answer, stale, stale))
        assert vault.functions.maxWithdraw(holder).call() == 0
        state, text = _exits(page)
        assert state == "false"
        assert "stale" in text
        assert raw(page, "free-instant") == 0
        # Unpaused, still stale: closed, as the vault's own maxDeposit says.
        with _refreshed(page, devnet, clock):
            transact(w3, admin, vault.functions.unpause())
        assert _exits(page)[0] == "false"
        assert page.get_attribute('[data-testid="deposits-open"]', "data-raw") == "false"
    finally:
        with _refreshed(page, devnet, clock):
            if vault.functions.paused().call():
                transact(w3, admin, vault.functions.unpause())
            transact(w3, admin, feed.functions.updateAnswer(answer))
    assert _exits(page)[0] == "true"
    assert page.get_attribute('[data-testid="deposits-open"]', "data-raw") == "true"


def test_a_round_dated_after_the_block_closes_exits_as_the_vault_does(
    page: Any, server: str, devnet: Devnet
) -> None:
    """The vault counts such a round as stale (a broken feed); the page, paused, reads it alike."""
    admin = Account.from_key(ANVIL_KEYS[0])
    w3 = devnet.w3
    vault_address, vault, holder, feed, answer = _settled_busiest_vault(devnet)
    clock = PageClock(page)
    open_vault(page, server, vault_address)
    assert _exits(page) == ("true", "")
    try:
        with _refreshed(page, devnet, clock):
            _pause(w3, admin, vault)
            future = w3.eth.get_block("latest")["timestamp"] + 86_400
            round_id = feed.functions.latestRound().call() + 1
            transact(w3, admin, feed.functions.updateRoundData(round_id, answer, future, future))
        assert vault.functions.maxWithdraw(holder).call() == 0
        state, text = _exits(page)
        assert state == "false"
        assert "after the block" in text
    finally:
        with _refreshed(page, devnet, clock):
            if vault.functions.paused().call():
                transact(w3, admin, vault.functions.unpause())
            transact(w3, admin, feed.functions.updateAnswer(answer))
    assert _exits(page)[0] == "true"


def test_a_feed_read_the_rpc_fails_is_not_taken_for_a_dead_oracle(
    page: Any, server: str, devnet: Devnet
) -> None:
    # While the vault is paused the page reads the feeds itself: an RPC error on that read was
    # taken for a feed that does not answer, and exits were shown closed. Now the refresh fails
    # and says it could not read the vault.
    admin = Account.from_key(ANVIL_KEYS[0])
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    feed = str(vault.functions.oracle().call()).lower()
    _pause(devnet.w3, admin, vault)
    try:
        open_vault(page, server, vault_address)
        assert _exits(page) == ("true", "")
        _fail_rpc_calls(
            page,
            devnet,
            lambda c: (
                c.get("method") == "eth_call" and str(c["params"][0].get("to", "")).lower() == feed
            ),
        )
        page.click('[data-testid="refresh"]')
        error = page.wait_for_selector("#stats .error", timeout=60_000)
        assert "Cannot read the vault" in error.inner_text()
        assert page.locator('[data-testid="exits-closed"]').count() == 0
    finally:
        transact(devnet.w3, admin, vault.functions.unpause())


def test_a_deposit_the_vault_would_refuse_sends_no_approval_either(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The page approved first and asked the vault second: with deposits closed (here, paused)
    # the approval was sent and mined, then the deposit refused, leaving an approval for nothing.
    admin = Account.from_key(ANVIL_KEYS[0])
    vault_address = busiest_vault(devnet)
    vault = devnet.vault(vault_address)
    me = devnet.depositor.address
    _approve_exactly(devnet, vault_address, 0)
    _pause(devnet.w3, admin, vault)
    try:
        assert vault.functions.maxDeposit(me).call() == 0
        open_vault(page, server, vault_address)
        connect_wallet(page, devnet)
        sent0 = len(wallet.sent)
        fill_and_preview(page, "deposit", "1")
        submit_and_wait_for_the_send(page, "deposit")  # an approval would have been sent
        line = page.wait_for_selector('[data-testid="tx-status"] li[data-state="refused"]')
        text = line.inner_text()
        assert "ERC4626ExceededMaxDeposit" in text
        assert "paused" in text
        assert len(wallet.sent) == sent0, "nothing is sent, not even the approval"
        assert devnet.usdc.functions.allowance(me, vault_address).call() == 0
        assert tx_states(page) == ["refused"]
    finally:
        transact(devnet.w3, admin, vault.functions.unpause())


def _calls_selector(call: dict[str, Any], selector: str) -> bool:
    if call.get("method") != "eth_call":
        return False
    tx = call["params"][0]
    return str(tx.get("data") or tx.get("input") or "").startswith(selector)


def test_an_rpc_that_fails_on_the_way_to_the_wallet_is_said_and_nothing_is_sent(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # A read that failed between the click and the wallet (the deposit's allowance read, the
    # preview's block number) was not caught: no line said anything, the preview stayed
    # "loading" for good, and the error went uncaught on the page.
    page.clock.install()  # the page's own clock: moved past viem's block-number cache below
    vault_address = _vault_open_for_deposits(devnet)
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    sent0 = len(wallet.sent)
    fill_and_preview(page, "deposit", "1")
    allowance = "0x" + Web3.keccak(text="allowance(address,address)").hex().removeprefix("0x")[:8]
    _fail_rpc_calls(page, devnet, lambda c: _calls_selector(c, allowance))
    page.click('[data-testid="submit-deposit"]')
    line = page.wait_for_selector('[data-testid="tx-status"] li[data-state="failed"]')
    assert "could not read the chain" in line.inner_text()
    assert "injected" in line.inner_text()
    # Wait for a handler still answering a poll: not waited for, its fulfill came after
    # Playwright had let the request through, and "Route is already handled!" failed the test.
    page.unroute_all(behavior="wait")

    _fail_rpc_calls(page, devnet, lambda c: c.get("method") == "eth_blockNumber")
    page.clock.fast_forward(1_500)  # past viem's 1 s cache of the block number
    page.fill('[data-testid="input-deposit"]', "2")
    sel = '[data-testid="preview-deposit"]'
    page.wait_for_selector(f'{sel}[data-state="error"]')
    assert "could not read the chain" in page.inner_text(sel)
    # The submit previews (loading, then its outcome) inside the send, and again once the send
    # has ended and the page refreshed (main.js: `send(...).then(update)`). Read at once after
    # the send, the state was whichever of the second preview's a loaded machine showed
    # ("loading"): the preview's states are recorded, and read once both previews are done.
    page.evaluate(
        """(sel) => { const el = document.querySelector(sel); window.__previewStates = [];
        new MutationObserver(() => window.__previewStates.push(el.dataset.state))
          .observe(el, { attributes: true, attributeFilter: ['data-state'] }) }""",
        sel,
    )
    submit_and_wait_for_the_send(page, "deposit")
    page.wait_for_function(
        """() => { const s = window.__previewStates;
        return s.filter((x) => x === 'loading').length >= 2 && s[s.length - 1] !== 'loading' }"""
    )
    assert page.get_attribute(sel, "data-state") == "error"
    assert len(wallet.sent) == sent0, "nothing is sent while the chain cannot be read"


def _ready_to_deposit_one(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> tuple[str, int]:
    """A vault open to deposits with no allowance left, open on the page with the wallet
    connected and 1 USDC typed and previewed in Deposit: (the vault, the wallet's sends so far).
    """
    vault_address = _vault_open_for_deposits(devnet)
    _approve_exactly(devnet, vault_address, 0)
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    sent0 = len(wallet.sent)
    fill_and_preview(page, "deposit", "1")
    return vault_address, sent0


def test_an_approval_whose_deposit_is_not_done_is_said_to_stay(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The approval was confirmed, the deposit then refused, and nothing said the approval was
    # still in place. Here the deposit's simulation fails (Playwright answers it with an RPC
    # error) after the page's exact approval was mined.
    vault_address, sent0 = _ready_to_deposit_one(page, server, devnet, wallet)
    me = devnet.depositor.address
    deposit = "0x" + Web3.keccak(text="deposit(uint256,address)").hex().removeprefix("0x")[:8]
    _fail_rpc_calls(page, devnet, lambda c: _calls_selector(c, deposit))
    try:
        page.click('[data-testid="submit-deposit"]')
        note = page.wait_for_selector('[data-testid="approval-left"]')
        assert len(wallet.sent) == sent0 + 1, "the approval alone"
        assert devnet.usdc.functions.allowance(me, vault_address).call() == 10**6
        assert "Your approval of 1 USDC to the vault stays" in note.inner_text()
        approved, refused = ["checking", "signing", "pending", "confirmed"], ["checking", "refused"]
        assert tx_states(page) == approved + refused
    finally:
        _approve_exactly(devnet, vault_address, 0)


def test_enter_pressed_right_after_typing_sends_the_amount_typed(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # Enter within the preview's 200 ms typing delay: the delayed preview then started while the
    # submit's own preview was being read (here every eth_call answers 400 ms late), superseded
    # it, and the submit found the preview "loading" and stopped, silently: nothing was sent.
    vault_address, me, deposits0, sent0 = _ready_to_deposit(page, server, devnet, wallet)
    node = devnet.node.url.rstrip("/")

    def slow(route: Any) -> None:
        body = route.request.post_data_json
        calls = body if isinstance(body, list) else [body]
        if any(c.get("method") == "eth_call" for c in calls):
            time.sleep(0.4)
        route.continue_()

    page.route(lambda url: url.rstrip("/") == node, slow)
    page.fill('[data-testid="input-deposit"]', "1")
    page.press('[data-testid="input-deposit"]', "Enter")
    result = page.wait_for_selector('[data-testid="result-deposit"]')
    assert int(result.get_attribute("data-assets")) == 10**6
    assert len(wallet.sent) == sent0 + 1
    assert _deposits_of(devnet, vault_address, me) == deposits0 + 1


# ---------------------------------------------------------- depositor walk-through (helper-95)

UNKNOWN_VAULT = "0x" + "12" * 20


def test_leaving_an_unknown_vault_address_shows_the_vault_again(
    page: Any, server: str, devnet: Devnet
) -> None:
    # A mistyped vault address in the URL shows "Unknown vault."; going Back (or clicking the
    # vault in the list) to the vault shown before must show it again, not leave the page on
    # "Unknown vault." until a reload.
    vault = devnet.addresses["vaults"][0]
    open_vault(page, server, vault)
    page.evaluate(f"location.hash = '#/vault/{UNKNOWN_VAULT}'")
    page.wait_for_function("document.querySelector('#main').textContent.includes('Unknown vault')")
    page.go_back()
    page.wait_for_selector('[data-testid="vault-head"]', timeout=5_000)
    # and by the vault list, after a second mistyped address
    page.evaluate(f"location.hash = '#/vault/{UNKNOWN_VAULT}'")
    page.wait_for_function("document.querySelector('#main').textContent.includes('Unknown vault')")
    page.click(f'[data-testid="vault-link"][data-vault="{vault}"]')
    page.wait_for_selector('[data-testid="vault-head"]', timeout=5_000)


@pytest.fixture
def page_authorized_on_chain_1(browser: Any, server: str, devnet: Devnet) -> Iterator[Any]:
    """A page whose wallet already exposes its account to the site (connected on an earlier
    visit, as MetaMask remembers) and is on chain 1, not the vaults' chain."""
    with wallet_page(browser, devnet, None, chain="0x1") as pg:
        yield pg


def test_a_wallet_already_connected_on_another_chain_is_alerted_at_load(
    page_authorized_on_chain_1: Any, server: str, devnet: Devnet
) -> None:
    # docs/web.md: "A wallet on another chain puts an alert at the top of the page". With a wallet
    # that already exposes its account (no Connect click), the page showed the position and no
    # alert: the user learned of the wrong chain only when a send asked to switch.
    page = page_authorized_on_chain_1
    open_vault(page, server, devnet.addresses["vaults"][0])
    page.wait_for_selector('[data-testid="pos-shares"]')  # the wallet's account is known
    alert = page.locator('[data-testid="alert"]')
    alert.wait_for(state="visible", timeout=5_000)
    assert "chain 1" in alert.inner_text()


#: Wraps the wallet's `on` (after wallet.js) so the test can emit wallet events to the page.
LISTENERS_JS = """
;(() => {
  const on = window.ethereum.on.bind(window.ethereum)
  window.__listeners = {}
  window.ethereum.on = (event, fn) => {
    ;(window.__listeners[event] ||= []).push(fn)
    on(event, fn)
  }
  window.__walletEmit = (event, value) =>
    (window.__listeners[event] || []).forEach((fn) => fn(value))
})()
"""


def test_a_refresh_for_the_previous_account_does_not_overwrite_the_new_accounts_position(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The wallet switches accounts while a refresh for the old one is still reading the chain
    # (a Refresh click, the 12 s poll, a slow RPC): the old account's snapshot, landing last, was
    # rendered as "Your position" and kept as the snapshot that the deposit's balance check
    # reads, while the top bar named the new account.
    page.add_init_script(script=LISTENERS_JS)
    vault = devnet.addresses["vaults"][0]
    open_vault(page, server, vault)
    connect_wallet(page, devnet)
    old = devnet.depositor.address
    new = Account.from_key(ANVIL_KEYS[9]).address  # unused by the demo: no USDC, no shares
    assert devnet.usdc.functions.balanceOf(new).call() == 0
    assert devnet.usdc.functions.balanceOf(old).call() > 0
    node = devnet.node.url.rstrip("/")
    old_hex = old.lower()[2:]
    held: list[Any] = []
    hold = {"on": True}

    def route(r: Any) -> None:
        if hold["on"] and old_hex in (r.request.post_data or "").lower():
            held.append(r)  # answered later, after the new account's refresh
            return
        r.continue_()

    page.route(lambda url: url.rstrip("/") == node, route)
    page.click('[data-testid="refresh"]')  # a refresh for the old account, held on the way
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the old account's refresh was not seen"
    page.evaluate(f"window.__walletEmit('accountsChanged', ['{new}'])")
    page.wait_for_function(
        f"document.querySelector('#position small')?.textContent.includes('{new[:6]}')"
    )
    hold["on"] = False
    for r in held:
        r.continue_()
    page.wait_for_timeout(3_000)  # the old refresh ends and renders
    assert page.inner_text('[data-testid="account"]').startswith(new[:6])
    header = page.inner_text("#position small")
    assert header.startswith(new[:6]), f"the position shown is {header}'s, the wallet is {new}"
    assert int(page.get_attribute('[data-testid="pos-asset"]', "data-raw")) == 0


def test_a_deposit_whose_receipt_is_unknown_is_not_said_to_be_not_done(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The page approves exactly, then deposits; the deposit is sent and mined but its receipt
    # cannot be read (the RPC failing). Its line rightly says it "may still be mined: check it",
    # but the approval note below it said "the deposit was not done" and that the approval "is
    # used by your next deposit": false (the deposit was done and used the approval up), and an
    # invitation to deposit again.

    clock = PageClock(page)  # skips viem's backoff between the failing receipt lookups
    vault_address, sent0 = _ready_to_deposit_one(page, server, devnet, wallet)
    me = devnet.depositor.address
    deposits0 = _deposits_of(devnet, vault_address, me)
    failing = {"eth_getTransactionReceipt", "eth_getTransactionByHash"}

    def the_deposits_receipt(call: dict[str, Any]) -> bool:
        # the second transaction the wallet sends (the first is the exact approval)
        return (
            call.get("method") in failing
            and len(wallet.sent) >= sent0 + 2
            and str(call["params"][0]).lower() == wallet.sent[sent0 + 1].lower()
        )

    _fail_rpc_calls(page, devnet, the_deposits_receipt)
    page.click('[data-testid="submit-deposit"]')
    clock.wait_for('[data-testid="tx-status"] li[data-state="unknown"]', ahead_s=60)
    page.wait_for_timeout(500)
    assert len(wallet.sent) == sent0 + 2, "the approval, then the deposit"
    assert _deposits_of(devnet, vault_address, me) == deposits0 + 1, "the deposit was mined"
    assert devnet.usdc.functions.allowance(me, vault_address).call() == 0, "approval used up"
    log = page.inner_text('[data-testid="tx-status"]')
    assert "was not done" not in log, log


def test_a_deposit_reverted_by_a_change_earlier_in_its_own_block_is_given_its_reason(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # docs/web.md: "A transaction that reverts on-chain is re-simulated at its parent block to
    # name the reason." The state that made it revert is most often set by a transaction earlier
    # in the same block (the page simulated it at the head just before sending), which the
    # parent block does not have: the re-simulation there succeeds and the page said "the vault
    # gave no reason". Here the vault is paused in the deposit's own block, ahead of it.

    w3 = devnet.w3
    admin = Account.from_key(ANVIL_KEYS[0])
    vault_address = _vault_open_for_deposits(devnet)
    vault = devnet.vault(vault_address)
    me = devnet.depositor.address
    _approve_exactly(devnet, vault_address, 10**6)
    pauser = vault.functions.PAUSER_ROLE().call()
    from keeper.devnet.tx import transact

    transact(w3, admin, vault.functions.grantRole(pauser, admin.address))
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    deposits0 = _deposits_of(devnet, vault_address, me)
    sent0 = len(wallet.sent)
    fill_and_preview(page, "deposit", "1")
    devnet.rpc("evm_setAutomine", False)
    try:
        page.click('[data-testid="submit-deposit"]')
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="pending"]')
        assert len(wallet.sent) == sent0 + 1
        base = int(w3.eth.get_block("latest")["baseFeePerGas"])
        tip = 50 * 10**9  # ahead of the deposit (1 gwei) in the block
        tx = vault.functions.pause().build_transaction(
            {
                "from": admin.address,
                "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
                "gas": 200_000,
                "maxFeePerGas": 2 * base + tip,
                "maxPriorityFeePerGas": tip,
            }
        )
        pause = w3.eth.send_raw_transaction(admin.sign_transaction(tx).raw_transaction)
        devnet.rpc("evm_mine")
    finally:
        devnet.rpc("evm_setAutomine", True)
    try:
        p = w3.eth.get_transaction_receipt(pause)
        d = w3.eth.get_transaction_receipt(wallet.sent[-1])
        assert p["status"] == 1
        assert d["status"] == 0
        assert p["blockNumber"] == d["blockNumber"]
        assert p["transactionIndex"] < d["transactionIndex"]
        line = page.wait_for_selector('[data-testid="tx-status"] li[data-state="reverted"]')
        text = line.inner_text()
        assert _deposits_of(devnet, vault_address, me) == deposits0
        assert "gave no reason" not in text, text
        assert "ERC4626ExceededMaxDeposit" in text, text
    finally:
        transact(w3, admin, vault.functions.unpause())
        _approve_exactly(devnet, vault_address, 0)


def test_a_claim_preview_the_rpc_fails_says_so_not_connect_your_wallet(
    page: Any, server: str, devnet: Devnet
) -> None:
    # The claim preview swallowed any error reading the queue and said "Connect your wallet to
    # see what you can claim." to a connected wallet. docs/web.md: "a preview that cannot be read
    # says *The page could not read the chain: …*".

    vault = devnet.addresses["vaults"][0]
    queue = devnet.queue(vault).address.lower()
    open_vault(page, server, vault)
    connect_wallet(page, devnet)

    def to_the_queue(call: dict[str, Any]) -> bool:
        return (
            call.get("method") == "eth_call"
            and str(call["params"][0].get("to", "")).lower() == queue
        )

    _fail_rpc_calls(page, devnet, to_the_queue)
    page.fill('[data-testid="input-claim"]', "1")
    sel = '[data-testid="preview-claim"]'
    page.wait_for_selector(f'{sel}[data-state="error"]')
    text = page.inner_text(sel)
    assert "Connect your wallet" not in text, text
    assert "could not read the chain" in text, text


def test_a_deposit_above_the_balance_now_sends_no_approval(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # The deposit's balance check read the page's last snapshot (up to a poll, 12 s, old; for
    # good while the poll's reads fail), not the chain: USDC spent elsewhere since then let the
    # page send the exact approval, and only the deposit's simulation then refused it, leaving an
    # approval paid for nothing. `keeper vault deposit` reads the balance first and sends nothing;
    # the page reads maxDeposit fresh for the same reason ("an approval for a deposit the vault
    # refuses is gas for nothing").
    from keeper.devnet.tx import transact

    w3 = devnet.w3
    vault_address, sent0 = _ready_to_deposit_one(page, server, devnet, wallet)
    me = devnet.depositor.address
    admin = Account.from_key(ANVIL_KEYS[0])
    balance = devnet.usdc.functions.balanceOf(me).call()
    assert balance >= 10**6
    try:
        # spent elsewhere (another tab, another dapp): the page has not refreshed yet
        transact(w3, devnet.depositor, devnet.usdc.functions.transfer(admin.address, balance))
        page.click('[data-testid="submit-deposit"]')
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="refused"]')
        page.wait_for_timeout(500)
        assert len(wallet.sent) == sent0, "an approval was sent for a deposit that cannot be made"
        assert devnet.usdc.functions.allowance(me, vault_address).call() == 0
        page.wait_for_selector(ACTIONS_IDLE)
        assert page.input_value('[data-testid="input-deposit"]') == "1", "a refusal keeps it"
    finally:
        transact(w3, admin, devnet.usdc.functions.transfer(me, balance))
        _approve_exactly(devnet, vault_address, 0)


def test_an_action_on_one_vault_is_not_reported_on_the_vault_shown_next(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # A deposit into vault A (the exact approval first) is pending; the user opens vault B in the
    # list meanwhile. The deposit's lines were written into whichever Actions log the page showed
    # when they were created: B's log then read "Deposit 1 USDC: confirmed … You paid 1 USDC,
    # minted … shares", a deposit into A reported on B's page.

    me = devnet.depositor.address
    # A vault open to deposits (an earlier test may leave one with an expired series waiting
    # for settlement, which closes them), and any other.
    vaults = devnet.addresses["vaults"]
    a = next(v for v in vaults if devnet.vault(v).functions.maxDeposit(me).call() > 0)
    b = next(v for v in vaults if v != a)
    _approve_exactly(devnet, a, 0)
    open_vault(page, server, a)
    connect_wallet(page, devnet)
    deposits0 = _deposits_of(devnet, a, me)
    fill_and_preview(page, "deposit", "1")
    devnet.rpc("evm_setAutomine", False)
    try:
        page.click('[data-testid="submit-deposit"]')
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="pending"]')  # approval
        page.click(f'[data-testid="vault-link"][data-vault="{b}"]')
        page.wait_for_selector(f'[data-testid="vault-address"]:has-text("{b}")')
        devnet.rpc("evm_mine")
    finally:
        devnet.rpc("evm_setAutomine", True)
    for _ in range(100):  # the deposit into A is mined
        if _deposits_of(devnet, a, me) == deposits0 + 1:
            break
        page.wait_for_timeout(100)
    assert _deposits_of(devnet, a, me) == deposits0 + 1
    # The page's receipt wait has ended, its lines written, and the send's closing refresh has
    # shown the deposit's block (a block poll in between is skipped while the send is busy).
    page.wait_for_selector(f'#main[data-block="{devnet.w3.eth.block_number}"]')
    assert page.inner_text('[data-testid="vault-address"]') == b
    log = page.inner_text('[data-testid="tx-status"]')
    assert "Deposit 1 USDC" not in log, f"vault B's page reports the deposit into vault A: {log}"


def test_a_refused_queue_action_keeps_the_amount_typed(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # Request redeem and Claim emptied their input after every action: a request the page
    # refused (more shares than held) or a claim the queue refused lost the amount typed, to be
    # typed again to correct it. The input is emptied only once the action is confirmed.
    from keeper.units import format_units

    me = devnet.depositor.address
    vault_address = _vault_open_for_deposits(devnet)
    vault, queue = devnet.vault(vault_address), devnet.queue(vault_address)
    _approve_exactly(devnet, vault_address, 10**6)
    transact(devnet.w3, devnet.depositor, vault.functions.deposit(10**6, me))  # shares to queue
    open_vault(page, server, vault_address)
    connect_wallet(page, devnet)
    idle = '[data-testid="queue-panel"]:not(.busy)'  # the send is over
    refused = '[data-testid="queue-tx-status"] li[data-state="refused"]'
    too_many = format_units(vault.functions.balanceOf(me).call() + ONE_SHARE, 12)
    too_much = format_units(queue.functions.maxWithdraw(me).call() + 10**6, 6)
    for n, (action, text) in enumerate([("request", too_many), ("claim", too_much)], start=1):
        fill_and_preview(page, action, text)
        page.click(f'[data-testid="submit-{action}"]')
        page.wait_for_function(f"document.querySelectorAll('{refused}').length === {n}")
        page.wait_for_selector(idle)
        assert page.input_value(f'[data-testid="input-{action}"]') == text, action
    assert "you hold only" in page.inner_text(f"{refused} >> nth=1").lower()
    assert "RedemptionQueueExceedsClaimable" in page.inner_text(f"{refused} >> nth=0")

    fill_and_preview(page, "request", "0.5")
    page.check('[data-testid="queue-anyway"]')  # maxRedeem covers them: queued on purpose
    page.click('[data-testid="submit-request"]')
    page.wait_for_selector('[data-testid="result-request"]')
    page.wait_for_selector(idle)
    assert page.input_value('[data-testid="input-request"]') == ""


def test_an_error_alert_clears_once_a_later_connect_succeeds(
    page: Any, server: str, devnet: Devnet
) -> None:
    # A refused connection put "User rejected the request." at the top of the page, and it
    # stayed there after the next Connect went through, over the position it had just read.
    open_vault(page, server, devnet.addresses["vaults"][0])
    page.evaluate("window.__walletRefuseConnect = true")
    page.click('[data-testid="connect"]')
    alert = page.locator('[data-testid="alert"]')
    alert.wait_for(state="visible")
    assert "rejected" in alert.inner_text()
    page.evaluate("window.__walletRefuseConnect = false")
    connect_wallet(page, devnet)
    alert.wait_for(state="hidden", timeout=5_000)


@pytest.mark.parametrize("how", ["cancelled", "repriced"])
def test_a_transaction_replaced_before_the_pages_node_saw_it_is_shown_as_what_happened(
    page: Any, server: str, devnet: Devnet, wallet: Wallet, how: str
) -> None:
    # The page's node never returns the sent deposit by its hash (the wallet's own node or a
    # private mempool took it, or the wallet replaced it before the page first looked). viem
    # tells a replacement only from the original's sender and nonce, which it read from that
    # transaction: the sped-up deposit stayed pending until viem's 3 minutes ran out and ended
    # as "could not confirm", though it was mined under the replacement's hash.
    vault_address, _, deposits0, sent0 = _ready_to_deposit(page, server, devnet, wallet)
    fill_and_preview(page, "deposit", "1")

    def the_deposit_by_hash(call: dict[str, Any]) -> bool:
        return call.get("method") == "eth_getTransactionByHash" and (
            str(call["params"][0]).lower() in wallet.sent[sent0:]
        )

    _fail_rpc_calls(page, devnet, the_deposit_by_hash, reply={"result": None})
    replacement = _deposit_replaced(page, devnet, wallet, sent0, how)
    _replaced_deposit_shown(page, devnet, vault_address, deposits0, how, replacement)
    assert "unknown" not in tx_states(page)


def test_another_transaction_in_the_nonce_the_page_guessed_is_not_this_actions_cancel(
    page: Any, server: str, devnet: Devnet, wallet: Wallet
) -> None:
    # helper-114: the page's node shows neither the account's other pending transaction nor the
    # deposit by its hash, so the page guessed the deposit's nonce one too low. When the other
    # transaction (a 0-value transfer to oneself) was mined in that nonce, viem took it for the
    # deposit's cancel and the page said "this action was not done", though the deposit was
    # mined a block later; the amount stayed typed, and a second click deposited twice. The
    # wallet that sent it now tells its nonce.
    vault_address, me, deposits0, sent0 = _ready_to_deposit(page, server, devnet, wallet)
    fill_and_preview(page, "deposit", "1")
    w3 = devnet.w3

    def hidden(call: dict[str, Any]) -> bool:
        method, params = call.get("method"), call.get("params") or []
        if method == "eth_getTransactionCount":
            return bool(params) and params[-1] == "pending"
        return (
            method == "eth_getTransactionByHash" and str(params[0]).lower() in wallet.sent[sent0:]
        )

    latest = w3.eth.get_transaction_count(me, "latest")

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        # "pending" is the mined count alone; the deposit, by its hash: unknown.
        pending = call.get("method") == "eth_getTransactionCount"
        return {"result": hex(latest) if pending else None}

    _fail_rpc_calls(page, devnet, hidden, reply=answer)
    calls = NodeCalls(page, devnet.node.url)
    limit = int(w3.eth.get_block("latest")["gasLimit"])
    devnet.rpc("evm_setAutomine", False)
    try:
        other = devnet.depositor.sign_transaction(
            {
                "type": 2,
                "chainId": w3.eth.chain_id,
                "nonce": latest,
                "to": me,
                "value": 0,
                "gas": 21_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        other_hash = w3.eth.send_raw_transaction(other.raw_transaction).to_0x_hex()
        page.click('[data-testid="submit-deposit"]')
        page.wait_for_selector('[data-testid="tx-status"] li[data-state="pending"]')
        assert len(wallet.sent) == sent0 + 1
        assert wallet.nonces[wallet.sent[-1]] == latest + 1
        # The receipt wait has started, with its replacement key: it looked the key up.
        calls.wait_for(
            lambda node: any(
                m == "eth_getTransactionBySenderAndNonce" and str(p[0]).lower() == me.lower()
                for m, p in node.answered
            )
        )
        devnet.rpc("evm_setBlockGasLimit", hex(60_000))  # room for the transfer alone
        devnet.rpc("evm_mine")
        assert w3.eth.get_transaction_receipt(other_hash)["status"] == 1
        # A block in which the page could take it for a cancel: the page has read it whole.
        mined = [hex(w3.eth.block_number), True]
        calls.wait_for(lambda node: ("eth_getBlockByNumber", mined) in node.answered)
        devnet.rpc("evm_setBlockGasLimit", hex(limit))
        devnet.rpc("evm_mine")
    finally:
        devnet.rpc("evm_setBlockGasLimit", hex(limit))
        devnet.rpc("evm_setAutomine", True)
    page.wait_for_selector('[data-testid="result-deposit"]')
    assert _deposits_of(devnet, vault_address, me) == deposits0 + 1
    assert "cancelled" not in tx_states(page)
    assert page.locator('[data-testid="tx-status"] li').first.get_attribute("data-state") == (
        "confirmed"
    )


def test_the_rpc_urls_key_is_never_on_the_page(browser: Any, devnet: Devnet) -> None:
    # helper-114: the top bar shortened only hosts of 24 characters or more, and the "Cannot
    # read the vaults over ..." line showed the whole URL: a hosted node's API key, in its path,
    # query or user:password@, was on screen (a screenshot, a shared screen).
    from keeper.app.web import WebServer, build_config, read_addresses
    from tests.browser.conftest import DIST

    base = devnet.node.url.rstrip("/")
    origin = base
    for rpc in (f"{base}/v2/SECRETKEY0123456789", f"{base}/?apikey=SECRETKEY0123456789"):
        config = build_config(
            read_addresses(devnet.addresses_path), rpc_url=rpc, chain_id=devnet.w3.eth.chain_id
        )
        with WebServer(config, dist=DIST, port=0) as web, wallet_page(browser, devnet, None) as pg:
            pg.goto(web.url)
            label = pg.locator('[data-testid="chain"]')
            label.wait_for()
            pg.wait_for_function(
                "document.querySelector('[data-testid=chain]').textContent.includes('chain')"
            )
            assert label.inner_text().endswith(f"{origin}/…")
            # The vault reads have answered (the vault and its history shown), or failed and
            # said so: the page then reads nothing more until its next block poll.
            pg.wait_for_selector(
                '#main[data-ready="true"][data-rebalances-ready="true"], #main p.error, '
                "#stats p.error, #charts p.error"
            )
            assert "SECRETKEY" not in pg.content()


def test_zeros_beyond_the_tokens_decimals_are_read_as_the_cli_reads_them(
    page: Any, server: str, devnet: Devnet
) -> None:
    # `keeper vault deposit --amount 1.0000000` deposits 1 USDC: the CLI refuses only digits
    # that would be rounded away. The page refused the same amount ("At most 6 decimals").
    from keeper.commands.vault import parse_amount
    from keeper.errors import ConfigError

    decimals = devnet.usdc.functions.decimals().call()
    open_vault(page, server, busiest_vault(devnet))
    for text in ("1.0000000", "1." + "0" * 30, "0.50000000"):
        sel = _retype(page, "deposit", text)
        page.wait_for_selector(f'{sel}[data-state="ready"][data-value]')
        assert int(page.get_attribute(sel, "data-value")) == parse_amount(text, decimals), text
    sel = _retype(page, "deposit", "1.0000001")
    page.wait_for_selector(f'{sel}[data-state="error"]')
    assert "decimals" in page.inner_text(sel)
    with pytest.raises(ConfigError, match="decimals"):
        parse_amount("1.0000001", decimals)
