// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {BlackScholes} from "../../contracts/libraries/BlackScholes.sol";
import {NormalCdf} from "../../contracts/libraries/NormalCdf.sol";
import {SeriesLayout} from "../../contracts/libraries/SeriesLayout.sol";
import {BookPricer} from "../../contracts/BookPricer.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {NormalCdfReference} from "./utils/NormalCdfReference.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";

/// @notice Exposes the delta hot path and a checked reference of it.
contract DeltaHarness {
    int256 internal constant ONE = 1e18;

    function cdf(int256 x) external pure returns (int256) {
        return NormalCdf.cdf(x);
    }

    function cdfUnchecked(int256 x) external pure returns (int256) {
        return NormalCdf.cdfUnchecked(x);
    }

    function cdfAndPdf(int256 x) external pure returns (int256, int256) {
        return NormalCdf.cdfAndPdf(x);
    }

    function sigmaSqrtTau(uint256 vol, uint256 tau) external pure returns (int256) {
        return BlackScholes.sigmaSqrtTau(vol, tau);
    }

    function sqrtTau(uint256 tau) external pure returns (uint256) {
        return BlackScholes.sqrtTau(tau);
    }

    /// @dev `sigmaSqrtTau` as it was before its unchecked path: every operation checked.
    function sigmaSqrtTauChecked(uint256 vol, uint256 tau) external pure returns (int256) {
        if (tau == 0) return 0;
        return
            int256(vol * FixedPointMathLib.sqrt(tau * 1e36 / BlackScholes.SECONDS_PER_YEAR) / 1e18);
    }

    function cdfReference(int256 x) external pure returns (int256) {
        return NormalCdfReference.cdf(x);
    }

    function cdfAndPdfReference(int256 x) external pure returns (int256, int256) {
        return NormalCdfReference.cdfAndPdf(x);
    }

    function liveDelta(bool isCall, int256 v, int256 m1, int256 m2, bool twoLegs)
        external
        pure
        returns (int256)
    {
        return BlackScholes.liveDelta(isCall, v, m1, m2, twoLegs);
    }

    /// @dev `liveDelta` as it was before its unchecked path: every operation checked.
    function liveDeltaChecked(bool isCall, int256 v, int256 m1, int256 m2, bool twoLegs)
        external
        pure
        returns (int256 d)
    {
        int256 half = v * v / ONE / 2;
        d = NormalCdf.cdf((m1 + half) * ONE / v);
        if (twoLegs) d -= NormalCdf.cdf((m2 + half) * ONE / v);
        else if (!isCall) d -= ONE;
    }
}

/// @notice The gas work on the delta path (unchecked arithmetic, v shared by equal expiries)
///         changes no value: each fast path equals its checked or memory-path reference.
contract BookPricerParityTest is Test {
    DeltaHarness internal h;
    BookPricer internal pricer;

    function setUp() public {
        h = new DeltaHarness();
        pricer = new BookPricer();
    }

    function testFuzz_cdfUnchecked_EqualsCdf(int256 x) public view {
        x = bound(x, -(2 ** 201), 2 ** 201);
        assertEq(h.cdfUnchecked(x), h.cdf(x));
    }

    /// @notice The CDF with expWad written out in assembly equals the previous one (a call to
    ///         Solady's expWad) over the whole domain, the realistic range often.
    function testFuzz_cdf_EqualsReference(int256 x) public view {
        if (x % 2 == 0) x = bound(x, -40e18, 40e18);
        else if (x % 3 == 0) x = bound(x, type(int256).min + 1, type(int256).max);
        (int256 n, int256 phi) = h.cdfAndPdf(x);
        (int256 nRef, int256 phiRef) = h.cdfAndPdfReference(x);
        assertEq(n, nRef, "N");
        assertEq(phi, phiRef, "phi");
        assertEq(h.cdf(x), h.cdfReference(x), "cdf");
    }

    /// @notice The edges: 0, the rational/continued-fraction split (10/sqrt(2)), where
    ///         exp(-x^2/2) reaches 0 (~9.1045), the tail cutoff (37) and the extremes.
    function test_cdf_EqualsReferenceAtEdges() public view {
        int256[12] memory xs = [
            int256(0),
            1,
            NormalCdf.SPLIT - 1,
            NormalCdf.SPLIT,
            NormalCdf.SPLIT + 1,
            9.1044e18,
            9.1045e18,
            9.1046e18,
            NormalCdf.TAIL_CUTOFF,
            NormalCdf.TAIL_CUTOFF + 1,
            type(int256).max,
            2 ** 201
        ];
        for (uint256 i = 0; i < xs.length; i++) {
            for (int256 s = -1; s <= 1; s += 2) {
                int256 x = s * xs[i];
                (int256 n, int256 phi) = h.cdfAndPdf(x);
                (int256 nRef, int256 phiRef) = h.cdfAndPdfReference(x);
                assertEq(n, nRef, "N");
                assertEq(phi, phiRef, "phi");
            }
        }
        // Around the exp cut-off, wei by wei: -(y*y/1e18)/2 crosses -41446531673892822313.
        int256 y0 = 9_104_562_776_310_878_105; // isqrt(2 * 41446531673892822313 * 1e18)
        for (int256 d = -20; d <= 20; d++) {
            assertEq(h.cdf(-(y0 + d)), h.cdfReference(-(y0 + d)), "cut-off");
        }
    }

    /// @notice sigma * sqrt(tau) on its unchecked path equals the checked form, and beyond that
    ///         path (tau >= 2^64 s or vol >= 2^128) it is the checked form, overflow included.
    function testFuzz_sigmaSqrtTau_EqualsChecked(uint256 vol, uint256 tau) public view {
        if (vol % 3 == 0) {
            vol = bound(vol, 0, 10e18);
            tau = bound(tau, 0, 2 ** 33);
        } else if (vol % 3 == 1) {
            vol = bound(vol, 0, 2 ** 129);
            tau = bound(tau, 0, 2 ** 65);
        }
        try h.sigmaSqrtTauChecked(vol, tau) returns (int256 want) {
            assertEq(h.sigmaSqrtTau(vol, tau), want, "sigmaSqrtTau");
        } catch (bytes memory err) {
            try h.sigmaSqrtTau(vol, tau) returns (int256) {
                revert("fast path did not revert");
            } catch (bytes memory got) {
                assertEq(got, err, "same panic");
            }
        }
    }

    function test_sigmaSqrtTau_EqualsCheckedAtEdges() public view {
        uint256[6] memory vols = [uint256(0), 1, 5e18, 2 ** 128 - 1, 2 ** 128, 2 ** 150];
        uint256[6] memory taus = [uint256(0), 1, 2 ** 32 - 1, 2 ** 64 - 1, 2 ** 64, 2 ** 100];
        for (uint256 i = 0; i < 6; i++) {
            for (uint256 j = 0; j < 6; j++) {
                assertEq(h.sigmaSqrtTau(vols[i], taus[j]), h.sigmaSqrtTauChecked(vols[i], taus[j]));
            }
            assertEq(
                h.sqrtTau(taus[i]),
                FixedPointMathLib.sqrt(taus[i] * 1e36 / BlackScholes.SECONDS_PER_YEAR)
            );
        }
    }

    function test_sigmaSqrtTau_RevertWhen_Overflows() public {
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        h.sigmaSqrtTau(2 ** 250, 365 days);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        h.sqrtTau(2 ** 200);
    }

    function testFuzz_liveDelta_EqualsChecked(
        bool isCall,
        bool twoLegs,
        uint256 v,
        int256 m1,
        int256 m2
    ) public view {
        // The whole unchecked range, and the realistic one (vol <= 5, tau <= 2 years) often.
        if (v % 2 == 0) {
            v = bound(v, 1, 2 ** 100 - 1);
            m1 = bound(m1, -(2 ** 100) + 1, 2 ** 100 - 1);
            m2 = bound(m2, -(2 ** 100) + 1, 2 ** 100 - 1);
        } else {
            v = bound(v, 1, 7.1e18);
            m1 = bound(m1, -60e18, 60e18);
            m2 = bound(m2, -60e18, 60e18);
        }
        int256 sv = int256(v);
        assertEq(
            h.liveDelta(isCall, sv, m1, m2, twoLegs),
            h.liveDeltaChecked(isCall, sv, m1, m2, twoLegs)
        );
    }

    /// @notice Outside the unchecked path's range liveDelta is the checked code: it reverts
    ///         where that does.
    function test_liveDelta_RevertWhen_OutOfRangeOverflows() public {
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        h.liveDelta(true, 2 ** 200, 0, 0, true);
    }

    function test_liveDelta_OutOfRangeEqualsChecked() public view {
        int256 v = 2 ** 110;
        assertEq(
            h.liveDelta(false, v, 2 ** 120, -(2 ** 101), true),
            h.liveDeltaChecked(false, v, 2 ** 120, -(2 ** 101), true)
        );
        assertEq(
            h.liveDelta(false, 1e18, -(2 ** 100), 0, false),
            h.liveDeltaChecked(false, 1e18, -(2 ** 100), 0, false)
        );
    }

    /// @notice A random book, its series sharing expiries (the cached v), some expired, equals
    ///         the sum of the memory path's deltas.
    function testFuzz_bookDelta_RandomBookMatchesEvaluate(
        uint256 seed,
        uint256 spot8,
        uint256 vol,
        uint256 dt
    ) public view {
        spot8 = bound(spot8, 100e8, 20_000e8);
        vol = bound(vol, 0.01e18, 5e18);
        uint256 t = block.timestamp + bound(dt, 0, 40 days);
        uint256 n = 1 + seed % 16; // up to a full 16-series book
        uint256[] memory book = new uint256[](n);
        int256 want;
        for (uint256 i = 0; i < n; i++) {
            // The memory path uses the strike logs computed at writing (those word 1 stores);
            // bookDelta gets word 0 alone and recomputes them.
            (uint256 w0,, int256 d) =
                _series(uint256(keccak256(abi.encode(seed, i))), spot8, vol, t);
            book[i] = w0;
            want += int256(SeriesLayout.size(w0)) * d / 1e18;
        }
        assertEq(pricer.bookDelta(book, spot8, vol, t), want, "bookDelta = sum of evaluate().delta");
    }

    /// @dev A random series' words and its memory-path delta.
    function _series(uint256 r, uint256 spot8, uint256 vol, uint256 t)
        internal
        view
        returns (uint256 w0, uint256 w1, int256 delta)
    {
        BlackScholes.Option memory o = BlackScholes.option(
            r & 1 == 0, bound(r >> 8, 500e8, 10_000e8), bound(r >> 72, 1e8, 12_000e8)
        );
        // Three expiries, in runs and interleaved: the cache must key on the expiry alone.
        uint256 expiry = block.timestamp + ((r >> 136) % 3) * 7 days + 1 days;
        (w0, w1) = _pack(o, expiry, bound(r >> 160, 1e12, 1e24));
        delta =
        BlackScholes.evaluate(
            o, spot8, BlackScholes.lnPrice(spot8), vol, expiry > t ? expiry - t : 0, true
        )
        .delta;
    }

    function _pack(BlackScholes.Option memory o, uint256 expiry, uint256 size)
        internal
        pure
        returns (uint256, uint256)
    {
        return SeriesLayout.pack(
            o.isCall ? IOptionVault.OptionType.Call : IOptionVault.OptionType.Put,
            uint256(o.strike / 1e10),
            uint256(o.cap / 1e10),
            expiry,
            size,
            o.lnStrike,
            o.lnStrike2
        );
    }
}
