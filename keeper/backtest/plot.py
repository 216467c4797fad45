"""The error-versus-cost PNG (matplotlib, Agg backend: no display needed).

Each swept family is a line in its own colour, line style and marker, drawn in the order of its
swept parameter; families that can coincide (``volband`` equals ``band`` when the forecast vol is
the pricing vol) are told apart by style, a wide translucent line under a narrow dashed one, and
the legend says when one family's points are another's. The single ``--policy`` runs are large
black markers named in the legend, not text on the plot, so no label covers a point or runs off
the axes. The legend sits outside the axes and the figure is saved with a tight bounding box.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from keeper.backtest.engine import PolicyResult
from keeper.backtest.frontier import FrontierPoint, efficient


class LineStyle(NamedTuple):
    """How one family's frontier is drawn."""

    color: str
    linestyle: str
    marker: str
    linewidth: float
    alpha: float
    zorder: float


#: Styles of the registered families; ``band`` wide and translucent under ``volband`` dashed.
FAMILY_STYLES = {
    "time": LineStyle("tab:blue", "-", "o", 1.5, 1.0, 2.0),
    "band": LineStyle("tab:orange", "-", "s", 4.5, 0.45, 2.1),
    "volband": LineStyle("tab:green", "--", "x", 1.5, 1.0, 2.4),
    "bandedge": LineStyle("tab:gray", "-", "s", 1.5, 1.0, 2.15),
    "ww": LineStyle("tab:red", "-.", "^", 1.5, 1.0, 2.2),
    "costaware": LineStyle("tab:purple", "-", "D", 2.0, 1.0, 2.3),
    "costaware@vault": LineStyle("tab:purple", "--", "d", 1.5, 0.8, 2.25),
}
#: Styles for families added later, in turn.
_SPARE_STYLES = (
    LineStyle("tab:brown", ":", "v", 1.8, 1.0, 2.2),
    LineStyle("tab:pink", "--", "P", 1.5, 1.0, 2.2),
    LineStyle("tab:olive", "-.", "<", 1.5, 1.0, 2.2),
    LineStyle("tab:cyan", ":", ">", 1.8, 1.0, 2.2),
)
#: Markers of the single ``--policy`` runs, in turn.
POLICY_MARKERS = ("X", "P", "*", "h", "d", "p", "8", "H")


def _log_axis_format(ax: Axes) -> None:
    """Ticks at 1, 2, 3 and 5 of each decade, written as plain numbers (``2,000``, not 2×10³)."""
    fmt = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:.3g}")
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
            axis.set_major_formatter(fmt)
            axis.set_minor_formatter(NullFormatter())


def _same_points(a: Sequence[FrontierPoint], b: Sequence[FrontierPoint]) -> bool:
    """Whether two families have the same (error, cost) points."""
    key = sorted((p.error_std, p.trading_cost_mean) for p in a)
    return key == sorted((p.error_std, p.trading_cost_mean) for p in b)


def plot_frontier(
    path: Path,
    front: dict[str, list[FrontierPoint]] | None,
    results: Sequence[PolicyResult],
    title: str,
) -> None:
    """Draw each family's frontier (lines) and the single policies (markers named in the legend).

    With no trading costs at all (``--costs none``) the y axis is the mean number of
    rebalances instead, which is what a policy then spends.
    """
    front = front or {}
    costs = [r.trading_cost_mean for r in results]
    costs += [p.trading_cost_mean for pts in front.values() for p in pts]
    by_cost = any(c > 0.0 for c in costs)

    def y_of(cost: float, rebalances: float) -> float:
        return max(cost if by_cost else rebalances, 1e-12)

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=120)
    spare = iter(_SPARE_STYLES * (1 + len(front)))
    drawn: dict[str, list[FrontierPoint]] = {}
    for fam, pts in front.items():
        st = FAMILY_STYLES.get(fam) or next(spare)
        twin = next((f for f, q in drawn.items() if _same_points(pts, q)), None)
        label = fam if twin is None else f"{fam} (same points as {twin})"
        # A family that runs one parameter several times (``costaware@vault``: a point per vault
        # band) is drawn as its efficient points; any other along its parameter.
        several = len({p.param for p in pts}) < len(pts)
        line = efficient(pts) if several else sorted(pts, key=lambda p: p.param)
        ax.plot(
            [p.error_std for p in line],
            [y_of(p.trading_cost_mean, p.rebalances_mean) for p in line],
            color=st.color,
            linestyle=st.linestyle,
            marker=st.marker,
            markersize=5 if st.linewidth < 3 else 6,
            linewidth=st.linewidth,
            alpha=st.alpha,
            zorder=st.zorder,
            label=label,
        )
        drawn[fam] = pts
    for i, r in enumerate(results):
        ax.scatter(
            [r.error_std],
            [y_of(r.trading_cost_mean, r.rebalances_mean)],
            marker=POLICY_MARKERS[i % len(POLICY_MARKERS)],
            s=90,
            color="black",
            edgecolors="white",
            linewidths=0.6,
            zorder=5,
            label=r.policy,
        )
    ax.set_xlabel("hedging error std (USD)")
    ax.set_ylabel("mean trading cost (USD)" if by_cost else "mean rebalances (no trading costs)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.08)
    _log_axis_format(ax)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    if front or results:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
