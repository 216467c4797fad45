// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";

/// @dev An ERC-4626-like share token whose NAV (assets per 1e12 shares, rounded down as
///      ERC-4626 redeems) and instant-exit liquidity a test sets: a request made at one NAV is
///      filled at another. Shares have 12 decimals over the asset's 6, as {OptionVault}'s.
contract NavVault is ERC20 {
    MintableERC20 public immutable quote;
    uint256 public liquidity; // shares the queue may redeem
    uint256 public nav = 1e6; // assets per 1e12 shares

    constructor(MintableERC20 quote_) ERC20("Share", "SHR") {
        quote = quote_;
    }

    function decimals() public pure override returns (uint8) {
        return 12;
    }

    function asset() external view returns (address) {
        return address(quote);
    }

    function mint(address to, uint256 shares) external {
        _mint(to, shares);
    }

    function set(uint256 liquidity_, uint256 nav_) external {
        liquidity = liquidity_;
        nav = nav_;
    }

    function maxRedeem(address owner) external view returns (uint256) {
        return Math.min(balanceOf(owner), liquidity);
    }

    function previewRedeem(uint256 shares) public view returns (uint256) {
        return Math.mulDiv(shares, nav, 1e12);
    }

    function redeem(uint256 shares, address receiver, address owner) external returns (uint256) {
        require(msg.sender == owner && shares <= liquidity, "NavVault: redeem");
        liquidity -= shares;
        uint256 assets = previewRedeem(shares);
        _burn(owner, shares);
        quote.mint(receiver, assets);
        return assets;
    }
}

/// @notice Drives a redemption queue as depositors and an attacker would: requests for oneself,
///         for another controller (a gift) and by an operator; fills at a NAV that moves between
///         them, as partial as an adversary likes; claims by shares or by assets, in part, by the
///         controller or its operator, to another receiver. Ghosts keep, per controller, the
///         assets each fill owes it exactly (its pending shares before the fill over the escrow,
///         times the assets the fill brought in) and what it was paid.
contract ExitConservationHandler is CommonBase, StdUtils {
    NavVault public immutable shares;
    RedemptionQueue public immutable queue;
    MintableERC20 public immutable usdc;
    address[4] internal actors;
    /// @dev Where operators send claims: counted apart from the actors' own balances.
    address public constant SINK = address(0x5111);

    mapping(address => uint256) public ghost_requested;
    mapping(address => uint256) public ghost_requests;
    /// @dev Exact (rational) assets owed by the fills, scaled by 1e18 to keep fractions.
    mapping(address => uint256) public ghost_owedE18;
    mapping(address => uint256) public ghost_paid;
    mapping(address => uint256) public ghost_claimedShares;
    uint256 public ghost_fills;
    uint256 public ghost_requestCount;
    uint256 public ghost_filledAssets;
    uint256 public ghost_claimedAssets;
    bool public ghost_claimRevertedWithinMax;

    constructor(NavVault shares_, RedemptionQueue queue_, MintableERC20 usdc_) {
        shares = shares_;
        queue = queue_;
        usdc = usdc_;
        actors = [address(0xA11), address(0xB22), address(0xC33), address(0xD44)];
        // actor 3 is actor 0's operator: it requests and claims for it
        vm.prank(actors[0]);
        queue.setOperator(actors[3], true);
    }

    function actorList() external view returns (address[4] memory) {
        return actors;
    }

    /// @dev `how` 0: for oneself; 1: a gift to the next actor; 2: actor 3 for actor 0, as its
    ///      operator, from actor 0's shares.
    function requestRedeem(uint256 seed, uint256 amount, uint256 how) external {
        address owner = actors[seed % 4];
        address controller = owner;
        address caller = owner;
        how %= 3;
        if (how == 1) controller = actors[(seed + 1) % 4];
        if (how == 2) (owner, controller, caller) = (actors[0], actors[0], actors[3]);
        amount = bound(amount, 1, 10 ** bound(seed >> 8, 0, 24));
        shares.mint(owner, amount);
        vm.prank(owner);
        shares.approve(address(queue), amount);
        vm.prank(caller);
        queue.requestRedeem(amount, controller, owner);
        ghost_requested[controller] += amount;
        ghost_requests[controller] += 1;
        ++ghost_requestCount;
    }

    /// @dev `mode` 0: a fraction of the escrow; 1: all but a few units; 2: all of it. The NAV
    ///      moves first (0.5 to 2 assets a share).
    function fill(uint256 mode, uint256 x, uint256 navSeed) external {
        uint256 escrow = queue.totalPending();
        mode %= 3;
        uint256 liquidity;
        if (mode == 0) liquidity = escrow * bound(x, 0, 10_000) / 10_000;
        else if (mode == 1) liquidity = escrow > x % 1000 + 1 ? escrow - (x % 1000 + 1) : 0;
        else liquidity = escrow;
        shares.set(liquidity, bound(navSeed, 5e5, 2e6));
        uint256[4] memory before;
        for (uint256 i = 0; i < 4; ++i) {
            before[i] = queue.pendingRedeemRequest(0, actors[i]);
        }
        uint256 held = usdc.balanceOf(address(queue));
        (, uint256 assets) = queue.fill();
        require(usdc.balanceOf(address(queue)) - held == assets, "fill reports what arrived");
        if (assets != 0) {
            for (uint256 i = 0; i < 4; ++i) {
                ghost_owedE18[actors[i]] += Math.mulDiv(before[i] * 1e18, assets, escrow);
            }
        }
        ghost_filledAssets += assets;
        ++ghost_fills;
    }

    /// @dev By shares or by assets, a part or all, by the controller or (actor 0) its operator.
    function claim(uint256 seed, uint256 frac, bool byAssets, bool viaOperator) external {
        address controller = actors[seed % 4];
        address caller = controller;
        address receiver = controller;
        if (viaOperator && controller == actors[0]) (caller, receiver) = (actors[3], SINK);
        uint256 before = usdc.balanceOf(receiver);
        uint256 paid;
        if (byAssets) {
            uint256 max = queue.maxWithdraw(controller);
            if (max == 0) return;
            uint256 amount = bound(frac, 1, max);
            vm.prank(caller);
            try queue.withdraw(amount, receiver, controller) returns (uint256 used) {
                ghost_claimedShares[controller] += used;
            } catch {
                ghost_claimRevertedWithinMax = true;
                return;
            }
        } else {
            uint256 max = queue.maxRedeem(controller);
            if (max == 0) return;
            uint256 amount = bound(frac, 1, max);
            vm.prank(caller);
            try queue.redeem(amount, receiver, controller) {
                ghost_claimedShares[controller] += amount;
            } catch {
                ghost_claimRevertedWithinMax = true;
                return;
            }
        }
        paid = usdc.balanceOf(receiver) - before;
        ghost_paid[controller] += paid;
        ghost_claimedAssets += paid;
    }
}
