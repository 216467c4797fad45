"""From a snapshot to a :class:`RebalancePlan`: per-vault decisions, then batch selection.

The per-vault decision is the policy's vectorized :meth:`~keeper.strategy.policies.Policy.evaluate`
(the code the backtester runs), evaluated with no share of the fixed cost, on the trade the
contract will execute: the policy's requested post-trade deviation (priced with the share of the
fixed cost the vault expects to bear, :func:`_fixed_share_usd`: a lone vault's, as in the
backtester, or the batch's split over the vaults the contract would accept now), a buy's moved
nearer the target by the vault's slippage bound so that what it books ends within it
(:func:`~keeper.strategy.rebalance_rule.compensated_post`), truncated toward the target
(:func:`~keeper.strategy.rebalance_rule.post_deviation_wad`), bounded by
:func:`~keeper.strategy.rebalance_rule.executed_trade` on the vault's Wad ints and capped, as
``RebalanceRules.plan`` caps it, by what the vault holds
(:func:`~keeper.strategy.rebalance_rule.funded_trade`: a buy spends at most its free quote, a
sell at most its inventory). The policy's benefit and cost, and so whether it acts, are those of
that capped trade (the backtester caps a vault-bound run's sells at its inventory the same way;
its vault is funded for any buy).

Each vault is priced at its own pool's fee tier and impact (:meth:`CostInputs.at_pool`): the
policy decides each group of vaults that share them with those figures, so a vault on a deep
pool is not priced at a thin pool's. A buy by a vault that holds no underlying
(``VaultView.inventory`` 0) bears ``CostInputs.gas_first_buy`` besides its marginal cost, in
*whether* it trades and in the batch's cost (not in *how far*: it is paid once).

Batch selection prices the batch as the batcher runs it
(:func:`~keeper.strategy.costs.batch_cost_usd`: the fixed cost once, each vault's own gas and
calldata, and per *pool* one swap's gas, fee and impact on that pool's *net* notional, crossed
amounts free; a batch of one vault at its own figure when it has one,
:func:`~keeper.strategy.costs.lone_usd`: that vault's own transaction with
``CostInputs.gas_direct``, else the batcher's path for one vault with ``gas_batch_one``). A pool
(:attr:`~keeper.strategy.types.VaultView.pool`) is what ``RebalanceBatcher._join`` crosses: the
same venue, tokens and oracle price; trades in different pools never cross, each pool swaps its
own remainder.

* a vault is eligible only if the contract would accept it now (``trigger_ready``) and the
  policy wants it;
* for the cost-gated ``costaware`` policy, the eligible vaults are split by pool and each pool
  is selected on its own, as if it were the whole batch (it pays the full fixed cost): its batch
  starts with every eligible vault whose benefit beats its own marginal cost alone; then, while
  removing one member raises the batch's value ``Σ benefit − batch cost``, the member whose
  removal raises it most leaves; the pool's batch is kept only if its value is positive. No
  single member's removal would raise the value of its pool's batch (a vault whose trade crosses
  others' can stay although its benefit is below its cost alone). The batch sent is the union
  of the pools' batches, priced as it executes: the fixed cost is paid once, so the union is
  worth at least the sum of its pools' values, except that a pool of one vault priced at its
  own figure (``gas_direct``, ``gas_batch_one``) becomes a batch member, and that pools on one venue
  (:attr:`~keeper.strategy.types.VaultView.venue`) swap in a row on it, so their impacts
  compound; if the union is worth less than the pool worth most alone, only that pool is sent
  (the others wait for a later block). With one pool this is the single selection;
* for the rule policies (time, band, volband, bandedge, ww) the batch is every eligible vault;
* for every policy, a pool whose swap would keep more of its net than its legs' slippage bounds
  allow (:func:`_swap_short`, at the pool's own fee and depth) is held back: the batcher could
  not fill its legs, and its revert would name no pool, so the simulation would drop every
  vault at that bound, other pools' too. A cost-gated policy's other pools are selected
  without it.

Amounts: the on-chain deviation and trade are exact :data:`~keeper.units.Wad` ints; the float
deviation and max trade the policies see are converted once here, with
:func:`~keeper.units.wad_to_float`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace

import numpy as np

from keeper.strategy.costs import (
    batch_cost_usd,
    first_buy_usd,
    fixed_cost_usd,
    lone_share_usd,
    lone_usd,
    per_vault_fixed_usd,
    swap_usd,
)
from keeper.strategy.policies import Policy, Reason
from keeper.strategy.rebalance_rule import (
    UNDERLYING_PRICE_TO_QUOTE,
    compensated_post,
    executed_trade,
    funded_trade,
    post_deviation_wad,
)
from keeper.strategy.types import (
    CostInputs,
    Evaluation,
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
        vol=arr([market.vault_vols.get(v.vault, market.forecast_vol) for v in vaults]),
        contracts=arr([v.contracts for v in vaults]),
        tau=arr([v.time_to_expiry for v in vaults]),
        elapsed_s=arr([float(market.now - v.last_rebalance) for v in vaults]),
        max_interval_s=arr([float(v.max_interval) for v in vaults]),
        max_trade=arr([wad_to_float(v.max_trade) for v in vaults]),
        # ``RebalanceRules.oracleStatus`` refuses an answer <= 0: no trigger is ready without a
        # price (the live book never pairs them; a hand-built or broken view could).
        # Nor one whose pool has nothing in range at its price (VaultView.pool_empty).
        ready=np.asarray(
            [v.trigger_ready and 0.0 < v.spot < math.inf and not v.pool_empty for v in vaults],
            dtype=bool,
        ),
        reference_vol=np.full(len(vaults), market.reference_vol, dtype=np.float64),
        band=arr([wad_to_float(v.band) for v in vaults]),
    )


def _int_trades(
    deviations: Sequence[int], posts: Sequence[Wad], vaults: Sequence[VaultView]
) -> list[Wad]:
    """The contract's trade for each vault's ``post``, exact in 1e18 units.

    :func:`executed_trade` over ``dtype=object`` arrays of Python ints (one call for every
    vault), then capped by what the vault can pay for, :func:`funded_trade` (its free quote for
    a buy, its inventory for a sell; no cap where the view has none).
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
    return [
        Wad(funded_trade(int(t), v.oracle_price, v.free_quote, v.inventory))
        for t, v in zip(out.tolist(), vaults, strict=True)
    ]


_ULP = 2.0**-53  # float64's unit roundoff u
_POOL_MIN, _POOL_MAX = 32, 1024  # kinds of member a certified run draws its guesses from
_GUESS_MIN, _GUESS_MAX = 8, 128  # rounds one guess covers
_SEGMENTS = 8  # pieces of the chord under the unguessed members' lower envelope
Terms = tuple[float, float, float, float, float]  # fixed, per, swap, fee, impact


def _select(benefit: np.ndarray, notional: np.ndarray, costs: CostInputs) -> np.ndarray:
    """Greedy removal over a candidate batch (module docstring): the members kept.

    Each round prices the batch and every one-member-smaller batch, with :func:`batch_cost_usd`'s
    terms in its order (a batch of one at the lone vault's own figure when it has one,
    :func:`~keeper.strategy.costs.lone_usd`; only exact rounds reach two members or fewer): the
    member whose removal gives the highest value leaves (the first in order on a tie) if that
    beats the batch's value. The result is bit for bit that of pricing every round in full, with
    ``np.sum`` over the remaining members (in order) as the batch's net and benefit, but most
    rounds are not priced in full:

    * an *exact round* prices every member exactly so (the same float expressions over the same
      compacted arrays, so the same values and the same ``np.argmax`` tie-break);
    * after it, :func:`_certified_run` removes the members it can *prove* the following rounds
      would remove, with rigorous float error bounds instead of a fresh ``np.sum`` each round,
      and stops at the first round it cannot prove (a near-tie, a net near a member's or zero),
      which the next exact round decides.

    Members with the same benefit and notional (a *kind*) are priced the same, bit for bit, in
    every round, so they tie and leave lowest position first; runs work on kinds with counts
    (a book of identical vaults is one kind). An exact round and a run each cost O(n) numpy
    work; a run removes up to thousands of members instead of one.
    """
    keep = np.zeros(len(benefit), dtype=bool)
    terms = fixed, per, swap, fee, impact = (
        fixed_cost_usd(costs),
        per_vault_fixed_usd(costs),
        swap_usd(costs),
        costs.pool_fee_bps / 1e4,
        costs.impact_coef,
    )
    lone = lone_usd(costs)
    idx = np.arange(len(benefit))
    b = np.asarray(benefit, dtype=np.float64)
    x = np.asarray(notional, dtype=np.float64)
    pair = np.empty(len(b), dtype=np.complex128)
    pair.real, pair.imag = b, x
    kinds, kind_all = np.unique(pair, return_inverse=True)
    kind_all = kind_all.ravel()
    by_kind = np.argsort(kind_all, kind="stable")  # members grouped by kind, in order
    kind_sorted = kind_all[by_kind]
    kind_start = np.searchsorted(kind_sorted, kind_sorted)  # where each one's kind starts
    pool, wait, backoff = _POOL_MIN, 0, 1
    while len(idx):
        m = len(idx)
        total = b.sum()
        net = float(np.sum(x))
        cost = (
            fixed + m * per + (swap if net != 0.0 else 0.0) + (fee + impact * abs(net)) * abs(net)
        )
        if m == 1 and lone is not None:  # a lone vault at its own figure
            cost = lone + (fee + impact * abs(net)) * abs(net)
        value = float(total) - cost
        if m == 1:
            without = np.zeros(1)  # the empty batch: no benefit, no cost
        else:
            net_wo = net - x
            abs_wo = np.abs(net_wo)
            if m == 2 and lone is not None:  # the member left at its own figure
                cost_wo = lone + (fee + impact * abs_wo) * abs_wo
            else:
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
        alive = np.ones(m, dtype=bool)
        alive[best] = False
        if wait:
            wait -= 1
        else:
            counts = np.bincount(kind_all[idx[alive]], minlength=len(kinds))
            kind_of = (kinds.real, kinds.imag, counts)
            taken = _certified_run(b, x, kind_of, net - float(x[best]), pool, terms)
            gone = int(taken.sum())
            if gone:
                # Each kind's lowest-positioned members leave (the tie-break): rank the members
                # left in each kind by position.
                in_batch = np.zeros(len(benefit), dtype=bool)
                in_batch[idx[alive]] = True
                grouped = in_batch[by_kind]
                seen = np.cumsum(grouped)
                rank = seen - 1 - (seen - grouped)[kind_start]
                out = by_kind[grouped & (rank < taken[kind_sorted])]
                alive[np.searchsorted(idx, out)] = False
            pool = min(_POOL_MAX, max(_POOL_MIN, 2 * gone))
            # A run that proves nothing waits out 1, 2, 4, ... exact rounds before the next.
            wait, backoff = (0, 1) if gone else (backoff, 2 * backoff)
        idx, b, x = idx[alive], b[alive], x[alive]
    keep[idx] = True
    return keep


def _certified_run(
    b: np.ndarray,
    x: np.ndarray,
    kind_of: tuple[np.ndarray, np.ndarray, np.ndarray],
    start: float,
    pool_size: int,
    terms: Terms,
) -> np.ndarray:
    """How many members of each kind the next rounds remove, as far as it can be proved.

    ``b``, ``x`` are the batch of an exact round whose ``np.sum`` net less the member it removed
    is ``start``; ``kind_of`` gives each kind's benefit, notional and count of members left. In a
    later round with float net ``v`` the full computation values the batch without member ``i``
    at ``Q − h_i(v) + r_i`` and the batch itself at ``Q − per − g(v) + r``, where ``Q`` is common
    to the round, ``h_i(v) = b_i + g(v − x_i)``, ``g(y) = swap·[y ≠ 0] + (fee + impact·|y|)·|y|``
    and ``r_i``, ``r`` are rounding errors. So a member of kind ``c`` leaves (the kind's first
    left) if ``h_c`` is below every other kind's and ``per − h_c(v) + g(v) > 0``, each by more
    than the error bounds: a strict win in real numbers by more than the errors is a strict win
    in floats, and members of one kind tie bit for bit.

    The run tracks a guessed net ``N'`` with ``|v − N'| <= e_n`` (the any-order summation bound
    ``γ_m·Σ|x|``, for ``np.sum`` and for the running subtraction: no assumption about numpy's
    summation order). Its candidates are a *pool*, the kinds with the lowest ``h``, and every
    kind whose notional lies in the interval the net can reach by removing pool members; for
    every other kind the sign of ``v − x_r`` is fixed over that interval, so ``h_r(v) − impact·v²``
    is a line in ``v`` (:func:`_lines`). Guesses (candidates by ``h`` at the current net, each
    repeated up to its count) are checked round by round in one matrix; the rounds up to the
    first that fails (a wrong guess, a near-tie, ``swap·[·]`` not settled within ``e_n``, the net
    leaving the interval) are accepted and the next guess starts there; a guess failing in its
    first round ends the run.

    Returns:
        The members removed, per kind.
    """
    kind_b, kind_x, counts = kind_of
    taken = np.zeros(len(counts), dtype=np.int64)
    _, per, swap, fee, impact = terms
    m = len(b)
    big_a = float(np.abs(x).sum()) * (1.0 + 4.0 * m * _ULP)  # >= Σ|x| over any later round
    big_b = float(np.abs(b).sum()) * (1.0 + 4.0 * m * _ULP)  # >= |Σb|, |b_i| in any later round
    # |v − N'|: np.sum's error and N''s (the exact round's np.sum, then at most m removals each
    # a cumulative-sum term and a subtraction), each <= 1.01·k·u·Σ|x|, with room to spare.
    e_n = 8.0 * (m + 2) * _ULP * big_a
    y_max = 2.01 * big_a + e_n  # >= |v|, |v − x_i|, |N'|, |N' − x_i|
    g_max = swap + (fee + impact * y_max) * y_max
    lip = fee + 2.0 * impact * y_max  # Lipschitz bound of g, and of h_r − impact·v², off y = 0
    # One value's rounding (the full computation's or ours, the chord's) plus the net's doubt.
    err = 64.0 * _ULP * (4.0 * big_b + abs(terms[0]) + m * abs(per) + 4.0 * g_max) + lip * e_n
    margin = 4.0 * err
    present = np.flatnonzero(counts)
    if not (math.isfinite(margin) and len(present)):
        return taken

    def g_low(dist: np.ndarray) -> np.ndarray:
        """``g`` at ``|y| = dist`` from a guessed net: the swap only where ``dist > e_n``."""
        out: np.ndarray = (fee + impact * dist) * dist + np.where(dist > e_n, swap, 0.0)
        return out

    kb, kx, kn = kind_b[present], kind_x[present], counts[present]
    p = min(pool_size, len(present))
    pool = np.argpartition(kb + g_low(np.abs(start - kx)), p - 1)[:p]
    lo = start - float((kn[pool] * np.maximum(kx[pool], 0.0)).sum()) - 2.0 * e_n
    hi = start + float((kn[pool] * np.maximum(-kx[pool], 0.0)).sum()) + 2.0 * e_n
    if not hi > lo:
        return taken
    in_cand = (kx >= lo) & (kx <= hi)  # kinds whose v − x_r may change sign
    in_cand[pool] = True
    cand = np.flatnonzero(in_cand)
    if len(cand) > 4 * p + 256:  # a wide reach (crossing books): the exact rounds are cheaper
        return taken
    far_lines = _lines(kb[~in_cand], kx[~in_cand], lo, hi, terms, _SEGMENTS)
    cb, cx, left = kb[cand], kx[cand], kn[cand].copy()
    base, size, guess = start, m - 1, _GUESS_MIN
    while True:
        live = np.flatnonzero(left > 0)
        k = min(guess, size - 3)  # every certified round keeps >= 3 members
        if k < 1 or not len(live):
            break
        xl, bl = cx[live], cb[live]
        h_now = bl + g_low(np.abs(base - xl))
        t = min(k, len(live))
        part = np.argpartition(h_now, t - 1) if len(live) > t else np.arange(len(live))
        top = part[:t][np.argsort(h_now[part[:t]], kind="stable")]
        slot = np.repeat(np.arange(t), np.minimum(left[live[top]], k))[:k]  # rounds -> kinds
        rows = np.arange(len(slot))
        nets_all = base - np.concatenate(([0.0], np.cumsum(xl[top][slot])))
        nets = nets_all[: len(slot)]
        n_lo, n_hi = float(nets.min()) - e_n, float(nets.max()) + e_n
        # Candidates left out of the guess: near a guessed net, priced at each; else lines.
        rest = part[t:]
        far = (xl[rest] < n_lo) | (xl[rest] > n_hi)
        cols = np.concatenate((top, rest[~far]))
        dist = np.abs(nets[:, None] - xl[cols][None, :])
        h = bl[cols][None, :] + g_low(dist)
        diag, diag_dist = h[rows, slot], dist[rows, slot]
        # A kind is a rival in a round while it has members left (only guessed kinds can run
        # out), the leaving kind never.
        used = np.zeros((len(slot), t))
        used[rows, slot] = 1.0
        h[:, :t][left[live[top]][None, :] - (np.cumsum(used, axis=0) - used) <= 0.0] = np.inf
        h[rows, slot] = np.inf
        rivals = np.minimum(h.min(axis=1), impact * nets * nets + far_lines(nets))
        if far.any():
            near_lines = _lines(bl[rest[far]], xl[rest[far]], n_lo, n_hi, terms)
            rivals = np.minimum(rivals, impact * nets * nets + near_lines(nets))
        abs_net = np.abs(nets)
        pays = per - diag + (fee + impact * abs_net) * abs_net + np.where(abs_net > e_n, swap, 0.0)
        ok = (rivals - diag > margin) & (pays > margin) & (nets - e_n >= lo) & (nets + e_n <= hi)
        if swap != 0.0:
            ok &= (diag_dist > e_n) & (abs_net > e_n)
        bad = np.flatnonzero(~ok)
        done = int(bad[0]) if len(bad) else len(slot)
        if done == 0:
            break
        left[live[top]] -= np.bincount(slot[:done], minlength=t)
        base, size = float(nets_all[done]), size - done
        guess = min(_GUESS_MAX, 2 * guess) if done == len(slot) else max(_GUESS_MIN, done)
    taken[present[cand]] = kn[cand] - left
    return taken


def _lines(
    b: np.ndarray,
    x: np.ndarray,
    lo: float,
    hi: float,
    terms: Terms,
    segments: int = 1,
) -> Callable[[np.ndarray], np.ndarray]:
    """A lower bound of ``min_r h_r(v) − impact·v²`` for ``v`` in ``[lo, hi]`` (``lo < hi``).

    Every ``x_r`` must lie outside ``[lo, hi]``: the sign of ``v − x_r`` is then fixed, so
    ``h_r(v) − impact·v²`` (see :func:`_certified_run`) is a line in ``v``, swap included. The
    lowest line is concave, so above its chord through ``segments + 1`` evenly spaced points.
    """
    _, _, swap, fee, impact = terms
    if not len(x):
        return lambda v: np.full(len(v), np.inf)
    side = np.where(x < lo, 1.0, -1.0)  # the sign of v − x_r
    level = b + impact * x * x - fee * side * x + swap
    slope = fee * side - 2.0 * impact * x
    knots = np.linspace(lo, hi, segments + 1)
    low = (level[None, :] + slope[None, :] * knots[:, None]).min(axis=1)
    return lambda v: np.interp(v, knots, low)


def _swap_short(notional: np.ndarray, slip_bps: np.ndarray, costs: CostInputs) -> str:
    """Why one pool's batch of ``notional`` (signed, USD) cannot be filled; ``""`` if it can.

    The batcher crosses the legs at the oracle price and swaps the net on the pool, and each leg
    on the net side must get at least ``1 − b_i`` of its input's worth (``b_i`` its bound,
    ``slip_bps`` / 1e4; 0: none): with ``W`` the net side's total, the swap may keep at most
    ``b·W`` of the net, ``b`` the side's strictest bound. It keeps ``s·|net|``,
    ``s = 1 − (1 − f) / (1 + k·(1 − f)·|net|)`` at the pool's fee ``f`` and impact ``k``
    (``costs``'): a constant product over virtual reserves ``1/k`` deep, the fee taken off the
    input. A lone vault sent to itself has the same bound on its own swap (``W = |net|``).
    """
    net = float(np.sum(notional))
    side = notional > 0.0 if net > 0.0 else notional < 0.0
    bounds = slip_bps[side & (slip_bps > 0)]
    if net == 0.0 or not len(bounds):
        return ""
    bound = float(bounds.min())
    fee = costs.pool_fee_bps / 1e4
    kept = 1.0 - (1.0 - fee) / (1.0 + costs.impact_coef * (1.0 - fee) * abs(net))
    if kept * abs(net) <= bound / 1e4 * float(np.sum(np.abs(notional[side]))):
        return ""
    return (
        f"; its pool's swap of {abs(net):.4g} USD would keep {kept:.3%} of it, past the "
        f"slippage bound ({bound:g} bps)"
    )


def _select_pools(
    benefit: np.ndarray,
    notional: np.ndarray,
    pools: np.ndarray,
    want: np.ndarray,
    costs: CostInputs,
    venues: np.ndarray | None = None,
    first: np.ndarray | None = None,
    slip_bps: np.ndarray | None = None,
    held: set[int] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """The cost-gated batch: :func:`_select` in each pool, then their union (module docstring).

    Args:
        benefit: Each vault's benefit, USD.
        notional: Each vault's signed traded notional, USD.
        pools: Each vault's pool key.
        want: The vaults the policy wants to act on (the candidates).
        costs: Cost inputs (each pool selected at its own fee and impact,
            :meth:`CostInputs.at_pool`).
        venues: Each vault's venue key (:func:`_venue_keys`); ``None``: each pool its own.
        first: Each vault's first purchase flag (it pays :func:`first_buy_usd` more: a cost of
            its own, so :func:`_select` sees it as that much less benefit); ``None``: none.
        slip_bps: Each vault's slippage bound, bps: a pool whose selected batch's swap would
            fall short of it (:func:`_swap_short`) is not kept; ``None``: not checked.
        held: Where to add the keys of the pools so held back, if given.

    Returns:
        The members kept (a mask over every vault) and, per pool key with candidates, the note a
        dropped vault's reason gets.
    """
    fixed = fixed_cost_usd(costs)
    if first is None:
        first = np.zeros(len(benefit), dtype=bool)
    own = np.where(first, first_buy_usd(costs), 0.0) if first.any() else None
    cand_all = np.flatnonzero(want)
    keys, at = np.unique(pools[cand_all], return_inverse=True)
    at = at.ravel()
    order = np.argsort(at, kind="stable")  # each pool's candidates, in order
    bounds = np.searchsorted(at[order], np.arange(len(keys) + 1))
    where = " in its pool" if len(keys) > 1 else ""
    keep_all = np.zeros(len(benefit), dtype=bool)
    values: dict[int, float] = {}
    notes: dict[int, str] = {}
    for k, key in enumerate(keys.tolist()):
        cand = cand_all[order[bounds[k] : bounds[k + 1]]]
        at_pool = costs.at_pool(int(key))
        net_benefit = benefit[cand] if own is None else benefit[cand] - own[cand]
        keep = _select(net_benefit, notional[cand], at_pool)
        value = float(benefit[cand][keep].sum()) - batch_cost_usd(
            at_pool, notional[cand][keep], first_buys=first[cand][keep]
        )
        short = (
            ""
            if slip_bps is None
            else _swap_short(notional[cand][keep], slip_bps[cand][keep], at_pool)
        )
        if short:
            notes[key] = short
            if held is not None:
                held.add(int(key))
            continue
        if not keep.any() or not value > 0.0:
            total = float(benefit[cand].sum())
            notes[key] = (
                f"; batch benefit {total:.4g} USD <= its cost "
                f"{batch_cost_usd(at_pool, notional[cand], first_buys=first[cand]):.4g} USD "
                f"(fixed cost {fixed:.4g} USD){where}"
            )
            continue
        notes[key] = f"; its trade does not pay for itself inside the batch{where}"
        keep_all[cand[keep]] = True
        values[key] = value
    if len(values) > 1:
        # Each pool paid the full fixed cost alone; together they pay it once, but a pool of one
        # vault is then a batch member rather than the vault's own (cheaper) transaction, and
        # pools on one venue compound their impacts.
        union = float(benefit[keep_all].sum()) - batch_cost_usd(
            costs,
            notional[keep_all],
            pools[keep_all],
            None if venues is None else venues[keep_all],
            first[keep_all],
        )
        if union < max(values.values()):
            best = max(values, key=lambda key: values[key])
            for key in values:
                if key != best:
                    keep_all[pools == key] = False
                    notes[key] = (
                        "; the batch across pools is worth less than its best pool alone "
                        "(sent that pool)"
                    )
    return keep_all, notes


def _booked_at_post(state: HedgeState, vaults: Sequence[VaultView], post: np.ndarray) -> np.ndarray:
    """The policy's points, each buy's moved so that what it books ends within it.

    :func:`~keeper.strategy.rebalance_rule.compensated_post` with each vault's slippage bound
    (what its buy books at the least) and the quote rounding.
    """
    band = state.band if state.band is not None else np.full(len(vaults), np.inf)
    oracle = np.asarray([float(v.oracle_price) for v in vaults], dtype=np.float64)
    slip = np.asarray([v.max_slippage_bps / 1e4 for v in vaults], dtype=np.float64)
    with np.errstate(divide="ignore"):
        rounding = np.where(oracle > 0.0, 2.0 * UNDERLYING_PRICE_TO_QUOTE / 1e18 / oracle, 0.0)
    out: np.ndarray = compensated_post(state.deviation, post, band, slip, rounding)
    return out


def _fixed_share_usd(state: HedgeState, costs: CostInputs) -> float:
    """The share of the transaction's fixed cost a rebalancing vault expects to bear, USD.

    What *how far* is priced with (:meth:`~keeper.strategy.policies.Policy.post_deviation`).
    The candidates are the vaults the contract would accept now (``ready``, a deviation): one
    alone pays what a lone vault pays (:func:`~keeper.strategy.costs.lone_share_usd`: its own
    transaction with ``gas_direct``, a batch of one at ``gas_batch_one``), exactly as the
    backtester prices each rebalance; ``k`` of them split the batch's fixed cost and one swap.
    *Whether* to trade is priced as before: each vault with no share, then the batch selection
    with the fixed cost once per batch.
    """
    k = int(np.count_nonzero(state.ready & (state.deviation != 0.0)))
    if k <= 1:
        return lone_share_usd(costs)
    return (fixed_cost_usd(costs) + swap_usd(costs)) / k


def _rows(state: HedgeState, rows: np.ndarray) -> HedgeState:
    """The state of ``rows`` only (every per-row array taken at them)."""
    arrays = {
        f.name: value[rows]
        for f in fields(state)
        if isinstance(value := getattr(state, f.name), np.ndarray)
    }
    return replace(state, **arrays)


def _by_pool_terms(
    pools: np.ndarray, costs: CostInputs, split: np.ndarray | None = None
) -> list[tuple[CostInputs, np.ndarray | None]]:
    """The vaults grouped by the costs their pools (``pools``, a key each) price them at.

    Each vault's pool's own fee and impact (:meth:`CostInputs.at_pool`), and with ``split``
    (a flag per vault) the flag too. One group is ``[(costs, None)]``: every row, at ``costs``.
    """
    flags = np.zeros(len(pools), dtype=bool) if split is None else split
    if not costs.pool_terms and not flags.any():
        return [(costs, None)]
    keys, at = np.unique(pools, return_inverse=True)
    own = costs.pool_terms
    terms = [own.get(int(k), (costs.pool_fee_bps, costs.impact_coef)) for k in keys.tolist()]
    distinct = list(dict.fromkeys(terms))
    if len(distinct) == 1 and not flags.any():
        return [(replace(costs, pool_fee_bps=distinct[0][0], impact_coef=distinct[0][1]), None)]
    of_key = np.asarray([distinct.index(t) for t in terms], dtype=np.intp)
    group = 2 * of_key[at.ravel()] + flags
    out: list[tuple[CostInputs, np.ndarray | None]] = []
    for g in np.unique(group).tolist():
        fee, impact = distinct[g // 2]
        rows = np.flatnonzero(group == g)
        out.append((replace(costs, pool_fee_bps=fee, impact_coef=impact), rows))
    return out


def _post_by_pool(
    policy: Policy, state: HedgeState, vaults: Sequence[VaultView], costs: CostInputs, share: float
) -> np.ndarray | None:
    """The policy's requested post-trade deviations, each vault's at its own pool's costs."""
    groups = _by_pool_terms(np.asarray([v.pool for v in vaults], dtype=np.int64), costs)
    out: np.ndarray | None = None
    for at, rows in groups:
        part = policy.post_deviation(state if rows is None else _rows(state, rows), at, share)
        if part is None:
            return None
        if rows is None:
            return np.asarray(part, dtype=np.float64)
        if out is None:
            out = np.zeros(len(vaults), dtype=np.float64)
        out[rows] = part
    return out


def _evaluate_by_pool(
    policy: Policy,
    state: HedgeState,
    vaults: Sequence[VaultView],
    costs: CostInputs,
    trade: np.ndarray,
    first: np.ndarray,
) -> Evaluation:
    """The policy's evaluation of ``trade``, each vault at its own pool's fee and impact.

    A first purchase (``first``) bears :func:`first_buy_usd` besides its marginal cost, as a
    fixed cost of its own (in its ``cost_usd``, and so in whether it acts). Only *whether*: a
    vault pays it once, so it does not move *how far* its rebalances go.
    """
    groups = _by_pool_terms(np.asarray([v.pool for v in vaults], dtype=np.int64), costs, first)
    if groups[0][1] is None:
        return policy.evaluate(state, groups[0][0], fixed_share_usd=0.0, trade=trade)
    n = len(vaults)
    out = {
        "act": np.zeros(n, dtype=bool),
        "trade": np.zeros(n),
        "benefit_usd": np.zeros(n),
        "cost_usd": np.zeros(n),
        "code": np.zeros(n, dtype=np.int64),
        "threshold": np.zeros(n),
    }
    surcharge = first_buy_usd(costs)
    for at, rows in groups:
        assert rows is not None
        own = surcharge if bool(first[rows[0]]) else 0.0
        part = policy.evaluate(_rows(state, rows), at, fixed_share_usd=own, trade=trade[rows])
        for name, values in out.items():
            values[rows] = getattr(part, name)
    return Evaluation(**out)


def _first_buys(
    vaults: Sequence[VaultView], trades: Sequence[int], costs: CostInputs
) -> np.ndarray:
    """Which trades are buys by a vault that holds no underlying (``inventory`` 0).

    Each pays ``CostInputs.gas_first_buy`` more: its balance of the underlying is written from
    zero. A view that does not say its inventory (``None``) pays nothing more.

    The rule is the vault's *recorded* inventory (``hedgeInventory()``, the one lens call's),
    not its token balance, whose slot is what a write from zero costs: the vault's accounting
    moves only by what arrived on that balance and ignores tokens sent to it directly, so the
    recorded inventory is never above the balance and a vault charged nothing never writes it
    from zero. A vault sent underlying directly (not yet swept) while its recorded inventory is
    0 is charged once although its balance slot is already set (17,100 gas, about USD 0.0005 at
    0.01 gwei). Reading the balance would take a lens change (the underlying's ``balanceOf``
    for every vault, on the steady read too: a transfer moves no book version) for that.
    """
    if not costs.gas_first_buy:
        return np.zeros(len(vaults), dtype=bool)
    return np.asarray(
        [t > 0 and v.inventory == 0 for v, t in zip(vaults, trades, strict=True)], dtype=bool
    )


def plan(
    policy: Policy, vaults: Sequence[VaultView], market: MarketView, costs: CostInputs
) -> RebalancePlan:
    """Decide every vault and choose the batch (see the module docstring)."""
    fixed = fixed_cost_usd(costs)
    if not vaults:
        return RebalancePlan((), (), fixed, 0.0, 0.0)
    state = state_from_views(vaults, market)
    post_f = _post_by_pool(policy, state, vaults, costs, _fixed_share_usd(state, costs))
    if post_f is not None:
        post_f = _booked_at_post(state, vaults, np.asarray(post_f, dtype=np.float64))
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
    trade_f = np.asarray([wad_to_float(t) for t in trades], dtype=np.float64)
    first = _first_buys(vaults, trades, costs)
    ev = _evaluate_by_pool(policy, state, vaults, costs, trade_f, first)
    act = ev.act & np.asarray([t != 0 for t in trades], dtype=bool)
    codes = ev.code.copy()
    notional = trade_f * state.spot
    pool_list, venue_list = [v.pool for v in vaults], [v.venue for v in vaults]
    pools = np.asarray(pool_list, dtype=np.int64)
    venues = _venue_keys(pool_list, venue_list)
    notes: dict[int, str] = {}
    slip = np.asarray([v.max_slippage_bps for v in vaults], dtype=np.float64)
    short: set[int] = set()
    if policy.cost_gated and bool(act.any()):
        keep, notes = _select_pools(
            ev.benefit_usd, notional, pools, act, costs, venues, first, slip, short
        )
    else:  # the rule policies send every eligible vault, but not a pool it cannot fill
        keep = act.copy()
        eligible = np.flatnonzero(act)
        keys, at = np.unique(pools[eligible], return_inverse=True)
        eligible = eligible[np.argsort(at.ravel(), kind="stable")]  # each pool's, in order
        ends = np.cumsum(np.bincount(at.ravel(), minlength=len(keys)))
        by_pool = np.split(eligible, ends[:-1]) if len(keys) else []
        for key, rows in zip(keys.tolist(), by_pool, strict=True):
            why = _swap_short(notional[rows], slip[rows], costs.at_pool(key))
            if why:
                notes[key] = why
                short.add(key)
                keep[rows] = False
    dropped = act & ~keep
    past = np.isin(pools, list(short)) if short else np.zeros(len(vaults), dtype=bool)
    codes[dropped & ~past] = Reason.BENEFIT_BELOW_COST
    codes[dropped & past] = Reason.SWAP_PAST_SLIPPAGE
    act &= keep
    # One pass over plain Python lists (indexing numpy arrays per element is slow at 10k vaults).
    texts = {int(c): f"{policy.family}: {Reason(int(c)).text} (" for c in np.unique(codes)}
    debug = logger.isEnabledFor(logging.DEBUG)
    compares = policy.reason_compares
    decisions = []
    for (
        v,
        pool,
        venue,
        buys_first,
        note,
        dev,
        post,
        trade,
        acts,
        wanted,
        code,
        dev_f,
        threshold,
        elapsed,
        benefit,
        cost,
    ) in zip(
        vaults,
        pool_list,
        venue_list,
        first.tolist(),
        notional.tolist(),
        deviations,
        posts,
        trades,
        act.tolist(),
        ev.act.tolist(),
        codes.tolist(),
        state.deviation.tolist(),
        ev.threshold.tolist(),
        state.elapsed_s.tolist(),
        ev.benefit_usd.tolist(),
        ev.cost_usd.tolist(),
        strict=True,
    ):
        if compares == "cost":  # the rule compares benefit with cost: no "threshold"
            reason = (
                f"{texts[code]}|dev| {abs(dev_f):.6g}, "
                f"benefit {benefit:.4g} USD vs marginal cost {cost:.4g} USD)"
            )
        elif compares == "time":  # live, the interval is in seconds (no grid steps)
            reason = (
                f"{texts[code]}elapsed {elapsed:.0f} s of {threshold:.6g} s, "
                f"|dev| {abs(dev_f):.6g}, "
                f"benefit {benefit:.4g} USD, marginal cost {cost:.4g} USD)"
            )
        else:
            reason = (
                f"{texts[code]}|dev| {abs(dev_f):.6g}, threshold {threshold:.6g}, "
                f"benefit {benefit:.4g} USD, marginal cost {cost:.4g} USD)"
            )
        if wanted and not acts:
            reason += notes.get(pool, "")
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
            notional_usd=float(note) if acts else 0.0,
            pool=pool,
            venue=venue,
            first_buy=acts and buys_first,
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
    total_cost = batch_cost_usd(costs, notional[act], pools[act], venues[act], first[act])
    benefit = math.fsum(d.benefit_usd for d in decisions if d.act)
    return RebalancePlan(
        decisions=tuple(decisions),
        batch=members,
        fixed_cost_usd=fixed if members else 0.0,
        marginal_cost_usd=total_cost - fixed if members else 0.0,
        benefit_usd=benefit,
    )


def batch_value_usd(the_plan: RebalancePlan, members: Sequence[str], costs: CostInputs) -> float:
    """``Σ benefit − batch cost`` of the plan's acting vaults ``members`` sent as one batch, USD.

    What the batch is worth as it executes (:func:`~keeper.strategy.costs.batch_cost_usd`, one
    swap per pool), for a batch the simulation cut short of the plan's (a vault dropped or
    deferred): its crossing and its share of the fixed cost are no longer those the plan chose.
    """
    rows = _acting(the_plan, members)
    if not rows:
        return 0.0
    cost = batch_cost_usd(
        costs,
        [d.notional_usd for d in rows],
        np.asarray([d.pool for d in rows], dtype=np.int64),
        _venue_keys([d.pool for d in rows], [d.venue for d in rows]),
        [d.first_buy for d in rows],
    )
    return math.fsum(d.benefit_usd for d in rows) - cost


def reselect(
    the_plan: RebalancePlan,
    members: Sequence[str],
    costs: CostInputs,
    slippage_bps: Mapping[str, int] | None = None,
    held: dict[str, str] | None = None,
) -> list[str]:
    """The strict subset of ``members`` the batch selection keeps, when it is worth its cost.

    For a batch the simulation cut short and :func:`batch_value_usd` priced below its cost: the
    plan's acting ``members`` go through the same selection as :func:`plan`'s (each pool's
    members by benefit against the batch's cost as it executes), with its hold-back of a pool
    whose swap would keep more of its net than its legs' slippage bounds allow
    (:func:`_swap_short`; ``slippage_bps``, each vault's ``maxSlippageBps`` by address in any
    case, ``None``: not checked): without a vault that crossed them, the legs left may swap
    more. Empty when fewer than two members, when it keeps all of them or none, or when what
    it keeps is not worth its cost.

    ``held``, if given, gets each member of a pool so held back, with why in :func:`plan`'s
    words for ``SWAP_PAST_SLIPPAGE`` (its reason's text and the pool's note); every other
    member the selection leaves out is left out for its cost.
    """
    rows = _acting(the_plan, members)
    if len(rows) < 2:
        return []
    slip = None
    if slippage_bps is not None:
        bound = {v.lower(): b for v, b in slippage_bps.items()}
        slip = np.asarray([bound.get(d.vault.lower(), 0) for d in rows], dtype=np.float64)
    short: set[int] = set()
    keep, notes = _select_pools(
        np.asarray([d.benefit_usd for d in rows], dtype=np.float64),
        np.asarray([d.notional_usd for d in rows], dtype=np.float64),
        np.asarray([d.pool for d in rows], dtype=np.int64),
        np.ones(len(rows), dtype=bool),
        costs,
        _venue_keys([d.pool for d in rows], [d.venue for d in rows]),
        np.asarray([d.first_buy for d in rows], dtype=bool),
        slip,
        short,
    )
    if held is not None:
        text = Reason.SWAP_PAST_SLIPPAGE.text
        held.update({d.vault: f"{text}{notes[d.pool]}" for d in rows if d.pool in short})
    kept = [d.vault for d, k in zip(rows, keep.tolist(), strict=True) if k]
    if not kept or len(kept) == len(rows) or not batch_value_usd(the_plan, kept, costs) > 0.0:
        return []
    return kept


def venue_key(pool: int, venue: int | None) -> int:
    """The swap a vault's leg joins, as an int key.

    Its venue's, or for none (``None``, -1) one of its pool's own: pools on one venue swap in a
    row on it.
    """
    return venue if venue is not None and venue >= 0 else -1 - pool


def _venue_keys(pools: Sequence[int], venues: Sequence[int | None]) -> np.ndarray:
    """Each vault's :func:`venue_key`."""
    return np.asarray([venue_key(p, v) for p, v in zip(pools, venues, strict=True)], dtype=np.int64)


def _acting(the_plan: RebalancePlan, members: Sequence[str]) -> list[VaultDecision]:
    """The plan's acting decisions of ``members``, in their order (addresses in any case)."""
    chosen = {d.vault.lower(): d for d in the_plan.decisions if d.act}
    return [chosen[m.lower()] for m in members if m.lower() in chosen]
