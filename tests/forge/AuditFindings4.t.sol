// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";
import {VaultTestBase} from "./fixtures/VaultTestBase.sol";

/// @notice A fourth audit of the money paths.
contract AuditFindings4Test is VaultTestBase {
    RedemptionQueue internal queue;

    function setUp() public override {
        super.setUp();
        queue = _installQueue();
        _deposit(alice, 60_000e6);
        _deposit(bob, 40_000e6);
        // Locks 90,000 of the 100,000 (+ premium): a 1,000-wide call spread on 90 ETH.
        _write(
            IOptionVault.OptionType.Call, 3000e8, 1000e8, uint64(block.timestamp + 7 days), 90e18, 1
        );
    }

    /// @dev Queues alice's shares worth the free quote a write of `size` ATM call spreads at
    ///      the top of the premium range leaves, less `slack` shares; returns the quote.
    function _queueWhatTheWriteLeaves(uint256 size, uint256 slack)
        internal
        returns (IOptionVault.Quote memory q, uint256 premium, uint256 shares)
    {
        IOptionVault.OptionType c = IOptionVault.OptionType.Call;
        uint64 e = uint64(block.timestamp + 30 days);
        (, premium) = _bounds(c, 3000e8, 1000e8, e, size);
        (uint256 w0,) = _rules().packSeries(c, 3000e8, 1000e8, e, size);
        uint256 freeAfter = vault.freeQuote() + premium - _rules().lockOf(w0);
        shares = vault.convertToShares(freeAfter) - slack;
        vm.startPrank(alice);
        vault.approve(address(queue), shares);
        queue.requestRedeem(shares, alice, alice);
        vm.stopPrank();
        assertGe(vault.maxRedeem(address(queue)), shares, "fully fillable before the write");
        _fundBuyer(premium);
        q = _quote(c, 3000e8, 1000e8, e, size, premium);
    }

    /// @dev Finding: the write checked the queue's reserve at the NAV before the write. The
    ///      premium's markup over model value raises the NAV, and with it the queued shares'
    ///      value, so a write that just passed left the queue unable to fill in full (here ~43
    ///      USDC of a ~18,300 USDC request): new business took collateral the queue was owed.
    ///      The reserve is now read after the premium and the series are booked.
    function test_writeOption_RevertWhen_MarkupWouldLeaveQueueShort() public {
        (IOptionVault.Quote memory q, uint256 premium,) = _queueWhatTheWriteLeaves(5e18, 1e6);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vm.expectPartialRevert(IOptionVault.OptionVaultInsufficientCollateral.selector);
        vault.writeOption(q, premium, sig);
    }

    /// @dev A write that passes leaves the queue's request fully fillable, markup included.
    function test_writeOption_LeavesQueueFullyFillable() public {
        // 100 USDC of shares of slack: more than the markup adds to the request's value.
        (IOptionVault.Quote memory q, uint256 premium, uint256 shares) =
            _queueWhatTheWriteLeaves(5e18, 100e12);
        bytes memory sig = _sign(q, buyerKey);
        vm.prank(desk);
        vault.writeOption(q, premium, sig);
        assertGe(vault.maxRedeem(address(queue)), shares, "fully fillable after the write");
        (uint256 filled,) = queue.fill();
        assertEq(filled, shares);
    }
}
