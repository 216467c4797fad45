"""``keeper vault ACTION``: parse a depositor's command and print the result.

Each action (info, deposit, withdraw, redeem, request-redeem, claim, fill) has its own
sub-parser: only its own flags, with units, defaults and an example in its ``--help``.

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
import re
import textwrap
from decimal import Decimal, Inexact, localcontext
from typing import TYPE_CHECKING, Any

from keeper.arguments import command_line, file_path, rpc_url
from keeper.errors import ConfigError
from keeper.ops.logs import setup_logging, verbosity
from keeper.settings import SHARED_FLAGS, checksum, env_file_arg, load_settings, secret_values
from keeper.units import UINT256_MAX, format_units

if TYPE_CHECKING:
    from keeper.app.depositor import ActionReport

__all__ = ["check_amount", "format_units", "parse_amount", "register", "vault_command"]


#: What an amount may be written as: digits, with an optional '.' fraction ("12.", ".5").
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
#: Exponent notation, which ``Decimal`` would read: refused with its own message.
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")


def check_amount(text: str, what: str = "--amount") -> Decimal:
    """The rules of :func:`parse_amount` that need no token decimals; the amount as a Decimal.

    Run before the RPC is asked anything, so a typo is named even with the node down.

    Raises:
        ConfigError: Not a number, not in ASCII digits, in exponent notation, or not positive.
    """
    cleaned = text.strip().replace("_", "")
    if not cleaned.isascii():
        raise ConfigError(f"{what} {text!r}: write it with the digits 0-9 (and '.' for decimals)")
    if _EXPONENT.fullmatch(cleaned):
        raise ConfigError(
            f"{what} {text!r} is in exponent notation: write the amount out in full (1000, not 1e3)"
        )
    unsigned = cleaned[1:] if cleaned.startswith("-") else cleaned
    if not _DECIMAL.fullmatch(unsigned):
        hint = " (no thousands separators: 1500.25, not 1,500.25)" if "," in cleaned else ""
        raise ConfigError(f"{what} {text!r} is not a number{hint}")
    value = Decimal(cleaned)  # the grammar above is a subset of Decimal's: it cannot fail
    if value <= 0:
        raise ConfigError(f"{what} must be a positive number, got {text!r}")
    return value


def parse_amount(text: str, decimals: int, what: str = "--amount") -> int:
    """Convert a human amount ("1500.25") to integer token units, exactly.

    The conversion is ``Decimal(text) * 10**decimals`` at 100 digits of precision with the
    ``Inexact`` trap set, so nothing is ever rounded: an amount with more fractional digits than
    the token's ``decimals`` is refused.

    The grammar is the web page's (``parseAmount`` in web/src/format.js): ASCII digits with an
    optional ``.`` fraction, ``_`` ignored. ``Decimal`` reads more: every script's digits
    (``"١٠٠"`` is 100), which the terminal may not show as such, and exponent notation, where a
    typo moves the amount by powers of ten (``1e6`` for ``1.6``). Both are refused.

    Raises:
        ConfigError: Not a number, not in ASCII digits, in exponent notation, not positive, too
            precise, or above ``2**256 - 1``.
    """
    value = check_amount(text, what)
    with localcontext() as ctx:
        ctx.prec = 100
        ctx.traps[Inexact] = True
        try:
            scaled = value.scaleb(decimals)
        except Inexact:
            # Beyond the exponent range (or the 100 digits): a huge amount, or a tiny one.
            if value < 1:
                raise ConfigError(
                    f"{what} {text!r} has more than {decimals} decimals (the token's precision)"
                ) from None
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

_AMOUNT_HELP = (
    "asset units, in human decimals (USDC: 1500.25 = 1,500.25 USDC); at most the asset's "
    "decimals, never rounded"
)
_SHARES_HELP = (
    "share units, in human decimals (the vault's decimals(): the asset's plus 6, so 12 for "
    "USDC; `keeper vault info` shows your shares); at most that many decimals, never rounded"
)

#: Each action: its one-line help, its description and its example (after ``--vault 0xVAULT``).
_ACTIONS: dict[str, tuple[str, str, str]] = {
    "info": (
        "show the vault and a position (no signer needed, nothing sent)",
        "Read the vault (totalAssets, totalSupply, share price, free and locked quote, hedge "
        "inventory, net delta, on-chain thresholds, paused) and one holder's position: shares "
        "and their value, maxWithdraw, maxRedeem, asset balance and the redemption queue.",
        "--owner 0xHOLDER",
    ),
    "deposit": (
        "deposit assets for shares (approves exactly the amount first)",
        "Deposit --amount of the vault's asset: approve(vault, amount) when the allowance is "
        "short (exactly the amount, never unlimited), then deposit(amount, you). Refused with "
        "nothing sent above your asset balance or maxDeposit (deposits close while the vault is "
        "paused, its oracle is unhealthy or an expired series waits for settlement), or while "
        "your account has a transaction pending. A deposit an earlier run stopped waiting for "
        "(a receipt timeout) is looked up first: mined, it is said and nothing is sent.",
        "--amount 1500.25",
    ),
    "withdraw": (
        "withdraw assets now, burning shares (free liquidity only)",
        "Withdraw --amount of the asset at once: withdraw(amount, you, you). Instant exits take "
        "only the vault's free quote (the collateral of open options stays locked): above "
        "maxWithdraw it is refused with nothing sent; request-redeem queues an exit instead.",
        "--amount 500",
    ),
    "redeem": (
        "redeem shares now for assets (free liquidity only)",
        "Redeem --shares at once: redeem(shares, you, you). Above maxRedeem (the free quote's "
        "worth of shares) it is refused with nothing sent; request-redeem queues an exit instead.",
        "--shares 1000.5",
    ),
    "request-redeem": (
        "queue shares in the ERC-7540 redemption queue (an exit beyond free liquidity)",
        "Queue --shares in the vault's redemption queue: approve the queue for exactly those "
        "shares when the allowance is short, then requestRedeem(shares, you, you). Their value is "
        "reserved from everyone else's instant exits; fills are pro rata at the NAV of each fill, "
        "and queued shares earn or lose what the vault does until then. A request cannot be "
        "cancelled, so shares the vault can pay at once (maxRedeem covers them all) are refused "
        "with nothing sent: redeem them instead, or pass --queue-anyway to queue them on purpose.",
        "--shares 1000.5",
    ),
    "claim": (
        "collect the assets of filled queue requests",
        "Claim what the redemption queue has filled for you: queue.redeem(shares, you, you).",
        "--shares 1000.5",
    ),
    "fill": (
        "fill the redemption queue from free liquidity (permissionless)",
        "Fill the vault's redemption queue with what its free quote serves now: queue.fill(). "
        "Anyone may call it; the keeper does after each settlement. The fill also discards "
        "shares sent to the queue without a request, which the vault reserves until then.",
        "",
    ),
}


def register(subparsers: Any) -> None:
    """Add the ``vault`` subcommand and one sub-parser per depositor action."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "vault",
        help="depositor actions: info, deposit, withdraw, redeem, request-redeem, claim, fill",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "A depositor's calls on one vault, signed with KEEPER_PRIVATE_KEY or "
            "KEEPER_KEYSTORE_PATH (never printed). Instant ERC-4626 exits (withdraw, redeem) "
            "take free liquidity; when collateral is locked, request-redeem queues shares in the "
            "vault's ERC-7540 redemption queue, which is filled pro rata as collateral frees up "
            "(fill: anyone may trigger it), and claim collects the filled part. Amounts are human "
            "units, converted exactly (more decimals than the token has are refused). Deposits "
            "and requests approve exactly the amount. Limits (balance, maxWithdraw, maxRedeem, "
            "claimable) are checked before anything is sent. See docs/vault-cli.md for the cast "
            "equivalents.",
            width=_WIDTH,
        ),
        epilog="each action's arguments, units and an example: keeper vault ACTION --help",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, (summary, description, example) in _ACTIONS.items():
        a: argparse.ArgumentParser = actions.add_parser(
            action,
            help=summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description=textwrap.fill(description, width=_WIDTH),
            epilog=_epilog(action, example),
        )
        a.add_argument("--vault", required=True, metavar="ADDR", help="the vault address")
        if action in ("deposit", "withdraw"):
            a.add_argument("--amount", required=True, metavar="X", help=_AMOUNT_HELP)
        elif action in ("redeem", "request-redeem"):
            a.add_argument(
                "--shares",
                required=True,
                metavar="X",
                help=f"{_SHARES_HELP}; or `all`: every share you hold, read when sending",
            )
            if action == "request-redeem":
                a.add_argument(
                    "--queue-anyway",
                    action="store_true",
                    help="queue them even when the vault can pay them now (maxRedeem covers "
                    "them): a request waits for a fill and cannot be cancelled",
                )
        elif action == "claim":
            a.add_argument(
                "--shares",
                metavar="X",
                help=f"{_SHARES_HELP}; or `all` (default: all that is claimable)",
            )
        elif action == "info":
            a.add_argument(
                "--owner",
                metavar="ADDR",
                help="whose position to show (default: the signer; none without a signer)",
            )
        a.add_argument(
            "--rpc-url", type=rpc_url, metavar="URL", help="JSON-RPC URL (default: KEEPER_RPC_URL)"
        )
        a.add_argument(
            "--env-file",
            type=file_path,
            default=None,
            metavar="PATH",
            help="dotenv file of KEEPER_* settings (default: .env if present)",
        )
        a.add_argument(
            "--json",
            action="store_true",
            help=(
                "print JSON: integers in token units, with asset_decimals and share_decimals "
                "to scale them (default: a table)"
                if action == "info"
                else "print JSON: integers in token units, plus *_human strings (default: a table)"
            ),
        )
        a.set_defaults(func=vault_command)


_WIDTH = 78


def _epilog(action: str, example: str) -> str:
    """The example block of one action's ``--help``."""
    signer = "" if action == "info" else "KEEPER_PRIVATE_KEY=0x… "
    line = f"keeper vault {action} --vault 0xVAULT {example}".rstrip()
    return (
        f"example:\n  {signer}{line} --rpc-url $RPC\n\n"
        + (
            ""
            if action == "info"
            else "signer: KEEPER_PRIVATE_KEY, or KEEPER_KEYSTORE_PATH + "
            "KEEPER_KEYSTORE_PASSWORD (never printed)\n"
        )
    ).rstrip()


def vault_command(args: argparse.Namespace) -> int:
    """Run one ``keeper vault`` action."""
    from keeper.app.depositor import open_vault

    # Each action's parser takes only its own flags (--amount, --shares, --owner), required
    # where the action needs them, so argparse has refused a missing or foreign one already.
    # What was typed is checked first, before the settings and the node: a usage error (exit
    # code 2), as argparse's own.
    prog = f"keeper vault {args.action}"
    amount = getattr(args, "amount", None)
    shares_text = getattr(args, "shares", None)
    shares_all = _is_all(shares_text)
    with command_line(prog):
        vault = checksum(args.vault, "--vault")
        # `--owner ""` (an unset shell variable) is refused by the checksum, never read as "none".
        owner_text = getattr(args, "owner", None)
        owner = checksum(owner_text, "--owner") if owner_text is not None else None
        # And the amount's syntax (its precision needs the token's decimals, read below).
        if amount is not None:
            check_amount(amount)
        if shares_text is not None and not shares_all:
            check_amount(shares_text, "--shares")
    # Then the settings (a bad one is not what was typed: exit code 1); key problems are
    # reported before any network access.
    settings = load_settings(
        env_file=env_file_arg(args.env_file), flags=SHARED_FLAGS, rpc_url=args.rpc_url
    )
    setup_logging(
        json_lines=False,
        level=verbosity(args.verbose),
        secrets=secret_values(settings),
    )
    signer = settings.signer()
    if args.action != "info" and signer is None:
        raise ConfigError(
            f"vault {args.action} needs a signer: set KEEPER_PRIVATE_KEY or KEEPER_KEYSTORE_PATH"
        )
    client = open_vault(settings, vault)

    if args.action == "info":
        if owner is None and signer is not None:
            owner = signer.address
        info = client.info(owner)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
        return 0

    assert signer is not None
    # More decimals than the token has is what was typed too, found once its decimals are read.
    # None: all of them (claimable for claim, held for redeem and request-redeem), read by the
    # action under its signer lock.
    units: int | None = None
    with command_line(prog):
        if amount is not None:
            units = parse_amount(amount, client.asset_decimals)
        elif shares_text is not None and not shares_all:
            units = parse_amount(shares_text, client.share_decimals, "--shares")
    if args.action == "deposit":
        assert units is not None
        report = client.deposit(signer, units)
    elif args.action == "withdraw":
        assert units is not None
        report = client.withdraw(signer, units)
    elif args.action == "fill":
        report = client.fill(signer)
    elif args.action == "request-redeem":
        report = client.request_redeem(signer, units, queue_anyway=args.queue_anyway)
    else:
        act = {
            "claim": client.claim,
            "redeem": client.redeem,
        }[args.action]
        report = act(signer, units)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def _is_all(text: str | None) -> bool:
    """Whether a ``--shares`` value is the word ``all`` (any case, spaces around it)."""
    return text is not None and text.strip().lower() == "all"


_PAUSED = "yes (no deposits, writing or rebalancing; a pause alone does not close exits)"
_QUEUE_OPEN = " (the redemption queue still takes requests)"


def _gate(is_open: bool, because: str | None) -> str:
    return "open" if is_open else f"closed: {because}"


def format_info(info: dict[str, Any]) -> str:
    """Render ``VaultClient.info`` for people."""
    ad, sd, sym = info["asset_decimals"], info["share_decimals"], info["asset_symbol"]

    def a(key: str) -> str:
        return f"{format_units(info[key], ad)} {sym}"

    t = info["thresholds"]
    und = info["underlying_symbol"]
    lines = [
        f"vault        {info['vault']}  {info['name']} ({info['symbol']})",
        f"asset        {info['asset']}  {sym}, {ad} decimals (shares: {sd})",
        f"totalAssets  {a('total_assets')}",
        f"totalSupply  {format_units(info['total_supply'], sd)} shares",
        f"share price  {a('share_price')} per share",
        f"free quote   {a('free_quote')}",
        f"locked       {a('locked_collateral')} (collateral of open options)",
        f"inventory    {format_units(info['hedge_inventory'], 18)} {und}; "
        f"net delta {format_units(info['net_delta'], 18)} {und}",
        f"thresholds   target {format_units(t['target_delta'], 18)} {und}, "
        f"band {format_units(t['band'], 18)} {und}, "
        f"interval {t['min_interval']}..{t['max_interval']} s, "
        f"max trade {format_units(t['max_trade'], 18)} {und}, "
        f"slippage {t['max_slippage_bps']} bps, "
        f"oracle gap {t['max_oracle_gap_bps']} bps",
        f"paused       {_PAUSED if info['paused'] else 'no'}",
        f"deposits     {_gate(info['deposits_open'], info['deposits_closed_because'])}",
        f"exits        {_gate(info['exits_open'], info['exits_closed_because'])}"
        + (_QUEUE_OPEN if not info["exits_open"] and info.get("redemption_queue") else ""),
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
            f"(worth {a('queue_pending_value')} now)",
            f"  reserved   {a('queue_reserved')} from instant exits and new writes "
            "(every share the queue holds, at NAV rounded up)",
            f"  fillable   {format_units(info['queue_fillable'], sd)} shares now",
        ]
        if info.get("queue_unrequested"):
            lines.append(
                f"  unrequested {format_units(info['queue_unrequested'], sd)} shares sent without "
                "a request (reserved until the next fill discards them: `keeper vault fill`)"
            )
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
        if r.shares:
            lines.append(
                f"filled the queue: {d['shares_human']} shares redeemed for "
                f"{d['assets_human']} {r.asset_symbol}, shared pro rata by the requests"
            )
        if r.discarded:
            lines.append(
                f"discarded {format_units(r.discarded, r.share_decimals)} shares the queue held "
                "without a request (sent to its discard address; no longer reserved)"
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
