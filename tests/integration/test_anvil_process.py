"""``Anvil.start`` never leaves the process it spawned behind, however the start is cut short."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keeper.chain import anvil as anvil_mod
from keeper.chain.anvil import Anvil

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_while_anvil_starts_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while ``start`` waits for the node to answer (seconds for a fork) reached the
    caller with the node still running in its own session, and nothing left to stop it: ``start``
    stopped the node only on ``ChainError``, and ``with Anvil()`` never got to ``__exit__``."""
    node = Anvil()
    spawned: list[int] = []

    def interrupted(*args: object, **kwargs: object) -> object:
        assert node.pid is not None
        spawned.append(node.pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(anvil_mod.requests, "post", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt), node:
            raise AssertionError("the node started")
    finally:
        leaked = [pid for pid in spawned if _alive(pid)]
        for pid in leaked:  # by PID: a failing run leaves nothing behind either
            os.kill(pid, 15)
    assert spawned
    assert leaked == []
    assert node.pid is None
