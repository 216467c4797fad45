// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {
    ERC4626Upgradeable
} from "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC4626Upgradeable.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {MockVenue} from "./mocks/MockVenue.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @notice Issue 13 (vault safety). Each `test_findingN_*` reproduced its finding on the tree
///         before the fix (see the commit "tests: issue 13 reproductions"); the rest pin the
///         rules the fixes chose.
contract VaultSafetyTest is VaultTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;
    IOptionVault.OptionType internal constant PUT = IOptionVault.OptionType.Put;

    // ================================================================ 1. settlement at expiry

    /// @dev The issue's case: 10 capped calls, strike 3,300, expiring at 3,000, settled 20 days
    ///      later at 4,500: they pay nothing and NAV does not fall.
    function test_finding1_SettleLaterPaysAtExpiryRound() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 10 days);
        uint256 id = _write(CALL, 3300e8, 1000e8, exp, 10e18, 500e6);
        vm.warp(exp);
        _setPrice(3000e8); // the first round at expiry: out of the money
        uint80 expiryRound = uint80(feed.latestRound());
        vm.warp(exp + 20 days);
        _setPrice(4500e8);
        uint256 navBefore = vault.totalAssets();
        vault.settle(id, expiryRound);
        assertEq(vault.series(id).payoutPerContract, 0, "paid at the expiry round");
        assertGe(vault.totalAssets(), navBefore, "NAV did not fall");
    }

    function test_finding1_ExpiredSeriesHasNoDelta() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        _write(CALL, 3000e8, 1000e8, exp, 10e18, 500e6);
        vm.warp(exp + 1);
        _setPrice(3001e8);
        assertEq(vault.netDelta(), 0, "an expired series carries no delta");
        _setPrice(2999e8);
        assertEq(vault.netDelta(), 0);
        // valued at its maximum payoff until settled; deposits wait for the settlement
        assertEq(vault.optionsValue(), 10_000e6);
        assertEq(vault.maxDeposit(alice), 0);
        _settle(1);
        assertEq(vault.maxDeposit(alice), type(uint256).max);
    }

    function test_settle_RevertWhen_RoundNotFirstAfterExpiry() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(CALL, 3000e8, 1000e8, exp, 1e18, 500e6);
        uint80 before = uint80(feed.latestRound()); // updatedAt < expiry
        vm.warp(exp + 10);
        _setPrice(3100e8);
        uint80 first = uint80(feed.latestRound());
        vm.warp(exp + 1 hours);
        _setPrice(4000e8);
        uint80 later = uint80(feed.latestRound());
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, before)
        );
        vault.settle(id, before);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, later)
        );
        vault.settle(id, later);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, uint80(0))
        );
        vault.settle(id, 0); // the fallback opens at expiry + SETTLEMENT_GRACE
        assertEq(vault.settle(id, first), 100e6);
    }

    /// @dev Proxy round ids are phaseId << 64 | aggregator round: the first round of a phase
    ///      cannot be checked against its predecessor and is refused.
    function test_settle_RevertWhen_FirstRoundOfPhase() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(CALL, 3000e8, 1000e8, exp, 1e18, 500e6);
        vm.warp(exp + 10);
        uint80 phaseStart = uint80((uint256(2) << 64) | 1);
        feed.updateRoundData(phaseStart, 3100e8, block.timestamp, block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, phaseStart)
        );
        vault.settle(id, phaseStart);
    }

    /// @dev The fallback's case: the feed's latest phase began after expiry, so its first
    ///      round (the first at or after expiry) has no predecessor the contract can check.
    function test_settle_FallbackAfterGraceAtCurrentPrice() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(PUT, 3000e8, 1000e8, exp, 2e18, 500e6);
        vm.warp(exp + 1 days);
        uint80 latest = uint80((uint256(2) << 64) | 3);
        uint80 first = uint80((uint256(2) << 64) | 1);
        vm.mockCall(
            address(feed),
            abi.encodeWithSignature("latestRoundData()"),
            abi.encode(latest, int256(2900e8), block.timestamp, block.timestamp, latest)
        );
        vm.mockCall(
            address(feed),
            abi.encodeWithSignature("getRoundData(uint80)", first),
            abi.encode(first, int256(3100e8), uint256(exp) + 10, uint256(exp) + 10, first)
        );
        assertEq(vault.settle(id, 0), 100e6);
        assertEq(vault.settledUnpaid(), 200e6);
    }

    /// @dev A Chainlink proxy whose phase 1 (an aggregator of its own, `older`) has rounds 1 at
    ///      exp - 2 h, 2 at exp - 60 s and, unless `olderLastAt` is 0, 3 at `olderLastAt`
    ///      answering `olderAnswer`; its latest phase 2 began after expiry and after phase 1
    ///      (3 hours after the later of the two). Round 3 of phase 1 is the expiry round when
    ///      `olderLastAt` >= exp. The proxy's own reads are mocked on `feed` (the devnet feed is a
    ///      bare aggregator, with no phases).
    function _phasedFeed(uint64 exp, uint256 olderLastAt, int256 olderAnswer)
        internal
        returns (uint80 lastOfOlder)
    {
        return _phasedFeed(exp, olderLastAt, olderAnswer, true);
    }

    /// @dev `directReads` false: phase 1's aggregator answers only its proxy, as Chainlink's
    ///      access-controlled aggregators do (a contract reading it directly is refused).
    function _phasedFeed(uint64 exp, uint256 olderLastAt, int256 olderAnswer, bool directReads)
        internal
        returns (uint80 lastOfOlder)
    {
        MockV3Aggregator older = new MockV3Aggregator(8, 3000e8);
        older.updateRoundData(1, 3000e8, exp - 2 hours, exp - 2 hours);
        older.updateRoundData(2, 3000e8, exp - 60, exp - 60);
        if (olderLastAt != 0) older.updateRoundData(3, olderAnswer, olderLastAt, olderLastAt);
        uint80 n = uint80(older.latestRound());
        for (uint80 k = 1; k <= n; ++k) {
            uint80 id = uint80((uint256(1) << 64) | k);
            (, int256 a, uint256 st, uint256 at,) = older.getRoundData(k);
            vm.mockCall(
                address(feed),
                abi.encodeWithSignature("getRoundData(uint80)", id),
                abi.encode(id, a, st, at, id)
            );
        }
        // A proxy names each phase's aggregator; the vault reads only the proxy.
        vm.mockCall(
            address(feed),
            abi.encodeWithSignature("phaseAggregators(uint16)", uint16(1)),
            abi.encode(address(older))
        );
        if (!directReads) {
            vm.mockCallRevert(
                address(older), abi.encodeWithSignature("latestRoundData()"), bytes("No access")
            );
        }
        _mockPhase2Since((olderLastAt > exp ? olderLastAt : exp) + 3 hours);
        lastOfOlder = uint80((uint256(1) << 64) | n);
    }

    /// @dev The feed's latest phase, 2: its first round at `begun`, its second now (3,100).
    function _mockPhase2Since(uint256 begun) internal {
        uint80 first = uint80((uint256(2) << 64) | 1);
        uint80 latest = uint80((uint256(2) << 64) | 2);
        vm.mockCall(
            address(feed),
            abi.encodeWithSignature("getRoundData(uint80)", first),
            abi.encode(first, int256(3100e8), begun, begun, first)
        );
        vm.mockCall(
            address(feed),
            abi.encodeWithSignature("latestRoundData()"),
            abi.encode(latest, int256(3100e8), block.timestamp, block.timestamp, latest)
        );
    }

    /// @dev Phase 1 holds the expiry round and phase 2 began after expiry: the fallback would let
    ///      anyone settle at a later price of their choosing, so it is refused, and phase 1's
    ///      round settles (review finding, 2026-12-04: the residual of the fallback rule).
    function test_settle_FallbackRefusedWhenAnOlderPhaseHoldsTheExpiryRound() public {
        _olderPhaseRoundSettles(true);
    }

    /// @dev The same with phase 1's aggregator readable only through its proxy, as Chainlink's
    ///      access-controlled aggregators are (review finding, 2026-12-04: the walk read the
    ///      aggregator directly, was refused, and left the fallback open on real feeds).
    function test_settle_FallbackRefusedWhenAnOlderPhaseIsReadableOnlyThroughItsProxy() public {
        _olderPhaseRoundSettles(false);
    }

    function _olderPhaseRoundSettles(bool directReads) internal {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(PUT, 3000e8, 1000e8, exp, 2e18, 500e6);
        vm.warp(exp + 2 days);
        uint80 r = _phasedFeed(exp, uint256(exp) + 30, 2900e8, directReads);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, 0));
        vault.settle(id, 0);
        assertEq(vault.settle(id, r), 100e6, "the put pays 3,000 - 2,900 at phase 1's round");
    }

    /// @dev Phase 1 has 40 rounds, the 23rd the first at or after expiry, and phase 2 began
    ///      after them all: the vault's search through phase 1 (doubling, then halving) finds a
    ///      round at or after expiry, so the fallback is refused, and round 23 settles.
    function test_settle_FallbackRefusedWhenTheExpiryRoundIsDeepInAnOlderPhase() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(PUT, 3000e8, 1000e8, exp, 2e18, 500e6);
        vm.warp(exp + 2 days);
        for (uint256 k = 1; k <= 40; ++k) {
            uint80 rid = uint80((uint256(1) << 64) | k);
            uint256 at = k < 23 ? exp - (23 - k) * 600 : exp + (k - 23) * 600;
            int256 a = k == 23 ? int256(2900e8) : int256(3050e8);
            vm.mockCall(
                address(feed),
                abi.encodeWithSignature("getRoundData(uint80)", rid),
                abi.encode(rid, a, at, at, rid)
            );
        }
        _mockPhase2Since(uint256(exp) + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, 0));
        vault.settle(id, 0);
        assertEq(vault.settle(id, uint80((uint256(1) << 64) | 23)), 100e6, "3,000 - 2,900");
    }

    /// @dev Phase 1 ended before expiry and phase 2 began after it: no round of either phase can
    ///      be checked as the expiry round, so the fallback stays open (at today's 3,100).
    function test_settle_FallbackOpenWhenThePhaseChangedAcrossExpiry() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(PUT, 3200e8, 1000e8, exp, 2e18, 500e6);
        vm.warp(exp + 2 days);
        _phasedFeed(exp, 0, 0);
        assertEq(vault.settle(id, 0), 100e6, "3,200 - 3,100 at today's price");
    }

    /// @dev Fuzz: a phase change after expiry never reopens the fallback over an expiry round.
    ///      Phase 1's last round lands anywhere from just before expiry to a day after it, at any
    ///      price, and phase 2 begins later: when that round is at or after expiry it is the
    ///      expiry round, `settle(id, 0)` is refused at any time and the round pays its own
    ///      payoff; when it is before expiry, no round can be checked and the fallback pays
    ///      today's price after the grace.
    function testFuzz_settle_PhaseChangeNeverReopensTheFallback(
        uint256 lastAt,
        uint256 answer,
        uint256 wait
    ) public {
        _deposit(alice, 10_000_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(PUT, 3200e8, 1000e8, exp, 2e18, 500e6);
        lastAt = bound(lastAt, uint256(exp) - 59, uint256(exp) + 1 days);
        answer = bound(answer, 100e8, 10_000e8);
        vm.warp(lastAt + 3 hours + 1 + bound(wait, 0, 10 days));
        if (block.timestamp < uint256(exp) + 1 days) vm.warp(uint256(exp) + 1 days);
        uint80 last = _phasedFeed(exp, lastAt, int256(answer));
        if (lastAt >= exp) {
            vm.expectRevert(
                abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, 0)
            );
            vault.settle(id, 0);
            uint256 payoff8 = 3200e8 > answer ? 3200e8 - answer : 0;
            if (payoff8 > 1000e8) payoff8 = 1000e8;
            assertEq(vault.settle(id, last), payoff8 / 100, "phase 1's expiry round pays");
        } else {
            assertEq(vault.settle(id, 0), 100e6, "no checkable round: 3,200 - 3,100 today");
        }
    }

    /// @dev The fallback is for a feed with no usable expiry round. With one, `settle(id, 0)`
    ///      after the grace would pay today's price: a free option for holders (review finding,
    ///      2026-12-04: 10 capped calls, strike 3,300, expiry round 3,000, 4,500 after the grace).
    function test_settle_FallbackRefusedWhenAnExpiryRoundExists() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(CALL, 3300e8, 1000e8, exp, 10e18, 500e6);
        vm.warp(exp + 5);
        _setPrice(3000e8); // the first round after expiry: it pays 0
        vm.warp(exp + 1 days + 1);
        _setPrice(4500e8);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, 0));
        vault.settle(id, 0);
    }

    /// @dev Fuzz: the payout is the capped payoff at the expiry round, whatever happens after.
    function testFuzz_settle_PaysPayoffAtExpiryRound(
        uint256 atExpiry,
        uint256 later,
        uint256 strike,
        bool isCall
    ) public {
        atExpiry = bound(atExpiry, 100e8, 10_000e8);
        later = bound(later, 100e8, 10_000e8);
        strike = bound(strike, 2600e8, 3400e8);
        _deposit(alice, 10_000_000e6);
        uint64 exp = uint64(block.timestamp + 2 days);
        uint256 id = _write(isCall ? CALL : PUT, strike, 500e8, exp, 3e18, 1e6);
        vm.warp(exp + 5);
        _setPrice(int256(atExpiry));
        uint80 r = uint80(feed.latestRound());
        vm.warp(exp + 3 days);
        _setPrice(int256(later));
        uint256 payoff8 = isCall
            ? (atExpiry > strike ? atExpiry - strike : 0)
            : (strike > atExpiry ? strike - atExpiry : 0);
        if (payoff8 > 500e8) payoff8 = 500e8;
        assertEq(vault.settle(id, r), payoff8 / 100);
    }

    /// @dev Fuzz: once the feed holds the round that answered at expiry, no caller can choose a
    ///      later price: the fallback (round 0) is refused at any time after expiry, before or
    ///      after the grace, however many rounds and prices follow; so is any later round; and
    ///      the expiry round pays its own capped payoff.
    function testFuzz_settle_FallbackNeverOverridesTheExpiryRound(
        uint256 atExpiry,
        uint256[4] memory later,
        uint256[4] memory gaps,
        uint256 rounds,
        uint256 wait,
        bool isCall
    ) public {
        atExpiry = bound(atExpiry, 100e8, 10_000e8);
        rounds = bound(rounds, 0, 4);
        _deposit(alice, 10_000_000e6);
        uint64 exp = uint64(block.timestamp + 2 days);
        uint256 id = _write(isCall ? CALL : PUT, 3000e8, 500e8, exp, 3e18, 1e6);
        vm.warp(exp + bound(wait, 0, 1 hours));
        _setPrice(int256(atExpiry));
        uint80 r = uint80(feed.latestRound());
        for (uint256 i = 0; i < rounds; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 1, 3 days));
            _setPrice(int256(bound(later[i], 100e8, 10_000e8)));
        }
        vm.warp(block.timestamp + bound(wait, 0, 10 days));

        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, 0));
        vault.settle(id, 0);
        uint80 last = uint80(feed.latestRound());
        if (last != r) {
            vm.expectRevert(
                abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, last)
            );
            vault.settle(id, last);
        }
        uint256 payoff8 = isCall
            ? (atExpiry > 3000e8 ? atExpiry - 3000e8 : 0)
            : (3000e8 > atExpiry ? 3000e8 - atExpiry : 0);
        if (payoff8 > 500e8) payoff8 = 500e8;
        assertEq(vault.settle(id, r), payoff8 / 100);
    }

    // ================================================================ 2. premium consent

    function test_finding2_DeskCannotPullFromApprover() public {
        _deposit(alice, 100_000e6);
        usdc.mint(bob, 50_000e6);
        vm.prank(bob);
        usdc.approve(address(vault), type(uint256).max);
        IOptionVault.Quote memory q =
            _quote(CALL, 2000e8, 1000e8, uint64(block.timestamp + 30 days), 1e18, 1);
        q.buyer = bob;
        vm.prank(desk);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultNoConsent.selector, bob));
        vault.writeOption(q, 1, "");
        // a signature by anyone but bob does not do either
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidSignature.selector, bob, 0)
        );
        vault.writeOption(q, 1, sig);
        assertEq(usdc.balanceOf(bob), 50_000e6);
    }

    function test_finding2_PremiumBelowModelValueReverts() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo, uint256 hi) = _bounds(CALL, 2000e8, 1000e8, exp, 1e18);
        assertGt(lo, 700e6, "in the money: worth most of its cap");
        _fundBuyer(lo);
        IOptionVault.Quote memory q = _quote(CALL, 2000e8, 1000e8, exp, 1e18, lo);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultPremiumOutOfBounds.selector, uint256(1), lo, lo
            )
        );
        vault.writeOption(q, 1, sig);
        assertLt(lo, hi);
    }

    function test_writeOption_SignedQuoteIsUsedOnce() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo,) = _bounds(CALL, 3000e8, 1000e8, exp, 1e18);
        _fundBuyer(2 * lo);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 1e18, lo);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vault.writeOption(q, lo, sig);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidSignature.selector, buyer, 1)
        );
        vault.writeOption(q, lo, sig);
    }

    function test_writeOption_RevertWhen_QuoteExpiredOrAboveMax() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo,) = _bounds(CALL, 3000e8, 1000e8, exp, 1e18);
        _fundBuyer(lo + 1);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 1e18, lo);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultPremiumOutOfBounds.selector, lo + 1, lo, lo
            )
        );
        vault.writeOption(q, lo + 1, sig); // above the buyer's maxPremium
        vm.warp(q.deadline + 1);
        feed.updateAnswer(PRICE);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultQuoteExpired.selector, q.deadline)
        );
        vault.writeOption(q, lo, sig);
    }

    function test_writeOption_CallerIsBuyer() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo,) = _bounds(CALL, 3000e8, 1000e8, exp, 1e18);
        usdc.mint(desk, lo);
        vm.startPrank(desk);
        usdc.approve(address(vault), lo);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 1e18, lo);
        q.buyer = desk;
        uint256 id = vault.writeOption(q, lo, "");
        vm.stopPrank();
        assertEq(claims.balanceOf(desk, id), 1e18);
        assertEq(vault.nonces(desk), 0, "no signature, no nonce used");
    }

    function test_writeOption_MinimumEdge() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo0,) = _bounds(CALL, 3000e8, 1000e8, exp, 1e18);
        vm.prank(admin);
        vault.setMinPremiumEdgeBps(500);
        (uint256 lo,) = _bounds(CALL, 3000e8, 1000e8, exp, 1e18);
        assertEq(lo, (lo0 * 10_500 + 9999) / 10_000);
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector,
                bytes32("minPremiumEdgeBps"),
                uint256(1001)
            )
        );
        vault.setMinPremiumEdgeBps(1001);
    }

    function test_writeOption_RevertWhen_OracleUnhealthy() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 1e18, 1000e6);
        bytes memory sig = _sign(q, buyerKey);
        vm.warp(block.timestamp + 2 hours);
        (,,, uint256 at,) = feed.latestRoundData();
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, at, 1 hours)
        );
        vault.writeOption(q, 300e6, sig);
    }

    /// @dev Fuzz: whatever the desk asks, a write never books less than the model value.
    function testFuzz_writeOption_NeverBelowModelValue(uint256 premium, uint256 strike) public {
        strike = bound(strike, 1500e8, 4500e8);
        _deposit(alice, 1_000_000e6);
        uint64 exp = uint64(block.timestamp + 14 days);
        (uint256 lo, uint256 hi) = _bounds(CALL, strike, 1000e8, exp, 1e18);
        premium = bound(premium, 1, 2 * hi + 1);
        _fundBuyer(premium);
        IOptionVault.Quote memory q = _quote(CALL, strike, 1000e8, exp, 1e18, premium);
        bytes memory sig = _sign(q, buyerKey);
        uint256 navBefore = vault.totalAssets();
        vm.prank(desk);
        try vault.writeOption(q, premium, sig) {
            assertGe(premium, lo);
            assertLe(premium, hi);
            assertGe(vault.totalAssets(), navBefore, "a write never lowers NAV");
        } catch {
            assertTrue(premium < lo || premium > hi);
        }
    }

    // ================================================================ 3. exits, oracle unhealthy

    /// @dev The issue's case: the sequencer goes down for 3 hours after a large move. Exits
    ///      are deferred (not paid at the stale NAV) and reopen once it is back past its grace.
    function test_finding3_ExitsDeferredWhileSequencerDown() public {
        _deposit(alice, 100_000e6);
        _write(CALL, 3000e8, 1000e8, uint64(block.timestamp + 30 days), 50e18, 12_000e6);
        seqFeed.updateRoundData(2, 1, block.timestamp, block.timestamp); // down
        vm.warp(block.timestamp + 3 hours);
        assertEq(vault.maxWithdraw(alice), 0);
        assertEq(vault.maxRedeem(alice), 0);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxWithdraw.selector, alice, 1e6, 0
            )
        );
        vault.withdraw(1e6, alice, alice);
        // back up, past the grace period, with a fresh price: exits reopen
        seqFeed.updateRoundData(3, 0, block.timestamp, block.timestamp);
        vm.warp(block.timestamp + 1 hours + 1);
        _setPrice(3600e8);
        assertGt(vault.maxWithdraw(alice), 0);
        vm.prank(alice);
        vault.withdraw(1e6, alice, alice);
    }

    function test_exits_OpenWhenBookEmptyAndOracleStale() public {
        _deposit(alice, 1000e6);
        vm.warp(block.timestamp + 2 days);
        assertEq(vault.maxWithdraw(alice), 1000e6, "the NAV does not depend on the price");
    }

    // ================================================================ 4. oracle replacement

    function test_finding4_OracleReplacedAfterTimelock() public {
        MockV3Aggregator next = new MockV3Aggregator(8, 3100e8);
        vm.prank(admin);
        vm.expectEmit(address(vault));
        emit IOptionVault.OracleProposed(address(next), block.timestamp + 2 days);
        vault.proposeOracle(address(next));
        (address pending, uint256 eta) = vault.pendingOracle();
        assertEq(pending, address(next));
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultOracleTimelock.selector, address(next), eta
            )
        );
        vault.acceptOracle();
        vm.warp(eta);
        vm.prank(admin);
        vm.expectEmit(address(vault));
        emit IOptionVault.OracleUpdated(address(feed), address(next));
        vault.acceptOracle();
        assertEq(vault.oracle(), address(next));
        (pending, eta) = vault.pendingOracle();
        assertEq(pending, address(0));
    }

    function test_proposeOracle_RevertWhen_BadFeedOrNotAdmin() public {
        MockV3Aggregator wrong = new MockV3Aggregator(18, 3100e18);
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultUnsupportedDecimals.selector, bytes32("oracle"), uint8(18)
            )
        );
        vault.proposeOracle(address(wrong));
        vm.prank(alice);
        vm.expectRevert();
        vault.proposeOracle(address(feed));
        // cancel: proposing zero clears it, and nothing can be accepted
        vm.startPrank(admin);
        vault.proposeOracle(address(new MockV3Aggregator(8, 1e8)));
        vault.proposeOracle(address(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultOracleTimelock.selector, address(0), uint256(0)
            )
        );
        vault.acceptOracle();
        vm.stopPrank();
    }

    // ================================================================ 5. token behaviour

    function _fotVault(FeeOnTransferToken fot) internal returns (OptionVault v) {
        IOptionVault.InitParams memory p = _params();
        p.asset = address(fot);
        p.venue = address(new MockVenue(address(fot), address(weth), uint256(PRICE)));
        vm.prank(admin);
        (address a,) = factory.createVault(p);
        v = OptionVault(a);
    }

    function test_finding5_FeeOnTransferDepositCreditsWhatArrived() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100);
        OptionVault v = _fotVault(fot);
        fot.mint(bob, 1000e6);
        vm.startPrank(bob);
        fot.approve(address(v), 1000e6);
        v.deposit(1000e6, bob);
        vm.stopPrank();
        assertEq(v.quoteBalance(), 990e6);
        assertEq(fot.balanceOf(address(v)), 990e6);
        fot.mint(alice, 1000e6);
        vm.startPrank(alice);
        fot.approve(address(v), 1000e6);
        uint256 shares = v.deposit(1000e6, alice);
        vm.stopPrank();
        assertEq(v.balanceOf(alice), v.balanceOf(bob), "the fee does not dilute bob");
        assertLe(v.balanceOf(alice), shares);
        assertLe(v.quoteBalance(), fot.balanceOf(address(v)));
    }

    function test_finding5_FeeOnTransferPremiumCreditsWhatArrived() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(0);
        OptionVault v = _fotVault(fot);
        bytes32 role = v.DESK_ROLE();
        vm.prank(admin);
        v.grantRole(role, desk);
        fot.mint(alice, 100_000e6);
        vm.startPrank(alice);
        fot.approve(address(v), 100_000e6);
        v.deposit(100_000e6, alice);
        vm.stopPrank();
        fot.setFeeBps(100);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo,) = _rules().premiumBoundsOf(v, CALL, 3000e8, 1000e8, exp, 1e18);
        uint256 premium = lo * 1011 / 1000; // arrives as ~1.0009 lo after the 1% fee
        fot.mint(desk, premium);
        vm.startPrank(desk);
        fot.approve(address(v), premium);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 1e18, premium);
        q.buyer = desk;
        v.writeOption(q, premium, "");
        vm.stopPrank();
        assertEq(v.quoteBalance(), fot.balanceOf(address(v)), "credited what arrived");
    }

    // ================================================================ 6. sandwich bound

    function test_finding6_GapNeverAboveSlippage() public {
        vm.startPrank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector,
                bytes32("maxOracleGapBps"),
                uint256(200)
            )
        );
        vault.setMaxOracleGapBps(200);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector,
                bytes32("maxSlippageBps"),
                uint256(49)
            )
        );
        vault.setMaxSlippageBps(49); // below the gap (50)
        vault.setMaxSlippageBps(100);
        vault.setMaxOracleGapBps(100);
        vm.stopPrank();
    }

    // ================================================================ 7. depositor surprises

    function test_finding7_PauseStopsDepositsNotWithdrawals() public {
        _deposit(alice, 1000e6);
        vm.prank(pauser);
        vault.pause();
        assertEq(vault.maxDeposit(alice), 0);
        assertEq(vault.maxMint(alice), 0);
        usdc.mint(bob, 10e6);
        vm.startPrank(bob);
        usdc.approve(address(vault), 10e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxDeposit.selector, bob, 10e6, 0
            )
        );
        vault.deposit(10e6, bob);
        vm.stopPrank();
        vm.prank(alice);
        vault.withdraw(400e6, alice, alice);
        assertEq(usdc.balanceOf(alice), 400e6);
    }

    function test_finding7_SweepTakesOnlyUnaccounted() public {
        _deposit(alice, 10_000e6);
        _writeCall(1e18);
        usdc.mint(address(vault), 123e6);
        weth.mint(address(vault), 2e18);
        uint256 quoteBefore = vault.quoteBalance();
        vm.startPrank(admin);
        assertEq(vault.sweep(address(usdc), bob), 123e6);
        assertEq(vault.sweep(address(usdc), bob), 0, "never the accounted quote");
        assertEq(vault.sweep(address(weth), bob), 2e18);
        vm.stopPrank();
        assertEq(vault.quoteBalance(), quoteBefore);
        assertEq(usdc.balanceOf(address(vault)), quoteBefore);
        assertEq(usdc.balanceOf(bob), 123e6);
        assertEq(weth.balanceOf(bob), 2e18);
        vm.prank(alice);
        vm.expectRevert();
        vault.sweep(address(usdc), alice);
    }

    function test_finding7_SweepNeverTakesInventory() public {
        _deposit(alice, 10_000e6);
        _writeCall(5e18);
        vm.prank(keeper);
        vault.rebalance();
        uint256 inv = vault.hedgeInventory();
        assertGt(inv, 0);
        vm.prank(admin);
        assertEq(vault.sweep(address(weth), bob), 0);
        assertEq(weth.balanceOf(address(vault)), inv);
    }

    /// @dev The issue's case: a premium far above model value (16,576 for 10 contracts) is
    ///      refused; the most a write moves NAV is the 20% markup bound.
    function test_finding7_MarkupBounded() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo, uint256 hi) = _bounds(CALL, 3000e8, 1000e8, exp, 10e18);
        assertLt(hi, 16_576e6);
        assertLe(hi, lo * 12_000 / 10_000);
        _fundBuyer(16_576e6);
        IOptionVault.Quote memory q = _quote(CALL, 3000e8, 1000e8, exp, 10e18, 16_576e6);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultPremiumOutOfBounds.selector, 16_576e6, lo, hi
            )
        );
        vault.writeOption(q, 16_576e6, sig);
    }

    // ================================================================ exits fuzz

    /// @dev Fuzz: an exit never takes more than its share of NAV and never touches collateral.
    function testFuzz_withdraw_NeverBeyondShareOrFreeQuote(uint256 assets, uint256 move) public {
        _deposit(alice, 50_000e6);
        _deposit(bob, 50_000e6);
        _write(CALL, 3000e8, 1000e8, uint64(block.timestamp + 30 days), 20e18, 1e6);
        move = bound(move, 2000e8, 5000e8);
        _setPrice(int256(move));
        uint256 max = vault.maxWithdraw(alice);
        assets = bound(assets, 0, max);
        uint256 share = vault.convertToAssets(vault.balanceOf(alice));
        vm.prank(alice);
        vault.withdraw(assets, alice, alice);
        assertLe(assets, share);
        assertGe(vault.quoteBalance(), vault.lockedCollateral() + vault.settledUnpaid());
    }
}
