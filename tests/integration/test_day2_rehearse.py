"""``keeper rehearse --block N`` before a contract's deployment names the contract and the block.

A vault's (or the lens's) absence at ``--block`` was blamed on the addresses file: "was its
deploy's broadcast cut short?", sending the operator to redeploy a stack that is there, one block
later than the one asked for; the batcher's pointed at ``KEEPER_BATCHER`` as well as the block.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_typing import HexStr
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet.tx import account, deploy
from tests.integration.test_demo import _anvils_on
from tests.unit.test_cli_keeper import _clean_env, one_error_line  # noqa: F401 - autouse

pytestmark = pytest.mark.integration


#: Creation code of a contract whose code is one STOP byte: "something deployed here".
ONE_BYTE = HexStr("0x600060005360016000f3")


@pytest.fixture(scope="module")
def parent() -> Iterator[tuple[Anvil, str, dict[str, tuple[str, int]]]]:
    """A batcher deployed, then a "lens" a block later, then a "vault" a block after that.

    Yields the node, the batcher, and each of the batcher, the lens and the vault: its address
    and the last block before it was deployed.
    """
    with Anvil() as node:
        w3 = connect(node.url)
        admin = account(ANVIL_KEYS[0])
        before = int(w3.eth.block_number)
        batcher = deploy(w3, admin, load_artifact("RebalanceBatcher"), admin.address, 10, 500_000)
        deployed: dict[str, tuple[str, int]] = {"batcher": (str(batcher.address), before)}
        for name in ("lens", "vault"):
            block = int(w3.eth.block_number)
            tx = w3.eth.send_transaction({"from": admin.address, "data": ONE_BYTE})
            address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
            deployed[name] = (str(address), block)
        yield node, str(batcher.address), deployed


@pytest.mark.parametrize("missing", ["vault", "lens", "batcher"])
def test_a_block_before_the_deployment_of_a_vault_the_lens_or_the_batcher_names_the_block(
    parent: tuple[Anvil, str, dict[str, tuple[str, int]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    node, batcher, deployed = parent
    address, block = deployed[missing]
    lens, vault = deployed["lens"][0], deployed["vault"][0]
    addresses = tmp_path / "deployment.json"
    addresses.write_text(
        json.dumps({"chain_id": 31337, "lens": lens, "batcher": batcher, "vaults": [vault]})
    )
    args = ["rehearse", "--env-file", os.devnull, "--addresses", str(addresses)]
    assert main([*args, "--fork-url", node.url, "--block", str(block)]) == 1
    line = one_error_line(capsys)
    named = Web3.to_checksum_address(address)
    assert line == (
        f"keeper: error: {missing} {named} has no contract code on the fork at block {block}: "
        "is --block before its deployment?"
    )
    assert _anvils_on(node.url) == []
