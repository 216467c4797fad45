// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    ERC4626Upgradeable
} from "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC4626Upgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IOptionClaims} from "./interfaces/IOptionClaims.sol";
import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {OptionBook} from "./OptionBook.sol";
import {RebalanceRules} from "./RebalanceRules.sol";

/// @title OptionVault
/// @notice ERC-4626 vault over a 6-decimal quote asset that writes capped European options on
///         an 18-decimal underlying, keeps every open series fully collateralized, and hedges
///         its delta through a venue when a keeper asks and the on-chain thresholds allow.
/// @dev Deployed as an EIP-1167 clone by {VaultFactory}; the implementation locks itself.
///      The option book (writing, settlement, claims, the collateral rule) is {OptionBook};
///      this contract adds the shares, the thresholds and the hedge. The pricing and the
///      rebalance rules run out of line in {RebalanceRules} (see {BookPricer} for why).
///
///      Accounting is internal: `_quoteBalance` and `_hedgeInventory` move only on deposits,
///      withdrawals, premiums, rebalances and claim payments. Tokens sent to the vault directly
///      are ignored, so a donation cannot move the share price, and only `rebalance` changes
///      inventory.
///
///      Oracle policy. `rebalance` and `settle` require a healthy oracle (fresh, positive,
///      sequencer up past its grace period). Views (`totalAssets`, `netDelta`) never revert on
///      the oracle: they use the latest positive answer, else the last price the vault accepted.
///      While the oracle is unhealthy and the NAV depends on the price (inventory or open
///      series), `maxDeposit`/`maxMint` are 0, so nobody buys shares at a stale price;
///      withdrawals stay open (bounded by free quote) so depositors can always exit.
contract OptionVault is ERC4626Upgradeable, OptionBook {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ constants

    /// @inheritdoc IOptionVault
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");
    /// @inheritdoc IOptionVault
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    // Hard bounds of the setters (inclusive).
    /// @dev |target delta| <= 1,000,000 underlying.
    uint256 public constant MAX_ABS_TARGET = 1e24;
    /// @dev Band half-width: 1e-6 .. 1,000,000 underlying.
    uint256 public constant MIN_BAND = 1e12;
    uint256 public constant MAX_BAND = 1e24;
    /// @dev Min interval: 1 s .. 1 day. Max interval: 1 min .. 30 days, and >= min interval.
    uint32 public constant MIN_MIN_INTERVAL = 1;
    uint32 public constant MAX_MIN_INTERVAL = 1 days;
    uint32 public constant MIN_MAX_INTERVAL = 1 minutes;
    uint32 public constant MAX_MAX_INTERVAL = 30 days;
    /// @dev Max trade per rebalance: 1e-6 .. 1,000,000 underlying.
    uint256 public constant MIN_MAX_TRADE = 1e12;
    uint256 public constant MAX_MAX_TRADE = 1e24;
    /// @dev Slippage and pool-oracle gap: 0.01% .. 10%.
    uint16 public constant MIN_BPS = 1;
    uint16 public constant MAX_BPS = 1000;
    /// @dev Oracle heartbeat: 1 min .. 2 days (Chainlink's slowest USD feeds beat daily).
    uint32 public constant MIN_HEARTBEAT = 1 minutes;
    uint32 public constant MAX_HEARTBEAT = 2 days;
    /// @dev Sequencer grace period: 1 min .. 1 day (Chainlink suggests 1 hour).
    uint32 public constant MIN_GRACE = 1 minutes;
    uint32 public constant MAX_GRACE = 1 days;
    /// @dev Vol: 1% .. 500% a year.
    uint256 public constant MIN_VOL = 0.01e18;
    uint256 public constant MAX_VOL = 5e18;

    // Ids of the unsigned thresholds for `_setParam`.
    uint256 private constant P_BAND = 0;
    uint256 private constant P_MIN_INTERVAL = 1;
    uint256 private constant P_MAX_INTERVAL = 2;
    uint256 private constant P_MAX_TRADE = 3;
    uint256 private constant P_SLIPPAGE = 4;
    uint256 private constant P_GAP = 5;
    uint256 private constant P_HEARTBEAT = 6;
    uint256 private constant P_GRACE = 7;

    // ------------------------------------------------------------------ storage

    /// @dev The thresholds in two slots (the bounds fit: 1e24 < 2^95).
    struct PackedThresholds {
        int96 targetDelta;
        uint96 band;
        uint32 minInterval;
        uint32 maxInterval;
        uint96 maxTrade;
        uint16 maxSlippageBps;
        uint16 maxOracleGapBps;
        uint32 oracleHeartbeat;
        uint32 sequencerGracePeriod;
    }

    /// @dev The same contract as {OptionBook}'s `_pricer`, seen through its rules.
    RebalanceRules private immutable _rules;

    // Declared first: it shares a slot with {OptionBook}'s `_quoteBalance`, declared last (a
    // rebalance writes both). 2^128 underlying wei is far beyond any real value.
    uint128 private _hedgeInventory;
    IERC20 private _underlying;
    AggregatorV3Interface private _oracle;
    AggregatorV3Interface private _sequencerFeed;
    IHedgeVenue private _venue;
    PackedThresholds private _thresholds;
    uint256 private _volatility;
    // Written together by a rebalance; 2^64 s and 2^192 price units are far beyond any value.
    uint64 private _lastRebalance;
    uint192 private _lastGoodPrice;

    // ------------------------------------------------------------------ setup

    /// @custom:oz-upgrades-unsafe-allow constructor
    /// @dev Deploys the rules and book pricer (see {BookPricer} for why they are separate) and
    ///      locks the implementation: only clones are initialized.
    constructor() OptionBook(new RebalanceRules()) {
        _rules = RebalanceRules(address(_pricer));
        _disableInitializers();
    }

    /// @inheritdoc IOptionVault
    function initialize(InitParams calldata p) external initializer {
        if (p.asset == address(0)) revert OptionVaultZeroAddress("asset");
        if (p.underlying == address(0)) revert OptionVaultZeroAddress("underlying");
        if (p.oracle == address(0)) revert OptionVaultZeroAddress("oracle");
        if (p.venue == address(0)) revert OptionVaultZeroAddress("venue");
        if (p.claims == address(0)) revert OptionVaultZeroAddress("claims");
        if (p.admin == address(0)) revert OptionVaultZeroAddress("admin");
        _requireDecimals("asset", IERC20Metadata(p.asset).decimals(), 6);
        _requireDecimals("underlying", IERC20Metadata(p.underlying).decimals(), 18);
        _requireDecimals("oracle", AggregatorV3Interface(p.oracle).decimals(), 8);

        __ERC20_init(p.name, p.symbol);
        __ERC4626_init(IERC20(p.asset));
        __AccessControl_init();
        __Pausable_init();
        __OptionBook_init(IOptionClaims(p.claims));
        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);

        _underlying = IERC20(p.underlying);
        _oracle = AggregatorV3Interface(p.oracle);
        _sequencerFeed = AggregatorV3Interface(p.sequencerFeed);
        _venue = IHedgeVenue(p.venue);

        (, int256 answer,,,) = _oracle.latestRoundData();
        if (answer <= 0) revert OptionVaultInvalidPrice(answer);
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        _lastGoodPrice = SafeCast.toUint192(uint256(answer));

        _setVolatility(p.volatility);
        Thresholds calldata t = p.thresholds;
        _setTargetDelta(t.targetDelta);
        _setParam(P_BAND, t.band);
        _setParam(P_MAX_INTERVAL, t.maxInterval); // before min: min is checked against max
        _setParam(P_MIN_INTERVAL, t.minInterval);
        _setParam(P_MAX_TRADE, t.maxTrade);
        _setParam(P_SLIPPAGE, t.maxSlippageBps);
        _setParam(P_GAP, t.maxOracleGapBps);
        _setParam(P_HEARTBEAT, t.oracleHeartbeat);
        _setParam(P_GRACE, t.sequencerGracePeriod);
    }

    // ------------------------------------------------------------------ keeper

    /// @inheritdoc IOptionVault
    function rebalance() external returns (int256 deltaBefore, int256 deltaAfter) {
        return _rebalance();
    }

    /// @inheritdoc IOptionVault
    function performUpkeep(bytes calldata) external {
        _rebalance();
    }

    /// @inheritdoc IOptionVault
    /// @dev Runs the very checks `rebalance` runs (`_evaluate`), so the two always agree; the
    ///      caller's role is the one thing it cannot know. Returns abi.encode(Trigger), which is
    ///      `Trigger.None` when not allowed.
    function rebalanceTrigger() public view returns (bool, bytes memory) {
        (RebalanceRules.Plan memory p, bytes memory err) = _evaluate();
        if (err.length != 0) return (false, abi.encode(Trigger.None));
        return (true, abi.encode(p.trigger));
    }

    /// @inheritdoc IOptionVault
    function checkUpkeep(bytes calldata) external view returns (bool, bytes memory) {
        return rebalanceTrigger();
    }

    /// @inheritdoc IOptionVault
    function rebalanceBlocker() external view returns (bytes memory) {
        (, bytes memory err) = _evaluate();
        return err;
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IOptionVault
    function setTargetDelta(int256 target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTargetDelta(target);
    }

    /// @inheritdoc IOptionVault
    function setBand(uint256 band) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_BAND, band);
    }

    /// @inheritdoc IOptionVault
    function setMinInterval(uint32 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_MIN_INTERVAL, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxInterval(uint32 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_MAX_INTERVAL, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxTrade(uint256 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_MAX_TRADE, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxSlippageBps(uint16 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_SLIPPAGE, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxOracleGapBps(uint16 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_GAP, v);
    }

    /// @inheritdoc IOptionVault
    function setOracleHeartbeat(uint32 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_HEARTBEAT, v);
    }

    /// @inheritdoc IOptionVault
    function setSequencerGracePeriod(uint32 v) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParam(P_GRACE, v);
    }

    /// @inheritdoc IOptionVault
    function setVolatility(uint256 vol) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setVolatility(vol);
    }

    /// @inheritdoc IOptionVault
    function setVenue(address newVenue) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newVenue == address(0)) revert OptionVaultZeroAddress("venue");
        address old = address(_venue);
        _venue = IHedgeVenue(newVenue);
        emit VenueUpdated(old, newVenue);
    }

    /// @inheritdoc IOptionVault
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IOptionVault
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ ERC-4626

    /// @inheritdoc ERC4626Upgradeable
    /// @dev quote + inventory at the valuation price (rounded down) - option value (rounded
    ///      up) - settled unpaid payoffs, floored at zero: every rounding favors the vault.
    function totalAssets() public view override(ERC4626Upgradeable, IERC4626) returns (uint256) {
        uint256 price = _valuationPrice();
        uint256 gross =
            _quoteBalance + Math.mulDiv(_hedgeInventory, price, UNDERLYING_PRICE_TO_QUOTE);
        uint256 liabilities = _optionsValue(price) + settledUnpaid();
        return gross > liabilities ? gross - liabilities : 0;
    }

    /// @inheritdoc ERC4626Upgradeable
    /// @dev 0 while the oracle is unhealthy and the NAV depends on the price (see contract
    ///      NatSpec); unlimited otherwise, also when paused.
    function maxDeposit(address)
        public
        view
        override(ERC4626Upgradeable, IERC4626)
        returns (uint256)
    {
        return _depositsOpen() ? type(uint256).max : 0;
    }

    /// @inheritdoc ERC4626Upgradeable
    function maxMint(address) public view override(ERC4626Upgradeable, IERC4626) returns (uint256) {
        return _depositsOpen() ? type(uint256).max : 0;
    }

    /// @inheritdoc ERC4626Upgradeable
    /// @dev Never more than the free quote: locked collateral and unpaid payoffs stay put.
    function maxWithdraw(address owner)
        public
        view
        override(ERC4626Upgradeable, IERC4626)
        returns (uint256)
    {
        return Math.min(_convertToAssets(balanceOf(owner), Math.Rounding.Floor), freeQuote());
    }

    /// @inheritdoc ERC4626Upgradeable
    /// @dev Shares whose (rounded-down) redemption value fits in the free quote.
    function maxRedeem(address owner)
        public
        view
        override(ERC4626Upgradeable, IERC4626)
        returns (uint256)
    {
        return Math.min(balanceOf(owner), _convertToShares(freeQuote(), Math.Rounding.Floor));
    }

    /// @dev Credits the internal quote balance (transfer first, so the accounting follows the
    ///      tokens actually received for a standard ERC-20).
    function _transferIn(address from, uint256 assets) internal override {
        super._transferIn(from, assets);
        _quoteBalance = SafeCast.toUint128(_quoteBalance + assets);
    }

    /// @dev Debits the internal quote balance before the tokens leave.
    function _transferOut(address to, uint256 assets) internal override {
        _quoteBalance = SafeCast.toUint128(_quoteBalance - assets);
        super._transferOut(to, assets);
    }

    /// @dev Deposits and withdrawals are guarded against reentry from a venue or token hook
    ///      while a write, settlement, redemption or rebalance is in flight. They stay open
    ///      when paused.
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        super._deposit(caller, receiver, assets, shares);
    }

    function _withdraw(
        address caller,
        address receiver,
        address owner,
        uint256 assets,
        uint256 shares
    ) internal override nonReentrant {
        super._withdraw(caller, receiver, owner, assets, shares);
    }

    /// @dev Virtual shares: 6 extra decimals (shares have 12). Donations already cannot move
    ///      the price (internal accounting), but NAV also moves legitimately (premiums, option
    ///      value, hedge P&L); the offset makes rounding on a near-empty vault cost an attacker
    ///      1e6 times what it could extract, at no cost to normal users.
    function _decimalsOffset() internal pure override returns (uint8) {
        return 6;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOptionVault
    function netDelta() public view returns (int256) {
        return _netDelta(_valuationPrice());
    }

    /// @inheritdoc IOptionVault
    function seriesGreeks(uint256 id)
        external
        view
        returns (int256 delta, int256 gamma, int256 vega)
    {
        uint256[2] storage s = _knownSeries(id);
        (, delta, gamma, vega) =
            _pricer.greeks(s[0], s[1], _valuationPrice(), _volatility, block.timestamp);
    }

    /// @inheritdoc IOptionVault
    function optionsValue() external view returns (uint256) {
        return _optionsValue(_valuationPrice());
    }

    /// @inheritdoc IOptionVault
    function valuationPrice() external view returns (uint256) {
        return _valuationPrice();
    }

    /// @inheritdoc IOptionVault
    function thresholds() external view returns (Thresholds memory) {
        return _unpackThresholds();
    }

    /// @inheritdoc IOptionVault
    function volatility() external view returns (uint256) {
        return _volatility;
    }

    /// @inheritdoc IOptionVault
    function hedgeInventory() external view returns (uint256) {
        return _hedgeInventory;
    }

    /// @inheritdoc IOptionVault
    function lastRebalance() external view returns (uint256) {
        return _lastRebalance;
    }

    /// @inheritdoc IOptionVault
    function oracle() external view returns (address) {
        return address(_oracle);
    }

    /// @inheritdoc IOptionVault
    function sequencerFeed() external view returns (address) {
        return address(_sequencerFeed);
    }

    /// @inheritdoc IOptionVault
    function venue() external view returns (address) {
        return address(_venue);
    }

    /// @inheritdoc IOptionVault
    function underlying() external view returns (address) {
        return address(_underlying);
    }

    // ------------------------------------------------------------------ internal: rebalance

    /// @dev `rebalance` and `performUpkeep`: keeper role, not paused, not reentered.
    function _rebalance()
        private
        onlyRole(KEEPER_ROLE)
        whenNotPaused
        nonReentrant
        returns (int256 deltaBefore, int256 deltaAfter)
    {
        (RebalanceRules.Plan memory p, bytes memory err) = _evaluate();
        if (err.length != 0) _revertWith(err);
        IERC20 quote = IERC20(asset());
        (IERC20 tokenIn, IERC20 tokenOut) = p.buy ? (quote, _underlying) : (_underlying, quote);
        address venue_ = address(_venue);

        // Measure what arrived on the vault's own balance: the venue's return value is not
        // trusted for accounting.
        uint256 balanceBefore = tokenOut.balanceOf(address(this));
        tokenIn.forceApprove(venue_, p.amountIn);
        IHedgeVenue(venue_)
            .swapExactIn(address(tokenIn), address(tokenOut), p.amountIn, p.minOut, address(this));
        // Reset the approval unless the venue consumed it exactly (the usual case): no
        // allowance outlives the call either way.
        if (tokenIn.allowance(address(this), venue_) != 0) tokenIn.forceApprove(venue_, 0);
        uint256 amountOut = tokenOut.balanceOf(address(this)) - balanceBefore;
        if (amountOut < p.minOut) revert OptionVaultInsufficientOutput(amountOut, p.minOut);

        deltaBefore = p.deltaBefore;
        if (p.buy) {
            _quoteBalance = SafeCast.toUint128(_quoteBalance - p.amountIn); // <= free quote, checked in _evaluate
            _hedgeInventory = SafeCast.toUint128(_hedgeInventory + amountOut);
            // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
            deltaAfter = deltaBefore + int256(amountOut);
        } else {
            _hedgeInventory = SafeCast.toUint128(_hedgeInventory - p.amountIn); // <= inventory, checked in _evaluate
            _quoteBalance = SafeCast.toUint128(_quoteBalance + amountOut);
            deltaAfter = deltaBefore - int256(p.amountIn);
        }
        _lastRebalance = uint64(block.timestamp);
        _lastGoodPrice = SafeCast.toUint192(p.price);
        emit Rebalanced(deltaBefore, deltaAfter, p.amountIn, amountOut, p.price, p.trigger);
    }

    /// @dev Every check of `rebalance`, in order, without reverting: the first failure comes
    ///      back as the custom error's data. Shared by `rebalance`, `rebalanceTrigger` and
    ///      `rebalanceBlocker`. Paused and min interval are checked here; the oracle, net delta,
    ///      the band and time triggers, the pool-oracle gap and the trade size in
    ///      {RebalanceRules-plan}.
    function _evaluate() private view returns (RebalanceRules.Plan memory p, bytes memory err) {
        if (paused()) return (p, abi.encodeWithSelector(EnforcedPause.selector));
        Thresholds memory t = _unpackThresholds();
        uint256 last = _lastRebalance;
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry, intervals, staleness)
        if (last != 0 && block.timestamp < last + t.minInterval) {
            return (p, abi.encodeWithSelector(OptionVaultTooSoon.selector, last, t.minInterval));
        }
        return _rules.plan(
            _book(),
            RebalanceRules.PlanInput({
                thresholds: t,
                lastRebalance: last,
                timestamp: block.timestamp,
                oracle: address(_oracle),
                sequencerFeed: address(_sequencerFeed),
                venue: address(_venue),
                inventory: _hedgeInventory,
                freeQuote: freeQuote(),
                vol: _volatility
            })
        );
    }

    // ------------------------------------------------------------------ internal: oracle

    /// @dev The oracle checks ({RebalanceRules-oracleStatus}): the price, or the custom error.
    function _oracleStatus() private view returns (uint256 price, bytes memory err) {
        return _rules.oracleStatus(
            address(_oracle),
            address(_sequencerFeed),
            _thresholds.oracleHeartbeat,
            _thresholds.sequencerGracePeriod
        );
    }

    /// @dev The ERC-4626 asset is the quote {OptionBook} collects premiums and pays claims in.
    function _quoteToken() internal view override returns (IERC20) {
        return IERC20(asset());
    }

    /// @dev Settlement needs a healthy oracle, whose price becomes the last accepted one.
    function _settlementPrice() internal override returns (uint256 price) {
        bytes memory err;
        (price, err) = _oracleStatus();
        if (err.length != 0) _revertWith(err);
        _lastGoodPrice = SafeCast.toUint192(price);
    }

    /// @dev The latest positive answer, else the last accepted price (set at initialization,
    ///      so never zero). Never reverts, even if the feed does.
    function _valuationPrice() private view returns (uint256) {
        return _rules.valuationPrice(address(_oracle), _lastGoodPrice);
    }

    function _depositsOpen() private view returns (bool) {
        if (_hedgeInventory == 0 && !_hasOpenSeries()) return true;
        (, bytes memory err) = _oracleStatus();
        return err.length == 0;
    }

    // ------------------------------------------------------------------ internal: pricing

    function _netDelta(uint256 price) private view returns (int256 net) {
        int256 options;
        if (_hasOpenSeries()) {
            options = _pricer.bookDelta(_book(), price, _volatility, block.timestamp);
        }
        net = int256(uint256(_hedgeInventory)) - options;
    }

    function _optionsValue(uint256 price) private view returns (uint256) {
        if (!_hasOpenSeries()) return 0;
        return _pricer.bookValue(_book(), price, _volatility, block.timestamp);
    }

    // ------------------------------------------------------------------ internal: setters

    function _setTargetDelta(int256 target) private {
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        uint256 abs = target >= 0 ? uint256(target) : uint256(-target);
        if (abs > MAX_ABS_TARGET) revert OptionVaultParameterOutOfBounds("targetDelta", abs);
        int256 old = _thresholds.targetDelta;
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        _thresholds.targetDelta = int96(target);
        emit TargetDeltaUpdated(old, target);
    }

    /// @dev One setter for the eight unsigned thresholds, driven by `_spec` (a table kept as
    ///      code, about a tenth of the size of eight hand-written setters: the vault must fit
    ///      EIP-170). It checks the hard bounds and the min <= max interval rule, writes the
    ///      field inside the packed `_thresholds` slots and emits `ThresholdUpdated`.
    function _setParam(uint256 which, uint256 v) private {
        (bytes32 name, uint256 word, uint256 offset, uint256 width, uint256 lo, uint256 hi) =
            _spec(which);
        if (v < lo || v > hi) revert OptionVaultParameterOutOfBounds(name, v);
        if (which == P_MIN_INTERVAL && v > _thresholds.maxInterval) {
            revert OptionVaultParameterOutOfBounds(name, v);
        }
        if (which == P_MAX_INTERVAL && v < _thresholds.minInterval) {
            revert OptionVaultParameterOutOfBounds(name, v);
        }
        // forge-lint: disable-next-line(incorrect-shift) -- 2^width - 1, the field's mask
        uint256 mask = (1 << width) - 1;
        uint256 old;
        // Read-modify-write of one field of the packed struct: `word` is 0 or 1 (its two
        // slots) and `offset`/`width` are Solidity's own packing of `PackedThresholds`
        // (fields from the low-order bits up, in declaration order). v <= hi < 2^width.
        assembly ("memory-safe") {
            let slot := add(_thresholds.slot, word)
            let current := sload(slot)
            old := and(shr(offset, current), mask)
            sstore(slot, or(and(current, not(shl(offset, mask))), shl(offset, v)))
        }
        emit ThresholdUpdated(name, old, v);
    }

    /// @dev Name, slot (0/1), bit offset, bit width and hard bounds of each unsigned threshold.
    function _spec(uint256 which)
        private
        pure
        returns (bytes32, uint256, uint256, uint256, uint256, uint256)
    {
        if (which == P_BAND) return ("band", 0, 96, 96, MIN_BAND, MAX_BAND);
        if (which == P_MIN_INTERVAL) {
            return ("minInterval", 0, 192, 32, MIN_MIN_INTERVAL, MAX_MIN_INTERVAL);
        }
        if (which == P_MAX_INTERVAL) {
            return ("maxInterval", 0, 224, 32, MIN_MAX_INTERVAL, MAX_MAX_INTERVAL);
        }
        if (which == P_MAX_TRADE) return ("maxTrade", 1, 0, 96, MIN_MAX_TRADE, MAX_MAX_TRADE);
        if (which == P_SLIPPAGE) return ("maxSlippageBps", 1, 96, 16, MIN_BPS, MAX_BPS);
        if (which == P_GAP) return ("maxOracleGapBps", 1, 112, 16, MIN_BPS, MAX_BPS);
        if (which == P_HEARTBEAT) {
            return ("oracleHeartbeat", 1, 128, 32, MIN_HEARTBEAT, MAX_HEARTBEAT);
        }
        return ("sequencerGracePeriod", 1, 160, 32, MIN_GRACE, MAX_GRACE);
    }

    function _setVolatility(uint256 vol) private {
        _checkBounds("volatility", vol, MIN_VOL, MAX_VOL);
        uint256 old = _volatility;
        _volatility = vol;
        emit VolatilityUpdated(old, vol);
    }

    function _unpackThresholds() private view returns (Thresholds memory t) {
        PackedThresholds memory p = _thresholds;
        t = Thresholds({
            targetDelta: p.targetDelta,
            band: p.band,
            minInterval: p.minInterval,
            maxInterval: p.maxInterval,
            maxTrade: p.maxTrade,
            maxSlippageBps: p.maxSlippageBps,
            maxOracleGapBps: p.maxOracleGapBps,
            oracleHeartbeat: p.oracleHeartbeat,
            sequencerGracePeriod: p.sequencerGracePeriod
        });
    }

    function _checkBounds(bytes32 name, uint256 v, uint256 lo, uint256 hi) private pure {
        if (v < lo || v > hi) revert OptionVaultParameterOutOfBounds(name, v);
    }

    function _requireDecimals(bytes32 field, uint8 got, uint8 want) private pure {
        if (got != want) revert OptionVaultUnsupportedDecimals(field, got);
    }

    /// @dev Re-raises an error built by `_evaluate` / `_oracleStatus` verbatim.
    function _revertWith(bytes memory err) private pure {
        assembly ("memory-safe") {
            revert(add(err, 0x20), mload(err))
        }
    }
}
