"""From a snapshot to a :class:`RebalancePlan`: per-vault decisions, then batch selection.

The per-vault decision is the policy's vectorized :meth:`~keeper.strategy.policies.Policy.evaluate`
(the code the backtester runs), evaluated with no share of the fixed cost. Batch selection:

* a vault is eligible only if the contract would accept it now (``trigger_ready``) and the
  policy wants it;
* for the cost-gated ``costaware`` policy, an eligible vault joins only if its benefit beats its
  *marginal* cost inside the batch (its own gas, calldata, fee and slippage), and the batch is
  sent only if the sum of (benefit − marginal cost) over its members beats the per-transaction
  fixed cost. Every member adds positive net benefit, so this batch maximizes
  ``Σ(benefit − marginal) − fixed`` over all subsets;
* for the rule policies (time, band, volband, ww) the batch is every eligible vault.

Amounts: the on-chain deviation and trade are exact :data:`~keeper.units.Wad` ints; the float
deviation and max trade the policies see are converted once here, with
:func:`~keeper.units.wad_to_float`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from keeper.strategy.costs import fixed_cost_usd
from keeper.strategy.policies import Policy, Reason
from keeper.strategy.types import (
    CostInputs,
    HedgeState,
    MarketView,
    RebalancePlan,
    VaultDecision,
    VaultView,
)
from keeper.units import Wad, wad_to_float

logger = logging.getLogger(__name__)


def state_from_views(vaults: Sequence[VaultView], market: MarketView) -> HedgeState:
    """Build the vectorized :class:`HedgeState` of a list of vaults."""

    def arr(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    return HedgeState(
        deviation=arr([wad_to_float(v.net_delta - v.target_delta) for v in vaults]),
        spot=arr([v.spot for v in vaults]),
        gamma=arr([v.gamma for v in vaults]),
        vol=np.full(len(vaults), market.forecast_vol, dtype=np.float64),
        contracts=arr([v.contracts for v in vaults]),
        tau=arr([v.time_to_expiry for v in vaults]),
        elapsed_s=arr([float(market.now - v.last_rebalance) for v in vaults]),
        max_interval_s=arr([float(v.max_interval) for v in vaults]),
        max_trade=arr([wad_to_float(v.max_trade) for v in vaults]),
        ready=np.asarray([v.trigger_ready for v in vaults], dtype=bool),
        reference_vol=np.full(len(vaults), market.reference_vol, dtype=np.float64),
    )


def _int_trade(v: VaultView) -> Wad:
    """The contract's trade ``clamp(target − net, ±maxTrade)``, exact in 1e18 units."""
    return Wad(max(-v.max_trade, min(v.max_trade, v.target_delta - v.net_delta)))


def plan(
    policy: Policy, vaults: Sequence[VaultView], market: MarketView, costs: CostInputs
) -> RebalancePlan:
    """Decide every vault and choose the batch (see the module docstring)."""
    fixed = fixed_cost_usd(costs)
    if not vaults:
        return RebalancePlan((), (), fixed, 0.0, 0.0)
    state = state_from_views(vaults, market)
    ev = policy.evaluate(state, costs, fixed_share_usd=0.0)
    act = ev.act.copy()
    codes = ev.code.copy()
    net = ev.benefit_usd - ev.cost_usd
    batch_note = ""
    if policy.cost_gated and bool(act.any()):
        total = float(net[act].sum())
        if not total > fixed:
            batch_note = f"; batch net benefit {total:.4g} USD <= fixed cost {fixed:.4g} USD"
            codes = np.where(act, Reason.BENEFIT_BELOW_COST, codes)
            act[:] = False
    decisions = []
    for i, v in enumerate(vaults):
        reason = (
            f"{policy.family}: {Reason(int(codes[i])).text} "
            f"(|dev| {abs(state.deviation[i]):.6g}, threshold {ev.threshold[i]:.6g}, "
            f"benefit {ev.benefit_usd[i]:.4g} USD, marginal cost {ev.cost_usd[i]:.4g} USD)"
        )
        if ev.act[i] and not act[i]:
            reason += batch_note
        d = VaultDecision(
            vault=v.vault,
            act=bool(act[i]),
            reason=reason,
            deviation=Wad(v.net_delta - v.target_delta),
            band=v.band,
            trade=_int_trade(v) if act[i] else Wad(0),
            benefit_usd=float(ev.benefit_usd[i]),
            cost_usd=float(ev.cost_usd[i]),
        )
        logger.debug(
            "decision vault=%s delta=%d band=%d act=%s cost_usd=%.6g benefit_usd=%.6g reason=%s",
            d.vault,
            v.net_delta,
            d.band,
            d.act,
            d.cost_usd,
            d.benefit_usd,
            d.reason,
        )
        decisions.append(d)
    members = tuple(d.vault for d in decisions if d.act)
    marginal = math.fsum(d.cost_usd for d in decisions if d.act)
    benefit = math.fsum(d.benefit_usd for d in decisions if d.act)
    return RebalancePlan(
        decisions=tuple(decisions),
        batch=members,
        fixed_cost_usd=fixed if members else 0.0,
        marginal_cost_usd=marginal,
        benefit_usd=benefit,
    )
