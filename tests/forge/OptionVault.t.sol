// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {console2} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {
    ERC4626Upgradeable
} from "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC4626Upgradeable.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {OptionClaims} from "../../contracts/OptionClaims.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {BlackScholes} from "../../contracts/libraries/BlackScholes.sol";

/// @notice Unit tests for OptionVault: every function and every custom error.
contract OptionVaultTest is VaultTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;
    IOptionVault.OptionType internal constant PUT = IOptionVault.OptionType.Put;

    // ================================================================ initialize

    function test_initialize_SetsState() public view {
        assertEq(vault.asset(), address(usdc));
        assertEq(vault.underlying(), address(weth));
        assertEq(vault.oracle(), address(feed));
        assertEq(vault.sequencerFeed(), address(seqFeed));
        assertEq(vault.venue(), address(venue));
        assertEq(vault.claims(), address(claims));
        assertEq(claims.vault(), address(vault));
        assertEq(vault.volatility(), 0.8e18);
        assertEq(vault.decimals(), 12, "6 + offset 6");
        assertTrue(vault.hasRole(vault.DEFAULT_ADMIN_ROLE(), admin));
        IOptionVault.Thresholds memory t = vault.thresholds();
        assertEq(t.band, 0.5e18);
        assertEq(t.maxTrade, 10e18);
        assertEq(t.minInterval, 60);
        assertEq(t.maxInterval, 1 days);
        assertEq(t.maxSlippageBps, 50);
        assertEq(t.maxOracleGapBps, 50);
        assertEq(t.oracleHeartbeat, 1 hours);
        assertEq(t.sequencerGracePeriod, 1 hours);
        assertEq(vault.valuationPrice(), uint256(PRICE));
        assertEq(vault.lastRebalance(), 0);
        assertEq(vault.totalAssets(), 0);
    }

    function test_initialize_RevertWhen_CalledTwice() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        vault.initialize(_params());
    }

    function test_initialize_RevertWhen_ImplementationInitialized() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        vaultImpl.initialize(_params());
    }

    /// @dev A clone carrying `p`'s immutable args, as {VaultFactory} makes it.
    function _freshClone(IOptionVault.InitParams memory p) internal returns (OptionVault) {
        bytes memory args = abi.encode(p.asset, p.underlying, p.sequencerFeed);
        return OptionVault(Clones.cloneWithImmutableArgs(address(vaultImpl), args));
    }

    function test_initialize_ReadsItsCloneArgs() public view {
        assertEq(vault.asset(), address(usdc));
        assertEq(vault.underlying(), address(weth));
        assertEq(vault.sequencerFeed(), address(seqFeed));
        assertEq(vault.decimals(), 12);
    }

    function test_initialize_RevertWhen_CloneArgsMismatch() public {
        IOptionVault.InitParams memory p = _params();
        p.claims = address(claims);
        OptionVault v = _freshClone(p);
        p.sequencerFeed = address(0);
        vm.expectRevert(IOptionVault.OptionVaultCloneArgsMismatch.selector);
        v.initialize(p);
        p = _params();
        p.claims = address(claims);
        p.underlying = address(usdc);
        vm.expectRevert(IOptionVault.OptionVaultCloneArgsMismatch.selector);
        v.initialize(p);
        // A plain clone has no args: its asset reads as zero.
        v = OptionVault(Clones.clone(address(vaultImpl)));
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("asset"))
        );
        v.initialize(_params());
    }

    function test_initialize_RevertWhen_ZeroAddress() public {
        IOptionVault.InitParams memory p = _params();
        OptionVault v = _freshClone(p);
        p.claims = address(claims);
        p.oracle = address(0);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("oracle"))
        );
        v.initialize(p);
        p = _params();
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("claims"))
        );
        v.initialize(p);
    }

    function test_initialize_RevertWhen_WrongDecimals() public {
        IOptionVault.InitParams memory p = _params();
        p.claims = address(claims);
        p.asset = address(new MintableERC20("DAI", "DAI", 18));
        OptionVault v = _freshClone(p);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultUnsupportedDecimals.selector, bytes32("asset"), uint8(18)
            )
        );
        v.initialize(p);
    }

    function test_initialize_RevertWhen_InvalidPrice() public {
        IOptionVault.InitParams memory p = _params();
        OptionVault v = _freshClone(p);
        p.claims = address(claims);
        p.oracle = address(new MockV3Aggregator(8, -1));
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, int256(-1))
        );
        v.initialize(p);
    }

    function test_initialize_RevertWhen_ThresholdOutOfBounds() public {
        IOptionVault.InitParams memory p = _params();
        OptionVault v = _freshClone(p);
        p.claims = address(claims);
        p.thresholds.band = 0;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector, bytes32("band"), uint256(0)
            )
        );
        v.initialize(p);
        p = _params();
        p.claims = address(claims);
        p.volatility = 6e18;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector,
                bytes32("volatility"),
                uint256(6e18)
            )
        );
        v.initialize(p);
    }

    /// @dev The most negative target was an arithmetic panic (its negation overflows), not the
    ///      bound's own error.
    function test_setTargetDelta_RevertWhen_Int256Min() public {
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultParameterOutOfBounds.selector,
                bytes32("targetDelta"),
                uint256(1) << 255
            )
        );
        vault.setTargetDelta(type(int256).min);
    }

    // ================================================================ deposit / withdraw

    function test_deposit_CreditsInternalQuote() public {
        uint256 shares = _deposit(alice, 10_000e6);
        assertEq(shares, 10_000e6 * 1e6, "first deposit: 1e6 shares per quote unit");
        assertEq(vault.quoteBalance(), 10_000e6);
        assertEq(vault.totalAssets(), 10_000e6);
        assertEq(vault.freeQuote(), 10_000e6);
    }

    function test_deposit_RevertWhen_OracleStaleWithOpenBook() public {
        _deposit(alice, 10_000e6);
        _writeCall(1e18);
        vm.warp(block.timestamp + 2 hours); // stale: heartbeat is 1 hour
        usdc.mint(bob, 100e6);
        vm.startPrank(bob);
        usdc.approve(address(vault), 100e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxDeposit.selector, bob, 100e6, 0
            )
        );
        vault.deposit(100e6, bob);
        vm.stopPrank();
        assertEq(vault.maxMint(bob), 0);
        // Withdrawals wait too: no exit at a stale NAV (docs/security.md).
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxWithdraw.selector, alice, 100e6, 0
            )
        );
        vault.withdraw(100e6, alice, alice);
    }

    function test_deposit_AllowedWhenOracleStaleAndBookEmpty() public {
        vm.warp(block.timestamp + 2 days);
        _deposit(alice, 1000e6);
        assertEq(vault.totalAssets(), 1000e6);
        assertEq(vault.maxDeposit(alice), type(uint256).max);
    }

    function test_withdraw_RevertWhen_AboveFreeQuote() public {
        _deposit(alice, 2000e6);
        _writeCall(1e18); // locks 1000e6; free = 1000e6 + premium
        uint256 free = vault.quoteBalance() - 1000e6;
        assertEq(vault.lockedCollateral(), 1000e6);
        assertEq(vault.freeQuote(), free);
        assertEq(vault.maxWithdraw(alice), free);
        uint256 snap = vm.snapshotState();
        vm.prank(alice);
        vault.withdraw(free, alice, alice);
        assertEq(vault.quoteBalance(), vault.lockedCollateral(), "withdrew every free unit");
        vm.revertToState(snap);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxWithdraw.selector, alice, free + 1, free
            )
        );
        vault.withdraw(free + 1, alice, alice);
    }

    function test_maxRedeem_LimitedToFreeQuote() public {
        _deposit(alice, 2000e6);
        _writeCall(1e18);
        uint256 maxShares = vault.maxRedeem(alice);
        assertLt(maxShares, vault.balanceOf(alice));
        assertLe(vault.previewRedeem(maxShares), vault.freeQuote());
        vm.prank(alice);
        vault.redeem(maxShares, alice, alice);
        assertGe(vault.quoteBalance(), vault.lockedCollateral() + vault.settledUnpaid());
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ERC4626Upgradeable.ERC4626ExceededMaxRedeem.selector,
                alice,
                1e12,
                vault.maxRedeem(alice)
            )
        );
        vault.redeem(1e12, alice, alice);
    }

    function test_donation_DoesNotMoveSharePrice() public {
        _deposit(alice, 1000e6);
        _writeCall(1e18);
        uint256 before = vault.convertToAssets(1e18);
        uint256 ta = vault.totalAssets();
        usdc.mint(address(vault), 1_000_000e6);
        weth.mint(address(vault), 100e18);
        assertEq(vault.convertToAssets(1e18), before);
        assertEq(vault.totalAssets(), ta);
        assertEq(vault.hedgeInventory(), 0);
    }

    function test_totalAssets_SubtractsOptionValueAndAddsInventory() public {
        _deposit(alice, 10_000e6);
        _writeCall(2e18);
        uint256 optVal = vault.optionsValue();
        BlackScholes.Greeks memory g =
            BlackScholes.capped(true, 3000e8, 3000e8, 1000e8, 0.8e18, 30 days);
        assertEq(optVal, (2 * uint256(g.price) + 1e12 - 1) / 1e12, "2 contracts, rounded up");
        assertEq(vault.totalAssets(), vault.quoteBalance() - optVal);
    }

    function test_totalAssets_FullyLockedBookLeavesFreeQuote() public {
        _deposit(alice, 1000e6);
        _write(CALL, 1000e8, 1000e8, uint64(block.timestamp + 1 days), 1e18, 1);
        _setPrice(100_000e8); // deep in the money: worth its whole cap
        assertEq(vault.optionsValue(), 1000e6);
        assertEq(
            vault.totalAssets(),
            vault.quoteBalance() - 1000e6,
            "quote - locked: the collateral rule keeps NAV >= 0"
        );
    }

    function test_totalAssets_UsesLastGoodPriceWhenAnswerInvalid() public {
        _deposit(alice, 1000e6);
        _writeCall(1e18);
        uint256 ta = vault.totalAssets();
        feed.updateAnswer(-5);
        assertEq(vault.valuationPrice(), uint256(PRICE));
        assertEq(vault.totalAssets(), ta);
    }

    // ================================================================ writeOption

    /// @dev A quote signed by the buyer with its premium at the vault's lower bound.
    function _signed(
        IOptionVault.OptionType t,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size
    ) internal returns (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) {
        (premium,) = _bounds(t, strike, cap, expiry, size);
        _fundBuyer(premium);
        q = _quote(t, strike, cap, expiry, size, premium);
        sig = _sign(q, buyerKey);
    }

    /// @dev Terms for the field checks (they run before consent and pricing).
    function _terms(address b, uint256 strike, uint256 cap, uint64 exp, uint256 size)
        internal
        view
        returns (IOptionVault.Quote memory q)
    {
        q = _quote(CALL, strike, cap, exp, size, 1e6);
        q.buyer = b;
    }

    function test_writeOption_RecordsSeriesAndMintsClaims() public {
        _deposit(alice, 5000e6);
        uint64 expiry = uint64(block.timestamp + 7 days);
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
            _signed(CALL, 3200e8, 500e8, expiry, 3e18);
        vm.expectEmit(address(vault));
        emit IOptionVault.OptionWritten(1, buyer, CALL, 3200e8, 500e8, expiry, 3e18, premium);
        vm.prank(desk);
        uint256 id = vault.writeOption(q, premium, sig);
        assertEq(id, 1);
        assertEq(claims.balanceOf(buyer, 1), 3e18);
        assertEq(usdc.balanceOf(buyer), 0);
        assertEq(vault.quoteBalance(), 5000e6 + premium);
        assertEq(vault.lockedCollateral(), 1500e6);
        assertEq(vault.nonces(buyer), 1, "the signed quote used up its nonce");
        IOptionVault.Series memory s = vault.series(1);
        assertEq(s.strike, 3200e8);
        assertEq(s.cap, 500e8);
        assertEq(s.expiry, expiry);
        assertEq(s.size, 3e18);
        assertFalse(s.settled);
        assertEq(vault.openSeries().length, 1);
    }

    function test_writeOption_PutCapAboveStrikeLocksStrike() public {
        _deposit(alice, 5000e6);
        _write(PUT, 2800e8, 5000e8, uint64(block.timestamp + 7 days), 1e18, 10e6);
        assertEq(vault.lockedCollateral(), 2800e6, "a put pays at most its strike");
    }

    function test_writeOption_RevertWhen_NotDesk() public {
        bytes32 role = vault.DESK_ROLE();
        IOptionVault.Quote memory q =
            _terms(alice, 3000e8, 100e8, uint64(block.timestamp + 1 days), 1e18);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role
            )
        );
        vault.writeOption(q, 1e6, "");
    }

    function test_writeOption_RevertWhen_Paused() public {
        vm.prank(pauser);
        vault.pause();
        IOptionVault.Quote memory q =
            _terms(desk, 3000e8, 100e8, uint64(block.timestamp + 1 days), 1e18);
        vm.prank(desk);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vault.writeOption(q, 1e6, "");
    }

    function _expectInvalid(bytes32 field, uint256 value) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidSeries.selector, field, value)
        );
    }

    function test_writeOption_RevertWhen_FieldsInvalid() public {
        uint64 exp = uint64(block.timestamp + 1 days);
        IOptionVault.Quote[] memory qs = new IOptionVault.Quote[](10);
        qs[0] = _terms(address(0), 3000e8, 100e8, exp, 1e18);
        qs[1] = _terms(buyer, 0, 100e8, exp, 1e18);
        qs[2] = _terms(buyer, 1e16 + 1, 100e8, exp, 1e18);
        qs[3] = _terms(buyer, 3000e8, 1e16 + 1, exp, 1e18);
        qs[4] = _terms(buyer, 3000e8, 100e8, exp, 1e27 + 1);
        qs[5] = _terms(buyer, 3000e8, 0, exp, 1e18);
        qs[6] = _terms(buyer, 3000e8, 100e8, uint64(block.timestamp), 1e18);
        qs[7] = _terms(buyer, 3000e8, 100e8, uint64(block.timestamp + 731 days), 1e18);
        qs[8] = _terms(buyer, 3000e8, 100e8, exp, 0);
        qs[9] = _terms(buyer, 3000e8, 100e8, exp, 1e18);
        vm.startPrank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("buyer"))
        );
        vault.writeOption(qs[0], 1e6, "");
        _expectInvalid("strike", 0);
        vault.writeOption(qs[1], 1e6, "");
        _expectInvalid("strike", 1e16 + 1);
        vault.writeOption(qs[2], 1e6, "");
        _expectInvalid("cap", 1e16 + 1);
        vault.writeOption(qs[3], 1e6, "");
        _expectInvalid("size", 1e27 + 1);
        vault.writeOption(qs[4], 1e6, "");
        _expectInvalid("cap", 0);
        vault.writeOption(qs[5], 1e6, "");
        _expectInvalid("expiry", block.timestamp);
        vault.writeOption(qs[6], 1e6, "");
        _expectInvalid("expiry", block.timestamp + 731 days);
        vault.writeOption(qs[7], 1e6, "");
        _expectInvalid("size", 0);
        vault.writeOption(qs[8], 1e6, "");
        _expectInvalid("premium", 0);
        vault.writeOption(qs[9], 0, "");
        vm.stopPrank();
    }

    function test_writeOption_RevertWhen_Duplicate() public {
        _deposit(alice, 5000e6);
        uint256 id = _writeCall(1e18);
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
            _signed(CALL, 3000e8, 1000e8, uint64(block.timestamp + 30 days), 1e18);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultDuplicateSeries.selector, id)
        );
        vault.writeOption(q, premium, sig);
    }

    function test_writeOption_RevertWhen_TooManySeries() public {
        _deposit(alice, 100_000e6);
        for (uint256 i = 0; i < 16; i++) {
            _write(CALL, 3000e8 + i * 1e8, 100e8, uint64(block.timestamp + 1 days), 1e18, 1e6);
        }
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
            _signed(CALL, 3000e8, 200e8, uint64(block.timestamp + 1 days), 1e18);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultTooManySeries.selector, 16, 16)
        );
        vault.writeOption(q, premium, sig);
    }

    /// @dev The open ids are packed 8 a word with no length slot: every write and settle, in
    ///      any order and across the word boundary, must leave exactly the model's set open.
    function testFuzz_openSeries_PackedIdsFollowWritesAndSettles(uint256 seed) public {
        _deposit(alice, 1_000_000e6);
        uint256 n = bound(seed, 1, 16);
        uint256[] memory model = new uint256[](16);
        uint256 open;
        uint64 exp = uint64(block.timestamp + 1 days);
        for (uint256 i = 0; i < n; i++) {
            model[open++] = _write(CALL, 3000e8 + i * 1e8, 100e8, exp, 1e18, 1e6);
            _assertOpen(model, open);
        }
        vm.warp(exp);
        _setPrice(PRICE);
        // Settle a seeded number of them in a seeded order, refilling after each.
        uint256 rounds = bound(seed >> 8, 1, n);
        for (uint256 r = 0; r < rounds; r++) {
            uint256 k = uint256(keccak256(abi.encode(seed, r))) % open;
            uint256 id = model[k];
            if (vault.series(id).expiry <= block.timestamp) {
                _settle(id);
                model[k] = model[--open];
                _assertOpen(model, open);
            }
            uint64 later = uint64(block.timestamp + 1 days);
            if (open == 16) {
                (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
                    _signed(CALL, 3000e8 + (20 + r) * 1e8, 100e8, later, 1e18);
                vm.prank(desk);
                vm.expectRevert(
                    abi.encodeWithSelector(IOptionVault.OptionVaultTooManySeries.selector, 16, 16)
                );
                vault.writeOption(q, premium, sig);
                continue;
            }
            model[open++] = _write(CALL, 3000e8 + (20 + r) * 1e8, 100e8, later, 1e18, 1e6);
            _assertOpen(model, open);
        }
    }

    function _assertOpen(uint256[] memory model, uint256 open) internal view {
        IOptionVault.Series[] memory s = vault.openSeries();
        assertEq(s.length, open, "open count");
        for (uint256 i = 0; i < open; i++) {
            bool found;
            for (uint256 j = 0; j < open; j++) {
                if (s[j].id == model[i]) found = true;
            }
            assertTrue(found, "open id missing");
        }
    }

    function test_writeOption_RevertWhen_InsufficientCollateral() public {
        _deposit(alice, 500e6);
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
            _signed(CALL, 3000e8, 1000e8, uint64(block.timestamp + 1 days), 1e18);
        uint256 available = 500e6 + premium;
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultInsufficientCollateral.selector, 1000e6, available
            )
        );
        vault.writeOption(q, premium, sig);
        // Hedge inventory never counts: the same write with 100 WETH donated still fails.
        weth.mint(address(vault), 100e18);
        vm.prank(desk);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultInsufficientCollateral.selector, 1000e6, available
            )
        );
        vault.writeOption(q, premium, sig);
        assertEq(vault.lockedCollateral(), 0, "no funds moved");
        assertEq(usdc.balanceOf(buyer), premium);
    }

    function test_writeOption_RevertWhen_PremiumNotPaid() public {
        _deposit(alice, 5000e6);
        (IOptionVault.Quote memory q, uint256 premium, bytes memory sig) =
            _signed(CALL, 3000e8, 100e8, uint64(block.timestamp + 1 days), 1e18);
        vm.prank(buyer);
        usdc.approve(address(vault), 0); // held but not approved
        vm.prank(desk);
        vm.expectRevert(); // the token's own allowance error
        vault.writeOption(q, premium, sig);
        assertEq(vault.openSeries().length, 0);
    }

    // ================================================================ settle / redeemClaims

    function test_settle_CallPaysCappedIntrinsic() public {
        _deposit(alice, 5000e6);
        uint256 id = _write(CALL, 3000e8, 500e8, uint64(block.timestamp + 1 days), 2e18, 50e6);
        vm.warp(block.timestamp + 1 days);
        _setPrice(3800e8); // intrinsic 800, capped at 500
        vm.expectEmit(address(vault));
        emit IOptionVault.SeriesSettled(id, 3800e8, 500e6);
        uint256 payout = _settle(id);
        assertEq(payout, 500e6);
        assertEq(vault.lockedCollateral(), 0);
        assertEq(vault.settledUnpaid(), 1000e6);
        assertEq(vault.openSeries().length, 0);
        assertTrue(vault.series(id).settled);
    }

    function test_settle_PutOutOfTheMoneyPaysZero() public {
        _deposit(alice, 5000e6);
        uint256 id = _write(PUT, 2500e8, 500e8, uint64(block.timestamp + 1 days), 1e18, 10e6);
        vm.warp(block.timestamp + 2 days);
        _setPrice(3100e8);
        assertEq(_settle(id), 0);
        assertEq(vault.settledUnpaid(), 0);
    }

    function test_settle_WorksWhenPaused() public {
        _deposit(alice, 5000e6);
        uint256 id = _write(PUT, 3500e8, 500e8, uint64(block.timestamp + 1 days), 1e18, 10e6);
        vm.prank(pauser);
        vault.pause();
        vm.warp(block.timestamp + 1 days);
        _setPrice(3300e8);
        assertEq(_settle(id), 200e6);
        vm.prank(buyer);
        assertEq(vault.redeemClaims(id, 1e18), 200e6);
    }

    function test_settle_RevertWhen_UnknownNotExpiredOrSettled() public {
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultUnknownSeries.selector, 7));
        vault.settle(7, 1);
        _deposit(alice, 5000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        uint256 id = _write(CALL, 3000e8, 500e8, exp, 1e18, 50e6);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultNotExpired.selector, id, exp)
        );
        vault.settle(id, 1);
        vm.warp(exp);
        _setPrice(PRICE);
        _settle(id);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultAlreadySettled.selector, id));
        vault.settle(id, 1);
    }

    function test_settle_RevertWhen_FallbackOracleUnhealthy() public {
        _deposit(alice, 5000e6);
        uint256 id = _writeCall(1e18);
        vm.warp(block.timestamp + 30 days + 1 days);
        (,,, uint256 updatedAt,) = feed.latestRoundData();
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, updatedAt, 1 hours)
        );
        vault.settle(id, 0);
        // The first round after expiry answers 0: past the grace it falls back to the current
        // price, which is that 0.
        feed.updateAnswer(0);
        uint80 expiryRound = uint80(feed.latestRound());
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, int256(0))
        );
        vault.settle(id, expiryRound);
    }

    function test_redeemClaims_PaysHolderAndReleasesLiability() public {
        _deposit(alice, 5000e6);
        uint256 id = _write(CALL, 3000e8, 500e8, uint64(block.timestamp + 1 days), 2e18, 50e6);
        uint256 quoteAfterWrite = vault.quoteBalance();
        vm.warp(block.timestamp + 1 days);
        _setPrice(3250e8);
        _settle(id);
        vm.prank(buyer);
        claims.safeTransferFrom(buyer, bob, id, 0.5e18, "");
        vm.prank(bob);
        vm.expectEmit(address(vault));
        emit IOptionVault.ClaimsRedeemed(id, bob, 0.5e18, 125e6);
        uint256 paid = vault.redeemClaims(id, 0.5e18);
        assertEq(paid, 125e6);
        assertEq(usdc.balanceOf(bob), 125e6);
        assertEq(vault.settledUnpaid(), 375e6);
        vm.prank(buyer);
        vault.redeemClaims(id, 1.5e18);
        assertEq(vault.settledUnpaid(), 0);
        assertEq(vault.series(id).size, 0);
        assertEq(vault.quoteBalance(), quoteAfterWrite - 500e6);
    }

    function test_redeemClaims_RevertWhen_Invalid() public {
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultZeroAmount.selector));
        vault.redeemClaims(1, 0);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultUnknownSeries.selector, 1));
        vault.redeemClaims(1, 1);
        _deposit(alice, 5000e6);
        uint256 id = _writeCall(1e18);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultNotSettled.selector, id));
        vault.redeemClaims(id, 1e18);
        vm.warp(block.timestamp + 30 days);
        _setPrice(3100e8);
        _settle(id);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC1155Errors.ERC1155InsufficientBalance.selector, bob, 0, 1, id
            )
        );
        vault.redeemClaims(id, 1);
    }

    function testFuzz_redeemClaims_PartialRedemptionsNeverOverpay(
        uint256 size,
        uint256 price,
        uint256 cut
    ) public {
        size = bound(size, 1e12, 50e18);
        price = bound(price, 3000e8, 4000e8);
        _deposit(alice, 100_000e6);
        uint256 id = _write(CALL, 3000e8, 777_77777777, uint64(block.timestamp + 1 days), size, 1e6);
        vm.warp(block.timestamp + 1 days);
        _setPrice(int256(price));
        _settle(id);
        uint256 owed = vault.settledUnpaid();
        cut = bound(cut, 1, size);
        uint256 paid;
        vm.startPrank(buyer);
        paid += vault.redeemClaims(id, cut);
        assertGe(vault.quoteBalance(), vault.settledUnpaid(), "collateral rule");
        if (size > cut) paid += vault.redeemClaims(id, size - cut);
        vm.stopPrank();
        assertLe(paid, owed, "never pays more than the recorded liability");
        assertEq(vault.settledUnpaid(), 0, "fully redeemed: liability gone");
    }

    // ================================================================ views

    function test_netDelta_IsInventoryMinusOptionDeltas() public {
        _deposit(alice, 20_000e6);
        uint256 a = _writeCall(2e18);
        uint256 b = _write(PUT, 2800e8, 600e8, uint64(block.timestamp + 10 days), 3e18, 30e6);
        (int256 da,,) = vault.seriesGreeks(a);
        (int256 db,,) = vault.seriesGreeks(b);
        int256 expected = -(2 * da + 3 * db);
        assertApproxEqAbs(vault.netDelta(), expected, 2);
        assertGt(da, 0);
        assertLt(db, 0);
    }

    function test_seriesGreeks_MatchLibrary() public {
        _deposit(alice, 20_000e6);
        uint256 id = _writeCall(1e18);
        (int256 d, int256 g, int256 v) = vault.seriesGreeks(id);
        BlackScholes.Greeks memory r =
            BlackScholes.capped(true, 3000e8, 3000e8, 1000e8, 0.8e18, 30 days);
        assertEq(d, r.delta);
        assertEq(g, r.gamma);
        assertEq(v, r.vega);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultUnknownSeries.selector, 99));
        vault.seriesGreeks(99);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultUnknownSeries.selector, 99));
        vault.series(99);
    }

    function test_seriesGreeks_PutsDecodeLikeTheLibrary() public {
        _deposit(alice, 20_000e6);
        uint64 exp = uint64(block.timestamp + 9 days);
        uint256 spread = _write(PUT, 3100e8, 400e8, exp, 1e18, 10e6); // cap < strike: a spread
        uint256 plain = _write(PUT, 2500e8, 9000e8, exp, 1e18, 10e6); // cap >= strike: plain put
        (int256 d, int256 g, int256 v) = vault.seriesGreeks(spread);
        BlackScholes.Greeks memory r =
            BlackScholes.capped(false, 3000e8, 3100e8, 400e8, 0.8e18, 9 days);
        assertEq(d, r.delta);
        assertEq(g, r.gamma);
        assertEq(v, r.vega);
        (d, g, v) = vault.seriesGreeks(plain);
        r = BlackScholes.vanilla(false, 3000e8, 2500e8, 0.8e18, 9 days);
        assertEq(d, r.delta);
        assertEq(g, r.gamma);
        assertEq(v, r.vega);
        assertLt(d, 0);
    }

    function test_totalAssets_WorksWhenOracleReverts() public {
        _deposit(alice, 1000e6);
        _writeCall(1e18);
        uint256 ta = vault.totalAssets();
        vm.mockCallRevert(address(feed), abi.encodeWithSignature("latestRoundData()"), "down");
        assertEq(vault.valuationPrice(), uint256(PRICE), "last good price");
        assertEq(vault.totalAssets(), ta);
        assertEq(vault.maxWithdraw(alice), 0, "exits wait for a healthy oracle, never revert");
        assertEq(vault.maxDeposit(alice), 0);
    }

    function test_pricer_IsSharedByClones() public {
        vm.prank(admin);
        (address v2,) = factory.createVault(_params());
        assertEq(OptionVault(v2).pricer(), vault.pricer());
        assertTrue(vault.pricer().code.length > 0);
    }

    // ================================================================ rebalance

    /// @dev Book: 4 call series of 5 contracts each, deposit 100k: net delta ~ -8 or so.
    function _bookOfFour() internal {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 30 days);
        _write(CALL, 2800e8, 1000e8, exp, 5e18, 500e6);
        _write(CALL, 3000e8, 1000e8, exp, 5e18, 400e6);
        _write(CALL, 3200e8, 1000e8, exp + 7 days, 5e18, 300e6);
        _write(PUT, 2900e8, 1000e8, exp + 7 days, 5e18, 300e6);
    }

    function test_rebalance_BandTriggerBuysTowardTarget() public {
        _bookOfFour();
        int256 before = vault.netDelta();
        assertLt(before, -0.5e18);
        (bool ok, bytes memory data) = vault.rebalanceTrigger();
        assertTrue(ok);
        assertEq(uint8(abi.decode(data, (IOptionVault.Trigger))), uint8(IOptionVault.Trigger.Band));
        uint256 q0 = vault.quoteBalance();
        vm.prank(keeper);
        (int256 db, int256 da) = vault.rebalance();
        assertEq(db, before);
        uint256 inv = vault.hedgeInventory();
        assertEq(da, before + int256(inv));
        assertApproxEqAbs(da, 0, 1e10, "bought the whole gap at the oracle price");
        assertEq(vault.quoteBalance(), q0 - venue.lastAmountIn());
        assertEq(vault.lastRebalance(), block.timestamp);
        assertEq(usdc.allowance(address(vault), address(venue)), 0, "approval reset");
        assertEq(weth.balanceOf(address(vault)), inv);
    }

    /// @dev Gas of `rebalance` with 4 open series: the first one (fresh inventory and
    ///      lastRebalance slots) and a steady-state one (a sell after a price move). The mock
    ///      venue's own bookkeeping is switched off; a real venue adds its swap cost.
    function test_rebalance_GasSingleVaultFourSeries() public {
        _bookOfFour();
        venue.setRecord(false);
        _coolAll();
        vm.prank(keeper);
        uint256 g = gasleft();
        vault.rebalance();
        g -= gasleft();
        console2.log("rebalance gas, 4 series, first (buy):", g);
        _warp(2 hours);
        _setPrice(2800e8);
        _coolAll();
        vm.prank(keeper);
        uint256 g2 = gasleft();
        vault.rebalance();
        g2 -= gasleft();
        console2.log("rebalance gas, 4 series, steady state (sell):", g2);
        assertLe(g2, 250_000, "target <= 250k (steady state)");
        assertLe(g, 300_000, "first rebalance pays for fresh storage slots");
    }

    /// @dev Every contract a rebalance touches starts cold, as in a real transaction.
    function _coolAll() internal {
        vm.cool(address(vault));
        vm.cool(address(vaultImpl));
        vm.cool(address(usdc));
        vm.cool(address(weth));
        vm.cool(address(feed));
        vm.cool(address(seqFeed));
        vm.cool(address(venue));
        vm.cool(vault.pricer());
    }

    function test_rebalance_EmitsRebalanced() public {
        _bookOfFour();
        int256 before = vault.netDelta();
        uint256 want = uint256(-before);
        uint256 quoteIn = want * uint256(PRICE) / 1e20;
        uint256 out = quoteIn * 1e20 / uint256(PRICE);
        vm.expectEmit(address(vault));
        emit IOptionVault.Rebalanced(
            before, before + int256(out), quoteIn, out, uint256(PRICE), IOptionVault.Trigger.Band
        );
        vm.prank(keeper);
        vault.rebalance();
    }

    function test_rebalance_SellsWhenAboveTarget() public {
        _bookOfFour();
        vm.prank(keeper);
        vault.rebalance();
        uint256 inv = vault.hedgeInventory();
        vm.prank(admin);
        vault.setTargetDelta(-3e18);
        vm.warp(block.timestamp + 60);
        _setPrice(PRICE);
        int256 before = vault.netDelta();
        uint256 q0 = vault.quoteBalance();
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertApproxEqAbs(da, -3e18, 1e10);
        uint256 sold = inv - vault.hedgeInventory();
        assertEq(int256(sold), before - da);
        assertEq(vault.quoteBalance() - q0, sold * uint256(PRICE) / 1e20);
        assertEq(weth.allowance(address(vault), address(venue)), 0);
    }

    function test_rebalance_ClampsToMaxTrade() public {
        _bookOfFour();
        vm.prank(admin);
        vault.setMaxTrade(1e18);
        int256 before = vault.netDelta();
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertEq(venue.lastAmountIn(), uint256(PRICE) / 100, "1 underlying of quote");
        assertEq(da - before, 1e18);
    }

    function test_rebalance_SellClampedToInventory() public {
        _deposit(alice, 100_000e6);
        vm.prank(admin);
        vault.setTargetDelta(2e18);
        vm.prank(keeper);
        vault.rebalance(); // buys 2
        assertEq(vault.hedgeInventory(), 2e18);
        vm.prank(admin);
        vault.setTargetDelta(-5e18);
        _warp(60);
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertEq(vault.hedgeInventory(), 0, "a spot venue cannot short");
        assertEq(da, 0);
    }

    function test_rebalance_BuyClampedByFreeQuote() public {
        _deposit(alice, 1_000e6);
        _write(CALL, 3000e8, 100e8, uint64(block.timestamp + 30 days), 9e18, 50e6);
        // locked 900, free 100 + premium; wants ~ 3 underlying = 9000 quote.
        uint256 free = vault.freeQuote();
        vm.prank(keeper);
        vault.rebalance();
        assertEq(venue.lastAmountIn(), free);
        assertEq(vault.freeQuote(), 0);
        assertGe(vault.quoteBalance(), vault.lockedCollateral());
    }

    function test_rebalance_RevertWhen_NoTradePossible() public {
        uint64 exp = uint64(block.timestamp + 30 days);
        (uint256 lo,) = _bounds(CALL, 3000e8, 100e8, exp, 9e18);
        _deposit(alice, 900e6 - lo); // premium + deposit = the lock exactly
        _write(CALL, 3000e8, 100e8, exp, 9e18, lo);
        int256 net = vault.netDelta();
        assertEq(vault.freeQuote(), 0);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, -net)
        );
        vault.rebalance();
        (bool ok,) = vault.rebalanceTrigger();
        assertFalse(ok);
    }

    function test_rebalance_RevertWhen_WithinBand() public {
        _deposit(alice, 1000e6);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultWithinBand.selector, 0, 0, 0.5e18)
        );
        vault.rebalance();
    }

    function test_rebalance_TimeTrigger() public {
        _deposit(alice, 10_000e6);
        vm.prank(admin);
        vault.setTargetDelta(0.3e18); // inside the band
        (bool ok, bytes memory data) = vault.rebalanceTrigger();
        assertTrue(ok, "never rebalanced: time trigger due");
        assertEq(uint8(abi.decode(data, (IOptionVault.Trigger))), uint8(IOptionVault.Trigger.Time));
        vm.prank(keeper);
        vault.rebalance();
        vm.prank(admin);
        vault.setTargetDelta(0.6e18);
        _warp(1 hours);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultWithinBand.selector, 0.3e18, 0.6e18, 0.5e18
            )
        );
        vault.rebalance();
        _warp(1 days);
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        assertEq(da, 0.6e18);
    }

    function test_rebalance_RevertWhen_TooSoon() public {
        _bookOfFour();
        vm.prank(keeper);
        vault.rebalance();
        _setPrice(3500e8);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultTooSoon.selector, block.timestamp, 60)
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_OracleStale() public {
        _bookOfFour();
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, T0, 1 hours)
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_OracleRoundFromTheFuture() public {
        _bookOfFour();
        // A round dated after the block is no fresher than a stale one: a broken feed.
        uint256 future = block.timestamp + 1;
        feed.updateRoundData(uint80(feed.latestRound() + 1), int256(PRICE), future, future);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultStaleOracle.selector, future, 1 hours)
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_PriceNotPositive() public {
        _bookOfFour();
        feed.updateAnswer(-1);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, int256(-1))
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_SequencerDown() public {
        _bookOfFour();
        seqFeed.updateRoundData(2, 1, block.timestamp, block.timestamp);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IOptionVault.OptionVaultSequencerDown.selector));
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_SequencerInGracePeriod() public {
        _bookOfFour();
        uint256 up = block.timestamp - 10 minutes;
        seqFeed.updateRoundData(2, 0, up, up);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOptionVault.OptionVaultSequencerGracePeriod.selector, up, 1 hours
            )
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_PoolAwayFromOracle() public {
        _bookOfFour();
        venue.setPrices(3000e8, 3016e8); // 0.53% > 0.5%
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultOracleGap.selector, 3016e8, 3000e8, 50)
        );
        vault.rebalance();
        venue.setPrices(3000e8, 3015e8); // exactly 0.5%: allowed
        vm.prank(keeper);
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_VenueBelowMinOut() public {
        _bookOfFour();
        venue.setOutputBps(9_900); // 1% short, slippage bound 0.5%
        vm.prank(keeper);
        vm.expectPartialRevert(IHedgeVenue.HedgeVenueInsufficientOutput.selector);
        vault.rebalance();
        assertEq(vault.hedgeInventory(), 0, "no funds moved");
    }

    function test_rebalance_RevertWhen_VenueMisreportsOutput() public {
        _bookOfFour();
        venue.setOutputBps(9_900); // delivers 1% short ...
        venue.setLieBps(10_102); // ... but reports enough
        vm.prank(keeper);
        vm.expectPartialRevert(IOptionVault.OptionVaultInsufficientOutput.selector);
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_Paused() public {
        _bookOfFour();
        vm.prank(pauser);
        vault.pause();
        (bool ok,) = vault.rebalanceTrigger();
        assertFalse(ok);
        assertEq(vault.rebalanceBlocker(), abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vault.rebalance();
        vm.prank(pauser);
        vault.unpause();
        vm.prank(keeper);
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_NotKeeper() public {
        _bookOfFour();
        bytes32 role = vault.KEEPER_ROLE();
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role
            )
        );
        vault.rebalance();
    }

    function test_rebalance_RevertWhen_VenueReenters() public {
        _bookOfFour();
        usdc.mint(address(venue), 1e6);
        venue.setReenter(address(vault), abi.encodeCall(vault.deposit, (1e6, address(venue))));
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        vault.rebalance();
    }

    function test_performUpkeep_MirrorsRebalance() public {
        _bookOfFour();
        (bool needed, bytes memory data) = vault.checkUpkeep("");
        (bool ok, bytes memory data2) = vault.rebalanceTrigger();
        assertEq(needed, ok);
        assertEq(data, data2);
        vm.prank(keeper);
        vault.performUpkeep(data);
        assertGt(vault.hedgeInventory(), 0);
        (needed,) = vault.checkUpkeep("");
        assertFalse(needed);
        vm.prank(keeper);
        vm.expectPartialRevert(IOptionVault.OptionVaultTooSoon.selector);
        vault.performUpkeep("");
        vm.prank(alice);
        vm.expectPartialRevert(IAccessControl.AccessControlUnauthorizedAccount.selector);
        vault.performUpkeep("");
    }

    /// @dev The trigger view and rebalance agree in every state the fuzzer reaches.
    function testFuzz_rebalanceTrigger_AgreesWithRebalance(
        uint256 price,
        uint256 band,
        uint256 dt,
        uint256 gapBps,
        bool stale,
        bool paused_
    ) public {
        _bookOfFour();
        vm.prank(keeper);
        vault.rebalance();
        band = bound(band, 1e12, 5e18);
        vm.prank(admin);
        vault.setBand(band);
        dt = bound(dt, 0, 2 days);
        vm.warp(block.timestamp + dt);
        price = bound(price, 2000e8, 4500e8);
        feed.updateAnswer(int256(price));
        gapBps = bound(gapBps, 0, 200);
        venue.setPrices(price, price * (10_000 + gapBps) / 10_000);
        if (stale) vm.warp(block.timestamp + 1 hours + 1);
        if (paused_) {
            vm.prank(pauser);
            vault.pause();
        }
        (bool ok,) = vault.rebalanceTrigger();
        bytes memory blocker = vault.rebalanceBlocker();
        vm.prank(keeper);
        (bool success, bytes memory ret) = address(vault).call(abi.encodeCall(vault.rebalance, ()));
        assertEq(success, ok, "trigger == rebalance outcome");
        if (!success) assertEq(ret, blocker, "same reason");
    }

    function testFuzz_rebalance_TradeClampedToMaxTrade(uint256 maxTrade, uint256 size) public {
        maxTrade = bound(maxTrade, 1e12, 20e18);
        size = bound(size, 1e18, 40e18);
        _deposit(alice, 1_000_000e6);
        _write(CALL, 2500e8, 2000e8, uint64(block.timestamp + 30 days), size, 1000e6);
        vm.prank(admin);
        vault.setMaxTrade(maxTrade);
        int256 before = vault.netDelta();
        vm.prank(keeper);
        (, int256 da) = vault.rebalance();
        uint256 traded = uint256(da - before);
        uint256 want = uint256(-before);
        uint256 quoteCap = maxTrade * uint256(PRICE) / 1e20;
        assertLe(venue.lastAmountIn(), quoteCap, "never spends more than maxTrade at the oracle");
        assertLe(traded, want < maxTrade ? want : maxTrade, "never more than asked");
        assertGe(traded + 1e12, want < maxTrade ? want : maxTrade, "rounding only");
        assertEq(
            venue.lastMinOut(),
            venue.lastAmountIn() * 9950 * 1e20 / (uint256(PRICE) * 10_000),
            "oracle-derived minOut"
        );
    }

    /// @dev Holds exactly 1 underlying (net delta 1e18) and a recent rebalance, so only the band
    ///      can trigger before maxInterval.
    function _oneUnderlyingHedged() internal {
        _deposit(alice, 1_000_000e6);
        vm.prank(admin);
        vault.setTargetDelta(1e18);
        vm.prank(keeper);
        vault.rebalance();
    }

    function testFuzz_rebalance_BandTrigger(uint256 band, int256 target) public {
        _oneUnderlyingHedged();
        assertEq(vault.netDelta(), 1e18);
        band = bound(band, 1e12, 3e18);
        target = bound(target, -5e18, 5e18);
        vm.startPrank(admin);
        vault.setBand(band);
        vault.setTargetDelta(target);
        vm.stopPrank();
        _warp(120); // past minInterval, well before maxInterval
        int256 diff = target - 1e18;
        uint256 absDiff = diff >= 0 ? uint256(diff) : uint256(-diff);
        bool expected = absDiff > band;
        (bool ok, bytes memory data) = vault.rebalanceTrigger();
        assertEq(ok, expected, "band rule");
        vm.prank(keeper);
        (bool success,) = address(vault).call(abi.encodeCall(vault.rebalance, ()));
        assertEq(success, expected);
        if (expected) {
            assertEq(
                uint8(abi.decode(data, (IOptionVault.Trigger))), uint8(IOptionVault.Trigger.Band)
            );
        }
    }

    function testFuzz_rebalance_TimeTrigger(uint256 dt, uint256 offset, bool up) public {
        _oneUnderlyingHedged();
        // Inside the 0.5 band around net 1, and at least 1e-6 away: a smaller buy rounds to
        // zero quote units and is refused as OptionVaultNoTradePossible.
        offset = bound(offset, 1e12, 0.5e18);
        int256 target = up ? 1e18 + int256(offset) : 1e18 - int256(offset);
        vm.prank(admin);
        vault.setTargetDelta(target);
        dt = bound(dt, 60, 3 days);
        _warp(dt);
        bool expected = dt >= 1 days;
        (bool ok, bytes memory data) = vault.rebalanceTrigger();
        assertEq(ok, expected, "time rule");
        vm.prank(keeper);
        (bool success,) = address(vault).call(abi.encodeCall(vault.rebalance, ()));
        assertEq(success, expected);
        if (expected) {
            assertEq(
                uint8(abi.decode(data, (IOptionVault.Trigger))), uint8(IOptionVault.Trigger.Time)
            );
            // Buys are sized in whole quote units: 1e-6 USD / 3000 ~ 3.3e8 underlying wei.
            assertApproxEqAbs(vault.netDelta(), target, 1e9);
        }
    }

    // ================================================================ admin

    function test_setters_UpdateAndEmit() public {
        vm.startPrank(admin);
        vm.expectEmit(address(vault));
        emit IOptionVault.TargetDeltaUpdated(0, -2e18);
        vault.setTargetDelta(-2e18);
        vm.expectEmit(address(vault));
        emit IOptionVault.ThresholdUpdated("band", 0.5e18, 1e18);
        vault.setBand(1e18);
        vault.setMinInterval(120);
        vault.setMaxInterval(2 days);
        vault.setMaxTrade(5e18);
        vault.setMaxSlippageBps(300);
        vault.setMaxOracleGapBps(200);
        vault.setOracleHeartbeat(2 hours);
        vault.setSequencerGracePeriod(30 minutes);
        vm.expectEmit(address(vault));
        emit IOptionVault.VolatilityUpdated(0.8e18, 0.5e18);
        vault.setVolatility(0.5e18);
        vm.expectEmit(address(vault));
        emit IOptionVault.VenueUpdated(address(venue), bob);
        vault.setVenue(bob);
        vm.stopPrank();
        IOptionVault.Thresholds memory t = vault.thresholds();
        assertEq(t.targetDelta, -2e18);
        assertEq(t.band, 1e18);
        assertEq(t.minInterval, 120);
        assertEq(t.maxInterval, 2 days);
        assertEq(t.maxTrade, 5e18);
        assertEq(t.maxSlippageBps, 300);
        assertEq(t.maxOracleGapBps, 200);
        assertEq(t.oracleHeartbeat, 2 hours);
        assertEq(t.sequencerGracePeriod, 30 minutes);
        assertEq(vault.volatility(), 0.5e18);
        assertEq(vault.venue(), bob);
    }

    function _expectBounds(bytes32 name, uint256 v) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultParameterOutOfBounds.selector, name, v)
        );
    }

    function test_setters_RevertWhen_OutOfBounds() public {
        vm.startPrank(admin);
        _expectBounds("targetDelta", 1e24 + 1);
        vault.setTargetDelta(-1e24 - 1);
        _expectBounds("band", 1e24 + 1);
        vault.setBand(1e24 + 1);
        _expectBounds("minInterval", 0);
        vault.setMinInterval(0);
        _expectBounds("minInterval", 1 days + 1);
        vault.setMinInterval(1 days + 1);
        _expectBounds("maxInterval", 59);
        vault.setMaxInterval(59);
        _expectBounds("maxInterval", 30 days + 1);
        vault.setMaxInterval(30 days + 1);
        _expectBounds("maxTrade", 0);
        vault.setMaxTrade(0);
        _expectBounds("maxSlippageBps", 0);
        vault.setMaxSlippageBps(0);
        _expectBounds("maxSlippageBps", 1001);
        vault.setMaxSlippageBps(1001);
        _expectBounds("maxOracleGapBps", 1001);
        vault.setMaxOracleGapBps(1001);
        _expectBounds("oracleHeartbeat", 59);
        vault.setOracleHeartbeat(59);
        _expectBounds("sequencerGracePeriod", 1 days + 1);
        vault.setSequencerGracePeriod(1 days + 1);
        _expectBounds("volatility", 0);
        vault.setVolatility(0);
        vault.setMaxInterval(600);
        _expectBounds("minInterval", 601);
        vault.setMinInterval(601); // above max interval
        vault.setMinInterval(300);
        _expectBounds("maxInterval", 299);
        vault.setMaxInterval(299); // below min interval
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("venue"))
        );
        vault.setVenue(address(0));
        vm.stopPrank();
    }

    function test_setters_RevertWhen_NotAdmin() public {
        bytes32 role = vault.DEFAULT_ADMIN_ROLE();
        bytes memory err = abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector, desk, role
        );
        vm.startPrank(desk);
        vm.expectRevert(err);
        vault.setTargetDelta(1);
        vm.expectRevert(err);
        vault.setBand(1e18);
        vm.expectRevert(err);
        vault.setMinInterval(100);
        vm.expectRevert(err);
        vault.setMaxInterval(100);
        vm.expectRevert(err);
        vault.setMaxTrade(1e18);
        vm.expectRevert(err);
        vault.setMaxSlippageBps(10);
        vm.expectRevert(err);
        vault.setMaxOracleGapBps(10);
        vm.expectRevert(err);
        vault.setOracleHeartbeat(100);
        vm.expectRevert(err);
        vault.setSequencerGracePeriod(100);
        vm.expectRevert(err);
        vault.setVolatility(1e18);
        vm.expectRevert(err);
        vault.setVenue(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, desk, vault.PAUSER_ROLE()
            )
        );
        vault.pause();
        vm.stopPrank();
    }

    function test_pause_RevertWhen_AlreadyPausedOrNotPaused() public {
        vm.startPrank(pauser);
        vm.expectRevert(abi.encodeWithSelector(Pausable.ExpectedPause.selector));
        vault.unpause();
        vault.pause();
        assertTrue(vault.paused());
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        vault.pause();
        vm.stopPrank();
    }
}
