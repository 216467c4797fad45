"""Defects a second audit found where the keeper mirrors the contracts' math.

Each test states the contract's rule it checks against and FAILS on the tree it was written on
(the keeper is not fixed here). No node: the contract rules are restated from the Solidity they
cite, and the keeper runs on lean snapshots encoded as the lens answers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper.chain.lens import (
    OracleState,
    Series,
    VaultSnapshot,
    VaultThresholds,
    encode_lean_answer,
    lean_snapshot,
)
from keeper.chain.rounds import SETTLEMENT_GRACE_S, expiry_round
from keeper.errors import ChainError, TxRevertedError
from keeper.execution.decode import ErrorDecoder
from keeper.execution.simulate import BatchCodec, simulate_batch
from keeper.pricing.book import book_of
from keeper.strategy import parse_policy
from keeper.strategy.costs import batch_cost_usd
from keeper.strategy.planner import plan, state_from_views
from keeper.strategy.policies import CostAwarePolicy, risk_benefit_usd
from keeper.strategy.types import CostInputs, MarketView

NOW = 1_700_000_000
WAD = 10**18
PRICE = 3000 * 10**8
UNDERLYING_PRICE_TO_QUOTE = 10**20
#: 1 gwei, a USD 3,000 ETH: a lone vault's rebalance pays ~USD 0.6 of gas, plus 5 bps of pool fee.
COSTS = CostInputs(
    gas_fixed=50_000,
    gas_per_vault=150_000,
    gas_price_wei=10**9,
    l1_fee_fixed_wei=0,
    l1_fee_per_vault_wei=0,
    eth_usd=3000.0,
    pool_fee_bps=5.0,
    impact_coef=0.0,
)
MARKET = MarketView(NOW, 0.8, 0.8)


# ------------------------------------------------------------------ settlement round hints
@dataclass
class _Feed:
    """A Chainlink feed's rounds: ``rounds[id] = (answer, updatedAt)`` (one phase, ids 1..n)."""

    rounds: dict[int, tuple[int, int]] = field(default_factory=dict)

    def _row(self, rid: int) -> tuple[int, int, int, int, int]:
        if rid not in self.rounds:  # as a feed answers a round it does not have
            raise ContractLogicError("execution reverted: No data present", data="0x")
        answer, updated = self.rounds[rid]
        return (rid, answer, updated, updated, rid)

    @property
    def functions(self) -> Any:
        feed = self

        class _Fns:
            def latestRoundData(self) -> Any:  # noqa: N802  # the feed's name
                return _Call(feed._row(max(feed.rounds)))

            def getRoundData(self, rid: int) -> Any:  # noqa: N802
                return _Call(feed._row(rid))

        return _Fns()


@dataclass
class _Call:
    value: Any

    def call(self, block_identifier: Any = "latest") -> Any:
        return self.value


@dataclass
class _Eth:
    feed: _Feed

    def contract(self, address: str, abi: Any) -> _Feed:
        return self.feed


@dataclass
class _W3:
    eth: _Eth


def _contract_accepts_round(feed: _Feed, rid: int, expiry: int) -> bool:
    """``RebalanceRules._expiryRoundPrice``: the first round at or after expiry, answer > 0, or
    any answer from expiry + the grace period (then the current healthy price settles it)
    (``OptionVaultSettlementRound`` / ``OptionVaultInvalidPrice`` otherwise)."""
    answer, updated = feed.rounds[rid]
    past_grace = expiry + SETTLEMENT_GRACE_S <= NOW
    first = updated >= expiry and rid > 1 and feed.rounds[rid - 1][1] < expiry
    return first and (answer > 0 or past_grace)


def test_a_non_positive_expiry_round_falls_back_after_the_grace_period() -> None:
    """The first round after expiry answered 0: ``settle(id, thatRound)`` reverts
    ``OptionVaultInvalidPrice`` until expiry + SETTLEMENT_GRACE, then settles at the current
    healthy price; the bare fallback ``settle(id, 0)`` is refused, since the phase holds an
    expiry round. The hint must be a round the vault accepts, or the series stays unsettled, its
    holders unpaid, and the vault's exits and deposits closed."""
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    feed = _Feed(
        {
            1: (3000 * 10**8, expiry - 7200),
            2: (3000 * 10**8, expiry - 60),
            3: (0, expiry + 30),  # the expiry round, unusable
            4: (3100 * 10**8, NOW - 10),  # healthy now
        }
    )
    hint = expiry_round(_W3(_Eth(feed)), "0x" + "fe" * 20, expiry, NOW)
    # The phase holds the expiry round (round 3), so the vault refuses the bare fallback 0.
    assert hint is not None, "past the grace the expiry round settles: nothing to wait for"
    assert _contract_accepts_round(feed, hint, expiry), (
        f"hint {hint} reverts on chain (answer {feed.rounds[hint][0] if hint else None})"
    )


_PHASE = 1 << 64


@dataclass
class _PhasedFeed:
    """A Chainlink proxy with phases: ``phases[p][k] = (answer, updatedAt)``; round ids are
    ``p << 64 | k``, read through the proxy (its aggregators answer only the proxy)."""

    phases: dict[int, dict[int, tuple[int, int]]]

    def contract(self, address: str, abi: Any) -> Any:
        feed = self

        class _Fns:
            def latestRoundData(self) -> Any:  # noqa: N802  # the feed's name
                p = max(feed.phases)
                return _Call(feed._row(p, max(feed.phases[p])))

            def getRoundData(self, rid: int) -> Any:  # noqa: N802
                return _Call(feed._row(rid >> 64, rid & (_PHASE - 1)))

        return type("C", (), {"functions": _Fns()})()

    def _row(self, p: int, k: int) -> tuple[int, int, int, int, int]:
        # A round that does not exist reads as zeros (OCR aggregators), not as a revert.
        answer, updated = self.phases.get(p, {}).get(k, (0, 0))
        rid = (p << 64) | k
        return (rid, answer, updated, updated, rid)


@dataclass
class _PhasedW3:
    eth: _PhasedFeed


def test_an_older_phase_holding_the_expiry_round_is_the_hint_not_the_fallback() -> None:
    """The feed's latest phase began after expiry, but phase 1 holds the expiry round: the vault
    refuses the fallback ``settle(id, 0)`` then (anyone could pick a later price), so the hint
    must be phase 1's round. When phase 1 ended before expiry, no round can be checked and the
    fallback is the hint after the grace period."""
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    phase2 = {1: (3100 * 10**8, expiry + 3 * 3600), 2: (3100 * 10**8, NOW - 10)}
    holds = {
        1: (3000 * 10**8, expiry - 7200),
        2: (3000 * 10**8, expiry - 60),
        3: (2900 * 10**8, expiry + 30),
    }
    feed = _PhasedFeed({1: holds, 2: phase2})
    hint = expiry_round(_PhasedW3(feed), "0x" + "fe" * 20, expiry, NOW)
    assert hint == (1 << 64) | 3
    assert expiry_round(_PhasedW3(feed), "0x" + "fe" * 20, expiry, expiry + 60) == (1 << 64) | 3

    ended = _PhasedFeed({1: {1: holds[1], 2: holds[2]}, 2: phase2})
    assert expiry_round(_PhasedW3(ended), "0x" + "fe" * 20, expiry, NOW) == 0
    before_grace = expiry + SETTLEMENT_GRACE_S - 1
    assert expiry_round(_PhasedW3(ended), "0x" + "fe" * 20, expiry, before_grace) is None


def test_the_expiry_round_is_found_however_many_rounds_came_after_it() -> None:
    """Review finding (2026-12-04): the hint walked back one round at a time, at most 256, and
    gave the fallback 0 past that, which the vault refuses whenever an expiry round exists: 300
    rounds in the phase that began after expiry left the series unsettled. The vault checks a
    phase's first round directly; the hint finds the round by halving, in any phase."""
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    feed = "0x" + "fe" * 20
    holds = {
        1: (3000 * 10**8, expiry - 7200),
        2: (3000 * 10**8, expiry - 60),
        3: (2900 * 10**8, expiry + 30),
    }
    busy = {k: (3100 * 10**8, expiry + 3 * 3600 + 60 * k) for k in range(1, 301)}
    later = {**holds, **{k: (3100 * 10**8, expiry + 60 * k) for k in range(4, 304)}}
    # 300 rounds in the phase that began after expiry:
    assert (
        expiry_round(_PhasedW3(_PhasedFeed({1: holds, 2: busy})), feed, expiry, NOW)
        == (1 << 64) | 3
    )
    # and 300 after the expiry round in its own phase, older or latest:
    assert (
        expiry_round(_PhasedW3(_PhasedFeed({1: later, 2: busy})), feed, expiry, NOW)
        == (1 << 64) | 3
    )
    assert expiry_round(_PhasedW3(_PhasedFeed({2: later})), feed, expiry, NOW) == (2 << 64) | 3


@pytest.mark.parametrize("how", ["reverts", "reads as zeros"])
def test_an_unreadable_round_inside_the_latest_phase_is_a_chain_error(how: str) -> None:
    """The latest phase runs from round 1 (before expiry) to round 10 without gaps, so it holds
    the expiry round (6) and the vault refuses the fallback ``settle(id, 0)``
    (``_hasExpiryRound``). Round 3 cannot be read (the call reverts, or answers zeros): the
    search took it for a round past the phase's end and gave the fallback, 0 past the grace
    period, which reverts on chain, and None ("no oracle round since expiry") before it. Neither
    is true: the hint cannot be found this cycle, and that is a ``ChainError`` that says so."""
    expiry = NOW - 2 * SETTLEMENT_GRACE_S
    rounds = {k: (3000 * 10**8, expiry - 60 * (6 - k)) for k in range(1, 6)}
    rounds |= {k: (3100 * 10**8, expiry + 60 * (k - 5)) for k in range(6, 11)}
    feed = _PhasedFeed({1: rounds})
    rows = feed._row

    def row(p: int, k: int) -> tuple[int, int, int, int, int]:
        if k == 3:
            if how == "reverts":
                raise ContractLogicError("execution reverted: No data present")
            return ((p << 64) | k, 0, 0, 0, (p << 64) | k)
        return rows(p, k)

    feed._row = row  # type: ignore[method-assign]
    for now in (NOW, expiry + 60):  # past the grace period, and before it
        with pytest.raises(ChainError, match="round 3 of phase 1 cannot be read"):
            expiry_round(_PhasedW3(feed), "0x" + "fe" * 20, expiry, now)


# ------------------------------------------------------------------ the planner's trade
def _vault(
    *, target: int, inventory: int, free_quote: int, call: bool, tag: str = "a0"
) -> VaultSnapshot:
    """A vault short 10 one-week ATM capped options (cap USD 1,000), 60 s min interval."""
    kind = 0 if call else 1
    return VaultSnapshot(
        vault="0x" + tag * 20,
        oracle=OracleState(1, PRICE, NOW - 5, 8, False, 0),
        net_delta=0,
        inventory=inventory,
        thresholds=VaultThresholds(target, WAD // 2, 60, 86_400, 100 * WAD, 50, 100, 3600, 600),
        last_rebalance=NOW - 100,
        pool_price=PRICE,
        volatility=8 * 10**17,
        total_assets=0,
        total_supply=0,
        free_quote=free_quote,
        paused=False,
        trigger_ready=False,
        trigger=0,
        series=(Series(1, kind, PRICE, 1000 * 10**8, NOW + 7 * 86_400, 10 * WAD, False, 0),),
    )


def _plan(spec: str, *snaps: VaultSnapshot, venues: list[str] | None = None) -> Any:
    answer = encode_lean_answer(list(snaps), 1, NOW, venues=venues)
    book = book_of(lean_snapshot([s.vault for s in snaps], [answer]))
    assert book.derived.ready.all(), "the contract accepts a rebalance of every vault"
    return plan(parse_policy(spec), book.views(), MARKET, COSTS)


def _trade_size(d: int, post: int, band: int, max_trade: int) -> int:
    """``RebalanceRules.tradeSize``: the request kept on d's side, clamped to min(|d|, band)."""
    mag = abs(d)
    w = post if d > 0 and post > 0 else (-post if d <= 0 and post < 0 else 0)
    return min(mag - min(w, mag, band), max_trade)


def _contract_amount_in(s: VaultSnapshot, deviation: int, post: int) -> tuple[bool, int]:
    """``RebalanceRules.plan`` for the requested ``post``: (buy, amountIn) -- a buy spends
    ``min(floor(want * price / 1e20), freeQuote)`` quote, a sell ``min(want, inventory)``."""
    t = s.thresholds
    want = _trade_size(deviation, post, t.band, t.max_trade)
    if deviation < 0:  # net below target: buy
        return True, min(want * PRICE // UNDERLYING_PRICE_TO_QUOTE, s.free_quote)
    return False, min(want, s.inventory)


def test_a_buy_is_planned_no_larger_than_the_free_quote_it_can_spend() -> None:
    """Target +5 with the book's delta ~-5: the vault must buy ~10 underlying, but only USD 1 of
    its quote is free (the rest locked as collateral). The contract spends min(trade * price,
    freeQuote) = USD 1; the planner books a ~10 ETH (USD 30,000) trade, prices its benefit and
    cost on that, and so ``costaware`` pays ~USD 15 of gas every min interval to buy USD 1 of
    ETH (the deviation never shrinks, so it does so again and again)."""
    s = _vault(target=5 * WAD, inventory=0, free_quote=10**6, call=True)
    p = _plan("costaware:risk_aversion=0.0001", s)
    [d] = p.decisions
    buy, amount_in = _contract_amount_in(s, int(d.deviation), int(d.post_deviation))
    assert buy
    assert amount_in == 10**6
    planned_quote = abs(int(d.trade)) * PRICE // UNDERLYING_PRICE_TO_QUOTE
    assert planned_quote <= amount_in, (
        f"planned a USD {planned_quote / 1e6:,.0f} buy; the contract can spend USD "
        f"{amount_in / 1e6:,.2f} (act={d.act}, benefit {d.benefit_usd:.4g} USD priced on the "
        f"planned trade vs cost {d.cost_usd:.4g} USD)"
    )


def test_costaware_does_not_pay_gas_for_a_buy_the_free_quote_shrinks_to_dust() -> None:
    """As above, judged by the policy's own rule on what the contract executes: USD 1 of ETH
    against a ~10 ETH deviation cuts the priced risk by ~USD 0.08, below the ~USD 0.6 the
    transaction costs, so ``costaware`` must not send it; it does, on the planned trade's
    benefit (~USD 1,100)."""
    spec = "costaware:risk_aversion=0.0001"
    s = _vault(target=5 * WAD, inventory=0, free_quote=10**6, call=True)
    book = book_of(lean_snapshot([s.vault], [encode_lean_answer([s], 1, NOW)]))
    state = state_from_views(book.views(), MARKET)
    policy = parse_policy(spec)
    assert isinstance(policy, CostAwarePolicy)
    executed = 10**6 * UNDERLYING_PRICE_TO_QUOTE / PRICE / WAD  # whole ETH the contract buys
    real_benefit = float(
        risk_benefit_usd(state, np.array([executed]), policy.risk_aversion, None, policy.cap)[0]
    )
    real_cost = batch_cost_usd(COSTS, [executed * PRICE / 1e8])
    assert real_benefit < real_cost  # what the contract does is not worth its cost
    [d] = _plan(spec, s).decisions
    assert not d.act, (
        f"sent: benefit {d.benefit_usd:.4g} USD priced on a {abs(int(d.trade)) / WAD:.3f} ETH "
        f"trade; the contract buys {executed:.6f} ETH, worth {real_benefit:.3g} USD of risk "
        f"reduction for {real_cost:.3g} USD"
    )


def test_a_sell_is_planned_no_larger_than_the_inventory() -> None:
    """Target -5 with short puts (book delta ~-5, so net ~+5): the vault must sell ~10 underlying
    but holds 0.01. The contract sells min(trade, inventory) = 0.01; the planner books ~10."""
    s = _vault(target=-5 * WAD, inventory=WAD // 100, free_quote=10**12, call=False)
    [d] = _plan("costaware:risk_aversion=0.0001", s).decisions
    buy, amount_in = _contract_amount_in(s, int(d.deviation), int(d.post_deviation))
    assert not buy
    assert amount_in == WAD // 100
    assert abs(int(d.trade)) <= amount_in, (
        f"planned a {abs(int(d.trade)) / WAD:.3f} ETH sell; the vault holds "
        f"{amount_in / WAD:.3f} (act={d.act}, benefit {d.benefit_usd:.4g} USD vs cost "
        f"{d.cost_usd:.4g} USD)"
    )


def test_a_batch_across_two_pools_is_priced_with_both_pools_fees() -> None:
    """``RebalanceBatcher.rebalanceBatch`` nets legs per pool (same venue, quote, underlying and
    oracle price) and swaps each pool's net remainder on its own venue. A buy of ~5 ETH on
    venue A and a sell of ~5 ETH on venue B cross nothing: each pool pays its fee on its own
    leg. The planner nets every member's notional into one swap (it never sees the venue), so
    it prices the pair as if they crossed for free: ~USD 15 of pool fees go unpriced, and a
    cost-gated batch can be sent on a benefit its real cost exceeds."""
    a = _vault(target=0, inventory=0, free_quote=10**12, call=True, tag="a0")  # buys ~5.2
    b = _vault(target=0, inventory=10 * WAD, free_quote=10**12, call=True, tag="b0")  # sells ~4.8
    venues = ["0x" + "a1" * 20, "0x" + "b1" * 20]
    p = _plan("band:width=0.01", a, b, venues=venues)
    assert p.batch == (a.vault, b.vault)
    fee = COSTS.pool_fee_bps / 1e4
    legs = [abs(int(d.trade)) / WAD * PRICE / 1e8 for d in p.decisions]
    pool_fees = fee * sum(legs)  # each venue swaps its own leg
    priced = p.fixed_cost_usd + p.marginal_cost_usd
    assert priced >= pool_fees, (
        f"batch priced at USD {priced:.2f}; its two swaps alone pay USD {pool_fees:.2f} of pool "
        f"fees on USD {legs[0]:,.0f} and {legs[1]:,.0f} (priced as one swap of the net)"
    )


# ------------------------------------------------------------------ batch simulation
_SLIPPAGE_BPS = {"0x" + "a0" * 20: 100, "0x" + "b0" * 20: 5}
_BATCHER = "0x" + "ba" * 20
_KEEPER = "0x" + "ee" * 20
#: The pool delivers 0.5% less than the oracle price (fee and impact); every leg is a buy.
_POOL_RATE = 0.995


class _BatchEth:
    """``rebalanceBatch`` on one pool, by the batcher's rule (each leg's input 1 USD).

    One vault: its own ``rebalanceTo`` swap, ok iff the pool meets its own minOut (1 - its
    slippage). Several: phase 1 passes (each vault's own checks), then the pool's one swap must
    deliver ``max over legs of ceil(minOut * W / w)``, else the whole call reverts
    ``HedgeVenueInsufficientOutput`` (tests/forge/RebalanceBatch.t.sol,
    ``test_rebalanceBatch_RevertWhen_PoolBelowEveryMinOut``).
    """

    def __init__(self) -> None:
        self.codec = BatchCodec()
        self.calls: list[list[str]] = []

    def _outcome(self, vaults: list[str]) -> bytes:
        error = bytes(keccak(text="HedgeVenueInsufficientOutput(uint256,uint256)")[:4])
        self.calls.append(vaults)
        need = [1.0 - _SLIPPAGE_BPS[v.lower()] / 1e4 for v in vaults]
        out = 10**6 * len(vaults)
        if len(vaults) == 1:
            ok = need[0] <= _POOL_RATE
            reason = b"" if ok else error + abi_encode(["uint256", "uint256"], [995, 999])
            rows = [(vaults[0], ok, 0, 10**18 if ok else 0, 200_000, reason)]
            return bytes(abi_encode(self.codec.output_types, [rows]))
        if max(need) > _POOL_RATE:
            data = error + abi_encode(
                ["uint256", "uint256"], [int(out * _POOL_RATE), int(out * max(need))]
            )
            raise ContractLogicError("execution reverted", data="0x" + data.hex())
        rows = [(v, True, 0, 10**18, 150_000, b"") for v in vaults]
        return bytes(abi_encode(self.codec.output_types, [rows]))

    def call(self, tx: dict[str, Any], block: Any = None) -> bytes:
        data = bytes(tx["data"])
        if data[:4] == self.codec.selector:
            vaults, _ = abi_decode(["address[]", "int256[]"], data[4:])
            return self._outcome([str(v) for v in vaults])
        if data[:4] == bytes(keccak(text="vaultGasLimit()")[:4]):
            return bytes(abi_encode(["uint256"], [500_000]))
        return bytes(abi_encode(["uint256"], [40_000]))  # BOOKKEEPING_GAS()

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        self.call(tx)
        return 400_000

    def get_block(self, tag: Any) -> dict[str, int]:
        return {"number": 100, "gasLimit": 30_000_000}


def test_a_pool_swap_one_vaults_slippage_cannot_meet_does_not_block_the_others() -> None:
    """Vault A accepts 1% slippage and B 0.05%; the pool delivers 0.5% under the oracle. Alone,
    A's rebalance goes through and B's fails its own minOut. Together, the pool's one swap must
    meet B's minOut for the whole pool, so ``rebalanceBatch`` reverts as a whole: the keeper's
    simulation raises instead of dropping B, so A is never hedged while B is in the plan (every
    cycle plans both and sends nothing)."""
    eth = _BatchEth()
    w3: Any = SimpleNamespace(eth=eth, provider=None)  # no JSON-RPC batches: call, then estimate
    a, b = (Web3.to_checksum_address(v) for v in _SLIPPAGE_BPS)
    try:
        sim = simulate_batch(
            w3, _BATCHER, [a, b], _KEEPER, ErrorDecoder.from_artifacts(), codec=BatchCodec()
        )
    except TxRevertedError as exc:
        raise AssertionError(
            f"the whole batch failed ({exc}); vault A alone would have been rebalanced"
        ) from None
    assert sim.vaults == (a,)
    assert b in sim.dropped


def test_the_hint_costs_a_few_reads_when_the_expiry_round_is_recent() -> None:
    """The common case, a series settled a round or two after its expiry in a long phase: the
    search gallops down from the latest round instead of halving 10,000 rounds."""
    expiry = NOW - 600
    rounds = {k: (3000 * 10**8, expiry - 60 * (10_000 - k)) for k in range(1, 10_000)}
    rounds[10_000] = (3100 * 10**8, expiry + 5)  # the expiry round is the latest
    feed = _PhasedFeed({1: rounds})
    reads: list[int] = []
    rows = feed._row

    def counted(p: int, k: int) -> tuple[int, int, int, int, int]:
        reads.append(k)
        return rows(p, k)

    feed._row = counted  # type: ignore[method-assign]
    assert expiry_round(_PhasedW3(feed), "0x" + "fe" * 20, expiry, NOW) == (1 << 64) | 10_000
    assert len(reads) <= 5, reads
