"""``keeper check``: one dry-run cycle, printed as a table (or JSON). Never signs or sends."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from keeper.arguments import check_policy_flag, command_line
from keeper.errors import OracleError
from keeper.json_units import DECISION_UNITS, GAS, WEI, float_unit, units_object
from keeper.ops.logs import setup_logging, verbosity
from keeper.settings import add_settings_args, secret_values, settings_from_args
from keeper.units import DELTA_COLUMNS_UNIT, wad_to_float

if TYPE_CHECKING:
    from keeper.app.cycle import CycleResult
    from keeper.app.settle import Settlement
    from keeper.strategy.types import CostInputs


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="run one dry-run cycle and print the decisions",
        description=(
            "Run one keeper cycle in dry-run mode: read every vault, check the oracles, price, "
            "decide, and (with a batcher, and a signer or KEEPER_SIMULATE_FROM, configured) "
            "simulate the batch -- but never sign or send. Prints one row per vault, or JSON "
            "with --json. A vault the policy wants but whose own checks refuse a rebalance "
            "shows BLOCKED and the reason the vault gives (its rebalanceBlocker(), decoded). "
            "Exits 1, after "
            "printing, when every vault was skipped, at least one by a fault (a stale or "
            "non-positive oracle, a sequencer down, a failed lens read) and the rest paused: "
            "the cycle judged nothing. A read the node fails, a redemption queue's or a "
            "vault's rebalanceBlocker() among them, exits 1 with one error line instead of "
            "the table: there is no next cycle to read it again."
        ),
    )
    # Accepted so that one command line serves `run` and `check`; check never signs, so it
    # opens no journal.
    add_settings_args(
        p, journal_help="not read: check never signs, so it keeps no journal (accepted as run's)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the cycle result as JSON (exact integers; its 'units' names each one's scale)",
    )
    p.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    """Run one dry-run cycle and print it."""
    from keeper.app.cycle import dry_run_cycle

    with command_line("keeper check"):  # the spec typed, refused as such (exit code 2)
        check_policy_flag(args.policy)
    settings = settings_from_args(args)
    setup_logging(
        json_lines=True,
        level=verbosity(args.verbose),
        secrets=secret_values(settings),
    )
    result = dry_run_cycle(settings)
    why = result.nothing_evaluated()
    if args.json:
        body = json_report(result, settings.policy, batcher=settings.batcher)
        if why is not None:
            body["error"] = why  # the one JSON object on stdout says it too (see keeper.cli)
        print(json.dumps(body, indent=2, default=str))
    else:
        pinned = (
            *(("fee",) if settings.pool_fee_bps is not None else ()),
            *(("impact",) if settings.impact_coef is not None else ()),
        )
        print(format_table(result, settings.policy, batcher=settings.batcher, pinned=pinned))
    if why is not None:
        error = OracleError(why)
        error.json_reported = bool(args.json)
        raise error
    return 0


#: ``--json``'s ``units``: the scale of each number, by its path (:mod:`keeper.json_units`
#: says the form). Counts and identifiers (block, timestamp, vaults, pool, venue, RPC requests)
#: have none.
JSON_UNITS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        **DECISION_UNITS,
        "gas_used": GAS,
        "fee_wei": WEI,
        "l1_fee_wei": WEI,
        "costs.gas_fixed": GAS,
        "costs.gas_per_vault": GAS,
        "costs.gas_swap": GAS,
        "costs.gas_direct": GAS,
        "costs.gas_batch_one": GAS,
        "costs.gas_first_buy": GAS,
        "costs.gas_price_wei": MappingProxyType({**WEI, "unit": "ETH per gas"}),
        "costs.l1_fee_fixed_wei": WEI,
        "costs.l1_fee_per_vault_wei": WEI,
        "costs.l1_fee_direct_wei": WEI,
        "costs.eth_usd": float_unit("USD per ETH"),
        "costs.pool_fee_bps": float_unit("bps of the traded notional"),
        "costs.impact_coef": float_unit("price impact per USD traded"),
        "costs.pool_terms": float_unit("[bps of the traded notional, price impact per USD traded]"),
        "forecast_vol": float_unit("annualized volatility, 1 = 100%"),
        "seconds": float_unit("s"),
    }
)


def json_report(result: CycleResult, policy: str, *, batcher: str | None = "") -> dict[str, Any]:
    """The cycle result as ``--json`` prints it: the table's facts, each in its own key.

    Besides the result's own fields: the policy (the table's header), each decision's
    ``trigger`` (``band``, ``time`` inside its band, ``none`` when it does not act: the table's
    ACT (time), and the ``trigger`` of ``keeper run``'s decision line), ``not_simulated``,
    why a planned batch was not simulated (the table's "(not simulated: ...)"), else ``null``,
    and ``units``, the scale of every number (:data:`JSON_UNITS`): the raw keys stay as they
    were, exact integers.
    """
    body: dict[str, Any] = {"policy": policy, **result.to_dict()}
    for d, row in zip(result.decisions, body["decisions"], strict=True):
        row["trigger"] = ("time" if d.on_time_trigger else "band") if d.act else "none"
    body["not_simulated"] = _not_simulated(result, batcher)
    body["units"] = units_object(JSON_UNITS)
    return body


def _not_simulated(result: CycleResult, batcher: str | None) -> str | None:
    """Why the planned batch was not simulated, or ``None`` (nothing planned, or simulated)."""
    if not result.planned or result.simulated or result.dropped:
        return None
    if batcher is None:
        return "no batcher configured: KEEPER_BATCHER or 'batcher' in --addresses"
    return "no signer and no KEEPER_SIMULATE_FROM"


def _impact(coef: float, pinned: bool = False) -> str:
    """The price impact per USD traded, and the pool depth it means (``1 / coef``)."""
    by = ", KEEPER_IMPACT_COEF" if pinned else ""
    if not coef > 0:
        return f"none{' (KEEPER_IMPACT_COEF)' if pinned else ''}"
    return f"{coef:.3g}/USD (a pool ${1 / coef / 1e6:,.1f}M deep{by})"


def _swap(costs: CostInputs, pinned: tuple[str, ...]) -> str:
    """The swap's fee tier and price impact the cycle priced, for the costs line.

    Each vault is priced at its own pool's, as the lens read them (``CostInputs.pool_terms``):
    one pool's, or the range over pools whose figures differ. With none (both pinned by the
    settings, or no pool read) the cycle's one pair.
    """
    # Pool keys on one venue (vaults whose oracle answers differ) share its figures: said once.
    terms = list(dict.fromkeys(costs.pool_terms.values()))
    fee_by = " (KEEPER_POOL_FEE_BPS)" if "fee" in pinned else ""
    if len(terms) <= 1:
        fee, coef = terms[0] if terms else (costs.pool_fee_bps, costs.impact_coef)
        return f"swap fee {fee:g} bps{fee_by}, impact {_impact(coef, 'impact' in pinned)}"
    fees = sorted(t.fee_bps for t in terms)
    coefs = sorted(t.impact_coef for t in terms)
    fee_range = f"{fees[0]:g}" if fees[0] == fees[-1] else f"{fees[0]:g} to {fees[-1]:g}"
    if coefs[0] == coefs[-1] or not coefs[0] > 0:
        impact = _impact(coefs[-1], "impact" in pinned)
    else:
        lo, hi = coefs[0], coefs[-1]
        impact = (
            f"{lo:.3g} to {hi:.3g}/USD (pools ${1 / hi / 1e6:,.1f}M to ${1 / lo / 1e6:,.1f}M deep)"
        )
    return f"each vault at its pool's: swap fee {fee_range} bps{fee_by}, impact {impact}"


def format_table(
    result: CycleResult,
    policy: str,
    *,
    batcher: str | None = "",
    pinned: tuple[str, ...] = (),
) -> str:
    """Render a cycle result as a readable table.

    ``batcher`` is the configured batcher (``None``: none, so no batch could be simulated).
    ``pinned``: which of the swap's ``fee`` and ``impact`` the settings pin (said beside them;
    the others were read from the pool).
    """
    # With every vault skipped nothing was priced, and the cost inputs carry no ETH price.
    eth = f"${result.costs.eth_usd:,.2f}" if result.costs.eth_usd > 0 else "n/a (no vault priced)"
    lines = [
        f"block {result.block} (t={result.timestamp})  policy {policy}  "
        f"{result.vaults} vault{'' if result.vaults == 1 else 's'}  "
        f"{result.rpc_requests} RPC requests  {result.seconds:.3f}s",
        f"costs: gas {result.costs.gas_fixed} + {result.costs.gas_per_vault}/vault at "
        f"{result.costs.gas_price_wei} wei; L1 fee {result.costs.l1_fee_fixed_wei} + "
        f"{result.costs.l1_fee_per_vault_wei}/vault wei; ETH {eth}; "
        f"{_swap(result.costs, pinned)}; "
        f"forecast vol {result.forecast_vol:.1%}",
        "",
    ]
    header = (
        "vault",
        "deviation",
        "band",
        "dev/band",
        "trade",
        "benefit$",
        "cost$",
        "decision",
        "blocked by (the vault's own checks)",
    )
    rows = [header]
    for d in result.decisions:
        ratio = abs(d.deviation) / d.band if d.band else float("inf")
        rows.append(
            (
                d.vault[:10] + "…",
                f"{wad_to_float(d.deviation):+.4f}",
                f"{wad_to_float(d.band):.4f}",
                f"{ratio:.2f}",
                f"{wad_to_float(d.trade):+.4f}",
                f"{d.benefit_usd:.4g}",
                f"{d.cost_usd:.4g}",
                (
                    ("ACT (time)" if d.on_time_trigger else "ACT")
                    if d.act
                    else ("BLOCKED" if d.vault in result.blocked else "skip")
                ),
                result.blocked.get(d.vault, ""),
            )
        )
    for vault, reason in result.skipped.items():
        rows.append((vault[:10] + "…", "", "", "", "", "", "", f"skipped: {reason}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.append(f"{DELTA_COLUMNS_UNIT}; benefit$, cost$: USD")
    lines.append("")
    lines.append(f"batch: {', '.join(result.planned) if result.planned else '(none)'}")
    if result.simulated:
        lines.append(f"  simulated: {len(result.simulated)} vaults would rebalance")
    if result.dropped:
        for vault, reason in result.dropped.items():
            if reason.startswith("deferred:"):
                lines.append(f"  {vault} waits for a later batch ({reason})")
            else:
                lines.append(f"  simulation drops {vault}: {reason}")
    not_simulated = _not_simulated(result, batcher)
    if not_simulated is not None:
        lines.append(f"  (not simulated: {not_simulated})")
    if result.blocked:
        lines.append(
            f"blocked: {len(result.blocked)} vaults the policy wants to rebalance refuse it "
            "(see 'blocked by'); the keeper cannot act on them until that clears"
        )
    # A series the dry run simulated would settle at its round hint (0: the vault's fallback to
    # the first round after expiry); the queue its settlement frees is filled after it, which a
    # dry run cannot show before the settlement.
    lines.extend(settlement_lines(result.settlements))
    lines.append(queue_fills_line(result.queue_fills, done="would fill"))
    lines.append("dry run: nothing was signed or sent")
    for d in result.decisions:
        why = (
            "; inside its band: the vault's time trigger (maxInterval since its last rebalance) "
            "lets it trade"
            if d.on_time_trigger
            else ""
        )
        lines.append(f"  {d.vault}: {d.reason}{why}")
    return "\n".join(lines)


def settlement_lines(settlements: Sequence[Settlement], head: str = "settlements") -> list[str]:
    """The expired series a cycle found, under a ``head:`` line, each with what became of it.

    ``head: none`` when it found none. ``keeper check`` (``settlements``: what it would do) and
    ``keeper rehearse`` (``settlements on the fork``: what it did there) say them alike: a
    series settled, or simulated, at its round hint (0: the vault's fallback to the first
    round after expiry), else its outcome and why.
    """
    if not settlements:
        return [f"{head}: none"]
    lines = [f"{head}: {len(settlements)} expired series"]
    for s in settlements:
        at = f"round {s.round_id}" if s.round_id else "the fallback round"
        if s.outcome == "simulated":
            what = f"would settle at {at}"
        elif s.outcome == "settled":
            what = f"settled at {at}" + (f" in tx {s.tx_hash}" if s.tx_hash else "")
        else:
            what = f"{s.outcome}: {s.reason}" if s.reason else s.outcome
        lines.append(f"  series {s.series_id} of {s.vault}: {what}")
    return lines


def queue_fills_line(vaults: Sequence[str], head: str = "queue fills", *, done: str) -> str:
    """The redemption queues a cycle filled (``done``: ``filled``) or would fill, or ``none``.

    ``keeper check``'s ``queue fills:`` and ``keeper rehearse``'s ``queue fills on the fork:``.
    """
    if not vaults:
        return f"{head}: none"
    many = len(vaults) > 1
    return f"{head}: {done} the redemption queue{'s' * many} of {', '.join(vaults)}"
