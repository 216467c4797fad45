"""The journaled sender without a node: what a journaled version calls."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from keeper.execution.fees import FeeCaps, Fees
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender
from keeper.execution.transactions import build_tx, sign_tx
from keeper.units import Wei

VAULT = "0x" + "a1" * 20


def sender() -> Sender:
    return Sender(
        None,  # type: ignore[arg-type]  # nothing here talks to a node
        Account.create(),
        Journal(":memory:"),
        FeeCaps(Wei(10**11), Wei(10**9)),
        chain_id=10,
    )


def journal_signed(s: Sender, nonce: int, to: str, data: bytes, intent: int) -> str:
    fees = Fees(Wei(10**9), Wei(10**6))
    tx: dict[str, Any] = build_tx(
        chain_id=10, nonce=nonce, to=to, data=data, gas=100_000, fees=fees
    )
    signed = sign_tx(s._account, tx)
    s.journal.record_signed(
        intent_id=intent,
        account=s.address,
        nonce=nonce,
        tx_hash=signed.tx_hash,
        raw_tx="0x" + signed.raw.hex(),
        max_fee=fees.max_fee_per_gas,
        priority_fee=fees.max_priority_fee_per_gas,
        gas=100_000,
    )
    return signed.tx_hash


def test_call_of_reads_the_journaled_versions_target_and_calldata() -> None:
    s = sender()
    intent = s.journal.open_intent([VAULT], 1)
    call = bytes.fromhex("7dc0d1d0") + (3).to_bytes(32, "big")
    tx_hash = journal_signed(s, 0, VAULT.lower(), call, intent)
    to, data = s.call_of(tx_hash)
    assert to == to_checksum_address(VAULT)
    assert data == call
    cancel = journal_signed(s, 0, s.address, b"", intent)
    assert s.call_of(cancel) == (s.address, b"")
