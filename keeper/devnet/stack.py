"""Deploy the whole stack on a local chain, from the tokens to the vaults.

Order (each step uses only what the ones before it deployed):

1. mintable quote (USDC-like, 6 decimals) and underlying (WETH-like, 18 decimals) tokens;
2. Chainlink's ``MockV3Aggregator`` for the price (8 decimals) and one more as the L2
   sequencer-uptime feed (answer 0 = up, started long enough ago to be past any grace period);
3. on anvil, the OP-style L1-fee oracle at ``0x420000000000000000000000000000000000000F``
   (``anvil_setCode`` + ``initialize``), so the keeper prices the L1 data fee as on an OP chain;
4. the real Uniswap V3 factory, pool (with full-range liquidity), SwapRouter and QuoterV2 from
   the npm artifacts, and this project's ``UniswapV3Venue`` over the pool;
5. the vault and claims implementations, the ``VaultFactory``, N vault clones (each funded by a
   seed deposit), the ``RebalanceBatcher`` (holding each vault's keeper role, with the keeper
   account registered) and the ``VaultLens``. The keeper account holds each vault's keeper role
   too, so a lone vault's rebalance can go to the vault itself.

:func:`write_addresses` writes the JSON file ``keeper run --addresses FILE`` reads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from keeper.chain.artifacts import load_artifact
from keeper.chain.l1fee import OP_GAS_PRICE_ORACLE
from keeper.devnet import uniswap as uni
from keeper.devnet.tx import deploy, transact
from keeper.errors import ChainError

logger = logging.getLogger(__name__)

WAD = 10**18
USDC = 10**6
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class ThresholdParams:
    """The thresholds a devnet vault is created with (``IOptionVault.Thresholds``, deploy-time).

    Not :class:`keeper.chain.lens.Thresholds`, which is what the lens reads back from a vault.
    """

    target_delta: int = 0
    band: int = WAD // 2
    min_interval: int = 60
    max_interval: int = 86_400
    max_trade: int = 50 * WAD
    max_slippage_bps: int = 100
    max_oracle_gap_bps: int = 100  # <= max_slippage_bps: the vault enforces it
    oracle_heartbeat: int = 3_600
    sequencer_grace_period: int = 3_600

    def as_tuple(self) -> tuple[int, ...]:
        """The ABI tuple, in the struct's field order."""
        return (
            self.target_delta,
            self.band,
            self.min_interval,
            self.max_interval,
            self.max_trade,
            self.max_slippage_bps,
            self.max_oracle_gap_bps,
            self.oracle_heartbeat,
            self.sequencer_grace_period,
        )


@dataclass(frozen=True)
class L1FeeParams:
    """The devnet fee oracle's Ecotone inputs.

    Defaults: a 20 gwei L1 base fee and a 1 gwei blob base fee, with OP Mainnet's Ecotone scalars
    (baseFeeScalar 1,368 and blobBaseFeeScalar 810,949, as set on OP Mainnet since the Ecotone
    upgrade of 2024-03).
    """

    l1_base_fee: int = 20 * 10**9
    blob_base_fee: int = 10**9
    base_fee_scalar: int = 1_368
    blob_base_fee_scalar: int = 810_949


@dataclass(frozen=True)
class StackConfig:
    """What :func:`deploy_stack` deploys."""

    n_vaults: int = 3
    price8: int = 3_000 * 10**8
    volatility: int = 8 * 10**17
    thresholds: ThresholdParams = field(default_factory=ThresholdParams)
    pool_fee: int = 500
    #: Full-range depth: 20,000 WETH (and 60M USDC at 3,000) keeps a 10-WETH hedge's impact
    #: near 0.1%, well inside the vaults' 1% slippage bound.
    pool_underlying_liquidity: int = 20_000 * WAD
    seed_deposit: int = 1_000_000 * USDC
    batcher_max_batch: int = 100
    batcher_vault_gas_limit: int = 2_000_000
    l1_fee: L1FeeParams | None = field(default_factory=L1FeeParams)
    #: Give each vault its ERC-7540 redemption queue (``RedemptionQueue``, set once).
    redemption_queue: bool = True


@dataclass(frozen=True)
class DevnetStack:
    """Every address the stack deployed (checksummed), plus the roles it granted."""

    chain_id: int
    admin: str
    desk: str
    keeper: str
    usdc: str
    weth: str
    price_feed: str
    sequencer_feed: str
    l1_fee_oracle: str | None
    uniswap_factory: str
    swap_router: str
    quoter: str
    position_manager: str
    pool: str
    pool_fee: int
    pool_tick_spacing: int
    venue: str
    vault_factory: str
    batcher: str
    lens: str
    vaults: tuple[str, ...]

    def to_json(self, rpc_url: str | None = None) -> dict[str, Any]:
        """The addresses file: the keeper's settings keys plus everything else for reference."""
        out: dict[str, Any] = asdict(self)
        out["vaults"] = list(self.vaults)
        out["factory"] = self.vault_factory
        if rpc_url is not None:
            out["rpc_url"] = rpc_url
        return out


def write_addresses(path: Path, stack: DevnetStack, rpc_url: str | None = None) -> None:
    """Write the addresses JSON that ``keeper run --addresses`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stack.to_json(rpc_url), indent=2) + "\n")


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    resp = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in resp:
        raise ChainError(f"{method} failed: {resp['error']}")
    return resp.get("result")


def install_l1_fee_oracle(w3: Web3, admin: LocalAccount, params: L1FeeParams) -> str:
    """Put the devnet ``OpL1FeeOracle`` at the OP predeploy address (anvil only).

    ``anvil_setCode`` copies runtime code only, so the oracle is initialized by a call afterwards.
    """
    art = load_artifact("OpL1FeeOracle")
    impl = deploy(w3, admin, art, admin.address, 1, 1, 1, 1)
    code = "0x" + bytes(w3.eth.get_code(impl.address)).hex()
    _rpc(w3, "anvil_setCode", OP_GAS_PRICE_ORACLE, code)
    address = Web3.to_checksum_address(OP_GAS_PRICE_ORACLE)
    oracle = w3.eth.contract(address=address, abi=art.abi)
    transact(
        w3,
        admin,
        oracle.functions.initialize(
            admin.address,
            params.l1_base_fee,
            params.blob_base_fee,
            params.base_fee_scalar,
            params.blob_base_fee_scalar,
        ),
    )
    return address


def deploy_stack(
    w3: Web3,
    *,
    admin: LocalAccount,
    desk: str,
    keeper: str,
    config: StackConfig | None = None,
) -> DevnetStack:
    """Deploy everything (see the module docstring) and return the addresses.

    Args:
        w3: The local chain.
        admin: Deploys, administers and seeds the vaults; mints itself the tokens it needs.
        desk: Granted each vault's desk role (sells options).
        keeper: Registered as a keeper account on the batcher.
        config: What to deploy; defaults to :class:`StackConfig`.
    """
    cfg = config or StackConfig()
    erc20 = load_artifact("MintableERC20")
    usdc = deploy(w3, admin, erc20, "USD Coin (devnet)", "USDC", 6)
    weth = deploy(w3, admin, erc20, "Wrapped Ether (devnet)", "WETH", 18)

    aggregator = load_artifact("MockV3Aggregator")
    feed = deploy(w3, admin, aggregator, 8, cfg.price8)
    sequencer = deploy(w3, admin, aggregator, 0, 0)
    # Up (answer 0) since two days ago: past any grace period from the first block on.
    now = int(w3.eth.get_block("latest")["timestamp"])
    up_since = now - 2 * 86_400
    transact(w3, admin, sequencer.functions.updateRoundData(1, 0, up_since, up_since))

    l1_oracle = install_l1_fee_oracle(w3, admin, cfg.l1_fee) if cfg.l1_fee else None

    dex = uni.deploy_uniswap_v3(
        w3,
        admin,
        quote=usdc.address,
        underlying=weth.address,
        price8=cfg.price8,
        underlying_liquidity=cfg.pool_underlying_liquidity,
        fee=cfg.pool_fee,
    )
    venue = uni.deploy_venue(w3, admin, dex.pool)

    factory = deploy(
        w3,
        admin,
        load_artifact("VaultFactory"),
        deploy(w3, admin, load_artifact("OptionVault")).address,
        deploy(w3, admin, load_artifact("OptionClaims")).address,
        admin.address,
    )
    batcher = deploy(
        w3,
        admin,
        load_artifact("RebalanceBatcher"),
        admin.address,
        cfg.batcher_max_batch,
        cfg.batcher_vault_gas_limit,
    )
    transact(w3, admin, batcher.functions.setKeeper(keeper, True))
    lens = deploy(w3, admin, load_artifact("VaultLens"))

    vaults = tuple(
        _create_vault(
            w3, admin, factory, usdc, weth, feed, sequencer, venue, batcher, desk, keeper, cfg, i
        )
        for i in range(cfg.n_vaults)
    )
    stack = DevnetStack(
        chain_id=w3.eth.chain_id,
        admin=admin.address,
        desk=Web3.to_checksum_address(desk),
        keeper=Web3.to_checksum_address(keeper),
        usdc=usdc.address,
        weth=weth.address,
        price_feed=feed.address,
        sequencer_feed=sequencer.address,
        l1_fee_oracle=l1_oracle,
        uniswap_factory=dex.contracts.factory,
        swap_router=dex.contracts.router,
        quoter=dex.contracts.quoter,
        position_manager=dex.contracts.position_manager,
        pool=dex.pool.address,
        pool_fee=dex.pool.fee,
        pool_tick_spacing=dex.pool.tick_spacing,
        venue=venue.address,
        vault_factory=factory.address,
        batcher=batcher.address,
        lens=lens.address,
        vaults=vaults,
    )
    logger.info("deployed stack: %d vaults, pool %s, batcher %s", len(vaults), stack.pool, batcher)
    return stack


def _create_vault(
    w3: Web3,
    admin: LocalAccount,
    factory: Contract,
    usdc: Contract,
    weth: Contract,
    feed: Contract,
    sequencer: Contract,
    venue: Contract,
    batcher: Contract,
    desk: str,
    keeper: str,
    cfg: StackConfig,
    index: int,
) -> str:
    params = (
        usdc.address,
        weth.address,
        feed.address,
        sequencer.address,
        venue.address,
        ZERO_ADDRESS,  # claims: the factory clones the claims implementation
        admin.address,
        f"Option Vault {index}",
        f"ovUSDC-{index}",
        cfg.volatility,
        cfg.thresholds.as_tuple(),
    )
    receipt = transact(w3, admin, factory.functions.createVault(params))
    events = factory.events.VaultCreated().process_receipt(receipt, errors=DISCARD)
    address: str = events[0]["args"]["vault"]
    vault = w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("OptionVault").abi
    )
    transact(w3, admin, vault.functions.grantRole(vault.functions.DESK_ROLE().call(), desk))
    keeper_role = vault.functions.KEEPER_ROLE().call()
    transact(w3, admin, vault.functions.grantRole(keeper_role, batcher.address))
    # The keeper account too: a lone vault's rebalance goes to the vault itself (direct_single).
    transact(w3, admin, vault.functions.grantRole(keeper_role, keeper))
    # The batcher's netted batches (rebalanceBatch) call batchPlan/batchSettle.
    batcher_role = vault.functions.BATCHER_ROLE().call()
    transact(w3, admin, vault.functions.grantRole(batcher_role, batcher.address))
    if cfg.redemption_queue:
        queue = deploy(w3, admin, load_artifact("RedemptionQueue"), address)
        transact(w3, admin, vault.functions.setRedemptionQueue(queue.address))
    if cfg.seed_deposit:
        transact(w3, admin, usdc.functions.mint(admin.address, cfg.seed_deposit))
        transact(w3, admin, usdc.functions.approve(address, cfg.seed_deposit))
        transact(w3, admin, vault.functions.deposit(cfg.seed_deposit, admin.address))
    return address


def pool_of(stack: DevnetStack) -> tuple[uni.UniswapContracts, uni.UniswapPool]:
    """The Uniswap singletons and pool descriptors of a deployed stack."""
    contracts = uni.UniswapContracts(
        factory=stack.uniswap_factory,
        router=stack.swap_router,
        quoter=stack.quoter,
        position_manager=stack.position_manager,
        weth9=uni.WETH9_SENTINEL,
    )
    quote_is_0 = int(stack.usdc, 16) < int(stack.weth, 16)
    token0, token1 = (stack.usdc, stack.weth) if quote_is_0 else (stack.weth, stack.usdc)
    pool = uni.UniswapPool(
        address=stack.pool,
        token0=token0,
        token1=token1,
        fee=stack.pool_fee,
        tick_spacing=stack.pool_tick_spacing,
        quote=stack.usdc,
        underlying=stack.weth,
        quote_decimals=6,
        underlying_decimals=18,
    )
    return contracts, pool


def push_price(w3: Web3, arbitrageur: LocalAccount, stack: DevnetStack, price8: int) -> None:
    """Trade the Uniswap pool to ``price8`` (the arbitrageur: pool follows the oracle)."""
    contracts, pool = pool_of(stack)
    uni.push_pool_to_price(w3, arbitrageur, contracts, pool, price8, mint=True)
