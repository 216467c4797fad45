"""RPC faults, part three: a rate limit at start-up, garbled quantities, malformed envelopes.

A JSON-RPC node on loopback (:func:`tests.rpc_stub.json_rpc_node`) stands in for the node where
start-up (:func:`connect`) talks to it; a scripted session
(:class:`tests.unit.test_rpc_faults.Session`) elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from keeper.chain.connection import connect
from keeper.chain.retry import RpcUnavailableError, deadline, is_transient
from keeper.errors import ChainError
from tests.rpc_stub import Reply, json_rpc_node
from tests.unit.test_rpc_faults import A, Session, json_error, ok, provider, rpc_error


def rate_limited_until(until_s: float, retry_after: str, chain_id: int = 31337) -> Reply:
    """429 with ``Retry-After`` for ``until_s`` seconds from now, then the chain id."""
    started = time.monotonic()

    def reply(req: dict[str, Any]) -> Any:
        if time.monotonic() - started < until_s:
            return 429, {"Retry-After": retry_after}, {"message": "Too Many Requests"}
        return {"jsonrpc": "2.0", "id": req["id"], "result": hex(chain_id)}

    return reply


# -- a 429 at start-up ---------------------------------------------------------------------------
def test_connect_waits_out_a_429s_retry_after_before_asking_again() -> None:
    """A 429 answered to the chain id at start-up was asked again a second later, whatever its
    Retry-After said: three requests into a 2 s rate limit. Start-up waits as asked, then asks
    once."""
    with json_rpc_node(rate_limited_until(1.8, "2")) as node, deadline(30):
        w3 = connect(node.url)
    assert w3.provider is not None
    seen = node.times
    assert len(seen) == 2, seen
    assert seen[1] - seen[0] >= 1.9


def test_connect_fails_at_once_when_retry_after_passes_the_start_up_deadline() -> None:
    """A Retry-After longer than start-up has left: no request can succeed in time, so start-up
    ends at once, in one line that says why, instead of asking every second until the end."""
    started = time.monotonic()
    with (
        json_rpc_node(rate_limited_until(1e9, "30")) as node,
        deadline(5),
        pytest.raises(ChainError) as info,
    ):
        connect(node.url)
    assert time.monotonic() - started < 1.5
    assert len(node.times) == 1
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"RPC at {node.url} asked to wait 30s (HTTP 429, Retry-After), more ")


def test_a_retry_after_longer_than_max_is_held_to_max_at_start_up() -> None:
    """A bogus day-long Retry-After is held for MAX_RETRY_AFTER_S (60 s) at most, as after
    start-up: past a start-up deadline of 5 s, so it ends at once, saying 60 s."""
    with (
        json_rpc_node(rate_limited_until(1e9, "86400")) as node,
        deadline(5),
        pytest.raises(ChainError, match=r"wait 60s"),
    ):
        connect(node.url)


def test_an_endpoint_rate_limited_at_start_up_is_not_read_before_its_retry_after() -> None:
    """With two endpoints, one answering 429 with Retry-After at start-up: the keeper starts on
    the other, and its first reads go there, not to the one that asked to be left alone."""
    with (
        json_rpc_node(rate_limited_until(1e9, "30")) as limited,
        json_rpc_node(rate_limited_until(0, "0")) as fine,
        deadline(10),
    ):
        w3 = connect([limited.url, fine.url])
        assert len(limited.times) == 1
        assert w3.eth.chain_id == 31337
        assert len(limited.times) == 1
        assert len(fine.times) >= 2  # its chain id, the read (and maybe a head probe)


# -- a garbled quantity ----------------------------------------------------------------------------
def _w3(session: Session) -> Web3:
    w3 = Web3(provider(session, [A], attempts=3))
    w3.middleware_onion.remove("validation")  # as connect() does: no eth_chainId per call
    return w3


def _block(**fields: Any) -> dict[str, Any]:
    block = {
        "number": "0x5",
        "hash": "0x" + "11" * 32,
        "parentHash": "0x" + "22" * 32,
        "timestamp": "0x10",
        "baseFeePerGas": "0x7",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "transactions": [],
    }
    return {**block, **fields}


def _receipt(**fields: Any) -> dict[str, Any]:
    receipt = {
        "transactionHash": "0x" + "aa" * 32,
        "blockHash": "0x" + "11" * 32,
        "blockNumber": "0x5",
        "status": "0x1",
        "gasUsed": "0x5208",
        "cumulativeGasUsed": "0x5208",
        "effectiveGasPrice": "0x7",
        "transactionIndex": "0x0",
        "logs": [],
    }
    return {**receipt, **fields}


TX = "0x" + "aa" * 32
WHO = "0x" + "01" * 20


def _fee_history(base_fee: str) -> dict[str, Any]:
    return {"oldestBlock": "0x4", "baseFeePerGas": [base_fee, "0x7"], "gasUsedRatio": [0.5]}


#: ``(what, the read, its answer with a garbled quantity, its good answer, what the read gives)``
#: and the garbled quantity.
GARBLED: list[tuple[tuple[str, Callable[[Web3], Any], Any, Any, Any], str]] = []
for _bad in ("0xzz", "0x", "12", "-0x1"):
    GARBLED += [
        (case, _bad)
        for case in [
            ("eth_blockNumber", lambda w3: w3.eth.block_number, _bad, "0x5", 5),
            (
                "eth_getTransactionCount",
                lambda w3: w3.eth.get_transaction_count(WHO),
                _bad,
                "0x3",
                3,
            ),
            ("eth_chainId", lambda w3: w3.eth.chain_id, _bad, "0xa", 10),
            (
                "block baseFeePerGas",
                lambda w3: w3.eth.get_block("latest")["baseFeePerGas"],
                _block(baseFeePerGas=_bad),
                _block(),
                7,
            ),
            (
                "block number",
                lambda w3: w3.eth.get_block("latest")["number"],
                _block(number=_bad),
                _block(),
                5,
            ),
            (
                "receipt status",
                lambda w3: w3.eth.get_transaction_receipt(TX)["status"],  # type: ignore[arg-type]
                _receipt(status=_bad),
                _receipt(),
                1,
            ),
            (
                "receipt gasUsed",
                lambda w3: w3.eth.get_transaction_receipt(TX)["gasUsed"],  # type: ignore[arg-type]
                _receipt(gasUsed=_bad),
                _receipt(),
                21_000,
            ),
            (
                "receipt l1Fee",  # an OP receipt's; the keeper reads it as hex (receipt_field)
                lambda w3: w3.eth.get_transaction_receipt(TX)["l1Fee"],  # type: ignore[arg-type]
                _receipt(l1Fee=_bad),
                _receipt(l1Fee="0x64"),
                "0x64",
            ),
            (
                "feeHistory baseFeePerGas",
                lambda w3: w3.eth.fee_history(1, "latest")["baseFeePerGas"][0],
                _fee_history(_bad),
                _fee_history("0x6"),
                6,
            ),
        ]
    ]


@pytest.mark.parametrize(
    ("read", "bad", "good", "value"),
    [pytest.param(r, b, g, v, id=f"{w}={bad}") for (w, r, b, g, v), bad in GARBLED],
)
def test_a_garbled_quantity_is_a_malformed_answer_asked_again(
    read: Callable[[Web3], Any], bad: Any, good: Any, value: Any
) -> None:
    """A quantity that is not one (``0xzz``, ``0x`` with no digit, ``12`` without its ``0x``, a
    negative) is an answer garbled on the way, as a garbled block is: asked again. It reached
    web3's formatters and came back a ValueError, a permanent error the breaker counted, or
    worse, a value: ``12`` read as 18 and ``-0x1`` as -1 (a receipt's status 18: "reverted")."""
    s = Session({A: [ok(bad), ok(good)]})
    assert read(_w3(s)) == value
    assert len(s.log) == 2


@pytest.mark.parametrize("bad", ["0xzz", "0x", "12", "-0x1"])
def test_a_garbled_quantity_every_time_is_transient(bad: str) -> None:
    """A node that garbles every answer fails the read as a transient fault (never the
    breaker's), after asking again."""
    s = Session({A: [ok(bad)]})
    with deadline(1), pytest.raises(RpcUnavailableError, match="malformed answer") as info:
        _w3(s).eth.get_transaction_count(WHO)
    assert is_transient(info.value)
    assert len(s.log) > 1


def test_a_garbled_chain_id_of_an_endpoint_checked_late_is_not_another_chain() -> None:
    """An endpoint down at start-up is asked its chain id before its first use. An answer of
    ``-0x1`` was read as chain -1: the endpoint was marked on another chain and never used
    again. It is no answer: asked again later."""
    s = Session({A: [ok("-0x1"), ok("0xa"), ok("0x5")]})
    p = provider(s, [A])
    p.adopt_chain(10, [(A, None, "down")])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x5"  # type: ignore[arg-type]
    assert [m for _, m, _ in s.log] == ["eth_chainId", "eth_chainId", "eth_blockNumber"]


# -- the classification review -------------------------------------------------------------------
def _envelope(**fields: Any) -> Callable[[dict[str, Any], float], Any]:
    return lambda req, timeout: {"jsonrpc": "2.0", "id": req["id"], **fields}


@pytest.mark.parametrize(
    "garbled",
    [
        pytest.param(
            _envelope(result="0x9", error={"code": -32602, "message": "invalid params"}),
            id="result-and-error",
        ),
        pytest.param(_envelope(result="0x9", error=None), id="result-and-error-null"),
        pytest.param(_envelope(error=None), id="error-null"),
        pytest.param(_envelope(error="rate limited"), id="error-a-string"),
        pytest.param(_envelope(error={"message": "oops"}), id="error-without-code"),
        pytest.param(lambda req, timeout: {"id": req["id"], "result": "0x9"}, id="no-jsonrpc"),
        pytest.param(
            lambda req, timeout: [{"jsonrpc": "2.0", "id": req["id"], "result": "0x9"}],
            id="a-list-for-one-request",
        ),
        pytest.param(
            lambda req, timeout: {"jsonrpc": "2.0", "id": req["id"] + 1000, "result": "0x9"},
            id="another-requests-answer",
        ),
    ],
)
def test_a_garbled_envelope_is_a_malformed_answer_asked_again(
    garbled: Callable[[dict[str, Any], float], Any],
) -> None:
    """A JSON-RPC envelope no node sends (both ``result`` and ``error``, an ``error`` that is not
    an error object, a list for one request) reached web3 as BadResponseFormat, or as an
    AttributeError past every fault handler: permanent, one request. An answer under another
    request's id was taken as this one's (a batch's is checked by id since stop 59). Each is
    garbled on the way, as a missing ``result`` is: asked again."""
    s = Session({A: [garbled, ok("0x5")]})
    assert _w3(s).eth.block_number == 5
    assert len(s.log) == 2


def test_missing_trie_node_from_a_node_behind_is_asked_again() -> None:
    """geth's -32000 "missing trie node" is what a load-balanced node behind the head (or one
    that pruned the state) answers a read at a block it has not got: as "header not found",
    another endpoint, or the same one a moment later, has it. It was permanent."""
    s = Session({A: [json_error(-32000, "missing trie node 5f2a0b3c (path )"), ok("0x5")]})
    assert _w3(s).eth.block_number == 5
    assert len(s.log) == 2
    assert is_transient(rpc_error(-32000, "missing trie node 5f2a0b3c (path )"))


@pytest.mark.parametrize("bad", ["0x" + "0" * 62 + "1", "0x1", "0xzz"])
def test_call_data_with_a_digit_lost_is_a_malformed_answer_asked_again(bad: str) -> None:
    """Data is whole bytes: an ``eth_call`` answer with an odd number of hex digits lost one on
    the way. web3 padded it on the left and decoded another number (``0x…01`` with a zero
    dropped came back 1 where the word said 16), taken as the contract's answer."""
    word = "0x" + "0" * 62 + "10"
    s = Session({A: [ok(bad), ok(word)]})
    answer = _w3(s).eth.call({"to": WHO, "data": "0x"})
    assert int.from_bytes(answer, "big") == 16
    assert len(s.log) == 2
