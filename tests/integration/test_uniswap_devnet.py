"""The real Uniswap V3 (npm artifacts) and the project's venue, on anvil and on py-evm."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

from keeper.chain.artifacts import load_artifact
from keeper.devnet import uniswap as uni
from keeper.devnet.tx import account, deploy, transact
from keeper.execution.decode import revert_data
from tests.conftest import BACKENDS, Chain, rolled_back, start_chain

pytestmark = pytest.mark.integration

PRICE8 = 3000 * 10**8
#: ``IHedgeVenue.HedgeVenueInsufficientOutput(uint256,uint256)``'s selector.
HEDGE_VENUE_INSUFFICIENT_OUTPUT = keccak(text="HedgeVenueInsufficientOutput(uint256,uint256)")[:4]
DEPTH = 1_000 * 10**18  # full range, ~1,000 underlying a side


@dataclass
class Market:
    chain: Chain
    admin: LocalAccount
    trader: LocalAccount
    quote: Contract
    underlying: Contract
    devnet: uni.UniswapDevnet
    venue: Contract


def _tokens(chain: Chain, admin: LocalAccount, underlying_first: bool) -> tuple[Contract, Contract]:
    """Deploy USDC-like and WETH-like tokens, alternately, until a pair sorts as asked."""
    art = load_artifact("MintableERC20")
    quotes: list[Contract] = []
    underlyings: list[Contract] = []
    for _ in range(8):
        quotes.append(deploy(chain.w3, admin, art, "USD Coin", "USDC", 6))
        underlyings.append(deploy(chain.w3, admin, art, "Wrapped Ether", "WETH", 18))
        for q in quotes:
            for u in underlyings:
                if (int(u.address, 16) < int(q.address, 16)) == underlying_first:
                    return q, u
    raise AssertionError("could not get the requested token order in 16 deployments")


def _market(chain: Chain, underlying_first: bool) -> Market:
    admin, trader = account(chain.keys[0]), account(chain.keys[1])
    quote, underlying = _tokens(chain, admin, underlying_first)
    devnet = uni.deploy_uniswap_v3(
        chain.w3,
        admin,
        quote=quote.address,
        underlying=underlying.address,
        price8=PRICE8,
        underlying_liquidity=DEPTH,
    )
    venue = uni.deploy_venue(chain.w3, admin, devnet.pool)
    return Market(chain, admin, trader, quote, underlying, devnet, venue)


@pytest.fixture(
    scope="module",
    params=[(b, u) for b in BACKENDS for u in (True, False)],
    ids=[f"{b}-{o}" for b in BACKENDS for o in ("underlying0", "quote0")],
)
def built(request: pytest.FixtureRequest) -> Iterator[Market]:
    """A market per backend and token order, built once for the module."""
    backend, underlying_first = request.param
    chain, node = start_chain(backend)
    try:
        yield _market(chain, underlying_first)
    finally:
        if node is not None:
            node.stop()


#: Only the anvil markets, for tests of the devnet helpers' own logic over many swaps. The
#: helpers are the same Python on either backend and the pool the same bytecode, and on py-evm,
#: which interprets every opcode in Python, each of these took 20 to 35 s; the other tests here
#: still run the pool and the venue on both backends.
ON_ANVIL_ONLY = pytest.mark.parametrize(
    "built", [("anvil", True), ("anvil", False)], ids=["anvil-underlying0", "anvil-quote0"],
    indirect=True,
)  # fmt: skip


@pytest.fixture
def market(built: Market) -> Iterator[Market]:
    """The module's market, as built: each test's changes are rolled back after it."""
    with rolled_back(built.chain.w3):
        yield built


def _fund_and_approve(m: Market, token: Contract, spender: str, amount: int) -> None:
    transact(m.chain.w3, m.trader, token.functions.mint(m.trader.address, amount))
    transact(m.chain.w3, m.trader, token.functions.approve(spender, amount))


def test_deploy_pool_at_initial_price(market: Market) -> None:
    m, pool = market, market.devnet.pool
    assert pool.underlying_is_token0 == (int(m.underlying.address, 16) < int(m.quote.address, 16))
    assert pool.tick_spacing == 60
    assert m.devnet.liquidity > 0
    spot = int(m.venue.functions.spotPrice().call())
    # the venue and the Python mirror agree exactly, and the price is the one initialized
    assert spot == uni.pool_price8(m.chain.w3, pool)
    assert abs(spot - PRICE8) <= 1
    # real reserves: the pool holds the deposited underlying (full range at the initial price)
    pool_underlying = int(m.underlying.functions.balanceOf(pool.address).call())
    assert DEPTH - 10**6 <= pool_underlying <= DEPTH
    assert m.venue.functions.underlyingIsToken0().call() == pool.underlying_is_token0


def test_swap_through_venue_has_real_price_impact(market: Market) -> None:
    m, w3 = market, market.chain.w3
    amount_in = 300_000 * 10**6  # ~10% of the pool's quote side
    quote = uni.quote_exact_input(
        w3,
        m.devnet.contracts,
        token_in=m.quote.address,
        token_out=m.underlying.address,
        amount_in=amount_in,
        fee=3000,
    )
    _fund_and_approve(m, m.quote, m.venue.address, amount_in)
    transact(
        w3,
        m.trader,
        m.venue.functions.swapExactIn(
            m.quote.address, m.underlying.address, amount_in, quote.amount_out, m.trader.address
        ),
    )
    got = int(m.underlying.functions.balanceOf(m.trader.address).call())
    assert got == quote.amount_out
    no_impact = amount_in * 10**12 * 10**8 // PRICE8  # 100 underlying at the initial price
    # x*y=k over ~1,000/3M: 300k in buys ~90.7 after the 0.3% fee, ~9% below the spot amount
    assert no_impact * 88 // 100 < got < no_impact * 93 // 100
    spot = int(m.venue.functions.spotPrice().call())
    assert spot == uni.pool_price8(w3, m.devnet.pool)
    assert PRICE8 * 118 // 100 < spot < PRICE8 * 124 // 100  # (1.1)^2 = +21%
    assert uni.slot0_sqrt_price_x96(w3, m.devnet.pool) == quote.sqrt_price_x96_after
    assert int(m.quote.functions.balanceOf(m.venue.address).call()) == 0
    assert int(m.underlying.functions.balanceOf(m.venue.address).call()) == 0


@ON_ANVIL_ONLY
def test_two_swaps_in_a_row_on_one_pool_compound_their_impact(market: Market) -> None:
    """What ``batch_cost_usd`` assumes for two batcher pools on one venue: the second swap starts
    where the first left the price, so the pair costs what one swap of their sum costs (their
    impacts add before squaring), more than the two apart; a buy then a sell partly cancel."""
    m, w3 = market, market.chain.w3
    a, b = 30_000 * 10**6, 20_000 * 10**6  # USDC in: 1% and 0.7% of the pool's quote side
    _fund_and_approve(m, m.quote, m.venue.address, 2 * (a + b))

    def buy(amount: int) -> int:
        """Underlying out for ``amount`` USDC in, swapped through the venue."""
        before = int(m.underlying.functions.balanceOf(m.trader.address).call())
        swap = m.venue.functions.swapExactIn(
            m.quote.address, m.underlying.address, amount, 1, m.trader.address
        )
        transact(w3, m.trader, swap)
        return int(m.underlying.functions.balanceOf(m.trader.address).call()) - before

    def loss_usd(amount_in: int, out: int) -> float:
        """USDC in, less the underlying out at the oracle price, in USD: fee and impact."""
        return amount_in / 1e6 - out / 1e18 * PRICE8 / 1e8

    outs = {}
    for name, legs in (("a", [a]), ("b", [b]), ("sum", [a + b]), ("a then b", [a, b])):
        with rolled_back(w3):
            outs[name] = sum(buy(x) for x in legs)
    # Path independence: a then b is one swap of a + b, to the pool's rounding.
    assert abs(outs["a then b"] - outs["sum"]) <= outs["sum"] // 10**9
    # The cross term: the pair's cost beyond the two apart is 2·k·a·b, k the impact coefficient
    # a single swap shows (cost = fee·x + k·x²), within the model's linear approximation.
    fee = 0.003
    cost_a, cost_b = loss_usd(a, outs["a"]), loss_usd(b, outs["b"])
    cost_pair = loss_usd(a + b, outs["a then b"])
    k = (cost_a - fee * a / 1e6) / (a / 1e6) ** 2
    cross = (cost_pair - cost_a - cost_b) / (2 * (a / 1e6) * (b / 1e6))
    assert cost_pair > cost_a + cost_b
    assert 0.9 * k < cross < 1.1 * k
    # A buy, then a sell of what it bought: the sell gets back most of the buy's move.
    with rolled_back(w3):
        got = buy(a)
        transact(w3, m.trader, m.underlying.functions.approve(m.venue.address, got))
        before = int(m.quote.functions.balanceOf(m.trader.address).call())
        sell = m.venue.functions.swapExactIn(
            m.underlying.address, m.quote.address, got, 1, m.trader.address
        )
        transact(w3, m.trader, sell)
        back = int(m.quote.functions.balanceOf(m.trader.address).call()) - before
    round_trip = (a - back) / 1e6  # ~fees only: the impact came back
    assert round_trip < 2 * cost_a
    assert round_trip == pytest.approx(2 * fee * a / 1e6, rel=0.05)


def test_venue_enforces_min_out(market: Market) -> None:
    m, w3 = market, market.chain.w3
    amount_in = 10**18
    quote = uni.quote_exact_input(
        w3,
        m.devnet.contracts,
        token_in=m.underlying.address,
        token_out=m.quote.address,
        amount_in=amount_in,
        fee=3000,
    )
    _fund_and_approve(m, m.underlying, m.venue.address, amount_in)
    swap = m.venue.functions.swapExactIn(
        m.underlying.address, m.quote.address, amount_in, quote.amount_out + 1, m.trader.address
    )
    # the venue's own error, with what the pool gave and what was asked
    want = HEDGE_VENUE_INSUFFICIENT_OUTPUT + encode(
        ["uint256", "uint256"], [quote.amount_out, quote.amount_out + 1]
    )
    with pytest.raises(uni.CALL_REVERTED) as err:
        swap.call({"from": m.trader.address})
    # anvil: the custom error's data; py-evm: eth-tester puts the bytes' repr in its message
    assert revert_data(err.value) == want or repr(want) in str(err.value)
    # anvil: the send path's TxRevertedError; py-evm: eth-tester's TransactionFailed
    with pytest.raises(uni.TX_REVERTED):
        transact(w3, m.trader, swap)
    assert int(m.quote.functions.balanceOf(m.trader.address).call()) == 0
    transact(
        w3,
        m.trader,
        m.venue.functions.swapExactIn(
            m.underlying.address, m.quote.address, amount_in, quote.amount_out, m.trader.address
        ),
    )
    assert int(m.quote.functions.balanceOf(m.trader.address).call()) == quote.amount_out


@pytest.mark.parametrize("target", [3300 * 10**8, 2500 * 10**8])
def test_push_pool_to_price_reaches_target(market: Market, target: int) -> None:
    m, w3 = market, market.chain.w3
    result = uni.push_pool_to_price(
        w3, m.trader, m.devnet.contracts, m.devnet.pool, target, mint=True
    )
    assert result.reached
    assert result.swaps == 1  # full range: one range, the formula is exact
    assert abs(result.price8_after - target) <= 1
    assert int(m.venue.functions.spotPrice().call()) == result.price8_after
    buying_underlying = target > PRICE8
    assert result.token_in == (m.quote.address if buying_underlying else m.underlying.address)
    assert result.amount_in > 0
    assert result.amount_out > 0


def test_push_pool_to_price_respects_cap(market: Market) -> None:
    m, w3 = market, market.chain.w3
    cap = 10_000 * 10**6  # far less than the ~150k quote needed to reach +10%
    result = uni.push_pool_to_price(
        w3, m.trader, m.devnet.contracts, m.devnet.pool, 3300 * 10**8, max_amount_in=cap, mint=True
    )
    assert not result.reached
    assert result.amount_in == cap
    assert PRICE8 < result.price8_after < 3300 * 10**8


@pytest.mark.parametrize("underlying_first", [True, False], ids=["underlying0", "quote0"])
def test_push_pool_to_price_across_an_initialized_tick(
    anvil_chain: Chain, underlying_first: bool
) -> None:
    """On anvil only (as :data:`ON_ANVIL_ONLY`'s tests): a pool of its own and several swaps."""
    chain = anvil_chain
    m = _market(chain, underlying_first)
    w3, pool = chain.w3, m.devnet.pool
    # a narrow extra position between the price and the target: entering it raises the active
    # liquidity, so the one-range formula (computed with the lower liquidity) stops short at the
    # price limit's side of it and a second swap is needed
    target = 3600 * 10**8
    target_sqrt = uni.sqrt_price_x96_from_price8(
        target,
        quote_decimals=6,
        underlying_decimals=18,
        underlying_is_token0=pool.underlying_is_token0,
    )
    up = target_sqrt > uni.slot0_sqrt_price_x96(w3, pool)  # in tick space
    tick = int(uni.pool_contract(w3, pool).functions.slot0().call()[1])
    base = (tick // 60) * 60
    tick_range = (base + 600, base + 1200) if up else (base - 1200, base - 600)
    uni.add_liquidity(
        w3,
        m.admin,
        m.devnet.contracts,
        pool,
        quote_amount=3_000_000 * 10**6,
        underlying_amount=1_000 * 10**18,
        tick_range=tick_range,
        mint=True,
    )
    result = uni.push_pool_to_price(w3, m.trader, m.devnet.contracts, pool, target, mint=True)
    assert result.reached
    assert result.swaps >= 2
    assert abs(result.price8_after - target) <= 1
    assert int(m.venue.functions.spotPrice().call()) == result.price8_after


@ON_ANVIL_ONLY
@pytest.mark.parametrize("target", [3300 * 10**8, 2500 * 10**8])
def test_push_pool_to_price_re_quotes_when_the_pool_moves_under_it(
    market: Market, target: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another sender (the keeper's hedge) moves the pool past the target just before the swap.

    Under interval mining that is a hedge landing earlier in the same block; the router then
    refuses the stale price limit with ``SPL``. The arbitrageur re-quotes from the pool as it is
    and trades back to the target instead of failing the market step (issue 15, item 9).
    """
    m, w3 = market, market.chain.w3
    real_swap = uni.swap_exact_input
    overshoot = target * 11 // 10 if target > PRICE8 else target * 9 // 10
    moved: list[int] = []

    def swap_after_someone_else(*args: object, **kwargs: object) -> tuple[int, int]:
        if not moved:
            monkeypatch.setattr(uni, "swap_exact_input", real_swap)
            r = uni.push_pool_to_price(
                w3, m.admin, m.devnet.contracts, m.devnet.pool, overshoot, mint=True
            )
            moved.append(r.price8_after)
            monkeypatch.setattr(uni, "swap_exact_input", swap_after_someone_else)
        return real_swap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(uni, "swap_exact_input", swap_after_someone_else)
    result = uni.push_pool_to_price(
        w3, m.trader, m.devnet.contracts, m.devnet.pool, target, mint=True
    )
    assert moved
    assert abs(moved[0] - overshoot) <= 1
    assert result.reached
    assert abs(result.price8_after - target) <= 1
    assert result.swaps == 1  # the stale swap reverted (nothing sent); one swap back
    # the swap went the other way from the one first planned
    buying_underlying = target > PRICE8
    assert result.token_in == (m.quote.address if buying_underlying else m.underlying.address)
    assert result.amount_in == 0  # nothing paid in the first-planned direction
