"""``keeper backtest``: hedge an option position under each policy over simulated or real paths."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from keeper.arguments import (
    command_line,
    file_path,
    file_path_or_stdout,
    int_between,
    whole_number,
)
from keeper.backtest.engine import (
    MAX_VAULT_BAND,
    MAX_VAULT_MAX_INTERVAL_S,
    MAX_VAULT_MAX_TRADE,
    MAX_VAULT_MIN_INTERVAL_S,
    MIN_VAULT_BAND,
    MIN_VAULT_MAX_INTERVAL_S,
    MIN_VAULT_MAX_TRADE,
    MIN_VAULT_MIN_INTERVAL_S,
)
from keeper.backtest.frontier import WIDTHS, FrontierPoint, efficient
from keeper.backtest.memory import default_limit
from keeper.backtest.progress import ProgressBar
from keeper.backtest.scenario import AGAINST, RunOutput, Scenario, run_scenario
from keeper.errors import ConfigError
from keeper.locations import check_image_path, check_writable
from keeper.strategy.costs import l2_default_costs
from keeper.strategy.policies import (
    DEFAULT_HORIZON_CAP_S,
    POLICIES,
    Policy,
    TimePolicy,
    parse_policy,
)
from keeper.strategy.types import CostInputs

#: The policies a run without ``--policy`` backtests (with or without ``--frontier``).
DEFAULT_POLICIES = ("time:every=1", "band:width=0.05")
_CAP_DAYS = DEFAULT_HORIZON_CAP_S / 86400

_EPILOG = f"""\
policies (repeat --policy; the same code the live keeper runs):
  time:every=K                  rebalance every K grid steps (every=1: every step)
  time:interval=SECONDS         rebalance once SECONDS have passed since the last (live too;
                                one of every and interval, not both)
  band:width=W                  rebalance when |net delta| > W x contracts, back to target
  bandedge:width=W              band's trigger, back only to the cost-optimal point inside it
  volband:width=W[,ref=V]       band scaled by forecast vol / reference vol (default: --vol)
  ww:risk_aversion=G            Whalley-Wilmott band (3/2 e^{{-r tau}} lambda S Gamma^2 / G)^(1/3)
  costaware:risk_aversion=G[,horizon=SECONDS|auto][,cap=SECONDS]
                                act when G x (variance of P&L removed over the horizon, USD^2)
                                exceeds the full cost (gas + L1 fee + pool fee + slippage);
                                horizon: default auto, min(time for gamma to rebuild the
                                deviation, time to expiry, cap); cap: the auto horizon's
                                longest, default {DEFAULT_HORIZON_CAP_S:.0f} s ({_CAP_DAYS:g} days)

costs:
  --costs none   no trading costs (the default; a cost flag with it is an error)
  --costs l2     per rebalance: gas_direct x gas price + its L1 data fee (OP-Stack Fjord
                 formula), the vault's own transaction, as the live keeper sends a lone vault
                 (--gas-direct 0: a batch of one, (gas_fixed + gas_per_vault + gas_swap) x gas
                 price + its L1 fee), plus pool fee x notional, plus impact x notional^2;
                 every default can be overridden by the flags below (see docs/backtest.md)

output: a table on stdout, --json FILE (or '-') with bs_price, results[] and, with --frontier,
frontier{{family: [...]}} sorted by cost; --plot FILE.png draws error std against trading cost.
Missing parent directories of --json and --plot are created, and both are checked before the run
(--plot's suffix picks the image type, .png, .svg, .pdf, ...: a missing or unknown one is refused).

example (Hull's delta-hedging table, rebalancing every week):
  keeper backtest --spot 49 --strike 50 --rate 0.05 --vol 0.2 --drift 0.13 \\
      --maturity 0.3846 --contracts 100000 --steps 80 --paths 10000 --policy time:every=4 \\
      --accounting discounted
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``backtest`` subcommand."""
    p = subparsers.add_parser(
        "backtest",
        help="backtest hedging policies over Monte Carlo or historical paths",
        description=textwrap.fill(
            "Delta-hedge a short or long European option position (vanilla or capped) with "
            "each --policy over the same seeded paths, and report the hedge cost, hedging error "
            "and trading cost per policy. --frontier sweeps each policy family and reads off "
            "the error-versus-cost frontier.",
            width=78,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = p.add_argument_group("market and paths")
    m.add_argument(
        "--model",
        choices=("gbm", "merton", "historical"),
        default="gbm",
        help="price path model (default %(default)s)",
    )
    m.add_argument("--spot", type=float, default=3000.0, help="spot at t0, USD (default 3000)")
    m.add_argument(
        "--vol",
        type=float,
        default=None,
        help="pricing and simulation vol (default 0.6; historical: the whole file's realized "
        "vol, a look-ahead for its early windows: give one to avoid it)",
    )
    m.add_argument("--drift", type=float, help="gbm and merton: real-world drift mu (default 0)")
    m.add_argument("--rate", type=float, default=0.0, help="interest rate r (default 0)")
    m.add_argument("--maturity", type=float, default=30 / 365, help="years (default 30 days)")
    m.add_argument(
        "--steps",
        type=int_between(1),
        default=720,
        help="grid steps over the maturity (default %(default)s)",
    )
    m.add_argument(
        "--paths", type=int_between(1), help="gbm and merton: Monte Carlo paths (default 10000)"
    )
    m.add_argument(
        "--seed",
        type=int_between(0),
        help="gbm and merton: random seed, >= 0 (same seed, same paths; default 1)",
    )
    m.add_argument(
        "--max-memory",
        type=float,
        metavar="GIB",
        help="refuse a run estimated to need more (default: half the available memory)",
    )
    m.add_argument(
        "--csv",
        type=file_path,
        help="with --model historical: oracle rounds, timestamp,price (required there; no default)",
    )
    m.add_argument(
        "--jump-intensity", type=float, help="with --model merton: jumps per year (default 0)"
    )
    m.add_argument(
        "--jump-mean", type=float, help="with --model merton: mean log jump (default -0.05)"
    )
    m.add_argument("--jump-std", type=float, help="with --model merton: log-jump std (default 0.1)")
    m.add_argument(
        "--forecast",
        choices=("model", "ewma"),
        default="model",
        help="vol the policies see: the pricing vol, or each path's EWMA forecast "
        "(default %(default)s)",
    )
    m.add_argument(
        "--ewma-lambda", type=float, help="with --forecast ewma: EWMA decay per step (default 0.94)"
    )
    o = p.add_argument_group("position")
    o.add_argument("--strike", type=float, default=3000.0, help="strike, USD (default 3000)")
    o.add_argument(
        "--option",
        choices=("call", "put"),
        default="call",
        help="option type (default %(default)s)",
    )
    o.add_argument(
        "--side",
        choices=("short", "long"),
        default="short",
        help="the position's side (default %(default)s)",
    )
    o.add_argument(
        "--contracts", type=float, default=100.0, help="whole underlying units (default 100)"
    )
    o.add_argument(
        "--cap",
        type=float,
        default=None,
        help="payoff cap per contract, USD (default: none, uncapped)",
    )
    h = p.add_argument_group("hedging and costs")
    h.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="SPEC",
        help=f"a policy spec (repeatable; default: {' and '.join(DEFAULT_POLICIES)}, "
        "with --frontier too)",
    )
    h.add_argument(
        "--vault-band",
        type=float,
        metavar="B",
        help="run each --policy on a vault whose own band is B underlying, as the contract "
        "bounds a keeper: it rebalances only when |deviation| > B, returns no farther than B "
        "and sells no more underlying than it holds; 1e-6 to 1e6, the contract's bounds "
        "(default: the vault's band never binds)",
    )
    h.add_argument(
        "--vault-max-trade",
        type=float,
        metavar="X",
        help="with --vault-band or --vault-bands: the vaults' maxTrade, X underlying per "
        "rebalance (the opening hedge included), 1e-6 to 1e6 (default: no cap)",
    )
    h.add_argument(
        "--vault-max-interval",
        type=float,
        metavar="S",
        help="with --vault-band or --vault-bands: the vaults' maxInterval, S seconds, 60 to "
        "2592000 (30 days); after it the vault also accepts a rebalance inside its band "
        "(default: no time trigger)",
    )
    h.add_argument(
        "--vault-min-interval",
        type=float,
        metavar="S",
        help="with --vault-band or --vault-bands: the vaults' minInterval, S seconds; the vault "
        "accepts no rebalance sooner than S after its last, whatever the deviation; 1 to 86400 "
        "(1 day) and at most --vault-max-interval, or 0 (default: 0, no floor)",
    )
    h.add_argument(
        "--accounting",
        choices=("undiscounted", "discounted"),
        default="undiscounted",
        help="P&L accounting (default %(default)s)",
    )
    h.add_argument(
        "--costs",
        choices=("none", "l2"),
        default="none",
        help="trading costs (default: none); the cost flags below apply only with --costs l2 "
        "(given with none, they are refused)",
    )
    # The cost flags default to None so that one given with --costs none is known and refused
    # (_costs); their defaults are l2_default_costs()'s, filled in there and shown here.
    d = l2_default_costs()
    h.add_argument(
        "--gas-fixed",
        type=whole_number,
        help=f"with --gas-direct 0: L2 gas per transaction (default {d.gas_fixed})",
    )
    h.add_argument(
        "--gas-per-vault",
        type=whole_number,
        help="with --gas-direct 0: L2 gas per vault, its swap excluded "
        f"(default {d.gas_per_vault})",
    )
    h.add_argument(
        "--gas-swap",
        type=whole_number,
        help=f"with --gas-direct 0: L2 gas of the one pool swap (default {d.gas_swap})",
    )
    h.add_argument(
        "--gas-direct",
        type=whole_number,
        help="L2 gas of a lone vault's own rebalance, its swap included (0: a batch of one; "
        f"default {d.gas_direct})",
    )
    h.add_argument(
        "--gas-price-gwei",
        type=float,
        help=f"L2 gas price, gwei (default {d.gas_price_wei / 1e9:g})",
    )
    h.add_argument(
        "--l1-fee-wei",
        type=whole_number,
        help="with --gas-direct 0: L1 data fee of a one-vault batch, wei "
        f"(default {d.l1_fee_fixed_wei + d.l1_fee_per_vault_wei})",
    )
    h.add_argument(
        "--l1-fee-direct-wei",
        type=whole_number,
        help=f"L1 data fee of a lone vault's own rebalance, wei (default {d.l1_fee_direct_wei})",
    )
    h.add_argument("--eth-usd", type=float, help=f"ETH price, USD (default {d.eth_usd:g})")
    h.add_argument("--pool-fee-bps", type=float, help=f"pool fee, bps (default {d.pool_fee_bps:g})")
    h.add_argument(
        "--impact-coef",
        type=float,
        help=f"fractional slippage per USD traded (1 / pool depth; default {d.impact_coef:g})",
    )
    out = p.add_argument_group("output")
    out.add_argument("--frontier", action="store_true", help="sweep each family's parameter")
    out.add_argument(
        "--families",
        help="families to sweep with --frontier (comma list; default: all)",
    )
    out.add_argument(
        "--vault-bands",
        metavar="M1,M2,...",
        help="with --frontier: also run each swept costaware point on vaults whose band is "
        "each multiple M of that point's threshold at t0 (family costaware@vault), and compare "
        "it too; e.g. 0.7,1,1.4 (each vault's band within the contract's 1e-6 to 1e6; "
        "default: none)",
    )
    out.add_argument(
        "--json",
        dest="json_out",
        type=file_path_or_stdout,
        help="write the JSON here ('-' for stdout; default: none, the table only)",
    )
    out.add_argument(
        "--plot", type=file_path, help="write the error-vs-cost PNG here (default: none)"
    )
    prog = out.add_mutually_exclusive_group()
    prog.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show the progress bar (by default a long run shows it on a terminal, "
        "and writes a line every 10%% elsewhere)",
    )
    prog.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show progress, bar or lines",
    )
    p.set_defaults(func=run)


#: The cost flags' destinations (each must be finite and >= 0, the ETH price > 0, the pool fee
#: at most 10,000 bps; read only with ``--costs l2``).
_COST_FLAGS = (
    "gas_fixed",
    "gas_per_vault",
    "gas_swap",
    "gas_price_gwei",
    "gas_direct",
    "l1_fee_wei",
    "l1_fee_direct_wei",
    "eth_usd",
    "pool_fee_bps",
    "impact_coef",
)


#: The cost flags of a rebalance priced as a batch of one, read only with ``--gas-direct 0``;
#: and of the vault's own transaction, read only without it.
_BATCH_FLAGS = ("gas_fixed", "gas_per_vault", "gas_swap", "l1_fee_wei")
_DIRECT_FLAGS = ("l1_fee_direct_wei",)


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def cost_flag_values(c: CostInputs) -> dict[str, float]:
    """Each cost flag's value (by its ``dest``, :data:`_COST_FLAGS`) that gives ``c``."""
    return {
        "gas_fixed": c.gas_fixed,
        "gas_per_vault": c.gas_per_vault,
        "gas_swap": c.gas_swap,
        "gas_price_gwei": c.gas_price_wei / 1e9,
        "gas_direct": c.gas_direct,
        "l1_fee_wei": c.l1_fee_fixed_wei + c.l1_fee_per_vault_wei,
        "l1_fee_direct_wei": c.l1_fee_direct_wei,
        "eth_usd": c.eth_usd,
        "pool_fee_bps": c.pool_fee_bps,
        "impact_coef": c.impact_coef,
    }


def _costs(args: argparse.Namespace) -> CostInputs | None:
    """The ``--costs l2`` inputs, each flag over its :func:`l2_default_costs` default.

    Raises:
        ConfigError: A cost flag given with ``--costs none`` (it would be ignored), a cost
            flag that is not a finite number >= 0, or a pool fee above 10,000 bps.
    """
    given = [name for name in _COST_FLAGS if getattr(args, name) is not None]
    if args.costs == "none":
        if given:
            flags = ", ".join(_flag(n) for n in given)
            raise ConfigError(
                f"{flags} {'applies' if len(given) == 1 else 'apply'} only with --costs l2, "
                "not with --costs none (the default): add --costs l2 or drop "
                f"{'it' if len(given) == 1 else 'them'}"
            )
        return None
    defaults = cost_flag_values(l2_default_costs())
    for name in _COST_FLAGS:
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
        v = getattr(args, name)
        if name == "eth_usd" and not (math.isfinite(v) and v > 0):  # a price: 0 zeroes all gas
            raise ConfigError(f"{_flag(name)} must be a finite number > 0, got {v}")
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"{_flag(name)} must be a finite number >= 0, got {v}")
        if name == "pool_fee_bps" and v > 10_000:  # as KEEPER_POOL_FEE_BPS: at most the notional
            raise ConfigError(f"{_flag(name)} must be at most 10000 (100%), got {v}")
        if name == "gas_price_gwei" and not math.isfinite(v * 1e9):  # round(inf) raised
            raise ConfigError(f"{_flag(name)} is too large to be a gas price, got {v}")
    # A lone vault's rebalance is its own transaction (--gas-direct) or, with --gas-direct 0, a
    # batch of one: the other way's flags would be ignored without a word.
    unused = [n for n in (_BATCH_FLAGS if args.gas_direct else _DIRECT_FLAGS) if n in given]
    if unused:
        one = len(unused) == 1
        flags = ", ".join(_flag(n) for n in unused)
        if args.gas_direct:
            context = (
                f"--gas-direct 0 (a batch of one); with --gas-direct {args.gas_direct} a "
                "rebalance is the vault's own transaction: add --gas-direct 0"
            )
        else:
            context = "--gas-direct above 0 (the vault's own transaction): set it"
        raise ConfigError(
            f"{flags} {'applies' if one else 'apply'} only with {context} or drop "
            f"{'it' if one else 'them'}"
        )
    base = l2_default_costs(args.eth_usd)
    share = base.l1_fee_fixed_wei / max(1, base.l1_fee_fixed_wei + base.l1_fee_per_vault_wei)
    l1_fixed = round(args.l1_fee_wei * share)
    return replace(
        base,
        gas_fixed=args.gas_fixed,
        gas_per_vault=args.gas_per_vault,
        gas_swap=args.gas_swap,
        gas_direct=args.gas_direct,
        l1_fee_direct_wei=args.l1_fee_direct_wei,
        gas_price_wei=round(args.gas_price_gwei * 1e9),
        l1_fee_fixed_wei=l1_fixed,
        l1_fee_per_vault_wei=args.l1_fee_wei - l1_fixed,
        pool_fee_bps=args.pool_fee_bps,
        impact_coef=args.impact_coef,
    )


#: Flags read only in one context, that context (when it does not hold, the flag would be
#: ignored), and their defaults there.
_CONTEXT_FLAGS: tuple[tuple[str, str, Callable[[argparse.Namespace], bool], object], ...] = (
    ("csv", "--model historical", lambda a: a.model == "historical", None),
    # A historical run's paths are the CSV's windows: no draw, no drift, no count to choose.
    ("paths", "--model gbm or merton", lambda a: a.model != "historical", 10_000),
    ("seed", "--model gbm or merton", lambda a: a.model != "historical", 1),
    ("drift", "--model gbm or merton", lambda a: a.model != "historical", 0.0),
    ("jump_intensity", "--model merton", lambda a: a.model == "merton", 0.0),
    ("jump_mean", "--model merton", lambda a: a.model == "merton", -0.05),
    ("jump_std", "--model merton", lambda a: a.model == "merton", 0.1),
    ("ewma_lambda", "--forecast ewma", lambda a: a.forecast == "ewma", 0.94),
    ("families", "--frontier", lambda a: bool(a.frontier), ",".join(POLICIES)),
)


def _context_flags(args: argparse.Namespace) -> None:
    """Refuse a flag given outside its context, then fill in the defaults of those not given.

    Raises:
        ConfigError: ``--model historical`` without its ``--csv``; or, each of which would be
            ignored without a word, ``--csv`` without ``--model historical``, ``--paths``,
            ``--seed`` or ``--drift`` with it, a ``--jump-*`` flag without ``--model merton``,
            ``--ewma-lambda`` without ``--forecast ewma`` or ``--families`` without
            ``--frontier``.
    """
    if args.model == "historical" and args.csv is None:  # refused as what was typed
        raise ConfigError("--model historical needs --csv FILE (columns timestamp,price)")
    for name, context, applies, default in _CONTEXT_FLAGS:
        if getattr(args, name) is None:
            setattr(args, name, default)
        elif not applies(args):
            raise ConfigError(f"{_flag(name)} applies only with {context}: add it or drop the flag")


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """Validate the flags into a :class:`Scenario` (``ConfigError`` on bad input)."""
    _context_flags(args)
    specs = args.policy or list(DEFAULT_POLICIES)
    policies: tuple[Policy, ...] = tuple(parse_policy(s) for s in specs)
    for spec, pol in zip(specs, policies, strict=True):
        if isinstance(pol, TimePolicy) and pol.every is not None and pol.interval is not None:
            raise ConfigError(
                f"policy {spec!r}: give every=K or interval=SECONDS, not both (the backtest "
                "would count every's grid steps, the live keeper interval's seconds)"
            )
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    unknown = [f for f in families if f not in POLICIES]
    if unknown:
        raise ConfigError(f"unknown --families {', '.join(unknown)} (known: {', '.join(POLICIES)})")
    if not families:
        raise ConfigError(f"--families names no family (known: {', '.join(POLICIES)})")
    for name in ("spot", "strike", "maturity", "contracts"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"--{name} must be a positive number, got {v}")
    if args.cap is not None and not (math.isfinite(args.cap) and args.cap > 0):
        raise ConfigError(f"--cap must be a positive number, got {args.cap}")
    vault_band = args.vault_band
    if vault_band is not None:
        if not (math.isfinite(vault_band) and vault_band > 0):
            raise ConfigError(
                f"--vault-band must be a positive number of underlying, got {vault_band}"
            )
        _within("--vault-band", vault_band, MIN_VAULT_BAND, MAX_VAULT_BAND, "underlying")
    multiples = _vault_band_multiples(args.vault_bands, args.frontier)
    bounds = _vault_bounds(args, bound=vault_band is not None or bool(multiples))
    if multiples:
        capped = math.isfinite(bounds[0]) or bounds[2] > 0
        anchored = (1.0,) if capped and "bandedge" in families else ()
        _check_swept_bands(args.vault_bands, (*multiples, *anchored), args.contracts)
    for name in ("drift", "rate", "jump_mean"):
        v = getattr(args, name)
        if not math.isfinite(v):
            raise ConfigError(f"--{name.replace('_', '-')} must be a finite number, got {v}")
    for name in ("jump_intensity", "jump_std"):  # NaN fails every comparison: test finite first
        v = getattr(args, name)
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    if args.vol is not None and not (math.isfinite(args.vol) and args.vol >= 0):
        raise ConfigError(f"--vol must be >= 0, got {args.vol}")
    if not 0.0 < args.ewma_lambda < 1.0:
        raise ConfigError("--ewma-lambda must be in (0, 1)")
    if args.max_memory is not None and not (math.isfinite(args.max_memory) and args.max_memory > 0):
        raise ConfigError(f"--max-memory must be a positive number of GiB, got {args.max_memory}")
    if args.max_memory is not None:
        max_memory: int | None = int(args.max_memory * 2**30)
        source = f"--max-memory {args.max_memory:g}"
    else:
        max_memory = default_limit()
        source = "half the available memory; --max-memory GIB to change it"
    vol = args.vol if (args.vol is not None or args.model == "historical") else 0.6
    return Scenario(
        spot=args.spot,
        strike=args.strike,
        rate=args.rate,
        vol=vol,
        drift=args.drift,
        maturity=args.maturity,
        call=args.option == "call",
        short=args.side == "short",
        contracts=args.contracts,
        steps=args.steps,
        paths=args.paths,
        seed=args.seed,
        policies=policies,
        discounted=args.accounting == "discounted",
        costs=_costs(args),
        cap=math.inf if args.cap is None else args.cap,
        model=args.model,
        csv=args.csv,
        jump_intensity=args.jump_intensity if args.model == "merton" else 0.0,
        jump_mean=args.jump_mean,
        jump_std=args.jump_std,
        forecast=args.forecast,
        ewma_lambda=args.ewma_lambda,
        frontier=args.frontier,
        families=families,
        max_memory=max_memory,
        max_memory_source=source,
        vault_band=vault_band,
        vault_band_multiples=multiples,
        vault_max_trade=bounds[0],
        vault_max_interval_s=bounds[1],
        vault_min_interval_s=bounds[2],
    )


def _vault_band_multiples(text: str | None, frontier: bool) -> tuple[float, ...]:
    """``--vault-bands``: positive multiples, and only with ``--frontier``."""
    if text is None:
        return ()
    if not frontier:
        raise ConfigError("--vault-bands applies only with --frontier: add it or drop the flag")
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--vault-bands must be a comma list of numbers, got {text!r}") from None
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise ConfigError(f"--vault-bands must be positive numbers, got {text!r}")
    return values


def _within(flag: str, value: float, lo: float, hi: float, unit: str) -> None:
    """Refuse a vault threshold outside ``RebalanceRules``' hard bounds ``[lo, hi]``."""
    if not lo <= value <= hi:
        f = ".10g" if unit == "seconds" else "g"  # 2592000 seconds, not 2.592e+06
        raise ConfigError(
            f"{flag} must be between {lo:{f}} and {hi:{f}} {unit} (the contract's bounds), "
            f"got {value:g}"
        )


def _check_swept_bands(text: str, multiples: tuple[float, ...], contracts: float) -> None:
    """Refuse ``--vault-bands`` whose vaults (``m·w·N``) the contract would not accept."""
    for m, w, word in ((min(multiples), WIDTHS[0], "from"), (max(multiples), WIDTHS[-1], "up to")):
        band = m * w * contracts
        if not MIN_VAULT_BAND <= band <= MAX_VAULT_BAND:
            raise ConfigError(
                f"--vault-bands {text} puts a vault band at {band:.6g} underlying (its multiple "
                f"of a swept threshold, {word} {w:g} x --contracts {contracts:g}), outside the "
                f"contract's {MIN_VAULT_BAND:g} .. {MAX_VAULT_BAND:g}"
            )


def _vault_bounds(args: argparse.Namespace, *, bound: bool) -> tuple[float, float, float]:
    """The vaults' ``maxTrade``, ``maxInterval`` and ``minInterval`` from their flags.

    Each within ``RebalanceRules``' hard bounds (``--vault-min-interval`` may also be 0, no
    floor: the contract's smallest, 1 s, is shorter than any grid step) and the min interval at
    most the max interval; each only with a vault band.
    """
    out = []
    for flag, value, default in (
        ("--vault-max-trade", args.vault_max_trade, math.inf),
        ("--vault-max-interval", args.vault_max_interval, math.inf),
        ("--vault-min-interval", args.vault_min_interval, 0.0),
    ):
        if value is None:
            out.append(default)
            continue
        if not bound:
            raise ConfigError(f"{flag} applies only with --vault-band or --vault-bands")
        if flag == "--vault-min-interval":
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{flag} must be a number of seconds >= 0, got {value}")
            lo, hi = MIN_VAULT_MIN_INTERVAL_S, MAX_VAULT_MIN_INTERVAL_S
            if value != 0 and not lo <= value <= hi:
                raise ConfigError(
                    f"{flag} must be 0 (no floor) or between {lo:g} and {hi:g} seconds (the "
                    f"contract's bounds), got {value:g}"
                )
        elif not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a positive number, got {value}")
        elif flag == "--vault-max-trade":
            _within(flag, value, MIN_VAULT_MAX_TRADE, MAX_VAULT_MAX_TRADE, "underlying")
        else:
            _within(flag, value, MIN_VAULT_MAX_INTERVAL_S, MAX_VAULT_MAX_INTERVAL_S, "seconds")
        out.append(value)
    if out[2] > out[1]:
        raise ConfigError(
            f"--vault-min-interval ({out[2]:g}) must not pass --vault-max-interval ({out[1]:g}), "
            "as the contract requires"
        )
    return out[0], out[1], out[2]


def _ratio(value: float | None) -> str:
    """The cost std over the price to 4 places, or ``-`` for a position worth nothing."""
    return "-" if value is None else f"{value:.4f}"


def _table(out: RunOutput, sc: Scenario) -> str:
    """The stdout report: the policies' table, the frontier's points, the comparison."""
    lines = [
        f"bs_price per contract {out.bs_price:.6g} (vol {out.vol:.4g}); position "
        f"{out.bs_price * sc.contracts:.6g} USD; {out.paths.n_paths} paths x {sc.steps} steps",
    ]
    w = max([6, *(len(r.policy) for r in out.results)])
    if out.results:
        lines.append(
            f"{'policy':{w}} {'cost mean':>12} {'cost std':>11} {'std/price':>9} "
            f"{'error std':>11} {'trading':>10} {'rebal':>7}"
        )
    for r in out.results:
        lines.append(
            f"{r.policy:{w}} {r.hedge_cost_mean:12.6g} {r.hedge_cost_std:11.5g} "
            f"{_ratio(r.ratio_std_to_price):>9} {r.error_std:11.5g} {r.trading_cost_mean:10.5g} "
            f"{r.rebalances_mean:7.1f}"
        )
    if out.frontier is not None:
        lines += ["", *_frontier_table(out.frontier)]
    targets = [("costaware", out.comparison)]
    if out.comparison is not None and "vault_bound" in out.comparison:
        targets.append(("costaware@vault", out.comparison["vault_bound"]))
    for target, comparison in targets:
        if comparison is None or out.frontier is None or target not in out.frontier:
            continue
        lines.append("")
        if sc.costs is None:  # every point costs 0: no frontier has an efficient point
            lines.append(
                f"{target} vs the other families: no comparison at --costs none (every policy "
                "trades for free); add --costs l2"
            )
            continue
        for key, label in (("total", ""), ("excluding_opening_hedge", " (excl. opening hedge)")):
            summary = comparison[key]["summary"]
            for fam in comparison[key].get("against", AGAINST):
                head = f"{target} vs best {fam} at equal error std{label}:"
                if fam not in out.frontier:
                    continue
                s = summary.get(fam)
                if s is None:
                    lines.append(f"{head} no error std that both frontiers reach")
                    continue
                lines.append(
                    f"{head} median cost reduction {s['median_reduction']:.1%} (range "
                    f"{s['min_reduction']:.1%} .. {s['max_reduction']:.1%}, {int(s['n'])} points)"
                )
    return "\n".join(lines)


def _short_spec(spec: str) -> str:
    """``spec`` with each number to 4 significant digits, a whole number in full.

    ``band:width=0.1976``, not the 17 digits of a swept geometric grid's ``0.19759698626092922``;
    ``cap=604800``, not ``6.048e+05``.
    """

    def short(m: re.Match[str]) -> str:
        try:
            x = float(m.group(1))
        except ValueError:
            return m.group(0)
        return f"={int(x)}" if x.is_integer() and abs(x) < 1e15 else f"={x:.4g}"

    return re.sub(r"=([^,]+)", short, spec)


def _frontier_table(front: dict[str, list[FrontierPoint]]) -> list[str]:
    """One row per swept policy, each family by mean trading cost; ``*`` marks efficient points.

    A row's parameters are shown to 4 significant digits; ``--json`` has each exact spec.
    """
    n = sum(len(pts) for pts in front.values())
    names = {p.policy: _short_spec(p.policy) for pts in front.values() for p in pts}
    w = max([6, *map(len, names.values())])
    lines = [
        f"frontier: {n} swept policies, each family by trading cost (* efficient: no point of "
        "its family has lower error and lower cost; parameters to 4 digits, exact in --json)",
        f"  {'policy':{w}} {'error std':>11} {'trading':>10} {'rebal':>7}",
    ]
    for pts in front.values():
        eff = {p.policy for p in efficient(pts)}
        for p in pts:
            mark = "*" if p.policy in eff else " "
            lines.append(
                f"{mark} {names[p.policy]:{w}} {p.error_std:11.5g} {p.trading_cost_mean:10.5g} "
                f"{p.rebalances_mean:7.1f}"
            )
    return lines


def _all_finite(value: Any) -> bool:
    """Whether every float in a JSON document (dicts, lists, numbers) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(v) for v in value)
    return True


def run(args: argparse.Namespace) -> int:
    """Run ``keeper backtest``."""
    # Every refusal of the flags is a usage error (exit code 2): scenario_from_args reads
    # nothing but them.
    plots = importlib.util.find_spec("matplotlib") is not None
    with command_line("keeper backtest"):
        sc = scenario_from_args(args)
        if args.plot is not None and plots:
            check_image_path(args.plot, "--plot")
    if args.plot is not None and not plots:  # the install's failure: exit code 1
        check_image_path(args.plot, "--plot")
    # Create the outputs' directories and check them now, not after a run of minutes (the
    # file system refusing them is a failure at run time: exit code 1).
    for path in (None if args.json_out in (None, "-") else Path(args.json_out), args.plot):
        if path is not None:
            check_writable(path)
    work = sc.paths * sc.steps * max(1, len(sc.policies) + (60 if sc.frontier else 0))
    # A long run shows its progress: a bar on a terminal, a line every 10% in a log.
    # --progress forces the bar, --no-progress silences both.
    show = args.progress if args.progress is not None else work > 2e6
    try:
        with warnings.catch_warnings():
            # numpy's overflow and 0/0 warnings name a source line, not an input: a degenerate
            # run (--vol 0) is still right, and a result that is not finite is refused below.
            warnings.simplefilter("ignore", RuntimeWarning)
            bar = ProgressBar("backtest", live=True if args.progress else None)
            out = run_scenario(sc, bar if show else None)
    except MemoryError as exc:  # past a raised --max-memory, or the estimate fell short
        raise ConfigError(
            f"out of memory for {sc.paths:,} paths x {sc.steps:,} steps ({exc}): use fewer "
            "--paths or --steps"
        ) from exc
    doc = out.to_json(sc)
    if not _all_finite(doc):  # NaN in --json is not JSON, and nan in the table means nothing
        raise ConfigError(
            "the results are not finite numbers (nan or inf): the inputs overflow floating "
            "point; use smaller --drift, --vol, --rate, --maturity, --spot or --contracts"
        )
    if args.json_out == "-":
        print(json.dumps(doc, indent=2))
    else:
        print(_table(out, sc))
        if args.json_out:
            try:
                Path(args.json_out).write_text(json.dumps(doc, indent=2) + "\n")
            except OSError as exc:
                raise ConfigError(f"cannot write {args.json_out}: {exc.strerror}") from exc
    if args.plot is not None:
        from keeper.backtest.plot import plot_frontier

        title = (
            f"{sc.model} {'short' if sc.short else 'long'} {sc.contracts:g} "
            f"{'calls' if sc.call else 'puts'} S={sc.spot:g} K={sc.strike:g} vol={out.vol:.3g} "
            f"T={sc.maturity:.4g}y, {sc.steps} steps, costs={'l2' if sc.costs else 'none'}"
        )
        try:
            plot_frontier(args.plot, out.frontier, out.results, title)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.plot}: {exc.strerror}") from exc
    return 0
