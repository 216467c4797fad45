// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {OptionVault} from "../../../contracts/OptionVault.sol";
import {MockVenue} from "../mocks/MockVenue.sol";
import {BatchTestBase} from "../fixtures/BatchTestBase.sol";
import {TwoPairBatchHandler} from "./TwoPairBatchHandler.sol";

/// @notice Stateful invariants of netted batches over six vaults on two pairs (WETH/USDC and
///         WBTC18/USDC, each with its own feed and venue) that share the quote token.
contract TwoPairBatchInvariantTest is BatchTestBase {
    int256 internal constant PRICE_B = 60_000e8;

    TwoPairBatchHandler internal handler;
    MintableERC20 internal wbtc;
    MockV3Aggregator internal feedB;
    MockVenue internal venueB;
    uint256[3] internal _books0;

    function setUp() public override {
        super.setUp();
        wbtc = new MintableERC20("Wrapped BTC (18 dp)", "WBTC18", 18);
        feedB = new MockV3Aggregator(8, PRICE_B);
        venueB = new MockVenue(address(usdc), address(wbtc), uint256(PRICE_B));
        _newVault(5e18);
        _newVault(0);
        _newVaultB(1e18);
        _newVaultB(0);
        _newVaultB(2e18);
        address[] memory vs = new address[](vaults.length);
        for (uint256 i; i < vs.length; ++i) {
            vs[i] = address(vaults[i]);
        }
        handler = new TwoPairBatchHandler(
            batcher, usdc, [weth, wbtc], [feed, feedB], [venue, venueB], admin, vs
        );
        vm.prank(admin);
        batcher.setKeeper(address(handler), true);
        _books0 = _books();
        targetContract(address(handler));
    }

    /// @dev A WBTC18/USDC vault with its own feed and venue, holding `hold` WBTC18.
    function _newVaultB(uint256 hold) internal returns (OptionVault) {
        return _newVaultOn(address(wbtc), address(feedB), address(venueB), hold);
    }

    /// @dev Per token (USDC, WETH, WBTC18): what the vaults hold.
    function _books() internal view returns (uint256[3] memory b) {
        for (uint256 k; k < 3; ++k) {
            for (uint256 i; i < vaults.length; ++i) {
                b[k] += handler.token(k).balanceOf(address(vaults[i]));
            }
        }
    }

    /// @dev The batcher never keeps any of the three tokens between transactions.
    function invariant_BatcherHoldsNothing() public view {
        for (uint256 k; k < 3; ++k) {
            assertEq(handler.token(k).balanceOf(address(batcher)), 0);
        }
    }

    /// @dev Per token, the vaults' sum moves only by what the two pools took in and paid out.
    function invariant_TokensConservedPerToken() public view {
        uint256[3] memory b = _books();
        for (uint256 k; k < 3; ++k) {
            assertEq(b[k] + handler.poolIn(k), _books0[k] + handler.poolOut(k));
        }
    }

    /// @dev Every leg got at least its own minOut, whatever the other pair did.
    function invariant_EveryLegAtLeastItsMinOut() public view {
        assertEq(handler.ghost_belowMinOut(), 0);
    }

    /// @dev At most one swap per pool per batch (two pools here).
    function invariant_AtMostOneSwapPerPoolPerBatch() public view {
        assertEq(handler.ghost_multiSwap(), 0);
        assertLe(handler.ghost_poolSwaps(), 2 * handler.ghost_batches());
    }

    /// @dev Each pair's vaults' quote and underlying moved exactly by their own pool's swap:
    ///      the shared quote token never leaks between the pools.
    function invariant_PairsKeepTheirOwnQuote() public view {
        assertEq(handler.ghost_pairMismatch(), 0);
    }

    /// @dev The books match the tokens on both pairs.
    function invariant_BooksBacked() public view {
        for (uint256 i; i < vaults.length; ++i) {
            OptionVault v = vaults[i];
            assertGe(usdc.balanceOf(address(v)), v.quoteBalance());
            MintableERC20 u = v.underlying() == address(weth) ? weth : wbtc;
            assertEq(u.balanceOf(address(v)), v.hedgeInventory());
        }
    }
}
