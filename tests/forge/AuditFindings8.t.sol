// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";

/// @notice An eighth audit (helper-107, 2026-12-07): settlement liveness after a round stamped
///         ahead of its time. AuditFindings5 made `settle` refuse such a round (a later round is
///         dated before it). One published after expiry then left NO way to settle: the round
///         itself refused, every honest round after it refused too (its predecessor, the broken
///         round, is at or after expiry), and the fallback `settle(id, 0)` refused (the feed
///         holds an expiry round). The expired series kept exits, deposits and queue fills closed
///         until the admin replaced the oracle through its 2-day timelock. The expiry round's
///         check now passes over rounds stamped ahead of their time, at most 4 in a row.
contract AuditFindings8SettleAfterAheadRoundTest is VaultTestBase {
    uint256 internal id;
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        _deposit(alice, 100_000e6);
        id = _writeCall(10e18); // call 3000, cap 1000, 10 contracts
        expiry = vault.series(id).expiry;
        vm.warp(expiry - 300);
        feed.updateAnswer(3000e8); // the last round before expiry
    }

    /// @dev A round dated `at`, published now.
    function _round(int256 answer, uint256 at) internal returns (uint80 r) {
        r = uint80(feed.latestRound() + 1);
        feed.updateRoundData(r, answer, at, block.timestamp);
    }

    /// @dev `n` rounds after expiry, each stamped ahead of its time (each dated before the one
    ///      before it, all after the honest round that follows), then that honest round.
    function _aheadThenHonest(uint256 n) internal returns (uint80 first, uint80 honest) {
        vm.warp(uint256(expiry) + 30);
        for (uint256 i; i < n; ++i) {
            uint80 r = _round(3500e8, uint256(expiry) + 10 days - i * 1 hours);
            if (i == 0) first = r;
        }
        vm.warp(uint256(expiry) + 60);
        honest = _round(2900e8, block.timestamp);
    }

    function test_settle_AtTheHonestRoundAfterOneStampedAhead() public {
        (uint80 broken, uint80 honest) = _aheadThenHonest(1);
        vm.warp(uint256(expiry) + 11 days); // past the broken stamp and the grace period
        feed.updateAnswer(3200e8); // a later honest round, the oracle fresh
        uint80 later = uint80(feed.latestRound());
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, broken)
        );
        vault.settle(id, broken);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, later)
        );
        vault.settle(id, later);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, uint80(0))
        );
        vault.settle(id, 0);
        // Before the fix this reverted too: nothing could settle the series.
        assertEq(vault.settle(id, honest), 0, "2,900 < strike 3,000: the call pays nothing");
        assertGt(vault.maxWithdraw(alice), 0, "exits open again");
    }

    function test_settle_AtTheHonestRoundAfterFourStampedAhead() public {
        (uint80 first, uint80 honest) = _aheadThenHonest(4);
        vm.warp(uint256(expiry) + 11 days);
        feed.updateAnswer(3200e8);
        for (uint80 r = first; r < honest; ++r) {
            vm.expectRevert(
                abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, r)
            );
            vault.settle(id, r);
        }
        assertEq(vault.settle(id, honest), 0);
    }

    /// @dev The bound: a fifth round in a row stamped ahead is not passed over. The series then
    ///      waits for the admin's oracle change, as any series did before the fix.
    function test_settle_RevertWhen_FiveRoundsStampedAhead() public {
        (, uint80 honest) = _aheadThenHonest(5);
        vm.warp(uint256(expiry) + 11 days);
        feed.updateAnswer(3200e8);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, honest)
        );
        vault.settle(id, honest);
    }

    /// @dev An honest expiry round came first: a round stamped ahead after it is not passed
    ///      over to reach a later round, so the holder cannot choose that later price.
    function test_settle_RevertWhen_AnEarlierRoundIsTheExpiryRound() public {
        vm.warp(uint256(expiry) + 10);
        uint80 expiryRound = _round(2900e8, block.timestamp);
        vm.warp(uint256(expiry) + 30);
        _round(3500e8, uint256(expiry) + 10 days);
        vm.warp(uint256(expiry) + 60);
        uint80 later = _round(3600e8, block.timestamp);
        vm.warp(uint256(expiry) + 11 days);
        feed.updateAnswer(3200e8);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, later)
        );
        vault.settle(id, later);
        assertEq(vault.settle(id, expiryRound), 0);
    }

    /// @dev Whatever the honest times and however many rounds (up to 4) are stamped ahead
    ///      between the last round before expiry and the first after it, exactly one round
    ///      settles the series: the honest first round at or after expiry.
    function testFuzz_settle_ExactlyTheHonestRoundAfterAheadRounds(
        uint8 aheadSeed,
        uint32 gapSeed,
        uint32 stampSeed,
        uint8 laterSeed
    ) public {
        uint256 ahead = bound(aheadSeed, 0, 4);
        uint256 gap = bound(gapSeed, 0, 1 days); // the honest round's delay after expiry
        uint256 later = bound(laterSeed, 0, 3); // honest rounds after it
        vm.warp(uint256(expiry) + gap);
        uint80 first = uint80(feed.latestRound() + 1);
        for (uint256 i; i < ahead; ++i) {
            // each ahead round is dated after the honest one and before the previous ahead one
            _round(3500e8, uint256(expiry) + gap + 1 + bound(stampSeed, 4, 30 days) - i);
        }
        uint80 honest = _round(2900e8, block.timestamp);
        for (uint256 i; i < later; ++i) {
            vm.warp(block.timestamp + 1 hours);
            _round(3300e8, block.timestamp);
        }
        vm.warp(uint256(expiry) + 32 days);
        feed.updateAnswer(3200e8);
        uint80 last = uint80(feed.latestRound());
        for (uint80 r = first; r <= last; ++r) {
            uint256 snap = vm.snapshotState();
            (bool ok,) = address(vault).call(abi.encodeCall(vault.settle, (id, r)));
            assertEq(ok, r == honest, "only the honest round settles");
            vm.revertToState(snap);
        }
    }

    /// @dev Publishes rounds dated `times` in order (ids follow the feed's latest).
    function _rounds(uint256[] memory times) internal returns (uint80 first) {
        first = uint80(feed.latestRound() + 1);
        for (uint256 i; i < times.length; ++i) {
            _round(3000e8 + int256(i) * 100e8, times[i]);
        }
    }

    /// @dev Publishes rounds dated `times` at `publishedAt`, then at `settleAt` (a fresh round
    ///      after them) asserts that exactly the one at `honest` (its index in `times`) settles.
    function _onlySettles(
        uint256[] memory times,
        uint256 publishedAt,
        uint256 settleAt,
        uint80 honest,
        string memory which
    ) internal {
        vm.warp(publishedAt);
        uint80 first = _rounds(times);
        vm.warp(settleAt);
        feed.updateAnswer(3200e8);
        (uint80[] memory ids, uint256 n) = _settling(first);
        assertEq(n, 1, "one round settles");
        assertEq(ids[0], first + honest, which);
    }

    /// @dev The rounds among `first`..latest that settle the series (each tried alone).
    function _settling(uint80 first) internal returns (uint80[] memory ids, uint256 n) {
        uint80 last = uint80(feed.latestRound());
        ids = new uint80[](last - first + 1);
        for (uint80 r = first; r <= last; ++r) {
            uint256 snap = vm.snapshotState();
            (bool ok,) = address(vault).call(abi.encodeCall(vault.settle, (id, r)));
            vm.revertToState(snap);
            if (ok) ids[n++] = r;
        }
    }

    /// @dev helper-108, case 2 (already open before 2026-12-07): two rounds stamped ahead, with
    ///      rising dates, published before expiry, then honest rounds. The first passed the
    ///      next-round check (the round after it is dated later still), so two rounds settled,
    ///      the holder choosing. A round is now refused when any of the 5 after it is dated
    ///      before it.
    function test_settle_OnlyTheHonestRoundAfterTwoRisingRoundsStampedAheadBeforeExpiry() public {
        uint256 e = expiry;
        uint256[] memory times = new uint256[](4);
        (times[0], times[1], times[2], times[3]) = (e + 5, e + 50, e - 60, e + 20);
        _onlySettles(times, e - 250, e + 2 days, 3, "the honest round dated expiry + 20");
    }

    /// @dev helper-108, case 4: two rounds stamped ahead with rising dates after expiry, then
    ///      the honest round. The honest one was refused (its predecessor was not dated before
    ///      the round after it) and the first stamped ahead settled once its date came.
    function test_settle_TheHonestRoundAfterTwoRisingRoundsStampedAhead() public {
        uint256 e = expiry;
        uint256[] memory times = new uint256[](3);
        (times[0], times[1], times[2]) = (e + 10 days, e + 20 days, e + 60);
        _onlySettles(times, e + 60, e + 21 days, 2, "the honest round dated expiry + 60");
    }

    /// @dev helper-108, case 1: three rounds stamped ahead around expiry, two before it.
    function test_settle_OnlyTheHonestRoundAfterThreeRoundsStampedAhead() public {
        uint256 e = expiry;
        uint256[] memory times = new uint256[](5);
        (times[0], times[1], times[2], times[3], times[4]) =
        (e + 5, e + 50, e - 60, e + 100, e + 20);
        _onlySettles(times, e - 250, e + 2 days, 4, "the honest round dated expiry + 20");
    }

    /// @dev Honest rounds on both sides of expiry, and up to 2 rounds stamped ahead (dated
    ///      days after expiry) after any of them, before expiry or after: exactly one round
    ///      settles, the first honest round at or after expiry.
    function testFuzz_settle_ExactlyTheHonestRoundWithRoundsStampedAheadAnywhere(
        uint8 preSeed,
        uint8 postSeed,
        uint32 gapSeed,
        uint32 aheadBits,
        uint32 stampSeed
    ) public {
        uint256 pre = bound(preSeed, 1, 4); // honest rounds before expiry (one already is)
        uint256 post = bound(postSeed, 1, 4); // honest rounds at or after it
        uint256 gap = bound(gapSeed, 0, 1 days);
        uint256[] memory times = new uint256[](3 * (pre + post));
        uint256 n;
        uint80 honest;
        uint80 base = uint80(feed.latestRound() + 1);
        for (uint256 i; i < pre + post; ++i) {
            times[n] = i < pre
                ? uint256(expiry) - 100 * (pre - i)
                : uint256(expiry) + gap + 100 * (i - pre);
            if (i == pre) honest = base + uint80(n);
            ++n;
            uint256 ahead = (aheadBits >> (2 * i)) & 3; // 0, 1, 2 (3 counts as 2)
            if (ahead == 3) ahead = 2;
            for (uint256 j; j < ahead; ++j) {
                times[n++] = uint256(expiry) + 3 days + bound(stampSeed, 0, 20 days) + j * 7 + i;
            }
        }
        assembly ("memory-safe") {
            mstore(times, n)
        }
        vm.warp(uint256(expiry) - 250);
        uint80 first = _rounds(times);
        assertEq(first, base);
        vm.warp(uint256(expiry) + 30 days);
        feed.updateAnswer(3200e8);
        (uint80[] memory ids, uint256 count) = _settling(first);
        assertEq(count, 1, "exactly one round settles");
        assertEq(ids[0], honest, "the first honest round at or after expiry");
    }
}
