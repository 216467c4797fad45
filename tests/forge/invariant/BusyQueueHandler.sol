// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {LiquidityVault} from "../fixtures/LiquidityVault.sol";

/// @notice Drives a redemption queue over a 1:1 share token whose liquidity it sets, so fills
///         can be as partial as an adversary likes: a fraction of the escrow, or all of it but a
///         few share units (what drives the pro-rata index down fastest). The queue may never
///         empty for a whole run, so its index crosses many scales. Ghosts record what each
///         actor asked for and was paid.
contract BusyQueueHandler is CommonBase, StdUtils {
    LiquidityVault public immutable shares;
    RedemptionQueue public immutable queue;
    MintableERC20 public immutable usdc;
    address[4] internal actors;

    mapping(address => uint256) public ghost_requested;
    mapping(address => uint256) public ghost_claimedShares;
    mapping(address => uint256) public ghost_claimedAssets;
    uint256 public ghost_requestCount;
    uint256 public ghost_fills;
    uint256 public ghost_filledAssets;
    uint256 public ghost_totalClaimedAssets;

    constructor(LiquidityVault shares_, RedemptionQueue queue_, MintableERC20 usdc_) {
        shares = shares_;
        queue = queue_;
        usdc = usdc_;
        actors = [address(0xA11), address(0xB22), address(0xC33), address(0xD44)];
    }

    function actorList() external view returns (address[4] memory) {
        return actors;
    }

    function requestRedeem(uint256 seed, uint256 amount) external {
        address who = actors[seed % 4];
        // From one share unit to 1e12 assets' worth (1e24 units): the index must keep both.
        amount = bound(amount, 1, 10 ** bound(seed >> 8, 0, 24));
        shares.mint(who, amount);
        vm.startPrank(who);
        shares.approve(address(queue), amount);
        queue.requestRedeem(amount, who, who);
        vm.stopPrank();
        ghost_requested[who] += amount;
        ++ghost_requestCount;
    }

    /// @dev `mode` 0: a fraction `x` (bps) of the escrow; 1: all of it but `x % 1000 + 1` units;
    ///      2: all of it.
    function fill(uint256 mode, uint256 x) external {
        uint256 escrow = queue.totalPending();
        mode %= 3;
        uint256 liquidity;
        if (mode == 0) liquidity = escrow * bound(x, 0, 10_000) / 10_000;
        else if (mode == 1) liquidity = escrow > x % 1000 + 1 ? escrow - (x % 1000 + 1) : 0;
        else liquidity = escrow;
        shares.setLiquidity(liquidity);
        uint256 before = usdc.balanceOf(address(queue));
        queue.fill();
        ghost_filledAssets += usdc.balanceOf(address(queue)) - before;
        ++ghost_fills;
    }

    function claim(uint256 seed, uint256 frac) external {
        address who = actors[seed % 4];
        uint256 claimable = queue.maxRedeem(who);
        if (claimable == 0) return;
        uint256 amount = bound(frac, 1, claimable);
        uint256 before = usdc.balanceOf(who);
        vm.prank(who);
        queue.redeem(amount, who, who);
        uint256 paid = usdc.balanceOf(who) - before;
        ghost_claimedShares[who] += amount;
        ghost_claimedAssets[who] += paid;
        ghost_totalClaimedAssets += paid;
    }
}
