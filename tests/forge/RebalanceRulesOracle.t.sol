// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {RebalanceRules} from "../../contracts/RebalanceRules.sol";

/// @notice A feed that answers whatever bytes it is told to, or reverts.
contract RawFeed {
    bytes internal _answer;
    bool internal _reverts;
    bool internal _burns;

    function set(bytes calldata answer, bool reverts, bool burns) external {
        _answer = answer;
        _reverts = reverts;
        _burns = burns;
    }

    fallback() external {
        bytes memory a = _answer;
        if (_burns) {
            while (true) {}
        }
        if (_reverts) {
            assembly {
                revert(add(a, 0x20), mload(a))
            }
        }
        assembly {
            return(add(a, 0x20), mload(a))
        }
    }
}

/// @notice `_latest` as it was: a Solidity try/catch.
contract TryLatest {
    // slither-disable-next-line unused-return
    function latest(address feed)
        external
        view
        returns (bool ok, int256 answer, uint256 startedAt, uint256 updatedAt)
    {
        try AggregatorV3Interface(feed).latestRoundData() returns (
            uint80, int256 a, uint256 s, uint256 u, uint80
        ) {
            return (true, a, s, u);
        } catch {
            return (false, 0, 0, 0);
        }
    }
}

/// @notice The oracle checks read the feed in assembly; they must answer (or revert) exactly as
///         the try/catch they replace, for every answer a feed can give.
contract RebalanceRulesOracleTest is Test {
    RebalanceRules internal rules;
    TryLatest internal ref;
    RawFeed internal feed;

    uint256 internal constant HEARTBEAT = 1 days;

    function setUp() public {
        rules = new RebalanceRules();
        ref = new TryLatest();
        feed = new RawFeed();
        vm.warp(1_750_000_000);
    }

    /// @dev oracleStatus with no sequencer feed, against the reference's answer run through the
    ///      same rules (price > 0, not stale).
    function _same(bytes memory answer, bool reverts) internal {
        feed.set(answer, reverts, false);
        (bool okRef, bytes memory refData) =
            address(ref).staticcall(abi.encodeCall(TryLatest.latest, (address(feed))));
        (bool okGot, bytes memory gotData) = address(rules)
            .staticcall(
                abi.encodeCall(
                    RebalanceRules.oracleStatus, (address(feed), address(0), HEARTBEAT, 0)
                )
            );
        assertEq(okGot, okRef, "reverts alike");
        if (!okRef) {
            assertEq(gotData, refData, "same revert data");
            return;
        }
        (bool ok, int256 a,, uint256 u) = abi.decode(refData, (bool, int256, uint256, uint256));
        (uint256 price, bytes memory err) = abi.decode(gotData, (uint256, bytes));
        if (!ok || a <= 0 || a > type(int128).max) {
            // not positive, or above the largest answer the pricing takes (MAX_ANSWER)
            assertEq(price, 0);
            assertEq(bytes4(err), bytes4(keccak256("OptionVaultInvalidPrice(int256)")));
        } else if (u > block.timestamp || block.timestamp - u > HEARTBEAT) {
            assertEq(bytes4(err), bytes4(keccak256("OptionVaultStaleOracle(uint256,uint256)")));
        } else {
            assertEq(price, uint256(a));
            assertEq(err.length, 0);
        }
    }

    function test_latest_MatchesTryCatch_Cases() public {
        bytes memory good =
            abi.encode(uint80(7), int256(3000e8), block.timestamp, block.timestamp, uint80(7));
        _same(good, false);
        _same(bytes.concat(good, bytes32(uint256(1))), false); // longer than five words
        _same(abi.encode(uint80(7), int256(-1), 0, block.timestamp, uint80(7)), false);
        int256 above = int256(type(int128).max) + 1; // over MAX_ANSWER: invalid, as not positive
        _same(abi.encode(uint80(7), above, 0, block.timestamp, uint80(7)), false);
        _same(abi.encode(uint80(7), int256(type(int128).max), 0, block.timestamp, uint80(7)), false);
        _same(abi.encode(uint80(7), int256(3000e8), 0, block.timestamp - 2 days, uint80(7)), false);
        _same(abi.encode(uint256(1) << 80, int256(3000e8), 0, block.timestamp, uint80(7)), false);
        _same(abi.encode(uint80(7), int256(3000e8), 0, block.timestamp, uint256(1) << 80), false);
        _same(abi.encode(uint80(7), int256(3000e8), 0, block.timestamp), false); // four words
        _same("", false); // returns nothing
        _same("", true); // reverts with no data
        _same(good, true); // reverts with data
    }

    function test_oracleStatus_RoundFromTheFutureIsStale() public {
        uint256[3] memory ats = [block.timestamp + 1, block.timestamp + 1 days, type(uint256).max];
        for (uint256 i = 0; i < ats.length; i++) {
            feed.set(abi.encode(uint80(7), int256(3000e8), 0, ats[i], uint80(7)), false, false);
            (uint256 price, bytes memory err) =
                rules.oracleStatus(address(feed), address(0), HEARTBEAT, 0);
            assertEq(price, 0, "no price from a future round");
            assertEq(
                err,
                abi.encodeWithSignature(
                    "OptionVaultStaleOracle(uint256,uint256)", ats[i], HEARTBEAT
                )
            );
        }
        // The block's own second is fresh.
        feed.set(abi.encode(uint80(7), int256(3000e8), 0, block.timestamp, uint80(7)), false, false);
        (uint256 p,) = rules.oracleStatus(address(feed), address(0), HEARTBEAT, 0);
        assertEq(p, 3000e8);
    }

    function test_latest_NoCodeRevertsLikeTryCatch() public {
        address eoa = makeAddr("eoa");
        vm.expectRevert(bytes(""));
        ref.latest(eoa);
        vm.expectRevert(bytes(""));
        rules.oracleStatus(eoa, address(0), HEARTBEAT, 0);
    }

    function test_latest_OutOfGasIsNotOk() public {
        feed.set("", false, true);
        (uint256 price, bytes memory err) =
            rules.oracleStatus{gas: 500_000}(address(feed), address(0), HEARTBEAT, 0);
        assertEq(price, 0);
        assertEq(bytes4(err), bytes4(keccak256("OptionVaultInvalidPrice(int256)")));
    }

    function testFuzz_latest_MatchesTryCatch(
        bytes32 w0,
        int256 a,
        uint256 s,
        uint256 u,
        bytes32 w4,
        uint8 len,
        bool reverts
    ) public {
        bytes memory full = abi.encode(w0, a, s, u, w4);
        if (uint256(w0) % 3 == 0) {
            // realistic ids, fresh answers
            full = abi.encode(
                uint80(uint256(w0)),
                a,
                s,
                bound(u, block.timestamp - 2 days, block.timestamp),
                uint80(uint256(w4))
            );
        }
        uint256 n = bound(len, 0, 192);
        bytes memory answer = new bytes(n);
        for (uint256 i = 0; i < n && i < full.length; i++) {
            answer[i] = full[i];
        }
        _same(answer, reverts);
    }
}
