"""Settling a common expiry: ``settleBatch`` and ``fillBatch`` against one transaction each.

Many vaults writing the same expiry (a weekly Friday expiry, say) see their series expire in the
same block, and holders who queued their exits (ERC-7540 redemption queues) wait for that
expiry's freed collateral. The keeper's cycle settles the series before its hedge, and fills
the queues the settlements freed last, after the hedge; nothing is sent behind a transaction
whose receipt has not come, so every block the settlements take is a block no vault is hedged
in. This section measures both steps on a devnet with 1-second blocks (interval mining, as a
live L2 mines), for N vaults whose one series each expired together, each with its depositor's
shares queued:

- **one a transaction** (the baseline, and the keeper's behaviour before the batcher's
  ``settleBatch`` and ``fillBatch``): the keeper built without a batcher settles each series
  with its vault's own ``settle`` and fills each queue with its own ``fill()``, waiting for
  each receipt;
- **batched**: the same keeper settles them through ``RebalanceBatcher.settleBatch`` and fills
  the queues through ``fillBatch``, ``SETTLE_BATCH_MAX`` a transaction.

Both run :func:`keeper.app.settle.settle_expired`, then :func:`keeper.app.settle.fill_due_queues`
(the cycle's hedge goes between them; none is due here), with a real journaled sender
(``build_keeper``) on their own N vaults, at the same time and oracle round. Measured: the blocks
from the start to the last settlement's receipt (the blocks the hedge waits) and to the last
fill's (the blocks until every queue is filled), the wall time, the keeper's transactions, their
gas (receipts) and the L1 fee the keeper booked
(``keeper_l1_fee_spent_wei``, the devnet's OP fee oracle); cost = gas x 0.01 gwei + that L1
fee. Every series is checked settled and every request filled.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from bench.common import progress, ratio
from bench.devnet import PRICE8, BenchDevnet, bind, start_devnet
from keeper.app.collaborators import Keeper
from keeper.app.settle import SETTLE_BATCH_MAX, fill_due_queues, settle_expired
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.devnet.stack import WAD, ThresholdParams
from keeper.devnet.tx import deploy, transact
from keeper.errors import ChainError
from keeper.settings import load_settings

#: One capped call a vault, expiring in a day (type, strike, cap, days, contracts).
SERIES = ((0, 3_000 * 10**8, 1_000 * 10**8, 1, 1),)
#: The L2 base fee of every block (0.01 gwei, as in the batching section).
L2_BASE_FEE = 10**7
MODES = ("single", "batch")


def bench_settling(sizes: list[int]) -> dict[str, Any]:
    """Settle ``n`` series expired together, one a transaction and batched, for each ``n``."""
    total = 2 * sum(sizes)
    dev = start_devnet(
        total, series=SERIES, thresholds=ThresholdParams(band=WAD // 2, max_trade=100 * WAD)
    )
    rows: list[dict[str, Any]] = []
    try:
        w3 = dev.w3
        # Past every expiry, then a round after it (the one each series settles at).
        dev.rpc("evm_increaseTime", hex(2 * 86_400))
        dev.rpc("evm_mine")
        feed = bind(w3, "MockV3Aggregator", dev.stack.price_feed)
        transact(w3, dev.admin, feed.functions.updateAnswer(PRICE8 * 105 // 100))
        queues = _queue_exits(dev)
        dev.rpc("evm_setIntervalMining", 1)
        free = list(dev.stack.vaults)
        with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
            for n in sizes:
                row: dict[str, Any] = {"series": n}
                for mode in MODES:
                    vaults, free = free[:n], free[n:]
                    journal = Path(tmp) / f"{mode}-{n}.sqlite"
                    row[mode] = _settle(dev, vaults, queues, mode, journal)
                    progress(
                        "settling: %d series %s: %d txs, %d blocks (the hedge waited %d)",
                        n,
                        mode,
                        row[mode]["transactions"],
                        row[mode]["blocks"],
                        row[mode]["hedge_blocks"],
                    )
                row["blocks_ratio"] = ratio(row["batch"]["blocks"], row["single"]["blocks"])
                row["hedge_blocks_ratio"] = ratio(
                    row["batch"]["hedge_blocks"], row["single"]["hedge_blocks"]
                )
                row["cost_ratio"] = ratio(row["batch"]["cost_wei"], row["single"]["cost_wei"])
                rows.append(row)
    finally:
        dev.close()
    return {
        "rows": rows,
        "block_time_s": 1,
        "l2_base_fee_wei": L2_BASE_FEE,
        "batch_max": SETTLE_BATCH_MAX,
    }


def _keeper(dev: BenchDevnet, vaults: list[str], journal: Path) -> Keeper:
    settings = load_settings(
        env_file=None,
        rpc_url=dev.node.url,
        chain_id=int(dev.w3.eth.chain_id),
        lens=dev.stack.lens,
        batcher=dev.stack.batcher,
        vaults=",".join(vaults),
        private_key=ANVIL_KEYS[3],
        journal_path=journal,
        receipt_timeout_s=60,
    )
    return build_keeper(connect(dev.node.url), settings)


def _queue_exits(dev: BenchDevnet) -> dict[str, Contract]:
    """Give every vault a redemption queue holding all of its depositor's shares.

    The depositor (the stack's admin, each vault's seed deposit) queues its whole position: the
    free quote serves part of it, the rest waits for the expiry's settlement.
    """
    w3, admin = dev.w3, dev.admin
    artifact = load_artifact("RedemptionQueue")
    queues: dict[str, Contract] = {}
    for address in dev.stack.vaults:
        vault = bind(w3, "OptionVault", address)
        queue = deploy(w3, admin, artifact, address)
        transact(w3, admin, vault.functions.setRedemptionQueue(queue.address))
        shares = int(vault.functions.balanceOf(admin.address).call())
        transact(w3, admin, vault.functions.approve(queue.address, shares))
        transact(w3, admin, queue.functions.requestRedeem(shares, admin.address, admin.address))
        queues[address] = queue
    return queues


def _settle(
    dev: BenchDevnet, vaults: list[str], queues: dict[str, Contract], mode: str, journal: Path
) -> dict[str, Any]:
    """Settle ``vaults`` (each with one expired series and its depositor's shares queued), then
    fill the queues the settlements freed, as a cycle does around its hedge; measure both."""
    w3 = dev.w3
    keeper = _keeper(dev, vaults, journal)
    if mode == "single":
        keeper.batcher = None  # one series, then one queue, a transaction, as before
    head = w3.eth.get_block("latest")
    t0 = time.monotonic()
    step = settle_expired(keeper, vaults, int(head["number"]), int(head["timestamp"]))
    outcomes = [s.outcome for s in step.settlements]
    if outcomes != ["settled"] * len(vaults) or step.pending is not None:
        raise ChainError(f"settling {len(vaults)} series ({mode}): {outcomes}, {step.pending}")
    settled = _receipts_from(w3, dev.keeper.address, int(head["number"]) + 1)
    # The cycle's hedge would go here, then the fills.
    left = fill_due_queues(keeper, int(head["number"]))
    seconds = time.monotonic() - t0
    if left is not None:
        raise ChainError(f"filling {len(vaults)} queues ({mode}): {left}")
    # Filled: the request is claimable, and nothing the vault allows the queue is left to fill
    # (a remainder worth less than one asset unit, ~100 share units here, stays pending: a fill
    # never burns shares for no assets).
    admin = dev.admin.address
    unfilled = [
        v
        for v in vaults
        if queues[v].functions.fillable().call()
        or not queues[v].functions.claimableRedeemRequest(0, admin).call()
    ]
    if unfilled:
        raise ChainError(f"{len(unfilled)} of {len(vaults)} queues not filled ({mode})")
    receipts = _receipts_from(w3, dev.keeper.address, int(head["number"]) + 1)
    gas = sum(int(r["gasUsed"]) for r in receipts)
    l1 = int(keeper.metrics.value("keeper_l1_fee_spent_wei_total"))
    return {
        "transactions": len(receipts),
        # From the block the step started at to the block of its last receipt: the blocks until
        # every queue is filled.
        "blocks": max(int(r["blockNumber"]) for r in receipts) - int(head["number"]),
        # ... and to the last settlement's: the blocks the cycle's hedge waits.
        "hedge_blocks": max(int(r["blockNumber"]) for r in settled) - int(head["number"]),
        "seconds": round(seconds, 2),
        "gas": gas,
        "gas_per_vault": round(gas / len(vaults)),
        "l1_fee_wei": l1,
        # At a fixed L2 base fee: the devnet's own drifts from block to block.
        "cost_wei": gas * L2_BASE_FEE + l1,
    }


def _receipts_from(w3: Web3, sender: str, first: int) -> list[Any]:
    """The receipts of ``sender``'s transactions mined from block ``first`` to the head."""
    out = []
    for number in range(first, int(w3.eth.block_number) + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if isinstance(tx, (bytes, str)) or tx["from"] != sender:
                continue
            out.append(w3.eth.get_transaction_receipt(tx["hash"]))
    return out
