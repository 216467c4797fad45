// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {BookPricer} from "../../contracts/BookPricer.sol";
import {SeriesLayout} from "../../contracts/libraries/SeriesLayout.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {MathHarness} from "./mocks/MathHarness.sol";
import {BlackScholes} from "../../contracts/libraries/BlackScholes.sol";

/// @notice Soundness of the book pricer (helper-94): over every input a vault can reach (spot 1 .. 2^127 - 1
///         units, strikes 0.01 .. 1e8 USD, caps 1e-8 .. 1e8 USD, vol 1% .. 500%, 1 s .. 730 days),
///         the book's delta and value do not revert, delta is within [-1, 1] per contract with
///         the capped call's sign, value in [0, cap], bookDelta = greeks().delta; and put-call
///         parity holds to 1e-15 of the larger price.
contract BookPricerBoundsTest is Test {
    BookPricer p;

    struct In {
        bool isCall;
        uint256 spot8;
        uint256 k;
        uint256 c;
        uint256 vol;
        uint256 tau;
    }

    function setUp() public {
        p = new BookPricer();
        vm.warp(1_800_000_000);
    }

    function _words(In memory x) internal view returns (uint256 w0, uint256 w1) {
        (int256 l1, int256 l2) = p.strikeLogs(x.isCall, x.k, x.c);
        (w0, w1) = SeriesLayout.pack(
            x.isCall ? IOptionVault.OptionType.Call : IOptionVault.OptionType.Put,
            x.k,
            x.c,
            block.timestamp + x.tau,
            1e18,
            l1,
            l2
        );
    }

    function testFuzz_bookDelta_WithinBounds(
        bool isCall,
        uint256 spot8,
        uint256 k,
        uint256 c,
        uint256 vol,
        uint256 tau
    ) public view {
        In memory x = In(
            isCall,
            bound(spot8, 1, uint256(uint128(type(int128).max))),
            bound(k, 1e6, 1e16),
            bound(c, 1, 1e16),
            bound(vol, 0.01e18, 5e18),
            bound(tau, 1, 730 days)
        );
        _check(x);
    }

    function testFuzz_bookDelta_WithinBoundsLogScale(
        bool isCall,
        uint256 e,
        uint256 m,
        uint256 k,
        uint256 c,
        uint256 vol,
        uint256 tau
    ) public view {
        uint256 spot8 = bound(m, 1, 9) * 10 ** bound(e, 0, 37);
        uint256 kk = bound(k, 1, 9) * 10 ** bound(k >> 128, 6, 15);
        uint256 cc = bound(c, 1, 9) * 10 ** bound(c >> 128, 0, 15);
        In memory x = In(isCall, spot8, kk, cc, bound(vol, 0.01e18, 5e18), bound(tau, 1, 730 days));
        _check(x);
    }

    function _check(In memory x) internal view {
        (uint256 w0, uint256 w1) = _words(x);
        uint256[] memory b = new uint256[](2);
        b[0] = w0;
        b[1] = w1;
        uint256[] memory b0 = new uint256[](1);
        b0[0] = w0;
        int256 d = p.bookDelta(b0, x.spot8, x.vol, block.timestamp);
        uint256 v = p.bookValue(b, x.spot8, x.vol, block.timestamp);
        (int256 pr, int256 dd,,) = p.greeks(w0, w1, x.spot8, x.vol, block.timestamp);
        assertEq(d, dd);
        assertGe(d, -1e18);
        assertLe(d, 1e18);
        if (x.isCall) assertGe(d, -2);
        else assertLe(d, 2);
        assertGe(pr, 0);
        assertLe(pr, int256(x.c) * 1e10);
        assertLe(v, x.c / 100 + 1);
    }
}

contract BlackScholesParityTest is Test {
    MathHarness h;

    function setUp() public {
        h = new MathHarness();
    }

    function testFuzz_vanilla_PutCallParity(uint256 s, uint256 k, uint256 vol, uint256 tau)
        public
        view
    {
        s = bound(s, 1e6, 1e16); // 0.01 .. 1e8 USD, the strikes' own range
        k = bound(k, 1e6, 1e16);
        vol = bound(vol, 0.01e18, 5e18);
        tau = bound(tau, 1, 730 days);
        BlackScholes.Greeks memory c = h.vanilla(true, s, k, vol, tau);
        BlackScholes.Greeks memory p = h.vanilla(false, s, k, vol, tau);
        int256 lhs = c.price - p.price;
        int256 rhs = (int256(s) - int256(k)) * 1e10;
        int256 err = lhs - rhs;
        if (err < 0) err = -err;
        // 1e-15 of the larger price, plus a few wei.
        int256 big = int256(s > k ? s : k) * 1e10;
        assertLe(err, big / 1e15 + 10, "put-call parity");
        assertEq(c.delta - p.delta, 1e18, "delta parity");
    }
}
