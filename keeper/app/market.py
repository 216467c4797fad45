"""The market around the vaults this cycle: the vol forecast, and what a batch costs.

- :class:`PriceHistory` keeps the oracle rounds seen per vault; :func:`market_view` forecasts vol
  from them (EWMA), falling back to the median of the vaults' own vol parameters, then to the
  reference vol.
- :func:`batch_costs` prices a batch for the planner: gas price from the latest base fee plus the
  tip (under the cap), and the L1 fee of a batch as fixed and per-vault parts and of a lone
  vault's own call (the direct path), re-read at most every
  :data:`L1_ESTIMATE_MAX_AGE_BLOCKS` blocks; and each pool's price impact and fee tier as the
  lens read them (:func:`pool_terms_by_pool`), unless the settings pin them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from keeper.app.defaults import LIVE_GAS_BATCHER_ONE
from keeper.chain.l1fee import l1_fees
from keeper.chain.lens import OracleReading
from keeper.chain.retry import read_with_retry
from keeper.execution.fees import Fees
from keeper.execution.simulate import BatchCodec, direct_calldata
from keeper.execution.transactions import account, build_tx, sign_tx
from keeper.pricing import ewma_vol_forecast
from keeper.strategy import CostInputs, MarketView, VaultView, impact_coef_from_depth
from keeper.strategy.costs import DEFAULT_ETH_USD, DEFAULT_IMPACT_COEF, DEFAULT_POOL_FEE_BPS
from keeper.strategy.types import PoolTerms
from keeper.units import Wei

if TYPE_CHECKING:
    from keeper.app.collaborators import Keeper

logger = logging.getLogger(__name__)

#: Oracle rounds kept per vault for the EWMA forecast.
HISTORY_LEN = 512
#: Blocks an L1-fee estimate is reused for when planning (its oracle reads saved per cycle). The
#: L1 fee moves with L1's base fees, once per L1 block (12 s: six 2-s OP blocks); a batch that is
#: sent is always priced afresh on its exact signed bytes.
L1_ESTIMATE_MAX_AGE_BLOCKS = 6
_DUMMY_VAULT = "0x" + "ab" * 20
#: A typical requested post-trade deviation (about 0.123 underlying, 8 significant bytes): the
#: estimate's calldata compresses like a real batch's, not like a column of zeros.
_DUMMY_POST = -123_456_789_012_345_678
#: A throwaway key that signs nothing but the dummy transactions whose L1 fee is *estimated*.
#: Those bytes are never sent. Public on purpose.
_ESTIMATE_SIGNER = account("0x" + "11" * 32)


@dataclass
class PriceHistory:
    """Oracle rounds seen per vault (timestamp, price), for the EWMA vol forecast."""

    rounds: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def add(self, vault: str, updated_at: int, price: float) -> None:
        """Record a round if it is newer than the last one seen."""
        seq = self.rounds.setdefault(vault, [])
        if (not seq or updated_at > seq[-1][0]) and price > 0:
            seq.append((updated_at, price))
            del seq[:-HISTORY_LEN]

    def forecast(self, lam: float, vaults: Iterable[str] | None = None) -> float | None:
        """EWMA vol forecast from the longest history; ``None`` with fewer than 3 rounds.

        Of the histories of ``vaults`` (``None``: of every vault).
        """
        histories = (
            self.rounds.values() if vaults is None else (self.rounds.get(v, []) for v in vaults)
        )
        best = max(histories, key=len, default=[])
        if len(best) < 3:
            return None
        ts, px = zip(*best, strict=True)
        vol = ewma_vol_forecast(np.asarray(ts), np.asarray(px), lam)
        return vol if math.isfinite(vol) and vol > 0 else None


def market_view(
    keeper: Keeper, snaps: Sequence[OracleReading], views: Sequence[VaultView], now: int
) -> MarketView:
    """Record this cycle's oracle rounds (``views[i]`` prices ``snaps[i]``) and forecast vol.

    Each feed's vaults are priced at that feed's EWMA forecast (``MarketView.vault_vols``): an
    ETH vault and a BTC vault have their own vols. A feed is told by its reading this cycle (its
    round, answer and time: vaults on one feed read the same one at one block). A feed with
    fewer than 3 rounds seen prices its vaults at the median of their own vol parameters (else
    ``reference_vol``). ``forecast_vol`` is the vol of the feed with the most vaults (shown in
    logs and ``keeper check``).
    """
    cfg = keeper.config
    feeds: dict[tuple[int, int, int], list[int]] = {}
    for i, (s, v) in enumerate(zip(snaps, views, strict=True)):
        o = s.oracle
        keeper.history.add(s.vault, o.updated_at, v.spot)
        feeds.setdefault((o.round_id, o.answer, o.updated_at), []).append(i)
    vault_vols: dict[str, float] = {}
    forecast, most = cfg.reference_vol, 0
    for members in feeds.values():
        vol = keeper.history.forecast(cfg.ewma_lambda, (snaps[i].vault for i in members))
        if vol is None:
            own = [views[i].vol for i in members if views[i].vol > 0]
            vol = float(np.median(own)) if own else cfg.reference_vol
        for i in members:
            vault_vols[views[i].vault] = vol
        if len(members) > most:
            forecast, most = vol, len(members)
    return MarketView(
        now=now, forecast_vol=forecast, reference_vol=cfg.reference_vol, vault_vols=vault_vols
    )


def batch_costs(keeper: Keeper, views: Sequence[VaultView], block: int | None = None) -> CostInputs:
    """What a batch costs at the head block (no L1-fee read when there is nothing to plan).

    The head is the header the loop's poll just read (``keeper.head_block``) when it is at least
    as new as ``block``, the block the cycle observed; else it is read.
    """
    cfg = keeper.config
    head: Mapping[str, Any] | None = keeper.head_block
    if head is None or (block is not None and int(head["number"]) < block):
        head = read_with_retry(lambda: keeper.w3.eth.get_block("latest"))
    base_fee = int(head.get("baseFeePerGas", 0) or 0)
    gas_price = min(base_fee + cfg.priority_fee_wei, cfg.max_fee_per_gas_wei)
    l1_fixed, l1_per, l1_direct = (
        _l1_estimate(keeper, int(head["number"]), gas_price) if views else (0, 0, 0)
    )
    # A lone vault goes to itself (act._simulate_direct) unless the path is off; once a vault is
    # found without its role, every lone vault is priced as a batch of one (conservative).
    direct = cfg.direct_single and not keeper.no_direct
    eth_usd = cfg.eth_usd if cfg.eth_usd is not None else eth_price(keeper, views)
    impact_coef, pool_fee_bps = pool_terms(cfg.impact_coef, cfg.pool_fee_bps, views)
    return CostInputs(
        gas_fixed=cfg.gas_fixed,
        gas_per_vault=cfg.gas_per_vault,
        gas_swap=cfg.gas_swap,
        gas_direct=cfg.gas_direct if direct else 0,
        # A batch of one through the batcher: the vault's own path and the batcher's call.
        gas_batch_one=cfg.gas_direct + LIVE_GAS_BATCHER_ONE if cfg.gas_direct else 0,
        gas_first_buy=cfg.gas_first_buy,
        l1_fee_direct_wei=l1_direct if direct else 0,
        gas_price_wei=gas_price,
        l1_fee_fixed_wei=l1_fixed,
        l1_fee_per_vault_wei=l1_per,
        eth_usd=eth_usd,
        pool_fee_bps=pool_fee_bps,
        impact_coef=impact_coef,
        pool_terms=pool_terms_by_pool(cfg.impact_coef, cfg.pool_fee_bps, views),
    )


def eth_price(keeper: Keeper, views: Sequence[VaultView]) -> float:
    """ETH's price in USD, to price gas and the L1 fee with when ``KEEPER_ETH_USD`` is unset.

    The oracle price of the first vault whose underlying is ETH (``Keeper.eth_vaults``, read at
    start-up); a vault on another underlying (WBTC at 60,000) would price gas 20 times too high.
    With none of them priced this cycle (their oracle stale), the last price seen; before any,
    :data:`~keeper.strategy.costs.DEFAULT_ETH_USD`, with a warning. 0.0 without views (nothing
    to price).
    """
    if not views:
        return 0.0
    eth = keeper.eth_vaults
    for v in views:
        if (eth is None or v.vault.lower() in eth) and math.isfinite(v.spot) and v.spot > 0:
            keeper.eth_usd_seen = v.spot
            return v.spot
    if keeper.eth_usd_seen is None:
        logger.warning(
            "no vault on ETH has a price yet: gas priced at ETH = %s USD (KEEPER_ETH_USD sets it)",
            f"{DEFAULT_ETH_USD:,.0f}",
        )
        keeper.eth_usd_seen = DEFAULT_ETH_USD
    return keeper.eth_usd_seen


def pool_terms(
    impact_coef: float | None, pool_fee_bps: float | None, views: Sequence[VaultView]
) -> tuple[float, float]:
    """The largest price impact per USD and fee tier (bps) of the ready vaults' pools.

    ``CostInputs.impact_coef`` and ``pool_fee_bps``: what ``keeper check`` shows, and what
    prices a vault whose pool has no figures of its own (none, live: every vault's pool is in
    :func:`pool_terms_by_pool`). Each one the settings leave unset (``KEEPER_IMPACT_COEF``,
    ``KEEPER_POOL_FEE_BPS``) is the largest over the pools of the vaults whose trigger is ready
    (:func:`pool_figures`); with no vault ready, the defaults. A pool with nothing in range at
    its price (:attr:`VaultView.pool_empty`) sets no figure: its vaults are never ready
    (``state_from_views``). A set value is used as it is.
    """
    ready = [v for v in views if v.trigger_ready and not v.pool_empty]
    if impact_coef is None:
        impact_coef = max((pool_figures(v).impact_coef for v in ready), default=DEFAULT_IMPACT_COEF)
    if pool_fee_bps is None:
        pool_fee_bps = max((pool_figures(v).fee_bps for v in ready), default=DEFAULT_POOL_FEE_BPS)
    return impact_coef, pool_fee_bps


def pool_terms_by_pool(
    impact_coef: float | None, pool_fee_bps: float | None, views: Sequence[VaultView]
) -> dict[int, PoolTerms]:
    """Each pool's own fee tier and price impact, by pool key: what its vaults' trades cost.

    A vault on a USD 100M WETH/USDC pool is priced at that pool, not at a thin WBTC/USDC pool
    whose vault is ready in the same cycle. Each figure the settings pin
    (``KEEPER_IMPACT_COEF``, ``KEEPER_POOL_FEE_BPS``) is the same for every pool; with both
    pinned, no pool has figures of its own (empty: ``CostInputs``' one pair prices all). Nor
    has a pool with nothing in range (:attr:`VaultView.pool_empty`): its vaults are never
    ready, and the decision names that as their blocker rather than an impact of 1.
    """
    if impact_coef is not None and pool_fee_bps is not None:
        return {}
    out: dict[int, PoolTerms] = {}
    for v in views:
        if v.pool not in out and not v.pool_empty:
            own = pool_figures(v)
            out[v.pool] = PoolTerms(
                own.fee_bps if pool_fee_bps is None else pool_fee_bps,
                own.impact_coef if impact_coef is None else impact_coef,
            )
    return out


def pool_figures(view: VaultView) -> PoolTerms:
    """The fee tier and impact of ``view``'s pool as the lens read it, this cycle.

    ``1 / depth`` (:func:`impact_coef_from_depth`: 1 for a pool with nothing in range) and the
    fee tier; a venue that does not say them (depth and fee tier both 0) counts at the
    defaults, :data:`~keeper.strategy.costs.DEFAULT_IMPACT_COEF` and
    :data:`~keeper.strategy.costs.DEFAULT_POOL_FEE_BPS`.
    """
    said = view.pool_depth_usd > 0 or view.pool_fee_bps > 0
    return PoolTerms(
        view.pool_fee_bps if view.pool_fee_bps > 0 else DEFAULT_POOL_FEE_BPS,
        impact_coef_from_depth(view.pool_depth_usd) if said else DEFAULT_IMPACT_COEF,
    )


def _l1_estimate(keeper: Keeper, block: int, gas_price: int) -> tuple[int, int, int]:
    """The L1 fee of a batch (fixed, per vault) and of a lone vault's own call, wei."""
    cached = keeper.l1_estimate
    if cached is not None and 0 <= block - cached[0] < L1_ESTIMATE_MAX_AGE_BLOCKS:
        return cached[1]
    if keeper.chain_id is None:
        keeper.chain_id = keeper.sender.chain_id if keeper.sender else int(keeper.w3.eth.chain_id)
    parts = (0, 0, 0)
    if keeper.batcher is not None:
        cfg = keeper.config
        batcher, chain_id = keeper.batcher, keeper.chain_id
        codec = keeper.codec or BatchCodec()
        fees = Fees(Wei(gas_price), Wei(min(gas_price, cfg.priority_fee_wei)))

        def signed(to: str, data: bytes, gas: int) -> tuple[bytes, str, bytes]:
            tx = build_tx(chain_id=chain_id, nonce=1, to=to, data=data, gas=gas, fees=fees)
            return sign_tx(_ESTIMATE_SIGNER, tx).raw, to, data

        def batch(n: int) -> tuple[bytes, str, bytes]:
            data = codec.encode([_DUMMY_VAULT] * n, [_DUMMY_POST] * n)
            return signed(batcher, data, cfg.gas_fixed + cfg.gas_swap + n * cfg.gas_per_vault)

        direct = signed(_DUMMY_VAULT, direct_calldata(_DUMMY_POST), cfg.gas_direct)
        one, two, alone = l1_fees(keeper.l1fee, [batch(1), batch(2), direct])  # one round trip
        per = max(two - one, 0)
        parts = (max(one - per, 0), per, alone)
    keeper.l1_estimate = (block, parts)
    return parts
