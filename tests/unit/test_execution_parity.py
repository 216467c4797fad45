"""Parity between the backtester, the planner and what the contracts execute (helper-93)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keeper.app.act import act
from keeper.app.collaborators import Keeper
from keeper.app.cycle import run_cycle
from keeper.backtest import BacktestConfig, OptionSpec, run_backtest
from keeper.backtest.engine import VaultBound
from keeper.backtest.price_paths import PathSet
from keeper.execution.simulate import Simulation
from keeper.settings import CycleConfig
from keeper.strategy import BandPolicy, CostAwarePolicy, RebalancePlan
from keeper.strategy.costs import batch_cost_usd
from keeper.strategy.planner import _select_pools, reselect
from keeper.strategy.policies import Reason
from keeper.strategy.types import CostInputs, VaultDecision
from tests.unit.test_app_cycle import (
    BATCHER,
    WAD,
    FakeSender,
    FixedL1,
    fake_simulation,
    make_keeper,
    snap,
    vault,
)


def _ramp(lo: float, hi: float, steps: int, maturity: float) -> PathSet:
    times = np.linspace(0.0, maturity, steps + 1)
    spots = np.linspace(lo, hi, steps + 1)[None, :]
    return PathSet(times=times, spots=spots, model="gbm")


def test_a_vault_that_never_rebalanced_is_due_on_its_time_trigger_at_once() -> None:
    """On chain, ``lastRebalance == 0`` (a vault that never rebalanced) makes the time trigger
    due at once (``now >= 0 + maxInterval``) and skips ``minInterval`` (``last != 0 && ...``):
    ``OptionVault.t.sol::test_rebalance_TimeTrigger`` ("never rebalanced: time trigger due"),
    and the keeper's own ``keeper.pricing.trigger.derive`` agrees. The backtester counts a
    refused opening hedge (a buy under one quote unit: a deep out-of-the-money call) as a
    rebalance at step 0 for both triggers, so its vault refuses every rebalance the policy
    wants until ``maxInterval`` has passed, where the contract accepts the first one."""
    maturity = 30 / 365
    paths = _ramp(3000.0, 12_000.0, 48, maturity)
    option = OptionSpec(strike=10_000.0, maturity=maturity, contracts=10.0)
    policy = BandPolicy(width=0.01)  # wants a trade once |deviation| > 0.1 underlying
    day = 86_400.0
    bound = VaultBound(policy, band=1_000.0, max_interval_s=30 * day, min_interval_s=day)
    (res,) = run_backtest(paths, option, BacktestConfig(vol=0.6), [bound])
    # The opening buy (~1e-10 ETH, < 1e-6 USD) is refused; the vault's first rebalance is then
    # accepted on its time trigger as soon as the policy wants it (|deviation| > 0.1), and no
    # other (band 1000 underlying, maxInterval 30 days after that first one).
    assert res.rebalances_mean == 1.0


def test_a_costaware_batch_the_simulation_cuts_is_priced_again_before_it_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``costaware`` selects a batch only when its benefit beats its cost *as it executes*
    (docs/backtest.md, ``planner`` module docstring). Two opposite vaults cross in one pool:
    together they pay the 30 USD fixed cost once (32.9 USD of benefit), alone neither does
    (16.4 USD against 30+). The simulation then drops one (here ``OptionVaultTooSoon``; the
    same after a drop for the strictest slippage bound or a deferral), and ``act`` signs and
    sends the survivor alone, a batch worth about -14 USD that the planner would never have
    chosen: nothing re-prices the batch that actually executes."""

    def keeper(sender: FakeSender | None) -> Keeper:
        k = make_keeper(
            [snap(0, -WAD // 2), snap(1, WAD // 2)],
            batcher=BATCHER,
            l1fee=FixedL1(),
            chain_id=10,
            sender=sender,
        )
        # A transaction's gas: a batch's fixed part, and a batch of one's (KEEPER_GAS_DIRECT
        # and the batcher's call, its path for one vault).
        k.config = CycleConfig(
            eth_usd=3000.0,
            queue_sweep_s=0,
            direct_single=False,
            gas_fixed=5_000_000_000,
            gas_direct=5_000_000_000,
        )
        k.policy = CostAwarePolicy(risk_aversion=0.1, horizon=3600.0)
        return k

    fake_simulation(monkeypatch, drop={vault(1)})
    sender = FakeSender()
    result = run_cycle(keeper(sender))
    assert result.planned == (vault(0), vault(1))  # together they pay for themselves
    survivor = next(d for d in result.decisions if d.vault == vault(0))
    alone = batch_cost_usd(result.costs, [survivor.trade / WAD * 3000.0])
    assert survivor.benefit_usd < alone  # alone it does not
    # ... so the batch that would execute (vault 0 alone) is not worth sending.
    assert sender.sent == [], "sent a costaware batch worth less than its cost"
    assert result.tx_hash is None
    assert result.dropped[vault(1)] == "OptionVaultTooSoon(...)"
    assert vault(0) in result.dropped  # deferred to the next cycle's plan

    # Without the drop the batch the plan priced is sent as before.
    fake_simulation(monkeypatch, drop=set())
    sender = FakeSender()
    assert run_cycle(keeper(sender)).tx_status == "mined"
    assert len(sender.sent) == 1


def test_a_held_vault_gets_a_deferred_line_in_the_decisions_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    k = make_keeper(
        [snap(0, -WAD // 2), snap(1, WAD // 2)],
        batcher=BATCHER,
        l1fee=FixedL1(),
        chain_id=10,
        sender=FakeSender(),
    )
    k.config = CycleConfig(
        eth_usd=3000.0,
        queue_sweep_s=0,
        direct_single=False,
        gas_fixed=5_000_000_000,
        gas_direct=5_000_000_000,
    )
    k.policy = CostAwarePolicy(risk_aversion=0.1, horizon=3600.0)
    fake_simulation(monkeypatch, drop={vault(1)})
    with caplog.at_level("INFO", logger="keeper.decisions"):
        result = run_cycle(k)
    assert result.tx_hash is None
    assert result.dropped[vault(0)].startswith("deferred:")  # held: the test's premise
    lines = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("vault") == vault(0)]
    assert [f.get("outcome") for f in lines if f.get("outcome") == "deferred"] == ["deferred"], (
        lines
    )


def _keeper_whose_simulation_drops(
    monkeypatch: pytest.MonkeyPatch, x: str, reason: str
) -> tuple[Any, FakeSender, list[tuple[str, ...]]]:
    """A cost-aware keeper on three vaults (0 sells, 1 and 2 buy) whose batch simulation drops
    ``x`` for ``reason``; the batches it simulated are recorded."""
    simulated: list[tuple[str, ...]] = []

    def sim(w3: object, batcher: str, vaults: object, *a: object, **kw: object) -> Simulation:
        vs = tuple(vaults)  # type: ignore[arg-type]
        simulated.append(vs)
        gone = {x: reason} if x in vs else {}
        return Simulation(tuple(v for v in vs if v != x), b"calldata", 300_000, (), gone)

    monkeypatch.setattr("keeper.app.act.simulate_batch", sim)
    monkeypatch.setattr("keeper.app.act.simulate_direct", lambda *a, **kw: None)
    sender = FakeSender()
    k = make_keeper(
        [snap(0, -WAD), snap(1, WAD), snap(2, WAD)],
        batcher=BATCHER,
        l1fee=FixedL1(),
        chain_id=10,
        sender=sender,
    )
    k.policy = CostAwarePolicy(risk_aversion=0.1, horizon=3600.0)
    return k, sender, simulated


def test_a_held_batch_still_sends_the_survivors_the_planner_would_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a drop, `_priced_again` prices only the whole survivor set: when a survivor the plan
    kept only for the dropped vault's crossing drags that set below its cost, every survivor is
    held, including one worth sending by itself -- the batch the planner's own selection
    (`_select_pools`) picks from the survivors. Held each cycle the dropped vault is planned
    again (a persistent drop: a slippage bound the pool cannot meet), it is never sent.

    One pool, costs in USD: fixed 10, impact 0.001/USD (no fee, no per-vault gas, no swap gas).
    X sells 100 USD, Y and Z buy 100 each; benefits X 1, Y 11, Z 21. {X, Y, Z}: 33 - 10 - 10 = 13
    and no removal beats it (the plan's choice). X dropped: {Y, Z} = 32 - 10 - 40 = -18, held;
    {Z} alone = 21 - 10 - 10 = 1 > 0, which is what the planner selects from {Y, Z}."""
    costs = CostInputs(
        gas_fixed=10_000_000,
        gas_per_vault=0,
        gas_price_wei=10**9,
        l1_fee_fixed_wei=0,
        l1_fee_per_vault_wei=0,
        eth_usd=1000.0,
        pool_fee_bps=0.0,
        impact_coef=0.001,
    )
    x, y, z = vault(0), vault(1), vault(2)
    benefit = np.array([1.0, 11.0, 21.0])
    notional = np.array([-100.0, 100.0, 100.0])
    pools = np.zeros(3, dtype=np.int64)
    keep, _ = _select_pools(benefit, notional, pools, np.ones(3, dtype=bool), costs)
    assert keep.tolist() == [True, True, True]  # the plan sends all three
    keep2, _ = _select_pools(benefit[1:], notional[1:], pools[1:], np.ones(2, dtype=bool), costs)
    assert keep2.tolist() == [False, True]  # from the survivors the planner picks Z
    assert 21.0 - batch_cost_usd(costs, [100.0]) > 0.0

    decisions = tuple(
        VaultDecision(
            vault=v,
            act=True,
            reason="",
            deviation=WAD,
            band=WAD // 10,
            trade=WAD // 30,
            benefit_usd=float(b),
            cost_usd=0.0,
            notional_usd=float(n),
            pool=0,
        )
        for v, b, n in zip((x, y, z), benefit, notional, strict=True)
    )
    the_plan = RebalancePlan(decisions, (x, y, z), 10.0, 10.0, float(benefit.sum()))
    k, sender, simulated = _keeper_whose_simulation_drops(monkeypatch, x, "Slippage(...)")
    acted = act(k, the_plan, 100, costs=costs)
    sim_ = acted.simulation
    assert sim_ is not None
    assert sim_.vaults == (z,), (sim_.vaults, dict(sim_.deferred), simulated)
    assert len(sender.sent) == 1


# -- the simulation's survivors selected again keep the planner's slippage hold-back -----------

#: One pool, costs in USD: fixed 10, impact 0.001/USD (no fee, no per-vault or swap gas).
_SLIP_COSTS = CostInputs(
    gas_fixed=10_000_000,
    gas_per_vault=0,
    gas_price_wei=10**9,
    l1_fee_fixed_wei=0,
    l1_fee_per_vault_wei=0,
    eth_usd=1000.0,
    pool_fee_bps=0.0,
    impact_coef=0.001,
)


def _decisions(benefit: list[float], notional: list[float], pools: list[int]) -> RebalancePlan:
    decisions = tuple(
        VaultDecision(
            vault=vault(i),
            act=True,
            reason="",
            deviation=WAD,
            band=WAD // 10,
            trade=WAD // 30,
            benefit_usd=b,
            cost_usd=0.0,
            notional_usd=n,
            pool=p,
        )
        for i, (b, n, p) in enumerate(zip(benefit, notional, pools, strict=True))
    )
    return RebalancePlan(decisions, tuple(d.vault for d in decisions), 10.0, 0.0, sum(benefit))


def test_survivors_selected_again_hold_back_a_pool_whose_swap_is_past_its_slippage_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan's batch {X, Y, Z} of the test above, Y and Z bounded at 600 bps: the pool's
    swap of 100 USD keeps 1 - 1/1.1 = 9.09% of it, within 6% of the 200 USD its buy side puts
    in. X dropped, the survivors {Y, Z} are worth -18 and selected again; the selection keeps
    {Z}, whose swap keeps 9.09 USD of 100, past Z's 6. ``plan`` holds such a pool back
    (``SWAP_PAST_SLIPPAGE``), so the keeper must not simulate {Z} again: before, it did (a
    second simulation of a batch the planner would not have planned)."""
    x, y, z = vault(0), vault(1), vault(2)
    benefit, notional = [1.0, 11.0, 21.0], [-100.0, 100.0, 100.0]
    slip = np.array([0.0, 600.0, 600.0])
    pools = np.zeros(3, dtype=np.int64)
    b, n = np.array(benefit), np.array(notional)
    held: set[int] = set()
    keep, _ = _select_pools(b, n, pools, np.ones(3, dtype=bool), _SLIP_COSTS, slip_bps=slip)
    assert keep.tolist() == [True, True, True]  # the plan sends all three: within the bound
    keep2, _ = _select_pools(
        b[2:], n[2:], pools[2:], np.ones(1, dtype=bool), _SLIP_COSTS, slip_bps=slip[2:], held=held
    )
    assert keep2.tolist() == [False]  # the planner would not send Z alone ...
    assert held == {0}  # ... for its slippage bound

    the_plan = _decisions(benefit, notional, [0, 0, 0])
    k, sender, simulated = _keeper_whose_simulation_drops(monkeypatch, x, "OptionVaultTooSoon(...)")
    bounds = {x: 0, y: 600, z: 600}
    acted = act(k, the_plan, 100, slippage_bps=bounds, costs=_SLIP_COSTS)
    assert simulated == [(x, y, z)], "simulated again a batch the planner holds back"
    assert sender.sent == []
    assert acted.simulation is not None
    assert acted.simulation.vaults == ()
    assert set(acted.simulation.deferred) == {y, z}


def test_reselect_selects_the_other_pools_without_the_one_held_back() -> None:
    """Two pools: pool 0's survivors as above (Z kept alone, past its bound), pool 1's one
    seller W worth 30 USD alone (a 100 USD swap within its 1,000 bps). Selected again, pool 0 is
    held back as ``plan`` holds it, and W is kept alone; without the bounds Z joins it."""
    the_plan = _decisions([11.0, 21.0, 30.0], [100.0, 100.0, -100.0], [0, 0, 1])
    y, z, w = vault(0), vault(1), vault(2)
    assert reselect(the_plan, [y, z, w], _SLIP_COSTS) == [z, w]
    bounds = {y: 600, z: 600, w: 1_000}
    assert reselect(the_plan, [y, z, w], _SLIP_COSTS, slippage_bps=bounds) == [w]
    # Addresses in any case, as ``_acting`` matches them.
    upper = {v.upper(): b for v, b in bounds.items()}
    assert reselect(the_plan, [y, z, w], _SLIP_COSTS, slippage_bps=upper) == [w]


def test_a_vault_the_reselection_holds_back_for_slippage_is_deferred_for_slippage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pool 0 as above (X sells 100, Y and Z buy 100 each, Y and Z bounded at 600 bps), pool 1
    one seller W worth 25 USD (alone 25 - 10 - 10 = 5, within its 1,000 bps). X dropped, the
    survivors {Y, Z, W} are worth 57 - 10 - 40 - 10 = -3 and selected again: W is sent alone,
    pool 0 (Z kept alone) held back for its slippage bound. Y and Z were deferred as "not worth
    its cost", what the planner says of neither: it holds such a pool back as
    ``SWAP_PAST_SLIPPAGE``, in its own words."""
    x, y, z, w = vault(0), vault(1), vault(2), vault(3)
    the_plan = _decisions([1.0, 11.0, 21.0, 25.0], [-100.0, 100.0, 100.0, -100.0], [0, 0, 0, 1])
    k, sender, simulated = _keeper_whose_simulation_drops(monkeypatch, x, "OptionVaultTooSoon(...)")
    bounds = {x: 0, y: 600, z: 600, w: 1_000}
    acted = act(k, the_plan, 100, slippage_bps=bounds, costs=_SLIP_COSTS)
    assert simulated == [(x, y, z, w), (w,)]  # the premise: W re-selected and sent alone
    assert len(sender.sent) == 1
    sim_ = acted.simulation
    assert sim_ is not None
    assert sim_.vaults == (w,)
    for v in (y, z):
        why = sim_.deferred[v]
        assert why.startswith("deferred: "), why
        assert Reason.SWAP_PAST_SLIPPAGE.text in why, why
        assert "past the slippage bound (600 bps)" in why, why
        assert "not worth its cost" not in why, why
    assert sim_.dropped == {x: "OptionVaultTooSoon(...)"}


def test_a_vault_the_reselection_leaves_for_its_cost_is_still_deferred_for_its_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The case above without the bounds: pool 0 keeps Z, so {Z, W} is sent and only Y, left
    out by the selection for its cost, is deferred, as before."""
    x, y, z, w = vault(0), vault(1), vault(2), vault(3)
    the_plan = _decisions([1.0, 11.0, 21.0, 25.0], [-100.0, 100.0, 100.0, -100.0], [0, 0, 0, 1])
    k, _, simulated = _keeper_whose_simulation_drops(monkeypatch, x, "OptionVaultTooSoon(...)")
    acted = act(k, the_plan, 100, costs=_SLIP_COSTS)
    assert simulated == [(x, y, z, w), (z, w)]
    assert acted.simulation is not None
    assert acted.simulation.vaults == (z, w)
    assert acted.simulation.deferred == {
        y: "deferred: not worth its cost in the batch the simulation left (priced again "
        "without the vaults it dropped)"
    }
