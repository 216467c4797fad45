"""A depositor's action while the signer has a transaction in flight, and a receipt timeout.

A `keeper vault deposit` whose receipt wait ran out said only "not mined within 5.0s": the user
ran it again and deposited twice once both were mined. Two runs at once (or a re-run after a
Ctrl-C) from the same key sent a deposit that then reverted on-chain, its allowance spent by the
other. Each action now refuses to send while the signer has a transaction pending, and the
timeout says the transaction was sent and may still be mined.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted

from keeper.app.depositor import refuse_while_pending
from keeper.errors import ExecutionError, TxTimeoutError
from keeper.execution.transactions import Transactor

ME = Account.create()


@pytest.fixture(autouse=True)
def _no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pending check's second looks wait a second each: not here."""
    monkeypatch.setattr("keeper.app.depositor.time.sleep", lambda s: None)


def light_transactor(signer: Any, receipt_timeout_s: float = 120.0, **eth: Any) -> Transactor:
    """:class:`Transactor` over a scripted node on chain 10 (``eth`` adds or replaces calls)."""
    node = SimpleNamespace(
        chain_id=10,
        get_transaction_count=lambda address, block="latest": 0,
        estimate_gas=lambda params: 60_000,
        get_block=lambda which: {"number": 1, "baseFeePerGas": 10**9},
    )
    for name, call in eth.items():
        setattr(node, name, call)
    w3: Any = SimpleNamespace(eth=node, provider=object())
    return Transactor(w3, signer, receipt_timeout_s=receipt_timeout_s)


def _w3(latest: int, pending: int) -> Any:
    counts = {"latest": latest, "pending": pending}
    return SimpleNamespace(
        eth=SimpleNamespace(get_transaction_count=lambda address, block: counts[block])
    )


def test_an_action_is_refused_while_the_signer_has_a_pending_transaction() -> None:
    with pytest.raises(ExecutionError) as info:
        refuse_while_pending(_w3(latest=5, pending=7), ME.address, "deposit")
    assert str(info.value) == (
        f"deposit refused: {ME.address} has 2 transactions pending (nonces 5 to 6): wait until "
        "they are mined, or check them, before sending another; nothing sent"
    )


def test_one_pending_transaction_is_named_by_its_nonce() -> None:
    with pytest.raises(ExecutionError, match=r"has 1 transaction pending \(nonce 5\)"):
        refuse_while_pending(_w3(latest=5, pending=6), ME.address, "withdraw")


def test_nothing_pending_lets_the_action_go() -> None:
    refuse_while_pending(_w3(latest=5, pending=5), ME.address, "deposit")


def test_a_receipt_timeout_says_the_transaction_was_sent_and_may_still_be_mined() -> None:
    def wait(tx_hash: Any, timeout: float, poll_latency: float) -> Any:
        raise TimeExhausted("no receipt")

    t = light_transactor(
        ME,
        receipt_timeout_s=5.0,
        send_raw_transaction=lambda raw: HexBytes(b"\x01" * 32),
        wait_for_transaction_receipt=wait,
    )
    with pytest.raises(TxTimeoutError) as info:
        t.send("0x" + "a1" * 20, b"\x01\x02\x03\x04", what="deposit")
    message = str(info.value)
    assert "was sent but not mined within 5.0s" in message
    assert "it may still be mined" in message
    assert f"check {ME.address}'s transactions before sending it again" in message


def _refusing(error: dict[str, Any]) -> Transactor:
    from web3.exceptions import Web3RPCError

    def send_raw_transaction(raw: Any) -> HexBytes:
        # As web3 raises a node's error answer: the message is the error object's repr.
        raise Web3RPCError(str(error), rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})  # type: ignore[typeddict-item]

    return light_transactor(ME, send_raw_transaction=send_raw_transaction)


def test_a_refusal_names_the_nodes_message_not_its_error_object() -> None:
    t = _refusing({"code": -32003, "message": "nonce too low"})
    with pytest.raises(ExecutionError) as info:
        t.send("0x" + "a1" * 20, b"\x01\x02\x03\x04", what="withdraw")
    assert str(info.value) == "the node refused the withdraw: nonce too low; nothing sent"


def test_a_refusal_for_gas_money_names_the_account_that_needs_it() -> None:
    t = _refusing({"code": -32003, "message": "Insufficient funds for gas * price + value"})
    with pytest.raises(ExecutionError) as info:
        t.send("0x" + "a1" * 20, b"\x01\x02\x03\x04", what="approve")
    assert str(info.value) == (
        "the node refused the approve: Insufficient funds for gas * price + value "
        f"({ME.address} needs ETH to pay for gas); nothing sent"
    )


def test_a_second_command_from_the_same_key_on_this_machine_is_refused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs started together both passed the pending check before either had sent: one
    deposit then reverted on-chain, its allowance spent by the other. An action holds a lock
    per signer for its whole course (its reads, approve and send)."""
    import tempfile

    from keeper.app.depositor import signer_lock

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with signer_lock(ME.address, "deposit"):
        with pytest.raises(ExecutionError) as info, signer_lock(ME.address.lower(), "withdraw"):
            pytest.fail("two actions of one signer ran at once")
        assert str(info.value).startswith(
            f"withdraw refused: another keeper vault command is sending from {ME.address} on "
            "this machine"
        )
        assert str(info.value).endswith("wait until it ends; nothing sent")
        with signer_lock(Account.create().address, "deposit"):
            pass  # another signer is not held up
    with signer_lock(ME.address, "deposit"):
        pass  # released at the end of the action


def test_a_node_that_lags_a_moment_is_asked_again_before_refusing() -> None:
    """Right after an approve is mined, a load-balanced RPC's node can still count it pending;
    the deposit that follows was refused for a transaction that was already mined."""
    answers = iter([(5, 6), (6, 6)])
    now = {"latest": 0, "pending": 0}

    def count(address: Any, block: str) -> int:
        if block == "latest":
            now["latest"], now["pending"] = next(answers)
        return now[block]

    w3: Any = SimpleNamespace(eth=SimpleNamespace(get_transaction_count=count))
    refuse_while_pending(w3, ME.address, "deposit")  # the second look finds nothing pending


def test_a_transaction_is_handed_to_on_signed_before_it_is_broadcast() -> None:
    """The send record is written before the transaction leaves the machine (a crash during the
    broadcast still leaves it), and a record that cannot be written stops the send."""
    events: list[str] = []

    def send_raw_transaction(raw: Any) -> HexBytes:
        events.append("broadcast")
        return HexBytes(b"\x01" * 32)

    def wait(tx_hash: Any, timeout: float, poll_latency: float) -> Any:
        raise TimeExhausted("no receipt")

    t = light_transactor(
        ME, send_raw_transaction=send_raw_transaction, wait_for_transaction_receipt=wait
    )
    t.on_signed = lambda tx_hash, nonce: events.append(f"signed {len(tx_hash)} {nonce}")
    with pytest.raises(TxTimeoutError):
        t.send("0x" + "a1" * 20, b"\x01\x02\x03\x04", what="deposit")
    assert events == ["signed 66 0", "broadcast"]  # its 0x hash and nonce, then the broadcast

    def full_disk(tx_hash: str, nonce: int) -> None:
        raise ExecutionError("deposit not sent: its send record cannot be written; nothing sent")

    events.clear()
    t.on_signed = full_disk
    with pytest.raises(ExecutionError, match="nothing sent"):
        t.send("0x" + "a1" * 20, b"\x01\x02\x03\x04", what="deposit")
    assert events == []
