// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Test.sol";

import {OptionVault} from "../../contracts/OptionVault.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice Test stub: a series' "vault" whose `settle` spins until its call runs out of gas once
///         `burning` is set, as a vault whose feed burns gas only at mining does (its estimate
///         saw it quiet); quiet, it settles nothing and returns 0.
contract GasBurnerSettle {
    bool public burning;

    function setBurning(bool on) external {
        burning = on;
    }

    function settle(uint256, uint80) external view returns (uint256) {
        if (burning) {
            while (true) {}
        }
        return 0;
    }
}

/// @notice `RebalanceBatcher.settleBatch` when a series burns its whole gas allowance at mining:
///         the honest series after it settle in the same transaction, and a series the batch
///         could not give its full allowance is reported skipped for gas, never settled twice.
contract SettleBatchGasTest is BatchTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;

    /// @dev `vaultGasLimit + vaultGasLimit / 63 + BOOKKEEPING_GAS` for the fixture's 2M limit.
    uint256 internal constant NEEDED = 2_071_746; // 2M + floor(2M / 63) + 40k
    /// @dev What a keeper's estimate gives the batch [burner, honest, honest] with the burner
    ///      quiet: the last series' full reserve and the others' use (checked in the test).
    uint256 internal constant QUIET_ESTIMATE = 2_400_000;

    OptionVault internal other;
    GasBurnerSettle internal burner;
    uint64 internal expiry;
    uint256[2] internal ids; // one series of `vault`, one of `other`
    uint80 internal round;

    function setUp() public override {
        super.setUp();
        other = _newVault(0);
        bytes32 deskRole = other.DESK_ROLE();
        vm.prank(admin);
        other.grantRole(deskRole, desk);
        burner = new GasBurnerSettle();
        expiry = uint64(block.timestamp + 1 days);
        ids[0] = _write(CALL, 3000e8, 500e8, expiry, 2e18, 50e6);
        ids[1] = _writeOn(other, CALL, 3200e8, 400e8, expiry, 3e18, 50e6);
        vm.warp(expiry + 1);
        _setPrice(3300e8);
        round = _expiryRound(expiry);
    }

    /// @dev The batch [burner, vault's series, other's series].
    function _burnerFirst()
        internal
        view
        returns (address[] memory vs, uint256[] memory sids, uint80[] memory rounds)
    {
        vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(burner), address(vault), address(other));
        sids = new uint256[](3);
        (sids[0], sids[1], sids[2]) = (7, ids[0], ids[1]);
        rounds = new uint80[](3);
        (rounds[0], rounds[1], rounds[2]) = (round, round, round);
    }

    function _settleBatch(
        uint256 gas,
        address[] memory vs,
        uint256[] memory sids,
        uint80[] memory rounds
    ) internal returns (IRebalanceBatcher.SettleOutcome[] memory) {
        vm.prank(keeper);
        return batcher.settleBatch{gas: gas}(vs, sids, rounds);
    }

    function _insufficientGas(bytes memory reason) internal pure returns (bool) {
        return reason.length == 68
            && bytes4(reason) == IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector;
    }

    /// @dev Until now the batch reverted whole (`RebalanceBatcherInsufficientGas` at the second
    ///      series), and the keeper fell back to one transaction a series.
    function test_settleBatch_BurnerAtMiningFailsAloneTheOthersSettle() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _burnerFirst();
        // The gas is a quiet estimate's: with the burner quiet, the batch settles whole.
        uint256 snap = vm.snapshotState();
        IRebalanceBatcher.SettleOutcome[] memory quiet =
            _settleBatch(QUIET_ESTIMATE, vs, sids, rounds);
        assertTrue(quiet[0].ok && quiet[1].ok && quiet[2].ok, "quiet, the estimate settles all");
        vm.revertToState(snap);

        burner.setBurning(true); // at mining
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.SettlementFailed(address(burner), 7, "");
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.SettleBatchExecuted(keeper, 3, 2);
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(QUIET_ESTIMATE, vs, sids, rounds);
        assertFalse(o[0].ok, "the burner fails");
        assertEq(o[0].reason, "", "its own out-of-gas: it had its full allowance");
        assertTrue(o[1].ok && o[2].ok, "the honest series after it settle");
        assertEq(o[1].reason.length + o[2].reason.length, 0);
        assertTrue(vault.series(ids[0]).settled && other.series(ids[1]).settled);
    }

    /// @dev A second burner, after the first, cannot get its full allowance: it is skipped for
    ///      gas (`RebalanceBatcherInsufficientGas` with its figures), not blamed, not an OOG.
    function test_settleBatch_SeriesShortOfGasIsReportedSkipped() public {
        GasBurnerSettle second = new GasBurnerSettle();
        burner.setBurning(true);
        second.setBurning(true);
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _burnerFirst();
        vs[1] = address(second);
        vm.recordLogs();
        IRebalanceBatcher.SettleOutcome[] memory o = _settleBatch(QUIET_ESTIMATE, vs, sids, rounds);
        assertEq(o[0].reason, "", "the first burner had its full allowance");
        assertTrue(_insufficientGas(o[1].reason), "the second is skipped for gas");
        (uint256 gasLeft, uint256 needed) = abi.decode(_args(o[1].reason), (uint256, uint256));
        assertEq(needed, NEEDED);
        assertLt(gasLeft, needed);
        assertFalse(o[2].ok);
        assertTrue(_insufficientGas(o[2].reason), "nothing left for the third: skipped too");
        assertFalse(other.series(ids[1]).settled);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 failed;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IRebalanceBatcher.SettlementFailed.selector) ++failed;
        }
        assertEq(failed, 3, "each series not settled has its event (the keeper books by them)");
    }

    /// @dev With nothing failed before it, a series short of gas still reverts the batch: the
    ///      caller's gas limit is short, and `eth_estimateGas` lands on a limit that gives every
    ///      series its full allowance.
    function test_settleBatch_RevertWhen_ShortWithNothingFailed() public {
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _burnerFirst();
        vm.prank(keeper);
        vm.expectPartialRevert(IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        batcher.settleBatch{gas: NEEDED + 60_000}(vs, sids, rounds);
    }

    /// @dev At any gas for the batch, with a burner anywhere and a duplicate of a series: either
    ///      the whole batch reverts with `RebalanceBatcherInsufficientGas` (never an out-of-gas),
    ///      or every series is settled or reported (its own reason, skipped for gas, or settled
    ///      already), one `SeriesSettled` a settled series, nothing settled twice.
    function testFuzz_settleBatch_EverySeriesSettledOrReportedOnce(
        uint256 gas,
        uint256 burnerAt,
        bool burning
    ) public {
        gas = bound(gas, 60_000, 3 * NEEDED);
        burnerAt = bound(burnerAt, 0, 3);
        burner.setBurning(burning);
        (address[] memory vs, uint256[] memory sids, uint80[] memory rounds) = _fuzzBatch(burnerAt);
        vm.recordLogs();
        vm.prank(keeper);
        (bool success, bytes memory ret) =
            address(batcher).call{gas: gas}(abi.encodeCall(batcher.settleBatch, (vs, sids, rounds)));
        if (!success) {
            assertTrue(_insufficientGas(ret), "only the batcher's own gas revert");
            // A burner first that got its full allowance never sinks the rest.
            assertFalse(burning && burnerAt == 0 && gas >= NEEDED + 50_000, "reverted whole");
            assertFalse(vault.series(ids[0]).settled || other.series(ids[1]).settled);
            return;
        }
        IRebalanceBatcher.SettleOutcome[] memory o =
            abi.decode(ret, (IRebalanceBatcher.SettleOutcome[]));
        (uint256 ok, uint256[2] memory settledNow) = _checkOutcomes(o, vs, sids, burning);
        assertLe(settledNow[0], 1, "settled twice");
        assertLe(settledNow[1], 1, "settled twice");
        assertEq(vault.series(ids[0]).settled, settledNow[0] == 1);
        assertEq(other.series(ids[1]).settled, settledNow[1] == 1);
        (uint256 seriesSettled, uint256 failedEvents) = _countLogs();
        assertEq(seriesSettled, settledNow[0] + settledNow[1], "one SeriesSettled a settlement");
        assertEq(failedEvents, 4 - ok, "one SettlementFailed a series not settled");
        if (!burning && gas >= 4 * NEEDED / 3) assertEq(ok, 3, "the duplicate alone fails");
    }

    /// @dev [vault's, other's, vault's again] with the burner at `burnerAt`.
    function _fuzzBatch(uint256 burnerAt)
        internal
        view
        returns (address[] memory vs, uint256[] memory sids, uint80[] memory rounds)
    {
        address[3] memory order = [address(vault), address(other), address(vault)];
        uint256[3] memory sidOrder = [ids[0], ids[1], ids[0]];
        vs = new address[](4);
        sids = new uint256[](4);
        rounds = new uint80[](4);
        uint256 k;
        for (uint256 i; i < 4; ++i) {
            rounds[i] = round;
            if (i == burnerAt) {
                (vs[i], sids[i]) = (address(burner), 7);
            } else {
                (vs[i], sids[i]) = (order[k], sidOrder[k]);
                ++k;
            }
        }
    }

    /// @dev Every outcome is a settlement or a known reason; the settlements of each vault.
    function _checkOutcomes(
        IRebalanceBatcher.SettleOutcome[] memory o,
        address[] memory vs,
        uint256[] memory sids,
        bool burning
    ) internal view returns (uint256 ok, uint256[2] memory settledNow) {
        for (uint256 i; i < o.length; ++i) {
            assertEq(o[i].vault, vs[i]);
            assertEq(o[i].id, sids[i]);
            if (o[i].ok) {
                ++ok;
                assertEq(o[i].reason.length, 0);
                if (vs[i] != address(burner)) ++settledNow[vs[i] == address(vault) ? 0 : 1];
                continue;
            }
            bool known = _insufficientGas(o[i].reason);
            if (vs[i] == address(burner)) {
                known = known || (burning && o[i].reason.length == 0);
            } else {
                bytes memory already = abi.encodeWithSelector(
                    IOptionVault.OptionVaultAlreadySettled.selector, sids[i]
                );
                known = known || keccak256(o[i].reason) == keccak256(already);
            }
            assertTrue(known, "skipped for gas, its own failure, or settled already");
        }
    }

    /// @dev `SeriesSettled` and `SettlementFailed` events recorded.
    function _countLogs() internal returns (uint256 seriesSettled, uint256 failedEvents) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (t == IOptionVault.SeriesSettled.selector) ++seriesSettled;
            if (t == IRebalanceBatcher.SettlementFailed.selector) ++failedEvents;
        }
    }

    /// @dev The ABI arguments of an error (its data after the selector).
    function _args(bytes memory reason) internal pure returns (bytes memory a) {
        a = new bytes(reason.length - 4);
        for (uint256 i; i < a.length; ++i) {
            a[i] = reason[i + 4];
        }
    }
}
