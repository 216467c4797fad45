"""Rehearse the keeper on an anvil fork of any chain: what it would do live, and what it costs.

:func:`rehearse`:

1. starts anvil forked from the RPC (``Anvil(fork_url=..., fork_block=...)``), on a free port,
   and again when it exits on a transient failure of the RPC (:func:`_start_fork`);
2. checks the batcher is one (code, ``maxBatch()``), then makes an anvil dev account a keeper
   on the fork's batcher: it impersonates the batcher's admin
   (``anvil_impersonateAccount`` + ``anvil_setBalance``) and calls ``setKeeper(account, true)``;
   the admin is found from the batcher's ``RoleGranted`` logs unless given;
3. grants that account each kept vault's ``KEEPER_ROLE`` the same way (impersonating the vault's
   admin: ``--vault-admin`` if it holds the vault's admin role, else the batcher's admin if it
   does, else one found from the vault's ``RoleGranted`` logs), as ``Deploy.s.sol`` grants the
   production keeper, so that a plan of one vault is sent to the vault itself
   (``KEEPER_DIRECT_SINGLE``) as in production. A vault whose admin cannot be found is not an
   error: a warning says its lone rehearsals take the batcher path, and the report says, per
   vault, whether the account holds its role (:class:`VaultRole`). Any failure of the fork's
   node in these steps, or in the reads before them (the fork's block and chain id), is one
   :class:`ChainError` line naming the step (:func:`_on_fork`);
4. runs one real keeper cycle on the fork -- :func:`keeper.app.wiring.build_keeper` then
   :func:`keeper.app.cycle.run_alone`, the code path of ``keeper run`` -- signing with that
   account, with a throwaway journal (the live keeper's journal is never touched). As in
   ``keeper check``, it is one cycle with no next one: its queue sweep reads every vault's
   queue, and a queue or blocker read the fork's anvil fails (anvil reads what it does not hold
   yet from the fork URL) fails the rehearsal, where ``keeper run`` would leave it to its next
   cycle; its report would otherwise show no queue fill, or a blocker unknown;
5. reads the per-vault outcomes from the receipt (:func:`tx_outcomes`: the batcher's events for a
   batch, the vault's own ``Rebalanced`` event or the receipt status for a direct transaction;
   a read of it that fails, ``KEEPER_RPC_RETRIES`` times, is one :class:`ChainError` line), sums
   the cost of every transaction the cycle mined on the fork, its settlements and queue fills
   with its hedge (:func:`fork_cost`, from the same receipts, read the same way and each once:
   the hedge's is the one its outcomes were read from), and stops the fork anvil by its PID.

Nothing is sent to the forked (live) chain itself: every transaction goes to the local fork. An
unreachable fork URL is reported as such before anvil is started.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from pydantic import SecretStr
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.logs import DISCARD
from web3.types import TxReceipt

from keeper.app.collaborators import Keeper
from keeper.app.cycle import CycleResult, nothing_evaluated, run_alone
from keeper.app.defaults import DEFAULT_KEEPER_INDEX
from keeper.app.fees import fees_paid
from keeper.app.settle import Settlement
from keeper.app.wiring import build_keeper, check_offline
from keeper.chain.anvil import ANVIL_KEYS, Anvil, AnvilExitedError
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect, redact_url, scrub_url
from keeper.chain.logs import get_logs
from keeper.chain.retry import LogQueryTooLargeError, backoff_s, is_transient, read_with_retry
from keeper.chain.vaults import check_batcher
from keeper.errors import ChainError, ConfigError, ExecutionError, first_line
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome
from keeper.settings import Settings
from keeper.units import Wei

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ADMIN_ROLE = "0x" + "00" * 32
_ROLE_GRANTED = Web3.keccak(text="RoleGranted(bytes32,address,address)").to_0x_hex()
_GAS_FUNDING_WEI = 100 * 10**18
#: The jittered backoff before a fork's anvil is started again: its base and its longest, in s.
_FORK_RETRY_S = 0.5
_FORK_RETRY_MAX_S = 4.0
#: The same, before the mined transaction's receipt is read again (a node behind its block).
_RECEIPT_RETRY_S = 0.2
_RECEIPT_RETRY_MAX_S = 2.0
#: How long a fork's anvil is given to listen and answer, besides one fork request's timeout.
_FORK_START_S = 15.0


@dataclass(frozen=True)
class RehearsedVault:
    """One vault of the rehearsed transaction (a batch, or a lone vault's own call)."""

    vault: str
    ok: bool
    delta_before: int | None
    delta_after: int | None
    reason: str | None
    #: Where the outcome was read: the vault's own ``Rebalanced`` (in a batch or alone), the
    #: batcher's ``VaultRebalanceFailed``, or ``receipt`` (a direct transaction's status).
    event: str = ""


@dataclass(frozen=True)
class VaultRole:
    """Whether the rehearsal account holds a vault's ``KEEPER_ROLE`` on the fork."""

    vault: str
    #: Held: a plan of this vault alone is sent to the vault itself, as in production.
    held: bool
    #: The vault admin impersonated to grant it (``None``: already held, or not granted).
    admin: str | None
    #: Why it is not held (``None`` when it is).
    note: str | None


@dataclass
class RehearsalReport:
    """What the keeper would have done on the forked chain, and what it cost on the fork."""

    fork_url: str
    fork_block: int
    chain_id: int
    keeper: str
    admin: str
    batcher: str
    vaults: int
    planned: list[str]
    simulated: list[str]
    dropped: dict[str, str]
    skipped: dict[str, str]
    outcomes: list[RehearsedVault]
    tx_hash: str | None
    tx_status: str | None
    #: The transaction's recipient (receipt ``to``): the batcher, or a lone vault itself.
    tx_to: str | None
    #: Gas, L2 execution fee and L1 data fee summed over :attr:`fork_txs`: every transaction
    #: the cycle mined on the fork (its hedge, settlements and queue fills), not the hedge's alone.
    gas_used: int
    l2_fee_wei: int
    l1_fee_wei: int
    decisions: list[dict[str, Any]] = field(default_factory=list)
    vault_roles: list[VaultRole] = field(default_factory=list)
    seconds: float = 0.0
    #: Vaults the policy wanted but whose own checks refused a rebalance, with the blocker.
    blocked: dict[str, str] = field(default_factory=dict)
    #: The rehearsal registered ``keeper`` on the batcher by impersonating ``admin``
    #: (``False``: the account already was one of its keepers).
    keeper_granted: bool = True
    #: Vaults whose redemption queues the cycle filled on the fork, after its hedge.
    queue_fills: list[str] = field(default_factory=list)
    #: Each expired series the cycle found and what became of it on the fork (settled there,
    #: or why not), as ``keeper check --json``'s ``settlements``.
    settlements: list[Settlement] = field(default_factory=list)
    #: Every transaction the cycle mined on the fork (reverted ones too), in the order sent.
    fork_txs: list[str] = field(default_factory=list)

    @property
    def rebalanced(self) -> list[str]:
        """The vaults whose rebalance succeeded in the fork's transaction."""
        return [o.vault for o in self.outcomes if o.ok]

    @property
    def direct(self) -> bool:
        """The transaction went to a vault itself, not through the batcher."""
        return self.tx_to is not None and self.tx_to != self.batcher

    @property
    def nothing_evaluated(self) -> str | None:
        """Why no vault could be judged (all skipped, one at least by a fault), else ``None``."""
        return nothing_evaluated(self.skipped, self.vaults)

    @property
    def total_fee_wei(self) -> int:
        """L2 execution fee plus L1 data fee."""
        return self.l2_fee_wei + self.l1_fee_wei

    @classmethod
    def of(
        cls,
        result: CycleResult,
        outcomes: list[RehearsedVault],
        cost: ForkCost | None = None,
        **where: Any,
    ) -> RehearsalReport:
        """The report of a rehearsed cycle.

        ``cost``: what every transaction the cycle mined on the fork cost (:func:`fork_cost`);
        ``None``, the cycle's own figures, its hedge's. ``where`` names the fork, keeper, admin,
        the transaction's recipient, the vault roles and the time.
        """
        if cost is None:
            cost = ForkCost(
                [result.tx_hash] if result.tx_hash else [],
                result.gas_used or 0,
                result.fee_wei or 0,
                result.l1_fee_wei or 0,
            )
        return cls(
            vaults=result.vaults,
            planned=list(result.planned),
            simulated=list(result.simulated),
            dropped=dict(result.dropped),
            skipped=dict(result.skipped),
            outcomes=outcomes,
            tx_hash=result.tx_hash,
            tx_status=result.tx_status,
            gas_used=cost.gas_used,
            l2_fee_wei=cost.l2_fee_wei,
            l1_fee_wei=cost.l1_fee_wei,
            fork_txs=list(cost.txs),
            decisions=[asdict(d) for d in result.decisions],
            blocked=dict(result.blocked),
            queue_fills=list(result.queue_fills),
            settlements=list(result.settlements),
            **where,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``keeper rehearse --json``)."""
        d = asdict(self)
        d["rebalanced"] = self.rebalanced
        d["direct"] = self.direct
        d["total_fee_wei"] = self.total_fee_wei
        d["nothing_evaluated"] = self.nothing_evaluated
        return d


@dataclass(frozen=True)
class ForkCost:
    """What the transactions a cycle mined on the fork cost, summed (:func:`fork_cost`)."""

    txs: list[str]
    gas_used: int
    l2_fee_wei: int
    l1_fee_wei: int


def fork_cost(
    w3: Web3,
    keeper: Keeper,
    attempts: int,
    *,
    receipts: dict[str, TxReceipt] | None = None,
) -> ForkCost:
    """Gas, L2 fee and L1 fee of every transaction the cycle mined on the fork.

    The rehearsal's throwaway journal holds every transaction the cycle sent (its hedge, its
    settlements, its queue fills); each one mined (or reverted at mining) is read again from
    the fork (:func:`_mined_receipt`, ``attempts`` reads at most; one in ``receipts``, the
    hedge's :func:`tx_outcomes` read, is not read twice) and priced as ``keeper run`` books it
    (:func:`keeper.app.fees.fees_paid`: the receipt's L1 fee where the chain reports one, else
    the quote of its signed bytes).

    Raises:
        ChainError: A receipt could not be read (one line naming it).
    """
    sender = keeper.sender
    if sender is None:
        return ForkCost([], 0, 0, 0)
    done = (TxStatus.MINED, TxStatus.REVERTED)
    mined = [r for r in sender.journal.mined_since(sender.address, 0) if r.status in done]
    gas = l2 = l1 = 0
    for record in mined:
        receipt = _mined_receipt(w3, record.tx_hash, attempts, receipts)
        used = int(receipt["gasUsed"])
        price = int(receipt.get("effectiveGasPrice") or record.effective_gas_price or 0)
        outcome = SendOutcome(
            record.nonce,
            record.tx_hash,
            record.status,
            int(receipt["blockNumber"]),
            used,
            Wei(price),
            0,
            receipt=receipt,
        )
        paid = fees_paid(keeper, outcome)
        gas += used
        l2 += paid.l2_wei
        l1 += paid.l1_wei or 0
    return ForkCost([r.tx_hash for r in mined], gas, l2, l1)


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    resp = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in resp:
        raise ChainError(f"{method} failed on the fork: {resp['error']}")
    return resp.get("result")


def _on_fork(what: str, step: Callable[[], T]) -> T:
    """Run one of the rehearsal's own reads or steps on its fork, before the cycle.

    A failure of the fork's node there is one :class:`ChainError` line naming ``what``: a read
    the provider gave up on (its "<method> failed on every RPC endpoint" named no step), and
    anything the provider does not retry -- an ``anvil_*`` request or an impersonated
    ``eth_sendTransaction`` (sent once) answered with an HTTP error, a garbled or cut answer, a
    JSON-RPC error, a web3 exception -- which ended the rehearsal in a traceback. A refusal the
    step words itself (:class:`ConfigError`: not an admin, no admin found;
    :class:`ExecutionError`: ``setKeeper`` failed) is raised as it is.
    """
    try:
        return step()
    except (ConfigError, ExecutionError):
        raise
    except ChainError as exc:
        raise ChainError(f"{what}: {first_line(exc)}") from exc
    except (OSError, Web3Exception, ValueError) as exc:
        raise ChainError(f"{what}: {type(exc).__name__}: {first_line(exc)}") from exc


def _logged_admin(w3: Web3, contract: Contract) -> str | None:
    """The first account granted ``contract``'s admin role that still holds it (from logs).

    The logs are read from block 0 to the latest, in narrower ranges where the RPC refuses a
    query as too large (:func:`keeper.chain.logs.get_logs`).

    Raises:
        ConfigError: The logs cannot be read (the message names the exception type, or the
            block whose logs alone are over the RPC's limit).
        Exception: A transient failure of the node (its retries spent), as it is: the fork's
            node, not the RPC's log limits, which an admin given by hand would avoid.
    """
    try:
        logs = get_logs(w3, contract.address, [_ROLE_GRANTED, _ADMIN_ROLE])
    except LogQueryTooLargeError as exc:
        raise ConfigError(f"cannot read the RoleGranted logs: {exc}") from None
    except (ChainError, Web3Exception, ValueError, OSError) as exc:
        if is_transient(exc):
            raise
        raise ConfigError(f"cannot read the RoleGranted logs ({type(exc).__name__})") from None
    for log in logs:
        candidate = to_checksum_address("0x" + bytes(log["topics"][2])[-20:].hex())
        if contract.functions.hasRole(bytes(32), candidate).call():
            return str(candidate)
    return None


def find_batcher_admin(w3: Web3, batcher: str) -> str:
    """The first account granted the batcher's admin role that still holds it (from logs).

    Raises:
        ConfigError: No such account found (pass ``--admin``).
    """
    contract = w3.eth.contract(
        address=to_checksum_address(batcher), abi=load_artifact("RebalanceBatcher").abi
    )
    try:
        found = _logged_admin(w3, contract)
    except ConfigError as exc:
        raise ConfigError(f"batcher {batcher}: {exc}: pass --admin") from None
    if found is None:
        raise ConfigError(f"no current admin of batcher {batcher} found in its logs: pass --admin")
    return found


def grant_keeper(w3: Web3, batcher: str, admin: str, keeper: str) -> bool:
    """On the fork: impersonate ``admin`` and register ``keeper`` on the batcher.

    Returns:
        Whether it registered ``keeper`` (``False``: it already was a keeper there).

    Raises:
        ConfigError: ``admin`` does not hold the batcher's admin role.
        ExecutionError: The ``setKeeper`` transaction failed.
    """
    contract = w3.eth.contract(
        address=to_checksum_address(batcher), abi=load_artifact("RebalanceBatcher").abi
    )
    admin = to_checksum_address(admin)
    if not contract.functions.hasRole(bytes(32), admin).call():
        raise ConfigError(f"{admin} is not an admin of batcher {contract.address}")
    if contract.functions.isKeeper(keeper).call():
        return False
    try:
        status = _send_as(w3, admin, contract.functions.setKeeper(keeper, True))
    except (ContractLogicError, Web3Exception, ValueError) as exc:
        raise ExecutionError(f"setKeeper on the fork failed: {exc}") from None
    if status != 1:
        raise ExecutionError("setKeeper on the fork reverted")
    logger.info("fork: %s registered as keeper on %s by %s", keeper, contract.address, admin)
    return True


def _send_as(w3: Web3, who: str, call: Any) -> int:
    """On the fork: send ``call`` from ``who``, impersonated and funded for gas; its status.

    Raises:
        ContractLogicError, Web3Exception, ValueError: It could not be sent or mined in time.
    """
    _rpc(w3, "anvil_impersonateAccount", who)
    try:
        _rpc(w3, "anvil_setBalance", who, hex(_GAS_FUNDING_WEI))
        tx_hash = call.transact({"from": who})
        return int(w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"])
    finally:
        _rpc(w3, "anvil_stopImpersonatingAccount", who)


def grant_vault_keepers(
    w3: Web3, vaults: Sequence[str], keeper: str, *admins: str | None
) -> list[VaultRole]:
    """On the fork: grant ``keeper`` each vault's ``KEEPER_ROLE``, impersonating its admin.

    A vault's admin is the first of ``admins`` (``None`` entries skipped) that holds the vault's
    ``DEFAULT_ADMIN_ROLE``, else the first current holder found in the vault's ``RoleGranted``
    logs. A vault whose admin cannot be found (or whose grant is refused) is not an error: it is
    logged as a warning -- a plan of that vault alone goes through the batcher in the
    rehearsal -- and reported as not held.

    Raises:
        ChainError: The fork's node failed a read or a request of a grant (transient, or a
            transport error): one line naming the vault. Taken for "not held", it would change
            what the rehearsal sends (a lone vault through the batcher).
    """
    candidates = [str(to_checksum_address(a)) for a in admins if a is not None]
    return [
        _on_fork(
            f"cannot grant {keeper} the keeper role of vault {vault} on the fork",
            partial(_grant_vault_keeper, w3, vault, keeper, candidates),
        )
        for vault in vaults
    ]


def _grant_vault_keeper(w3: Web3, vault: str, keeper: str, candidates: Sequence[str]) -> VaultRole:
    contract = w3.eth.contract(
        address=to_checksum_address(vault), abi=load_artifact("OptionVault").abi
    )
    vault = str(contract.address)
    role = bytes(contract.functions.KEEPER_ROLE().call())
    if contract.functions.hasRole(role, keeper).call():
        return VaultRole(vault, True, None, None)
    who = next((a for a in candidates if contract.functions.hasRole(bytes(32), a).call()), None)
    if who is None:
        try:
            who = _logged_admin(w3, contract)
        except ConfigError as exc:
            return _not_held(vault, f"{exc} (pass --vault-admin)")
    if who is None:
        return _not_held(vault, "no current admin found in its RoleGranted logs")
    try:
        status = _send_as(w3, who, contract.functions.grantRole(role, keeper))
    except (ContractLogicError, Web3Exception, ValueError) as exc:
        if is_transient(exc):
            raise  # the fork's node, not the grant
        return _not_held(vault, f"grantRole by {who} failed ({type(exc).__name__})")
    if status != 1:
        return _not_held(vault, f"grantRole by {who} reverted")
    logger.info("fork: %s granted vault %s's keeper role by %s", keeper, vault, who)
    return VaultRole(vault, True, who, None)


def _not_held(vault: str, why: str) -> VaultRole:
    note = f"{why}: a rehearsal of this vault alone takes the batcher path"
    logger.warning("fork: vault %s's keeper role not granted: %s", vault, note)
    return VaultRole(vault, False, None, note)


def tx_outcomes(
    w3: Web3,
    batcher: str,
    tx_hash: str,
    *,
    attempts: int = 3,
    receipts: dict[str, TxReceipt] | None = None,
) -> tuple[str | None, list[RehearsedVault]]:
    """The recipient and per-vault outcomes of the rehearsal's mined transaction.

    A batch (sent to the batcher) is read from the batcher's events. A lone vault's own call
    (sent to the vault) emits no batcher event: it is read from the vault's ``Rebalanced`` event,
    or failed by the receipt's status. The receipt is read again from the fork, after the cycle
    (:func:`_mined_receipt`, ``attempts`` reads at most), and kept in ``receipts`` if given
    (:func:`fork_cost` prices it from there).

    Raises:
        ChainError: The receipt could not be read: one line naming the read and its cause.
    """
    receipt = _mined_receipt(w3, tx_hash, attempts, receipts)
    to = receipt.get("to")
    recipient = str(to_checksum_address(to)) if to else None
    if recipient is None or recipient == to_checksum_address(batcher):
        return recipient, batch_outcomes(w3, batcher, receipt)
    return recipient, vault_outcomes(w3, recipient, receipt)


def _mined_receipt(
    w3: Web3, tx_hash: str, attempts: int, receipts: dict[str, TxReceipt] | None = None
) -> TxReceipt:
    """The receipt of the transaction the cycle saw mined, read again from the fork.

    One in ``receipts`` (by lower-case hash) is not read again; one read is added there.

    A transport error is retried (:func:`read_with_retry`), and so is a receipt the node says
    it does not have (a node behind the block the cycle saw it mined in): ``attempts`` reads in
    all at most. The cycle is over by then, and its report is what this read completes, so any
    failure of the read -- web3's, the transport's, the provider's -- is one line: it ended the
    rehearsal in a traceback.

    Raises:
        ChainError: The read failed, or the node still has no such receipt.
    """
    if receipts is not None and tx_hash.lower() in receipts:
        return receipts[tx_hash.lower()]
    receipt = _read_receipt(w3, tx_hash, attempts)
    if receipts is not None:
        receipts[tx_hash.lower()] = receipt
    return receipt


def _read_receipt(w3: Web3, tx_hash: str, attempts: int) -> TxReceipt:
    """:func:`_mined_receipt`'s read (see there)."""
    what = f"cannot read the receipt of the rehearsal's transaction {tx_hash} on the fork"

    def read() -> TxReceipt:
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]

    attempt = 0
    while True:
        attempt += 1
        try:
            return read_with_retry(read, attempts=attempts)
        except TransactionNotFound as exc:
            if attempt >= max(1, attempts):
                raise ChainError(
                    f"{what}: the node has none, after {attempt} read{'s' * (attempt > 1)} "
                    "(the cycle saw it mined)"
                ) from exc
            time.sleep(backoff_s(attempt, _RECEIPT_RETRY_S, _RECEIPT_RETRY_MAX_S))
        except ChainError as exc:  # the provider's own: every endpoint failed the read
            raise ChainError(f"{what}: {exc}") from exc
        except (OSError, Web3Exception, ValueError) as exc:
            raise ChainError(f"{what}: {type(exc).__name__}: {first_line(exc)}") from exc


def batch_outcomes(w3: Web3, batcher: str, receipt: TxReceipt) -> list[RehearsedVault]:
    """Per-vault outcomes of a mined ``rebalanceBatch``.

    A vault rebalanced is told by its own ``Rebalanced`` event (the batcher emits nothing more
    for it); one dropped, by the batcher's ``VaultRebalanceFailed``.
    """
    contract = w3.eth.contract(
        address=to_checksum_address(batcher), abi=load_artifact("RebalanceBatcher").abi
    )
    vaults = w3.eth.contract(abi=load_artifact("OptionVault").abi)
    out: list[RehearsedVault] = []
    for ev in vaults.events.Rebalanced().process_receipt(receipt, errors=DISCARD):
        a = ev["args"]
        out.append(
            RehearsedVault(
                str(to_checksum_address(ev["address"])),
                True,
                a["deltaBefore"],
                a["deltaAfter"],
                None,
                "Rebalanced",
            )
        )
    for ev in contract.events.VaultRebalanceFailed().process_receipt(receipt, errors=DISCARD):
        a = ev["args"]
        reason = "0x" + a["reason"].hex()
        out.append(
            RehearsedVault(str(a["vault"]), False, None, None, reason, "VaultRebalanceFailed")
        )
    return out


def vault_outcomes(w3: Web3, vault: str, receipt: TxReceipt) -> list[RehearsedVault]:
    """The outcome of a lone vault's own ``rebalance``/``rebalanceTo`` transaction.

    From the vault's ``Rebalanced`` event when it was emitted, else from the receipt: a reverted
    transaction (the chain moved between the simulation and the mining) failed.
    """
    contract = w3.eth.contract(
        address=to_checksum_address(vault), abi=load_artifact("OptionVault").abi
    )
    for ev in contract.events.Rebalanced().process_receipt(receipt, errors=DISCARD):
        if ev["address"] == contract.address:
            a = ev["args"]
            return [
                RehearsedVault(
                    contract.address, True, a["deltaBefore"], a["deltaAfter"], None, "Rebalanced"
                )
            ]
    why = "reverted" if receipt["status"] != 1 else "mined without a Rebalanced event"
    return [RehearsedVault(contract.address, False, None, None, why, "receipt")]


def rehearse(
    settings: Settings,
    fork_url: str,
    *,
    block: int | None = None,
    admin: str | None = None,
    vault_admin: str | None = None,
    keeper_index: int = DEFAULT_KEEPER_INDEX,
) -> RehearsalReport:
    """Fork, grant, run one keeper cycle, report; the fork anvil is always stopped.

    Args:
        settings: The keeper's settings (vaults, lens, batcher, policy, costs); its RPC URL,
            signer and journal are replaced by the fork's, an anvil account and a temp file.
        fork_url: The RPC to fork (never sent a transaction).
        block: Fork at this block (default: latest).
        admin: The batcher admin to impersonate (default: found from the batcher's logs).
        vault_admin: The vaults' admin to impersonate, for a vault whose admin role it holds
            (for an RPC that limits log queries). Otherwise the batcher admin if it holds the
            vault's admin role, else the vault's admin is found from the vault's logs.
        keeper_index: Which anvil dev account signs.

    Raises:
        ConfigError: No batcher or lens configured, a batcher that is not a RebalanceBatcher
            (no code there, or no ``maxBatch()``), or no admin found.
        ChainError: The fork URL does not answer, or anvil could not fork it.
        KeeperError: The cycle failed (as ``keeper run`` would).
    """
    if settings.batcher is None:
        raise ConfigError("rehearse needs the batcher address (KEEPER_BATCHER or --addresses)")
    batcher = settings.batcher
    check_offline(settings)  # before any fork is made
    started = time.monotonic()
    signer: LocalAccount = Account.from_key(ANVIL_KEYS[keeper_index])
    _check_reachable(fork_url, block)
    node = _start_fork(settings, fork_url, block)
    try:
        with tempfile.TemporaryDirectory(prefix="keeper-rehearse-") as tmp:
            w3 = connect(
                node.url,
                expected_chain_id=settings.chain_id,
                timeout_s=30,
                attempts=settings.rpc_retries,  # each read's, as `keeper run`'s (wiring)
                name="the fork of --fork-url",
            )
            # Each read and step before the cycle fails in one line naming it (_on_fork).
            fork_block = _on_fork(
                "cannot read the fork's block number", lambda: int(w3.eth.block_number)
            )
            # read before the cycle: after it, only the receipts
            chain_id = _on_fork("cannot read the fork's chain id", lambda: int(w3.eth.chain_id))
            _on_fork(
                f"cannot fund the rehearsal's keeper account {signer.address} on the fork",
                lambda: _rpc(w3, "anvil_setBalance", signer.address, hex(_GAS_FUNDING_WEI)),
            )
            # At --block, a contract not deployed yet is the block's doing, not the address's:
            # named with the block before any check that would blame the setting.
            if block is not None:
                _on_fork(
                    f"cannot read the contracts' code on the fork at block {block}",
                    lambda: _check_deployed(w3, settings, block),
                )
            # A batcher that is not one is named as such, before its admin is looked for.
            try:
                _on_fork(
                    f"cannot check the batcher {batcher} on the fork",
                    lambda: check_batcher(w3, batcher, None, attempts=settings.rpc_retries),
                )
            except ConfigError as exc:
                if block is None:
                    raise
                # It has code at --block but is not a batcher there (the check's own hint points
                # at the setting).
                raise ConfigError(
                    f"{exc}, on the fork at block {block}: is --block before the deployment?"
                ) from None
            who = (
                to_checksum_address(admin)
                if admin
                else _on_fork(
                    f"cannot find the admin of batcher {batcher} on the fork",
                    lambda: find_batcher_admin(w3, batcher),
                )
            )
            granted = _on_fork(
                f"cannot register {signer.address} as a keeper of batcher {batcher} "
                f"on the fork (impersonating {who})",
                lambda: grant_keeper(w3, batcher, who, signer.address),
            )
            journal = Path(tmp) / "rehearsal-journal.sqlite"
            fork_settings = _fork_settings(settings, node.url, ANVIL_KEYS[keeper_index], journal)
            keeper = build_keeper(w3, fork_settings, signer=signer)
            roles = grant_vault_keepers(w3, keeper.vaults, signer.address, vault_admin, who)
            result: CycleResult = run_alone(keeper)
            # Each receipt read once: the hedge's, for its outcomes, is priced from there too.
            receipts: dict[str, TxReceipt] = {}
            tx_to, outcomes = (
                tx_outcomes(
                    w3,
                    settings.batcher,
                    result.tx_hash,
                    attempts=settings.rpc_retries,
                    receipts=receipts,
                )
                if result.tx_hash
                else (None, [])
            )
            cost = fork_cost(w3, keeper, settings.rpc_retries, receipts=receipts)
            if keeper.sender is not None:
                keeper.sender.journal.close()
            return RehearsalReport.of(
                result,
                outcomes,
                cost,
                fork_url=redact_url(fork_url),
                fork_block=fork_block,
                chain_id=chain_id,
                keeper=signer.address,
                admin=str(who),
                keeper_granted=granted,
                batcher=settings.batcher,
                tx_to=tx_to,
                vault_roles=roles,
                seconds=time.monotonic() - started,
            )
    finally:
        node.stop()


def _start_fork(settings: Settings, fork_url: str, block: int | None) -> Anvil:
    """Start anvil forked from ``fork_url``; again, while it exits on a transient cause.

    anvil retries a 429 of the fork URL while it reads the fork block at start, but exits on an
    HTTP 5xx, a connection reset or refused, an answer cut short or a timeout. Such an exit
    (:attr:`AnvilExitedError.transient`) is tried again, ``KEEPER_RPC_RETRIES`` starts in all at
    most, after a jittered backoff, as long as the backoff ends within
    ``KEEPER_STARTUP_TIMEOUT_S`` of the first start (each start may then wait up to
    :data:`_FORK_START_S` and one fork request's timeout); each retry is one warning. A
    permanent cause (a 401 of a wrong key, a block the fork URL does not have) is not tried
    again. :meth:`Anvil.start` stops and reaps each anvil that failed before the next is
    started.

    anvil gives a fork request up after ``KEEPER_RPC_TIMEOUT_S`` (``--timeout``; at most
    ``KEEPER_STARTUP_TIMEOUT_S``), not its own 45 s: a provider that takes the request and never
    answers makes anvil exit on a timeout, tried again as a 502 is, where the wait for anvil to
    listen ran out first ("did not start listening"), which was not.

    Raises:
        ChainError: The last start failed: one line with anvil's reason, the URL shown by
            :func:`redact_url` (anvil's own words may quote it, API key and all).
    """
    deadline = time.monotonic() + settings.startup_timeout_s
    attempts = settings.rpc_retries
    where = redact_url(fork_url)
    request_s = min(settings.rpc_timeout_s, settings.startup_timeout_s)
    timeout = ("--timeout", str(max(1, round(request_s * 1000))))  # in ms
    attempt = 0
    while True:
        attempt += 1
        node = Anvil(
            fork_url=fork_url,
            fork_block=block,
            extra_args=timeout,
            startup_timeout_s=_FORK_START_S + request_s,
        )
        try:
            return node.start()
        except AnvilExitedError as exc:
            failed: ChainError = exc
            wait = backoff_s(attempt, _FORK_RETRY_S, _FORK_RETRY_MAX_S)
            if exc.transient and attempt < attempts and time.monotonic() + wait < deadline:
                logger.warning(
                    "anvil could not fork %s (%s), attempt %d of %d: starting it again in %.1fs",
                    where,
                    scrub_url(exc.reason, fork_url),
                    attempt,
                    attempts,
                    wait,
                )
                time.sleep(wait)
                continue
        except ChainError as exc:  # it did not come up in time, or the port is taken
            failed = exc
        raise ChainError(f"anvil could not fork {where}: {scrub_url(str(failed), fork_url)}")


def _check_deployed(w3: Web3, settings: Settings, block: int) -> None:
    """Refuse, naming ``block``, a fork at which the batcher, the lens or a vault has no code.

    Its start-up checks would blame the address (a deploy whose broadcast was cut short) for
    what is the block's doing: a block before that contract's deployment.

    Raises:
        ConfigError: One line naming the contract and the block.
    """
    named = [
        ("batcher", settings.batcher),
        ("lens", settings.lens),
        *(("vault", v) for v in settings.vaults),
    ]
    for what, address in named:
        if address is None:
            continue
        at = to_checksum_address(address)

        def get_code(a: ChecksumAddress = at) -> bytes:
            return bytes(w3.eth.get_code(a))

        if len(read_with_retry(get_code, attempts=settings.rpc_retries)) == 0:
            raise ConfigError(
                f"{what} {at} has no contract code on the fork at block {block}: is --block "
                "before its deployment?"
            )


def _check_reachable(fork_url: str, block: int | None = None) -> None:
    """Ask the fork URL for its chain id (and head, for ``block``) before starting anvil on it.

    Raises:
        ChainError: It does not answer (the message names the URL, without any API key).
        ConfigError: It is not an RPC URL (named as ``--fork-url``), or ``block`` is past its
            head (anvil would fail to fork it, after retries).
    """
    try:
        w3 = connect(fork_url, timeout_s=10)
        head = int(w3.eth.block_number) if block is not None else None
    except ConfigError as exc:  # not a URL: said of the flag, not of KEEPER_RPC_URL
        raise ConfigError(f"--fork-url: {exc}: no fork was started") from None
    except (ChainError, OSError, Web3Exception) as exc:
        raise ChainError(
            f"the fork URL {redact_url(fork_url)} is unreachable ({exc}): no fork was started"
        ) from exc
    if block is None or head is None:
        return
    if block > head:
        raise ConfigError(
            f"--block {block} is past the head of {redact_url(fork_url)} (block {head}): "
            "no fork was started"
        )


def _fork_settings(settings: Settings, url: str, key: str, journal: Path) -> Settings:
    """The settings with the fork's RPC, an anvil key, a throwaway journal, and no side effects."""
    return settings.model_copy(
        update={
            "rpc_url": url,
            "private_key": SecretStr(key),
            "keystore_path": None,
            "keystore_password": None,
            "journal_path": journal,
            "alert_webhook_url": None,
            "metrics_port": 0,
        }
    )
