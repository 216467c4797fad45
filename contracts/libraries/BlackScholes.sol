// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {NormalCdf} from "./NormalCdf.sol";

/// @title BlackScholes
/// @notice Black-Scholes value and Greeks of vanilla and capped European options, r = 0, no
///         dividends, exactly as written in docs/pricing-model.md (the keeper mirrors it).
/// @dev Units. Inputs: prices, strikes and caps 1e8 (Chainlink USD), vol 1e18 (0.8e18 = 80%/yr),
///      time to expiry in seconds (tau = seconds / 31,536,000). Outputs, all 1e18 fixed point and
///      per contract (one whole underlying):
///      - price: USD;
///      - delta: underlying per contract (call 0..1e18, put -1e18..0);
///      - gamma: change of delta per 1 USD move of the spot;
///      - vega: USD per 1.00 of vol.
///      `ln` and `exp` are Solady's `lnWad`/`expWad`, sqrt(tau) is one integer square root
///      (Solady `sqrt` of seconds * 1e36 / year); N and phi are {NormalCdf} (Hart/West).
///      A capped call is the call spread C(K) - C(K + cap); a capped put is P(K) - P(K - cap)
///      when cap < K and a plain put otherwise.
///
///      Gas: ln(S/K) is computed as ln(S) - ln(K). The strikes' logarithms never change, so a
///      vault computes them once when it writes a series ({option}) and ln(S) once per call
///      ({lnPrice}); each leg then costs one exp (inside N) and no ln. Delta alone ({delta},
///      {liveDelta}) needs one N per leg and no memory: it is what a rebalance computes.
library BlackScholes {
    /// @notice One value and its Greeks (1e18 fixed point, per contract).
    struct Greeks {
        int256 price;
        int256 delta;
        int256 gamma;
        int256 vega;
    }

    /// @notice A capped option with its strikes' logarithms precomputed.
    /// @param isCall Call or put.
    /// @param strike Strike, 1e18 USD.
    /// @param strike2 Second leg's strike (K + cap for a call, K - cap for a put with cap < K),
    ///        1e18 USD; 0 when there is no second leg (a put with cap >= K).
    /// @param lnStrike ln(strike in USD), 1e18.
    /// @param lnStrike2 ln(strike2 in USD), 1e18 (0 without a second leg).
    /// @param cap Cap, 1e18 USD.
    struct Option {
        bool isCall;
        int256 strike;
        int256 strike2;
        int256 lnStrike;
        int256 lnStrike2;
        int256 cap;
    }

    /// @notice tau = seconds / SECONDS_PER_YEAR (365 days).
    uint256 internal constant SECONDS_PER_YEAR = 31_536_000;
    int256 private constant ONE = 1e18;
    /// @dev 1e8 price units to 1e18.
    int256 private constant PRICE_TO_WAD = 1e10;
    /// @dev {liveDelta}'s unchecked path takes v and the log-moneyness below 2^100 in magnitude.
    int256 private constant BOUND = 2 ** 100;

    /// @dev Per-call quantities shared by both legs of a spread.
    struct Inputs {
        int256 spot; // 1e18 USD
        int256 lnSpot; // 1e18
        int256 sqrtTau; // 1e18 sqrt(years)
        int256 sigmaSqrtTau; // 1e18
        bool full; // also price, gamma and vega (delta alone needs no N(d2))
    }

    // ------------------------------------------------------------------ convenience

    /// @notice Value and Greeks of a vanilla call or put.
    /// @param isCall Call (true) or put (false).
    /// @param spot8 Spot price, 1e8, > 0.
    /// @param strike8 Strike, 1e8, > 0.
    /// @param vol Volatility, 1e18.
    /// @param tauSeconds Seconds to expiry (0 at or after expiry: intrinsic value).
    function vanilla(bool isCall, uint256 spot8, uint256 strike8, uint256 vol, uint256 tauSeconds)
        internal
        pure
        returns (Greeks memory)
    {
        Inputs memory inp = _inputs(spot8, lnPrice(spot8), vol, tauSeconds, true);
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        int256 k = int256(strike8) * PRICE_TO_WAD;
        return _leg(isCall, inp, k, FixedPointMathLib.lnWad(k));
    }

    /// @notice Value and Greeks of a capped option (payoff min(intrinsic, cap)); the price is
    ///         clamped to [0, cap] against fixed-point rounding.
    function capped(
        bool isCall,
        uint256 spot8,
        uint256 strike8,
        uint256 cap8,
        uint256 vol,
        uint256 tauSeconds
    ) internal pure returns (Greeks memory) {
        return evaluate(option(isCall, strike8, cap8), spot8, lnPrice(spot8), vol, tauSeconds, true);
    }

    /// @notice Delta alone of a capped option.
    function cappedDelta(
        bool isCall,
        uint256 spot8,
        uint256 strike8,
        uint256 cap8,
        uint256 vol,
        uint256 tauSeconds
    ) internal pure returns (int256) {
        return delta(option(isCall, strike8, cap8), spot8, lnPrice(spot8), vol, tauSeconds);
    }

    // ------------------------------------------------------------------ building blocks

    /// @notice ln(price in USD), 1e18, of a 1e8 price (> 0).
    function lnPrice(uint256 price8) internal pure returns (int256) {
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        return FixedPointMathLib.lnWad(int256(price8) * PRICE_TO_WAD);
    }

    /// @notice A capped option with its logarithms (compute once, evaluate often).
    /// @param cap8 Largest payoff per contract, 1e8, > 0.
    function option(bool isCall, uint256 strike8, uint256 cap8)
        internal
        pure
        returns (Option memory o)
    {
        o.isCall = isCall;
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        o.strike = int256(strike8) * PRICE_TO_WAD;
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        o.cap = int256(cap8) * PRICE_TO_WAD;
        o.lnStrike = FixedPointMathLib.lnWad(o.strike);
        if (isCall) {
            o.strike2 = o.strike + o.cap;
        } else if (o.cap < o.strike) {
            o.strike2 = o.strike - o.cap;
        }
        if (o.strike2 != 0) o.lnStrike2 = FixedPointMathLib.lnWad(o.strike2);
    }

    /// @notice Value (if `full`) and Greeks of a capped option at `spot8`.
    /// @param lnSpot lnPrice(spot8).
    /// @param full False: delta only (price, gamma and vega left 0), one exp per leg.
    function evaluate(
        Option memory o,
        uint256 spot8,
        int256 lnSpot,
        uint256 vol,
        uint256 tauSeconds,
        bool full
    ) internal pure returns (Greeks memory g) {
        if (!full) {
            g.delta = delta(o, spot8, lnSpot, vol, tauSeconds);
            return g;
        }
        Inputs memory inp = _inputs(spot8, lnSpot, vol, tauSeconds, full);
        g = _leg(o.isCall, inp, o.strike, o.lnStrike);
        if (o.strike2 != 0) {
            Greeks memory h = _leg(o.isCall, inp, o.strike2, o.lnStrike2);
            g.price -= h.price;
            g.delta -= h.delta;
            g.gamma -= h.gamma;
            g.vega -= h.vega;
        }
        if (g.price < 0) g.price = 0;
        if (g.price > o.cap) g.price = o.cap;
    }

    /// @notice Delta alone of a capped option at `spot8` (1e18 underlying per contract): one
    ///         CDF per leg. Bit-identical to `evaluate(..., true).delta`.
    /// @param lnSpot lnPrice(spot8).
    function delta(Option memory o, uint256 spot8, int256 lnSpot, uint256 vol, uint256 tauSeconds)
        internal
        pure
        returns (int256)
    {
        int256 v = sigmaSqrtTau(vol, tauSeconds);
        if (v == 0) {
            // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
            return intrinsicDelta(o.isCall, int256(spot8) * PRICE_TO_WAD, o.strike, o.strike2);
        }
        return liveDelta(o.isCall, v, lnSpot - o.lnStrike, lnSpot - o.lnStrike2, o.strike2 != 0);
    }

    /// @notice Delta of a capped option with time left, from stack values: the book's hot path.
    /// @param v sigmaSqrtTau(vol, tauSeconds) > 0.
    /// @param m1 ln(S/K) = lnSpot - lnStrike, 1e18.
    /// @param m2 ln(S/K2) = lnSpot - lnStrike2, 1e18 (ignored without a second leg).
    /// @param twoLegs Whether the option has a second leg (strike2 != 0).
    function liveDelta(bool isCall, int256 v, int256 m1, int256 m2, bool twoLegs)
        internal
        pure
        returns (int256 d)
    {
        // d1 = (ln(S/K) + v^2/2) / v. Call: N(d1); put: N(d1) - 1; a spread's two "- 1"s cancel.
        // Every book (vol <= 5e18, tau < 2^32 s, |ln K| < 2^95) takes the unchecked path below,
        // which gives the same values as the checked one (~600 gas a leg less); anything else
        // takes the checked path, so out-of-range inputs still revert where they did.
        bool inRange;
        // The guard: m + BOUND in [0, 2 * BOUND) iff -BOUND <= m < BOUND; a sum that wraps is
        // negative (m near max) or stays negative (m near min), so as a uint256 it fails the test.
        unchecked {
            // forge-lint: disable-next-line(unsafe-typecast) -- a negative value fails the test
            inRange = (uint256(v) | uint256(m1 + BOUND) | uint256(m2 + BOUND)) < uint256(2 * BOUND);
        }
        if (inRange) {
            // Unchecked: 0 <= v < 2^100 and |m| < 2^100, so v * v < 2^200, half < 2^140,
            // |(m + half) * ONE| < 2^201, |d1| < 2^201 (no wrap, and -d1 inside the CDF cannot
            // overflow) and |d| <= 2 * ONE.
            unchecked {
                int256 h = v * v / ONE / 2;
                d = NormalCdf.cdfUnchecked((m1 + h) * ONE / v);
                if (twoLegs) d -= NormalCdf.cdfUnchecked((m2 + h) * ONE / v);
                else if (!isCall) d -= ONE;
            }
            return d;
        }
        int256 half = v * v / ONE / 2;
        d = NormalCdf.cdf((m1 + half) * ONE / v);
        if (twoLegs) d -= NormalCdf.cdf((m2 + half) * ONE / v);
        else if (!isCall) d -= ONE;
    }

    /// @notice Delta at or after expiry: each leg's is 1 (call, S > K), -1 (put, S < K) or 0.
    /// @param s Spot, 1e18 USD. @param k Strike, 1e18 USD. @param k2 Second strike, 0 if none.
    function intrinsicDelta(bool isCall, int256 s, int256 k, int256 k2)
        internal
        pure
        returns (int256 d)
    {
        if (isCall) {
            if (s > k) d = ONE;
            if (k2 != 0 && s > k2) d -= ONE;
        } else {
            if (s < k) d = -ONE;
            if (k2 != 0 && s < k2) d += ONE;
        }
    }

    /// @notice sigma * sqrt(tau), 1e18, with tau = tauSeconds / SECONDS_PER_YEAR (0 at expiry).
    /// @dev sqrt(tauSeconds * 1e36 / year) is sqrt(tau) in 1e18 with one integer square root.
    ///      Gas: every real input (tau < 2^64 s, vol < 2^128) takes an unchecked path, ~350 gas
    ///      less (the checked multiplications cost more than the square root); anything else
    ///      runs the checked code, so the value or the overflow panic is the same.
    function sigmaSqrtTau(uint256 vol, uint256 tauSeconds) internal pure returns (int256) {
        if (tauSeconds == 0) return 0;
        if ((tauSeconds >> 64) | (vol >> 128) == 0) {
            // Unchecked: tau < 2^64, so tau * 1e36 < 2^184 and its square root over a year is
            // < 2^80; vol < 2^128, so vol * sqrt < 2^208 and the quotient fits an int256.
            unchecked {
                uint256 v =
                    vol * FixedPointMathLib.sqrt(tauSeconds * 1e36 / SECONDS_PER_YEAR) / 1e18;
                // forge-lint: disable-next-line(unsafe-typecast) -- < 2^148, see above
                return int256(v);
            }
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        return int256(vol * sqrtTau(tauSeconds) / 1e18);
    }

    /// @notice sqrt(tauSeconds / SECONDS_PER_YEAR), 1e18.
    function sqrtTau(uint256 tauSeconds) internal pure returns (uint256) {
        if (tauSeconds >> 64 == 0) {
            // Unchecked: tau < 2^64, so tau * 1e36 < 2^184 (the checked form's value).
            unchecked {
                return FixedPointMathLib.sqrt(tauSeconds * 1e36 / SECONDS_PER_YEAR);
            }
        }
        return FixedPointMathLib.sqrt(tauSeconds * 1e36 / SECONDS_PER_YEAR);
    }

    // ------------------------------------------------------------------ internal

    function _inputs(uint256 spot8, int256 lnSpot, uint256 vol, uint256 tauSeconds, bool full)
        private
        pure
        returns (Inputs memory inp)
    {
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        inp.spot = int256(spot8) * PRICE_TO_WAD;
        inp.lnSpot = lnSpot;
        inp.full = full;
        if (tauSeconds != 0) {
            // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
            inp.sqrtTau = int256(sqrtTau(tauSeconds));
            // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
            inp.sigmaSqrtTau = int256(vol) * inp.sqrtTau / ONE;
        }
    }

    /// @dev One vanilla leg at strike `k` (1e18 USD) with `lnK` = ln(k).
    // slither-disable-next-line divide-before-multiply -- fixed-point rescaling; the error is bounded by the vector tests
    function _leg(bool isCall, Inputs memory inp, int256 k, int256 lnK)
        private
        pure
        returns (Greeks memory g)
    {
        int256 s = inp.spot;
        int256 v = inp.sigmaSqrtTau;
        if (v == 0) {
            // At or after expiry: intrinsic value, delta 1 / -1 / 0, no gamma or vega.
            if (isCall) {
                if (s > k) (g.price, g.delta) = (s - k, ONE);
            } else if (s < k) {
                (g.price, g.delta) = (k - s, -ONE);
            }
            return g;
        }
        // d1 = (ln(S/K) + v^2/2) / v with v = sigma * sqrt(tau).
        int256 d1 = (inp.lnSpot - lnK + v * v / ONE / 2) * ONE / v;
        (int256 n1, int256 phi) = NormalCdf.cdfAndPdf(d1);
        g.delta = isCall ? n1 : n1 - ONE;
        if (!inp.full) return g;
        int256 n2 = NormalCdf.cdf(d1 - v);
        g.price = isCall ? (s * n1 - k * n2) / ONE : (k * (ONE - n2) - s * (ONE - n1)) / ONE;
        if (g.price < 0) g.price = 0; // rounding only: a vanilla option is never worth < 0
        g.gamma = phi * ONE / (s * v / ONE);
        g.vega = s * phi / ONE * inp.sqrtTau / ONE;
    }
}
