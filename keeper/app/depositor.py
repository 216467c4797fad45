"""A depositor's calls on one vault: read, check the limits, then send.

:class:`VaultClient` is what ``keeper vault info|deposit|withdraw|redeem|request-redeem|claim|
fill`` runs (see docs/vault-cli.md for the ``cast`` equivalents): the ERC-4626 ``approve`` +
``deposit(assets, me)``, ``withdraw(assets, me, me)`` and ``redeem(shares, me, me)`` on the vault,
and on its ERC-7540 redemption queue (``vault.redemptionQueue()``): ``approve`` (the queue, on the
vault's shares) + ``requestRedeem(shares, me, me)``, ``redeem(shares, me, me)`` to claim filled
shares, and the permissionless ``fill()``.

**Checks before sending.** Each refusal is one :class:`~keeper.errors.KeeperError` and nothing is
signed: the address is not a vault; a deposit above the signer's balance or the vault's
``maxDeposit``; a withdrawal above ``maxWithdraw``; a redemption above ``maxRedeem``; a request
above the share balance, for shares the vault can pay at once (``maxRedeem`` covers them: an
instant ``redeem`` instead) or on a vault without a queue; a claim above what is claimable. Each
transaction then goes through the light send-and-wait of
:class:`~keeper.execution.transactions.Transactor`: simulated by ``eth_estimateGas`` (a revert is
decoded into the vault's custom error), signed locally, sent, and its receipt awaited, with the
keeper's fee caps and gas headroom from :class:`~keeper.settings.Settings`. Once the action's
last transaction is mined, an RPC failure while the result is read says the action was done
(hash and block), so nobody sends it again; a failure or Ctrl-C after an earlier step was mined
names that step.

**Send records.** Each transaction is recorded beside the signer's lock once signed, until it
is mined: the next action of a run that stopped waiting looks it up before anything else
(:meth:`VaultClient._settle_previous`), so a command retried after a receipt timeout does not
send it twice.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
)
from web3.logs import DISCARD
from web3.types import TxReceipt

from keeper.chain.artifacts import load_abi
from keeper.chain.connection import connect
from keeper.chain.lens import OracleState
from keeper.chain.oracle import oracle_fault_reason
from keeper.chain.vaults import queue_unrequested, validate_vaults
from keeper.errors import (
    ChainError,
    ExecutionError,
    Interrupted,
    KeeperError,
    TxRevertedError,
    TxTimeoutError,
    first_line,
)
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import DEPOSITOR_HOLDER, claim_file, signer_lock_path
from keeper.execution.transactions import Transactor, chain_nonce, receipt_field
from keeper.settings import Settings, checksum
from keeper.units import Wei, format_units

logger = logging.getLogger(__name__)

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

#: Why an exit limit can be 0 with quote in the vault (OptionVault._exitLiquidity).
_EXITS_CLOSE = (
    "; exits close while the oracle is unhealthy or an expired series waits for settlement"
)
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


def signer_file(address: str, chain: str, suffix: str) -> Path:
    """A signer's file on ``chain`` (:meth:`VaultClient.chain_key`): its lock, its send record.

    ``keeper-vault-<chain><address>.<suffix>`` in the temporary directory.
    """
    me = Web3.to_checksum_address(address)
    return Path(tempfile.gettempdir()) / f"keeper-vault-{chain}{me.lower()}.{suffix}"


def keeper_signer_lock(address: str, chain: str) -> Path | None:
    """The lock ``keeper run`` holds on its signer on ``chain`` (:meth:`VaultClient.chain_key`).

    :meth:`keeper.execution.journal.Journal.claim_signer`'s file, named as it names it:
    ``keeper-signer-<chain id>-0x<genesis, 16 hex digits>-<address, lower case>.lock`` in the
    temporary directory. ``None`` without a chain.
    """
    chain_id, _, genesis = chain.rstrip("-").partition("-")
    if not chain_id or not genesis:
        return None
    return Path(signer_lock_path(chain_id, genesis, address))


@contextmanager
def _keeper_signer_claim(address: str, action: str, chain: str) -> Iterator[None]:
    """Hold ``keeper run``'s lock on ``address`` (:func:`keeper_signer_lock`) for one action.

    A deposit signed with a running keeper's key went ahead (the two commands took two locks),
    and the keeper's batch and the deposit raced for the account's nonces. Held, the lock names
    this command (``<pid> none, a keeper vault <action>``), which a keeper refused it shows as
    the holder's pid and journal.

    Raises:
        ExecutionError: A keeper holds it, or it cannot be opened (nothing sent).
    """
    me = Web3.to_checksum_address(address)
    path = keeper_signer_lock(me, chain)
    if path is None:
        yield
        return
    try:
        claimed = claim_file(str(path), f"{os.getpid()} {DEPOSITOR_HOLDER}{action}")
    except OSError as exc:
        raise ExecutionError(
            f"{action} refused: the signer lock {path} cannot be opened "
            f"({exc.strerror or type(exc).__name__}; a keeper of another user may be sending "
            f"from {me}); nothing sent"
        ) from None
    if isinstance(claimed, str):
        pid, _, journal = claimed.partition(" ")
        raise ExecutionError(
            f"{action} refused: {me} signs for a running keeper on this machine (pid {pid}, "
            f"journal {journal or 'unknown'}): its transactions and this one would race for "
            "the account's nonces; stop it first, or use another key; nothing sent"
        )
    try:
        yield
    finally:
        os.close(claimed)  # the lock goes with the descriptor


@contextmanager
def signer_lock(address: str, action: str, chain: str = "") -> Iterator[None]:
    """Hold this machine's lock of ``address``'s depositor actions on ``chain`` for one action.

    Two commands from one key started together both found no transaction pending and both
    sent: one deposit then reverted, its allowance spent by the other. The lock is an ``flock``
    on a file in the temporary directory, released when the action ends or its process dies.
    ``chain`` names the chain (its id and genesis hash: two local devnets are two chains); with
    it, the action also holds ``keeper run``'s lock on the key (:func:`_keeper_signer_claim`),
    so a keeper and a depositor action never sign from one key at once.

    Raises:
        ExecutionError: Another command or a keeper holds it (nothing sent).
    """
    me = Web3.to_checksum_address(address)
    path = signer_file(me, chain, "lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExecutionError(
                f"{action} refused: another keeper vault command is sending from {me} on this "
                f"machine (lock {path}): wait until it ends; nothing sent"
            ) from None
        try:
            with _keeper_signer_claim(me, action, chain):
                yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_Action = TypeVar("_Action", bound=Callable[..., "ActionReport"])


def _one_at_a_time(method: _Action) -> _Action:
    """Run a depositor action under :func:`signer_lock` of its signer, reads to receipt.

    Before anything else, a transaction an earlier run sent and stopped waiting for is looked
    up (:meth:`VaultClient._settle_previous`).

    A failure or a Ctrl-C once some of its transactions are mined (an approve, then the deposit
    fails) names them, and what they left standing, unless its message does already: "nothing
    sent" hid an approve that was mined and left an allowance to the vault.
    """

    @functools.wraps(method)
    def locked(self: VaultClient, signer: LocalAccount, *args: Any, **kw: Any) -> ActionReport:
        action = method.__name__.replace("_", "-")
        chain = self.chain_key()
        with signer_lock(signer.address, action, chain):
            record = signer_file(signer.address, chain, "sent")
            self._run = run = _Run(action, record=record, amount=self._amount(action, args))
            try:
                self._settle_previous(signer.address, run)
                return method(self, signer, *args, **kw)
            except KeeperError as exc:
                if not run.unnamed(str(exc)):
                    raise
                raise ExecutionError(f"{run.mined_so_far()}; {_not_sent(str(exc))}") from exc
            except KeyboardInterrupt as exc:
                if not run.unnamed(str(exc)):
                    raise
                then = _not_sent(str(exc)) if isinstance(exc, Interrupted) else ""
                raise Interrupted(
                    f"{run.mined_so_far()}; {then or 'nothing more was sent'}"
                ) from None
            finally:
                self._run = None

    return cast(_Action, locked)


def _not_sent(message: str) -> str:
    """A failed step's message once earlier steps were mined: its "nothing sent" is not so."""
    for said, meant in (("; nothing sent", "; not sent"), (" (nothing sent)", " (not sent)")):
        if message.endswith(said):
            return message[: -len(said)] + meant
    return message


@dataclass
class _Run:
    """One depositor action under way: its name and its transactions mined so far."""

    action: str
    mined: list[TxReport] = field(default_factory=list)
    #: What a mined transaction left standing, by hash ("allowance 100 USDC left to the vault").
    left: dict[str, str] = field(default_factory=dict)
    #: The signer's send record (:func:`signer_file` ``.sent``): the transaction signed and not
    #: yet known mined, kept when this run stops before its receipt (a timeout, an RPC failure,
    #: Ctrl-C, a crash) for the next run to look up.
    record: Path | None = None
    #: What the action moves ("100 USDC", "5 shares"; "" for a fill), said by that next run.
    amount: str = ""

    def write(self, tx_hash: str, nonce: int, what: str) -> None:
        """Record ``what`` (signed, about to be broadcast) before it leaves this machine.

        Raises:
            ExecutionError: The record cannot be written (nothing sent).
        """
        if self.record is None:
            return
        entry = {
            "tx_hash": tx_hash,
            "nonce": nonce,
            "action": self.action,
            "what": what,
            "amount": self.amount,
        }
        staged = self.record.with_suffix(".sent-new")
        try:
            # Not through a symlink: the directory is shared and the name anyone's to work out.
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(entry) + "\n")
            os.replace(staged, self.record)
        except OSError as exc:
            raise ExecutionError(
                f"{what} not sent: its send record {self.record} cannot be written "
                f"({exc.strerror or type(exc).__name__}); nothing sent"
            ) from None

    def forget(self) -> None:
        """Drop the record: its transaction is mined (or was never signed)."""
        if self.record is None:
            return
        try:
            self.record.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("send record %s not deleted: %s", self.record, exc)

    def unnamed(self, message: str) -> bool:
        """Whether ``message`` leaves out some of the mined transactions."""
        return any(t.tx_hash not in message for t in self.mined)

    def mined_so_far(self) -> str:
        """``"approve 0x… mined in block N (allowance 100 USDC left to the vault)"``, and so on."""
        return "; ".join(
            f"{t.what} {t.tx_hash} mined in block {t.block}"
            + (f" ({self.left[t.tx_hash]})" if t.tx_hash in self.left else "")
            for t in self.mined
        )


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TxReport:
    """One mined transaction."""

    what: str
    tx_hash: str
    block: int
    gas_used: int
    effective_gas_price: Wei
    #: What it cost: ``gas_used * effective_gas_price``, plus an OP Stack receipt's ``l1Fee``.
    fee_wei: Wei


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
    #: A queue fill only: shares the queue held without a request, sent to its discard address.
    discarded: int = 0
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


def open_vault(settings: Settings, vault: str) -> VaultClient:
    """Connect to ``settings``' RPC (its chain id checked) and bind ``vault`` on it.

    Raises:
        ChainError: The RPC cannot be reached, or is on another chain.
        ConfigError: The address holds no vault.
    """
    w3 = connect(
        settings.rpc_urls,
        expected_chain_id=settings.chain_id,
        timeout_s=settings.rpc_timeout_s,
        attempts=settings.rpc_retries,
    )
    return VaultClient(w3, vault, settings)


class VaultClient:
    """One vault and its asset, bound over an open connection.

    Raises:
        ConfigError: The address holds no vault (checked on construction).
    """

    #: The action under way (set by its :func:`_one_at_a_time`), ``None`` between actions.
    _run: _Run | None = None

    def __init__(self, w3: Web3, address: str, settings: Settings) -> None:
        self.w3 = w3
        self.settings = settings
        #: The receipts of this client's mined transactions, by hash: what an action did is
        #: read from its own events.
        self._receipts: dict[str, TxReceipt] = {}
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
        self.decoder = ErrorDecoder.from_artifacts(
            ("OptionVault", "IOptionVault", "RedemptionQueue")
        )
        queue = Web3.to_checksum_address(self.vault.functions.redemptionQueue().call())
        self.queue: Contract | None = (
            None
            if int(queue, 16) == 0
            else w3.eth.contract(address=queue, abi=list(load_abi("RedemptionQueue")))
        )

    # -- reads ------------------------------------------------------------------------------
    def info(self, owner: str | None) -> dict[str, Any]:
        """Everything a depositor wants to know, as a JSON-ready dict of integers in token units.

        Every read is at one block, so the figures agree with each other.
        """
        block = self.w3.eth.get_block("latest")
        at, now = int(block["number"]), int(block["timestamp"])
        f = self.vault.functions
        one_share = 10**self.share_decimals
        t = f.thresholds().call(block_identifier=at)
        out: dict[str, Any] = {
            "vault": self.address,
            "name": f.name().call(block_identifier=at),
            "symbol": f.symbol().call(block_identifier=at),
            "asset": self.asset.address,
            "asset_symbol": self.asset_symbol,
            "asset_decimals": self.asset_decimals,
            "share_decimals": self.share_decimals,
            **self._underlying(at),
            "total_assets": int(f.totalAssets().call(block_identifier=at)),
            "total_supply": int(f.totalSupply().call(block_identifier=at)),
            "share_price": int(f.convertToAssets(one_share).call(block_identifier=at)),
            "free_quote": int(f.freeQuote().call(block_identifier=at)),
            "locked_collateral": int(f.lockedCollateral().call(block_identifier=at)),
            "hedge_inventory": int(f.hedgeInventory().call(block_identifier=at)),
            "net_delta": int(f.netDelta().call(block_identifier=at)),
            "paused": bool(f.paused().call(block_identifier=at)),
            "max_deposit": int(f.maxDeposit(self.address).call(block_identifier=at)),
            "thresholds": dict(zip(_THRESHOLD_FIELDS, (int(x) for x in t), strict=True)),
        }
        out.update(
            self.gates(
                at,
                now,
                paused=out["paused"],
                max_deposit=out["max_deposit"],
                inventory=out["hedge_inventory"],
                thresholds=out["thresholds"],
            )
        )
        if owner is not None:
            out["owner"] = owner
            out["shares"] = int(f.balanceOf(owner).call(block_identifier=at))
            out["shares_value"] = int(f.convertToAssets(out["shares"]).call(block_identifier=at))
            out["max_withdraw"] = int(f.maxWithdraw(owner).call(block_identifier=at))
            out["max_redeem"] = int(f.maxRedeem(owner).call(block_identifier=at))
            out["asset_balance"] = int(
                self.asset.functions.balanceOf(owner).call(block_identifier=at)
            )
        out["redemption_queue"] = self.queue.address if self.queue is not None else None
        if self.queue is not None:
            q = self.queue.functions
            pending_total = int(q.totalPending().call(block_identifier=at))
            out["queue_pending_total"] = pending_total
            out["queue_pending_value"] = int(
                f.convertToAssets(pending_total).call(block_identifier=at)
            )
            out["queue_fillable"] = int(q.fillable().call(block_identifier=at))
            out["queue_unrequested"] = queue_unrequested(self.vault, self.queue, at)
            # What the vault holds back from instant exits and new writes: every share the
            # queue holds, requested or not, at NAV rounded up (its `_queueDemand`).
            held = out["queue_pending_total"] + out["queue_unrequested"]
            out["queue_reserved"] = (
                int(f.previewMint(held).call(block_identifier=at)) if held else 0
            )
            if owner is not None:
                out["queue_pending"] = int(
                    q.pendingRedeemRequest(0, owner).call(block_identifier=at)
                )
                out["queue_claimable_shares"] = int(
                    q.claimableRedeemRequest(0, owner).call(block_identifier=at)
                )
                out["queue_claimable_assets"] = int(q.maxWithdraw(owner).call(block_identifier=at))
        return out

    def _underlying(self, at: int) -> dict[str, str]:
        """The hedged token's address and symbol (``"underlying"`` when it has none)."""
        address = Web3.to_checksum_address(
            self.vault.functions.underlying().call(block_identifier=at)
        )
        token = self.w3.eth.contract(address=address, abi=ERC20_ABI)
        try:
            symbol = str(token.functions.symbol().call(block_identifier=at))
        except (ContractLogicError, Web3Exception, ValueError, OverflowError):
            symbol = "underlying"
        return {"underlying": address, "underlying_symbol": symbol}

    def gates(
        self,
        at: int,
        now: int,
        *,
        paused: bool,
        max_deposit: int,
        inventory: int,
        thresholds: dict[str, int],
    ) -> dict[str, Any]:
        """Whether the vault takes deposits and pays instant exits now, and why not.

        The vault closes both while its NAV cannot be trusted (a price-dependent book and an
        oracle that is stale, not positive or behind a down sequencer) and while an expired series
        waits for settlement; pausing closes deposits only. Its ``maxDeposit`` answers for
        deposits, and while it is not paused for exits too (the same checks less the pause);
        while it is paused the feeds and expiries are read as the vault reads them
        (:func:`keeper.chain.oracle.oracle_fault_reason`). ``paused``, ``max_deposit``,
        ``inventory`` and ``thresholds`` are the vault's at block ``at`` (timestamp ``now``),
        where the series and feeds are read.
        """
        deposits_open = max_deposit > 0
        series = self.vault.functions.openSeries().call(block_identifier=at)
        why: list[str] = []
        expired = [s for s in series if int(s[4]) <= now and int(s[5]) > 0]
        if expired:
            ids = ", ".join(f"#{int(s[0])}" for s in expired)
            why.append(
                f"series {ids} expired and await{'s' if len(expired) == 1 else ''} settlement"
            )
        if series or inventory != 0:
            verdict = self._oracle_verdict(at, now, thresholds)
            if verdict is not None:
                why.append(verdict)
        exits_open = not why
        if not paused and exits_open != deposits_open:
            # The vault's own answer wins over this reading of it.
            exits_open = deposits_open
            why = [] if exits_open else ["the vault reports them closed (maxDeposit is 0)"]
        exits = None if exits_open else "; ".join(why)
        deposits = None
        if not deposits_open:
            deposits = "; ".join(x for x in ("the vault is paused" if paused else "", exits) if x)
        return {
            "deposits_open": deposits_open,
            "exits_open": exits_open,
            "deposits_closed_because": deposits,
            "exits_closed_because": exits,
        }

    def _oracle_verdict(self, at: int, now: int, thresholds: dict[str, int]) -> str | None:
        """The vault's oracle check at block ``at``: ``None`` when it passes, else the reason."""
        f = self.vault.functions
        sequencer = str(f.sequencerFeed().call(block_identifier=at))
        price_round = self._round(str(f.oracle().call(block_identifier=at)), at)
        seq_round = self._round(sequencer, at) if int(sequencer, 16) != 0 else None
        # A feed that reverts is unusable: a zero answer, a sequencer that is down.
        state = OracleState(
            round_id=0,
            answer=price_round[1] if price_round else 0,
            updated_at=price_round[3] if price_round else 0,
            decimals=8,
            sequencer_down=seq_round is None or seq_round[1] != 0,
            sequencer_started_at=seq_round[2] if seq_round else 0,
        )
        verdict = oracle_fault_reason(
            state,
            has_sequencer=int(sequencer, 16) != 0,
            heartbeat=thresholds["oracle_heartbeat"],
            grace=thresholds["sequencer_grace_period"],
            now=now,
        )
        return None if verdict.ok else verdict.reason

    def _round(self, feed: str, at: int) -> tuple[int, int, int, int, int] | None:
        """``latestRoundData()`` of ``feed`` at block ``at``; ``None`` for a dead feed.

        A dead feed's call reverts or returns nothing; an RPC failure is raised instead, never
        taken for a dead feed.
        """
        contract = self.w3.eth.contract(
            address=Web3.to_checksum_address(feed), abi=list(load_abi("AggregatorV3Interface"))
        )
        try:
            r = contract.functions.latestRoundData().call(block_identifier=at)
        except (ContractLogicError, BadFunctionCallOutput):
            return None
        return (int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))

    # -- actions ----------------------------------------------------------------------------
    @_one_at_a_time
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
            closed = self._closed_because()["deposits_closed_because"] if not max_deposit else None
            why = (
                f"deposits are closed: {closed}"
                if closed
                else "deposits close while it is paused, its oracle is unhealthy or an expired "
                "series waits for settlement"
            )
            raise ExecutionError(
                f"deposit refused: the vault's maxDeposit is {self._a(max_deposit)} ({why}); "
                "nothing sent"
            )
        expected = int(self.vault.functions.previewDeposit(assets).call())
        report = self._report("deposit", me, assets, expected)
        allowance = int(self.asset.functions.allowance(me, self.address).call())
        if 0 < allowance < assets:
            # To 0 first: some tokens (mainnet USDT) refuse to change an allowance that is not 0,
            # and a deposit left short by an earlier one could then never be made.
            reset = self.asset.functions.approve(self.address, 0)
            report.txs.append(
                self._approve(
                    signer, reset, f"set to 0 from {self._a(allowance)}", what="approve 0"
                )
            )
        if allowance < assets:
            call = self.asset.functions.approve(self.address, assets)
            report.txs.append(self._approve(signer, call, f"{self._a(assets)} left to the vault"))
        report.txs.append(self._send(signer, self.vault.functions.deposit(assets, me), "deposit"))
        with self._mined(report):
            report.assets, report.shares = self._own(self.vault, "Deposit", report)
            return self._finish(report)

    @_one_at_a_time
    def withdraw(self, signer: LocalAccount, assets: int) -> ActionReport:
        """``withdraw(assets, signer, signer)`` after checking ``maxWithdraw``.

        Raises:
            ExecutionError: Above ``maxWithdraw`` (nothing sent), or a failed tx.
        """
        me = signer.address
        limit = int(self.vault.functions.maxWithdraw(me).call())
        if assets > limit:
            raise ExecutionError(
                f"withdraw refused: {self._a(assets)} is more than maxWithdraw "
                f"{self._a(limit)}{self._exit_limit(me, limit, 'assets')}; nothing sent"
            )
        expected = int(self.vault.functions.previewWithdraw(assets).call())
        report = self._report("withdraw", me, assets, expected)
        call = self.vault.functions.withdraw(assets, me, me)
        report.txs.append(self._send(signer, call, "withdraw"))
        with self._mined(report):
            report.assets, report.shares = self._own(self.vault, "Withdraw", report)
            return self._finish(report)

    @_one_at_a_time
    def redeem(self, signer: LocalAccount, shares: int | None) -> ActionReport:
        """``redeem(shares, signer, signer)`` after checking ``maxRedeem``.

        ``shares`` None redeems every share the signer holds, read here, under the signer lock.

        Raises:
            ExecutionError: None held, above ``maxRedeem``, or shares worth 0 token units
                (nothing sent), or a failed tx.
        """
        me = signer.address
        shares = self._held(me, "redeem") if shares is None else shares
        limit = int(self.vault.functions.maxRedeem(me).call())
        if shares > limit:
            raise ExecutionError(
                f"redeem refused: {self._s(shares)} shares is more than maxRedeem "
                f"{self._s(limit)}{self._exit_limit(me, limit, 'shares')}; nothing sent"
            )
        expected = int(self.vault.functions.previewRedeem(shares).call())
        if expected == 0:
            raise ExecutionError(
                f"redeem refused: {self._s(shares)} shares are worth {self._a(0)} "
                "(less than one token unit): redeeming them would burn them for nothing; "
                "nothing sent"
            )
        report = self._report("redeem", me, expected, shares)
        call = self.vault.functions.redeem(shares, me, me)
        report.txs.append(self._send(signer, call, "redeem"))
        with self._mined(report):
            report.assets, report.shares = self._own(self.vault, "Withdraw", report)
            return self._finish(report)

    @_one_at_a_time
    def request_redeem(
        self, signer: LocalAccount, shares: int | None, *, queue_anyway: bool = False
    ) -> ActionReport:
        """Queue ``shares`` for redemption (approving the queue on the shares if needed).

        ``shares`` None queues every share the signer holds, read here, under the signer lock.
        The report's ``assets`` is their value now; the queue pays the NAV of the fill. Shares
        the vault can pay at once (``maxRedeem`` covers them all) are refused: ``redeem`` them,
        unless ``queue_anyway`` says the depositor queues them on purpose (the web page's
        "Queue them even when Redeem can pay them now").

        Raises:
            ExecutionError: No queue, no share or more shares than the signer holds, shares
                worth 0 token units, or shares ``maxRedeem`` covers without ``queue_anyway``
                (nothing sent), or a failed tx.
        """
        queue = self._queue("request-redeem")
        me = signer.address
        asked_all = shares is None
        if shares is None:
            balance = shares = self._held(me, "request-redeem")
        else:
            balance = int(self.vault.functions.balanceOf(me).call())
        if shares > balance:
            raise ExecutionError(
                f"request-redeem refused: {self._s(shares)} shares asked, {me} holds "
                f"{self._s(balance)}; nothing sent"
            )
        value = int(self.vault.functions.convertToAssets(shares).call())
        if value == 0:
            raise ExecutionError(
                f"request-redeem refused: {self._s(shares)} shares are worth "
                f"{self._a(0)} (less than one token unit): the fill would pay nothing "
                "for them; nothing sent"
            )
        limit = int(self.vault.functions.maxRedeem(me).call())
        if shares <= limit and not queue_anyway:
            # A request waits for a fill, cannot be cancelled, and carries the vault's gains and
            # losses until then: only for what the vault cannot pay now.
            flag = "all" if asked_all else self._s(shares)
            raise ExecutionError(
                f"request-redeem refused: the vault can pay all {self._s(shares)} shares now "
                f"(maxRedeem {self._s(limit)}): redeem them at once with `keeper vault redeem "
                f"--shares {flag}` (a request waits for a fill and cannot be cancelled), or "
                "queue them on purpose with --queue-anyway; nothing sent"
            )
        report = self._report("request-redeem", me, value, shares)
        allowance = int(self.vault.functions.allowance(me, queue.address).call())
        if allowance < shares:
            call = self.vault.functions.approve(queue.address, shares)
            left = f"{self._s(shares)} shares left to the redemption queue"
            report.txs.append(self._approve(signer, call, left))
        call = queue.functions.requestRedeem(shares, me, me)
        report.txs.append(self._send(signer, call, "request"))
        with self._mined(report):
            return self._finish(report)

    def _held(self, owner: str, action: str) -> int:
        """``owner``'s share balance, refused in one line when it is 0 (nothing sent)."""
        held = int(self.vault.functions.balanceOf(owner).call())
        if held == 0:
            raise ExecutionError(
                f"{action} refused: {owner} holds no shares of this vault; nothing sent"
            )
        return held

    @_one_at_a_time
    def claim(self, signer: LocalAccount, shares: int | None) -> ActionReport:
        """Claim ``shares`` of the signer's filled request (all of them when None).

        Raises:
            ExecutionError: No queue, nothing or too little claimable (nothing sent), or a failed
                tx.
        """
        queue = self._queue("claim")
        me = signer.address
        claimable = int(queue.functions.maxRedeem(me).call())
        asked = shares
        if shares is None:
            shares = claimable
        if shares == 0 or shares > claimable:
            pending = int(queue.functions.pendingRedeemRequest(0, me).call())
            # Without --shares the user asked for all: "0 shares asked" would be wrong.
            what = (
                "nothing claimable"
                if asked is None
                else f"{self._s(shares)} shares asked, {self._s(claimable)} claimable"
            )
            raise ExecutionError(
                f"claim refused: {what} for {me} ({self._s(pending)} shares still pending a "
                "fill); "
                "nothing sent"
            )
        report = self._report("claim", me, 0, shares)
        report.txs.append(self._send(signer, queue.functions.redeem(shares, me, me), "claim"))
        with self._mined(report):
            report.assets, report.shares = self._own(queue, "Withdraw", report)
            return self._finish(report)

    @_one_at_a_time
    def fill(self, signer: LocalAccount) -> ActionReport:
        """Fill the vault's redemption queue (anyone may), if the free quote serves any of it.

        The fill also discards shares the queue holds without a request (the vault reserves
        their value until then), so it is sent for those alone too.

        Raises:
            ExecutionError: No queue or nothing to fill (nothing sent), or a failed tx.
        """
        queue = self._queue("fill")
        fillable = int(queue.functions.fillable().call())
        unrequested = queue_unrequested(self.vault, queue)
        if fillable == 0 and unrequested == 0:
            pending = int(queue.functions.totalPending().call())
            if pending == 0:
                raise ExecutionError(
                    "fill refused: no request is pending (nothing to fill); nothing sent"
                )
            # Why: a stale oracle closes exits with the free quote all there, which "no free
            # quote" hid.
            closed = self._closed_because()["exits_closed_because"]
            why = f"exits are closed: {closed}" if closed else "no free quote for them"
            raise ExecutionError(
                f"fill refused: nothing can be filled now ({self._s(pending)} shares pending, "
                f"{why}); nothing sent"
            )
        value = int(self.vault.functions.previewRedeem(fillable).call()) if fillable else 0
        report = self._report("fill", signer.address, value, fillable)
        tx = self._send(signer, queue.functions.fill(), "fill")
        report.txs.append(tx)
        with self._mined(report):
            # What the fill did, from its receipt (someone may have filled in between the reads).
            receipt = self._receipts[tx.tx_hash]
            filled = queue.events.RedemptionsFilled().process_receipt(receipt, errors=DISCARD)
            gone = queue.events.UnrequestedSharesDiscarded().process_receipt(
                receipt, errors=DISCARD
            )
            report.shares = sum(int(e["args"]["shares"]) for e in filled)
            report.assets = sum(int(e["args"]["assets"]) for e in filled)
            report.discarded = sum(int(e["args"]["shares"]) for e in gone)
            return self._finish(report)

    # -- helpers ----------------------------------------------------------------------------
    def chain_key(self) -> str:
        """``"<chain id>-<genesis hash prefix>-"``: which chain a signer's lock is for."""
        genesis = self.w3.eth.get_block(0)["hash"]
        return f"{int(self.w3.eth.chain_id)}-{bytes(genesis).hex()[:16]}-"

    @contextmanager
    def _mined(self, report: ActionReport) -> Iterator[None]:
        """Reads after the action's last transaction was mined: their failure says it was done.

        Raises:
            ChainError: A read failed; the message names the mined transactions and their blocks
                first (a bare "eth_call failed" reads like a failed action, sent again).
            Interrupted: Ctrl-C; named likewise (a bare "interrupted" reads as if cut short
                before anything was sent).
        """
        tx = report.txs[-1]
        earlier = "".join(
            f" (after {t.what} {t.tx_hash} in block {t.block})" for t in report.txs[:-1]
        )
        done = (
            f"{tx.what} {tx.tx_hash} was mined in block {tx.block}{earlier}: the {report.action} "
            "is done, do not send it again"
        )
        try:
            yield
        except ChainError as exc:
            raise ChainError(f"{done}; only reading its result failed ({first_line(exc)})") from exc
        except KeyboardInterrupt:
            raise Interrupted(f"{done}; interrupted while its result was read") from None

    def _queue(self, action: str) -> Contract:
        if self.queue is None:
            raise ExecutionError(
                f"{action} refused: vault {self.address} has no redemption queue "
                "(redemptionQueue() is 0); nothing sent"
            )
        return self.queue

    def _exit_limit(self, me: str, limit: int, unit: str) -> str:
        """Why ``limit`` (``maxWithdraw`` in assets, or ``maxRedeem`` in shares) binds.

        ``maxWithdraw``/``maxRedeem`` is the smaller of the owner's position and what the vault
        can pay out now: name the owner's position when it is the limit (``": 0x… holds …"``),
        else the vault's free quote and when exits close (``" for 0x…: the vault's …"``).
        """
        held = int(self.vault.functions.balanceOf(me).call())
        value = int(self.vault.functions.convertToAssets(held).call()) if held else 0
        if (value if unit == "assets" else held) <= limit:
            return f": {me} holds {self._s(held)} shares (worth {self._a(value)})"
        free = int(self.vault.functions.freeQuote().call())
        closed = self._closed_because()["exits_closed_because"]
        why = f"; exits are closed: {closed}" if closed else _EXITS_CLOSE
        return f" for {me}: the vault's free quote is {self._a(free)}{why}"

    def _closed_because(self) -> dict[str, Any]:
        """:meth:`gates` now: whether deposits and exits are open, and why not."""
        block = self.w3.eth.get_block("latest")
        at, now = int(block["number"]), int(block["timestamp"])
        f = self.vault.functions
        t = f.thresholds().call(block_identifier=at)
        return self.gates(
            at,
            now,
            paused=bool(f.paused().call(block_identifier=at)),
            max_deposit=int(f.maxDeposit(self.address).call(block_identifier=at)),
            inventory=int(f.hedgeInventory().call(block_identifier=at)),
            thresholds=dict(zip(_THRESHOLD_FIELDS, (int(x) for x in t), strict=True)),
        )

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

    def _own(self, contract: Contract, event: str, report: ActionReport) -> tuple[int, int]:
        """``(assets, shares)`` of the action's own ``event``, read from its receipt.

        The ERC-4626 ``Deposit`` or ``Withdraw`` whose ``owner`` is the signer, in the action's
        last transaction. Not balance differences: another transaction landing around the
        action (a deposit made for this holder, a payment to it) is not the action's.
        """
        receipt = self._receipts[report.txs[-1].tx_hash]
        logs = getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)
        mine = [log["args"] for log in logs if log["args"]["owner"] == report.owner]
        return sum(int(a["assets"]) for a in mine), sum(int(a["shares"]) for a in mine)

    def _finish(self, report: ActionReport) -> ActionReport:
        """Fill in the balances after the action: read at the block of its last transaction.

        Not at ``latest``: a load-balanced RPC's node a block behind the one that gave the
        receipt answered with the balances from before the action, printed as its result.
        """
        me, at = report.owner, report.txs[-1].block
        f = self.vault.functions
        balance = int(f.balanceOf(me).call(block_identifier=at))
        report.share_balance = balance
        report.share_balance_assets = int(f.convertToAssets(balance).call(block_identifier=at))
        report.asset_balance = int(self.asset.functions.balanceOf(me).call(block_identifier=at))
        return report

    def _send(self, signer: LocalAccount, call: ContractFunction, what: str) -> TxReport:
        """Simulate (estimate gas), sign, send and wait for one transaction.

        Under an action, the transaction is recorded beside the signer's lock once signed, and
        the record dropped once it is mined: a run that stops before (a timeout, an RPC failure,
        Ctrl-C, a crash) leaves it to the next run's :meth:`_settle_previous`.

        Raises:
            TxRevertedError: It would revert (nothing sent) or reverted on-chain.
            TxTimeoutError: Not mined within the receipt timeout.
        """
        refuse_while_pending(self.w3, signer.address, what)
        s, run = self.settings, self._run
        sender = Transactor(
            self.w3,
            signer,
            caps=FeeCaps(Wei(s.max_fee_per_gas_wei), Wei(s.max_priority_fee_wei)),
            tip=s.priority_fee_wei,
            gas_limit=lambda estimate: estimate * (10_000 + s.gas_headroom_bps) // 10_000,
            receipt_timeout_s=s.receipt_timeout_s,
            decoder=self.decoder,
            on_signed=None if run is None else functools.partial(run.write, what=what),
        )
        try:
            receipt = sender.call(call, what=what)
        except TxRevertedError:
            if run is not None:
                run.forget()  # it would revert (never signed), or it was mined and reverted
            raise
        except TxTimeoutError as exc:
            if run is None or run.record is None:
                raise
            raise TxTimeoutError(
                f"{exc}; the next keeper vault command from this key looks it up before it "
                "sends anything"
            ) from None
        if run is not None:
            run.forget()
        self._receipts[receipt["transactionHash"].to_0x_hex()] = receipt  # events read from it
        gas = int(receipt["gasUsed"])
        price = Wei(int(receipt.get("effectiveGasPrice", 0) or 0))
        # An OP Stack chain (Base, Optimism) charges the L1 data fee on top of gas x price, and
        # says how much in the receipt (keeper/app/fees.py books it the same way); Arbitrum's
        # gasUsed already includes its L1 part.
        l1_fee = receipt_field(receipt, "l1Fee") or 0
        tx = TxReport(
            what=what,
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            block=int(receipt["blockNumber"]),
            gas_used=gas,
            effective_gas_price=price,
            fee_wei=Wei(gas * price + l1_fee),
        )
        if self._run is not None:
            self._run.mined.append(tx)  # a later failure names it
        return tx

    def _amount(self, action: str, args: tuple[Any, ...]) -> str:
        """What an action's arguments move, in words, for its send record."""
        if not args:
            return ""
        if action in ("deposit", "withdraw"):
            return self._a(int(args[0]))
        return "all shares" if args[0] is None else f"{self._s(int(args[0]))} shares"

    def _settle_previous(self, me: str, run: _Run) -> None:
        """Look up the transaction an earlier run recorded and stopped waiting for, if any.

        The pending nonce was the only guard: a deposit whose receipt wait ran out and that was
        mined a moment later was sent again by the retried command. Now:

        - mined (succeeded or reverted): said in one line, the record dropped, nothing sent (the
          user asked for one deposit, and it happened);
        - pending: refused, as another pending transaction is;
        - unknown to the node, its nonce used by another transaction, or still free with nothing
          pending: it will never be mined; the record is dropped (an info line) and the action
          goes on.

        Raises:
            ExecutionError: It was mined, it is pending, or the record cannot be read (nothing
                sent).
        """
        path = run.record
        if path is None or not path.exists():
            return
        try:
            entry = json.loads(path.read_text())
            tx_hash, nonce = str(entry["tx_hash"]), int(entry["nonce"])
            what, action = str(entry["what"]), str(entry["action"])
            amount = f" ({entry['amount']})" if entry.get("amount") else ""
            if len(HexBytes(tx_hash)) != 32:
                raise ValueError("not a transaction hash")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExecutionError(
                f"{run.action} refused: the send record {path} of an earlier run cannot be read "
                f"({type(exc).__name__}): check {me}'s transactions, then delete it; nothing sent"
            ) from None
        try:
            receipt: TxReceipt | None = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            receipt = None
        if receipt is not None and receipt.get("blockNumber") is not None:
            block = int(receipt["blockNumber"])
            outcome = "" if receipt["status"] == 1 else " and reverted"
            run.forget()
            if not what.startswith("approve"):
                raise ExecutionError(
                    f"your previous {action} {tx_hash}{amount} was mined in block {block}"
                    f"{outcome} after the last run stopped waiting; nothing sent now: run the "
                    "command again to send another"
                )
            raise ExecutionError(
                f"the approve {tx_hash} of your previous {action}{amount} was mined in block "
                f"{block}{outcome} after the last run stopped waiting, and its {action} was not "
                "sent; nothing sent now: run the command again to send it"
            )
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            pass
        else:
            raise ExecutionError(
                f"{run.action} refused: your previous {action} {tx_hash}{amount} is still "
                f"pending (nonce {nonce}; the last run stopped waiting for it): wait until it "
                "is mined, or check it, before sending another; nothing sent"
            )
        if chain_nonce(self.w3, me, "latest") > nonce:
            why = f"its nonce {nonce} was used by another transaction"
        else:
            refuse_while_pending(self.w3, me, run.action)
            why = f"its nonce {nonce} is still free and nothing is pending"
        run.forget()
        logger.info(
            "the %s %s of your previous %s is unknown to the node and %s: it will not be "
            "mined; its record %s is dropped",
            what,
            tx_hash,
            action,
            why,
            path,
        )

    def _approve(
        self, signer: LocalAccount, call: ContractFunction, left: str, what: str = "approve"
    ) -> TxReport:
        """Send an ``approve`` step; a later failure of the action names it and ``left``."""
        tx = self._send(signer, call, what)
        if self._run is not None:
            self._run.left[tx.tx_hash] = f"allowance {left}"
        return tx


#: Looks at the signer's nonces before a pending transaction refuses an action, a second apart:
#: a load-balanced RPC's node can count a transaction just mined as pending for a moment.
PENDING_LOOKS = 3


def refuse_while_pending(w3: Web3, address: str, what: str) -> None:
    """Refuse to send ``what`` while ``address`` has transactions pending (nothing sent).

    A deposit whose receipt wait ran out, or one interrupted after it was sent, may still be
    mined: sending the action again would do it twice (or revert, its allowance spent by the
    first). So would a second command from the same key at the same time.

    Raises:
        ExecutionError: The node's pending nonce is above its latest one, at each of
            :data:`PENDING_LOOKS` looks.
    """
    me = Web3.to_checksum_address(address)
    for look in range(PENDING_LOOKS):
        if look:
            time.sleep(1.0)
        latest = int(w3.eth.get_transaction_count(me, "latest"))
        pending = int(w3.eth.get_transaction_count(me, "pending"))
        if pending <= latest:
            return
    n = pending - latest
    which = f"nonce {latest}" if n == 1 else f"nonces {latest} to {pending - 1}"
    raise ExecutionError(
        f"{what} refused: {address} has {n} transaction{'s' if n > 1 else ''} pending "
        f"({which}): wait until {'they are' if n > 1 else 'it is'} mined, or check "
        f"{'them' if n > 1 else 'it'}, before sending another; nothing sent"
    )
