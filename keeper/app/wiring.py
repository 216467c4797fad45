"""The wiring: a :class:`~keeper.app.collaborators.Keeper` from :class:`~keeper.settings.Settings`.

The only code in the application that reads settings; every collaborator it builds is passed in
to the cycle. The web3 connection is opened by the caller and passed here.

Every start-up read (the chain id, the vaults, the lens, the batcher and the signer's keeper
role, the L1-fee reader) is one named *step*: a transient failure is retried until the current
deadline (``keeper run`` sets ``KEEPER_STARTUP_TIMEOUT_S``), then the keeper gives up with one
line that says which step and why. The journal is reconciled later, in the loop, under its
error handling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.app.act import refuses_batcher
from keeper.app.collaborators import Keeper
from keeper.chain.connection import connect, rpc_counter
from keeper.chain.l1fee import l1_fee_reader
from keeper.chain.lens import LensReader
from keeper.chain.retry import backoff_s, is_transient, read_with_retry, remaining_s
from keeper.chain.vaults import (
    check_batcher,
    eth_underlying_vaults,
    factory_vaults,
    validate_vaults,
    vaults_without_grant,
)
from keeper.errors import ChainError, ConfigError, KeeperError, first_line
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender
from keeper.execution.simulate import BatchCodec, call_still_succeeds
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.settings import Settings, read_addresses_file
from keeper.strategy import parse_policy
from keeper.strategy.policies import TimePolicy
from keeper.units import Wei

logger = logging.getLogger(__name__)

T = TypeVar("T")


def startup_step(what: str, fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """Run one start-up read, retrying transient failures until the current deadline.

    Raises:
        ChainError: ``"start-up gave up on <what>: ..."`` once the deadline has passed (at once
            when the endpoints' ``Retry-After`` runs past it), or
            ``"start-up failed on <what>: ..."`` at once for a permanent error of the node or
            its transport (a JSON-RPC error such as an unsupported method): one line either way.
            A :class:`~keeper.errors.KeeperError` propagates at once, unchanged.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                if isinstance(exc, (Web3Exception, OSError)) and not isinstance(exc, KeeperError):
                    # Not one of ours: web3's own exception would end the command as a traceback.
                    raise ChainError(
                        f"start-up failed on {what}: the RPC refused it "
                        f"({type(exc).__name__}: {first_line(exc)})"
                    ) from exc
                raise
            left = remaining_s()
            wait = backoff_s(attempt, 0.5, 5.0)
            asked = getattr(exc, "retry_after_s", None)
            if asked is not None and (left is None or asked >= left):
                # The endpoints asked not to be asked again until after the deadline: every
                # retry before then would give up the same way, sending nothing.
                raise ChainError(f"start-up gave up on {what}: {first_line(exc)}") from exc
            if left is None or left <= wait:
                raise ChainError(
                    f"start-up gave up on {what} after {attempt} attempts: the RPC kept failing "
                    f"({type(exc).__name__}: {first_line(exc)})"
                ) from exc
            logger.warning("start-up: %s failed (%s); retrying", what, type(exc).__name__)
            sleep(wait)


def connect_keeper(
    settings: Settings, *, dry_run: bool = False, simulate_as_signer: bool = False
) -> Keeper:
    """Open the configured RPC and wire a keeper over it.

    Key, keystore, lens and policy problems are reported before any network access.

    Args:
        settings: The keeper's settings.
        dry_run: Never sign, even with a key (``keeper run --dry-run``, ``keeper check``).
        simulate_as_signer: In dry-run mode, simulate batches from the configured signer's
            address, as ``keeper run`` would send them; ``KEEPER_SIMULATE_FROM`` only without a
            signer (``keeper check``).

    Raises:
        ConfigError: A bad key, keystore, address or vault, or a missing lens/batcher.
        ChainError: The RPC cannot be reached or is on another chain.
    """
    signer = settings.signer() if simulate_as_signer or not dry_run else None
    check_offline(settings)
    # Only a keeper that sends needs the send endpoint (connect requires it to answer): a dry
    # run (`keeper check`, `keeper run --dry-run`, a keeper with no key) looks at the vaults even
    # while the private RPC is down.
    sends = not dry_run and signer is not None
    w3 = connect(
        settings.rpc_urls,
        expected_chain_id=settings.chain_id,
        timeout_s=settings.rpc_timeout_s,
        send_url=settings.send_rpc_url if sends else None,
        hedge_s=settings.rpc_hedge_s,
        attempts=settings.rpc_retries,
    )
    # The signer first (README, .env.example): `keeper check` shows what `keeper run` would
    # send, and a KEEPER_SIMULATE_FROM left set beside a key made it simulate as another.
    simulate_signer = signer.address if simulate_as_signer and signer is not None else None
    return build_keeper(
        w3, settings, dry_run=dry_run, signer=signer, simulate_signer=simulate_signer
    )


def resolve_vaults(w3: Web3, settings: Settings) -> list[str]:
    """The vaults to keep: the configured list, else the factory's registry; each validated.

    Raises:
        ConfigError: None configured, or an address is not a vault.
    """
    vaults = list(settings.vaults)
    if not vaults and settings.factory:
        factory = settings.factory
        vaults = startup_step(
            "listing the factory's vaults",
            lambda: factory_vaults(w3, factory, attempts=settings.rpc_retries),
        )
    if not vaults and settings.factory:
        raise ConfigError(
            f"factory {settings.factory} lists no vaults: set KEEPER_VAULTS, or check "
            "KEEPER_FACTORY or the addresses file's factory"
        )
    if not vaults:
        raise ConfigError("no vaults: set KEEPER_VAULTS or KEEPER_FACTORY (or --addresses)")
    return startup_step(
        "checking the vaults",
        lambda: validate_vaults(
            w3, vaults, attempts=settings.rpc_retries, listed_in=_listing_file(settings, vaults)
        ),
    )


def _listing_file(settings: Settings, vaults: list[str]) -> Path | None:
    """The addresses file, when the vaults to check are the ones it lists (else None)."""
    file = settings.addresses_file
    if file is None:
        return None
    try:
        listed = {str(v).lower() for v in read_addresses_file(file).get("vaults") or []}
    except (ConfigError, OSError, TypeError):
        return None
    return file if {v.lower() for v in vaults} <= listed else None


def check_offline(settings: Settings) -> None:
    """What a cycle needs of the settings that can be checked before any network access.

    Raises:
        ConfigError: No lens configured, a malformed policy, or a ``time`` policy that counts
            grid steps (``every``), which only the backtester has.
    """
    _require_lens(settings)
    policy = parse_policy(settings.policy)
    if isinstance(policy, TimePolicy) and policy.every is not None:
        raise ConfigError(
            f"policy {settings.policy!r}: time:every counts the backtester's grid steps; the "
            "live keeper has none, so give time:interval=SECONDS"
        )


def _require_lens(settings: Settings) -> str:
    """The lens address.

    Raises:
        ConfigError: None is configured.
    """
    if settings.lens is None:
        raise ConfigError("no VaultLens address: set KEEPER_LENS, or 'lens' in the addresses file")
    return settings.lens


def check_lens(w3: Web3, lens: str, vaults: list[str], *, attempts: int = 3) -> None:
    """Check ``lens`` is a VaultLens: it has code and answers a lean read of the first vault.

    Without this, a wrong lens address (an EOA, a token) passed every start-up check and each
    cycle then failed on an answer that was not a lean snapshot.

    Raises:
        ConfigError: One line naming the address: no code there, or not a VaultLens.
    """
    where = "check KEEPER_LENS or the addresses file's lens"
    code = read_with_retry(lambda: bytes(w3.eth.get_code(lens)), attempts=attempts)  # type: ignore[arg-type]
    if len(code) == 0:
        raise ConfigError(f"lens {lens} has no contract code, so it is not a VaultLens ({where})")
    try:
        LensReader(w3, lens, attempts=attempts, book_cache=False).read_lean(vaults[:1])
    except ChainError as exc:
        if is_transient(exc):
            raise
        raise ConfigError(f"{lens} is not a VaultLens ({first_line(exc)}; {where})") from None


def build_keeper(
    w3: Web3,
    settings: Settings,
    *,
    dry_run: bool = False,
    signer: LocalAccount | None = None,
    metrics: Metrics | None = None,
    alerter: Alerter | None = None,
    journal: Journal | None = None,
    simulate_signer: str | None = None,
) -> Keeper:
    """Wire a :class:`~keeper.app.collaborators.Keeper` from settings over an open connection.

    ``simulate_signer`` is, in a dry run, the signer's address to simulate batches as
    (``keeper check`` with a key); else ``KEEPER_SIMULATE_FROM``. Either is checked, as a signer
    is, to be a keeper of the batcher: a batch simulated from anyone else reverts.

    Raises:
        ConfigError: Missing lens/batcher, bad vaults, unreadable key or keystore, or a signer
            (or the account a dry run simulates as) that is not a keeper of the batcher.
    """
    lens = _require_lens(settings)
    if dry_run:
        signer = None
    elif signer is None:
        signer = settings.signer()
    if signer is not None and settings.batcher is None:
        raise ConfigError("KEEPER_BATCHER is not set (the RebalanceBatcher address)")
    vaults = resolve_vaults(w3, settings)
    startup_step(
        "checking the lens", lambda: check_lens(w3, lens, vaults, attempts=settings.rpc_retries)
    )
    codec = BatchCodec()
    if settings.batcher is not None:
        batcher = settings.batcher
        if signer is not None or simulate_signer is not None:
            who = "signer"
            keeper_address = signer.address if signer is not None else simulate_signer
        else:
            who, keeper_address = "KEEPER_SIMULATE_FROM", settings.simulate_from
        max_batch = startup_step(
            "checking the batcher and the keeper role",
            lambda: check_batcher(
                w3, batcher, keeper_address, attempts=settings.rpc_retries, who=who
            ),
        )
        codec.remember_max_batch(batcher, max_batch)  # batches are cut to it
    eth_vaults = _eth_vaults(w3, settings, vaults)
    chain_id = startup_step("reading the chain id", lambda: int(w3.eth.chain_id))
    metrics = metrics or Metrics()
    alerter = alerter or Alerter(
        settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    )
    sender = None
    if signer is not None:
        sender = _sender(w3, settings, signer, journal, alerter, chain_id)
        sender.journal.claim()  # one signing keeper per journal: a second one stops here
        genesis = startup_step("reading the genesis block", lambda: w3.eth.get_block(0)["hash"])
        sender.journal.bind_chain(chain_id, Web3.to_hex(genesis))
        startup_step("checking the journal's mined blocks", sender.check_history)
    if settings.batcher is not None and vaults:
        # After the journal's claim: a second keeper started by mistake stops before alerting.
        _alert_missing_grants(w3, settings, settings.batcher, vaults, alerter)
    return Keeper(
        w3=w3,
        vaults=vaults,
        lens=LensReader(w3, lens, chunk=settings.lens_chunk, attempts=settings.rpc_retries),
        policy=parse_policy(settings.policy),
        config=settings.cycle,
        batcher=settings.batcher,
        sender=sender,
        simulate_from=simulate_signer or settings.simulate_from,
        l1fee=startup_step(
            "setting up the L1-fee reader",
            lambda: l1_fee_reader(w3, settings.l1_fee_mode, chain_id),
        ),
        decoder=ErrorDecoder.from_artifacts(),
        metrics=metrics,
        alerter=alerter,
        counter=rpc_counter(w3),
        codec=codec,
        chain_id=chain_id,
        locked_seen=sender.journal.locked_seen() if sender is not None else {},
        eth_vaults=eth_vaults,
        rpc_retries=settings.rpc_retries,
    )


def _eth_vaults(w3: Web3, settings: Settings, vaults: list[str]) -> frozenset[str] | None:
    """The vaults whose oracle prices gas (lower case), when ``KEEPER_ETH_USD`` is unset.

    Gas and the L1 fee are paid in ETH: only a vault whose underlying is ETH prices them right.

    Raises:
        ConfigError: No vault's underlying is ETH (nothing to price gas with).
    """
    if settings.cycle.eth_usd is not None or not vaults:
        return None
    found = startup_step(
        "reading the vaults' underlying tokens",
        lambda: eth_underlying_vaults(w3, vaults, attempts=settings.rpc_retries),
    )
    if not found:
        raise ConfigError(
            f"no vault's underlying is ETH (its token's symbol() WETH or ETH; {len(vaults)} "
            "vaults read), and gas and the L1 fee are paid in ETH: set KEEPER_ETH_USD to price "
            "them"
        )
    return frozenset(v.lower() for v in found)


def _alert_missing_grants(
    w3: Web3, settings: Settings, batcher: str, vaults: list[str], alerter: Alerter
) -> None:
    """A ``blocked`` alert, at start-up, for each vault that has not granted its BATCHER_ROLE.

    Such a vault refuses every batch the keeper sends it (another deployment's vault, a grant
    forgotten). The cycle alerts it too, but only once the vault needs a hedge, which may be
    hours after a deployment: here the operator hears of it at once. The batcher's
    ``KEEPER_ROLE`` is not asked: only a lone vault sent through the batcher needs it, and with
    ``KEEPER_DIRECT_SINGLE`` (the default) one goes to the vault from the signer; the cycle
    alerts a refusal when it meets one. Advisory: a read that fails is a warning, never the end
    of the start-up; the other vaults are served, and a grant made later needs no restart.
    """
    try:
        missing = vaults_without_grant(w3, vaults, batcher, attempts=settings.rpc_retries)
    except (KeeperError, OSError, Web3Exception, ValueError) as exc:
        logger.warning(
            "could not check the vaults' BATCHER_ROLE grants to batcher %s (%s: %s); "
            "a vault that refuses it is alerted when it needs a hedge",
            batcher,
            type(exc).__name__,
            first_line(exc),
        )
        return
    if not missing:
        return
    logger.warning(
        "%d of %d vaults have not granted batcher %s its BATCHER_ROLE (alerted as blocked)",
        len(missing),
        len(vaults),
        batcher,
    )
    why = "it has not granted BATCHER_ROLE (read at start-up)"
    alerter.alert_each(
        "blocked",
        {
            f"refused-{vault}": refuses_batcher(vault, batcher, why, ("BATCHER_ROLE",))
            for vault in missing
        },
    )


def _sender(
    w3: Web3,
    settings: Settings,
    signer: LocalAccount,
    journal: Journal | None,
    alerter: Alerter,
    chain_id: int,
) -> Sender:
    def on_event(event: str, record: Any) -> None:
        if event == "replaced":
            # One key a nonce: a second stuck nonce within the throttle interval is its own.
            alerter.alert(
                "stuck_tx",
                f"replaced stuck tx at nonce {record.nonce}",
                key=f"replaced-{record.nonce}",
            )
        elif event == "unsent":
            alerter.alert(
                "stuck_tx",
                f"tx at nonce {record.nonce} not sent: no connection to the RPC it goes to "
                "(KEEPER_SEND_RPC_URL, or the read endpoints); sent again until one takes it",
                key=f"unsent-{record.nonce}",
            )
        elif event == "cancel-signed":
            alerter.alert(
                "stuck_tx",
                f"cancelling tx at nonce {record.nonce}: its plan no longer simulates",
                key=f"cancel-{record.nonce}",
            )

    codec = BatchCodec()
    decoder = ErrorDecoder.from_artifacts()

    def still_valid(to: str, data: bytes) -> bool:
        return call_still_succeeds(w3, to, data, signer.address, codec, decoder)

    return Sender(
        w3,
        signer,
        journal or Journal(settings.journal_path),
        FeeCaps(Wei(settings.max_fee_per_gas_wei), Wei(settings.max_priority_fee_wei)),
        tip=settings.priority_fee_wei,
        confirmations=settings.confirmations,
        replace_after_blocks=settings.replace_after_blocks,
        receipt_timeout_s=settings.receipt_timeout_s,
        poll_s=min(settings.poll_interval_s, 0.5),
        chain_id=chain_id,
        finality_depth=settings.finality_depth,
        still_valid=still_valid,
        on_event=on_event,
    )
