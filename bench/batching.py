"""Batching gain: cost per vault of ``rebalanceBatch`` at several batch sizes vs one tx per vault.

Every vault on the devnet writes four calls (:data:`SERIES`, 4 contracts), so each is ~2 WETH
short of its target, outside its 0.5 band: each rebalance buys ~2 WETH. A batch nets its vaults'
trades and makes ONE swap through the real Uniswap V3 pool (all buy here: nothing crosses, the
net is the sum); a single-vault transaction makes its own.
Before every transaction the pool is traded back to the oracle price (so no vault trips the
oracle-gap guard because of the ones before it) and the next block's base fee is pinned with
``anvil_setNextBlockBaseFeePerGas`` to :data:`L2_BASE_FEE`.

Cost of a transaction = ``gasUsed x block base fee`` + the OP L1 data fee of the exact signed
transaction, read from the devnet fee oracle (``getL1Fee`` of its unsigned form, as the keeper
prices it) before sending. The tip is left out: it is a choice, not a cost of batching.

The single-transaction baseline is ``OptionVault.rebalance()`` sent by the keeper account, which
is granted the vault's keeper role for this (the batcher holds it on every vault already).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from eth_account.signers.local import LocalAccount

from bench.common import progress, ratio, summary
from bench.devnet import PRICE8, BenchDevnet, bind, start_devnet
from keeper.chain.l1fee import OpL1Fee
from keeper.devnet.stack import WAD, L1FeeParams, ThresholdParams, push_price
from keeper.devnet.tx import transact, transactor
from keeper.errors import ChainError
from keeper.execution.fees import Fees
from keeper.execution.transactions import build_tx, chain_nonce, sign_tx
from keeper.units import Wei

BATCH_SIZES = (1, 2, 5, 10, 25)
#: The L2 base fee every measured transaction pays (0.01 gwei; Base and OP Mainnet mostly sat
#: between 0.001 and 0.05 gwei in 2025).
L2_BASE_FEE = 10**7
#: L1 inputs of the fee oracle: a 5 gwei L1 base fee and a 0.5 gwei blob base fee, with OP
#: Mainnet's Ecotone scalars (the devnet defaults' scalars; see ``L1FeeParams``).
L1_PARAMS = L1FeeParams(
    l1_base_fee=5 * 10**9,
    blob_base_fee=5 * 10**8,
    base_fee_scalar=1_368,
    blob_base_fee_scalar=810_949,
)
SERIES = (
    (0, 3_000 * 10**8, 1_000 * 10**8, 30, 1),
    (0, 3_200 * 10**8, 1_000 * 10**8, 30, 1),
    (0, 2_800 * 10**8, 1_000 * 10**8, 45, 1),
    (0, 3_100 * 10**8, 1_000 * 10**8, 60, 1),
)


def _send(
    dev: BenchDevnet, signer: LocalAccount, to: str, data: bytes, l1: OpL1Fee
) -> dict[str, int]:
    """Sign one call, price its L1 fee, pin the base fee, send it; return its cost parts."""
    w3 = dev.w3
    push_price(w3, dev.admin, dev.stack, PRICE8)
    sender = transactor(w3, signer)
    tx = build_tx(
        chain_id=sender.chain_id,
        nonce=chain_nonce(w3, signer.address, "pending"),
        to=to,
        data=data,
        gas=sender.estimate_gas(to, data, what="rebalance"),
        fees=Fees(Wei(2 * L2_BASE_FEE), Wei(0)),
    )
    raw = sign_tx(signer, tx).raw
    l1_fee = int(l1.fee(raw, to, data))
    dev.rpc("anvil_setNextBlockBaseFeePerGas", hex(L2_BASE_FEE))
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=60)
    if receipt["status"] != 1:
        raise ChainError(f"rebalance transaction {receipt['transactionHash'].hex()} reverted")
    base_fee = int(w3.eth.get_block(receipt["blockNumber"])["baseFeePerGas"])
    gas = int(receipt["gasUsed"])
    return {
        "gas": gas,
        "l2_fee": gas * base_fee,
        "l1_fee": l1_fee,
        "base_fee": base_fee,
        "bytes": len(raw),
    }


def bench_batching(reps: int, singles_per_rep: int = 5) -> dict[str, Any]:
    """Measure every batch size ``reps`` times (fresh vaults each time), and single txs."""
    per_rep = sum(BATCH_SIZES) + singles_per_rep
    dev = start_devnet(
        reps * per_rep,
        series=SERIES,
        thresholds=ThresholdParams(band=WAD // 2, max_trade=100 * WAD),
        l1_fee=L1_PARAMS,
    )
    try:
        w3 = dev.w3
        l1 = OpL1Fee(w3)
        batcher = bind(w3, "RebalanceBatcher", dev.stack.batcher)
        free = list(dev.stack.vaults)
        singles: list[dict[str, int]] = []
        batches: dict[int, list[dict[str, int]]] = {b: [] for b in BATCH_SIZES}
        for rep in range(reps):
            for size in BATCH_SIZES:
                chunk, free = free[:size], free[size:]
                data = _calldata(batcher.functions.rebalanceBatch(chunk, [0] * len(chunk)))
                cost = _send(dev, dev.keeper, dev.stack.batcher, data, l1)
                _check_batch(batcher, size)
                batches[size].append(cost)
            for _ in range(singles_per_rep):
                address, free = free[0], free[1:]
                vault = bind(w3, "OptionVault", address)
                role = vault.functions.KEEPER_ROLE().call()
                transact(w3, dev.admin, vault.functions.grantRole(role, dev.keeper.address))
                data = _calldata(vault.functions.rebalance())
                singles.append(_send(dev, dev.keeper, address, data, l1))
            progress("batching: rep %d/%d done", rep + 1, reps)
    finally:
        dev.close()
    single_cost: dict[str, float] = summary([s["l2_fee"] + s["l1_fee"] for s in singles])
    rows = []
    for size in BATCH_SIZES:
        runs = batches[size]
        gas = summary([r["gas"] / size for r in runs])
        l1f = summary([r["l1_fee"] / size for r in runs])
        cost_s = summary([(r["l2_fee"] + r["l1_fee"]) / size for r in runs])
        rows.append(
            {
                "batch_size": size,
                "gas_per_vault": round(gas["median"]),
                "gas_per_vault_min": round(gas["min"]),
                "gas_per_vault_max": round(gas["max"]),
                "l1_fee_per_vault_wei": round(l1f["median"]),
                "cost_per_vault_wei": round(cost_s["median"]),
                "cost_per_vault_min_wei": round(cost_s["min"]),
                "cost_per_vault_max_wei": round(cost_s["max"]),
                "single_tx_cost_wei": round(single_cost["median"]),
                "ratio_to_single": ratio(cost_s["median"], single_cost["median"]),
                "runs": len(runs),
            }
        )
    return {
        "rows": rows,
        "single_tx": {
            "gas": summary([s["gas"] for s in singles]),
            "l1_fee_wei": summary([s["l1_fee"] for s in singles]),
            "cost_wei": single_cost,
            "runs": len(singles),
        },
        "l2_base_fee_wei": L2_BASE_FEE,
        "l1_params": asdict(L1_PARAMS),
    }


def _calldata(call: Any) -> bytes:
    return bytes.fromhex(str(call._encode_transaction_data())[2:])


def _check_batch(batcher: Any, size: int) -> None:
    """Every vault of the batch must have rebalanced (a failed vault would flatter the batch)."""
    logs = batcher.events.BatchExecuted().get_logs(from_block="latest")
    if not logs:
        raise ChainError("no BatchExecuted event")
    args = logs[-1]["args"]
    if int(args["attempted"]) != size or int(args["succeeded"]) != size:
        raise ChainError(
            f"batch of {size}: {args['succeeded']}/{args['attempted']} vaults rebalanced"
        )
