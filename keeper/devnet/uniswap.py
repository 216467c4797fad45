"""Deploy and drive the real Uniswap V3 on a local chain, from the npm artifacts.

``@uniswap/v3-core`` 1.0.1 and ``@uniswap/v3-periphery`` 1.4.4 ship Hardhat artifacts compiled
with solc 0.7.6; they are deployed as they are, never recompiled. The pool bytecode inside the
factory hashes to the init-code hash the periphery hard-codes, so the SwapRouter, QuoterV2 and
NonfungiblePositionManager deployed here find the pools this factory creates.

**WETH9.** The periphery constructors want a WETH9 address. The devnet pools are ERC-20 only, so
:data:`WETH9_SENTINEL`, an address with no code, is passed: WETH9 is touched only by the ETH
paths (``unwrapWETH9``, ``refundETH``, and ``pay`` when the router itself holds ETH), which
nothing here uses. Deploying a real WETH9 would add a contract for no behaviour.

**Prices.** A price is always an ``int`` "price8": quote units per whole underlying, scaled to
1e8 like a Chainlink USD feed. :func:`sqrt_price_x96_from_price8` and
:func:`price8_from_sqrt_price_x96` are integer-only (``math.isqrt``, floor division) and the
latter mirrors ``UniswapV3Venue.spotPrice()`` bit for bit, for either token order.

**Pushing the pool** (the devnet arbitrageur): :func:`push_pool_to_price` computes, from the
pool's active liquidity, the exact input that moves ``slot0`` to the target inside the current
liquidity range, and sends it through ``SwapRouter.exactInputSingle`` with
``sqrtPriceLimitX96 = target``, so the swap can never overshoot (the router takes only what the
pool consumed). If an initialized tick on the way changes the liquidity, the first swap stops
short and the step repeats, at most ``max_swaps`` times.

Under interval mining another transaction (the keeper's hedge) can land in the same block just
before the arbitrage swap and move the pool past the target, in the swap's own direction; the
router then reverts with ``SPL`` (the price limit is already behind the price). That is not an
error: the swap re-quotes from the new ``slot0`` (direction and amount at the time of sending)
and tries again, within ``max_swaps`` + :data:`SPL_RETRIES`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception

from keeper.chain.artifacts import Artifact, load_artifact
from keeper.devnet.tx import deploy, transact
from keeper.errors import ChainError, ConfigError, ExecutionError, TxRevertedError
from keeper.locations import PROJECT_ROOT

logger = logging.getLogger(__name__)

#: Where npm installs the Uniswap packages.
UNISWAP_NODE_MODULES = PROJECT_ROOT / "node_modules" / "@uniswap"

#: Hardhat artifact of each contract deployed here, relative to :data:`UNISWAP_NODE_MODULES`.
HARDHAT_ARTIFACTS: dict[str, str] = {
    "UniswapV3Factory": "v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": "v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": "v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "NonfungiblePositionManager": (
        "v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/"
        "NonfungiblePositionManager.json"
    ),
}

#: A code-less stand-in for WETH9 (see the module docstring); the forge tests use the same one.
WETH9_SENTINEL = "0xe7e7e7E7E7e7e7e7E7E7e7e7E7e7e7E7e7E7E7e7"

#: Uniswap V3 tick and sqrt-price bounds (TickMath).
MIN_TICK = -887_272
MAX_TICK = 887_272
MIN_SQRT_RATIO = 4_295_128_739
MAX_SQRT_RATIO = 1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_342

Q96 = 1 << 96

#: What a reverted ``eth_call`` raises: web3's ``ContractLogicError`` on a node (anvil), but
#: eth-tester's ``TransactionFailed`` on the in-process py-evm backend, which web3 8 does not
#: translate (measured here with eth-tester 0.14.0b1).
CALL_REVERTED: tuple[type[Exception], ...] = (ContractLogicError, TransactionFailed)
#: What a reverted devnet transaction raises: the send path's ``TxRevertedError`` (the revert
#: decoded, nothing sent) on a node, eth-tester's ``TransactionFailed`` on py-evm (as above).
TX_REVERTED: tuple[type[Exception], ...] = (TxRevertedError, TransactionFailed)
_QUOTE_ERRORS: tuple[type[Exception], ...] = (*CALL_REVERTED, Web3Exception, ValueError)
_PRICE_DECIMALS = 8
_FEE_DENOMINATOR = 1_000_000  # fee tiers are in hundredths of a bip
_MAX_UINT256 = (1 << 256) - 1

#: The ERC-20 calls needed here (``mint`` only on the devnet's MintableERC20).
ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "allowance",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "decimals",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    },
    {
        "type": "function",
        "name": "mint",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [],
    },
]


# --------------------------------------------------------------------------- artifacts


@cache
def load_hardhat_artifact(name: str, root: Path | None = None) -> Artifact:
    """Read a Hardhat-format artifact (``bytecode`` is a plain hex string there).

    Args:
        name: A key of :data:`HARDHAT_ARTIFACTS`,
            e.g. ``"SwapRouter"``.
        root: The ``node_modules/@uniswap`` directory (default: this checkout's).

    Raises:
        ConfigError: Unknown name, missing or corrupt file (run ``make install``), or bytecode
            that still needs library linking.
    """
    rel = HARDHAT_ARTIFACTS.get(name)
    if rel is None:
        known = sorted(HARDHAT_ARTIFACTS)
        raise ConfigError(f"unknown Uniswap artifact {name!r}; known: {known}")
    path = (root or UNISWAP_NODE_MODULES) / rel
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"Uniswap artifact {path} missing: run `make install`") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read Uniswap artifact {path}: {exc}") from exc
    bytecode = raw.get("bytecode")
    if not isinstance(bytecode, str) or len(bytecode) <= 2:
        raise ConfigError(f"Uniswap artifact {path} has no bytecode string")
    if raw.get("linkReferences"):
        raise ConfigError(f"Uniswap artifact {path} needs library linking; not supported")
    return Artifact(name=str(raw.get("contractName", name)), abi=raw["abi"], bytecode=bytecode)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UniswapContracts:
    """The deployed Uniswap V3 singletons (checksummed addresses)."""

    factory: str
    router: str
    quoter: str
    position_manager: str
    weth9: str


@dataclass(frozen=True)
class UniswapPool:
    """One quote/underlying pool and how its tokens are ordered."""

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    quote: str
    underlying: str
    quote_decimals: int
    underlying_decimals: int

    @property
    def underlying_is_token0(self) -> bool:
        """Whether the underlying sorts first (then slot0's price is quote per underlying)."""
        return self.token0 == self.underlying


@dataclass(frozen=True)
class UniswapDevnet:
    """Everything :func:`deploy_uniswap_v3` set up: contracts, pool, and the seed position."""

    contracts: UniswapContracts
    pool: UniswapPool
    position_id: int
    liquidity: int


@dataclass(frozen=True)
class Quote:
    """A QuoterV2 answer for an exact-input single-pool swap."""

    amount_out: int
    sqrt_price_x96_after: int
    initialized_ticks_crossed: int
    gas_estimate: int


@dataclass(frozen=True)
class PushResult:
    """What :func:`push_pool_to_price` did.

    ``amount_in``/``amount_out`` total the swaps paid in ``token_in`` (the first direction); a
    swap back the other way (the pool was pushed past the target by someone else in between) is
    counted in ``swaps`` only.
    """

    token_in: str
    amount_in: int
    amount_out: int
    swaps: int
    sqrt_price_x96_before: int
    sqrt_price_x96_after: int
    price8_after: int
    reached: bool


# --------------------------------------------------------------------------- price math


def sqrt_price_x96_from_price8(
    price8: int, *, quote_decimals: int, underlying_decimals: int, underlying_is_token0: bool
) -> int:
    """The pool ``sqrtPriceX96`` at which one whole underlying costs ``price8`` / 1e8 quote.

    slot0's price is token1 units per token0 unit. Integer-only: the ratio is formed as a Q192
    and square-rooted with ``math.isqrt`` (both floor), so the result is at most 1 below the
    exact root.

    Raises:
        ConfigError: ``price8`` is not positive, or the result is outside the pool's range.
    """
    if price8 <= 0:
        raise ConfigError(f"price must be positive, got {price8}")
    num = price8 * 10**quote_decimals  # quote units per underlying unit, x 10^(8 + uDec)
    den = 10 ** (_PRICE_DECIMALS + underlying_decimals)
    ratio_x192 = (num << 192) // den if underlying_is_token0 else (den << 192) // num
    sqrt_price = math.isqrt(ratio_x192)
    if not MIN_SQRT_RATIO <= sqrt_price < MAX_SQRT_RATIO:
        raise ConfigError(f"price {price8} is outside the Uniswap V3 range")
    return sqrt_price


def price8_from_sqrt_price_x96(
    sqrt_price_x96: int,
    *,
    quote_decimals: int,
    underlying_decimals: int,
    underlying_is_token0: bool,
) -> int:
    """Quote per whole underlying (1e8) at a pool sqrt price, rounded down.

    Mirrors ``UniswapV3Venue._price8`` step by step (the same two floored divisions), so it
    equals ``spotPrice()`` exactly.
    """
    scale_num: int = 10 ** (underlying_decimals + _PRICE_DECIMALS)
    scale_den: int = 10**quote_decimals
    s = sqrt_price_x96
    if underlying_is_token0:
        price_x128 = s * s // (1 << 64)
        return price_x128 * scale_num // (scale_den << 128)
    return (scale_num * Q96 // s) * Q96 // (s * scale_den)


def full_range_ticks(tick_spacing: int) -> tuple[int, int]:
    """The widest usable (lower, upper) ticks for a tick spacing."""
    lower = -(-MIN_TICK // tick_spacing) * tick_spacing  # MIN_TICK rounded up to the spacing
    upper = (MAX_TICK // tick_spacing) * tick_spacing
    return lower, upper


def amount_in_to_reach(
    sqrt_price_x96: int, target_sqrt_price_x96: int, liquidity: int, fee: int
) -> tuple[bool, int]:
    """Input that moves the price from ``sqrt_price_x96`` to the target within one range.

    Uses the constant-liquidity formulas of SqrtPriceMath (token0 in: L*(1/sT - 1/sC);
    token1 in: L*(sT - sC)), grossed up by the fee, all rounded up.

    Returns:
        ``(zero_for_one, amount_in)``: whether token0 is paid, and how much (0 if already there).
    """
    zero_for_one = target_sqrt_price_x96 < sqrt_price_x96
    if target_sqrt_price_x96 == sqrt_price_x96 or liquidity == 0:
        return zero_for_one, 0
    if zero_for_one:
        diff = sqrt_price_x96 - target_sqrt_price_x96
        net = -(-(liquidity * Q96 * diff) // (sqrt_price_x96 * target_sqrt_price_x96))
    else:
        diff = target_sqrt_price_x96 - sqrt_price_x96
        net = -(-(liquidity * diff) // Q96)
    gross = -(-(net * _FEE_DENOMINATOR) // (_FEE_DENOMINATOR - fee))
    return zero_for_one, gross


# --------------------------------------------------------------------------- sending


# --------------------------------------------------------------------------- contracts


def erc20(w3: Web3, address: str) -> Contract:
    """A contract handle for an ERC-20 (with the devnet token's ``mint``)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=ERC20_ABI)


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_hardhat_artifact(name).abi
    )


def factory_contract(w3: Web3, contracts: UniswapContracts) -> Contract:
    """The factory, bound to the npm ABI."""
    return _contract(w3, "UniswapV3Factory", contracts.factory)


def router_contract(w3: Web3, contracts: UniswapContracts) -> Contract:
    """The SwapRouter, bound to the npm ABI."""
    return _contract(w3, "SwapRouter", contracts.router)


def quoter_contract(w3: Web3, contracts: UniswapContracts) -> Contract:
    """QuoterV2, bound to the npm ABI."""
    return _contract(w3, "QuoterV2", contracts.quoter)


def position_manager_contract(w3: Web3, contracts: UniswapContracts) -> Contract:
    """The NonfungiblePositionManager, bound to the npm ABI."""
    return _contract(w3, "NonfungiblePositionManager", contracts.position_manager)


def pool_contract(w3: Web3, pool: UniswapPool | str) -> Contract:
    """A pool, bound to the npm ABI."""
    address = pool.address if isinstance(pool, UniswapPool) else pool
    return _contract(w3, "UniswapV3Pool", address)


def slot0_sqrt_price_x96(w3: Web3, pool: UniswapPool | str) -> int:
    """The pool's current ``slot0().sqrtPriceX96``."""
    return int(pool_contract(w3, pool).functions.slot0().call()[0])


def pool_price8(w3: Web3, pool: UniswapPool) -> int:
    """The pool's current price as quote per whole underlying (1e8), like the venue's."""
    return price8_from_sqrt_price_x96(
        slot0_sqrt_price_x96(w3, pool),
        quote_decimals=pool.quote_decimals,
        underlying_decimals=pool.underlying_decimals,
        underlying_is_token0=pool.underlying_is_token0,
    )


# --------------------------------------------------------------------------- deployment


def deploy_uniswap_contracts(
    w3: Web3, deployer: LocalAccount, *, weth9: str = WETH9_SENTINEL
) -> UniswapContracts:
    """Deploy the factory, SwapRouter, QuoterV2 and NonfungiblePositionManager.

    The position manager's token descriptor is the zero address: it is read only by
    ``tokenURI``, which nothing here calls.
    """
    weth9 = Web3.to_checksum_address(weth9)
    factory = deploy(w3, deployer, load_hardhat_artifact("UniswapV3Factory"))
    router = deploy(w3, deployer, load_hardhat_artifact("SwapRouter"), factory.address, weth9)
    quoter = deploy(w3, deployer, load_hardhat_artifact("QuoterV2"), factory.address, weth9)
    npm = deploy(
        w3,
        deployer,
        load_hardhat_artifact("NonfungiblePositionManager"),
        factory.address,
        weth9,
        "0x0000000000000000000000000000000000000000",
    )
    contracts = UniswapContracts(
        factory=factory.address,
        router=router.address,
        quoter=quoter.address,
        position_manager=npm.address,
        weth9=weth9,
    )
    logger.info("deployed Uniswap V3: %s", contracts)
    return contracts


def create_pool(
    w3: Web3,
    deployer: LocalAccount,
    contracts: UniswapContracts,
    *,
    quote: str,
    underlying: str,
    fee: int,
    price8: int,
) -> UniswapPool:
    """Create and initialize the quote/underlying pool at ``price8`` (either token order).

    Raises:
        ConfigError: The fee tier is not enabled on the factory, or the price is out of range.
        ChainError: The pool already existed at another price.
    """
    quote = Web3.to_checksum_address(quote)
    underlying = Web3.to_checksum_address(underlying)
    factory = factory_contract(w3, contracts)
    tick_spacing = int(factory.functions.feeAmountTickSpacing(fee).call())
    if tick_spacing == 0:
        raise ConfigError(f"fee tier {fee} is not enabled on the factory")
    q_dec = int(erc20(w3, quote).functions.decimals().call())
    u_dec = int(erc20(w3, underlying).functions.decimals().call())
    token0, token1 = sorted((quote, underlying), key=lambda a: int(a, 16))
    sqrt_price = sqrt_price_x96_from_price8(
        price8,
        quote_decimals=q_dec,
        underlying_decimals=u_dec,
        underlying_is_token0=token0 == underlying,
    )
    npm = position_manager_contract(w3, contracts)
    transact(
        w3,
        deployer,
        npm.functions.createAndInitializePoolIfNecessary(token0, token1, fee, sqrt_price),
    )
    address = Web3.to_checksum_address(factory.functions.getPool(token0, token1, fee).call())
    pool = UniswapPool(
        address=address,
        token0=token0,
        token1=token1,
        fee=fee,
        tick_spacing=tick_spacing,
        quote=quote,
        underlying=underlying,
        quote_decimals=q_dec,
        underlying_decimals=u_dec,
    )
    actual = slot0_sqrt_price_x96(w3, pool)
    if actual != sqrt_price:
        raise ChainError(f"pool {address} already existed at sqrtPriceX96 {actual}")
    logger.info("created pool %s at price8 %d (sqrtPriceX96 %d)", address, price8, sqrt_price)
    return pool


def _ensure_balance_and_allowance(
    w3: Web3, owner: LocalAccount, token: str, spender: str, amount: int, *, mint: bool
) -> None:
    contract = erc20(w3, token)
    balance = int(contract.functions.balanceOf(owner.address).call())
    if balance < amount:
        if not mint:
            raise ExecutionError(f"{owner.address} holds {balance} of {token}, needs {amount}")
        transact(w3, owner, contract.functions.mint(owner.address, amount - balance))
    if int(contract.functions.allowance(owner.address, spender).call()) < amount:
        transact(w3, owner, contract.functions.approve(spender, _MAX_UINT256))


def fund_trader(
    w3: Web3, trader: LocalAccount, contracts: UniswapContracts, pool: UniswapPool, times: int = 10
) -> None:
    """Mint ``trader`` ``times`` the pool's balance of each token and approve the router.

    Up front, so that later swaps find the balance and the allowance in place and each is one
    transaction (:func:`swap_exact_input` with ``mint=True`` mints only a shortfall, in a
    transaction of its own).
    """
    router = router_contract(w3, contracts)
    for token in (pool.token0, pool.token1):
        held = int(erc20(w3, token).functions.balanceOf(pool.address).call())
        _ensure_balance_and_allowance(
            w3, trader, token, router.address, max(times * held, 1), mint=True
        )


def add_liquidity(
    w3: Web3,
    provider: LocalAccount,
    contracts: UniswapContracts,
    pool: UniswapPool,
    *,
    quote_amount: int,
    underlying_amount: int,
    tick_range: tuple[int, int] | None = None,
    mint: bool = False,
) -> tuple[int, int]:
    """Add a liquidity position through the NonfungiblePositionManager.

    Args:
        w3: Connection.
        provider: Pays the tokens and receives the position NFT.
        contracts: The deployment.
        pool: The pool.
        quote_amount: Most quote to add (the manager uses what the price ratio needs).
        underlying_amount: Most underlying to add.
        tick_range: ``(lower, upper)`` ticks, multiples of the spacing; default full range.
        mint: Mint any missing tokens first (devnet MintableERC20 only).

    Returns:
        ``(token_id, liquidity)`` of the new position.
    """
    lower, upper = tick_range or full_range_ticks(pool.tick_spacing)
    if lower % pool.tick_spacing or upper % pool.tick_spacing or lower >= upper:
        raise ConfigError(f"bad tick range ({lower}, {upper}) for spacing {pool.tick_spacing}")
    npm = position_manager_contract(w3, contracts)
    for token, amount in ((pool.quote, quote_amount), (pool.underlying, underlying_amount)):
        _ensure_balance_and_allowance(w3, provider, token, npm.address, amount, mint=mint)
    amounts = {pool.quote: quote_amount, pool.underlying: underlying_amount}
    params = (
        pool.token0,
        pool.token1,
        pool.fee,
        lower,
        upper,
        amounts[pool.token0],
        amounts[pool.token1],
        0,
        0,
        provider.address,
        _deadline(w3),
    )
    call = npm.functions.mint(params)
    token_id, liquidity, _a0, _a1 = call.call({"from": provider.address})
    transact(w3, provider, call)
    logger.info("added liquidity %d to %s (position %d)", liquidity, pool.address, token_id)
    return int(token_id), int(liquidity)


def deploy_uniswap_v3(
    w3: Web3,
    deployer: LocalAccount,
    *,
    quote: str,
    underlying: str,
    price8: int,
    underlying_liquidity: int,
    fee: int = 3000,
    tick_range: tuple[int, int] | None = None,
    mint: bool = True,
) -> UniswapDevnet:
    """Deploy Uniswap V3 and one funded quote/underlying pool at ``price8``.

    Args:
        w3: Connection.
        deployer: Deploys, creates the pool and provides the liquidity.
        quote: Quote token (6 decimals on the devnet).
        underlying: Underlying token (18 decimals on the devnet).
        price8: Initial price, quote per whole underlying, 1e8.
        underlying_liquidity: Underlying units to deposit; the quote side is its value at
            ``price8`` (full range takes both in that ratio).
        fee: Fee tier (500, 3000 or 10000).
        tick_range: Position range; default full range.
        mint: Mint the liquidity tokens to the deployer first (devnet tokens).
    """
    contracts = deploy_uniswap_contracts(w3, deployer)
    pool = create_pool(
        w3, deployer, contracts, quote=quote, underlying=underlying, fee=fee, price8=price8
    )
    quote_amount = (
        underlying_liquidity
        * price8
        * 10**pool.quote_decimals
        // (10 ** (_PRICE_DECIMALS + pool.underlying_decimals))
    )
    token_id, liquidity = add_liquidity(
        w3,
        deployer,
        contracts,
        pool,
        quote_amount=quote_amount + 1,  # +1: the manager rounds the needed amounts up
        underlying_amount=underlying_liquidity,
        tick_range=tick_range,
        mint=mint,
    )
    return UniswapDevnet(contracts=contracts, pool=pool, position_id=token_id, liquidity=liquidity)


def deploy_venue(w3: Web3, deployer: LocalAccount, pool: UniswapPool) -> Contract:
    """Deploy this project's ``UniswapV3Venue`` (forge artifact) over ``pool``.

    The venue swaps on the pool itself (no router): it pays the pool from its caller in the
    pool's swap callback.

    Args:
        w3: Connection.
        deployer: Pays for the deployment.
        pool: The pool to trade in.
    """
    return deploy(
        w3, deployer, load_artifact("UniswapV3Venue"), pool.address, pool.quote, pool.underlying
    )


# --------------------------------------------------------------------------- trading


def _deadline(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"]) + 3600


def quote_exact_input(
    w3: Web3,
    contracts: UniswapContracts,
    *,
    token_in: str,
    token_out: str,
    amount_in: int,
    fee: int,
    sqrt_price_limit_x96: int = 0,
) -> Quote:
    """QuoterV2 ``quoteExactInputSingle`` over ``eth_call`` (the quoter reverts internally).

    Raises:
        ChainError: The quoter reverted (no pool, no liquidity, a bad limit).
    """
    quoter = quoter_contract(w3, contracts)
    params = (
        Web3.to_checksum_address(token_in),
        Web3.to_checksum_address(token_out),
        amount_in,
        fee,
        sqrt_price_limit_x96,
    )
    try:
        out, sqrt_after, crossed, gas = quoter.functions.quoteExactInputSingle(params).call()
    except _QUOTE_ERRORS as exc:
        raise ChainError(f"QuoterV2 reverted for {amount_in} {token_in}: {exc}") from exc
    return Quote(
        amount_out=int(out),
        sqrt_price_x96_after=int(sqrt_after),
        initialized_ticks_crossed=int(crossed),
        gas_estimate=int(gas),
    )


def swap_exact_input(
    w3: Web3,
    trader: LocalAccount,
    contracts: UniswapContracts,
    *,
    token_in: str,
    token_out: str,
    amount_in: int,
    fee: int,
    min_out: int = 0,
    sqrt_price_limit_x96: int = 0,
    mint: bool = False,
) -> tuple[int, int]:
    """Swap through ``SwapRouter.exactInputSingle`` from ``trader`` to itself.

    With a price limit the router takes only what the pool consumed before the limit.

    Returns:
        ``(amount_in_paid, amount_out)`` from the trader's balance changes.
    """
    router = router_contract(w3, contracts)
    _ensure_balance_and_allowance(w3, trader, token_in, router.address, amount_in, mint=mint)
    tin, tout = erc20(w3, token_in), erc20(w3, token_out)
    in_before = int(tin.functions.balanceOf(trader.address).call())
    out_before = int(tout.functions.balanceOf(trader.address).call())
    params = (
        Web3.to_checksum_address(token_in),
        Web3.to_checksum_address(token_out),
        fee,
        trader.address,
        _deadline(w3),
        amount_in,
        min_out,
        sqrt_price_limit_x96,
    )
    transact(w3, trader, router.functions.exactInputSingle(params))
    paid = in_before - int(tin.functions.balanceOf(trader.address).call())
    got = int(tout.functions.balanceOf(trader.address).call()) - out_before
    return paid, got


#: Extra swaps :func:`push_pool_to_price` may send after ``SPL`` reverts (the pool moved under it).
SPL_RETRIES = 4


def push_pool_to_price(
    w3: Web3,
    trader: LocalAccount,
    contracts: UniswapContracts,
    pool: UniswapPool,
    target_price8: int,
    *,
    max_amount_in: int | None = None,
    max_swaps: int = 4,
    mint: bool = False,
) -> PushResult:
    """Trade the pool toward ``target_price8`` (the devnet arbitrageur's move).

    Each swap pays the single-range input computed by :func:`amount_in_to_reach` from the
    pool's active liquidity, with ``sqrtPriceLimitX96`` set to the target, so it never
    overshoots; it repeats while an initialized tick stopped it short (at most ``max_swaps``).

    Args:
        w3: Connection.
        trader: Pays and receives.
        contracts: The deployment.
        pool: The pool.
        target_price8: Target price, quote per whole underlying, 1e8.
        max_amount_in: Cap on the total input of this call, in the input token's units; the
            pool then stops short of the target (``reached`` is False).
        max_swaps: Most swaps to send.
        mint: Mint the input token when the trader lacks it (devnet tokens).

    Returns:
        A :class:`PushResult`; ``reached`` tells whether ``slot0`` is at the target.
    """
    target = sqrt_price_x96_from_price8(
        target_price8,
        quote_decimals=pool.quote_decimals,
        underlying_decimals=pool.underlying_decimals,
        underlying_is_token0=pool.underlying_is_token0,
    )
    pc = pool_contract(w3, pool)
    before = slot0_sqrt_price_x96(w3, pool)
    current = before
    first_token_in = pool.token0 if target < before else pool.token1
    total_in = total_out = swaps = requotes = 0
    while current != target and swaps < max_swaps and requotes <= SPL_RETRIES:
        # Direction and amount from the pool as it is now (another sender may have moved it).
        zero_for_one = target < current
        token_in, token_out = (
            (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
        )
        liquidity = int(pc.functions.liquidity().call())
        _, exact = amount_in_to_reach(current, target, liquidity, pool.fee)
        # A margin over the formula (SqrtPriceMath rounds each step up): harmless, because the
        # price limit stops the swap at the target and the router takes only what was consumed.
        need = exact + exact // 1000 + 10
        if liquidity == 0:
            # Between positions: no formula applies; the price limit still stops the swap.
            need = max(need, 10 ** (pool.underlying_decimals + 3))
        if max_amount_in is not None:
            need = min(need, max_amount_in - total_in)
        if need <= 0:
            break
        try:
            paid, got = swap_exact_input(
                w3,
                trader,
                contracts,
                token_in=token_in,
                token_out=token_out,
                amount_in=need,
                fee=pool.fee,
                sqrt_price_limit_x96=target,
                mint=mint,
            )
        except (TxRevertedError, TransactionFailed) as exc:
            # "SPL" at the estimate: the pool moved between our read and it. Reverted on-chain
            # after a clean estimate: it moved in the block the swap landed in. (py-evm raises
            # its own TransactionFailed at the estimate.)
            if "SPL" not in str(exc) and "reverted on-chain" not in str(exc):
                raise
            requotes += 1
            logger.info("pool moved under the arbitrage swap (%s): re-quoting", exc)
            current = slot0_sqrt_price_x96(w3, pool)
            continue
        if token_in == first_token_in:
            total_in += paid
            total_out += got
        swaps += 1
        new = slot0_sqrt_price_x96(w3, pool)
        if new == current:
            break  # nothing moved (input too small to cross one unit): stop, do not spin
        current = new
    result = PushResult(
        token_in=first_token_in,
        amount_in=total_in,
        amount_out=total_out,
        swaps=swaps,
        sqrt_price_x96_before=before,
        sqrt_price_x96_after=current,
        price8_after=price8_from_sqrt_price_x96(
            current,
            quote_decimals=pool.quote_decimals,
            underlying_decimals=pool.underlying_decimals,
            underlying_is_token0=pool.underlying_is_token0,
        ),
        reached=current == target,
    )
    logger.info(
        "pushed pool %s toward %d: %d swaps, paid %d, now %d",
        pool.address,
        target_price8,
        swaps,
        total_in,
        result.price8_after,
    )
    return result
