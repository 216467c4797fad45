"""Greeks: vectorized deltas per second, agreement with the contract, on-chain gas per series.

- **Throughput**: :func:`keeper.pricing.vanilla_delta` (and the capped spread's delta from
  :func:`keeper.pricing.capped_greeks`, which the keeper prices) over 1,000,000 random options,
  median of several runs after a warm-up.
- **Agreement**: ``MathHarness`` (tests/forge/mocks, exposing ``contracts/libraries/BlackScholes``)
  is deployed on a fresh anvil, as in ``tests/unit/test_pricing_onchain.py``; over a grid of
  call/put x spot x strike x vol x time (x cap for capped options) the on-chain delta (1e18) is
  compared with numpy's. Relative error is ``|chain - numpy| / |numpy|`` where ``|numpy| > 1e-6``
  (deltas below that are compared absolutely and reported separately).
- **Gas**: ``eth_estimateGas`` of ``MathHarness.cappedDelta(...)`` minus the transaction's
  intrinsic cost (21,000 plus 4/16 gas per zero/non-zero calldata byte) -- the execution gas of
  one series' delta, including the call's ABI decoding in the harness.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from bench.common import progress, summary
from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.chain.l1fee import calldata_gas
from keeper.devnet.tx import account, deploy
from keeper.pricing import YEAR_SECONDS, capped_greeks, vanilla_delta

SPOTS = (1500.0, 2500.0, 2999.5, 3400.0, 4200.0)
STRIKES = (2000.0, 3000.0, 3500.0)
VOLS = (0.15, 0.8, 1.6)
TAUS = (3600, 7 * 86_400, 90 * 86_400)
CAPS = (200.0, 5000.0)
TINY = 1e-6


def throughput(n: int, reps: int) -> dict[str, Any]:
    """Deltas per second over ``n`` random options (vanilla and capped)."""
    rng = np.random.default_rng(0)
    s, k = rng.uniform(1000, 5000, n), rng.uniform(1000, 5000, n)
    t, v = rng.uniform(1 / 365, 1, n), rng.uniform(0.1, 1.5, n)
    cap = rng.uniform(100, 2000, n)
    call = rng.random(n) < 0.5
    vanilla_delta(s[:1000], k[:1000], t[:1000], v[:1000])
    plain = []
    capped = []
    for _ in range(reps):
        t0 = time.perf_counter()
        vanilla_delta(s, k, t, v)
        plain.append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        capped_greeks(s, k, cap, t, v, call=call)
        capped.append(n / (time.perf_counter() - t0))
    return {"n": n, "vanilla": summary(plain), "capped_full_greeks": summary(capped), "runs": reps}


def _grid(quick: bool) -> list[tuple[bool, float, float, float | None, float, int]]:
    spots = SPOTS[::2] if quick else SPOTS
    out: list[tuple[bool, float, float, float | None, float, int]] = []
    for is_call, s, k, v, tau in itertools.product((True, False), spots, STRIKES, VOLS, TAUS):
        out.append((is_call, s, k, None, v, tau))
        for cap in CAPS if not quick else CAPS[:1]:
            out.append((is_call, s, k, cap, v, tau))
    return out


def agreement_and_gas(quick: bool) -> dict[str, Any]:
    """Deploy ``MathHarness`` on a fresh anvil; compare deltas over the grid; measure gas."""
    with Anvil() as node:
        w3 = connect(node.url)
        harness = deploy(w3, account(ANVIL_KEYS[0]), load_artifact("MathHarness"))
        worst_rel = 0.0
        worst_abs_tiny = 0.0
        worst_at: dict[str, Any] = {}
        gas: list[int] = []
        grid = _grid(quick)
        for i, (is_call, s, k, cap, v, tau) in enumerate(grid):
            s8, k8, v18 = round(s * 1e8), round(k * 1e8), round(v * 1e18)
            cap8 = round(cap * 1e8) if cap is not None else 0
            if cap is None:
                on = float(harness.functions.vanilla(is_call, s8, k8, v18, tau).call()[1]) / 1e18
                off = float(vanilla_delta(s, k, tau / YEAR_SECONDS, v, call=is_call))
            else:
                fn = harness.functions.cappedDelta(is_call, s8, k8, cap8, v18, tau)
                on = float(fn.call()) / 1e18
                g = capped_greeks(s, k, cap, tau / YEAR_SECONDS, v, call=is_call)
                off = float(g.delta)
                if i % 7 == 0:
                    data = bytes.fromhex(str(fn._encode_transaction_data())[2:])
                    est = int(w3.eth.estimate_gas({"to": harness.address, "data": data}))
                    gas.append(est - 21_000 - calldata_gas(data))
            if abs(off) > TINY:
                rel = abs(on - off) / abs(off)
                if rel > worst_rel:
                    worst_rel = rel
                    worst_at = {
                        "call": is_call,
                        "spot": s,
                        "strike": k,
                        "cap": cap,
                        "vol": v,
                        "tau_s": tau,
                    }
            else:
                worst_abs_tiny = max(worst_abs_tiny, abs(on - off))
        progress("greeks: %d grid points, max rel err %.3g", len(grid), worst_rel)
    return {
        "grid_points": len(grid),
        "max_rel_err_vs_chain": worst_rel,
        "worst_point": worst_at,
        "max_abs_err_where_tiny": worst_abs_tiny,
        "onchain_gas_per_series": summary([float(g) for g in gas]),
        "gas_samples": len(gas),
    }


def bench_greeks(quick: bool) -> dict[str, Any]:
    """The ``greeks`` section."""
    tp = throughput(200_000 if quick else 1_000_000, 3 if quick else 7)
    progress("greeks: %.3g vanilla deltas/s", tp["vanilla"]["median"])
    chain = agreement_and_gas(quick)
    return {
        "deltas_per_s": tp["vanilla"]["median"],
        "deltas_per_s_min": tp["vanilla"]["min"],
        "deltas_per_s_max": tp["vanilla"]["max"],
        "capped_greeks_per_s": tp["capped_full_greeks"]["median"],
        "options": tp["n"],
        "runs": tp["runs"],
        "max_rel_err_vs_chain": chain["max_rel_err_vs_chain"],
        "onchain_gas_per_series": round(chain["onchain_gas_per_series"]["median"]),
        "onchain_gas_per_series_min": round(chain["onchain_gas_per_series"]["min"]),
        "onchain_gas_per_series_max": round(chain["onchain_gas_per_series"]["max"]),
        "chain": chain,
    }
