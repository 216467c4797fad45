"""``bench/run.py``'s merging of a partial re-run into the saved results (no chain, no timings).

The measuring functions are replaced by stubs that return hand-written rows; what is checked is
what ``run`` keeps, recomputes and writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.cycle
import bench.run
from bench.run import run


def _row(n: int, ours: float, naive: float | None, base: int | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "n_vaults": n,
        "ours_ms_median": ours,
        "ours_ms_min": ours * 0.9,
        "ours_ms_max": ours * 1.1,
        "ours_rpc_requests": 2,
    }
    if naive is not None:
        row.update(
            naive_ms_median=naive,
            naive_ms_min=naive * 0.9,
            naive_ms_max=naive * 1.1,
            naive_rpc_requests=13 * n + 1,
            naive_acting=n,
            runs_naive=2,
            naive_extrapolated_from=base,
            speedup=naive / ours,
        )
    return row


def _machine() -> dict[str, Any]:
    return {"cores": 2, "cpu": "Test CPU", "os": "Linux 6", "load_avg_at_start": [0.1, 0.1, 0.1],
            "date_utc": "2026-12-04 12:00 UTC"}  # fmt: skip


def test_re_measuring_the_base_size_rescales_the_extrapolated_naive_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--only cycle --sizes 1000``: the N=10,000 naive figure is scaled from the new N=1,000."""
    old_1000 = _row(1000, 40.0, 69_000.0)
    old_10k = {
        **_row(10_000, 400.0, 690_000.0, base=1000),
        "naive_acting": None,
        "runs_naive": 0,
        "naive_rpc_requests": 130_010,
    }
    base = {"meta": {"machine": _machine()}, "profiles": {}, "cycle": [old_1000, old_10k]}
    new_1000 = _row(1000, 35.0, 41_000.0)

    def fake_bench_cycle(sizes: list[int], *args: Any, **kw: Any) -> Any:
        assert sizes == [1000]
        return [dict(new_1000, naive_extrapolated_from=None)], {}

    monkeypatch.setattr(bench.cycle, "bench_cycle", fake_bench_cycle)
    monkeypatch.setattr(bench.run, "machine_info", _machine)
    out = run(False, ("cycle",), tmp_path / "r.json", None, base=base, only_sizes=(1000,))

    rows = {r["n_vaults"]: r for r in out["cycle"]}
    assert rows[1000]["naive_ms_median"] == 41_000.0
    big = rows[10_000]
    assert big["naive_extrapolated_from"] == 1000
    assert big["naive_ms_median"] == pytest.approx(410_000.0)
    assert big["naive_ms_min"] == pytest.approx(369_000.0)
    assert big["naive_ms_max"] == pytest.approx(451_000.0)
    assert big["speedup"] == pytest.approx(410_000.0 / 400.0)
    assert big["ours_ms_median"] == 400.0  # ours is kept as measured
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["cycle"][1]["naive_ms_median"] == pytest.approx(410_000.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "cycle", "--sizes", "abc"], "--sizes"),
        (["--only", "cycle", "--sizes", "500"], "500"),  # not a size of the full run
        (["--quick", "--only", "cycle", "--sizes", "1000"], "1000"),  # quick runs 10 and 100
        (["--sizes", "1000"], "--only"),  # without --only the other rows would be dropped
        (["--only", "batch", "--sizes", "1000"], "--only"),
    ],
)
def test_sizes_the_run_cannot_measure_are_refused_before_anything_runs(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_run(*args: Any, **kw: Any) -> Any:
        raise AssertionError("run() must not start")

    monkeypatch.setattr(bench.run, "run", no_run)
    with pytest.raises(SystemExit) as exc:
        bench.run.main([*argv, "--out", "/nonexistent/r.json", "--doc", "/nonexistent/r.md"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_help_says_what_is_written_where_and_how_long_it_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.run.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for needle in (
        "bench/results/latest.json",
        "docs/benchmarks.md",
        "quick.json",
        "about an hour",
    ):
        assert needle in text


def _resize_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: dict[str, Any]) -> Any:
    def fake_bench_cycle(sizes: list[int], *args: Any, **kw: Any) -> Any:
        return [dict(_row(1000, 35.0, 41_000.0), naive_extrapolated_from=None)], {}

    monkeypatch.setattr(bench.cycle, "bench_cycle", fake_bench_cycle)
    monkeypatch.setattr(bench.run, "machine_info", _machine)
    return run(False, ("cycle",), tmp_path / "r.json", None, base=base, only_sizes=(1000,))


def test_re_measuring_one_size_dates_that_size_not_the_whole_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = {"date_utc": "2026-12-02 04:13 UTC", "load_avg": [0.7, 0.9, 0.8]}
    base = {
        "meta": {"machine": _machine(), "section_runs": {"cycle": old}},
        "profiles": {},
        "cycle": [_row(10, 5.0, 400.0), _row(1000, 40.0, 69_000.0)],
    }
    out = _resize_run(tmp_path, monkeypatch, base)
    assert out["meta"]["section_runs"]["cycle"] == old
    assert out["meta"]["cycle_size_runs"]["1000"]["date_utc"] == "2026-12-04 12:00 UTC"
    assert "10" not in out["meta"]["cycle_size_runs"]


def test_a_re_run_names_its_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = {**_machine(), "cpu": "Old CPU", "os": "Linux 5", "date_utc": "2026-11-22 01:00 UTC"}
    base = {
        "meta": {"machine": first},
        "profiles": {},
        "cycle": [_row(10, 5.0, 400.0), _row(1000, 40.0, 69_000.0)],
    }
    out = _resize_run(tmp_path, monkeypatch, base)
    assert out["meta"]["machine"] == first  # the first run's, still
    assert out["meta"]["cycle_size_runs"]["1000"]["machine"] == {
        "cores": 2,
        "cpu": "Test CPU",
        "os": "Linux 6",
    }


def test_the_naive_round_trips_are_extrapolated_as_a_fixed_part_plus_a_part_per_vault() -> None:
    """13 a vault plus 1 a cycle at N=100 and N=1,000: 130,001 at N=10,000 (not 130,010)."""
    measured = [_row(100, 16.0, 7_400.0), _row(1000, 35.0, 41_000.0)]
    big = bench.cycle.extrapolate_naive(_row(10_000, 365.0, None), measured)
    assert big["naive_rpc_requests"] == 130_001
    assert big["naive_ms_median"] == pytest.approx(410_000.0)  # time: scaled from N=1,000
    # with one measured size there is nothing to split: scaled as the times are
    alone = bench.cycle.extrapolate_naive(_row(10_000, 365.0, None), measured[1:])
    assert alone["naive_rpc_requests"] == 130_010
