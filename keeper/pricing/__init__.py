"""Pricing: vectorized Black–Scholes Greeks (Hart/West CDF, as on-chain) and vol estimators."""

from keeper.pricing.black_scholes import (
    YEAR_SECONDS,
    Greeks,
    capped_greeks,
    payoff,
    vanilla_delta,
    vanilla_greeks,
)
from keeper.pricing.normal import norm_cdf, norm_cdf_exact, norm_pdf
from keeper.pricing.vol import ewma_variance, ewma_vol_forecast, log_returns, realized_vol

__all__ = [
    "YEAR_SECONDS",
    "Greeks",
    "capped_greeks",
    "ewma_variance",
    "ewma_vol_forecast",
    "log_returns",
    "norm_cdf",
    "norm_cdf_exact",
    "norm_pdf",
    "payoff",
    "realized_vol",
    "vanilla_delta",
    "vanilla_greeks",
]
