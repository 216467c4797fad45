"""The ``keeper demo`` chart: the price, then per vault its net delta against its band.

matplotlib is imported inside :func:`plot_demo`: importing this module does not load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from keeper.errors import ConfigError
from keeper.units import WAD

if TYPE_CHECKING:
    from keeper.app.demo import DemoResult


def plot_demo(path: Path, result: DemoResult, max_vaults: int = 6) -> None:
    """Draw the price (oracle and pool), then per vault its net delta against its band.

    Each vault panel shows the deviation from target the keeper saw after the market moved and
    the one left after its cycle (a saw-tooth: a vertical drop is a rebalance, marked with a
    triangle), with the on-chain band shaded; the y range is cut at the 95th percentile so the
    band stays readable next to the jumps a new book or a settlement makes. At most
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
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(
        f"keeper demo: {len(result.vault_stats)} vaults x {result.steps_done} steps "
        f"({result.step_seconds}s), policy {result.policy}; {result.rebalance_txs} batch txs "
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
        # New books and settlements jump the delta by whole contracts; keep the band readable.
        spikes = sorted(abs(y) for y in ys)
        top = max(3 * band, 1.2 * spikes[int(0.95 * (len(spikes) - 1))] if spikes else 0.0)
        ax.set_ylim(-top, top)
        ax.set_ylabel(f"{s.vault[:6]}..\nband ±{band:g}", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("hours (chain time)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
