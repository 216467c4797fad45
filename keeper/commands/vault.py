"""``keeper vault info|deposit|withdraw|redeem``: a depositor's plain ERC-4626 calls.

These are the calls any wallet makes (see docs/vault-cli.md for the ``cast`` equivalents):
``approve`` + ``deposit(assets, me)``, ``withdraw(assets, me, me)`` and ``redeem(shares, me, me)``.

**Amounts.** ``--amount`` (asset) and ``--shares`` are human units ("1500.25"), converted once,
exactly, with :class:`~decimal.Decimal`: ``X * 10**decimals`` must be a whole number, so an
amount with more decimals than the token has is refused, never rounded.

**Checks before sending.** Each refusal is one line (a :class:`~keeper.errors.KeeperError`, which
the CLI prints) and nothing is signed: the address is not a vault; a deposit above the signer's
balance or the vault's ``maxDeposit``; a withdrawal above ``maxWithdraw``; a redemption above
``maxRedeem``. Each transaction is then simulated by ``eth_estimateGas`` (a revert is decoded
into the vault's custom error), signed locally, sent, and its receipt awaited.

The key comes from ``KEEPER_PRIVATE_KEY`` or ``KEEPER_KEYSTORE_PATH`` via the keeper's settings;
it is never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, DecimalException, Inexact, localcontext
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from keeper.chain.artifacts import load_abi
from keeper.chain.connection import connect
from keeper.chain.vaults import validate_vaults
from keeper.errors import ConfigError, ExecutionError, TxRevertedError, TxTimeoutError
from keeper.execution.decode import ErrorDecoder, revert_data
from keeper.execution.fees import FeeCaps, initial_fees
from keeper.ops.logs import setup_logging
from keeper.settings import Settings, checksum, load_settings, secret_values
from keeper.units import Wei

logger = logging.getLogger(__name__)

_UINT256_MAX = (1 << 256) - 1

#: The ERC-20 calls a depositor needs on the vault's asset.
ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": [{"name": n, "type": "address"} for n in args],
        "outputs": [{"name": "", "type": out}],
    }
    for name, args, out in (
        ("balanceOf", ("account",), "uint256"),
        ("allowance", ("owner", "spender"), "uint256"),
        ("decimals", (), "uint8"),
        ("symbol", (), "string"),
    )
] + [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]

_THRESHOLD_FIELDS = (
    "target_delta",
    "band",
    "min_interval",
    "max_interval",
    "max_trade",
    "max_slippage_bps",
    "max_oracle_gap_bps",
    "oracle_heartbeat",
    "sequencer_grace_period",
)


# ---------------------------------------------------------------------------- units


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
    if units > _UINT256_MAX:
        raise ConfigError(f"{what} {text!r} is too large")
    return units


def format_units(amount: int, decimals: int) -> str:
    """Render integer token units as an exact decimal string (no float, no rounding)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    digits = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TxReport:
    """One mined transaction."""

    what: str
    tx_hash: str
    block: int
    gas_used: int
    effective_gas_price: int
    fee_wei: int


@dataclass
class ActionReport:
    """What a deposit, withdrawal or redemption did."""

    action: str
    vault: str
    owner: str
    asset: str
    asset_symbol: str
    asset_decimals: int
    share_decimals: int
    assets: int
    shares: int
    share_balance: int
    share_balance_assets: int
    asset_balance: int
    txs: list[TxReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: integers in token units plus ``*_human`` strings."""
        d = asdict(self)
        d["assets_human"] = format_units(self.assets, self.asset_decimals)
        d["shares_human"] = format_units(self.shares, self.share_decimals)
        d["share_balance_human"] = format_units(self.share_balance, self.share_decimals)
        d["share_balance_assets_human"] = format_units(
            self.share_balance_assets, self.asset_decimals
        )
        d["gas_used_total"] = sum(t.gas_used for t in self.txs)
        d["fee_wei_total"] = sum(t.fee_wei for t in self.txs)
        return d


# ---------------------------------------------------------------------------- the client


class VaultClient:
    """One vault and its asset, bound over an open connection.

    Raises:
        ConfigError: The address holds no vault (checked on construction).
    """

    def __init__(self, w3: Web3, address: str, settings: Settings) -> None:
        self.w3 = w3
        self.settings = settings
        checked = checksum(address, "--vault")
        (self.address,) = validate_vaults(w3, [checked], attempts=settings.rpc_retries)
        self.vault: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(self.address), abi=list(load_abi("OptionVault"))
        )
        asset = Web3.to_checksum_address(self.vault.functions.asset().call())
        self.asset: Contract = w3.eth.contract(address=asset, abi=ERC20_ABI)
        self.asset_decimals = int(self.asset.functions.decimals().call())
        self.share_decimals = int(self.vault.functions.decimals().call())
        try:
            self.asset_symbol = str(self.asset.functions.symbol().call())
        except (ContractLogicError, Web3Exception, ValueError, OverflowError):
            self.asset_symbol = "?"
        self.decoder = ErrorDecoder.from_artifacts(("OptionVault", "IOptionVault"))

    # -- reads ------------------------------------------------------------------------------
    def info(self, owner: str | None) -> dict[str, Any]:
        """Everything a depositor wants to know, as a JSON-ready dict (units and ``*_human``)."""
        f = self.vault.functions
        one_share = 10**self.share_decimals
        t = f.thresholds().call()
        out: dict[str, Any] = {
            "vault": self.address,
            "name": f.name().call(),
            "symbol": f.symbol().call(),
            "asset": self.asset.address,
            "asset_symbol": self.asset_symbol,
            "asset_decimals": self.asset_decimals,
            "share_decimals": self.share_decimals,
            "total_assets": int(f.totalAssets().call()),
            "total_supply": int(f.totalSupply().call()),
            "share_price": int(f.convertToAssets(one_share).call()),
            "free_quote": int(f.freeQuote().call()),
            "locked_collateral": int(f.lockedCollateral().call()),
            "hedge_inventory": int(f.hedgeInventory().call()),
            "net_delta": int(f.netDelta().call()),
            "paused": bool(f.paused().call()),
            "max_deposit": int(f.maxDeposit(self.address).call()),
            "thresholds": dict(zip(_THRESHOLD_FIELDS, (int(x) for x in t), strict=True)),
        }
        if owner is not None:
            out["owner"] = owner
            out["shares"] = int(f.balanceOf(owner).call())
            out["shares_value"] = int(f.convertToAssets(out["shares"]).call())
            out["max_withdraw"] = int(f.maxWithdraw(owner).call())
            out["max_redeem"] = int(f.maxRedeem(owner).call())
            out["asset_balance"] = int(self.asset.functions.balanceOf(owner).call())
        return out

    # -- actions ----------------------------------------------------------------------------
    def deposit(self, signer: LocalAccount, assets: int) -> ActionReport:
        """Approve exactly ``assets`` if needed, then ``deposit(assets, signer)``.

        Raises:
            ExecutionError: Balance or ``maxDeposit`` too small (nothing sent), or a failed tx.
        """
        me = signer.address
        balance = int(self.asset.functions.balanceOf(me).call())
        if balance < assets:
            raise ExecutionError(
                f"deposit refused: {me} holds {self._a(balance)}, "
                f"less than the {self._a(assets)} to deposit (nothing sent)"
            )
        max_deposit = int(self.vault.functions.maxDeposit(me).call())
        if max_deposit < assets:
            raise ExecutionError(
                f"deposit refused: the vault's maxDeposit is {self._a(max_deposit)} "
                "(deposits close while its oracle is unhealthy); nothing sent"
            )
        expected = int(self.vault.functions.previewDeposit(assets).call())
        report = self._report("deposit", me, assets, expected)
        allowance = int(self.asset.functions.allowance(me, self.address).call())
        if allowance < assets:
            call = self.asset.functions.approve(self.address, assets)
            report.txs.append(self._send(signer, call, "approve"))
        shares_before = int(self.vault.functions.balanceOf(me).call())
        report.txs.append(self._send(signer, self.vault.functions.deposit(assets, me), "deposit"))
        return self._finish(report, shares=lambda after: after - shares_before)

    def withdraw(self, signer: LocalAccount, assets: int) -> ActionReport:
        """``withdraw(assets, signer, signer)`` after checking ``maxWithdraw``.

        Raises:
            ExecutionError: Above ``maxWithdraw`` (nothing sent), or a failed tx.
        """
        me = signer.address
        limit = int(self.vault.functions.maxWithdraw(me).call())
        if assets > limit:
            free = int(self.vault.functions.freeQuote().call())
            raise ExecutionError(
                f"withdraw refused: {self._a(assets)} is more than maxWithdraw "
                f"{self._a(limit)} for {me} (vault free quote {self._a(free)}); nothing sent"
            )
        expected = int(self.vault.functions.previewWithdraw(assets).call())
        report = self._report("withdraw", me, assets, expected)
        shares_before = int(self.vault.functions.balanceOf(me).call())
        call = self.vault.functions.withdraw(assets, me, me)
        report.txs.append(self._send(signer, call, "withdraw"))
        return self._finish(report, shares=lambda after: shares_before - after)

    def redeem(self, signer: LocalAccount, shares: int) -> ActionReport:
        """``redeem(shares, signer, signer)`` after checking ``maxRedeem``.

        Raises:
            ExecutionError: Above ``maxRedeem`` (nothing sent), or a failed tx.
        """
        me = signer.address
        limit = int(self.vault.functions.maxRedeem(me).call())
        if shares > limit:
            raise ExecutionError(
                f"redeem refused: {self._s(shares)} shares is more than maxRedeem "
                f"{self._s(limit)} for {me}; nothing sent"
            )
        expected = int(self.vault.functions.previewRedeem(shares).call())
        report = self._report("redeem", me, expected, shares)
        assets_before = int(self.asset.functions.balanceOf(me).call())
        call = self.vault.functions.redeem(shares, me, me)
        report.txs.append(self._send(signer, call, "redeem"))
        after = int(self.asset.functions.balanceOf(me).call())
        report.assets = after - assets_before
        return self._finish(report, shares=None)

    # -- helpers ----------------------------------------------------------------------------
    def _a(self, units: int) -> str:
        return f"{format_units(units, self.asset_decimals)} {self.asset_symbol}"

    def _s(self, units: int) -> str:
        return format_units(units, self.share_decimals)

    def _report(self, action: str, me: str, assets: int, shares: int) -> ActionReport:
        return ActionReport(
            action=action,
            vault=self.address,
            owner=me,
            asset=self.asset.address,
            asset_symbol=self.asset_symbol,
            asset_decimals=self.asset_decimals,
            share_decimals=self.share_decimals,
            assets=assets,
            shares=shares,
            share_balance=0,
            share_balance_assets=0,
            asset_balance=0,
        )

    def _finish(self, report: ActionReport, shares: Callable[[int], int] | None) -> ActionReport:
        me = report.owner
        balance = int(self.vault.functions.balanceOf(me).call())
        if shares is not None:
            report.shares = shares(balance)
        report.share_balance = balance
        report.share_balance_assets = int(self.vault.functions.convertToAssets(balance).call())
        report.asset_balance = int(self.asset.functions.balanceOf(me).call())
        return report

    def _send(self, signer: LocalAccount, call: ContractFunction, what: str) -> TxReport:
        """Simulate (estimate gas), sign, send and wait for one transaction."""
        s = self.settings
        w3 = self.w3
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        caps = FeeCaps(Wei(s.max_fee_per_gas_wei), Wei(s.max_priority_fee_wei))
        fees = initial_fees(base_fee, s.priority_fee_wei, caps)
        tx: dict[str, Any] = {
            "from": signer.address,
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
            "chainId": int(w3.eth.chain_id),
            "maxFeePerGas": int(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": int(fees.max_priority_fee_per_gas),
        }
        try:
            built = call.build_transaction(tx)  # type: ignore[arg-type]
        except ContractLogicError as exc:
            reason = self.decoder.decode(revert_data(exc))
            raise TxRevertedError(f"{what} would revert: {reason}; nothing sent") from None
        built["gas"] = int(built["gas"]) * (10_000 + s.gas_headroom_bps) // 10_000
        signed = signer.sign_transaction(built)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        logger.info("%s sent: %s", what, tx_hash.to_0x_hex())
        try:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=s.receipt_timeout_s)
        except TimeExhausted:
            raise TxTimeoutError(
                f"{what} {tx_hash.to_0x_hex()} not mined within {s.receipt_timeout_s}s"
            ) from None
        if receipt["status"] != 1:
            raise TxRevertedError(f"{what} {tx_hash.to_0x_hex()} reverted on-chain")
        gas = int(receipt["gasUsed"])
        price = int(receipt.get("effectiveGasPrice", 0) or 0)
        return TxReport(
            what=what,
            tx_hash=tx_hash.to_0x_hex(),
            block=int(receipt["blockNumber"]),
            gas_used=gas,
            effective_gas_price=price,
            fee_wei=gas * price,
        )


# ---------------------------------------------------------------------------- CLI


def register(subparsers: Any) -> None:
    """Add the ``vault`` subcommand and its ``info|deposit|withdraw|redeem`` actions."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "vault",
        help="depositor actions: info, deposit, withdraw, redeem",
        description=(
            "Plain ERC-4626 calls on one vault, signed with KEEPER_PRIVATE_KEY or "
            "KEEPER_KEYSTORE_PATH (never printed). Amounts are human units, converted exactly "
            "(more decimals than the token has are refused). Deposits approve exactly the "
            "amount. Limits (balance, maxWithdraw, maxRedeem) are checked before anything is "
            "sent. See docs/vault-cli.md for the cast equivalents."
        ),
    )
    p.add_argument("action", choices=("info", "deposit", "withdraw", "redeem"))
    p.add_argument("--vault", required=True, metavar="ADDR", help="the vault address")
    p.add_argument("--amount", metavar="X", help="asset amount (deposit, withdraw), e.g. 1500.5")
    p.add_argument("--shares", metavar="X", help="share amount (redeem)")
    p.add_argument("--owner", metavar="ADDR", help="info: whose position (default: the signer)")
    p.add_argument("--rpc-url", metavar="URL", help="JSON-RPC URL (default KEEPER_RPC_URL)")
    p.add_argument("--env-file", default=".env", metavar="PATH", help="dotenv file (default .env)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=vault_command)


def vault_command(args: argparse.Namespace) -> int:
    """Run one ``keeper vault`` action."""
    settings = load_settings(env_file=args.env_file, rpc_url=args.rpc_url)
    setup_logging(
        json_lines=False,
        level=logging.DEBUG if args.verbose > 1 else logging.WARNING,
        secrets=secret_values(settings),
    )
    if args.action in ("deposit", "withdraw") and (args.amount is None or args.shares):
        raise ConfigError(f"vault {args.action} needs --amount (asset units) and no --shares")
    if args.action == "redeem" and (args.shares is None or args.amount):
        raise ConfigError("vault redeem needs --shares (share units) and no --amount")
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
    else:
        shares = parse_amount(args.shares, client.share_decimals, "--shares")
        report = client.redeem(signer, shares)
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
            f"owner        {info['owner']}",
            f"your shares  {format_units(info['shares'], sd)} (worth {a('shares_value')})",
            f"maxWithdraw  {a('max_withdraw')}",
            f"maxRedeem    {format_units(info['max_redeem'], sd)} shares",
            f"your {sym:<7} {a('asset_balance')}",
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
