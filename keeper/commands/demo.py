"""``keeper demo``: local anvil, the full stack, a market, and the real keeper loop hedging live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_EPILOG = """\
what happens:
  anvil starts on a free port (stopped by PID at the end, whatever happens); the stack is
  deployed (tokens, Chainlink mock feeds, the OP L1-fee oracle, real Uniswap V3, factory,
  vaults, batcher, lens) and its addresses written to --addresses; then each step the market
  moves (oracle price, arbitrageur, depositors, option desk) and the keeper runs one cycle of
  the same loop `keeper run` uses, signing with anvil account 3.

output: a live progress line on stderr, a per-vault table on stdout, --json and --plot files.

example:
  keeper demo --vaults 4 --steps 150 --seed 7 --json out/demo.json --plot out/demo.png
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole job on a local anvil: market, depositors, desk and the live keeper",
        description=(
            "Start anvil, deploy the vaults with a real Uniswap V3 pool and Chainlink-style "
            "feeds, drive a seeded market (GBM price path, arbitrageur, depositors, an option "
            "desk) and run the real keeper loop one cycle per step. Ends with a summary table, "
            "a JSON report and a PNG chart."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--vaults", type=int, default=4, help="vaults to deploy (default 4)")
    p.add_argument("--steps", type=int, default=150, help="market steps = keeper cycles (150)")
    p.add_argument("--seed", type=int, default=7, help="seed of the price path and the flows")
    p.add_argument(
        "--json",
        type=Path,
        default=Path("out/demo.json"),
        metavar="FILE",
        help="the JSON report (default out/demo.json)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=Path("out/demo.png"),
        metavar="FILE",
        help="the PNG chart: price, net delta per vault with its band (default out/demo.png)",
    )
    p.add_argument(
        "--addresses",
        type=Path,
        default=Path("out/devnet.json"),
        metavar="FILE",
        help="where to write the deployed addresses (keeper run --addresses reads it)",
    )
    p.add_argument(
        "--journal",
        type=Path,
        default=Path("out/demo-journal.sqlite"),
        metavar="FILE",
        help="the keeper's SQLite journal for this run (recreated each run)",
    )
    p.add_argument("--policy", default=None, metavar="SPEC", help="keeper policy spec")
    p.add_argument("--step-seconds", type=int, default=600, help="chain time per step (600)")
    p.add_argument("--vol", type=float, default=0.8, help="price path vol, annualized (0.8)")
    p.add_argument("--drift", type=float, default=0.0, help="price path drift, annualized (0)")
    p.add_argument(
        "--jumps",
        type=float,
        default=0.0,
        metavar="PER_YEAR",
        help="Merton jump intensity (0 = plain GBM)",
    )
    p.add_argument("--port", type=int, default=None, help="anvil port (default: a free one)")
    p.add_argument(
        "--block-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="anvil interval mining (e.g. 1); default mines on demand, which is much faster",
    )
    p.add_argument(
        "--rpc-url",
        default=None,
        metavar="URL",
        help="use this running anvil instead of starting one (needs anvil's default accounts)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print the table; return 0 (a KeeperError becomes one line in the CLI)."""
    from keeper.devnet.demo import DEFAULT_POLICY, DemoConfig, Progress, run_demo, summary_table

    cfg = DemoConfig(
        vaults=args.vaults,
        steps=args.steps,
        seed=args.seed,
        policy=args.policy or DEFAULT_POLICY,
        step_seconds=args.step_seconds,
        vol=args.vol,
        drift=args.drift,
        jump_intensity=args.jumps,
        json_path=args.json,
        plot_path=args.plot,
        addresses_path=args.addresses,
        journal_path=args.journal,
        port=args.port,
        block_time=args.block_time,
        rpc_url=args.rpc_url,
    )
    stream = sys.stderr
    # On a terminal one line is redrawn in place; in a log (CI, a pipe) a line every 10%.
    live = stream.isatty()

    def progress(p: Progress) -> None:
        line = (
            f"step {p.step:>4}/{p.steps}  price {p.price8 / 1e8:>9,.2f}  "
            f"rebalances {p.vault_rebalances:>4} in {p.rebalance_txs:>3} txs  "
            f"{p.elapsed_s:6.1f}s"
        )
        if live:
            stream.write("\r" + line + ("\n" if p.step >= p.steps else ""))
        elif p.step == p.steps or p.step % max(1, p.steps // 10) == 0:
            stream.write(line + "\n")
        stream.flush()

    result = run_demo(cfg, progress)
    if live and result.steps_done < cfg.steps:
        stream.write("\n")
    print(summary_table(result))
    print(f"addresses: {cfg.addresses_path}")
    if cfg.json_path is not None:
        print(f"json:      {cfg.json_path}")
    if cfg.plot_path is not None:
        print(f"chart:     {cfg.plot_path}")
    return 0
