"""The vaults' option books, priced: lens snapshots in, the strategy's :class:`VaultView` out.

The hot path is :class:`VaultBook`: a lean snapshot and its :func:`keeper.pricing.trigger.derive`
(net delta, gamma, NAV and the trigger, vectorized). The full snapshots of tools go through
:func:`vault_views` too. This is where the contract's fixed-point ints become floats:

- oracle answer -> spot: ``answer / 10**decimals`` (:func:`oracle_price`);
- vol parameter -> vol: ``volatility / 1e18``;
- strike and cap -> price: ``/ 1e8`` (a cap of 0 means uncapped: ``inf``);
- series size -> contracts: ``/ 1e18``;
- seconds to expiry -> years: ``/ YEAR_SECONDS``.

Deltas, band and max trade stay exact ints (1e18) in the view; the planner turns the deviation
into a float for the policies. All series of all vaults are priced in one vectorized call, at
each vault's oracle price and vol parameter (the contract's own inputs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, fields
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from keeper.chain.lens import LeanSnapshot, OracleState, VaultSnapshot
from keeper.pricing.black_scholes import YEAR_SECONDS, capped_greeks
from keeper.pricing.trigger import Derived, derive
from keeper.strategy.types import VaultView
from keeper.units import WAD, Wad

#: Strikes and caps are 1e8 USD, as Chainlink's USD feeds.
_PRICE8 = 1e8


def oracle_price(oracle: OracleState) -> float:
    """The oracle's answer as a float price."""
    price: float = oracle.answer / 10**oracle.decimals
    return price


def position_greeks(
    snaps: Sequence[VaultSnapshot], now: int
) -> tuple[list[float], list[float], list[float]]:
    """Per vault: position gamma (whole underlying per USD), contracts, years to nearest expiry.

    Settled series are left out; a vault with no open series has gamma 0, 0 contracts and an
    infinite time to expiry.
    """
    return _greeks(snaps, [oracle_price(s.oracle) for s in snaps], [_vol(s) for s in snaps], now)


def vault_views(snaps: Sequence[VaultSnapshot] | VaultBook, now: int) -> list[VaultView]:
    """The strategy's view of each vault: thresholds as ints, the priced book as floats.

    A :class:`VaultBook` (the lean hot path) carries its own derivation at its block; a sequence
    of full snapshots is priced here at ``now``.
    """
    if isinstance(snaps, VaultBook):
        return snaps.views()
    spots = [oracle_price(s.oracle) for s in snaps]
    vols = [_vol(s) for s in snaps]
    gamma, contracts, tau = _greeks(snaps, spots, vols, now)
    return [
        VaultView(
            vault=s.vault,
            net_delta=s.net_delta,
            target_delta=s.thresholds.target_delta,
            band=s.thresholds.band,
            max_trade=s.thresholds.max_trade,
            last_rebalance=s.last_rebalance,
            min_interval=s.thresholds.min_interval,
            max_interval=s.thresholds.max_interval,
            spot=spots[i],
            gamma=gamma[i],
            vol=vols[i],
            contracts=contracts[i],
            trigger_ready=s.trigger_ready,
            time_to_expiry=tau[i],
        )
        for i, s in enumerate(snaps)
    ]


def _vol(s: VaultSnapshot) -> float:
    return s.volatility / WAD


def _greeks(
    snaps: Sequence[VaultSnapshot], spots: list[float], vols: list[float], now: int
) -> tuple[list[float], list[float], list[float]]:
    owner: list[int] = []
    spot: list[float] = []
    strike: list[float] = []
    cap: list[float] = []
    tau: list[float] = []
    vol: list[float] = []
    call: list[bool] = []
    size: list[float] = []
    contracts = [0.0] * len(snaps)
    nearest = [math.inf] * len(snaps)
    for i, s in enumerate(snaps):
        for series in s.series:
            if series.settled:
                continue
            t = max(series.expiry - now, 0) / YEAR_SECONDS
            owner.append(i)
            spot.append(spots[i])
            strike.append(series.strike / _PRICE8)
            cap.append(series.cap / _PRICE8 if series.cap > 0 else math.inf)
            tau.append(t)
            vol.append(vols[i])
            call.append(series.is_call)
            size.append(series.size / WAD)
            contracts[i] += series.size / WAD
            nearest[i] = min(nearest[i], t)
    gamma = [0.0] * len(snaps)
    if owner:
        g = capped_greeks(
            np.asarray(spot),
            np.asarray(strike),
            np.asarray(cap),
            np.asarray(tau),
            np.asarray(vol),
            call=np.asarray(call),
        ).gamma
        per = np.zeros(len(snaps))
        np.add.at(per, np.asarray(owner), np.asarray(size) * g)
        gamma = [abs(float(x)) for x in per]
    return gamma, contracts, nearest


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
                strict=True,
            )
        ]

    def take(self, rows: npt.NDArray[np.bool_]) -> VaultBook:
        """The book restricted to ``rows`` (a boolean mask)."""
        idx = np.flatnonzero(rows)
        derived = Derived(**{f.name: getattr(self.derived, f.name)[idx] for f in fields(Derived)})
        return VaultBook(self.snap.take(rows), derived)


def book_of(snap: LeanSnapshot) -> VaultBook:
    """Derive every vault's trigger and book from a lean snapshot."""
    return VaultBook(snap, derive(snap))
