// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test, Vm} from "forge-std/Test.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {OptionVault} from "../../../contracts/OptionVault.sol";
import {RebalanceBatcher} from "../../../contracts/RebalanceBatcher.sol";
import {IRebalanceBatcher} from "../../../contracts/interfaces/IRebalanceBatcher.sol";
import {MockVenue} from "../mocks/MockVenue.sol";

/// @notice Drives netted batches over vaults on two pairs (WETH/USDC and WBTC18/USDC, each with
///         its own feed and venue, sharing the quote token): random targets, post-trade
///         deviations, oracle and pool prices per pair, warps that may leave one pair's oracle
///         stale. Ghosts track every token the pools took in and paid out, each leg against its
///         own minOut, the swaps per pool per batch, and each pair's quote against its own pool.
contract TwoPairBatchHandler is Test {
    bytes32 internal constant REBALANCED =
        keccak256("Rebalanced(int256,int256,uint256,uint256,uint256,uint8)");

    RebalanceBatcher internal immutable _batcher;
    MintableERC20 internal immutable _usdc;
    address internal immutable _admin;
    MintableERC20[2] internal _und;
    MockV3Aggregator[2] internal _feeds;
    MockVenue[2] internal _venues;
    address[] internal _vaults;
    /// @dev 1 + the pair index (0 WETH, 1 WBTC18) of each vault.
    mapping(address => uint256) internal _pairOf;

    uint256 public ghost_batches;
    uint256 public ghost_legs;
    uint256 public ghost_dropped;
    uint256 public ghost_poolSwaps;
    /// @dev Batches in which some pool swapped more than once (must stay 0).
    uint256 public ghost_multiSwap;
    /// @dev Legs that got less than their own minOut (must stay 0).
    uint256 public ghost_belowMinOut;
    /// @dev Batches in which a pair's vaults' quote or underlying moved by other than what its
    ///      own pool's swap took in or paid out (must stay 0).
    uint256 public ghost_pairMismatch;
    /// @dev Per token (0 USDC, 1 WETH, 2 WBTC18): what the venues took in and minted out.
    uint256[3] internal _poolIn;
    uint256[3] internal _poolOut;

    constructor(
        RebalanceBatcher batcher,
        MintableERC20 usdc,
        MintableERC20[2] memory und,
        MockV3Aggregator[2] memory feeds,
        MockVenue[2] memory venues,
        address admin,
        address[] memory vaults_
    ) {
        (_batcher, _usdc, _admin) = (batcher, usdc, admin);
        (_und, _feeds, _venues) = (und, feeds, venues);
        _vaults = vaults_;
        for (uint256 i; i < vaults_.length; ++i) {
            _pairOf[vaults_[i]] = OptionVault(vaults_[i]).underlying() == address(und[0]) ? 1 : 2;
        }
    }

    function vaults() external view returns (address[] memory) {
        return _vaults;
    }

    function poolIn(uint256 k) external view returns (uint256) {
        return _poolIn[k];
    }

    function poolOut(uint256 k) external view returns (uint256) {
        return _poolOut[k];
    }

    function token(uint256 k) public view returns (MintableERC20) {
        return k == 0 ? _usdc : _und[k - 1];
    }

    function setTarget(uint256 i, int256 target) external {
        _setTarget(OptionVault(_vaults[i % _vaults.length]), target);
    }

    function _setTarget(OptionVault v, int256 target) internal {
        target =
            _pairOf[address(v)] == 1 ? bound(target, -20e18, 60e18) : bound(target, -2e18, 8e18);
        vm.prank(_admin);
        v.setTargetDelta(target);
    }

    function movePrices(uint256 priceA, uint256 priceB, uint256 bpsA, uint256 bpsB) external {
        priceA = bound(priceA, 2000e8, 4000e8);
        priceB = bound(priceB, 40_000e8, 80_000e8);
        _move(0, priceA, bound(bpsA, 9_960, 10_040));
        _move(1, priceB, bound(bpsB, 9_960, 10_040));
    }

    /// @dev Warps; `freshMask` bit k refreshes pair k's feed (an unrefreshed one may go stale).
    function warp(uint256 dt, uint256 freshMask) external {
        vm.warp(block.timestamp + bound(dt, 60, 2 days));
        uint256 m = freshMask % 4; // 0 or 3: both feeds; 1 or 2: one pair's feed only
        for (uint256 k; k < 2; ++k) {
            if (m != 0 && (m >> k) & 1 == 0) continue;
            (, int256 p,,,) = _feeds[k].latestRoundData();
            _feeds[k].updateAnswer(p);
        }
    }

    /// @dev `retarget` bit i moves vault i's target first (to `targets[i]`, bounded): most
    ///      vaults sit at their last target after a batch, and a batch of vaults inside their
    ///      bands has no leg to check.
    function batch(uint256 mask, int256[6] memory posts, uint256 retarget, int256[6] memory targets)
        external
    {
        // Past every vault's minInterval (60 s), so a leg is dropped for what the fuzzer chose
        // (a target inside the band, a stale feed), not because the last batch was a moment ago.
        vm.warp(block.timestamp + 61);
        uint256 n = _vaults.length;
        address[] memory vs = new address[](n);
        int256[] memory ps = new int256[](n);
        for (uint256 i; i < n; ++i) {
            vs[i] = _vaults[i];
            if ((retarget >> i) & 1 == 1) _setTarget(OptionVault(vs[i]), targets[i % 6]);
            int256 cap = _pairOf[vs[i]] == 1 ? int256(1e18) : int256(0.1e18);
            ps[i] = (mask >> i) & 1 == 1 ? bound(posts[i % 6], -cap, cap) : int256(0);
        }
        uint256[3] memory held;
        uint256[3] memory supply;
        for (uint256 k; k < 3; ++k) {
            MintableERC20 t = token(k);
            held[k] = t.balanceOf(address(_venues[0])) + t.balanceOf(address(_venues[1]));
            supply[k] = t.totalSupply();
        }
        vm.recordLogs();
        vm.prank(address(this));
        IRebalanceBatcher.Outcome[] memory o = _batcher.rebalanceBatch(vs, ps);
        ++ghost_batches;
        for (uint256 i; i < n; ++i) {
            if (o[i].ok) ++ghost_legs;
            else ++ghost_dropped;
        }
        for (uint256 k; k < 3; ++k) {
            MintableERC20 t = token(k);
            _poolIn[k] += t.balanceOf(address(_venues[0])) + t.balanceOf(address(_venues[1]))
            - held[k];
            _poolOut[k] += t.totalSupply() - supply[k];
        }
        _countLogs();
    }

    function _move(uint256 k, uint256 price, uint256 bps) internal {
        // forge-lint: disable-next-line(unsafe-typecast)
        _feeds[k].updateAnswer(int256(price));
        _venues[k].setPrices(price * bps / 10_000, price);
    }

    /// @dev Per pair: quote and underlying into its vaults, and what its pool paid out, net;
    ///      and the pool's swaps in this batch.
    struct Acc {
        int256[2] vq;
        int256[2] vu;
        int256[2] pq;
        int256[2] pu;
        uint256[2] swaps;
    }

    function _countLogs() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        Acc memory a;
        for (uint256 j; j < logs.length; ++j) {
            if (
                logs[j].topics[0] == IRebalanceBatcher.PoolSwapped.selector
                    && logs[j].emitter == address(_batcher)
            ) {
                _onSwap(a, logs[j]);
            } else if (logs[j].topics[0] == REBALANCED && _pairOf[logs[j].emitter] != 0) {
                _onLeg(a, logs[j]);
            }
        }
        if (a.swaps[0] > 1 || a.swaps[1] > 1) ++ghost_multiSwap;
        for (uint256 k; k < 2; ++k) {
            if (a.vq[k] != a.pq[k] || a.vu[k] != a.pu[k]) ++ghost_pairMismatch;
        }
    }

    function _onSwap(Acc memory a, Vm.Log memory log) internal {
        ++ghost_poolSwaps;
        address venue = address(uint160(uint256(log.topics[1])));
        uint256 k = venue == address(_venues[0]) ? 0 : 1;
        ++a.swaps[k];
        (address tokenIn,, uint256 ai, uint256 ao,) =
            abi.decode(log.data, (address, address, uint256, uint256, uint256));
        // forge-lint: disable-next-line(unsafe-typecast)
        (int256 i_, int256 o_) = (int256(ai), int256(ao));
        if (tokenIn == address(_usdc)) (a.pq[k], a.pu[k]) = (a.pq[k] - i_, a.pu[k] + o_);
        else (a.pq[k], a.pu[k]) = (a.pq[k] + o_, a.pu[k] - i_);
    }

    function _onLeg(Acc memory a, Vm.Log memory log) internal {
        uint256 k = _pairOf[log.emitter] - 1;
        (int256 before_, int256 after_, uint256 amountIn, uint256 amountOut, uint256 price,) =
            abi.decode(log.data, (int256, int256, uint256, uint256, uint256, uint8));
        bool buy = after_ > before_;
        uint256 minOut = buy
            ? amountIn * 9950 * 1e20 / (price * 10_000)
            : amountIn * 9950 * price / (1e20 * 10_000);
        if (amountOut < minOut) ++ghost_belowMinOut;
        // forge-lint: disable-next-line(unsafe-typecast)
        (int256 s, int256 r) = (int256(amountIn), int256(amountOut));
        if (buy) (a.vq[k], a.vu[k]) = (a.vq[k] - s, a.vu[k] + r);
        else (a.vq[k], a.vu[k]) = (a.vq[k] + r, a.vu[k] - s);
    }
}
