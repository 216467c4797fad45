"""``keeper demo``: local anvil, the full stack, a market, and the real keeper loop hedging live."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keeper.app.defaults import DEFAULT_POLICY
from keeper.arguments import command_line, file_path, int_between, rpc_url
from keeper.errors import ChainError
from keeper.units import WAD, format_fixed, format_units

if TYPE_CHECKING:
    from keeper.app.demo import DemoResult

#: Exit code of an interrupted demo: 128 + SIGINT, as a shell reports a Ctrl-C.
EXIT_INTERRUPTED = 130

_EPILOG = """\
what happens:
  anvil starts on a free port (stopped by PID at the end, whatever happens); the stack is
  deployed (tokens, Chainlink mock feeds, the OP L1-fee oracle, real Uniswap V3, factory,
  vaults, batcher, lens) and its addresses written to --addresses; then each step the market
  moves (oracle price, arbitrageur, depositors, option desk) and the keeper runs one cycle of
  the same loop `keeper run` uses, signing with anvil account 3. When the demo's anvil stops,
  the addresses file goes with it (with --rpc-url the node outlives the demo, and it stays);
  for a devnet that stays up, use `keeper devnet up`.

output: a live progress line on stderr, a per-vault table on stdout, --json and --plot files.
Ctrl-C stops after the step in progress, still writes the report and chart of the steps done,
and exits with 130.

example:
  keeper demo --vaults 4 --steps 150 --seed 7 --json out/demo.json --plot out/demo.png
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole job on a local anvil: market, depositors, desk and the live keeper",
        description=textwrap.fill(
            "Start anvil, deploy the vaults with a real Uniswap V3 pool and Chainlink-style "
            "feeds, drive a seeded market (GBM price path, arbitrageur, depositors, an option "
            "desk) and run the real keeper loop one cycle per step. Ends with a summary table, "
            "a JSON report and a PNG chart.",
            width=78,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--vaults", type=int_between(1, 100), default=4, help="vaults to deploy (default 4)"
    )
    p.add_argument(
        "--steps",
        type=int_between(1),
        default=150,
        help="market steps = keeper cycles (default 150)",
    )
    p.add_argument(
        "--seed",
        type=int_between(0),
        default=7,
        help="seed of the price path and the flows (default 7)",
    )
    p.add_argument(
        "--json",
        type=file_path,
        default=Path("out/demo.json"),
        metavar="FILE",
        help="the JSON report (default out/demo.json)",
    )
    p.add_argument(
        "--plot",
        type=file_path,
        default=Path("out/demo.png"),
        metavar="FILE",
        help="the PNG chart: price, net delta per vault with its band (default out/demo.png)",
    )
    p.add_argument(
        "--addresses",
        type=file_path,
        default=Path("out/devnet.json"),
        metavar="FILE",
        help="where to write the deployed addresses (keeper run --addresses reads it; "
        "default out/devnet.json)",
    )
    p.add_argument(
        "--journal",
        type=file_path,
        default=Path("out/demo-journal.sqlite"),
        metavar="FILE",
        help="the keeper's SQLite journal for this run (default out/demo-journal.sqlite, "
        "recreated each run)",
    )
    p.add_argument(
        "--policy",
        default=None,
        metavar="SPEC",
        help=f"keeper policy spec (default {DEFAULT_POLICY})",
    )
    p.add_argument(
        "--step-seconds",
        type=int_between(1),
        default=600,
        metavar="SECONDS",
        help="chain time per step, seconds (default 600)",
    )
    p.add_argument(
        "--vol", type=float, default=0.8, help="price path vol, annualized (default 0.8)"
    )
    p.add_argument(
        "--drift", type=float, default=0.0, help="price path drift, annualized (default 0)"
    )
    p.add_argument(
        "--jumps",
        type=float,
        default=0.0,
        metavar="PER_YEAR",
        help="Merton jump intensity, jumps per year (default 0: plain GBM)",
    )
    p.add_argument(
        "--queue-prob",
        type=float,
        default=0.05,
        metavar="P",
        help="chance a step queues a holder's exit in a vault's redemption queue, which the "
        "keeper fills after settlements and at its queue sweeps (default 0.05; 0 = none)",
    )
    p.add_argument(
        "--port", type=int_between(1, 65_535), default=None, help="anvil port (default: a free one)"
    )
    p.add_argument(
        "--block-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "a block every SECONDS during the steps (e.g. 1; the set-up is mined at once); "
            "default mines on demand, which is much faster"
        ),
    )
    p.add_argument(
        "--rpc-url",
        type=rpc_url,
        default=None,
        metavar="URL",
        help="use this running anvil instead of starting one (needs anvil's default accounts)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print the table; return 0 (a KeeperError becomes one line in the CLI)."""
    if args.port is not None and args.rpc_url is None:
        _refuse_taken_port(args.port)
    from keeper.app.demo import DemoConfig, Progress, run_demo

    with command_line("keeper demo"):  # DemoConfig checks the flags, and reads nothing else
        cfg = DemoConfig(
            vaults=args.vaults,
            steps=args.steps,
            seed=args.seed,
            policy=args.policy or DEFAULT_POLICY,
            step_seconds=args.step_seconds,
            vol=args.vol,
            drift=args.drift,
            jump_intensity=args.jumps,
            queue_prob=args.queue_prob,
            json_path=args.json,
            plot_path=args.plot,
            addresses_path=args.addresses,
            journal_path=args.journal,
            port=args.port,
            block_time=args.block_time,
            rpc_url=args.rpc_url,
        )
    stream = sys.stderr
    # On a terminal one line is redrawn in place; in a log (CI, a pipe) the first step (the
    # set-up is over), then a line every 10%.
    live = stream.isatty()

    def progress(p: Progress) -> None:
        line = (
            f"step {p.step:>4}/{p.steps}  price {p.price8 / 1e8:>9,.2f}  "
            f"rebalances {p.vault_rebalances:>4} in {p.rebalance_txs:>3} txs  "
            f"{p.elapsed_s:6.1f}s"
        )
        if live:
            stream.write("\r" + line + ("\n" if p.step >= p.steps else ""))
        elif p.step in (1, p.steps) or p.step % max(1, p.steps // 10) == 0:
            stream.write(line + "\n")
        stream.flush()

    result = run_demo(cfg, progress)
    if live and result.steps_done < cfg.steps:
        stream.write("\n")
    print(summary_table(result))
    if cfg.addresses_path.exists():
        print(f"addresses: {cfg.addresses_path}")
    else:  # the demo's own anvil has stopped: run_demo removed the file that pointed at it
        print(
            f"addresses: {cfg.addresses_path} removed with the demo's anvil "
            "(`keeper devnet up` keeps a devnet running)"
        )
    if cfg.json_path is not None:
        print(f"json:      {cfg.json_path}")
    if cfg.plot_path is not None:
        print(f"chart:     {cfg.plot_path}")
    if result.interrupted:
        print(
            f"keeper: demo interrupted after step {result.steps_done} of {cfg.steps}; "
            "the report and chart cover the steps done",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


def _refuse_taken_port(port: int) -> None:
    """Fail at once on a ``--port`` taken, before the demo's modules load (about 3 s of them).

    A bind test on 127.0.0.1, closed at once (``SO_REUSEADDR``, so a port left in TIME_WAIT is
    not taken, as anvil sees it). Anvil's start checks again: the port can be taken in between.
    Any other bind failure (a port below 1024) is left to anvil, which reports its own.

    Raises:
        ChainError: The port is taken: the line and exit code of anvil's own check.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ChainError(f"port {port} is already in use") from exc


def _usd(units: int) -> str:
    """Whole USDC from its 6-decimal units, rounded half up in integers."""
    return format_fixed(units, 6, 0)


def _share_price(units: int) -> str:
    """A share's price in USDC: ``convertToAssets`` of one share, exact at the asset's 6 decimals.

    The form ``keeper vault info`` and the web page show (the one helper, no rounding of our own:
    the vault rounded down already).
    """
    return format_units(units, 6)


def summary_table(result: DemoResult) -> str:
    """The per-vault summary, as printed at the end of ``keeper demo``."""
    from keeper.app.demo_chart import out_of_band_shares

    head = (
        f"{'vault':<12} {'band':>5} {'rebal':>5} {'gas':>10} {'L1 fee gwei':>12} "
        f"{'out of band':>11} {'(pre)':>5} {'NAV USDC':>12} {'share px':>9} {'dep (USDC)':>17} "
        f"{'wd (USDC)':>17} {'opts':>4} {'end |dev|/band':>14}"
    )
    lines = [head, "-" * len(head)]
    for s in result.vault_stats:
        after, before = out_of_band_shares(result, s.vault, s.band)
        lines.append(
            f"{s.vault[:6] + '..' + s.vault[-4:]:<12} {s.band / WAD:>5.2f} {s.rebalances:>5} "
            f"{s.gas_used:>10,} {s.l1_fee_wei / 1e9:>12,.1f} "
            f"{after:>11.0%} {before:>5.0%} {_usd(s.nav):>12} "
            f"{_share_price(s.share_price):>9} {s.deposits:>3} {_usd(s.deposited):>13} "
            f"{s.withdrawals:>3} {_usd(s.withdrawn):>13} {s.options_written:>4} "
            f"{s.deviation_over_band_end:>14.2f}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{result.rebalance_txs} rebalance txs ({result.batches_2plus} batched >= 2 vaults, "
        f"largest {result.max_batch}), {result.vault_rebalances} vault rebalances, "
        f"{result.failed_txs} failed txs, {result.failed_cycles} failed cycles; "
        f"gas {result.gas_used_total:,}, "
        f"L2 fee {result.l2_fee_total_wei / 1e9:,.1f} gwei, "
        f"L1 fee {result.l1_fee_total_wei / 1e9:,.1f} gwei"
    )
    lines.append(
        f"{result.pool_swaps} pool swaps for {result.vault_rebalances} vault rebalances; per "
        f"vault rebalance: gas {result.gas_per_vault_rebalance:,.0f}, "
        f"L1 fee {result.l1_fee_per_vault_rebalance_wei / 1e9:,.1f} gwei"
    )
    lines.append(
        "out of band: share of steps ending with |net delta - target| > band, after the "
        "keeper's cycle; (pre): the same right after the market moved, before the cycle"
    )
    lines.append(
        f"{result.steps_done} steps x {result.step_seconds}s, price "
        f"{result.price_start8 / 1e8:,.2f} -> {result.price_end8 / 1e8:,.2f}, "
        f"{result.options_written} options written, {result.series_settled} settled, "
        f"{result.deposits} deposits, {result.withdrawals} withdrawals, "
        f"policy {result.policy}, {result.duration_s:.1f}s"
    )
    if result.queued_exits:
        share = result.queued_filled_shares / result.queued_shares if result.queued_shares else 0
        lines.append(
            f"{result.queued_exits} exits queued in the vaults' redemption queues: "
            f"{share:.0%} of their shares filled by the end (the keeper fills after settlements, "
            "and from free quote at its queue sweeps)"
        )
    return "\n".join(lines)
