"""A JSON-RPC error in an HTTP 500 body is classified by that error, not by the status.

A JSON-RPC node on a free loopback port (:func:`tests.rpc_stub.rpc_stub`) stands in for the
provider.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from keeper.chain.connection import connect
from keeper.chain.retry import RpcUnavailableError, deadline, is_transient
from tests.rpc_stub import connect_unhedged, json_rpc_node, rpc_stub

TO = Web3.to_checksum_address("0x" + "b0" * 20)
REVERT = {
    "code": 3,
    "message": "execution reverted: not a keeper",
    "data": "0x08c379a0" + f"{32:064x}" + f"{12:064x}" + b"not a keeper".ljust(32, b"\0").hex(),
}


def _in_500(error: dict[str, Any] | None, raw: str | None = None) -> Any:
    """A node that answers eth_call with HTTP 500: ``error`` as a JSON-RPC error, or ``raw``."""

    def answer(req: dict[str, Any]) -> dict[str, Any]:
        if req["method"] == "eth_chainId":
            return {"result": "0x7a69"}
        if raw is not None:
            return {"http_status": 500, "raw_body": raw}
        return {"http_status": 500, "error": dict(error or {})}

    return answer


def test_a_revert_in_an_http_500_is_a_revert_asked_once() -> None:
    """Some providers answer a revert with status 500 and a JSON-RPC error body. It was read
    as the 500 (transient): asked again on every endpoint until the deadline, then "failed on
    every RPC endpoint", and the revert's reason was lost."""
    with (
        rpc_stub(_in_500(REVERT)) as first,
        rpc_stub(_in_500(REVERT)) as second,
        deadline(5),
    ):
        w3 = connect_unhedged([first.url, second.url])
        before = len(first.methods), len(second.methods)
        with pytest.raises(ContractLogicError, match="not a keeper"):
            w3.eth.call({"to": TO, "data": HexStr("0x")})
        calls = first.methods.count("eth_call") + second.methods.count("eth_call")
    assert calls == 1, (before, first.methods, second.methods)


def test_invalid_params_in_an_http_500_is_permanent() -> None:
    invalid = {"code": -32602, "message": "invalid argument 0: hex string has odd length"}
    with rpc_stub(_in_500(invalid)) as stub, deadline(5):
        w3 = connect_unhedged(stub.url)
        with pytest.raises(Web3RPCError, match="odd length") as info:
            w3.eth.call({"to": TO, "data": HexStr("0x")})
        assert stub.methods.count("eth_call") == 1
    assert not is_transient(info.value)


def test_a_send_refused_in_an_http_500_is_the_nodes_answer() -> None:
    """A refused send in a 500's JSON-RPC body is the node's answer for the sender to read
    ("nonce too low"), not a bare "500 Server Error"."""
    refused = {"code": -32000, "message": "nonce too low"}
    with rpc_stub(_in_500(refused)) as stub:
        w3 = connect(stub.url)
        answer = w3.provider.make_request("eth_sendRawTransaction", ["0x01"])  # type: ignore[arg-type]
    assert answer["error"]["message"] == "nonce too low"


@pytest.mark.parametrize(
    ("error", "raw"),
    [
        pytest.param(None, "Internal Server Error", id="unparseable"),
        pytest.param(None, '{"message": "internal error"}', id="json-not-json-rpc"),
        pytest.param({"code": -32603, "message": "internal error"}, None, id="transient-error"),
    ],
)
def test_a_500_without_a_permanent_json_rpc_error_stays_transient(
    error: dict[str, Any] | None, raw: str | None
) -> None:
    with rpc_stub(_in_500(error, raw)) as stub, deadline(1.5):
        w3 = connect(stub.url)
        with pytest.raises(RpcUnavailableError) as info:
            w3.eth.call({"to": TO, "data": HexStr("0x")})
        assert stub.methods.count("eth_call") > 1
    assert is_transient(info.value)


# Optimism's proxyd (in front of OP Stack public RPCs) answers for itself with its own JSON-RPC
# error in a 5xx body: "backend offline" (-32010) and "no backends available for method"
# (-32011) with 503, "internal error" (-32000) and "backend returned an invalid response"
# (-32013) with 500, "gateway timeout" (-32015) with 504. None of them says anything about the
# request: they are the gateway's transient failures, as the bare status is.
GATEWAY_ERRORS = [
    pytest.param(503, {"code": -32011, "message": "no backends available for method"}, id="503"),
    pytest.param(503, {"code": -32010, "message": "backend offline"}, id="503-offline"),
    pytest.param(500, {"code": -32000, "message": "internal error"}, id="500-internal"),
    pytest.param(
        500, {"code": -32013, "message": "backend returned an invalid response"}, id="500-bad"
    ),
    pytest.param(504, {"code": -32015, "message": "gateway timeout"}, id="504"),
    # and a busy node's own transient error, passed on by a load balancer with its 503
    pytest.param(503, {"code": -32005, "message": "rate limit exceeded"}, id="503-rate-limit"),
]


@pytest.mark.parametrize(("status", "error"), GATEWAY_ERRORS)
def test_a_gateways_own_error_in_a_5xx_fails_over_and_holds_the_endpoint(
    status: int, error: dict[str, Any]
) -> None:
    """A gateway's own error in a 5xx body is the transient status: the read goes to the next
    endpoint, and the gateway's Retry-After keeps it from being asked again meanwhile."""

    def gateway(body: Any) -> Any:
        if body.get("method") in ("eth_chainId", "eth_blockNumber"):  # connect, head probes
            return {"jsonrpc": "2.0", "id": body["id"], "result": "0x7a69"}
        reply = {"jsonrpc": "2.0", "id": body["id"], "error": error}
        return status, {"Retry-After": "30"}, reply

    def node(req: dict[str, Any]) -> dict[str, Any]:
        return {"result": "0x7a69"} if req["method"] == "eth_chainId" else {"result": "0x2a"}

    with json_rpc_node(gateway) as first, rpc_stub(node) as second, deadline(5):
        w3 = connect([first.url, second.url])
        assert w3.eth.call({"to": TO, "data": HexStr("0x")}) == bytes([0x2A])
        assert w3.eth.call({"to": TO, "data": HexStr("0x")}) == bytes([0x2A])
        asked = first.methods.count("eth_call")
    assert asked == 1, first.methods  # held by its Retry-After after the first refusal


@pytest.mark.parametrize(("status", "error"), GATEWAY_ERRORS)
def test_a_send_answered_by_a_gateways_own_error_in_a_5xx_has_an_unknown_outcome(
    status: int, error: dict[str, Any]
) -> None:
    """The gateway may have passed the transaction on before it failed (a 504 after the node
    took it): its own error is no refusal by the node, and the sender must settle the send by
    receipt and nonce (a transient error), not read it as refused."""

    def gateway(body: Any) -> Any:
        if body.get("method") == "eth_chainId":
            return {"jsonrpc": "2.0", "id": body["id"], "result": "0x7a69"}
        return status, {}, {"jsonrpc": "2.0", "id": body["id"], "error": error}

    with json_rpc_node(gateway) as stub:
        w3 = connect(stub.url)
        with pytest.raises((requests.HTTPError, Web3RPCError)) as info:
            w3.eth.send_raw_transaction(HexStr("0x01"))
        assert stub.methods.count("eth_sendRawTransaction") == 1
    assert is_transient(info.value), repr(info.value)
