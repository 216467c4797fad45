r"""Hedging policies: when to rebalance and how far, for the keeper and the backtester alike.

Every policy maps a :class:`~keeper.strategy.types.HedgeState` (arrays: one row per vault live,
one per path in the backtest) to an :class:`~keeper.strategy.types.Evaluation`. A policy decides
*when* (its rule) and *how far*: a requested post-trade deviation, which the contract bounds
(:func:`~keeper.strategy.rebalance_rule.executed_trade`: never across the target, ending within
the band unless capped at ``max_trade``). ``time``, ``band`` and ``volband`` trade to the target;
``bandedge``, ``ww`` and ``costaware`` trade to the cost-optimal return point ``x·H`` inside their
no-trade half-width ``H`` (:func:`~keeper.strategy.rebalance_rule.return_fraction`: the edge under
proportional costs, an inner point as the fixed cost grows). A row acts only if its deviation
and its trade are non-zero and ``ready`` (the contract's own trigger) is true.

Policies (spec strings for :func:`parse_policy`):

* ``time:every=K`` — rebalance every K grid steps (backtest). Live, ``time:interval=SECONDS``
  acts once ``now − last_rebalance ≥ SECONDS``; with only ``every`` given, the live interval is
  the vault's own ``max_interval`` (so the keeper acts when the contract's time trigger fires).
* ``band:width=W`` — act when ``|deviation| > W · contracts``.
* ``volband:width=W[,ref=V]`` — act when ``|deviation| > W · contracts · σ_forecast / σ_ref``
  (``ref`` defaults to the market's reference vol).
* ``bandedge:width=W`` — ``band``'s trigger, but back only to the cost-optimal point ``x·W·N``
  inside the band, as ``costaware`` returns (``band`` returns to the target).
* ``ww:risk_aversion=G`` — Whalley–Wilmott: act when ``|deviation| > H`` with
  ``H = (3/2 · e^{−r·τ} · λ · S · Γ² / G)^{1/3}``, ``Γ`` the position gamma (whole underlying per
  USD), ``λ`` the proportional cost rate (pool fee + slippage at this trade, see
  :func:`~keeper.strategy.costs.proportional_rate`).
* ``costaware:risk_aversion=G[,horizon=SECONDS|auto][,cap=SECONDS]`` — act when the expected
  reduction in hedging risk over the horizon, priced at ``G`` per USD² of P&L variance, exceeds the
  full cost of the rebalance:

  .. math::

      B = G · (Δ² − (Δ + q)²) · S² · σ² · h \;>\; C = F/n + c_v + f·|q|S + k·(qS)²

  with ``Δ`` the deviation (whole underlying), ``q`` the trade to the return point, ``σ``
  the forecast vol, ``F`` the per-transaction fixed cost (L2 gas of the batch + its L1 data fee)
  shared by ``n`` vaults, ``c_v`` a vault's own gas and calldata, ``f`` the pool fee and ``k``
  the impact coefficient (of the vault's own pool, live: the planner evaluates each pool's
  vaults at its figures). Derivation: an unhedged deviation ``Δ`` leaves P&L ``Δ·dS``, whose
  variance over ``h`` years is ``Δ²S²σ²h``; rebalancing removes ``Δ² − (Δ+q)²`` of it, and ``G``
  is the price of a USD² of variance. With ``horizon=auto`` (the default)
  ``h = min(Δ²/(Γ·S·σ)², τ, cap)``: the time it takes gamma to rebuild a deviation of the same
  size (after which the keeper faces the same choice again); ``cap`` defaults to
  :data:`DEFAULT_HORIZON_CAP_S`, 604800 s (7 days). With proportional costs only this
  gives ``|Δ|³ > f·S·Γ²/G``, the Whalley–Wilmott band (up to its 3/2); with the fixed cost it
  gives the ``F^{1/4}`` band of fixed-cost hedging.

Only ``costaware`` is *cost-gated*: in a batch (:func:`keeper.strategy.plan`) its vaults join
only when ``B > c_v + f·|q|S + k·(qS)²`` and the batch's total net benefit exceeds ``F``. The
other policies are rules the operator chose; their cost is still computed and reported, and their
benefit is reported at their own risk aversion (``ww``) or as 0.

Adding a policy is one class: a frozen dataclass subclassing :class:`Policy` with its family
name (``class MyPolicy(Policy, family="mine")``), whose fields are its spec parameters typed
:data:`Positive`, :data:`Steps` or :data:`Horizon` (a field without a default is required, the
first field is the one a frontier sweeps), with a ``_rule`` returning a :class:`Rule` and a
``sweep`` placing its frontier grid. :func:`parse_policy`, ``keeper backtest --policy`` and
``--frontier`` then know it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from enum import Enum, IntEnum
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, NamedTuple, get_args, get_type_hints

import numpy as np

from keeper.errors import ConfigError
from keeper.strategy.costs import marginal_cost_usd, per_vault_fixed_usd, proportional_rate
from keeper.strategy.rebalance_rule import return_fraction
from keeper.strategy.types import (
    BoolArray,
    CostInputs,
    Evaluation,
    FloatArray,
    HedgeState,
    IntArray,
    SweepGrid,
)
from keeper.units import YEAR_SECONDS

#: The longest risk horizon of the auto horizon (``costaware``'s default ``cap``, and the cap of
#: the benefit ``ww`` reports): one week, in seconds.
DEFAULT_HORIZON_CAP_S = 7 * 86400.0


class Reason(IntEnum):
    """Why a row acts or holds: an :class:`~keeper.strategy.types.Evaluation`'s ``code``."""

    HOLD_ZERO = 0
    NOT_READY = 1
    TIME_DUE = 2
    TIME_NOT_DUE = 3
    OUTSIDE_BAND = 4
    INSIDE_BAND = 5
    BENEFIT_ABOVE_COST = 6
    BENEFIT_BELOW_COST = 7
    #: Its pool's swap would keep more of the net than its legs' slippage bound lets it: the
    #: batcher could not fill them (the planner's, :func:`keeper.strategy.planner.plan`).
    SWAP_PAST_SLIPPAGE = 8

    @property
    def text(self) -> str:
        """The reason in words, as the decision log and ``keeper check`` show it."""
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.HOLD_ZERO: "no deviation",
    Reason.NOT_READY: "contract trigger not ready",
    Reason.TIME_DUE: "time interval reached",
    Reason.TIME_NOT_DUE: "time interval not reached",
    Reason.OUTSIDE_BAND: "deviation outside band",
    Reason.INSIDE_BAND: "deviation inside band",
    Reason.BENEFIT_ABOVE_COST: "risk reduction exceeds cost",
    Reason.BENEFIT_BELOW_COST: "risk reduction below cost",
    Reason.SWAP_PAST_SLIPPAGE: "its pool's swap would fall short of the slippage bound",
}


class PolicySpecError(ConfigError, ValueError):
    """A policy spec string is malformed (one clear line)."""


class ParamKind(Enum):
    """How a policy parameter's value is written in a spec string."""

    #: A positive finite number.
    POSITIVE = "positive"
    #: A positive whole number of grid steps.
    STEPS = "steps"
    #: A positive number of seconds, or ``auto`` (the field's ``None``).
    HORIZON = "horizon"

    def parse(self, spec: str, key: str, raw: str) -> float | int | None:
        """The value of ``key=raw`` in ``spec``.

        Raises:
            PolicySpecError: The value is not of this kind.
        """
        if self is ParamKind.HORIZON and raw == "auto":
            return None
        try:
            num = float(raw)
        except ValueError:
            raise PolicySpecError(f"policy {spec!r}: {key}={raw!r} is not a number") from None
        if not math.isfinite(num) or num <= 0.0:
            raise PolicySpecError(f"policy {spec!r}: {key} must be a positive finite number")
        if self is ParamKind.STEPS:
            if num != int(num):
                raise PolicySpecError(f"policy {spec!r}: {key} must be a whole number of steps")
            return int(num)
        return num


# The types of policy parameters: a dataclass field's type says how its spec value parses.
Positive = Annotated[float, ParamKind.POSITIVE]
Steps = Annotated[int, ParamKind.STEPS]
Horizon = Annotated[float, ParamKind.HORIZON]


class Rule(NamedTuple):
    """A policy's rule on every row: whether it wants to act, and the numbers that explain it."""

    want: BoolArray
    #: What the rule compared against (a band half-width, a period, a cost), per row.
    threshold: FloatArray
    #: The reason of a row that wants to act.
    code_if_want: Reason
    #: The reason of a row that does not.
    code_if_not: Reason


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
        # On g², not g: a positive g whose square underflows (a deep out-of-the-money book's
        # gamma of 1e-200) made a vault at its target 0/0, a NaN benefit.
        g2 = g * g
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            regrow = np.where(g2 > 0.0, dev * dev / g2, np.inf)
        h = np.minimum(np.minimum(regrow, s.tau), cap_y)
    else:
        h = np.minimum(horizon_s / YEAR_SECONDS, s.tau)
    out: FloatArray = risk_aversion * reduction * var_rate * h
    return out


def return_point(
    s: HedgeState, costs: CostInputs, half_width: FloatArray, fixed_usd: float
) -> FloatArray:
    """The cost-optimal post-trade deviation ``sign(Δ)·x·H`` for a no-trade half-width ``H``.

    ``x = return_fraction(φ)`` with ``φ = F/(λ·S·H)``: ``F`` the fixed cost of this rebalance
    (``fixed_usd`` plus the vault's own gas and calldata), ``λ`` the proportional cost rate of a
    full-band trade. Rows with ``H`` not finite and positive go to the target.
    """
    h = np.asarray(half_width, dtype=np.float64)
    ok = np.isfinite(h) & (h > 0.0)
    h_safe = np.where(ok, h, 1.0)
    lam = proportional_rate(costs, h_safe * s.spot)
    fixed = fixed_usd + per_vault_fixed_usd(costs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi = np.where(lam > 0.0, fixed / (lam * s.spot * h_safe), np.inf)
    x = return_fraction(phi)
    out: FloatArray = np.where(ok, np.sign(s.deviation) * x * h_safe, 0.0)
    return out


_REGISTRY: dict[str, type[Policy]] = {}
#: Every policy family by name, in the order they were defined (what ``parse_policy`` knows).
POLICIES: Mapping[str, type[Policy]] = MappingProxyType(_REGISTRY)


@dataclass(frozen=True)
class Policy(ABC):
    """A hedging policy: a vectorized rule on a :class:`HedgeState`.

    A policy is one frozen dataclass that subclasses this one with its family name,
    ``class BandPolicy(Policy, family="band")``, which registers it for :func:`parse_policy`.
    Its fields are its spec parameters, typed :data:`Positive`, :data:`Steps` or
    :data:`Horizon` (optionally ``| None``); a field without a default is required; the first
    field is the main parameter (what a frontier sweeps).
    """

    family: ClassVar[str]
    #: Whether a batch admits its vaults only when their benefit beats their cost.
    cost_gated: ClassVar[bool] = False
    #: Whether the rule reads the position's gamma (the backtester skips the Greeks otherwise).
    needs_gamma: ClassVar[bool] = True
    #: What the rule compares, which sets how a decision's reason shows :attr:`Rule.threshold`:
    #: ``"deviation"``, ``|dev|`` beside the threshold; ``"time"``, the seconds elapsed beside
    #: the interval; ``"cost"``, benefit against the marginal cost it already shows (no
    #: threshold: ``costaware``'s is that cost).
    reason_compares: ClassVar[str] = "deviation"

    def __init_subclass__(cls, family: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if family is not None:
            if family in _REGISTRY:
                raise TypeError(f"policy family {family!r} is already {_REGISTRY[family]}")
            cls.family = family
            _REGISTRY[family] = cls

    @classmethod
    def main(cls) -> str:
        """Name of the main parameter field (the first field)."""
        return fields(cls)[0].name

    @property
    def param(self) -> float:
        """The family's main parameter (what a frontier sweeps)."""
        value = getattr(self, self.main())
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
        return replace(self, **{self.main(): value})

    @classmethod
    @abstractmethod
    def sweep(cls, grid: SweepGrid) -> list[Policy]:
        """The policies of this family a frontier runs (see :mod:`keeper.backtest.frontier`)."""

    @abstractmethod
    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> Rule:
        """The rule on every row, given each row's benefit and marginal cost."""

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return np.zeros_like(s.deviation)

    def post_deviation(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> FloatArray | None:
        """The requested post-trade deviation per row (signed like the deviation).

        ``None`` is "to target" (the default; ``ww`` and ``costaware`` override it).
        """
        return None

    def evaluate(
        self,
        s: HedgeState,
        costs: CostInputs,
        fixed_share_usd: float = 0.0,
        trade: FloatArray | None = None,
    ) -> Evaluation:
        """Decide for every row of ``s``.

        Args:
            s: The hedge state.
            costs: Cost inputs.
            fixed_share_usd: The part of the per-transaction fixed cost each acting row bears
                (the backtester sends one vault per transaction: the full fixed cost and the
                swap; the live planner passes 0 and prices the batch afterwards).
            trade: Each row's trade, when the caller knows it better than ``s.trade`` of this
                policy's :meth:`post_deviation` (the live planner passes what the contract
                executes, capped by the vault's free quote and inventory); ``None``: that trade
                (the backtester).
        """
        if trade is None:
            trade = s.trade(self.post_deviation(s, costs, fixed_share_usd))
        cost = marginal_cost_usd(costs, trade * s.spot) + fixed_share_usd
        benefit = self._benefit(s, trade)
        rule = self._rule(s, costs, benefit, cost)
        nonzero = s.deviation != 0.0
        act = rule.want & nonzero & (trade != 0.0) & s.ready
        code: IntArray = np.where(rule.want, rule.code_if_want, rule.code_if_not).astype(np.int64)
        code = np.where(
            nonzero, np.where(s.ready | ~rule.want, code, Reason.NOT_READY), Reason.HOLD_ZERO
        )
        return Evaluation(
            act=act,
            trade=np.where(act, trade, 0.0),
            benefit_usd=benefit,
            cost_usd=cost,
            code=code.astype(np.int64),
            threshold=rule.threshold,
        )


@dataclass(frozen=True)
class TimePolicy(Policy, family="time"):
    """Rebalance every ``every`` grid steps (backtest) or every ``interval`` seconds (live)."""

    every: Steps | None = None
    interval: Positive | None = None
    needs_gamma: ClassVar[bool] = False
    reason_compares: ClassVar[str] = "time"

    def __post_init__(self) -> None:
        if self.every is None and self.interval is None:
            raise PolicySpecError("give every=STEPS and/or interval=SECONDS")

    def with_param(self, value: float) -> TimePolicy:
        """The same policy rebalancing every ``round(value)`` steps (at least 1)."""
        return replace(self, every=max(1, round(value)))

    @classmethod
    def sweep(cls, grid: SweepGrid) -> list[Policy]:
        """``every`` from 1 step to half the grid (geometric, distinct integers)."""
        steps = sorted({max(1, round(x)) for x in np.geomspace(1, max(1, grid.steps // 2), 13)})
        return [cls(every=k) for k in steps]

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> Rule:
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
        return Rule(due, threshold, Reason.TIME_DUE, Reason.TIME_NOT_DUE)


@dataclass(frozen=True)
class BandPolicy(Policy, family="band"):
    """Act when ``|deviation| > width · contracts``."""

    width: Positive
    needs_gamma: ClassVar[bool] = False

    @classmethod
    def sweep(cls, grid: SweepGrid) -> list[Policy]:
        """``width`` over the grid's band widths."""
        return [cls(width=w) for w in grid.widths]

    def _half_width(self, s: HedgeState) -> FloatArray:
        out: FloatArray = self.width * s.contracts
        return out

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> Rule:
        h = self._half_width(s)
        return Rule(np.abs(s.deviation) > h, h, Reason.OUTSIDE_BAND, Reason.INSIDE_BAND)


@dataclass(frozen=True)
class VolBandPolicy(BandPolicy, family="volband"):
    """Act when ``|deviation| > width · contracts · σ_forecast / σ_ref``."""

    ref: Positive | None = None

    def _half_width(self, s: HedgeState) -> FloatArray:
        ref = s.reference_vol if self.ref is None else np.full_like(s.vol, self.ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(ref > 0.0, s.vol / ref, 1.0)
        out: FloatArray = self.width * s.contracts * scale
        return out


@dataclass(frozen=True)
class BandEdgePolicy(BandPolicy, family="bandedge"):
    """``band``'s trigger with ``costaware``'s return: past ``width · contracts``, back to ``x·H``.

    A fixed band that trades back only to the cost-optimal point inside it
    (:func:`return_point` with ``H = width · contracts``), where ``band`` trades back to the
    target. Beside ``band`` and ``costaware`` on a frontier it separates what *when* to trade
    is worth from what *how far* is worth.
    """

    def post_deviation(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> FloatArray:
        """The return point inside the band (:func:`return_point`)."""
        return return_point(s, costs, self._half_width(s), fixed_share_usd)


@dataclass(frozen=True)
class WhalleyWilmottPolicy(Policy, family="ww"):
    """Whalley–Wilmott band ``H = (3/2 · e^{−rτ} · λ·S·Γ²/γ)^{1/3}``."""

    risk_aversion: Positive

    @classmethod
    def sweep(cls, grid: SweepGrid) -> list[Policy]:
        """The risk aversion that puts the band at each width ``h`` at t0: ``3/2·λ·S·Γ₀²/h³``."""
        out: list[Policy] = []
        for h in grid.half_widths():
            lam = grid.cost_rate(h)
            out.append(cls(risk_aversion=1.5 * lam * grid.spot * grid.gamma_sq / h**3))
        return out

    def half_width(self, s: HedgeState, costs: CostInputs) -> FloatArray:
        """The band half-width H (whole underlying) at the current deviation's cost rate."""
        lam = proportional_rate(costs, s.deviation * s.spot)
        disc = np.where(
            np.isfinite(s.tau), np.exp(-s.rate * np.where(np.isfinite(s.tau), s.tau, 0.0)), 1.0
        )
        out: FloatArray = np.cbrt(1.5 * disc * lam * s.spot * s.gamma**2 / self.risk_aversion)
        return out

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return risk_benefit_usd(s, trade, self.risk_aversion, None, DEFAULT_HORIZON_CAP_S)

    def post_deviation(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> FloatArray:
        """The return point inside the Whalley–Wilmott band (:func:`return_point`)."""
        return return_point(s, costs, self.half_width(s, costs), fixed_share_usd)

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> Rule:
        h = self.half_width(s, costs)
        return Rule(np.abs(s.deviation) > h, h, Reason.OUTSIDE_BAND, Reason.INSIDE_BAND)


@dataclass(frozen=True)
class CostAwarePolicy(Policy, family="costaware"):
    """Act when the priced risk reduction over the horizon exceeds the full cost."""

    risk_aversion: Positive
    #: Seconds; ``None`` is ``auto`` (see the module docstring).
    horizon: Horizon | None = None
    cap: Positive = DEFAULT_HORIZON_CAP_S
    cost_gated: ClassVar[bool] = True
    reason_compares: ClassVar[str] = "cost"

    @classmethod
    def sweep(cls, grid: SweepGrid) -> list[Policy]:
        """The risk aversion whose auto-horizon threshold is each width ``h`` at t0.

        ``γ = (F + λ·h·S)·Γ₀²/h⁴``: the cost of that trade over its ``Δ⁴/Γ²`` benefit.
        """
        out: list[Policy] = []
        for h in grid.half_widths():
            lam = grid.cost_rate(h)
            out.append(
                cls(risk_aversion=(grid.fixed_usd + lam * h * grid.spot) * grid.gamma_sq / h**4)
            )
        return out

    def _benefit(self, s: HedgeState, trade: FloatArray) -> FloatArray:
        return risk_benefit_usd(s, trade, self.risk_aversion, self.horizon, self.cap)

    def edge(self, s: HedgeState, costs: CostInputs, fixed_usd: float = 0.0) -> FloatArray:
        """The no-trade half-width ``H``, where a full trade's benefit equals its cost.

        ``(G/Γ²)·H⁴ = F + λ·S·H`` with the auto horizon (``F`` = ``fixed_usd`` + the vault's own
        gas, ``λ`` at the current deviation; the horizon's caps are ignored). ``inf`` where
        ``Γ = 0``.

        Solved by Newton's method from ``max((Γ²λS/G)^{1/3}, (Γ²F/G)^{1/4})``, below the root
        of this convex quartic; eight steps reach float precision.
        """
        g2 = s.gamma**2
        lam = proportional_rate(costs, s.deviation * s.spot)
        fixed = fixed_usd + per_vault_fixed_usd(costs)
        ok = g2 > 0.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = np.where(ok, self.risk_aversion / np.where(ok, g2, 1.0), 1.0)
            b = lam * s.spot
            h = np.maximum(np.cbrt(b / c), np.sqrt(np.sqrt(fixed / c)))
            for _ in range(8):  # products, not float powers: np.power is several times slower
                ch3 = c * h * h * h
                f = ch3 * h - b * h - fixed
                df = 4.0 * ch3 - b
                h = np.where(df > 0.0, h - f / np.where(df > 0.0, df, 1.0), h)
        out: FloatArray = np.where(ok & np.isfinite(h) & (h > 0.0), h, np.inf)
        return out

    def post_deviation(
        self, s: HedgeState, costs: CostInputs, fixed_share_usd: float = 0.0
    ) -> FloatArray:
        """The return point inside the cost-aware edge (:meth:`edge`, :func:`return_point`)."""
        return return_point(s, costs, self.edge(s, costs, fixed_share_usd), fixed_share_usd)

    def _rule(
        self, s: HedgeState, costs: CostInputs, benefit: FloatArray, cost: FloatArray
    ) -> Rule:
        return Rule(benefit > cost, cost, Reason.BENEFIT_ABOVE_COST, Reason.BENEFIT_BELOW_COST)


def _fmt(x: float) -> str:
    """``x`` in 6 significant digits when they are exactly ``x``, else in full (round-trips)."""
    short = f"{x:.6g}"
    if float(short) == x:
        return short
    return str(x) if isinstance(x, int) else repr(float(x))


@cache
def _params(cls: type[Policy]) -> dict[str, tuple[ParamKind, bool]]:
    """A family's spec parameters in field order: each one's kind and whether it is required."""
    hints = get_type_hints(cls, include_extras=True)
    out: dict[str, tuple[ParamKind, bool]] = {}
    for f in fields(cls):
        hint = hints[f.name]
        kinds = [a for arg in (hint, *get_args(hint)) for a in getattr(arg, "__metadata__", ())]
        required = f.default is MISSING and f.default_factory is MISSING
        out[f.name] = (next(k for k in kinds if isinstance(k, ParamKind)), required)
    return out


def parse_policy(spec: str) -> Policy:
    """Parse ``family:key=value,...`` into a policy.

    Raises:
        PolicySpecError: unknown family or key, a missing or non-positive value.
    """
    family, _, rest = spec.strip().partition(":")
    if family not in POLICIES:
        known = ", ".join(POLICIES)
        raise PolicySpecError(f"policy {spec!r}: unknown family {family!r} (known: {known})")
    cls = POLICIES[family]
    params = _params(cls)
    kwargs: dict[str, float | int | None] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in params:
            allowed = ", ".join(params)
            raise PolicySpecError(f"policy {spec!r}: bad parameter {item!r} (allowed: {allowed})")
        if key in kwargs:
            raise PolicySpecError(f"policy {spec!r}: {key} given twice")
        kwargs[key] = params[key][0].parse(spec, key, raw.strip())
    missing = [k for k, (_, required) in params.items() if required and k not in kwargs]
    if missing:
        raise PolicySpecError(f"policy {spec!r}: missing {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except PolicySpecError as exc:
        raise PolicySpecError(f"policy {spec!r}: {exc}") from None
