"""``keeper vault info|deposit|withdraw|redeem``: parse a depositor's command and print the result.

The calls themselves (plain ERC-4626, checked before anything is sent) are
:class:`keeper.app.depositor.VaultClient`'s; see docs/vault-cli.md for the ``cast`` equivalents.

**Amounts.** ``--amount`` (asset) and ``--shares`` are human units ("1500.25"), converted once,
exactly, with :class:`~decimal.Decimal`: ``X * 10**decimals`` must be a whole number, so an
amount with more decimals than the token has is refused, never rounded.

Each refusal is one line (a :class:`~keeper.errors.KeeperError`, which the CLI prints). The key
comes from ``KEEPER_PRIVATE_KEY`` or ``KEEPER_KEYSTORE_PATH`` via the keeper's settings; it is
never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
from decimal import Decimal, DecimalException, Inexact, localcontext
from typing import Any

from keeper.app.depositor import ActionReport, VaultClient, format_units
from keeper.chain.connection import connect
from keeper.errors import ConfigError
from keeper.ops.logs import setup_logging
from keeper.settings import SHARED_FLAGS, checksum, env_file_arg, load_settings, secret_values
from keeper.units import UINT256_MAX

__all__ = ["format_units", "parse_amount", "register", "vault_command"]


def parse_amount(text: str, decimals: int, what: str = "--amount") -> int:
    """Convert a human amount ("1500.25") to integer token units, exactly.

    The conversion is ``Decimal(text) * 10**decimals`` at 100 digits of precision with the
    ``Inexact`` trap set, so nothing is ever rounded: an amount with more fractional digits than
    the token's ``decimals`` is refused.

    Raises:
        ConfigError: Not a number, not positive, too precise, or above ``2**256 - 1``.
    """
    cleaned = text.strip().replace("_", "")
    try:
        value = Decimal(cleaned)
    except DecimalException:
        raise ConfigError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{what} must be a positive number, got {text!r}")
    with localcontext() as ctx:
        ctx.prec = 100
        ctx.traps[Inexact] = True
        try:
            scaled = value.scaleb(decimals)
        except Inexact:
            raise ConfigError(f"{what} {text!r} is too large") from None
    if scaled != scaled.to_integral_value():
        raise ConfigError(
            f"{what} {text!r} has more than {decimals} decimals (the token's precision)"
        )
    units = int(scaled)
    if units > UINT256_MAX:
        raise ConfigError(f"{what} {text!r} is too large")
    return units


# ---------------------------------------------------------------------------- CLI


def register(subparsers: Any) -> None:
    """Add the ``vault`` subcommand and its depositor actions."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "vault",
        help="depositor actions: info, deposit, withdraw, redeem, request-redeem, claim, fill",
        description=(
            "A depositor's calls on one vault, signed with KEEPER_PRIVATE_KEY or "
            "KEEPER_KEYSTORE_PATH (never printed). Instant ERC-4626 exits (withdraw, redeem) "
            "take free liquidity; when collateral is locked, request-redeem queues shares in the "
            "vault's ERC-7540 redemption queue, which is filled pro rata as collateral frees up "
            "(fill: anyone may trigger it), and claim collects the filled part. Amounts are human "
            "units, converted exactly (more decimals than the token has are refused). Deposits "
            "and requests approve exactly the amount. Limits (balance, maxWithdraw, maxRedeem, "
            "claimable) are checked before anything is sent. See docs/vault-cli.md for the cast "
            "equivalents."
        ),
    )
    p.add_argument(
        "action",
        choices=("info", "deposit", "withdraw", "redeem", "request-redeem", "claim", "fill"),
    )
    p.add_argument("--vault", required=True, metavar="ADDR", help="the vault address")
    p.add_argument("--amount", metavar="X", help="asset amount (deposit, withdraw), e.g. 1500.5")
    p.add_argument(
        "--shares",
        metavar="X",
        help="share amount (redeem, request-redeem; claim: default all that is claimable)",
    )
    p.add_argument("--owner", metavar="ADDR", help="info: whose position (default: the signer)")
    p.add_argument("--rpc-url", metavar="URL", help="JSON-RPC URL (default KEEPER_RPC_URL)")
    p.add_argument(
        "--env-file", default=None, metavar="PATH", help="dotenv file (default .env if present)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=vault_command)


def vault_command(args: argparse.Namespace) -> int:
    """Run one ``keeper vault`` action."""
    settings = load_settings(
        env_file=env_file_arg(args.env_file), flags=SHARED_FLAGS, rpc_url=args.rpc_url
    )
    setup_logging(
        json_lines=False,
        level=logging.DEBUG if args.verbose > 1 else logging.WARNING,
        secrets=secret_values(settings),
    )
    if args.action in ("deposit", "withdraw") and (args.amount is None or args.shares):
        raise ConfigError(f"vault {args.action} needs --amount (asset units) and no --shares")
    if args.action in ("redeem", "request-redeem") and (args.shares is None or args.amount):
        raise ConfigError(f"vault {args.action} needs --shares (share units) and no --amount")
    if args.action in ("claim", "fill") and args.amount:
        raise ConfigError(f"vault {args.action} takes no --amount")
    if args.action == "fill" and args.shares:
        raise ConfigError("vault fill takes no --shares: it fills what the free quote serves")
    # Key problems are reported before any network access.
    signer = settings.signer()
    if args.action != "info" and signer is None:
        raise ConfigError(
            f"vault {args.action} needs a signer: set KEEPER_PRIVATE_KEY or KEEPER_KEYSTORE_PATH"
        )
    w3 = connect(
        settings.rpc_urls, expected_chain_id=settings.chain_id, timeout_s=settings.rpc_timeout_s
    )
    client = VaultClient(w3, args.vault, settings)

    if args.action == "info":
        owner = checksum(args.owner, "--owner") if args.owner else None
        if owner is None and signer is not None:
            owner = signer.address
        info = client.info(owner)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0

    assert signer is not None
    if args.action == "deposit":
        report = client.deposit(signer, parse_amount(args.amount, client.asset_decimals))
    elif args.action == "withdraw":
        report = client.withdraw(signer, parse_amount(args.amount, client.asset_decimals))
    elif args.action == "fill":
        report = client.fill(signer)
    elif args.action == "claim":
        shares = (
            parse_amount(args.shares, client.share_decimals, "--shares") if args.shares else None
        )
        report = client.claim(signer, shares)
    else:
        shares = parse_amount(args.shares, client.share_decimals, "--shares")
        act = client.redeem if args.action == "redeem" else client.request_redeem
        report = act(signer, shares)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def format_info(info: dict[str, Any]) -> str:
    """Render ``VaultClient.info`` for people."""
    ad, sd, sym = info["asset_decimals"], info["share_decimals"], info["asset_symbol"]

    def a(key: str) -> str:
        return f"{format_units(info[key], ad)} {sym}"

    t = info["thresholds"]
    lines = [
        f"vault        {info['vault']}  {info['name']} ({info['symbol']})",
        f"asset        {info['asset']}  {sym}, {ad} decimals (shares: {sd})",
        f"totalAssets  {a('total_assets')}",
        f"totalSupply  {format_units(info['total_supply'], sd)} shares",
        f"share price  {a('share_price')} per share",
        f"free quote   {a('free_quote')}",
        f"locked       {a('locked_collateral')} (collateral of open options)",
        f"inventory    {format_units(info['hedge_inventory'], 18)} underlying; "
        f"net delta {format_units(info['net_delta'], 18)}",
        f"thresholds   target {format_units(t['target_delta'], 18)}, "
        f"band {format_units(t['band'], 18)}, interval {t['min_interval']}..{t['max_interval']} s, "
        f"max trade {format_units(t['max_trade'], 18)}, slippage {t['max_slippage_bps']} bps, "
        f"oracle gap {t['max_oracle_gap_bps']} bps",
        f"paused       {'yes (no writing or rebalancing)' if info['paused'] else 'no'}",
    ]
    if "owner" in info:
        lines += [
            f"position of  {info['owner']}",
            f"your shares  {format_units(info['shares'], sd)} (worth {a('shares_value')})",
            f"maxWithdraw  {a('max_withdraw')}",
            f"maxRedeem    {format_units(info['max_redeem'], sd)} shares",
            f"your {sym:<7} {a('asset_balance')}",
        ]
    if info.get("redemption_queue"):
        lines += [
            f"queue        {info['redemption_queue']}",
            f"  pending    {format_units(info['queue_pending_total'], sd)} shares "
            f"(worth {a('queue_pending_value')}, reserved from instant exits)",
            f"  fillable   {format_units(info['queue_fillable'], sd)} shares now",
        ]
        if "queue_pending" in info:
            lines += [
                f"  yours      {format_units(info['queue_pending'], sd)} shares pending, "
                f"{format_units(info['queue_claimable_shares'], sd)} claimable "
                f"({a('queue_claimable_assets')})",
            ]
    return "\n".join(lines)


def format_report(r: ActionReport) -> str:
    """Render an action's receipts and resulting position for people."""
    d = r.to_dict()
    lines = []
    for t in r.txs:
        lines.append(
            f"{t.what:<8} tx {t.tx_hash}  block {t.block}  gas {t.gas_used}  "
            f"fee {format_units(t.fee_wei, 18)} ETH"
        )
    if r.action == "request-redeem":
        lines.append(
            f"queued {d['shares_human']} shares (worth {d['assets_human']} {r.asset_symbol} now; "
            "the queue pays the NAV at its fill)"
        )
    elif r.action == "claim":
        lines.append(f"claimed {d['assets_human']} {r.asset_symbol} for {d['shares_human']} shares")
    elif r.action == "fill":
        lines.append(
            f"filled the queue: {d['shares_human']} shares redeemed for about "
            f"{d['assets_human']} {r.asset_symbol}, shared pro rata by the requests"
        )
    else:
        verb = {"deposit": "deposited", "withdraw": "withdrew", "redeem": "redeemed"}[r.action]
        lines.append(
            f"{verb} {d['assets_human']} {r.asset_symbol} "
            f"{'for' if r.action == 'deposit' else 'burning'} {d['shares_human']} shares"
        )
    asset_balance = format_units(r.asset_balance, r.asset_decimals)
    lines.append(
        f"share balance {d['share_balance_human']} (worth {d['share_balance_assets_human']} "
        f"{r.asset_symbol}); {r.asset_symbol} balance {asset_balance}"
    )
    return "\n".join(lines)
