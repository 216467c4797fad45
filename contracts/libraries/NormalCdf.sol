// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title NormalCdf
/// @notice The standard normal CDF N(x) and density phi(x) in 1e18 fixed point.
/// @dev Hart (1968) double-precision algorithm 5666 as given by G. West, "Better approximations
///      to cumulative normal functions", Wilmott Magazine (2005), Figure 2; see
///      docs/pricing-model.md. The coefficients below are West's decimal literals scaled by 1e18
///      (exact integers, no rounding of the published digits). `exp` is Solady's
///      `FixedPointMathLib.expWad`, written out in assembly in {_tail}. The
///      keeper mirrors this algorithm in float64; the fixed-point error against the exact CDF
///      (Python's math.erfc) is measured in tests/forge/NormalCdf.t.sol.
library NormalCdf {
    int256 internal constant ONE = 1e18;
    /// @dev Beyond |x| = 37 the tail is below 1e-299: N(-x) = 0 exactly in 1e18 fixed point.
    int256 internal constant TAIL_CUTOFF = 37e18;
    /// @dev Switch between the rational approximation and the continued fraction (10/sqrt(2)).
    int256 internal constant SPLIT = 7_071067811865470000;
    /// @dev 1/sqrt(2*pi), for the density.
    int256 internal constant INV_SQRT_2PI = 398942280401432678;
    /// @dev sqrt(2*pi) as West writes it (2.506628274631).
    int256 internal constant SQRT_2PI_WEST = 2_506628274631000000;

    // numerator coefficients, highest degree first
    int256 private constant N6 = 35262496599891100; // 3.52624965998911e-02
    int256 private constant N5 = 700383064443688000; // 0.700383064443688
    int256 private constant N4 = 6_373962203531650000; // 6.37396220353165
    int256 private constant N3 = 33_912866078383000000; // 33.912866078383
    int256 private constant N2 = 112_079291497871000000; // 112.079291497871
    int256 private constant N1 = 221_213596169931000000; // 221.213596169931
    int256 private constant N0 = 220_206867912376000000; // 220.206867912376
    // denominator coefficients, highest degree first
    int256 private constant D7 = 88388347648318400; // 8.83883476483184e-02
    int256 private constant D6 = 1_755667163182640000; // 1.75566716318264
    int256 private constant D5 = 16_064177579207000000; // 16.064177579207
    int256 private constant D4 = 86_780732202946100000; // 86.7807322029461
    int256 private constant D3 = 296_564248779674000000; // 296.564248779674
    int256 private constant D2 = 637_333633378831000000; // 637.333633378831
    int256 private constant D1 = 793_826512519948000000; // 793.826512519948
    int256 private constant D0 = 440_413735824752000000; // 440.413735824752

    /// @notice N(x), 1e18 fixed point in [0, 1e18].
    function cdf(int256 x) internal pure returns (int256 n) {
        int256 y = x < 0 ? -x : x;
        (int256 tail,) = _tail(y);
        n = x < 0 ? tail : ONE - tail;
    }

    /// @notice {cdf} without overflow checks, the same value for every x but type(int256).min
    ///         (which the caller must exclude; {cdf} reverts on it), ~100 gas less.
    function cdfUnchecked(int256 x) internal pure returns (int256 n) {
        // Unchecked: x != type(int256).min, so -x fits; 0 <= tail <= ONE.
        unchecked {
            (int256 tail,) = _tail(x < 0 ? -x : x);
            n = x < 0 ? tail : ONE - tail;
        }
    }

    /// @notice phi(x) = exp(-x^2/2) / sqrt(2 pi), 1e18 fixed point.
    function pdf(int256 x) internal pure returns (int256) {
        (, int256 p) = cdfAndPdf(x);
        return p;
    }

    /// @notice N(x) and phi(x) together: both need exp(-x^2/2), computed once.
    /// @param x 1e18 fixed point (any sign).
    /// @return n N(x), 1e18.
    /// @return phi phi(x), 1e18.
    // slither-disable-next-line divide-before-multiply -- fixed-point rescaling of the approximation, error bounded by the tests
    function cdfAndPdf(int256 x) internal pure returns (int256 n, int256 phi) {
        int256 y = x < 0 ? -x : x;
        (int256 tail, int256 e) = _tail(y);
        n = x < 0 ? tail : ONE - tail;
        // e <= 1e18: no overflow.
        unchecked {
            phi = e * INV_SQRT_2PI / ONE;
        }
    }

    /// @dev N(-y) for y = |x| >= 0, and e = exp(-y^2/2), both 1e18.
    ///
    ///      Gas: the whole tail runs in assembly: exp(-y^2/2) is Solady's
    ///      `FixedPointMathLib.expWad` written out operation for operation (its (6, 7)-term rational
    ///      approximation after the 2^96 range reduction; ~250 gas less than the call), then the
    ///      rational function or the continued fraction (~25 gas a Horner step). Every value in
    ///      the Hart/West part is non-negative, so `div` equals Solidity's truncating signed `/`;
    ///      the exp part uses `sdiv`/`sar` where Solady's Solidity divides or shifts signed
    ///      values. The results are bit-identical to `expWad` and to the plain Solidity form
    ///      (West's formula, each product divided by 1e18 and truncated, in the order written);
    ///      tests/forge/BookPricerParity.t.sol fuzzes both against their Solidity references.
    // slither-disable-next-line divide-before-multiply -- Horner steps of West's approximation, truncated in the order the Python mirror uses (bit-identical), error bounded by the tests
    function _tail(int256 y) private pure returns (int256 tail, int256 e) {
        if (y > TAIL_CUTOFF) return (0, 0);
        /// @solidity memory-safe-assembly
        assembly {
            // a = -(y * y / ONE) / 2 = -h: y <= 37e18, so y * y <= 1.4e39 (no wrap) and, as
            // y*y/ONE >= 0, Solidity's truncating `-(q) / 2` is -(q >> 1). h lies in [0, 684.5e18].
            let h := shr(1, div(mul(y, y), ONE))
            // expWad(a): 0 at or below -41446531673892822313 (its result would be < 0.5 wei);
            // as a <= 0, expWad's overflow revert (a >= 135.3e18) cannot fire.
            if lt(h, 41446531673892822313) {
                let a := sub(0, h)
                // a in (-41.45e18, 0] to the 2^96 basis: a * 2^78 / 5^18 (|a << 78| < 2^144).
                let x := sdiv(shl(78, a), 3814697265625)
                // k = round(x / ln 2) in [-60, 0]; x - k ln 2 in (-ln2/2, ln2/2) * 2^96.
                let k := sar(96, add(sdiv(shl(96, x), 54916777467707473351141471128), shl(95, 1)))
                x := sub(x, mul(k, 54916777467707473351141471128))
                let z := add(x, 1346386616545796478920950773328)
                z := add(sar(96, mul(z, x)), 57155421227552351082224309758442)
                let p := sub(add(z, x), 94201549194550492254356042504812)
                p := add(sar(96, mul(p, z)), 28719021644029726153956944680412240)
                // 4385272521454847904659076985693276 << 96
                p := add(mul(p, x), 347437083999162433888837515002539729507623920905942392673140736)
                let q := sub(x, 2855989394907223263936484059900)
                q := add(sar(96, mul(q, x)), 50020603652535783019961831881945)
                q := sub(sar(96, mul(q, x)), 533845033583426703283633433725380)
                q := add(sar(96, mul(q, x)), 3604857256930695427073651918091429)
                q := sub(sar(96, mul(q, x)), 14423608567350463180887372962807573)
                q := add(sar(96, mul(q, x)), 26449188498355588339934803723976023)
                // q has no real root (Solady): no division by zero. r in (0.09, 0.25) * 2^96.
                e := shr(
                    sub(195, k),
                    mul(sdiv(p, q), 3822833074963236453042738258902158003155416615667)
                )
            }
        }
        if (e == 0) return (0, 0); // y > ~9.1: the tail and the density are below 1 wei
        /// @solidity memory-safe-assembly
        assembly {
            switch lt(y, SPLIT)
            case 1 {
                let num := N6
                num := add(div(mul(num, y), ONE), N5)
                num := add(div(mul(num, y), ONE), N4)
                num := add(div(mul(num, y), ONE), N3)
                num := add(div(mul(num, y), ONE), N2)
                num := add(div(mul(num, y), ONE), N1)
                num := add(div(mul(num, y), ONE), N0)
                let den := D7
                den := add(div(mul(den, y), ONE), D6)
                den := add(div(mul(den, y), ONE), D5)
                den := add(div(mul(den, y), ONE), D4)
                den := add(div(mul(den, y), ONE), D3)
                den := add(div(mul(den, y), ONE), D2)
                den := add(div(mul(den, y), ONE), D1)
                den := add(div(mul(den, y), ONE), D0)
                tail := div(mul(e, num), den)
            }
            default {
                // West: exp(-y^2/2) / (y + 1/(y + 2/(y + 3/(y + 4/(y + 0.65))))) / 2.506628274631
                let t := add(y, 650000000000000000)
                t := add(y, div(4000000000000000000000000000000000000, t))
                t := add(y, div(3000000000000000000000000000000000000, t))
                t := add(y, div(2000000000000000000000000000000000000, t))
                t := add(y, div(1000000000000000000000000000000000000, t))
                tail := div(mul(div(mul(e, ONE), t), ONE), SQRT_2PI_WEST)
            }
        }
    }
}
