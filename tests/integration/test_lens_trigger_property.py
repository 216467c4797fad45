"""Property: the keeper's off-chain trigger and delta equal the contract's own views, on anvil.

Random books and prices -- the oracle price, each vault's vol, target delta, band, heartbeat, gap
and the time since the last rebalance, over vaults with three open series each (a 30-day capped
call, a 14-day put, a 60-day capped call) -- then one lean snapshot, derived off-chain, against
each vault's ``rebalanceTrigger()`` and ``netDelta()`` at the same block. The trigger must agree
exactly, the delta within 1e-9 relative (of the larger of |netDelta| and the book's delta: a
hedged vault's net delta is the difference of two large numbers), plus the contract's own
resolution (``QUANTUM_WEI`` per contract: a deep out-of-the-money book's delta is a few wei).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.devnet import BenchDevnet, start_devnet
from keeper.chain.lens import LensReader
from keeper.devnet.tx import transact
from keeper.pricing.book import book_of
from keeper.pricing.trigger import QUANTUM_WEI, describe
from keeper.units import WAD

pytestmark = pytest.mark.integration

N = 3


@pytest.fixture(scope="module")
def dev() -> Iterator[BenchDevnet]:
    d = start_devnet(N)
    try:
        d.snapshot_id = d.rpc("evm_snapshot")  # type: ignore[attr-defined]
        yield d
    finally:
        d.close()


vault_params = st.tuples(
    st.integers(-40 * WAD, 40 * WAD),  # target delta
    st.integers(10**12, 80 * WAD),  # band
    st.integers(1, 500).map(lambda v: v * 10**16),  # vol 1% .. 500%
    st.integers(1, 1000) | st.just(1000),  # max oracle gap bps
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # Mostly near the pool's 3,000 (the gap check passes or fails on its bps), sometimes far.
    price=st.one_of(
        st.integers(2_940 * 10**8, 3_060 * 10**8),
        st.integers(1_500, 6_000).map(lambda usd: usd * 10**8 + 12_345_678),
    ),
    jump=st.sampled_from([0, 61, 3_000, 3_599, 3_601, 86_400, 20 * 86_400, 45 * 86_400]),
    params=st.lists(vault_params, min_size=N, max_size=N),
)
def test_off_chain_trigger_and_delta_match_the_contract(
    dev: BenchDevnet, price: int, jump: int, params: list[tuple[int, int, int, int]]
) -> None:
    dev.rpc("evm_revert", dev.snapshot_id)  # type: ignore[attr-defined]
    dev.snapshot_id = dev.rpc("evm_snapshot")  # type: ignore[attr-defined]
    feed = dev.contract("MockV3Aggregator", dev.stack.price_feed)
    if jump:
        dev.rpc("evm_increaseTime", jump)
    transact(dev.w3, dev.admin, feed.functions.updateAnswer(price))
    for v, (target, band, vol, gap) in zip(dev.stack.vaults, params, strict=True):
        c = dev.contract("OptionVault", v)
        transact(dev.w3, dev.admin, c.functions.setTargetDelta(target))
        transact(dev.w3, dev.admin, c.functions.setBand(band))
        transact(dev.w3, dev.admin, c.functions.setVolatility(vol))
        # The vault keeps gap <= slippage; slippage only sets minOut, never the trigger.
        transact(dev.w3, dev.admin, c.functions.setMaxSlippageBps(1000))
        transact(dev.w3, dev.admin, c.functions.setMaxOracleGapBps(gap))
    if jump > 3_600:  # let the oracle go stale sometimes: mine without a new answer
        dev.rpc("evm_increaseTime", jump // 10)
        dev.rpc("evm_mine")

    block = dev.w3.eth.block_number
    book = book_of(LensReader(dev.w3, dev.stack.lens).read_lean(list(dev.stack.vaults), block))
    d = book.derived
    for i, v in enumerate(dev.stack.vaults):
        c = dev.contract("OptionVault", v)
        ready, data = c.functions.rebalanceTrigger().call(block_identifier=block)
        assert bool(d.ready[i]) == ready, (
            i,
            int(d.blocker[i]),
            c.functions.rebalanceBlocker().call(block_identifier=block).hex(),
        )
        assert int(d.trigger[i]) == int.from_bytes(data, "big")
        event(f"blocker {describe(int(d.blocker[i]))}, trigger {int(d.trigger[i])}")
        net = c.functions.netDelta().call(block_identifier=block)
        if d.spot[i] > 0:  # netDelta prices at the last accepted price when the answer is bad
            # Relative to the larger of |net| and |book|, plus the contract's resolution: its
            # per-contract delta is a 1e18 fixed-point int (QUANTUM_WEI per contract covers it).
            scale = max(abs(net), abs(float(d.book_delta_f[i])))
            floor = QUANTUM_WEI * float(d.contracts[i])
            assert abs(float(d.net_delta_f[i]) - net) <= 1e-9 * scale + floor
