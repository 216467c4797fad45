// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {BlackScholes} from "./libraries/BlackScholes.sol";
import {SeriesLayout} from "./libraries/SeriesLayout.sol";

/// @title BookPricer
/// @notice Prices a vault's option book with {BlackScholes}: aggregate delta, aggregate value,
///         per-series Greeks, and the strike logarithms stored at writing. Stateless and pure.
/// @dev Why a deployed contract and not a library of internal functions: the Black-Scholes code
///      (ln/exp/sqrt and the Hart/West CDF) inlined into {OptionVault} pushed its
///      runtime past EIP-170's 24,576 bytes. The vault's implementation deploys one
///      {RebalanceRules} (which is a BookPricer) in its constructor and keeps it as an
///      immutable, which every EIP-1167 clone shares (immutables live in the implementation's
///      code), so deployers still deploy one contract with no arguments. One external call per
///      book costs ~3k gas, a fraction of the pricing itself.
///
///      A book is `uint256[]` holding each open series' raw storage words ({SeriesLayout}),
///      exactly as {OptionBook} stores them: passing raw words keeps the vault's code and the
///      call's encoding small. Valuation takes both words of each series; delta takes word 0
///      alone and recomputes the strike logarithms word 1 stores, with the same `lnWad` on the
///      same strikes, so the value is identical: two `lnWad` (~1.1k gas) cost less than the
///      cold SLOAD of word 1 (2.1k) on every rebalance.
contract BookPricer {
    /// @dev size (1e18) * per-contract USD value (1e18) / 1e30 = quote (1e6).
    uint256 private constant WAD_WAD_TO_QUOTE = 1e30;

    /// @notice Sum over the book of size * per-contract delta (1e18 underlying). The vault is
    ///         short the book, so its net delta is inventory minus this.
    /// @param book Each live series' word 0 ({SeriesLayout}), one word per series.
    function bookDelta(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (int256 delta)
    {
        return _bookDelta(book, price8, vol, timestamp);
    }

    /// @notice Black-Scholes value of the book in quote units (1e6), each series rounded up.
    /// @param book Each live series' two words ({SeriesLayout}).
    function bookValue(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (uint256 value)
    {
        if (book.length == 0) return 0;
        int256 lnSpot = BlackScholes.lnPrice(price8);
        for (uint256 i = 0; i < book.length; i += 2) {
            (BlackScholes.Option memory o, uint256 size, uint256 tau) =
                _decode(book[i], book[i + 1], timestamp);
            BlackScholes.Greeks memory g = BlackScholes.evaluate(o, price8, lnSpot, vol, tau, true);
            // forge-lint: disable-next-line(unsafe-typecast) -- evaluate() clamps price to [0, cap]
            value += Math.mulDiv(size, uint256(g.price), WAD_WAD_TO_QUOTE, Math.Rounding.Ceil);
        }
    }

    /// @notice Per-contract value, delta, gamma and vega of one series given its two storage
    ///         words (1e18; see {BlackScholes}).
    function greeks(uint256 w0, uint256 w1, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (int256 price, int256 delta, int256 gamma, int256 vega)
    {
        (BlackScholes.Option memory o,, uint256 tau) = _decode(w0, w1, timestamp);
        BlackScholes.Greeks memory g =
            BlackScholes.evaluate(o, price8, BlackScholes.lnPrice(price8), vol, tau, true);
        return (g.price, g.delta, g.gamma, g.vega);
    }

    /// @notice The strike logarithms a vault stores when it writes a series.
    function strikeLogs(bool isCall, uint256 strike8, uint256 cap8)
        external
        pure
        returns (int256 lnStrike, int256 lnStrike2)
    {
        BlackScholes.Option memory o = BlackScholes.option(isCall, strike8, cap8);
        return (o.lnStrike, o.lnStrike2);
    }

    function _bookDelta(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        internal
        pure
        returns (int256 delta)
    {
        if (book.length == 0) return 0;
        int256 lnSpot = BlackScholes.lnPrice(price8);
        uint256 n = book.length;
        // sigma * sqrt(tau) depends on the expiry alone, and a book's series share few expiries:
        // a series with its predecessor's expiry reuses its v (~700 gas). No 32-bit expiry
        // equals the initial `last`.
        uint256 last = type(uint256).max;
        // slither-disable-next-line uninitialized-local -- set on the first series (no expiry equals `last`)
        int256 v;
        for (uint256 i = 0; i < n;) {
            uint256 w0 = book[i];
            uint256 expiry = (w0 >> SeriesLayout.EXPIRY_SHIFT) & SeriesLayout.EXPIRY_MASK;
            if (expiry != last) {
                v = BlackScholes.sigmaSqrtTau(vol, expiry > timestamp ? expiry - timestamp : 0);
                last = expiry;
            }
            int256 d = _seriesDelta(w0, price8, lnSpot, v);
            // Unchecked: size < 2^96 and |d| <= 2e18 < 2^61, so each term is below 2^157 and
            // a calldata array's sum of them cannot reach 2^255; i < n < 2^64.
            unchecked {
                // forge-lint: disable-next-line(unsafe-typecast) -- size < 2^96
                delta += int256((w0 >> SeriesLayout.SIZE_SHIFT) & SeriesLayout.SIZE_MASK) * d / 1e18;
                ++i;
            }
        }
    }

    /// @dev One series' per-contract delta from its word 0 and its v = sigma * sqrt(tau)
    ///      ({BlackScholes-sigmaSqrtTau}), on the stack: this runs for every series on every
    ///      rebalance, so it decodes only what delta needs and allocates no memory (`_decode` +
    ///      {BlackScholes-delta} give the same value). The strike logs are recomputed as
    ///      {BlackScholes-option} computed them at writing: `lnWad` of the same 1e18 strikes.
    function _seriesDelta(uint256 w0, uint256 price8, int256 lnSpot, int256 v)
        private
        pure
        returns (int256)
    {
        bool isCall = (w0 >> SeriesLayout.TYPE_SHIFT) & SeriesLayout.FLAG_MASK == 0;
        int256 k;
        int256 k2;
        // Unchecked: strike and cap are 56-bit fields, so k, c < 2^90 and k + c < 2^91.
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
            k = int256((w0 >> SeriesLayout.STRIKE_SHIFT) & SeriesLayout.PRICE_MASK) * 1e10;
            // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
            int256 c = int256((w0 >> SeriesLayout.CAP_SHIFT) & SeriesLayout.PRICE_MASK) * 1e10;
            k2 = isCall ? k + c : (c < k ? k - c : int256(0));
        }
        if (v == 0) {
            // forge-lint: disable-next-line(unsafe-typecast) -- a 1e8 price, far below 2^200
            return BlackScholes.intrinsicDelta(isCall, int256(price8) * 1e10, k, k2);
        }
        int256 m1;
        int256 m2 = 0; // no second leg: liveDelta ignores it
        // Unchecked: lnSpot = lnWad(...) lies in (-42e18, 136e18) and so does the log of a
        // strike (a 1e18 value below 2^91), so |m| < 2^96.
        unchecked {
            m1 = lnSpot - FixedPointMathLib.lnWad(k);
            if (k2 != 0) m2 = lnSpot - FixedPointMathLib.lnWad(k2);
        }
        return BlackScholes.liveDelta(isCall, v, m1, m2, k2 != 0);
    }

    /// @dev One series' pricing view, size and time to expiry, from its two words. The fields
    ///      are read with {SeriesLayout}'s offsets and masks inline rather than through its
    ///      getters: this runs for every series on every rebalance, and the calls cost ~90 gas
    ///      a series.
    function _decode(uint256 w0, uint256 w1, uint256 timestamp)
        private
        pure
        returns (BlackScholes.Option memory o, uint256 size, uint256 tau)
    {
        size = (w0 >> SeriesLayout.SIZE_SHIFT) & SeriesLayout.SIZE_MASK;
        uint256 expiry = (w0 >> SeriesLayout.EXPIRY_SHIFT) & SeriesLayout.EXPIRY_MASK;
        tau = expiry > timestamp ? expiry - timestamp : 0;
        o.isCall = (w0 >> SeriesLayout.TYPE_SHIFT) & SeriesLayout.FLAG_MASK == 0;
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
        o.strike = int256((w0 >> SeriesLayout.STRIKE_SHIFT) & SeriesLayout.PRICE_MASK) * 1e10;
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
        o.cap = int256((w0 >> SeriesLayout.CAP_SHIFT) & SeriesLayout.PRICE_MASK) * 1e10;
        if (o.isCall) {
            o.strike2 = o.strike + o.cap;
        } else if (o.cap < o.strike) {
            o.strike2 = o.strike - o.cap;
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        o.lnStrike = int96(uint96(w1 >> SeriesLayout.LN_STRIKE_SHIFT));
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        o.lnStrike2 = int96(uint96(w1 >> SeriesLayout.LN_STRIKE2_SHIFT));
    }
}
