"""Cycle latency against N: our keeper's cycle versus the naive per-vault loop, same devnet.

**Ours** is :func:`keeper.app.cycle.run_cycle` on a dry-run
:class:`~keeper.app.collaborators.Keeper` built by :func:`~keeper.app.wiring.build_keeper` (the
``keeper check`` path): the lean lens read (raw state, one JSON-RPC round trip carrying one
``eth_call`` per chunk), its numpy decoding, the off-chain derivation (vectorized Greeks, net
delta, NAV and the contract's trigger), the latest block's base fee, the L1 fee of a one- and a
two-vault batch from the OP fee oracle, the policy and batch selection -- then the batch's
calldata is encoded. Nothing is simulated or sent. Above the largest N with ``naive_reps``, the
naive loop is not run: its time is scaled linearly from the largest measured N, and the row
says so (``naive_extrapolated_from``).

**Naive** is what a cron bot does without a lens: per vault, one ``eth_call`` per field --
``netDelta``, ``thresholds``, ``lastRebalance``, ``volatility``, ``paused``, ``hedgeInventory``,
the price feed's and the sequencer feed's ``latestRoundData``, the pool's ``slot0``,
``openSeries``, and ``seriesGreeks(id)`` for each open series (the chain's gamma, as a bot without
a pricing library would) -- then one decision per vault with the same policy and cost numbers.

Both use their own connection built by :func:`keeper.chain.connection.connect`, whose
``RpcCounter`` middleware counts the round trips.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from web3 import Web3

from bench.common import REPO, profile_call, progress, ratio, summary, timed
from bench.devnet import BenchDevnet, bind, start_devnet
from keeper.app.collaborators import Keeper
from keeper.app.cycle import run_cycle
from keeper.app.market import batch_costs, pool_terms
from keeper.app.wiring import build_keeper
from keeper.chain.connection import connect, rpc_counter
from keeper.chain.lens import LensReader
from keeper.devnet.uniswap import pool_contract
from keeper.execution.simulate import BatchCodec
from keeper.pricing import YEAR_SECONDS
from keeper.pricing.book import book_of
from keeper.settings import load_settings
from keeper.strategy import CostInputs, MarketView, Policy, VaultView, plan
from keeper.units import WAD, Wad


def our_keeper(dev: BenchDevnet, journal_dir: Path) -> Keeper:
    """A dry-run keeper over ``dev``'s vaults, on its own counted connection."""
    w3 = connect(dev.node.url)
    settings = load_settings(
        env_file=None,
        rpc_url=dev.node.url,
        chain_id=int(dev.w3.eth.chain_id),
        lens=dev.stack.lens,
        batcher=dev.stack.batcher,
        vaults=",".join(dev.stack.vaults),
        journal_path=journal_dir / "journal.sqlite",
        # The hedge cycle alone: a dry run sweeps the redemption queues too, measured apart
        # (the sweep section, `bench/sweep.py`).
        queue_sweep_s=0,
    )
    return build_keeper(w3, settings, dry_run=True)


def our_cycle(keeper: Keeper, codec: BatchCodec) -> tuple[int, int, float]:
    """One cycle; return (RPC round trips, vaults planned, seconds)."""
    t0 = time.perf_counter()
    result = run_cycle(keeper)
    if result.planned:
        codec.encode(result.planned)
    seconds = time.perf_counter() - t0
    if result.skipped:
        raise RuntimeError(f"our cycle skipped vaults: {list(result.skipped.items())[:2]}")
    return result.rpc_requests, len(result.planned), seconds


@dataclass
class NaiveBot:
    """The per-vault cron loop (contracts bound once at start-up, as such a bot would)."""

    w3: Web3
    vaults: list[Any]
    feed: Any
    sequencer: Any
    pool: Any
    venue: Any
    policy: Policy
    keeper: Keeper

    @classmethod
    def build(cls, dev: BenchDevnet, keeper: Keeper) -> NaiveBot:
        w3 = connect(dev.node.url)
        return cls(
            w3=w3,
            vaults=[bind(w3, "OptionVault", v) for v in dev.stack.vaults],
            feed=bind(w3, "MockV3Aggregator", dev.stack.price_feed),
            sequencer=bind(w3, "MockV3Aggregator", dev.stack.sequencer_feed),
            pool=pool_contract(w3, dev.stack.pool),
            venue=bind(w3, "UniswapV3Venue", dev.stack.venue),
            policy=keeper.policy,
            keeper=keeper,
        )

    def cycle(self) -> tuple[int, int, float]:
        """One cycle; return (RPC round trips, vaults that would act, seconds)."""
        counter = rpc_counter(self.w3)
        r0, _ = counter.snapshot()
        t0 = time.perf_counter()
        cfg = self.keeper.config
        head = self.w3.eth.get_block("latest")
        now = int(head["timestamp"])
        gas_price = min(
            int(head.get("baseFeePerGas", 0) or 0) + cfg.priority_fee_wei, cfg.max_fee_per_gas_wei
        )
        acting = 0
        for v in self.vaults:
            f = v.functions
            net = int(f.netDelta().call())
            th = f.thresholds().call()
            last = int(f.lastRebalance().call())
            vol = int(f.volatility().call())
            paused = bool(f.paused().call())
            f.hedgeInventory().call()
            _, answer, _, updated_at, _ = self.feed.functions.latestRoundData().call()
            _, seq_answer, seq_started, _, _ = self.sequencer.functions.latestRoundData().call()
            self.pool.functions.slot0().call()
            depth8, fee_pips = self.venue.functions.depth().call()  # for the cost model
            series = f.openSeries().call()
            gamma = 0.0
            contracts = 0.0
            nearest = math.inf
            for s in series:
                _, g, _ = f.seriesGreeks(int(s[0])).call()
                gamma += int(s[5]) / WAD * int(g) / 1e18
                contracts += int(s[5]) / WAD
                nearest = min(nearest, max(int(s[4]) - now, 0) / YEAR_SECONDS)
            stale = now - int(updated_at) > int(th[7])
            sequencer_bad = seq_answer != 0 or now - int(seq_started) <= int(th[8])
            if paused or sequencer_bad or answer <= 0 or stale:
                continue
            spot = answer / 1e8
            view = VaultView(
                vault=v.address,
                net_delta=Wad(net),
                target_delta=Wad(int(th[0])),
                band=Wad(int(th[1])),
                max_trade=Wad(int(th[4])),
                last_rebalance=last,
                min_interval=int(th[2]),
                max_interval=int(th[3]),
                spot=spot,
                gamma=abs(gamma),
                vol=vol / WAD,
                contracts=contracts,
                trigger_ready=abs(net - int(th[0])) > int(th[1]),
                time_to_expiry=nearest,
                pool_depth_usd=int(depth8) / 1e8,
                pool_fee_bps=int(fee_pips) / 100,
            )
            impact_coef, pool_fee_bps = pool_terms(cfg.impact_coef, cfg.pool_fee_bps, [view])
            costs = CostInputs(
                gas_fixed=cfg.gas_fixed,
                gas_per_vault=cfg.gas_per_vault,
                gas_price_wei=gas_price,
                l1_fee_fixed_wei=0,
                l1_fee_per_vault_wei=0,
                eth_usd=spot,
                pool_fee_bps=pool_fee_bps,
                impact_coef=impact_coef,
            )
            market = MarketView(now=now, forecast_vol=vol / WAD, reference_vol=cfg.reference_vol)
            acting += len(plan(self.policy, [view], market, costs).batch)
        seconds = time.perf_counter() - t0
        r1, _ = counter.snapshot()
        return r1 - r0, acting, seconds


def cycle_profile(fn: Callable[[], object]) -> str:
    """cProfile of one cycle: the top functions by cumulative time, then by their own time."""
    cumulative = profile_call(fn, top=22)
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(14)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    repo = str(REPO) + "/"
    own = [line.replace(repo, "").rstrip() for line in lines[start:] if line.strip()]
    site = "site-packages/"
    own = [
        line[: line.rfind(" ", 0, line.find(site)) + 1] + line[line.find(site) + len(site) :]
        if site in line
        else line
        for line in own
    ]
    return cumulative + "\n\nby own time (tottime):\n" + "\n".join(own)


def lens_breakdown(keeper: Keeper, reps: int) -> dict[str, Any]:
    """Where a cycle's time goes, each part timed alone (median ms over ``reps``).

    The keeper's reader keeps a book cache, so its lens read has two regimes; the plain keys are
    the **steady** read, every cycle after the first, and the ``*_first`` keys the **first** read:

    - ``node``: the lean lens round trip (every chunk in one JSON-RPC batch): anvil executing
      ``VaultLens.snapshotLeanSince`` with every vault held at its book version (the warmed
      reader's calldata: the lens reads only balances and clock), plus HTTP and JSON;
      ``node_first``: the same for ``snapshotLean`` (cold cache: every vault read in full);
    - ``decode``: the steady answer to columns (numpy over fixed-width words), its cached
      records completed from the reader's cache; ``decode_first``: the first answer decoded by
      a fresh reader (which also fills its cache);
    - ``pricing``: the off-chain derivation (Greeks, net delta, NAV, the contract's trigger) and
      the strategy's views;
    - ``planning``: the policy and batch selection (:func:`keeper.strategy.plan`).

    Also the lean lens's gas per vault, ``lens_gas_per_vault`` (steady: ``eth_estimateGas`` of the
    reader's first chunk -- ``min(N, lean_chunk)`` vaults, as the keeper sends it -- as a
    ``snapshotLeanSince`` from a reader warmed on them) and ``lens_gas_per_vault_first`` (the
    same chunk as a ``snapshotLean``), each less the 21,000 intrinsic gas and divided by the
    chunk's vaults (so the feed and venue reads, once a call, are shared as in the keeper's
    call); ``lens_gas_sample``, that chunk's size; the vaults per ``eth_call`` the reader uses,
    and those a 30M and a
    50M call-gas cap would allow at either gas (``vaults_per_call_30m``/``_50m`` and their
    ``*_first``); ``lens_cached``, the records the steady read completed from the cache (every
    vault when every devnet vault is a clean ``OptionVault``).
    """
    reader = keeper.lens
    vaults = keeper.vaults
    w3 = keeper.w3

    sample = vaults[: reader.lean_chunk]

    def gas_per_vault(data: bytes) -> float:
        tx: Any = {"to": reader.lens, "data": data, "gas": reader.lean_call_gas}
        return (int(w3.eth.estimate_gas(tx)) - 21_000) / len(sample)

    def fresh() -> LensReader:
        return LensReader(w3, reader.lens, codec=reader.codec, lean_chunk=reader.lean_chunk)

    gas_first: float | None = None
    gas_steady: float | None = None
    if len(vaults) >= 10:
        gas_first = gas_per_vault(fresh()._lean_calldata(sample)[0])
        warm = fresh()
        warm.read_lean(sample)
        gas_steady = gas_per_vault(warm.lean_request(sample).datas[0])
    request = reader.lean_request(vaults)  # the keeper's cycles have warmed it
    colds = [fresh() for _ in range(reps)]
    cold_requests = [c.lean_request(vaults) for c in colds]
    node: list[float] = []
    dec: list[float] = []
    node_first: list[float] = []
    dec_first: list[float] = []
    price: list[float] = []
    planning: list[float] = []
    cached = 0
    head = w3.eth.get_block("latest")
    gas = reader.lean_call_gas
    for cold, cold_req in zip(colds, cold_requests, strict=True):
        raw, s = timed(partial(reader._call_data, cold_req.datas, "latest", gas))
        node_first.append(s * 1e3)
        _, s = timed(partial(cold.decode_lean, vaults, raw, cold_req))
        dec_first.append(s * 1e3)
        raw, s = timed(partial(reader._call_data, request.datas, "latest", gas))
        node.append(s * 1e3)
        snap, s = timed(partial(reader.decode_lean, vaults, raw, request))
        dec.append(s * 1e3)
        cached = reader.last_lean_cached
        views, s = timed(book_of(snap).views)
        price.append(s * 1e3)
        market = MarketView(int(head["timestamp"]), 0.8, keeper.config.reference_vol)
        costs = batch_costs(keeper, views)
        _, s = timed(partial(plan, keeper.policy, views, market, costs))
        planning.append(s * 1e3)

    def per_call(cap: int, gas: float | None) -> int | None:
        return int(cap // gas) if gas else None

    return {
        "node_ms": summary(node)["median"],
        "decode_ms": summary(dec)["median"],
        "pricing_ms": summary(price)["median"],
        "planning_ms": summary(planning)["median"],
        "node_ms_first": summary(node_first)["median"],
        "decode_ms_first": summary(dec_first)["median"],
        "lens_gas_per_vault": gas_steady,
        "lens_gas_per_vault_first": gas_first,
        "lens_cached": cached,
        "lens_gas_sample": len(sample),
        "vaults_per_call": reader.lean_chunk,
        "lens_calls": len(request.datas),
        # What a node's eth_call gas cap allows at this gas per vault: the keeper's 30M default
        # (one block; anvil itself takes any gas given) and geth's / Nitro's 50M --rpc.gascap.
        "vaults_per_call_30m": per_call(30_000_000, gas_steady),
        "vaults_per_call_50m": per_call(50_000_000, gas_steady),
        "vaults_per_call_30m_first": per_call(30_000_000, gas_first),
        "vaults_per_call_50m_first": per_call(50_000_000, gas_first),
    }


def _new_blocks(dev: BenchDevnet, count: int) -> Iterator[int]:
    """Mine a block before each of ``count`` cycles (untimed): `keeper run` runs one per new block.

    A dry run sends nothing, so without it the chain would never move between measured cycles
    and the keeper's per-block state (the L1-fee quote, cached for ``L1_ESTIMATE_MAX_AGE_BLOCKS``
    blocks) would be served from its cache in every one of them.
    """
    for i in range(count):
        dev.rpc("evm_mine")
        yield i


def bench_cycle(
    sizes: list[int],
    reps: dict[int, int],
    naive_reps: dict[int, int],
    profile_n: Sequence[int] = (),
    prior: Sequence[dict[str, Any]] = (),
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Run the cycle comparison for each N on its own fresh devnet.

    Returns the rows and, for each N of ``profile_n`` among ``sizes``, a cProfile of our cycle.
    ``prior`` rows (an earlier run's, other sizes) may serve as the base of an extrapolated
    naive figure when no measured size of this run is larger.
    """
    rows: list[dict[str, Any]] = []
    profiles: dict[int, str] = {}
    for n in sizes:
        dev = start_devnet(n)
        try:
            with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
                keeper = our_keeper(dev, Path(tmp))
                codec = BatchCodec()
                our_cycle(keeper, codec)  # warm-up: imports, ABI caches, first lens call
                ours = [our_cycle(keeper, codec) for _ in _new_blocks(dev, reps[n])]
                progress(
                    "cycle N=%d: ours %.1f ms median",
                    n,
                    summary([o[2] for o in ours])["median"] * 1e3,
                )
                breakdown = lens_breakdown(keeper, reps[n])
                if n in profile_n:
                    profiles[n] = cycle_profile(lambda k=keeper, c=codec: our_cycle(k, c))  # type: ignore[misc]
                theirs: list[tuple[int, int, float]] = []
                if naive_reps.get(n, 0) > 0:
                    naive = NaiveBot.build(dev, keeper)
                    if n <= 100:
                        naive.cycle()  # warm-up (skipped at N>=1000: one run is 13,000 calls)
                    theirs = [naive.cycle() for _ in range(naive_reps[n])]
                    progress(
                        "cycle N=%d: naive %.0f ms median",
                        n,
                        summary([t[2] for t in theirs])["median"] * 1e3,
                    )
        finally:
            dev.close()
        o_ms = summary([o[2] * 1e3 for o in ours])
        row: dict[str, Any] = {
            "n_vaults": n,
            "ours_ms_median": o_ms["median"],
            "ours_ms_min": o_ms["min"],
            "ours_ms_max": o_ms["max"],
            "ours_rpc_requests": max(o[0] for o in ours),
            "ours_planned": ours[-1][1],
            "runs_ours": len(ours),
            "series_per_vault": 3,
            "devnet_deploy_s": round(dev.deploy_seconds, 1),
            "devnet_txs": dev.txs_sent,
            **breakdown,
        }
        if theirs:
            n_ms = summary([t[2] * 1e3 for t in theirs])
            row.update(
                naive_ms_median=n_ms["median"],
                naive_ms_min=n_ms["min"],
                naive_ms_max=n_ms["max"],
                naive_rpc_requests=max(t[0] for t in theirs),
                naive_acting=theirs[-1][1],
                runs_naive=len(theirs),
                naive_extrapolated_from=None,
            )
            row["speedup"] = ratio(row["naive_ms_median"], o_ms["median"])
        else:
            row = extrapolate_naive(row, [*prior, *rows])
        rows.append(row)
    return rows, profiles


def extrapolate_naive(row: dict[str, Any], measured: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``row`` with its naive figures scaled from the largest N of ``measured`` that ran it.

    The naive loop is linear in N (one round trip per field per vault): scale the largest
    measured run, and say so (``naive_extrapolated_from``). Its round trips are counted, not
    timed: with two measured sizes they are a fixed part plus a part per vault, read off the
    two largest, and extrapolated exactly (one size: scaled as the times are). Rows of
    ``measured`` that are themselves extrapolated are not a base.
    """
    bases = sorted(
        (r for r in measured if r.get("naive_extrapolated_from") is None),
        key=lambda r: r["n_vaults"],
    )
    base = bases[-1]
    k = row["n_vaults"] / base["n_vaults"]
    rpc = round(base["naive_rpc_requests"] * k)
    if len(bases) > 1:
        below = bases[-2]
        per_vault = (base["naive_rpc_requests"] - below["naive_rpc_requests"]) / (
            base["n_vaults"] - below["n_vaults"]
        )
        rpc = round(base["naive_rpc_requests"] + per_vault * (row["n_vaults"] - base["n_vaults"]))
    return {
        **row,
        "naive_ms_median": base["naive_ms_median"] * k,
        "naive_ms_min": base["naive_ms_min"] * k,
        "naive_ms_max": base["naive_ms_max"] * k,
        "naive_rpc_requests": rpc,
        "naive_acting": None,
        "runs_naive": 0,
        "naive_extrapolated_from": base["n_vaults"],
        "speedup": ratio(base["naive_ms_median"] * k, row["ours_ms_median"]),
    }
