// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";

/// @notice A third audit of the money paths. Its one finding is in NatSpec, not code: what
///         `rebalanceTo` / `RebalanceRules.plan` said about a partial rebalance ("never crosses
///         the target, ends inside the band unless capped at maxTrade") held for the trade the
///         vault plans at the oracle price, not for what it books: a trade cut short by the free
///         quote or the inventory also ends outside the band, and a buy books what the pool
///         delivered (less, by the fee; more, when the pool is cheaper than the oracle). These
///         tests pin what the contract enforces, which the NatSpec now states exactly, and the
///         boundaries (the band trigger is strict; the time trigger fires at maxInterval).
contract AuditFindings3RebalanceTest is VaultTestBase {
    int256 internal constant BAND = 0.5e18; // the fixture's band

    function _rebalanceTo(int256 post) internal returns (int256 da) {
        vm.prank(keeper);
        (, da) = vault.rebalanceTo(post);
    }

    function _setTarget(int256 target) internal {
        vm.prank(admin);
        vault.setTargetDelta(target);
    }

    function _trigger() internal view returns (bool ok, IOptionVault.Trigger t) {
        bytes memory data;
        (ok, data) = vault.rebalanceTrigger();
        t = abi.decode(data, (IOptionVault.Trigger));
    }

    /// @dev Net 3 (bought at the oracle price), then a target 0.5 above it: d = -band exactly.
    function _onBandEdgeBelowTarget() internal {
        _deposit(alice, 1_000_000e6);
        _setTarget(3e18);
        vm.prank(keeper);
        vault.rebalance();
        assertEq(vault.hedgeInventory(), 3e18);
        _setTarget(3e18 + BAND);
        _warp(60);
    }

    // ------------------------------------------------------------------ boundaries

    /// @dev Buy side of the band edge: |d| == band does not trigger (strict >); one wei beyond
    ///      it does, and the trade goes to the target.
    function test_rebalance_RevertWhen_BuySideDeviationExactlyOnBand() public {
        _onBandEdgeBelowTarget();
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultWithinBand.selector, 3e18, 3e18 + BAND, uint256(BAND)
            )
        );
        vault.rebalance();

        _setTarget(3e18 + BAND + 1);
        (bool ok, IOptionVault.Trigger t) = _trigger();
        assertTrue(ok);
        assertEq(uint8(t), uint8(IOptionVault.Trigger.Band), "one wei past the edge: band");
        // 0.5e18 + 1 wei at 3,000: 1,500 quote units (rounded down) buy 0.5e18.
        assertEq(_rebalanceTo(0), 3e18 + BAND, "to the target, less the quote rounding");
    }

    /// @dev The time trigger is due at exactly lastRebalance + maxInterval (>=), not a second
    ///      before, and then any point from d to the target may be requested.
    function test_rebalanceTo_TimeTriggerDueAtExactlyMaxInterval() public {
        _onBandEdgeBelowTarget();
        uint256 last = vault.lastRebalance();
        vm.warp(last + 1 days - 1);
        feed.updateAnswer(PRICE);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultWithinBand.selector, 3e18, 3e18 + BAND, uint256(BAND)
            )
        );
        vault.rebalanceTo(-0.2e18);

        vm.warp(last + 1 days);
        feed.updateAnswer(PRICE);
        (bool ok, IOptionVault.Trigger t) = _trigger();
        assertTrue(ok);
        assertEq(uint8(t), uint8(IOptionVault.Trigger.Time));
        assertEq(_rebalanceTo(-0.2e18), 3.3e18, "stops at the requested point");
    }

    // ------------------------------------------------------------------ cut short

    /// @dev A buy cut short by the free quote, not by maxTrade, ends outside the band: 3,000
    ///      USDC of free quote buys 1 of the 3 needed (maxTrade 10), leaving |d| = 2 > 0.5.
    function test_rebalance_FreeQuoteCutsBuyShortOutsideBand() public {
        _deposit(alice, 3000e6);
        _setTarget(3e18);
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertEq(da, 1e18, "all the free quote bought");
        assertEq(vault.freeQuote(), 0);
        assertGt(3e18 - da, BAND, "outside the band, below maxTrade");
        // The remainder waits for quote.
        _warp(60);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, 2e18)
        );
        vault.rebalance();
    }

    /// @dev A sell cut short by the inventory ends outside the band: 1 held, 3 to sell.
    function test_rebalance_InventoryCutsSellShortOutsideBand() public {
        _deposit(alice, 1_000_000e6);
        _setTarget(1e18);
        vm.prank(keeper);
        vault.rebalance();
        _setTarget(-2e18);
        _warp(60);
        vm.prank(keeper);
        (int256 db, int256 da) = vault.rebalance();
        assertEq(db, 1e18);
        assertEq(da, 0, "sold the whole inventory");
        assertEq(vault.hedgeInventory(), 0);
        assertGt(da - (-2e18), BAND, "outside the band, below maxTrade");
    }

    // ------------------------------------------------------------------ what a buy books

    /// @dev A buy books what the pool delivered. A 0.3% pool fee on a request for the band edge
    ///      (d = -3, post -0.5: plan 2.5) books 2.4925, just outside the band, and the band
    ///      trigger fires again after minInterval.
    function test_rebalanceTo_BuyToBandEdgeEndsOutsideByThePoolFee() public {
        _deposit(alice, 1_000_000e6);
        _setTarget(3e18);
        venue.setOutputBps(9970);
        int256 da = _rebalanceTo(-BAND);
        assertEq(da, 2.4925e18, "7,500 USDC at 3,000 less 0.3%");
        assertEq(3e18 - da, 0.5075e18, "0.0075 outside the band");
        _warp(60);
        (bool ok, IOptionVault.Trigger t) = _trigger();
        assertTrue(ok);
        assertEq(uint8(t), uint8(IOptionVault.Trigger.Band));
    }

    /// @dev A pool cheaper than the oracle (spot 2,985 against 3,000: the 50 bps gap bound,
    ///      allowed) delivers more than planned: a buy to the target ends past it, by at most
    ///      trade x gap / (1 - gap).
    function test_rebalance_BuyFromCheaperPoolEndsPastTarget() public {
        _deposit(alice, 1_000_000e6);
        _setTarget(3e18);
        venue.setPrices(2985e8, 2985e8);
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertEq(da, 3_015_075_376_884_422_110, "9,000 USDC at 2,985");
        assertLe(uint256(da - 3e18), uint256(3e18) * 50 / (10_000 - 50), "past by <= the gap");
    }

    /// @dev With the pool at the oracle price, a buy books the rule's trade less the roundings
    ///      (<= 1e20 / price + 1 wei): it never crosses the target, and ends within the band
    ///      (plus those) unless cut short by maxTrade.
    function testFuzz_rebalanceTo_BuyBooksRuleTradeLessQuoteRounding(
        uint256 price,
        uint256 target,
        int256 post,
        uint256 band,
        uint256 maxTrade
    ) public {
        price = bound(price, 100e8, 100_000e8);
        target = bound(target, 1e12, 20e18);
        post = bound(post, -30e18, 30e18);
        band = bound(band, 1e12, 5e18);
        maxTrade = bound(maxTrade, 1e12, 10e18);
        _deposit(alice, 10_000_000e6);
        _setPrice(int256(price));
        vm.startPrank(admin);
        vault.setTargetDelta(int256(target));
        vault.setBand(band);
        vault.setMaxTrade(maxTrade);
        vm.stopPrank();
        // Net 0, d = -target; the first rebalance has a trigger (band, else time).
        uint256 want = _rules().tradeSize(-int256(target), post, band, maxTrade);
        if (want * price / 1e20 == 0) {
            vm.prank(keeper);
            vm.expectRevert(
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultNoTradePossible.selector, int256(target)
                )
            );
            vault.rebalanceTo(post);
            return;
        }
        uint256 bought = uint256(_rebalanceTo(post));
        // The quote rounds down (< 1e20 / price wei of underlying), then the pool's output
        // (< 1 wei).
        uint256 rounding = 1e20 / price + 1;
        assertLe(bought, want, "never more than the rule's trade");
        assertLe(want - bought, rounding, "short by the roundings only");
        assertLe(bought, target, "never crosses the target");
        if (want < maxTrade) assertLe(target - bought, band + rounding, "inside the band");
    }
}

/// @notice The third audit's checks of settlement and the queue that found no defect, pinned:
///         a non-positive expiry round cannot be stepped over (only the fallback settles), and
///         a dust request cannot hold a round open against the requests after it.
contract AuditFindings3SettleQueueTest is VaultTestBase {
    RedemptionQueue internal queue;

    function setUp() public override {
        super.setUp();
        queue = _installQueue();
    }

    function _request(address who, uint256 shares) internal {
        vm.startPrank(who);
        vault.approve(address(queue), shares);
        queue.requestRedeem(shares, who, who);
        vm.stopPrank();
    }

    /// @dev The first round at or after expiry answers -1: it cannot settle, nor can the
    ///      healthy round after it (not the first after expiry), nor the fallback before
    ///      expiry + SETTLEMENT_GRACE; from then on the fallback settles at the healthy price.
    function test_settle_RevertWhen_ExpiryRoundNotPositive() public {
        _deposit(alice, 5000e6);
        uint256 id = _writeCall(1e18);
        uint64 expiry = vault.series(id).expiry;
        vm.warp(expiry);
        feed.updateAnswer(-1);
        uint80 bad = uint80(feed.latestRound());
        vm.warp(expiry + 1);
        feed.updateAnswer(3500e8);
        uint80 next = uint80(feed.latestRound());

        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, int256(-1))
        );
        vault.settle(id, bad);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, next)
        );
        vault.settle(id, next);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, uint80(0))
        );
        vault.settle(id, 0);
        assertEq(vault.maxDeposit(alice), 0, "entries wait for the settlement");
        assertEq(vault.maxWithdraw(alice), 0, "and so do exits");

        vm.warp(uint256(expiry) + 1 days);
        feed.updateAnswer(3400e8);
        // The expiry round exists (it answered -1): the bare fallback stays refused, and the
        // round itself now settles at the healthy price.
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, uint80(0))
        );
        vault.settle(id, 0);
        assertEq(vault.settle(id, bad), 400e6, "fallback at the healthy price");
    }

    /// @dev Edge of expiry (a trade-off, not a defect): a series expiring now is refused, one
    ///      expiring a second from now is written at its model value, intrinsic at the oracle
    ///      price plus the edge, so a buyer who knows the next round is a riskless payoff
    ///      against the oracle's lag (the desk must not sign such quotes). A second later it is
    ///      expired: entries and exits wait until it is settled at the first round after expiry.
    function test_writeOption_EdgeOfExpiryAtIntrinsicThenExitsWaitForSettle() public {
        _deposit(alice, 100_000e6);
        uint64 now_ = uint64(block.timestamp);
        IOptionVault.OptionType call = IOptionVault.OptionType.Call;
        (uint256 lo,) = _bounds(call, 2900e8, 1000e8, now_ + 1, 10e18);
        _fundBuyer(lo);
        IOptionVault.Quote memory q = _quote(call, 2900e8, 1000e8, now_, 10e18, lo);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultInvalidSeries.selector, bytes32("expiry"), uint256(now_)
            )
        );
        vault.writeOption(q, lo, sig);

        assertGe(lo, 1000e6, "10 contracts, 100 in the money");
        assertLe(lo, 1000e6 + 1e6, "one second of time value: intrinsic");
        uint256 id = _write(call, 2900e8, 1000e8, now_ + 1, 10e18, lo);

        vm.warp(now_ + 1);
        feed.updateAnswer(3050e8); // the first round at expiry
        assertEq(vault.maxDeposit(alice), 0, "entries wait for the settlement");
        assertEq(vault.maxWithdraw(alice), 0, "and so do exits");
        assertEq(_settle(id), 150e6, "150 a contract at the expiry round: 1,500 for ~1,000 paid");
        assertGt(vault.maxWithdraw(alice), 0, "exits reopen");
    }

    /// @dev A request of one share unit (worth under one asset unit) is not filled alone (a
    ///      fill never burns shares for nothing), but it holds nothing up: the next request
    ///      joins its round and one fill takes both and closes it.
    function test_fill_DustRequestDoesNotHoldRoundOpen() public {
        _deposit(alice, 1000e6);
        _deposit(bob, 1000e6);
        _request(alice, 1);
        (uint256 s, uint256 a) = queue.fill();
        assertEq(s + a, 0, "the dust alone is not filled");
        assertEq(queue.round(), 0);

        uint256 half = vault.balanceOf(bob) / 2;
        _request(bob, half);
        (s, a) = queue.fill();
        assertEq(s, half + 1, "one fill takes both");
        assertEq(queue.round(), 1, "and closes the round");
        assertEq(queue.totalPending(), 0);
        assertEq(queue.maxRedeem(bob), half);
        assertApproxEqAbs(queue.maxWithdraw(bob), 500e6, 1, "bob is paid his shares' NAV");
        assertLe(queue.maxWithdraw(bob), 500e6, "rounded down");
        assertEq(queue.maxRedeem(alice), 1, "alice's unit is filled too");
        assertEq(queue.maxWithdraw(alice), 0, "for the nothing it is worth");
    }
}
