"""The keeper's numpy Greeks agree with the contracts' on-chain Black–Scholes (≤1e-9 relative).

Deploys ``MathHarness`` (tests/forge/mocks), which exposes ``contracts/libraries/BlackScholes``,
and compares value, delta, gamma and vega over a grid of spots, strikes, vols and expiries.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from keeper.chain.artifacts import load_artifact
from keeper.devnet.tx import account, deploy
from keeper.pricing import YEAR_SECONDS, capped_greeks, vanilla_greeks
from tests.conftest import Chain

pytestmark = pytest.mark.integration

SPOTS = (1500.0, 2999.5, 4200.0)
STRIKES = (2000.0, 3000.0, 3500.0)
VOLS = (0.15, 0.8, 1.6)
TAUS = (3600, 7 * 86400, 90 * 86400, 0)


def _onchain(call: object) -> np.ndarray:
    g = call.call()  # type: ignore[attr-defined]
    return np.asarray([float(x) / 1e18 for x in g])


def _close(got: np.ndarray, want: np.ndarray) -> None:
    # ≤1e-9 relative; values that are essentially zero (|x| < 1e-9) only need to be that small.
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_numpy_greeks_match_the_contract(chain: Chain) -> None:
    harness = deploy(chain.w3, account(chain.keys[0]), load_artifact("MathHarness"))
    worst = 0.0
    for is_call, s, k, v, tau in itertools.product((True, False), SPOTS, STRIKES, VOLS, TAUS):
        on = _onchain(
            harness.functions.vanilla(is_call, round(s * 1e8), round(k * 1e8), round(v * 1e18), tau)
        )
        g = vanilla_greeks(s, k, tau / YEAR_SECONDS, v, call=is_call)
        off = np.array([float(g.value), float(g.delta), float(g.gamma), float(g.vega)])
        _close(on, off)
        big = np.abs(off) > 1e-6
        if big.any():
            worst = max(worst, float(np.max(np.abs(on[big] - off[big]) / np.abs(off[big]))))
    assert worst < 1e-9


def test_numpy_capped_greeks_match_the_contract(chain: Chain) -> None:
    harness = deploy(chain.w3, account(chain.keys[0]), load_artifact("MathHarness"))
    for is_call, s, cap, tau in itertools.product(
        (True, False), (2500.0, 3100.0), (200.0, 5000.0), (86400, 30 * 86400)
    ):
        k, v = 3000.0, 0.7
        on = _onchain(
            harness.functions.capped(
                is_call, round(s * 1e8), round(k * 1e8), round(cap * 1e8), round(v * 1e18), tau
            )
        )
        g = capped_greeks(s, k, cap, tau / YEAR_SECONDS, v, call=is_call)
        _close(on, np.array([float(g.value), float(g.delta), float(g.gamma), float(g.vega)]))
