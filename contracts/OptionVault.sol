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
///      withdrawals, premiums, rebalances and claim payments, by what arrived or left on the
///      vault's own balance (fee-on-transfer safe). Tokens sent to the vault directly are
///      ignored, so a donation cannot move the share price, and only `rebalance` changes
///      inventory; `sweep` returns them.
///
///      Oracle policy (docs/security.md). `rebalance` and `writeOption` require a healthy oracle
///      (fresh, positive, sequencer up past its grace period); `settle` uses the first round at
///      or after expiry. Views (`totalAssets`, `netDelta`) never revert on the oracle: they use
///      the latest positive answer, else the last price the vault accepted. While the oracle is
///      unhealthy and the NAV depends on the price (inventory or open series), deposits and
///      exits are both deferred (`maxDeposit`/`maxMint`/`maxWithdraw`/`maxRedeem` are 0): the
///      vault is short gamma, and an exit at a stale NAV would push a loss onto those who stay.
///      Pausing stops deposits, writing and rebalancing; withdrawals stay open. The oracle can
///      be replaced after ORACLE_TIMELOCK.
contract OptionVault is ERC4626Upgradeable, OptionBook {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ constants

    /// @inheritdoc IOptionVault
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");
    /// @inheritdoc IOptionVault
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @inheritdoc IOptionVault
    bytes32 public constant BATCHER_ROLE = keccak256("BATCHER_ROLE");

    /// @notice An oracle change waits this long between proposal and acceptance, so depositors
    ///         can exit before a feed they do not trust prices their shares.
    uint256 public constant ORACLE_TIMELOCK = 2 days;
    /// @dev First of the six transient slots holding a batch leg from `batchPlan` to
    ///      `batchSettle`: flags (1 | buy << 1 | trigger << 8), amountIn, minOut, the vault's
    ///      tokenOut balance before, deltaBefore, price. keccak256("OptionVault.batchLeg").
    uint256 private constant BATCH_LEG =
        0xff3725a5843187699c2bf9be5f8ed4144a6b3a7de31b6e17d56040f3dc0b8cd0;
    /// @dev 1 in `_bookVersion`'s field, bits [224,256) of its slot (the lens reads it there;
    ///      tests/forge/VaultLensLean.t.sol checks both).
    uint256 private constant BOOK_VERSION_ONE = 1 << 224;

    // Ids of the unsigned thresholds for `_setParam`.
    uint256 private constant P_BAND = 0;
    uint256 private constant P_MIN_INTERVAL = 1;
    uint256 private constant P_MAX_INTERVAL = 2;
    uint256 private constant P_MAX_TRADE = 3;
    uint256 private constant P_SLIPPAGE = 4;
    uint256 private constant P_GAP = 5;
    uint256 private constant P_HEARTBEAT = 6;
    uint256 private constant P_GRACE = 7;
    uint256 private constant P_VOL = 8;
    uint256 private constant P_TARGET = 9; // bounds only: |target| ({RebalanceRules-MAX_ABS_TARGET})

    // ------------------------------------------------------------------ storage

    /// @dev The thresholds and the vol in two slots (the bounds fit: 1e24 < 2^95, vol <= 5e18
    ///      < 2^64). The vol shares the second word so a rebalance reads it for free.
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
        uint64 volatility;
    }

    // Declared first: it shares a slot with {OptionBook}'s `_quoteBalance`, declared last (a
    // rebalance writes both). 2^128 underlying wei is far beyond any real value.
    uint128 private _hedgeInventory;
    // The asset, the underlying and the sequencer feed never change: they are the clone's
    // immutable args ({_arg}), not storage. The oracle and venue are {OptionBook}'s (packed).
    PackedThresholds private _thresholds;
    // Written together by a rebalance; 2^64 s and 2^152 price units are far beyond any value.
    // The paused flag shares the slot (OZ's own `_paused` is unused, see {paused}): a rebalance
    // reads all three in one SLOAD. So does the book version ({_bookChanged}): the lens reads
    // this slot and the balances' on every cycle, and the rest only when the version moved.
    uint64 private _lastRebalance;
    uint152 private _lastGoodPrice;
    bool private _pausedFlag;
    // Last in the slot ([224,256)) so that {_bookChanged} is one ADD that wraps off the top.
    // slither-disable-next-line uninitialized-state -- starts at 0; only {_bookChanged} writes it, in assembly
    uint32 private _bookVersion;
    // The oracle change in its timelock, and when it can be accepted.
    address private _pendingOracle;
    uint64 private _pendingOracleEta;
    /// @dev The ERC-7540 redemption queue, set once; the shares it holds are pending requests.
    address private _redemptionQueue;

    // ------------------------------------------------------------------ setup

    /// @custom:oz-upgrades-unsafe-allow constructor
    /// @dev Deploys the rules and book pricer (see {BookPricer} for why they are separate) and
    ///      locks the implementation: only clones are initialized.
    constructor() OptionBook(new RebalanceRules()) {
        _disableInitializers();
    }

    /// @inheritdoc IOptionVault
    function initialize(InitParams calldata p) external initializer {
        // The asset, underlying and sequencer feed are the clone's args; `p`'s must match.
        address asset_ = _arg(0);
        uint256 price = _rules.checkInit(asset_, _arg(1), p.oracle, p.venue, p.claims, p.admin);

        // No __ERC4626_init: `asset` is the clone's arg and `decimals` a constant (below).
        __ERC20_init(p.name, p.symbol);
        __AccessControl_init();
        __OptionBook_init(IOptionClaims(p.claims));
        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);

        if (keccak256(abi.encode(p.asset, p.underlying, p.sequencerFeed)) != _argsHash()) {
            revert OptionVaultCloneArgsMismatch();
        }
        _oracle = AggregatorV3Interface(p.oracle);
        _venue = IHedgeVenue(p.venue);

        _lastGoodPrice = SafeCast.toUint152(price);

        _setVolatility(p.volatility);
        Thresholds calldata t = p.thresholds;
        _setTargetDelta(t.targetDelta);
        _setParam(P_BAND, t.band);
        _setParam(P_MAX_INTERVAL, t.maxInterval); // before min: min is checked against max
        _setParam(P_MIN_INTERVAL, t.minInterval);
        _setParam(P_MAX_TRADE, t.maxTrade);
        _setParam(P_SLIPPAGE, t.maxSlippageBps); // before gap: gap is checked against it
        _setParam(P_GAP, t.maxOracleGapBps);
        _setParam(P_HEARTBEAT, t.oracleHeartbeat);
        _setParam(P_GRACE, t.sequencerGracePeriod);
    }

    // ------------------------------------------------------------------ keeper

    /// @inheritdoc IOptionVault
    function rebalance() external returns (int256 deltaBefore, int256 deltaAfter) {
        return _rebalance(0);
    }

    /// @inheritdoc IOptionVault
    function rebalanceTo(int256 postDeviation) external returns (int256, int256) {
        return _rebalance(postDeviation);
    }

    /// @inheritdoc IOptionVault
    /// @dev Holds the vault's reentrancy lock until `batchSettle` (same transaction): in between,
    ///      nothing else (deposit, exit, write, rebalance, a second leg) runs on this vault, so a
    ///      venue or token reentering during the batch's pool swap finds it locked.
    ///      Paused is checked in `_evaluate` (`EnforcedPause`), like every other check.
    function batchPlan(int256 postDeviation)
        external
        onlyRole(BATCHER_ROLE)
        returns (bool, uint256, uint256, uint256, address, address, address)
    {
        if (_reentrancyGuardEntered()) {
            revert ReentrancyGuardReentrantCall();
        }
        _setLock(1);
        (RebalanceRules.Plan memory p, bytes memory err) = _evaluate(postDeviation);
        if (err.length != 0) _revertWith(err);
        (address tokenIn, address tokenOut) = _pair(p.buy);
        uint256 outBefore = IERC20(tokenOut).balanceOf(address(this));
        IERC20(tokenIn).safeTransfer(msg.sender, p.amountIn);
        address venue_ = address(_venue);
        // Keep the leg for batchSettle, and return (buy, amountIn, minOut, price, tokenIn,
        // tokenOut, venue) ABI-encoded from the plan's memory (Plan: trigger, deltaBefore,
        // price, buy, amountIn, minOut).
        assembly ("memory-safe") {
            let buy := mload(add(p, 0x60))
            let amountIn := mload(add(p, 0x80))
            let minOut := mload(add(p, 0xa0))
            let price := mload(add(p, 0x40))
            tstore(BATCH_LEG, or(add(1, shl(1, buy)), shl(8, mload(p))))
            tstore(add(BATCH_LEG, 1), amountIn)
            tstore(add(BATCH_LEG, 2), minOut)
            tstore(add(BATCH_LEG, 3), outBefore)
            tstore(add(BATCH_LEG, 4), mload(add(p, 0x20)))
            tstore(add(BATCH_LEG, 5), price)
            let r := mload(0x40)
            mstore(r, buy)
            mstore(add(r, 0x20), amountIn)
            mstore(add(r, 0x40), minOut)
            mstore(add(r, 0x60), price)
            mstore(add(r, 0x80), tokenIn)
            mstore(add(r, 0xa0), tokenOut)
            mstore(add(r, 0xc0), venue_)
            return(r, 0xe0)
        }
    }

    /// @inheritdoc IOptionVault
    // slither-disable-next-line reentrancy-no-eth -- the lock taken by batchPlan is still held
    function batchSettle()
        external
        onlyRole(BATCHER_ROLE)
        returns (int256 deltaBefore, int256 deltaAfter)
    {
        uint256 flags;
        uint256 spent;
        uint256 minOut;
        uint256 outBefore;
        uint256 price;
        assembly ("memory-safe") {
            flags := tload(BATCH_LEG)
            spent := tload(add(BATCH_LEG, 1))
            minOut := tload(add(BATCH_LEG, 2))
            outBefore := tload(add(BATCH_LEG, 3))
            deltaBefore := tload(add(BATCH_LEG, 4))
            price := tload(add(BATCH_LEG, 5))
            tstore(BATCH_LEG, 0)
        }
        if (flags == 0) revert OptionVaultNotInBatch();
        // forge-lint: disable-next-line(unsafe-typecast) -- the Trigger batchPlan stored (bits 8..15)
        Trigger trigger = Trigger(uint8(flags >> 8));
        deltaAfter = _book(flags & 2 != 0, outBefore, minOut, spent, deltaBefore, price, trigger);
        _setLock(0);
    }

    /// @inheritdoc IOptionVault
    function performUpkeep(bytes calldata) external {
        _rebalance(0);
    }

    /// @inheritdoc IOptionVault
    /// @dev Runs the very checks `rebalance` runs (`_evaluate`), so the two always agree; the
    ///      caller's role is the one thing it cannot know. Returns abi.encode(Trigger), which is
    ///      `Trigger.None` when not allowed.
    function rebalanceTrigger() public view returns (bool, bytes memory) {
        (RebalanceRules.Plan memory p, bytes memory err) = _evaluate(0);
        if (err.length != 0) return (false, abi.encode(Trigger.None));
        return (true, abi.encode(p.trigger));
    }

    /// @inheritdoc IOptionVault
    function checkUpkeep(bytes calldata) external view returns (bool, bytes memory) {
        return rebalanceTrigger();
    }

    /// @inheritdoc IOptionVault
    function rebalanceBlocker() external view returns (bytes memory) {
        (, bytes memory err) = _evaluate(0);
        return err;
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IOptionVault
    function setTargetDelta(int256 target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTargetDelta(target);
    }

    /// @inheritdoc IOptionVault
    function setBand(uint256 band) external {
        _adminSetParam(P_BAND, band);
    }

    /// @inheritdoc IOptionVault
    function setMinInterval(uint32 v) external {
        _adminSetParam(P_MIN_INTERVAL, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxInterval(uint32 v) external {
        _adminSetParam(P_MAX_INTERVAL, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxTrade(uint256 v) external {
        _adminSetParam(P_MAX_TRADE, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxSlippageBps(uint16 v) external {
        _adminSetParam(P_SLIPPAGE, v);
    }

    /// @inheritdoc IOptionVault
    function setMaxOracleGapBps(uint16 v) external {
        _adminSetParam(P_GAP, v);
    }

    /// @inheritdoc IOptionVault
    function setOracleHeartbeat(uint32 v) external {
        _adminSetParam(P_HEARTBEAT, v);
    }

    /// @inheritdoc IOptionVault
    function setSequencerGracePeriod(uint32 v) external {
        _adminSetParam(P_GRACE, v);
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
        _bookChanged();
        emit VenueUpdated(old, newVenue);
    }

    /// @inheritdoc IOptionVault
    function proposeOracle(address newOracle) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // slither-disable-next-line unused-return -- the check reverts on a bad feed; its price is not needed here
        if (newOracle != address(0)) _rules.checkOracle(newOracle);
        uint64 eta = newOracle == address(0) ? 0 : uint64(block.timestamp + ORACLE_TIMELOCK);
        _pendingOracle = newOracle;
        _pendingOracleEta = eta;
        emit OracleProposed(newOracle, eta);
    }

    /// @inheritdoc IOptionVault
    function acceptOracle() external onlyRole(DEFAULT_ADMIN_ROLE) {
        address next = _pendingOracle;
        uint256 eta = _pendingOracleEta;
        // forge-lint: disable-next-line(block-timestamp) -- the timelock is a time rule
        if (next == address(0) || block.timestamp < eta) {
            revert OptionVaultOracleTimelock(next, eta);
        }
        // slither-disable-next-line unused-return -- the check reverts on a bad feed; its price is not needed here
        _rules.checkOracle(next);
        address old = address(_oracle);
        _oracle = AggregatorV3Interface(next);
        _bookChanged();
        delete _pendingOracle;
        delete _pendingOracleEta;
        emit OracleUpdated(old, next);
    }

    /// @inheritdoc IOptionVault
    /// @dev Only what the accounting does not hold: `_quoteBalance` covers every committed and
    ///      free quote unit (collateral, unpaid payoffs), `_hedgeInventory` the hedge.
    function sweep(address token, address to)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        nonReentrant
        returns (uint256 amount)
    {
        if (to == address(0)) revert OptionVaultZeroAddress("to");
        amount = IERC20(token).balanceOf(address(this));
        uint256 accounted = 0; // any other token: all of it
        if (token == asset()) accounted = _quoteBalance;
        else if (token == _arg(1)) accounted = _hedgeInventory;
        amount = amount > accounted ? amount - accounted : 0;
        emit Swept(token, to, amount);
        if (amount != 0) IERC20(token).safeTransfer(to, amount);
    }

    /// @inheritdoc IOptionVault
    function setRedemptionQueue(address queue) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // {RebalanceRules-checkQueue} reverts for zero, a queue already set, or not a queue of
        // this vault; called in assembly, 49 bytes smaller than a Solidity call (EIP-170). Its
        // revert is re-raised as it is.
        address rules = address(_rules);
        bytes4 selector = RebalanceRules.checkQueue.selector;
        assembly ("memory-safe") {
            mstore(0, selector)
            mstore(4, queue)
            if iszero(staticcall(gas(), rules, 0, 0x24, 0, 0)) {
                returndatacopy(0, 0, returndatasize())
                revert(0, returndatasize())
            }
        }
        _redemptionQueue = queue;
        emit RedemptionQueueSet(queue);
    }

    /// @inheritdoc IOptionVault
    function pause() external onlyRole(PAUSER_ROLE) {
        _requireNotPaused();
        _pausedFlag = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IOptionVault
    function unpause() external onlyRole(PAUSER_ROLE) {
        _requirePaused();
        _pausedFlag = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Whether the vault is paused (OZ `Pausable`'s view).
    /// @dev The flag lives in the rebalance clock's slot, not OZ's ERC-7201 one, so the
    ///      rebalance path reads it with the clock. `whenNotPaused`/`whenPaused` call this.
    function paused() public view override returns (bool) {
        return _pausedFlag;
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
    /// @dev 0 when paused, while the NAV cannot be trusted ({_priceTrusted}) and while an
    ///      expired series waits for settlement (valued at its maximum payoff until then, so a
    ///      deposit would buy in below value); unlimited otherwise.
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
    /// @dev Never more than the free quote: locked collateral and unpaid payoffs stay put, and
    ///      the quote the redemption queue's pending requests are owed is theirs ({_exitLiquidity}).
    ///      0 while the NAV cannot be trusted ({_priceTrusted}): exits are deferred, not priced
    ///      at a stale NAV (docs/security.md), and reopen when the oracle is healthy again.
    function maxWithdraw(address owner)
        public
        view
        override(ERC4626Upgradeable, IERC4626)
        returns (uint256)
    {
        return Math.min(
            _convertToAssets(balanceOf(owner), Math.Rounding.Floor), _exitLiquidity(owner)
        );
    }

    /// @inheritdoc ERC4626Upgradeable
    /// @dev Shares whose (rounded-down) redemption value fits in the quote {maxWithdraw} may
    ///      take; 0 while the NAV cannot be trusted, like {maxWithdraw}.
    function maxRedeem(address owner)
        public
        view
        override(ERC4626Upgradeable, IERC4626)
        returns (uint256)
    {
        return Math.min(
            balanceOf(owner), _convertToShares(_exitLiquidity(owner), Math.Rounding.Floor)
        );
    }

    /// @dev The quote an instant exit by `owner` may take: 0 while the NAV cannot be trusted
    ///      ({_priceTrusted}) or an expired series waits for settlement (valued at its maximum
    ///      payoff until then, so an exit, or a fill of the queue by anyone, would sell below
    ///      value), else the free quote, less what the queue's pending requests are owed unless
    ///      `owner` is the queue filling them.
    function _exitLiquidity(address owner) private view returns (uint256 free) {
        if (!_priceTrusted() || _expiredLocked() != 0) return 0;
        free = freeQuote();
        if (owner != _redemptionQueue) {
            uint256 reserved = _queueDemand();
            free = free > reserved ? free - reserved : 0;
        }
    }

    /// @dev The quote reserved for queued, unfilled redemptions: the queue's shares at the
    ///      current NAV, rounded up. `balanceOf(address(0))` is 0: no queue, no reserve. Shares
    ///      sent to the queue without a request count too, until its next fill discards them
    ///      ({IRedemptionQueue}): reading the queue's own count would cost an external call.
    function _queueDemand() internal view override returns (uint256) {
        uint256 pending = balanceOf(_redemptionQueue);
        return pending == 0 ? 0 : _convertToAssets(pending, Math.Rounding.Ceil);
    }

    /// @dev Debits the internal quote balance before the tokens leave.
    function _transferOut(address to, uint256 assets) internal override {
        _quoteBalance = SafeCast.toUint128(_quoteBalance - assets);
        super._transferOut(to, assets);
    }

    /// @dev Deposits and withdrawals are guarded against reentry from a venue or token hook
    ///      while a write, settlement, redemption or rebalance is in flight. The deposit credits
    ///      what arrived on the vault's balance; a fee-on-transfer token delivers less than
    ///      `assets`, and the shares shrink pro rata (rounded down), so the fee never dilutes
    ///      the other holders (the previews are then upper bounds).
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        // Transfer before mint, as OZ does: a token hook reentering sees no new shares.
        uint256 received = _pullQuote(caller, assets);
        if (received < assets) shares = Math.mulDiv(shares, received, assets);
        _quoteBalance = SafeCast.toUint128(_quoteBalance + received);
        _mint(receiver, shares);
        emit Deposit(caller, receiver, received, shares);
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

    /// @notice 12: the asset's 6 (`initialize` requires them) plus the offset.
    function decimals() public pure override(ERC4626Upgradeable, IERC20Metadata) returns (uint8) {
        return 12;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOptionVault
    function netDelta() public view returns (int256) {
        return _netDelta(_valuationPrice());
    }

    /// @inheritdoc IOptionVault
    // slither-disable-next-line unused-return -- the per-contract value is not part of this view
    function seriesGreeks(uint256 id) external view returns (int256, int256, int256) {
        uint256[2] storage s = _knownSeries(id);
        // (price, delta, gamma, vega) from the pricer: return the last three words as they are.
        _forwardFrom(
            abi.encodeCall(
                _rules.greeks,
                (s[0], s[1], _valuationPrice(), _thresholds.volatility, block.timestamp)
            ),
            0x20
        );
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
        (uint256 t0, uint256 t1) = _thresholdWords();
        // A struct of value fields: the pricer's return data is this function's, word for word.
        _forwardFrom(abi.encodeCall(_rules.unpackThresholds, (t0, t1)), 0);
    }

    /// @inheritdoc IOptionVault
    function volatility() external view returns (uint256) {
        return _thresholds.volatility;
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
    /// @dev Reads the slots from calldata and writes the words from memory 0 (scratch, the
    ///      free memory pointer and beyond): nothing runs after the `return`.
    function readSlots() external view {
        assembly {
            let n := sub(calldatasize(), 4)
            for { let i := 0 } lt(i, n) { i := add(i, 0x20) } {
                mstore(i, sload(calldataload(add(4, i))))
            }
            return(0, n)
        }
    }

    /// @inheritdoc IOptionVault
    function oracle() external view returns (address) {
        return address(_oracle);
    }

    /// @inheritdoc IOptionVault
    function sequencerFeed() external view returns (address) {
        return _arg(2);
    }

    /// @inheritdoc IOptionVault
    function venue() external view returns (address) {
        return address(_venue);
    }

    /// @inheritdoc IOptionVault
    function underlying() external view returns (address) {
        return _arg(1);
    }

    /// @inheritdoc IOptionVault
    function redemptionQueue() external view returns (address) {
        return _redemptionQueue;
    }

    /// @inheritdoc IOptionVault
    function pendingOracle() external view returns (address, uint256) {
        return (_pendingOracle, _pendingOracleEta);
    }

    // ------------------------------------------------------------------ internal: rebalance

    /// @dev `rebalance` and `performUpkeep`: keeper role, not paused (`_evaluate`'s first check,
    ///      the same `EnforcedPause` as the modifier), not reentered.
    // slither-disable-next-line reentrancy-balance,reentrancy-no-eth,unused-return -- nonReentrant (the deposit/withdraw/write paths too); balances are measured around the venue call on purpose, and its return value is not trusted for accounting
    function _rebalance(int256 post)
        private
        onlyRole(KEEPER_ROLE)
        nonReentrant
        returns (int256 deltaBefore, int256 deltaAfter)
    {
        (RebalanceRules.Plan memory p, bytes memory err) = _evaluate(post);
        if (err.length != 0) _revertWith(err);
        (address tokenIn, address tokenOut) = _pair(p.buy);
        address venue_ = address(_venue);

        // Measure what left and what arrived on the vault's own balance: the venue's return
        // value is not trusted for accounting, and a token may take a fee.
        uint256 outBefore = IERC20(tokenOut).balanceOf(address(this));
        uint256 inBefore = IERC20(tokenIn).balanceOf(address(this));
        IERC20(tokenIn).forceApprove(venue_, p.amountIn);
        IHedgeVenue(venue_).swapExactIn(tokenIn, tokenOut, p.amountIn, p.minOut, address(this));
        // Reset the approval unless the venue consumed it exactly (the usual case): no
        // allowance outlives the call either way.
        if (IERC20(tokenIn).allowance(address(this), venue_) != 0) {
            IERC20(tokenIn).forceApprove(venue_, 0);
        }
        // <= amountIn: the venue was approved exactly amountIn.
        uint256 spent = inBefore - IERC20(tokenIn).balanceOf(address(this));
        deltaBefore = p.deltaBefore;
        deltaAfter = _book(p.buy, outBefore, p.minOut, spent, deltaBefore, p.price, p.trigger);
    }

    /// @dev Books a trade (shared by `rebalance` and `batchSettle`): `spent` left the vault,
    ///      and what arrived is measured on its own tokenOut balance against `outBefore`; it
    ///      must be at least `minOut`.
    function _book(
        bool buy,
        uint256 outBefore,
        uint256 minOut,
        uint256 spent,
        int256 deltaBefore,
        uint256 price,
        Trigger trigger
    ) private returns (int256 deltaAfter) {
        (, address tokenOut) = _pair(buy);
        uint256 amountOut = IERC20(tokenOut).balanceOf(address(this)) - outBefore;
        if (amountOut < minOut) revert OptionVaultInsufficientOutput(amountOut, minOut);
        if (buy) {
            _quoteBalance = SafeCast.toUint128(_quoteBalance - spent); // <= free quote, checked in _evaluate
            _hedgeInventory = SafeCast.toUint128(_hedgeInventory + amountOut);
            // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
            deltaAfter = deltaBefore + int256(amountOut);
        } else {
            _hedgeInventory = SafeCast.toUint128(_hedgeInventory - spent); // <= inventory, checked in _evaluate
            _quoteBalance = SafeCast.toUint128(_quoteBalance + amountOut);
            // forge-lint: disable-next-line(unsafe-typecast) -- spent <= amountIn < 2^128
            deltaAfter = deltaBefore - int256(spent);
        }
        _lastRebalance = uint64(block.timestamp);
        _lastGoodPrice = SafeCast.toUint152(price);
        emit Rebalanced(deltaBefore, deltaAfter, spent, amountOut, price, trigger);
    }

    /// @dev (tokenIn, tokenOut) of a buy (quote for underlying) or a sell.
    function _pair(bool buy) private view returns (address, address) {
        return buy ? (asset(), _arg(1)) : (_arg(1), asset());
    }

    /// @dev Sets OZ's transient reentrancy flag (`batchPlan` holds it until `batchSettle`).
    function _setLock(uint256 v) private {
        bytes32 slot = _reentrancyGuardStorageSlot();
        assembly ("memory-safe") {
            tstore(slot, v)
        }
    }

    /// @dev Every check of `rebalance`, in order, without reverting: the first failure comes
    ///      back as the custom error's data. Shared by `rebalance`, `rebalanceTrigger` and
    ///      `rebalanceBlocker`. Paused and min interval are checked here; the oracle, net delta,
    ///      the band and time triggers, the pool-oracle gap and the trade size in
    ///      {RebalanceRules-plan}.
    function _evaluate(int256 post)
        private
        view
        returns (RebalanceRules.Plan memory p, bytes memory err)
    {
        if (paused()) return (p, abi.encodeWithSelector(EnforcedPause.selector));
        uint256 minInterval = _thresholds.minInterval;
        uint256 last = _lastRebalance;
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry, intervals, staleness)
        if (last != 0 && block.timestamp < last + minInterval) {
            return (p, abi.encodeWithSelector(OptionVaultTooSoon.selector, last, minInterval));
        }
        (uint256 t0, uint256 t1) = _thresholdWords();
        return _rules.plan(
            _liveBook(false),
            RebalanceRules.PlanInput({
                t0: t0,
                t1: t1,
                lastRebalance: last,
                timestamp: block.timestamp,
                oracle: address(_oracle),
                sequencerFeed: _arg(2),
                venue: address(_venue),
                inventory: _hedgeInventory,
                freeQuote: freeQuote(),
                vol: _thresholds.volatility,
                post: post
            })
        );
    }

    // ------------------------------------------------------------------ internal: oracle

    /// @dev The oracle checks ({RebalanceRules-oracleStatus}): the price, or the custom error.
    function _oracleStatus() private view returns (uint256 price, bytes memory err) {
        return _rules.oracleStatus(
            address(_oracle), _arg(2), _thresholds.oracleHeartbeat, _thresholds.sequencerGracePeriod
        );
    }

    /// @inheritdoc ERC4626Upgradeable
    /// @dev The clone's first immutable arg. OZ's own `_asset` slot is never written
    ///      (`initialize` skips `__ERC4626_init`); OZ reads the asset only through this.
    function asset() public view override(ERC4626Upgradeable, IERC4626) returns (address) {
        return _arg(0);
    }

    /// @dev Immutable arg `i` of this clone: abi.encode(asset, underlying, sequencerFeed),
    ///      appended by {VaultFactory} after the 45 bytes of EIP-1167 code (OZ
    ///      `Clones.cloneWithImmutableArgs`). Read from the code of this (warm) account, ~110
    ///      gas, where a storage read is a cold 2,100 on every rebalance.
    function _arg(uint256 i) private view returns (address a) {
        assembly ("memory-safe") {
            extcodecopy(address(), 0, add(0x2d, shl(5, i)), 0x20)
            a := mload(0)
        }
    }

    /// @dev keccak256 of the clone's three args.
    function _argsHash() private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            extcodecopy(address(), m, 0x2d, 0x60)
            h := keccak256(m, 0x60)
        }
    }

    /// @dev The ERC-4626 asset is the quote {OptionBook} collects premiums and pays claims in.
    function _quoteToken() internal view override returns (IERC20) {
        return IERC20(asset());
    }

    /// @dev Writing needs a healthy oracle: the premium floor is priced at it.
    function _marketState() internal view override returns (uint256 price, uint256 vol) {
        bytes memory err;
        (price, err) = _oracleStatus();
        if (err.length != 0) _revertWith(err);
        vol = _thresholds.volatility;
    }

    function _oracleConfig() internal view override returns (RebalanceRules.OracleConfig memory) {
        return RebalanceRules.OracleConfig(
            address(_oracle), _arg(2), _thresholds.oracleHeartbeat, _thresholds.sequencerGracePeriod
        );
    }

    /// @dev The latest positive answer, else the last accepted price (set at initialization,
    ///      so never zero). Never reverts, even if the feed does.
    function _valuationPrice() private view returns (uint256) {
        return _rules.valuationPrice(address(_oracle), _lastGoodPrice);
    }

    function _depositsOpen() private view returns (bool) {
        return !paused() && _priceTrusted() && _expiredLocked() == 0;
    }

    /// @dev Whether the NAV can be trusted for an entry or an exit: it does not depend on the
    ///      price (no inventory, no open series), or the oracle is healthy (fresh, positive,
    ///      sequencer up past its grace period).
    // slither-disable-next-line incorrect-equality -- exact zero inventory means the NAV does not depend on the price
    function _priceTrusted() private view returns (bool) {
        if (_hedgeInventory == 0 && !_hasOpenSeries()) return true;
        (, bytes memory err) = _oracleStatus();
        return err.length == 0;
    }

    // ------------------------------------------------------------------ internal: pricing

    function _netDelta(uint256 price) private view returns (int256 net) {
        int256 options = 0;
        if (_hasOpenSeries()) {
            options =
                _rules.bookDelta(_liveBook(false), price, _thresholds.volatility, block.timestamp);
        }
        net = int256(uint256(_hedgeInventory)) - options;
    }

    /// @dev Live series at Black-Scholes, expired unsettled ones at their maximum payoff.
    function _optionsValue(uint256 price) private view returns (uint256) {
        if (!_hasOpenSeries()) return 0;
        return _rules.bookValue(_liveBook(true), price, _thresholds.volatility, block.timestamp)
            + _expiredLocked();
    }

    // ------------------------------------------------------------------ internal: setters

    function _setTargetDelta(int256 target) private {
        // forge-lint: disable-next-line(unsafe-typecast) -- negated below when negative
        uint256 abs = uint256(target);
        // Two's complement: 0 - x is |target| for a negative one, int256's minimum included
        // (2^255, out of bounds below), where `-target` would overflow.
        unchecked {
            if (target < 0) abs = 0 - abs;
        }
        _thresholdChange(P_TARGET, abs, 0, 0); // its absolute value, against its bound
        int256 old = _thresholds.targetDelta;
        // forge-lint: disable-next-line(unsafe-typecast) -- bounded (see the checks and constants above)
        _thresholds.targetDelta = int96(target);
        emit TargetDeltaUpdated(old, target);
    }

    /// @dev One setter for the eight unsigned thresholds. {RebalanceRules-checkThreshold} holds
    ///      the table (name, slot, bit offset, width, hard bounds) and the cross rules (min <=
    ///      max interval, gap <= slippage) out of line, for EIP-170; this writes the field inside
    ///      the packed `_thresholds` slots and emits `ThresholdUpdated`.
    /// @dev `_setParam` for the admin's setters (the role check written once, for EIP-170).
    function _adminSetParam(uint256 which, uint256 v) private {
        _checkRole(DEFAULT_ADMIN_ROLE);
        _setParam(which, v);
    }

    function _setParam(uint256 which, uint256 v) private {
        (uint256 t0, uint256 t1) = _thresholdWords();
        (bytes32 name, uint256 word, uint256 offset, uint256 width) =
            _thresholdChange(which, v, t0, t1);
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

    function _setVolatility(uint256 vol) private {
        _thresholdChange(P_VOL, vol, 0, 0); // bounds only: its field is written here
        uint256 old = _thresholds.volatility;
        // forge-lint: disable-next-line(unsafe-typecast) -- vol <= MAX_VOL = 5e18 < 2^64
        _thresholds.volatility = uint64(vol);
        emit VolatilityUpdated(old, vol);
    }

    /// @dev The lean lens's cache key ({IVaultLens-snapshotLeanSince}): every change to what it
    ///      caches (thresholds, vol, oracle, venue, and {OptionBook}'s open book and
    ///      commitments) moves it. It wraps at 2^32: the lens only compares it for equality.
    function _bookChanged() internal override {
        assembly ("memory-safe") {
            let slot := _bookVersion.slot
            sstore(slot, add(sload(slot), BOOK_VERSION_ONE))
        }
    }

    /// @dev {RebalanceRules-checkThreshold}, from one call site (for EIP-170), for a threshold
    ///      about to be written: it also moves the book version (the lens caches thresholds).
    function _thresholdChange(uint256 which, uint256 v, uint256 t0, uint256 t1)
        private
        returns (bytes32 name, uint256 word, uint256 offset, uint256 width)
    {
        (name, word, offset, width) = _rules.checkThreshold(which, v, t0, t1);
        _bookChanged();
    }

    /// @dev The two raw slots of `_thresholds` ({RebalanceRules-unpackThresholds} reads them).
    function _thresholdWords() private view returns (uint256 t0, uint256 t1) {
        assembly ("memory-safe") {
            t0 := sload(_thresholds.slot)
            t1 := sload(add(_thresholds.slot, 1))
        }
    }

    /// @dev Re-raises an error built by `_evaluate` / `_oracleStatus` verbatim.
    function _revertWith(bytes memory err) private pure {
        assembly ("memory-safe") {
            revert(add(err, 0x20), mload(err))
        }
    }
}
