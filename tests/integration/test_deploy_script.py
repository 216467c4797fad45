"""``scripts/Deploy.s.sol`` run by ``forge script --broadcast`` against a local anvil.

The test deploys what a testnet already has -- tokens, a Chainlink ``MockV3Aggregator`` price
feed and the real Uniswap V3 with a funded pool (``keeper.devnet.uniswap``) -- writes a network
config in the shape of ``scripts/networks/*.json``, runs the script as a subprocess, and checks
the result on-chain and with the keeper itself.

The script may read and write only under ``fs_permissions`` (``./scripts/networks`` read,
``./deployments`` read-write), so each test works in its own ``deployments/test-<uuid>/``
directory and removes it afterwards. Forge's broadcast logs go to a temporary directory.

That directory also creates ``deployments/`` in this checkout, which would hide the script's
own ``createDir``: ``test_deploy_script_from_a_fresh_clone`` therefore runs the script the way a
new user does, in a ``git clone`` of this checkout's ``HEAD`` (so it tests what is committed),
with the default output path and the default broadcast directory, and checks that the clone's
``git status`` stays clean afterwards.

The venue swaps on the pool itself, so the config names no router; an older config that still
has ``uniswap.swapRouter``/``swapRouterKind`` deploys all the same (the script ignores them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet import uniswap as uni
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.tx import account, deploy, transact
from keeper.locations import PROJECT_ROOT, node_bin

pytestmark = pytest.mark.integration

WAD = 10**18
PRICE = 3000 * 10**8
#: What Chainlink's ``MockV3Aggregator.description()`` returns.
MOCK_DESCRIPTION = "v0.8/tests/MockV3Aggregator.sol"
#: The addresses the script deploys, by their key in the output file.
DEPLOYED_KEYS = (
    "lens",
    "batcher",
    "factory",
    "vault_implementation",
    "claims_implementation",
    "claims",
    "venue",
)
#: Thresholds deliberately unlike the script's defaults, so the test sees the config applied.
VAULT = {
    "name": "Option Vault (test)",
    "symbol": "ovTEST",
    "volatility": 7 * 10**17,
    "targetDelta": -2 * WAD,
    "band": 3 * 10**17,
    "minInterval": 30,
    "maxInterval": 43_200,
    "maxTrade": 25 * WAD,
    "maxSlippageBps": 150,
    "maxOracleGapBps": 125,  # <= maxSlippageBps (the vault enforces it)
    "oracleHeartbeat": 7_200,
    "sequencerGracePeriod": 1_800,
}


@dataclass
class FakeChain:
    """What the fake "testnet" already has before the script runs."""

    node: Anvil
    w3: Web3
    admin: LocalAccount
    usdc: Contract
    weth: Contract
    feed: Contract
    dex: uni.UniswapDevnet


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = PROJECT_ROOT / "deployments" / f"test-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _testnet(node: Anvil) -> FakeChain:
    w3 = connect(node.url)
    admin = account(ANVIL_KEYS[0])
    erc20 = load_artifact("MintableERC20")
    usdc = deploy(w3, admin, erc20, "USD Coin (test)", "USDC", 6)
    weth = deploy(w3, admin, erc20, "Wrapped Ether (test)", "WETH", 18)
    feed = deploy(w3, admin, load_artifact("MockV3Aggregator"), 8, PRICE)
    dex = uni.deploy_uniswap_v3(
        w3,
        admin,
        quote=usdc.address,
        underlying=weth.address,
        price8=PRICE,
        underlying_liquidity=5_000 * WAD,
        fee=500,  # the config asks for 3000: the script must fall back to 500
    )
    return FakeChain(node, w3, admin, usdc, weth, feed, dex)


def _config(net: FakeChain, **override: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "Local anvil",
        "chainId": net.w3.eth.chain_id,
        "chainlink": {
            "ethUsdFeed": net.feed.address,
            "ethUsdFeedDecimals": 8,
            "ethUsdHeartbeat": None,
            "sequencerUptimeFeed": None,
        },
        "uniswap": {
            "factory": net.dex.contracts.factory,
            "quoterV2": net.dex.contracts.quoter,
            "positionManager": net.dex.contracts.position_manager,
            "poolFee": 3000,
        },
        "tokens": {
            "quote": {"address": net.usdc.address, "symbol": "USDC", "decimals": 6},
            "underlying": {"address": net.weth.address, "symbol": "WETH", "decimals": 18},
        },
        "l1Fee": {"opGasPriceOracle": None, "arbNodeInterface": None},
        "vault": dict(VAULT),
        "batcher": {"maxBatch": 50, "vaultGasLimit": 1_500_000},
    }
    cfg.update(override)
    return cfg


def _latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _set_feed_round(net: FakeChain, age: int) -> int:
    """Make the feed's latest round ``age`` seconds older than the latest block; return it."""
    updated_at = _latest_timestamp(net.w3) - age
    transact(
        net.w3, net.admin, net.feed.functions.updateRoundData(2, PRICE, updated_at, updated_at)
    )
    return updated_at


def _run_script(
    net: FakeChain, workdir: Path, config: dict[str, Any], keeper: str
) -> subprocess.CompletedProcess[str]:
    cfg_path = workdir / "local.json"
    cfg_path.write_text(json.dumps(config, indent=2))
    env = dict(os.environ)
    env.update(
        {
            "DEPLOY_CONFIG": str(cfg_path),
            "DEPLOY_OUT": str(workdir / "out.json"),
            "NETWORK": "local",
            "KEEPER_ADDRESS": keeper,
            "FOUNDRY_BROADCAST": str(workdir / "broadcast"),
        }
    )
    return _broadcast(node_bin("forge"), PROJECT_ROOT, env, net)


#: A deploy takes about a second here; a broadcast still running after this long has hung.
BROADCAST_TIMEOUT_S = 240


def _broadcast(
    forge: Path, cwd: Path, env: dict[str, str], net: FakeChain, key: str = ANVIL_KEYS[0]
) -> subprocess.CompletedProcess[str]:
    """Run the deploy script with ``--broadcast --slow``, the way docs/deploy.md does.

    ``--slow`` sends each transaction after the previous one is confirmed. Without it forge sends
    them in a batch, and anvil's automine can mine a block on the first and leave the others in
    its pool with nothing to mine them, so forge waits for their receipts for good
    (foundry-rs/foundry#10122). CI hung that way once, for the whole 540 s timeout. A broadcast
    that still hangs fails with what anvil's pool holds, not a bare timeout.
    """
    cmd = [str(forge), "script", "scripts/Deploy.s.sol", "--rpc-url", net.node.url]
    cmd += ["--broadcast", "--slow", "--private-key", key]
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BROADCAST_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pool = net.w3.provider.make_request(RPCEndpoint("txpool_status"), [])
        head = net.w3.eth.block_number
        raw = exc.stdout or b""
        output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        pytest.fail(
            f"forge script hung for {BROADCAST_TIMEOUT_S} s: anvil at block {head}, "
            f"txpool {pool.get('result')}; forge printed: {output[-1500:]}"
        )


def _bind(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def _deploy_and_check(
    net: FakeChain,
    workdir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keeper = account(ANVIL_KEYS[3])
    proc = _run_script(net, workdir, _config(net), keeper.address)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"feed {net.feed.address} {MOCK_DESCRIPTION}" in proc.stdout  # pre-flight logs it
    out = json.loads((workdir / "out.json").read_text())
    w3 = net.w3

    # the keys `keeper run --addresses` reads
    assert out["chain_id"] == 31337
    assert len(out["vaults"]) == 1
    vault = _bind(w3, "OptionVault", out["vaults"][0])
    factory = _bind(w3, "VaultFactory", out["factory"])
    batcher = _bind(w3, "RebalanceBatcher", out["batcher"])
    venue = _bind(w3, "UniswapV3Venue", out["venue"])
    assert factory.functions.isVault(vault.address).call()
    assert factory.functions.vaultCount().call() == 1
    assert w3.eth.get_code(Web3.to_checksum_address(out["lens"])) != b""

    # the vault: the config's tokens, feeds, thresholds; no sequencer check (null in config)
    assert vault.functions.asset().call() == net.usdc.address
    assert vault.functions.underlying().call() == net.weth.address
    assert vault.functions.oracle().call() == net.feed.address
    assert int(vault.functions.sequencerFeed().call(), 16) == 0
    assert vault.functions.venue().call() == venue.address
    # its ERC-7540 redemption queue, set once
    queue = _bind(w3, "RedemptionQueue", out["redemption_queue"])
    assert vault.functions.redemptionQueue().call() == queue.address
    assert queue.functions.share().call() == vault.address
    assert vault.functions.name().call() == VAULT["name"]
    assert vault.functions.symbol().call() == VAULT["symbol"]
    assert vault.functions.volatility().call() == VAULT["volatility"]
    t = vault.functions.thresholds().call()
    expected = tuple(
        VAULT[k]
        for k in (
            "targetDelta",
            "band",
            "minInterval",
            "maxInterval",
            "maxTrade",
            "maxSlippageBps",
            "maxOracleGapBps",
            "oracleHeartbeat",
            "sequencerGracePeriod",
        )
    )
    assert tuple(t) == expected

    # the venue: the pool the script fell back to (fee 500), over the config's tokens
    assert out["pool_fee"] == 500
    assert out["pool"] == net.dex.pool.address
    assert venue.functions.pool().call() == net.dex.pool.address
    assert venue.functions.fee().call() == 500
    assert venue.functions.quoteToken().call() == net.usdc.address
    assert venue.functions.underlyingToken().call() == net.weth.address

    # roles: deployer admin everywhere, batcher = the vault's keeper, keeper EOA on the batcher
    # and on the vault (a lone vault's rebalance goes to the vault itself)
    admin_role = b"\x00" * 32
    assert vault.functions.hasRole(admin_role, net.admin.address).call()
    assert vault.functions.hasRole(vault.functions.KEEPER_ROLE().call(), batcher.address).call()
    assert vault.functions.hasRole(vault.functions.KEEPER_ROLE().call(), keeper.address).call()
    assert batcher.functions.hasRole(admin_role, net.admin.address).call()
    assert batcher.functions.isKeeper(keeper.address).call()
    assert batcher.functions.maxBatch().call() == 50
    assert batcher.functions.vaultGasLimit().call() == 1_500_000
    assert factory.functions.hasRole(admin_role, net.admin.address).call()

    # a real book: a depositor and one written call put the vault out of its band
    desk, buyer = account(ANVIL_KEYS[2]), account(ANVIL_KEYS[5])
    usdc = net.usdc
    transact(
        w3, net.admin, vault.functions.grantRole(vault.functions.DESK_ROLE().call(), desk.address)
    )
    transact(w3, net.admin, usdc.functions.mint(net.admin.address, 1_000_000 * 10**6))
    transact(w3, net.admin, usdc.functions.approve(vault.address, 1_000_000 * 10**6))
    transact(w3, net.admin, vault.functions.deposit(1_000_000 * 10**6, net.admin.address))
    expiry = int(w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
    premium, _ = premium_bounds(w3, vault, 0, PRICE, 1_000 * 10**8, expiry, 10 * WAD)
    transact(w3, net.admin, usdc.functions.mint(buyer.address, premium))
    transact(w3, buyer, usdc.functions.approve(vault.address, premium))
    transact(
        w3,
        desk,
        signed_write(w3, vault, buyer, 0, PRICE, 1_000 * 10**8, expiry, 10 * WAD, premium),
    )

    # `keeper check --addresses <the script's output>`: a dry-run cycle plans this vault
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_VAULTS", "KEEPER_LENS", "KEEPER_BATCHER"):
        monkeypatch.delenv(name, raising=False)
    common = ["--env-file", os.devnull, "--addresses", str(workdir / "out.json")]
    common += ["--rpc-url", net.node.url, "--policy", "band:width=0.0001"]
    common += ["--journal", str(tmp_path / "journal.sqlite")]
    assert main(["check", *common, "--json"]) == 0
    cycle = json.loads(capsys.readouterr().out)
    assert cycle["dry_run"] is True
    assert cycle["planned"] == [vault.address]
    assert cycle["tx_hash"] is None
    assert w3.eth.get_transaction_count(keeper.address) == 0

    # and the real keeper hedges it through the deployed venue, which swaps on the pool
    inventory = vault.functions.hedgeInventory().call()
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[3])
    assert main(["run", *common, "--max-cycles", "1"]) == 0
    capsys.readouterr()
    assert w3.eth.get_transaction_count(keeper.address) == 1
    assert vault.functions.hedgeInventory().call() > inventory
    delta = vault.functions.netDelta().call()
    assert abs(delta - VAULT["targetDelta"]) <= VAULT["band"]


def test_deploy_script_deploys_a_stack_the_keeper_runs(
    workdir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Anvil() as node:
        _deploy_and_check(_testnet(node), workdir, tmp_path, capsys, monkeypatch)


def test_deploy_script_ignores_the_router_keys_of_an_older_config(workdir: Path) -> None:
    # Configs written before the venue swapped on the pool name a router; it is not read.
    with Anvil() as node:
        net = _testnet(node)
        cfg = _config(net)
        cfg["uniswap"]["swapRouter"] = net.dex.contracts.router
        cfg["uniswap"]["swapRouterKind"] = "SwapRouter02"  # not even the router's real kind
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out = json.loads((workdir / "out.json").read_text())
        assert "swap_router" not in out
        assert "router_kind" not in out
        venue = _bind(net.w3, "UniswapV3Venue", out["venue"])
        assert venue.functions.pool().call() == net.dex.pool.address


def test_deploy_script_refuses_a_wrong_feed_and_deploys_nothing(workdir: Path) -> None:
    with Anvil() as node:
        net = _testnet(node)
        wrong = deploy(net.w3, net.admin, load_artifact("MockV3Aggregator"), 18, 3000 * WAD)
        cfg = _config(net)
        cfg["chainlink"]["ethUsdFeed"] = wrong.address
        nonce = net.w3.eth.get_transaction_count(net.admin.address)
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode != 0
        text = proc.stdout + proc.stderr
        assert f"script failed: DeployFeedDecimals({wrong.address}, 18)" in text
        # nothing was broadcast and no addresses file was written
        assert net.w3.eth.get_transaction_count(net.admin.address) == nonce
        assert not (workdir / "out.json").exists()


_STALE = re.compile(
    r'script failed: DeployFeedStale\((0x[0-9a-fA-F]{40}), "([^"]*)", (\d+)(?: \[[^\]]*\])?, '
    r"(\d+)"
)


@pytest.mark.parametrize(
    ("feed_heartbeat", "age", "heartbeat"),
    [
        # no documented feed heartbeat: the vault's own (VAULT["oracleHeartbeat"], 7200 s)
        (None, 7_300, 7_200),
        # a documented feed heartbeat shorter than the vault's is the stricter bound
        (3_600, 3_700, 3_600),
    ],
)
def test_deploy_script_refuses_a_stale_feed_and_deploys_nothing(
    workdir: Path, feed_heartbeat: int | None, age: int, heartbeat: int
) -> None:
    with Anvil() as node:
        net = _testnet(node)
        _set_feed_round(net, age)
        cfg = _config(net)
        cfg["chainlink"]["ethUsdHeartbeat"] = feed_heartbeat
        nonce = net.w3.eth.get_transaction_count(net.admin.address)
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode != 0
        text = proc.stdout + proc.stderr
        match = _STALE.search(text)
        assert match, text[-3000:]
        # the error names the feed, what it says it is, its age and the heartbeat it failed
        assert match.group(1) == net.feed.address
        assert match.group(2) == MOCK_DESCRIPTION
        assert age <= int(match.group(3)) < age + 60
        assert int(match.group(4)) == heartbeat
        assert f"feed {net.feed.address} {MOCK_DESCRIPTION}" in proc.stdout
        # nothing was broadcast and no addresses file was written
        assert net.w3.eth.get_transaction_count(net.admin.address) == nonce
        assert not (workdir / "out.json").exists()


def test_deploy_script_refuses_a_feed_whose_round_is_dated_after_the_block(
    workdir: Path,
) -> None:
    """The vault counts such a round as stale (``OptionVaultStaleOracle``): so must the check."""
    with Anvil() as node:
        net = _testnet(node)
        updated_at = _set_feed_round(net, -86_400)
        cfg = _config(net)
        nonce = net.w3.eth.get_transaction_count(net.admin.address)
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode != 0
        text = proc.stdout + proc.stderr
        match = re.search(
            r'script failed: DeployFeedFromTheFuture\((0x[0-9a-fA-F]{40}), "([^"]*)", (\d+)', text
        )
        assert match, text[-3000:]
        assert match.group(1) == net.feed.address
        assert match.group(2) == MOCK_DESCRIPTION
        assert int(match.group(3)) == updated_at
        assert net.w3.eth.get_transaction_count(net.admin.address) == nonce
        assert not (workdir / "out.json").exists()


def test_deploy_script_accepts_a_feed_within_its_heartbeat(workdir: Path) -> None:
    with Anvil() as node:
        net = _testnet(node)
        _set_feed_round(net, VAULT["oracleHeartbeat"] - 300)  # old, but inside the heartbeat
        cfg = _config(net)
        cfg["chainlink"]["ethUsdDescription"] = MOCK_DESCRIPTION
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f"feed {net.feed.address} {MOCK_DESCRIPTION}" in proc.stdout
        # the age is read at the script's block, which may be a second or more past ours
        age = re.search(r"feed round age \(s\), heartbeat \(s\) (\d+) (\d+)", proc.stdout)
        assert age, proc.stdout[-3000:]
        assert VAULT["oracleHeartbeat"] - 300 <= int(age.group(1)) < VAULT["oracleHeartbeat"] - 240
        assert int(age.group(2)) == VAULT["oracleHeartbeat"]
        out = json.loads((workdir / "out.json").read_text())
        vault = _bind(net.w3, "OptionVault", out["vaults"][0])
        assert vault.functions.oracle().call() == net.feed.address


def test_deploy_script_refuses_a_feed_of_another_pair(workdir: Path) -> None:
    # Chainlink reuses proxy addresses across chains: the configured description catches it.
    with Anvil() as node:
        net = _testnet(node)
        cfg = _config(net)
        cfg["chainlink"]["ethUsdDescription"] = "ETH / USD"
        nonce = net.w3.eth.get_transaction_count(net.admin.address)
        proc = _run_script(net, workdir, cfg, account(ANVIL_KEYS[3]).address)
        assert proc.returncode != 0
        expected = f'DeployFeedDescription({net.feed.address}, "{MOCK_DESCRIPTION}", "ETH / USD")'
        assert f"script failed: {expected}" in proc.stdout + proc.stderr
        assert net.w3.eth.get_transaction_count(net.admin.address) == nonce
        assert not (workdir / "out.json").exists()


def _git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=True
    )
    return proc.stdout


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """A ``git clone`` of this checkout's ``HEAD``, sharing its installed tools.

    ``node_modules`` is this checkout's (forge, the solc shim and the Solidity libraries), hard
    linked, and ``build/`` is a copy of this checkout's, so forge recompiles only what differs.
    Neither is tracked, so the clone is what a new user has after ``make install``. Hard links,
    not a symlink to the directory: forge resolves a symlinked ``node_modules`` to this
    checkout's path, names every library source by it, misses its whole build cache and
    recompiled everything (76 s of solc against 1 s). Across file systems it falls back to the
    symlink.
    """
    head = _git("rev-parse", "HEAD", cwd=PROJECT_ROOT).strip()
    clone = tmp_path / "clone"
    _git(
        "clone", "--quiet", "--shared", "--no-checkout", str(PROJECT_ROOT), str(clone), cwd=tmp_path
    )
    _git("checkout", "--quiet", "--detach", head, cwd=clone)
    try:
        shutil.copytree(
            PROJECT_ROOT / "node_modules",
            clone / "node_modules",
            symlinks=True,
            copy_function=os.link,
        )
    except (OSError, shutil.Error):  # another file system: no hard links
        shutil.rmtree(clone / "node_modules", ignore_errors=True)
        (clone / "node_modules").symlink_to(PROJECT_ROOT / "node_modules", target_is_directory=True)
    if (PROJECT_ROOT / "build").is_dir():
        shutil.copytree(PROJECT_ROOT / "build", clone / "build", symlinks=True)
    return clone


def test_deploy_script_from_a_fresh_clone(fresh_clone: Path) -> None:
    # the committed tree has no deployments/: the script must create it
    assert not (fresh_clone / "deployments").exists()
    with Anvil() as node:
        net = _testnet(node)
        cfg = _config(net)
        cfg["chainlink"]["ethUsdDescription"] = MOCK_DESCRIPTION
        # the README's path: a config under scripts/networks/ named by NETWORK, default output
        (fresh_clone / "scripts" / "networks" / "local.json").write_text(json.dumps(cfg))
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DEPLOY_CONFIG", "DEPLOY_OUT", "FOUNDRY_BROADCAST", "KEEPER_ADDRESS")
        }
        env["NETWORK"] = "local"
        proc = _broadcast(fresh_clone / "node_modules" / ".bin" / "forge", fresh_clone, env, net)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out_path = fresh_clone / "deployments" / "local.json"
        assert out_path.is_file()
        out = json.loads(out_path.read_text())
        assert out["chain_id"] == net.w3.eth.chain_id
        assert out["network"] == "local"
        addresses = [out[k] for k in DEPLOYED_KEYS] + list(out["vaults"])
        assert len(set(addresses)) == len(DEPLOYED_KEYS) + 1
        for address in addresses:
            assert net.w3.eth.get_code(Web3.to_checksum_address(address)) != b"", address
        factory = _bind(net.w3, "VaultFactory", out["factory"])
        assert factory.functions.isVault(Web3.to_checksum_address(out["vaults"][0])).call()
    # what the run wrote (deployments/, broadcast/, the local config, build/) is git-ignored
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=fresh_clone) == ""


@pytest.mark.parametrize(
    ("network", "chain_id"),
    [("base-sepolia", 84532), ("arbitrum-sepolia", 421614), ("op-sepolia", 11155420)],
)
def test_real_network_configs_parse_and_stop_on_the_wrong_chain(
    network: str, chain_id: int, tmp_path: Path
) -> None:
    # No RPC: forge's in-memory chain (31337). Every key of the real config parses (nulls
    # included), then the chain check stops the script before any deployment.
    env = dict(os.environ, NETWORK=network, FOUNDRY_BROADCAST=str(tmp_path / "broadcast"))
    env.pop("DEPLOY_CONFIG", None)
    env["DEPLOY_OUT"] = str(PROJECT_ROOT / "deployments" / f"test-{uuid.uuid4().hex[:12]}.json")
    proc = subprocess.run(
        [str(node_bin("forge")), "script", "scripts/Deploy.s.sol"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert f"scripts/networks/{network}.json" in text
    assert f"script failed: DeployWrongChain(31337 [3.133e4], {chain_id}" in text
    assert not Path(env["DEPLOY_OUT"]).exists()


def test_deploy_script_without_broadcast_leaves_the_addresses_file_alone(workdir: Path) -> None:
    """``forge script`` without ``--broadcast`` only simulates: nothing is deployed, so it must not
    write (over) ``deployments/<NETWORK>.json`` with addresses that hold no code. It did: an
    operator who re-ran the script as a dry run lost the file of the live deployment."""
    with Anvil() as node:
        net = _testnet(node)
        previous = '{"note": "the live deployment"}\n'
        (workdir / "out.json").write_text(previous)
        cfg_path = workdir / "local.json"
        cfg_path.write_text(json.dumps(_config(net), indent=2))
        env = dict(os.environ)
        env.update(
            {
                "DEPLOY_CONFIG": str(cfg_path),
                "DEPLOY_OUT": str(workdir / "out.json"),
                "NETWORK": "local",
                "FOUNDRY_BROADCAST": str(workdir / "broadcast"),
            }
        )
        cmd = [str(node_bin("forge")), "script", "scripts/Deploy.s.sol"]
        cmd += ["--rpc-url", node.url, "--private-key", ANVIL_KEYS[0]]
        proc = subprocess.run(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BROADCAST_TIMEOUT_S,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert net.w3.eth.get_transaction_count(net.admin.address) > 0  # the test's own set-up
        assert (workdir / "out.json").read_text() == previous
        assert "not written" in proc.stdout


def test_deploy_script_refuses_to_overwrite_a_live_deployment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forge runs the script, and so writes the addresses file, before it broadcasts: a redeploy
    to the path of a live deployment that then failed (a deployer out of ETH) replaced that file
    with addresses holding no code. The script now stops before broadcasting anything when the
    file names a vault with code on this chain; ``DEPLOY_OVERWRITE=1`` deploys anew."""
    with Anvil() as node:
        net = _testnet(node)
        keeper = account(ANVIL_KEYS[3]).address
        first = _run_script(net, workdir, _config(net), keeper)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        live = (workdir / "out.json").read_text()
        vault = json.loads(live)["vaults"][0]
        nonce = net.w3.eth.get_transaction_count(net.admin.address)

        again = _run_script(net, workdir, _config(net), keeper)
        assert again.returncode != 0
        named = f'script failed: DeployWouldOverwrite("{workdir / "out.json"}", '
        assert named in again.stdout + again.stderr
        assert vault.lower() in (again.stdout + again.stderr).lower()
        assert net.w3.eth.get_transaction_count(net.admin.address) == nonce
        assert (workdir / "out.json").read_text() == live

        monkeypatch.setenv("DEPLOY_OVERWRITE", "true")
        anew = _run_script(net, workdir, _config(net), keeper)
        assert anew.returncode == 0, anew.stdout[-3000:] + anew.stderr[-3000:]
        assert json.loads((workdir / "out.json").read_text())["vaults"][0] != vault
