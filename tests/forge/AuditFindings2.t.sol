// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {OptionVault} from "../../contracts/OptionVault.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice A second audit's finding on the netted batch: a pool that cannot meet one leg's
///         `minOut` reverts the whole `rebalanceBatch`, so one vault with a tight slippage bound
///         kept every vault batched with it unhedged, every cycle. A leg cannot be dropped once
///         its input was sent (that needs a vault-side cancel, and OptionVault has no code room
///         left under EIP-170), so the keeper's simulation drops the strictest vaults and tries
///         again (tests/unit/test_audit_findings2.py). This pins the two facts that rule rests
///         on: the strictest vault sinks the batch, and without it the others trade.
contract AuditFindings2BatchTest is BatchTestBase {
    OptionVault internal strict; // slippage bound 0.05%: the pool's fee is more than it accepts
    OptionVault internal lax; // slippage bound 0.5% (the fixture's default)

    function setUp() public override {
        super.setUp();
        strict = vault;
        lax = _newVault(0);
        vm.startPrank(admin);
        strict.setMaxOracleGapBps(5); // gap <= slippage
        strict.setMaxSlippageBps(5);
        strict.setTargetDelta(5e18);
        lax.setTargetDelta(5e18);
        vm.stopPrank();
        // The pool delivers 0.1% less than the oracle price (a fee tier's worth).
        venue.setOutputBps(9990);
    }

    function test_rebalanceBatch_RevertWhen_PoolMissesTheStrictestVaultsMinOut() public {
        address[] memory both = _addrs(strict, lax);
        vm.prank(keeper);
        vm.expectPartialRevert(IHedgeVenue.HedgeVenueInsufficientOutput.selector);
        batcher.rebalanceBatch(both, _zeros(2));
    }

    function test_rebalanceBatch_WithoutTheStrictestVaultTheOthersTrade() public {
        // Each buys 15,000 USDC of WETH on the netted path: 4.995 WETH, above its own 4.975
        // minOut.
        OptionVault other = _newVault(0);
        vm.prank(admin);
        other.setTargetDelta(5e18);
        address[] memory two = _addrs(lax, other);
        vm.prank(keeper);
        batcher.rebalanceBatch(two, _zeros(2));
        assertEq(lax.hedgeInventory(), 4.995e18, "the lax vault is hedged");
        assertEq(other.hedgeInventory(), 4.995e18, "and so is the other");
    }
}
