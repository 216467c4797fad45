"""``keeper devnet up|step``: a devnet to use by hand (:mod:`keeper.app.devnet_session`)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keeper.arguments import command_line, file_path, int_between
from keeper.units import format_fixed, format_units

if TYPE_CHECKING:
    from keeper.app.devnet_session import DevnetInfo

_EPILOG = """\
examples (in two terminals):
  keeper devnet up
  keeper check --addresses out/devnet.json
  keeper devnet step --steps 5
  KEEPER_PRIVATE_KEY=<keeper key printed by up> keeper run --addresses out/devnet.json
"""


_UP = """\
Starts anvil (port 8545 unless --port), deploys the full stack (tokens, Chainlink mock feeds,
the OP L1-fee oracle, real Uniswap V3, factory, vaults, batcher, lens), funds the depositors,
sells each vault an opening book, writes --addresses, prints the RPC URL, the keeper key and
the depositor accounts, and keeps running until Ctrl-C (which stops anvil and removes the
addresses file). The accounts are anvil's public dev keys: devnet only."""

_STEP = """\
Moves the running devnet's market (the one `keeper devnet up` started, found through its
addresses file) by --steps steps: oracle price, arbitrageur, expiries, depositors, option
desk -- the market of `keeper demo`. Refuses a devnet started with --market-every, which
steps its market itself from the same accounts."""


def register(subparsers: Any) -> None:
    """Add the ``devnet`` subcommand and its ``up|step`` actions, each with its own flags."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "devnet",
        help="a local devnet to use by hand: `devnet up` until Ctrl-C, `devnet step` the market",
        description=textwrap.fill(
            "Run a local anvil with the whole stack deployed (`up`, until Ctrl-C) and move its "
            "market (`step`), to try `keeper check`, `run`, `status`, `vault` and `rehearse` by "
            "hand. The accounts are anvil's public dev keys: devnet only. "
            "`keeper devnet ACTION --help` shows an action's flags.",
            width=78,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    up: argparse.ArgumentParser = actions.add_parser(
        "up",
        help="start anvil, deploy the stack, print the accounts; run until Ctrl-C",
        description=_UP,
        epilog="example:\n  keeper devnet up --vaults 2 --port 8546",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    step: argparse.ArgumentParser = actions.add_parser(
        "step",
        help="move the running devnet's market by --steps steps",
        description=_STEP,
        epilog="example:\n  keeper devnet step --steps 5 --addresses out/devnet.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for a, verb in ((up, "written by up"), (step, "read by step")):
        a.add_argument(
            "--addresses",
            type=file_path,
            default=Path("out/devnet.json"),
            metavar="FILE",
            help=f"the devnet's addresses file ({verb}; default out/devnet.json)",
        )
        a.add_argument(
            "--json",
            action="store_true",
            help=(
                "print one JSON object a line on stdout: the ready devnet (where it is, who is "
                "who, the dev keys), then each market step; progress goes to stderr"
                if a is up
                else "print each market step as one JSON object a line"
            ),
        )
    step.add_argument(
        "--steps", type=int_between(1), default=1, help="market steps to take (default 1)"
    )
    up.add_argument(
        "--vaults", type=int_between(1, 100), default=4, help="vaults to deploy (default 4)"
    )
    up.add_argument("--seed", type=int_between(0), default=7, help="seed of the market (default 7)")
    up.add_argument(
        "--port", type=int_between(1, 65_535), default=8545, help="anvil's port (default 8545)"
    )
    up.add_argument(
        "--step-seconds",
        type=int_between(1),
        default=600,
        help="chain time per market step (default 600)",
    )
    up.add_argument(
        "--block-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "a block every SECONDS once the devnet is deployed (the deployment is mined at "
            "once; default: mine each transaction at once)"
        ),
    )
    up.add_argument(
        "--market-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "also take one market step every SECONDS in the background "
            "(`keeper devnet step` then refuses this devnet; default: none, the market moves "
            "only on `keeper devnet step`)"
        ),
    )
    p.set_defaults(func=devnet_command)


def devnet_command(args: argparse.Namespace) -> int:
    """Run ``keeper devnet up`` or ``keeper devnet step``."""
    from keeper.app.devnet_session import DevnetConfig, devnet_step, devnet_up

    show_step = _step_json if args.json else _step_line
    if args.action == "step":
        for rec in devnet_step(args.addresses, args.steps):
            print(show_step(rec), flush=True)
        return 0
    with command_line("keeper devnet up"):  # DevnetConfig checks the flags, nothing else
        cfg = DevnetConfig(
            vaults=args.vaults,
            seed=args.seed,
            port=args.port,
            addresses_path=args.addresses,
            step_seconds=args.step_seconds,
            block_time=args.block_time,
            market_every_s=args.market_every,
        )
    devnet_up(
        cfg,
        _print_ready_json if args.json else _print_ready,
        on_step=lambda rec: print(show_step(rec), flush=True),
        on_started=lambda url: print(
            f"anvil is up at {url}; deploying {cfg.vaults} "
            f"vault{'' if cfg.vaults == 1 else 's'} ...",
            file=sys.stderr if args.json else sys.stdout,
            flush=True,
        ),
    )
    print(f"devnet stopped; removed {cfg.addresses_path}", file=sys.stderr)
    return 0


def _usdc(units: int) -> str:
    """A positive balance: in whole USDC (rounded half up), or exactly when under one USDC.

    The admin holds 1 unit after the deployment, which read "0 USDC".
    """
    return format_fixed(units, 6, 0) if units >= 10**6 else format_units(units, 6)


def _print_ready(info: DevnetInfo) -> None:
    lines = [
        "",
        f"devnet ready: chain {info.chain_id}, anvil pid {info.pid}",
        f"  RPC URL         {info.rpc_url}",
        f"  addresses file  {info.addresses_path}   (keeper ... --addresses {info.addresses_path})",
        f"  vaults          {', '.join(info.vaults)}",
        "",
        "accounts (anvil's dev keys from its public test mnemonic: never use them on a real chain)",
    ]
    for a in info.accounts:
        usd = f"{_usdc(a.usdc):>14} USDC" if a.usdc else " " * 19
        lines.append(f"  {a.index}  {a.role:<12} {a.address}  {usd}  key {a.key}")
    keeper = next(a for a in info.accounts if a.role == "keeper")
    you = next(a for a in info.accounts if a.role == "you")
    lines += [
        "",
        f"the keeper key is account {keeper.index} ({keeper.address}), registered on the batcher"
        " and holding each vault's keeper role;"
        " account 0 is the admin and is NOT a keeper",
        f"account {you.index} is yours to deposit with (`keeper vault`, a wallet): the market"
        " never sends from it, and it has approved nothing",
        "try, in another terminal:",
        f"  keeper check --addresses {info.addresses_path}",
        (
            f"  (the market moves by itself every {info.market_every_s:g} s: --market-every;"
            " `keeper devnet step` refuses this devnet)"
            if info.market_every_s is not None
            else f"  keeper devnet step --steps 5 --addresses {info.addresses_path}"
        ),
        f"  KEEPER_PRIVATE_KEY={keeper.key} keeper run --addresses {info.addresses_path}",
        f"  KEEPER_PRIVATE_KEY={you.key} keeper vault info --rpc-url {info.rpc_url} "
        f"--vault {info.vaults[0]}",
        "Ctrl-C stops the devnet.",
    ]
    print("\n".join(lines), flush=True)


def _print_ready_json(info: DevnetInfo) -> None:
    ready = asdict(info)
    ready["addresses_path"] = str(info.addresses_path)
    print(json.dumps(ready), flush=True)


def _step_json(rec: Any) -> str:
    return json.dumps(asdict(rec))


def _flows(flows: list[tuple[str, int]]) -> str:
    """Each deposit or withdrawal of a step, in whole USDC (rounded half up in integers)."""
    return ", ".join(f"{kind} {format_fixed(assets, 6, 0)} USDC" for kind, assets in flows)


def _step_line(rec: Any) -> str:
    flows = _flows([(f.kind, f.assets) for f in rec.flows])
    return (
        f"step {rec.step}: oracle {rec.price8 / 1e8:,.2f}, pool {rec.pool_price8 / 1e8:,.2f}, "
        f"{len(rec.writes)} options written, {len(rec.settlements)} series settled"
        + (f", {flows}" if flows else "")
        + (f", {len(rec.queued)} exit(s) queued" if rec.queued else "")
    )
