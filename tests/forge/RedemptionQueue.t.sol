// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IRedemptionQueue} from "../../contracts/interfaces/IRedemptionQueue.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";

/// @notice The ERC-7540 redemption queue on a vault whose collateral is mostly locked: requests
///         escrow shares and reserve their value, fills are pro rata as collateral frees up,
///         claims pay what the fills brought, and nobody exits ahead of the queue.
contract RedemptionQueueTest is VaultTestBase {
    RedemptionQueue internal queue;
    address internal carol = makeAddr("carol");
    uint256 internal seriesId;
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        queue = _installQueue();
        _deposit(alice, 60_000e6);
        _deposit(bob, 40_000e6);
        expiry = uint64(block.timestamp + 7 days);
        // Locks 90,000 of the 100,000 (+ premium): a 1,000-wide call spread on 90 ETH.
        seriesId = _write(IOptionVault.OptionType.Call, 3000e8, 1000e8, expiry, 90e18, 1);
    }

    // ------------------------------------------------------------------ helpers

    function _request(address who, uint256 shares) internal {
        vm.startPrank(who);
        vault.approve(address(queue), shares);
        queue.requestRedeem(shares, who, who);
        vm.stopPrank();
    }

    /// @dev Expires the series out of the money and settles it: every locked unit is freed.
    function _expireWorthless() internal {
        vm.warp(expiry + 1);
        _setPrice(2500e8);
        _settle(seriesId);
    }

    // ------------------------------------------------------------------ setup

    function test_setRedemptionQueue_OnlyOnce() public {
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultQueueAlreadySet.selector, queue)
        );
        vault.setRedemptionQueue(address(1));
        assertEq(vault.redemptionQueue(), address(queue));
    }

    function test_setRedemptionQueue_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                alice,
                vault.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(alice);
        vault.setRedemptionQueue(address(1));
    }

    function test_setRedemptionQueue_RevertWhen_Zero() public {
        RedemptionQueue other = new RedemptionQueue(vault);
        assertEq(other.share(), address(vault));
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("queue"))
        );
        vault.setRedemptionQueue(address(0));
    }

    /// @dev A second vault of the same factory, with no queue set yet.
    function _freshVault() internal returns (IOptionVault fresh) {
        vm.prank(admin);
        (address v,) = factory.createVault(_params());
        fresh = IOptionVault(v);
        assertEq(fresh.redemptionQueue(), address(0));
    }

    function test_setRedemptionQueue_RevertWhen_AnotherVaultsQueue() public {
        IOptionVault fresh = _freshVault();
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultQueueForAnotherVault.selector, queue, vault
            )
        );
        fresh.setRedemptionQueue(address(queue));
        assertEq(fresh.redemptionQueue(), address(0));
    }

    function test_setRedemptionQueue_RevertWhen_Eoa() public {
        IOptionVault fresh = _freshVault();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultNotAQueue.selector, carol));
        fresh.setRedemptionQueue(carol);
        assertEq(fresh.redemptionQueue(), address(0));
    }

    function test_setRedemptionQueue_RevertWhen_TokenOrVault() public {
        IOptionVault fresh = _freshVault();
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultNotAQueue.selector, usdc));
        fresh.setRedemptionQueue(address(usdc));
        // the vault itself is a token with no `share()` too
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultNotAQueue.selector, fresh));
        fresh.setRedemptionQueue(address(fresh));
        vm.stopPrank();
        assertEq(fresh.redemptionQueue(), address(0));
    }

    function test_setRedemptionQueue_AcceptsAQueueOfThisVault() public {
        IOptionVault fresh = _freshVault();
        RedemptionQueue own = new RedemptionQueue(fresh);
        vm.expectEmit(address(fresh));
        emit IOptionVault.RedemptionQueueSet(address(own));
        vm.prank(admin);
        fresh.setRedemptionQueue(address(own));
        assertEq(fresh.redemptionQueue(), address(own));
    }

    function test_supportsInterface_Erc7540AndErc7575() public view {
        assertTrue(queue.supportsInterface(0x620ee8e4), "ERC-7540 async redeem");
        assertTrue(queue.supportsInterface(0xe3bc4e65), "ERC-7540 operator");
        assertTrue(queue.supportsInterface(0x2f0a18c5), "ERC-7575");
        assertTrue(queue.supportsInterface(type(IERC165).interfaceId));
        assertFalse(queue.supportsInterface(0xffffffff));
        assertEq(queue.asset(), address(usdc));
        assertEq(queue.totalAssets(), vault.totalAssets());
    }

    function test_previews_RevertForAsyncFlowAndDeposits() public {
        vm.expectRevert(IRedemptionQueue.RedemptionQueueAsyncFlow.selector);
        queue.previewRedeem(1);
        vm.expectRevert(IRedemptionQueue.RedemptionQueueAsyncFlow.selector);
        queue.previewWithdraw(1);
        vm.expectRevert(
            abi.encodeWithSelector(IRedemptionQueue.RedemptionQueueDepositAtVault.selector, vault)
        );
        queue.deposit(1, alice);
        assertEq(queue.maxDeposit(alice), 0);
    }

    // ------------------------------------------------------------------ requests

    function test_requestRedeem_EscrowsSharesAndReservesTheirValue() public {
        uint256 shares = vault.balanceOf(alice) / 2;
        uint256 freeBefore = vault.freeQuote();
        assertGt(vault.maxWithdraw(bob), 0, "bob can exit instantly before the request");
        vm.startPrank(alice);
        vault.approve(address(queue), shares);
        vm.expectEmit(address(queue));
        emit IRedemptionQueue.RedeemRequest(alice, alice, 0, alice, shares);
        assertEq(queue.requestRedeem(shares, alice, alice), 0);
        vm.stopPrank();

        assertEq(vault.balanceOf(address(queue)), shares, "escrowed");
        assertEq(queue.pendingRedeemRequest(0, alice), shares);
        assertEq(queue.claimableRedeemRequest(0, alice), 0);
        assertEq(queue.pendingRedeemRequest(1, alice), 0, "only request id 0");
        assertEq(vault.freeQuote(), freeBefore, "free quote itself is unchanged");
        // ~30,000 reserved against ~10,000 free: no instant exit is left for bob.
        assertEq(vault.maxWithdraw(bob), 0, "bob cannot exit ahead of the queue");
        assertEq(vault.maxRedeem(bob), 0);
    }

    function test_requestRedeem_RevertWhen_NotOwnerOrOperator() public {
        vm.prank(alice);
        vault.approve(address(queue), 1e15);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRedemptionQueue.RedemptionQueueUnauthorized.selector, bob, alice
            )
        );
        queue.requestRedeem(1e15, bob, alice);
    }

    function test_requestRedeem_ByOperator() public {
        vm.startPrank(alice);
        vault.approve(address(queue), 1e15);
        vm.expectEmit(address(queue));
        emit IRedemptionQueue.OperatorSet(alice, carol, true);
        queue.setOperator(carol, true);
        vm.stopPrank();
        assertTrue(queue.isOperator(alice, carol));
        vm.prank(carol);
        queue.requestRedeem(1e15, alice, alice);
        assertEq(queue.pendingRedeemRequest(0, alice), 1e15);
    }

    function test_requestRedeem_RevertWhen_Zero() public {
        vm.prank(alice);
        vm.expectRevert(IRedemptionQueue.RedemptionQueueZeroAmount.selector);
        queue.requestRedeem(0, alice, alice);
    }

    function test_requestRedeem_RevertWhen_NoApproval() public {
        vm.prank(alice);
        vm.expectRevert(); // the vault's ERC20InsufficientAllowance
        queue.requestRedeem(1e15, alice, alice);
    }

    // ------------------------------------------------------------------ fills

    function test_fill_ProRataOverRequests() public {
        uint256 a = vault.balanceOf(alice);
        uint256 b = vault.balanceOf(bob);
        _request(alice, a);
        _request(bob, b);
        uint256 free = vault.freeQuote();
        (uint256 shares, uint256 assets) = queue.fill();
        assertGt(shares, 0);
        assertLe(assets, free, "a fill takes no more than the free quote");
        assertGe(assets + 1, free, "and all of it");
        uint256 ca = queue.maxWithdraw(alice);
        uint256 cb = queue.maxWithdraw(bob);
        assertLe(ca + cb, assets, "claimable never exceeds what the fill brought");
        assertLe(assets - (ca + cb), 2, "dust only");
        // 60:40, to the unit
        assertApproxEqAbs(ca * b, cb * a, a + b, "pro rata");
        assertApproxEqAbs(
            queue.pendingRedeemRequest(0, alice) * b, queue.pendingRedeemRequest(0, bob) * a, a + b
        );
        assertEq(
            queue.claimableRedeemRequest(0, alice) + queue.pendingRedeemRequest(0, alice),
            a,
            "alice's shares are pending or filled"
        );
    }

    function test_fill_AfterSettlementMakesRequestsClaimable() public {
        uint256 a = vault.balanceOf(alice);
        _request(alice, a);
        queue.fill(); // what is free now
        uint256 claimable0 = queue.maxWithdraw(alice);
        assertGt(queue.pendingRedeemRequest(0, alice), 0, "the rest waits for collateral");

        _expireWorthless();
        // Settlement freed the collateral, but the queue's claim on it comes first.
        uint256 demand = vault.convertToAssets(vault.balanceOf(address(queue)));
        assertLe(vault.maxWithdraw(bob), vault.freeQuote() - demand, "the queue comes first");
        assertGt(queue.fillable(), 0);
        uint256 nav = vault.convertToAssets(queue.pendingRedeemRequest(0, alice));
        (uint256 shares, uint256 assets) = queue.fill();
        assertEq(queue.pendingRedeemRequest(0, alice), 0, "filled in full");
        assertEq(queue.round(), 1, "the round closed");
        assertApproxEqAbs(assets, nav, 1, "at the NAV of the fill");
        assertEq(queue.claimableRedeemRequest(0, alice), a);
        assertEq(queue.maxWithdraw(alice), claimable0 + assets);
        assertGt(shares, 0);

        // now bob may exit instantly: the queue is empty
        assertGt(vault.maxWithdraw(bob), 0);

        // the claim
        uint256 all = queue.maxWithdraw(alice);
        vm.prank(alice);
        assertEq(queue.redeem(a, alice, alice), all);
        assertEq(usdc.balanceOf(alice), all);
        assertEq(queue.maxRedeem(alice), 0);
        assertLe(usdc.balanceOf(address(queue)), 1, "rounding dust only");
    }

    function test_fill_NothingToFillReturnsZeros() public {
        (uint256 s, uint256 a) = queue.fill();
        assertEq(s + a, 0, "no request");
        _request(alice, vault.balanceOf(alice));
        queue.fill(); // takes the free quote
        (s, a) = queue.fill();
        assertEq(s + a, 0, "no free quote left");
        assertEq(queue.fillable(), 0);
    }

    /// @dev A free quote of one unit's dust, below par (the call gained value, so a share is
    ///      worth less than 1e-6 unit): the shares it could redeem would pay 0 assets, so the
    ///      fill does nothing rather than burn queued shares for nothing.
    function test_fill_NeverBurnsSharesForNothing() public {
        _request(alice, vault.balanceOf(alice));
        queue.fill(); // takes the free quote
        _setPrice(3400e8); // the written call is worth more: the share price falls below par
        _deposit(carol, 1); // a dust of free quote: 1 unit
        uint256 dust = vault.maxRedeem(address(queue));
        assertGt(dust, 0, "the vault would let the queue redeem a few shares");
        assertEq(vault.previewRedeem(dust), 0, "for nothing");
        uint256 pending = queue.pendingRedeemRequest(0, alice);
        assertEq(queue.fillable(), 0);
        (uint256 s, uint256 a) = queue.fill();
        assertEq(s + a, 0, "no fill");
        assertEq(queue.pendingRedeemRequest(0, alice), pending, "nothing burned");
    }

    /// @dev Shares sent to the queue without a request (a transfer, or a deposit to it) belong to
    ///      no request: the next fill, by anyone, must let them go, so they hold back neither
    ///      other holders' exits nor new writes, and no fill redeems them for nobody.
    function test_fill_DiscardsSharesSentWithoutARequest() public {
        uint256 bobMax = vault.maxWithdraw(bob);
        assertGt(bobMax, 0, "bob can exit instantly");
        uint256 sent = vault.balanceOf(alice) / 6; // ~10,000 USDC: the whole free quote
        vm.prank(alice);
        vault.transfer(address(queue), sent);
        assertEq(queue.totalPending(), 0, "no request is pending");
        assertEq(queue.fillable(), 0, "nothing to fill for");

        vm.expectEmit(address(queue));
        emit IRedemptionQueue.UnrequestedSharesDiscarded(sent);
        vm.prank(carol); // anyone
        (uint256 s, uint256 a) = queue.fill();
        assertEq(s + a, 0, "nothing redeemed");
        assertEq(vault.balanceOf(address(queue)), 0, "the unrequested shares are gone");
        assertEq(vault.balanceOf(queue.DISCARD()), sent, "to the discard address");
        assertEq(vault.maxWithdraw(bob), bobMax, "bob's exit is not held back");

        // A later request is filled on its own shares only: nothing is left owed to nobody.
        uint256 small = vault.balanceOf(bob) / 100;
        _request(bob, small);
        (s, a) = queue.fill();
        assertEq(s, small, "only the request's shares are redeemed");
        assertEq(queue.maxWithdraw(bob), a, "the request is owed everything the fill brought");
        assertEq(usdc.balanceOf(address(queue)), a);
    }

    function test_fill_WaitsWhileOracleStale() public {
        _request(alice, vault.balanceOf(alice));
        vm.warp(block.timestamp + 2 hours); // heartbeat 1 h
        assertEq(queue.fillable(), 0, "exits deferred while the NAV cannot be trusted");
        (uint256 s,) = queue.fill();
        assertEq(s, 0);
    }

    function test_fill_CannotFillARequestTwice() public {
        uint256 a = vault.balanceOf(alice);
        _request(alice, a);
        _expireWorthless();
        queue.fill();
        uint256 claimable = queue.maxWithdraw(alice);
        _deposit(carol, 10_000e6); // more free quote, but nothing pending
        (uint256 s, uint256 assets) = queue.fill();
        assertEq(s + assets, 0);
        assertEq(queue.maxWithdraw(alice), claimable);
        assertEq(queue.claimableRedeemRequest(0, alice), a);
    }

    function test_requestRedeem_LaterRequestJoinsOnEqualTerms() public {
        uint256 a = vault.balanceOf(alice) / 2;
        _request(alice, a);
        queue.fill(); // alice alone takes the first free quote
        uint256 aliceFirst = queue.maxWithdraw(alice);
        uint256 pendingA = queue.pendingRedeemRequest(0, alice);
        uint256 b = pendingA; // bob asks for as many shares as alice still has pending
        _request(bob, b);
        _expireWorthless();
        queue.fill();
        assertApproxEqAbs(
            queue.maxWithdraw(alice) - aliceFirst,
            queue.maxWithdraw(bob),
            2,
            "same shares, same fill"
        );
    }

    function test_requestRedeem_SecondRequestKeepsFilledPart() public {
        uint256 a = vault.balanceOf(alice) / 4;
        _request(alice, a);
        queue.fill();
        uint256 filled = queue.claimableRedeemRequest(0, alice);
        uint256 claimable = queue.maxWithdraw(alice);
        assertGt(filled, 0);
        _request(alice, a);
        assertEq(queue.claimableRedeemRequest(0, alice), filled, "checkpointed");
        assertEq(queue.maxWithdraw(alice), claimable);
        assertApproxEqAbs(queue.pendingRedeemRequest(0, alice), 2 * a - filled, 1);
    }

    // ------------------------------------------------------------------ claims

    function test_withdraw_ClaimsAssetsAndUsesSharesRoundedUp() public {
        _request(alice, vault.balanceOf(alice));
        _expireWorthless();
        queue.fill();
        uint256 cs = queue.maxRedeem(alice);
        uint256 ca = queue.maxWithdraw(alice);
        vm.prank(alice);
        uint256 used = queue.withdraw(ca / 3, bob, alice);
        assertEq(usdc.balanceOf(bob), ca / 3);
        assertGe(used * ca, (ca / 3) * cs, "shares rounded up");
        assertEq(queue.maxRedeem(alice), cs - used);
    }

    function test_redeem_RevertWhen_ExceedsClaimable() public {
        _request(alice, 1e15);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRedemptionQueue.RedemptionQueueExceedsClaimable.selector, 1e15, 0
            )
        );
        queue.redeem(1e15, alice, alice);
    }

    function test_redeem_RevertWhen_NotController() public {
        _request(alice, 1e15);
        queue.fill();
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRedemptionQueue.RedemptionQueueUnauthorized.selector, bob, alice
            )
        );
        queue.redeem(1, bob, alice);
    }

    function test_redeem_ByOperatorToAnyReceiver() public {
        _request(alice, 1e15);
        queue.fill();
        vm.prank(alice);
        queue.setOperator(carol, true);
        vm.prank(carol);
        uint256 paid = queue.redeem(1e15, carol, alice);
        assertEq(usdc.balanceOf(carol), paid);
        assertGt(paid, 0);
    }

    // ------------------------------------------------------------------ the vault side

    function test_writeOption_RevertWhen_CollateralReservedForQueue() public {
        _request(alice, vault.balanceOf(alice));
        uint64 e = uint64(block.timestamp + 7 days);
        (uint256 lo, uint256 hi) = _bounds(IOptionVault.OptionType.Call, 3200e8, 100e8, e, 1e15);
        _fundBuyer(hi);
        IOptionVault.Quote memory q =
            _quote(IOptionVault.OptionType.Call, 3200e8, 100e8, e, 1e15, hi);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectPartialRevert(IOptionVault.OptionVaultInsufficientCollateral.selector);
        vault.writeOption(q, hi, sig);
        assertGt(lo, 0);
    }

    function test_instantExit_TakesOnlyWhatIsNotReserved() public {
        uint256 small = vault.balanceOf(alice) / 100; // ~600 USDC of ~10,000 free
        _request(alice, small);
        uint256 reserved = vault.convertToAssets(small) + 1;
        uint256 free = vault.freeQuote();
        assertApproxEqAbs(vault.maxWithdraw(bob), free - reserved, 1);
        uint256 max = vault.maxWithdraw(bob);
        vm.prank(bob);
        vault.withdraw(max, bob, bob);
        // the queue's request can still be filled in full
        (uint256 shares,) = queue.fill();
        assertEq(shares, small);
        assertEq(queue.pendingRedeemRequest(0, alice), 0);
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Two requests, any sizes, a fill of any part: each gets the same fraction of its
    ///      pending shares filled and the same assets per share, and together never more than
    ///      the fill brought.
    function testFuzz_fill_ProRata(uint256 sa, uint256 sb, uint256 extra) public {
        sa = bound(sa, 1, vault.balanceOf(alice));
        sb = bound(sb, 1, vault.balanceOf(bob));
        _request(alice, sa);
        _request(bob, sb);
        _deposit(carol, bound(extra, 0, 50_000e6)); // more or less free quote
        (uint256 shares, uint256 assets) = queue.fill();
        uint256 ca = queue.maxWithdraw(alice);
        uint256 cb = queue.maxWithdraw(bob);
        assertLe(ca + cb, assets, "claimable <= what the fill brought");
        assertLe(assets - ca - cb, 2, "dust only");
        uint256 fa = queue.claimableRedeemRequest(0, alice);
        uint256 fb = queue.claimableRedeemRequest(0, bob);
        // Pending shares round down, so the filled count may pass the redeemed shares by one
        // unit (about 1e-6 of an asset unit) per request; the assets above are exact-bounded.
        assertLe(fa + fb, shares + 2, "filled shares <= redeemed shares");
        // same fraction filled: fa/sa == fb/sb, up to one unit of rounding each
        assertApproxEqAbs(fa * sb, fb * sa, sa + sb, "same fraction filled");
        assertEq(fa + queue.pendingRedeemRequest(0, alice), sa, "alice's shares reconcile");
        assertEq(fb + queue.pendingRedeemRequest(0, bob), sb, "bob's shares reconcile");
    }

    /// @dev Shares sent to the queue without a request, any amount, change nothing a fill does:
    ///      the requests get exactly the shares and assets they get without them, the vault's
    ///      free quote ends the same, and afterwards the queue holds only its requests' shares.
    function testFuzz_fill_SharesSentWithoutARequestChangeNothing(
        uint256 sa,
        uint256 sent,
        uint256 extra
    ) public {
        sa = bound(sa, 1, vault.balanceOf(alice));
        _request(alice, sa);
        _deposit(carol, bound(extra, 0, 50_000e6));
        uint256 snap = vm.snapshotState();
        queue.fill();
        uint256 ca = queue.maxWithdraw(alice);
        uint256 fa = queue.claimableRedeemRequest(0, alice);
        uint256 free = vault.freeQuote();
        vm.revertToState(snap);

        sent = bound(sent, 1, vault.balanceOf(bob));
        vm.prank(bob);
        vault.transfer(address(queue), sent);
        queue.fill();
        assertEq(queue.maxWithdraw(alice), ca, "the same assets");
        assertEq(queue.claimableRedeemRequest(0, alice), fa, "the same shares filled");
        assertEq(vault.freeQuote(), free, "the same free quote left");
        assertEq(vault.balanceOf(address(queue)), queue.totalPending(), "requests' shares only");
    }

    /// @dev Claims in any pieces pay exactly the claimable assets in total.
    function testFuzz_redeem_PiecesPayTheWhole(uint256 piece) public {
        _request(alice, vault.balanceOf(alice));
        _expireWorthless();
        queue.fill();
        uint256 cs = queue.maxRedeem(alice);
        uint256 ca = queue.maxWithdraw(alice);
        piece = bound(piece, 1, cs);
        uint256 paid;
        vm.startPrank(alice);
        paid += queue.redeem(piece, alice, alice);
        if (cs > piece) paid += queue.redeem(cs - piece, alice, alice);
        vm.stopPrank();
        assertEq(paid, ca, "the pieces add up to the whole");
        assertLe(usdc.balanceOf(address(queue)), 1, "rounding dust only");
    }
}
