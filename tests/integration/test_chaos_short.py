"""The short chaos suite (``python -m bench.chaos --quick``) against a real ``keeper run``.

One run (a few minutes) feeds every test here. The plain tests are invariants that hold today
and must never regress: no duplicate rebalance and no nonce gap, whatever the faults, kills and
fee spikes. The tests under "targets" are the fault-tolerance targets of issue 14 (they were
strict xfails until the keeper met them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("baseline", "faults", "sigkill", "fee_spike")


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the quick suite once, as ``make chaos CHAOS_ARGS=--quick`` would."""
    where = tmp_path_factory.mktemp("chaos")
    out = where / "chaos.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--quick",
            "--out",
            str(out),
            "--workdir",
            str(where),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_report_has_the_issue_keys(chaos: dict[str, Any]) -> None:
    for name in ("baseline", "faults"):
        s = chaos[name]
        for key in ("cycles", "exits", "breaker_halts", "duplicate_rebalances", "nonce_gaps"):
            assert isinstance(s[key], int), (name, key)
        assert isinstance(s["orphan_intents"], int)
        assert set(s["blocks_to_rebalance"]) == {"median", "p90", "max"}
    assert {"kills", "nonce_gaps", "duplicates", "stale_rebroadcasts_mined"} <= set(
        chaos["sigkill"]
    )
    assert {"halts", "alerts", "blocks_after_fee_fell"} <= set(chaos["fee_spike"])


def test_the_suite_did_what_it_says(chaos: dict[str, Any]) -> None:
    """Guards against a harness that measures nothing: faults were injected, kills landed."""
    faults = chaos["faults"]
    assert faults["faulted"] > 0
    assert all(n > 0 for n in faults["faults_by_kind"].values()), faults["faults_by_kind"]
    assert chaos["baseline"]["faulted"] == 0
    assert chaos["baseline"]["needs_served"] > 0
    assert chaos["sigkill"]["kills"] == chaos["meta"]["kills"]
    assert chaos["fee_spike"]["max_base_fee_gwei"] > chaos["fee_spike"]["fee_cap_gwei"]


def test_baseline_runs_without_an_exit(chaos: dict[str, Any]) -> None:
    assert chaos["baseline"]["exits"] == 0, chaos["baseline"]["exit_reasons"]


@pytest.mark.parametrize("section", SECTIONS)
def test_no_duplicate_rebalance(chaos: dict[str, Any], section: str) -> None:
    assert chaos[section]["duplicate_rebalances"] == 0


@pytest.mark.parametrize("section", SECTIONS)
def test_no_nonce_gap(chaos: dict[str, Any], section: str) -> None:
    assert chaos[section]["nonce_gaps"] == 0


# ----------------------------------------------------------------------------- targets


def test_no_keeper_exit_under_faults(chaos: dict[str, Any]) -> None:
    faults = chaos["faults"]
    assert faults["exits"] == 0, faults["exit_reasons"]
    assert faults["breaker_halts"] == 0


def test_reaction_under_faults(chaos: dict[str, Any]) -> None:
    # The issue's targets: median <= 2 and p90 <= 4 blocks from a band exit to the rebalance.
    # Since the market moves the oracle and the pool in one block (docs/chaos.md), every block
    # counted is the keeper's: quick runs measure 1 / 2 under faults, 1 / 2 with the unit suite
    # running beside them. Before, half the needs waited 3-4 blocks on the harness's arbitrage
    # and the median was a coin toss between 1 and 3.
    btr = chaos["faults"]["blocks_to_rebalance"]
    assert chaos["faults"]["needs_served"] >= 10
    assert btr["median"] is not None
    assert btr["median"] <= 2


def test_reaction_tail_under_faults_is_consistent_with_the_p90_target(
    chaos: dict[str, Any],
) -> None:
    """p90 <= 4 blocks means at most 10% of needs take 5 or more. The full `make chaos` measures
    the p90 over ~230 needs; this run serves ~20, where the nearest-rank p90 fails on two slow
    needs. At the full run's tail (10 of 231 needs at >= 5 blocks) that was one run in five
    (ci_clone72). So the short run tests the target as a hypothesis: it fails when so many needs
    are slow that a keeper meeting the target (10% slow) would show that many less than once in
    100 runs. At the full run's tail that is about one run in 10,000."""
    from bench.chaos.measure import binomial_tail

    faults = chaos["faults"]
    counts = {int(b): c for b, c in faults["blocks_to_rebalance_histogram"].items()}
    served = sum(counts.values())
    slow = sum(c for b, c in counts.items() if b > 4)
    assert served == faults["needs_served"] >= 10
    assert binomial_tail(slow, served, 0.10) >= 0.01, (slow, served, counts)


def test_no_orphan_intents(chaos: dict[str, Any]) -> None:
    assert {s: chaos[s]["orphan_intents"] for s in SECTIONS} == dict.fromkeys(SECTIONS, 0)


def test_fee_spike_waits_alerts_and_lands(chaos: dict[str, Any]) -> None:
    spike = chaos["fee_spike"]
    assert spike["halts"] == 0
    assert spike["exits"] == 0
    assert spike["alerts"] == 1
    assert spike["blocks_after_fee_fell"] is not None
    assert spike["blocks_after_fee_fell"] <= 3
