"""Batching gain: cost per vault of ``rebalanceBatch`` at several batch sizes vs one tx per vault.

Two rounds over the same vaults, in one run, with the same batch groupings and the same single
vaults:

1. **First rebalance.** Every vault on the devnet writes four capped calls (:data:`SERIES`, one
   contract each) and holds no underlying, so at 3,000 it is ~1.49 WETH short of its target,
   outside its 0.5 band: each rebalance buys ~1.49 WETH. The WETH token's balance slot of the
   vault goes from zero to nonzero: that SSTORE costs 20,000 gas, not ~2,900 (the vault's own
   hedge inventory and last-rebalance time share slots that are nonzero already).
2. **Recurring rebalance.** Then :data:`RECURRING_AFTER_S` (20 days) pass and the oracle moves to
   :data:`RECURRING_PRICE8` (+10%): the calls' delta rises (nearer expiry, with the price inside
   every call's strike-to-cap range), so every vault is ~0.72 WETH short again, outside its band
   on the same side, and each buys again, this time holding WETH already. A price move alone
   cannot do it: this book's delta peaks at ~1.63 (near 3,450), less than the 1.49 hedge plus the
   band, and +5% moves it by ~0.1. Before the round every vault is checked to hold WETH and to be
   more than its band short; after it, to have bought.

A batch nets its vaults' trades and makes ONE swap through the real Uniswap V3 pool (all buy
here: nothing crosses, the net is the sum); a single-vault transaction makes its own.
Before every transaction the pool is traded back to the oracle price (so no vault trips the
oracle-gap guard because of the ones before it) and the next block's base fee is pinned with
``anvil_setNextBlockBaseFeePerGas`` to :data:`L2_BASE_FEE`. Before the first, the pool is traded
both ways once (:func:`_warm_pool`): on the fresh devnet no swap has yet paid its fee in USDC, so
the first buy would write the pool's ``feeGrowthGlobal`` from zero (20,000 gas, once in the run,
charged to the first batch of 1), which no live pool does.

Cost of a transaction = ``gasUsed x block base fee`` + the OP L1 data fee of the exact signed
transaction, read from the devnet fee oracle (``getL1Fee`` of its unsigned form, as the keeper
prices it) before sending. The tip is left out: it is a choice, not a cost of batching.

The single-transaction baseline is ``OptionVault.rebalance()`` sent by the keeper account, which
is granted the vault's keeper role for this (the batcher holds it on every vault already).
Results: ``rows`` and ``single_tx`` for the first round, ``recurring_rows`` and
``single_tx_recurring`` (same fields) for the recurring one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from bench.common import progress, ratio, summary, summary_int
from bench.devnet import PRICE8, BenchDevnet, bind, start_devnet
from keeper.chain.l1fee import OpL1Fee
from keeper.devnet.stack import WAD, L1FeeParams, ThresholdParams, pool_of, push_price
from keeper.devnet.tx import transact, transactor
from keeper.devnet.uniswap import pool_contract
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
THRESHOLDS = ThresholdParams(band=WAD // 2, max_trade=100 * WAD)
#: The oracle (and pool) price of the recurring round: +10% from :data:`PRICE8`.
RECURRING_PRICE8 = 3_300 * 10**8
#: Time between the rounds: past the vaults' ``minInterval``, and long enough that the calls'
#: delta at :data:`RECURRING_PRICE8` exceeds the first hedge by more than the band (measured:
#: net delta -2.205 against a 1.486 hedge, so ~0.72 WETH to buy against the 0.5 band).
RECURRING_AFTER_S = 20 * 86_400


@dataclass
class _Round:
    """The cost parts of one round's transactions: per batch size, and the single txs."""

    batches: dict[int, list[dict[str, int]]] = field(
        default_factory=lambda: {b: [] for b in BATCH_SIZES}
    )
    singles: list[dict[str, int]] = field(default_factory=list)
    bought: list[int] = field(default_factory=list)  # WETH wei each vault bought


def _send(
    dev: BenchDevnet, signer: LocalAccount, to: str, data: bytes, l1: OpL1Fee, price8: int
) -> dict[str, int]:
    """Sign one call, price its L1 fee, pin the base fee, send it; return its cost parts.

    The pool is first traded to ``price8``, the oracle's price.
    """
    w3 = dev.w3
    push_price(w3, dev.admin, dev.stack, price8)
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
    """Measure every batch size ``reps`` times (fresh vaults each time), and single txs.

    Each batch and each single vault is measured twice: its first rebalance, then a recurring
    one (see the module docstring).
    """
    per_rep = sum(BATCH_SIZES) + singles_per_rep
    dev = start_devnet(reps * per_rep, series=SERIES, thresholds=THRESHOLDS, l1_fee=L1_PARAMS)
    try:
        w3 = dev.w3
        free = list(dev.stack.vaults)
        groups: list[list[str]] = []
        singles: list[str] = []
        for _ in range(reps):
            for size in BATCH_SIZES:
                chunk, free = free[:size], free[size:]
                groups.append(chunk)
            singles += free[:singles_per_rep]
            free = free[singles_per_rep:]
        for address in singles:
            vault = bind(w3, "OptionVault", address)
            role = vault.functions.KEEPER_ROLE().call()
            transact(w3, dev.admin, vault.functions.grantRole(role, dev.keeper.address))
        _warm_pool(dev)
        first = _round(dev, groups, singles, PRICE8, "first")
        dev.rpc("evm_increaseTime", hex(RECURRING_AFTER_S))
        dev.rpc("evm_mine")
        feed = bind(w3, "MockV3Aggregator", dev.stack.price_feed)
        transact(w3, dev.admin, feed.functions.updateAnswer(RECURRING_PRICE8))
        _check_recurring_start(dev, [*(v for g in groups for v in g), *singles])
        recurring = _round(dev, groups, singles, RECURRING_PRICE8, "recurring")
    finally:
        dev.close()
    return {
        "rows": _rows(first),
        "single_tx": _single(first),
        "recurring_rows": _rows(recurring),
        "single_tx_recurring": _single(recurring),
        "bought_wei": bought_summary(first, recurring),
        "price8": {"first": PRICE8, "recurring": RECURRING_PRICE8},
        "recurring_after_s": RECURRING_AFTER_S,
        "l2_base_fee_wei": L2_BASE_FEE,
        "l1_params": asdict(L1_PARAMS),
    }


def _round(
    dev: BenchDevnet, groups: list[list[str]], singles: list[str], price8: int, name: str
) -> _Round:
    """Rebalance every batch of ``groups`` and every vault of ``singles`` once, at ``price8``."""
    w3 = dev.w3
    l1 = OpL1Fee(w3)
    batcher = bind(w3, "RebalanceBatcher", dev.stack.batcher)
    out = _Round()
    for chunk in groups:
        before = [_inventory(dev, v) for v in chunk]
        data = _calldata(batcher.functions.rebalanceBatch(chunk, [0] * len(chunk)))
        out.batches[len(chunk)].append(_send(dev, dev.keeper, dev.stack.batcher, data, l1, price8))
        _check_batch(batcher, len(chunk))
        out.bought += _bought(dev, chunk, before)
    for address in singles:
        before = [_inventory(dev, address)]
        data = _calldata(bind(w3, "OptionVault", address).functions.rebalance())
        out.singles.append(_send(dev, dev.keeper, address, data, l1, price8))
        out.bought += _bought(dev, [address], before)
    progress(
        "batching: %s rebalance of %d batches and %d single vaults done",
        name,
        len(groups),
        len(singles),
    )
    return out


def _rows(r: _Round) -> list[dict[str, Any]]:
    single_cost = summary([s["l2_fee"] + s["l1_fee"] for s in r.singles])
    rows = []
    for size in BATCH_SIZES:
        runs = r.batches[size]
        gas = summary([x["gas"] / size for x in runs])
        l1f = summary([x["l1_fee"] / size for x in runs])
        cost_s = summary([(x["l2_fee"] + x["l1_fee"]) / size for x in runs])
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
    return rows


def _single(r: _Round) -> dict[str, Any]:
    return {
        "gas": summary_int([s["gas"] for s in r.singles]),
        "l1_fee_wei": summary_int([s["l1_fee"] for s in r.singles]),
        "cost_wei": summary_int([s["l2_fee"] + s["l1_fee"] for s in r.singles]),
        "runs": len(r.singles),
    }


def bought_summary(first: _Round, recurring: _Round) -> dict[str, dict[str, int]]:
    """The WETH each vault bought in either round, in exact wei."""
    return {"first": summary_int(first.bought), "recurring": summary_int(recurring.bought)}


def _warm_pool(dev: BenchDevnet) -> None:
    """Trade the pool 0.1% up and 0.1% down, so both its fee growth words are nonzero."""
    for price8 in (PRICE8 * 1_001 // 1_000, PRICE8 * 999 // 1_000):
        push_price(dev.w3, dev.admin, dev.stack, price8)
    pool = pool_contract(dev.w3, pool_of(dev.stack)[1]).functions
    if not (pool.feeGrowthGlobal0X128().call() and pool.feeGrowthGlobal1X128().call()):
        raise ChainError("the pool's fee growth is still zero after the warm-up swaps")


def _calldata(call: Any) -> bytes:
    return bytes.fromhex(str(call._encode_transaction_data())[2:])


def _inventory(dev: BenchDevnet, vault: str) -> int:
    return int(bind(dev.w3, "OptionVault", vault).functions.hedgeInventory().call())


def _bought(dev: BenchDevnet, vaults: list[str], before: list[int]) -> list[int]:
    """What each vault bought; raise if one did not buy (every rebalance here is a buy)."""
    out = []
    for vault, was in zip(vaults, before, strict=True):
        now = _inventory(dev, vault)
        if now <= was:
            raise ChainError(f"vault {vault} did not buy: hedge inventory {was} -> {now}")
        out.append(now - was)
    return out


def _check_recurring_start(dev: BenchDevnet, vaults: list[str]) -> None:
    """Each vault holds WETH already and is more than its band short of its target (a buy).

    Without WETH the recurring round would pay the first round's zero-to-nonzero SSTORE again
    (and its rows would lie); inside the band, or on the sell side, it would not be the same
    rebalance.
    """
    weth = bind(dev.w3, "MintableERC20", dev.stack.weth)
    for address in vaults:
        vault = bind(dev.w3, "OptionVault", address)
        held = int(weth.functions.balanceOf(address).call())
        inventory = int(vault.functions.hedgeInventory().call())
        if held == 0 or inventory == 0:
            raise ChainError(f"vault {address} holds no WETH before its recurring rebalance")
        t = vault.functions.thresholds().call()
        target, band = int(t[0]), int(t[1])
        deviation = int(vault.functions.netDelta().call()) - target
        if deviation >= -band:
            raise ChainError(
                f"vault {address} is not outside its band on the buy side: deviation "
                f"{deviation} against band {band}"
            )


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
