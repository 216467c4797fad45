// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, Vm} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {RebalanceBatcher} from "../../contracts/RebalanceBatcher.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {StubOptionVault} from "./stubs/StubOptionVault.sol";

contract RebalanceBatcherTest is Test {
    uint256 internal constant MAX_BATCH = 50;
    uint256 internal constant GAS_LIMIT = 1_000_000;

    address internal admin = makeAddr("admin");
    address internal keeper = makeAddr("keeper");
    RebalanceBatcher internal batcher;

    function setUp() public {
        batcher = new RebalanceBatcher(admin, MAX_BATCH, GAS_LIMIT);
        vm.prank(admin);
        batcher.setKeeper(keeper, true);
    }

    // ------------------------------------------------------------------ helpers

    function _vault(StubOptionVault.Mode mode, int256 delta) internal returns (StubOptionVault v) {
        v = new StubOptionVault(address(batcher), address(0), address(0), address(0));
        v.setMode(mode);
        v.setState(delta, 0, 0, 0, 0, false);
    }

    function _one(address v) internal pure returns (address[] memory a) {
        a = new address[](1);
        a[0] = v;
    }

    function _run(address[] memory vaults) internal returns (IRebalanceBatcher.Outcome[] memory) {
        vm.prank(keeper);
        return batcher.rebalanceMany(vaults);
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor_SetsConfig() public view {
        assertEq(batcher.maxBatch(), MAX_BATCH);
        assertEq(batcher.vaultGasLimit(), GAS_LIMIT);
        assertTrue(batcher.hasRole(batcher.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(batcher.isKeeper(keeper));
        assertFalse(batcher.isKeeper(admin));
    }

    function test_constructor_RevertWhen_BadParameters() public {
        vm.expectRevert(IRebalanceBatcher.RebalanceBatcherZeroAddress.selector);
        new RebalanceBatcher(address(0), 10, GAS_LIMIT);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherParameterOutOfBounds.selector,
                bytes32("maxBatch"),
                0
            )
        );
        new RebalanceBatcher(admin, 0, GAS_LIMIT);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherParameterOutOfBounds.selector,
                bytes32("maxBatch"),
                501
            )
        );
        new RebalanceBatcher(admin, 501, GAS_LIMIT);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherParameterOutOfBounds.selector,
                bytes32("vaultGasLimit"),
                99_999
            )
        );
        new RebalanceBatcher(admin, 10, 99_999);
    }

    // ------------------------------------------------------------------ admin

    function test_setKeeper_RegistersAndRemoves() public {
        address k = makeAddr("k2");
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.KeeperSet(k, true);
        vm.prank(admin);
        batcher.setKeeper(k, true);
        assertTrue(batcher.isKeeper(k));

        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.KeeperSet(k, false);
        vm.prank(admin);
        batcher.setKeeper(k, false);
        assertFalse(batcher.isKeeper(k));
    }

    function test_setKeeper_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                keeper,
                batcher.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(keeper);
        batcher.setKeeper(keeper, true);
    }

    function test_setKeeper_RevertWhen_ZeroAddress() public {
        vm.expectRevert(IRebalanceBatcher.RebalanceBatcherZeroAddress.selector);
        vm.prank(admin);
        batcher.setKeeper(address(0), true);
    }

    function test_setVaultGasLimit_UpdatesWithinBounds() public {
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.VaultGasLimitSet(GAS_LIMIT, 500_000);
        vm.prank(admin);
        batcher.setVaultGasLimit(500_000);
        assertEq(batcher.vaultGasLimit(), 500_000);

        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherParameterOutOfBounds.selector,
                bytes32("vaultGasLimit"),
                10_000_001
            )
        );
        vm.prank(admin);
        batcher.setVaultGasLimit(10_000_001);
    }

    function test_setVaultGasLimit_RevertWhen_NotAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                keeper,
                batcher.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(keeper);
        batcher.setVaultGasLimit(500_000);
    }

    // ------------------------------------------------------------------ rebalanceMany: access

    function test_rebalanceMany_RevertWhen_NotKeeper() public {
        StubOptionVault v = _vault(StubOptionVault.Mode.Succeed, 5e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, address(this)
            )
        );
        batcher.rebalanceMany(_one(address(v)));
        assertEq(v.rebalanceCalls(), 0);
    }

    function test_rebalanceMany_RevertWhen_KeeperRemoved() public {
        vm.prank(admin);
        batcher.setKeeper(keeper, false);
        vm.expectRevert(
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherUnauthorized.selector, keeper)
        );
        vm.prank(keeper);
        batcher.rebalanceMany(new address[](1));
    }

    function test_rebalanceMany_RevertWhen_EmptyBatch() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherBadBatchSize.selector, 0, MAX_BATCH
            )
        );
        vm.prank(keeper);
        batcher.rebalanceMany(new address[](0));
    }

    function test_rebalanceMany_RevertWhen_BatchTooLarge() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherBadBatchSize.selector, MAX_BATCH + 1, MAX_BATCH
            )
        );
        vm.prank(keeper);
        batcher.rebalanceMany(new address[](MAX_BATCH + 1));
    }

    // ------------------------------------------------------------------ rebalanceMany: outcomes

    function test_rebalanceMany_AllSucceed() public {
        address[] memory vaults = new address[](3);
        for (uint256 i; i < 3; ++i) {
            vaults[i] = address(_vault(StubOptionVault.Mode.Succeed, int256(i + 1) * 1e18));
        }
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.BatchExecuted(keeper, 3, 3);
        vm.recordLogs();
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);
        // A vault rebalanced is told by its own event alone: the batcher's only log is the batch.
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 fromBatcher;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(batcher)) ++fromBatcher;
        }
        assertEq(fromBatcher, 1);

        assertEq(out.length, 3);
        for (uint256 i; i < 3; ++i) {
            assertEq(out[i].vault, vaults[i]);
            assertTrue(out[i].ok);
            assertEq(out[i].deltaBefore, int256(i + 1) * 1e18);
            assertEq(out[i].deltaAfter, 0);
            assertGt(out[i].gasUsed, 0);
            assertEq(out[i].reason.length, 0);
            assertEq(StubOptionVault(vaults[i]).rebalanceCalls(), 1);
        }
    }

    function test_rebalanceMany_OneRevertingVaultDoesNotSinkBatch() public {
        address[] memory vaults = new address[](3);
        vaults[0] = address(_vault(StubOptionVault.Mode.Succeed, 2e18));
        vaults[1] = address(_vault(StubOptionVault.Mode.RevertWithinBand, 5e17));
        vaults[2] = address(_vault(StubOptionVault.Mode.Succeed, -3e18));
        bytes memory expected = abi.encodeWithSelector(
            IOptionVault.OptionVaultWithinBand.selector, int256(5e17), int256(0), uint256(1e18)
        );
        vm.expectEmit(address(batcher));
        emit IRebalanceBatcher.VaultRebalanceFailed(vaults[1], expected);
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);

        assertTrue(out[0].ok);
        assertFalse(out[1].ok);
        assertEq(out[1].reason, expected, "decoded custom error lost");
        assertEq(out[1].deltaBefore, 0);
        assertTrue(out[2].ok);
        assertEq(out[2].deltaBefore, -3e18);
        assertEq(StubOptionVault(vaults[2]).rebalanceCalls(), 1);
    }

    function test_rebalanceMany_RecordsBatchCounts() public {
        address[] memory vaults = new address[](2);
        vaults[0] = address(_vault(StubOptionVault.Mode.RevertWithinBand, 0));
        vaults[1] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        vm.recordLogs();
        _run(vaults);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        Vm.Log memory last = logs[logs.length - 1];
        assertEq(last.topics[0], IRebalanceBatcher.BatchExecuted.selector);
        assertEq(address(uint160(uint256(last.topics[1]))), keeper);
        (uint256 attempted, uint256 succeeded) = abi.decode(last.data, (uint256, uint256));
        assertEq(attempted, 2);
        assertEq(succeeded, 1);
    }

    function test_rebalanceMany_ReasonWhen_NoCode() public {
        address eoa = makeAddr("eoa");
        address[] memory vaults = new address[](2);
        vaults[0] = eoa;
        vaults[1] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);
        assertFalse(out[0].ok);
        assertEq(
            out[0].reason,
            abi.encodeWithSelector(IRebalanceBatcher.RebalanceBatcherNoCode.selector, eoa)
        );
        assertEq(out[0].gasUsed, 0);
        assertTrue(out[1].ok);
    }

    function test_rebalanceMany_ReasonWhen_ShortReturnData() public {
        StubOptionVault v = _vault(StubOptionVault.Mode.ReturnNothing, 1e18);
        IRebalanceBatcher.Outcome[] memory out = _run(_one(address(v)));
        assertFalse(out[0].ok);
        assertEq(
            out[0].reason,
            abi.encodeWithSelector(
                IRebalanceBatcher.RebalanceBatcherBadReturnData.selector, address(v), 0
            )
        );
    }

    function test_rebalanceMany_TruncatesHugeRevertData() public {
        address[] memory vaults = new address[](2);
        vaults[0] = address(_vault(StubOptionVault.Mode.RevertHuge, 0));
        vaults[1] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        uint256 g = gasleft();
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);
        g -= gasleft();
        assertFalse(out[0].ok);
        assertEq(out[0].reason.length, batcher.MAX_REASON_BYTES());
        assertTrue(out[1].ok);
        // copying 100 kB of revert data into memory would cost > 1M gas on its own
        assertLt(g, 400_000);
    }

    function test_rebalanceMany_GasBurningVaultFailsAlone() public {
        address[] memory vaults = new address[](3);
        vaults[0] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        vaults[1] = address(_vault(StubOptionVault.Mode.BurnGas, 0));
        vaults[2] = address(_vault(StubOptionVault.Mode.Succeed, 2e18));
        vm.prank(keeper);
        IRebalanceBatcher.Outcome[] memory out = batcher.rebalanceMany{gas: 5_000_000}(vaults);
        assertTrue(out[0].ok);
        assertFalse(out[1].ok);
        assertEq(out[1].reason.length, 0, "out of gas has no revert data");
        // the vault consumed its whole allowance, and no more
        assertGe(out[1].gasUsed, GAS_LIMIT);
        assertLt(out[1].gasUsed, GAS_LIMIT + 10_000);
        assertTrue(out[2].ok);
    }

    function test_rebalanceMany_RevertWhen_GasRunsShort() public {
        address[] memory vaults = new address[](3);
        vaults[0] = address(_vault(StubOptionVault.Mode.BurnGas, 0));
        vaults[1] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        vaults[2] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        // enough for the first vault's full limit, not for a second one: the caller's gas limit
        // is too low for this batch, so the batch reverts instead of silently skipping vaults
        vm.expectPartialRevert(IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        vm.prank(keeper);
        batcher.rebalanceMany{gas: 1_600_000}(vaults);
        assertEq(StubOptionVault(vaults[1]).rebalanceCalls(), 0);
    }

    /// @dev The pre-check is `vaultGasLimit * 64/63 + BOOKKEEPING_GAS`, the rule the keeper
    ///      reads (`BOOKKEEPING_GAS()`) to size a batch's gas limit.
    function test_rebalanceMany_InsufficientGasNamesTheReserve() public {
        address[] memory vaults = new address[](1);
        vaults[0] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        assertEq(batcher.BOOKKEEPING_GAS(), 40_000);
        vm.prank(keeper);
        (bool ok, bytes memory data) = address(batcher).call{gas: 300_000}(
            abi.encodeCall(IRebalanceBatcher.rebalanceMany, (vaults))
        );
        assertFalse(ok);
        assertEq(bytes4(data), IRebalanceBatcher.RebalanceBatcherInsufficientGas.selector);
        (, uint256 needed) = abi.decode(_args(data), (uint256, uint256));
        assertEq(needed, GAS_LIMIT + GAS_LIMIT / 63 + batcher.BOOKKEEPING_GAS());
    }

    /// @dev A custom error's arguments (its data without the selector).
    function _args(bytes memory data) internal pure returns (bytes memory out) {
        out = new bytes(data.length - 4);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[i + 4];
        }
    }

    function test_rebalanceMany_EveryVaultGetsItsFullLimit() public {
        // two gas burners in a row: with enough gas, each consumes its whole allowance, so the
        // second was not starved by the first (the pre-check accounts for EIP-150's 63/64)
        address[] memory vaults = new address[](3);
        vaults[0] = address(_vault(StubOptionVault.Mode.BurnGas, 0));
        vaults[1] = address(_vault(StubOptionVault.Mode.BurnGas, 0));
        vaults[2] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        vm.prank(keeper);
        IRebalanceBatcher.Outcome[] memory out = batcher.rebalanceMany{gas: 3_500_000}(vaults);
        assertGe(out[0].gasUsed, GAS_LIMIT);
        assertGe(out[1].gasUsed, GAS_LIMIT);
        assertTrue(out[2].ok);
    }

    function test_rebalanceMany_ReentryFailsThatVaultOnly() public {
        address[] memory vaults = new address[](2);
        vaults[0] = address(_vault(StubOptionVault.Mode.Reenter, 1e18));
        vaults[1] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);
        assertFalse(out[0].ok);
        assertEq(
            out[0].reason,
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertTrue(out[1].ok);
    }

    function test_rebalanceMany_VaultRejectsOtherCallers() public {
        // the stub is keeper-gated on the batcher: a keeper EOA calling it directly is refused,
        // which is why batching needs this contract rather than a generic multicall
        StubOptionVault v = _vault(StubOptionVault.Mode.Succeed, 1e18);
        vm.expectRevert(abi.encodeWithSelector(StubOptionVault.StubUnauthorized.selector, keeper));
        vm.prank(keeper);
        v.rebalance();
    }

    function testFuzz_rebalanceMany_OutcomesMatchVaults(uint256 seed, uint8 count) public {
        uint256 n = bound(count, 1, 12);
        address[] memory vaults = new address[](n);
        bool[] memory shouldSucceed = new bool[](n);
        for (uint256 i; i < n; ++i) {
            uint256 pick = uint256(keccak256(abi.encode(seed, i))) % 5;
            // 0..4: Succeed, RevertWithinBand, RevertHuge, ReturnNothing, not a contract
            if (pick == 4) {
                vaults[i] = address(uint160(0xdead0000 + i));
            } else {
                StubOptionVault.Mode m =
                    pick == 3 ? StubOptionVault.Mode.ReturnNothing : StubOptionVault.Mode(pick);
                vaults[i] = address(_vault(m, int256(i) * 1e17));
            }
            shouldSucceed[i] = pick == 0;
        }
        IRebalanceBatcher.Outcome[] memory out = _run(vaults);
        assertEq(out.length, n);
        for (uint256 i; i < n; ++i) {
            assertEq(out[i].vault, vaults[i]);
            assertEq(out[i].ok, shouldSucceed[i]);
            assertEq(out[i].reason.length == 0, shouldSucceed[i]);
            if (shouldSucceed[i]) assertEq(out[i].deltaBefore, int256(i) * 1e17);
        }
    }

    function test_rebalanceMany_Gas10() public {
        address[] memory vaults = new address[](10);
        for (uint256 i; i < 10; ++i) {
            vaults[i] = address(_vault(StubOptionVault.Mode.Succeed, 1e18));
        }
        vm.prank(keeper);
        uint256 g = gasleft();
        IRebalanceBatcher.Outcome[] memory out = batcher.rebalanceMany(vaults);
        g -= gasleft();
        uint256 inVaults;
        for (uint256 i; i < 10; ++i) {
            inVaults += out[i].gasUsed;
        }
        emit log_named_uint("rebalanceMany(10 stub vaults): total gas", g);
        emit log_named_uint("rebalanceMany(10 stub vaults): batcher overhead", g - inVaults);
        // the batcher's own cost per vault (call, event, outcome) stays small
        assertLt(g - inVaults, 10 * 8000);
    }
}
