"""Shared fixtures. ``chain`` runs an integration test on anvil and on in-process py-evm."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.connection import connect
from keeper.devnet.pyevm import pyevm_chain

if TYPE_CHECKING:
    from keeper.devnet.stack import DevnetStack

BACKENDS = ("anvil", "pyevm")

# A test run started in the background by a non-interactive shell (`make test &` in a script, a
# CI runner's step sent to the background) inherits SIGINT ignored, as does every process it
# starts: a keeper such a test stops with SIGINT, as a terminal's Ctrl-C would, then ignored
# it and ran on (test_devnet_cli's stop-while-deploying test waited out its timeout). Tests take
# SIGINT as an interactive shell gives it; each child starts with it as Python's default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Each test process (each xdist worker, or a serial session) gets its own temporary directory,
# for itself and the keepers it starts. The signer locks live there (`keeper run`'s and
# `keeper vault`'s, named by chain id, genesis hash and address), and two anvils started in the
# same second have the same genesis: two modules, or two sessions on one machine, running a
# keeper with one anvil key side by side would each find the other's lock.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "session")
os.environ["TMPDIR"] = tempfile.mkdtemp(prefix=f"keeper-tests-{_WORKER}-")
tempfile.tempdir = None  # gettempdir() reads TMPDIR again
atexit.register(shutil.rmtree, os.environ["TMPDIR"], ignore_errors=True)


def one_vault_stack(w3: Web3) -> DevnetStack:
    """The devnet stack with one vault: anvil's account 0 its admin, 2 its desk, 3 its keeper."""
    from keeper.devnet.stack import StackConfig, deploy_stack
    from keeper.devnet.tx import account

    return deploy_stack(
        w3,
        admin=account(ANVIL_KEYS[0]),
        desk=account(ANVIL_KEYS[2]).address,
        keeper=account(ANVIL_KEYS[3]).address,
        config=StackConfig(n_vaults=1),
    )


def keeper_command() -> list[str]:
    """How a test starts the ``keeper`` CLI in a process of its own: the venv's script."""
    script = Path(sys.executable).with_name("keeper")
    if script.exists():
        return [str(script)]
    found = shutil.which("keeper")
    return [found] if found else [sys.executable, "-m", "keeper.cli"]


@pytest.fixture(autouse=True)
def _restore_keeper_logger() -> Iterator[None]:
    """The CLI configures the root and ``keeper`` loggers; put them back for the next test.

    On the root logger only the handlers ``setup_logging`` added are removed: pytest adds and
    removes its own capture handlers there around each phase.
    """
    keeper = logging.getLogger("keeper")
    handlers, level, propagate = list(keeper.handlers), keeper.level, keeper.propagate
    root = logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    yield
    keeper.handlers[:] = handlers
    keeper.setLevel(level)
    keeper.propagate = propagate
    for handler in list(root.handlers):
        if getattr(handler, "_keeper_handler", False) and handler not in root_handlers:
            root.removeHandler(handler)
    root.setLevel(root_level)


@dataclass
class Chain:
    """A live local chain for one test."""

    backend: str
    w3: Web3
    keys: tuple[str, ...]
    anvil: Anvil | None = None


def start_chain(backend: str) -> tuple[Chain, Anvil | None]:
    """Start a chain on ``backend`` ("anvil" or "pyevm")."""
    if backend == "anvil":
        node = Anvil().start()
        return Chain("anvil", connect(node.url), ANVIL_KEYS, node), node
    w3, keys = pyevm_chain()
    return Chain("pyevm", w3, keys), None


def examples(chain: Chain, n: int) -> int:
    """How many Hypothesis examples a differential test runs on ``chain``'s backend.

    Both backends run the same forge-compiled contracts on a real EVM, so the property's budget
    is spent where a call is cheap: anvil (a native EVM) runs all ``n``; py-evm, which interprets
    every opcode and every call in Python (~20x slower a call), runs a fifth, at least 20, and
    every explicit ``@example``: enough to show the in-process backend computes the same.
    """
    return n if chain.backend == "anvil" else max(20, n // 5)


@pytest.fixture(params=BACKENDS)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """A fresh chain per test, on each backend in turn. Anvil is stopped by its PID."""
    c, node = start_chain(request.param)
    try:
        yield c
    finally:
        if node is not None:
            node.stop()


@pytest.fixture
def anvil_chain() -> Iterator[Chain]:
    """A fresh anvil chain, for tests that need node-only RPCs (mining control, reorgs)."""
    c, node = start_chain("anvil")
    try:
        yield c
    finally:
        assert node is not None
        node.stop()


@contextmanager
def rolled_back(w3: Web3) -> Iterator[None]:
    """Run the body, then put the chain back as it was: state, blocks and time.

    ``evm_snapshot``/``evm_revert``, on anvil or py-evm (which answers a revert with null, anvil
    with true; false is an unknown snapshot). A test module builds its stack once (a module
    fixture; a build is seconds of deploys) and each test starts from it as from a new one.
    """
    snapshot = w3.provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
    try:
        yield
    finally:
        reverted = w3.provider.make_request("evm_revert", [snapshot["result"]])  # type: ignore[arg-type]
        assert "error" not in reverted, reverted
        assert reverted.get("result") is not False, reverted
