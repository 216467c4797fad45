"""The ``keeper demo`` chart: the price, then per vault its net delta against its band.

matplotlib is imported inside :func:`plot_demo`: importing this module does not load it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from keeper.errors import ConfigError
from keeper.units import WAD

if TYPE_CHECKING:
    from keeper.app.demo import DemoResult


def out_of_band_shares(result: DemoResult, vault: str, band: int) -> tuple[float, float]:
    """The share of steps with ``|net delta - target| > band``: (after, before) the keeper.

    *After* is the demo's "out of band" figure, in the summary table and on the chart: at the
    end of a step, once the keeper's cycle has run, is the vault outside its band? *Before* is
    the same test right after the market moved, before the keeper's cycle: the excursions the
    chart's saw-tooth shows, which a rebalance in the same step takes back. Both come from the
    run's trace, so the table and the chart cannot disagree.
    """
    tr = result.trace
    post, pre = tr.post.get(vault, []), tr.pre.get(vault, [])
    limit = band / WAD
    after = sum(1 for x in post if abs(x) > limit) / max(len(post), 1)
    before = sum(1 for x in pre if abs(x) > limit) / max(len(pre), 1)
    return after, before


def plot_demo(path: Path, result: DemoResult, max_vaults: int = 6) -> None:
    """Draw the price (oracle and pool), then per vault its net delta against its band.

    Each vault panel shows the deviation from target, in WETH (whole underlying), that the keeper
    saw after the market moved and the one left after its cycle (a saw-tooth: a vertical drop is
    a rebalance, marked with a triangle), with the on-chain band shaded. The y axis is *symlog*:
    linear inside ``±band`` and logarithmic beyond, so the band stays readable and the jumps a
    new book or a settlement makes stay inside the panel (nothing is clipped). Each panel is
    labelled with :func:`out_of_band_shares`, the same figures as the summary table. At most
    ``max_vaults`` vault panels are drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = result.trace
    n = min(len(result.vault_stats), max_vaults)
    steps = min(len(tr.times), *(len(tr.post[s.vault]) for s in result.vault_stats[:n]))
    if steps == 0:
        raise ConfigError("nothing to plot: the demo ran no complete step")
    t0 = tr.times[0] - result.step_seconds
    hours = [(t - t0) / 3600 for t in tr.times[:steps]]
    fig, axes = plt.subplots(
        n + 1,
        1,
        figsize=(10, 2.0 + 1.6 * n),
        dpi=110,
        sharex=True,
        gridspec_kw={"height_ratios": [1.4] + [1.0] * n},
    )
    ax = axes[0]
    ax.plot(hours, [p / 1e8 for p in tr.prices[:steps]], color="black", lw=1.2, label="oracle")
    ax.plot(
        hours,
        [p / 1e8 for p in tr.pool_prices[:steps]],
        color="tab:orange",
        lw=0.8,
        ls="--",
        label="Uniswap V3 pool (after arbitrage)",
    )
    batch_hours = [
        h for k, h in enumerate(hours) if any(tr.rebalanced[s.vault][k] for s in result.vault_stats)
    ]
    for h in batch_hours:
        ax.axvline(h, color="tab:green", alpha=0.15, lw=1)
    ax.set_ylabel("WETH price (USD)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(
        f"keeper demo: {len(result.vault_stats)} vaults x {result.steps_done} steps "
        f"({result.step_seconds}s), policy {result.policy}; {result.rebalance_txs} rebalance txs "
        f"(green), {result.vault_rebalances} vault rebalances",
        fontsize=9,
    )
    for k, s in enumerate(result.vault_stats[:n]):
        ax = axes[k + 1]
        band = s.band / WAD
        xs: list[float] = []
        ys: list[float] = []
        for j in range(steps):
            start = hours[j - 1] if j else 0.0
            xs += [start, hours[j], hours[j]]
            ys += [tr.post[s.vault][j - 1] if j else 0.0, tr.pre[s.vault][j], tr.post[s.vault][j]]
        ax.axhspan(-band, band, color="tab:blue", alpha=0.12, lw=0)
        ax.axhline(0, color="gray", lw=0.5)
        ax.plot(xs[1:], ys[1:], color="tab:blue", lw=0.9)
        marks = [j for j in range(steps) if tr.rebalanced[s.vault][j]]
        ax.scatter(
            [hours[j] for j in marks],
            [tr.post[s.vault][j] for j in marks],
            marker="v",
            color="tab:green",
            s=14,
            zorder=3,
        )
        # New books and settlements jump the delta by whole contracts: symlog keeps them in.
        spike = _nice_ceiling(max([3 * band, *(abs(y) for y in ys)]))
        ax.set_yscale("symlog", linthresh=band, linscale=1.0)
        ax.set_ylim(-spike * 1.6, spike * 1.6)
        ticks = [-spike, -band, 0.0, band, spike]
        ax.set_yticks(ticks, [f"{t:+g}" if t else "0" for t in ticks])
        ax.minorticks_off()
        ax.set_ylabel(f"{s.vault[:6]}..\nΔ − target (WETH)\nband ±{band:g}", fontsize=7)
        ax.tick_params(labelsize=7)
        after, before = out_of_band_shares(result, s.vault, s.band)
        ax.text(
            0.995,
            0.96,
            f"out of band after the keeper: {after:.0%} of steps  (before its cycle: {before:.0%})",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1.5},
        )
    axes[-1].set_xlabel("hours (chain time); vault axes symlog: linear inside the band")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above ``x`` (a round axis tick)."""
    k = math.floor(math.log10(x))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10.0**k >= x:
            return m * 10.0**k
    return 10.0 ** (k + 1)
