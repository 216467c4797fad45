"""A fresh devnet with N vaults, each with open option series, deployed fast enough for N=1,000.

The singletons (tokens, feeds, the OP fee oracle, the real Uniswap V3, factory, batcher, lens)
come from :func:`keeper.devnet.stack.deploy_stack` with ``n_vaults=0``. The vaults are then made
the way ``deploy_stack`` makes them -- ``VaultFactory.createVault`` (a real, independent EIP-1167
clone with its own storage and claims clone), the desk role, the batcher's keeper role, a seed
deposit -- plus ``SERIES`` written option series per vault. Only the *sending* differs:

- vault 0 goes through :func:`keeper.devnet.tx.transact` (estimate, sign, send, wait), and its
  receipts' gas (x1.5 + 50k) is the gas limit for the same step on every other vault (the vaults
  are identical, so the same call costs the same gas);
- every other transaction is sent from the same (anvil default, unlocked) accounts with one
  ``eth_sendTransaction`` each, without waiting for its receipt, with automine off; every
  ``WINDOW`` transactions one ``evm_mine`` mines them together (anvil's per-block work dominates
  its per-transaction work: ~50 tx/s with one block each under load, several times that packed);
- afterwards every receipt is fetched (batched) and any failed or missing one raises.

So a 1,000-vault devnet is ~11,000 real transactions, just not one block and one receipt wait
each. Automine is back on when the function returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from bench.common import progress
from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.devnet.quotes import Quote, premium_bounds, sign_quote
from keeper.devnet.stack import (
    USDC,
    WAD,
    ZERO_ADDRESS,
    DevnetStack,
    L1FeeParams,
    StackConfig,
    ThresholdParams,
    deploy_stack,
)
from keeper.devnet.tx import account, transact, transactor
from keeper.errors import ChainError

#: Block states the benchmarks' node keeps in memory: each is a full copy of the state (about
#: 40 MB in memory at 10,000 vaults, where 256 of them took 10 GB during the deploy), and the
#: benchmarks read only the head.
BENCH_HISTORY_BLOCKS = 16

PRICE8 = 3_000 * 10**8
#: The open series every vault writes: (type 0 call / 1 put, strike, cap, days, contracts).
SERIES: tuple[tuple[int, int, int, int, int], ...] = (
    (0, 3_000 * 10**8, 1_000 * 10**8, 30, 20),
    (1, 2_800 * 10**8, 1_000 * 10**8, 14, 10),
    (0, 3_300 * 10**8, 600 * 10**8, 60, 15),
)
SEED_DEPOSIT = 1_000_000 * USDC
RPC_BATCH = 500
#: Transactions sent before waiting for the last one to be mined.
WINDOW = 50
TIP = 1_000_000


@dataclass
class BenchDevnet:
    """A running anvil with the stack and its bound contracts."""

    node: Anvil
    w3: Web3
    admin: LocalAccount
    desk: LocalAccount
    keeper: LocalAccount
    buyer: LocalAccount
    stack: DevnetStack
    deploy_seconds: float
    txs_sent: int

    def contract(self, name: str, address: str) -> Contract:
        """Bind ``address`` with the artifact ``name``'s ABI."""
        return bind(self.w3, name, address)

    def rpc(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call (anvil_* and evm_* methods)."""
        return _rpc(self.w3, method, *params)

    def close(self) -> None:
        """Stop the anvil this devnet started (by PID)."""
        self.node.stop()


_ABIS: dict[str, list[dict[str, Any]]] = {}


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of artifact ``name`` (cached)."""
    if name not in _ABIS:
        _ABIS[name] = list(load_artifact(name).abi)
    return _ABIS[name]


def bind(w3: Web3, name: str, address: str) -> Contract:
    """Bind ``address`` with the artifact ``name``'s ABI."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi(name))


class _BulkSender:
    """Sends calls with fixed gas limits, one ``eth_sendTransaction`` each, no receipt wait.

    The senders are anvil's default (unlocked) accounts, so anvil signs: signing 9,000
    transactions with eth-account would cost ~7 ms each here. Requests go one at a time, in
    order: anvil answers a JSON-RPC *batch* of transactions out of order, and later nonces can then
    sit in its queue (seen: 64 of 1,600 never mined). Every ``WINDOW`` transactions it waits for
    the last one: anvil returns the hash before mining, and mining slows down badly as its pool
    grows (730 pending after 1,000 sends, then ~15 tx/s).
    """

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        self.base_fee = base
        self.max_fee = hex(max(4 * base, 10**10) + TIP)
        self.hashes: list[str] = []

    def add(self, sender: str, to: str, data: str, gas: int) -> None:
        tx = {
            "from": sender,
            "to": to,
            "data": data,
            "gas": hex(gas),
            "maxFeePerGas": self.max_fee,
            "maxPriorityFeePerGas": hex(TIP),
        }
        self.hashes.append(str(_rpc(self.w3, "eth_sendTransaction", tx)))
        if len(self.hashes) % WINDOW == 0:
            self.mine()

    def mine(self) -> None:
        """Mine what was sent (one block per ``WINDOW`` transactions) and wait for it."""
        if not self.hashes:
            return
        while True:
            _rpc(self.w3, "evm_mine")
            if int(_rpc(self.w3, "txpool_status")["pending"], 16) == 0:
                break
        self._wait(self.hashes[-1])
        # Full blocks raise the base fee ~10% a block; after thousands of transactions it would
        # pass the fee cap. Deployment is not what is measured: reset it.
        _rpc(self.w3, "anvil_setNextBlockBaseFeePerGas", hex(self.base_fee))

    def _wait(self, tx_hash: str, timeout_s: float = 60.0) -> None:
        """Flow control: anvil mines behind the requests, and slows down as its pool grows."""
        deadline = time.monotonic() + timeout_s
        while _rpc(self.w3, "eth_getTransactionReceipt", tx_hash) is None:
            if time.monotonic() > deadline:
                raise ChainError(f"bulk deployment tx {tx_hash} not mined in {timeout_s}s")
            time.sleep(0.005)

    def check_all(self, timeout_s: float = 120.0) -> None:
        """Fetch every receipt (batched); raise on a revert or one still missing at timeout."""
        self.mine()
        todo = list(self.hashes)
        deadline = time.monotonic() + timeout_s
        while todo:
            missing: list[str] = []
            for i in range(0, len(todo), RPC_BATCH):
                chunk = todo[i : i + RPC_BATCH]
                reqs: list[tuple[Any, Any]] = [("eth_getTransactionReceipt", [h]) for h in chunk]
                out = self.w3.provider.make_batch_request(reqs)  # type: ignore[attr-defined]
                for h, r in zip(chunk, out, strict=True):
                    rec = r.get("result")
                    if rec is None:
                        missing.append(h)
                    elif int(rec["status"], 16) != 1:
                        raise ChainError(f"bulk deployment tx {h} reverted")
            todo = missing
            if todo:
                if time.monotonic() > deadline:
                    raise ChainError(f"{len(todo)} bulk deployment txs not mined")
                time.sleep(0.2)


def _params(stack: DevnetStack, cfg: StackConfig, index: int) -> tuple[Any, ...]:
    return (
        stack.usdc,
        stack.weth,
        stack.price_feed,
        stack.sequencer_feed,
        stack.venue,
        ZERO_ADDRESS,
        stack.admin,
        f"Option Vault {index}",
        f"ovUSDC-{index}",
        cfg.volatility,
        cfg.thresholds.as_tuple(),
    )


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"]) * 3 // 2 + 50_000


def start_devnet(
    n_vaults: int,
    *,
    series: Sequence[tuple[int, int, int, int, int]] = SERIES,
    thresholds: ThresholdParams | None = None,
    l1_fee: L1FeeParams | None = None,
    block_time: float | None = None,
) -> BenchDevnet:
    """Start a fresh anvil and deploy the stack with ``n_vaults`` vaults, each writing ``series``.

    With ``block_time`` the deployment runs on an automining node that is then switched to
    interval mining (``Anvil``'s ``setup_at_once``), so deploying is not paced by the block time.
    """
    t0 = time.perf_counter()
    node = Anvil(history=BENCH_HISTORY_BLOCKS, block_time=block_time, setup_at_once=True).start()
    try:
        w3 = connect(node.url)
        admin, desk = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2])
        keeper, buyer = account(ANVIL_KEYS[3]), account(ANVIL_KEYS[5])
        cfg = StackConfig(
            n_vaults=0,
            price8=PRICE8,
            thresholds=thresholds or ThresholdParams(band=WAD // 2, max_trade=100 * WAD),
            seed_deposit=SEED_DEPOSIT,
            l1_fee=l1_fee or L1FeeParams(),
        )
        stack = deploy_stack(w3, admin=admin, desk=desk.address, keeper=keeper.address, config=cfg)
        vaults, sent = _bulk_vaults(w3, stack, cfg, admin, desk, buyer, n_vaults, series)
        stack = DevnetStack(**{**stack.__dict__, "vaults": tuple(vaults)})
        node.start_block_time()
    except BaseException:
        node.stop()
        raise
    seconds = time.perf_counter() - t0
    progress("devnet: %d vaults x %d series, %d txs in %.1fs", n_vaults, len(series), sent, seconds)
    return BenchDevnet(node, w3, admin, desk, keeper, buyer, stack, seconds, sent)


def _bulk_vaults(
    w3: Web3,
    stack: DevnetStack,
    cfg: StackConfig,
    admin: LocalAccount,
    desk: LocalAccount,
    buyer: LocalAccount,
    n: int,
    series: Sequence[tuple[int, int, int, int, int]],
) -> tuple[list[str], int]:
    if n == 0:
        return [], 0
    factory = bind(w3, "VaultFactory", stack.vault_factory)
    usdc = bind(w3, "MintableERC20", stack.usdc)
    # Premiums are the vault's own model value (its lower bound), known once the template
    # exists; the buyer is funded with the caps, an upper bound.
    premium_total = sum(s[2] * USDC // 10**8 * s[4] for s in series)
    transact(w3, admin, usdc.functions.mint(admin.address, cfg.seed_deposit * n))
    transact(w3, admin, usdc.functions.mint(buyer.address, premium_total * n))
    expiry0 = int(w3.eth.get_block("latest")["timestamp"])

    premiums: dict[int, int] = {}

    def steps(vault: str) -> list[tuple[LocalAccount, str, str]]:
        """(signer, to, calldata) of each setup step of ``vault``, after its creation."""
        v, u = template.functions, usdc.functions
        out: list[tuple[LocalAccount, str, str]] = [
            (admin, vault, v.grantRole(desk_role, desk.address)._encode_transaction_data()),
            (admin, vault, v.grantRole(keeper_role, stack.batcher)._encode_transaction_data()),
            # the keeper account too: it sends a lone vault's rebalance to the vault itself
            (admin, vault, v.grantRole(keeper_role, stack.keeper)._encode_transaction_data()),
            (admin, vault, v.grantRole(batcher_role, stack.batcher)._encode_transaction_data()),
            (admin, usdc.address, u.approve(vault, cfg.seed_deposit)._encode_transaction_data()),
            (admin, vault, v.deposit(cfg.seed_deposit, admin.address)._encode_transaction_data()),
            (buyer, usdc.address, u.approve(vault, premium_total)._encode_transaction_data()),
        ]
        for nonce, (kind, strike, cap, days, size) in enumerate(series):
            expiry = expiry0 + days * 86_400
            premium = premiums.setdefault(
                nonce, premium_bounds(w3, template, kind, strike, cap, expiry, size * WAD)[0]
            )
            quote = Quote(
                buyer.address,
                kind,
                strike,
                cap,
                expiry,
                size * WAD,
                premium,
                expiry0 + 86_400,
                nonce,
            )
            signature = sign_quote(w3, vault, buyer, quote)
            call = v.writeOption(quote.as_tuple(), premium, signature)
            out.append((desk, vault, call._encode_transaction_data()))
        return out

    # Vault 0, one step at a time, measures each step's gas.
    rec = transact(w3, admin, factory.functions.createVault(_params(stack, cfg, 0)))
    create_gas = _gas(rec)
    template = bind(w3, "OptionVault", factory.functions.vaultAt(0).call())
    desk_role = template.functions.DESK_ROLE().call()
    keeper_role = template.functions.KEEPER_ROLE().call()
    batcher_role = template.functions.BATCHER_ROLE().call()
    step_gas = []
    for signer, to, data in steps(template.address):
        step_gas.append(_gas(transactor(w3, signer).send(to, bytes(HexBytes(data)))))

    bulk = _BulkSender(w3)
    _rpc(w3, "evm_setAutomine", False)
    try:
        _send_bulk(w3, bulk, factory, stack, cfg, admin, n, steps, create_gas, step_gas)
    finally:
        _rpc(w3, "evm_setAutomine", True)
    addresses = [str(Web3.to_checksum_address(a)) for a in factory.functions.vaults(0, n).call()]
    return addresses, len(bulk.hashes) + 1 + len(step_gas)


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    """A raw JSON-RPC call's result; an error answer raises :class:`ChainError`."""
    resp = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in resp:
        raise ChainError(f"{method}: {resp['error']}")
    return resp.get("result")


def _send_bulk(
    w3: Web3,
    bulk: _BulkSender,
    factory: Contract,
    stack: DevnetStack,
    cfg: StackConfig,
    admin: LocalAccount,
    n: int,
    steps: Callable[[str], list[tuple[LocalAccount, str, str]]],
    create_gas: int,
    step_gas: list[int],
) -> None:
    tenth = n // 10 if n >= 1_000 else 0  # progress every 10% on deploys that take minutes
    for i in range(1, n):
        data = factory.functions.createVault(_params(stack, cfg, i))._encode_transaction_data()
        bulk.add(admin.address, factory.address, data, create_gas)
        if tenth and i % tenth == 0:
            progress("  deploying: %d of %d vaults created", i, n)
    bulk.check_all()
    count = int(factory.functions.vaultCount().call())
    if count != n:
        raise ChainError(f"factory holds {count} vaults, expected {n}")
    addresses = [str(Web3.to_checksum_address(a)) for a in factory.functions.vaults(0, n).call()]
    for k, address in enumerate(addresses[1:], start=1):
        for (signer, to, data), gas in zip(steps(address), step_gas, strict=True):
            bulk.add(signer.address, to, data, gas)
        if tenth and k % tenth == 0:
            progress("  deploying: %d of %d vaults funded, with their books written", k, n)
    bulk.check_all()
