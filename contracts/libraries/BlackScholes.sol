// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SD59x18, ln, sqrt} from "@prb/math/src/SD59x18.sol";
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
///      `ln`, `exp`, `sqrt` are PRBMath SD59x18; N and phi are {NormalCdf} (Hart/West).
///      A capped call is the call spread C(K) - C(K + cap); a capped put is P(K) - P(K - cap)
///      when cap < K and a plain put otherwise.
///
///      Gas: ln(S/K) is computed as ln(S) - ln(K). The strikes' logarithms never change, so a
///      vault computes them once when it writes a series ({option}) and ln(S) once per call
///      ({lnPrice}); each leg then costs one exp (inside N) and no ln.
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
        return _leg(isCall, inp, k, ln(SD59x18.wrap(k)).unwrap());
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
        return evaluate(
            option(isCall, strike8, cap8), spot8, lnPrice(spot8), vol, tauSeconds, false
        )
        .delta;
    }

    // ------------------------------------------------------------------ building blocks

    /// @notice ln(price in USD), 1e18, of a 1e8 price (> 0).
    function lnPrice(uint256 price8) internal pure returns (int256) {
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        return ln(SD59x18.wrap(int256(price8) * PRICE_TO_WAD)).unwrap();
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
        o.lnStrike = ln(SD59x18.wrap(o.strike)).unwrap();
        if (isCall) {
            o.strike2 = o.strike + o.cap;
        } else if (o.cap < o.strike) {
            o.strike2 = o.strike - o.cap;
        }
        if (o.strike2 != 0) o.lnStrike2 = ln(SD59x18.wrap(o.strike2)).unwrap();
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
            int256 tau = int256(tauSeconds) * ONE / int256(SECONDS_PER_YEAR);
            inp.sqrtTau = sqrt(SD59x18.wrap(tau)).unwrap();
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
