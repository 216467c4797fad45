"""``check_batcher`` tells the batcher's refusal from the node's.

A ``maxBatch()`` call that reverts (a contract with no such function) is a wrong
``KEEPER_BATCHER``: a config error. A call the node itself refuses with a permanent JSON-RPC
error (``-32602 invalid params``, ``-32601 method not found``: a provider that does not serve
``eth_call`` as asked) says nothing of the address, yet it read "is not a RebalanceBatcher", and
the operator was sent to fix a setting that was right. The vault and factory checks share the rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from keeper.chain.vaults import check_batcher, validate_vaults
from keeper.errors import ChainError, ConfigError
from tests.rpc_stub import connect_unhedged, rpc_stub

BATCHER = "0x" + "33" * 20


def _node(call_answer: dict[str, Any]) -> Any:
    def answer(req: dict[str, Any]) -> dict[str, Any]:
        method = req["method"]
        if method == "eth_chainId":
            return {"result": "0x7a69"}
        if method == "eth_getCode":
            return {"result": "0x6080"}
        if method == "eth_call":
            return dict(call_answer)
        return {"error": {"code": -32601, "message": f"{method} not stubbed"}}

    return rpc_stub(answer)


@pytest.mark.parametrize(
    ("code", "message"),
    [(-32602, "invalid params: bad block tag"), (-32601, "the method eth_call does not exist")],
)
def test_a_node_that_refuses_the_call_is_named_not_the_batcher(code: int, message: str) -> None:
    with _node({"error": {"code": code, "message": message}}) as stub:
        w3 = connect_unhedged(stub.url)
        with pytest.raises(ChainError) as info:
            check_batcher(w3, BATCHER, None, attempts=1)
    text = str(info.value)
    assert not isinstance(info.value, ConfigError)
    assert "is not a RebalanceBatcher" not in text
    assert "maxBatch()" in text, text
    assert message in text, text


def test_a_call_that_reverts_is_not_a_batcher() -> None:
    reverted = {"error": {"code": 3, "message": "execution reverted", "data": "0x"}}
    with _node(reverted) as stub:
        w3 = connect_unhedged(stub.url)
        with pytest.raises(ConfigError, match="is not a RebalanceBatcher"):
            check_batcher(w3, BATCHER, None, attempts=1)


def test_a_vault_probe_the_node_refuses_as_invalid_params_is_the_nodes() -> None:
    """The vault check named -32601 the node's already; -32602 read "is not a vault"."""
    refused = {"error": {"code": -32602, "message": "invalid params: bad block tag"}}
    with _node(refused) as stub:
        w3 = connect_unhedged(stub.url)
        with pytest.raises(ChainError) as info:
            validate_vaults(w3, [BATCHER], attempts=1)
    assert not isinstance(info.value, ConfigError)
    assert "the RPC does not serve asset() of" in str(info.value), info.value
