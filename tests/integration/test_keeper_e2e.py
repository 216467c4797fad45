"""The keeper end to end on anvil, against the real OptionVault, VaultLens and RebalanceBatcher.

The stack is the devnet's (:func:`keeper.devnet.stack.deploy_stack`): USDC/WETH
(MintableERC20), Chainlink's ``MockV3Aggregator`` as price and sequencer feeds, the real
Uniswap V3 from its npm artifacts behind ``UniswapV3Venue``, the vault and claims
implementations behind the ``VaultFactory``, the ``RebalanceBatcher`` (holding each vault's keeper
role) and the ``VaultLens``; the devnet ``OpL1FeeOracle`` sits at the OP predeploy, so the L1 fee
is priced too. A price move updates the feed and arbitrages the pool to the same price.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from keeper.app import act as act_module
from keeper.app.collaborators import Keeper
from keeper.app.cycle import run_cycle
from keeper.app.loop import Runner
from keeper.app.wiring import build_keeper
from keeper.chain.anvil import ANVIL_KEYS, Anvil, free_port
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect, rpc_counter
from keeper.chain.l1fee import OpL1Fee
from keeper.cli import main
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.stack import (
    DevnetStack,
    StackConfig,
    ThresholdParams,
    deploy_stack,
    push_price,
    write_addresses,
)
from keeper.devnet.tx import account, deploy, transact
from keeper.errors import ChainError, ConfigError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.simulate import (
    REBALANCE_SELECTOR,
    REBALANCE_TO_SELECTOR,
    BatchCodec,
    call_still_succeeds,
    simulate_batch,
)
from keeper.execution.transactions import pending_nonce_and_base_fee
from keeper.ops.alerts import Alerter
from keeper.settings import load_settings
from tests.conftest import rolled_back

pytestmark = pytest.mark.integration

WAD = 10**18
PRICE = 3000 * 10**8
#: Contracts written per vault: large books move out of the 0.5 band on a 10% move, 1 does not.
SIZES = (20, 1, 20)


@dataclass
class Stack:
    node: Anvil
    w3: Web3
    admin: LocalAccount
    keeper: LocalAccount
    devnet: DevnetStack
    usdc: Contract
    feed: Contract
    seq: Contract
    lens: Contract
    batcher: Contract
    factory: Contract
    vaults: list[Contract] = field(default_factory=list)

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in resp, resp
        return resp["result"]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_price(self, price8: int) -> None:
        """Move the oracle, then arbitrage the real Uniswap pool to the same price."""
        transact(self.w3, self.admin, self.feed.functions.updateAnswer(price8))
        push_price(self.w3, self.admin, self.devnet, price8)

    def advance(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def addresses(self) -> list[str]:
        return [v.address for v in self.vaults]

    def out_of_band(self) -> set[str]:
        out = set()
        for v in self.vaults:
            t = v.functions.thresholds().call()
            if abs(v.functions.netDelta().call() - t[0]) > t[1]:
                out.add(v.address)
        return out

    def settings(self, tmp: Path, **kw: Any) -> Any:
        base: dict[str, Any] = {
            "rpc_url": self.node.url,
            "chain_id": 31337,
            "lens": self.lens.address,
            "batcher": self.batcher.address,
            "vaults": ",".join(self.addresses()),
            "private_key": ANVIL_KEYS[3],
            "journal_path": tmp / "journal.sqlite",
            "policy": "band:width=0.0001",
            "poll_interval_s": 0.05,
            "receipt_timeout_s": 20,
        }
        base.update(kw)
        return load_settings(env_file=None, **base)


def _build(node: Anvil, **config_kw: Any) -> Stack:
    """The stack of three vaults, each with one written series; ``config_kw`` adds to its
    :class:`StackConfig`."""
    w3 = connect(node.url)
    admin, desk, keeper = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2]), account(ANVIL_KEYS[3])
    buyer = account(ANVIL_KEYS[5])
    config = StackConfig(
        n_vaults=len(SIZES),
        price8=PRICE,
        thresholds=ThresholdParams(band=WAD // 2, max_trade=100 * WAD),
        **config_kw,
    )
    devnet = deploy_stack(w3, admin=admin, desk=desk.address, keeper=keeper.address, config=config)

    def bind(name: str, address: str) -> Contract:
        return w3.eth.contract(address=address, abi=load_artifact(name).abi)

    stack = Stack(
        node,
        w3,
        admin,
        keeper,
        devnet,
        usdc=bind("MintableERC20", devnet.usdc),
        feed=bind("MockV3Aggregator", devnet.price_feed),
        seq=bind("MockV3Aggregator", devnet.sequencer_feed),
        lens=bind("VaultLens", devnet.lens),
        batcher=bind("RebalanceBatcher", devnet.batcher),
        factory=bind("VaultFactory", devnet.vault_factory),
        vaults=[bind("OptionVault", v) for v in devnet.vaults],
    )
    expiry = stack.now() + 30 * 86_400
    for vault, size in zip(stack.vaults, SIZES, strict=True):
        premium, _ = premium_bounds(w3, vault, 0, PRICE, 1_000 * 10**8, expiry, size * WAD)
        transact(w3, admin, stack.usdc.functions.mint(buyer.address, premium))
        transact(w3, buyer, stack.usdc.functions.approve(vault.address, premium))
        transact(
            w3,
            desk,
            signed_write(w3, vault, buyer, 0, PRICE, 1_000 * 10**8, expiry, size * WAD, premium),
        )
    return stack


@pytest.fixture(scope="module")
def built() -> Iterator[Stack]:
    with Anvil() as node:
        yield _build(node)


@pytest.fixture
def stack(built: Stack) -> Iterator[Stack]:
    """The module's stack, as built: each test's changes are rolled back after it."""
    with rolled_back(built.w3):
        yield built


def _keeper(stack: Stack, tmp_path: Path, **kw: Any) -> Keeper:
    return build_keeper(stack.w3, stack.settings(tmp_path, **kw))


def _batch_vaults(stack: Stack, tx_hash: str) -> list[str]:
    """The vaults a keeper transaction rebalances: a lone vault's own call, or the batch's."""
    tx = stack.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    data = bytes(tx["input"])
    if data[:4] in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR):
        assert tx["to"] in stack.addresses()
        return [str(tx["to"])]
    assert tx["to"] == stack.batcher.address
    (vaults,) = decode(["address[]"], data[4:])
    return [Web3.to_checksum_address(v) for v in vaults]


def test_a_lone_vault_is_rebalanced_by_a_transaction_to_the_vault_itself(
    stack: Stack, tmp_path: Path
) -> None:
    """One vault to hedge: the keeper (holding its keeper role) skips the batcher."""
    vault = stack.vaults[0]
    k = _keeper(stack, tmp_path, vaults=vault.address)
    assert vault.address in stack.out_of_band()
    codec, decoder = BatchCodec(), ErrorDecoder.from_artifacts()
    # A pending rebalance() of this vault would still be worth mining: it still simulates.
    keeper_address = stack.keeper.address
    assert call_still_succeeds(
        stack.w3, vault.address, REBALANCE_SELECTOR, keeper_address, codec, decoder
    )
    result = run_cycle(k)
    assert result.tx_status == "mined"
    assert result.planned == (vault.address,)
    tx = stack.w3.eth.get_transaction(result.tx_hash or "")  # type: ignore[arg-type]
    assert tx["to"] == vault.address
    assert bytes(tx["input"])[:4] in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR)
    assert vault.address not in stack.out_of_band()
    assert k.no_direct == set()
    # The journal holds it like any batch: one intent, mined, for this vault.
    assert k.sender is not None
    assert k.sender.journal.intent(1).status == "mined"
    # The same call again would revert (the vault's min interval): a pending copy of it would be
    # judged stale and cancelled, not rebroadcast.
    assert not call_still_succeeds(
        stack.w3, vault.address, bytes(tx["input"]), keeper_address, codec, decoder
    )


def test_a_lone_vault_whose_role_the_keeper_lacks_goes_through_the_batcher(
    stack: Stack, tmp_path: Path
) -> None:
    vault = stack.vaults[2]
    role = vault.functions.KEEPER_ROLE().call()
    transact(stack.w3, stack.admin, vault.functions.revokeRole(role, stack.keeper.address))
    k = _keeper(stack, tmp_path, vaults=vault.address)
    result = run_cycle(k)
    assert result.tx_status == "mined"
    assert result.dropped == {}
    tx = stack.w3.eth.get_transaction(result.tx_hash or "")  # type: ignore[arg-type]
    assert tx["to"] == stack.batcher.address
    assert _batch_vaults(stack, result.tx_hash or "") == [vault.address]
    assert k.no_direct == {vault.address}  # remembered: no second try at the vault
    assert vault.address not in stack.out_of_band()


def test_a_vault_that_has_not_granted_the_batcher_its_role_is_alerted_at_start_up(
    stack: Stack, tmp_path: Path
) -> None:
    """Before, a vault whose grant was forgotten was alerted only once it needed a hedge: hours
    after a deployment, maybe. The start-up reads each vault's BATCHER_ROLE grant to the batcher
    and alerts the vaults missing it; the cycle's own refusal alert is the same key. A vault
    missing only the batcher's KEEPER_ROLE is not alerted (helper-109): batches do not need it,
    and a lone vault goes to the vault from the signer, so the cycle serves it."""
    granted = _started(stack, tmp_path / "granted")
    assert not [a for a in granted.alerter.sent if a["kind"] == "blocked"]
    batcher = stack.batcher.address
    refusing, served = stack.vaults[1], stack.vaults[2]
    for vault, role in ((refusing, "BATCHER_ROLE"), (served, "KEEPER_ROLE")):
        role_id = getattr(vault.functions, role)().call()
        transact(stack.w3, stack.admin, vault.functions.revokeRole(role_id, batcher))
    k = _started(stack, tmp_path / "revoked")
    [alert] = [a for a in k.alerter.sent if a["kind"] == "blocked"]
    assert alert["message"] == (
        f"vault {refusing.address} refuses the batcher: it has not granted BATCHER_ROLE (read at "
        f"start-up); its admin must grant batcher {batcher} the vault's BATCHER_ROLE (grantRole)"
    )
    # The cycle meets the refusal in its simulation: within the throttle, no second alert; the
    # vault without the batcher's KEEPER_ROLE is hedged in the batch.
    result = run_cycle(k)
    assert len([a for a in k.alerter.sent if a["kind"] == "blocked"]) == 1
    assert result.tx_status == "mined"
    assert served.address in _batch_vaults(stack, result.tx_hash or "")
    assert refusing.address in result.dropped


def _started(stack: Stack, where: Path) -> Keeper:
    where.mkdir()
    return build_keeper(stack.w3, stack.settings(where), alerter=Alerter(None))


def test_direct_single_off_sends_a_lone_vault_through_the_batcher(
    stack: Stack, tmp_path: Path
) -> None:
    vault = stack.vaults[0]
    k = _keeper(stack, tmp_path, vaults=vault.address, direct_single=False)
    result = run_cycle(k)
    assert result.tx_status == "mined"
    tx = stack.w3.eth.get_transaction(result.tx_hash or "")  # type: ignore[arg-type]
    assert tx["to"] == stack.batcher.address
    assert vault.address not in stack.out_of_band()


def test_price_move_sends_one_batch_of_exactly_the_out_of_band_vaults(
    stack: Stack, tmp_path: Path
) -> None:
    k = _keeper(stack, tmp_path)
    assert isinstance(k.l1fee, OpL1Fee)
    # Freshly written books are all short delta: every vault is out of band, one batch hedges all.
    first = run_cycle(k)
    assert first.tx_status == "mined"
    assert sorted(_batch_vaults(stack, first.tx_hash or "")) == sorted(stack.addresses())
    assert first.l1_fee_wei is not None
    assert first.l1_fee_wei > 0
    assert stack.out_of_band() == set()

    stack.advance(120)  # past minInterval
    stack.set_price(PRICE * 110 // 100)
    expected = stack.out_of_band()
    assert expected == {stack.vaults[0].address, stack.vaults[2].address}
    nonce = stack.w3.eth.get_transaction_count(stack.keeper.address)
    result = run_cycle(k)
    assert result.tx_status == "mined"
    assert set(result.planned) == expected
    assert set(_batch_vaults(stack, result.tx_hash or "")) == expected
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce + 1  # one tx
    skipped = next(d for d in result.decisions if d.vault == stack.vaults[1].address)
    assert not skipped.act  # the vault inside its band is skipped
    assert stack.out_of_band() == set()
    assert result.rpc_requests > 0
    # Nothing left to do: the next cycle sends nothing.
    stack.advance(120)
    stack.set_price(PRICE * 110 // 100)
    idle = run_cycle(k)
    assert idle.planned == ()
    assert idle.tx_hash is None
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce + 1


def test_a_costaware_buy_to_the_band_edge_ends_inside_the_band(
    stack: Stack, tmp_path: Path
) -> None:
    """A buy books what arrived, short of the planned trade by the pool's fee and impact.

    The keeper asked for the band edge and the vault ended just outside it (by fee x trade),
    so its own trigger stayed armed: a keeper network driving performUpkeep would trade again at
    full fixed cost. The keeper now asks for a point that far inside.
    """
    k = _keeper(stack, tmp_path, policy="costaware:risk_aversion=0.0001")
    before = stack.out_of_band()  # the two large books (size 20) are short, past the band
    assert before == {stack.vaults[0].address, stack.vaults[2].address}
    result = run_cycle(k)
    assert result.tx_status == "mined"
    # the two out of band; the small book may join on its time trigger (never rebalanced)
    acted = [d for d in result.decisions if d.act and d.vault in before]
    assert {d.vault for d in acted} == before
    for d in acted:
        assert d.deviation < 0  # a buy
        # The cost-optimal point is the band edge here (not the target). The request is
        # pulled in by at most the vault's 1% slippage bound on the trade (what a buy books at
        # the least), so the planned trade ends just inside the edge ...
        planned_end = abs(d.deviation + d.trade)
        assert d.band - abs(d.deviation) // 50 < planned_end < d.band
        # ... and what the buy booked (less than planned: the fee and impact) ends between the
        # planned end and the edge: the vault's own trigger is not armed
        v = next(c for c in stack.vaults if c.address == d.vault)
        booked_end = abs(v.functions.netDelta().call() - v.functions.thresholds().call()[0])
        assert planned_end < booked_end <= d.band
    assert stack.out_of_band() == set()
    stack.advance(120)  # past minInterval: only the band could arm the trigger now
    for v in stack.vaults:
        if v.address in {d.vault for d in acted}:
            assert v.functions.rebalanceTrigger().call()[0] is False


def test_stale_oracle_or_sequencer_down_means_no_tx_and_an_alert(
    stack: Stack, tmp_path: Path
) -> None:
    k = _keeper(stack, tmp_path)
    k.alerter = Alerter(None)
    stack.advance(2 * 3_600)  # older than the 1 h heartbeat
    nonce = stack.w3.eth.get_transaction_count(stack.keeper.address)
    stale = run_cycle(k)
    assert stale.tx_hash is None
    assert set(stale.skipped) == set(stack.addresses())
    assert {a["kind"] for a in k.alerter.sent} == {"stale_oracle"}

    stack.set_price(PRICE)  # fresh again ...
    now = stack.now()
    transact(stack.w3, stack.admin, stack.seq.functions.updateRoundData(2, 1, now, now))  # ... down
    down = run_cycle(k)
    assert down.tx_hash is None
    assert all("sequencer" in r for r in down.skipped.values())
    assert "oracle" in {a["kind"] for a in k.alerter.sent}
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce


def test_simulation_drops_a_vault_that_would_revert(stack: Stack, tmp_path: Path) -> None:
    k = _keeper(stack, tmp_path)
    # Pause vault 2 behind the keeper's back *after* observing: the plan includes it, the
    # simulation must drop it with the decoded reason and send the rest.
    v2 = stack.vaults[2]
    transact(
        stack.w3,
        stack.admin,
        v2.functions.grantRole(v2.functions.PAUSER_ROLE().call(), stack.admin.address),
    )
    real_read = k.lens.read_lean

    def read_then_pause(vaults: Any, block: Any = "latest") -> Any:
        result = real_read(vaults, block)
        transact(stack.w3, stack.admin, v2.functions.pause())
        return result

    k.lens.read_lean = read_then_pause  # type: ignore[method-assign]
    result = run_cycle(k)
    assert v2.address in result.planned
    assert v2.address in result.dropped
    # The off-chain trigger said ready; the simulation disagreed: counted.
    assert k.metrics.value("keeper_trigger_disagreements_total") == 1
    assert result.dropped[v2.address] == "EnforcedPause()"
    assert set(_batch_vaults(stack, result.tx_hash or "")) == set(result.planned) - {v2.address}


def test_a_vault_paused_between_simulation_and_mining_fails_inside_the_mined_batch(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The batcher drops a vault whose checks fail at mining; the keeper books what it did.

    The receipt's ``VaultRebalanceFailed`` is read: the vault is not counted as rebalanced, its
    decision line says why, and it counts as a trigger disagreement (as a lone vault's reverted
    transaction does).
    """
    k = _keeper(stack, tmp_path)
    v2 = stack.vaults[2]
    pauser = v2.functions.PAUSER_ROLE().call()
    transact(stack.w3, stack.admin, v2.functions.grantRole(pauser, stack.admin.address))
    real = act_module.simulate_batch

    def simulate_then_pause(*a: Any, **kw: Any) -> Any:
        sim = real(*a, **kw)
        transact(stack.w3, stack.admin, v2.functions.pause())
        return sim

    monkeypatch.setattr(act_module, "simulate_batch", simulate_then_pause)
    with caplog.at_level("INFO", logger="keeper.decisions"):
        result = run_cycle(k)
    assert result.tx_status == "mined"
    assert set(_batch_vaults(stack, result.tx_hash or "")) == set(stack.addresses())
    assert set(result.failed) == {v2.address}
    assert "EnforcedPause" in result.failed[v2.address]
    assert k.metrics.value("keeper_vaults_rebalanced_total") == 2
    assert k.metrics.value("keeper_trigger_disagreements_total") == 1
    assert stack.out_of_band() == {v2.address}
    lines = [
        r.fields for r in caplog.records if getattr(r, "fields", {}).get("vault") == v2.address
    ]
    assert any(f["outcome"] == "failed" and "EnforcedPause" in f["reason"] for f in lines), lines


def test_not_a_vault_and_wrong_chain_are_config_errors(stack: Stack, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=f"{stack.usdc.address} is not a vault \\(asset\\(\\) reverted\\)"
    ):
        _keeper(stack, tmp_path, vaults=f"{stack.vaults[0].address},{stack.usdc.address}")
    eoa = stack.keeper.address
    with pytest.raises(ConfigError, match=f"{eoa} is not a vault \\(no contract code"):
        _keeper(stack, tmp_path, vaults=eoa)
    with pytest.raises(ChainError, match="expected chain 1"):
        connect(stack.node.url, expected_chain_id=1)
    # With no vault list, the factory's registry is the list.
    from_factory = _keeper(stack, tmp_path, vaults="", factory=stack.factory.address)
    assert from_factory.vaults == stack.addresses()
    with pytest.raises(ConfigError, match="is not a vault factory"):
        _keeper(stack, tmp_path, vaults="", factory=stack.usdc.address)
    # Comma-separated RPC URLs are fallbacks: a dead first URL is skipped.
    dead = f"http://127.0.0.1:{free_port()}"
    assert connect([dead, stack.node.url], expected_chain_id=31337).eth.block_number > 0
    with pytest.raises(ChainError, match="cannot reach RPC"):
        connect([dead], timeout_s=1)


def test_cli_check_and_run_and_status(
    stack: Stack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_VAULTS", "KEEPER_LENS", "KEEPER_BATCHER"):
        monkeypatch.delenv(name, raising=False)
    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    journal = tmp_path / "j.sqlite"
    common = ["--env-file", os.devnull, "--addresses", str(addresses)]
    common += ["--policy", "band:width=0.0001", "--journal", str(journal)]

    assert main(["check", *common, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] is True
    assert sorted(out["planned"]) == sorted(stack.addresses())
    assert out["tx_hash"] is None
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 0

    assert main(["check", *common]) == 0
    table = capsys.readouterr().out
    assert "ACT" in table
    assert "dry run: nothing was signed or sent" in table

    monkeypatch.setenv("KEEPER_PRIVATE_KEY", ANVIL_KEYS[3])
    assert main(["run", *common, "--max-cycles", "1"]) == 0
    captured = capsys.readouterr()
    assert ANVIL_KEYS[3][2:] not in captured.err + captured.out
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 1
    assert stack.out_of_band() == set()

    # status reads only the journal: it takes no --addresses or --policy.
    assert main(["status", "--env-file", os.devnull, "--journal", str(journal)]) == 0
    status = capsys.readouterr().out
    assert "mined 1" in status
    assert "pending: 0" in status


def test_reorg_of_a_mined_batch_sends_it_again_at_its_nonce(stack: Stack, tmp_path: Path) -> None:
    k = _keeper(stack, tmp_path)
    first = run_cycle(k)
    assert first.tx_status == "mined"
    assert stack.out_of_band() == set()
    nonce = stack.w3.eth.get_transaction_count(stack.keeper.address)
    stack.rpc("anvil_rollback", 1)  # the batch's block is gone: the vaults are unhedged again
    assert stack.out_of_band() == {stack.vaults[0].address, stack.vaults[2].address}
    again = run_cycle(k)
    assert again.reorged_intents == (1,)
    # The batch still simulates: its identical bytes go out again at the nonce the reorg freed
    # (a node may hold it again: any other nonce could mine it twice); no new batch meanwhile.
    assert again.tx_hash is None
    assert k.sender is not None
    journal = k.sender.journal
    assert journal.tx(first.tx_hash or "").status == "sent"
    booked = run_cycle(k)  # books it mined
    assert journal.intent(1).status == "mined"
    assert [i.id for i in journal.intents()] == [1]
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce
    assert set(_batch_vaults(stack, first.tx_hash or "")) == set(first.planned)
    assert stack.out_of_band() == set()
    assert booked.tx_hash is None
    assert k.metrics.value("keeper_rebalances_total", {"state": "reorged"}) == 1


def test_websocket_factory_and_chunked_lens(stack: Stack, tmp_path: Path) -> None:
    ws = stack.node.url.replace("http://", "ws://")
    w3 = connect(ws, expected_chain_id=31337)
    settings = stack.settings(tmp_path, rpc_url=ws, private_key=None)
    k = build_keeper(w3, settings)
    assert k.dry_run
    result = run_cycle(k)
    assert sorted(result.planned) == sorted(stack.addresses())
    assert result.tx_hash is None
    # 300 entries (the three vaults repeated, ~180k gas each) are two lens calls in one
    # JSON-RPC batch; each offers more gas than the 30M block (see DEFAULT_CALL_GAS).
    k.vaults = stack.addresses() * 100
    counter = k.counter
    assert counter is not None
    before = counter.snapshot()
    obs = k.lens.read(k.vaults)
    after = counter.snapshot()
    assert obs.calls == 2
    assert len(obs.snapshots) == 300
    assert after[0] - before[0] == 1  # one round trip
    assert after[1] - before[1] == 2  # carrying two eth_calls
    # The lean lens: 300 entries in chunks of 100 are three calls in one round trip.
    k.lens.lean_chunk = 100
    before = counter.snapshot()
    lean = k.lens.read_lean(k.vaults)
    after = counter.snapshot()
    assert lean.calls == 3
    assert len(lean) == 300
    assert after[0] - before[0] == 1
    assert after[1] - before[1] == 3
    assert len(lean.oracles) == 3  # one feed for every vault: one entry per call


def test_keeper_process_hedges_then_stops_cleanly_on_sigterm(stack: Stack, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env["KEEPER_ARTIFACTS_DIR"] = os.environ.get("KEEPER_ARTIFACTS_DIR", "")
    if not env["KEEPER_ARTIFACTS_DIR"]:
        del env["KEEPER_ARTIFACTS_DIR"]
    env.update(
        KEEPER_PRIVATE_KEY=ANVIL_KEYS[3],
        KEEPER_POLICY="band:width=0.0001",
        KEEPER_JOURNAL_PATH=str(tmp_path / "journal.sqlite"),
        KEEPER_POLL_INTERVAL_S="0.1",
    )
    cmd = [sys.executable, "-m", "keeper.cli", "run", "--addresses", str(addresses)]
    cmd += ["--env-file", os.devnull]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack.out_of_band():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        assert stack.out_of_band() == set()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line["msg"].startswith("keeper stopped after") for line in lines)
    decisions = [line for line in lines if line["msg"] == "decision"]
    assert {d["vault"] for d in decisions} == set(stack.addresses())
    assert {"vault", "delta", "band", "cost_usd", "benefit_usd", "outcome"} <= set(decisions[0])
    assert ANVIL_KEYS[3][2:] not in out + err
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 1


def _keeper_cli(
    tmp_path: Path, *args: str, key: str | None = None, **env_vars: str
) -> tuple[int, str, float]:
    """Run the real ``keeper`` command in a subprocess; return (exit code, stderr, seconds)."""
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if key is not None:
        env["KEEPER_PRIVATE_KEY"] = key
    env.update(env_vars)
    script = Path(sys.executable).with_name("keeper")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "keeper.cli"]
    (tmp_path / "none.env").write_text("")  # --env-file must exist; this one sets nothing
    started = time.monotonic()
    done = subprocess.run(
        [*cmd, *args, "--env-file", str(tmp_path / "none.env")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("keeper: error:")]


def test_run_refuses_a_wrong_batcher_or_a_signer_without_the_keeper_role(
    stack: Stack, tmp_path: Path
) -> None:
    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    data = json.loads(addresses.read_text())
    data["batcher"] = stack.usdc.address  # a token, not a RebalanceBatcher
    wrong = tmp_path / "wrong-batcher.json"
    wrong.write_text(json.dumps(data))
    journal = ["--journal", str(tmp_path / "j.sqlite")]

    code, err, seconds = _keeper_cli(
        tmp_path, "run", "--addresses", str(wrong), "--max-cycles", "1", *journal,
        key=ANVIL_KEYS[3],
    )  # fmt: skip
    assert code == 1
    assert seconds < 60
    (line,) = _error_lines(err)
    assert f"{stack.usdc.address} is not a RebalanceBatcher" in line
    assert "the addresses file's batcher" in line  # it came from there, not KEEPER_BATCHER

    code, err, _ = _keeper_cli(
        tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1", *journal,
        key=ANVIL_KEYS[0],
    )  # fmt: skip
    assert code == 1
    (line,) = _error_lines(err)
    assert f"signer {account(ANVIL_KEYS[0]).address} is not a registered keeper" in line

    for bad in ("0", "-3"):
        code, err, _ = _keeper_cli(
            tmp_path, "run", "--addresses", str(addresses), "--max-cycles", bad, *journal,
            key=ANVIL_KEYS[3],
        )  # fmt: skip
        assert code == 2  # a usage error, before anything is read or signed
        (line,) = _error_lines(err)
        assert "argument --max-cycles: must be a whole number >= 1" in line
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 0


def test_a_second_keeper_on_the_same_journal_stops_in_one_line(
    stack: Stack, tmp_path: Path
) -> None:
    """Another process (this test's) holds the journal: ``keeper run`` stops before any send.

    Two keepers signing from one journal could each sign the next nonce for its own batch.
    """
    import os

    assert stack.out_of_band()  # a keeper that ran would send a batch
    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    path = tmp_path / "j.sqlite"
    held = Journal(path)
    held.claim()
    try:
        code, err, _ = _keeper_cli(
            tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1",
            "--journal", str(path), key=ANVIL_KEYS[3],
        )  # fmt: skip
    finally:
        held.close()
    assert code == 1
    (line,) = _error_lines(err)
    assert f"journal {path} is in use by another keeper (pid {os.getpid()})" in line
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 0
    code, err, _ = _keeper_cli(
        tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1",
        "--journal", str(path), key=ANVIL_KEYS[3],
    )  # fmt: skip
    assert code == 0, err  # released: it runs, and hedges
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 1


def test_a_node_down_at_start_up_gives_up_in_one_line(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, err, seconds = _keeper_cli(
        tmp_path, "run", "--rpc-url", dead, "--max-cycles", "1",
        "--journal", str(tmp_path / "j.sqlite"),
        KEEPER_STARTUP_TIMEOUT_S="3",
        KEEPER_LENS="0x" + "11" * 20,  # a missing lens is reported before any network
    )  # fmt: skip
    assert code == 1
    assert 3 <= seconds < 30  # retried for the start-up timeout, then gave up
    (line,) = _error_lines(err)
    assert "cannot reach RPC at http://127.0.0.1" in line
    assert "gave up after" in line


def test_simulating_and_sending_a_batch_take_three_round_trips(
    stack: Stack, tmp_path: Path
) -> None:
    # Between the decision and the broadcast a flaky RPC can fail every request, so the path is
    # kept short: the batch's simulation and its gas estimate share one JSON-RPC batch, the check
    # at the signed gas limit is one call, and the pending nonce and the base fee one more batch.
    k = _keeper(stack, tmp_path)
    assert run_cycle(k).tx_status == "mined"  # warms the codec's cached limits
    stack.advance(120)
    stack.set_price(PRICE * 110 // 100)
    counter = rpc_counter(stack.w3)
    requests0, calls0 = counter.snapshot()
    sim = simulate_batch(
        stack.w3,
        stack.batcher.address,
        stack.addresses(),
        stack.keeper.address,
        k.decoder,
        codec=k.codec,
    )
    assert set(sim.vaults) == {stack.vaults[0].address, stack.vaults[2].address}
    assert sim.dropped  # the vault inside its band was dropped, then the rest re-simulated
    requests1, calls1 = counter.snapshot()
    # Round 1: call + estimate (the in-band vault fails: dropped); round 2: call + estimate,
    # then the check at the signed gas.
    assert (requests1 - requests0, calls1 - calls0) == (3, 5)
    assert k.sender is not None
    nonce, base = pending_nonce_and_base_fee(stack.w3, k.sender.address)
    requests2, calls2 = counter.snapshot()
    assert (requests2 - requests1, calls2 - calls1) == (1, 2)
    assert nonce == stack.w3.eth.get_transaction_count(stack.keeper.address, "pending")
    assert base == stack.w3.eth.get_block("latest")["baseFeePerGas"]


def test_the_reorg_check_uses_the_header_the_head_poll_read(stack: Stack, tmp_path: Path) -> None:
    # The loop reads the newest block holding a mined tx of ours in the same JSON-RPC batch as
    # the head, and the reorg check judges by that header instead of reading it again.
    k = _keeper(stack, tmp_path)
    first = run_cycle(k)
    assert first.tx_status == "mined"
    assert k.sender is not None
    mined = k.sender.journal.with_status(TxStatus.MINED, k.sender.address)
    assert len(mined) == 1
    block = mined[0].mined_block
    assert k.sender.reorg_probe() == block
    # Handed that block's header, the check reads nothing; without it, it reads the header.
    head = stack.w3.eth.block_number
    header = stack.w3.eth.get_block(block)
    counter = rpc_counter(stack.w3)
    before = counter.snapshot()
    assert k.sender.check_reorgs(head, {block: header}) == []
    assert counter.snapshot() == before
    assert k.sender.check_reorgs(head) == []
    assert counter.snapshot()[0] == before[0] + 1

    # Through the loop: the batch's block is replaced by another at the same height; the poll
    # fetched that height's header with the head, and the cycle saw the reorg.
    stack.advance(120)  # past minInterval
    stack.set_price(PRICE * 110 // 100)
    k2 = _keeper(stack, tmp_path / "second")
    assert run_cycle(k2).tx_status == "mined"
    assert k2.sender is not None
    probe = k2.sender.reorg_probe()
    assert probe is not None
    stack.rpc("anvil_rollback", 1)
    stack.rpc("evm_mine")
    stack.rpc("evm_mine")
    results: list[Any] = []
    Runner(k2, max_cycles=1, poll_interval_s=0.01, on_result=results.append).run()
    assert k2.probe_headers is not None
    assert set(k2.probe_headers) == {probe}
    assert results[0].reorged_intents == (1,)


def test_a_journal_of_another_chain_is_refused_at_start_up(stack: Stack, tmp_path: Path) -> None:
    """A devnet restarted from genesis under an old journal: one line, before anything is sent.

    The old journal's mined blocks are above the new chain's head and its nonces above the
    account's: the keeper used to wait for a head past them, block after block.
    """
    k = _keeper(stack, tmp_path)  # binds the journal to this chain
    assert k.sender is not None
    k.sender.journal.close()
    _keeper(stack, tmp_path).sender.journal.close()  # type: ignore[union-attr]  # same chain: fine
    other = tmp_path / "other.sqlite"
    Journal(other).bind_chain(31337, "0x" + "00" * 32)  # an earlier devnet's genesis
    nonce = stack.w3.eth.get_transaction_count(stack.keeper.address)
    with pytest.raises(ConfigError, match=r"another chain.*fresh journal"):
        _keeper(stack, tmp_path, journal_path=other)
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce


def test_a_journal_whose_final_history_the_chain_lacks_is_refused_at_start_up(
    stack: Stack, tmp_path: Path
) -> None:
    """A fork restarted from the same block under an old journal: same chain id, same genesis.

    The genesis binding cannot see it. Once the new chain's head is more than the finality depth
    past the journal's mined blocks, the reorg check no longer looks at them, and the keeper
    said "the node is behind; nothing signed" every cycle, for good: its journal holds nonces
    the account never used on this chain.
    """
    snapshot = stack.rpc("evm_snapshot")
    k = _keeper(stack, tmp_path)
    assert run_cycle(k).tx_status == "mined"
    assert k.sender is not None
    mined = k.sender.journal.with_status(TxStatus.MINED, k.sender.address)[0]
    k.sender.journal.close()
    stack.rpc("evm_revert", snapshot)  # the fork restarted: our batch never happened here
    stack.rpc("anvil_mine", hex(200))  # and the new chain moved on, past the finality depth
    assert stack.w3.eth.get_block(mined.mined_block or 0)["hash"].hex() not in (
        mined.mined_block_hash or ""
    )
    nonce = stack.w3.eth.get_transaction_count(stack.keeper.address)
    with pytest.raises(ConfigError, match=r"not on this chain.*fresh journal") as info:
        _keeper(stack, tmp_path)
    assert f"block {mined.mined_block}" in str(info.value)
    assert "\n" not in str(info.value)
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == nonce


def test_a_journal_whose_final_history_the_chain_has_is_accepted(
    stack: Stack, tmp_path: Path
) -> None:
    # The same journal on the same chain, its batch now final: no refusal, and the next
    # cycle signs at the next nonce.
    k = _keeper(stack, tmp_path)
    assert run_cycle(k).tx_status == "mined"
    assert k.sender is not None
    k.sender.journal.close()
    stack.rpc("anvil_mine", hex(200))
    k2 = _keeper(stack, tmp_path)
    assert k2.sender is not None
    assert k2.sender.next_nonce() == 1


def _vault_on_another_underlying(stack: Stack) -> str:
    """A vault on an 18-decimal "WBTC" with its own feed at 60,000 (the factory, the devnet's
    sequencer feed and venue): its oracle price is not ETH's."""
    w3, admin = stack.w3, stack.admin
    wbtc = deploy(w3, admin, load_artifact("MintableERC20"), "Wrapped BTC (test)", "WBTC", 18)
    btc_usd = deploy(w3, admin, load_artifact("MockV3Aggregator"), 8, 60_000 * 10**8)
    params = (
        stack.usdc.address,
        wbtc.address,
        btc_usd.address,
        stack.seq.address,
        stack.devnet.venue,
        "0x" + "00" * 20,
        admin.address,
        "BTC vault",
        "ovUSDC-btc",
        StackConfig().volatility,
        ThresholdParams(band=WAD // 2, max_trade=100 * WAD).as_tuple(),
    )
    receipt = transact(w3, admin, stack.factory.functions.createVault(params))
    (created,) = stack.factory.events.VaultCreated().process_receipt(receipt, errors=DISCARD)
    return str(created["args"]["vault"])


def test_gas_is_priced_at_eth_when_the_first_vault_is_on_another_underlying(
    stack: Stack, tmp_path: Path
) -> None:
    """With KEEPER_ETH_USD unset, gas and the L1 fee were priced at the first vault's oracle
    price: a WBTC vault listed first priced them at 60,000 USD an ETH, 20 times too high."""
    btc = _vault_on_another_underlying(stack)
    k = _keeper(stack, tmp_path, vaults=",".join([btc, *stack.addresses()]))
    assert k.eth_vaults == {v.lower() for v in stack.addresses()}
    assert run_cycle(k).costs.eth_usd == PRICE / 1e8


def test_a_keeper_with_no_vault_on_eth_needs_keeper_eth_usd(stack: Stack, tmp_path: Path) -> None:
    btc = _vault_on_another_underlying(stack)
    with pytest.raises(ConfigError, match=r"no vault's underlying is ETH .* set KEEPER_ETH_USD"):
        _keeper(stack, tmp_path, vaults=btc)
    k = _keeper(stack, tmp_path, vaults=btc, eth_usd=3_100.0)
    assert k.eth_vaults is None
    assert run_cycle(k).costs.eth_usd == 3_100.0
