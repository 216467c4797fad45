"""A JSON-RPC error in an HTTP 500 body is classified by that error, not by the status.

A JSON-RPC node on a free loopback port (:func:`tests.rpc_stub.rpc_stub`) stands in for the
provider.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_typing import HexStr
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from keeper.chain.connection import connect
from keeper.chain.retry import RpcUnavailableError, deadline, is_transient
from tests.rpc_stub import rpc_stub

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
        w3 = connect([first.url, second.url])
        before = len(first.methods), len(second.methods)
        with pytest.raises(ContractLogicError, match="not a keeper"):
            w3.eth.call({"to": TO, "data": HexStr("0x")})
        calls = first.methods.count("eth_call") + second.methods.count("eth_call")
    assert calls == 1, (before, first.methods, second.methods)


def test_invalid_params_in_an_http_500_is_permanent() -> None:
    invalid = {"code": -32602, "message": "invalid argument 0: hex string has odd length"}
    with rpc_stub(_in_500(invalid)) as stub, deadline(5):
        w3 = connect(stub.url)
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
