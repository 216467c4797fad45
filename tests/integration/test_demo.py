"""``keeper demo`` end to end on anvil: market, depositors, desk, and the real keeper loop.

One short demo (3 vaults, tens of steps) runs once for the module, against an anvil this module
started (``rpc_url``), so the chain can be inspected afterwards; then the bad-input paths of the
CLI: a taken port, anvil missing, an unreachable RPC, an unwritable output path.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from eth_abi.abi import decode
from web3 import Web3

from keeper.app.demo import DemoConfig, DemoResult, Progress, run_demo
from keeper.chain.anvil import Anvil, free_port
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.cli import main
from keeper.commands.demo import summary_table
from keeper.execution.simulate import FILL_BATCH_SELECTOR, REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR
from keeper.settings import load_settings

pytestmark = pytest.mark.integration

STEPS = 30
VAULTS = 3
#: The demo JSON's required keys.
KEYS = (
    "chain_id",
    "vaults",
    "steps",
    "rebalance_txs",
    "vault_rebalances",
    "failed_txs",
    "deposits",
    "withdrawals",
    "options_written",
    "gas_used_total",
    "l1_fee_total_wei",
    "max_abs_deviation_over_band_at_end",
    "duration_s",
)


@dataclass
class Run:
    node: Anvil
    w3: Web3
    cfg: DemoConfig
    result: DemoResult


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig(
        vaults=VAULTS,
        steps=STEPS,
        seed=7,
        json_path=out / "demo.json",
        plot_path=out / "demo.png",
        addresses_path=out / "devnet.json",
        journal_path=out / "journal.sqlite",
        queue_prob=0.3,  # a few queued exits in 30 steps
    )
    with Anvil() as node:
        cfg = replace(cfg, rpc_url=node.url)
        result = run_demo(cfg)
        yield Run(node, connect(node.url), cfg, result)


def _unreported(where: Path, **kw: Any) -> DemoConfig:
    """A demo that writes no report or chart, its addresses and journal under ``where``."""
    return DemoConfig(
        json_path=None,
        plot_path=None,
        addresses_path=where / "devnet.json",
        journal_path=where / "journal.sqlite",
        **kw,
    )


def _batch_vaults(w3: Web3, tx_hash: str) -> list[str]:
    """The vaults a keeper transaction rebalances: a lone vault's own call, or the batch's list."""
    tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    data = bytes(tx["input"])
    if data[:4] in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR):
        return [Web3.to_checksum_address(str(tx["to"]))]
    (vaults,) = decode(["address[]"], data[4:])
    return [Web3.to_checksum_address(v) for v in vaults]


def test_demo_sends_batched_rebalances_and_no_failed_tx(demo: Run) -> None:
    r = demo.result
    assert r.steps_done == STEPS
    assert r.rebalance_txs >= 1
    assert r.failed_txs == 0
    assert r.failed_cycles == 0
    batcher = load_settings(env_file=None, addresses=demo.cfg.addresses_path).batcher
    sizes = []
    for tx_hash in r.tx_hashes:
        receipt = demo.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        assert receipt["status"] == 1
        vaults = _batch_vaults(demo.w3, tx_hash)
        # A lone vault's rebalance goes to the vault itself (the devnet keeper holds its role).
        assert receipt["to"] == (vaults[0] if len(vaults) == 1 else batcher)
        sizes.append(len(vaults))
    # At least one batch rebalanced two or more vaults in one transaction.
    assert max(sizes) >= 2
    assert r.batches_2plus == sum(1 for n in sizes if n >= 2) >= 1
    assert r.vault_rebalances == sum(s.rebalances for s in r.vault_stats)
    assert r.vault_rebalances >= r.rebalance_txs
    assert all(s.rebalance_failures == 0 for s in r.vault_stats)


#: Uniswap V3's ``Swap`` event topic.
POOL_SWAP_TOPIC = Web3.keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)")


def test_pool_swaps_count_every_swap_the_pool_made(demo: Run) -> None:
    """The summary's pool swaps are the pool's own ``Swap`` logs in the keeper's transactions.

    A lone vault's transaction swaps too (the vault swaps itself, without the batcher's
    ``PoolSwapped`` event), so every one-vault transaction adds a pool swap.
    """
    r = demo.result
    pool = Web3.to_checksum_address(json.loads(demo.cfg.addresses_path.read_text())["pool"])
    swaps, lone = 0, 0
    for tx_hash in r.tx_hashes:
        receipt = demo.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        swaps += sum(
            1
            for log in receipt["logs"]
            if log["address"] == pool and bytes(log["topics"][0]) == bytes(POOL_SWAP_TOPIC)
        )
        lone += len(_batch_vaults(demo.w3, tx_hash)) == 1
    assert lone >= 1, "the run had no one-vault transaction to check"
    assert r.pool_swaps == swaps
    assert lone <= r.pool_swaps <= r.rebalance_txs


def test_every_vault_ends_inside_its_band_or_rebalancing(demo: Run) -> None:
    abi = load_artifact("OptionVault").abi
    for s in demo.result.vault_stats:
        vault = demo.w3.eth.contract(address=Web3.to_checksum_address(s.vault), abi=abi)
        delta = vault.functions.netDelta().call()
        thresholds = vault.functions.thresholds().call()
        target, band = thresholds[0], thresholds[1]
        assert delta == s.net_delta_end
        inside = abs(delta - target) <= band
        assert inside or s.rebalanced_last_cycle, (s.vault, delta, band)
    assert demo.result.max_abs_deviation_over_band_at_end <= 1.0 or any(
        s.rebalanced_last_cycle for s in demo.result.vault_stats
    )


def test_deposits_and_withdrawals_settled_to_the_previewed_shares(demo: Run) -> None:
    r = demo.result
    kinds = {f["kind"] for f in r.flows}
    assert kinds == {"deposit", "withdraw"}
    abi = load_artifact("OptionVault").abi
    for f in r.flows:
        # Minted or burned shares == preview == OZ ERC-4626 math (checked by the market too).
        assert f["shares"] == f["preview"] == f["expected"] > 0
        # And the chain's own event says the same, in the recorded block.
        vault = demo.w3.eth.contract(address=Web3.to_checksum_address(f["vault"]), abi=abi)
        event = vault.events.Deposit if f["kind"] == "deposit" else vault.events.Withdraw
        logs = event().get_logs(from_block=f["block"], to_block=f["block"])
        assert [(int(x["args"]["assets"]), int(x["args"]["shares"])) for x in logs] == [
            (f["assets"], f["shares"])
        ]
    assert r.deposits == sum(1 for f in r.flows if f["kind"] == "deposit")
    assert r.withdrawals == sum(1 for f in r.flows if f["kind"] == "withdraw")
    # The per-vault totals add up, and the depositors' share balances are what the flows say.
    assert sum(s.deposits for s in r.vault_stats) == r.deposits
    for s in r.vault_stats:
        vault = demo.w3.eth.contract(address=Web3.to_checksum_address(s.vault), abi=abi)
        holders = {f["depositor"] for f in r.flows if f["vault"] == s.vault}
        for h in holders:
            net = sum(
                f["shares"] if f["kind"] == "deposit" else -f["shares"]
                for f in r.flows
                if f["vault"] == s.vault and f["depositor"] == h
            )
            # Less what the holder queued for exit: those shares sit in the vault's queue.
            net -= sum(q["shares"] for q in r.queued if q["vault"] == s.vault and q["holder"] == h)
            assert vault.functions.balanceOf(h).call() == net


def test_fees_and_options_are_recorded(demo: Run) -> None:
    r = demo.result
    assert r.l1_fee_total_wei > 0
    assert r.gas_used_total > 0
    assert r.l2_fee_total_wei > 0
    assert sum(s.l1_fee_wei for s in r.vault_stats) == r.l1_fee_total_wei
    assert sum(s.gas_used for s in r.vault_stats) == r.gas_used_total
    # Gas agrees with the receipts of the keeper's transactions.
    gas = 0
    for h in r.tx_hashes:
        gas += int(demo.w3.eth.get_transaction_receipt(h)["gasUsed"])  # type: ignore[arg-type]
    assert gas == r.gas_used_total
    assert r.options_written >= VAULTS  # the opening book, one per vault, and the desk's
    for w in r.writes:
        assert w["premium"] > 0
        assert w["size"] > 0


def test_queued_exits_are_recorded_and_filled_from_free_quote(demo: Run) -> None:
    """Holders queue exits in the vaults' redemption queues (their balances, less the queued
    shares, are checked with the flows). No series expires in these 30 steps: the keeper's
    queue sweep fills them from the free quote, as far as it goes (``keeper/app/sweep.py``;
    before it, nothing was filled until a settlement). The fills are not rebalances: the
    transactions the demo counts are all rebalances (the test above decodes each)."""
    r = demo.result
    assert r.queued_exits == len(r.queued) > 0
    assert r.queued_shares == sum(q["shares"] for q in r.queued) > 0
    assert r.series_settled == 0
    assert 0 < r.queued_filled_shares <= r.queued_shares
    share = r.queued_filled_shares / r.queued_shares
    assert f"exits queued in the vaults' redemption queues: {share:.0%} of their shares" in (
        summary_table(r)
    )
    selectors = {bytes(demo.w3.eth.get_transaction(h)["input"])[:4] for h in r.tx_hashes}  # type: ignore[arg-type]
    assert FILL_BATCH_SELECTOR not in selectors


def test_json_and_png_are_written(demo: Run) -> None:
    assert demo.cfg.json_path is not None
    assert demo.cfg.plot_path is not None
    data = json.loads(demo.cfg.json_path.read_text())
    for key in KEYS:
        assert key in data, key
    assert data["chain_id"] == 31337
    assert data["vaults"] == VAULTS
    assert data["steps"] == STEPS
    assert data["failed_txs"] == 0
    assert data["rebalance_txs"] == demo.result.rebalance_txs >= 1
    assert data["vault_rebalances"] >= data["rebalance_txs"]
    assert data["l1_fee_total_wei"] > 0
    assert data["gas_used_total"] > 0
    assert data["max_abs_deviation_over_band_at_end"] >= 0
    assert 0 < data["duration_s"] < 600
    assert len(data["per_vault"]) == VAULTS
    png = demo.cfg.plot_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000
    # The addresses file is the one `keeper run --addresses` reads.
    s = load_settings(env_file=None, addresses=demo.cfg.addresses_path)
    assert s.chain_id == 31337
    assert len(s.vaults) == VAULTS
    assert s.rpc_url == demo.node.url
    assert demo.cfg.journal_path.exists()
    table = summary_table(demo.result)
    assert table.count("\n") >= VAULTS + 3
    assert f"{demo.result.rebalance_txs} rebalance txs" in table


# ----------------------------------------------------------------------------- bad input


def _anvils_on(port: int | str) -> list[int]:
    """PIDs of anvil processes with ``port`` as an argument (read from /proc, nothing is killed).

    A fork URL works too: the anvil forking it (``--fork-url URL``).
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"anvil") and str(port).encode() in args:
            pids.append(int(entry.name))
    return pids


def test_cli_demo_with_a_taken_port_exits_with_one_line_and_no_anvil(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "keeper.cli",
                "demo",
                "--port",
                str(port),
                "--steps",
                "2",
                "--json",
                str(tmp_path / "d.json"),
                "--plot",
                str(tmp_path / "d.png"),
                "--addresses",
                str(tmp_path / "devnet.json"),
                "--journal",
                str(tmp_path / "j.sqlite"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ},
        )
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert lines == [f"keeper: error: port {port} is already in use"]
        assert _anvils_on(port) == []
    assert not (tmp_path / "d.json").exists()


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "demo",
        "--steps",
        "2",
        "--json",
        str(tmp_path / "d.json"),
        "--plot",
        str(tmp_path / "d.png"),
        "--addresses",
        str(tmp_path / "devnet.json"),
        "--journal",
        str(tmp_path / "j.sqlite"),
        *extra,
    ]


def test_cli_demo_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(_cli(tmp_path, "--rpc-url", dead)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("keeper: error: cannot reach RPC")

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = _cli(tmp_path)
    args[args.index("--json") + 1] = str(blocker / "demo.json")
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("keeper: error: cannot create")

    monkeypatch.setattr("keeper.chain.anvil.node_bin", lambda name: tmp_path / "no-anvil")
    assert main(_cli(tmp_path)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"keeper: error: anvil not found at {tmp_path / 'no-anvil'}: run `make install`"]


def test_a_failing_market_step_stops_the_demo_with_one_line_and_stops_anvil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keeper.devnet.market import Market
    from keeper.errors import ChainError

    real_step = Market.step

    def step(self: Market, i: int) -> object:
        if i == 3:
            raise ChainError("market: deposit reverted: OptionVaultZeroAmount()\n(details)")
        return real_step(self, i)

    monkeypatch.setattr(Market, "step", step)
    port = free_port()
    cfg = DemoConfig(
        vaults=2,
        steps=5,
        port=port,
        json_path=tmp_path / "d.json",
        plot_path=tmp_path / "d.png",
        addresses_path=tmp_path / "devnet.json",
        journal_path=tmp_path / "j.sqlite",
    )
    with pytest.raises(ChainError) as info:
        run_demo(cfg)
    assert str(info.value) == (
        "market step 3 failed: market: deposit reverted: OptionVaultZeroAmount() (details)"
    )
    assert _anvils_on(port) == []
    assert not cfg.json_path.exists()  # type: ignore[union-attr]


def test_a_receipt_served_after_the_nonce_moved_neither_drops_nor_fails_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """anvil can report the keeper's nonce as used before it serves the receipt (seen about once
    in 3,000 sends under load). Simulate it on the second batch: the sender waits out the gap
    (``DROP_GRACE_S``) instead of dropping, so the cycle succeeds and the batch is booked."""
    from keeper.execution.sender import Sender

    seen: list[str] = []
    misses = [0]
    real_receipt = Sender._receipt

    def flaky(self: Sender, tx_hash: str) -> object:
        if tx_hash not in seen:
            seen.append(tx_hash)
        if len(seen) >= 2 and tx_hash == seen[1] and misses[0] < 2:
            misses[0] += 1
            return None
        return real_receipt(self, tx_hash)

    monkeypatch.setattr(Sender, "_receipt", flaky)
    cfg = _unreported(tmp_path, vaults=3, steps=12)
    r = run_demo(cfg)
    assert len(seen) >= 2, seen
    assert misses[0] == 2
    assert r.failed_cycles == 0
    assert r.sender_dropped_but_mined == 0
    assert r.failed_txs == 0
    assert seen[1] in r.tx_hashes
    assert r.rebalance_txs == len(set(r.tx_hashes)) >= 2
    assert r.steps_done == 12


def test_ctrl_c_stops_the_demo_cleanly_and_writes_the_partial_report(tmp_path: Path) -> None:
    """SIGINT to the demo's process group, as a terminal's Ctrl-C sends it (issue 15, item 8)."""
    import signal
    import threading

    port = free_port()
    steps = 400
    cmd = [
        sys.executable,
        "-m",
        "keeper.cli",
        *_cli(tmp_path, "--port", str(port), "--vaults", "2"),
    ]
    cmd[cmd.index("--steps") + 1] = str(steps)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
        start_new_session=True,  # its own process group, which the "terminal" signals
    )
    # The progress lines go to stderr, the first one after step 1's cycle: read them as they
    # come, so the signal lands once the steps have begun however slow the set-up was.
    lines: list[str] = []
    started = threading.Event()

    def read_progress() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("step    1/"):
                started.set()

    reader = threading.Thread(target=read_progress, daemon=True)
    try:
        reader.start()
        assert started.wait(180), "the demo never finished its first step: " + "".join(lines)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(30)  # stderr is the reader's to drain, not communicate()'s
        assert proc.stdout is not None
        out = proc.stdout.read()  # the summary table: far below a pipe's buffer
        err = "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Connection refused" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("keeper: demo interrupted after step ")
    assert last.endswith(f" of {steps}; the report and chart cover the steps done")
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["interrupted"] is True
    assert 0 < report["steps_done"] < steps
    assert f"{report['steps_done']} steps x 600s" in out
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _anvils_on(port) == []


def test_the_same_seed_reproduces_the_run_exactly(tmp_path: Path) -> None:
    """Two runs, same seed: the same blocks and timestamps, so the same rebalances and txs.

    Chain time comes from the transactions, never the wall clock (issue 15, item 9): the second
    run is started later, on another anvil, and still signs byte-identical transactions.
    """
    results = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        cfg = _unreported(out, vaults=3, steps=12, seed=11)  # 11 rebalances in 7 txs
        results.append(run_demo(cfg))
    a, b = results
    assert a.vault_rebalances > 0
    assert a.vault_rebalances == b.vault_rebalances
    assert [s.rebalances for s in a.vault_stats] == [s.rebalances for s in b.vault_stats]
    assert a.tx_hashes == b.tx_hashes
    assert a.trace == b.trace
    assert a.flows == b.flows


def _running_devnet_file(path: Path, node: Anvil) -> str:
    """An addresses file in the shape ``keeper devnet up`` leaves while its node runs."""
    text = json.dumps({"chain_id": 31337, "devnet": {"rpc_url": node.url, "pid": node.pid}})
    path.write_text(text)
    return text


def test_the_demo_refuses_the_addresses_file_of_a_running_devnet(tmp_path: Path) -> None:
    # The demo used to overwrite a running `keeper devnet up`'s file, then remove it with its own
    # anvil: the devnet, still up, had no addresses file left.
    from keeper.errors import ConfigError

    port = free_port()
    with Anvil() as devnet:
        path = tmp_path / "devnet.json"
        before = _running_devnet_file(path, devnet)
        cfg = DemoConfig(
            vaults=1,
            steps=1,
            port=port,
            json_path=tmp_path / "d.json",
            plot_path=None,
            addresses_path=path,
            journal_path=tmp_path / "j.sqlite",
        )
        with pytest.raises(ConfigError, match=r"belongs to the devnet running at .*--addresses"):
            run_demo(cfg)
        assert path.read_text() == before
        assert _anvils_on(port) == []
    # once that node has stopped, the file is stale and the demo may take the path
    assert not _running_devnet(path)


def _running_devnet(path: Path) -> bool:
    from keeper.app.devnet_session import running_devnet

    return running_devnet(path) is not None


def test_devnet_up_refuses_the_addresses_file_of_another_running_devnet(tmp_path: Path) -> None:
    from keeper.app.devnet_session import DevnetConfig, devnet_up
    from keeper.errors import ConfigError

    def started(info: object) -> None:
        raise AssertionError("a second devnet started over the first one's addresses file")

    with Anvil() as devnet:
        path = tmp_path / "devnet.json"
        before = _running_devnet_file(path, devnet)
        cfg = DevnetConfig(port=free_port(), addresses_path=path)
        with pytest.raises(ConfigError, match=r"belongs to the devnet running at"):
            devnet_up(cfg, on_ready=started)
        assert path.read_text() == before


def test_a_devnet_file_whose_node_does_not_answer_is_free_to_take(tmp_path: Path) -> None:
    # A live PID (here this test's own) with a node that does not answer: a stale file, not an
    # error ("cannot reach RPC" stopped the demo before it started).
    from keeper.app.devnet_session import running_devnet

    path = tmp_path / "devnet.json"
    dead = f"http://127.0.0.1:{free_port()}"
    path.write_text(json.dumps({"devnet": {"rpc_url": dead, "pid": os.getpid()}}))
    assert running_devnet(path) is None


def test_sigterm_while_the_stack_deploys_stops_anvil(tmp_path: Path) -> None:
    """SIGTERM (a service manager, ``timeout``, ``kill``) before the keeper loop has begun.

    The loop turns SIGTERM into a clean stop, but only while it runs; during the deployment
    Python's default action ended the process at once, skipping the ``finally`` that stops anvil,
    which runs in its own session and so was left running.
    """
    import signal
    import time

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "keeper.cli", *_cli(tmp_path, "--port", str(port), "--vaults", "2")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _anvils_on(port):
            time.sleep(0.02)
        assert _anvils_on(port), "the demo's anvil never started"
        time.sleep(0.5)  # anvil answers; the demo deploys the stack
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leaked = _anvils_on(port)
    for pid in leaked:  # by PID, so a failing run leaves nothing behind either
        os.kill(pid, signal.SIGTERM)
    assert leaked == []
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "keeper: interrupted"


def test_a_stop_before_the_first_step_is_one_line_and_stops_anvil(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM once the keeper loop has taken over the signals but before its first
    cycle: the loop ends with no step done, and the demo wrote a report of no steps, then failed
    on the chart with "keeper: error: nothing to plot" and exit 1. Now it ends as an interrupt
    during the set-up does: "keeper: interrupted", exit 130, no report, anvil stopped."""
    from keeper.app.loop import Runner

    def stopped_at_once(self: Runner, last: int | None) -> int | None:
        self.stop()  # as the loop's signal handler does
        return None

    monkeypatch.setattr(Runner, "_wait_new_block", stopped_at_once)
    port = free_port()
    assert main(_cli(tmp_path, "--port", str(port), "--vaults", "1")) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "keeper: interrupted"
    assert _anvils_on(port) == []
    assert not (tmp_path / "d.json").exists()


def test_a_block_time_demo_mines_its_set_up_at_once_and_its_steps_by_the_clock(
    tmp_path: Path,
) -> None:
    """``--block-time 2``: the deployment and the opening (a hundred-odd transactions) each
    waited for a 2-s block before the first step. They are now mined at once, and the steps run
    on the node's blocks: at the first step, the node mines by the clock, and most of the set-up's
    blocks share a timestamp with the block before (blocks mined by the clock never do).

    Run with 1-s blocks: the first step's market transactions each wait for a block, 6 s here
    where 2-s blocks took 12."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    seen: dict[str, object] = {}

    def rpc(method: str, *params: object) -> object:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return requests.post(url, json=body, timeout=10).json()["result"]

    def on_progress(p: Progress) -> None:
        if p.step != 1:
            return
        seen["interval"] = rpc("anvil_getIntervalMining")
        seen["automine"] = rpc("anvil_getAutomine")
        head = int(str(rpc("eth_blockNumber")), 16)
        stamps = [
            int(cast(dict[str, str], rpc("eth_getBlockByNumber", hex(n), False))["timestamp"], 16)
            for n in range(1, head + 1)
        ]
        seen["same_second"] = sum(b == a for a, b in pairwise(stamps))

    cfg = _unreported(tmp_path, vaults=1, steps=1, port=port, block_time=1)
    result = run_demo(cfg, on_progress)
    assert result.steps_done == 1
    assert seen["interval"] == 1
    assert seen["automine"] is False
    assert cast(int, seen["same_second"]) > 20, seen
