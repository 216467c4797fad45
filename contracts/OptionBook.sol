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
import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {RebalanceRules} from "./RebalanceRules.sol";
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
///      The vault supplies the quote asset ({_quoteToken}, its ERC-4626 `asset()`), the price
///      and vol a write is checked at ({_marketState}) and the oracle settlement reads
///      ({_oracleConfig}); this contract supplies the open book to price ({_liveBook}). The
///      checks of writes and settlements run out of line in {RebalanceRules}.
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

    /// @dev underlying (1e18) * price (1e8) / 1e20 = quote (1e6).
    uint256 internal constant UNDERLYING_PRICE_TO_QUOTE = 1e20;

    /// @dev Minimum premium edge over model value: 0 .. 10%.
    uint256 public constant MAX_EDGE_BPS = 1000;

    /// @dev The terms fields of a series' first word (type, strike, cap, expiry): with the
    ///      size masked out, the word is the key of its open series.
    uint256 private constant TERMS_MASK = ~(SeriesLayout.SIZE_MASK << SeriesLayout.SIZE_SHIFT)
        & ~(SeriesLayout.FLAG_MASK << SeriesLayout.SETTLED_SHIFT);

    // ------------------------------------------------------------------ storage

    /// @dev Prices the book, checks writes and settlements (see {BookPricer} for why it is a
    ///      separate contract). Shared by every clone: immutables live in the implementation.
    RebalanceRules internal immutable _rules;

    IOptionClaims private _claims;
    // {OptionVault}'s oracle and venue, declared here so that the commitments fill their
    // slots' spare bits: a rebalance reads both addresses, and with them `freeQuote`'s inputs.
    // 2^96 quote units (7.9e22 of the required 6-decimal asset) are far beyond any real value.
    AggregatorV3Interface internal _oracle;
    uint96 private _locked;
    IHedgeVenue internal _venue;
    uint96 private _settledUnpaid;
    uint256 private _nextId;
    /// @dev The open ids, 16 uint32 fields (eight a word, from bit 0 up) filled from field 0
    ///      with no gap; a 0 field ends them (ids start at 1). No length slot: a rebalance
    ///      reads word 0, and word 1 only when word 0 is full (`_openIdWords`).
    uint256[2] private _openIds;
    /// @dev The two {SeriesLayout} words of each series ever written (settled ones included).
    mapping(uint256 id => uint256[2] words) private _series;
    mapping(bytes32 key => uint256 id) private _openByKey;
    /// @dev Each buyer's next signed-quote nonce.
    mapping(address buyer => uint256) private _nonces;
    uint256 private _minEdgeBps;
    /// @dev Quote held per the vault's own accounting (deposits, withdrawals, premiums,
    ///      rebalances, claim payments; donations ignored). Declared last so that it shares a
    ///      slot with {OptionVault}'s `_hedgeInventory`, declared first: a rebalance writes both.
    uint128 internal _quoteBalance;

    // ------------------------------------------------------------------ setup

    constructor(RebalanceRules rules_) {
        _rules = rules_;
    }

    /// @dev Called once, from the vault's `initialize`.
    function __OptionBook_init(IOptionClaims claims_) internal {
        _claims = claims_;
    }

    // ------------------------------------------------------------------ desk and holders

    /// @inheritdoc IOptionVault
    /// @dev The checks run in {RebalanceRules-writeTerms}; this records the series, pulls the
    ///      premium, measures what arrived (a fee-on-transfer token delivers less) and checks
    ///      that against the model floor and the collateral rule (the queue's reserve at the NAV
    ///      after the write), then mints the claims.
    function writeOption(Quote calldata q, uint256 premium, bytes calldata signature)
        external
        onlyRole(DESK_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint256 id)
    {
        (uint256 w0, uint256 w1, uint256 lock, uint256 minPremium) =
            _checkWrite(q, premium, signature);
        bytes32 key = bytes32(w0 & TERMS_MASK);
        {
            uint256 existing = _openByKey[key];
            if (existing != 0) revert OptionVaultDuplicateSeries(existing);
            (uint256 i0, uint256 i1, uint256 open) = _openIdWords();
            if (open >= MAX_OPEN_SERIES) revert OptionVaultTooManySeries(open, MAX_OPEN_SERIES);
            id = ++_nextId;
            (i0, i1) = _withId(i0, i1, open, SafeCast.toUint32(id)); // a new last field
            _storeOpenIds(i0, i1, open + 1);
        }
        // Stored before the premium is collected: the queue's reserve is checked at the NAV
        // after the write ({_collectPremium}).
        _series[id] = [w0, w1];
        _openByKey[key] = id;
        uint256 received = _collectPremium(q.buyer, premium, minPremium, lock);
        _bookChanged();
        _emitWritten(id, q, received);
        // Mint last: the ERC-1155 receiver hook runs on final state.
        _claims.mint(q.buyer, id, q.size);
    }

    /// @inheritdoc IOptionVault
    /// @dev The round is checked in {RebalanceRules-settlement}. Works when paused so holders
    ///      can always be paid.
    function settle(uint256 id, uint80 roundId)
        external
        nonReentrant
        returns (uint256 payoutPerContract)
    {
        uint256[2] storage s = _knownSeries(id);
        uint256 w0 = s[0];
        if (SeriesLayout.settled(w0)) revert OptionVaultAlreadySettled(id);
        uint64 expiry = SeriesLayout.expiry(w0);
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry, intervals, staleness)
        if (block.timestamp < expiry) revert OptionVaultNotExpired(id, expiry);
        uint256 price;
        uint256 lock;
        (price, payoutPerContract, lock) = _rules.settlement(w0, roundId, _oracleConfig());
        uint256 size = SeriesLayout.size(w0);

        s[0] = SeriesLayout.withSettled(w0);
        s[1] = SeriesLayout.withPayout(s[1], payoutPerContract); // <= cap / 100 <= 1e14 < 2^64
        _locked = SafeCast.toUint96(_locked - lock);
        _settledUnpaid = SafeCast.toUint96(
            _settledUnpaid + Math.mulDiv(size, payoutPerContract, 1e18, Math.Rounding.Ceil)
        );
        delete _openByKey[bytes32(w0 & TERMS_MASK)];
        _removeOpen(id);
        _bookChanged();
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
        _settledUnpaid = SafeCast.toUint96(_settledUnpaid - (owedBefore - owedAfter));
        _quoteBalance = SafeCast.toUint128(_quoteBalance - paid);
        _bookChanged();
        emit ClaimsRedeemed(id, msg.sender, amount, paid);
        if (paid != 0) _quoteToken().safeTransfer(msg.sender, paid);
    }

    /// @inheritdoc IOptionVault
    function setMinPremiumEdgeBps(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bps > MAX_EDGE_BPS) revert OptionVaultParameterOutOfBounds("minPremiumEdgeBps", bps);
        emit ThresholdUpdated("minPremiumEdgeBps", _minEdgeBps, bps);
        _minEdgeBps = bps;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOptionVault
    function openSeries() external view returns (Series[] memory out) {
        (uint256 i0, uint256 i1, uint256 n) = _openIdWords();
        out = new Series[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = _toSeries(_idAt(i0, i1, i));
        }
    }

    /// @inheritdoc IOptionVault
    function series(uint256 id) external view returns (Series memory) {
        _knownSeries(id);
        return _toSeries(id);
    }

    /// @inheritdoc IOptionVault
    function nonces(address buyer) external view returns (uint256) {
        return _nonces[buyer];
    }

    /// @inheritdoc IOptionVault
    function useNonce() external returns (uint256 nonce) {
        nonce = _nonces[msg.sender]++;
    }

    /// @inheritdoc IOptionVault
    function minPremiumEdgeBps() external view returns (uint256) {
        return _minEdgeBps;
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
        return address(_rules);
    }

    /// @inheritdoc IOptionVault
    /// @dev {OptionVault} overrides it with its own flag.
    function paused()
        public
        view
        virtual
        override(PausableUpgradeable, IOptionVault)
        returns (bool)
    {
        return super.paused();
    }

    // ------------------------------------------------------------------ internal: hooks

    /// @dev The quote reserved for the redemption queue's pending requests (the vault's).
    function _queueDemand() internal view virtual returns (uint256);

    /// @dev The quote asset: premiums come in and claims are paid in it.
    function _quoteToken() internal view virtual returns (IERC20);

    /// @dev Moves the vault's book version: after every change to the open book (ids, series),
    ///      the commitments (`_locked`, `_settledUnpaid`) or the feeds.
    function _bookChanged() internal virtual;

    /// @dev The healthy oracle price and the vol a write is priced at; reverts when the
    ///      oracle is unhealthy.
    function _marketState() internal view virtual returns (uint256 price, uint256 vol);

    /// @dev The oracle settlement reads (and its fallback checks).
    function _oracleConfig() internal view virtual returns (RebalanceRules.OracleConfig memory);

    /// @dev {RebalanceRules-writeTerms} at the oracle price; uses up the nonce of a signed quote.
    function _checkWrite(Quote calldata q, uint256 premium, bytes calldata signature)
        private
        returns (uint256 w0, uint256 w1, uint256 lock, uint256 minPremium)
    {
        (uint256 price, uint256 vol) = _marketState();
        uint256 nonce = _nonces[q.buyer];
        (w0, w1, lock, minPremium) = _rules.writeTerms(
            q,
            premium,
            signature,
            RebalanceRules.WriteContext(address(this), msg.sender, nonce, price, vol, _minEdgeBps)
        );
        // A signed quote is good once.
        if (signature.length != 0) _nonces[q.buyer] = nonce + 1;
    }

    /// @dev The buyer consented ({_checkWrite}): pulls the premium, checks what arrived against
    ///      the model floor and the collateral rule (every open series' maximum payoff, this one
    ///      included), and books the premium and the lock.
    function _collectPremium(address buyer, uint256 premium, uint256 minPremium, uint256 lock)
        private
        returns (uint256 received)
    {
        received = _pullQuote(buyer, premium);
        if (received < minPremium) {
            revert OptionVaultPremiumOutOfBounds(received, minPremium, premium);
        }
        uint256 locked = _locked + lock;
        uint256 available = _quoteBalance + received;
        _locked = SafeCast.toUint96(locked);
        _quoteBalance = SafeCast.toUint128(available);
        // Queued redemptions' assets are not collateral for new business ({_queueDemand}). The
        // reserve is read after the premium and the series are booked: the premium's markup
        // over model value raises the NAV, and with it the queued shares' value. Read before
        // (until 2026-12-04), it missed the markup, and a write could pass that left the queue
        // unable to fill in full.
        uint256 required = locked + _settledUnpaid + _queueDemand();
        if (required > available) revert OptionVaultInsufficientCollateral(required, available);
    }

    function _emitWritten(uint256 id, Quote calldata q, uint256 premium) private {
        emit OptionWritten(id, q.buyer, q.optionType, q.strike, q.cap, q.expiry, q.size, premium);
    }

    /// @dev Pulls `amount` quote from `from` (who consented) and returns what arrived on the
    ///      vault's own balance: a fee-on-transfer token delivers less than `amount`.
    function _pullQuote(address from, uint256 amount) internal returns (uint256 received) {
        IERC20 quote = _quoteToken();
        uint256 before = quote.balanceOf(address(this));
        // slither-disable-next-line arbitrary-send-erc20 -- `from` consented: it is the depositor calling, or the buyer who called or signed the quote (checked by the caller)
        quote.safeTransferFrom(from, address(this), amount);
        received = quote.balanceOf(address(this)) - before;
    }

    // ------------------------------------------------------------------ internal: book

    function _hasOpenSeries() internal view returns (bool) {
        return _openIds[0] != 0;
    }

    /// @dev The live (unexpired) open series as the pricer takes them: the two raw
    ///      {SeriesLayout} words of each when `full` (valuation needs the stored strike logs),
    ///      word 0 alone otherwise (delta recomputes the logs, cheaper than a cold SLOAD of word
    ///      1). An expired series waiting for settlement is left out: it has no delta (never
    ///      hedged as a digital) and {_expiredLocked} values it.
    function _liveBook(bool full) internal view returns (uint256[] memory book) {
        (uint256 i0, uint256 i1, uint256 n) = _openIdWords();
        book = new uint256[](full ? 2 * n : n);
        uint256 k;
        for (uint256 i = 0; i < n; ++i) {
            uint256[2] storage s = _series[_idAt(i0, i1, i)];
            uint256 w0;
            // The slots read raw: the indexed form costs ~18 gas more per series, on every
            // rebalance and valuation.
            assembly ("memory-safe") {
                w0 := sload(s.slot)
            }
            // forge-lint: disable-next-line(block-timestamp) -- expiry is a time rule
            if ((w0 >> SeriesLayout.EXPIRY_SHIFT) & SeriesLayout.EXPIRY_MASK > block.timestamp) {
                book[k++] = w0;
                if (full) {
                    uint256 w1;
                    assembly ("memory-safe") {
                        w1 := sload(add(s.slot, 1))
                    }
                    book[k++] = w1;
                }
            }
        }
        // Trim to the live series (k <= the allocated length: shrinking a memory array's
        // length is safe).
        assembly ("memory-safe") {
            mstore(book, k)
        }
    }

    /// @dev The maximum payoff (locked collateral) of the expired series not yet settled: how
    ///      they are valued until settlement fixes their payoff.
    function _expiredLocked() internal view returns (uint256 total) {
        (uint256 i0, uint256 i1, uint256 n) = _openIdWords();
        for (uint256 i = 0; i < n; ++i) {
            uint256 w0 = _series[_idAt(i0, i1, i)][0];
            // forge-lint: disable-next-line(block-timestamp) -- expiry is a time rule
            if (SeriesLayout.expiry(w0) <= block.timestamp) total += _rules.lockOf(w0);
        }
    }

    /// @dev A written series' storage; reverts for an id never written.
    function _knownSeries(uint256 id) internal view returns (uint256[2] storage s) {
        s = _series[id];
        if (SeriesLayout.expiry(s[0]) == 0) revert OptionVaultUnknownSeries(id);
    }

    /// @dev The open ids' two words and their count (word 1 is read only when word 0 is full).
    function _openIdWords() internal view returns (uint256 i0, uint256 i1, uint256 n) {
        i0 = _openIds[0];
        if (i0 >> 224 != 0) i1 = _openIds[1];
        while (n < MAX_OPEN_SERIES && _idAt(i0, i1, n) != 0) {
            ++n;
        }
    }

    /// @dev Field `i` (< 16) of the open ids' words.
    function _idAt(uint256 i0, uint256 i1, uint256 i) internal pure returns (uint256) {
        return ((i < 8 ? i0 : i1) >> ((i & 7) << 5)) & type(uint32).max;
    }

    /// @dev Moves the last open id into `id`'s field and clears the last (the order is not
    ///      kept, as a swap-and-pop would not keep it).
    function _removeOpen(uint256 id) private {
        (uint256 i0, uint256 i1, uint256 n) = _openIdWords();
        for (uint256 i = 0; i < n; ++i) {
            if (_idAt(i0, i1, i) == id) {
                // Field i takes the last id, then the last field is cleared (i may be it).
                (i0, i1) = _withId(i0, i1, i, _idAt(i0, i1, n - 1));
                (i0, i1) = _withId(i0, i1, n - 1, 0);
                _storeOpenIds(i0, i1, n);
                return;
            }
        }
    }

    /// @dev The words with field `i` (< 16) set to `v` (< 2^32).
    function _withId(uint256 i0, uint256 i1, uint256 i, uint256 v)
        private
        pure
        returns (uint256, uint256)
    {
        uint256 shift = (i & 7) << 5;
        uint256 clear = ~(uint256(type(uint32).max) << shift);
        if (i < 8) return ((i0 & clear) | (v << shift), i1);
        return (i0, (i1 & clear) | (v << shift));
    }

    /// @dev Writes word 0, and word 1 when `n` (the count before or after, the larger) > 8.
    function _storeOpenIds(uint256 i0, uint256 i1, uint256 n) private {
        _openIds[0] = i0;
        if (n > 8) _openIds[1] = i1;
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

    /// @dev Returns from the calling view with the pricer's answer to `data`, from byte `skip`
    ///      on: views whose answer the pricer computes pass its ABI through instead of decoding
    ///      it into memory and encoding it again (for EIP-170). A revert is re-raised as it is.
    function _forwardFrom(bytes memory data, uint256 skip) internal view {
        address rules = address(_rules);
        assembly ("memory-safe") {
            if iszero(staticcall(gas(), rules, add(data, 0x20), mload(data), 0, 0)) {
                returndatacopy(0, 0, returndatasize())
                revert(0, returndatasize())
            }
            let n := sub(returndatasize(), skip)
            let p := mload(0x40)
            returndatacopy(p, skip, n)
            return(p, n)
        }
    }
}
