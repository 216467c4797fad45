// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../interfaces/IOptionVault.sol";

/// @title SeriesLayout
/// @notice The one definition of how a vault stores a series: two 256-bit words, packed and
///         read here and nowhere else. {OptionBook} keeps the words in storage and hands them
///         raw to {BookPricer}, which reads them with the same functions.
/// @dev Two words: valuation reads both (2 SLOADs per series), a rebalance's delta word 0 alone
///      (it recomputes word 1's strike logs, cheaper than their cold read); passing the raw
///      words keeps the vault's code and the pricer call's encoding small.
///
///        word 0: strike uint56 [0,56) | cap uint56 [56,112) | size uint96 [112,208)
///                | expiry uint32 [208,240) | optionType uint8 [240,248) (0 call, 1 put)
///                | settled uint8 [248,256) (0 or 1)
///        word 1: payout uint64 [0,64) | lnStrike int96 [64,160) | lnStrike2 int96 [160,256)
///
///      strike and cap are price units (1e8); size is what is still outstanding (1e18; redeemed
///      claims reduce it after settlement); payout is quote units per contract, set at
///      settlement. The strikes' logarithms (1e18, see {BlackScholes-option}) are computed once
///      at writing, so valuing the book needs one ln per call.
///
///      Nothing here checks a width: the vault's bounds make every value fit (strikes and caps
///      <= 1e16 < 2^56, sizes <= 1e27 < 2^96, payouts <= cap / 100 < 2^64, |ln| of a 0.01..2e8
///      USD strike < 20e18 < 2^95, expiries < 2^32).
library SeriesLayout {
    // Word 0.
    uint256 internal constant STRIKE_SHIFT = 0;
    uint256 internal constant CAP_SHIFT = 56;
    uint256 internal constant SIZE_SHIFT = 112;
    uint256 internal constant EXPIRY_SHIFT = 208;
    uint256 internal constant TYPE_SHIFT = 240;
    uint256 internal constant SETTLED_SHIFT = 248;
    // Word 1.
    uint256 internal constant PAYOUT_SHIFT = 0;
    uint256 internal constant LN_STRIKE_SHIFT = 64;
    uint256 internal constant LN_STRIKE2_SHIFT = 160;

    // Field widths, as masks.
    uint256 internal constant PRICE_MASK = type(uint56).max; // strike, cap
    uint256 internal constant SIZE_MASK = type(uint96).max;
    uint256 internal constant EXPIRY_MASK = type(uint32).max;
    uint256 internal constant FLAG_MASK = type(uint8).max; // optionType, settled
    uint256 internal constant PAYOUT_MASK = type(uint64).max;
    uint256 internal constant LN_MASK = type(uint96).max; // lnStrike, lnStrike2 (int96)

    // ------------------------------------------------------------------ write

    /// @notice The two words of a newly written (unsettled, unpaid) series.
    function pack(
        IOptionVault.OptionType optionType_,
        uint256 strike_,
        uint256 cap_,
        uint256 expiry_,
        uint256 size_,
        int256 lnStrike_,
        int256 lnStrike2_
    ) internal pure returns (uint256 w0, uint256 w1) {
        w0 = (strike_ << STRIKE_SHIFT) | (cap_ << CAP_SHIFT) | (size_ << SIZE_SHIFT)
            | (expiry_ << EXPIRY_SHIFT) | (uint256(optionType_) << TYPE_SHIFT);
        // Two's complement truncated to 96 bits; `lnStrike` sign-extends it back.
        // forge-lint: disable-next-line(unsafe-typecast) -- reinterprets the bits, masked below
        w1 = ((uint256(lnStrike_) & LN_MASK) << LN_STRIKE_SHIFT)
            // forge-lint: disable-next-line(unsafe-typecast) -- reinterprets the bits, masked here
            | ((uint256(lnStrike2_) & LN_MASK) << LN_STRIKE2_SHIFT);
    }

    /// @notice Word 0 with `size` replaced.
    function withSize(uint256 w0, uint256 size_) internal pure returns (uint256) {
        return (w0 & ~(SIZE_MASK << SIZE_SHIFT)) | (size_ << SIZE_SHIFT);
    }

    /// @notice Word 0 marked settled.
    function withSettled(uint256 w0) internal pure returns (uint256) {
        // forge-lint: disable-next-line(incorrect-shift) -- 1 in the settled field
        return w0 | (1 << SETTLED_SHIFT);
    }

    /// @notice Word 1 with `payout` replaced.
    function withPayout(uint256 w1, uint256 payout_) internal pure returns (uint256) {
        return (w1 & ~(PAYOUT_MASK << PAYOUT_SHIFT)) | (payout_ << PAYOUT_SHIFT);
    }

    // ------------------------------------------------------------------ read

    function strike(uint256 w0) internal pure returns (uint256) {
        return (w0 >> STRIKE_SHIFT) & PRICE_MASK;
    }

    function cap(uint256 w0) internal pure returns (uint256) {
        return (w0 >> CAP_SHIFT) & PRICE_MASK;
    }

    function size(uint256 w0) internal pure returns (uint256) {
        return (w0 >> SIZE_SHIFT) & SIZE_MASK;
    }

    /// @notice The expiry timestamp; 0 for an id never written.
    function expiry(uint256 w0) internal pure returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast) -- masked to 32 bits
        return uint64((w0 >> EXPIRY_SHIFT) & EXPIRY_MASK);
    }

    function optionType(uint256 w0) internal pure returns (IOptionVault.OptionType) {
        return IOptionVault.OptionType((w0 >> TYPE_SHIFT) & FLAG_MASK);
    }

    function isCall(uint256 w0) internal pure returns (bool) {
        return (w0 >> TYPE_SHIFT) & FLAG_MASK == 0;
    }

    function settled(uint256 w0) internal pure returns (bool) {
        return (w0 >> SETTLED_SHIFT) & FLAG_MASK != 0;
    }

    function payout(uint256 w1) internal pure returns (uint256) {
        return (w1 >> PAYOUT_SHIFT) & PAYOUT_MASK;
    }

    function lnStrike(uint256 w1) internal pure returns (int256) {
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        return int96(uint96(w1 >> LN_STRIKE_SHIFT));
    }

    function lnStrike2(uint256 w1) internal pure returns (int256) {
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        return int96(uint96(w1 >> LN_STRIKE2_SHIFT));
    }
}
