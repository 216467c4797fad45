// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {OptionVault} from "../../../contracts/OptionVault.sol";
import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../../contracts/interfaces/IRebalanceBatcher.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {RebalanceRules} from "../../../contracts/RebalanceRules.sol";
import {MockVenue} from "../mocks/MockVenue.sol";

/// @notice Drives one vault through deposits, withdrawals, writes, settlements, claim
///         redemptions, price moves, donations, rebalances and time. It holds DESK_ROLE and
///         KEEPER_ROLE. Every action keeps ghost sums/flags the invariants check.
contract OptionVaultHandler is CommonBase, StdCheats, StdUtils {
    OptionVault public immutable vault;
    MintableERC20 public immutable usdc;
    MintableERC20 public immutable weth;
    MockV3Aggregator public immutable feed;
    MockVenue public immutable venue;
    address public immutable buyer;
    uint256 internal immutable _buyerKey;
    address[3] internal actors;

    // ghosts
    uint256 public ghost_inventory; // sum of inventory changes seen in rebalances
    uint256 public ghost_deposited;
    uint256 public ghost_withdrawn;
    uint256 public ghost_premiums;
    uint256 public ghost_claimsPaid;
    uint256 public ghost_hedgeQuoteOut; // quote spent on hedge buys
    uint256 public ghost_hedgeQuoteIn; // quote received from hedge sells
    bool public ghost_inventoryMovedOutsideRebalance;
    bool public ghost_donationMovedSharePrice;
    bool public ghost_rebalanceOverMaxTrade;
    bool public ghost_rebalanceBelowMinOut;
    bool public ghost_triggerDisagreed;
    bool public ghost_premiumBelowModel; // a write booked less than the model value
    bool public ghost_settledOffExpiryPayoff; // a settlement paid other than the expiry payoff
    bool public ghost_maxExitReverted; // a withdraw within maxWithdraw reverted
    // What the lens's lean record caches changed while the book version stayed (the keeper
    // would have kept a stale copy).
    bool public ghost_cachedFieldsMovedWithoutVersion;
    mapping(bytes32 => uint256) public calls;
    uint256[] internal _written; // every series id written
    /// @dev Each series' size when written, and what its claims were paid so far.
    mapping(uint256 id => uint256) public ghost_writtenSize;
    mapping(uint256 id => uint256) public ghost_paidOf;
    /// @dev Settles through `settleBatch` when set (the handler is its keeper).
    IRebalanceBatcher public batcher;

    constructor(
        OptionVault vault_,
        MintableERC20 usdc_,
        MintableERC20 weth_,
        MockV3Aggregator feed_,
        MockVenue venue_
    ) {
        vault = vault_;
        usdc = usdc_;
        weth = weth_;
        feed = feed_;
        venue = venue_;
        (buyer, _buyerKey) = makeAddrAndKey("inv-buyer");
        actors = [makeAddr("inv-a"), makeAddr("inv-b"), makeAddr("inv-c")];
    }

    /// @dev Set once, by the test's setUp (a later call, the fuzzer's, changes nothing).
    function setBatcher(IRebalanceBatcher b) external {
        if (address(batcher) == address(0)) batcher = b;
    }

    modifier tracked(bytes32 name) {
        calls[name] += 1;
        uint256 inv = vault.hedgeInventory();
        (bytes32 key, uint256 version) = _cached();
        _;
        if (vault.hedgeInventory() != inv) ghost_inventoryMovedOutsideRebalance = true;
        _checkCached(key, version);
    }

    /// @dev A hash of everything `VaultLens.snapshotLeanSince` lets a keeper cache, read through
    ///      the vault's views (not its raw slots), and the book version (slot 13's top 32 bits).
    function _cached() internal view returns (bytes32 key, uint256 version) {
        key = keccak256(
            abi.encode(
                vault.thresholds(),
                vault.volatility(),
                vault.oracle(),
                vault.venue(),
                vault.lockedCollateral(),
                vault.settledUnpaid(),
                vault.openSeries()
            )
        );
        version = uint256(vm.load(address(vault), bytes32(uint256(13)))) >> 224;
    }

    function _checkCached(bytes32 key, uint256 version) internal {
        (bytes32 key2, uint256 version2) = _cached();
        if (key2 != key && version2 == version) ghost_cachedFieldsMovedWithoutVersion = true;
        if (version2 != version) calls["versionMoved"] += 1;
    }

    function _price() internal view returns (uint256) {
        (, int256 p,,,) = feed.latestRoundData();
        return uint256(p);
    }

    // ------------------------------------------------------------------ depositors

    function deposit(uint256 actorSeed, uint256 assets) external tracked("deposit") {
        address a = actors[actorSeed % 3];
        assets = _bound(assets, 1, 1_000_000e6);
        if (assets > vault.maxDeposit(a)) return;
        usdc.mint(a, assets);
        vm.startPrank(a);
        usdc.approve(address(vault), assets);
        vault.deposit(assets, a);
        vm.stopPrank();
        ghost_deposited += assets;
    }

    function withdraw(uint256 actorSeed, uint256 frac) external tracked("withdraw") {
        address a = actors[actorSeed % 3];
        uint256 max = vault.maxWithdraw(a);
        if (max == 0) return;
        // Every fourth call takes the whole maximum, checked here: the run does not fail on
        // reverts, and a `maxWithdraw` that overstates (rounds up) only shows at the maximum.
        uint256 assets = frac % 4 == 0 ? max : _bound(frac, 1, max);
        vm.prank(a);
        try vault.withdraw(assets, a, a) {
            ghost_withdrawn += assets;
        } catch {
            ghost_maxExitReverted = true;
        }
    }

    function redeemShares(uint256 actorSeed, uint256 frac) external tracked("redeemShares") {
        address a = actors[actorSeed % 3];
        uint256 max = vault.maxRedeem(a);
        if (max == 0) return;
        uint256 shares = _bound(frac, 1, max);
        vm.prank(a);
        ghost_withdrawn += vault.redeem(shares, a, a);
    }

    // ------------------------------------------------------------------ desk and holders

    struct WriteArgs {
        IOptionVault.OptionType t;
        uint256 strike;
        uint256 cap;
        uint64 expiry;
        uint256 size;
        uint256 premium;
    }

    function write(
        bool isCall,
        uint256 strikeBps,
        uint256 cap,
        uint256 tenor,
        uint256 size,
        uint256 premium
    ) external tracked("write") {
        if (vault.paused()) return;
        WriteArgs memory w;
        w.t = isCall ? IOptionVault.OptionType.Call : IOptionVault.OptionType.Put;
        w.strike = _price() * _bound(strikeBps, 7_000, 13_000) / 10_000;
        w.cap = _bound(cap, 10e8, 2_000e8);
        w.expiry = uint64(block.timestamp + _bound(tenor, 1 hours, 20 days));
        w.size = _bound(size, 1e15, 5e18);
        w.premium = _bound(premium, 1, 500e6);
        // Only writes the vault can collateralize: refused writes are unit-tested.
        uint256 maxPayoff = !isCall && w.cap > w.strike ? w.strike : w.cap;
        uint256 lock = (w.size * maxPayoff + 1e20 - 1) / 1e20;
        if (
            vault.lockedCollateral() + vault.settledUnpaid() + lock
                > vault.quoteBalance() + w.premium
        ) return;
        if (vault.openSeries().length >= vault.MAX_OPEN_SERIES()) return;
        feed.updateAnswer(int256(_price())); // the desk writes on a fresh round
        RebalanceRules rules = RebalanceRules(vault.pricer());
        (uint256 lo, uint256 hi) =
            rules.premiumBoundsOf(vault, w.t, w.strike, w.cap, w.expiry, w.size);
        if (lo == 0) return; // worthless: nothing to sell
        w.premium = _bound(w.premium, lo, hi);
        usdc.mint(buyer, w.premium);
        vm.prank(buyer);
        usdc.approve(address(vault), w.premium);
        IOptionVault.Quote memory q = IOptionVault.Quote(
            buyer,
            w.t,
            w.strike,
            w.cap,
            w.expiry,
            w.size,
            w.premium,
            block.timestamp,
            vault.nonces(buyer)
        );
        (uint8 v, bytes32 r, bytes32 sg) = vm.sign(_buyerKey, rules.quoteDigest(q, address(vault)));
        try vault.writeOption(q, w.premium, abi.encodePacked(r, sg, v)) returns (uint256 id) {
            ghost_premiums += w.premium;
            if (w.premium < lo) ghost_premiumBelowModel = true;
            _written.push(id);
            ghost_writtenSize[id] = w.size;
        } catch {
            // a duplicate series or no collateral left for it: refused by design (unit-tested)
            vm.prank(buyer);
            usdc.approve(address(vault), 0);
        }
    }

    function settle(uint256 idSeed) external tracked("settle") {
        IOptionVault.Series[] memory open = vault.openSeries();
        if (open.length == 0) return;
        IOptionVault.Series memory s = open[idSeed % open.length];
        if (block.timestamp < s.expiry) return;
        (uint80 id, uint256 payoff) = _expiryRound(s);
        try vault.settle(s.id, id) returns (uint256 paid) {
            calls["settleOk"] += 1;
            if (paid != payoff / 100) ghost_settledOffExpiryPayoff = true;
        } catch {}
    }

    /// @dev Every expired open series at once, through the batcher's `settleBatch` (the
    ///      keeper's path when several expire together), each booked at its expiry payoff.
    function settleBatch() external tracked("settleBatch") {
        if (address(batcher) == address(0)) return;
        IOptionVault.Series[] memory open = vault.openSeries();
        uint256 n;
        for (uint256 i; i < open.length; ++i) {
            if (block.timestamp >= open[i].expiry) open[n++] = open[i];
        }
        if (n == 0) return;
        address[] memory vs = new address[](n);
        uint256[] memory ids = new uint256[](n);
        uint80[] memory rounds = new uint80[](n);
        uint256[] memory payoffs = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            (vs[i], ids[i]) = (address(vault), open[i].id);
            (rounds[i], payoffs[i]) = _expiryRound(open[i]);
        }
        IRebalanceBatcher.SettleOutcome[] memory o = batcher.settleBatch(vs, ids, rounds);
        for (uint256 i; i < n; ++i) {
            if (!o[i].ok) continue;
            calls["settleOk"] += 1;
            calls["settleBatchOk"] += 1;
            if (vault.series(ids[i]).payoutPerContract != payoffs[i] / 100) {
                ghost_settledOffExpiryPayoff = true;
            }
        }
    }

    /// @dev The first round at or after `s`'s expiry (one is added when none came since), and
    ///      the series' payoff per contract at that round's price (8 decimals).
    function _expiryRound(IOptionVault.Series memory s)
        internal
        returns (uint80 id, uint256 payoff)
    {
        id = uint80(feed.latestRound());
        (,,, uint256 at,) = feed.latestRoundData();
        if (at < s.expiry) {
            feed.updateAnswer(int256(_price()));
            id = uint80(feed.latestRound());
        }
        while (id > 1) {
            (,,, uint256 prevAt,) = feed.getRoundData(id - 1);
            if (prevAt < s.expiry) break;
            id -= 1;
        }
        (, int256 answer,,,) = feed.getRoundData(id);
        uint256 price = uint256(answer);
        payoff = s.optionType == IOptionVault.OptionType.Call
            ? (price > s.strike ? price - s.strike : 0)
            : (s.strike > price ? s.strike - price : 0);
        if (payoff > s.cap) payoff = s.cap;
    }

    function redeemClaims(uint256 idSeed, uint256 frac) external tracked("redeemClaims") {
        if (_written.length == 0) return;
        uint256 id = _written[idSeed % _written.length];
        IOptionVault.Series memory s = vault.series(id);
        if (!s.settled || s.size == 0) return;
        uint256 amount = _bound(frac, 1, s.size);
        vm.prank(buyer);
        uint256 paid = vault.redeemClaims(id, amount);
        ghost_claimsPaid += paid;
        ghost_paidOf[id] += paid;
        if (paid != 0) calls["redeemPaid"] += 1;
    }

    /// @dev Every series id written.
    function written() external view returns (uint256[] memory) {
        return _written;
    }

    // ------------------------------------------------------------------ market and time

    function movePrice(uint256 bps, bool up, uint256 gapBps) external tracked("movePrice") {
        uint256 p = _price();
        bps = _bound(bps, 0, 1_000);
        uint256 next = up ? p * (10_000 + bps) / 10_000 : p * (10_000 - bps) / 10_000;
        next = _bound(next, 1_000e8, 6_000e8);
        feed.updateAnswer(int256(next));
        // The pool mostly tracks the oracle; sometimes it is pushed away (gap guard).
        gapBps = _bound(gapBps, 0, 300);
        uint256 pool = next * (10_000 + (gapBps > 280 ? gapBps : 0)) / 10_000;
        venue.setPrices(pool, pool);
    }

    function warp(uint256 dt, bool refresh) external tracked("warp") {
        dt = _bound(dt, 1, 2 days);
        vm.warp(block.timestamp + dt);
        if (refresh) feed.updateAnswer(int256(_price()));
    }

    function donate(uint256 amount, bool underlying) external tracked("donate") {
        uint256 before = vault.convertToAssets(1e18);
        uint256 ta = vault.totalAssets();
        if (underlying) {
            weth.mint(address(vault), _bound(amount, 1, 1_000e18));
        } else {
            usdc.mint(address(vault), _bound(amount, 1, 10_000_000e6));
        }
        if (vault.convertToAssets(1e18) != before || vault.totalAssets() != ta) {
            ghost_donationMovedSharePrice = true;
        }
    }

    // ------------------------------------------------------------------ admin

    /// @dev The admin moves one cached threshold (the handler holds DEFAULT_ADMIN_ROLE): the
    ///      band, the target delta or the vol, within bounds that keep the vault trading.
    function tune(uint256 which, uint256 value) external tracked("tune") {
        which %= 3;
        if (which == 0) vault.setBand(_bound(value, 0.01e18, 0.2e18));
        else if (which == 1) vault.setTargetDelta(int256(_bound(value, 0, 2e18)) - 1e18);
        else vault.setVolatility(_bound(value, 0.3e18, 1.5e18));
    }

    // ------------------------------------------------------------------ keeper

    function rebalance(bool refresh) external {
        calls["rebalance"] += 1;
        (bytes32 key, uint256 version) = _cached();
        if (refresh) feed.updateAnswer(int256(_price()));
        (bool ok,) = vault.rebalanceTrigger();
        uint256 inv = vault.hedgeInventory();
        uint256 quote = vault.quoteBalance();
        uint256 price = _price();
        IOptionVault.Thresholds memory t = vault.thresholds();
        try vault.rebalance() {
            if (!ok) ghost_triggerDisagreed = true;
            calls["rebalanceOk"] += 1;
            uint256 inv2 = vault.hedgeInventory();
            uint256 quote2 = vault.quoteBalance();
            uint256 keep = 10_000 - t.maxSlippageBps;
            if (inv2 > inv) {
                // buy: quote spent at most maxTrade at the oracle price; output >= minOut
                uint256 spent = quote - quote2;
                ghost_hedgeQuoteOut += spent;
                if (spent > t.maxTrade * price / 1e20) ghost_rebalanceOverMaxTrade = true;
                if (inv2 - inv < spent * keep * 1e20 / (price * 10_000)) {
                    ghost_rebalanceBelowMinOut = true;
                }
                ghost_inventory += inv2 - inv;
            } else {
                uint256 sold = inv - inv2;
                ghost_hedgeQuoteIn += quote2 - quote;
                if (sold > t.maxTrade) ghost_rebalanceOverMaxTrade = true;
                if (quote2 - quote < sold * keep * price / (1e20 * 10_000)) {
                    ghost_rebalanceBelowMinOut = true;
                }
                ghost_inventory -= sold;
            }
        } catch (bytes memory reason) {
            if (ok) ghost_triggerDisagreed = true;
            calls[bytes32(bytes4(reason))] += 1; // why, by custom-error selector
        }
        _checkCached(key, version);
    }

    function actorList() external view returns (address[3] memory) {
        return actors;
    }
}
