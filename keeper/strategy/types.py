"""The strategy's inputs and outputs: frozen dataclasses, no I/O.

:class:`VaultView`, :class:`MarketView` and :class:`CostInputs` are what the live keeper builds
from one lens snapshot; :class:`RebalancePlan` is what it acts on. :class:`HedgeState` is the same
information as numpy arrays (one row per vault, or per Monte Carlo path), which is what every
policy's decision code consumes, so the live keeper and the backtester run the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: On-chain fixed point: deltas and sizes are 1e18 underlying units.
WAD = 10**18


@dataclass(frozen=True)
class VaultView:
    """One vault as the keeper sees it (built by ``keeper/chain`` from the lens)."""

    vault: str
    net_delta: int
    target_delta: int
    band: int
    max_trade: int
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


@dataclass(frozen=True)
class MarketView:
    """The market around the vaults."""

    now: int
    forecast_vol: float
    reference_vol: float


@dataclass(frozen=True)
class CostInputs:
    """What one batched rebalance costs (money in wei, or USD where noted)."""

    gas_fixed: int
    gas_per_vault: int
    gas_price_wei: int
    l1_fee_fixed_wei: int
    l1_fee_per_vault_wei: int
    eth_usd: float
    pool_fee_bps: float
    impact_coef: float


@dataclass(frozen=True)
class VaultDecision:
    """The decision for one vault, with the numbers that explain it."""

    vault: str
    act: bool
    reason: str
    deviation: int
    band: int
    trade: int
    benefit_usd: float
    cost_usd: float


@dataclass(frozen=True)
class RebalancePlan:
    """One cycle's plan: a decision per input vault (same order) and the batch to send."""

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

    def trade(self) -> FloatArray:
        """The trade the contract would make: ``clamp(target − net, ±max_trade)``."""
        out: FloatArray = np.clip(-self.deviation, -self.max_trade, self.max_trade)
        return out


@dataclass(frozen=True)
class Evaluation:
    """A policy's vectorized decision (arrays of the state's length)."""

    act: BoolArray
    trade: FloatArray
    benefit_usd: FloatArray
    cost_usd: FloatArray
    code: IntArray
    threshold: FloatArray
