"""``read_blockers``: why vaults' triggers are not ready, read without ever failing a cycle."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from eth_abi.abi import encode as abi_encode

from keeper.chain.blockers import read_blockers
from keeper.chain.retry import RpcUnavailableError, is_transient
from keeper.errors import ChainError

VAULTS = ["0x" + "11" * 20, "0x" + "22" * 20]


class _Eth:
    """Each ``eth_call`` takes the next answer: bytes are returned, exceptions raised."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def call(self, tx: Any, block: Any) -> bytes:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return bytes(answer)


class _W3:
    provider = object()  # not a JSON-RPC provider: one call a vault, no batch

    def __init__(self, answers: list[Any]) -> None:
        self.eth = _Eth(answers)


def test_a_reverting_vault_is_unknown_and_the_others_are_read_one_at_a_time() -> None:
    gap = abi_encode(["bytes"], [b"\x12\x34\x56\x78"])
    answers = [ValueError("execution reverted"), ValueError("execution reverted"), gap]
    assert read_blockers(_W3(answers), VAULTS, attempts=1) == {  # type: ignore[arg-type]
        "0x1111111111111111111111111111111111111111": None,
        "0x2222222222222222222222222222222222222222": b"\x12\x34\x56\x78",
    }


def test_a_node_lost_while_asking_one_vault_at_a_time_is_a_chain_error() -> None:
    # The first call reverts, so each vault is asked alone; then the node goes away. The caller
    # (observe) loses only the explanation on a ChainError; any other error failed the cycle.
    answers = [ValueError("execution reverted"), requests.ConnectionError("refused")]
    with pytest.raises(ChainError, match="rebalanceBlocker calls failed: ConnectionError"):
        read_blockers(_W3(answers), VAULTS, attempts=1)  # type: ignore[arg-type]


def test_no_endpoint_answering_is_named_as_the_blocker_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A check that fails on it says so in its one line: "keeper: error: batch failed on every
    # RPC endpoint: ..." named no read.
    def call_each(*args: Any, **kw: Any) -> list[bytes | None]:
        raise RpcUnavailableError("batch failed on every RPC endpoint: HTTPError: 500")

    monkeypatch.setattr("keeper.chain.blockers.call_each", call_each)
    with pytest.raises(ChainError) as info:
        read_blockers(_W3([]), VAULTS, attempts=1)  # type: ignore[arg-type]
    assert str(info.value) == (
        "rebalanceBlocker calls failed: batch failed on every RPC endpoint: HTTPError: 500"
    )
    assert is_transient(info.value)
