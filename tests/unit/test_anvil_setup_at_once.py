"""``Anvil(setup_at_once=True)``: a whole-second block time starts when asked, not at spawn.

anvil's ``evm_setIntervalMining`` takes whole seconds; a fractional block time is anvil's own
from the start. The node's answer is checked: a refusal is a one-line ``ChainError``.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from keeper.chain import anvil as anvil_mod
from keeper.chain.anvil import Anvil
from keeper.errors import ChainError
from tests.rpc_stub import rpc_stub


def _spawned_with(monkeypatch: pytest.MonkeyPatch, node: Anvil) -> list[str]:
    """The command line ``node`` would start anvil with (nothing is started)."""
    seen: list[list[str]] = []

    def popen(cmd: list[str], **_: Any) -> Any:
        seen.append(cmd)
        raise OSError("not started in a unit test")

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(anvil_mod.subprocess, "Popen", popen)
    with pytest.raises(OSError, match="not started"):
        node._spawn()
    return seen[0]


@pytest.mark.parametrize(
    ("block_time", "at_once", "flag"),
    [
        (2.0, True, None),  # started later, by evm_setIntervalMining
        (2.0, False, "2.0"),
        (0.5, True, "0.5"),  # not whole seconds: anvil's from the start
        (None, True, None),
    ],
)
def test_the_block_time_flag_is_left_out_only_when_it_can_start_later(
    monkeypatch: pytest.MonkeyPatch, block_time: float | None, at_once: bool, flag: str | None
) -> None:
    cmd = _spawned_with(monkeypatch, Anvil(block_time=block_time, setup_at_once=at_once))
    if flag is None:
        assert "--block-time" not in cmd
    else:
        assert cmd[cmd.index("--block-time") + 1] == flag


def test_start_block_time_asks_for_whole_seconds_once() -> None:
    asked: list[Any] = []

    def answer(req: dict[str, Any]) -> dict[str, Any]:
        asked.append((req["method"], req["params"]))
        return {"result": None}

    with rpc_stub(answer) as stub:
        node = Anvil(port=stub.port, block_time=3, setup_at_once=True)
        node.start_block_time()
        node.start_block_time()  # started: nothing more to ask
    assert asked == [("evm_setIntervalMining", [3])]


@pytest.mark.parametrize("block_time", [0.5, None])
def test_start_block_time_asks_nothing_of_a_node_that_needs_nothing(
    block_time: float | None,
) -> None:
    with rpc_stub(lambda req: {"result": None}) as stub:
        Anvil(port=stub.port, block_time=block_time, setup_at_once=True).start_block_time()
    assert stub.methods == []


def test_a_node_that_refuses_the_block_time_is_a_one_line_chain_error() -> None:
    refusal = {"error": {"code": -32601, "message": "Method not found"}}
    with rpc_stub(lambda req: dict(refusal)) as stub:
        node = Anvil(port=stub.port, block_time=2, setup_at_once=True)
        with pytest.raises(ChainError, match="refused 2-s blocks") as info:
            node.start_block_time()
    assert "\n" not in str(info.value)
