"""``keeper vault info|deposit|withdraw|redeem|request-redeem|claim|fill`` on the devnet stack."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.commands.vault import format_units
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.stack import DevnetStack
from keeper.devnet.tx import account, transact
from tests.conftest import one_vault_stack, rolled_back

pytestmark = pytest.mark.integration

USDC = 10**6


@dataclass
class Env:
    node: Anvil
    w3: Web3
    stack: DevnetStack
    depositor: LocalAccount
    usdc: Contract
    vault: Contract


@pytest.fixture
def env(built: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Env]:
    """The module's chain, as built: each test's changes are rolled back after it.

    Each test has its own temporary directory, where a signer's lock and send record live:
    every anvil has the same genesis, so tests run side by side (``-n``) shared them.
    """
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL", "KEEPER_CHAIN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[6])
    with rolled_back(built.w3):
        yield built


@pytest.fixture(scope="module")
def built() -> Iterator[Env]:
    with Anvil() as node:
        w3 = connect(node.url)
        admin = account(ANVIL_KEYS[0])
        stack = one_vault_stack(w3)
        depositor = account(ANVIL_KEYS[6])
        usdc = w3.eth.contract(address=stack.usdc, abi=load_artifact("MintableERC20").abi)
        transact(w3, admin, usdc.functions.mint(depositor.address, 5_000 * USDC))
        vault = w3.eth.contract(address=stack.vaults[0], abi=load_artifact("OptionVault").abi)
        yield Env(node, w3, stack, depositor, usdc, vault)


def _code(argv: list[str]) -> int:
    """``keeper`` run in-process: its exit code, a refused command line's (2) included."""
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's refusals, and the commands' own (UsageError)
        return int(exc.code or 0)


def _cli(e: Env, *argv: str) -> int:
    return _code(
        [
            "vault",
            argv[0],
            "--vault",
            e.vault.address,
            "--rpc-url",
            e.node.url,
            "--env-file",
            os.devnull,
            *argv[1:],
        ]
    )


def _queue(e: Env) -> Contract:
    """The vault's redemption queue."""
    address = e.vault.functions.redemptionQueue().call()
    return e.w3.eth.contract(address=address, abi=load_artifact("RedemptionQueue").abi)


def _close_exits(e: Env) -> Callable[[], None]:
    """Close instant exits (``maxRedeem`` 0), so that ``request-redeem`` queues: the desk writes
    a call (the vault's value then depends on the price) and its oracle's round grows older
    than the heartbeat. Returns what reopens them: a fresh round at the same price."""
    v, me = e.vault, e.depositor.address
    _, price = _write_a_call(e)
    e.w3.provider.make_request("evm_increaseTime", [3 * 86_400])  # type: ignore[arg-type]
    e.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert v.functions.maxRedeem(me).call() == 0
    feed = e.w3.eth.contract(
        address=v.functions.oracle().call(), abi=load_artifact("MockV3Aggregator").abi
    )

    def reopen() -> None:
        transact(e.w3, account(ANVIL_KEYS[0]), feed.functions.updateAnswer(price))

    return reopen


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert ANVIL_KEYS[6][2:] not in captured.err + captured.out
    return lines[0]


def test_deposit_withdraw_redeem_round_trip(e: Env, capsys: pytest.CaptureFixture[str]) -> None:
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "1500.5", "--json") == 0
    dep = json.loads(capsys.readouterr().out)
    assert dep["assets"] == 1_500_500_000
    assert [t["what"] for t in dep["txs"]] == ["approve", "deposit"]
    assert all(t["gas_used"] > 0 for t in dep["txs"])
    shares = v.functions.balanceOf(me).call()
    assert shares > 0
    assert dep["shares"] == shares == dep["share_balance"]
    assert shares == v.functions.convertToShares(1_500_500_000).call()
    assert e.usdc.functions.balanceOf(me).call() == 5_000 * USDC - 1_500_500_000
    # the approval was exact: nothing left over
    assert e.usdc.functions.allowance(me, v.address).call() == 0
    receipt = e.w3.eth.get_transaction_receipt(dep["txs"][1]["tx_hash"])
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == dep["txs"][1]["gas_used"]

    assert _cli(e, "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shares"] == shares
    assert info["max_withdraw"] == v.functions.maxWithdraw(me).call()
    assert info["max_redeem"] == v.functions.maxRedeem(me).call()
    assert info["total_assets"] == v.functions.totalAssets().call()
    assert info["total_supply"] == v.functions.totalSupply().call()
    assert info["share_price"] == v.functions.convertToAssets(10**12).call()
    assert info["thresholds"]["band"] == v.functions.thresholds().call()[1]
    assert info["paused"] is False

    assert _cli(e, "info") == 0
    table = capsys.readouterr().out
    assert "maxWithdraw" in table
    assert "share price" in table

    assert _cli(e, "withdraw", "--amount", "500") == 0
    out = capsys.readouterr().out
    assert "withdrew 500 USDC" in out
    assert "share balance" in out
    after_withdraw = v.functions.balanceOf(me).call()
    assert after_withdraw < shares
    assert e.usdc.functions.balanceOf(me).call() == 5_000 * USDC - 1_000_500_000

    # redeem every remaining share, given in human share units (the vault's 12 decimals)
    usdc_before = e.usdc.functions.balanceOf(me).call()
    assert _cli(e, "redeem", "--shares", format_units(after_withdraw, 12), "--json") == 0
    red = json.loads(capsys.readouterr().out)
    assert red["shares"] == after_withdraw
    assert red["share_balance"] == 0
    assert red["assets"] == e.usdc.functions.balanceOf(me).call() - usdc_before > 0
    assert v.functions.balanceOf(me).call() == 0


def test_request_redeem_fill_and_claim(e: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """The queue path end to end: request (approval included), fill by anyone, claim."""
    v, me = e.vault, e.depositor.address
    queue = _queue(e)
    assert _cli(e, "deposit", "--amount", "1000") == 0
    capsys.readouterr()
    shares = v.functions.balanceOf(me).call()

    # nothing to claim yet: one line, nothing sent
    nonce = e.w3.eth.get_transaction_count(me)
    assert _cli(e, "claim") == 1
    assert "claim refused" in _one_line_error(capsys)
    assert _cli(e, "request-redeem", "--shares", format_units(shares + 1, 12)) == 1
    assert "request-redeem refused" in _one_line_error(capsys)
    assert e.w3.eth.get_transaction_count(me) == nonce

    reopen = _close_exits(e)  # the vault could pay them now: a request would be refused
    assert _cli(e, "request-redeem", "--shares", format_units(shares, 12), "--json") == 0
    reopen()
    req = json.loads(capsys.readouterr().out)
    assert [t["what"] for t in req["txs"]] == ["approve", "request"]
    assert req["shares"] == shares
    assert req["share_balance"] == 0
    assert queue.functions.pendingRedeemRequest(0, me).call() == shares

    assert _cli(e, "info") == 0
    table = capsys.readouterr().out
    assert "pending" in table
    assert "claimable" in table

    assert _cli(e, "fill") == 0  # anyone may fill; the vault has free quote for it
    assert "filled the queue" in capsys.readouterr().out
    assert queue.functions.pendingRedeemRequest(0, me).call() == 0
    owed = queue.functions.maxWithdraw(me).call()
    assert 999 * USDC < owed <= 1000 * USDC

    before = e.usdc.functions.balanceOf(me).call()
    assert _cli(e, "claim", "--json") == 0
    claim = json.loads(capsys.readouterr().out)
    assert claim["assets"] == owed == e.usdc.functions.balanceOf(me).call() - before
    assert queue.functions.maxRedeem(me).call() == 0
    assert _cli(e, "fill") == 1  # nothing left to fill: not "no free quote for them"
    line = _one_line_error(capsys)
    assert "fill refused: no request is pending" in line, line
    assert "free quote" not in line


def test_claim_of_all_with_nothing_claimable_says_so(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """`claim` without --shares claims all: with nothing claimable, no "0 shares asked"."""
    me = e.depositor.address
    nonce = e.w3.eth.get_transaction_count(me)
    assert _cli(e, "claim") == 1
    line = _one_line_error(capsys)
    assert line.startswith("keeper: error: claim refused: nothing claimable for " + me), line
    assert "shares asked" not in line
    assert "(0 shares still pending a fill)" in line
    assert _cli(e, "claim", "--shares", "5") == 1
    assert "claim refused: 5 shares asked, 0 claimable for" in _one_line_error(capsys)
    assert e.w3.eth.get_transaction_count(me) == nonce


def test_a_fill_refused_while_exits_are_closed_names_why_not_a_lack_of_free_quote(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the oracle stale, fill was refused for "no free quote for them", the vault's free
    quote untouched (thousands of USDC): the reason is the stale oracle, and claim said "0 still
    pending a fill" without a unit."""
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "1000") == 0
    shares = int(v.functions.balanceOf(me).call())
    _close_exits(e)
    assert _cli(e, "request-redeem", "--shares", "all") == 0
    capsys.readouterr()
    assert v.functions.freeQuote().call() > 1_000 * USDC
    nonce = e.w3.eth.get_transaction_count(me)
    assert _cli(e, "fill") == 1
    line = _one_line_error(capsys)
    assert "fill refused: nothing can be filled now" in line, line
    assert "exits are closed: oracle answer is" in line, line
    assert "no free quote" not in line, line
    assert _cli(e, "claim") == 1
    line = _one_line_error(capsys)
    assert f"({format_units(shares, 12)} shares still pending a fill)" in line, line
    assert e.w3.eth.get_transaction_count(me) == nonce


def test_fill_discards_shares_sent_to_the_queue_without_a_request(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain transfer to the queue is reserved by the vault until a fill discards it."""
    v, me = e.vault, e.depositor.address
    queue = _queue(e)
    assert _cli(e, "deposit", "--amount", "1000") == 0
    shares = int(v.functions.balanceOf(me).call())
    transact(e.w3, e.depositor, v.functions.transfer(queue.address, shares // 2))
    assert queue.functions.fillable().call() == 0, "no request to fill"
    capsys.readouterr()
    assert _cli(e, "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["queue_unrequested"] == shares // 2
    assert info["queue_pending_total"] == 0
    assert _cli(e, "info") == 0
    assert "unrequested" in capsys.readouterr().out

    assert _cli(e, "fill", "--json") == 0  # sent for the discard alone
    report = json.loads(capsys.readouterr().out)
    assert report["discarded"] == shares // 2
    assert report["shares"] == 0
    assert v.functions.balanceOf(queue.address).call() == 0
    assert v.functions.balanceOf(queue.functions.DISCARD().call()).call() == shares // 2
    assert _cli(e, "fill") == 1  # nothing left: refused, nothing sent
    assert "fill refused" in _one_line_error(capsys)


def test_shares_all_redeems_or_queues_every_share_held(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--shares all` is the signer's whole balance, read under its lock; none held is refused."""
    v, me = e.vault, e.depositor.address
    queue = _queue(e)
    nonce = e.w3.eth.get_transaction_count(me)
    for action in ("redeem", "request-redeem"):
        assert _cli(e, action, "--shares", "all") == 1
        line = _one_line_error(capsys)
        assert f"{action} refused: {me} holds no shares of this vault; nothing sent" in line, line
    assert e.w3.eth.get_transaction_count(me) == nonce

    assert _cli(e, "deposit", "--amount", "300") == 0
    first = int(v.functions.balanceOf(me).call())
    capsys.readouterr()
    reopen = _close_exits(e)
    assert _cli(e, "request-redeem", "--shares", "ALL", "--json") == 0
    reopen()
    req = json.loads(capsys.readouterr().out)
    assert req["shares"] == first == queue.functions.pendingRedeemRequest(0, me).call()
    assert req["share_balance"] == 0

    assert _cli(e, "deposit", "--amount", "200") == 0
    second = int(v.functions.balanceOf(me).call())
    capsys.readouterr()
    assert _cli(e, "redeem", "--shares", "all", "--json") == 0
    red = json.loads(capsys.readouterr().out)
    assert red["shares"] == second
    assert red["share_balance"] == 0 == v.functions.balanceOf(me).call()

    # a typo of "all" is still an amount error, before the RPC
    assert _cli(e, "redeem", "--shares", "al") == 2
    assert "--shares" in _one_line_error(capsys)


def test_info_reserved_is_what_the_vault_holds_back_from_instant_exits(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """`info`'s reserve is the vault's: every share the queue holds at NAV, rounded up.

    Requested and unrequested shares both count, and the vault rounds up (``previewMint``), so
    the figure is not the requests' ``convertToAssets`` (rounded down, requests only).
    """
    v, me = e.vault, e.depositor.address
    queue = _queue(e)
    assert _cli(e, "deposit", "--amount", "1000") == 0
    shares = int(v.functions.balanceOf(me).call())
    asked = shares // 3 + 1  # not a whole number of asset units: floor and ceil differ
    reopen = _close_exits(e)
    assert _cli(e, "request-redeem", "--shares", format_units(asked, 12)) == 0
    reopen()
    transact(e.w3, e.depositor, v.functions.transfer(queue.address, 7))
    capsys.readouterr()
    held = int(v.functions.balanceOf(queue.address).call())
    reserved = int(v.functions.previewMint(held).call())
    assert reserved > int(v.functions.convertToAssets(asked).call())

    assert _cli(e, "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["queue_reserved"] == reserved
    assert info["queue_pending_value"] == v.functions.convertToAssets(asked).call()
    assert _cli(e, "info") == 0
    table = capsys.readouterr().out
    assert f"  reserved   {format_units(reserved, 6)} USDC from instant exits" in table, table


def test_info_gives_the_hedge_figures_in_the_underlyings_symbol(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inventory, net delta and max trade were shown as bare numbers ("0 underlying", "max
    trade 50"): they are amounts of the underlying token, named as the web page names them."""
    underlying = e.vault.functions.underlying().call()
    token = e.w3.eth.contract(address=underlying, abi=load_artifact("MintableERC20").abi)
    symbol = token.functions.symbol().call()
    assert _cli(e, "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["underlying"], info["underlying_symbol"]) == (underlying, symbol)
    assert _cli(e, "info") == 0
    table = capsys.readouterr().out
    inventory = format_units(info["hedge_inventory"], 18)
    delta = format_units(info["net_delta"], 18)
    assert f"inventory    {inventory} {symbol}; net delta {delta} {symbol}\n" in table, table
    max_trade = format_units(info["thresholds"]["max_trade"], 18)
    assert f"max trade {max_trade} {symbol}," in table, table


def test_withdraw_above_max_is_refused_before_sending(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(e, "deposit", "--amount", "100") == 0
    capsys.readouterr()
    nonce = e.w3.eth.get_transaction_count(e.depositor.address)
    assert _cli(e, "withdraw", "--amount", "100.000001") == 1
    line = _one_line_error(capsys)
    assert "withdraw refused" in line
    assert "maxWithdraw" in line
    assert "nothing sent" in line
    assert e.w3.eth.get_transaction_count(e.depositor.address) == nonce

    assert _cli(e, "redeem", "--shares", "1000000000") == 1
    assert "maxRedeem" in _one_line_error(capsys)
    assert e.w3.eth.get_transaction_count(e.depositor.address) == nonce


def test_a_refused_exit_names_the_signers_own_position_when_it_is_the_limit(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # The vault has ample free quote: the depositor's own shares are what limits the exit, and
    # the refusal says so (it named only the vault's liquidity, as if the vault were short).
    nonce = e.w3.eth.get_transaction_count(e.depositor.address)
    assert _cli(e, "withdraw", "--amount", "10") == 1
    line = _one_line_error(capsys)
    assert "withdraw refused" in line
    assert f"{e.depositor.address} holds 0 shares (worth 0 USDC)" in line
    assert "free quote" not in line
    assert _cli(e, "redeem", "--shares", "5") == 1
    line = _one_line_error(capsys)
    assert "redeem refused" in line
    assert f"{e.depositor.address} holds 0 shares" in line
    assert e.w3.eth.get_transaction_count(e.depositor.address) == nonce

    assert _cli(e, "deposit", "--amount", "100") == 0
    capsys.readouterr()
    assert _cli(e, "withdraw", "--amount", "150") == 1
    line = _one_line_error(capsys)
    assert f"{e.depositor.address} holds 100" in line
    assert "shares (worth 99.99" in line or "shares (worth 100" in line

    # An open series and a stale oracle close exits: now the vault is the limit, not the position.
    admin, desk, buyer = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2]), account(ANVIL_KEYS[5])
    price = int(e.vault.functions.valuationPrice().call())
    expiry = int(e.w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
    terms = (0, price, 100 * 10**8, expiry, 10**17)
    premium, _ = premium_bounds(e.w3, e.vault, *terms)
    transact(e.w3, admin, e.usdc.functions.mint(buyer.address, premium))
    transact(e.w3, buyer, e.usdc.functions.approve(e.vault.address, premium))
    transact(e.w3, desk, signed_write(e.w3, e.vault, buyer, *terms, premium))
    e.w3.provider.make_request("evm_increaseTime", [3 * 86_400])  # type: ignore[arg-type]
    e.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert _cli(e, "withdraw", "--amount", "1") == 1
    line = _one_line_error(capsys)
    assert f"maxWithdraw 0 USDC for {e.depositor.address}: the vault's free quote is" in line
    assert "exits are closed: oracle answer is" in line


def test_deposit_without_balance_is_refused_before_sending(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = e.w3.eth.get_transaction_count(e.depositor.address)
    assert _cli(e, "deposit", "--amount", "5000.000001") == 1
    line = _one_line_error(capsys)
    assert "deposit refused" in line
    assert "holds 5000 USDC" in line
    assert e.w3.eth.get_transaction_count(e.depositor.address) == nonce
    assert e.vault.functions.balanceOf(e.depositor.address).call() == 0

    assert _cli(e, "deposit", "--amount", "1.0000001") == 2  # what was typed: a usage error
    assert "more than 6 decimals" in _one_line_error(capsys)
    assert e.w3.eth.get_transaction_count(e.depositor.address) == nonce


def test_not_a_vault_is_one_line(e: Env, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--rpc-url", e.node.url, "--env-file", os.devnull]
    assert main(["vault", "info", "--vault", e.usdc.address, *args]) == 1
    assert f"{e.usdc.address} is not a vault (asset() reverted)" in _one_line_error(capsys)
    assert main(["vault", "info", "--vault", e.depositor.address, *args]) == 1
    assert "no contract code" in _one_line_error(capsys)
    assert _code(["vault", "info", "--vault", "0x1234", *args]) == 2
    assert "not a 20-byte hex address" in _one_line_error(capsys)


@pytest.fixture
def e(env: Env) -> Env:
    return env


def test_redeem_of_shares_worth_nothing_is_refused_before_sending(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1e-12 shares (one share unit) are worth 0 USDC units: redeeming them would burn them for
    # nothing. The CLI refuses, as for any exit that cannot pay, and sends nothing.
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "100") == 0
    capsys.readouterr()
    shares = v.functions.balanceOf(me).call()
    assert v.functions.previewRedeem(1).call() == 0
    nonce = e.w3.eth.get_transaction_count(me)
    assert _cli(e, "redeem", "--shares", "0.000000000001") == 1
    line = _one_line_error(capsys)
    assert "redeem refused" in line
    assert "worth 0 USDC" in line
    assert "nothing sent" in line
    assert e.w3.eth.get_transaction_count(me) == nonce
    assert v.functions.balanceOf(me).call() == shares
    # The queue would pay the NAV of the fill: 0 for these shares, so queueing them is refused too.
    assert _cli(e, "request-redeem", "--shares", "0.000000000001") == 1
    line = _one_line_error(capsys)
    assert "request-redeem refused" in line
    assert "worth 0 USDC" in line
    assert e.w3.eth.get_transaction_count(me) == nonce


def _write_a_call(e: Env) -> tuple[int, int]:
    """The desk writes a call at the money, expiring in 30 days, to a funded buyer: the vault's
    value now depends on the price. Returns the expiry and the price it was written at."""
    v = e.vault
    admin, desk, buyer = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2]), account(ANVIL_KEYS[5])
    price = int(v.functions.valuationPrice().call())
    expiry = int(e.w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
    terms = (0, price, 100 * 10**8, expiry, 10**17)
    premium, _ = premium_bounds(e.w3, v, *terms)
    transact(e.w3, admin, e.usdc.functions.mint(buyer.address, premium))
    transact(e.w3, buyer, e.usdc.functions.approve(v.address, premium))
    transact(e.w3, desk, signed_write(e.w3, v, buyer, *terms, premium))
    return expiry, price


def test_info_says_when_deposits_and_exits_close_and_why(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # `vault info` gave the free quote and "paused: no" while the vault paid no exit: a stale
    # oracle (with a book that depends on the price) or an expired series closes exits and
    # deposits, and pausing closes deposits (the table said only "no writing or rebalancing").
    v = e.vault
    admin = account(ANVIL_KEYS[0])
    assert _cli(e, "deposit", "--amount", "100") == 0
    capsys.readouterr()

    def info() -> tuple[dict[str, object], str]:
        assert _cli(e, "info", "--json") == 0
        data = json.loads(capsys.readouterr().out)
        assert _cli(e, "info") == 0
        return data, capsys.readouterr().out

    data, table = info()
    assert (data["deposits_open"], data["exits_open"]) == (True, True)
    assert data["deposits_closed_because"] is None
    assert "deposits     open" in table
    assert "exits        open" in table

    expiry, price = _write_a_call(e)
    e.w3.provider.make_request("evm_increaseTime", [3 * 86_400])  # type: ignore[arg-type]
    e.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert v.functions.maxWithdraw(e.depositor.address).call() == 0
    assert v.functions.freeQuote().call() > 0
    data, table = info()
    assert (data["deposits_open"], data["exits_open"]) == (False, False)
    assert "heartbeat" in str(data["exits_closed_because"])
    assert "exits        closed: oracle answer is" in table
    # The refusals name that reason too, not every reason a vault may close for.
    assert _cli(e, "deposit", "--amount", "1") == 1
    line = _one_line_error(capsys)
    assert "deposits are closed: oracle answer is" in line
    assert "paused" not in line
    assert _cli(e, "withdraw", "--amount", "1") == 1
    line = _one_line_error(capsys)
    assert "exits are closed: oracle answer is" in line
    assert "or an expired series" not in line

    # A fresh round reopens both; pausing then closes deposits alone.
    feed = e.w3.eth.contract(
        address=v.functions.oracle().call(), abi=load_artifact("MockV3Aggregator").abi
    )
    transact(e.w3, admin, feed.functions.updateAnswer(price))
    transact(e.w3, admin, v.functions.grantRole(v.functions.PAUSER_ROLE().call(), admin.address))
    transact(e.w3, admin, v.functions.pause())
    data, table = info()
    assert (data["deposits_open"], data["exits_open"]) == (False, True)
    assert data["deposits_closed_because"] == "the vault is paused"
    assert "deposits     closed: the vault is paused" in table
    assert "exits        open" in table

    # Past the expiry, with a fresh round: the series awaits settlement.
    transact(e.w3, admin, v.functions.unpause())
    e.w3.provider.make_request("evm_setNextBlockTimestamp", [expiry + 1])  # type: ignore[arg-type]
    transact(e.w3, admin, feed.functions.updateAnswer(price))
    data, table = info()
    assert (data["deposits_open"], data["exits_open"]) == (False, False)
    assert "awaits settlement" in str(data["exits_closed_because"])
    assert "series #" in table

    # A feed without code makes the vault's own views revert: one line, not a traceback. So does
    # one that answers latestRoundData() with one word (PUSH1 32 PUSH1 0 RETURN), which was
    # "is not a vault (totalAssets() reverted)", of the vault itself.
    for code, why in (
        ("0x", "has no contract code on this chain"),
        ("0x60206000f3", "does not answer latestRoundData() as a Chainlink feed"),
    ):
        e.w3.provider.make_request("anvil_setCode", [feed.address, code])  # type: ignore[arg-type]
        assert _cli(e, "info") == 1
        assert _one_line_error(capsys) == (
            f"keeper: error: vault {v.address}: totalAssets() reverts because its oracle "
            f"{feed.address} {why}"
        )


@pytest.mark.parametrize(
    "answer", [2**255 - 1, 2**200, 2**127], ids=["int256-max", "2^200", "2^127"]
)
def test_an_oracle_answer_above_the_bound_closes_the_vault_and_info_still_reads_it(
    e: Env, answer: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A price the vault's valuation overflowed on made `totalAssets()` panic: every command
    failed (it once said "<vault> is not a vault"). Such an answer is now invalid on chain, as a
    non-positive one is (``RebalanceRules.MAX_ANSWER``): the views value at the last accepted
    price, and deposits and exits close, naming the answer."""
    v = e.vault
    admin = account(ANVIL_KEYS[0])
    assert _cli(e, "deposit", "--amount", "100") == 0
    _write_a_call(e)
    feed = e.w3.eth.contract(
        address=v.functions.oracle().call(), abi=load_artifact("MockV3Aggregator").abi
    )
    transact(e.w3, admin, feed.functions.updateAnswer(answer))
    capsys.readouterr()
    assert _cli(e, "info", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["total_assets"] == v.functions.totalAssets().call() > 0
    assert not info["deposits_open"]
    assert not info["exits_open"]
    why = f"oracle answer {answer} is above 2**127 - 1"
    assert why in info["deposits_closed_because"]
    assert why in info["exits_closed_because"]


@pytest.mark.parametrize("landed", [True, False], ids=["landed-then-timed-out", "never-arrived"])
def test_a_send_whose_rpc_answer_is_lost_is_settled_by_its_hash_never_sent_twice(
    e: Env, landed: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each send's answer is lost once (the approve's and the deposit's): the node took the tx
    and the connection timed out, or the request never arrived. Either way the same signed tx is
    settled by its hash (looked up, or broadcast again: the same bytes cannot land twice), and
    the deposit goes through once."""
    import requests

    from keeper.chain import connection

    real_post = connection._Transport.post
    lost: list[str] = []

    def flaky_post(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        raw = request["params"][0] if request.get("method") == "eth_sendRawTransaction" else None
        if raw is not None and raw not in lost:
            lost.append(raw)
            if landed:
                real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            raise requests.ReadTimeout("read timed out")
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    me = e.depositor.address
    nonce = e.w3.eth.get_transaction_count(me)
    monkeypatch.setattr(connection._Transport, "post", flaky_post)
    assert _cli(e, "deposit", "--amount", "100", "--json") == 0
    dep = json.loads(capsys.readouterr().out)
    assert [t["what"] for t in dep["txs"]] == ["approve", "deposit"]
    assert len(lost) == 2
    assert e.w3.eth.get_transaction_count(me) == nonce + 2
    assert e.usdc.functions.balanceOf(me).call() == 4_900 * USDC
    assert dep["shares"] == e.vault.functions.balanceOf(me).call() > 0


def test_a_deposit_that_reverts_at_mining_is_reported_with_its_decoded_error(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chain moves between the simulation and the mining: the vault is paused just before
    the deposit (simulated while open) reaches the node. The mined revert is an error, with the
    vault's custom error decoded, not a bare "reverted"."""
    from keeper.chain import connection

    admin, v = account(ANVIL_KEYS[0]), e.vault
    transact(e.w3, admin, v.functions.grantRole(v.functions.PAUSER_ROLE().call(), admin.address))
    real_post = connection._Transport.post
    sends: list[str] = []

    def pause_before_the_deposit(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        if request.get("method") == "eth_sendRawTransaction" and not sends:
            sends.append("approve")
        elif request.get("method") == "eth_sendRawTransaction" and sends == ["approve"]:
            sends.append("deposit")
            transact(e.w3, admin, v.functions.pause())
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(connection._Transport, "post", pause_before_the_deposit)
    assert _cli(e, "deposit", "--amount", "100") == 1
    line = _one_line_error(capsys)
    assert "deposit" in line
    assert "reverted on-chain" in line
    assert "ERC4626ExceededMaxDeposit" in line, line
    assert e.vault.functions.balanceOf(e.depositor.address).call() == 0


def test_a_sent_deposit_whose_receipt_cannot_be_read_names_its_hash(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deposit reached the node, then the RPC stops answering receipt reads: the one-line
    error names the sent transaction (so nobody deposits again blindly), not only the RPC."""
    import requests

    from keeper.chain import connection

    real_post = connection._Transport.post
    raws: list[str] = []

    def receipts_fail_after_the_deposit(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        if request.get("method") == "eth_sendRawTransaction":
            raws.append(request["params"][0])
        elif request.get("method") == "eth_getTransactionReceipt" and len(raws) == 2:
            raise requests.ConnectionError("connection refused")
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    me = e.depositor.address
    nonce = e.w3.eth.get_transaction_count(me)
    monkeypatch.setattr(connection._Transport, "post", receipts_fail_after_the_deposit)
    assert _cli(e, "deposit", "--amount", "100") == 1
    line = _one_line_error(capsys)
    monkeypatch.undo()
    deposit_hash = Web3.keccak(hexstr=raws[1]).to_0x_hex()
    assert deposit_hash in line
    assert "was sent" in line
    assert f"check {me}'s transactions before sending again" in line
    assert e.w3.eth.get_transaction_count(me) == nonce + 2


def test_a_mined_deposit_whose_result_cannot_be_read_says_it_was_done(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deposit is mined and its receipt read, then the RPC stops answering the balance reads
    of the report: the one-line error says the deposit was done (its hash and block), not only
    that a read failed, which reads like a failed deposit to be sent again."""
    import requests

    from keeper.chain import connection

    real_post = connection._Transport.post
    receipts: list[str] = []

    def reads_fail_after_the_deposit(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        if request.get("method") == "eth_getTransactionReceipt":
            answer = real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            if request["params"][0] not in receipts:
                receipts.append(request["params"][0])
            return answer
        if request.get("method") == "eth_call" and len(receipts) == 2:  # approve, deposit
            raise requests.ConnectionError("connection refused")
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    me = e.depositor.address
    monkeypatch.setattr(connection._Transport, "post", reads_fail_after_the_deposit)
    assert _cli(e, "deposit", "--amount", "100") == 1
    line = _one_line_error(capsys)
    monkeypatch.undo()
    receipt = e.w3.eth.get_transaction_receipt(receipts[1])
    assert receipt["status"] == 1
    assert e.vault.functions.balanceOf(me).call() > 0
    assert f"deposit {receipts[1]} was mined in block {receipt['blockNumber']}" in line, line
    assert "do not send it again" in line


def test_reported_amounts_are_what_the_action_did_not_a_balance_difference(
    e: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shares a deposit or withdrawal reported, and the assets a redemption reported, were
    balance differences around the send: a transaction of someone else's landing in between (a
    deposit made for this holder, a payment to it) was counted as the action's own. They are
    now read from the action's receipt (ERC-4626 ``Deposit``/``Withdraw``)."""
    from keeper.app.depositor import VaultClient

    other = account(ANVIL_KEYS[7])
    transact(e.w3, account(ANVIL_KEYS[0]), e.usdc.functions.mint(other.address, 1_000 * USDC))
    transact(e.w3, other, e.usdc.functions.approve(e.vault.address, 1_000 * USDC))
    me = e.depositor.address
    real_send = VaultClient._send

    def send_then_interleave(self: VaultClient, signer: LocalAccount, call: Any, what: str) -> Any:
        tx = real_send(self, signer, call, what)
        if what in ("deposit", "withdraw"):  # someone deposits 50 USDC for this holder
            transact(e.w3, other, e.vault.functions.deposit(50 * USDC, me))
        if what == "redeem":  # someone pays this holder 7 USDC
            transact(e.w3, other, e.usdc.functions.transfer(me, 7 * USDC))
        return tx

    monkeypatch.setattr(VaultClient, "_send", send_then_interleave)

    def own(receipt_hash: str, event: str) -> tuple[int, int]:
        receipt = e.w3.eth.get_transaction_receipt(receipt_hash)
        (log,) = getattr(e.vault.events, event)().process_receipt(receipt)
        return int(log["args"]["assets"]), int(log["args"]["shares"])

    assert _cli(e, "deposit", "--amount", "100", "--json") == 0
    dep = json.loads(capsys.readouterr().out)
    assert (dep["assets"], dep["shares"]) == own(dep["txs"][-1]["tx_hash"], "Deposit")
    assert _cli(e, "withdraw", "--amount", "10", "--json") == 0
    wd = json.loads(capsys.readouterr().out)
    assert (wd["assets"], wd["shares"]) == own(wd["txs"][-1]["tx_hash"], "Withdraw")
    assert _cli(e, "redeem", "--shares", format_units(wd["shares"], 12), "--json") == 0
    red = json.loads(capsys.readouterr().out)
    assert (red["assets"], red["shares"]) == own(red["txs"][-1]["tx_hash"], "Withdraw")


def test_a_request_for_more_shares_than_held_says_both(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # It read "1 shares is more than the 0 0x… holds".
    assert _cli(e, "request-redeem", "--shares", "1") == 1
    assert _one_line_error(capsys) == (
        f"keeper: error: request-redeem refused: 1 shares asked, {e.depositor.address} holds 0; "
        "nothing sent"
    )
