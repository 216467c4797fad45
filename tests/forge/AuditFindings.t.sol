// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {LiquidityVault} from "./fixtures/LiquidityVault.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {RedemptionQueue} from "../../contracts/RedemptionQueue.sol";

/// @notice Audit findings on the money paths: each test was written first and failed on the
///         tree before its fix.
contract AuditFindingsVaultTest is VaultTestBase {
    RedemptionQueue internal queue;
    address internal carol = makeAddr("carol");

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

    /// @dev Finding 1. While an expired series waits for settlement the vault values it at its
    ///      maximum payoff (its whole locked collateral), so the NAV is below value; the vault
    ///      closes deposits for exactly that reason (`maxDeposit`), but the permissionless
    ///      `RedemptionQueue.fill` still redeems the queued shares at that NAV. Two series
    ///      expire together out of the money; anyone settles one (freeing collateral) and calls
    ///      `fill` before the other is settled: the queued holder is paid as if the second
    ///      series paid its maximum, and the holders who stay pocket the difference.
    function test_fill_PaysQueueFairNavWhileExpiredSeriesUnsettled() public {
        _deposit(alice, 60_000e6);
        _deposit(bob, 40_000e6);
        uint64 expiry = uint64(block.timestamp + 7 days);
        // Two 1,000-wide call spreads, 45 ETH each: 90,000 of the 100,000 locked.
        uint256 idA = _write(IOptionVault.OptionType.Call, 3000e8, 1000e8, expiry, 45e18, 1);
        uint256 idB = _write(IOptionVault.OptionType.Call, 3100e8, 1000e8, expiry, 45e18, 1);
        uint256 bobShares = vault.balanceOf(bob);
        _request(bob, bobShares); // more than the free quote: it waits for collateral
        queue.fill(); // the free quote there is now
        assertGt(queue.pendingRedeemRequest(0, bob), 0, "most of bob's request waits");

        // Both expire worthless.
        vm.warp(expiry + 1);
        _setPrice(2500e8);

        // Reference: both settled, then the fill (what the keeper's cycle does).
        uint256 snap = vm.snapshotState();
        _settle(idA);
        _settle(idB);
        queue.fill();
        uint256 fair = queue.maxWithdraw(bob);
        vm.revertToState(snap);

        // Carol (anyone) settles A only and fills while B still counts at its maximum payoff:
        // nothing is filled (and no instant exit is open) until B is settled too.
        vm.startPrank(carol);
        vault.settle(idA, _expiryRound(expiry));
        (uint256 filled,) = queue.fill();
        vm.stopPrank();
        assertEq(filled, 0, "no fill while an expired series waits for settlement");
        assertEq(vault.maxWithdraw(alice), 0, "no instant exit either");
        assertEq(vault.maxRedeem(alice), 0, "no instant exit either");
        _settle(idB);
        queue.fill();
        uint256 paid = queue.maxWithdraw(bob);
        emit log_named_uint("bob's claim, fill after both settlements", fair);
        emit log_named_uint("bob's claim, carol's early fill refused ", paid);
        assertEq(queue.pendingRedeemRequest(0, bob), 0, "bob was filled in full");
        assertEq(paid, fair, "a third party's fill cannot sell the queue below NAV");
    }
}

contract AuditFindingsQueueTest is Test {
    MintableERC20 internal usdc;
    LiquidityVault internal shares;
    RedemptionQueue internal queue;

    function setUp() public {
        usdc = new MintableERC20("USD Coin", "USDC", 6);
        shares = new LiquidityVault(usdc);
        queue = new RedemptionQueue(IOptionVault(address(shares)));
    }

    function _request(address who, uint256 amount) internal {
        shares.mint(who, amount);
        vm.startPrank(who);
        shares.approve(address(queue), amount);
        queue.requestRedeem(amount, who, who);
        vm.stopPrank();
    }

    /// @dev Finding 2. The pro-rata index S (`_sharesPerUnit`) restarts at RAY only when a fill
    ///      takes every escrowed share; every partial fill scales it by (E - x) / E, rounded
    ///      down, and it is never renormalized. A queue that stays busy (new requests arrive
    ///      before the old ones are filled in full; every fill takes 90% of the escrow) drives S
    ///      to single digits within ~26 fills, after which each fill's rounding of S drops a
    ///      large fraction of every pending request, and S = 0 closes the round with shares
    ///      still in escrow: those requests are booked as filled but paid for the fraction
    ///      actually redeemed. The difference stays in the queue for good. IRedemptionQueue's
    ///      dust rule says a fill leaves at most a few wei per request.
    function test_fill_LeavesOnlyDustWhenQueueStaysBusy() public {
        uint256 n = 40;
        uint256 each = 1000e6;
        for (uint256 i; i < n; ++i) {
            _request(address(uint160(0x1000 + i)), each);
            shares.setLiquidity(shares.balanceOf(address(queue)) * 9 / 10);
            queue.fill();
        }
        // On the tree before the fix S reached 0 at the 28th fill and closed the round with 10%
        // of its escrow unfilled. A round closes only when a fill takes every escrowed share.
        assertEq(queue.round(), 0, "no round closes on a partial fill");
        // Liquidity for everything left, and every request claims what it is owed.
        _request(address(0xBEEF), 1); // a fill needs a live round
        shares.setLiquidity(shares.balanceOf(address(queue)));
        queue.fill();
        uint256 owed;
        for (uint256 i; i < n; ++i) {
            owed += queue.maxWithdraw(address(uint160(0x1000 + i)));
        }
        owed += queue.maxWithdraw(address(0xBEEF));
        uint256 redeemed = usdc.balanceOf(address(queue));
        emit log_named_uint("assets the fills brought in", redeemed);
        emit log_named_uint("assets owed to the requests", owed);
        emit log_named_uint("shares left in escrow      ", shares.balanceOf(address(queue)));
        assertLe(redeemed - owed, 10 * (n + 1) * n, "a few wei per request and fill");
        assertEq(shares.balanceOf(address(queue)), 0, "no share stranded in escrow");
        assertGe(owed, n * each + 1 - 10 * (n + 1) * n, "every request paid, less dust");
    }
}
