"""A batch whose one pool swap falls short drops that pool's vaults, not every pool's.

``RebalanceBatcher.rebalanceBatch`` swaps each pool's net once; a swap short of its strictest
leg's ``minOut`` reverts the whole call (``HedgeVenueInsufficientOutput``), which names no
pool. The simulation dropped the vaults with the smallest slippage bound of the whole batch,
whatever their pool: a thin pool whose price drifted from its oracle (which the planner's cost
model cannot predict) starved the vaults of every other pool, cycle after cycle. Now, when the
batch spans several swaps, each swap's legs are simulated alone and only the ones that fall
short alone lose their strictest vaults.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper.app.act import act
from keeper.app.collaborators import Keeper
from keeper.execution.decode import ErrorDecoder
from keeper.execution.simulate import BatchCodec, Simulation, simulate_batch
from keeper.settings import CycleConfig
from keeper.strategy.types import RebalancePlan, VaultDecision
from keeper.units import Wad
from tests.unit.test_app_cycle import FakeLens

BATCHER = Web3.to_checksum_address("0x" + "ab" * 20)
KEEPER = Web3.to_checksum_address("0x" + "ee" * 20)
HEDGE_SHORT = bytes(keccak(text="HedgeVenueInsufficientOutput(uint256,uint256)")[:4])


def _vault(n: int) -> str:
    return str(Web3.to_checksum_address(f"0x{n:040x}"))


A1, A2, B1, B2 = (_vault(n) for n in (1, 2, 3, 4))


class PoolsEth:
    """``rebalanceBatch`` by the batcher's rule over several pools, every leg a buy of 1 USD.

    ``pool_of`` puts each vault in a pool, ``rate`` is what each pool's swap gives per unit at
    the oracle price. A batch of one is the vault's own swap (its outcome says whether the rate
    meets its ``1 - bps/1e4``); several: each pool's one swap, in first-seen order, must meet
    its strictest leg, else the whole call reverts with ``HedgeVenueInsufficientOutput``.
    """

    def __init__(self, pool_of: dict[str, str], rate: dict[str, float], bounds: dict[str, int]):
        self.codec = BatchCodec()
        self.pool_of, self.rate, self.bounds = pool_of, rate, bounds
        self.calls: list[list[str]] = []

    def _batch(self, vaults: list[str]) -> bytes:
        self.calls.append(vaults)
        if len(vaults) == 1:
            (v,) = vaults
            ok = 1 - self.bounds[v] / 1e4 <= self.rate[self.pool_of[v]]
            reason = b"" if ok else HEDGE_SHORT + abi_encode(["uint256", "uint256"], [98, 99])
            rows = [(v, ok, 0, 10**18 if ok else 0, 200_000, reason)]
            return bytes(abi_encode(self.codec.output_types, [rows]))
        for pool in dict.fromkeys(self.pool_of[v] for v in vaults):
            legs = [v for v in vaults if self.pool_of[v] == pool]
            need = max(1 - self.bounds[v] / 1e4 for v in legs)
            if need > self.rate[pool]:
                out, needed = int(1e6 * len(legs) * self.rate[pool]), int(1e6 * len(legs) * need)
                data = HEDGE_SHORT + abi_encode(["uint256", "uint256"], [out, needed])
                raise ContractLogicError("execution reverted", data="0x" + data.hex())
        rows = [(v, True, 0, 10**18, 150_000, b"") for v in vaults]
        return bytes(abi_encode(self.codec.output_types, [rows]))

    def call(self, tx: dict[str, Any], block: Any = None) -> bytes:
        data = bytes(tx["data"])
        if data[:4] == self.codec.selector:
            vaults, _ = abi_decode(["address[]", "int256[]"], data[4:])
            return self._batch([str(Web3.to_checksum_address(v)) for v in vaults])
        if data[:4] == keccak(text="vaultGasLimit()")[:4]:
            return abi_encode(["uint256"], [500_000])
        if data[:4] == keccak(text="maxBatch()")[:4]:
            return abi_encode(["uint256"], [20])
        return abi_encode(["uint256"], [40_000])  # BOOKKEEPING_GAS()

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        self.call(tx)
        return 400_000

    def get_block(self, tag: Any) -> dict[str, int]:
        return {"number": 100, "gasLimit": 30_000_000}


def _eth(rate_b: float = 0.98) -> PoolsEth:
    """Pool A meets a 1% bound, pool B (its price drifted from its oracle) does not."""
    return PoolsEth(
        {A1: "A", A2: "A", B1: "B", B2: "B"},
        {"A": 0.9995, "B": rate_b},
        {A1: 100, A2: 50, B1: 100, B2: 100},
    )


def _simulate(eth: PoolsEth, vaults: list[str], **kw: Any) -> Simulation:
    w3: Any = SimpleNamespace(eth=eth, provider=None)
    decoder = ErrorDecoder.from_artifacts()
    return simulate_batch(w3, BATCHER, vaults, KEEPER, decoder, codec=BatchCodec(), **kw)


def test_a_pool_short_alone_loses_its_vaults_and_the_other_pool_is_sent() -> None:
    eth = _eth()
    bounds = eth.bounds
    sim = _simulate(eth, [A1, B1, A2, B2], slippage_bps=bounds, pools={A1: 0, A2: 0, B1: 1, B2: 1})
    assert sim.vaults == (A1, A2)
    assert set(sim.dropped) == {B1, B2}
    assert all("HedgeVenueInsufficientOutput" in r for r in sim.dropped.values())
    # The whole batch, each pool's legs alone, then the survivors (call, estimate, signed gas).
    assert eth.calls == [[A1, B1, A2, B2], [A1, A2], [B1, B2], [A1, A2], [A1, A2], [A1, A2]]


def test_within_the_short_pool_the_strictest_bound_goes_first() -> None:
    """In the pool that falls short alone, today's rule: its smallest bound first. B1 accepts
    5%, B2 1%: B2 goes, B1 stays, and pool A, with its 0.5% vault A2, is untouched."""
    eth = _eth(rate_b=0.98)
    eth.bounds[B1] = 500
    pools = {A1: 0, A2: 0, B1: 1, B2: 1}
    sim = _simulate(eth, [A1, A2, B1, B2], slippage_bps=eth.bounds, pools=pools)
    assert sim.vaults == (A1, A2, B1)
    assert list(sim.dropped) == [B2]
    assert "(100 bps)" in sim.dropped[B2]
    # Pool A passed alone once; the next shortfall (none here) would not probe it again.
    assert eth.calls[:3] == [[A1, A2, B1, B2], [A1, A2], [B1, B2]]


def test_the_probes_are_bounded_a_pool_that_passed_alone_is_not_probed_again() -> None:
    """Pool B falls short at every bound: dropped one bound per round, pool A probed once."""
    eth = _eth(rate_b=0.9)
    eth.bounds.update({B1: 200, B2: 100})
    pools = {A1: 0, A2: 0, B1: 1, B2: 1}
    sim = _simulate(eth, [A1, A2, B1, B2], slippage_bps=eth.bounds, pools=pools)
    assert sim.vaults == (A1, A2)
    assert set(sim.dropped) == {B1, B2}
    # The batch; each pool alone; the batch without B2 (1%) still short: only pool B, now B1
    # alone, is probed again (pool A passed with the same vaults); then the survivors' call,
    # estimate and signed-gas check. 5 calls beyond today's 3 for the survivors.
    assert eth.calls == [
        [A1, A2, B1, B2],
        [A1, A2],
        [B1, B2],
        [A1, A2, B1],
        [B1],
        [A1, A2],
        [A1, A2],
        [A1, A2],
    ]


def test_one_pool_keeps_todays_rule() -> None:
    """One swap in the batch: no probe, the smallest bound of the batch is dropped."""
    eth = _eth()
    sim = _simulate(eth, [B1, B2], slippage_bps=eth.bounds, pools={B1: 1, B2: 1})
    assert sim.vaults == ()
    assert eth.calls == [[B1, B2]]


def test_no_pool_passes_alone_falls_back_to_the_strictest_bound_of_the_batch() -> None:
    """Pools on one venue swap in a row: each may pass alone and fail together. Then the
    batch's strictest bound goes, as before (A2's 50 bps)."""
    eth = _eth(rate_b=0.9995)
    plain = eth._batch

    def crowded(vaults: list[str]) -> bytes:
        pools = {eth.pool_of[v] for v in vaults}
        if pools == {"A", "B"} and A2 in vaults:
            eth.calls.append(vaults)
            data = HEDGE_SHORT + abi_encode(["uint256", "uint256"], [1, 2])
            raise ContractLogicError("execution reverted", data="0x" + data.hex())
        return plain(vaults)

    eth._batch = crowded  # type: ignore[method-assign]
    pools = {A1: 0, A2: 0, B1: 1, B2: 1}
    sim = _simulate(eth, [A1, A2, B1, B2], slippage_bps=eth.bounds, pools=pools)
    assert list(sim.dropped) == [A2]
    assert "(50 bps)" in sim.dropped[A2]
    assert sim.vaults == (A1, B1, B2)


def _decision(vault: str, pool: int, venue: int) -> VaultDecision:
    return VaultDecision(
        vault=vault,
        act=True,
        reason="out of band",
        deviation=Wad(-(10**18)),
        band=Wad(10**17),
        trade=Wad(10**18),
        benefit_usd=10.0,
        cost_usd=1.0,
        pool=pool,
        venue=venue,
    )


def test_act_passes_each_vaults_swap_so_a_short_pool_drops_only_its_own_vaults() -> None:
    """Through :func:`act` as the cycle calls it: the plan's pools reach the simulation. Before,
    the batch's revert on pool B's swap dropped A2 (the batch's smallest bound, 50 bps) and
    then A1 and both B vaults: nothing was sent."""
    eth = _eth()
    batch = (A1, A2, B1, B2)
    the_plan = RebalancePlan(
        decisions=(
            _decision(A1, 0, 0),
            _decision(A2, 0, 0),
            _decision(B1, 1, 1),
            _decision(B2, 1, 1),
        ),
        batch=batch,
        fixed_cost_usd=1.0,
        marginal_cost_usd=1.0,
        benefit_usd=40.0,
    )
    k = Keeper(
        w3=SimpleNamespace(eth=eth, provider=None),  # type: ignore[arg-type]
        vaults=list(batch),
        lens=FakeLens([]),  # type: ignore[arg-type]
        policy=None,  # type: ignore[arg-type]
        config=CycleConfig(eth_usd=3000.0, queue_sweep_s=0, direct_single=False),
        batcher=BATCHER,
        simulate_from=KEEPER,
        decoder=ErrorDecoder.from_artifacts(),
        codec=BatchCodec(),
    )
    acted = act(k, the_plan, 100, slippage_bps=eth.bounds)
    assert acted.simulation is not None
    assert acted.simulation.vaults == (A1, A2)
    assert set(acted.simulation.dropped) == {B1, B2}
