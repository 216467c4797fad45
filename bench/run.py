"""The benchmarks' single entry point.

``python bench/run.py`` runs every section at full size, writes ``bench/results/latest.json`` and
renders ``docs/benchmarks.md`` from it: about an hour on 2 cores, most of it deploying the
N=10,000 cycle devnet (2,448 s in the latest run: ``devnet_deploy_s``). ``python bench/run.py
--quick`` runs the same sections at small sizes (N <= 100, fewer repetitions and trials) in about
two minutes (130 s on 2026-12-06) and writes ``bench/results/quick.json`` plus
``bench/results/quick.md``: the committed doc only ever shows a full run. Progress lines go to
stderr. ``--only cycle,batch`` re-runs a subset: when the output JSON already exists, the other
sections are kept from it (each section records when it was measured, in ``meta.section_runs``),
else they are missing and the doc marks them "not measured". ``--only cycle --sizes 1000``
re-measures only those cycle sizes and keeps the other rows (each re-measured size records when, in
``meta.cycle_size_runs``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, machine_info, profile_call, progress, setup_logging, summary
from bench.render import judge, render

SECTIONS = ("cycle", "batch", "greeks", "backtest", "reaction", "settle", "sweep")

FULL: dict[str, Any] = {
    "sizes": [10, 100, 1000, 10_000],
    "ours_reps": {10: 15, 100: 10, 1000: 7, 10_000: 5},
    # N=10,000: ours only; the naive loop is extrapolated from N=1,000 (bench/cycle.py).
    "naive_reps": {10: 5, 100: 3, 1000: 2, 10_000: 0},
    "batch_reps": 3,
    "singles": 5,
    "backtest": (10_000, 1_000, 3),
    "reaction_trials": 20,
    "settle_sizes": [2, 5, 20, 50],
    # Queue sweep: (ours, naive) runs per N.
    "sweep_reps": {100: (7, 3), 1000: (5, 2)},
}
QUICK: dict[str, Any] = {
    "sizes": [10, 100],
    "ours_reps": {10: 5, 100: 3},
    "naive_reps": {10: 2, 100: 1},
    "batch_reps": 1,
    "singles": 2,
    "backtest": (1_000, 1_000, 1),
    "reaction_trials": 3,
    "settle_sizes": [2, 5],
    "sweep_reps": {10: (3, 1), 100: (3, 1)},
}
BACKTEST_POLICY = "costaware:risk_aversion=0.0001"


def _notes(plan: dict[str, Any]) -> list[str]:
    reps = ", ".join(
        f"N={n}: {plan['ours_reps'][n]} ours / "
        + (f"{plan['naive_reps'][n]} naive" if plan["naive_reps"][n] else "naive extrapolated")
        for n in plan["sizes"]
    )
    return [
        f"Cycle repetitions: {reps} (after one warm-up cycle each; the naive loop skips its "
        "warm-up at N=1,000, where one run is ~13,000 calls). A block is mined (untimed) before "
        "each of our measured cycles, as `keeper run` runs one per new block: the L1-fee quote, "
        "cached for 6 blocks, is read again within them, and the RPC figure is the most any "
        "measured cycle made.",
        "Devnets with many vaults are deployed by `bench/devnet.py`: the singletons by "
        "`keeper.devnet.stack.deploy_stack`, then every vault through `VaultFactory.createVault` "
        "(real, independent EIP-1167 clones) with its roles, seed deposit and option series, "
        "sent without a receipt wait per transaction (automine off, one `evm_mine` per 50 "
        "transactions; every receipt is checked afterwards). Deployment is not timed.",
        "Ours = `run_cycle` in dry-run (lens, oracle checks, pricing, L1-fee quote, policy, "
        "batch selection) plus encoding the batch's calldata; nothing is simulated or sent. "
        "Naive = one `eth_call` per field per vault and per series, then one decision per "
        "vault with the same policy; both through `keeper.chain.connection.connect` (RpcCounter).",
        "Backtest policy: the keeper's default, `" + BACKTEST_POLICY + "`.",
        "Lean lens gas per vault, by part (forge, 4 series, vault storage cold). The first "
        "read (`snapshotLean`, `test_snapshotLean_GasBreakdownPerVault`): the vault's account "
        "2,600 (cold in an `eth_call`); `readSlots` of its seven fixed slots (the oracle and the "
        "venue, each with one of the commitments in its high bits, balances, the two threshold "
        "words with the vol, the clock with the paused flag and the book version, the first "
        "eight open ids) 18,000; the sequencer feed copied from the clone's code 130; "
        "`readSlots` of the four series' words 0: 11,460; the lens's own packing ~3,900. The "
        "steady read (`snapshotLeanSince`, `test_snapshotLeanSince_GasPerVault`), for a vault "
        "whose book version the keeper holds: its account and one `readSlots` of two slots "
        "(balances, and the clock that carries the version), ~9.2k with the account warm in "
        "forge, +2.5k cold; the keeper fills in the rest of the record from its last full read "
        "of that vault. The reader reads in full on its first read, once every 60 reads, after "
        "any simulation disagreement, and for any vault whose version moved. Every change to "
        "what it caches moves the version (an invariant test checks it).",
        "Vaults per `eth_call`: the reader sends 700 per call with a 30M gas limit (anvil runs a "
        "call with any gas it is given; without a `gas` field it caps at its 30M block gas "
        "limit, ~770 vaults at ~39k gas a vault with 4 series and its account cold). Geth's and "
        "Nitro's default `--rpc.gascap` of 50M would take ~1,270.",
    ]


def run(
    quick: bool,
    sections: tuple[str, ...],
    out_json: Path,
    out_md: Path | None,
    base: dict[str, Any] | None = None,
    only_sizes: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Run ``sections`` (over ``base``'s other sections), write the JSON and the Markdown.

    ``only_sizes`` re-measures only those cycle sizes, keeping ``base``'s rows of the others.
    """
    plan = QUICK if quick else FULL
    started = time.monotonic()
    machine = machine_info()
    results: dict[str, Any] = copy.deepcopy(base) if base else {"meta": {}, "profiles": {}}
    meta = results["meta"]
    meta.update(mode="quick" if quick else "full", notes=_notes(plan))
    meta.setdefault("machine", machine)
    runs = meta.setdefault("section_runs", {})
    # When and where each part was measured: a re-run may be on another machine than the first
    # run, which ``meta.machine`` names. ``--sizes`` dates only its sizes, not the section.
    when = {
        "date_utc": machine["date_utc"],
        "load_avg": machine["load_avg_at_start"],
        "machine": {k: machine.get(k) for k in ("cores", "cpu", "os")},
    }
    for s in sections:
        if not (s == "cycle" and only_sizes):
            runs[s] = dict(when)
    results.setdefault("profiles", {})
    progress("bench (%s): %s", results["meta"]["mode"], ", ".join(sections))
    if "greeks" in sections:
        from bench.greeks import bench_greeks

        results["greeks"] = bench_greeks(quick)
    if "backtest" in sections:
        results["backtest"] = _backtest(*plan["backtest"])
    if "batch" in sections:
        from bench.batching import bench_batching

        details = bench_batching(plan["batch_reps"], plan["singles"])
        results["batch"] = details.pop("rows")
        results["batch_details"] = details
    if "reaction" in sections:
        from bench.reaction import bench_reaction

        results["reaction_blocks"] = bench_reaction(plan["reaction_trials"])
    if "settle" in sections:
        from bench.settling import bench_settling

        results["settle"] = bench_settling(plan["settle_sizes"])
    if "sweep" in sections:
        from bench.sweep import bench_sweep

        results["sweep"] = bench_sweep(sorted(plan["sweep_reps"]), plan["sweep_reps"])
    if "cycle" in sections:
        from bench.cycle import bench_cycle, extrapolate_naive

        sizes = [n for n in plan["sizes"] if not only_sizes or n in only_sizes]
        profiled = [n for n in sizes if n >= 1000] or [max(sizes)]
        kept = [r for r in results.get("cycle") or [] if r["n_vaults"] not in sizes]
        kept = kept if only_sizes else []
        rows, profiles = bench_cycle(
            sizes, plan["ours_reps"], plan["naive_reps"], profiled, prior=kept
        )
        merged = sorted([*kept, *rows], key=lambda r: r["n_vaults"])
        # A kept extrapolated row is re-scaled from this run's base: else re-measuring N=1,000
        # would leave N=10,000 quoting a naive time the N=1,000 row no longer shows.
        results["cycle"] = [
            extrapolate_naive(r, merged) if r.get("naive_extrapolated_from") else r for r in merged
        ]
        if only_sizes:
            meta.setdefault("cycle_size_runs", {}).update({str(n): dict(when) for n in sizes})
        stale = {f"our cycle at N={n}" for n in sizes} if only_sizes else None
        results["profiles"] = {
            k: v
            for k, v in results["profiles"].items()
            if (k not in stale if stale is not None else not k.startswith("our cycle at "))
        }
        for n, text in profiles.items():
            results["profiles"][f"our cycle at N={n}"] = text
    meta["elapsed_s"] = round(time.monotonic() - started, 1) + (
        float(meta.get("elapsed_s", 0.0)) if base else 0.0
    )
    results["targets"] = [
        {"figure": v.key, "target": v.target, "got": v.got, "met": v.met} for v in judge(results)
    ]
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2) + "\n")
    progress("wrote %s", out_json)
    if out_md is not None:
        out_md.parent.mkdir(parents=True, exist_ok=True)
        try:
            source = str(out_json.resolve().relative_to(REPO))
        except ValueError:
            source = str(out_json)
        out_md.write_text(render(results, source=source))
        progress("wrote %s", out_md)
    return results


def _backtest(paths: int, steps: int, reps: int) -> dict[str, Any]:
    from bench.bench_backtest import time_backtest
    from keeper.strategy import parse_policy

    policy = parse_policy(BACKTEST_POLICY)
    runs = [time_backtest(paths, steps, policy) for _ in range(reps)]
    secs = summary([r["seconds"] for r in runs])
    progress("backtest %d x %d: %.2f s", paths, steps, secs["median"])
    out: dict[str, Any] = {
        "paths": paths,
        "steps": steps,
        "seconds": secs["median"],
        "seconds_min": secs["min"],
        "seconds_max": secs["max"],
        "paths_seconds": summary([r["paths_seconds"] for r in runs])["median"],
        "policy": BACKTEST_POLICY,
        "runs": reps,
    }
    if secs["median"] > 10:
        out["profile"] = profile_call(lambda: time_backtest(paths, steps, policy))
    return out


def _sizes(
    ap: argparse.ArgumentParser, text: str | None, only: tuple[str, ...], plan: dict[str, Any]
) -> tuple[int, ...]:
    """``--sizes`` as ints; refused unless ``--only`` names cycle and the mode runs each size.

    Without ``--only`` nothing is kept, so the rows of the other sizes would be dropped; a size
    the mode does not run would measure nothing (and stop the run after its other sections).
    """
    if not text:
        return ()
    if "cycle" not in only:
        ap.error("--sizes needs --only with cycle (the other cycle rows are kept from --out)")
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        ap.error(f"--sizes must be comma-separated integers, not {text!r}")
    unknown = sorted(set(sizes) - set(plan["sizes"]))
    if unknown:
        ap.error(
            f"--sizes {','.join(map(str, unknown))}: this mode measures N in "
            f"{','.join(map(str, plan['sizes']))}"
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    ap = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, about two minutes")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--out", type=Path, help="results JSON (default by mode)")
    ap.add_argument("--doc", type=Path, help="Markdown output (default by mode)")
    ap.add_argument("--verbose", action="store_true", help="also show the keeper's own logs")
    ap.add_argument(
        "--sizes",
        help="with --only cycle: re-measure only these N (comma-separated), keep the rest",
    )
    a = ap.parse_args(argv)
    setup_logging(a.verbose)
    sections = tuple(s.strip() for s in a.only.split(",")) if a.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    only_sizes = _sizes(ap, a.sizes, sections if a.only else (), QUICK if a.quick else FULL)
    results_dir = REPO / "bench" / "results"
    if a.quick:
        out_json = a.out or results_dir / "quick.json"
        out_md = a.doc or results_dir / "quick.md"
    else:
        out_json = a.out or results_dir / "latest.json"
        out_md = a.doc or REPO / "docs" / "benchmarks.md"
    base = None
    if a.only and out_json.exists():
        base = json.loads(out_json.read_text())
        progress("keeping the other sections of %s", out_json)
    results = run(a.quick, sections, out_json, out_md, base, only_sizes)
    for t in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        print(f"{t['figure']:9} {verdict:7} {t['got']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
