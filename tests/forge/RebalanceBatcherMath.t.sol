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

/// @notice A vault whose `batchPlan` answers seven raw words (any call gets them).
contract RawPlanVault {
    uint256[7] internal _words;

    function set(uint256[7] memory words) external {
        _words = words;
    }

    fallback() external {
        uint256[7] memory w = _words;
        assembly ("memory-safe") {
            return(w, 0xe0)
        }
    }
}

/// @notice The batcher decodes `batchPlan`'s answer in assembly: it must reject what
///         `abi.decode(answer, (PlanAnswer))` rejects (a bool not 0/1, an address with bits
///         above 160), reverting with no data as the decoder does.
contract RebalanceBatcherPlanDecodeTest is Test {
    struct PlanAnswer {
        bool buy;
        uint256 amountIn;
        uint256 minOut;
        uint256 price;
        address tokenIn;
        address tokenOut;
        address venue;
    }

    RebalanceBatcher internal batcher;

    function setUp() public {
        batcher = new RebalanceBatcher(address(this), 10, 1_000_000);
        batcher.setKeeper(address(this), true);
    }

    function decodeReference(bytes memory answer) external pure returns (PlanAnswer memory) {
        return abi.decode(answer, (PlanAnswer));
    }

    function testFuzz_rebalanceBatch_RevertWhen_PlanAnswerUndecodable(uint256 which, uint256 junk)
        public
    {
        uint256[7] memory w = [uint256(1), 1e18, 1e18, 3000e8, 1, 2, 3];
        which = bound(which, 0, 3);
        if (which == 0) w[0] = bound(junk, 2, type(uint256).max);
        else w[3 + which] = bound(junk, 2 ** 160, type(uint256).max);
        RawPlanVault v = new RawPlanVault();
        v.set(w);
        bytes memory answer = abi.encode(w);
        vm.expectRevert(bytes(""));
        this.decodeReference(answer);

        address[] memory vs = new address[](2);
        (vs[0], vs[1]) = (address(v), address(v));
        vm.expectRevert(bytes(""));
        batcher.rebalanceBatch(vs, new int256[](2));
    }
}
