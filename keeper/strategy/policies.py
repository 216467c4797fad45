r"""Hedging policies: when to rebalance. One vectorized decision serves the keeper and backtester.

Every policy maps a :class:`~keeper.strategy.types.HedgeState` (arrays: one row per vault live,
one per path in the backtest) to an :class:`~keeper.strategy.types.Evaluation`. The trade is
never the policy's choice: the contract trades ``clamp(target − net, ±max_trade)``; a policy
only decides *when*. A row acts only if its deviation is non-zero and ``ready`` (the contract's
own trigger) is true.

Policies (spec strings for :func:`parse_policy`):

* ``time:every=K`` — rebalance every K grid steps (backtest). Live, ``time:interval=SECONDS``
  acts once ``now − last_rebalance ≥ SECONDS``; with only ``every`` given, the live interval is
  the vault's own ``max_interval`` (so the keeper acts when the contract's time trigger fires).
* ``band:width=W`` — act when ``|deviation| > W · contracts``.
* ``volband:width=W[,ref=V]`` — act when ``|deviation| > W · contracts · σ_forecast / σ_ref``
  (``ref`` defaults to the market's reference vol).
* ``ww:risk_aversion=G`` — Whalley–Wilmott: act when ``|deviation| > H`` with
  ``H = (3/2 · e^{−r·τ} · λ · S · Γ² / G)^{1/3}``, ``Γ`` the position gamma (whole underlying per
  USD), ``λ`` the proportional cost rate (pool fee + slippage at this trade, see
  :func:`~keeper.strategy.costs.proportional_rate`).
* ``costaware:risk_aversion=G[,horizon=SECONDS|auto][,cap=SECONDS]`` — act when the expected
  reduction in hedging risk over the horizon, priced at ``G`` per USD² of P&L variance, exceeds the
  full cost of the rebalance:

  .. math::

      B = G · (Δ² − (Δ + q)²) · S² · σ² · h \;>\; C = F/n + c_v + f·|q|S + k·(qS)²

  with ``Δ`` the deviation (whole underlying), ``q = clamp(−Δ, ±max_trade)`` the trade, ``σ``
  the forecast vol, ``F`` the per-transaction fixed cost (L2 gas of the batch + its L1 data fee)
  shared by ``n`` vaults, ``c_v`` a vault's own gas and calldata, ``f`` the pool fee and ``k``
  the impact coefficient. Derivation: an unhedged deviation ``Δ`` leaves P&L ``Δ·dS``, whose
  variance over ``h`` years is ``Δ²S²σ²h``; rebalancing removes ``Δ² − (Δ+q)²`` of it, and ``G``
  is the price of a USD² of variance. With ``horizon=auto`` (the default)
  ``h = min(Δ²/(Γ·S·σ)², τ, cap)``: the time it takes gamma to rebuild a deviation of the same
  size (after which the keeper faces the same choice again). With proportional costs only this
  gives ``|Δ|³ > f·S·Γ²/G``, the Whalley–Wilmott band (up to its 3/2); with the fixed cost it
  gives the ``F^{1/4}`` band of fixed-cost hedging.

Only ``costaware`` is *cost-gated*: in a batch (:func:`keeper.strategy.plan`) its vaults join
only when ``B > c_v + f·|q|S + k·(qS)²`` and the batch's total net benefit exceeds ``F``. The
other policies are rules the operator chose; their cost is still computed and reported, and their
benefit is reported at their own risk aversion (``ww``) or as 0.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import ClassVar

import numpy as np

from keeper.errors import ConfigError
from keeper.pricing.black_scholes import YEAR_SECONDS
from keeper.strategy.costs import marginal_cost_usd, proportional_rate
from keeper.strategy.types import (
    BoolArray,
    CostInputs,
    Evaluation,
    FloatArray,
    HedgeState,
    IntArray,
)

# Reason codes of an Evaluation (see REASONS).
HOLD_ZERO = 0
NOT_READY = 1
TIME_DUE = 2
TIME_NOT_DUE = 3
OUTSIDE_BAND = 4
INSIDE_BAND = 5
BENEFIT_ABOVE_COST = 6
BENEFIT_BELOW_COST = 7

#: Human text for each reason code.
REASONS: dict[int, str] = {
    HOLD_ZERO: "no deviation",
    NOT_READY: "contract trigger not ready",
    TIME_DUE: "time interval reached",
    TIME_NOT_DUE: "time interval not reached",
    OUTSIDE_BAND: "deviation outside band",
    INSIDE_BAND: "deviation inside band",
    BENEFIT_ABOVE_COST: "risk reduction exceeds cost",
    BENEFIT_BELOW_COST: "risk reduction below cost",
}


class PolicySpecError(ConfigError, ValueError):
    """A policy spec string is malformed (one clear line)."""


def risk_benefit_usd(
    s: HedgeState,
    trade: FloatArray,
    risk_aversion: float,
    horizon_s: float | None,
    cap_s: float,
) -> FloatArray:
    """Priced reduction of P&L variance over the horizon: ``G·(Δ² − (Δ+q)²)·S²σ²·h`` (USD).

    ``horizon_s=None`` means ``auto``: ``h = min(Δ²/(Γ·S·σ)², τ, cap)`` in years.
    """
    dev = s.deviation
    resid = dev + trade
    reduction = dev * dev - resid * resid
    var_rate = (s.spot * s.vol) ** 2
    cap_y = cap_s / YEAR_SECONDS
    if horizon_s is None:
        g = np.abs(s.gamma) * s.spot * s.vol
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            regrow = np.where(g > 0.0, dev * dev / (g * g), np.inf)
        h = np.minimum(np.minimum(regrow, s.tau), cap_y)
    else:
        h = np.minimum(horizon_s / YEAR_SECONDS, s.tau)
    out: FloatArray = risk_aversion * reduction * var_rate * h
    return out


@dataclass(frozen=True)
class Policy(ABC):
    """A hedging policy: a vectorized rule on a :class:`HedgeState`."""

    family: ClassVar[str]
    cost_gated: ClassVar[bool] = False

    #: Name of the main parameter field (what a frontier sweeps).
    main: ClassVar[str]

    @property
    def param(self) -> float:
        """The family's main parameter (what a frontier sweeps)."""
        value = getattr(self, self.main)
        return math.inf if value is None else float(value)

    @property
    def spec(self) -> str:
        """The canonical spec string (round-trips through :func:`parse_policy`)."""
        parts = [
            f"{f.name}={_fmt(getattr(self, f.name))}"
            for f in fields(self)
            if getattr(self, f.name) is not None
        ]
        return f"{self.family}:" + ",".join(parts)

    def with_param(self, value: float) -> Policy:
        """The same policy with its main parameter set to ``value``."""
        return replace(self, **{self.main: value})

    @abstractmethod
    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> tuple[BoolArray, FloatArray, int, int]:
        """Return (want, threshold, code_if_want, code_if_not)."""

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return np.zeros_like(s.deviation)

    def evaluate(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> Evaluation:
        """Decide for every row of ``s``.

        Args:
            s: The hedge state.
            costs: Cost inputs.
            fixed_share_usd: The part of the per-transaction fixed cost each acting row bears
                (the backtester sends one vault per transaction: the full fixed cost; the live
                planner passes 0 and shares the fixed cost across the batch afterwards).
        """
        trade = s.trade()
        cost = marginal_cost_usd(costs, trade * s.spot) + fixed_share_usd
        benefit = self._benefit(s, trade)
        want, threshold, code_yes, code_no = self._rule(s, costs, benefit, cost)
        nonzero = s.deviation != 0.0
        act = want & nonzero & s.ready
        code: IntArray = np.where(want, code_yes, code_no).astype(np.int64)
        code = np.where(nonzero, np.where(s.ready | ~want, code, NOT_READY), HOLD_ZERO)
        return Evaluation(
            act=act,
            trade=np.where(act, trade, 0.0),
            benefit_usd=benefit,
            cost_usd=cost,
            code=code.astype(np.int64),
            threshold=threshold,
        )


@dataclass(frozen=True)
class TimePolicy(Policy):
    """Rebalance every ``every`` grid steps (backtest) or every ``interval`` seconds (live)."""

    every: int | None = None
    interval: float | None = None
    family: ClassVar[str] = "time"
    main: ClassVar[str] = "every"

    def with_param(self, value: float) -> TimePolicy:
        """The same policy rebalancing every ``round(value)`` steps (at least 1)."""
        return replace(self, every=max(1, round(value)))

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> tuple[BoolArray, FloatArray, int, int]:
        if s.elapsed_steps is not None and self.every is not None:
            due: BoolArray = s.elapsed_steps >= self.every
            threshold = np.full_like(s.deviation, float(self.every))
        else:
            period = (
                np.full_like(s.deviation, self.interval)
                if self.interval is not None
                else s.max_interval_s
            )
            due = s.elapsed_s >= period
            threshold = period
        return due, threshold, TIME_DUE, TIME_NOT_DUE


@dataclass(frozen=True)
class BandPolicy(Policy):
    """Act when ``|deviation| > width · contracts``."""

    width: float = 0.05
    family: ClassVar[str] = "band"
    main: ClassVar[str] = "width"

    def _half_width(self, s: HedgeState) -> FloatArray:
        out: FloatArray = self.width * s.contracts
        return out

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> tuple[BoolArray, FloatArray, int, int]:
        h = self._half_width(s)
        return np.abs(s.deviation) > h, h, OUTSIDE_BAND, INSIDE_BAND


@dataclass(frozen=True)
class VolBandPolicy(BandPolicy):
    """Act when ``|deviation| > width · contracts · σ_forecast / σ_ref``."""

    ref: float | None = None
    family: ClassVar[str] = "volband"
    main: ClassVar[str] = "width"

    def _half_width(self, s: HedgeState) -> FloatArray:
        ref = s.reference_vol if self.ref is None else np.full_like(s.vol, self.ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(ref > 0.0, s.vol / ref, 1.0)
        out: FloatArray = self.width * s.contracts * scale
        return out


@dataclass(frozen=True)
class WhalleyWilmottPolicy(Policy):
    """Whalley–Wilmott band ``H = (3/2 · e^{−rτ} · λ·S·Γ²/γ)^{1/3}``."""

    risk_aversion: float = 1.0
    family: ClassVar[str] = "ww"
    main: ClassVar[str] = "risk_aversion"

    def half_width(self, s: HedgeState, costs: CostInputs) -> FloatArray:
        """The band half-width H (whole underlying) at the current deviation's cost rate."""
        lam = proportional_rate(costs, s.deviation * s.spot)
        disc = np.where(
            np.isfinite(s.tau), np.exp(-s.rate * np.where(np.isfinite(s.tau), s.tau, 0.0)), 1.0
        )
        out: FloatArray = np.cbrt(1.5 * disc * lam * s.spot * s.gamma**2 / self.risk_aversion)
        return out

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return risk_benefit_usd(s, trade, self.risk_aversion, None, 7 * 86400.0)

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> tuple[BoolArray, FloatArray, int, int]:
        h = self.half_width(s, costs)
        return np.abs(s.deviation) > h, h, OUTSIDE_BAND, INSIDE_BAND


@dataclass(frozen=True)
class CostAwarePolicy(Policy):
    """Act when the priced risk reduction over the horizon exceeds the full cost."""

    risk_aversion: float = 1e-4
    horizon: float | None = None
    cap: float = 7 * 86400.0
    family: ClassVar[str] = "costaware"
    main: ClassVar[str] = "risk_aversion"
    cost_gated: ClassVar[bool] = True

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return risk_benefit_usd(s, trade, self.risk_aversion, self.horizon, self.cap)

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> tuple[BoolArray, FloatArray, int, int]:
        return benefit > cost, cost, BENEFIT_ABOVE_COST, BENEFIT_BELOW_COST


def _fmt(x: float) -> str:
    return f"{x:.6g}"


_FAMILIES: dict[str, tuple[type[Policy], dict[str, str]]] = {
    "time": (TimePolicy, {"every": "int", "interval": "pos"}),
    "band": (BandPolicy, {"width": "pos"}),
    "volband": (VolBandPolicy, {"width": "pos", "ref": "pos"}),
    "ww": (WhalleyWilmottPolicy, {"risk_aversion": "pos"}),
    "costaware": (CostAwarePolicy, {"risk_aversion": "pos", "horizon": "horizon", "cap": "pos"}),
}
_REQUIRED = {
    "time": (),
    "band": ("width",),
    "volband": ("width",),
    "ww": ("risk_aversion",),
    "costaware": ("risk_aversion",),
}


def _value(spec: str, key: str, kind: str, raw: str) -> float | int | None:
    if kind == "horizon" and raw == "auto":
        return None
    try:
        num = float(raw)
    except ValueError:
        raise PolicySpecError(f"policy {spec!r}: {key}={raw!r} is not a number") from None
    if not math.isfinite(num) or num <= 0.0:
        raise PolicySpecError(f"policy {spec!r}: {key} must be a positive finite number")
    if kind == "int":
        if num != int(num):
            raise PolicySpecError(f"policy {spec!r}: {key} must be a whole number of steps")
        return int(num)
    return num


def parse_policy(spec: str) -> Policy:
    """Parse ``family:key=value,...`` into a policy.

    Raises:
        PolicySpecError: unknown family or key, a missing or non-positive value.
    """
    family, _, rest = spec.strip().partition(":")
    if family not in _FAMILIES:
        known = ", ".join(_FAMILIES)
        raise PolicySpecError(f"policy {spec!r}: unknown family {family!r} (known: {known})")
    cls, keys = _FAMILIES[family]
    kwargs: dict[str, float | int | None] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in keys:
            allowed = ", ".join(keys)
            raise PolicySpecError(f"policy {spec!r}: bad parameter {item!r} (allowed: {allowed})")
        if key in kwargs:
            raise PolicySpecError(f"policy {spec!r}: {key} given twice")
        kwargs[key] = _value(spec, key, keys[key], raw.strip())
    missing = [k for k in _REQUIRED[family] if k not in kwargs]
    if missing:
        raise PolicySpecError(f"policy {spec!r}: missing {', '.join(missing)}")
    if family == "time" and "every" not in kwargs and "interval" not in kwargs:
        raise PolicySpecError(f"policy {spec!r}: give every=STEPS and/or interval=SECONDS")
    return cls(**kwargs)
