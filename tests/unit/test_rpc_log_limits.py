"""A log query too large for the provider: a distinct, permanent error, and a range split.

A JSON-RPC node on a free loopback port (:func:`tests.rpc_stub.rpc_stub`) stands in for the
provider.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from web3 import Web3

from keeper.app.rehearse import find_batcher_admin
from keeper.chain.retry import (
    RpcUnavailableError,
    deadline,
    is_transient,
    log_query_too_large,
    rpc_error_is_transient,
)
from keeper.errors import ChainError, ConfigError
from tests.rpc_stub import connect_unhedged, rpc_stub

BATCHER = Web3.to_checksum_address("0x" + "b0" * 20)
ADMIN = "0x" + "ad" * 20
ROLE_GRANTED = Web3.keccak(text="RoleGranted(bytes32,address,address)").to_0x_hex()
TRUE = "0x" + "0" * 63 + "1"

#: How providers phrase a log query that is too large (a block range or a result count): the
#: same query never succeeds, at any endpoint of that provider.
TOO_LARGE = [
    (-32005, "query returned more than 10000 results"),  # Infura, geth-based nodes
    (-32000, "query returned more than 10000 results"),
    (
        -32602,
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K "
        "block range and no limit on the response size",
    ),  # Alchemy
    (-32000, "block range is too wide"),
    (-32000, "exceed maximum block range: 50000"),  # BSC
    (-32005, "block range too large, max range: 10000"),  # erigon
    (
        -32000,
        "block range is larger than max block range, block range = 5120, max block range = 5000",
    ),
    (-32602, "range 1000000 exceeds limit of 10000"),  # Infura's live block-range limit
    (-32614, "eth_getLogs is limited to a 10,000 range"),  # QuickNode
    (-32602, "query exceeds max results 20000, retry with the range 1-2"),  # reth
    (
        -32600,
        "You can make eth_getLogs requests with up to a 500 block range. Based on your "
        "parameters, this block range should work: [0x7e9b85, 0x7e9d78]",
    ),  # Alchemy's free tier (2025; quoted in cartesi/rollups-node#655, risc0-ethereum#656)
]
#: What ``keeper rehearse`` reads: its anvil fork (1.7.1) passes the forked RPC's refusal on as
#: -32603, a code that is transient by itself (seen with a loopback RPC refusing eth_getLogs).
ANVIL_FORK = (
    -32603,
    'Fork Error: Transport(Custom("Max retries exceeded server returned an error response: '
    'error code -32005: query returned more than 10000 results"))',
)
TOO_LARGE.append(ANVIL_FORK)
#: Real rate limits under -32005: asked again later.
RATE_LIMITS = [
    (-32005, "rate limit exceeded"),
    (-32005, "Too Many Requests"),
    (-32005, "limit exceeded"),
    (-32005, "project ID request rate exceeded"),
    (-32005, "daily request count exceeded, request rate limited"),
]


@pytest.mark.parametrize(("code", "message"), TOO_LARGE)
def test_a_log_query_too_large_is_not_transient(code: int, message: str) -> None:
    """-32005 "query returned more than 10000 results" was read as a rate limit and asked
    again until the deadline: the same query can never succeed."""
    assert not rpc_error_is_transient({"code": code, "message": message})


@pytest.mark.parametrize(("code", "message"), TOO_LARGE)
def test_each_providers_wording_is_read_as_a_log_query_too_large(code: int, message: str) -> None:
    """Recognised whatever its code: a permanent code (-32600, -32602) without the wording
    would end the read in an error instead of a narrower range."""
    assert log_query_too_large({"code": code, "message": message})


@pytest.mark.parametrize(("code", "message"), RATE_LIMITS)
def test_a_rate_limit_under_32005_stays_transient(code: int, message: str) -> None:
    assert rpc_error_is_transient({"code": code, "message": message})


# -- eth_getLogs against a provider that limits it ---------------------------------------------
HEAD = 1000


def _log(block: int) -> dict[str, Any]:
    return {
        "address": BATCHER,
        "topics": [ROLE_GRANTED, "0x" + "00" * 32, "0x" + "00" * 12 + ADMIN[2:], "0x" + "00" * 32],
        "data": "0x",
        "blockNumber": hex(block),
        "blockHash": "0x" + f"{block:064x}",
        "transactionHash": "0x" + f"{block + 1:064x}",
        "transactionIndex": "0x0",
        "logIndex": "0x0",
        "removed": False,
    }


def _limited_node(
    max_span: int,
    asked: list[tuple[Any, Any]],
    overflowing: int | None = None,
    stall: int | None = None,
) -> Any:
    """A node whose eth_getLogs refuses a range over ``max_span`` blocks (and any range that
    holds block ``overflowing``) with -32005; one RoleGranted log at block 950. Its
    ``stall``-th eth_getLogs (from 0) is answered after 0.5 s, as a loaded machine may."""

    def answer(req: dict[str, Any]) -> dict[str, Any]:
        method = req["method"]
        if method == "eth_chainId":
            return {"result": "0x7a69"}
        if method == "eth_blockNumber":
            return {"result": hex(HEAD)}
        if method == "eth_call":
            return {"result": TRUE}
        if method == "eth_getLogs":
            flt = req["params"][0]
            if len(asked) == stall:
                time.sleep(0.5)
            asked.append((flt["fromBlock"], flt["toBlock"]))
            start = int(flt["fromBlock"], 16)
            end = HEAD if flt["toBlock"] == "latest" else int(flt["toBlock"], 16)
            wide = flt["toBlock"] == "latest" or end - start + 1 > max_span
            if wide or (overflowing is not None and start <= overflowing <= end):
                error = {"code": -32005, "message": "query returned more than 10000 results"}
                return {"error": error}
            return {"result": [_log(950)] if start <= 950 <= end else []}
        return {"error": {"code": -32601, "message": f"{method} not served"}}

    return answer


def test_a_log_query_too_large_is_asked_once_as_it_is() -> None:
    """The same eth_getLogs query is never sent twice: the provider's limit is a distinct,
    permanent error, not a rate limit retried until the deadline."""
    asked: list[tuple[Any, Any]] = []
    with rpc_stub(_limited_node(1, asked)) as stub, deadline(5):
        w3 = connect_unhedged(stub.url)
        with pytest.raises(ChainError, match="more than 10000 results") as info:
            w3.eth.get_logs({"fromBlock": 0, "toBlock": 10})
    assert not is_transient(info.value)
    assert not isinstance(info.value, RpcUnavailableError)
    assert asked == [("0x0", "0xa")]


def test_rehearse_finds_the_admin_by_splitting_a_log_range_the_rpc_refuses() -> None:
    """``keeper rehearse`` reads the batcher's RoleGranted logs from block 0 to latest; a
    provider that limits eth_getLogs refused that, and the rehearsal ended "cannot read the
    RoleGranted logs". The range is split until each part is answered.

    One query is slow to answer: on a loaded CI machine the read's hedge sent it a second
    time, and this count failed (21 queries, 20 distinct); the count is the splitter's."""
    asked: list[tuple[Any, Any]] = []
    with rpc_stub(_limited_node(100, asked, stall=3)) as stub, deadline(30):
        w3 = connect_unhedged(stub.url)
        assert find_batcher_admin(w3, BATCHER) == Web3.to_checksum_address(ADMIN)
    assert len(asked) == len(set(asked)), "a query was asked twice"
    assert len(asked) < 30
    spans = sorted((int(a, 16), int(b, 16)) for a, b in asked if b != "latest")
    answered = [(a, b) for a, b in spans if b - a + 1 <= 100]  # they tile 0..HEAD once
    assert answered[0][0] == 0
    assert answered[-1][1] == HEAD
    assert all(b + 1 == c for (_, b), (c, _) in itertools.pairwise(answered))


def test_a_single_block_over_the_limit_is_one_clear_line() -> None:
    """A block whose logs alone overflow the provider's limit cannot be split further: one
    line naming the block, not a retry loop."""
    asked: list[tuple[Any, Any]] = []
    with (
        rpc_stub(_limited_node(100, asked, overflowing=777)) as stub,
        deadline(30),
        pytest.raises(ConfigError) as info,
    ):
        find_batcher_admin(connect_unhedged(stub.url), BATCHER)
    message = str(info.value)
    assert "\n" not in message
    assert "block 777" in message
    assert "--admin" in message
    assert ("0x309", "0x309") in asked
    assert len(asked) == len(set(asked))
