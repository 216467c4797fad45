"""One backtest run from parsed inputs to the JSON document (used by ``keeper backtest``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keeper.backtest.engine import (
    MIN_VAULT_BAND,
    BacktestConfig,
    Hedger,
    OptionSpec,
    PolicyResult,
    Progress,
    VaultBound,
    bs_price,
    run_backtest,
)
from keeper.backtest.frontier import (
    FrontierPoint,
    build_frontier,
    compare_at_equal_error,
    sweep_policies,
    vault_bound_sweep,
)
from keeper.backtest.memory import check_memory
from keeper.backtest.price_paths import (
    PathSet,
    gbm_paths,
    historical_paths,
    load_rounds_csv,
    merton_paths,
)
from keeper.errors import ConfigError
from keeper.pricing.black_scholes import YEAR_SECONDS, capped_greeks
from keeper.strategy.policies import POLICIES, Policy
from keeper.strategy.types import CostInputs

logger = logging.getLogger(__name__)

#: Fewer paths than this from a historical CSV get a caution: a mean or std over a handful of
#: windows is rough (a mean's standard error, std / sqrt(n), is then above 18% of the std).
FEW_PATHS = 30

#: The families the cost-aware policy is compared with on a frontier (those that were swept):
#: the usual bots, ``time`` and ``band`` (to target), and ``bandedge``, a band that returns to
#: the cost-optimal point as ``costaware`` does.
AGAINST = ("time", "band", "bandedge")
#: The anchors run on the same vaults as ``costaware@vault`` when those vaults cap trades
#: (``--vault-max-trade``, ``--vault-min-interval``): the contract caps every keeper's
#: rebalance, not the cost-aware one's alone (measured before: the cap split only the
#: cost-aware policy's opening hedge, ~2 points of its saving). ``time`` and ``band`` trade to
#: target, so their vault's band all but never binds: the smallest the contract accepts,
#: ``MIN_BAND`` (until 2026-12-07 a 1e-12 fraction of the position, a band no vault can have).
#: ``bandedge`` returns to its own band's edge, so its vault's band is its own threshold.
VAULT_ANCHORS = ("time", "band", "bandedge")
ANCHOR_BAND = MIN_VAULT_BAND


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs (the CLI's flags)."""

    spot: float
    strike: float
    rate: float
    vol: float | None
    drift: float
    maturity: float
    call: bool
    short: bool
    contracts: float
    steps: int
    paths: int
    seed: int
    policies: tuple[Policy, ...]
    discounted: bool
    costs: CostInputs | None
    cap: float = math.inf
    model: str = "gbm"
    csv: Path | None = None
    jump_intensity: float = 0.0
    jump_mean: float = 0.0
    jump_std: float = 0.0
    forecast: str = "model"
    ewma_lambda: float = 0.94
    frontier: bool = False
    families: tuple[str, ...] = field(default_factory=lambda: tuple(POLICIES))
    #: Refuse a run whose estimated memory exceeds this many bytes (``None``: no check).
    max_memory: int | None = None
    #: Where ``max_memory`` came from, for the refusal message.
    max_memory_source: str = "--max-memory"
    #: Bound every listed policy by a vault band of this many underlying (``None``: unbound).
    vault_band: float | None = None
    #: With ``frontier``: also sweep ``costaware`` on vaults of these multiples of its threshold.
    vault_band_multiples: tuple[float, ...] = ()
    #: Those vaults' ``maxTrade``, whole underlying (``inf``: no cap).
    vault_max_trade: float = math.inf
    #: Those vaults' ``maxInterval``, seconds (``inf``: no time trigger).
    vault_max_interval_s: float = math.inf
    #: Those vaults' ``minInterval``, seconds (0: no floor between rebalances).
    vault_min_interval_s: float = 0.0


@dataclass(frozen=True)
class RunOutput:
    """The results of a run, ready for JSON and plotting."""

    bs_price: float
    vol: float
    results: list[PolicyResult]
    frontier: dict[str, list[FrontierPoint]] | None
    comparison: dict[str, Any] | None
    paths: PathSet = field(repr=False)

    def to_json(self, scenario: Scenario) -> dict[str, Any]:
        """The JSON document: ``bs_price``, ``results`` and, with ``--frontier``, the frontier."""
        doc: dict[str, Any] = {
            "bs_price": self.bs_price,
            "results": [r.to_json() for r in self.results],
        }
        if self.frontier is not None:
            doc["frontier"] = {
                fam: [p.to_json() for p in pts] for fam, pts in self.frontier.items()
            }
            doc["comparison"] = self.comparison
        historical = scenario.model == "historical"  # its paths: the CSV's, not a draw
        doc["inputs"] = {
            "model": scenario.model,
            "spot": scenario.spot,
            "strike": scenario.strike,
            "cap": None if math.isinf(scenario.cap) else scenario.cap,
            "rate": scenario.rate,
            "vol": self.vol,
            "drift": None if historical else scenario.drift,
            "maturity": scenario.maturity,
            "option": "call" if scenario.call else "put",
            "side": "short" if scenario.short else "long",
            "contracts": scenario.contracts,
            "steps": scenario.steps,
            "paths": self.paths.n_paths,
            "seed": None if historical else scenario.seed,
            "accounting": "discounted" if scenario.discounted else "undiscounted",
            "costs": None if scenario.costs is None else vars(scenario.costs),
            "forecast": scenario.forecast,
            "vault_band": scenario.vault_band,
            "vault_band_multiples": list(scenario.vault_band_multiples),
            "vault_max_trade": _finite(scenario.vault_max_trade),
            "vault_max_interval_s": _finite(scenario.vault_max_interval_s),
            "vault_min_interval_s": scenario.vault_min_interval_s,
        }
        return doc


def _finite(value: float) -> float | None:
    """A bound for JSON: ``None`` when it is ``inf`` (no bound)."""
    return value if math.isfinite(value) else None


def make_paths(sc: Scenario, n_policies: int = 1) -> PathSet:
    """Build the scenario's paths, once :func:`check_memory` accepts the run's size.

    Args:
        sc: The scenario.
        n_policies: Policies the engine will run over the paths (for the memory estimate).

    Raises:
        ConfigError: Bad inputs, or the run would need more than ``sc.max_memory``.
    """
    if sc.model == "historical":
        if sc.csv is None:
            raise ConfigError("--model historical needs --csv FILE (columns timestamp,price)")
        t, p = load_rounds_csv(sc.csv)
        windows = int((t[-1] - t[0]) // (sc.maturity * YEAR_SECONDS))
        _check_memory(sc, max(1, windows), n_policies)
        if 0 < windows < FEW_PATHS:
            logger.warning(
                "only %d paths from the CSV (its %s-day windows): means and stds over so few "
                "are rough; a shorter --maturity or a longer CSV gives more",
                windows,
                f"{sc.maturity * 365:.4g}",
            )
        return historical_paths(t, p, sc.spot, sc.maturity, sc.steps)
    if sc.vol is None:
        raise ConfigError("--vol is required for Monte Carlo paths")
    _check_memory(sc, sc.paths, n_policies)
    if sc.model == "merton":
        if sc.jump_intensity == 0.0:
            logger.warning(
                "--model merton with --jump-intensity 0 draws no jumps (GBM paths): give "
                "--jump-intensity N, jumps per year"
            )
        return merton_paths(
            sc.spot,
            sc.drift,
            sc.vol,
            sc.maturity,
            sc.steps,
            sc.paths,
            sc.seed,
            sc.jump_intensity,
            sc.jump_mean,
            sc.jump_std,
        )
    return gbm_paths(sc.spot, sc.drift, sc.vol, sc.maturity, sc.steps, sc.paths, sc.seed)


def _check_memory(sc: Scenario, paths: int, n_policies: int) -> None:
    check_memory(paths, sc.steps, n_policies, sc.model, sc.max_memory, sc.max_memory_source)


def run_scenario(sc: Scenario, progress: Progress | None = None) -> RunOutput:
    """Run the scenario's policies (and the frontier sweeps) on one set of paths."""
    if not (sc.strike > 0.0 and sc.contracts > 0.0 and sc.cap > 0.0):
        raise ConfigError("need strike > 0, contracts > 0 and cap > 0")
    max_trade, max_interval_s = sc.vault_max_trade, sc.vault_max_interval_s
    min_interval_s = sc.vault_min_interval_s
    capped = bool(sc.vault_band_multiples) and (math.isfinite(max_trade) or min_interval_s > 0)
    anchors = tuple(f for f in VAULT_ANCHORS if sc.families is None or f in sc.families)
    n_sweep = 0
    if sc.frontier:  # the grid's size does not depend on gamma0 (known only once vol is)
        n_sweep = len(sweep_policies(sc.steps, sc.contracts, sc.spot, 1.0, sc.costs, sc.families))
        n_sweep += len(
            vault_bound_sweep(
                sc.steps, sc.contracts, sc.spot, 1.0, sc.costs, sc.vault_band_multiples
            )
        )
        if capped:
            n_sweep += len(sweep_policies(sc.steps, sc.contracts, sc.spot, 1.0, sc.costs, anchors))
    caps = {
        "max_trade": max_trade,
        "max_interval_s": max_interval_s,
        "min_interval_s": min_interval_s,
    }
    paths = make_paths(sc, len(sc.policies) + n_sweep)
    if (sc.vault_band is not None or sc.vault_band_multiples) and sc.call != sc.short:
        position = f"a {'short' if sc.short else 'long'} {'call' if sc.call else 'put'}"
        logger.warning(
            "%s is hedged by selling the underlying, and a vault sells no more than it holds: "
            "behind --vault-band or --vault-bands it is never hedged",
            position,
        )
    vol = sc.vol if sc.vol is not None else paths.realized_vol
    if vol is None or not vol >= 0.0:
        raise ConfigError("no pricing vol: give --vol")
    option = OptionSpec(sc.strike, sc.maturity, sc.call, sc.short, sc.contracts, sc.cap)
    config = BacktestConfig(vol, sc.rate, sc.discounted, sc.costs, sc.forecast, sc.ewma_lambda)
    policies: list[Hedger] = [
        p
        if sc.vault_band is None
        else VaultBound(p, sc.vault_band, max_trade, max_interval_s, min_interval_s)
        for p in sc.policies
    ]
    sweep: Sequence[Hedger] = ()
    if sc.frontier:
        g0 = capped_greeks(sc.spot, sc.strike, sc.cap, sc.maturity, vol, call=sc.call, rate=sc.rate)
        gamma0 = abs(float(g0.gamma)) * sc.contracts
        sweep = [
            *sweep_policies(sc.steps, sc.contracts, sc.spot, gamma0, sc.costs, sc.families),
            *vault_bound_sweep(
                sc.steps,
                sc.contracts,
                sc.spot,
                gamma0,
                sc.costs,
                sc.vault_band_multiples,
                max_trade=max_trade,
                max_interval_s=max_interval_s,
                min_interval_s=min_interval_s,
            ),
        ]
        for family in anchors if capped else ():  # time@vault, ...: under the same caps
            if family == "bandedge":
                sweep += vault_bound_sweep(
                    sc.steps, sc.contracts, sc.spot, gamma0, sc.costs, (1.0,), family, **caps
                )
                continue
            sweep += [
                VaultBound(p, ANCHOR_BAND, **caps)
                for p in sweep_policies(
                    sc.steps, sc.contracts, sc.spot, gamma0, sc.costs, (family,)
                )
            ]
    results = run_backtest(paths, option, config, [*policies, *sweep], progress)
    front = comparison = None
    if sc.frontier:
        swept = results[len(policies) :]
        front = build_frontier(sweep, swept)
        # The opening hedge every unbound policy pays alike; a vault's maxTrade caps the bound
        # policies' own (the same for all of them: one cap, one t0).
        openings = [r.opening_cost_mean for r in swept]
        unbound = [o for h, o in zip(sweep, openings, strict=True) if not isinstance(h, VaultBound)]
        opening = unbound[-1] if unbound else openings[-1]
        comparison = {
            "total": compare_at_equal_error(front, against=AGAINST),
            "excluding_opening_hedge": compare_at_equal_error(
                front, against=AGAINST, offset=opening
            ),
            "opening_hedge_cost_mean": opening,
        }
        if sc.vault_band_multiples:
            # Capped vaults: against the anchors on the same vaults (their opening capped alike).
            against = tuple(f"{f}@vault" for f in anchors) if capped else AGAINST
            bound_opening = openings[-1]
            comparison["vault_bound"] = {
                "total": compare_at_equal_error(front, "costaware@vault", against),
                "excluding_opening_hedge": compare_at_equal_error(
                    front,
                    "costaware@vault",
                    against,
                    offset=opening,
                    target_offset=bound_opening,
                    family_offsets={f: bound_opening for f in against if f.endswith("@vault")},
                ),
            }
    return RunOutput(
        bs_price=bs_price(option, sc.spot, vol, sc.rate),
        vol=vol,
        results=results[: len(policies)],
        frontier=front,
        comparison=comparison,
        paths=paths,
    )
