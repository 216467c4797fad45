// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {OptionVault} from "../../../contracts/OptionVault.sol";
import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../../contracts/interfaces/IRebalanceBatcher.sol";
import {RedemptionQueue} from "../../../contracts/RedemptionQueue.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {RebalanceRules} from "../../../contracts/RebalanceRules.sol";
import {MockVenue} from "../mocks/MockVenue.sol";

/// @notice Drives a vault and its redemption queue: deposits, requests, fills, claims, instant
///         exits at their maximum, writes that lock collateral, expiries and settlements, and
///         price moves. Ghosts record what each actor asked for and was paid, and flag a fill
///         that was not pro rata, an instant exit that took reserved quote, and a maximum exit
///         that reverted (the invariant run does not fail on reverts, so these are checked
///         here, by try/catch, and asserted in the invariants).
contract RedemptionQueueHandler is CommonBase, StdCheats, StdUtils {
    OptionVault public immutable vault;
    RedemptionQueue public immutable queue;
    MintableERC20 public immutable usdc;
    MockV3Aggregator public immutable feed;
    MockVenue public immutable venue;
    address public immutable desk;
    address public immutable buyer;
    uint256 internal immutable _buyerKey;
    address[4] internal actors;

    mapping(address => uint256) public ghost_requested;
    mapping(address => uint256) public ghost_claimedShares;
    mapping(address => uint256) public ghost_requests;
    uint256 public ghost_requestCount;
    uint256 public ghost_filledAssets;
    uint256 public ghost_claimedAssets;
    uint256 public ghost_fills;
    bool public ghost_notProRata;
    bool public ghost_jumpedQueue;
    bool public ghost_maxExitReverted;
    bool public ghost_claimOverpaid;
    uint256 public ghost_sentWithoutRequest;
    bool public ghost_keptUnrequested;
    bool public ghost_fillReverted;
    /// @dev Fills through the batcher's `fillBatch`, as the keeper sends them, and what they
    ///      reported against what the queue booked.
    uint256 public ghost_batchFills;
    bool public ghost_batchOutcomeWrong;
    IRebalanceBatcher public batcher;

    constructor(
        OptionVault vault_,
        RedemptionQueue queue_,
        MintableERC20 usdc_,
        MockV3Aggregator feed_,
        MockVenue venue_,
        address desk_
    ) {
        vault = vault_;
        queue = queue_;
        usdc = usdc_;
        feed = feed_;
        venue = venue_;
        desk = desk_;
        (buyer, _buyerKey) = makeAddrAndKey("rq-buyer");
        actors = [makeAddr("rq-a"), makeAddr("rq-b"), makeAddr("rq-c"), makeAddr("rq-d")];
    }

    /// @dev The batcher whose `fillBatch` the `fill` action may use; set once, by the test.
    function setBatcher(IRebalanceBatcher b) external {
        if (address(batcher) == address(0)) batcher = b;
    }

    function actorList() external view returns (address[4] memory) {
        return actors;
    }

    function _price() internal view returns (uint256) {
        (, int256 p,,,) = feed.latestRoundData();
        return uint256(p);
    }

    // ------------------------------------------------------------------ holders

    function deposit(uint256 seed, uint256 assets) external {
        address a = actors[seed % 4];
        assets = _bound(assets, 1e6, 200_000e6);
        if (assets > vault.maxDeposit(a)) return;
        usdc.mint(a, assets);
        vm.startPrank(a);
        usdc.approve(address(vault), assets);
        vault.deposit(assets, a);
        vm.stopPrank();
    }

    /// @dev An actor and some of its shares (0 when it holds none).
    function _someShares(uint256 seed, uint256 frac)
        internal
        view
        returns (address a, uint256 shares)
    {
        a = actors[seed % 4];
        uint256 bal = vault.balanceOf(a);
        if (bal != 0) shares = _bound(frac, 1, bal);
    }

    function requestRedeem(uint256 seed, uint256 frac) external {
        (address a, uint256 shares) = _someShares(seed, frac);
        if (shares == 0) return;
        vm.startPrank(a);
        vault.approve(address(queue), shares);
        queue.requestRedeem(shares, a, a);
        vm.stopPrank();
        ghost_requested[a] += shares;
        ghost_requests[a] += 1;
        ghost_requestCount += 1;
    }

    /// @dev Shares sent to the queue without a request (a holder's mistake, or a griefer's): they
    ///      belong to no request.
    function send(uint256 seed, uint256 frac) external {
        (address a, uint256 shares) = _someShares(seed, frac);
        if (shares == 0) return;
        vm.prank(a);
        vault.transfer(address(queue), shares);
        ghost_sentWithoutRequest += shares;
    }

    /// @dev Anyone may fill; checks each request got `assets * pending / escrow` (rounded down),
    ///      the escrow being the requests' shares, and that afterwards the queue holds no share
    ///      sent without a request. `viaBatcher`: the fill goes through the batcher's
    ///      `fillBatch`, whose outcome must report what the queue booked.
    function fill(bool viaBatcher) external {
        uint256 escrow = queue.totalPending();
        uint256[4] memory pending;
        uint256[4] memory claimable;
        for (uint256 i = 0; i < 4; ++i) {
            pending[i] = queue.pendingRedeemRequest(0, actors[i]);
            claimable[i] = queue.maxWithdraw(actors[i]);
        }
        // The run does not fail on reverts: a fill that reverts is flagged here.
        uint256 shares;
        uint256 assets;
        if (viaBatcher && address(batcher) != address(0)) {
            uint256 before = usdc.balanceOf(address(queue));
            uint256 held = vault.balanceOf(address(queue));
            address[] memory qs = new address[](1);
            qs[0] = address(queue);
            IRebalanceBatcher.FillOutcome[] memory o = batcher.fillBatch(qs);
            if (!o[0].ok) {
                ghost_fillReverted = true;
                return;
            }
            (shares, assets) = (o[0].shares, o[0].assets);
            ghost_batchFills += 1;
            // What it reports is what the queue booked: the assets it received, and the shares
            // it redeemed out of the escrow it held (after any unrequested ones went).
            uint256 redeemed = held - vault.balanceOf(address(queue));
            if (
                usdc.balanceOf(address(queue)) - before != assets || redeemed < shares
                    || vault.balanceOf(address(batcher)) != 0
                    || usdc.balanceOf(address(batcher)) != 0
            ) ghost_batchOutcomeWrong = true;
        } else {
            try queue.fill() returns (uint256 s, uint256 a) {
                (shares, assets) = (s, a);
            } catch {
                ghost_fillReverted = true;
                return;
            }
        }
        if (vault.balanceOf(address(queue)) != queue.totalPending()) ghost_keptUnrequested = true;
        if (shares == 0) return;
        ghost_fills += 1;
        ghost_filledAssets += assets;
        for (uint256 i = 0; i < 4; ++i) {
            uint256 got = queue.maxWithdraw(actors[i]) - claimable[i];
            // A request's exact stake lies in [pending, pending + 1) shares (pending rounds
            // down), so its fair part lies in [assets * pending / E, assets * (pending + 1) / E].
            uint256 lo = assets * pending[i] / escrow;
            uint256 hi = assets * (pending[i] + 1) / escrow;
            // +1: `got` is a difference of two rounded-down accruals, each off by < 1 unit.
            if (got > hi + 1 || got + 2 < lo) ghost_notProRata = true;
        }
    }

    function claim(uint256 seed, uint256 frac, bool byAssets) external {
        address a = actors[seed % 4];
        uint256 cs = queue.maxRedeem(a);
        uint256 ca = queue.maxWithdraw(a);
        if (cs == 0 || ca == 0) return;
        uint256 before = usdc.balanceOf(a);
        vm.startPrank(a);
        if (byAssets) {
            uint256 assets = _bound(frac, 1, ca);
            uint256 used = queue.withdraw(assets, a, a);
            ghost_claimedShares[a] += used;
            ghost_claimedAssets += assets;
        } else {
            uint256 shares = _bound(frac, 1, cs);
            uint256 paid = queue.redeem(shares, a, a);
            ghost_claimedShares[a] += shares;
            ghost_claimedAssets += paid;
            if (paid * cs > shares * ca) ghost_claimOverpaid = true;
        }
        vm.stopPrank();
        if (usdc.balanceOf(a) < before) ghost_claimOverpaid = true;
    }

    /// @dev An instant exit of the whole maximum: it must succeed, and must not take quote the
    ///      queue's pending requests are owed.
    function withdrawMax(uint256 seed) external {
        address a = actors[seed % 4];
        uint256 max = vault.maxWithdraw(a);
        if (max == 0) return;
        uint256 free = vault.freeQuote();
        uint256 pending = vault.balanceOf(address(queue));
        uint256 reserved = pending == 0 ? 0 : vault.previewMint(pending);
        vm.prank(a);
        try vault.withdraw(max, a, a) {
            uint256 left = vault.freeQuote();
            uint256 owed = reserved < free ? reserved : free;
            // `reserved` is rounded up like the vault's own reserve; allow the unit it adds.
            if (left + 1 < owed) ghost_jumpedQueue = true;
        } catch {
            ghost_maxExitReverted = true;
        }
    }

    // ------------------------------------------------------------------ desk, time, market

    /// @dev A capped call the vault can collateralize with what is not reserved.
    function write(uint256 size, uint256 tenor) external {
        if (vault.openSeries().length >= 4) return;
        feed.updateAnswer(int256(_price()));
        uint256 strike = _price();
        uint256 cap = 500e8;
        uint64 expiry = uint64(block.timestamp + _bound(tenor, 1 hours, 5 days));
        size = _bound(size, 1e18, 600e18); // locks up to 300,000: collateral gets scarce
        RebalanceRules rules = RebalanceRules(vault.pricer());
        IOptionVault.OptionType t = IOptionVault.OptionType.Call;
        (uint256 lo, uint256 hi) = rules.premiumBoundsOf(vault, t, strike, cap, expiry, size);
        if (lo == 0) return;
        usdc.mint(buyer, hi);
        vm.prank(buyer);
        usdc.approve(address(vault), hi);
        IOptionVault.Quote memory q = IOptionVault.Quote(
            buyer, t, strike, cap, expiry, size, hi, block.timestamp, vault.nonces(buyer)
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_buyerKey, rules.quoteDigest(q, address(vault)));
        vm.prank(desk);
        try vault.writeOption(q, hi, abi.encodePacked(r, s, v)) {}
        catch {
            vm.prank(buyer);
            usdc.approve(address(vault), 0);
        }
    }

    /// @dev Moves time past the nearest expiry and settles every expired series on a fresh
    ///      round, which frees their collateral.
    function expireAndSettle(uint256 bps, bool up) external {
        IOptionVault.Series[] memory open = vault.openSeries();
        if (open.length == 0) return;
        uint256 next = type(uint256).max;
        for (uint256 i = 0; i < open.length; ++i) {
            if (open[i].expiry < next) next = open[i].expiry;
        }
        if (next > block.timestamp) vm.warp(next + 1);
        _move(bps, up);
        uint80 round = uint80(feed.latestRound());
        for (uint256 i = 0; i < open.length; ++i) {
            if (open[i].expiry > block.timestamp) continue;
            try vault.settle(open[i].id, round) {} catch {}
        }
    }

    function movePrice(uint256 bps, bool up) external {
        _move(bps, up);
    }

    function _move(uint256 bps, bool up) internal {
        bps = _bound(bps, 0, 800);
        uint256 p = _price();
        uint256 np = up ? p * (10_000 + bps) / 10_000 : p * (10_000 - bps) / 10_000;
        feed.updateAnswer(int256(np));
        venue.setPrices(np, np);
    }
}
