"""Decide: pure policies and cost model, shared by the live keeper and the backtester.

See :mod:`keeper.strategy.policies` for the policies and the exact cost-aware formula,
:mod:`keeper.strategy.costs` for the cost model, :mod:`keeper.strategy.planner` for batch
selection, :mod:`keeper.strategy.fills` for when a redemption queue is worth a fill between
settlements.
"""

from keeper.strategy.costs import (
    NO_COSTS,
    fixed_cost_usd,
    impact_coef_from_depth,
    impact_coef_from_quote,
    l2_default_costs,
    marginal_cost_usd,
    per_vault_fixed_usd,
    proportional_rate,
)
from keeper.strategy.fills import worth_filling
from keeper.strategy.planner import plan, state_from_views
from keeper.strategy.policies import (
    POLICIES,
    BandPolicy,
    CostAwarePolicy,
    Horizon,
    Policy,
    PolicySpecError,
    Positive,
    Reason,
    Rule,
    Steps,
    TimePolicy,
    VolBandPolicy,
    WhalleyWilmottPolicy,
    parse_policy,
    risk_benefit_usd,
)
from keeper.strategy.types import (
    CostInputs,
    Evaluation,
    HedgeState,
    MarketView,
    RebalancePlan,
    SweepGrid,
    VaultDecision,
    VaultView,
)

__all__ = [
    "NO_COSTS",
    "POLICIES",
    "BandPolicy",
    "CostAwarePolicy",
    "CostInputs",
    "Evaluation",
    "HedgeState",
    "Horizon",
    "MarketView",
    "Policy",
    "PolicySpecError",
    "Positive",
    "Reason",
    "RebalancePlan",
    "Rule",
    "Steps",
    "SweepGrid",
    "TimePolicy",
    "VaultDecision",
    "VaultView",
    "VolBandPolicy",
    "WhalleyWilmottPolicy",
    "fixed_cost_usd",
    "impact_coef_from_depth",
    "impact_coef_from_quote",
    "l2_default_costs",
    "marginal_cost_usd",
    "parse_policy",
    "per_vault_fixed_usd",
    "plan",
    "proportional_rate",
    "risk_benefit_usd",
    "state_from_views",
    "worth_filling",
]
