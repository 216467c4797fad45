"""The keeper settles expired series itself, at the first oracle round at or after expiry.

On a real devnet (anvil, the full stack of ``test_keeper_e2e``): the series expire, the oracle
moves on, and one keeper cycle settles each expired series through the journaled sender at the
round that was current at expiry, not at the price of the moment; the metrics say so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keeper.app.cycle import run_cycle
from keeper.app.settle import _refused_at, settle_expired
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.rounds import expiry_round
from keeper.cli import main
from keeper.devnet.stack import write_addresses
from keeper.devnet.tx import transact
from keeper.execution.simulate import FILL_BATCH_SELECTOR, SETTLE_BATCH_SELECTOR
from tests.conftest import rolled_back
from tests.integration.test_keeper_e2e import PRICE, Stack, _build, _keeper

pytestmark = pytest.mark.integration

DAY = 86_400


@pytest.fixture(scope="module")
def built() -> Iterator[Stack]:
    with Anvil() as node:
        yield _build(node)


@pytest.fixture
def stack(built: Stack) -> Iterator[Stack]:
    """The module's stack, as built: each test's changes are rolled back after it."""
    with rolled_back(built.w3):
        yield built


def _open(stack: Stack) -> list[tuple[object, int, int]]:
    """(vault, series id, expiry) of every open series."""
    out = []
    for v in stack.vaults:
        for s in v.functions.openSeries().call():
            out.append((v, int(s[0]), int(s[4])))
    return out


def _queue_of(stack: Stack, vault: Any) -> Any:
    """``vault``'s redemption queue, bound."""
    return stack.w3.eth.contract(
        address=vault.functions.redemptionQueue().call(),
        abi=load_artifact("RedemptionQueue").abi,
    )


def _queue_all(stack: Stack, vault: Any) -> tuple[Any, int]:
    """The admin (the seed depositor) queues all of its shares of ``vault``: (queue, shares)."""
    queue, admin = _queue_of(stack, vault), stack.admin
    shares = int(vault.functions.balanceOf(admin.address).call())
    transact(stack.w3, admin, vault.functions.approve(queue.address, shares))
    transact(stack.w3, admin, queue.functions.requestRedeem(shares, admin.address, admin.address))
    return queue, shares


def _assert_settled_out_of_the_money(keeper: Any, series: list[tuple[Any, int, int]]) -> None:
    """Every series settled by the keeper, paying nothing: at the round priced 2,900, below
    the 3,000 strike, not at a later price above it."""
    for vault, sid, _ in series:
        s = vault.functions.series(sid).call()
        assert s[6] is True, f"series {sid} of {vault.address} settled"
        assert s[7] == 0, "paid at the expiry round (2,900 < strike)"
    assert keeper.metrics.value("keeper_settlements_total", {"outcome": "settled"}) == len(series)


def test_keeper_settles_expired_series_at_the_expiry_round(stack: Stack, tmp_path: Path) -> None:
    series = _open(stack)
    expiry = series[0][2]
    # the price at expiry: out of the money for the 3,000 calls; later it rallies
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    at_expiry = int(stack.feed.functions.latestRound().call())
    stack.advance(600)
    stack.set_price(3_500 * 10**8)
    keeper = _keeper(stack, tmp_path)
    assert expiry_round(stack.w3, stack.feed.address, expiry, stack.now()) == at_expiry

    start = stack.w3.eth.block_number
    run_cycle(keeper)

    _assert_settled_out_of_the_money(keeper, series)
    # Every series of every vault in one transaction, through the batcher's settleBatch.
    assert len({v.address for v, _, _ in series}) > 1  # type: ignore[attr-defined]
    txs = set()
    for vault, _, _ in series:
        for log in vault.events.SeriesSettled().get_logs(from_block=start + 1):  # type: ignore[attr-defined]
            txs.add(log["transactionHash"])
    [tx] = txs
    assert stack.w3.eth.get_transaction(tx)["to"] == stack.batcher.address
    assert keeper.metrics.value("keeper_expired_unsettled") == 0


def test_keeper_settles_at_the_honest_round_after_one_stamped_ahead_of_its_time(
    stack: Stack, tmp_path: Path
) -> None:
    """helper-107's audit: a round published after expiry but dated 10 days later. The vault
    refused it, every honest round after it and the fallback, so nothing could settle; the
    keeper's halving found the broken round and its simulation reverted every cycle. Both now
    pass over it: the series settles at the honest expiry round (2,900, out of the money)."""
    series = _open(stack)
    expiry = series[0][2]
    stack.advance(expiry - stack.now() + 30)
    broken = int(stack.feed.functions.latestRound().call()) + 1
    now = stack.now()
    transact(
        stack.w3,
        stack.admin,
        stack.feed.functions.updateRoundData(broken, 3_500 * 10**8, expiry + 10 * DAY, now),
    )
    stack.advance(30)
    stack.set_price(2_900 * 10**8)
    honest = int(stack.feed.functions.latestRound().call())
    stack.advance(11 * DAY)  # past the broken round's date
    stack.set_price(3_200 * 10**8)
    keeper = _keeper(stack, tmp_path)
    assert expiry_round(stack.w3, stack.feed.address, expiry, stack.now()) == honest
    run_cycle(keeper)
    _assert_settled_out_of_the_money(keeper, series)  # at 2,900, not at 3,500 or 3,200
    assert not [a for a in keeper.alerter.sent if a["kind"] == "settlement"]


def test_keeper_waits_for_a_round_after_expiry_then_uses_the_fallback(
    stack: Stack, tmp_path: Path
) -> None:
    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)  # expired, but no oracle round since
    keeper = _keeper(stack, tmp_path, private_key=None)  # dry run
    now = stack.now()
    assert expiry_round(stack.w3, stack.feed.address, expiry, now) is None
    done = settle_expired(keeper, keeper.vaults, stack.w3.eth.block_number, now).settlements
    assert {d.outcome for d in done} == {"waiting"}
    assert keeper.metrics.value("keeper_expired_unsettled") == len(done)
    # a day later, still no round: the fallback (round 0) is open, at a fresh price
    stack.advance(DAY)
    stack.rpc("evm_mine")
    assert expiry_round(stack.w3, stack.feed.address, expiry, stack.now()) == 0
    stack.set_price(PRICE)
    # now a round exists after expiry again, and it is the hint
    assert expiry_round(stack.w3, stack.feed.address, expiry, stack.now()) == int(
        stack.feed.functions.latestRound().call()
    )


def test_keeper_alerts_when_it_cannot_settle(stack: Stack, tmp_path: Path) -> None:
    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + DAY + 5)
    # the fallback would price at the oracle, which is stale: the simulation reverts
    keeper = _keeper(stack, tmp_path, private_key=None)
    done = settle_expired(keeper, keeper.vaults, stack.w3.eth.block_number, stack.now()).settlements
    assert {d.outcome for d in done} == {"failed"}
    assert all("OptionVaultStaleOracle" in d.reason for d in done)
    assert keeper.metrics.value("keeper_settlements_total", {"outcome": "failed"}) == len(done)
    assert any(a["kind"] == "settlement" for a in keeper.alerter.sent)


def test_keeper_fills_the_redemption_queue_after_a_settlement(stack: Stack, tmp_path: Path) -> None:
    """A holder queued all of its shares; the settlement frees the rest and the keeper fills."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    admin = stack.admin
    assert vault.functions.maxWithdraw(admin.address).call() == 0, "its shares are in the queue"
    # the free quote now serves part of it: the whole of it waits for the collateral
    assert 0 < queue.functions.fillable().call() < shares

    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)  # out of the money: all collateral comes back
    keeper = _keeper(stack, tmp_path)
    run_cycle(keeper)

    assert vault.functions.openSeries().call() == [], "settled"
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() == 0, "filled in full"
    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == shares
    paid = int(queue.functions.maxWithdraw(admin.address).call())
    assert paid > 0
    before = int(stack.usdc.functions.balanceOf(admin.address).call())
    transact(stack.w3, admin, queue.functions.redeem(shares, admin.address, admin.address))
    assert int(stack.usdc.functions.balanceOf(admin.address).call()) - before == paid


def test_keeper_fill_discards_shares_sent_to_the_queue_without_a_request(
    stack: Stack, tmp_path: Path
) -> None:
    """No request, but shares sent to the queue: after the settlement the keeper's fill discards
    them, so the vault stops reserving quote for them."""
    vault = stack.vaults[0]
    queue = _queue_of(stack, vault)
    admin = stack.admin
    sent = int(vault.functions.balanceOf(admin.address).call()) // 4
    transact(stack.w3, admin, vault.functions.transfer(queue.address, sent))
    assert queue.functions.fillable().call() == 0

    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    keeper = _keeper(stack, tmp_path)
    run_cycle(keeper)

    assert vault.functions.openSeries().call() == [], "settled"
    assert vault.functions.balanceOf(queue.address).call() == 0, "discarded"
    assert vault.functions.balanceOf(queue.functions.DISCARD().call()).call() == sent


def test_keeper_fills_every_freed_queue_in_one_transaction(stack: Stack, tmp_path: Path) -> None:
    """Two vaults with holders queued: one cycle settles both books in one ``settleBatch`` and
    fills both queues in one ``fillBatch`` (it sent one ``fill()`` a queue, a block each)."""
    admin = stack.admin
    queued = [_queue_all(stack, vault) for vault in (stack.vaults[0], stack.vaults[2])]
    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    keeper = _keeper(stack, tmp_path)
    start = stack.w3.eth.block_number
    result = run_cycle(keeper)

    assert {s.outcome for s in result.settlements} == {"settled"}
    assert result.queue_fills == (stack.vaults[0].address, stack.vaults[2].address)
    for queue, shares in queued:
        assert queue.functions.pendingRedeemRequest(0, admin.address).call() == 0, "filled"
        assert queue.functions.claimableRedeemRequest(0, admin.address).call() == shares
    assert _sent_by_keeper(stack, start) == [
        (stack.batcher.address, SETTLE_BATCH_SELECTOR),
        (stack.batcher.address, FILL_BATCH_SELECTOR),
    ]
    assert not [a for a in keeper.alerter.sent if a["kind"] == "redemption_queue"]


def test_keeper_fills_a_queue_whose_series_someone_else_settled(
    stack: Stack, tmp_path: Path
) -> None:
    """The option buyer (or anyone) settled the series before the keeper saw it expired: the
    keeper's settle step never listed it, so it never filled the queue the settlement freed,
    and the queued holder waited for the vault's next settlement. The keeper now fills the
    queue of any vault whose locked collateral fell since its last read."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    admin = stack.admin
    keeper = _keeper(stack, tmp_path, queue_sweep_s=0)  # the fall alone, not the sweep
    run_cycle(keeper)  # hedges; the series are open, the request waits for their collateral
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() > 0

    [(_, sid, expiry)] = [s for s in _open(stack) if s[0] is vault]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    at_expiry = int(stack.feed.functions.latestRound().call())
    transact(stack.w3, admin, vault.functions.settle(sid, at_expiry))  # not the keeper
    assert vault.functions.openSeries().call() == []
    assert queue.functions.fillable().call() > 0

    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == 0
    run_cycle(keeper)
    # Filled in full: the inventory the first cycle's hedge bought is sold by this cycle's hedge,
    # before the fill (it was still inventory at a fill that went first).
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() == 0, "filled in full"
    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == shares


def test_the_fill_after_a_settlement_comes_after_the_hedge_and_pays_the_quote_it_freed(
    stack: Stack, tmp_path: Path
) -> None:
    """Found: the settle step filled the queues a settlement freed before the cycle's hedge. The
    hedge waited a block behind each fill transaction, and the quote it freed by selling the
    inventory the book no longer needed waited for a later fill (the next settlement, or the
    next queue sweep an hour on). The fill now comes after the hedge: it pays that quote out in
    the same cycle, and the hedge goes out right behind the settlement."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    admin = stack.admin
    keeper = _keeper(stack, tmp_path, queue_sweep_s=0)  # settlements alone, not the sweep
    run_cycle(keeper)  # hedges: buys inventory for the open calls; the request waits
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() > 0

    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)  # out of the money: all collateral comes back
    start = stack.w3.eth.block_number
    run_cycle(keeper)

    sent = _sent_by_keeper(stack, start)
    assert sent[0] == (stack.batcher.address, SETTLE_BATCH_SELECTOR), sent
    fills = [i for i, (to, _) in enumerate(sent) if to == queue.address]
    hedges = [i for i, (to, _) in enumerate(sent) if i > 0 and to != queue.address]
    assert fills, sent
    assert hedges, sent
    assert max(hedges) < min(fills), f"the hedge goes before the fill: {sent}"
    assert vault.functions.openSeries().call() == [], "settled"
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() == 0, "filled in full"
    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == shares


def test_a_restarted_keeper_fills_a_queue_settled_while_it_was_down(
    stack: Stack, tmp_path: Path
) -> None:
    """The keeper stopped; while it was down the option buyer (or anyone) settled a series.
    The restarted keeper had no reading of the vault's locked collateral to compare with, so it
    saw no fall and never filled the queue: the queued holder waited for the vault's next
    settlement. The last readings are now kept in the journal, and the restart compares with
    them."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    admin = stack.admin
    keeper = _keeper(stack, tmp_path, queue_sweep_s=0)  # the fall alone, not the sweep
    run_cycle(keeper)  # hedges and reads the locked collateral; the request waits
    assert keeper.sender is not None
    keeper.sender.journal.close()  # the keeper stops

    [(_, sid, expiry)] = [s for s in _open(stack) if s[0] is vault]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    at_expiry = int(stack.feed.functions.latestRound().call())
    transact(stack.w3, admin, vault.functions.settle(sid, at_expiry))  # not the keeper
    assert queue.functions.fillable().call() > 0

    keeper = _keeper(stack, tmp_path, queue_sweep_s=0)  # restarts on the same journal
    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == 0
    run_cycle(keeper)
    assert queue.functions.claimableRedeemRequest(0, admin.address).call() == shares  # in full


def test_keeper_fills_a_queue_the_free_quote_can_serve_without_a_settlement(
    stack: Stack, tmp_path: Path
) -> None:
    """Found: the keeper filled a redemption queue only after a settlement. Quote already free,
    or freed by a deposit or by the hedge selling inventory, served the queued holders only at
    the vault's next settlement (a week away for weekly series) or when anyone called
    ``fill()``. The keeper now sweeps its vaults' queues (``KEEPER_QUEUE_SWEEP_S``) and fills
    the ones the free quote can serve."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    admin = stack.admin
    assert 0 < queue.functions.fillable().call() < shares  # the rest waits for the collateral
    keeper = _keeper(stack, tmp_path)
    start = stack.w3.eth.block_number
    result = run_cycle(keeper)  # hedges; its sweep finds the queue fillable, the cycle fills it
    assert result.queue_fills == (vault.address,)
    assert vault.functions.openSeries().call() != [], "no settlement"
    claimable = int(queue.functions.claimableRedeemRequest(0, admin.address).call())
    assert claimable > 0
    assert claimable + queue.functions.pendingRedeemRequest(0, admin.address).call() == shares
    assert _fills(stack, start, queue) == 1

    # More quote is freed (a deposit), but the next sweep is an hour away: no fill before it.
    _deposit(stack, vault, 50_000 * 10**6)
    assert queue.functions.fillable().call() > 0
    run_cycle(keeper)
    run_cycle(keeper)
    assert _fills(stack, start, queue) == 1
    stack.advance(3_600)
    stack.set_price(PRICE)  # a fresh round: the oracle is not stale an hour on
    run_cycle(keeper)
    run_cycle(keeper)
    assert _fills(stack, start, queue) == 2
    assert queue.functions.pendingRedeemRequest(0, admin.address).call() == 0, "filled in full"


def test_keeper_does_not_sweep_queues_when_the_sweep_is_off(stack: Stack, tmp_path: Path) -> None:
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    keeper = _keeper(stack, tmp_path, queue_sweep_s=0)
    run_cycle(keeper)
    run_cycle(keeper)
    assert queue.functions.fillable().call() > 0
    assert queue.functions.pendingRedeemRequest(0, stack.admin.address).call() == shares


def _sent_by_keeper(stack: Stack, start: int) -> list[tuple[str, bytes]]:
    """(to, selector) of each of the keeper's transactions mined after block ``start``."""
    sent = []
    for number in range(start + 1, stack.w3.eth.block_number + 1):
        for tx in stack.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == stack.keeper.address:  # type: ignore[index]
                sent.append((tx["to"], bytes(tx["input"])[:4]))  # type: ignore[index]
    return sent


def _fills(stack: Stack, start: int, queue: Any) -> int:
    """The keeper's ``fill()`` transactions to ``queue`` mined after block ``start``."""
    return sum(1 for to, _ in _sent_by_keeper(stack, start) if to == queue.address)


def _deposit(stack: Stack, vault: Any, assets: int) -> None:
    """The admin deposits ``assets`` of quote (minted for it) into ``vault``."""
    admin = stack.admin
    transact(stack.w3, admin, stack.usdc.functions.mint(admin.address, assets))
    transact(stack.w3, admin, stack.usdc.functions.approve(vault.address, assets))
    transact(stack.w3, admin, vault.functions.deposit(assets, admin.address))


def test_a_dry_run_reports_the_queue_fills_and_settlements_it_would_send(
    stack: Stack, tmp_path: Path
) -> None:
    """Found: a dry-run cycle (``keeper check``) reported only the hedge. It read no queues, so
    a queue the free quote can serve was never shown, and the settlements it simulated were
    log lines at info level, under the default verbosity."""
    vault = stack.vaults[0]
    queue, shares = _queue_all(stack, vault)
    assert queue.functions.fillable().call() > 0  # the free quote serves part of it now
    keeper = build_keeper(stack.w3, stack.settings(tmp_path), dry_run=True)
    keeper.simulate_from = stack.keeper.address  # as `keeper check` simulates as the signer
    start = stack.w3.eth.block_number

    result = run_cycle(keeper)

    assert result.queue_fills == (vault.address,)
    assert result.settlements == ()
    assert _as_json(result)["queue_fills"] == [vault.address]
    # Once its series expired, the vault's exits (and so its queue's fills) wait for the
    # settlement, which the dry run simulates: the fill after it is not known before it.
    expiry = _open(stack)[0][2]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    expired = _open(stack)
    start = stack.w3.eth.block_number

    result = run_cycle(keeper)

    assert sorted((s.vault, s.series_id, s.outcome) for s in result.settlements) == sorted(
        (v.address, sid, "simulated")  # type: ignore[attr-defined]
        for v, sid, _ in expired
    )
    assert {s["outcome"] for s in _as_json(result)["settlements"]} == {"simulated"}
    assert result.queue_fills == ()
    assert stack.w3.eth.block_number == start, "nothing sent"
    assert _open(stack) == expired
    assert queue.functions.pendingRedeemRequest(0, stack.admin.address).call() == shares


def _as_json(result: Any) -> Any:
    """``result`` as ``keeper check --json`` prints it, read back."""
    return json.loads(json.dumps(result.to_dict(), default=str))


def test_a_settle_call_pinned_to_the_cycles_block_tells_a_wrong_hint_from_a_lagging_node(
    stack: Stack, tmp_path: Path
) -> None:
    """``_refused_at``, the check behind a simulation refused as the round: on a real node, an
    ``eth_call`` of ``settle`` pinned to the cycle's block takes the hint the search found there
    (so a refusal at ``latest`` was a node behind: the series waits), and refuses a wrong one
    (alerted at once)."""
    [(vault, sid, expiry), *_] = _open(stack)
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    stack.advance(600)
    stack.set_price(3_500 * 10**8)
    keeper = _keeper(stack, tmp_path)
    block = stack.w3.eth.block_number
    hint = expiry_round(stack.w3, stack.feed.address, expiry, stack.now(), block)
    assert hint is not None
    address = vault.address  # type: ignore[attr-defined]
    stack.rpc("evm_mine")  # the cycle's block is no longer the head
    assert _refused_at(keeper, address, sid, hint, block) is False
    assert _refused_at(keeper, address, sid, hint + 1, block) is True  # a later round


def test_an_expiry_round_dated_after_the_block_waits_without_an_alert_then_settles(
    stack: Stack, tmp_path: Path
) -> None:
    """The feed's first round at or after expiry is dated 10 minutes after the block that holds
    it. The vault refuses it until the block reaches that date; the keeper hinted it at once,
    its simulation was refused as the round, and a ``settlement`` alert followed. It now waits
    for the date, then settles at that round."""
    series = _open(stack)
    expiry = series[0][2]
    stack.advance(expiry - stack.now() + 5)
    ahead = stack.now() + 600
    nxt = int(stack.feed.functions.latestRound().call()) + 1
    transact(
        stack.w3,
        stack.admin,
        stack.feed.functions.updateRoundData(nxt, 2_900 * 10**8, ahead, ahead),
    )
    keeper = _keeper(stack, tmp_path)
    for _ in range(2):  # two cycles: a refusal waited one, then was alerted
        now = stack.now()
        done = settle_expired(keeper, keeper.vaults, stack.w3.eth.block_number, now).settlements
        assert {d.outcome for d in done} == {"waiting"}
        stack.advance(2)
    assert not [a for a in keeper.alerter.sent if a["kind"] == "settlement"]
    stack.advance(ahead - stack.now() + 1)
    done = settle_expired(keeper, keeper.vaults, stack.w3.eth.block_number, stack.now()).settlements
    assert {d.outcome for d in done} == {"settled"}
    _assert_settled_out_of_the_money(keeper, series)


def test_a_lone_settlement_the_buyer_beats_in_its_block_is_settled_by_other(
    stack: Stack, tmp_path: Path
) -> None:
    """The carried race: the keeper's own ``settle`` of a lone series and the option buyer's
    ``settle`` of it land in one block, the buyer's first (a higher tip). The buyer's settles;
    the keeper's reverts (``OptionVaultAlreadySettled``) and costs it that transaction's gas,
    nothing else: it is booked ``settled_by_other``, with no alert and no retry, and the series
    paid at the expiry round whoever settled it."""
    import threading
    import time

    vault = stack.vaults[0]
    [(_, sid, expiry)] = [s for s in _open(stack) if s[0] is vault]
    stack.advance(expiry - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    at_expiry = int(stack.feed.functions.latestRound().call())
    keeper = _keeper(stack, tmp_path, vaults=vault.address)
    block, now = stack.w3.eth.block_number, stack.now()
    me = stack.keeper.address
    sent_before = stack.w3.eth.get_transaction_count(me)
    steps: list[Any] = []
    stack.rpc("evm_setAutomine", False)
    try:
        worker = threading.Thread(
            target=lambda: steps.append(settle_expired(keeper, keeper.vaults, block, now))
        )
        worker.start()
        deadline = time.monotonic() + 60
        while stack.w3.eth.get_transaction_count(me, "pending") == sent_before:
            assert time.monotonic() < deadline, "the keeper sent nothing"
            time.sleep(0.05)
        buyer = stack.w3.eth.accounts[7]
        theirs = vault.functions.settle(sid, at_expiry).transact(  # type: ignore[attr-defined]
            {"from": buyer, "maxPriorityFeePerGas": 10**12, "maxFeePerGas": 10**13}
        )
        stack.rpc("evm_mine")
        worker.join(120)
    finally:
        stack.rpc("evm_setAutomine", True)
    [step] = steps
    [s] = step.settlements
    assert s.outcome == "settled_by_other"
    ours = stack.w3.eth.get_transaction_receipt(s.tx_hash)  # type: ignore[arg-type]
    won = stack.w3.eth.get_transaction_receipt(theirs)
    assert (won["status"], ours["status"]) == (1, 0)
    assert won["blockNumber"] == ours["blockNumber"]
    assert won["transactionIndex"] < ours["transactionIndex"]
    assert not [a for a in keeper.alerter.sent if a["kind"] == "settlement"]
    paid = ours["gasUsed"] * ours["effectiveGasPrice"]
    assert keeper.metrics.value("keeper_gas_spent_wei_total") == paid
    assert ours["gasUsed"] < 40_000, "a revert at the already-settled check"
    assert vault.functions.series(sid).call()[7] == 0  # at 2,900, out of the money
    # The next cycle sends nothing for it: the series is no longer open.
    again = settle_expired(keeper, keeper.vaults, stack.w3.eth.block_number, stack.now())
    assert again.settlements == ()
    assert stack.w3.eth.get_transaction_count(me) == sent_before + 1


def test_check_and_rehearse_say_the_same_of_the_expired_series(
    stack: Stack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``keeper rehearse`` settled the expired series on its fork and its report said nothing
    of them, where ``keeper check`` lists each one it would settle: both now list them, by one
    line and one JSON key (``settlements``), the check's "would settle" the rehearsal's
    "settled" at the same round."""
    series = _open(stack)
    stack.advance(series[0][2] - stack.now() + 5)
    stack.set_price(2_900 * 10**8)
    for name in [n for n in os.environ if n.startswith("KEEPER_") and n != "KEEPER_ARTIFACTS_DIR"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[3])  # check simulates as the keeper
    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    common = [
        "--env-file",
        os.devnull,
        "--addresses",
        str(addresses),
        "--policy",
        "band:width=0.0001",
    ]
    rehearse = ["rehearse", "--fork-url", stack.node.url, *common]
    expected = sorted((v.address, sid) for v, sid, _ in series)  # type: ignore[attr-defined]

    assert main(["check", *common, "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["settlements"]
    assert sorted((s["vault"], s["series_id"]) for s in check) == expected
    assert {s["outcome"] for s in check} == {"simulated"}
    assert main([*rehearse, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    rehearsed = body["settlements"]
    assert {s["outcome"] for s in rehearsed} == {"settled"}
    # their transactions count in the cost on the fork, with the hedge's
    assert {s["tx_hash"] for s in rehearsed} <= set(body["fork_txs"])
    assert body["tx_hash"] is None or body["tx_hash"] in body["fork_txs"]
    rounds = {(s["vault"], s["series_id"]): s["round_id"] for s in check}
    assert {(s["vault"], s["series_id"]): s["round_id"] for s in rehearsed} == rounds

    assert main(["check", *common]) == 0
    table = capsys.readouterr().out.splitlines()
    assert f"settlements: {len(series)} expired series" in table
    assert main(rehearse) == 0
    report = capsys.readouterr().out.splitlines()
    assert f"settlements on the fork: {len(series)} expired series" in report
    for s in rehearsed:
        line = f"  series {s['series_id']} of {s['vault']}: settled at round {s['round_id']}"
        assert f"{line} in tx {s['tx_hash']}" in report
        assert line.replace("settled", "would settle") in table
    # the live chain's series are still open: the rehearsal settled them on its fork only
    assert all(not v.functions.series(sid).call()[6] for v, sid, _ in series)  # type: ignore[attr-defined]
