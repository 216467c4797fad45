// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, Vm} from "forge-std/Test.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {OptionVault} from "../../../contracts/OptionVault.sol";
import {RebalanceBatcher} from "../../../contracts/RebalanceBatcher.sol";
import {IRebalanceBatcher} from "../../../contracts/interfaces/IRebalanceBatcher.sol";
import {MockVenue} from "../mocks/MockVenue.sol";

/// @notice Drives netted batches over a few vaults: random targets, requested post-trade
///         deviations, oracle and pool prices, and warps. Ghost sums track every token that
///         entered or left the vaults and the pool, and every vault's output against its minOut.
contract BatchHandler is Test {
    bytes32 internal constant REBALANCED =
        keccak256("Rebalanced(int256,int256,uint256,uint256,uint256,uint8)");

    RebalanceBatcher internal immutable _batcher;
    MintableERC20 internal immutable _usdc;
    MintableERC20 internal immutable _weth;
    MockV3Aggregator internal immutable _feed;
    MockVenue internal immutable _venue;
    address internal immutable _admin;
    address[] internal _vaults;

    uint256 public ghost_batches;
    uint256 public ghost_legs;
    uint256 public ghost_dropped;
    uint256 public ghost_poolSwaps;
    /// @dev Legs that got less than their own minOut (must stay 0).
    uint256 public ghost_belowMinOut;
    /// @dev Quote and underlying the pool took in and minted out, over all batches.
    uint256 public ghost_poolQuoteIn;
    uint256 public ghost_poolQuoteOut;
    uint256 public ghost_poolUnderlyingIn;
    uint256 public ghost_poolUnderlyingOut;

    constructor(
        RebalanceBatcher batcher,
        MintableERC20 usdc,
        MintableERC20 weth,
        MockV3Aggregator feed,
        MockVenue venue,
        address admin,
        address[] memory vaults_
    ) {
        (_batcher, _usdc, _weth, _feed, _venue, _admin) = (batcher, usdc, weth, feed, venue, admin);
        _vaults = vaults_;
    }

    function vaults() external view returns (address[] memory) {
        return _vaults;
    }

    function setTarget(uint256 i, int256 target) external {
        _setTarget(OptionVault(_vaults[i % _vaults.length]), target);
    }

    function _setTarget(OptionVault v, int256 target) internal {
        target = bound(target, -20e18, 60e18);
        vm.prank(_admin);
        v.setTargetDelta(target);
    }

    function movePrices(uint256 price, uint256 poolBps) external {
        price = bound(price, 2000e8, 4000e8);
        poolBps = bound(poolBps, 9_960, 10_040);
        _feed.updateAnswer(int256(price));
        _venue.setPrices(price * poolBps / 10_000, price);
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 60, 2 days));
        (, int256 p,,,) = _feed.latestRoundData();
        _feed.updateAnswer(p);
    }

    /// @dev `retarget` bit i moves vault i's target first (to `targets[i]`, bounded): most
    ///      vaults sit at their last target after a batch, and a batch of vaults inside their
    ///      bands has no leg to check.
    function batch(uint256 mask, int256[4] memory posts, uint256 retarget, int256[4] memory targets)
        external
    {
        // Past every vault's minInterval (60 s), so a leg is dropped for what the fuzzer chose,
        // not because the last batch was a moment ago.
        vm.warp(block.timestamp + 61);
        uint256 n = _vaults.length;
        address[] memory vs = new address[](n);
        int256[] memory ps = new int256[](n);
        for (uint256 i; i < n; ++i) {
            vs[i] = _vaults[i];
            if ((retarget >> i) & 1 == 1) _setTarget(OptionVault(vs[i]), targets[i % 4]);
            ps[i] = (mask >> i) & 1 == 1 ? bound(posts[i % 4], -1e18, 1e18) : int256(0);
        }
        uint256 poolQ = _usdc.balanceOf(address(_venue));
        uint256 poolU = _weth.balanceOf(address(_venue));
        uint256 supplyQ = _usdc.totalSupply();
        uint256 supplyU = _weth.totalSupply();
        (, int256 p,,,) = _feed.latestRoundData();
        vm.recordLogs();
        vm.prank(address(this));
        IRebalanceBatcher.Outcome[] memory o = _batcher.rebalanceBatch(vs, ps);
        ++ghost_batches;
        for (uint256 i; i < n; ++i) {
            if (o[i].ok) ++ghost_legs;
            else ++ghost_dropped;
        }
        ghost_poolQuoteIn += _usdc.balanceOf(address(_venue)) - poolQ;
        ghost_poolUnderlyingIn += _weth.balanceOf(address(_venue)) - poolU;
        ghost_poolQuoteOut += _usdc.totalSupply() - supplyQ;
        ghost_poolUnderlyingOut += _weth.totalSupply() - supplyU;
        _countLogs(uint256(p));
    }

    function _countLogs(uint256 price) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 swapped = IRebalanceBatcher.PoolSwapped.selector;
        for (uint256 j; j < logs.length; ++j) {
            if (logs[j].topics[0] == swapped) ++ghost_poolSwaps;
            if (logs[j].topics[0] != REBALANCED) continue;
            (int256 before_, int256 after_, uint256 amountIn, uint256 amountOut,,) =
                abi.decode(logs[j].data, (int256, int256, uint256, uint256, uint256, uint8));
            bool buy = after_ > before_;
            uint256 minOut = buy
                ? amountIn * 9950 * 1e20 / (price * 10_000)
                : amountIn * 9950 * price / (1e20 * 10_000);
            if (amountOut < minOut) ++ghost_belowMinOut;
        }
    }
}
