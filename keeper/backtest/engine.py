"""Vectorized delta-hedging backtest: every policy over the same paths in one pass.

For each grid step ``i`` the Black–Scholes delta and gamma are computed once for all paths;
then each policy evaluates its own :class:`~keeper.strategy.types.HedgeState` (arrays over
paths) with the same :meth:`~keeper.strategy.policies.Policy.evaluate` the live keeper uses, and
the rows that act trade what the contract executes for the policy's requested post-trade
deviation (:func:`keeper.strategy.rebalance_rule.executed_trade`: to target for ``time`` and
``band``, to the cost-optimal return point for ``ww`` and ``costaware``; no ``maxTrade`` bound,
inventory cap or vault band unless the policy runs as a :class:`VaultBound`). Each
rebalance is one vault alone: it pays the fixed cost, the one swap and the vault's own gas. A
trade the contract refuses as too small (:func:`~keeper.strategy.rebalance_rule.executable`: a
buy under one quote unit, a sell under one wei; a worthless book's zero trade) is no rebalance
and costs nothing. The hedge is held constant between rebalances. Every policy opens its hedge
at ``t0``, to target.

Accounting, for option position ``q`` contracts (``q = −N`` short, ``+N`` long), hedge ``H_i``
held over ``[t_i, t_{i+1}]`` and payoff ``X`` per contract:

* undiscounted: ``cost = −q·X − Σ H_i·(S_{i+1} − S_i) + Σ trading costs``;
* discounted at ``r``: ``cost = −q·X·e^{−rT} − Σ H_i·(S_{i+1}e^{−rt_{i+1}} − S_i e^{−rt_i})
  + Σ trading costs_i·e^{−rt_i}`` (the hedge is financed at ``r``).

The hedging error is the cost without trading costs minus its mean. The hedge inventory at
expiry is marked at ``S_T`` (a vault keeps it), so no closing trade is charged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from keeper.backtest.price_paths import PathSet
from keeper.pricing.black_scholes import YEAR_SECONDS, capped_greeks, payoff, vanilla_delta
from keeper.pricing.normal import FloatArray
from keeper.strategy.costs import NO_COSTS, lone_share_usd, marginal_cost_usd
from keeper.strategy.policies import Policy
from keeper.strategy.rebalance_rule import executable
from keeper.strategy.types import CostInputs, HedgeState

#: Called as ``progress(done, total)`` after each grid step.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class OptionSpec:
    """The hedged position: ``contracts`` European options, short or long."""

    strike: float
    maturity: float
    call: bool = True
    short: bool = True
    contracts: float = 1.0
    cap: float = math.inf

    @property
    def quantity(self) -> float:
        """Signed option position (negative when written)."""
        return -self.contracts if self.short else self.contracts


@dataclass(frozen=True)
class BacktestConfig:
    """Pricing and accounting of a run."""

    vol: float
    rate: float = 0.0
    discounted: bool = False
    costs: CostInputs | None = None
    forecast: str = "model"  # "model": the pricing vol; "ewma": EWMA of each path's returns
    ewma_lambda: float = 0.94


# RebalanceRules' hard bounds on a vault's thresholds (its setters refuse anything outside them),
# in whole underlying and seconds: MIN_BAND .. MAX_BAND, MIN_MAX_TRADE .. MAX_MAX_TRADE (1e12 ..
# 1e24 wei), MIN_MAX_INTERVAL .. MAX_MAX_INTERVAL, MIN_MIN_INTERVAL .. MAX_MIN_INTERVAL.
# ``keeper backtest`` holds its vault flags to them; :class:`VaultBound` itself does not.
MIN_VAULT_BAND = 1e-6
MAX_VAULT_BAND = 1e6
MIN_VAULT_MAX_TRADE = 1e-6
MAX_VAULT_MAX_TRADE = 1e6
MIN_VAULT_MAX_INTERVAL_S = 60.0
MAX_VAULT_MAX_INTERVAL_S = 30 * 86_400.0
MIN_VAULT_MIN_INTERVAL_S = 1.0
MAX_VAULT_MIN_INTERVAL_S = 86_400.0


@dataclass(frozen=True)
class VaultBound:
    """``policy`` run against a vault whose own band bounds it, as the contract bounds a keeper.

    The contract accepts a rebalance only when ``|deviation| > band`` (strict), or when its time
    trigger fires (``deviation != 0`` and ``maxInterval`` seconds since the last rebalance), and
    never sooner than ``minInterval`` seconds after the last one (``OptionVaultTooSoon``), and
    executes the requested post-trade deviation clamped to the band and the trade to
    ``maxTrade`` (:func:`~keeper.strategy.rebalance_rule.executed_trade`); the opening hedge is
    clamped to ``maxTrade`` too. A sell spends at most the vault's inventory
    (``RebalanceRules.plan``: ``min(want, inventory)``, an unsigned inventory): the vault never
    goes short the underlying, so a position hedged short (a written put, a bought call) is not
    hedged at all, and the policy weighs the trade so capped, as the live planner does
    (:func:`~keeper.strategy.rebalance_rule.funded_trade`). A buy is not capped by the vault's
    free quote: the backtester's vault is funded for any hedge. The time trigger lets the policy
    trade inside the band; it does not make it trade. A bare
    :class:`~keeper.strategy.policies.Policy` runs as if no vault bound it: it trades wherever
    and as far as its own rule says.
    """

    policy: Policy
    #: The vault's band, whole underlying (absolute, as the contract's ``band``), > 0.
    band: float
    #: The vault's ``maxTrade``, whole underlying, > 0 (``inf``: no cap).
    max_trade: float = math.inf
    #: The vault's ``maxInterval``, seconds, > 0 (``inf``: the time trigger never fires).
    max_interval_s: float = math.inf
    #: The vault's ``minInterval``, seconds, in [0, ``max_interval_s``] (0: no floor). The
    #: opening hedge is the vault's first rebalance: no floor applies to it, as on chain.
    min_interval_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.band) and self.band > 0.0):
            raise ValueError(f"a vault band must be a positive number, got {self.band}")
        if not self.max_trade > 0.0:
            raise ValueError(f"a vault max trade must be a positive number, got {self.max_trade}")
        if not self.max_interval_s > 0.0:
            raise ValueError(
                f"a vault max interval must be a positive number of seconds, got "
                f"{self.max_interval_s}"
            )
        if not (math.isfinite(self.min_interval_s) and self.min_interval_s >= 0.0):
            raise ValueError(
                f"a vault min interval must be a number of seconds >= 0, got {self.min_interval_s}"
            )
        if self.min_interval_s > self.max_interval_s:
            raise ValueError(
                f"a vault min interval ({self.min_interval_s:g}s) must not pass its max interval "
                f"({self.max_interval_s:g}s), as the contract requires"
            )

    @property
    def family(self) -> str:
        """The policy's family, marked as bound: ``costaware@vault``."""
        return f"{self.policy.family}@vault"

    @property
    def param(self) -> float:
        """The policy's main parameter."""
        return self.policy.param

    @property
    def spec(self) -> str:
        """The policy's spec and the vault's bounds.

        ``costaware:risk_aversion=1e-4@vault_band=0.8``, then ``,max_trade=…`` and
        ``,max_interval=…s`` when they are finite, and ``,min_interval=…s`` when it is not 0.
        """
        out = f"{self.policy.spec}@vault_band={self.band:.6g}"
        if math.isfinite(self.max_trade):
            out += f",max_trade={self.max_trade:.6g}"
        if math.isfinite(self.max_interval_s):
            out += f",max_interval={self.max_interval_s:.6g}s"
        if self.min_interval_s > 0.0:
            out += f",min_interval={self.min_interval_s:.6g}s"
        return out

    @property
    def needs_gamma(self) -> bool:
        """Whether the policy reads gamma."""
        return self.policy.needs_gamma


#: What :func:`run_backtest` runs: a policy alone, or bound by its vault's band.
Hedger = Policy | VaultBound


@dataclass(frozen=True)
class PolicyResult:
    """One policy's statistics over the paths (money in USD for the whole position)."""

    policy: str
    hedge_cost_mean: float
    hedge_cost_std: float
    #: ``hedge_cost_std`` over the position's price; ``None`` for a position worth nothing.
    ratio_std_to_price: float | None
    error_std: float
    trading_cost_mean: float
    rebalances_mean: float
    hedge_cost: FloatArray = field(repr=False, compare=False)
    trading_cost: FloatArray = field(repr=False, compare=False)
    #: Mean cost of opening the hedge at t0 (the same for every policy on the same paths).
    opening_cost_mean: float = 0.0

    def to_json(self) -> dict[str, float | str | None]:
        """The issue's JSON fields."""
        return {
            "policy": self.policy,
            "hedge_cost_mean": self.hedge_cost_mean,
            "hedge_cost_std": self.hedge_cost_std,
            "ratio_std_to_price": self.ratio_std_to_price,
            "error_std": self.error_std,
            "trading_cost_mean": self.trading_cost_mean,
            "rebalances_mean": self.rebalances_mean,
        }


def bs_price(option: OptionSpec, spot: float, vol: float, rate: float) -> float:
    """Black–Scholes value per contract at ``t0``."""
    g = capped_greeks(
        spot, option.strike, option.cap, option.maturity, vol, call=option.call, rate=rate
    )
    return float(g.value)


def run_backtest(
    paths: PathSet,
    option: OptionSpec,
    config: BacktestConfig,
    policies: Sequence[Hedger],
    progress: Progress | None = None,
) -> list[PolicyResult]:
    """Hedge ``option`` along ``paths`` under each policy; one result per policy, in order.

    A :class:`VaultBound` policy trades only when its vault would accept it, and no farther than
    its vault's band and ``maxTrade`` allow.
    """
    costs = config.costs
    spots = paths.spots
    n_paths, n_steps = paths.n_paths, paths.n_steps
    times = paths.times
    dt = float(times[1] - times[0])
    r = config.rate
    q = option.quantity
    need_gamma = any(p.needs_gamma for p in policies)
    fixed = lone_share_usd(costs) if costs is not None else 0.0  # one vault: its own tx
    n_pol = len(policies)
    hedge = np.zeros((n_pol, n_paths))
    last = np.zeros((n_pol, n_paths), dtype=np.int64)
    # Whether the vault has rebalanced yet (its opening hedge may be refused as too small): on
    # chain `lastRebalance == 0` makes the time trigger due at once and skips `minInterval`.
    started = np.zeros((n_pol, n_paths), dtype=bool)
    count = np.zeros((n_pol, n_paths))
    tcost = np.zeros((n_pol, n_paths))
    gains = np.zeros((n_pol, n_paths))
    opening = np.zeros(n_pol)
    var = np.full(n_paths, config.vol**2)
    ones = np.ones(n_paths)
    inf = np.full(n_paths, math.inf)
    ready = np.ones(n_paths, dtype=bool)
    bands = [np.full(n_paths, p.band) if isinstance(p, VaultBound) else None for p in policies]
    caps = [np.full(n_paths, p.max_trade) if isinstance(p, VaultBound) else inf for p in policies]
    periods = [
        np.full(n_paths, p.max_interval_s) if isinstance(p, VaultBound) else inf for p in policies
    ]
    floors = [p.min_interval_s if isinstance(p, VaultBound) else 0.0 for p in policies]
    rules = [p.policy if isinstance(p, VaultBound) else p for p in policies]
    contracts = np.full(n_paths, option.contracts)
    ref_vol = np.full(n_paths, config.vol)
    for i in range(n_steps):
        s_now = spots[:, i]
        tau = option.maturity - float(times[i])
        if need_gamma or math.isfinite(option.cap):
            g = capped_greeks(
                s_now, option.strike, option.cap, tau, config.vol, call=option.call, rate=r
            )
            delta, gamma = g.delta, g.gamma
        else:
            delta = vanilla_delta(s_now, option.strike, tau, config.vol, call=option.call, rate=r)
            gamma = np.zeros(n_paths)
        target = -q * delta
        if i > 0:
            ret = np.log(s_now / spots[:, i - 1])
            var = config.ewma_lambda * var + (1.0 - config.ewma_lambda) * ret * ret / dt
        vol_fc = np.sqrt(var) if config.forecast == "ewma" else ref_vol
        disc_now = math.exp(-r * float(times[i])) if config.discounted else 1.0
        if config.discounted:
            ds = spots[:, i + 1] * math.exp(-r * float(times[i + 1])) - s_now * disc_now
        else:
            ds = spots[:, i + 1] - s_now
        for p, policy in enumerate(rules):
            if i == 0:
                trade = np.clip(target - hedge[p], -caps[p], caps[p])
                if bands[p] is not None:  # a vault sells at most its inventory
                    trade = np.maximum(trade, -hedge[p])
                act = ready & executable(trade, s_now)
                cost = (
                    marginal_cost_usd(costs, trade * s_now) + fixed if costs is not None else None
                )
            else:
                steps_since = i - last[p]
                deviation = hedge[p] - target
                band = bands[p]
                # To the microsecond: n grid steps in seconds can round just below the interval
                # they make up (24 hourly steps of a 3-day grid: 86399.99999999999), and both the
                # vault's time trigger and a time:interval policy compare them with it.
                elapsed_s = np.round(steps_since * (dt * YEAR_SECONDS), 6)
                if band is None:
                    allowed = ready
                else:  # the contract's trigger: the band (strict), or its time trigger
                    # A vault that never rebalanced (`lastRebalance == 0`) is due at once.
                    fresh = ~started[p]
                    timed = (deviation != 0.0) & ((elapsed_s >= periods[p]) | fresh)
                    allowed = (np.abs(deviation) > band) | timed
                    if floors[p] > 0.0:  # and never sooner than minInterval after the last
                        allowed &= (elapsed_s >= floors[p]) | fresh
                state = HedgeState(
                    deviation=deviation,
                    spot=s_now,
                    gamma=np.abs(q * gamma),
                    vol=vol_fc,
                    contracts=contracts,
                    tau=ones * tau,
                    elapsed_s=elapsed_s,
                    max_interval_s=periods[p],
                    max_trade=caps[p],
                    ready=allowed,
                    reference_vol=ref_vol,
                    rate=r,
                    elapsed_steps=steps_since,
                    band=band,
                )
                priced = costs if costs is not None else NO_COSTS
                if band is None:
                    ev = policy.evaluate(state, priced, fixed)
                else:  # the vault sells at most its inventory, as the live planner caps it
                    own = state.trade(policy.post_deviation(state, priced, fixed))
                    ev = policy.evaluate(state, priced, fixed, np.maximum(own, -hedge[p]))
                act = ev.act & executable(ev.trade, s_now)
                trade = ev.trade
                cost = ev.cost_usd if costs is not None else None
            if cost is not None:
                tcost[p] += np.where(act, cost, 0.0) * disc_now
                if i == 0:
                    opening[p] = float(np.mean(np.where(act, cost, 0.0)))
            hedge[p] = np.where(act, hedge[p] + trade, hedge[p])
            last[p] = np.where(act, i, last[p])
            started[p] |= act
            count[p] += act
            gains[p] += hedge[p] * ds
        if progress is not None:
            progress(i + 1, n_steps)
    x = payoff(spots[:, -1], option.strike, call=option.call, cap=option.cap)
    disc_t = math.exp(-r * option.maturity) if config.discounted else 1.0
    premium = bs_price(option, float(spots[0, 0]), config.vol, r) * option.contracts
    out = []
    for p, hedger in enumerate(policies):
        base = -q * x * disc_t - gains[p]
        total = base + tcost[p]
        std = float(np.std(total, ddof=1)) if n_paths > 1 else 0.0
        out.append(
            PolicyResult(
                policy=hedger.spec,
                hedge_cost_mean=float(np.mean(total)),
                hedge_cost_std=std,
                ratio_std_to_price=std / premium if premium > 0.0 else None,
                error_std=float(np.std(base, ddof=1)) if n_paths > 1 else 0.0,
                trading_cost_mean=float(np.mean(tcost[p])),
                rebalances_mean=float(np.mean(count[p])),
                hedge_cost=total,
                trading_cost=tcost[p].copy(),
                opening_cost_mean=float(opening[p]),
            )
        )
    return out
