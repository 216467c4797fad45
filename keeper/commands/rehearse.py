"""``keeper rehearse --fork-url URL``: run the keeper for real on an anvil fork, and report.

See :mod:`keeper.app.rehearse`. The table says what the keeper would have done on the forked chain
(the vaults planned and rebalanced, each vault's keeper role, where the transaction went, the
series settled and the queues filled, in ``keeper check``'s words) and
what it cost on the fork (gas, L2 fee, L1 data fee, summed over every transaction the cycle
mined there).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from keeper.app.defaults import DEFAULT_KEEPER_INDEX
from keeper.arguments import (
    check_policy_flag,
    command_line,
    file_path,
    int_between,
    one_rpc_url,
)
from keeper.chain.anvil import ANVIL_KEYS
from keeper.commands.check import queue_fills_line, settlement_lines
from keeper.errors import ExecutionError, KeeperError, OracleError
from keeper.json_units import (
    DECISION_UNITS,
    GAS,
    WAD_UNDERLYING,
    WEI,
    float_unit,
    units_object,
)
from keeper.ops.logs import setup_logging, verbosity
from keeper.settings import (
    POLICY_FLAG_HELP,
    SHARED_FLAGS,
    checksum,
    env_file_arg,
    load_settings,
    secret_values,
    url_secrets,
)
from keeper.units import DELTA_COLUMNS_UNIT, WAD

if TYPE_CHECKING:
    from keeper.app.rehearse import RehearsalReport, VaultRole


def register(subparsers: Any) -> None:
    """Add the ``rehearse`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "rehearse",
        help="run one real keeper cycle on an anvil fork of any RPC and report it",
        description=(
            "Start anvil forked from --fork-url, register an anvil dev account as a keeper on "
            "the fork's batcher (impersonating the batcher's admin) and grant it each vault's "
            "keeper role (impersonating the vault's admin), so a lone vault is sent to the vault "
            "itself as in production; run one keeper cycle -- the same code as `keeper run` -- "
            "signing with that account, and print what it would have done on the live chain and "
            "what it cost (gas, L2 fee, L1 data fee). The transaction is sent to the local fork "
            "only, never to the live chain; the fork is stopped afterwards. A vault the policy "
            "wants but whose own checks refuse it shows BLOCKED and the vault's reason; the "
            "expired series settled and the redemption queues filled on the fork are listed, "
            "as keeper check lists them. As keeper check, a read that "
            "fails (a queue's, a rebalanceBlocker()) exits 1 with one error line. Exits 1, "
            "after printing, when every vault was skipped, at least one by a fault (as keeper "
            "check does), or "
            "when a vault it sent failed on the fork (its transaction reverted, or the batcher "
            "dropped it)."
        ),
    )
    p.add_argument(
        "--fork-url", required=True, type=one_rpc_url, metavar="URL", help="the RPC to fork"
    )
    p.add_argument(
        "--block", type=int_between(0), metavar="N", help="fork at block N (default: latest)"
    )
    p.add_argument(
        "--addresses",
        type=file_path,
        metavar="JSON",
        help="addresses file (lens, batcher, vaults, factory, chain_id; default: "
        "KEEPER_ADDRESSES_FILE, else KEEPER_LENS, KEEPER_BATCHER, KEEPER_VAULTS ...)",
    )
    p.add_argument("--policy", metavar="SPEC", help=POLICY_FLAG_HELP)
    p.add_argument(
        "--admin",
        metavar="ADDR",
        help="batcher admin to impersonate, also each vault's if it is theirs (default: logs)",
    )
    p.add_argument(
        "--vault-admin",
        metavar="ADDR",
        help=(
            "vaults' admin to impersonate for their keeper role, where it holds their admin role "
            "(default: the batcher admin if it does, else each vault's RoleGranted logs; give it "
            "when one block's logs alone are over the RPC's log limit)"
        ),
    )
    p.add_argument(
        "--keeper-index",
        type=int_between(0, len(ANVIL_KEYS) - 1),
        default=DEFAULT_KEEPER_INDEX,
        metavar="I",
        help=f"anvil dev account that signs (0-9, default {DEFAULT_KEEPER_INDEX})",
    )
    p.add_argument(
        "--env-file",
        type=file_path,
        default=None,
        metavar="PATH",
        help="dotenv (default .env if present)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (exact integers; its 'units' names each one's scale)",
    )
    p.set_defaults(func=rehearse_command)


def rehearse_command(args: argparse.Namespace) -> int:
    """Run ``keeper rehearse``."""
    from keeper.app.rehearse import rehearse

    # What was typed first, as usage errors (exit code 2): the addresses and the policy spec.
    with command_line("keeper rehearse"):
        admin = checksum(args.admin, "--admin") if args.admin else None
        vault_admin = checksum(args.vault_admin, "--vault-admin") if args.vault_admin else None
        check_policy_flag(args.policy)
    settings = load_settings(
        env_file=env_file_arg(args.env_file),
        addresses=args.addresses,
        flags=SHARED_FLAGS,
        policy=args.policy,
    )
    setup_logging(
        json_lines=True,
        level=verbosity(args.verbose),
        secrets=[*secret_values(settings), *url_secrets(args.fork_url)],
    )
    report = rehearse(
        settings,
        args.fork_url,
        block=args.block,
        admin=admin,
        vault_admin=vault_admin,
        keeper_index=args.keeper_index,
    )
    error: KeeperError | None = None
    failed = [o for o in report.outcomes if not o.ok]
    if report.nothing_evaluated is not None:  # as `keeper check`: the cycle judged nothing
        error = OracleError(report.nothing_evaluated)
    elif failed:
        # Nothing moves on the fork between the simulation and the mining: a vault that fails
        # there would fail live too, and the rehearsal says so by its exit code.
        first = failed[0]
        more = f" (and {len(failed) - 1} more; see the report)" if len(failed) > 1 else ""
        error = ExecutionError(
            f"{len(failed)} of {len(report.outcomes)} vaults sent failed on the fork: "
            f"{first.vault}: {first.reason}{more}"
        )
    if args.json:
        body = json_report(report, settings.policy)
        if error is not None:
            body["error"] = str(error)  # the one JSON object on stdout says it too
        print(json.dumps(body, indent=2))
    else:
        print(format_report(report, policy=settings.policy))
    if error is not None:
        error.json_reported = bool(args.json)
        raise error
    return 0


#: ``--json``'s ``units``: the scale of each number, by its path, in ``keeper check --json``'s
#: form (:mod:`keeper.json_units`). An outcome's deltas are its vault's ``Rebalanced``
#: event's (``null`` when it failed). The gas and fees are summed over every transaction the
#: cycle mined on the fork (``fork_txs``: its hedge, settlements and queue fills). Counts and
#: identifiers (``fork_block``, ``chain_id``, ``vaults``, ``fork_txs``, a decision's ``pool`` and
#: ``venue``) have none.
JSON_UNITS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        **DECISION_UNITS,
        "outcomes[].delta_before": WAD_UNDERLYING,
        "outcomes[].delta_after": WAD_UNDERLYING,
        "gas_used": GAS,
        "l2_fee_wei": WEI,
        "l1_fee_wei": WEI,
        "total_fee_wei": WEI,
        "seconds": float_unit("s"),
    }
)


def json_report(report: RehearsalReport, policy: str) -> dict[str, Any]:
    """The rehearsal as ``--json`` prints it: the policy, the report's own keys, and ``units``.

    The raw keys stay as they were, exact integers; ``units`` names each one's scale
    (:data:`JSON_UNITS`).
    """
    return {"policy": policy, **report.to_dict(), "units": units_object(JSON_UNITS)}


def _eth(wei: int) -> str:
    return f"{wei / 1e18:.9f} ETH"  # display only: the JSON carries exact wei


def _role_line(role: VaultRole) -> str:
    if not role.held:
        return f"vault {role.vault}: keeper role NOT held ({role.note})"
    if role.admin is None:
        return f"vault {role.vault}: keeper role already held (a lone vault goes to it directly)"
    return (
        f"vault {role.vault}: keeper role granted by impersonating {role.admin} "
        "(a lone vault goes to it directly)"
    )


def format_report(r: RehearsalReport, *, policy: str | None = None) -> str:
    """Render a rehearsal as a table (``policy``: the one it ran, named in its first line)."""
    ran = f", policy {policy}" if policy else ""
    lines = [
        f"rehearsal on a fork of {r.fork_url} at block {r.fork_block} (chain {r.chain_id}), "
        f"{r.seconds:.1f}s{ran}",
        f"keeper {r.keeper} (anvil account) registered on batcher {r.batcher} "
        f"by impersonating {r.admin}"
        if r.keeper_granted
        else f"keeper {r.keeper} (anvil account) already registered on batcher {r.batcher}",
        *(_role_line(role) for role in r.vault_roles),
        "",
    ]
    outcome = {o.vault: o for o in r.outcomes}
    header = ("vault", "deviation", "band", "trade", "decision", "on the fork")
    rows = [header]
    for d in r.decisions:
        v = d["vault"]
        o = outcome.get(v)
        if o is not None:
            done = "rebalanced" if o.ok else f"failed {o.reason}"
        elif v in r.dropped:
            why = r.dropped[v]
            done = why if why.startswith("deferred:") else f"dropped: {why}"
        elif v in r.blocked:
            done = f"blocked by the vault: {r.blocked[v]}"
        else:
            done = d["reason"] or "-"
        rows.append(
            (
                v,
                f"{d['deviation'] / WAD:+.4f}",
                f"{d['band'] / WAD:.4f}",
                f"{d['trade'] / WAD:+.4f}",
                "ACT" if d["act"] else ("BLOCKED" if v in r.blocked else "skip"),
                done,
            )
        )
    for v, reason in r.skipped.items():
        rows.append((v, "", "", "", "skipped", reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append(DELTA_COLUMNS_UNIT)
    if r.tx_hash is None and r.nothing_evaluated is not None:
        on_fork = f"on the fork: no vault could be judged: {r.nothing_evaluated}; nothing was sent"
    elif r.tx_hash is None and r.blocked:
        n = len(r.blocked)
        on_fork = (
            f"on the fork: no batch was sent: {n} vault{'s' * (n > 1)} the policy wants "
            f"refuse{'s' * (n == 1)} a rebalance now (see the table)"
        )
    elif r.tx_hash is None:
        on_fork = "on the fork: no rebalance was needed, so no batch was sent"
    else:
        to = f"vault {r.tx_to} (direct)" if r.direct else f"batcher {r.batcher}"
        on_fork = (
            f"on the fork: {len(r.rebalanced)} of them rebalanced in tx {r.tx_hash} "
            f"({r.tx_status or '-'}), sent by {r.keeper} to {to} on the local fork"
        )
    lines += [
        "",
        f"the keeper would rebalance {len(r.planned)} of {r.vaults} vaults on the live chain",
        on_fork,
        # in keeper check's words, as its table lists them (settled, not "would settle")
        *settlement_lines(r.settlements, "settlements on the fork"),
        queue_fills_line(r.queue_fills, "queue fills on the fork", done="filled"),
        # every transaction the cycle mined there: its hedge, settlements and queue fills
        f"cost on the fork ({len(r.fork_txs)} transaction{'s' * (len(r.fork_txs) != 1)} the "
        f"cycle mined there): gas {r.gas_used}, L2 fee {_eth(r.l2_fee_wei)}, "
        f"L1 fee {_eth(r.l1_fee_wei)}, total {_eth(r.total_fee_wei)}",
        f"the live chain ({r.fork_url}) is untouched: nothing was sent to it, and the fork is "
        "stopped",
    ]
    return "\n".join(lines)
