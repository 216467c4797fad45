// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AccessControlUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {
    PausableUpgradeable
} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IOptionClaims} from "./interfaces/IOptionClaims.sol";
import {BookPricer} from "./BookPricer.sol";
import {SeriesLayout} from "./libraries/SeriesLayout.sol";

/// @title OptionBook
/// @notice The option side of {OptionVault}: the series it has written (stored as
///         {SeriesLayout} words), writing them for the desk, settling them after expiry, and
///         the claims accounting that pays holders.
/// @dev Collateral rule, kept after every call: `_quoteBalance >= _locked + _settledUnpaid`
///      where `_locked` = sum over open series of size * max payoff (cap, or strike for a put
///      whose cap exceeds it), rounded up. Writing, withdrawals and hedge purchases are limited
///      by it ({freeQuote}); hedge inventory never counts as collateral.
///
///      The vault supplies the quote asset ({_quoteToken}, its ERC-4626 `asset()`) and the
///      settlement price ({_settlementPrice}); this contract supplies the open book to price
///      ({_book}).
abstract contract OptionBook is
    AccessControlUpgradeable,
    PausableUpgradeable,
    ReentrancyGuardTransient,
    IOptionVault
{
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ constants

    /// @inheritdoc IOptionVault
    bytes32 public constant DESK_ROLE = keccak256("DESK_ROLE");

    /// @inheritdoc IOptionVault
    /// @dev 16 series of two legs each keep `totalAssets` well under 1M gas.
    uint256 public constant MAX_OPEN_SERIES = 16;

    /// @dev Strikes and caps: 0.01 .. 1e8 USD (1e8 units). Sizes: 1e-6 .. 1e9 contracts.
    ///      (They bound the packed storage: 1e16 < 2^56, 1e27 < 2^96; see {SeriesLayout}.)
    uint256 public constant MIN_STRIKE = 1e6;
    uint256 public constant MAX_PRICE = 1e16;
    uint256 public constant MIN_SIZE = 1e12;
    uint256 public constant MAX_SIZE = 1e27;
    /// @dev Longest tenor a series may be written with.
    uint256 public constant MAX_TENOR = 730 days;

    /// @dev underlying (1e18) * price (1e8) / 1e20 = quote (1e6).
    uint256 internal constant UNDERLYING_PRICE_TO_QUOTE = 1e20;
    /// @dev 1e8 price units per 1e6 quote units.
    uint256 private constant PRICE_PER_QUOTE_UNIT = 100;

    // ------------------------------------------------------------------ storage

    /// @dev Shared by every clone: immutables live in the implementation's code.
    BookPricer internal immutable _pricer;

    IOptionClaims private _claims;
    // 2^128 quote units are far beyond any real value.
    uint128 private _locked;
    uint128 private _settledUnpaid;
    uint256 private _nextId;
    uint32[] private _openIds;
    /// @dev The two {SeriesLayout} words of each series ever written (settled ones included).
    mapping(uint256 id => uint256[2] words) private _series;
    mapping(bytes32 key => uint256 id) private _openByKey;
    /// @dev Quote held per the vault's own accounting (deposits, withdrawals, premiums,
    ///      rebalances, claim payments; donations ignored). Declared last so that it shares a
    ///      slot with {OptionVault}'s `_hedgeInventory`, declared first: a rebalance writes both.
    uint128 internal _quoteBalance;

    // ------------------------------------------------------------------ setup

    constructor(BookPricer pricer_) {
        _pricer = pricer_;
    }

    /// @dev Called once, from the vault's `initialize`.
    function __OptionBook_init(IOptionClaims claims_) internal {
        _claims = claims_;
    }

    // ------------------------------------------------------------------ desk and holders

    /// @inheritdoc IOptionVault
    /// @dev The premium is pulled from `buyer`, who must have approved the vault: the desk is
    ///      trusted to write only what the buyer agreed to.
    function writeOption(
        address buyer,
        OptionType optionType,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size,
        uint256 premium
    ) external onlyRole(DESK_ROLE) whenNotPaused nonReentrant returns (uint256 id) {
        if (buyer == address(0)) revert OptionVaultZeroAddress("buyer");
        _checkSeries(strike, cap, expiry, size, premium);
        bytes32 key = _seriesKey(optionType, strike, cap, expiry);
        uint256 lock = _lockOf(optionType, strike, cap, size);
        _checkBook(key, lock, premium);
        IERC20 quote = _quoteToken();
        if (quote.allowance(buyer, address(this)) < premium || quote.balanceOf(buyer) < premium) {
            revert OptionVaultPremiumNotPaid(buyer, premium);
        }

        id = ++_nextId;
        _storeSeries(id, optionType, strike, cap, expiry, size);
        _openIds.push(SafeCast.toUint32(id));
        _openByKey[key] = id;
        _locked = SafeCast.toUint128(_locked + lock);
        _quoteBalance = SafeCast.toUint128(_quoteBalance + premium);
        emit OptionWritten(id, buyer, optionType, strike, cap, expiry, size, premium);

        // Pull the premium, then mint: the ERC-1155 receiver hook runs last, on final state.
        quote.safeTransferFrom(buyer, address(this), premium);
        _claims.mint(buyer, id, size);
    }

    /// @inheritdoc IOptionVault
    /// @dev Settles at the oracle price when called, not at expiry: anyone (the keeper) should
    ///      settle right after expiry. Works when paused so holders can always be paid.
    function settle(uint256 id) external nonReentrant returns (uint256 payoutPerContract) {
        uint256[2] storage s = _knownSeries(id);
        uint256 w0 = s[0];
        if (SeriesLayout.settled(w0)) revert OptionVaultAlreadySettled(id);
        uint64 expiry = SeriesLayout.expiry(w0);
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry, intervals, staleness)
        if (block.timestamp < expiry) revert OptionVaultNotExpired(id, expiry);
        uint256 price = _settlementPrice();

        OptionType optionType = SeriesLayout.optionType(w0);
        uint256 strike = SeriesLayout.strike(w0);
        uint256 cap = SeriesLayout.cap(w0);
        uint256 payoff8;
        if (optionType == OptionType.Call) {
            payoff8 = price > strike ? price - strike : 0;
        } else {
            payoff8 = strike > price ? strike - price : 0;
        }
        if (payoff8 > cap) payoff8 = cap;
        payoutPerContract = payoff8 / PRICE_PER_QUOTE_UNIT; // holders' side rounds down
        uint256 size = SeriesLayout.size(w0);

        s[0] = SeriesLayout.withSettled(w0);
        s[1] = SeriesLayout.withPayout(s[1], payoutPerContract); // <= cap / 100 <= 1e14 < 2^64
        _locked = SafeCast.toUint128(_locked - _lockOf(optionType, strike, cap, size));
        _settledUnpaid = SafeCast.toUint128(
            _settledUnpaid + Math.mulDiv(size, payoutPerContract, 1e18, Math.Rounding.Ceil)
        );
        delete _openByKey[_seriesKey(optionType, strike, cap, expiry)];
        _removeOpen(id);
        emit SeriesSettled(id, price, payoutPerContract);
    }

    /// @inheritdoc IOptionVault
    /// @dev The liability of a series is ceil(size * payout / 1e18); a redemption pays
    ///      floor(amount * payout / 1e18), which never exceeds the drop of that ceiling, so the
    ///      collateral rule survives any order of partial redemptions.
    function redeemClaims(uint256 id, uint256 amount) external nonReentrant returns (uint256 paid) {
        if (amount == 0) revert OptionVaultZeroAmount();
        uint256[2] storage s = _knownSeries(id);
        uint256 w0 = s[0];
        if (!SeriesLayout.settled(w0)) revert OptionVaultNotSettled(id);
        // Burn first: it reverts unless the caller holds `amount`, which also bounds `amount`
        // by the outstanding size (the claims' supply of `id` equals it).
        _claims.burn(msg.sender, id, amount);

        uint256 payout = SeriesLayout.payout(s[1]);
        uint256 size = SeriesLayout.size(w0);
        uint256 newSize = size - amount;
        uint256 owedBefore = Math.mulDiv(size, payout, 1e18, Math.Rounding.Ceil);
        uint256 owedAfter = Math.mulDiv(newSize, payout, 1e18, Math.Rounding.Ceil);
        paid = Math.mulDiv(amount, payout, 1e18);

        s[0] = SeriesLayout.withSize(w0, newSize); // < size
        _settledUnpaid = SafeCast.toUint128(_settledUnpaid - (owedBefore - owedAfter));
        _quoteBalance = SafeCast.toUint128(_quoteBalance - paid);
        emit ClaimsRedeemed(id, msg.sender, amount, paid);
        if (paid != 0) _quoteToken().safeTransfer(msg.sender, paid);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOptionVault
    function openSeries() external view returns (Series[] memory out) {
        uint256 n = _openIds.length;
        out = new Series[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = _toSeries(_openIds[i]);
        }
    }

    /// @inheritdoc IOptionVault
    function series(uint256 id) external view returns (Series memory) {
        _knownSeries(id);
        return _toSeries(id);
    }

    /// @inheritdoc IOptionVault
    function lockedCollateral() external view returns (uint256) {
        return _locked;
    }

    /// @inheritdoc IOptionVault
    function settledUnpaid() public view returns (uint256) {
        return _settledUnpaid;
    }

    /// @inheritdoc IOptionVault
    function quoteBalance() external view returns (uint256) {
        return _quoteBalance;
    }

    /// @inheritdoc IOptionVault
    function freeQuote() public view returns (uint256) {
        uint256 committed = _locked + _settledUnpaid;
        return _quoteBalance > committed ? _quoteBalance - committed : 0;
    }

    /// @inheritdoc IOptionVault
    function claims() external view returns (address) {
        return address(_claims);
    }

    /// @inheritdoc IOptionVault
    function pricer() external view returns (address) {
        return address(_pricer);
    }

    /// @inheritdoc IOptionVault
    function paused() public view override(PausableUpgradeable, IOptionVault) returns (bool) {
        return super.paused();
    }

    // ------------------------------------------------------------------ internal: hooks

    /// @dev The quote asset: premiums come in and claims are paid in it.
    function _quoteToken() internal view virtual returns (IERC20);

    /// @dev The price an expired series settles at; reverts when there is none to trust.
    function _settlementPrice() internal virtual returns (uint256 price);

    // ------------------------------------------------------------------ internal: book

    function _hasOpenSeries() internal view returns (bool) {
        return _openIds.length != 0;
    }

    /// @dev The open series as the pricer takes them: two raw {SeriesLayout} words each.
    function _book() internal view returns (uint256[] memory book) {
        uint256 n = _openIds.length;
        book = new uint256[](2 * n);
        for (uint256 i = 0; i < n; ++i) {
            uint256[2] storage s = _series[_openIds[i]];
            uint256 w0;
            uint256 w1;
            // The two slots read raw: the indexed form costs ~18 gas more per series, on every
            // rebalance and valuation.
            assembly ("memory-safe") {
                w0 := sload(s.slot)
                w1 := sload(add(s.slot, 1))
            }
            (book[2 * i], book[2 * i + 1]) = (w0, w1);
        }
    }

    /// @dev A written series' storage; reverts for an id never written.
    function _knownSeries(uint256 id) internal view returns (uint256[2] storage s) {
        s = _series[id];
        if (SeriesLayout.expiry(s[0]) == 0) revert OptionVaultUnknownSeries(id);
    }

    /// @dev Stores a new series; `_checkSeries` bounds make every field fit its width.
    function _storeSeries(
        uint256 id,
        OptionType optionType,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size
    ) private {
        (int256 lnStrike, int256 lnStrike2) =
            _pricer.strikeLogs(optionType == OptionType.Call, strike, cap);
        (uint256 w0, uint256 w1) =
            SeriesLayout.pack(optionType, strike, cap, expiry, size, lnStrike, lnStrike2);
        _series[id] = [w0, w1];
    }

    function _checkSeries(uint256 strike, uint256 cap, uint64 expiry, uint256 size, uint256 premium)
        private
        view
    {
        if (strike < MIN_STRIKE || strike > MAX_PRICE) {
            revert OptionVaultInvalidSeries("strike", strike);
        }
        if (cap == 0 || cap > MAX_PRICE) revert OptionVaultInvalidSeries("cap", cap);
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry, intervals, staleness)
        if (expiry <= block.timestamp || expiry > block.timestamp + MAX_TENOR) {
            revert OptionVaultInvalidSeries("expiry", expiry);
        }
        if (size < MIN_SIZE || size > MAX_SIZE) revert OptionVaultInvalidSeries("size", size);
        if (premium == 0) revert OptionVaultInvalidSeries("premium", premium);
    }

    /// @dev No duplicate open series, room in the book, and collateral for every open series'
    ///      maximum payoff after this one (the premium counts: it arrives in the same call).
    function _checkBook(bytes32 key, uint256 lock, uint256 premium) private view {
        uint256 existing = _openByKey[key];
        if (existing != 0) revert OptionVaultDuplicateSeries(existing);
        uint256 open = _openIds.length;
        if (open >= MAX_OPEN_SERIES) revert OptionVaultTooManySeries(open, MAX_OPEN_SERIES);
        uint256 required = _locked + _settledUnpaid + lock;
        uint256 available = _quoteBalance + premium;
        if (required > available) revert OptionVaultInsufficientCollateral(required, available);
    }

    /// @dev Quote locked by a series: size * max payoff (a put pays at most its strike).
    function _lockOf(OptionType optionType, uint256 strike, uint256 cap, uint256 size)
        private
        pure
        returns (uint256)
    {
        uint256 maxPayoff = optionType == OptionType.Put && cap > strike ? strike : cap;
        return Math.mulDiv(size, maxPayoff, UNDERLYING_PRICE_TO_QUOTE, Math.Rounding.Ceil);
    }

    function _seriesKey(OptionType optionType, uint256 strike, uint256 cap, uint256 expiry)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(optionType, strike, cap, expiry));
    }

    function _removeOpen(uint256 id) private {
        uint256 n = _openIds.length;
        for (uint256 i = 0; i < n; ++i) {
            if (_openIds[i] == id) {
                _openIds[i] = _openIds[n - 1];
                _openIds.pop();
                return;
            }
        }
    }

    function _toSeries(uint256 id) private view returns (Series memory) {
        uint256[2] storage s = _series[id];
        uint256 w0 = s[0];
        return Series({
            id: id,
            optionType: SeriesLayout.optionType(w0),
            strike: SeriesLayout.strike(w0),
            cap: SeriesLayout.cap(w0),
            expiry: SeriesLayout.expiry(w0),
            size: SeriesLayout.size(w0),
            settled: SeriesLayout.settled(w0),
            payoutPerContract: SeriesLayout.payout(s[1])
        });
    }
}
