// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {RebalanceBatcher} from "../../contracts/RebalanceBatcher.sol";

/// @notice Exposes the batcher's `_mulDiv`.
contract BatcherMathHarness is RebalanceBatcher {
    constructor() RebalanceBatcher(msg.sender, 10, 1_000_000) {}

    function mulDiv(uint256 x, uint256 y, uint256 d, bool up) external pure returns (uint256) {
        return _mulDiv(x, y, d, up);
    }
}

/// @notice Reference: OpenZeppelin's 512-bit mulDiv.
contract OzMulDiv {
    function mulDiv(uint256 x, uint256 y, uint256 d, bool up) external pure returns (uint256) {
        return Math.mulDiv(x, y, d, up ? Math.Rounding.Ceil : Math.Rounding.Floor);
    }
}

/// @notice The batcher's crossing, netting and pro-rata amounts use `_mulDiv`: it must equal
///         `Math.mulDiv` (value, rounding and reverts) for every input.
contract RebalanceBatcherMathTest is Test {
    BatcherMathHarness internal h;
    OzMulDiv internal oz;

    function setUp() public {
        h = new BatcherMathHarness();
        oz = new OzMulDiv();
    }

    function _same(uint256 x, uint256 y, uint256 d, bool up) internal view {
        (bool okA, bytes memory a) =
            address(h).staticcall(abi.encodeCall(BatcherMathHarness.mulDiv, (x, y, d, up)));
        (bool okB, bytes memory b) =
            address(oz).staticcall(abi.encodeCall(OzMulDiv.mulDiv, (x, y, d, up)));
        assertEq(okA, okB, "reverts alike");
        assertEq(a, b, "same answer or revert data");
    }

    function testFuzz_mulDiv_EqualsOpenZeppelin(uint256 x, uint256 y, uint256 d, bool up)
        public
        view
    {
        _same(x, y, d, up);
        // Leg-sized amounts (the fast path), and a zero divisor.
        _same(x >> 128, y >> 128, d >> 128, up);
        _same(x >> 160, y >> 160, 0, up);
    }

    function test_mulDiv_Edges() public view {
        uint256 max = type(uint256).max;
        _same(0, max, 0, true);
        _same(max, 1, 1, true);
        _same(max, 1, 2, true);
        _same(max, max, max, true);
        _same(max, 2, 3, true); // overflows 256 bits, fits the result
        _same(max, 2, 1, false); // the result overflows: both panic
        _same(7, 3, 2, true);
        _same(7, 3, 2, false);
        _same(6, 3, 2, true);
    }
}
