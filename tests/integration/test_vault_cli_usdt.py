"""``keeper vault deposit`` on a vault whose asset behaves as mainnet USDT does.

USDT's ``approve`` of a non-zero amount reverts while the allowance is not zero, and returns
nothing. A deposit whose allowance was short but not zero (an approval left by an earlier
deposit that was not done, or one given in a wallet) sent ``approve(amount)``, which reverted:
the deposit could not be made until the user reset the allowance by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet.tx import account, transact
from tests.conftest import one_vault_stack, rolled_back
from tests.usdt_like import become_usdt_like

pytestmark = pytest.mark.integration

USDC = 10**6


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Web3, Contract, Contract]]:
    """One vault whose asset is a USDT-like token; the depositor (account 6) holds 5,000."""
    with Anvil() as node:
        w3 = connect(node.url)
        admin = account(ANVIL_KEYS[0])
        stack = one_vault_stack(w3)
        token = w3.eth.contract(address=stack.usdc, abi=load_artifact("MintableERC20").abi)
        transact(w3, admin, token.functions.mint(account(ANVIL_KEYS[6]).address, 5_000 * USDC))
        become_usdt_like(w3, stack.usdc)
        vault = w3.eth.contract(address=stack.vaults[0], abi=load_artifact("OptionVault").abi)
        yield node, w3, token, vault


@pytest.fixture
def env(
    chain: tuple[Anvil, Web3, Contract, Contract],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[Anvil, Web3, Contract, Contract]]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL", "KEEPER_CHAIN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[6])
    with rolled_back(chain[1]):
        yield chain


def _deposit(node: Anvil, vault: Contract, amount: str) -> int:
    return main(
        [
            "vault",
            "deposit",
            "--vault",
            vault.address,
            "--rpc-url",
            node.url,
            "--env-file",
            os.devnull,
            "--amount",
            amount,
            "--json",
        ]
    )


def test_a_deposit_with_a_short_allowance_resets_it_to_zero_first(
    env: tuple[Anvil, Web3, Contract, Contract], capsys: pytest.CaptureFixture[str]
) -> None:
    node, w3, token, vault = env
    me = account(ANVIL_KEYS[6])
    transact(w3, me, token.functions.approve(vault.address, 1 * USDC))  # left from before
    assert _deposit(node, vault, "100") == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert [t["what"] for t in report["txs"]] == ["approve 0", "approve", "deposit"]
    assert report["assets"] == 100 * USDC
    assert token.functions.allowance(me.address, vault.address).call() == 0
    assert token.functions.balanceOf(me.address).call() == 4_900 * USDC
    assert vault.functions.balanceOf(me.address).call() == report["shares"] > 0


def test_a_deposit_from_a_zero_allowance_approves_once(
    env: tuple[Anvil, Web3, Contract, Contract], capsys: pytest.CaptureFixture[str]
) -> None:
    node, _, token, vault = env
    assert _deposit(node, vault, "100") == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert [t["what"] for t in report["txs"]] == ["approve", "deposit"]
    assert token.functions.allowance(account(ANVIL_KEYS[6]).address, vault.address).call() == 0
