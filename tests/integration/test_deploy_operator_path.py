"""The operator's testnet path: ``scripts/Deploy.s.sol`` broadcast by a deployer short of ETH.

Forge runs the script, and so writes the addresses file, before it broadcasts anything. A
deployer without enough ETH then failed the broadcast at its first transaction (no ETH at all)
or partway (a faucet's drop), after the file was written: it named contracts that never existed,
or a vault deployed without its roles and queue. The script now compares the deployer's balance
with the gas its own simulation used at the chain's base fee (a lower bound of the cost) and
stops before anything is broadcast or written (``DeployUnfunded``).

The "testnet" is an anvil on Arbitrum Sepolia's chain id, 421614, with what the real testnet
already has: tokens, a Chainlink ``MockV3Aggregator`` and the real Uniswap V3 from its npm
artifacts (``tests/integration/test_deploy_script.py`` builds it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from eth_account import Account
from web3.types import RPCEndpoint

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.locations import PROJECT_ROOT, node_bin
from tests.integration import test_deploy_script
from tests.integration.test_deploy_script import FakeChain, _broadcast, _config, _testnet

pytestmark = pytest.mark.integration

# A fresh deployments/ directory per test, removed after it (test_deploy_script.py's).
workdir = test_deploy_script.workdir

#: Arbitrum Sepolia: the chain id the operator's "testnet" anvil runs on.
TESTNET_CHAIN_ID = 421_614
#: A faucet's drop, in gas at the base fee: it pays the first transaction (the venue), which
#: forge then sends, and not the second (the vault implementation), where the broadcast stopped.
PARTIAL_GAS = 10_000_000

_UNFUNDED = re.compile(r"script failed: DeployUnfunded\((0x[0-9a-fA-F]{40}), (\d+)[^,]*, (\d+)")


def _deploy(
    net: FakeChain,
    workdir: Path,
    config: dict[str, object],
    key: str,
    *,
    expect_ok: bool = False,
    **extra_env: str,
) -> str:
    """Run the script as docs/deploy.md does (``--broadcast --slow``); return what it printed."""
    cfg_path = workdir / "local.json"
    cfg_path.write_text(json.dumps(config, indent=2))
    env = dict(os.environ)
    env.pop("KEEPER_ADDRESS", None)
    env.pop("DEPLOY_OVERWRITE", None)
    env.update(
        {
            "DEPLOY_CONFIG": str(cfg_path),
            "DEPLOY_OUT": str(workdir / "out.json"),
            "NETWORK": "local",
            "FOUNDRY_BROADCAST": str(workdir / "broadcast"),
            **extra_env,
        }
    )
    proc = _broadcast(node_bin("forge"), PROJECT_ROOT, env, net, key=key)
    if expect_ok:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    else:
        assert proc.returncode != 0, "the deploy succeeded: " + proc.stdout[-2000:]
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("gas", [0, PARTIAL_GAS], ids=["no-eth", "a-faucet-drop"])
def test_deploy_refuses_a_deployer_short_of_eth_and_writes_no_file(workdir: Path, gas: int) -> None:
    with Anvil(chain_id=TESTNET_CHAIN_ID) as node:
        net = _testnet(node)
        deployer = Account.create()
        balance = gas * int(net.w3.eth.get_block("latest")["baseFeePerGas"])
        net.w3.provider.make_request(
            RPCEndpoint("anvil_setBalance"), [deployer.address, hex(balance)]
        )

        text = _deploy(net, workdir, _config(net), deployer.key.hex())

        match = _UNFUNDED.search(text)
        assert match, text[-3000:]
        assert match.group(1) == deployer.address
        assert int(match.group(2)) == balance
        assert int(match.group(3)) > balance  # what the deploy needs at least
        # nothing was broadcast (not even the first transaction) and no file was written
        assert net.w3.eth.get_transaction_count(deployer.address) == 0
        assert not (workdir / "out.json").exists()


def test_a_deploy_overwrite_value_it_cannot_read_is_refused_by_name(workdir: Path) -> None:
    """``DEPLOY_OVERWRITE=yes`` read as unset: the rerun stopped with ``DeployWouldOverwrite``,
    whose advice (set ``DEPLOY_OVERWRITE``) the operator had just followed."""
    with Anvil(chain_id=TESTNET_CHAIN_ID) as node:
        net = _testnet(node)
        key = ANVIL_KEYS[1]
        first = _deploy(net, workdir, _config(net), key, expect_ok=True)
        assert "ONCHAIN EXECUTION COMPLETE & SUCCESSFUL" in first
        live = (workdir / "out.json").read_text()

        text = _deploy(net, workdir, _config(net), key, DEPLOY_OVERWRITE="yes")
        assert 'script failed: DeployEnvMalformed("DEPLOY_OVERWRITE", "yes")' in text, text[-2000:]
        assert (workdir / "out.json").read_text() == live


def test_a_vault_the_addresses_file_names_without_code_says_the_file_and_the_likely_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy whose broadcast failed (an RPC cut partway, a deploy from before the funds
    check) leaves a file naming contracts that do not exist. ``keeper check`` said only
    "<vault> is not a vault (no contract code there on chain 31337, the RPC's)": the RPC's
    chain id already matched the file's, so that pointed at the wrong thing. It now names the
    file and that its deploy may not have been broadcast (helper-120's operator walk)."""
    from keeper.cli import main

    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    with Anvil() as node:
        path = tmp_path / "local.json"
        vault = "0x" + "33" * 20
        body = {"chain_id": 31337, "lens": "0x" + "11" * 20, "vaults": [vault]}
        path.write_text(json.dumps(body))
        code = main(
            ["check", "--addresses", str(path), "--rpc-url", node.url, "--env-file", os.devnull]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1, err
    assert "no contract code there" in err[0], err
    assert str(path) in err[0], err
    assert "broadcast" in err[0], err
