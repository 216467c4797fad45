"""A mined batch is never booked ``dropped`` because a lagging endpoint had no receipt yet.

The failover provider picks an endpoint per request: the ``latest`` nonce read can be answered
by a node at the head while the receipt reads go to one a few blocks behind (it has no receipt
yet). No node here: :class:`TwoNodes` is a JSON-RPC provider over two views of one scripted
:class:`~tests.unit.test_audit_findings.FakeChain`, one at its head and one ``lag`` blocks
behind, each single request routed as the test says and a batch answered whole by one of them
(as :class:`~keeper.chain.connection.FailoverProvider` posts a batch to one endpoint).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from keeper.execution.journal import IntentStatus, Journal, TxStatus
from keeper.execution.sender import Sender
from tests.unit.test_audit_findings import (
    CALL,
    CAPS,
    GWEI,
    VAULT,
    FakeChain,
    PoolTx,
    make_sender,
)


class TwoNodes(JSONBaseProvider):
    """``chain`` seen by a node at its head (``fresh``) and by one ``lag`` blocks behind.

    ``lagging``: the single-request methods the lagging node answers (the fresh one answers
    the rest); ``batch``: the node that answers a batch.
    """

    def __init__(self, chain: FakeChain, lagging: set[str], batch: str) -> None:
        super().__init__()
        self.chain = chain
        self.lag = 0
        self.lagging = lagging
        self.batch = batch
        self.asked: list[tuple[str, str]] = []

    def _head(self, node: str) -> int:
        return self.chain.block_number - (self.lag if node == "lagging" else 0)

    def _answer(self, node: str, method: str, params: list[Any]) -> Any:
        self.asked.append((node, method))
        head = self._head(node)
        if method == "eth_chainId":
            return hex(self.chain.chain_id)
        if method == "eth_blockNumber":
            return hex(head)
        if method == "eth_getBlockByNumber":
            block = self.chain.get_block(head if params[0] == "latest" else int(params[0], 16))
            return {
                "number": hex(block["number"]),
                "hash": "0x" + bytes(block["hash"]).hex(),
                "baseFeePerGas": hex(block["baseFeePerGas"]),
            }
        if method == "eth_getTransactionCount":
            which = params[1]
            mined = sum(len(b["txs"]) for b in self.chain.blocks[: head + 1])
            if which != "pending" or node == "lagging":
                return hex(mined)
            return hex(self.chain.get_transaction_count(params[0], "pending"))
        if method == "eth_getTransactionReceipt":
            try:
                r = self.chain.get_transaction_receipt(params[0])
            except TransactionNotFound:
                return None
            if r["blockNumber"] > head:
                return None  # in a block this node does not have yet
            return {
                "transactionHash": "0x" + bytes(r["transactionHash"]).hex(),
                "blockNumber": hex(r["blockNumber"]),
                "blockHash": "0x" + bytes(r["blockHash"]).hex(),
                "status": hex(r["status"]),
                "gasUsed": hex(r["gasUsed"]),
                "effectiveGasPrice": hex(r["effectiveGasPrice"]),
                "logs": [],
            }
        if method == "eth_sendRawTransaction":
            return "0x" + bytes(self.chain.send_raw_transaction(params[0])).hex()
        raise AssertionError(f"unexpected {method}")

    def _response(self, node: str, rid: Any, method: str, params: list[Any]) -> dict[str, Any]:
        try:
            return {"jsonrpc": "2.0", "id": rid, "result": self._answer(node, method, params)}
        except Web3RPCError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": str(exc)}}

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        req = json.loads(self.encode_rpc_request(method, params))
        node = "lagging" if str(method) in self.lagging else "fresh"
        return self._response(node, req["id"], str(method), req["params"])  # type: ignore[return-value]

    def make_batch_request(
        self, requests_info: list[tuple[RPCEndpoint, Any]]
    ) -> list[RPCResponse] | RPCResponse:
        reqs = json.loads(self.encode_batch_rpc_request(requests_info))
        return [self._response(self.batch, r["id"], r["method"], r["params"]) for r in reqs]  # type: ignore[misc]

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def sender_over(provider: TwoNodes, journal: Journal) -> Sender:
    return Sender(Web3(provider), Account.create(), journal, CAPS, chain_id=10, poll_s=0.0)


def poll_for(s: Sender, nonce: int, seconds: float) -> list[Any]:
    """Poll ``nonce`` for ``seconds`` (longer than the grace); every outcome, in order."""
    outcomes: list[Any] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        outcome = s.poll_nonce(nonce)
        if outcome is not None:
            outcomes.append(outcome)
            break
        time.sleep(0.01)
    return outcomes


@pytest.mark.parametrize("batch", ["fresh", "lagging"])
def test_a_mined_batch_is_not_dropped_while_receipt_reads_lag(
    batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nonce reads say "used" (a node at the head), the receipt reads say "not yet" (a node
    3 blocks behind), for longer than ``DROP_GRACE_S``: the batch was mined, so it must not be
    dropped (intent abandoned as "nonce used by another transaction"); once the receipt reads
    catch up it is booked mined."""
    monkeypatch.setattr("keeper.execution.sender.DROP_GRACE_S", 0.05)
    chain = FakeChain()
    provider = TwoNodes(chain, {"eth_getTransactionReceipt"}, batch)
    journal = Journal(":memory:")
    s = sender_over(provider, journal)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()  # mined in block 1
    chain.mine()
    chain.mine()
    provider.lag = 3  # the receipt node is at block 0

    assert poll_for(s, record.nonce, 0.4) == []  # no receipt anywhere it looked: not settled
    assert journal.tx(record.tx_hash).status is TxStatus.SENT
    assert journal.intent(record.intent_id).status is IntentStatus.OPEN

    provider.lag = 0  # the receipt reads catch up
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
    assert journal.tx(record.tx_hash).status is TxStatus.MINED
    assert journal.intent(record.intent_id).status is IntentStatus.MINED
    assert len([t for t in chain.mined if t.data == CALL]) == 1


@pytest.mark.parametrize("batch", ["fresh", "lagging"])
def test_a_restart_does_not_drop_a_mined_batch_while_receipt_reads_lag(
    batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same at start-up: :meth:`Sender.reconcile` reads the nonce used and waits the grace
    for a receipt, which only the lagging node is asked for."""
    monkeypatch.setattr("keeper.execution.sender.DROP_GRACE_S", 0.05)
    chain = FakeChain()
    provider = TwoNodes(chain, {"eth_getTransactionReceipt"}, batch)
    journal = Journal(":memory:")
    acct = Account.create()
    s = Sender(Web3(provider), acct, journal, CAPS, chain_id=10, poll_s=0.0)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()  # mined in block 1
    chain.mine()
    chain.mine()
    provider.lag = 3  # the receipt node is at block 0

    restarted = Sender(Web3(provider), acct, journal, CAPS, chain_id=10, poll_s=0.0)
    report = restarted.reconcile()
    assert report.dropped == 0
    assert report.rebroadcast == 0
    assert journal.tx(record.tx_hash).status is TxStatus.SENT
    assert restarted.take_reconciled() == []

    provider.lag = 0
    outcome = restarted.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
    assert journal.intent(record.intent_id).status is IntentStatus.MINED


def spend_nonce_elsewhere(chain: FakeChain, nonce: int) -> None:
    """Another process with the keeper's key takes ``nonce`` (the journal never saw it)."""
    chain.pool[nonce] = PoolTx(nonce, "0x" + "ee" * 32, 2 * GWEI, GWEI, VAULT.lower(), b"")
    chain.mine()


@pytest.mark.parametrize("batch", ["fresh", "lagging"])
def test_a_nonce_a_stranger_took_is_still_dropped_after_the_grace(
    batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side: a nonce a stranger's transaction used is dropped after the grace, the
    receipt reads one block behind but past the stranger's block (nothing is resent)."""
    monkeypatch.setattr("keeper.execution.sender.DROP_GRACE_S", 0.05)
    chain = FakeChain()
    provider = TwoNodes(chain, {"eth_getTransactionReceipt"}, batch)
    journal = Journal(":memory:")
    s = sender_over(provider, journal)
    record = s.prepare(journal.open_intent([VAULT], 0), VAULT, CALL, 100_000)  # never sent
    spend_nonce_elsewhere(chain, record.nonce)
    provider.lag = 1
    chain.mine()
    chain.mine()
    assert [o.status for o in poll_for(s, record.nonce, 0.4)] == [TxStatus.DROPPED]
    assert journal.tx(record.tx_hash).status is TxStatus.DROPPED
    assert journal.intent(record.intent_id).status is IntentStatus.ABANDONED
    assert not [t for t in chain.mined if t.data == CALL]


def test_a_receipt_found_on_the_second_look_still_waits_for_its_confirmations() -> None:
    """``confirmations=3``: the first receipt read of a poll goes to a node that has not got the
    block yet, the nonce read and the second receipt read to one that has. The batch is one
    block deep: it is settled only once it is 3 blocks deep, as on the first look."""
    chain = FakeChain()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, Account.create(), confirmations=3)
    record = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()  # mined at the head: 1 confirmation
    real_receipt = chain.get_transaction_receipt
    looks: list[int] = []

    def first_look_lags(tx_hash: Any) -> dict[str, Any]:
        looks.append(1)
        if len(looks) == 1:
            raise TransactionNotFound("not in this node's blocks yet")
        return real_receipt(tx_hash)

    chain.get_transaction_receipt = first_look_lags  # type: ignore[method-assign]
    assert s.poll_nonce(record.nonce) is None
    assert len(looks) == 2  # the second look found it
    assert journal.tx(record.tx_hash).status is TxStatus.SENT
    chain.mine()
    assert s.poll_nonce(record.nonce) is None  # 2 confirmations
    chain.mine()
    outcome = s.poll_nonce(record.nonce)
    assert outcome is not None
    assert outcome.status is TxStatus.MINED
