"""The vaults' option books, priced: a lean lens snapshot in, the strategy's :class:`VaultView` out.

:class:`VaultBook` is a lean snapshot and its :func:`keeper.pricing.trigger.derive` (net delta,
gamma, NAV and the trigger, vectorized over every series of every vault, at each vault's oracle
price and vol parameter: the contract's own inputs). The fixed-point ints become floats there,
once: oracle answer / 1e8 -> spot, vol / 1e18, strike and cap / 1e8, size / 1e18 -> contracts,
seconds / ``YEAR_SECONDS`` -> years. Deltas, band and max trade stay exact ints (1e18) in the
view, and so do the free quote, inventory and oracle answer that cap a trade; the planner turns
the deviation into a float for the policies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, fields
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from keeper.chain.lens import LeanSnapshot, OracleState
from keeper.pricing.trigger import Derived, derive
from keeper.strategy.types import VaultView
from keeper.units import Wad


class BookRow(NamedTuple):
    """One vault of a :class:`VaultBook`: its address and its oracle's state (shared)."""

    vault: str
    oracle: OracleState


@dataclass(frozen=True)
class VaultBook(SequenceABC[BookRow]):
    """Vaults of one lean snapshot with their derived book (:func:`keeper.pricing.trigger.derive`).

    It is a sequence of :class:`BookRow` (address and oracle state, what the vol history reads),
    and :meth:`views` is the strategy's :class:`VaultView` of every row.
    """

    snap: LeanSnapshot
    derived: Derived

    def __len__(self) -> int:
        return len(self.snap)

    @overload
    def __getitem__(self, i: int) -> BookRow: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[BookRow]: ...

    def __getitem__(self, i: int | slice) -> BookRow | Sequence[BookRow]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        oracles = self.snap.oracles
        return BookRow(self.snap.vaults[i], oracles[int(self.snap.oracle_idx[i])])

    def __iter__(self) -> Iterator[BookRow]:
        oracles = self.snap.oracles
        for v, k in zip(self.snap.vaults, self.snap.oracle_idx.tolist(), strict=True):
            yield BookRow(v, oracles[k])

    def pools(self) -> list[int]:
        """Each vault's batcher pool key (:attr:`VaultView.pool`), 0, 1, ... first seen first.

        ``RebalanceBatcher._join`` crosses the legs of one venue, token pair and oracle price; a
        venue trades one token pair (``IHedgeVenue.spotPrice`` is that pair's price), so the key
        is the venue's address and the oracle answer. An unreadable venue keys on -1 (such a
        vault is never ready).
        """
        s, d = self.snap, self.derived
        venues = s.venue_address.tolist()
        keys: dict[tuple[int, int], int] = {}
        return [
            keys.setdefault((venues[vi] if vi >= 0 else -1, int(price)), len(keys))
            for vi, price in zip(s.venue_idx.tolist(), d.price.tolist(), strict=True)
        ]

    def venues(self) -> list[int | None]:
        """Each vault's venue key (:attr:`VaultView.venue`), 0, 1, ... first seen first.

        Keyed on the venue's address (a venue read in two lens chunks is one); ``None`` for an
        unreadable one. Two venue contracts over one Uniswap pool are two keys: the cost model
        then misses their compounding.
        """
        s = self.snap
        addresses = s.venue_address.tolist()
        keys: dict[object, int] = {}
        return [
            keys.setdefault(addresses[vi], len(keys)) if vi >= 0 else None
            for vi in s.venue_idx.tolist()
        ]

    def views(self) -> list[VaultView]:
        """The strategy's view of each vault: the contract's ints as ints, the book as floats."""
        s, d = self.snap, self.derived
        return [
            VaultView(
                vault=vault,
                net_delta=Wad(net),
                target_delta=Wad(target),
                band=Wad(band),
                max_trade=Wad(max_trade),
                last_rebalance=last,
                min_interval=lo,
                max_interval=hi,
                spot=spot,
                gamma=gamma,
                vol=vol,
                contracts=contracts,
                trigger_ready=ready,
                time_to_expiry=tau,
                free_quote=free,
                inventory=inventory,
                oracle_price=price,
                pool=pool,
                venue=venue,
                max_slippage_bps=slippage,
                pool_depth_usd=depth,
                pool_fee_bps=fee,
            )
            for (
                vault,
                net,
                target,
                band,
                max_trade,
                last,
                lo,
                hi,
                spot,
                gamma,
                vol,
                contracts,
                ready,
                tau,
                free,
                inventory,
                price,
                pool,
                venue,
                slippage,
                depth,
                fee,
            ) in zip(
                s.vaults,
                d.net_delta.tolist(),
                s.target_delta.tolist(),
                s.band.tolist(),
                s.max_trade.tolist(),
                s.last_rebalance.tolist(),
                s.min_interval.tolist(),
                s.max_interval.tolist(),
                d.spot.tolist(),
                d.gamma.tolist(),
                d.vol.tolist(),
                d.contracts.tolist(),
                d.ready.tolist(),
                d.tau.tolist(),
                s.free_quote.tolist(),
                s.inventory.tolist(),
                d.price.tolist(),
                self.pools(),
                self.venues(),
                s.max_slippage_bps.tolist(),
                *self.pool_depths_and_fees(),
                strict=True,
            )
        ]

    def pool_depths_and_fees(self) -> tuple[list[float], list[float]]:
        """Each vault's venue pool depth (USD) and fee tier (bps), as the lens read them.

        0 where the venue does not say them (not a Uniswap V3 venue) or cannot be read. The
        depth is the quote's virtual reserve in whole quote units; the vaults' quote is a USD
        stablecoin.
        """
        s = self.snap
        depths = [int(x) / 1e8 for x in s.venue_depth.tolist()]
        fees = [int(x) / 100.0 for x in s.venue_fee_pips.tolist()]
        idx = s.venue_idx.tolist()
        return (
            [depths[vi] if vi >= 0 else 0.0 for vi in idx],
            [fees[vi] if vi >= 0 else 0.0 for vi in idx],
        )

    def take(self, rows: npt.NDArray[np.bool_]) -> VaultBook:
        """The book restricted to ``rows`` (a boolean mask)."""
        idx = np.flatnonzero(rows)
        derived = Derived(**{f.name: getattr(self.derived, f.name)[idx] for f in fields(Derived)})
        return VaultBook(self.snap.take(rows), derived)


def book_of(snap: LeanSnapshot) -> VaultBook:
    """Derive every vault's trigger and book from a lean snapshot."""
    return VaultBook(snap, derive(snap))
