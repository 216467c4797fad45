"""Watches the chain directly (never through the fault proxy), one observation per block.

For every block it reads, at that block: every vault through the lens (is it outside its band?),
each vault's own ``Rebalanced`` events (emitted by every rebalance, in a batch or in a lone
vault's transaction sent to the vault itself) and the batcher's ``VaultRebalanceFailed``, with
their transaction hashes, and the base fee. An ``on_block`` hook runs after each block (the
fee-spike section sets the next block's base fee there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from web3 import Web3
from web3.exceptions import MismatchedABI, Web3Exception

from bench.chaos.measure import BlockObs
from keeper.chain.artifacts import load_artifact
from keeper.chain.lens import LensReader
from keeper.errors import KeeperError

logger = logging.getLogger("bench")


class ChainMonitor:
    """Records a :class:`~bench.chaos.measure.BlockObs` per block, in a daemon thread.

    Args:
        w3: A direct connection to the node (its own; used only by this thread).
        lens: The VaultLens address.
        batcher: The RebalanceBatcher address.
        vaults: The vaults to watch.
        poll_s: How often to look for a new block.
    """

    def __init__(
        self, w3: Web3, lens: str, batcher: str, vaults: list[str], *, poll_s: float = 0.2
    ) -> None:
        self.w3 = w3
        self.lens = LensReader(w3, lens)
        self.vaults = vaults
        self.poll_s = poll_s
        self.batcher = w3.eth.contract(
            address=Web3.to_checksum_address(batcher), abi=load_artifact("RebalanceBatcher").abi
        )
        self.vault_events = w3.eth.contract(abi=load_artifact("OptionVault").abi)
        self.blocks: list[BlockObs] = []
        self.on_block: Callable[[BlockObs], None] | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = int(w3.eth.block_number) + 1
        self._lock = threading.Lock()

    def start(self) -> ChainMonitor:
        """Start watching from the next block."""
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Catch up to the head, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    @property
    def head(self) -> int:
        """The last block observed."""
        return self._next - 1

    def snapshot(self) -> list[BlockObs]:
        """The blocks observed so far."""
        with self._lock:
            return list(self.blocks)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                head = int(self.w3.eth.block_number)
                while self._next <= head:
                    obs = self._observe(self._next)
                    with self._lock:
                        self.blocks.append(obs)
                    self._next += 1
                    if self.on_block is not None and not stopping:
                        self.on_block(obs)
            except (KeeperError, Web3Exception, OSError, ValueError) as exc:
                self.errors += 1
                logger.debug("monitor: %s", exc)
            if stopping:
                return
            self._stop.wait(self.poll_s)

    def _observe(self, n: int) -> BlockObs:
        block = self.w3.eth.get_block(n)
        snaps = self.lens.read(self.vaults, block=n).snapshots
        outside = {
            s.vault: abs(s.net_delta - s.thresholds.target_delta) > s.thresholds.band for s in snaps
        }
        ready = {s.vault: bool(s.trigger_ready) for s in snaps}
        rebalanced: dict[str, list[str]] = {}
        failed: dict[str, list[str]] = {}
        watched = [self.batcher.address, *(Web3.to_checksum_address(v) for v in self.vaults)]
        logs = self.w3.eth.get_logs({"address": watched, "fromBlock": n, "toBlock": n})
        ok_event = self.vault_events.events.Rebalanced()
        bad_event = self.batcher.events.VaultRebalanceFailed()
        for log in logs:
            tx = "0x" + bytes(log["transactionHash"]).hex()
            source = str(Web3.to_checksum_address(log["address"]))
            if source == self.batcher.address:
                try:
                    decoded = bad_event.process_log(log)
                except MismatchedABI:
                    continue  # another batcher event
                vault = str(Web3.to_checksum_address(decoded["args"]["vault"]))
                failed.setdefault(vault, []).append(tx)
                continue
            try:
                ok_event.process_log(log)
            except MismatchedABI:
                continue  # another vault event (a deposit, a write, ...)
            rebalanced.setdefault(source, []).append(tx)
        return BlockObs(
            n, int(block.get("baseFeePerGas", 0) or 0), outside, rebalanced, failed, ready
        )
