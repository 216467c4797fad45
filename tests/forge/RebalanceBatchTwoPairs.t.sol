// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {MockVenue} from "./mocks/MockVenue.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice One venue contract for several (quote, underlying) pairs at one settable 1e8 price
///         (so a vault's pool-oracle gap check passes on every pair). Mints what it pays out;
///         counts swaps per underlying.
contract MultiPairVenue is IHedgeVenue {
    address public immutable quote;
    uint256 public price;
    mapping(address => bool) public listed;
    mapping(address => uint256) public swapsOf;
    mapping(address => uint256) public lastAmountInOf;

    constructor(address quote_, uint256 price8) {
        quote = quote_;
        price = price8;
    }

    function list(address underlying) external {
        listed[underlying] = true;
    }

    function swapExactIn(
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 minOut,
        address recipient
    ) external returns (uint256 amountOut) {
        if (amountIn == 0) revert HedgeVenueZeroAmount();
        address u;
        if (tokenIn == quote && listed[tokenOut]) {
            u = tokenOut;
            amountOut = amountIn * 1e20 / price;
        } else if (tokenOut == quote && listed[tokenIn]) {
            u = tokenIn;
            amountOut = amountIn * price / 1e20;
        } else {
            revert HedgeVenueUnsupportedPair(tokenIn, tokenOut);
        }
        IERC20(tokenIn).transferFrom(msg.sender, address(this), amountIn);
        if (amountOut < minOut) revert HedgeVenueInsufficientOutput(amountOut, minOut);
        MintableERC20(tokenOut).mint(recipient, amountOut);
        swapsOf[u] += 1;
        lastAmountInOf[u] = amountIn;
    }

    function spotPrice() external view returns (uint256) {
        return price;
    }
}

/// @notice A contract posing as a vault: its `batchPlan` claims a buy leg of `amountIn` quote on
///         some pair but pays the batcher `paid`. Used to probe the batcher's receipt check when
///         two pools share the quote token.
contract ShortPayVault {
    IERC20 internal immutable _quote;
    address internal immutable _underlying;
    address internal immutable _venue;
    uint256 internal immutable _amountIn;
    uint256 internal immutable _paid;
    uint256 internal immutable _price;

    constructor(
        IERC20 quote_,
        address underlying_,
        address venue_,
        uint256 amountIn_,
        uint256 paid_,
        uint256 price_
    ) {
        (_quote, _underlying, _venue, _amountIn, _paid, _price) =
        (quote_, underlying_, venue_, amountIn_, paid_, price_);
    }

    function batchPlan(int256)
        external
        returns (bool, uint256, uint256, uint256, address, address, address)
    {
        _quote.transfer(msg.sender, _paid);
        return (true, _amountIn, 0, _price, address(_quote), _underlying, _venue);
    }

    function batchSettle() external pure returns (int256, int256) {
        return (0, 0);
    }
}

/// @notice `RebalanceBatcher.rebalanceBatch` with vaults on two pairs in one batch: WETH/USDC
///         (the base fixture's feed and venue) and an 18-decimal "WBTC18"/USDC with its own feed,
///         price and venue. One swap per pool, no crossing across pairs, per-token conservation,
///         containment of a failing pair, and quote accounting kept apart per pool.
contract RebalanceBatchTwoPairsTest is BatchTestBase {
    bytes32 internal constant REBALANCED =
        keccak256("Rebalanced(int256,int256,uint256,uint256,uint256,uint8)");
    int256 internal constant PRICE_B = 60_000e8;

    MintableERC20 internal wbtc;
    MockV3Aggregator internal feedB;
    MockVenue internal venueB;

    OptionVault internal buyerA5; // WETH: wants to buy 5
    OptionVault internal sellerA3; // WETH: holds 3, wants 0
    OptionVault internal buyerB2; // WBTC18: wants to buy 2
    OptionVault internal sellerB1; // WBTC18: holds 1.5, wants 0

    /// @dev One vault's `Rebalanced` event.
    struct Fill {
        bool seen;
        bool buy;
        uint256 spent;
        uint256 out;
        uint256 price;
    }

    /// @dev One `PoolSwapped` event.
    struct Swap {
        address venue;
        address tokenIn;
        address tokenOut;
        uint256 amountIn;
        uint256 amountOut;
        uint256 legs;
    }

    function setUp() public override {
        super.setUp();
        wbtc = new MintableERC20("Wrapped BTC (18 dp)", "WBTC18", 18);
        feedB = new MockV3Aggregator(8, PRICE_B);
        venueB = new MockVenue(address(usdc), address(wbtc), uint256(PRICE_B));
        buyerA5 = vault;
        sellerA3 = _newVault(3e18);
        buyerB2 = _newVaultB(0);
        sellerB1 = _newVaultB(1.5e18);
        _target(buyerA5, 5e18);
        _target(buyerB2, 2e18);
        _warp2(60);
    }

    // ------------------------------------------------------------------ unit tests

    function test_rebalanceBatch_TwoPairsOneSwapPerPoolAndEveryMinOut() public {
        address[] memory vs = _four();
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        (uint256 sa, uint256 sb) = (venue.swaps(), venueB.swaps());
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(4));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        for (uint256 i; i < 4; ++i) {
            assertTrue(o[i].ok, "every leg settles");
        }
        assertEq(swaps.length, 2, "one PoolSwapped per pool");
        assertEq(_swapsOn(swaps, address(venue)), 1, "one swap on the WETH pool");
        assertEq(_swapsOn(swaps, address(venueB)), 1, "one swap on the WBTC18 pool");
        assertEq(venue.swaps(), sa + 1);
        assertEq(venueB.swaps(), sb + 1);
        assertEq(venue.lastAmountIn(), 2 * 3000e6, "WETH pool: only the net 2 underlying");
        assertEq(venueB.lastAmountIn(), 0.5 * 60_000e6, "WBTC18 pool: only the net 0.5");
        assertEq(buyerA5.hedgeInventory(), 5e18);
        assertEq(sellerA3.hedgeInventory(), 0);
        assertEq(buyerB2.hedgeInventory(), 2e18);
        assertEq(sellerB1.hedgeInventory(), 0);
        assertEq(sellerA3.quoteBalance(), 1_000_000e6, "sold 3 WETH at its own oracle price");
        assertEq(sellerB1.quoteBalance(), 1_000_000e6, "sold 1.5 WBTC18 at its own oracle price");
        _assertMinOuts(fills);
        assertEq(fills[0].price, 3000e8, "WETH legs at the WETH price");
        assertEq(fills[2].price, uint256(PRICE_B), "WBTC18 legs at the WBTC18 price");
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
    }

    /// @dev A buyer on WETH and a seller on WBTC18 share only the quote token: each must trade
    ///      its whole leg on its own pool.
    function test_rebalanceBatch_NoCrossingAcrossPairs() public {
        address[] memory vs = _addrs(buyerA5, sellerB1);
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(2));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        assertTrue(o[0].ok && o[1].ok);
        assertEq(swaps.length, 2, "two pools, two swaps");
        Swap memory a = _swapOn(swaps, address(venue));
        Swap memory b = _swapOn(swaps, address(venueB));
        assertEq(a.tokenIn, address(usdc));
        assertEq(a.tokenOut, address(weth));
        assertEq(a.amountIn, 5 * 3000e6, "the whole WETH buy goes to its pool");
        assertEq(a.legs, 1);
        assertEq(b.tokenIn, address(wbtc));
        assertEq(b.tokenOut, address(usdc));
        assertEq(b.amountIn, 1.5e18, "the whole WBTC18 sale goes to its pool");
        assertEq(b.legs, 1);
        assertEq(fills[0].out, 5e18);
        assertEq(fills[1].out, 90_000e6);
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
    }

    /// @dev Six vaults, three per pair, both pools a little worse than their oracles and on
    ///      opposite net sides: every token conserved, the batcher empty, every minOut met.
    function test_rebalanceBatch_TwoPairsConservesEveryToken() public {
        OptionVault sellerA9 = _newVault(9e18); // WETH sellers net: 3 + 9 > 5
        OptionVault buyerB3 = _newVaultB(0); // WBTC18 buyers net: 2 + 3 > 1.5
        _target(buyerB3, 3e18);
        _warp2(60);
        venue.setPrices(2990e8, 3000e8);
        venueB.setPrices(60_200e8, uint256(PRICE_B));
        address[] memory vs = new address[](6);
        (vs[0], vs[1], vs[2], vs[3], vs[4], vs[5]) =
        (
            address(buyerA5),
            address(sellerB1),
            address(sellerA3),
            address(buyerB2),
            address(sellerA9),
            address(buyerB3)
        );
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(6));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        for (uint256 i; i < 6; ++i) {
            assertTrue(o[i].ok);
            assertTrue(fills[i].seen, "every leg booked");
        }
        assertEq(swaps.length, 2);
        Swap memory a = _swapOn(swaps, address(venue));
        Swap memory b = _swapOn(swaps, address(venueB));
        assertEq(a.tokenIn, address(weth), "WETH: sellers net");
        assertEq(a.amountIn, 12e18 - 5e18, "WETH: net 7 sold");
        assertEq(a.legs, 3);
        assertEq(b.tokenIn, address(usdc), "WBTC18: buyers net");
        assertEq(b.amountIn, 3.5 * 60_000e6, "WBTC18: net 3.5 bought");
        assertEq(b.legs, 3);
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
        _assertPairQuote(vs, fills, swaps);
    }

    /// @dev WETH's oracle goes stale: both WETH vaults fail their own check in phase 1 and are
    ///      reported; the WBTC18 legs still cross and swap their net on their own pool.
    function test_rebalanceBatch_StaleOracleOnPairADropsOnlyPairA() public {
        (,,, uint256 updatedA,) = feed.latestRoundData();
        vm.warp(block.timestamp + 2 hours);
        (, int256 pb,,,) = feedB.latestRoundData();
        feedB.updateAnswer(pb); // only WBTC18's feed stays fresh
        address[] memory vs = _four();
        uint256 qa = usdc.balanceOf(address(buyerA5));
        uint256 ua = weth.balanceOf(address(sellerA3));
        (uint256 sa, uint256 sb) = (venue.swaps(), venueB.swaps());
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(4));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        bytes memory stale =
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, updatedA, 1 hours);
        assertFalse(o[0].ok);
        assertFalse(o[1].ok);
        assertEq(o[0].reason, stale);
        assertEq(o[1].reason, stale);
        assertTrue(o[2].ok && o[3].ok, "pair B's legs settle");
        assertEq(venue.swaps(), sa, "no swap on the WETH pool");
        assertEq(venueB.swaps(), sb + 1, "one swap on the WBTC18 pool");
        assertEq(swaps.length, 1);
        assertEq(swaps[0].venue, address(venueB));
        assertEq(swaps[0].amountIn, 0.5 * 60_000e6);
        assertEq(swaps[0].legs, 2);
        assertFalse(fills[0].seen || fills[1].seen, "nothing booked on pair A");
        assertEq(usdc.balanceOf(address(buyerA5)), qa, "nothing moved on pair A");
        assertEq(weth.balanceOf(address(sellerA3)), ua, "nothing moved on pair A");
        assertEq(buyerB2.hedgeInventory(), 2e18);
        assertEq(sellerB1.hedgeInventory(), 0);
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
    }

    /// @dev Both pools buyers-net, both paying in USDC: each venue is paid exactly its own pool's
    ///      net quote, and each pool's buyers get exactly their pool's output.
    function test_rebalanceBatch_SharedQuoteBuyerPoolsKeepTheirOwnQuote() public {
        OptionVault buyerA2 = _newVault(0);
        _target(buyerA2, 2e18);
        _warp2(60);
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyerB2), address(buyerA5), address(buyerA2));
        uint256 qa = usdc.balanceOf(address(venue));
        uint256 qb = usdc.balanceOf(address(venueB));
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        vm.recordLogs();
        _batch(vs, _zeros(3));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        assertEq(swaps.length, 2);
        assertEq(usdc.balanceOf(address(venue)) - qa, 7 * 3000e6, "WETH pool: 7 WETH of quote");
        assertEq(usdc.balanceOf(address(venueB)) - qb, 2 * 60_000e6, "WBTC18 pool: 2 of quote");
        assertEq(_swapOn(swaps, address(venue)).amountIn, 21_000e6);
        assertEq(_swapOn(swaps, address(venueB)).amountIn, 120_000e6);
        assertEq(fills[0].out, 2e18);
        assertEq(fills[1].out + fills[2].out, 7e18, "the WETH buyers share the WETH pool's output");
        assertEq(wbtc.balanceOf(address(buyerA5)), 0, "no WBTC18 leaks to a WETH vault");
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
        _assertPairQuote(vs, fills, swaps);
    }

    /// @dev The WETH pool is sellers-net (its venue pays USDC into the batcher) while the WBTC18
    ///      pool is buyers-net (its legs pay USDC in): the quote one pool receives is not spent
    ///      on the other, and a donation of USDC on the batcher is never passed on.
    function test_rebalanceBatch_SharedQuoteOppositeNetSidesDontMix() public {
        OptionVault sellerA9 = _newVault(9e18);
        _warp2(60);
        usdc.mint(address(batcher), 777e6); // a donation
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyerB2), address(sellerA9), address(sellerB1));
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(3));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        assertTrue(o[0].ok && o[1].ok && o[2].ok);
        Swap memory a = _swapOn(swaps, address(venue));
        Swap memory b = _swapOn(swaps, address(venueB));
        assertEq(a.tokenIn, address(weth));
        assertEq(a.amountIn, 9e18, "the whole WETH sale: nothing to cross on its pair");
        assertEq(a.amountOut, 27_000e6);
        assertEq(b.tokenIn, address(usdc));
        assertEq(b.amountIn, 0.5 * 60_000e6, "WBTC18: 2 bought - 1.5 sold");
        assertEq(fills[1].out, 27_000e6, "the WETH seller gets its own pool's quote");
        assertEq(fills[2].out, 90_000e6, "the WBTC18 seller crosses at its own price");
        assertEq(fills[0].out, 2e18);
        _assertMinOuts(fills);
        assertEq(usdc.balanceOf(address(batcher)), 777e6, "the donation stays where it is");
        assertEq(weth.balanceOf(address(batcher)), 0);
        assertEq(wbtc.balanceOf(address(batcher)), 0);
        _assertPairQuote(vs, fills, swaps);
        _assertConserved(vs, held0, supply0);
    }

    /// @dev Same venue contract, same quote, same oracle and price, different underlyings: the
    ///      pool key includes the underlying, so a WETH buyer and a WBTC18 seller do not cross.
    function test_rebalanceBatch_SameVenueSamePriceSplitsByUnderlying() public {
        MultiPairVenue mv = new MultiPairVenue(address(usdc), 3000e8);
        mv.list(address(weth));
        mv.list(address(wbtc));
        OptionVault wethBuyer = _newVaultOn(address(weth), address(feed), address(mv), 0);
        OptionVault wbtcSeller = _newVaultOn(address(wbtc), address(feed), address(mv), 3e18);
        _target(wethBuyer, 5e18);
        _warp2(60);
        address[] memory vs = _addrs(wethBuyer, wbtcSeller);
        uint256 sw = mv.swapsOf(address(weth));
        uint256 sb = mv.swapsOf(address(wbtc));
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory o = _batch(vs, _zeros(2));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        assertTrue(o[0].ok && o[1].ok);
        assertEq(swaps.length, 2, "two pools on one venue");
        assertEq(mv.swapsOf(address(weth)), sw + 1);
        assertEq(mv.swapsOf(address(wbtc)), sb + 1);
        assertEq(mv.lastAmountInOf(address(weth)), 15_000e6, "whole WETH buy on its pool");
        assertEq(mv.lastAmountInOf(address(wbtc)), 3e18, "whole WBTC18 sale on its pool");
        assertEq(weth.balanceOf(address(wethBuyer)), 5e18);
        assertEq(wbtc.balanceOf(address(wethBuyer)), 0);
        assertEq(weth.balanceOf(address(wbtcSeller)), 0);
        assertEq(wbtcSeller.hedgeInventory(), 0);
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
    }

    /// @dev A leg claiming WBTC18 quote it did not fully pay, after a WETH leg paid USDC: the
    ///      receipt check is per token on the batcher's balance, so the first pool's USDC does
    ///      not cover the second pool's short leg.
    function test_rebalanceBatch_RevertWhen_SharedQuoteSecondLegShortPaid() public {
        _expectSecondQuoteLegRefused(59_999e6);
    }

    /// @dev Over-paying a second shared-quote leg is as wrong as short-paying it: the check is
    ///      exact after the first leg of a token.
    function test_rebalanceBatch_RevertWhen_SharedQuoteSecondLegOverPaid() public {
        _expectSecondQuoteLegRefused(60_001e6);
    }

    /// @dev A WETH buy, then a WBTC18 buy leg that claims 60,000 USDC but pays `paid`.
    function _expectSecondQuoteLegRefused(uint256 paid) internal {
        ShortPayVault liar = new ShortPayVault(
            IERC20(address(usdc)), address(wbtc), address(venueB), 60_000e6, paid, 60_000e8
        );
        usdc.mint(address(liar), paid > 60_000e6 ? paid : 60_000e6);
        address[] memory vs = new address[](2);
        (vs[0], vs[1]) = (address(buyerA5), address(liar));
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherTransferMismatch.selector,
                address(liar),
                address(usdc),
                paid,
                60_000e6
            )
        );
        batcher.rebalanceBatch(vs, _zeros(2));
    }

    /// @dev Pair B's pool is worse than every WBTC18 vault's slippage: the batch reverts as a
    ///      whole (phase 2 is all-or-nothing), leaving pair A untouched too.
    function test_rebalanceBatch_RevertWhen_PairBPoolBelowMinOut() public {
        venueB.setOutputBps(9000);
        address[] memory vs = _four();
        uint256 qa = usdc.balanceOf(address(buyerA5));
        vm.prank(keeper);
        // WBTC18 buyers net: needed = ceil(2 * 0.995) - 1.5 = 0.49 WBTC18; delivered 0.45.
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeVenue.HedgeVenueInsufficientOutput.selector, 0.45e18, 0.49e18
            )
        );
        batcher.rebalanceBatch(vs, _zeros(4));
        assertEq(usdc.balanceOf(address(buyerA5)), qa);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Two vaults per pair, random oracle prices on both pairs, random targets and pool
    ///      prices within the vaults' slippage: at most one swap per pool (exactly one when a
    ///      pool's legs are all on one side), every leg >= its own minOut, every token conserved,
    ///      each pair's quote moved only by its own pool, and the batcher empty.
    function testFuzz_rebalanceBatch_TwoPairsMinOutConservationOneSwapPerPool(
        uint256 priceA,
        uint256 priceB,
        uint256[4] memory sizes,
        bool[4] memory sells,
        uint256 bpsA,
        uint256 bpsB
    ) public {
        address[] memory vs = _fuzzVaults(sizes, sells);
        priceA = bound(priceA, 1000e8, 6000e8);
        priceB = bound(priceB, 20_000e8, 100_000e8);
        bpsA = bound(bpsA, 9960, 10_040);
        bpsB = bound(bpsB, 9960, 10_040);
        vm.warp(block.timestamp + 60);
        // forge-lint: disable-next-line(unsafe-typecast)
        feed.updateAnswer(int256(priceA));
        // forge-lint: disable-next-line(unsafe-typecast)
        feedB.updateAnswer(int256(priceB));
        venue.setPrices(priceA * bpsA / 10_000, priceA);
        venueB.setPrices(priceB * bpsB / 10_000, priceB);
        _fuzzRunAndCheck(vs, sells, [priceA, priceA, priceB, priceB]);
    }

    /// @dev Vaults 0-1 on WETH, 2-3 on WBTC18; a seller holds its size and targets 0, a buyer
    ///      holds nothing and targets its size.
    function _fuzzVaults(uint256[4] memory sizes, bool[4] memory sells)
        internal
        returns (address[] memory vs)
    {
        vs = new address[](4);
        for (uint256 i; i < 4; ++i) {
            bool onB = i >= 2;
            uint256 s = bound(sizes[i], 0.6e18, onB ? 5e18 : 10e18);
            OptionVault v = onB ? _newVaultB(sells[i] ? s : 0) : _newVault(sells[i] ? s : 0);
            // forge-lint: disable-next-line(unsafe-typecast)
            _target(v, sells[i] ? int256(0) : int256(s));
            vs[i] = address(v);
        }
    }

    function _fuzzRunAndCheck(address[] memory vs, bool[4] memory sells, uint256[4] memory prices)
        internal
    {
        uint256[3] memory supply0 = _supplies();
        uint256[3] memory held0 = _holdings(vs);
        uint256[2] memory swaps0 = [venue.swaps(), venueB.swaps()];
        vm.recordLogs();
        vm.prank(keeper);
        (bool ok, bytes memory ret) =
            address(batcher).call(abi.encodeCall(batcher.rebalanceBatch, (vs, _zeros(4))));
        assertTrue(ok, "pools within every vault's slippage always settle");
        IRebalanceBatcher.Outcome[] memory o = abi.decode(ret, (IRebalanceBatcher.Outcome[]));
        (Fill[] memory fills, Swap[] memory swaps) = _logs(vs);
        for (uint256 i; i < 4; ++i) {
            assertTrue(o[i].ok, "every vault is out of band and tradeable");
            assertTrue(fills[i].seen);
            assertEq(fills[i].buy, !sells[i], "the side the vault asked for");
            assertEq(fills[i].price, prices[i], "its own pair's oracle price");
        }
        uint256 na = _swapsOn(swaps, address(venue));
        uint256 nb = _swapsOn(swaps, address(venueB));
        assertLe(na, 1, "at most one swap on the WETH pool");
        assertLe(nb, 1, "at most one swap on the WBTC18 pool");
        assertEq(swaps.length, na + nb);
        assertEq(venue.swaps(), swaps0[0] + na);
        assertEq(venueB.swaps(), swaps0[1] + nb);
        if (sells[0] == sells[1]) assertEq(na, 1, "one-sided WETH pool swaps");
        if (sells[2] == sells[3]) assertEq(nb, 1, "one-sided WBTC18 pool swaps");
        _assertMinOuts(fills);
        _assertBatcherEmpty2();
        _assertConserved(vs, held0, supply0);
        _assertPairQuote(vs, fills, swaps);
    }

    // ------------------------------------------------------------------ helpers

    function _newVaultB(uint256 hold) internal returns (OptionVault) {
        return _newVaultOn(address(wbtc), address(feedB), address(venueB), hold);
    }

    function _target(OptionVault v, int256 t) internal {
        vm.prank(admin);
        v.setTargetDelta(t);
    }

    /// @dev Warps and refreshes both feeds at their current answers.
    function _warp2(uint256 dt) internal {
        vm.warp(block.timestamp + dt);
        (, int256 pa,,,) = feed.latestRoundData();
        feed.updateAnswer(pa);
        (, int256 pb,,,) = feedB.latestRoundData();
        feedB.updateAnswer(pb);
    }

    function _four() internal view returns (address[] memory vs) {
        vs = new address[](4);
        (vs[0], vs[1], vs[2], vs[3]) =
        (address(buyerA5), address(sellerA3), address(buyerB2), address(sellerB1));
    }

    function _tokens() internal view returns (MintableERC20[3] memory) {
        return [usdc, weth, wbtc];
    }

    function _supplies() internal view returns (uint256[3] memory s) {
        MintableERC20[3] memory t = _tokens();
        for (uint256 k; k < 3; ++k) {
            s[k] = t[k].totalSupply();
        }
    }

    /// @dev Per token: the vaults' + the batcher's + both venues' balances.
    function _holdings(address[] memory vs) internal view returns (uint256[3] memory h) {
        MintableERC20[3] memory t = _tokens();
        for (uint256 k; k < 3; ++k) {
            h[k] = t[k].balanceOf(address(batcher)) + t[k].balanceOf(address(venue))
                + t[k].balanceOf(address(venueB));
            for (uint256 i; i < vs.length; ++i) {
                h[k] += t[k].balanceOf(vs[i]);
            }
        }
    }

    /// @dev Per token, what the vaults, the batcher and the venues hold moved only by what the
    ///      venues minted (their payouts): nothing left the set and nothing appeared from
    ///      elsewhere.
    function _assertConserved(
        address[] memory vs,
        uint256[3] memory held0,
        uint256[3] memory supply0
    ) internal view {
        uint256[3] memory held1 = _holdings(vs);
        uint256[3] memory supply1 = _supplies();
        assertEq(held1[0] + supply0[0], held0[0] + supply1[0], "USDC conserved");
        assertEq(held1[1] + supply0[1], held0[1] + supply1[1], "WETH conserved");
        assertEq(held1[2] + supply0[2], held0[2] + supply1[2], "WBTC18 conserved");
    }

    function _assertBatcherEmpty2() internal view {
        assertEq(usdc.balanceOf(address(batcher)), 0, "batcher holds no USDC");
        assertEq(weth.balanceOf(address(batcher)), 0, "batcher holds no WETH");
        assertEq(wbtc.balanceOf(address(batcher)), 0, "batcher holds no WBTC18");
    }

    /// @dev Every booked leg got at least its own minOut (the vault's formula, rounded down).
    function _assertMinOuts(Fill[] memory fills) internal pure {
        for (uint256 i; i < fills.length; ++i) {
            Fill memory f = fills[i];
            if (!f.seen) continue;
            uint256 minOut = f.buy
                ? f.spent * 9950 * 1e20 / (f.price * 10_000)
                : f.spent * 9950 * f.price / (1e20 * 10_000);
            assertGe(f.out, minOut, "a leg below its own minOut");
        }
    }

    /// @dev Per pair, the quote its vaults spent and received nets to exactly what its own
    ///      pool's swap took in or paid out in quote: no quote crosses between the pools.
    function _assertPairQuote(address[] memory vs, Fill[] memory fills, Swap[] memory swaps)
        internal
        view
    {
        address[2] memory us = [address(weth), address(wbtc)];
        address[2] memory vens = [address(venue), address(venueB)];
        for (uint256 k; k < 2; ++k) {
            int256 net; // quote into the pair's vaults
            int256 und; // underlying into the pair's vaults
            for (uint256 i; i < vs.length; ++i) {
                if (!fills[i].seen || OptionVault(vs[i]).underlying() != us[k]) continue;
                // forge-lint: disable-next-line(unsafe-typecast)
                (int256 s, int256 o) = (int256(fills[i].spent), int256(fills[i].out));
                if (fills[i].buy) (net, und) = (net - s, und + o);
                else (net, und) = (net + o, und - s);
            }
            int256 poolQ; // quote the pool paid out, net
            int256 poolU;
            for (uint256 j; j < swaps.length; ++j) {
                Swap memory w = swaps[j];
                if (w.venue != vens[k]) continue;
                // forge-lint: disable-next-line(unsafe-typecast)
                (int256 ai, int256 ao) = (int256(w.amountIn), int256(w.amountOut));
                if (w.tokenIn == address(usdc)) (poolQ, poolU) = (poolQ - ai, poolU + ao);
                else (poolQ, poolU) = (poolQ + ao, poolU - ai);
            }
            assertEq(net, poolQ, "a pair's quote moved only through its own pool");
            assertEq(und, poolU, "a pair's underlying moved only through its own pool");
        }
    }

    function _swapsOn(Swap[] memory swaps, address v) internal pure returns (uint256 n) {
        for (uint256 j; j < swaps.length; ++j) {
            if (swaps[j].venue == v) ++n;
        }
    }

    function _swapOn(Swap[] memory swaps, address v) internal pure returns (Swap memory) {
        for (uint256 j; j < swaps.length; ++j) {
            if (swaps[j].venue == v) return swaps[j];
        }
        revert("no swap on this venue");
    }

    /// @dev The recorded `Rebalanced` events of `vs` (by index) and the batcher's `PoolSwapped`.
    function _logs(address[] memory vs)
        internal
        returns (Fill[] memory fills, Swap[] memory swaps)
    {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        fills = new Fill[](vs.length);
        swaps = new Swap[](logs.length);
        uint256 n;
        bytes32 swapped = IRebalanceBatcher.PoolSwapped.selector;
        for (uint256 j; j < logs.length; ++j) {
            bytes32 t0 = logs[j].topics[0];
            if (t0 == swapped && logs[j].emitter == address(batcher)) {
                Swap memory w = swaps[n++];
                w.venue = address(uint160(uint256(logs[j].topics[1])));
                (w.tokenIn, w.tokenOut, w.amountIn, w.amountOut, w.legs) =
                    abi.decode(logs[j].data, (address, address, uint256, uint256, uint256));
            } else if (t0 == REBALANCED) {
                for (uint256 i; i < vs.length; ++i) {
                    if (logs[j].emitter != vs[i]) continue;
                    Fill memory f = fills[i];
                    (int256 b, int256 a, uint256 s, uint256 o, uint256 p,) =
                        abi.decode(logs[j].data, (int256, int256, uint256, uint256, uint256, uint8));
                    (f.seen, f.buy, f.spent, f.out, f.price) = (true, a > b, s, o, p);
                }
            }
        }
        assembly ("memory-safe") {
            mstore(swaps, n)
        }
    }
}
