"""``keeper rehearse``: fork a devnet anvil, run the real keeper cycle on the fork, report.

The parent is the devnet stack with options written, so its vaults are out of band. The
rehearsal's planned vaults must equal what ``keeper check`` (dry run) decides on the parent;
the fork's batch must be mined; and the parent must be untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.chain.anvil import ANVIL_KEYS, Anvil, free_port
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.stack import DevnetStack, StackConfig, ThresholdParams, deploy_stack
from keeper.devnet.tx import account, transact
from tests.conftest import rolled_back

pytestmark = pytest.mark.integration

WAD = 10**18
PRICE = 3000 * 10**8
SIZES = (20, 1, 20)  # vault 1's single contract stays inside the 0.5 band
POLICY = "band:width=0.0001"


@dataclass
class Parent:
    node: Anvil
    w3: Web3
    stack: DevnetStack
    vaults: list[Contract]
    batcher: Contract
    addresses: Path
    block_before_options: int

    def out_of_band(self) -> set[str]:
        out = set()
        for v in self.vaults:
            t = v.functions.thresholds().call()
            if abs(v.functions.netDelta().call() - t[0]) > t[1]:
                out.add(v.address)
        return out


@pytest.fixture
def parent(built: Parent, monkeypatch: pytest.MonkeyPatch) -> Iterator[Parent]:
    """The module's parent chain, as built: each test's changes are rolled back after it."""
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_VAULTS", "KEEPER_LENS", "KEEPER_BATCHER"):
        monkeypatch.delenv(name, raising=False)
    with rolled_back(built.w3):
        yield built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parent]:
    tmp_path = tmp_path_factory.mktemp("parent")
    with Anvil() as node:
        w3 = connect(node.url)
        admin, desk, buyer = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2]), account(ANVIL_KEYS[5])
        stack = deploy_stack(
            w3,
            admin=admin,
            desk=desk.address,
            keeper=account(ANVIL_KEYS[3]).address,
            config=StackConfig(
                n_vaults=len(SIZES),
                price8=PRICE,
                thresholds=ThresholdParams(band=WAD // 2, max_trade=100 * WAD),
            ),
        )
        vaults = [
            w3.eth.contract(address=v, abi=load_artifact("OptionVault").abi) for v in stack.vaults
        ]
        usdc = w3.eth.contract(address=stack.usdc, abi=load_artifact("MintableERC20").abi)
        block_before = int(w3.eth.block_number)
        expiry = int(w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
        for vault, size in zip(vaults, SIZES, strict=True):
            premium, _ = premium_bounds(w3, vault, 0, PRICE, 1_000 * 10**8, expiry, size * WAD)
            transact(w3, admin, usdc.functions.mint(buyer.address, premium))
            transact(w3, buyer, usdc.functions.approve(vault.address, premium))
            transact(
                w3,
                desk,
                signed_write(
                    w3, vault, buyer, 0, PRICE, 1_000 * 10**8, expiry, size * WAD, premium
                ),
            )
        addresses = tmp_path / "devnet.json"
        addresses.write_text(json.dumps(stack.to_json(node.url)))
        batcher = w3.eth.contract(address=stack.batcher, abi=load_artifact("RebalanceBatcher").abi)
        yield Parent(node, w3, stack, vaults, batcher, addresses, block_before)


def _common(p: Parent, tmp_path: Path) -> list[str]:
    return ["--env-file", os.devnull, "--addresses", str(p.addresses)]


def _lone(p: Parent, tmp_path: Path, vault: Contract) -> list[str]:
    """Options keeping ``vault`` alone: a plan of one vault, as production often sends."""
    addresses = tmp_path / "lone.json"
    addresses.write_text(json.dumps({**p.stack.to_json(p.node.url), "vaults": [vault.address]}))
    return ["--env-file", os.devnull, "--addresses", str(addresses)]


def _keeper_role(vault: Contract) -> bytes:
    return bytes(vault.functions.KEEPER_ROLE().call())


def test_rehearsal_matches_the_parent_dry_run_and_leaves_the_parent_untouched(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = parent
    expected = p.out_of_band()
    assert expected == {p.vaults[0].address, p.vaults[2].address}

    # the parent's dry-run decisions
    common = _common(p, tmp_path)
    assert (
        main(["check", *common, "--policy", POLICY, "--journal", str(tmp_path / "j"), "--json"])
        == 0
    )
    check = json.loads(capsys.readouterr().out)
    assert check["policy"] == POLICY  # as the table's header names it
    # the out-of-band vaults, plus vault 1 by the time trigger (never rebalanced yet)
    assert set(check["planned"]) == {v.address for v in p.vaults}

    head = p.w3.eth.block_number
    keeper_nonce = p.w3.eth.get_transaction_count(p.stack.keeper)
    rehearsal_account = account(ANVIL_KEYS[9]).address

    assert main(["rehearse", "--fork-url", p.node.url, *common, "--policy", POLICY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"] == POLICY

    # the same decisions, executed for real on the fork
    assert report["planned"] == check["planned"]
    assert [d["act"] for d in report["decisions"]] == [d["act"] for d in check["decisions"]]
    assert report["tx_status"] == "mined"
    assert set(report["rebalanced"]) == set(check["planned"])
    assert all(o["ok"] for o in report["outcomes"])
    assert report["fork_block"] == head
    assert report["chain_id"] == 31337
    assert report["keeper"] == rehearsal_account
    assert report["admin"] == p.stack.admin
    # a batch of several vaults goes through the batcher; each vault's own event gives its outcome
    assert report["tx_to"] == p.stack.batcher
    assert {o["event"] for o in report["outcomes"]} == {"Rebalanced"}
    assert sorted(o["vault"] for o in report["outcomes"]) == sorted(check["planned"])
    # the account was granted each vault's keeper role too, as Deploy.s.sol grants production's
    assert report["vault_roles"] == [
        {"vault": v.address, "held": True, "admin": p.stack.admin, "note": None} for v in p.vaults
    ]
    assert report["gas_used"] > 100_000
    assert report["l2_fee_wei"] > 0
    assert report["l1_fee_wei"] > 0  # the devnet's OP fee oracle is forked too
    assert report["total_fee_wei"] == report["l2_fee_wei"] + report["l1_fee_wei"]

    # the parent: no new block, no keeper tx, nothing granted, vaults still out of band
    assert p.w3.eth.block_number == head
    assert p.w3.eth.get_transaction_count(p.stack.keeper) == keeper_nonce
    assert p.w3.eth.get_transaction_count(rehearsal_account) == 0
    assert not p.batcher.functions.isKeeper(rehearsal_account).call()
    for v in p.vaults:
        assert not v.functions.hasRole(_keeper_role(v), rehearsal_account).call()
    assert p.out_of_band() == expected

    # the human table
    assert main(["rehearse", "--fork-url", p.node.url, *common, "--policy", POLICY]) == 0
    table = capsys.readouterr().out
    assert f"policy {POLICY}" in table.splitlines()[0]
    assert "rebalanced" in table
    assert "L1 fee" in table
    n = len(check["planned"])
    assert f"would rebalance {n} of {len(p.vaults)} vaults on the live chain" in table
    assert f"on the fork: {n} of them rebalanced in tx 0x" in table
    assert f"the live chain ({p.node.url}) is untouched: nothing was sent to it" in table
    assert "nothing was sent to the forked chain" not in table
    assert p.out_of_band() == expected


def test_a_lone_vault_is_rehearsed_as_production_sends_it_to_the_vault_itself(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = parent
    vault = p.vaults[0]
    rehearsal_account = account(ANVIL_KEYS[9]).address
    args = ["rehearse", "--fork-url", p.node.url, *_lone(p, tmp_path, vault), "--policy", POLICY]

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["planned"] == [vault.address]
    assert report["vault_roles"] == [
        {"vault": vault.address, "held": True, "admin": p.stack.admin, "note": None}
    ]
    # the transaction went to the vault (receipt ``to``), not to the batcher
    assert report["tx_status"] == "mined"
    assert report["tx_to"] == vault.address
    # no batcher event: the outcome is the vault's own Rebalanced event
    assert len(report["outcomes"]) == 1
    outcome = report["outcomes"][0]
    assert outcome["vault"] == vault.address
    assert outcome["ok"] is True
    assert outcome["event"] == "Rebalanced"
    assert outcome["delta_before"] != outcome["delta_after"]
    assert report["rebalanced"] == [vault.address]
    # the parent is untouched: the role was granted on the fork only
    assert not vault.functions.hasRole(_keeper_role(vault), rehearsal_account).call()
    assert vault.address in p.out_of_band()

    assert main(args) == 0
    table = capsys.readouterr().out
    assert f"vault {vault.address}: keeper role granted by impersonating {p.stack.admin}" in table
    assert "on the fork: 1 of them rebalanced in tx 0x" in table
    assert f"sent by {rehearsal_account} to vault {vault.address} (direct)" in table


def test_a_keeper_already_registered_is_reported_as_such_not_as_impersonated(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = parent
    vault = p.vaults[0]
    # account 3 is the devnet's keeper: registered on the batcher and holding every vault's role
    args = ["rehearse", "--fork-url", p.node.url, *_lone(p, tmp_path, vault), "--policy", POLICY]
    args += ["--keeper-index", "3"]

    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["keeper"] == p.stack.keeper
    assert report["keeper_granted"] is False
    assert report["vault_roles"] == [
        {"vault": vault.address, "held": True, "admin": None, "note": None}
    ]

    assert main(args) == 0
    table = capsys.readouterr().out
    assert f"keeper {p.stack.keeper} (anvil account) already registered on batcher" in table
    assert "by impersonating" not in table

    # the usual account is registered by the rehearsal, and the report says by whom
    assert main([*args[:-2], "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["keeper_granted"] is True
    assert report["admin"] == p.stack.admin


def test_a_vault_without_a_findable_admin_is_rehearsed_through_the_batcher(
    parent: Parent,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = parent
    vault = p.vaults[0]
    # nobody holds the vault's admin role any more: the rehearsal cannot grant its keeper role
    transact(p.w3, account(ANVIL_KEYS[0]), vault.functions.renounceRole(bytes(32), p.stack.admin))
    args = ["rehearse", "--fork-url", p.node.url, *_lone(p, tmp_path, vault), "--policy", POLICY]

    assert main([*args, "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)

    [role] = report["vault_roles"]
    assert role["vault"] == vault.address
    assert role["held"] is False
    assert role["admin"] is None
    assert "batcher path" in role["note"]
    # a warning (stderr, JSON lines), not an error
    warnings = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(
        w["level"] == "warning" and vault.address in w["msg"] and "batcher path" in w["msg"]
        for w in warnings
    )
    # still rehearsed, through the batcher; the vault's own event gives the outcome
    assert report["tx_status"] == "mined"
    assert report["tx_to"] == p.stack.batcher
    assert [(o["vault"], o["ok"], o["event"]) for o in report["outcomes"]] == [
        (vault.address, True, "Rebalanced")
    ]

    assert main(args) == 0
    table = capsys.readouterr().out
    assert f"vault {vault.address}: keeper role NOT held" in table
    assert f"to batcher {p.stack.batcher}" in table


def test_vault_admin_flag_names_the_admin_to_impersonate(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = parent
    vault = p.vaults[0]
    admin = account(ANVIL_KEYS[0])
    first, second = account(ANVIL_KEYS[6]).address, account(ANVIL_KEYS[7]).address
    # the vault's admin role moves to two other accounts; the batcher's admin gives it up
    transact(p.w3, admin, vault.functions.grantRole(bytes(32), first))
    transact(p.w3, admin, vault.functions.grantRole(bytes(32), second))
    transact(p.w3, admin, vault.functions.renounceRole(bytes(32), p.stack.admin))
    args = ["rehearse", "--fork-url", p.node.url, *_lone(p, tmp_path, vault), "--policy", POLICY]

    # without the flag, the vault's logs give the first current holder
    assert main([*args, "--json"]) == 0
    [role] = json.loads(capsys.readouterr().out)["vault_roles"]
    assert (role["held"], role["admin"]) == (True, first)

    # with it, that account is impersonated (no log query needed), and the lone vault is direct
    assert main([*args, "--vault-admin", second.lower(), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vault_roles"] == [
        {"vault": vault.address, "held": True, "admin": second, "note": None}
    ]
    assert report["tx_to"] == vault.address

    # an account that does not hold the vault's admin role falls back to the logs
    outsider = account(ANVIL_KEYS[8]).address
    assert main([*args, "--vault-admin", outsider, "--json"]) == 0
    [role] = json.loads(capsys.readouterr().out)["vault_roles"]
    assert (role["held"], role["admin"]) == (True, first)


def test_malformed_vault_admin_is_one_line(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rehearse", "--fork-url", parent.node.url, *_common(parent, tmp_path)]
    with pytest.raises(SystemExit) as refused:  # what was typed: a usage error
        main([*args, "--vault-admin", "0x1234"])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0] == (
        "keeper: error: --vault-admin: '0x1234' is not a 20-byte hex address "
        "(see 'keeper rehearse --help')"
    )


def test_rehearsal_at_an_earlier_block_sees_that_state(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = parent
    block = str(p.block_before_options)
    args = ["rehearse", "--fork-url", p.node.url, "--block", block, *_common(p, tmp_path)]
    assert main([*args, "--policy", POLICY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fork_block"] == p.block_before_options
    assert report["planned"] == []  # no options written yet: nothing to hedge
    assert report["tx_hash"] is None
    assert report["gas_used"] == 0


def test_rehearsal_at_a_block_before_the_deployment_names_the_block(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batcher has no code there: the block is wrong, not the batcher's address."""
    p = parent
    args = ["rehearse", "--fork-url", p.node.url, "--block", "1", *_common(p, tmp_path)]
    assert main(args) == 1
    [err] = capsys.readouterr().err.strip().splitlines()
    assert f"batcher {p.stack.batcher} has no contract code on the fork at block 1" in err
    assert "KEEPER_BATCHER" not in err  # not blamed on the setting
    assert err.endswith("is --block before its deployment?")


def test_unreachable_fork_url_is_one_line(
    parent: Parent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["rehearse", "--fork-url", dead, *_common(parent, tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"keeper: error: the fork URL {dead} is unreachable")
    assert "anvil" not in err[0]
