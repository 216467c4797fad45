"""Send-path defects found by reading the send path; each test failed on the tree before its fix.

No node: the journaled sender runs against the scripted :class:`~tests.unit.test_audit_findings.
FakeChain`, the RPC tests against a scripted ``requests`` session under the real
:class:`~keeper.chain.connection.FailoverProvider`, and the settle step against the stand-in
vault of :mod:`tests.unit.test_app_settle`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import requests
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from keeper.app.loop import Runner
from keeper.app.settle import settle_expired
from keeper.chain.connection import FailoverProvider
from keeper.execution.fees import Fees
from keeper.execution.journal import PENDING, Journal, TxStatus
from keeper.execution.sender import Sender
from keeper.execution.transactions import build_tx, sign_tx
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.units import Wei
from tests.unit.test_app_cycle import NOW
from tests.unit.test_app_settle import VAULT, FakeVault, settle_keeper
from tests.unit.test_audit_findings import (
    CALL,
    CAPS,
    GOOD_BLOCK,
    GWEI,
    FakeChain,
    Session,
    _rpc_error,
    make_sender,
    result,
    runner_over,
)
from tests.unit.test_depositor_pending import light_transactor
from tests.unit.test_rpc_faults import rpc_error


def _journaled_batch() -> tuple[Any, Journal, Any]:
    """A fresh account and journal holding one signed, unsent batch at nonce 0."""
    acct = Account.create()
    journal = Journal(":memory:")
    fees = Fees(Wei(10**9), Wei(10**6))
    signed = sign_tx(
        acct, build_tx(chain_id=10, nonce=0, to=VAULT, data=CALL, gas=100_000, fees=fees)
    )
    journal.record_signed(
        intent_id=journal.open_intent([VAULT], 5),
        account=str(acct.address),
        nonce=0,
        tx_hash=signed.tx_hash,
        raw_tx=signed.raw_hex,
        max_fee=fees.max_fee_per_gas,
        priority_fee=fees.max_priority_fee_per_gas,
        gas=100_000,
    )
    return acct, journal, signed


# ------------------------------------ (1) a receipt without its status kills the keeper loop
def _receipt_without_status(req: dict[str, Any]) -> Any:
    """A mined receipt (number and hash) from a broken endpoint or proxy: no status, no gasUsed."""
    return {
        "jsonrpc": "2.0",
        "id": req["id"],
        "result": {
            "transactionHash": req["params"][0],
            "blockNumber": "0x5",
            "blockHash": "0x" + "cd" * 32,
        },
    }


def test_a_receipt_without_its_status_fails_a_cycle_and_does_not_kill_the_keeper() -> None:
    """The provider checks a receipt only for ``transactionHash`` and ``blockNumber``
    (``_OBJECT_RESULTS``); the sender then reads ``receipt["status"]``, ``["gasUsed"]`` and
    ``["blockHash"]`` (``Sender._settle``, ``check_reorgs``). One endpoint answering a receipt
    without them raises ``KeyError`` out of ``poll_nonce``/``wait``, which the loop does not
    count among a cycle's errors (``_CYCLE_ERRORS``): ``keeper run`` dies with a traceback with
    a batch in flight (and again at every restart while that endpoint answers so), instead of
    failing the cycle and asking again or elsewhere, as it does for a block without its number.
    """
    acct, journal, signed = _journaled_batch()
    session = Session(
        {
            "eth_getBlockByNumber": [result(GOOD_BLOCK)],
            "eth_blockNumber": [result("0x6")],
            "eth_getTransactionReceipt": [_receipt_without_status],
        }
    )

    def cycle(keeper: Any) -> Any:
        # What the cycle's settle step does first: poll the pending nonce once.
        sender = Sender(keeper.w3, acct, journal, CAPS, chain_id=10, poll_s=0.0)
        sender.poll_nonce(0)
        return SimpleNamespace(waiting=None, nothing_evaluated=lambda: None)

    runner = runner_over(session, cycle)
    try:
        runner.run()
    except (KeyError, TypeError) as exc:
        pytest.fail(f"the keeper loop died on a receipt without its fields: {exc!r}")
    assert runner.failed_cycles == 1
    assert journal.tx(signed.tx_hash).status is TxStatus.SIGNED  # still pending, nothing lost


# --------------------- (2) a settlement whose wait fails with its row pending: sent behind it
def test_a_settlement_whose_rebroadcast_is_refused_in_its_wait_holds_the_rest_of_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The settle step's ``_send`` holds the cycle when ``submit_new`` fails with the row
    journaled (``_JournaledError``), but not when ``wait`` does. Here the first broadcast's
    outcome is unknown (a timeout, twice), so the row stays ``signed`` and the wait's first poll
    broadcasts it again; the node refuses that ("insufficient funds"). ``Sender.wait`` raises
    ``ExecutionError`` with the row still pending at nonce 0, and ``_send`` books a plain,
    non-pending failure: the next series is signed at nonce 1 behind it (then waited on for a
    whole receipt timeout, as is the cycle's batch, the step leaving nothing pending), exactly
    what "nothing new is sent behind a pending transaction" rules out.
    """
    chain = FakeChain()
    real_send = chain.send_raw_transaction
    calls: list[int] = []

    def send(raw: Any) -> HexBytes:
        calls.append(1)
        if len(calls) <= 2:  # the first broadcast and its immediate resend: no answer
            raise requests.ReadTimeout("read timed out")
        if len(calls) == 3:  # the wait's rebroadcast: the node refuses it
            raise _rpc_error("insufficient funds for gas * price + value: balance 0")
        return real_send(raw)

    chain.send_raw_transaction = send  # type: ignore[method-assign]
    sender = make_sender(chain, Journal(":memory:"), Account.create(), receipt_timeout_s=0.05)
    vault = FakeVault()
    vault.add_expired(3)
    vault.add_expired(4)
    k = settle_keeper(monkeypatch, vault, sender)  # type: ignore[arg-type]
    step = settle_expired(k, [VAULT], 100, NOW)
    first, second = step.settlements
    assert [v.status for v in sender.journal.versions(sender.address, 0)] == [TxStatus.SIGNED]
    assert sender.journal.versions(sender.address, 1) == [], (
        "a second settlement was signed at nonce 1 behind the pending one at nonce 0"
    )
    assert first.pending
    assert second.outcome == "waiting"
    assert step.pending is not None


# ------------- (3) a send endpoint's busy answer to its chain-id check counts toward the breaker
SEND_URL = "http://private.example"


def _node(req: dict[str, Any]) -> Any:
    """A healthy read node; ``eth_chainId`` (asked of the send URL only) is rate limited."""
    method = req["method"]
    if method == "eth_chainId":
        return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32005, "message": "limit"}}
    answers: dict[str, Any] = {
        "eth_getBlockByNumber": GOOD_BLOCK,
        "eth_blockNumber": "0x5",
        "eth_getTransactionReceipt": None,
        "eth_getTransactionCount": "0x0",
    }
    return {"jsonrpc": "2.0", "id": req["id"], "result": answers[method]}


def test_a_send_endpoint_busy_at_its_chain_id_check_is_a_transient_fault() -> None:
    """An endpoint :func:`~keeper.chain.connection.connect` could not ask at start-up (the
    private send URL was down) is asked its chain id before its first use. When it answers that
    with a JSON-RPC error (a rate limit) the provider raises ``_BusyAnswerError`` -- a
    ``ChainError`` that :func:`~keeper.chain.retry.is_transient` does not call transient. A read
    treats it as "ask again"; a send does not: ``Sender._broadcast`` re-raises it, so the
    journaled batch's rebroadcast fails the cycle as a *systemic* fault, every cycle while the
    endpoint stays busy, and the breaker halts the keeper after ``breaker_threshold`` of them
    (a busy endpoint, which the design says must never halt it)."""
    acct, journal, signed = _journaled_batch()
    provider = FailoverProvider(
        ["http://rpc.example"],
        send_url=SEND_URL,
        session=Session({m: [_node] for m in _METHODS}),  # type: ignore[arg-type]
        sleep=lambda s: None,
        timeout_s=1,
        hedge_s=0.5,
        head_probe_s=None,
    )
    # connect() asked both: the read node answered chain 10, the send URL was down.
    provider.adopt_chain(10, [("http://rpc.example", 10, ""), (SEND_URL, None, "refused")])
    w3 = Web3(provider)
    sender = Sender(w3, acct, journal, CAPS, chain_id=10, poll_s=0.0)

    def cycle(keeper: Any) -> Any:
        sender.poll_nonce(0)  # the settle step's poll: the signed row is broadcast again
        return SimpleNamespace(waiting=None, nothing_evaluated=lambda: None)

    keeper = SimpleNamespace(
        w3=w3,
        sender=None,
        metrics=Metrics(),
        alerter=Alerter(None),
        probe_headers=None,
        head_block=None,
    )
    runner = Runner(keeper, cycle=cycle, max_cycles=1, poll_interval_s=0.01)  # type: ignore[arg-type]
    runner.run()
    assert runner.failures == 0, f"counted toward the breaker: {runner.last_error}"
    assert journal.tx(signed.tx_hash).status in PENDING  # kept in flight, settled later


_METHODS = (
    "eth_chainId",
    "eth_getBlockByNumber",
    "eth_blockNumber",
    "eth_getTransactionReceipt",
    "eth_getTransactionCount",
)


# ------------- (4) a depositor's send answered "internal error" is reported as "nothing sent"
def test_a_light_send_answered_with_a_transient_rpc_error_is_settled_by_its_hash() -> None:
    """:class:`~keeper.execution.transactions.Transactor` (``keeper vault deposit`` and the
    other depositor actions) reads any ``Web3RPCError`` answer to ``eth_sendRawTransaction`` as
    the node's refusal, "nothing sent". A JSON-RPC ``-32603 internal error`` (a provider whose
    backend failed after the gateway forwarded the request) is transient by the keeper's own
    classification (:func:`~keeper.chain.retry.is_transient`): the node may hold it. Here it
    did; the user is told nothing was sent and that a second deposit is safe."""
    known: list[str] = []

    def send_raw_transaction(raw: Any) -> HexBytes:
        known.append("0x" + bytes(Web3.keccak(HexBytes(raw))).hex())  # the node took it ...
        raise rpc_error(-32603, "internal error")  # ... and the answer was an error

    def get_transaction(tx_hash: Any) -> dict[str, Any]:
        if str(tx_hash) not in known:
            raise AssertionError("looked up a transaction never sent")
        return {"hash": tx_hash}

    t = light_transactor(
        Account.create(),
        send_raw_transaction=send_raw_transaction,
        get_transaction=get_transaction,
        wait_for_transaction_receipt=lambda h, timeout, poll_latency: {
            "status": 1,
            "blockNumber": 2,
        },
    )
    receipt = t.send(VAULT, CALL, what="deposit")
    assert receipt["status"] == 1
    assert len(known) == 1


# ------ (5) a cancel refused while the transaction it replaces is still in flight, twice over
def test_a_refused_cancel_with_its_original_in_flight_is_not_booked_failed_nor_repeated() -> None:
    """A stale plan is cancelled at its nonce. On a chain whose plain transfer needs more than
    21,000 gas (Arbitrum) with the gas estimate failing, the cancel goes out at 21,000 and the
    node refuses it for good ("intrinsic gas too low"); the original is still in the pool.

    Before: ``settle_in_flight`` booked that refusal as a failed rebalance with a ``failed_batch``
    alert ("not sent again") although the original could still be mined (and then was, booked
    ``mined`` too: one batch counted twice); and the next poll re-signed the very same cancel
    (bumped from the same original at the same base fee: the same bytes), which the journal
    refuses as already journaled, a ``NonceError`` on every cycle while the estimate fails.
    """
    from keeper.app.act import settle_in_flight
    from keeper.execution.simulate import REBALANCE_SELECTOR
    from tests.unit.test_audit_findings import stub_keeper

    chain = FakeChain(transfer_gas=48_000, base_fee=GWEI)

    def estimate(params: Any) -> int:
        if not params.get("data"):
            raise _rpc_error("gas required exceeds allowance (0)")  # the cancel's estimate
        return 100_000

    chain.estimate_gas = estimate  # type: ignore[method-assign]
    s = make_sender(chain, Journal(":memory:"), Account.create(), still_valid=lambda t, d: False)
    k = stub_keeper(s)
    record = s.submit_new([VAULT], chain.block_number, VAULT, REBALANCE_SELECTOR, 100_000)
    chain.base_fee = 50 * GWEI  # a spike: the batch waits in the pool, unmined
    for _ in range(8):  # its replacement clock runs out; the cancels are refused
        chain.mine()
        settle_in_flight(k, chain.block_number)
    assert record.nonce in chain.pool
    assert chain.pool[record.nonce].tx_hash == record.tx_hash
    assert k.metrics.value("keeper_rebalances_total", {"state": "failed"}) == 0
    assert not [a for a in k.alerter.sent if a["kind"] == "failed_batch"]
    chain.base_fee = GWEI  # the spike ends: the original is mined
    chain.mine()
    settle_in_flight(k, chain.block_number)
    assert [t.tx_hash for t in chain.mined] == [record.tx_hash]
    assert k.metrics.value("keeper_rebalances_total", {"state": "mined"}) == 1
    assert k.metrics.value("keeper_rebalances_total", {"state": "failed"}) == 0
