"""The fee a `keeper vault` report prints on an OP Stack L2 (Base, Optimism)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes

from keeper.app import depositor
from keeper.app.depositor import VaultClient
from keeper.execution.transactions import Transactor

ME = Account.create()


def _client(monkeypatch: pytest.MonkeyPatch, receipt: dict[str, Any]) -> Any:
    """A client on chain 8453 whose every send is mined with ``receipt``."""
    monkeypatch.setattr(depositor, "refuse_while_pending", lambda *a: None)
    monkeypatch.setattr(Transactor, "call", lambda self, call, what=None, fees=None: receipt)
    client: Any = object.__new__(VaultClient)
    client.w3 = SimpleNamespace(eth=SimpleNamespace(chain_id=8453))
    client.settings = SimpleNamespace(
        max_fee_per_gas_wei=10**12,
        max_priority_fee_wei=10**9,
        priority_fee_wei=10**6,
        gas_headroom_bps=2000,
        receipt_timeout_s=120.0,
    )
    client.decoder = None
    client._receipts = {}
    return client


def test_report_fee_includes_the_op_stack_l1_data_fee(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OP Stack receipt (Base: chain 8453) carries ``l1Fee``, the L1 data fee the sender paid
    on top of ``gasUsed * effectiveGasPrice``; on Base it is often most of the fee. Before, the
    depositor's report left it out; now its ``fee_wei`` includes it, as the keeper books it
    (keeper/app/fees.py)."""
    receipt: dict[str, Any] = {
        "transactionHash": HexBytes(b"\x11" * 32),
        "blockNumber": 100,
        "status": 1,
        "gasUsed": 92_356,
        "effectiveGasPrice": 1_000_000,  # 0.001 gwei: an L2 price
        "l1Fee": 400_000_000_000,  # 4e11 wei of L1 data fee
    }
    tx = VaultClient._send(_client(monkeypatch, receipt), ME, object(), "deposit")
    paid = 92_356 * 1_000_000 + 400_000_000_000
    assert tx.fee_wei == paid, f"report says fee {tx.fee_wei} wei, the depositor paid {paid}"


def test_a_receipt_without_l1_fee_costs_gas_times_price(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arbitrum (its gasUsed includes the L1 part), a devnet: no ``l1Fee``, nothing added; a
    hex ``l1Fee`` (a field web3 does not format) is read as a number."""
    receipt: dict[str, Any] = {
        "transactionHash": HexBytes(b"\x22" * 32),
        "blockNumber": 7,
        "status": 1,
        "gasUsed": 50_000,
        "effectiveGasPrice": 3,
    }
    client = _client(monkeypatch, receipt)
    assert VaultClient._send(client, ME, object(), "withdraw").fee_wei == 150_000
    receipt["l1Fee"] = "0x10"
    assert VaultClient._send(client, ME, object(), "withdraw").fee_wei == 150_016
