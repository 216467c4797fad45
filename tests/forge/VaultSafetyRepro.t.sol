// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @notice Issue 13 reproductions on the pre-fix ABI (each one fails on the old tree).
contract VaultSafetyReproTest is VaultTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;

    // 1. settles at the price of the call, not of expiry
    function test_repro1_SettleLaterPaysAtCallPrice() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 10 days);
        uint256 id = _write(CALL, 3300e8, 1000e8, exp, 10e18, 500e6);
        vm.warp(exp);
        _setPrice(3000e8); // expires out of the money
        vm.warp(exp + 20 days);
        _setPrice(4500e8);
        uint256 navBefore = vault.totalAssets();
        vault.settle(id);
        assertEq(vault.series(id).payoutPerContract, 0, "paid at the later price");
        assertGe(vault.totalAssets() + 1, navBefore, "NAV fell");
    }

    // 1. an expired series is hedged as a digital
    function test_repro1_ExpiredSeriesHasDelta() public {
        _deposit(alice, 100_000e6);
        uint64 exp = uint64(block.timestamp + 1 days);
        _write(CALL, 3000e8, 1000e8, exp, 10e18, 500e6);
        vm.warp(exp + 1);
        _setPrice(3001e8);
        assertEq(vault.netDelta(), 0, "expired series still carries delta");
    }

    // 2. the desk pulls a premium from a depositor who approved the vault
    function test_repro2_DeskPullsFromApprover() public {
        _deposit(alice, 100_000e6);
        usdc.mint(bob, 50_000e6);
        vm.prank(bob);
        usdc.approve(address(vault), type(uint256).max);
        vm.prank(desk);
        try vault.writeOption(
            bob, CALL, 2000e8, 1000e8, uint64(block.timestamp + 30 days), 1e18, 1
        ) {
            assertTrue(false, "wrote without the buyer's consent, for 1e-6 USDC");
        } catch {}
    }

    // 3. exits at a stale NAV while the sequencer is down
    function test_repro3_WithdrawWhileSequencerDown() public {
        _deposit(alice, 100_000e6);
        _write(CALL, 3000e8, 1000e8, uint64(block.timestamp + 30 days), 50e18, 12_000e6);
        seqFeed.updateRoundData(2, 1, block.timestamp, block.timestamp); // down
        vm.warp(block.timestamp + 3 hours);
        assertEq(vault.maxWithdraw(alice), 0, "exits open at a stale price");
    }

    // 4. the oracle can never be replaced
    function test_repro4_NoOracleReplacement() public {
        vm.prank(admin);
        (bool ok,) = address(vault).call(abi.encodeWithSignature("proposeOracle(address)", bob));
        assertTrue(ok, "no proposeOracle");
    }

    // 5. a fee-on-transfer quote token: recorded cash exceeds real cash
    function test_repro5_FeeOnTransferOverCredits() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100);
        IOptionVault.InitParams memory p = _params();
        p.asset = address(fot);
        vm.prank(admin);
        (address v,) = factory.createVault(p);
        fot.mint(alice, 1000e6);
        vm.startPrank(alice);
        fot.approve(v, 1000e6);
        OptionVault(v).deposit(1000e6, alice);
        vm.stopPrank();
        assertLe(OptionVault(v).quoteBalance(), fot.balanceOf(v), "recorded > real");
    }

    // 6. the gap bound is looser than the slippage bound
    function test_repro6_GapAboveSlippageAccepted() public {
        vm.prank(admin);
        try vault.setMaxOracleGapBps(200) {
            assertTrue(false, "gap 2% > slippage 0.5% accepted");
        } catch {}
    }

    // 7. deposits open while paused
    function test_repro7_DepositWhilePaused() public {
        vm.prank(pauser);
        vault.pause();
        assertEq(vault.maxDeposit(alice), 0, "deposits open while paused");
    }

    // 7. tokens sent to the vault are lost
    function test_repro7_NoSweep() public {
        weth.mint(address(vault), 1e18);
        vm.prank(admin);
        (bool ok,) = address(vault)
            .call(abi.encodeWithSignature("sweep(address,address)", address(weth), admin));
        assertTrue(ok, "no sweep");
    }

    // 7. a premium far above model value moves NAV at once
    function test_repro7_MarkupUnbounded() public {
        _deposit(alice, 100_000e6);
        _fundBuyer(16_576e6);
        vm.prank(desk);
        try vault.writeOption(
            buyer, CALL, 3000e8, 1000e8, uint64(block.timestamp + 30 days), 10e18, 16_576e6
        ) {
            assertTrue(false, "premium 7x model value accepted");
        } catch {}
    }
}
