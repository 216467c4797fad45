"""Batch simulation: the gas rule reads the batcher's ``BOOKKEEPING_GAS()`` once (never a copied
constant), and a pool swap short of its strictest leg drops the strictest vaults, not the batch."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from keeper.execution.simulate import BatchCodec, VaultOutcome, batch_gas_needed, shared_codec

BATCHER = "0x" + "ab" * 20
SELECTOR = keccak(text="BOOKKEEPING_GAS()")[:4]


def fake_w3(value: int) -> tuple[Any, list[dict[str, Any]]]:
    """A connection whose ``eth_call`` answers ``value`` and records each request."""
    calls: list[dict[str, Any]] = []

    def call(tx: dict[str, Any]) -> bytes:
        calls.append(tx)
        assert bytes(tx["data"]) == SELECTOR
        return abi_encode(["uint256"], [value])

    return SimpleNamespace(eth=SimpleNamespace(call=call)), calls


def test_bookkeeping_gas_is_read_once_per_batcher() -> None:
    codec = BatchCodec()
    w3, calls = fake_w3(40_000)
    assert codec.bookkeeping_gas(w3, BATCHER) == 40_000
    assert codec.bookkeeping_gas(w3, BATCHER.upper().replace("0X", "0x")) == 40_000
    assert len(calls) == 1  # cached: no request in later cycles
    other = "0x" + "cd" * 20
    assert codec.bookkeeping_gas(w3, other) == 40_000
    assert len(calls) == 2


def test_shared_codec_is_one_object() -> None:
    assert shared_codec() is shared_codec()


def test_batch_gas_needed_uses_the_batchers_reserve() -> None:
    outcomes = [
        VaultOutcome(vault="0x" + "01" * 20, ok=True, delta_before=0, delta_after=0, reason="")
    ]
    calldata = b"\x01" * 68
    base = batch_gas_needed(calldata, outcomes, 630_000, 0)
    assert batch_gas_needed(calldata, outcomes, 630_000, 40_000) == base + 40_000
    # intrinsic + calldata + per-vault bookkeeping + vaultGasLimit * 64/63
    assert base == 21_000 + 16 * 68 + 30_000 + 640_000


def test_codec_encodes_each_vaults_post_deviation() -> None:
    from eth_abi.abi import decode as abi_decode

    from keeper.execution.simulate import BatchCodec

    codec = BatchCodec()
    a, b = "0x" + "11" * 20, "0x" + "22" * 20
    data = codec.encode([a, b], [-5 * 10**17, 0])
    assert data[:4] == codec.selector
    vaults, posts = abi_decode(["address[]", "int256[]"], data[4:])
    assert [v.lower() for v in vaults] == [a, b]
    assert list(posts) == [-5 * 10**17, 0]
    # No requests: every vault to its target.
    assert abi_decode(["address[]", "int256[]"], codec.encode([a])[4:])[1] == (0,)


# ------------------------------------------------------------------ a pool swap short of a leg
KEEPER = "0x" + "ee" * 20
HEDGE_SHORT = keccak(text="HedgeVenueInsufficientOutput(uint256,uint256)")[:4]
BATCHER_SHORT = keccak(text="RebalanceBatcherInsufficientOutput(address,uint256,uint256)")[:4]
BAD_SIZE = keccak(text="RebalanceBatcherBadBatchSize(uint256,uint256)")[:4]


def _vault(n: int) -> str:
    from web3 import Web3

    return str(Web3.to_checksum_address(f"0x{n:040x}"))


class PoolEth:
    """``rebalanceBatch`` on one pool by the batcher's rule, every leg a buy of 1 USD.

    A batch of one is the vault's own swap: ok iff the pool's rate meets its own minOut
    (``1 - bps/1e4``). Several: the pool's one swap must meet the strictest leg, else the whole
    call reverts (``error``, a pool-short selector).
    """

    def __init__(
        self, bounds: dict[str, int], rate: float, error: bytes = HEDGE_SHORT, max_batch: int = 100
    ) -> None:
        self.codec = BatchCodec()
        self.bounds = bounds
        self.rate = rate
        self.error = error
        self.max_batch = max_batch
        self.calls: list[list[str]] = []
        self.max_batch_reads = 0

    def _batch(self, vaults: list[str]) -> bytes:
        from eth_abi.abi import encode as enc
        from web3.exceptions import ContractLogicError

        self.calls.append(vaults)
        if len(vaults) > self.max_batch:
            args = enc(["uint256", "uint256"], [len(vaults), self.max_batch])
            raise ContractLogicError("execution reverted", data="0x" + (BAD_SIZE + args).hex())
        need = [1 - self.bounds[v] / 1e4 for v in vaults]
        if len(vaults) == 1:
            ok = need[0] <= self.rate
            reason = b"" if ok else HEDGE_SHORT + enc(["uint256", "uint256"], [995, 999])
            rows = [(vaults[0], ok, 0, 10**18 if ok else 0, 200_000, reason)]
            return bytes(enc(self.codec.output_types, [rows]))
        if max(need) > self.rate:
            out, needed = int(10**6 * len(vaults) * self.rate), int(10**6 * len(vaults) * max(need))
            if self.error == BATCHER_SHORT:
                args = enc(["address", "uint256", "uint256"], ["0x" + "77" * 20, out, needed])
            else:
                args = enc(["uint256", "uint256"], [out, needed])
            raise ContractLogicError("execution reverted", data="0x" + (self.error + args).hex())
        rows = [(v, True, 0, 10**18, 150_000, b"") for v in vaults]
        return bytes(enc(self.codec.output_types, [rows]))

    def call(self, tx: dict[str, Any], block: Any = None) -> bytes:
        from eth_abi.abi import decode as dec

        data = bytes(tx["data"])
        if data[:4] == self.codec.selector:
            vaults, _ = dec(["address[]", "int256[]"], data[4:])
            return self._batch([str(v) for v in vaults])
        if data[:4] == keccak(text="vaultGasLimit()")[:4]:
            return abi_encode(["uint256"], [500_000])
        if data[:4] == keccak(text="maxBatch()")[:4]:
            self.max_batch_reads += 1
            return abi_encode(["uint256"], [self.max_batch])
        return abi_encode(["uint256"], [40_000])  # BOOKKEEPING_GAS()

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        self.call(tx)
        return 400_000

    def get_block(self, tag: Any) -> dict[str, int]:
        return {"number": 100, "gasLimit": self.block_gas}

    block_gas = 30_000_000


def _simulate(eth: PoolEth, vaults: list[str], **kw: Any) -> Any:
    from keeper.execution.decode import ErrorDecoder
    from keeper.execution.simulate import simulate_batch

    w3: Any = SimpleNamespace(eth=eth, provider=None)
    kw.setdefault("codec", BatchCodec())
    return simulate_batch(w3, BATCHER, vaults, KEEPER, ErrorDecoder.from_artifacts(), **kw)


def test_more_vaults_than_max_batch_keep_the_largest_benefits_and_defer_the_rest() -> None:
    """The batcher refuses a batch longer than its ``maxBatch`` whole: the simulation raised
    ``RebalanceBatcherBadBatchSize`` and the cycle failed, each cycle, while that many vaults
    wanted a hedge. Now the largest benefits go (in the plan's order) and the rest wait, as
    deferred, not dropped: nothing is wrong with them."""
    a, b, c, d = (_vault(n) for n in (1, 2, 3, 4))
    bounds = dict.fromkeys((a, b, c, d), 100)
    eth = PoolEth(bounds, rate=0.999, max_batch=2)
    codec = BatchCodec()
    sim = _simulate(eth, [a, b, c, d], benefit={a: 1.0, b: 5.0, c: 0.5, d: 5.0}, codec=codec)
    assert sim.vaults == (b, d)
    assert sim.dropped == {}
    why = "deferred: the batcher takes at most 2 vaults a batch"
    assert sim.deferred == {a: why, c: why}
    assert all(len(batch) <= 2 for batch in eth.calls)
    # maxBatch is an immutable: read once per batcher, then cached in the codec.
    _simulate(eth, [a, b, c], codec=codec)
    assert eth.max_batch_reads == 1
    # Without benefits (or on ties) the plan's order decides.
    assert _simulate(eth, [c, a, d], codec=codec).vaults == (c, a)


def test_a_batch_over_the_block_gas_limit_defers_the_smallest_benefits() -> None:
    a, b, c, d = (_vault(n) for n in (1, 2, 3, 4))
    eth = PoolEth(dict.fromkeys((a, b, c, d), 100), rate=0.999)
    eth.block_gas = 1_200_000  # four vaults need ~1.55M with the headroom, two ~1.1M
    sim = _simulate(eth, [a, b, c, d], benefit={a: 1.0, b: 5.0, c: 0.5, d: 5.0})
    assert sim.vaults == (b, d)
    assert sim.gas <= eth.block_gas
    assert sim.dropped == {}
    why = "deferred: the batch would exceed the block gas limit"
    assert sim.deferred == {a: why, c: why}


def test_a_lone_vault_reads_no_max_batch() -> None:
    a = _vault(1)
    eth = PoolEth({a: 100}, rate=0.999, max_batch=1)
    assert _simulate(eth, [a]).vaults == (a,)
    assert eth.max_batch_reads == 0


def test_pool_short_drops_the_smallest_slippage_bound_and_keeps_the_rest() -> None:
    a, b, c, d = (_vault(n) for n in (1, 2, 3, 4))
    bounds = {a: 100, b: 5, c: 5, d: 50}
    eth = PoolEth(bounds, rate=0.995)  # meets a leg allowing >= 50 bps
    sim = _simulate(eth, [a, b, c, d], slippage_bps=bounds)
    assert sim.vaults == (a, d)
    assert set(sim.dropped) == {b, c}
    assert all("HedgeVenueInsufficientOutput" in r and "5 bps" in r for r in sim.dropped.values())
    # One retry for the one bound dropped (its call, estimate and signed-gas check); no vault
    # is probed alone.
    assert eth.calls == [[a, b, c, d], [a, d], [a, d], [a, d]]
    assert sim.calldata == BatchCodec().encode([a, d])


def test_pool_short_retries_once_per_distinct_bound_until_nothing_is_left() -> None:
    vaults = [_vault(n) for n in range(1, 7)]
    bounds = dict(zip(vaults, (10, 20, 20, 30, 40, 40), strict=True))
    eth = PoolEth(bounds, rate=0.99, error=BATCHER_SHORT)  # no leg under 100 bps is met
    sim = _simulate(eth, vaults, slippage_bps=bounds, max_rounds=1)
    assert sim.vaults == ()
    assert sim.gas == 0
    assert set(sim.dropped) == set(vaults)
    assert "RebalanceBatcherInsufficientOutput" in sim.dropped[vaults[0]]
    # Four distinct bounds, four calls (the two 40 bps vaults go together), none of them
    # counted against max_rounds=1.
    assert [len(c) for c in eth.calls] == [6, 5, 3, 2]


def test_pool_short_with_a_lone_survivor_is_decided_by_its_own_outcome() -> None:
    a, b = _vault(1), _vault(2)
    bounds = {a: 10, b: 60}
    eth = PoolEth(bounds, rate=0.995)
    sim = _simulate(eth, [a, b], slippage_bps=bounds)
    assert sim.vaults == (b,)
    assert "10 bps" in sim.dropped[a]
    assert eth.calls == [[a, b], [b], [b], [b]]  # the retry, its estimate, the signed-gas check


def test_pool_short_without_bounds_ranks_a_vault_by_its_batch_of_one() -> None:
    a, b, c = _vault(1), _vault(2), _vault(3)
    eth = PoolEth({a: 100, b: 5, c: 60}, rate=0.995)
    sim = _simulate(eth, [a, b, c], slippage_bps={a: 100})  # b and c unknown
    assert sim.vaults == (a, c)
    assert list(sim.dropped) == [b]
    assert "HedgeVenueInsufficientOutput" in sim.dropped[b]
    # The unknown vaults are each probed alone once, at the first pool-short revert.
    assert eth.calls[:3] == [[a, b, c], [b], [c]]
    assert eth.calls[3:] == [[a, c]] * 3


def test_nothing_reverting_simulates_once_and_checks_at_the_signed_gas() -> None:
    a, b = _vault(1), _vault(2)
    bounds = {a: 100, b: 5}
    eth = PoolEth(bounds, rate=0.9999)
    sim = _simulate(eth, [a, b], slippage_bps=bounds)
    assert sim.vaults == (a, b)
    assert not sim.dropped
    assert sim.rounds == 1
    assert eth.calls == [[a, b], [a, b], [a, b]]  # the call, its estimate, the signed-gas check


def test_another_whole_call_revert_still_raises() -> None:
    import pytest
    from eth_abi.abi import encode as enc
    from web3.exceptions import ContractLogicError

    from keeper.errors import TxRevertedError

    a, b = _vault(1), _vault(2)
    eth = PoolEth({a: 100, b: 5}, rate=0.995)
    unauthorized = keccak(text="RebalanceBatcherUnauthorized(address)")[:4] + enc(
        ["address"], [KEEPER]
    )

    def refuse(vaults: list[str]) -> bytes:
        raise ContractLogicError("execution reverted", data="0x" + unauthorized.hex())

    eth._batch = refuse  # type: ignore[method-assign]
    with pytest.raises(TxRevertedError, match="RebalanceBatcherUnauthorized"):
        _simulate(eth, [a, b], slippage_bps={a: 100, b: 5})


class _EmptyAnswers:
    """A node that answers every ``eth_call`` with ``0x`` (no return data at all)."""

    def call(self, tx: dict[str, Any], block: Any = None) -> bytes:
        return b""

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        return 400_000


@pytest.mark.parametrize("path", ["batch", "direct", "still-valid"])
def test_an_empty_answer_to_a_simulation_is_a_chain_error_the_loop_survives(path: str) -> None:
    """An ``eth_call`` answered with no data (``0x``: a node that misbehaves or has not got the
    contract) cannot be an ``Outcome[]`` nor a ``(before, after)`` pair. It must fail the cycle
    as a :class:`ChainError`, which ``keeper run``'s loop counts and survives, not escape as
    eth-abi's ``InsufficientDataBytes``: that is none of the errors the loop catches, so the
    keeper died with a traceback (and ``keeper check`` printed one instead of one line)."""
    from keeper.app.loop import _CYCLE_ERRORS
    from keeper.errors import ChainError
    from keeper.execution.decode import ErrorDecoder
    from keeper.execution.simulate import (
        call_still_succeeds,
        simulate_batch,
        simulate_direct,
    )

    w3: Any = SimpleNamespace(eth=_EmptyAnswers(), provider=None)
    decoder = ErrorDecoder.from_artifacts()
    codec = BatchCodec()
    vault = _vault(1)
    simulations: dict[str, Callable[[], object]] = {
        "batch": lambda: simulate_batch(w3, BATCHER, [vault], KEEPER, decoder, codec=codec),
        "direct": lambda: simulate_direct(w3, vault, KEEPER, decoder),
        "still-valid": lambda: call_still_succeeds(
            w3, BATCHER, codec.encode([vault]), KEEPER, codec, decoder
        ),
    }
    with pytest.raises(ChainError) as caught:
        simulations[path]()
    assert isinstance(caught.value, _CYCLE_ERRORS)


class _SettledSeries:
    """A node on which the vault's series 3 is settled already: ``settle`` reverts."""

    def __init__(self, settled: bool) -> None:
        self.settled = settled
        self.calls: list[dict[str, Any]] = []

    def call(self, tx: dict[str, Any], block: Any = None) -> bytes:
        from web3.exceptions import ContractLogicError

        self.calls.append(tx)
        if self.settled:
            error = keccak(text="OptionVaultAlreadySettled(uint256)")[:4]
            raise ContractLogicError(
                "execution reverted", data="0x" + (error + abi_encode(["uint256"], [3])).hex()
            )
        return abi_encode(["uint256"], [0])


@pytest.mark.parametrize("call", ["settle", "fill"])
@pytest.mark.parametrize("settled", [False, True])
def test_a_journaled_settlement_or_fill_is_judged_by_its_simulation(
    call: str, settled: bool
) -> None:
    """Before a restart rebroadcasts a journaled transaction its call is simulated again: one
    that would revert now is cancelled at its nonce instead. That held for batches and a lone
    vault's rebalance, and any other call was "nothing to judge": a settlement signed before a
    SIGKILL was rebroadcast after the market had settled the series, and mined into a revert
    (``make chaos``, sigkill section, 1 of 10 rebroadcasts)."""
    from keeper.app.settle import FILL_SELECTOR, SETTLE_SELECTOR
    from keeper.execution.decode import ErrorDecoder
    from keeper.execution.simulate import call_still_succeeds

    node = _SettledSeries(settled)
    w3: Any = SimpleNamespace(eth=node, provider=None)
    data = (
        SETTLE_SELECTOR + abi_encode(["uint256", "uint80"], [3, 7])
        if call == "settle"
        else FILL_SELECTOR
    )
    vault = "0x" + "a1" * 20
    ok = call_still_succeeds(w3, vault, data, KEEPER, BatchCodec(), ErrorDecoder.from_artifacts())
    assert ok is not settled
    assert [bytes(c["data"]) for c in node.calls] == [data]


class _SettleBatchNode:
    """``eth_call`` of a ``settleBatch``: each series settles unless ``settled`` names it."""

    def __init__(self, settled: set[int]) -> None:
        self.settled = settled
        self.calls: list[dict[str, Any]] = []

    def call(self, tx: dict[str, Any]) -> bytes:
        self.calls.append(tx)
        vault = "0x" + "a1" * 20
        already = keccak(text="OptionVaultAlreadySettled(uint256)")[:4]
        rows = [
            (vault, i, i not in self.settled, b"" if i not in self.settled else already)
            for i in (3, 4)
        ]
        return abi_encode(["(address,uint256,bool,bytes)[]"], [rows])


@pytest.mark.parametrize(("settled", "expected"), [(set(), True), ({3}, True), ({3, 4}, False)])
def test_a_journaled_settlement_batch_is_judged_by_what_it_would_still_settle(
    settled: set[int], expected: bool
) -> None:
    """A ``settleBatch`` never reverts because of a series (one settled meanwhile fails alone
    inside it): it is worth rebroadcasting while one series at least would still settle, and
    is cancelled when none would (mined, it would only pay gas)."""
    from keeper.execution.decode import ErrorDecoder
    from keeper.execution.simulate import SETTLE_BATCH_SELECTOR, call_still_succeeds

    node = _SettleBatchNode(settled)
    w3: Any = SimpleNamespace(eth=node, provider=None)
    vault = "0x" + "a1" * 20
    data = SETTLE_BATCH_SELECTOR + abi_encode(
        ["address[]", "uint256[]", "uint80[]"], [[vault, vault], [3, 4], [7, 7]]
    )
    batcher = "0x" + "ba" * 20
    ok = call_still_succeeds(w3, batcher, data, KEEPER, BatchCodec(), ErrorDecoder.from_artifacts())
    assert ok is expected
    assert [bytes(c["data"]) for c in node.calls] == [data]


def test_a_vault_whose_venue_reverts_the_whole_batch_is_found_alone_and_dropped() -> None:
    """A vault whose venue reverts in the batch's swap phase for another reason than a short
    output (a venue for another pair, a partial fill, a hostile venue) reverts the whole
    ``rebalanceBatch``: the swap runs after every leg is planned, and the batcher cannot tell
    whose venue it was. The simulation raised, so the cycle failed and every vault batched
    with it stayed unhedged, cycle after cycle. Each vault is now tried alone (where its own
    venue's revert is its own failure): the ones that fail alone are dropped and the rest sent.
    """
    from eth_abi.abi import encode as enc
    from web3.exceptions import ContractLogicError

    a, b, m = _vault(1), _vault(2), _vault(3)
    eth = PoolEth({a: 100, b: 100, m: 100}, rate=0.9999)
    unsupported = keccak(text="HedgeVenueUnsupportedPair(address,address)")[:4] + enc(
        ["address", "address"], ["0x" + "11" * 20, "0x" + "22" * 20]
    )
    plain = eth._batch

    def misrouted(vaults: list[str]) -> bytes:
        if m not in vaults:
            return plain(vaults)
        eth.calls.append(vaults)
        if len(vaults) > 1:  # the pool swaps of the batch: the whole call reverts
            raise ContractLogicError("execution reverted", data="0x" + unsupported.hex())
        rows = [(m, False, 0, 0, 200_000, unsupported)]  # alone: its own call fails
        return bytes(enc(eth.codec.output_types, [rows]))

    eth._batch = misrouted  # type: ignore[method-assign]
    sim = _simulate(eth, [a, m, b], slippage_bps={a: 100, b: 100, m: 100})
    assert sim.vaults == (a, b)
    assert list(sim.dropped) == [m]
    assert "HedgeVenueUnsupportedPair" in sim.dropped[m]
