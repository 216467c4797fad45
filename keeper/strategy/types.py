"""The strategy's inputs and outputs: frozen dataclasses, no I/O.

:class:`VaultView`, :class:`MarketView` and :class:`CostInputs` are what the live keeper builds
from one lens snapshot; :class:`RebalancePlan` is what it acts on. :class:`HedgeState` is the same
information as numpy arrays (one row per vault, or per Monte Carlo path), which is what every
policy's decision code consumes, so the live keeper and the backtester run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from keeper.strategy.rebalance_rule import executed_trade
from keeper.units import Wad

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


def pool_is_empty(depth_usd: float, fee_bps: float) -> bool:
    """Whether a venue's pool, as the lens read it, has nothing in range at its price.

    A depth under 1 USD beside a fee tier: the venue answered ``depth()`` (a fee tier is never
    0 on Uniswap V3), and its pool holds no liquidity where its price is.
    """
    return fee_bps > 0.0 and depth_usd < 1.0


@dataclass(frozen=True)
class VaultView:
    """One vault as the keeper sees it (built from a lens snapshot).

    Deltas, band and max trade are the contract's own 1e18 fixed-point ints (whole underlying
    units); the planner converts them to floats once (:func:`keeper.strategy.state_from_views`).
    ``free_quote``, ``inventory`` and ``oracle_price`` are the contract's ints too (quote units,
    underlying units, the oracle answer at 1e8): what ``RebalanceRules.plan`` caps a trade with
    (:func:`keeper.strategy.rebalance_rule.funded_trade`). Their defaults mean "no cap" (the
    backtester and hand-built views; the live keeper's :meth:`keeper.pricing.book.VaultBook.views`
    always sets them).
    """

    vault: str
    net_delta: Wad
    target_delta: Wad
    band: Wad
    max_trade: Wad
    last_rebalance: int
    min_interval: int
    max_interval: int
    spot: float
    gamma: float
    vol: float
    contracts: float
    trigger_ready: bool
    #: Years to the nearest open expiry (caps the risk horizon); ``inf`` when unknown.
    time_to_expiry: float = math.inf
    #: Quote a buy may spend, ``freeQuote()`` (quote units); ``None``: no cap.
    free_quote: int | None = None
    #: Underlying a sell may spend, the hedge inventory (1e18 units); ``None``: no cap.
    inventory: int | None = None
    #: The oracle answer the contract trades at (1e8; 0: unknown). Needed only with ``free_quote``.
    oracle_price: int = 0
    #: The batcher's pool the vault trades in: vaults with the same key cross their trades and
    #: swap their net together (``RebalanceBatcher._join``: same venue, same tokens, same oracle
    #: price); each pool swaps on its own. Default: every view in one pool.
    pool: int = 0
    #: The venue the vault's pool swaps on. Pools on one venue (one Uniswap pool, vaults with
    #: different oracle answers) swap in a row on it, so the cost model adds their nets before
    #: squaring the impact (:func:`keeper.strategy.costs.batch_cost_usd`). ``None``: the pool's
    #: own venue, shared with no other pool.
    venue: int | None = None
    #: The vault's ``maxSlippageBps``: a buy books at least ``1 − bps/1e4`` of its planned
    #: underlying, or reverts (:func:`keeper.strategy.rebalance_rule.compensated_post`). 0: none.
    max_slippage_bps: int = 0
    #: Its venue's pool depth in USD (the quote's virtual reserve at the pool's price, read by
    #: the lens from ``IUniswapV3Venue.depth``): a trade of ``x`` USD gets ``x / depth`` less
    #: than the pool's price. 0: unknown (the cost model's configured impact then), unless
    #: ``pool_fee_bps`` is set: the venue answered, and its pool has nothing in range.
    pool_depth_usd: float = 0.0
    #: Its venue's pool fee tier, bps (0: unknown).
    pool_fee_bps: float = 0.0

    @property
    def pool_empty(self) -> bool:
        """Whether its pool has nothing in range: a depth under 1 USD beside a fee tier.

        The venue then takes all of a swap's input or reverts, so the vault cannot trade.
        """
        return pool_is_empty(self.pool_depth_usd, self.pool_fee_bps)


@dataclass(frozen=True)
class MarketView:
    """The market around the vaults."""

    now: int
    forecast_vol: float
    reference_vol: float
    #: Each vault's forecast vol, by address (its feed's: ``keeper.app.market.market_view``); a
    #: vault not in it is priced at ``forecast_vol`` (the backtester's one market).
    vault_vols: Mapping[str, float] = field(default_factory=dict)


class PoolTerms(NamedTuple):
    """What one pool charges a trade: its fee tier and its price impact."""

    #: The pool's fee, bps of the traded notional.
    fee_bps: float
    #: Its price impact per USD traded, ``1 / depth`` (``impact_coef_from_depth``).
    impact_coef: float


@dataclass(frozen=True)
class CostInputs:
    """What one batched rebalance costs (money in wei, or USD where noted).

    ``pool_fee_bps`` and ``impact_coef`` price every trade, unless its pool (its vault's
    :attr:`VaultView.pool`) has its own figures in ``pool_terms`` (the live keeper: each pool as
    the lens read it, :func:`keeper.app.market.pool_terms_by_pool`). The backtester's one
    market leaves ``pool_terms`` empty.
    """

    gas_fixed: int
    gas_per_vault: int
    gas_price_wei: int
    l1_fee_fixed_wei: int
    l1_fee_per_vault_wei: int
    eth_usd: float
    pool_fee_bps: float
    impact_coef: float
    #: Gas of the batch's one pool swap (charged once, when the batch's net trade is not zero).
    #: 0 keeps a swap's gas inside ``gas_per_vault`` (the per-vault-swap execution of today).
    gas_swap: int = 0
    #: Gas of one vault's rebalance sent to the vault itself (its own swap included), the path a
    #: lone vault takes when the signer holds its keeper role. 0: a lone vault is a batch of one
    #: (``gas_fixed + gas_per_vault + gas_swap``).
    gas_direct: int = 0
    #: The L1 data fee of that transaction, wei (used only with ``gas_direct``).
    l1_fee_direct_wei: int = 0
    #: Gas of a batch of one vault sent through the batcher (its path for one vault: the vault
    #: swaps its own trade, called by the batcher), used when ``gas_direct`` is 0; its L1 fee is
    #: a batch's, ``l1_fee_fixed_wei + l1_fee_per_vault_wei``. 0: priced as a batch,
    #: ``gas_fixed + gas_per_vault + gas_swap`` (the backtester).
    gas_batch_one: int = 0
    #: Gas a buy costs more when its vault holds no underlying (:attr:`VaultView.inventory` 0,
    #: the recorded inventory: ``keeper.strategy.planner._first_buys`` says why not the balance):
    #: the vault's balance of it is written from zero (an SSTORE of 20,000 gas, not 2,900).
    #: Paid once per vault, again only after a sale that emptied it; 0: never charged.
    gas_first_buy: int = 0
    #: Each pool's own fee tier and impact, by pool key (:attr:`VaultView.pool`); a pool not in
    #: it is priced at ``pool_fee_bps`` and ``impact_coef``.
    pool_terms: Mapping[int, PoolTerms] = field(default_factory=dict)

    def at_pool(self, pool: int) -> CostInputs:
        """These costs with ``pool``'s own fee tier and impact (itself when it has none)."""
        terms = self.pool_terms.get(pool)
        if terms is None or terms == (self.pool_fee_bps, self.impact_coef):
            return self
        return replace(self, pool_fee_bps=terms.fee_bps, impact_coef=terms.impact_coef)


@dataclass(frozen=True)
class VaultDecision:
    """The decision for one vault, with the numbers that explain it.

    ``deviation`` (net − target), ``band``, ``post_deviation`` and ``trade`` are exact wads.
    ``post_deviation`` is the keeper's requested post-trade deviation (0: to target; its float
    magnitude truncated toward the target), and ``trade`` what the contract will trade for it,
    :func:`keeper.strategy.rebalance_rule.executed_trade` capped by the vault's free quote or
    inventory (:func:`~keeper.strategy.rebalance_rule.funded_trade`; 0 when not acting).
    """

    vault: str
    act: bool
    reason: str
    deviation: Wad
    band: Wad
    trade: Wad
    benefit_usd: float
    cost_usd: float
    post_deviation: Wad = 0  # type: ignore[assignment]  # Wad(0); a NewType call is not a default
    #: The trade's signed notional at the oracle price, USD (0 when not acting): what the cost
    #: model prices (:func:`keeper.strategy.costs.batch_cost_usd`).
    notional_usd: float = 0.0
    #: The batcher pool the vault trades in (:attr:`VaultView.pool`).
    pool: int = 0
    #: The venue that pool swaps on (:attr:`VaultView.venue`).
    venue: int | None = None
    #: The trade is a buy by a vault that holds no underlying: it pays
    #: ``CostInputs.gas_first_buy`` besides its own gas (in ``cost_usd`` and the batch's cost).
    first_buy: bool = False

    @property
    def on_time_trigger(self) -> bool:
        """Whether the vault acts on its time trigger.

        The band trigger is strict (``|dev| > band``, ``RebalanceRules.plan``), and a vault acts
        only when its contract would accept the trade: acting inside its band, it is past
        ``maxInterval`` since its last rebalance.
        """
        return self.act and abs(self.deviation) <= self.band


@dataclass(frozen=True)
class RebalancePlan:
    """One cycle's plan: a decision per input vault (same order) and the batch to send.

    ``fixed_cost_usd`` + ``marginal_cost_usd`` is the batch's cost as it executes
    (:func:`keeper.strategy.costs.batch_cost_usd`, one swap per pool): the marginal part holds
    the members' own gas and calldata (a first purchase's surcharge included), each pool's swap
    gas, and each pool's own fee and impact on its net notional. For one vault sent to itself
    (``CostInputs.gas_direct``) the sum is that transaction's cost, and the marginal part is
    what it costs beyond a batch's fixed part.
    """

    decisions: tuple[VaultDecision, ...]
    batch: tuple[str, ...]
    fixed_cost_usd: float
    marginal_cost_usd: float
    benefit_usd: float


@dataclass(frozen=True)
class HedgeState:
    """Vectorized hedge state: one row per vault (live) or per path (backtest).

    Attributes:
        deviation: Net delta minus target, whole underlying (signed).
        spot: Oracle price, USD.
        gamma: Position gamma, whole underlying per USD (the sign is ignored).
        vol: Annualized vol used for the risk of a deviation (the forecast).
        contracts: Open option size, whole underlying (for relative band widths).
        tau: Years to expiry (``inf`` when unknown).
        elapsed_s: Seconds since the last rebalance.
        max_interval_s: The vault's time trigger, seconds (``inf`` in the backtest).
        max_trade: Largest trade per rebalance, whole underlying (``inf``: no cap).
        band: The vault's band, whole underlying: a partial trade ends within it (``None``:
            no bound, the backtest).
        ready: The contract would accept ``rebalance()`` now.
        reference_vol: The reference vol of ``volband``.
        rate: Continuously compounded rate (0 on-chain).
        elapsed_steps: Grid steps since the last rebalance (backtest only, else ``None``).
    """

    deviation: FloatArray
    spot: FloatArray
    gamma: FloatArray
    vol: FloatArray
    contracts: FloatArray
    tau: FloatArray
    elapsed_s: FloatArray
    max_interval_s: FloatArray
    max_trade: FloatArray
    ready: BoolArray
    reference_vol: FloatArray
    rate: float = 0.0
    elapsed_steps: IntArray | None = None
    band: FloatArray | None = None

    def trade(self, post: FloatArray | None = None) -> FloatArray:
        """The trade the contract would make for a requested post-trade deviation.

        ``post=None`` is "to target": ``clamp(target − net, ±max_trade)``. Otherwise
        :func:`keeper.strategy.rebalance_rule.executed_trade` bounds ``post``.
        """
        if post is None:
            out: FloatArray = np.clip(-self.deviation, -self.max_trade, self.max_trade)
            return out
        band = self.band if self.band is not None else np.full_like(self.deviation, np.inf)
        return executed_trade(self.deviation, post, band, self.max_trade)


@dataclass(frozen=True)
class Evaluation:
    """A policy's vectorized decision (arrays of the state's length)."""

    act: BoolArray
    trade: FloatArray
    benefit_usd: FloatArray
    cost_usd: FloatArray
    code: IntArray
    threshold: FloatArray


@dataclass(frozen=True)
class SweepGrid:
    """Where a frontier puts each family's parameters: the same band widths for every family.

    Each family's :meth:`~keeper.strategy.policies.Policy.sweep` inverts its own threshold
    formula at ``t0`` to land on these widths (so the families' frontiers overlap).

    Attributes:
        steps: Grid steps of the run.
        contracts: Position size N, whole underlying.
        spot: Spot at t0, USD.
        gamma0: |position gamma| at t0, whole underlying per USD.
        widths: Band widths as fractions of the position.
        fee_rate: Pool fee, a fraction of the traded notional.
        impact_coef: Slippage per USD traded.
        fixed_usd: Fixed cost of a one-vault transaction, USD.
        fallback_rate: The cost rate used where there are no costs.
    """

    steps: int
    contracts: float
    spot: float
    gamma0: float
    widths: tuple[float, ...]
    fee_rate: float = 0.0
    impact_coef: float = 0.0
    fixed_usd: float = 0.0
    fallback_rate: float = 5e-4

    @property
    def gamma_sq(self) -> float:
        """``Γ₀²`` (kept above 0, so the grids stay finite)."""
        return max(self.gamma0**2, 1e-300)

    def half_widths(self) -> list[float]:
        """The band half-widths ``w·N``, whole underlying."""
        return [w * self.contracts for w in self.widths]

    def cost_rate(self, half_width: float) -> float:
        """The proportional cost rate ``λ`` of a trade of ``half_width`` (or the fallback)."""
        return self.fee_rate + self.impact_coef * half_width * self.spot or self.fallback_rate
