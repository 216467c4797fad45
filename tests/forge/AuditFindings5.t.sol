// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";

/// @notice A fifth audit of the money paths: settlement at a round dated after the block.
contract AuditFindings5SettleTest is VaultTestBase {
    /// @dev Finding A. `_oracleStatus` now refuses a round dated after the block as broken, but
    ///      `settle` (`_expiryRoundPrice`) still accepts one as "the first round at or after
    ///      expiry". A round stamped in the future breaks the monotone timestamps the uniqueness
    ///      of that round rests on: a round published before expiry but dated after it, then an
    ///      honest round before expiry, then the honest expiry round, give TWO rounds that pass
    ///      `prev.updatedAt < expiry <= updatedAt`. Anyone (the option holder) settles at the
    ///      one that pays most. 10 calls 3000/+1000 expiring at 3,000: the honest payoff is 0,
    ///      the future-dated round (3,500) pays 500 a contract: 5,000 USDC from depositors.
    function test_settle_RevertWhen_RoundDatedAfterTheBlock() public {
        _deposit(alice, 100_000e6);
        uint256 id = _writeCall(10e18); // call 3000, cap 1000, 10 contracts, 30 days
        uint64 expiry = vault.series(id).expiry;

        // 10 minutes before expiry the feed publishes a round dated a day after expiry.
        vm.warp(expiry - 600);
        uint80 broken = uint80(feed.latestRound() + 1);
        feed.updateRoundData(broken, 3500e8, uint256(expiry) + 1 days, expiry - 600);
        // The vault itself calls it broken: no write, no exit, no rebalance on it.
        assertEq(vault.maxDeposit(alice), 0, "the vault refuses the future round");
        // Honest rounds follow: before expiry, then the expiry round itself.
        vm.warp(expiry - 300);
        feed.updateAnswer(3000e8);
        vm.warp(uint256(expiry) + 1);
        feed.updateAnswer(3000e8);
        uint80 honest = uint80(feed.latestRound());
        assertEq(_expiryRound(expiry), honest, "the keeper's expiry round");

        // The holder settles first, one second after expiry, at the round dated a day ahead:
        // before the fix it paid 5,000 USDC (settledUnpaid 5,000e6) out of the depositors' NAV.
        vm.prank(buyer);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, broken)
        );
        vault.settle(id, broken);
        assertEq(vault.settle(id, honest), 0, "the expiry round pays nothing");
        assertEq(vault.settledUnpaid(), 0, "nothing owed to the holder");
    }
}

contract AuditFindings5SettleResidualTest is VaultTestBase {
    /// @dev Finding A, residual of the minimal fix (updatedAt <= block.timestamp): once the
    ///      block reaches the future date, the broken round passes again if nobody settled.
    function test_settle_RevertWhen_FutureStampedRoundLaterInThePast() public {
        _deposit(alice, 100_000e6);
        uint256 id = _writeCall(10e18);
        uint64 expiry = vault.series(id).expiry;
        vm.warp(expiry - 600);
        uint80 broken = uint80(feed.latestRound() + 1);
        feed.updateRoundData(broken, 3500e8, uint256(expiry) + 1 days, expiry - 600);
        vm.warp(expiry - 300);
        feed.updateAnswer(3000e8);
        vm.warp(uint256(expiry) + 1 days + 1);
        feed.updateAnswer(3000e8);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultSettlementRound.selector, broken)
        );
        vault.settle(id, broken);
    }
}

/// @notice No finding, pinned: a latest round dated after the block moves the views (they take
///         any positive answer) but no money path prices on it.
contract AuditFindings5FutureRoundViewsTest is VaultTestBase {
    function test_futureRound_MovesViewsButNoEntryExitFillOrWrite() public {
        RedemptionQueue q = _installQueue();
        _deposit(alice, 100_000e6);
        _deposit(bob, 100_000e6);
        _writeCall(10e18);
        vm.startPrank(bob);
        vault.approve(address(q), 1e15);
        q.requestRedeem(1e15, bob, bob);
        vm.stopPrank();
        uint256 nav = vault.totalAssets();
        uint256 future = block.timestamp + 1 days;
        feed.updateRoundData(uint80(feed.latestRound() + 1), 2000e8, future, block.timestamp);
        assertGt(vault.totalAssets(), nav, "the view takes the future round's 2,000");
        assertEq(vault.maxDeposit(alice), 0);
        assertEq(vault.maxWithdraw(alice), 0);
        assertEq(vault.maxRedeem(alice), 0);
        (uint256 s, uint256 a) = q.fill();
        assertEq(s + a, 0, "no fill at the future round's NAV");
        uint64 exp = uint64(block.timestamp + 7 days);
        IOptionVault.Quote memory qt =
            _quote(IOptionVault.OptionType.Call, 3000e8, 1000e8, exp, 1e18, 1000e6);
        bytes memory sig = _sign(qt, buyerKey);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, future, 1 hours)
        );
        vault.writeOption(qt, 500e6, sig);
    }
}
