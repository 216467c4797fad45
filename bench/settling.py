"""Settling a common expiry: one ``settleBatch`` transaction against one transaction a series.

Many vaults writing the same expiry (a weekly Friday expiry, say) see their series expire in the
same block. The keeper's settle step runs before its hedge, and nothing is sent behind a
settlement whose receipt has not come, so every block the settlements take is a block no vault
is hedged in. This section measures that step on a devnet with 1-second blocks (interval
mining, as a live L2 mines), for N vaults whose one series each expired together:

- **one a transaction** (the baseline, and the keeper's behaviour before ``settleBatch``): the
  keeper built without a batcher settles each series with its vault's own ``settle``, waiting
  for each receipt;
- **batched**: the same keeper settles them through ``RebalanceBatcher.settleBatch``,
  ``SETTLE_BATCH_MAX`` series a transaction.

Both run :func:`keeper.app.settle.settle_expired` with a real journaled sender (``build_keeper``)
on their own N vaults, at the same time and oracle round. Measured: the blocks from the step's
first send to its last receipt (the blocks the hedge waits), the step's wall time, the
transactions, their gas (receipts) and the L1 fee the keeper booked (``keeper_l1_fee_spent_wei``,
the devnet's OP fee oracle); cost = gas x 0.01 gwei + that L1 fee. Every series is checked
settled.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from eth_typing import HexStr

from bench.common import progress, ratio
from bench.devnet import PRICE8, BenchDevnet, bind, start_devnet
from keeper.app.collaborators import Keeper
from keeper.app.settle import SETTLE_BATCH_MAX, settle_expired
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.connection import connect
from keeper.devnet.stack import WAD, ThresholdParams
from keeper.devnet.tx import transact
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
        dev.rpc("evm_setIntervalMining", 1)
        free = list(dev.stack.vaults)
        with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
            for n in sizes:
                row: dict[str, Any] = {"series": n}
                for mode in MODES:
                    vaults, free = free[:n], free[n:]
                    row[mode] = _settle(dev, vaults, mode, Path(tmp) / f"{mode}-{n}.sqlite")
                    progress(
                        "settling: %d series %s: %d txs, %d blocks",
                        n,
                        mode,
                        row[mode]["transactions"],
                        row[mode]["blocks"],
                    )
                row["blocks_ratio"] = ratio(row["batch"]["blocks"], row["single"]["blocks"])
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


def _settle(dev: BenchDevnet, vaults: list[str], mode: str, journal: Path) -> dict[str, Any]:
    """Run one settle step over ``vaults`` (each with one expired series) and measure it."""
    w3 = dev.w3
    keeper = _keeper(dev, vaults, journal)
    if mode == "single":
        keeper.batcher = None  # the step then settles one series a transaction, as before
    nonce0 = int(w3.eth.get_transaction_count(dev.keeper.address))
    head = w3.eth.get_block("latest")
    t0 = time.monotonic()
    step = settle_expired(keeper, vaults, int(head["number"]), int(head["timestamp"]))
    seconds = time.monotonic() - t0
    txs = int(w3.eth.get_transaction_count(dev.keeper.address)) - nonce0
    outcomes = [s.outcome for s in step.settlements]
    if outcomes != ["settled"] * len(vaults):
        raise ChainError(f"settling {len(vaults)} series ({mode}): {outcomes}")
    receipts = [
        w3.eth.get_transaction_receipt(HexStr(h))
        for h in {s.tx_hash for s in step.settlements if s.tx_hash}
    ]
    gas = sum(int(r["gasUsed"]) for r in receipts)
    l1 = int(keeper.metrics.value("keeper_l1_fee_spent_wei_total"))
    return {
        "transactions": txs,
        # From the block the step started at to the block of its last receipt: the blocks the
        # cycle's hedge waits behind the settlements.
        "blocks": max(int(r["blockNumber"]) for r in receipts) - int(head["number"]),
        "seconds": round(seconds, 2),
        "gas": gas,
        "gas_per_series": round(gas / len(vaults)),
        "l1_fee_wei": l1,
        # At a fixed L2 base fee: the devnet's own drifts from block to block.
        "cost_wei": gas * L2_BASE_FEE + l1,
    }
