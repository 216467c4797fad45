// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {BookPricer} from "../../contracts/BookPricer.sol";
import {SeriesLayout} from "../../contracts/libraries/SeriesLayout.sol";

/// @notice The one definition of a stored series: every field reads back what was packed, at
///         the documented bit offsets, over the whole range the vault accepts.
contract SeriesLayoutTest is Test {
    // The vault's bounds (OptionBook constants).
    uint256 internal constant MIN_STRIKE = 1e6;
    uint256 internal constant MAX_PRICE = 1e16;
    uint256 internal constant MIN_SIZE = 1e12;
    uint256 internal constant MAX_SIZE = 1e27;

    BookPricer internal pricer;

    function setUp() public {
        pricer = new BookPricer();
    }

    function test_pack_FieldsAtDocumentedOffsets() public pure {
        (uint256 w0, uint256 w1) = SeriesLayout.pack(IOptionVault.OptionType.Put, 1, 2, 3, 4, 5, -1);
        assertEq(w0, 1 | (2 << 56) | (4 << 112) | (3 << 208) | (1 << 240));
        assertEq(w1, (5 << 64) | (uint256(type(uint96).max) << 160));
        assertEq(SeriesLayout.withSettled(0), 1 << 248);
        assertEq(SeriesLayout.withPayout(0, 7), 7);
    }

    function testFuzz_pack_RoundTrips(
        bool isPut,
        uint256 strike,
        uint256 cap,
        uint32 expiry,
        uint256 size,
        int256 lnStrike,
        int256 lnStrike2
    ) public pure {
        strike = bound(strike, MIN_STRIKE, MAX_PRICE);
        cap = bound(cap, 1, MAX_PRICE);
        size = bound(size, MIN_SIZE, MAX_SIZE);
        lnStrike = bound(lnStrike, -20e18, 20e18);
        lnStrike2 = bound(lnStrike2, -20e18, 20e18);
        IOptionVault.OptionType t =
            isPut ? IOptionVault.OptionType.Put : IOptionVault.OptionType.Call;
        (uint256 w0, uint256 w1) =
            SeriesLayout.pack(t, strike, cap, expiry, size, lnStrike, lnStrike2);
        assertEq(uint8(SeriesLayout.optionType(w0)), uint8(t));
        assertEq(SeriesLayout.isCall(w0), !isPut);
        assertEq(SeriesLayout.strike(w0), strike);
        assertEq(SeriesLayout.cap(w0), cap);
        assertEq(SeriesLayout.expiry(w0), expiry);
        assertEq(SeriesLayout.size(w0), size);
        assertFalse(SeriesLayout.settled(w0));
        assertEq(SeriesLayout.payout(w1), 0);
        assertEq(SeriesLayout.lnStrike(w1), lnStrike);
        assertEq(SeriesLayout.lnStrike2(w1), lnStrike2);
    }

    /// @dev Settlement and redemption change one field each and leave the rest as they were.
    function testFuzz_updates_TouchOneFieldOnly(uint256 size, uint256 newSize, uint64 payout)
        public
        pure
    {
        size = bound(size, MIN_SIZE, MAX_SIZE);
        newSize = bound(newSize, 0, size);
        (uint256 w0, uint256 w1) =
            SeriesLayout.pack(IOptionVault.OptionType.Call, 3000e8, 1000e8, 1e9, size, -3, 4);
        uint256 settled = SeriesLayout.withSettled(w0);
        assertTrue(SeriesLayout.settled(settled));
        assertEq(settled & ~uint256(0xff << 248), w0);
        uint256 paid = SeriesLayout.withPayout(w1, payout);
        assertEq(SeriesLayout.payout(paid), payout);
        assertEq(SeriesLayout.lnStrike(paid), -3);
        assertEq(SeriesLayout.lnStrike2(paid), 4);
        uint256 resized = SeriesLayout.withSize(settled, newSize);
        assertEq(SeriesLayout.size(resized), newSize);
        assertEq(SeriesLayout.strike(resized), 3000e8);
        assertEq(SeriesLayout.cap(resized), 1000e8);
        assertEq(SeriesLayout.expiry(resized), 1e9);
        assertTrue(SeriesLayout.settled(resized));
    }

    /// @dev The strike logarithms of any strike and cap the vault accepts fit the int96 fields.
    function testFuzz_strikeLogs_FitTheirFields(bool isCall, uint256 strike, uint256 cap)
        public
        view
    {
        strike = bound(strike, MIN_STRIKE, MAX_PRICE);
        cap = bound(cap, 1, MAX_PRICE);
        (int256 ln1, int256 ln2) = pricer.strikeLogs(isCall, strike, cap);
        (, uint256 w1) = SeriesLayout.pack(IOptionVault.OptionType.Call, 1, 1, 1, 1, ln1, ln2);
        assertEq(SeriesLayout.lnStrike(w1), ln1);
        assertEq(SeriesLayout.lnStrike2(w1), ln2);
    }
}
