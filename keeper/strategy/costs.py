"""The full cost of a rebalance, in USD, vectorized over trades; and of a one-swap batch.

A batch is priced as the batcher runs it (:func:`batch_cost_usd`): within one pool (same venue,
tokens and oracle price, ``RebalanceBatcher._join``) the vaults' trades are crossed against each
other at the oracle price, free of pool fee and impact, and only the pool's net remainder goes
to its venue, in one swap; trades in different pools never cross. For a batch of one pool::

    batch  = fixed + n · per_vault + swap(net ≠ 0)
             + pool_fee_bps / 1e4 · |Σ x_i| + impact_coef · (Σ x_i)²

and for several, the fixed cost once and each pool ``p``'s swap, fee and impact on its own net,
each pool at its own fee tier and impact (``CostInputs.pool_terms``, else the one pair)::

    batch  = fixed + n · per_vault
             + Σ_p [swap(net_p ≠ 0) + pool_fee_bps_p / 1e4 · |net_p| + impact_coef_p · net_p²]

    fixed     = (gas_fixed · gas_price + l1_fee_fixed) · ETH/USD / 1e18
    per_vault = (gas_per_vault · gas_price + l1_fee_per_vault) · ETH/USD / 1e18
    swap      = gas_swap · gas_price · ETH/USD / 1e18

with ``x_i = trade_i · spot`` each vault's signed traded notional in USD; a buy by a vault
that holds no underlying adds ``first_buy = gas_first_buy · gas_price · ETH/USD / 1e18`` (its
balance written from zero), alone or in a batch. Pools on one venue
``v`` (one Uniswap pool, vaults with different oracle answers) swap in a row on it, each from the
price the one before left: their impacts add before they are squared,
``impact_coef_v · (Σ_{p ∈ v} net_p)²`` for the venue, at the largest of its pools'
coefficients (a buy then a sell partly undo each other's move), while the fee and the swap gas
stay per pool. One vault alone is sent
to the vault itself when ``gas_direct`` is set (the keeper's direct path: its own transaction,
its own swap), and then pays

    direct = (gas_direct · gas_price + l1_fee_direct) · ETH/USD / 1e18
             + pool_fee_bps / 1e4 · |x| + impact_coef · x²;

with ``gas_direct = 0`` it is a batch of one: when ``gas_batch_one`` is set (the live keeper:
the batcher's path for one vault is its own, the vault swapping its own trade), ``direct`` with
``gas_batch_one`` and a batch's L1 fee (``l1_fee_fixed + l1_fee_per_vault``); else (the
backtester) ``fixed + swap + marginal`` with the marginal cost

    marginal = per_vault + pool_fee_bps / 1e4 · |x| + impact_coef · x²,

what a policy compares its benefit with (:func:`marginal_cost_usd`). The impact model is that of
a pool with constant virtual depth ``D`` near the price: the average execution price of a trade
of ``x`` USD is off by ``x / D``, so ``impact_coef = 1 / D``. Live, the keeper can derive
``impact_coef`` from a QuoterV2 quote with :func:`impact_coef_from_quote`.

Wei amounts convert to USD here, once, as floats (the one documented int → float conversion of
the cost model); nothing converts back.

Default L2 numbers (:func:`l2_default_costs`) and their sources are in ``docs/backtest.md``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from keeper.strategy.types import CostInputs, FloatArray

#: No trading costs at all (``--costs none``).
NO_COSTS = CostInputs(
    gas_fixed=0,
    gas_per_vault=0,
    gas_price_wei=0,
    l1_fee_fixed_wei=0,
    l1_fee_per_vault_wei=0,
    eth_usd=0.0,
    pool_fee_bps=0.0,
    impact_coef=0.0,
)

# ---- default L2 cost inputs (see docs/backtest.md for each source) ----
# The gas figures come from `make bench` on the current tree (docs/benchmarks.md, "Batching
# gain"), its recurring rows (each vault already holds the underlying, as a vault that keeps
# hedging does). A batch of N costs gas_fixed + N x gas_per_vault + gas_swap. The run of
# 2026-12-06 06:13 UTC (OptionVault compiled with 10 optimizer runs, not 1: foundry.toml)
# measured 125,101 gas per vault in a batch of 10, 116,905 in a batch of 25 and 210,396 for a
# lone vault; the runs before it (2026-12-02 to 12-05) 127,106 to 127,513, 118,919 to 119,078
# and 210,373. The run of 2026-12-06 12:08 UTC (the oracle's age check unchecked) measured
# 58 gas less for each: 125,043, 116,847 and 210,338 (the marginal vault 111,383). The run of
# 2026-12-06 16:12 UTC (a batch swap +18 gas) measured 125,045 to 125,433 (median 125,433: two of
# three runs), 116,848 and 210,338. The run of 2026-12-06 18:08 UTC (an oracle answer above
# 2^127 - 1 refused: one more comparison in each vault's check) measured 125,091, 117,049 and
# 210,384 (the marginal vault 111,688); the defaults stand. The run of 2026-12-06 21:19 UTC (the
# batcher no longer logs its own event for each vault rebalanced) measured 123,350, 115,308 and
# 210,384 (the marginal vault 109,947): the defaults price every batch of 2 to 25 of that run
# within 1.1% (0.04% under at 2, 1.0% over at 10 and 25); they stand.
#: The batch's own gas, the swap excluded: the intrinsic 21,000, calldata, the batcher's loop,
#: receipt checks and events (an estimate; the bench measures only its sum with the swap).
DEFAULT_GAS_FIXED = 30_000
#: One vault inside a batch: its checks, the delta of its book, its accounting and its two
#: transfers through the batcher. Bench: the marginal vault from the 10- and 25-vault batches,
#: (2,882,700 - 1,233,500) / 15 = 109,947 (2026-12-06 21:19 UTC; 111,441 that morning, 113,465
#: with the vault at 1 optimizer run).
DEFAULT_GAS_PER_VAULT = 111_000
#: The batch's one Uniswap V3 swap. Bench: the batch of 10 (1,271,060 on 2026-12-02) minus 10
#: marginal vaults is 136,450 for the batch's own gas and the swap; minus DEFAULT_GAS_FIXED,
#: 106,450. Later runs put that sum at 140,320 (2026-12-04), ~143,070 (12-05), 136,600
#: (2026-12-06 06:13) and 1,233,500 - 10 x 109,947 = 134,030 (2026-12-06 21:19 UTC); these
#: defaults price every batch of 2 to 25 of the last run within 1.1%. Once per batch (in the
#: backtest, once per rebalance).
DEFAULT_GAS_SWAP = 106_000
#: One vault's rebalance sent to the vault itself (``rebalance()``/``rebalanceTo``, its own swap
#: on the pool), the path a lone vault takes. Bench: the single-vault transaction's recurring row,
#: 210,384 (docs/benchmarks.md, "Batching gain", 2026-12-06 21:19 UTC; 227,411 on a vault's
#: first purchase); 210,406 and 227,433 on 2026-12-07 13:01 UTC (the venue's depth() moved the
#: venue's dispatch).
DEFAULT_GAS_DIRECT = 210_000
#: L2 effective gas price, 0.01 gwei (typical OP-Stack/Base execution price, an estimate).
DEFAULT_GAS_PRICE_WEI = 10_000_000
#: Pool fee of the ETH/USDC 0.05% Uniswap V3 tier.
DEFAULT_POOL_FEE_BPS = 5.0
#: 1 / (virtual depth of USD 500M): a USD 1M trade slips 0.2% (estimate).
DEFAULT_IMPACT_COEF = 2e-9
#: ETH price used to turn wei into USD.
DEFAULT_ETH_USD = 3000.0

# Fjord L1 data fee: max(100e6, −42,585,600 + 836,500·size)·(16·baseFeeScalar·l1BaseFee
#   + blobBaseFeeScalar·blobBaseFee)/1e12, with Base-like scalars (recalled, not verified here)
#   and a 2 gwei L1 base fee.
_BASE_FEE_SCALAR = 2269
_BLOB_BASE_FEE_SCALAR = 1_055_762
_L1_BASE_FEE_WEI = 2_000_000_000
_BLOB_BASE_FEE_WEI = 1


def fjord_l1_fee_wei(fastlz_size: int) -> int:
    """Fjord L1 data fee (wei) for a transaction of ``fastlz_size`` compressed bytes.

    Uses the default scalars and fees above; the live keeper reads the real fee from the
    GasPriceOracle instead.
    """
    estimated = max(100_000_000, -42_585_600 + 836_500 * (fastlz_size + 68))
    price = 16 * _BASE_FEE_SCALAR * _L1_BASE_FEE_WEI + _BLOB_BASE_FEE_SCALAR * _BLOB_BASE_FEE_WEI
    return estimated * price // 10**12


def l2_default_costs(eth_usd: float = DEFAULT_ETH_USD) -> CostInputs:
    """Default costs of a rebalance on an OP-Stack L2 (``--costs l2``).

    The L1 fee of an empty batch is that of a ~120-byte transaction (signature, nonce, fees,
    selector); each vault adds one 32-byte address word and one params word, about 40
    compressed bytes. A lone vault's own transaction carries one 32-byte word after its
    selector and no array headers: the bench measured its L1 fee at 62% of a batch of one's
    (57.3 against 92.3, docs/benchmarks.md), which is under the Fjord fee's 100e6 floor here;
    it is priced as a 100-byte transaction, at that floor.
    """
    fixed = fjord_l1_fee_wei(120)
    return CostInputs(
        gas_fixed=DEFAULT_GAS_FIXED,
        gas_per_vault=DEFAULT_GAS_PER_VAULT,
        gas_swap=DEFAULT_GAS_SWAP,
        gas_direct=DEFAULT_GAS_DIRECT,
        l1_fee_direct_wei=fjord_l1_fee_wei(100),
        gas_price_wei=DEFAULT_GAS_PRICE_WEI,
        l1_fee_fixed_wei=fixed,
        l1_fee_per_vault_wei=fjord_l1_fee_wei(160) - fixed,
        eth_usd=eth_usd,
        pool_fee_bps=DEFAULT_POOL_FEE_BPS,
        impact_coef=DEFAULT_IMPACT_COEF,
    )


def impact_coef_from_quote(
    notional_usd: float, oracle_out: float, quoted_out: float, pool_fee_bps: float
) -> float:
    """Impact coefficient implied by a quote for a trade of ``notional_usd``.

    The fractional shortfall of the quote against the oracle price, minus the pool fee (charged
    separately), divided by the notional: ``((oracle_out − quoted_out)/oracle_out − fee) / x``.
    Never negative.

    Args:
        notional_usd: The quoted trade's notional, USD (> 0).
        oracle_out: What the trade would return at the oracle price (any unit).
        quoted_out: What QuoterV2 says it returns (same unit).
        pool_fee_bps: The pool's fee tier in bps.
    """
    if not (notional_usd > 0.0 and oracle_out > 0.0):
        raise ValueError("notional and oracle output must be positive")
    shortfall = (oracle_out - quoted_out) / oracle_out - pool_fee_bps / 1e4
    return max(0.0, shortfall) / notional_usd


def impact_coef_from_depth(depth_usd: float) -> float:
    """Impact coefficient of a pool ``depth_usd`` deep: ``1 / depth``, at most 1.

    A constant product over virtual reserves worth ``depth`` a side gives a trade of ``x`` USD
    ``x / (depth + x)`` less than its price, ``x / depth`` to first order (a little more than
    it gets: the model errs toward cost). A depth under 1 USD (nothing in range) is 1: any
    trade costs as much as it moves.
    """
    if not depth_usd > 1.0:
        return 1.0
    return 1.0 / depth_usd


def wei_to_usd(wei: int, eth_usd: float) -> float:
    """Convert wei to USD (the cost model's one int → float conversion)."""
    return float(wei) * eth_usd / 1e18


def fixed_cost_usd(c: CostInputs) -> float:
    """The per-transaction cost a batch shares, USD (its one swap excluded: :func:`swap_usd`)."""
    return wei_to_usd(c.gas_fixed * c.gas_price_wei + c.l1_fee_fixed_wei, c.eth_usd)


def swap_usd(c: CostInputs) -> float:
    """The gas of the batch's one pool swap, USD (paid when the net trade is not zero)."""
    return wei_to_usd(c.gas_swap * c.gas_price_wei, c.eth_usd)


def direct_usd(c: CostInputs) -> float:
    """The gas and L1 fee of one vault's rebalance sent to the vault itself, USD."""
    return wei_to_usd(c.gas_direct * c.gas_price_wei + c.l1_fee_direct_wei, c.eth_usd)


def lone_usd(c: CostInputs) -> float | None:
    """The gas and L1 fee of one vault's rebalance when it has a figure of its own, USD.

    Its own transaction (:func:`direct_usd`) when ``gas_direct`` is set, else a batch of one
    at ``gas_batch_one`` (with a batch's L1 fee) when that is set; ``None``: a batch of one
    priced as any batch (``fixed + per_vault + swap``).
    """
    if c.gas_direct:
        return direct_usd(c)
    if c.gas_batch_one:
        return wei_to_usd(
            c.gas_batch_one * c.gas_price_wei + c.l1_fee_fixed_wei + c.l1_fee_per_vault_wei,
            c.eth_usd,
        )
    return None


def single_fixed_usd(c: CostInputs) -> float:
    """The fixed cost one vault alone pays per rebalance, USD.

    :func:`lone_usd` when it has a figure, else a batch of one: the transaction, its swap and
    the vault's own gas and calldata. The backtester's per-rebalance fixed cost.
    """
    lone = lone_usd(c)
    if lone is not None:
        return lone
    return fixed_cost_usd(c) + swap_usd(c) + per_vault_fixed_usd(c)


def lone_share_usd(c: CostInputs) -> float:
    """What a lone vault pays per rebalance beyond its own per-vault part, USD.

    :func:`single_fixed_usd` less :func:`per_vault_fixed_usd` (exactly ``fixed + swap`` for a
    batch of one priced as a batch): the ``fixed_share_usd`` a policy adds to
    :func:`marginal_cost_usd` when a vault trades alone, as in the backtester.
    """
    lone = lone_usd(c)
    if lone is not None:
        return lone - per_vault_fixed_usd(c)
    return fixed_cost_usd(c) + swap_usd(c)


def batch_cost_usd(
    c: CostInputs,
    notional_usd: ArrayLike,
    pools: ArrayLike | None = None,
    venues: ArrayLike | None = None,
    first_buys: ArrayLike | None = None,
) -> float:
    """A batch's full cost, one swap per pool, USD (module docstring).

    Each pool's fee and impact are its own (:meth:`CostInputs.at_pool`); pools on one venue
    compound their impacts at the largest of their coefficients (one Uniswap pool's depth).

    Args:
        c: Cost inputs.
        notional_usd: Each member's signed traded notional (trade × spot), USD.
        pools: Each member's pool key (:attr:`~keeper.strategy.types.VaultView.pool`);
            ``None``: every member in one pool, at ``c``'s own fee and impact.
        venues: Each member's venue key (:attr:`~keeper.strategy.types.VaultView.venue`, as
            ints): pools on one venue compound their impacts; ``None``: each pool its own venue.
        first_buys: Each member's first purchase flag
            (:attr:`~keeper.strategy.types.VaultDecision.first_buy`): each one set pays
            :func:`first_buy_usd`; ``None``: none.

    Returns:
        0 for an empty batch; for one vault with a figure of its own (:func:`lone_usd`: its own
        transaction with ``gas_direct``, else ``gas_batch_one``), that figure's cost.
    """
    x = np.asarray(notional_usd, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0
    first = 0 if first_buys is None else int(np.count_nonzero(first_buys))
    surcharge = first * first_buy_usd(c) if first else 0.0
    if pools is not None:
        keys, at = np.unique(np.asarray(pools).ravel(), return_inverse=True)
        if len(keys) > 1:
            at = at.ravel()
            nets = np.bincount(at, weights=x, minlength=len(keys))
            swaps = swap_usd(c) * float(np.count_nonzero(nets))
            terms = [c.at_pool(int(k)) for k in keys.tolist()] if c.pool_terms else [c]
            per_pool = len({(t.pool_fee_bps, t.impact_coef) for t in terms}) > 1
            if per_pool:
                rate = np.asarray([t.pool_fee_bps / 1e4 for t in terms])
                coef = np.asarray([t.impact_coef for t in terms])
                fees = float(np.sum(rate * np.abs(nets)))
            else:  # one figure for every pool: the one pair's sums, to the bit
                c = terms[0]
                coef = np.full(len(keys), c.impact_coef)
                fees = c.pool_fee_bps / 1e4 * float(np.sum(np.abs(nets)))
            if venues is None:
                moved = nets
            else:  # each pool's venue (one per pool: its key names the venue), then per venue
                venue_of = np.zeros(len(keys), dtype=np.int64)
                venue_of[at] = np.asarray(venues, dtype=np.int64).ravel()
                _, v_at = np.unique(venue_of, return_inverse=True)
                v_at = v_at.ravel()
                moved = np.bincount(v_at, weights=nets)
                venue_coef = np.zeros(len(moved))
                np.maximum.at(venue_coef, v_at, coef)
                coef = venue_coef
            if per_pool:
                impact = float(np.sum(coef * moved * moved))
            else:
                impact = c.impact_coef * float(np.sum(moved * moved))
            per = x.size * per_vault_fixed_usd(c)
            return fixed_cost_usd(c) + per + swaps + fees + impact + surcharge
        c = c.at_pool(int(keys[0]))
    net = float(np.sum(x))
    lone = lone_usd(c) if x.size == 1 else None
    if lone is not None:
        return lone + float(proportional_rate(c, net)) * abs(net) + surcharge
    swap = swap_usd(c) if net != 0.0 else 0.0
    per = x.size * per_vault_fixed_usd(c)
    return fixed_cost_usd(c) + per + swap + float(proportional_rate(c, net)) * abs(net) + surcharge


def first_buy_usd(c: CostInputs) -> float:
    """What a buy costs more when its vault holds no underlying, USD (``gas_first_buy``)."""
    return wei_to_usd(c.gas_first_buy * c.gas_price_wei, c.eth_usd)


def per_vault_fixed_usd(c: CostInputs) -> float:
    """The per-vault gas and calldata cost inside a batch, USD."""
    return wei_to_usd(c.gas_per_vault * c.gas_price_wei + c.l1_fee_per_vault_wei, c.eth_usd)


def proportional_rate(c: CostInputs, notional_usd: ArrayLike) -> FloatArray:
    """Cost per USD traded at this notional: pool fee plus slippage (the WW ``λ``)."""
    x = np.abs(np.asarray(notional_usd, dtype=np.float64))
    out: FloatArray = c.pool_fee_bps / 1e4 + c.impact_coef * x
    return out


def marginal_cost_usd(c: CostInputs, notional_usd: ArrayLike) -> FloatArray:
    """One vault's marginal cost inside a batch, USD, for a traded notional (USD)."""
    x = np.abs(np.asarray(notional_usd, dtype=np.float64))
    out: FloatArray = per_vault_fixed_usd(c) + proportional_rate(c, x) * x
    return out
