"""The wiring: a :class:`~keeper.app.collaborators.Keeper` from :class:`~keeper.settings.Settings`.

The only code in the application that reads settings; every collaborator it builds is passed in
to the cycle. The web3 connection is opened by the caller and passed here.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from keeper.app.collaborators import Keeper
from keeper.chain.connection import connect, rpc_counter
from keeper.chain.l1fee import l1_fee_reader
from keeper.chain.lens import LensReader
from keeper.chain.vaults import factory_vaults, validate_vaults
from keeper.errors import ConfigError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.settings import Settings
from keeper.strategy import parse_policy
from keeper.units import Wei


def connect_keeper(
    settings: Settings, *, dry_run: bool = False, simulate_as_signer: bool = False
) -> Keeper:
    """Open the configured RPC and wire a keeper over it.

    Key and keystore problems are reported before any network access.

    Args:
        settings: The keeper's settings.
        dry_run: Never sign, even with a key (``keeper run --dry-run``, ``keeper check``).
        simulate_as_signer: In dry-run mode, simulate batches from the configured signer's
            address unless ``KEEPER_SIMULATE_FROM`` is set (``keeper check``).

    Raises:
        ConfigError: A bad key, keystore, address or vault, or a missing lens/batcher.
        ChainError: The RPC cannot be reached or is on another chain.
    """
    signer = settings.signer() if simulate_as_signer or not dry_run else None
    w3 = connect(
        settings.rpc_urls, expected_chain_id=settings.chain_id, timeout_s=settings.rpc_timeout_s
    )
    keeper = build_keeper(w3, settings, dry_run=dry_run, signer=signer)
    if simulate_as_signer and keeper.simulate_from is None and signer is not None:
        keeper.simulate_from = signer.address
    return keeper


def resolve_vaults(w3: Web3, settings: Settings) -> list[str]:
    """The vaults to keep: the configured list, else the factory's registry; each validated.

    Raises:
        ConfigError: None configured, or an address is not a vault.
    """
    vaults = list(settings.vaults)
    if not vaults and settings.factory:
        vaults = factory_vaults(w3, settings.factory, attempts=settings.rpc_retries)
    if not vaults:
        raise ConfigError("no vaults: set KEEPER_VAULTS or KEEPER_FACTORY (or --addresses)")
    return validate_vaults(w3, vaults, attempts=settings.rpc_retries)


def build_keeper(
    w3: Web3,
    settings: Settings,
    *,
    dry_run: bool = False,
    signer: LocalAccount | None = None,
    metrics: Metrics | None = None,
    alerter: Alerter | None = None,
    journal: Journal | None = None,
) -> Keeper:
    """Wire a :class:`~keeper.app.collaborators.Keeper` from settings over an open connection.

    Raises:
        ConfigError: Missing lens/batcher, bad vaults, unreadable key or keystore.
    """
    if settings.lens is None:
        raise ConfigError("KEEPER_LENS is not set (the VaultLens address)")
    if dry_run:
        signer = None
    elif signer is None:
        signer = settings.signer()
    if signer is not None and settings.batcher is None:
        raise ConfigError("KEEPER_BATCHER is not set (the RebalanceBatcher address)")
    vaults = resolve_vaults(w3, settings)
    chain_id = int(w3.eth.chain_id)
    metrics = metrics or Metrics()
    alerter = alerter or Alerter(
        settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
    )
    sender = None
    if signer is not None:
        sender = _sender(w3, settings, signer, journal, alerter, chain_id)
    return Keeper(
        w3=w3,
        vaults=vaults,
        lens=LensReader(
            w3, settings.lens, chunk=settings.lens_chunk, attempts=settings.rpc_retries
        ),
        policy=parse_policy(settings.policy),
        config=settings.cycle,
        batcher=settings.batcher,
        sender=sender,
        simulate_from=settings.simulate_from,
        l1fee=l1_fee_reader(w3, settings.l1_fee_mode, chain_id),
        decoder=ErrorDecoder.from_artifacts(),
        metrics=metrics,
        alerter=alerter,
        counter=rpc_counter(w3),
        chain_id=chain_id,
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
            alerter.alert("stuck_tx", f"replaced stuck tx at nonce {record.nonce}")

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
        on_event=on_event,
    )
