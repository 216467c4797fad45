"""The queue sweep: reading every vault's redemption queue, batched, against one call at a time.

Every ``KEEPER_QUEUE_SWEEP_S`` a signing keeper reads each healthy vault's ERC-7540 queue
(:mod:`keeper.app.sweep`): the vault's ``redemptionQueue()`` (once: it is set once), then the
queue's ``fillable()`` and ``totalPending()``. This section times that read on a devnet of N
vaults (:func:`bench.devnet.start_devnet`) whose queues are all one ``RedemptionQueue`` (what
an ``eth_call`` costs does not depend on which queue answers, and deploying N queues would
dominate the setup; :func:`_share_one_queue` installs it):

- **ours, first sweep**: :func:`keeper.chain.queues.read_queues` with no queue known, three
  calls a vault in JSON-RPC batches of ``CALLS_PER_REQUEST``;
- **ours, later sweeps**: the same with every queue known, two calls a vault;
- **a cycle's slice**: a later sweep's ``SWEEP_SLICE`` vaults, what one cycle waits for;
- **naive**: the three calls a vault one at a time, as a bot without batching would.

Each on its own counted connection (``RpcCounter``): wall time, median of the runs with min and
max, and HTTP requests.
"""

from __future__ import annotations

import time
from typing import Any

from web3 import Web3
from web3.contract import Contract

from bench.common import progress, ratio, summary
from bench.devnet import BenchDevnet, bind, start_devnet
from keeper.app.sweep import SWEEP_SLICE
from keeper.chain.artifacts import load_artifact
from keeper.chain.calls import CALLS_PER_REQUEST
from keeper.chain.connection import connect, rpc_counter
from keeper.chain.queues import read_queues
from keeper.devnet.tx import deploy, transact
from keeper.errors import ChainError

#: Storage slots of vault 0 searched for its queue's address (``OptionVault``'s own variables
#: come first; the queue's slot is well within them).
QUEUE_SLOT_SCAN = 64


def bench_sweep(sizes: list[int], reps: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """Time a queue sweep of ``n`` vaults for each ``n`` (``reps[n]``: ours, naive runs)."""
    dev = start_devnet(max(sizes))
    rows: list[dict[str, Any]] = []
    try:
        vaults = list(dev.stack.vaults)
        queue = _share_one_queue(dev, vaults)
        for n in sizes:
            ours_reps, naive_reps = reps[n]
            part = vaults[:n]
            first = [_ours(dev.node.url, part, {}) for _ in range(ours_reps)]
            known = {v: str(queue.address) for v in part}
            later = [_ours(dev.node.url, part, known) for _ in range(ours_reps)]
            piece = part[:SWEEP_SLICE]
            slices = [_ours(dev.node.url, piece, known) for _ in range(ours_reps)]
            naive = [_naive(dev.node.url, part) for _ in range(naive_reps)]
            row: dict[str, Any] = {
                "n_vaults": n,
                "first": _row(first),
                "later": _row(later),
                "slice": {**_row(slices), "vaults": len(piece)},
                "naive": _row(naive),
            }
            row["naive_vs_first"] = ratio(row["naive"]["ms_median"], row["first"]["ms_median"])
            progress(
                "sweep: %d vaults: ours %.0f ms (%d requests), naive %.0f ms (%d requests)",
                n,
                row["first"]["ms_median"],
                row["first"]["requests"],
                row["naive"]["ms_median"],
                row["naive"]["requests"],
            )
            rows.append(row)
    finally:
        dev.close()
    return {
        "rows": rows,
        "calls_per_request": CALLS_PER_REQUEST,
        "slice": SWEEP_SLICE,
        "runs": {str(n): list(r) for n, r in reps.items() if n in sizes},
    }


def _share_one_queue(dev: BenchDevnet, vaults: list[str]) -> Contract:
    """Deploy vault 0's ``RedemptionQueue`` and make it every vault's queue.

    ``setRedemptionQueue`` takes only a queue of the vault itself (its ``share()``), so vault 0's
    goes through the setter, and the other vaults get the same address written into their queue
    slot (``anvil_setStorageAt``): the slot of vault 0's first ``QUEUE_SLOT_SCAN`` that holds it.
    Every vault's ``redemptionQueue()`` is then read back.
    """
    w3, admin = dev.w3, dev.admin
    queue = deploy(w3, admin, load_artifact("RedemptionQueue"), vaults[0])
    transact(
        w3, admin, bind(w3, "OptionVault", vaults[0]).functions.setRedemptionQueue(queue.address)
    )
    word = "0x" + bytes(12).hex() + queue.address[2:].lower()
    first = Web3.to_checksum_address(vaults[0])
    slots = [
        i
        for i in range(QUEUE_SLOT_SCAN)
        if w3.eth.get_storage_at(first, i).hex().removeprefix("0x") == word[2:]
    ]
    if len(slots) != 1:
        raise ChainError(
            f"vault 0 holds its queue in {len(slots)} of its first {QUEUE_SLOT_SCAN} slots, not 1"
        )
    for v in vaults[1:]:
        dev.rpc("anvil_setStorageAt", v, hex(slots[0]), word)
    for v in vaults:
        got = bind(w3, "OptionVault", v).functions.redemptionQueue().call()
        if got != queue.address:
            raise ChainError(f"vault {v}'s queue is {got}, not the shared {queue.address}")
    return queue


def _ours(url: str, vaults: list[str], known: dict[str, str]) -> tuple[float, int]:
    """One :func:`read_queues` on a fresh counted connection: (seconds, HTTP requests)."""
    w3 = connect(url)
    counter = rpc_counter(w3)
    before, _ = counter.snapshot()
    t0 = time.perf_counter()
    states = read_queues(w3, vaults, "latest", dict(known))
    seconds = time.perf_counter() - t0
    assert len(states) == len(vaults), "every vault has its queue"
    return seconds, counter.snapshot()[0] - before


def _naive(url: str, vaults: list[str]) -> tuple[float, int]:
    """The same three calls a vault, one HTTP request each: (seconds, HTTP requests)."""
    w3 = connect(url)
    counter = rpc_counter(w3)
    vault_abi, queue_abi = load_artifact("OptionVault").abi, load_artifact("RedemptionQueue").abi
    before, _ = counter.snapshot()
    t0 = time.perf_counter()
    for v in vaults:
        vault = w3.eth.contract(address=Web3.to_checksum_address(v), abi=vault_abi)
        address = vault.functions.redemptionQueue().call()
        q = w3.eth.contract(address=address, abi=queue_abi)
        q.functions.fillable().call()
        q.functions.totalPending().call()
    seconds = time.perf_counter() - t0
    return seconds, counter.snapshot()[0] - before


def _row(runs: list[tuple[float, int]]) -> dict[str, Any]:
    ms = summary([s * 1e3 for s, _ in runs])
    return {
        "ms_median": ms["median"],
        "ms_min": ms["min"],
        "ms_max": ms["max"],
        "requests": runs[0][1],
        "runs": len(runs),
    }
