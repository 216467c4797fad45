"""The devnet market driver: a seeded price path, an arbitrageur, depositors and an option desk.

Each :meth:`Market.step` plays one interval of a market around the vaults, every move a real
signed transaction from its own anvil account:

1. **Time** advances by ``step_seconds``: the step's first block is pinned to the latest block's
   timestamp plus ``step_seconds`` (``evm_setNextBlockTimestamp``; the next transaction mines
   it), so the vaults' intervals, the oracle heartbeat and option expiries all matter. Pinning,
   rather than ``evm_increaseTime``, keeps the wall clock out of chain time when anvil runs with
   ``anvil_setBlockTimestampInterval`` (see :func:`deterministic_clock`), and works across
   processes (``keeper devnet step``).
2. **Oracle**: the Chainlink ``MockV3Aggregator`` gets the path's next price (``updateAnswer``).
3. **Arbitrageur**: trades the real Uniswap V3 pool back to the oracle price
   (:func:`keeper.devnet.stack.push_price`), as arbitrage does on a live chain.
4. **Expiries**: the option buyer settles every expired series at the oracle price and redeems
   its claims (anyone may settle; the buyer is the one who cares; when the keeper's settlement
   landed first, the buyer only redeems).
5. **Depositors** deposit into and withdraw from random vaults (plain ERC-4626 calls). Each flow
   is previewed in the very state it will execute in (the next block's timestamp is pinned with
   ``evm_setNextBlockTimestamp`` and the preview is an ``eth_call`` on the pending block), and
   the shares actually minted or burned must equal ``previewDeposit``/``previewWithdraw``, the
   ``Deposit``/``Withdraw`` event and OZ's ERC-4626 formula at the executing state, else
   :class:`~keeper.errors.ChainError`.
6. **Desk**: now and then sells a capped call or put on a random vault. The premium is the
   Black-Scholes value at the vault's own vol parameter (:func:`keeper.pricing.capped_greeks`)
   plus a markup, paid by the buyer account; the size keeps the new collateral lock and the
   hedge it needs within a share of the vault's ``freeQuote`` (the vault refuses uncollateralized
   writes with ``OptionVaultInsufficientCollateral``). Puts make the vault long delta, which a spot
   venue can only hedge by selling inventory, so open puts stay within :func:`put_room`.
7. **Queued exits**: now and then a holder queues part of its shares in the vault's ERC-7540
   redemption queue (``requestRedeem``), as a holder does whose exit the free quote cannot serve
   while collateral is locked. The keeper fills the queue once a settlement frees collateral;
   the demo reports how much of what was queued was filled by its end. These draws come from
   their own generator, so the other flows are the same with or without them.

The price path comes from :func:`keeper.backtest.price_paths.merton_paths` (GBM when the jump
intensity is 0), so the same seed gives the same path here and in the backtester. Everything
random is drawn from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from keeper.backtest.price_paths import merton_paths
from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.artifacts import load_artifact
from keeper.chain.lens import LensReader, Series, VaultSnapshot
from keeper.chain.rounds import expiry_round
from keeper.devnet import uniswap as uni
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.stack import DevnetStack, pool_of, push_price
from keeper.devnet.tx import account, transactor
from keeper.errors import ChainError, ConfigError, TxRevertedError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import Fees
from keeper.execution.transactions import Transactor
from keeper.pricing import YEAR_SECONDS, capped_greeks

logger = logging.getLogger(__name__)

WAD = 10**18
USDC = 10**6
PRICE8 = 10**8
#: OptionVault: 1e18 size x 1e8 price / 1e20 = quote units (1e6).
UNDERLYING_PRICE_TO_QUOTE = 10**20
#: OZ ERC-4626 virtual shares of OptionVault: ``10 ** _decimalsOffset()`` with an offset of 6.
VIRTUAL_SHARES = 10**6
CALL, PUT = 0, 1
#: Contract sizes are multiples of 0.1 contract.
SIZE_LOT = WAD // 10
HOUR = 3_600


# ----------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Accounts:
    """The demo's roles, each a distinct anvil account (public devnet keys)."""

    admin: LocalAccount
    desk: LocalAccount
    keeper_key: str
    arbitrageur: LocalAccount
    buyer: LocalAccount
    depositors: tuple[LocalAccount, ...]

    @property
    def keeper_address(self) -> str:
        """The keeper's address (its key signs only through the keeper's own sender)."""
        return str(account(self.keeper_key).address)


def demo_accounts(keys: Sequence[str] = ANVIL_KEYS) -> Accounts:
    """Admin 0, desk 2, keeper 3, arbitrageur 4, buyer 5, depositors 6-8.

    The market never sends from 1 or 9: ``devnet up`` funds 1 for use by hand, and ``rehearse``
    registers 9 as a keeper on its fork.
    """
    if len(keys) < 9:
        raise ConfigError(f"the demo needs 9 funded accounts, got {len(keys)}")
    return Accounts(
        admin=account(keys[0]),
        desk=account(keys[2]),
        keeper_key=keys[3],
        arbitrageur=account(keys[4]),
        buyer=account(keys[5]),
        depositors=tuple(account(k) for k in keys[6:9]),
    )


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class MarketConfig:
    """The market's knobs. Money is in token units; rates and probabilities are floats."""

    seed: int = 7
    steps: int = 150
    step_seconds: int = 600
    spot8: int = 3_000 * PRICE8
    drift: float = 0.0
    vol: float = 0.8
    #: Merton jumps per year (0: plain GBM), with normal log-jumps N(jump_mean, jump_std^2).
    jump_intensity: float = 0.0
    jump_mean: float = -0.03
    jump_std: float = 0.05
    deposit_prob: float = 0.25
    withdraw_prob: float = 0.15
    #: Chance a step queues a holder's exit in a vault's redemption queue.
    queue_prob: float = 0.05
    write_prob: float = 0.2
    min_deposit: int = 1_000 * USDC
    max_deposit: int = 100_000 * USDC
    depositor_float: int = 100_000_000 * USDC
    premium_markup_bps: int = 200
    #: Share of a vault's free quote one write may commit (collateral lock + hedge purchase).
    write_budget_bps: int = 1_500
    max_contracts: int = 10 * WAD
    put_share: float = 0.15
    tenors_s: tuple[int, ...] = (6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 72 * HOUR)
    #: Open series kept below the vault's MAX_OPEN_SERIES (16).
    max_open_series: int = 12
    #: Send a step's oracle update and its arbitrage together, so that under interval mining
    #: they land in one block, as on a live chain, where arbitrage follows a price within the
    #: block (the arbitrageur is funded in :meth:`Market.setup`, so the arbitrage is one swap).
    #: Off, they go one after the other: under automine (the demo) each is its own block in
    #: a fixed order; under interval mining the pool then lags the oracle by a block or two, in
    #: which the vaults' own oracle-gap check refuses every hedge.
    price_in_one_block: bool = False

    def __post_init__(self) -> None:
        if self.seed < 0:  # numpy's generators take only non-negative seeds
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if self.steps < 1 or self.step_seconds < 1:
            raise ConfigError("steps and step_seconds must be >= 1")
        if self.spot8 <= 0 or self.vol < 0:
            raise ConfigError("spot must be > 0 and vol >= 0")
        for name in ("deposit_prob", "withdraw_prob", "queue_prob", "write_prob", "put_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1]")
        if not 0 < self.min_deposit <= self.max_deposit:
            raise ConfigError("need 0 < min_deposit <= max_deposit")


def deterministic_clock(w3: Web3, align_s: int = 86_400) -> int:
    """Take the wall clock out of an anvil's block timestamps; return the next block's.

    Each new block's timestamp becomes the previous one plus one second
    (``anvil_setBlockTimestampInterval``), whatever the wall clock does between transactions,
    and the next block is pinned to the next multiple of ``align_s`` (so option expiries, which
    are rounded to the hour, fall at the same offsets in every run). With on-demand mining and
    the same transactions, every block then has the same timestamp in every run. Undo with
    ``anvil_removeBlockTimestampInterval``.

    Raises:
        ChainError: The node is not anvil (the methods are unknown).
    """
    for method, params in (("anvil_setBlockTimestampInterval", [1]),):
        resp = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in resp:
            raise ChainError(f"{method} failed: {resp['error']}")
    latest = int(w3.eth.get_block("latest")["timestamp"])
    start = (latest // align_s + 1) * align_s
    resp = w3.provider.make_request("evm_setNextBlockTimestamp", [start])  # type: ignore[arg-type]
    if "error" in resp:
        raise ChainError(f"evm_setNextBlockTimestamp failed: {resp['error']}")
    return start


# ----------------------------------------------------------------------------- pure parts


def to_price8(usd: float) -> int:
    """USD float -> Chainlink 1e8 integer, rounded to the nearest unit (the one conversion)."""
    if not (math.isfinite(usd) and usd > 0):
        raise ConfigError(f"price {usd!r} is not a positive finite number")
    return max(1, round(usd * PRICE8))


def price_path(cfg: MarketConfig) -> list[int]:
    """The oracle prices for steps ``0..steps`` (1e8), from the backtester's seeded generator."""
    maturity = cfg.steps * cfg.step_seconds / YEAR_SECONDS
    paths = merton_paths(
        cfg.spot8 / PRICE8,
        cfg.drift,
        cfg.vol,
        maturity,
        cfg.steps,
        1,
        cfg.seed,
        cfg.jump_intensity,
        cfg.jump_mean,
        cfg.jump_std,
    )
    return [to_price8(float(x)) for x in paths.spots[0]]


def lock_per_contract(option_type: int, strike8: int, cap8: int) -> int:
    """Quote locked per whole contract: the max payoff (a put pays at most its strike), rounded up.

    Mirrors ``OptionVault._lockOf`` for ``size = 1e18``.
    """
    max_payoff = strike8 if option_type == PUT and cap8 > strike8 else cap8
    return -(-WAD * max_payoff // UNDERLYING_PRICE_TO_QUOTE)


def option_value_usd(
    spot8: int, strike8: int, cap8: int, tau_s: int, vol_wad: int, option_type: int
) -> tuple[float, float]:
    """Black-Scholes value (USD) and delta of one capped contract at the vault's vol."""
    g = capped_greeks(
        spot8 / PRICE8,
        strike8 / PRICE8,
        cap8 / PRICE8,
        max(tau_s, 0) / YEAR_SECONDS,
        vol_wad / WAD,
        call=option_type == CALL,
    )
    return float(g.value), float(g.delta)


def premium_quote(value_usd: float, size: int, markup_bps: int) -> int:
    """Premium in quote units for ``size`` (1e18) contracts worth ``value_usd`` each.

    The float value leaves the pricing math here, rounded **up** (the vault never undersells by a
    rounding), and is at least 1 unit (the vault refuses a zero premium).
    """
    if size <= 0 or markup_bps < 0 or not math.isfinite(value_usd) or value_usd < 0:
        raise ConfigError("premium needs size > 0, markup >= 0 and a finite value >= 0")
    usd = value_usd * (size / WAD) * (10_000 + markup_bps) / 10_000
    return max(1, math.ceil(usd * USDC))


def size_within_collateral(
    free_quote: int,
    lock_per_contract_quote: int,
    hedge_per_contract_quote: int,
    budget_bps: int,
    max_size: int,
    lot: int = SIZE_LOT,
) -> int:
    """The largest size (1e18, a multiple of ``lot``) whose lock and hedge fit the budget.

    Each contract commits its collateral lock and (for a call) the quote its delta hedge will
    buy; together they may use ``budget_bps`` of the vault's free quote. Returns 0 when not even
    one lot fits.
    """
    if free_quote <= 0 or budget_bps <= 0 or max_size <= 0:
        return 0
    per_contract = lock_per_contract_quote + max(hedge_per_contract_quote, 0)
    if per_contract <= 0:
        raise ConfigError("a contract must commit some quote")
    budget = free_quote * budget_bps // 10_000
    size = budget * WAD // per_contract
    size = min(size, max_size)
    return size - size % lot


def put_room(inventory: int, open_series: Sequence[Series]) -> int:
    """Most put contracts (1e18) the desk may add to a vault holding ``inventory``.

    A short put is long delta, which a spot venue can hedge only by selling inventory (it cannot
    short), and a falling price both shrinks the calls' hedge and grows the puts' delta. So the
    open puts, counted at the worst delta of 1 per contract, stay within a quarter of the
    inventory, leaving room for the calls' hedge to shrink.
    """
    open_puts = sum(s.size for s in open_series if not s.is_call and not s.settled)
    return max(inventory // 4 - open_puts, 0)


def erc4626_shares(assets: int, total_assets: int, total_supply: int, *, round_up: bool) -> int:
    """OZ v5 ``_convertToShares`` with OptionVault's 6-decimal offset (virtual shares)."""
    num = assets * (total_supply + VIRTUAL_SHARES)
    den = total_assets + 1
    return -(-num // den) if round_up else num // den


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Flow:
    """A depositor's deposit or withdrawal, with the preview it was checked against."""

    step: int
    vault: str
    kind: str  # "deposit" | "withdraw"
    depositor: str
    assets: int
    shares: int
    preview: int
    #: OZ's ERC-4626 math at the executing state; -1 when that state was not readable.
    expected: int
    block: int


@dataclass(frozen=True)
class QueuedExit:
    """A holder's shares queued in a vault's redemption queue (``requestRedeem``)."""

    step: int
    vault: str
    holder: str
    shares: int
    block: int


@dataclass(frozen=True)
class Write:
    """An option the desk sold."""

    step: int
    vault: str
    series_id: int
    option_type: int
    strike8: int
    cap8: int
    expiry: int
    size: int
    premium: int
    block: int


@dataclass(frozen=True)
class Settlement:
    """An expired series settled (and its claims redeemed when in the money)."""

    step: int
    vault: str
    series_id: int
    payout_per_contract: int
    redeemed: int


@dataclass
class StepRecord:
    """What one market step did."""

    step: int
    timestamp: int
    price8: int
    pool_price8: int
    flows: list[Flow] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    queued: list[QueuedExit] = field(default_factory=list)


# ----------------------------------------------------------------------------- the driver


class Market:
    """Drives the market around a deployed :class:`~keeper.devnet.stack.DevnetStack`.

    Args:
        w3: The devnet connection (anvil: it uses ``evm_increaseTime`` and
            ``evm_setNextBlockTimestamp``).
        stack: The deployed stack.
        accounts: The roles (:func:`demo_accounts`).
        config: The market's knobs.
        exact_preview: Pin each flow's block timestamp and require ``shares == preview``
            (on-demand mining; turn off with interval mining, see :meth:`_flow`).
    """

    def __init__(
        self,
        w3: Web3,
        stack: DevnetStack,
        accounts: Accounts,
        config: MarketConfig,
        *,
        exact_preview: bool = True,
    ) -> None:
        self.w3 = w3
        self.stack = stack
        self.acct = accounts
        self.cfg = config
        self.exact_preview = exact_preview
        self.rng = np.random.default_rng(config.seed)
        #: The queued exits' own draws: the other flows do not move when they are turned on.
        self.queue_rng = np.random.default_rng([config.seed, 1])
        self.prices = price_path(config)
        self.lens = LensReader(w3, stack.lens)
        self.decoder = ErrorDecoder.from_artifacts()
        vault_abi = load_artifact("OptionVault").abi
        self.vaults: dict[str, Contract] = {
            v: w3.eth.contract(address=Web3.to_checksum_address(v), abi=vault_abi)
            for v in stack.vaults
        }
        erc20 = load_artifact("MintableERC20").abi
        self.usdc = w3.eth.contract(address=Web3.to_checksum_address(stack.usdc), abi=erc20)
        self.feed = w3.eth.contract(
            address=Web3.to_checksum_address(stack.price_feed),
            abi=load_artifact("MockV3Aggregator").abi,
        )
        self.claims_abi = load_artifact("OptionClaims").abi
        self.pool = pool_of(stack)[1]
        self._senders: dict[str, Transactor] = {}
        self._fees: Fees | None = None
        self.records: list[StepRecord] = []

    # -- plumbing ---------------------------------------------------------------------------
    def _rpc(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in resp:
            raise ChainError(f"{method} failed: {resp['error']}")
        return resp.get("result")

    def _send(self, signer: LocalAccount, call: ContractFunction, what: str) -> TxReceipt:
        """Send a market transaction; a revert becomes a ChainError with the decoded reason.

        Through one :class:`~keeper.execution.transactions.Transactor` per account (the market
        sends thousands): it counts the account's nonces itself (forgetting the count on any
        failure), the fees are read once per step, and gas is estimated once (with the devnet
        margin).
        """
        sender = self._senders.get(signer.address)
        if sender is None:
            sender = transactor(
                self.w3, signer, track_nonce=True, poll_s=0.01, decoder=self.decoder
            )
            self._senders[signer.address] = sender
        if self._fees is None:
            self._fees = sender.fees()
        try:
            return sender.call(call, what=what, fees=self._fees)
        except TxRevertedError as exc:
            raise ChainError(f"market: {exc}") from exc

    def mint_usdc(self, to: str, amount: int) -> None:
        """Mint ``amount`` USDC units to ``to``, from the admin.

        Through the market's own nonce count, so its next transaction from the admin is not
        refused.
        """
        call = self.usdc.functions.mint(Web3.to_checksum_address(to), amount)
        self._send(self.acct.admin, call, "mint")

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _pin_next_block(self) -> int:
        """Pin the next block's timestamp, so an ``eth_call`` on ``pending`` sees its state."""
        ts = self.now() + 1
        self._rpc("evm_setNextBlockTimestamp", ts)
        return ts

    def snapshots(self) -> dict[str, VaultSnapshot]:
        """One lens read of every vault."""
        return {s.vault: s for s in self.lens.read(list(self.vaults)).snapshots}

    # -- setup ------------------------------------------------------------------------------
    def setup(self) -> StepRecord:
        """Fund and approve the depositors and the buyer, and sell each vault an opening book.

        Returns the record of step 0 (at the path's first price).
        """
        a = self.acct
        for who in (*a.depositors, a.buyer):
            self._send(
                a.admin, self.usdc.functions.mint(who.address, self.cfg.depositor_float), "mint"
            )
            for v in self.vaults:
                self._send(who, self.usdc.functions.approve(v, 2**256 - 1), "approve")
        self._send(a.admin, self.feed.functions.updateAnswer(self.prices[0]), "updateAnswer")
        if self.cfg.price_in_one_block:
            uni.fund_trader(self.w3, a.arbitrageur, *pool_of(self.stack))
        rec = StepRecord(0, self.now(), self.prices[0], self.prices[0])
        snaps = self.snapshots()
        for v in self.vaults:
            w = self._write(0, v, snaps[v], force_call=True)
            if w is not None:
                rec.writes.append(w)
        self.records.append(rec)
        return rec

    # -- one step ---------------------------------------------------------------------------
    def step(self, i: int) -> StepRecord:
        """Play market step ``i`` (1-based, at most ``config.steps``)."""
        if not 1 <= i <= self.cfg.steps:
            raise ConfigError(f"step {i} is outside 1..{self.cfg.steps}")
        a = self.acct
        self._fees = None  # re-read the base fee once per step
        self._rpc("evm_setNextBlockTimestamp", self.now() + self.cfg.step_seconds)
        price = self.prices[i]
        update = self.feed.functions.updateAnswer(price)
        if self.cfg.price_in_one_block:
            with ThreadPoolExecutor(max_workers=1) as pool:
                oracle = pool.submit(self._send, a.admin, update, "updateAnswer")
                push_price(self.w3, a.arbitrageur, self.stack, price)
                oracle.result()
        else:
            self._send(a.admin, update, "updateAnswer")
            push_price(self.w3, a.arbitrageur, self.stack, price)
        rec = StepRecord(i, self.now(), price, self._pool_price8())
        snaps = self.snapshots()
        rec.settlements.extend(self._settle_expired(i, snaps))
        if rec.settlements:
            snaps = self.snapshots()
        vaults = list(self.vaults)
        if self.rng.random() < self.cfg.deposit_prob:
            v = vaults[int(self.rng.integers(len(vaults)))]
            rec.flows.append(self._deposit(i, v))
        if self.rng.random() < self.cfg.withdraw_prob:
            v = vaults[int(self.rng.integers(len(vaults)))]
            flow = self._withdraw(i, v, snaps[v])
            if flow is not None:
                rec.flows.append(flow)
        if self.queue_rng.random() < self.cfg.queue_prob:
            v = vaults[int(self.queue_rng.integers(len(vaults)))]
            queued = self._queue_exit(i, v)
            if queued is not None:
                rec.queued.append(queued)
        if self.rng.random() < self.cfg.write_prob:
            v = vaults[int(self.rng.integers(len(vaults)))]
            w = self._write(i, v, self.snapshots()[v])
            if w is not None:
                rec.writes.append(w)
        self.records.append(rec)
        return rec

    def _pool_price8(self) -> int:
        return int(uni.pool_price8(self.w3, self.pool))

    # -- expiries ---------------------------------------------------------------------------
    def _settle_expired(self, i: int, snaps: dict[str, VaultSnapshot]) -> list[Settlement]:
        out: list[Settlement] = []
        now = self.now()
        buyer = self.acct.buyer
        for v, snap in snaps.items():
            vault = self.vaults[v]
            for s in snap.series:
                if s.settled or s.expiry >= now:
                    continue
                hint = expiry_round(self.w3, self.stack.price_feed, s.expiry, now)
                if hint is None:
                    continue  # no oracle round since expiry yet
                try:
                    self._send(buyer, vault.functions.settle(s.id, hint), f"settle({s.id}) on {v}")
                except ChainError:
                    # Anyone may settle: under interval mining the keeper's own settlement can
                    # land first, in the same block. Then the buyer only redeems.
                    if not bool(vault.functions.series(s.id).call()[6]):
                        raise
                    logger.info("series %d on %s was settled by someone else first", s.id, v)
                payout = int(vault.functions.series(s.id).call()[7])
                redeemed = 0
                claims = self.w3.eth.contract(
                    address=vault.functions.claims().call(), abi=self.claims_abi
                )
                held = int(claims.functions.balanceOf(buyer.address, s.id).call())
                if payout > 0 and held > 0:
                    before = int(self.usdc.functions.balanceOf(buyer.address).call())
                    self._send(buyer, vault.functions.redeemClaims(s.id, held), "redeemClaims")
                    redeemed = int(self.usdc.functions.balanceOf(buyer.address).call()) - before
                    expected = held * payout // WAD
                    if redeemed != expected:
                        raise ChainError(
                            f"market: redeemClaims({s.id}) paid {redeemed}, expected {expected}"
                        )
                out.append(Settlement(i, v, s.id, payout, redeemed))
        return out

    # -- depositors -------------------------------------------------------------------------
    def _deposit(self, i: int, v: str) -> Flow:
        cfg = self.cfg
        who = self.acct.depositors[int(self.rng.integers(len(self.acct.depositors)))]
        lots = (cfg.max_deposit - cfg.min_deposit) // USDC
        assets = cfg.min_deposit + int(self.rng.integers(lots + 1)) * USDC
        return self._flow(i, v, who, "deposit", assets)

    def _withdraw(self, i: int, v: str, snap: VaultSnapshot) -> Flow | None:
        vault = self.vaults[v]
        holders = [d for d in self.acct.depositors if vault.functions.balanceOf(d.address).call()]
        if not holders:
            return None
        who = holders[int(self.rng.integers(len(holders)))]
        limit = int(vault.functions.maxWithdraw(who.address).call())
        # Keep half of the free quote for hedge purchases: depositors of a real vault would
        # find the rest locked as collateral anyway.
        room = min(limit, snap.free_quote // 2)
        assets = room * int(self.rng.integers(10, 61)) // 100
        if assets < USDC:
            return None
        return self._flow(i, v, who, "withdraw", assets)

    def _queue_exit(self, i: int, v: str) -> QueuedExit | None:
        """A holder of ``v`` queues 10-60% of its shares in the vault's redemption queue."""
        vault = self.vaults[v]
        queue_address = str(vault.functions.redemptionQueue().call())
        if int(queue_address, 16) == 0:
            return None
        depositors = self.acct.depositors
        held = {d.address: int(vault.functions.balanceOf(d.address).call()) for d in depositors}
        holders = [d for d in depositors if held[d.address]]
        if not holders:
            return None
        who = holders[int(self.queue_rng.integers(len(holders)))]
        shares = held[who.address] * int(self.queue_rng.integers(10, 61)) // 100
        if shares == 0:
            return None
        queue = self.w3.eth.contract(
            address=Web3.to_checksum_address(queue_address),
            abi=load_artifact("RedemptionQueue").abi,
        )
        self._send(who, vault.functions.approve(queue.address, shares), "approve the queue")
        receipt = self._send(
            who,
            queue.functions.requestRedeem(shares, who.address, who.address),
            f"requestRedeem of {shares} shares on {v}",
        )
        return QueuedExit(i, v, who.address, shares, int(receipt["blockNumber"]))

    def _flow(self, i: int, v: str, who: LocalAccount, kind: str, assets: int) -> Flow:
        """Deposit or withdraw ``assets`` and verify the shares minted or burned.

        Checks: the balance change == the ERC-4626 event == OZ's math at the state the call
        executed in (:meth:`_executing_state`: the block's post-state minus this flow, or under
        interval mining, when other transactions follow it in its block, its own pre-state)
        == the preview; the quote moved == ``assets``. With on-demand mining the preview runs
        on the pending block with its timestamp pinned, so it is exact; with interval mining it
        is recorded but not compared (the block's timestamp is not known in advance).
        """
        vault = self.vaults[v]
        deposit = kind == "deposit"
        at: Literal["latest", "pending"] = "latest"
        if self.exact_preview:
            self._pin_next_block()
            at = "pending"
        preview_fn = vault.functions.previewDeposit if deposit else vault.functions.previewWithdraw
        preview = int(preview_fn(assets).call(block_identifier=at))
        shares_before = int(vault.functions.balanceOf(who.address).call())
        cash_before = int(self.usdc.functions.balanceOf(who.address).call())
        call = (
            vault.functions.deposit(assets, who.address)
            if deposit
            else vault.functions.withdraw(assets, who.address, who.address)
        )
        receipt = self._send(who, call, f"{kind} of {assets} on {v}")
        block = int(receipt["blockNumber"])
        shares = abs(int(vault.functions.balanceOf(who.address).call()) - shares_before)
        moved = abs(int(self.usdc.functions.balanceOf(who.address).call()) - cash_before)
        event = vault.events.Deposit() if deposit else vault.events.Withdraw()
        logs = event.process_receipt(receipt, errors=DISCARD)
        logged = int(logs[0]["args"]["shares"]) if logs else -1
        state = self._executing_state(vault, receipt)
        expected = -1
        if state is not None:
            ta, ts, after = state
            if after and deposit:
                ta, ts = ta - assets, ts - shares
            elif after:
                ta, ts = ta + assets, ts + shares
            expected = erc4626_shares(assets, ta, ts, round_up=not deposit)
        previewed = preview == shares or not self.exact_preview
        computed = expected == shares or state is None
        if not (shares == logged and computed and moved == assets and previewed):
            raise ChainError(
                f"market: {kind} of {assets} on {v} moved {shares} shares (event {logged}) and "
                f"{moved} quote; preview {preview}, ERC-4626 math {expected}"
            )
        return Flow(i, v, kind, who.address, assets, shares, preview, expected, block)

    def _executing_state(self, vault: Contract, receipt: TxReceipt) -> tuple[int, int, bool] | None:
        """The vault's ``(totalAssets, totalSupply)`` around the flow in ``receipt``.

        Returns ``(ta, ts, True)`` at the block's post-state when no transaction follows the flow
        in its block (the post-state minus this flow is the state it executed in: the only case
        under on-demand mining), ``(ta, ts, False)`` at the flow's own pre-state when it is the
        block's first transaction and others follow (under interval mining the keeper's hedge or
        an oracle update can land after it in the same block: the parent block's state, read at
        this block's number and timestamp with ``eth_call`` block overrides), and ``None`` when
        other transactions both precede and follow it (no state to compare against; the flow is
        then checked against its event and balances only).
        """
        block = int(receipt["blockNumber"])
        index = int(receipt["transactionIndex"])
        header = self.w3.eth.get_block(block)
        if index == len(header["transactions"]) - 1:
            ta = int(vault.functions.totalAssets().call(block_identifier=block))
            ts = int(vault.functions.totalSupply().call(block_identifier=block))
            return ta, ts, True
        if index != 0:
            logger.info("flow in block %d between other transactions: checked by its event", block)
            return None
        overrides = {"time": hex(int(header["timestamp"])), "number": hex(block)}
        out = []
        for fn in ("totalAssets", "totalSupply"):
            call = {"to": vault.address, "data": vault.encode_abi(fn)}
            out.append(int(self._rpc("eth_call", call, hex(block - 1), {}, overrides), 16))
        return out[0], out[1], False

    # -- desk -------------------------------------------------------------------------------
    def _write(
        self, i: int, v: str, snap: VaultSnapshot, *, force_call: bool = False
    ) -> Write | None:
        cfg = self.cfg
        open_series = [s for s in snap.series if not s.settled]
        if len(open_series) >= cfg.max_open_series:
            return None
        spot8 = snap.oracle.answer * PRICE8 // 10**snap.oracle.decimals
        put = not force_call and self.rng.random() < cfg.put_share
        option_type = PUT if put else CALL
        moneyness = self.rng.uniform(0.85, 0.97) if put else self.rng.uniform(0.97, 1.10)
        strike8 = to_price8(round(spot8 / PRICE8 * moneyness / 25) * 25)
        cap8 = to_price8(round(spot8 / PRICE8 * self.rng.uniform(0.08, 0.2) / 25) * 25)
        now = self.now()
        tenor = int(cfg.tenors_s[int(self.rng.integers(len(cfg.tenors_s)))])
        expiry = (now + tenor) // HOUR * HOUR + HOUR
        keys = {(s.option_type, s.strike, s.cap, s.expiry) for s in open_series}
        if (option_type, strike8, cap8, expiry) in keys:
            return None
        value, delta = option_value_usd(
            spot8, strike8, cap8, expiry - now, snap.volatility, option_type
        )
        lock = lock_per_contract(option_type, strike8, cap8)
        hedge = int(max(delta, 0.0) * spot8 * USDC // PRICE8)
        vault = self.vaults[v]
        free = int(vault.functions.freeQuote().call())
        max_size = cfg.max_contracts
        if put:
            max_size = min(max_size, put_room(snap.inventory, open_series))
        size = size_within_collateral(free, lock, hedge, cfg.write_budget_bps, max_size)
        if size == 0:
            return None
        premium = premium_quote(value, size, cfg.premium_markup_bps)
        lo, hi = premium_bounds(self.w3, vault, option_type, strike8, cap8, expiry, size)
        premium = min(max(premium, lo), hi)  # the vault's own model value bounds it
        call = signed_write(
            self.w3, vault, self.acct.buyer, option_type, strike8, cap8, expiry, size, premium
        )
        receipt = self._send(self.acct.desk, call, f"writeOption on {v}")
        events = vault.events.OptionWritten().process_receipt(receipt, errors=DISCARD)
        series_id = int(events[0]["args"]["id"]) if events else 0
        return Write(
            i,
            v,
            series_id,
            option_type,
            strike8,
            cap8,
            expiry,
            size,
            premium,
            int(receipt["blockNumber"]),
        )
