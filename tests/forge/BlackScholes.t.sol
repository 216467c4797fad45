// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, console2} from "forge-std/Test.sol";
import {MathHarness} from "./mocks/MathHarness.sol";
import {BlackScholes} from "../../contracts/libraries/BlackScholes.sol";
import {SeriesLayout} from "../../contracts/libraries/SeriesLayout.sol";
import {BookPricer} from "../../contracts/BookPricer.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {CallGreeksVectors, PutGreeksVectors} from "./fixtures/BsVectors.sol";

/// @notice On-chain Black-Scholes against exact-CDF reference values (scripts/gen_bs_vectors.py).
contract BlackScholesTest is Test {
    MathHarness internal h;
    CallGreeksVectors internal calls;
    PutGreeksVectors internal puts;

    uint256 internal constant ROW = 10;

    function setUp() public {
        h = new MathHarness();
        calls = new CallGreeksVectors();
        puts = new PutGreeksVectors();
    }

    function _check(int256[] memory d) internal view returns (int256[4] memory worst) {
        for (uint256 i = 0; i < d.length; i += ROW) {
            BlackScholes.Greeks memory g = h.capped(
                d[i] == 1,
                uint256(d[i + 1]),
                uint256(d[i + 2]),
                uint256(d[i + 3]),
                uint256(d[i + 4]),
                uint256(d[i + 5])
            );
            int256[4] memory got = [g.price, g.delta, g.gamma, g.vega];
            for (uint256 j = 0; j < 4; j++) {
                int256 err = got[j] - d[i + 6 + j];
                if (err < 0) err = -err;
                if (err > worst[j]) worst[j] = err;
            }
            int256 dOnly = h.cappedDelta(
                d[i] == 1,
                uint256(d[i + 1]),
                uint256(d[i + 2]),
                uint256(d[i + 3]),
                uint256(d[i + 4]),
                uint256(d[i + 5])
            );
            assertEq(dOnly, g.delta, "delta-only path equals the full path");
        }
    }

    function _report(string memory what, int256[4] memory w) internal pure {
        console2.log(what);
        console2.log("  price abs err (USD 1e18):", w[0]);
        console2.log("  delta abs err (1e18):", w[1]);
        console2.log("  gamma abs err (1e18):", w[2]);
        console2.log("  vega abs err (USD 1e18):", w[3]);
    }

    function test_capped_CallsMatchReference() public view {
        int256[4] memory w = _check(calls.data());
        _report("calls", w);
        _assertWithin(w);
    }

    function test_capped_PutsMatchReference() public view {
        int256[4] memory w = _check(puts.data());
        _report("puts", w);
        _assertWithin(w);
    }

    function _assertWithin(int256[4] memory w) internal pure {
        // Measured: price 2.1e-11 USD, delta 1.6e-16, gamma 1e-18, vega 1.9e-13 USD. Bounds:
        // price 1e-10 USD, delta 1e-15, gamma 1e-17 per USD, vega 1e-12 USD (per contract).
        assertLe(w[0], 1e8, "price");
        assertLe(w[1], 1e3, "delta");
        assertLe(w[2], 10, "gamma");
        assertLe(w[3], 1e6, "vega");
    }

    // ------------------------------------------------------------------ gas per series

    /// @dev A book of `n` open series (calls and puts alternating, capped, 7 + i days out).
    function _book(uint256 n) internal view returns (uint256[] memory book) {
        book = new uint256[](2 * n);
        for (uint256 i = 0; i < n; i++) {
            uint256 k = 2800e8 + i * 100e8;
            BlackScholes.Option memory o = BlackScholes.option(i % 2 == 0, k, 400e8);
            (book[2 * i], book[2 * i + 1]) = SeriesLayout.pack(
                i % 2 == 0 ? IOptionVault.OptionType.Call : IOptionVault.OptionType.Put,
                k,
                400e8,
                block.timestamp + 7 days + i * 1 days,
                5e18,
                o.lnStrike,
                o.lnStrike2
            );
        }
    }

    /// @dev The book as `bookDelta` takes it: word 0 of each series.
    function _words0(uint256[] memory book) internal pure returns (uint256[] memory w) {
        w = new uint256[](book.length / 2);
        for (uint256 i = 0; i < w.length; i++) {
            w[i] = book[2 * i];
        }
    }

    /// @dev Execution gas of `bookDelta` / `bookValue` (the callee alone) for `n` series.
    function _bookGas(BookPricer p, uint256 n) internal returns (uint256 dGas, uint256 vGas) {
        uint256[] memory book = _book(n);
        p.bookDelta(_words0(book), 3000e8, 0.8e18, block.timestamp);
        dGas = vm.lastCallGas().gasTotalUsed;
        p.bookValue(book, 3000e8, 0.8e18, block.timestamp);
        vGas = vm.lastCallGas().gasTotalUsed;
    }

    /// @notice The on-chain Greeks' gas per series: the issue's target is <= 10k. Measured
    ///         (Solady lnWad/sqrt, expWad and Hart/West in assembly, unchecked delta path and
    ///         sigma*sqrt(tau)): delta 4.5k a series in bookDelta, which recomputes the two strike
    ///         logs (~1k) rather than read them cold from storage (2.1k; 3.5k without them),
    ///         6.2k for MathHarness.cappedDelta with its three ln (the bench's figure), full
    ///         Greeks 14.4k a series in bookValue. Before (PRBMath): 15.3k, 36.3k, 27.5k. The
    ///         bounds leave ~15% headroom.
    function test_bookDelta_GasPerSeries() public {
        BookPricer p = new BookPricer();
        _bookGas(p, 1); // warm the pricer's account
        (uint256 d4, uint256 v4) = _bookGas(p, 4);
        (uint256 d8, uint256 v8) = _bookGas(p, 8);
        uint256 perDelta = (d8 - d4) / 4;
        uint256 perValue = (v8 - v4) / 4;
        h.cappedDelta(true, 3000e8, 3100e8, 400e8, 0.8e18, 7 days);
        uint256 harness = vm.lastCallGas().gasTotalUsed;
        console2.log("bookDelta gas per series:", perDelta);
        console2.log("bookValue gas per series:", perValue);
        console2.log("MathHarness.cappedDelta gas:", harness);
        assertLe(perDelta, 5200, "delta per series");
        assertLe(harness, 7500, "one series' delta with its logs");
        assertLe(perValue, 17_000, "full Greeks per series");
    }

    /// @notice The book's stack-only delta path equals the memory path, series by series.
    function testFuzz_bookDelta_MatchesEvaluate(uint256 spot8, uint256 vol, uint256 dt) public {
        spot8 = bound(spot8, 100e8, 20_000e8);
        vol = bound(vol, 0.05e18, 5e18);
        dt = bound(dt, 0, 30 days);
        BookPricer p = new BookPricer();
        uint256[] memory book = _book(4);
        uint256 t = block.timestamp + dt;
        int256 want;
        int256 lnSpot = BlackScholes.lnPrice(spot8);
        for (uint256 i = 0; i < 4; i++) {
            uint256 w0 = book[2 * i];
            uint256 expiry = SeriesLayout.expiry(w0);
            BlackScholes.Option memory o =
                BlackScholes.option(SeriesLayout.isCall(w0), SeriesLayout.strike(w0), 400e8);
            BlackScholes.Greeks memory g =
                BlackScholes.evaluate(o, spot8, lnSpot, vol, expiry > t ? expiry - t : 0, true);
            want += int256(SeriesLayout.size(w0)) * g.delta / 1e18;
        }
        assertEq(
            p.bookDelta(_words0(book), spot8, vol, t), want, "bookDelta = sum of evaluate().delta"
        );
    }
}
