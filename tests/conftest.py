"""Shared fixtures. ``chain`` runs an integration test on anvil and on in-process py-evm."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.connection import connect
from keeper.devnet.pyevm import pyevm_chain

BACKENDS = ("anvil", "pyevm")


@pytest.fixture(autouse=True)
def _restore_keeper_logger() -> Iterator[None]:
    """The CLI configures the ``keeper`` logger; put it back for the next test."""
    root = logging.getLogger("keeper")
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


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
