from __future__ import annotations

import json
from pathlib import Path

import pytest

from keeper.cli import main

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
                *SMALL,
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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy", "band:width=-1"], "width must be a positive"),
        (["--spot", "0"], "--spot must be a positive"),
        (["--model", "historical"], "needs --csv"),
        (["--families", "time,nope", "--frontier"], "unknown --families"),
        (["--costs", "l2", "--pool-fee-bps", "-1"], "cost inputs"),
    ],
)
def test_bad_input_is_one_clear_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("keeper: error:")
    assert message in err
    assert "\n" not in err


def test_backtest_help_explains_policies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backtest", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("costaware:risk_aversion", "--frontier", "--costs", "Whalley-Wilmott"):
        assert word in text


def test_progress_bar_draws_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL[:-1], "--progress", "--policy", "time:every=1"]) == 0
    err = capsys.readouterr().err
    assert "\rbacktest [" in err
    assert "100%" in err
