"""Error-versus-cost frontiers: sweep each policy family on the same paths, compare at equal error.

Each family's main parameter is swept over a range that spans the same band widths, from
0.2% to 30% of the position (so the families' frontiers overlap); each policy class places its
own grid (:meth:`~keeper.strategy.policies.Policy.sweep`):

* ``time``: ``every`` from 1 step to half the grid (geometric, distinct integers);
* ``band`` and ``volband``: ``width`` from 0.002 to 0.3;
* ``ww``: the risk aversion that puts the Whalley–Wilmott band at ``w·N`` at ``t0``
  (``γ = 3/2·λ·S·Γ₀²/(wN)³``);
* ``costaware``: the risk aversion whose auto-horizon threshold is ``w·N`` at ``t0``
  (``γ = (F + λ·wN·S)·Γ₀²/(wN)⁴``, the cost of that trade over its ``Δ⁴/Γ²`` benefit).

Those sweeps trade wherever the policy's own rule says. On-chain the vault's own band bounds
the keeper (it acts only when ``|Δ| > band``, and returns no farther than the band): with
``--vault-bands m1,m2,…`` (:func:`vault_bound_sweep`) each ``costaware`` point also runs on
vaults whose band is ``m·w·N``, as the family ``costaware@vault``, and the comparison is read
for it too.

:func:`compare_at_equal_error` reads the frontiers at equal hedging-error std: each family's
efficient points (no other point of the family has both lower error and lower cost) are
interpolated log-log, never extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from keeper.backtest.engine import Hedger, PolicyResult, VaultBound
from keeper.strategy.costs import single_fixed_usd
from keeper.strategy.policies import POLICIES, Policy
from keeper.strategy.types import CostInputs, SweepGrid

#: Band widths (fraction of the position) the sweeps span.
WIDTHS = tuple(float(w) for w in np.geomspace(0.002, 0.3, 13))


@dataclass(frozen=True)
class FrontierPoint:
    """One swept policy's point: error std versus mean trading cost."""

    family: str
    param: float
    policy: str
    error_std: float
    trading_cost_mean: float
    rebalances_mean: float

    def to_json(self) -> dict[str, float | str]:
        """The issue's frontier fields (plus the policy spec)."""
        return {
            "param": self.param,
            "policy": self.policy,
            "error_std": self.error_std,
            "trading_cost_mean": self.trading_cost_mean,
            "rebalances_mean": self.rebalances_mean,
        }


def sweep_policies(
    steps: int,
    contracts: float,
    spot: float,
    gamma0: float,
    costs: CostInputs | None,
    families: Sequence[str] | None = None,
) -> list[Policy]:
    """The policies a frontier runs (see the module docstring for the ranges).

    Args:
        steps: Grid steps.
        contracts: Position size N.
        spot: Spot at t0.
        gamma0: |position gamma| at t0 (whole underlying per USD).
        costs: The run's costs (``None``: no costs; the γ grids then use 5 bps).
        families: Which families to sweep (default: every registered family, in order).

    Raises:
        ValueError: A family is not registered.
    """
    grid = SweepGrid(steps, contracts, spot, gamma0, WIDTHS)
    if costs is not None:
        grid = replace(
            grid,
            fee_rate=costs.pool_fee_bps / 1e4,
            impact_coef=costs.impact_coef,
            fixed_usd=single_fixed_usd(costs),
        )
    out: list[Policy] = []
    for fam in POLICIES if families is None else families:
        if fam not in POLICIES:
            raise ValueError(f"unknown policy family {fam!r}")
        out += POLICIES[fam].sweep(grid)
    return out


def vault_bound_sweep(
    steps: int,
    contracts: float,
    spot: float,
    gamma0: float,
    costs: CostInputs | None,
    multiples: Sequence[float],
    family: str = "costaware",
    *,
    max_trade: float = math.inf,
    max_interval_s: float = math.inf,
    min_interval_s: float = 0.0,
) -> list[VaultBound]:
    """``family``'s swept policies, each on vaults whose band is a multiple of its threshold.

    The ``i``-th swept policy of ``family`` is placed so that its threshold at ``t0`` is the
    half-width ``WIDTHS[i]·N`` (module docstring); it runs once per multiple ``m``, bound by a
    vault band of ``m·WIDTHS[i]·N`` (:class:`~keeper.backtest.engine.VaultBound`). The family
    ``<family>@vault`` is then read off like any other: its efficient points are the best band
    for each error level. Every vault has the same ``maxTrade``, ``maxInterval`` and
    ``minInterval``.

    Raises:
        ValueError: ``family`` is not registered, or a multiple is not positive.
    """
    if any(not (math.isfinite(m) and m > 0.0) for m in multiples):
        raise ValueError(f"vault band multiples must be positive numbers, got {list(multiples)}")
    swept = sweep_policies(steps, contracts, spot, gamma0, costs, (family,))
    if len(swept) != len(WIDTHS):
        raise ValueError(f"family {family!r} does not sweep one policy per band width")
    return [
        VaultBound(pol, m * w * contracts, max_trade, max_interval_s, min_interval_s)
        for pol, w in zip(swept, WIDTHS, strict=True)
        for m in multiples
    ]


def build_frontier(
    policies: Sequence[Hedger], results: Sequence[PolicyResult]
) -> dict[str, list[FrontierPoint]]:
    """Group results by family, each family's points sorted by mean trading cost."""
    front: dict[str, list[FrontierPoint]] = {}
    for pol, res in zip(policies, results, strict=True):
        front.setdefault(pol.family, []).append(
            FrontierPoint(
                pol.family,
                pol.param,
                pol.spec,
                res.error_std,
                res.trading_cost_mean,
                res.rebalances_mean,
            )
        )
    for pts in front.values():
        pts.sort(key=lambda p: (p.trading_cost_mean, p.error_std))
    return front


def efficient(points: Sequence[FrontierPoint]) -> list[FrontierPoint]:
    """The Pareto-efficient points, sorted by error std (cost then falls)."""
    pts = sorted(points, key=lambda p: (p.error_std, p.trading_cost_mean))
    out: list[FrontierPoint] = []
    for p in pts:
        if p.trading_cost_mean > 0.0 and (
            not out or p.trading_cost_mean < out[-1].trading_cost_mean
        ):
            out.append(p)
    return out


def cost_at_error(points: Sequence[FrontierPoint], error_std: float) -> float | None:
    """A family's cost at ``error_std`` (log-log interpolation on its efficient points)."""
    eff = efficient(points)
    if len(eff) < 2 or not eff[0].error_std <= error_std <= eff[-1].error_std:
        return None
    xs = np.log([p.error_std for p in eff])
    ys = np.log([p.trading_cost_mean for p in eff])
    return float(np.exp(np.interp(math.log(error_std), xs, ys)))


def compare_at_equal_error(
    front: dict[str, list[FrontierPoint]],
    target: str = "costaware",
    against: Sequence[str] = ("time", "band"),
    offset: float = 0.0,
    target_offset: float | None = None,
    family_offsets: Mapping[str, float] | None = None,
) -> dict[str, object]:
    """Cost of ``target`` versus each family in ``against`` at the same error std.

    ``offset`` is subtracted from every cost first (e.g. the opening hedge, which every unbound
    policy pays alike), to compare the rebalancing costs alone; ``target_offset`` (default
    ``offset``) from the target's instead, when its opening differs (a vault whose ``maxTrade``
    caps the opening hedge), and ``family_offsets`` from those families' (on the same vaults).

    Returns:
        ``{"points": [{error_std, cost, <family>_cost, <family>_reduction, ...}], "summary":
        {<family>: {"median_reduction", "min_reduction", "max_reduction", "n"}}}``; a reduction
        is ``1 − cost_target / cost_family`` (0.2 means 20% cheaper).
    """
    own = offset if target_offset is None else target_offset
    by_family = {**(family_offsets or {}), target: own}
    if offset or any(by_family.values()):
        front = {
            fam: [
                replace(p, trading_cost_mean=p.trading_cost_mean - by_family.get(fam, offset))
                for p in pts
            ]
            for fam, pts in front.items()
        }
    rows: list[dict[str, float | None]] = []
    for p in efficient(front.get(target, [])):
        row: dict[str, float | None] = {"error_std": p.error_std, "cost": p.trading_cost_mean}
        for fam in against:
            c = cost_at_error(front.get(fam, []), p.error_std)
            row[f"{fam}_cost"] = c
            row[f"{fam}_reduction"] = None if c is None else 1.0 - p.trading_cost_mean / c
        rows.append(row)
    summary: dict[str, dict[str, float]] = {}
    for fam in against:
        red = [r[f"{fam}_reduction"] for r in rows if r[f"{fam}_reduction"] is not None]
        vals = [float(v) for v in red if v is not None]
        if vals:
            summary[fam] = {
                "median_reduction": float(np.median(vals)),
                "min_reduction": min(vals),
                "max_reduction": max(vals),
                "n": float(len(vals)),
            }
    return {
        "target": target,
        "against": list(against),
        "offset": offset,
        "target_offset": own,
        "points": rows,
        "summary": summary,
    }
