"""Reaction latency: blocks from the oracle update that pushes a vault out of its band to the block
that mines its rebalance, with the real keeper loop running against 1-second blocks.

The devnet is deployed on automine and then switched to 1-second interval mining (the same as
``anvil --block-time 1``, without pacing the deployment). Its vaults each write 80 ATM capped
calls (cap 1,000; 30 days, 80% vol), so a 1.5% oracle move shifts a vault's delta by ~0.9,
about twice its 0.5 band, while the pool (left at 3,000) stays inside the vaults' 3% oracle-gap
bound: each trial is one ``updateAnswer`` transaction, alternating 3,000 -> 3,045 -> 3,000 ...

The keeper is :class:`keeper.app.loop.Runner` over :func:`keeper.app.wiring.build_keeper` (the
``keeper run`` path: lens, policy, simulation, signing, journal, send, receipt wait) in a thread,
with its own connection, a signer, ``poll_interval_s=0.1`` and a band policy whose width equals
the vaults' on-chain band (0.5 / 80 contracts).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import progress, summary
from bench.devnet import PRICE8, BenchDevnet, bind, start_devnet
from keeper.app.loop import Runner
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.connection import connect
from keeper.devnet.stack import WAD, ThresholdParams
from keeper.devnet.tx import transact
from keeper.errors import ChainError
from keeper.settings import load_settings

SERIES = ((0, 3_000 * 10**8, 1_000 * 10**8, 30, 80),)
MOVE_BPS = 150
POLL_S = 0.1


def _wait_block_after(dev: BenchDevnet, block: int, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        head = int(dev.w3.eth.block_number)
        if head > block:
            return head
        time.sleep(0.05)
    raise ChainError(f"no block after {block} within {timeout_s}s")


def _rebalanced_at(dev: BenchDevnet, vault: Any, after: int, timeout_s: float) -> int:
    """The first block after ``after`` holding the vault's own ``Rebalanced`` event.

    Every rebalance emits it, in a batch or in a lone vault's transaction sent to the vault.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = vault.events.Rebalanced().get_logs(from_block=after + 1)
        if logs:
            return min(int(log["blockNumber"]) for log in logs)
        time.sleep(0.05)
    raise ChainError(f"vault {vault.address} not rebalanced within {timeout_s}s of block {after}")


def bench_reaction(trials: int, n_vaults: int = 3) -> dict[str, Any]:
    """Run ``trials`` oracle moves; return the blocks-to-rebalance statistics."""
    dev = start_devnet(
        n_vaults,
        series=SERIES,
        thresholds=ThresholdParams(
            band=WAD // 2,
            max_trade=100 * WAD,
            min_interval=1,
            max_slippage_bps=300,  # the gap bound may not exceed it (the vault enforces it)
            max_oracle_gap_bps=300,
        ),
        block_time=1,
    )
    blocks: list[int] = []
    seconds: list[float] = []
    try:
        w3 = dev.w3
        feed = bind(w3, "MockV3Aggregator", dev.stack.price_feed)
        vault = bind(w3, "OptionVault", dev.stack.vaults[0])
        with tempfile.TemporaryDirectory(prefix="bench-reaction-") as tmp:
            settings = load_settings(
                env_file=None,
                rpc_url=dev.node.url,
                chain_id=int(w3.eth.chain_id),
                lens=dev.stack.lens,
                batcher=dev.stack.batcher,
                vaults=",".join(dev.stack.vaults),
                private_key=ANVIL_KEYS[3],
                journal_path=Path(tmp) / "journal.sqlite",
                policy=f"band:width={0.5 / SERIES[0][4]}",
                poll_interval_s=POLL_S,
                receipt_timeout_s=30,
            )
            keeper = build_keeper(connect(dev.node.url), settings)
            runner = Runner(keeper, poll_interval_s=POLL_S, breaker_threshold=1_000)
            thread = threading.Thread(target=runner.run, name="keeper", daemon=True)
            thread.start()
            try:
                # The freshly written books are all out of band: the first batch hedges them.
                start = int(w3.eth.block_number)
                _rebalanced_at(dev, vault, 0, 60)
                _wait_block_after(dev, start + 2)
                for trial in range(trials):
                    price = PRICE8 * (10_000 + MOVE_BPS) // 10_000 if trial % 2 == 0 else PRICE8
                    t0 = time.monotonic()
                    receipt = transact(w3, dev.admin, feed.functions.updateAnswer(price))
                    b0 = int(receipt["blockNumber"])
                    b1 = _rebalanced_at(dev, vault, b0 - 1, 30)
                    blocks.append(b1 - b0)
                    seconds.append(time.monotonic() - t0)
                    # Let the keeper finish its receipt wait before the next move.
                    _wait_block_after(dev, b1 + 1)
                    progress("reaction trial %d/%d: %d blocks", trial + 1, trials, b1 - b0)
                    if not thread.is_alive():
                        raise ChainError(f"keeper loop ended: {runner.last_error}")
            finally:
                runner.stop()
                thread.join(timeout=60)
            if runner.failures:
                progress(
                    "reaction: keeper had %d failed cycles: %s", runner.failures, runner.last_error
                )
    finally:
        dev.close()
    b = summary([float(x) for x in blocks])
    return {
        "median": b["median"],
        "min": b["min"],
        "max": b["max"],
        "trials": len(blocks),
        "blocks": blocks,
        "seconds_from_send": summary(seconds),
        "block_time_s": 1,
        "poll_interval_s": POLL_S,
        "move_bps": MOVE_BPS,
    }
