"""The error-versus-cost PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from keeper.backtest.engine import PolicyResult
from keeper.backtest.frontier import FrontierPoint


def plot_frontier(
    path: Path,
    front: dict[str, list[FrontierPoint]] | None,
    results: Sequence[PolicyResult],
    title: str,
) -> None:
    """Draw each family's frontier (lines) and the single policies (labelled points)."""
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for fam, pts in (front or {}).items():
        ax.plot(
            [p.error_std for p in pts],
            [max(p.trading_cost_mean, 1e-12) for p in pts],
            marker="o",
            markersize=3,
            label=fam,
        )
    for r in results:
        ax.scatter([r.error_std], [max(r.trading_cost_mean, 1e-12)], marker="x", color="black")
        ax.annotate(r.policy, (r.error_std, max(r.trading_cost_mean, 1e-12)), fontsize=7)
    ax.set_xlabel("hedging error std (USD)")
    ax.set_ylabel("mean trading cost (USD)")
    if any(r.trading_cost_mean > 0 for r in results) or front:
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if front:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
