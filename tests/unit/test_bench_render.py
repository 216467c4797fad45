"""The bench's pure parts: statistics helpers, target judging and Markdown rendering from JSON.

Never timings: the fixture below is a hand-written results dict, and the assertions are about
what the renderer and the judge make of it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.common import profile_call, ratio, summary
from bench.render import judge, main, render, rpc_budget


def _results() -> dict[str, Any]:
    return {
        "meta": {
            "mode": "full",
            "machine": {
                "cores": 2,
                "cpu": "Test CPU 9000",
                "load_avg_at_start": [0.5, 0.4, 0.3],
                "os": "Linux 6",
                "python": "3.11.7",
                "numpy": "2.4.6",
                "web3": "8.0.0",
                "anvil": "anvil Version: 1.7.1",
                "date_utc": "2026-11-22 01:00 UTC",
            },
            "elapsed_s": 321.0,
            "notes": ["a method note"],
        },
        "cycle": [
            {
                "n_vaults": 10,
                "ours_ms_median": 20.0,
                "ours_ms_min": 18.0,
                "ours_ms_max": 25.0,
                "naive_ms_median": 500.0,
                "naive_ms_min": 490.0,
                "naive_ms_max": 510.0,
                "ours_rpc_requests": 3,
                "naive_rpc_requests": 131,
                "speedup": 25.0,
                "node_ms": 10.0,
                "decode_ms": 1.0,
                "pricing_ms": 2.0,
                "planning_ms": 1.0,
            },
            {
                "n_vaults": 1000,
                "ours_ms_median": 80.0,
                "ours_ms_min": 70.0,
                "ours_ms_max": 90.0,
                "naive_ms_median": 10_000.0,
                "naive_ms_min": 9_500.0,
                "naive_ms_max": 10_500.0,
                "ours_rpc_requests": 3,
                "naive_rpc_requests": 13001,
                "speedup": 125.0,
                "node_ms": 50.0,
                "decode_ms": 5.0,
                "pricing_ms": 10.0,
                "planning_ms": 5.0,
                "lens_gas_per_vault": 11_500,
                "lens_gas_per_vault_first": 39_000,
                "lens_cached": 1000,
                "node_ms_first": 120.0,
                "decode_ms_first": 6.0,
                "vaults_per_call": 350,
                "lens_calls": 3,
            },
            {
                "n_vaults": 10_000,
                "ours_ms_median": 800.0,
                "ours_ms_min": 700.0,
                "ours_ms_max": 900.0,
                "naive_ms_median": 100_000.0,
                "naive_ms_min": 95_000.0,
                "naive_ms_max": 105_000.0,
                "naive_extrapolated_from": 1000,
                "ours_rpc_requests": 3,
                "naive_rpc_requests": 130010,
                "speedup": 125.0,
                "node_ms": 500.0,
                "decode_ms": 30.0,
                "pricing_ms": 80.0,
                "planning_ms": 60.0,
            },
        ],
        "batch": [
            {
                "batch_size": 1,
                "gas_per_vault": 290_000,
                "l1_fee_per_vault_wei": 80,
                "cost_per_vault_wei": 1_100,
                "single_tx_cost_wei": 1_000,
            },
            {
                "batch_size": 10,
                "gas_per_vault": 105_000,
                "l1_fee_per_vault_wei": 20,
                "cost_per_vault_wei": 400,
                "single_tx_cost_wei": 1_000,
            },
        ],
        "batch_details": {
            "l2_base_fee_wei": 10**7,
            "l1_params": {
                "l1_base_fee": 5 * 10**9,
                "blob_base_fee": 5 * 10**8,
                "base_fee_scalar": 1368,
                "blob_base_fee_scalar": 810949,
            },
            "single_tx": {
                "gas": {"median": 214_000.0},
                "l1_fee_wei": {"median": 57.0},
                "cost_wei": {"median": 1_000.0},
                "runs": 5,
            },
        },
        "greeks": {
            "deltas_per_s": 14e6,
            "max_rel_err_vs_chain": 3e-11,
            "onchain_gas_per_series": 5_000,
            "chain": {"grid_points": 324, "max_abs_err_where_tiny": 1e-17},
        },
        "backtest": {"paths": 10_000, "steps": 1_000, "seconds": 2.5, "policy": "band:width=0.05"},
        "reaction_blocks": {"median": 1.0, "max": 2.0, "min": 1.0, "trials": 20},
        "profiles": {"our cycle at N=1000": "ncalls tottime\n1 0.1 run_cycle"},
    }


def _verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    return {v.key: v.met for v in judge(results)}


def test_summary_is_median_min_max() -> None:
    assert summary([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}
    assert summary([7]) == {"median": 7.0, "min": 7.0, "max": 7.0}
    with pytest.raises(ValueError, match="no values"):
        summary([])


def test_ratio_is_none_when_undefined() -> None:
    assert ratio(10.0, 4.0) == 2.5
    assert ratio(1.0, 0.0) is None
    assert ratio(float("inf"), 1.0) is None


def test_rpc_budget_is_two_plus_one_per_1000_vaults() -> None:
    assert [rpc_budget(n) for n in (1, 10, 1000, 1001, 10_000)] == [3, 3, 3, 4, 12]


def test_judge_meets_every_target_of_the_fixture() -> None:
    assert _verdicts(_results()) == {
        "cycle": True,
        "rpc": True,
        "batch": True,
        "greeks": True,
        "backtest": True,
        "reaction": True,
        "cycle10k": True,
        "lens": True,
        "batchgas": True,
        "single": True,
        "onchain": True,
    }


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("cycle", 1, "ours_ms_median"), 150.0, "cycle"),  # slower than 100 ms
        (("cycle", 1, "naive_ms_median"), 7_900.0, "cycle"),  # only 98.75x faster
        (("cycle", 2, "ours_ms_median"), 1_001.0, "cycle10k"),
        (("cycle", 0, "ours_rpc_requests"), 4, "rpc"),  # budget at N=10 is 3
        (("batch", 1, "cost_per_vault_wei"), 460, "batch"),  # 46% > 45%
        (("greeks", "deltas_per_s"), 4.9e6, "greeks"),
        (("greeks", "max_rel_err_vs_chain"), 2e-9, "greeks"),
        (("backtest", "seconds"), 10.5, "backtest"),
        (("reaction_blocks", "max"), 3.0, "reaction"),
        (("cycle", 1, "lens_gas_per_vault"), 15_001, "lens"),
        (("batch", 1, "gas_per_vault"), 110_001, "batchgas"),
        (("batch_details", "single_tx", "gas", "median"), 220_001.0, "single"),
        (("greeks", "onchain_gas_per_series"), 10_001, "onchain"),
    ],
)
def test_judge_flags_each_missed_target(path: tuple[Any, ...], value: Any, key: str) -> None:
    results = copy.deepcopy(_results())
    node: Any = results
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    verdicts = _verdicts(results)
    assert verdicts[key] is False
    assert all(met for k, met in verdicts.items() if k != key)


def test_judge_does_not_judge_small_runs_or_missing_sections() -> None:
    results = _results()
    results["cycle"] = results["cycle"][:1]  # only N=10
    results["backtest"]["paths"] = 1_000
    del results["reaction_blocks"]
    v = {x.key: x for x in judge(results)}
    assert v["cycle"].met is None
    assert "below 1,000" in v["cycle"].note
    assert v["cycle10k"].met is None
    assert v["backtest"].met is None
    assert v["reaction"].met is None
    assert v["reaction"].got == "not measured"


def test_render_names_the_machine_and_every_section() -> None:
    text = render(_results())
    assert text.startswith("# Benchmarks\n")
    for needle in (
        "2 cores, Test CPU 9000",
        "Python 3.11.7, numpy 2.4.6, web3 8.0.0, anvil Version: 1.7.1",
        "2026-11-22 01:00 UTC",
        "## 1. Cycle latency against N",
        "## 2. Batching gain",
        "## 3. Greeks",
        "## 4. Backtest speed",
        "## 5. Reaction latency",
        "a method note",
        "L1 base fee 5 gwei, blob base fee 0.5 gwei",
    ):
        assert needle in text, needle
    # The N=1000 row: medians with min-max, the ratio, both RPC counts and the budget.
    assert (
        "| 1,000 | 80.0 (70.0–90.0) | 10,000 (9,500–10,500) | 125.0× | 3 | 13,001 | 3 "
        "| 50.0 | 5.0 | 10.0 | 5.0 |" in text
    )
    assert (
        "| 10,000 | 800 (700–900) | ≈100,000 (95,000–105,000)* | 125.0× | 3 | 130,010 | 12" in text
    )
    assert "N=10,000: the naive loop was not run" in text
    assert (
        "N=1,000: 80.0 ms = node 50.0 + decode 5.0 + pricing 10.0 + planning 5.0 + rest 10.0"
        in text
    )
    assert "| 10 | 105,000 | 20 | 400 (400–400) | 40% |" in text
    assert "| batch | cost per vault in a batch of 10: ≤45% of a single transaction | 40%" in text
    # Nothing missed: no "what bounds" section.
    assert "What bounds" not in text
    assert "**missed**" not in text


def test_render_shows_the_recurring_rebalance_beside_the_first() -> None:
    results = _results()
    d = results["batch_details"]
    d["recurring_rows"] = [
        {**r, "gas_per_vault": r["gas_per_vault"] - 17_000, "cost_per_vault_wei": cost}
        for r, cost in zip(results["batch"], (900, 350), strict=True)
    ]
    d["single_tx_recurring"] = {
        "gas": {"median": 197_000.0},
        "l1_fee_wei": {"median": 57.0},
        "cost_wei": {"median": 830.0},
        "runs": 5,
    }
    d["price8"] = {"first": 3_000 * 10**8, "recurring": 3_300 * 10**8}
    d["recurring_after_s"] = 20 * 86_400
    text = render(results)
    first, recurring = text.split("**Recurring rebalance**")
    assert "**First rebalance**" in first
    assert "| 10 | 105,000 | 20 | 400 (400–400) | 40% |" in first
    assert "214,000 gas" in first
    assert "20 days later at an oracle price of 3,300" in recurring
    assert "| 10 | 88,000 | 20 | 350 (350–350) | 35% |" in recurring
    assert "197,000 gas, L1 fee 57 wei, cost 830 wei" in recurring
    # The target is still judged on the first rebalance.
    assert "| batch | cost per vault in a batch of 10: ≤45% of a single transaction | 40%" in text
    # So are the gas targets, with the recurring figure quoted beside it.
    assert "| 105,000 on a first purchase; 88,000 recurring | met |" in text
    assert "| 214,000 on a first purchase; 197,000 recurring (`rebalance()`" in text


def test_render_explains_a_missed_single_vault_target() -> None:
    results = _results()
    d = results["batch_details"]
    d["single_tx"]["gas"]["median"] = 227_000.0
    d["single_tx_recurring"] = {"gas": {"median": 210_000.0}, "cost_wei": {"median": 1.0}}
    verdicts = {v.key: v for v in judge(results)}
    assert verdicts["single"].met is False
    assert "210,000 recurring" in verdicts["single"].got
    text = render(results)
    assert "- **A single vault**: 227,000 gas on its first purchase, 210,000 on a recurring" in text


def test_render_of_an_old_file_has_no_recurring_table() -> None:
    text = render(_results())
    assert "Recurring rebalance" not in text
    assert "First rebalance" not in text


def test_render_explains_a_missed_figure_and_includes_the_profile() -> None:
    results = _results()
    results["cycle"][1]["ours_ms_median"] = 300.0
    results["batch"][1]["cost_per_vault_wei"] = 700
    text = render(results)
    assert "## What bounds the missed figures" in text
    assert "**Cycle at N=1,000** (300 ms): the node's share is 50.0 ms" in text
    assert "the keeper's own work (decode, pricing, planning and the rest) 250 ms" in text
    assert "11,500 gas per vault" in text
    assert "**Batching**" in text
    assert "105,000 gas per vault in a batch of 10 against 214,000" in text
    assert "### our cycle at N=1000" in text
    assert "1 0.1 run_cycle" in text
    assert text.count("**missed**") == 2


def test_main_renders_a_saved_json(tmp_path: Path) -> None:
    src = tmp_path / "r.json"
    src.write_text(json.dumps(_results()))
    out = tmp_path / "r.md"
    assert main([str(src), str(out)]) == 0
    assert out.read_text() == render(_results(), source=str(src))
    assert f"from {src};" in out.read_text()
    assert main([]) == 2


def test_profile_call_reports_the_profiled_function() -> None:
    def busy_function_for_the_profile() -> int:
        return sum(i * i for i in range(10_000))

    text = profile_call(busy_function_for_the_profile)
    assert "ncalls" in text.splitlines()[0]
    assert "busy_function_for_the_profile" in text


def test_render_dates_each_cycle_size_not_a_section_some_sizes_missed() -> None:
    """After ``--only cycle --sizes 1000`` no line may say the whole cycle section is that new."""
    results = _results()
    results["meta"]["section_runs"] = {
        "cycle": {"date_utc": "2026-12-04 11:10 UTC", "load_avg": [0.2, 0.6, 0.7]}
    }
    results["meta"]["cycle_size_runs"] = {
        "10": {"date_utc": "2026-12-02 04:06 UTC", "load_avg": [0.7, 0.7, 0.8]},
        "1000": {"date_utc": "2026-12-04 11:10 UTC", "load_avg": [0.2, 0.6, 0.7]},
        "10000": {"date_utc": "2026-12-02 04:13 UTC", "load_avg": [0.7, 0.9, 0.9]},
    }
    text = render(results)
    assert "Section `cycle` re-measured" not in text
    assert "- Cycle N=10 re-measured 2026-12-02 04:06 UTC" in text
    assert "- Cycle N=1,000 re-measured 2026-12-04 11:10 UTC" in text
    # A size without a date of its own: the section line stays.
    del results["meta"]["cycle_size_runs"]["10"]
    assert "Section `cycle` re-measured 2026-12-04 11:10 UTC" in render(results)


def test_render_names_the_machine_of_a_re_run_on_another_one() -> None:
    results = _results()
    other = {"cores": 4, "cpu": "Other CPU", "os": "Linux 7"}
    same = {k: results["meta"]["machine"][k] for k in ("cores", "cpu", "os")}
    results["meta"]["section_runs"] = {
        "batch": {"date_utc": "2026-12-02 11:53 UTC", "load_avg": [1.5], "machine": other},
        "greeks": {"date_utc": "2026-12-02 11:56 UTC", "load_avg": [0.2], "machine": same},
    }
    text = render(results)
    assert (
        "- Section `batch` re-measured 2026-12-02 11:53 UTC (load average [1.5]) "
        "on 4 cores, Other CPU, Linux 7" in text
    )
    assert "- Section `greeks` re-measured 2026-12-02 11:56 UTC (load average [0.2])\n" in text


def test_render_dates_each_cycle_profile_by_the_run_that_measured_its_size() -> None:
    results = _results()
    results["profiles"] = {"our cycle at N=1000": "P1000", "our cycle at N=10000": "P10000"}
    results["meta"]["section_runs"] = {"cycle": {"date_utc": "2026-12-04 11:10 UTC"}}
    results["meta"]["cycle_size_runs"] = {
        "1000": {"date_utc": "2026-12-04 11:10 UTC"},
        "10000": {"date_utc": "2026-12-02 04:13 UTC"},
    }
    text = render(results)
    assert "### our cycle at N=10000 (measured 2026-12-02 04:13 UTC)" in text
    assert "### our cycle at N=1000 (measured 2026-12-04 11:10 UTC)" in text
    # A size with no date of its own was measured with the cycle section, else the first run.
    del results["meta"]["cycle_size_runs"]["10000"]
    assert "### our cycle at N=10000 (measured 2026-12-04 11:10 UTC)" in render(results)
    del results["meta"]["section_runs"]
    first = results["meta"]["machine"]["date_utc"]
    assert f"### our cycle at N=10000 (measured {first})" in render(results)


def test_render_sets_batched_settlements_and_fills_beside_one_a_transaction() -> None:
    side = {
        "transactions": 40,
        "blocks": 40,
        "hedge_blocks": 20,
        "gas_per_vault": 288_030,
        "cost_wei": 20_000,
    }
    batched = {
        "transactions": 2,
        "blocks": 2,
        "hedge_blocks": 1,
        "gas_per_vault": 223_148,
        "cost_wei": 12_000,
    }
    results = _results()
    results["settle"] = {
        "rows": [
            {
                "series": 20,
                "single": side,
                "batch": batched,
                "blocks_ratio": 0.05,
                "cost_ratio": 0.6,
            }
        ],
        "block_time_s": 1,
        "l2_base_fee_wei": 10**7,
        "batch_max": 20,
    }
    text = render(results)
    assert "## 6. Settling a common expiry" in text
    assert "then `fillBatch`, up to 20 a transaction" in text
    assert (
        "| 20 | 20 / 1 | 40 / 2 | 40 / 2 | 288,030 / 223,148 | 20,000 / 12,000 | 5% / 60% |" in text
    )
    assert "## 6." not in render(_results())  # an old file without the section


def test_render_sets_the_batched_queue_sweep_beside_one_call_at_a_time() -> None:
    def cell(ms: float, requests: int) -> dict[str, float | int]:
        return {"ms_median": ms, "ms_min": ms - 1, "ms_max": ms + 1, "requests": requests}

    results = _results()
    results["sweep"] = {
        "rows": [
            {
                "n_vaults": 1000,
                "first": cell(1194.0, 12),
                "later": cell(800.0, 8),
                "slice": {**cell(210.0, 2), "vaults": 250},
                "naive": cell(29651.0, 3000),
                "naive_vs_first": 29651 / 1194,
            }
        ],
        "calls_per_request": 250,
        "slice": 250,
    }
    text = render(results)
    assert "## 7. Queue sweep" in text
    assert "in JSON-RPC batches of 250 calls" in text
    assert (
        "| 1,000 | 1,194 (1,193–1,195) ms, 12 req | 800 (799–801) ms, 8 req "
        "| 210 (209–211) ms, 2 req | 29,651 (29,650–29,652) ms, 3,000 req | 24.8× |"
    ) in text
    assert "## 7." not in render(_results())  # an old file without the section
