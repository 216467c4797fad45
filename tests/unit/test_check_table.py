"""``keeper check``'s table says why a vault inside its band acts: its time trigger."""

from __future__ import annotations

import dataclasses
import json

import pytest

from keeper.commands.check import format_table, json_report
from keeper.strategy.types import VaultDecision, Wad
from tests.unit.test_app_cycle import dummy_result

WAD = 10**18
VAULT = "0x" + "44" * 20


def _decision(vault: str, deviation: int, act: bool = True) -> VaultDecision:
    return VaultDecision(
        vault=vault,
        act=act,
        reason="costaware: risk reduction exceeds cost",
        deviation=Wad(deviation),
        band=Wad(2 * WAD),
        trade=Wad(-deviation if act else 0),
        benefit_usd=1.0,
        cost_usd=0.5,
    )


def test_a_vault_inside_its_band_that_acts_is_said_to_act_on_its_time_trigger() -> None:
    """An operator saw ACT at dev/band 0.66 with no cause: the vault's own rule acts inside the
    band only when ``maxInterval`` has passed since its last rebalance (``RebalanceRules.plan``),
    so an act inside it is the time trigger."""
    inside, outside, on_edge = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
    result = dataclasses.replace(
        dummy_result(),
        decisions=(
            _decision(inside, -13 * WAD // 10),
            _decision(outside, 3 * WAD),
            _decision(on_edge, 2 * WAD),  # the band is strict: on its edge is inside
        ),
    )
    text = format_table(result, "costaware")
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("0x")}
    assert "ACT (time)" in rows[inside[:10] + "…"]
    assert "ACT (time)" in rows[on_edge[:10] + "…"]
    assert "ACT (time)" not in rows[outside[:10] + "…"]
    reasons = {
        line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("  0x")
    }
    assert "time trigger" in reasons[inside]
    assert "maxInterval" in reasons[inside]
    assert "time trigger" not in reasons[outside]


def test_the_header_counts_one_vault_in_the_singular() -> None:
    one = format_table(dataclasses.replace(dummy_result(), vaults=1), "band").splitlines()[0]
    two = format_table(dataclasses.replace(dummy_result(), vaults=2), "band").splitlines()[0]
    assert "  1 vault  " in one
    assert "  2 vaults  " in two


def test_the_decision_log_names_the_trigger_an_acting_vault_trades_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``keeper run``'s decision lines say it too: ``trigger=time`` inside the band."""
    from keeper.app.act import log_decisions
    from keeper.strategy.types import RebalancePlan, VaultView
    from tests.unit.test_app_cycle import make_keeper, snap

    decisions = (
        _decision("0x" + "11" * 20, -13 * WAD // 10),
        _decision("0x" + "22" * 20, 3 * WAD),
        _decision("0x" + "33" * 20, WAD, act=False),
    )
    views = [
        VaultView(
            d.vault,
            Wad(d.deviation),
            Wad(0),
            Wad(2 * WAD),
            Wad(WAD),
            0,
            0,
            86_400,
            3000.0,
            0.0,
            0.8,
            1.0,
            True,
        )
        for d in decisions
    ]
    plan = RebalancePlan(decisions, (), 0.0, 0.0, 0.0)
    with caplog.at_level("INFO", logger="keeper.decisions"):
        log_decisions(make_keeper([snap(0, 0)]), plan, views, 7)
    fields = [r.fields for r in caplog.records if hasattr(r, "fields")]
    assert [f["trigger"] for f in fields] == ["time", "band", "none"]


def test_the_table_lists_the_settlements_and_queue_fills_the_cycle_would_send() -> None:
    """A dry run's settlements and queue fills are in the table, not only in info-level logs."""
    from keeper.app.settle import Settlement

    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20
    result = dataclasses.replace(
        dummy_result(),
        settlements=(
            Settlement(a, 3, 12, "simulated"),
            Settlement(b, 4, None, "waiting", "no oracle round at or after its expiry yet"),
        ),
        queue_fills=(b,),
    )
    lines = format_table(result, "band").splitlines()
    assert "settlements: 2 expired series" in lines
    assert f"  series 3 of {a}: would settle at round 12" in lines
    assert f"  series 4 of {b}: waiting: no oracle round at or after its expiry yet" in lines
    assert f"queue fills: would fill the redemption queue of {b}" in lines
    # With none, the table says so, as rehearse's "... on the fork: none" (it printed no line,
    # as if the cycle had not looked); --json has both keys either way.
    quiet = format_table(dummy_result(), "band").splitlines()
    assert "settlements: none" in quiet
    assert "queue fills: none" in quiet
    body = json.loads(json.dumps(json_report(dummy_result(), "band"), default=str))
    assert (body["settlements"], body["queue_fills"]) == ([], [])


def test_check_json_has_the_tables_facts_the_trigger_and_why_nothing_was_simulated() -> None:
    """``keeper check --json`` said neither ACT (time) nor "(not simulated: ...)", which the table
    says: a script could not tell a vault acting on its time trigger, or why no batch was
    simulated, without re-deriving the contract's rule and the settings."""

    inside, outside, idle = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
    result = dataclasses.replace(
        dummy_result(),
        decisions=(
            _decision(inside, -13 * WAD // 10),
            _decision(outside, 3 * WAD),
            _decision(idle, WAD, act=False),
        ),
        planned=(inside, outside),
        simulated=(),
        dropped={},
    )
    body = json_report(result, "costaware", batcher="0x" + "44" * 20)
    triggers = {d["vault"]: d["trigger"] for d in body["decisions"]}
    assert triggers == {inside: "time", outside: "band", idle: "none"}
    assert body["policy"] == "costaware"
    assert body["not_simulated"] == "no signer and no KEEPER_SIMULATE_FROM"
    assert json_report(result, "costaware", batcher=None)["not_simulated"] == (
        "no batcher configured: KEEPER_BATCHER or 'batcher' in --addresses"
    )
    simulated = dataclasses.replace(result, simulated=(inside, outside))
    assert json_report(simulated, "costaware", batcher="0x" + "44" * 20)["not_simulated"] is None
    text = format_table(result, "costaware", batcher="0x" + "44" * 20)
    assert f"(not simulated: {body['not_simulated']})" in text


def test_the_costs_line_names_the_swaps_fee_and_impact_and_the_depth_it_implies() -> None:
    """The swap's fee tier and price impact now come from the pool the lens reads: the table
    says which it priced, with the depth that impact means, as the JSON's costs do."""
    result = dummy_result()
    result = dataclasses.replace(
        result,
        # no pool's own figures (both pinned, or none read): the cycle's one pair
        costs=dataclasses.replace(
            result.costs, pool_fee_bps=5.0, impact_coef=1 / 60e6, pool_terms={}
        ),
    )
    costs = format_table(result, "band").splitlines()[1]
    assert "swap fee 5 bps" in costs, costs
    assert "impact 1.67e-08/USD (a pool $60.0M deep)" in costs, costs
    pinned = format_table(result, "band", pinned=("fee", "impact")).splitlines()[1]
    assert "swap fee 5 bps (KEEPER_POOL_FEE_BPS)" in pinned, pinned
    assert "deep, KEEPER_IMPACT_COEF)" in pinned, pinned


def test_the_costs_line_shows_the_pools_read_even_with_no_vault_ready() -> None:
    """With no vault ready the cycle's one pair is the defaults (5 bps, 2e-9): the line printed
    them as "a pool $500.0M deep" on a devnet whose pool is $60M deep (helper-136's walk-through).
    Each vault is priced at its own pool's figures, which the lens read: the line says those."""
    from keeper.strategy.types import PoolTerms

    result = dummy_result()
    one = dataclasses.replace(
        result.costs, pool_fee_bps=5.0, impact_coef=2e-9, pool_terms={7: PoolTerms(30.0, 1 / 60e6)}
    )
    costs = format_table(dataclasses.replace(result, costs=one), "band").splitlines()[1]
    assert "swap fee 30 bps" in costs, costs
    assert "impact 1.67e-08/USD (a pool $60.0M deep)" in costs, costs
    assert "500.0M" not in costs, costs

    two = dataclasses.replace(
        one, pool_terms={7: PoolTerms(30.0, 1 / 60e6), 9: PoolTerms(5.0, 1 / 100e6)}
    )
    costs = format_table(dataclasses.replace(result, costs=two), "band").splitlines()[1]
    assert "each vault at its pool's: swap fee 5 to 30 bps" in costs, costs
    assert "(pools $60.0M to $100.0M deep)" in costs, costs

    # two pool keys on one venue (oracle answers that differ): one pool's figures, said once
    same = dataclasses.replace(
        one, pool_terms={7: PoolTerms(30.0, 1 / 60e6)} | {9: PoolTerms(30.0, 1 / 60e6)}
    )
    costs = format_table(dataclasses.replace(result, costs=same), "band").splitlines()[1]
    assert "swap fee 30 bps, impact 1.67e-08/USD (a pool $60.0M deep)" in costs, costs


def test_the_table_says_what_its_columns_count() -> None:
    """The columns printed -1.2794 and 0.5000 with no unit: a delta in WETH, a band in WETH,
    the dollars of benefit and cost; the README said so, the table did not."""
    text = format_table(
        dataclasses.replace(dummy_result(), decisions=(_decision(VAULT, WAD),)), "band"
    )
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(VAULT[:10]))
    assert lines[row + 1].startswith("deviation, band, trade: the vault's net delta, in whole")
    assert "underlying" in lines[row + 1]
    assert lines[row + 1].endswith("benefit$, cost$: USD")
