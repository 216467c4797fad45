// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, console2} from "forge-std/Test.sol";
import {MathHarness} from "./mocks/MathHarness.sol";
import {CdfVectors} from "./fixtures/BsVectors.sol";

/// @notice Measures the Hart/West fixed-point CDF against the exact CDF (math.erfc vectors).
contract NormalCdfTest is Test {
    MathHarness internal h;
    CdfVectors internal vectors;

    /// @dev Largest accepted absolute error of N(x), 1e18 fixed point (2e-16). Measured 4.5e-17: see
    ///      test_cdf_MatchesExactVectors' log; Hart/West in float64 is ~1e-14 itself.
    int256 internal constant MAX_ABS_ERR = 200;

    function setUp() public {
        h = new MathHarness();
        vectors = new CdfVectors();
    }

    function test_cdf_MatchesExactVectors() public view {
        int256[] memory d = vectors.data();
        int256 worst;
        int256 worstX;
        for (uint256 i = 0; i < d.length; i += 2) {
            int256 err = h.cdf(d[i]) - d[i + 1];
            if (err < 0) err = -err;
            if (err > worst) (worst, worstX) = (err, d[i]);
        }
        console2.log("cdf max abs error (1e18 units):", worst);
        console2.log("at x (1e18):", worstX);
        assertLe(worst, MAX_ABS_ERR, "CDF error above 2e-16");
        assertGt(d.length, 100, "vectors present");
    }

    function test_cdf_KnownPoints() public view {
        assertEq(h.cdf(0), 5e17, "N(0) = 1/2");
        assertEq(h.cdf(38e18), 1e18, "far right tail");
        assertEq(h.cdf(-38e18), 0, "far left tail");
        assertApproxEqAbs(h.cdf(1.959963984540054e18), 0.975e18, 1e4, "N(1.96)");
    }

    function test_pdf_KnownPoints() public view {
        assertApproxEqAbs(h.pdf(0), 398942280401432678, 10, "phi(0)");
        assertApproxEqAbs(h.pdf(1e18), 241970724519143349, 1e3, "phi(1)");
        assertEq(h.pdf(40e18), 0, "phi far tail");
    }

    function testFuzz_cdf_Symmetric(int256 x) public view {
        x = bound(x, -40e18, 40e18);
        assertApproxEqAbs(h.cdf(x) + h.cdf(-x), 1e18, 1, "N(x) + N(-x) = 1");
    }

    function testFuzz_cdf_MonotoneAndBounded(int256 x, uint256 step) public view {
        x = bound(x, -40e18, 40e18);
        step = bound(step, 1e9, 1e18);
        int256 a = h.cdf(x);
        int256 b = h.cdf(x + int256(step));
        assertGe(a, 0);
        assertLe(b, 1e18);
        // Monotone up to the fixed-point noise of the approximation (1e-15).
        assertGe(b + 1e3, a, "monotone");
    }
}
