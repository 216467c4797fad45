// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {OptionVault} from "../../../contracts/OptionVault.sol";
import {BatchTestBase} from "../fixtures/BatchTestBase.sol";
import {BatchHandler} from "./BatchHandler.sol";

/// @notice Stateful invariants of netted batches over four vaults on one pool.
contract BatchInvariantTest is BatchTestBase {
    BatchHandler internal handler;
    uint256 internal _quote0;
    uint256 internal _underlying0;

    function setUp() public override {
        super.setUp();
        _newVault(5e18);
        _newVault(0);
        _newVault(12e18);
        address[] memory vs = new address[](vaults.length);
        for (uint256 i; i < vs.length; ++i) {
            vs[i] = address(vaults[i]);
        }
        handler = new BatchHandler(batcher, usdc, weth, feed, venue, admin, vs);
        vm.prank(admin);
        batcher.setKeeper(address(handler), true);
        (_quote0, _underlying0) = _books();
        targetContract(address(handler));
    }

    function _books() internal view returns (uint256 q, uint256 u) {
        for (uint256 i; i < vaults.length; ++i) {
            q += usdc.balanceOf(address(vaults[i]));
            u += weth.balanceOf(address(vaults[i]));
        }
    }

    /// @dev The batcher never keeps anything between transactions.
    function invariant_BatcherHoldsNothing() public view {
        assertEq(usdc.balanceOf(address(batcher)), 0);
        assertEq(weth.balanceOf(address(batcher)), 0);
    }

    /// @dev Tokens are conserved across the vaults, the batcher and the pool: the vaults' sum
    ///      moves only by what the pool took in and paid out.
    function invariant_TokensConserved() public view {
        (uint256 q, uint256 u) = _books();
        assertEq(q + handler.ghost_poolQuoteIn(), _quote0 + handler.ghost_poolQuoteOut(), "quote");
        assertEq(
            u + handler.ghost_poolUnderlyingIn(),
            _underlying0 + handler.ghost_poolUnderlyingOut(),
            "underlying"
        );
    }

    /// @dev Every vault got at least its own minOut, whatever the others did.
    function invariant_EveryLegAtLeastItsMinOut() public view {
        assertEq(handler.ghost_belowMinOut(), 0);
    }

    /// @dev At most one pool swap per batch (one pool here), and the books match the tokens.
    function invariant_OneSwapPerBatchAndBooksBacked() public view {
        assertLe(handler.ghost_poolSwaps(), handler.ghost_batches());
        for (uint256 i; i < vaults.length; ++i) {
            OptionVault v = vaults[i];
            assertGe(usdc.balanceOf(address(v)), v.quoteBalance());
            assertEq(weth.balanceOf(address(v)), v.hedgeInventory());
        }
    }
}
