"""From a snapshot to a :class:`RebalancePlan`: per-vault decisions, then batch selection.

The per-vault decision is the policy's vectorized :meth:`~keeper.strategy.policies.Policy.evaluate`
(the code the backtester runs), evaluated with no share of the fixed cost: whether to act and
the requested post-trade deviation. The exact trade is then
:func:`~keeper.strategy.rebalance_rule.executed_trade` on the vault's Wad ints (what the contract
will execute), the float post-trade deviation truncated toward the target
(:func:`~keeper.strategy.rebalance_rule.post_deviation_wad`).

Batch selection prices the batch as one-swap execution runs it
(:func:`~keeper.strategy.costs.batch_cost_usd`: the fixed cost once, each vault's own gas and
calldata, one swap's fee and impact on the *net* notional, crossed amounts free):

* a vault is eligible only if the contract would accept it now (``trigger_ready``) and the
  policy wants it;
* for the cost-gated ``costaware`` policy, the batch starts with every eligible vault whose
  benefit beats its own marginal cost alone; then, while removing one member raises the
  batch's value ``Σ benefit − batch cost``, the member whose removal raises it most leaves; the
  batch is sent only if its value is positive. No single member's removal would raise the value
  of the batch sent (a vault whose trade crosses others' can stay although its benefit is below
  its cost alone);
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

from keeper.strategy.costs import (
    batch_cost_usd,
    fixed_cost_usd,
    per_vault_fixed_usd,
    swap_usd,
)
from keeper.strategy.policies import Policy, Reason
from keeper.strategy.rebalance_rule import executed_trade, post_deviation_wad
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
        band=arr([wad_to_float(v.band) for v in vaults]),
    )


def _int_trades(
    deviations: Sequence[int], posts: Sequence[Wad], vaults: Sequence[VaultView]
) -> list[Wad]:
    """The contract's trade for each vault's ``post``, exact in 1e18 units.

    :func:`executed_trade` over ``dtype=object`` arrays of Python ints: one call for every vault.
    """

    def obj(values: Sequence[int]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = [int(x) for x in values]
        return out

    out = executed_trade(
        obj(deviations),
        obj(posts),
        obj([v.band for v in vaults]),
        obj([v.max_trade for v in vaults]),
    )
    return [Wad(int(t)) for t in out.tolist()]


def _select(benefit: np.ndarray, notional: np.ndarray, costs: CostInputs) -> np.ndarray:
    """Greedy removal over a candidate batch (module docstring): the members kept.

    Each round prices the batch and every one-member-smaller batch at once, with
    :func:`batch_cost_usd`'s terms in its order, vectorized: O(n) a round instead of O(n^2). The
    net notional without a member is the batch's net less the member's (a fresh sum could differ
    in its last bit).
    """
    keep = np.zeros(len(benefit), dtype=bool)
    fixed, per, swap = fixed_cost_usd(costs), per_vault_fixed_usd(costs), swap_usd(costs)
    fee, impact = costs.pool_fee_bps / 1e4, costs.impact_coef
    idx = np.arange(len(benefit))
    b = np.asarray(benefit, dtype=np.float64)
    x = np.asarray(notional, dtype=np.float64)
    while len(idx):
        m = len(idx)
        total = b.sum()
        net = float(np.sum(x))
        cost = (
            fixed + m * per + (swap if net != 0.0 else 0.0) + (fee + impact * abs(net)) * abs(net)
        )
        value = float(total) - cost
        if m == 1:
            without = np.zeros(1)  # the empty batch: no benefit, no cost
        else:
            net_wo = net - x
            abs_wo = np.abs(net_wo)
            cost_wo = (
                fixed
                + (m - 1) * per
                + np.where(net_wo != 0.0, swap, 0.0)
                + (fee + impact * abs_wo) * abs_wo
            )
            without = (total - b) - cost_wo
        best = int(np.argmax(without))
        if not without[best] > value:
            break
        # Drop the member, keeping the order (np.delete does the same with more overhead).
        idx = np.concatenate((idx[:best], idx[best + 1 :]))
        b = np.concatenate((b[:best], b[best + 1 :]))
        x = np.concatenate((x[:best], x[best + 1 :]))
    keep[idx] = True
    return keep


def plan(
    policy: Policy, vaults: Sequence[VaultView], market: MarketView, costs: CostInputs
) -> RebalancePlan:
    """Decide every vault and choose the batch (see the module docstring)."""
    fixed = fixed_cost_usd(costs)
    if not vaults:
        return RebalancePlan((), (), fixed, 0.0, 0.0)
    state = state_from_views(vaults, market)
    post_f = policy.post_deviation(state, costs, 0.0)
    ev = policy.evaluate(state, costs, fixed_share_usd=0.0)
    deviations = [v.net_delta - v.target_delta for v in vaults]
    posts = (
        [Wad(0)] * len(vaults)
        if post_f is None
        else [
            post_deviation_wad(d, p)
            for d, p in zip(deviations, np.asarray(post_f, dtype=np.float64).tolist(), strict=True)
        ]
    )
    trades = _int_trades(deviations, posts, vaults)
    act = ev.act & np.asarray([t != 0 for t in trades], dtype=bool)
    codes = ev.code.copy()
    notional = np.asarray(
        [wad_to_float(t) * v.spot for t, v in zip(trades, vaults, strict=True)], dtype=np.float64
    )
    batch_note = ""
    if policy.cost_gated and bool(act.any()):
        cand = np.flatnonzero(act)
        keep = _select(ev.benefit_usd[cand], notional[cand], costs)
        value = float(ev.benefit_usd[cand][keep].sum()) - batch_cost_usd(
            costs, notional[cand][keep]
        )
        if not keep.any() or not value > 0.0:
            total = float(ev.benefit_usd[cand].sum())
            batch_note = (
                f"; batch benefit {total:.4g} USD <= its cost "
                f"{batch_cost_usd(costs, notional[cand]):.4g} USD (fixed cost "
                f"{fixed:.4g} USD)"
            )
            keep[:] = False
        else:
            batch_note = "; its trade does not pay for itself inside the batch"
        dropped = cand[~keep]
        codes[dropped] = Reason.BENEFIT_BELOW_COST
        act[dropped] = False
    # One pass over plain Python lists (indexing numpy arrays per element is slow at 10k vaults).
    texts = {int(c): f"{policy.family}: {Reason(int(c)).text} (" for c in np.unique(codes)}
    debug = logger.isEnabledFor(logging.DEBUG)
    decisions = []
    for v, dev, post, trade, acts, wanted, code, dev_f, threshold, benefit, cost in zip(
        vaults,
        deviations,
        posts,
        trades,
        act.tolist(),
        ev.act.tolist(),
        codes.tolist(),
        state.deviation.tolist(),
        ev.threshold.tolist(),
        ev.benefit_usd.tolist(),
        ev.cost_usd.tolist(),
        strict=True,
    ):
        reason = (
            f"{texts[code]}|dev| {abs(dev_f):.6g}, threshold {threshold:.6g}, "
            f"benefit {benefit:.4g} USD, marginal cost {cost:.4g} USD)"
        )
        if wanted and not acts:
            reason += batch_note
        d = VaultDecision(
            vault=v.vault,
            act=acts,
            reason=reason,
            deviation=Wad(dev),
            band=v.band,
            trade=trade if acts else Wad(0),
            benefit_usd=benefit,
            cost_usd=cost,
            post_deviation=post if acts else Wad(0),
        )
        if debug:
            logger.debug(
                "decision vault=%s delta=%d band=%d act=%s post=%d cost_usd=%.6g "
                "benefit_usd=%.6g reason=%s",
                d.vault,
                v.net_delta,
                d.band,
                d.act,
                d.post_deviation,
                d.cost_usd,
                d.benefit_usd,
                d.reason,
            )
        decisions.append(d)
    members = tuple(d.vault for d in decisions if d.act)
    total_cost = batch_cost_usd(costs, notional[act])
    benefit = math.fsum(d.benefit_usd for d in decisions if d.act)
    return RebalancePlan(
        decisions=tuple(decisions),
        batch=members,
        fixed_cost_usd=fixed if members else 0.0,
        marginal_cost_usd=total_cost - fixed if members else 0.0,
        benefit_usd=benefit,
    )
