"""The devnet market under interval mining: other senders share the market's blocks.

Under interval mining (the chaos suite's 1-second blocks) the keeper's hedge, or any other
transaction, can land in the same block as a market transaction, before or after it. The market's
checks must hold against the state each of its transactions really executed in.
"""

from __future__ import annotations

import threading
import time

import pytest
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.app.demo import deploy_demo_stack
from keeper.chain.anvil import ANVIL_KEYS
from keeper.devnet.market import USDC, Flow, Market, MarketConfig, demo_accounts
from keeper.devnet.tx import account
from keeper.errors import KeeperError
from tests.conftest import Chain

pytestmark = pytest.mark.integration


@pytest.fixture
def market(anvil_chain: Chain) -> Market:
    w3 = anvil_chain.w3
    accounts = demo_accounts()
    cfg = MarketConfig(seed=3, steps=5)
    stack = deploy_demo_stack(w3, accounts, 1, cfg.spot8)
    m = Market(w3, stack, accounts, cfg, exact_preview=False)
    m.setup()
    return m


def _rpc(w3: Web3, method: str, *params: object) -> object:
    resp = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in resp, resp
    return resp.get("result")


def _pending(w3: Web3) -> int:
    content = _rpc(w3, "txpool_content")
    assert isinstance(content, dict)
    return sum(len(txs) for txs in content["pending"].values())


def _oracle_move_in_the_same_block(market: Market, flow: str) -> tuple[Flow, int]:
    """Run a deposit or withdrawal and, in the same block after it, an oracle update."""
    w3 = market.w3
    vault = next(iter(market.vaults))
    who = market.acct.depositors[0]
    _rpc(w3, "evm_setAutomine", False)
    out: dict[str, object] = {}

    def run() -> None:
        try:
            if flow == "withdraw":
                out["flow"] = market._flow(1, vault, who, "withdraw", 1_000 * USDC)
            else:
                out["flow"] = market._flow(1, vault, who, "deposit", 50_000 * USDC)
        except (KeeperError, Web3Exception, ValueError) as exc:  # to the test thread
            out["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while _pending(w3) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pending(w3) == 1
    # Another sender (account 1, unused by the demo) moves the oracle 5%, at the lowest fee the
    # block takes: anvil orders a block by fee, so it executes after the flow and changes the
    # vault's NAV.
    other = account(ANVIL_KEYS[1])
    base = int(w3.eth.get_block("latest")["baseFeePerGas"] or 0)
    price = market.prices[0] * 105 // 100
    tx = market.feed.functions.updateAnswer(price).build_transaction(
        {
            "from": other.address,
            "nonce": w3.eth.get_transaction_count(other.address),
            "maxFeePerGas": base,
            "maxPriorityFeePerGas": 0,
            "gas": 200_000,
        }
    )
    w3.eth.send_raw_transaction(other.sign_transaction(tx).raw_transaction)
    _rpc(w3, "evm_mine")
    worker.join(60)
    _rpc(w3, "evm_setAutomine", True)
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    result = out["flow"]
    assert isinstance(result, Flow)
    block = w3.eth.get_block(result.block, full_transactions=True)
    order = [str(t["to"]).lower() for t in block["transactions"]]
    assert order == [vault.lower(), market.feed.address.lower()]  # the flow, then the oracle
    return result, len(block["transactions"])


@pytest.mark.parametrize("flow", ["deposit", "withdraw"])
def test_a_flow_is_checked_against_the_state_it_executed_in(market: Market, flow: str) -> None:
    if flow == "withdraw":
        market._flow(0, next(iter(market.vaults)), market.acct.depositors[0], "deposit", 10**10)
    result, txs = _oracle_move_in_the_same_block(market, flow)
    assert txs == 2  # the oracle update really shared the flow's block
    assert result.shares > 0
    assert result.expected == result.shares  # OZ's math at the flow's own pre-state


def _tx_blocks(w3: Web3, start: int) -> dict[str, list[int]]:
    """Per target address (lower case): the blocks from ``start`` with a transaction to it."""
    out: dict[str, list[int]] = {}
    for n in range(start, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            assert not isinstance(tx, bytes)
            out.setdefault(str(tx["to"]).lower(), []).append(n)
    return out


def _pending_targets(w3: Web3) -> set[str]:
    """The target addresses (lower case) of the transactions in the pool."""
    content = _rpc(w3, "txpool_content")
    assert isinstance(content, dict)
    return {str(tx["to"]).lower() for txs in content["pending"].values() for tx in txs.values()}


def _step_mined_by_hand(market: Market, i: int, first_block: set[str]) -> None:
    """Play market step ``i`` with its blocks mined here, as an interval miner would, but at
    known points: the step's first block once the pool holds a transaction to each address in
    ``first_block`` (after 30 s, whatever it holds), then a block whenever one is pending, until
    the step returns. No wall-clock block boundary can fall between sends the step has made
    before waiting for any of them."""
    w3 = market.w3
    out: dict[str, BaseException] = {}

    def run() -> None:
        try:
            market.step(i)
        except (KeeperError, Web3Exception, ValueError) as exc:  # to the test thread
            out["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    waiting, deadline = set(first_block), time.monotonic() + 30
    while worker.is_alive():
        pending = _pending_targets(w3)
        if pending and (waiting <= pending or time.monotonic() > deadline):
            _rpc(w3, "evm_mine")
            waiting = set()
        time.sleep(0.01)
    worker.join()
    if "error" in out:
        raise out["error"]


@pytest.mark.parametrize("together", [False, True])
def test_a_step_moves_the_oracle_and_the_pool_in_one_block_when_asked(
    anvil_chain: Chain, together: bool
) -> None:
    """``price_in_one_block`` sends a step's oracle update and its arbitrage (one swap: the
    arbitrageur is funded up front) before waiting for either, so under interval mining the
    block that takes one takes both. Without it they go one after the other, and the pool lags
    the oracle by a block or more: blocks in which a vault's own oracle-gap check refuses any
    hedge, whoever the keeper is.

    The blocks are mined by hand (:func:`_step_mined_by_hand`), the step's first once both sends
    are in the pool: under a 1-second interval miner, a stall of the machine between the two
    sends put a block boundary between them, and the test missed."""
    w3 = anvil_chain.w3
    accounts = demo_accounts()
    cfg = MarketConfig(seed=3, steps=5, vol=1.6, price_in_one_block=together)
    stack = deploy_demo_stack(w3, accounts, 1, cfg.spot8)
    m = Market(w3, stack, accounts, cfg, exact_preview=False)
    m.setup()
    feed, router = stack.price_feed.lower(), stack.swap_router.lower()
    _rpc(w3, "evm_setAutomine", False)
    one_block = []
    try:
        for i in range(1, 5):
            start = w3.eth.block_number + 1
            # Apart, the swap waits for the oracle's block: the first block cannot wait for it.
            _step_mined_by_hand(m, i, {feed, router} if together else {feed})
            blocks = _tx_blocks(w3, start)
            oracle, swaps = blocks.get(feed, []), blocks.get(router, [])
            assert len(oracle) == 1, blocks
            assert swaps, blocks
            # Anything else the arbitrage sent (a mint, an approval) is a block more.
            last = max(swaps)
            arbitrage = [b for to, bs in blocks.items() if to != feed for b in bs if b <= last]
            one_block.append(set(arbitrage) == set(oracle))
            if together:
                assert one_block[-1], blocks
            else:
                assert min(swaps) > oracle[0], blocks
    finally:
        _rpc(w3, "evm_setAutomine", True)
    assert all(one_block) if together else not any(one_block), one_block
