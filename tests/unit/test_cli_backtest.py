from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from keeper.cli import main


def _code(argv: list[str]) -> int:
    """``main``'s exit code, a usage error's ``SystemExit`` (code 2) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


SMALL = ["backtest", "--paths", "300", "--steps", "60", "--seed", "3", "--no-progress"]
FIELDS = {
    "policy",
    "hedge_cost_mean",
    "hedge_cost_std",
    "ratio_std_to_price",
    "error_std",
    "trading_cost_mean",
    "rebalances_mean",
}


def test_backtest_json_has_the_issue_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    args = [*SMALL, "--policy", "time:every=4", "--policy", "band:width=0.05", "--json", str(out)]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert doc["bs_price"] > 0
    assert [r["policy"] for r in doc["results"]] == ["time:every=4", "band:width=0.05"]
    for r in doc["results"]:
        assert set(r) == FIELDS
        assert r["ratio_std_to_price"] == pytest.approx(
            r["hedge_cost_std"] / (doc["bs_price"] * 100.0)
        )
    assert "time:every=4" in capsys.readouterr().out
    # Same seed, same numbers.
    out2 = tmp_path / "again.json"
    assert main([*args[:-1], str(out2)]) == 0
    assert json.loads(out2.read_text())["results"] == doc["results"]


def _strict_json(text: str) -> Any:
    """Parse as a strict JSON parser (JavaScript's, jq) does: no NaN or Infinity."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_worthless_option_has_no_std_to_price_ratio_and_the_json_stays_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --vol 0 at the money with no drift: the option is worth 0, so std / price is undefined.
    out = tmp_path / "v0.json"
    assert main([*SMALL, "--vol", "0", "--json", str(out)]) == 0
    doc = _strict_json(out.read_text())
    assert doc["bs_price"] == 0
    assert [r["ratio_std_to_price"] for r in doc["results"]] == [None, None]
    table = capsys.readouterr().out.splitlines()
    row = next(line for line in table if line.startswith("time:every=1"))
    assert row.split()[3] == "-"
    assert "inf" not in "\n".join(table)


def test_backtest_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--costs", "l2", "--accounting", "discounted", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inputs"]["costs"]["pool_fee_bps"] == 5.0
    assert all(r["trading_cost_mean"] > 0 for r in doc["results"])


def test_backtest_frontier_and_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "f.json", tmp_path / "f.png"
    args = [*SMALL, "--costs", "l2", "--frontier", "--families", "time,band,costaware"]
    assert main([*args, "--json", str(out), "--plot", str(png)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["frontier"]) == {"time", "band", "costaware"}
    for pts in doc["frontier"].values():
        assert {"param", "error_std", "trading_cost_mean", "rebalances_mean"} <= set(pts[0])
        costs = [p["trading_cost_mean"] for p in pts]
        assert costs == sorted(costs)
    cmp = doc["comparison"]
    assert cmp["opening_hedge_cost_mean"] > 0
    assert set(cmp["total"]["summary"]) <= {"time", "band"}
    assert cmp["excluding_opening_hedge"]["offset"] == cmp["opening_hedge_cost_mean"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_models(tmp_path: Path) -> None:
    assert (
        main(
            [
                *SMALL,
                "--model",
                "merton",
                "--jump-intensity",
                "10",
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    csv = tmp_path / "r.csv"
    csv.write_text(
        "timestamp,price\n" + "\n".join(f"{i * 3600},{3000 + (i % 7)}" for i in range(24 * 20))
    )
    assert (
        main(
            [
                "backtest",
                "--steps",
                "60",
                "--no-progress",
                "--model",
                "historical",
                "--csv",
                str(csv),
                "--maturity",
                "0.0137",
                "--json",
                str(tmp_path / "h.json"),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["inputs"]["paths"] >= 3
    assert doc["inputs"]["model"] == "historical"
    assert doc["inputs"]["seed"] is None  # the CSV's windows: nothing drawn
    assert doc["inputs"]["drift"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "band:width=-1"], "width must be a positive"),
        (["--spot", "0"], "--spot must be a positive"),
        (["--families", "time,nope", "--frontier"], "unknown --families"),
        (["--costs", "l2", "--pool-fee-bps", "-1"], "--pool-fee-bps must be a finite number >= 0"),
        # A fee above 100% of the notional (KEEPER_POOL_FEE_BPS refuses it too) is a typo.
        (
            ["--costs", "l2", "--pool-fee-bps", "20000"],
            "--pool-fee-bps must be at most 10000 (100%), got 20000.0",
        ),
        (
            ["--costs", "l2", "--gas-fixed", "-5"],
            "--gas-fixed must be a finite number >= 0, got -5",
        ),
        (["--costs", "l2", "--eth-usd", "nan"], "--eth-usd must be a finite number > 0, got nan"),
        # an ETH price of 0 priced all gas at 0 USD (as KEEPER_ETH_USD, it must be > 0)
        (["--costs", "l2", "--eth-usd", "0"], "--eth-usd must be a finite number > 0, got 0.0"),
        (["--cap", "-5"], "--cap must be a positive number, got -5.0"),
        (["--cap", "nan"], "--cap must be a positive number, got nan"),
        (["--drift", "nan"], "--drift must be a finite number, got nan"),
        (["--drift=-inf"], "--drift must be a finite number, got -inf"),
        (["--rate", "inf"], "--rate must be a finite number, got inf"),
        (["--model", "merton", "--jump-mean", "nan"], "--jump-mean must be a finite number"),
        (["--model", "merton", "--jump-std", "nan"], "--jump-std must be a finite number >= 0"),
        (["--model", "merton", "--jump-std", "-1"], "--jump-std must be a finite number >= 0"),
        (
            ["--model", "merton", "--jump-intensity", "nan"],
            "--jump-intensity must be a finite number >= 0",
        ),
        (["--vault-band", "0"], "--vault-band must be a positive number of underlying, got 0.0"),
        (["--vault-band", "nan"], "--vault-band must be a positive number of underlying"),
        (["--vault-bands", "1"], "--vault-bands applies only with --frontier"),
        # A flag of another model, forecast or mode would be silently ignored: refused instead.
        (["--csv", "rounds.csv"], "--csv applies only with --model historical"),
        (["--jump-intensity", "10"], "--jump-intensity applies only with --model merton"),
        (["--jump-mean", "-0.1"], "--jump-mean applies only with --model merton"),
        (["--jump-std", "0.2"], "--jump-std applies only with --model merton"),
        (["--ewma-lambda", "0.9"], "--ewma-lambda applies only with --forecast ewma"),
        (["--families", "time"], "--families applies only with --frontier"),
        (["--frontier", "--vault-bands", "a,1"], "--vault-bands must be a comma list of numbers"),
        (["--frontier", "--vault-bands", "1,-2"], "--vault-bands must be positive numbers"),
        (["--frontier", "--vault-bands", ","], "--vault-bands must be positive numbers"),
        (["--vault-max-trade", "1"], "--vault-max-trade applies only with --vault-band"),
        (["--vault-max-interval", "60"], "--vault-max-interval applies only with --vault-band"),
        (
            ["--vault-band", "1", "--vault-max-trade", "0"],
            "--vault-max-trade must be a positive number, got 0.0",
        ),
        (
            ["--vault-band", "1", "--vault-max-interval", "inf"],
            "--vault-max-interval must be a positive number, got inf",
        ),
        (["--vault-min-interval", "60"], "--vault-min-interval applies only with --vault-band"),
        (
            ["--vault-band", "1", "--vault-min-interval", "-1"],
            "--vault-min-interval must be a number of seconds >= 0, got -1.0",
        ),
        (
            ["--vault-band", "1", "--vault-max-interval", "60", "--vault-min-interval", "61"],
            "--vault-min-interval (61) must not pass --vault-max-interval (60)",
        ),
    ],
)
def test_bad_input_is_one_clear_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A flag may be given once: a case that sets SMALL's own --seed leaves SMALL's out.
    base = [a for a in SMALL if a not in ("--seed", "3")] if "--seed" in extra else SMALL
    assert _code([*base, *extra]) == 2  # a usage error: what was typed is wrong
    err = capsys.readouterr().err.strip()
    assert err.startswith("keeper: error:")
    assert message in err
    assert "\n" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--model historical needs --csv FILE"),
        # A historical run's paths are its CSV's windows: these changed nothing, and the JSON
        # echoed them as if used.
        (["--csv", "r.csv", "--paths", "7"], "--paths applies only with --model gbm or merton"),
        (["--csv", "r.csv", "--seed", "9"], "--seed applies only with --model gbm or merton"),
        (["--csv", "r.csv", "--drift", "0.5"], "--drift applies only with --model gbm or merton"),
    ],
)
def test_a_historical_run_refuses_what_it_would_ignore(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["backtest", "--no-progress", "--model", "historical", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"keeper: error: {message}")
    assert "\n" not in captured.err.strip()


@pytest.mark.parametrize(
    "extra", [["--drift", "10000"], ["--contracts", "1e300"]], ids=["drift", "contracts"]
)
def test_a_run_whose_numbers_overflow_is_one_line_not_nan_or_invalid_json(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Finite inputs that overflow floating point printed nan/inf with exit 0, numpy's
    # RuntimeWarnings on stderr, and --json - wrote NaN, which is not JSON.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*SMALL, *extra, "--json", "-"]) == 1
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 1  # --json -: the error as JSON on stdout too
    assert err.startswith("keeper: error: the results are not finite numbers")
    assert "\n" not in err.strip()


def test_a_degenerate_run_prints_no_numpy_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    # --vol 0 is accepted (the option is worth its intrinsic value); the frontier's ww policy
    # divided by its zero gamma and numpy's RuntimeWarning, with a source line, reached stderr.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*SMALL, "--vol", "0", "--frontier", "--families", "ww"]) == 0
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []


def test_backtest_help_explains_policies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backtest", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("costaware:risk_aversion", "--frontier", "--costs", "Whalley-Wilmott"):
        assert word in text
    flat = " ".join(text.split())
    assert "--costs {none,l2} trading costs (default: none)" in flat
    assert "the cost flags below apply only with --costs l2" in flat
    assert "cap: the auto horizon's longest, default 604800 s (7 days)" in flat


def test_progress_bar_draws_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL[:-1], "--progress", "--policy", "time:every=1"]) == 0
    err = capsys.readouterr().err
    assert "\rbacktest [" in err
    assert "100%" in err


def test_a_long_run_into_a_log_prints_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Not on a terminal (a log, CI, a pipe) a long run printed nothing for minutes: the bar was
    drawn only on a TTY. It now prints a plain line every 10%, with no carriage return."""
    args = ["backtest", "--paths", "5000", "--steps", "500", "--seed", "3"]
    assert main([*args, "--policy", "time:every=1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [x for x in err.splitlines() if x.startswith("backtest ")]
    assert lines[-1].split()[1] == "100%"
    assert 2 <= len(lines) <= 11
    assert [int(x.split()[1].rstrip("%")) for x in lines] == sorted(
        int(x.split()[1].rstrip("%")) for x in lines
    )


def test_a_short_run_into_a_log_prints_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL[:-1], "--policy", "time:every=1"]) == 0
    assert capsys.readouterr().err == ""


KEEPER = Path(sys.executable).with_name("keeper")


def keeper(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``keeper`` script (falls back to ``python -m keeper.cli``)."""
    cmd = [str(KEEPER)] if KEEPER.exists() else [sys.executable, "-m", "keeper.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--paths", "abc"], "argument --paths: must be a whole number >= 1, got 'abc'"),
        (["--vol", "high"], "argument --vol: invalid float value: 'high'"),
        (["--model", "heston"], "argument --model: invalid choice: 'heston'"),
        (["--steps"], "argument --steps: expected one argument"),
        # An unknown flag is the top-level parser's to report; it still points at this
        # command's --help, where the right flag is (it pointed at 'keeper --help').
        (["--policies", "band"], "unrecognized arguments: --policies band"),
    ],
)
def test_a_bad_flag_value_is_one_line_not_the_usage(extra: list[str], message: str) -> None:
    proc = keeper("backtest", *extra)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert err.startswith(f"keeper: error: {message}")
    assert err.endswith("(see 'keeper backtest --help')")
    assert "usage:" not in err
    assert proc.stdout == ""


def test_a_run_too_big_for_memory_is_refused_before_allocating() -> None:
    proc = keeper("backtest", "--paths", "1000000000", "--no-progress")
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert err.startswith("keeper: error: 1,000,000,000 paths x 720 steps x 2 policies need about ")
    assert "TiB of memory, more than the limit of " in err
    assert "half the available memory" in err
    assert "MemoryError" not in proc.stderr


def test_max_memory_sets_the_limit(tmp_path: Path) -> None:
    proc = keeper("backtest", "--paths", "20000", "--steps", "50", "--max-memory", "0.05")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "more than the limit of 51.2 MiB (--max-memory 0.05)" in proc.stderr
    # The swept policies count: 20,000 paths fit for the 2 default policies, not 2 + 67 swept.
    args = ["--paths", "20000", "--steps", "5", "--max-memory", "0.17", "--no-progress"]
    ok = keeper("backtest", *args, "--json", str(tmp_path / "ok.json"))
    assert ok.returncode == 0, ok.stderr
    big = keeper("backtest", *args, "--costs", "l2", "--frontier")
    assert big.returncode == 1
    assert "x 69 policies need about" in big.stderr  # the 2 defaults and the 67 swept


def test_an_allocation_that_fails_anyway_is_one_line() -> None:
    # A limit raised past the machine: numpy cannot allocate 8 PB and says so at once.
    proc = keeper("backtest", "--paths", "1000000000000", "--max-memory", "1e9", "--no-progress")
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert err.startswith("keeper: error: out of memory for 1,000,000,000,000 paths x 720 steps (")
    assert err.endswith("use fewer --paths or --steps")


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_max_memory_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _code([*SMALL, "--max-memory", value]) == 2
    assert "--max-memory must be a positive number of GiB" in capsys.readouterr().err


def test_historical_runs_are_sized_by_their_windows(tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("timestamp,price\n" + "\n".join(f"{i * 60},{3000 + i % 5}" for i in range(2000)))
    proc = keeper(
        "backtest", "--model", "historical", "--csv", str(csv), "--maturity", "0.0001",
        "--steps", "2000000", "--max-memory", "0.5",
    )  # fmt: skip
    assert proc.returncode == 1
    assert "keeper: error: 38 paths x 2,000,000 steps x 2 policies need about" in proc.stderr


def test_frontier_table_lists_every_swept_policy(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*SMALL, "--costs", "l2", "--frontier", "--families", "time,band,costaware"]
    assert main([*args, "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # No --policy: the default policies' rows, as without --frontier, then the swept ones.
    assert [r["policy"] for r in doc["results"]] == ["time:every=1", "band:width=0.05"]
    table = lines.index(next(line for line in lines if line.startswith("policy ")))
    assert [line.split()[0] for line in lines[table + 1 : table + 3]] == [
        "time:every=1",
        "band:width=0.05",
    ]
    head = next(i for i, line in enumerate(lines) if line.startswith("frontier: "))
    assert lines[head].startswith(f"frontier: {sum(map(len, doc['frontier'].values()))} swept")
    rows = [line for line in lines[head + 2 :] if line[2:].split(":")[0] in doc["frontier"]]
    specs = [p["policy"] for fam in ("time", "band", "costaware") for p in doc["frontier"][fam]]
    shown = [row[2:].split()[0] for row in rows]
    assert len(shown) == len(specs)
    for row, spec in zip(shown, specs, strict=True):
        # Each parameter to 4 significant digits (a geometric sweep's width was printed in 17);
        # the JSON keeps the exact spec.
        assert row.split(":")[0] == spec.split(":")[0]
        for short, exact in zip(row.split(","), spec.split(","), strict=True):
            assert short.split("=")[0] == exact.split("=")[0]
            value = float(exact.split("=")[1])
            want = str(int(value)) if value.is_integer() else f"{value:.4g}"
            assert short.split("=")[1] == want
        assert len(row) <= len(spec)
    assert any(len(row) < len(spec) for row, spec in zip(shown, specs, strict=True))
    assert all(row[0] in "* " for row in rows)
    assert sum(row[0] == "*" for row in rows) >= 3
    assert "costaware vs best time at equal error std: median cost reduction" in out


def test_a_frontier_without_costs_says_it_compares_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # With --costs none every point costs 0, none is efficient, and the comparison said "no
    # error std that both frontiers reach", as if the sweep had been too narrow.
    assert main([*SMALL, "--frontier", "--families", "time,costaware"]) == 0
    out = capsys.readouterr().out
    assert "no error std that both frontiers reach" not in out
    assert (
        "costaware vs the other families: no comparison at --costs none (every policy trades "
        "for free); add --costs l2"
    ) in out


def test_frontier_without_costaware_prints_no_comparison(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*SMALL, "--frontier", "--families", "time,band"]) == 0
    out = capsys.readouterr().out
    assert "time:every=1 " in out
    assert "band:width=0.3 " in out
    assert "costaware vs" not in out


@pytest.mark.parametrize(
    ("argv", "message", "prog"),
    [
        (["backtest", "--pathz", "3"], "unrecognized arguments: --pathz 3", "keeper backtest"),
        (
            ["vault", "info", "--vault", "0x" + "11" * 20, "--x"],
            "unrecognized",
            "keeper vault info",
        ),
        (["--bogus"], "unrecognized arguments: --bogus", "keeper"),
        (
            ["run", "--max-cycles", "abc"],
            "argument --max-cycles: must be a whole number >= 1",
            "keeper run",
        ),
        (["nosuchcommand"], "argument COMMAND: invalid choice: 'nosuchcommand'", "keeper"),
    ],
)
def test_every_command_reports_argument_errors_in_one_line(
    argv: list[str], message: str, prog: str
) -> None:
    proc = keeper(*argv)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert err.startswith(f"keeper: error: {message}")
    assert err.endswith(f"(see '{prog} --help')")


def test_gas_direct_prices_each_backtested_rebalance(capsys: pytest.CaptureFixture[str]) -> None:
    # --gas-direct is what a lone vault's own rebalance costs; 0 prices it as a batch of one.
    free = ["--costs", "l2", "--pool-fee-bps", "0", "--impact-coef", "0", "--eth-usd", "3000"]
    base = [*SMALL, "--policy", "time:every=1", *free, "--gas-price-gwei", "1", "--json", "-"]

    def cost(*extra: str) -> dict[str, float]:
        assert main([*base, *extra]) == 0
        doc = json.loads(capsys.readouterr().out)
        r = doc["results"][0]
        return {"per": r["trading_cost_mean"] / r["rebalances_mean"], **doc["inputs"]["costs"]}

    direct = cost("--gas-direct", "200000", "--l1-fee-direct-wei", "0")
    assert direct["per"] == pytest.approx(200_000 * 1e9 * 3000 / 1e18)
    assert direct["gas_direct"] == 200_000
    batch = cost(
        "--gas-direct", "0", "--gas-fixed", "1", "--gas-per-vault", "2", "--gas-swap", "3",
        "--l1-fee-wei", "0",
    )  # fmt: skip
    assert batch["per"] == pytest.approx(6 * 1e9 * 3000 / 1e18)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        # The default --gas-direct prices a rebalance as the vault's own transaction: the batch
        # flags changed nothing (--gas-fixed 5,000,000 gave the same trading cost to the cent).
        (["--gas-fixed", "5000000"], "--gas-fixed applies only with --gas-direct 0"),
        (
            ["--gas-swap", "1", "--gas-per-vault", "1", "--l1-fee-wei", "1"],
            "--gas-per-vault, --gas-swap, --l1-fee-wei apply only with --gas-direct 0",
        ),
        (
            ["--gas-direct", "0", "--l1-fee-direct-wei", "1"],
            "--l1-fee-direct-wei applies only with --gas-direct above 0",
        ),
    ],
)
def test_a_cost_flag_the_gas_direct_choice_ignores_is_refused(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code([*SMALL, "--costs", "l2", *flags, "--json", "-"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["exit_code"] == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"keeper: error: {named}")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # round(1e300 * 1e9) raised OverflowError: a traceback.
        (["--costs", "l2", "--gas-price-gwei", "1e300"], "--gas-price-gwei is too large"),
        # No family left: an IndexError after the whole run.
        (["--frontier", "--families", " , "], "--families names no family"),
    ],
)
def test_more_bad_input_is_one_clear_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code([*SMALL, *extra, "--json", "-"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["exit_code"] == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"keeper: error: {message}")


def test_a_plot_without_matplotlib_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # matplotlib is the optional devnet extra: without it the whole run ran, wrote the JSON and
    # then died in a ModuleNotFoundError traceback.
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out, png = tmp_path / "bt.json", tmp_path / "bt.png"
    assert main([*SMALL, "--json", str(out), "--plot", str(png)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("keeper: error: --plot needs matplotlib")
    assert not out.exists()
    assert not png.exists()


def test_outputs_in_a_missing_directory_are_created(tmp_path: Path) -> None:
    # As `keeper demo` does: README's `--json out/bt.json --plot out/bt.png` on a tree with no out/.
    out, png = tmp_path / "out" / "deep" / "bt.json", tmp_path / "charts" / "bt.png"
    assert main([*SMALL, "--json", str(out), "--plot", str(png)]) == 0
    assert json.loads(out.read_text())["results"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _refused_before_the_run(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a backtest refused before it ran (no table printed)."""
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("keeper: error:")
    assert "\n" not in err
    return err


@pytest.mark.parametrize(
    ("flag", "message"),
    [("--json", "cannot create "), ("--plot", "cannot create "), ("--plot", "is a directory")],
)
def test_an_unwritable_output_is_refused_before_the_run(
    flag: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # Named as images: a --plot without a file type is refused first, as a usage error.
    target = tmp_path / "d.png" if message == "is a directory" else blocker / "sub" / "x.png"
    target.mkdir() if message == "is a directory" else None
    assert main([*SMALL, flag, str(target)]) == 1
    assert message in _refused_before_the_run(capsys)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # matplotlib refused it only after the run, with a traceback
        ("bt.foo", "bt.foo: '.foo' is not an image type"),
        # matplotlib would have written bt.png (or -.png), not the file named
        ("bt", "bt has no file type: name it bt.png"),
        ("-", "- has no file type: name it -.png"),
    ],
)
def test_a_plot_matplotlib_cannot_write_as_named_is_refused_before_the_run(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = name if name == "-" else str(tmp_path / name)
    assert _code([*SMALL, "--plot", target]) == 2
    err = _refused_before_the_run(capsys)
    assert err.startswith("keeper: error: --plot ")
    assert message in err
    assert list(tmp_path.iterdir()) == []
    assert not Path("-.png").exists()


def test_an_output_the_user_cannot_write_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    # The tests may run as root, for whom mode bits do not refuse a write: say the dir is read-only.
    monkeypatch.setattr(os, "access", lambda p, m, **kw: Path(p) != ro and real(p, m, **kw))
    assert main([*SMALL, "--json", str(ro / "bt.json")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"cannot write {ro / 'bt.json'}: permission denied" in captured.err


def test_an_output_no_one_can_write_is_refused_before_the_run_even_as_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc takes no new file, whatever the mode bits say (and root passes every os.access
    # check): the whole run ran, printed its table, then failed to write the JSON.
    assert main([*SMALL, "--json", "/proc/bt.json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before the run: no table
    assert captured.err.startswith("keeper: error: cannot write /proc/bt.json: ")


def test_the_write_check_leaves_an_existing_output_and_its_directory_as_they_were(
    tmp_path: Path,
) -> None:
    from keeper.locations import check_writable

    old = tmp_path / "bt.json"
    old.write_text("kept")
    check_writable(old)
    check_writable(tmp_path / "new.json")
    assert old.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt.json"]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["backtest", "demo", "devnet"])
def test_help_descriptions_are_wrapped(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = _help([command], capsys)
    longest = max(text.splitlines(), key=len)
    assert len(longest) <= 100, longest


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["backtest"], "--steps STEPS grid steps over the maturity (default 720)"),
        (["backtest"], "--paths PATHS gbm and merton: Monte Carlo paths (default 10000)"),
        (
            ["backtest"],
            "--seed SEED gbm and merton: random seed, >= 0 (same seed, same paths; default 1)",
        ),
        (["backtest"], "--model {gbm,merton,historical} price path model (default gbm)"),
        (["backtest"], "--no-progress never show progress, bar or lines"),
        (["backtest"], "or each path's EWMA forecast (default model)"),
        (["backtest"], "--costs {none,l2} trading costs (default: none)"),
        (["backtest"], "--option {call,put} option type (default call)"),
        (["backtest"], "--side {short,long} the position's side (default short)"),
        (["backtest"], "--contracts CONTRACTS whole underlying units (default 100)"),
        (["backtest"], "--strike STRIKE strike, USD (default 3000)"),
        (["demo"], "--seed SEED seed of the price path and the flows (default 7)"),
    ],
)
def test_help_gives_the_defaults(
    argv: list[str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shown in " ".join(_help(argv, capsys).split())


@pytest.mark.parametrize(
    ("action", "has", "lacks"),
    [
        (
            "up",
            ["--port PORT", "--vaults VAULTS", "--block-time SECONDS", "keeper devnet up"],
            ["--steps"],
        ),
        (
            "step",
            ["--steps STEPS", "--addresses FILE", "keeper devnet step"],
            ["--port", "--vaults"],
        ),
    ],
)
def test_devnet_actions_have_their_own_help(
    action: str,
    has: list[str],
    lacks: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `keeper devnet up --help` printed every flag of both actions; `devnet step --port 1` was
    # accepted and ignored.
    monkeypatch.setenv("COLUMNS", "100")
    text = " ".join(_help(["devnet", action], capsys).split())
    for flag in has:
        assert flag in text
    for flag in lacks:
        assert flag not in text
    with pytest.raises(SystemExit) as info:
        main(["devnet", "step", "--port", "1"])
    assert info.value.code == 2
    assert "unrecognized arguments: --port" in capsys.readouterr().err


def test_vault_band_bounds_every_listed_policy(capsys: pytest.CaptureFixture[str]) -> None:
    # A vault band wider than any deviation the run reaches: nothing but the opening hedge.
    argv = [*SMALL, "--policy", "time:every=1", "--vault-band", "1e6", "--json", "-"]
    assert main(argv) == 0
    [row] = json.loads(capsys.readouterr().out)["results"]
    assert row["policy"] == "time:every=1@vault_band=1e+06"
    assert row["rebalances_mean"] == 1.0


def test_vault_max_trade_and_interval_bound_the_listed_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # maxTrade keeps the hedge from following the option (a band every deviation leaves, so
    # the time policy trades each step either way); maxInterval lets the time policy trade
    # inside a band no deviation ever leaves.
    def run(*extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
        argv = [*SMALL, "--policy", "time:every=1", *extra, "--json", "-"]
        assert main(argv) == 0
        doc = json.loads(capsys.readouterr().out)
        return doc["results"][0], doc["inputs"]

    free, _ = run("--vault-band", "1e-6")
    capped, inputs = run("--vault-band", "1e-6", "--vault-max-trade", "1e-3")
    assert capped["policy"] == "time:every=1@vault_band=1e-06,max_trade=0.001"
    assert min(capped["rebalances_mean"], free["rebalances_mean"]) > 50
    assert capped["error_std"] > 10 * free["error_std"]
    assert (inputs["vault_max_trade"], inputs["vault_max_interval_s"]) == (1e-3, None)
    idle, _ = run("--vault-band", "1e6")
    timed, inputs = run("--vault-band", "1e6", "--vault-max-interval", "60")
    assert timed["policy"] == "time:every=1@vault_band=1e+06,max_interval=60s"
    assert idle["rebalances_mean"] == 1.0
    assert timed["rebalances_mean"] > 50
    assert inputs["vault_max_interval_s"] == 60.0
    assert inputs["vault_min_interval_s"] == 0.0
    # minInterval: no rebalance sooner than S after the last (the 60 steps are 12 h apart)
    floored, inputs = run("--vault-band", "1e-6", "--vault-min-interval", str(2 * 43_200))
    assert floored["policy"] == "time:every=1@vault_band=1e-06,min_interval=86400s"
    assert inputs["vault_min_interval_s"] == 86_400.0
    # the opening hedge, then at most every 2nd step (a path whose deviation is still inside
    # the 1e-6 band, deep in or out of the money, waits a step longer)
    assert 29.0 < floored["rebalances_mean"] <= 30.0


def test_a_vault_max_trade_changes_only_the_bound_familys_opening_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The opening hedge to subtract was read from the last result, a vault-bound policy whose
    # opening maxTrade caps: the unbound families' "excluding the opening hedge" comparison
    # then moved with a flag that does not bind them.
    args = [*SMALL, "--costs", "l2", "--frontier", "--families", "time,band,costaware"]
    args += ["--vault-bands", "1,2", "--json", "-"]

    def comparison(*extra: str) -> dict[str, Any]:
        assert main([*args, *extra]) == 0
        out: dict[str, Any] = json.loads(capsys.readouterr().out)["comparison"]
        return out

    free, capped = comparison(), comparison("--vault-max-trade", "5")
    assert capped["opening_hedge_cost_mean"] == free["opening_hedge_cost_mean"]
    assert capped["excluding_opening_hedge"] == free["excluding_opening_hedge"]
    bound = capped["vault_bound"]["excluding_opening_hedge"]
    assert bound["offset"] == free["opening_hedge_cost_mean"]
    assert bound["target_offset"] < bound["offset"]  # the capped opening buys less


def test_a_vault_max_trade_caps_the_anchors_on_the_same_vaults_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # helper-115: --vault-max-trade capped only costaware@vault, which then paid a capped
    # opening hedge (less price impact) while the time and band it was compared with paid the
    # whole one. The contract caps every keeper's rebalance: the anchors now run on the same
    # vaults (time@vault, band@vault), their opening capped alike.
    args = [*SMALL, "--costs", "l2", "--frontier", "--families", "time,band,costaware"]
    args += ["--vault-bands", "1,2", "--json", "-", "--vault-max-trade", "5"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    front = doc["frontier"]
    n = len(front["costaware"])
    assert len(front["time@vault"]) == len(front["time"])
    assert len(front["band@vault"]) == len(front["band"])
    assert len(front["costaware@vault"]) == 2 * n
    bound = doc["comparison"]["vault_bound"]
    assert bound["total"]["against"] == ["time@vault", "band@vault"]
    assert set(bound["total"]["summary"]) <= {"time@vault", "band@vault"}
    excl = bound["excluding_opening_hedge"]
    assert excl["target_offset"] < excl["offset"]  # the capped opening buys less
    # The anchors' own opening is the capped one too: each costs, excluding it, its total less
    # the target's offset (the unbound anchors less the unbound opening).
    row = excl["points"][0]
    total = bound["total"]["points"][0]
    for fam in ("time@vault", "band@vault"):
        if row[f"{fam}_cost"] is not None and total[f"{fam}_cost"] is not None:
            # (read off the frontier by interpolation: not exactly a constant's shift)
            shifted = total[f"{fam}_cost"] - excl["target_offset"]
            assert row[f"{fam}_cost"] == pytest.approx(shifted, rel=1e-3)
            unbound_shift = total[f"{fam}_cost"] - excl["offset"]
            assert row[f"{fam}_cost"] != pytest.approx(unbound_shift, rel=1e-3)
    # Without a cap there is nothing to run the anchors under.
    assert main([*args[:-2]]) == 0
    assert "time@vault" not in json.loads(capsys.readouterr().out)["frontier"]


def test_frontier_with_vault_bands_reads_off_the_bound_family(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*SMALL, "--costs", "l2", "--frontier", "--families", "time,band,costaware"]
    assert main([*args, "--vault-bands", "0.7,1.4", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    bound = doc["frontier"]["costaware@vault"]
    assert len(bound) == 2 * len(doc["frontier"]["costaware"])
    assert all("@vault_band=" in p["policy"] for p in bound)
    assert doc["inputs"]["vault_band_multiples"] == [0.7, 1.4]
    summary = doc["comparison"]["vault_bound"]["total"]
    assert summary["target"] == "costaware@vault"
    assert set(summary["summary"]) <= {"time", "band"}
    assert main([*args, "--vault-bands", "0.7,1.4"]) == 0
    out = capsys.readouterr().out
    assert "costaware vs best band at equal error std:" in out
    assert "costaware@vault vs best band at equal error std" in out


def test_backtest_help_lists_every_policy_family_the_parser_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `bandedge` (and time's interval=) were accepted and documented in docs/backtest.md, but
    # `keeper backtest --help` did not list them.
    from keeper.strategy.policies import POLICIES

    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    out = capsys.readouterr().out
    for family in POLICIES:
        assert f"\n  {family}:" in out, family
    assert "interval=SECONDS" in out


@pytest.mark.parametrize(
    ("flags", "key", "value"),
    [
        # argparse's int() refused '5e6' ("invalid int value"), though 5e6 gas is a whole number.
        (["--gas-direct", "0", "--gas-fixed", "5e6"], "gas_fixed", 5_000_000),
        (["--gas-direct", "2.5e5"], "gas_direct", 250_000),
        (["--l1-fee-direct-wei", "4e12"], "l1_fee_direct_wei", 4_000_000_000_000),
        (["--gas-direct", "0", "--gas-swap", "110_000"], "gas_swap", 110_000),
    ],
)
def test_whole_number_flags_take_exponents_and_underscores(
    flags: list[str], key: str, value: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--policy", "time:every=5", "--costs", "l2", *flags, "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"]["costs"][key] == value


def test_paths_and_steps_take_exponents(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["backtest", "--paths", "3e2", "--steps", "6e1", "--seed", "3", "--no-progress"]
    assert main([*argv, "--policy", "time:every=5", "--json", "-"]) == 0
    inputs = json.loads(capsys.readouterr().out)["inputs"]
    assert (inputs["paths"], inputs["steps"]) == (300, 60)


@pytest.mark.parametrize("text", ["1.5", "2.5e0", "1e-3", "inf", "nan", "5e6x", "1e400"])
def test_a_whole_number_flag_refuses_what_is_not_one(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*SMALL, "--costs", "l2", "--gas-direct", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"--gas-direct: must be a whole number, got {text!r}" in err[0]


def test_merton_without_jumps_says_it_is_gbm(capsys: pytest.CaptureFixture[str]) -> None:
    # --jump-intensity defaults to 0: --model merton alone drew plain GBM paths, without a word.
    assert main([*SMALL, "--model", "merton", "--policy", "time:every=5", "--json", "-"]) == 0
    err = capsys.readouterr().err
    assert "--model merton with --jump-intensity 0 draws no jumps (GBM paths)" in err
    assert main([*SMALL, "--model", "merton", "--jump-intensity", "2", "--json", "-"]) == 0
    assert "draws no jumps" not in capsys.readouterr().err


def test_a_csv_giving_few_paths_is_cautioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 120 days of hourly rounds cut into 30-day windows: 4 paths, whose means and stds were
    # reported as if from thousands.
    csv = tmp_path / "r.csv"
    rounds = (f"{i * 3600},{3000 + i % 7}" for i in range(2881))
    csv.write_text("timestamp,price\n" + "\n".join(rounds))
    argv = ["backtest", "--model", "historical", "--csv", str(csv), "--steps", "60"]
    assert main([*argv, "--no-progress", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["inputs"]["paths"] == 4
    assert "only 4 paths from the CSV (its 30-day windows)" in captured.err
    # Enough windows: no caution.
    assert main([*argv, "--maturity", str(1 / 365), "--no-progress", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["inputs"]["paths"] == 120
    assert "paths from the CSV" not in captured.err
