// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {IRedemptionQueue} from "./interfaces/IRedemptionQueue.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {BookPricer} from "./BookPricer.sol";
import {SeriesLayout} from "./libraries/SeriesLayout.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title RebalanceRules
/// @notice A vault's oracle policy and rebalance rules: whether the oracle may be trusted now
///         ({oracleStatus}), the price views use ({valuationPrice}), and whether and how far to
///         trade ({plan}: net delta, band and time triggers, pool-oracle gap, trade size); and
///         the checks of its two money paths, which revert with `IOptionVault` errors: the terms,
///         consent and premium of a write ({writeTerms}) and the expiry price of a settlement
///         ({settlement}). Stateless; `plan` and `oracleStatus` return errors as data.
/// @dev Out of {OptionVault} for its bytecode size, like the pricing (see {BookPricer}). It
///      extends {BookPricer} rather than calling one, so `plan` prices the book in the same
///      frame, and the vault's implementation deploys this one contract for both: the vault
///      reaches its pricing and its rules at the same immutable address.
contract RebalanceRules is BookPricer {
    /// @notice What `plan` needs besides the book.
    struct PlanInput {
        uint256 t0; // the vault's packed thresholds, first slot (see {unpackThresholds})
        uint256 t1; // second slot
        uint256 lastRebalance;
        uint256 timestamp;
        address oracle;
        address sequencerFeed; // zero when the chain has none
        address venue; // asked for its spot price (gap check)
        uint256 inventory; // hedge inventory (1e18)
        uint256 freeQuote; // quote units
        uint256 vol; // 1e18
        int256 post; // requested post-trade deviation net - target (1e18); 0: to target
    }

    /// @notice A rebalance: why, from where, and the exact swap.
    struct Plan {
        IOptionVault.Trigger trigger;
        int256 deltaBefore;
        uint256 price;
        bool buy;
        uint256 amountIn;
        uint256 minOut;
    }

    /// @notice What `writeTerms` needs besides the quote (read by the vault).
    struct WriteContext {
        address vault; // the EIP-712 verifying contract
        address caller; // the desk account calling writeOption
        uint256 nonce; // the buyer's next nonce
        uint256 price; // healthy oracle price (1e8)
        uint256 vol; // 1e18
        uint256 minEdgeBps;
    }

    /// @notice The vault's oracle, for `settlement`'s fallback.
    struct OracleConfig {
        address oracle;
        address sequencerFeed;
        uint256 heartbeat;
        uint256 grace;
    }

    uint256 private constant BPS = 10_000;
    /// @dev underlying (1e18) * price (1e8) / 1e20 = quote (1e6).
    uint256 private constant UNDERLYING_PRICE_TO_QUOTE = 1e20;
    /// @dev size (1e18) * per-contract USD value (1e18) / 1e30 = quote (1e6).
    uint256 private constant BOOK_VALUE_TO_QUOTE = 1e30;
    /// @dev 1e8 price units per 1e6 quote units.
    uint256 private constant PRICE_PER_QUOTE_UNIT = 100;

    /// @notice A premium may exceed model value by at most 20%: it moves NAV at once, so a
    ///         deposit placed just before a write captures its share of the markup; this bounds
    ///         that to 20/120 of the premium times the depositor's share (docs/security.md).
    uint256 public constant MAX_PREMIUM_MARKUP_BPS = 2000;
    /// @notice After expiry + this, a series with no usable oracle round settles at the current
    ///         healthy price (`settle(id, 0)`).
    uint256 public constant SETTLEMENT_GRACE = 1 days;

    /// @dev Strikes and caps: 0.01 .. 1e8 USD (1e8 units). Sizes: 1e-6 .. 1e9 contracts.
    ///      (They bound the packed storage: 1e16 < 2^56, 1e27 < 2^96; see {SeriesLayout}.)
    uint256 private constant MIN_STRIKE = 1e6;
    uint256 private constant MAX_PRICE = 1e16;
    uint256 private constant MIN_SIZE = 1e12;
    uint256 private constant MAX_SIZE = 1e27;
    /// @dev Largest oracle answer a vault uses (1.7e38 units, 1.7e30 USD; the keeper's lens reads
    ///      an answer as an int128 too). Above it the pricing's products overflow: in {BlackScholes}
    ///      gamma's `s * v` from ~8e47 (vol 500%, 730 days) and `s * N(d1)` from 5.8e48 (a live
    ///      book's value, so `totalAssets`), `lnPrice` from 5.8e66 (its delta); the rebalance's
    ///      uint152 price from 5.7e45. Such an answer is invalid, like a non-positive one, so the
    ///      views never revert.
    int256 private constant MAX_ANSWER = type(int128).max;
    /// @dev Longest tenor a series may be written with.
    uint256 private constant MAX_TENOR = 730 days;
    /// @dev Phase-local round ids are the low 64 bits of a Chainlink proxy's round id.
    uint256 private constant AGGREGATOR_ROUND_MASK = type(uint64).max;
    /// @dev Phases looked back through for the expiry round ({_hasExpiryRound}); a feed whose
    ///      aggregator changed more often than this since an expiry keeps the fallback open.
    uint256 private constant MAX_PHASES_BACK = 4;
    /// @dev Rounds stamped ahead of their time passed over in a row before the expiry round
    ///      ({_firstSinceExpiry}); keeper/chain/rounds.py mirrors it.
    uint256 private constant MAX_AHEAD_ROUNDS = 4;
    /// @dev Rounds after a candidate expiry round looked at for one dated before it
    ///      ({_laterDatedBefore}): each round passed over has the expiry round in its window.
    uint256 private constant AHEAD_WINDOW = MAX_AHEAD_ROUNDS + 1;
    /// @dev The highest round id the search of a phase doubles to ({_reachesExpiry}).
    uint256 private constant MAX_PHASE_ROUND = 1 << 32;
    /// @dev Gas one round read may use ({_roundTime}): a proxy and its aggregator take < 20k.
    uint256 private constant ROUND_READ_GAS = 100_000;

    // Hard bounds of a vault's setters (inclusive).
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
    /// @dev Slippage and pool-oracle gap: 0.01% .. 10%, and gap <= slippage.
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
    /// @dev |target delta| <= 1,000,000 underlying (checked on its absolute value).
    uint256 public constant MAX_ABS_TARGET = 1e24;

    bytes32 private constant QUOTE_TYPEHASH = keccak256(
        "Quote(address buyer,uint8 optionType,uint256 strike,uint256 cap,uint64 expiry,"
        "uint256 size,uint256 maxPremium,uint256 deadline,uint256 nonce)"
    );
    bytes32 private constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );

    /// @notice The rest of a vault's rebalance checks, in order, after paused and min interval:
    ///         the oracle ({oracleStatus}), net delta, band trigger (|target - net| > band), else
    ///         time trigger (now - last >= maxInterval and net != target), pool-oracle gap, trade
    ///         size. How far: with d = net - target and the request p = `inp.post`, the vault
    ///         keeps w = clamp(sign(d) * p, 0, min(|d|, band)) of its deviation and trades
    ///         min(|d| - w, maxTrade) ({tradeSize}; keeper/strategy/rebalance_rule.py
    ///         `executed_trade`, line for line): that trade reduces |d|, stops at or short of
    ///         the target, and leaves |d| <= band unless cut short by maxTrade, the free quote
    ///         or the inventory; p = 0 trades to the target; on the time trigger (|d| <= band)
    ///         any point down to the target is allowed. Buys spend quote = trade * price
    ///         (rounded down), capped by free quote, with minOut = quote / price *
    ///         (1 - slippage) in underlying; sells spend min(trade, inventory) underlying with
    ///         minOut = amount * price * (1 - slippage) in quote. All rounding is down (the vault
    ///         pays less, asks less). A zero amountIn is `OptionVaultNoTradePossible`. The trade
    ///         is planned at the oracle price: a sell books exactly it, a buy what the pool
    ///         delivers, short of it by the rounding and at most the slippage, or beyond it
    ///         (past the target) when the pool is cheaper than the oracle, by about the gap
    ///         (see `IOptionVault.rebalanceTo`).
    /// @return p The plan (valid only when `err` is empty).
    /// @return err Empty, or the `IOptionVault` custom error's data.
    function plan(uint256[] calldata book, PlanInput calldata inp)
        external
        view
        returns (Plan memory p, bytes memory err)
    {
        IOptionVault.Thresholds memory t = unpackThresholds(inp.t0, inp.t1);
        (p.price, err) =
            _oracleStatus(inp.oracle, inp.sequencerFeed, t.oracleHeartbeat, t.sequencerGracePeriod);
        if (err.length != 0) return (p, err);
        // forge-lint: disable-next-line(unsafe-typecast) -- inventory < 2^128 (vault storage)
        p.deltaBefore = int256(inp.inventory) - _bookDelta(book, p.price, inp.vol, inp.timestamp);
        int256 diff = t.targetDelta - p.deltaBefore;
        // forge-lint: disable-next-line(unsafe-typecast) -- |diff| < 2^255
        uint256 absDiff = diff >= 0 ? uint256(diff) : uint256(-diff);
        if (absDiff > t.band) {
            p.trigger = IOptionVault.Trigger.Band;
        } else if (diff != 0 && inp.timestamp >= inp.lastRebalance + t.maxInterval) {
            p.trigger = IOptionVault.Trigger.Time;
        } else {
            return (
                p,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultWithinBand.selector,
                    p.deltaBefore,
                    t.targetDelta,
                    t.band
                )
            );
        }

        uint256 spot = IHedgeVenue(inp.venue).spotPrice();
        uint256 gap = spot > p.price ? spot - p.price : p.price - spot;
        if (gap * BPS > uint256(t.maxOracleGapBps) * p.price) {
            return (
                p,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultOracleGap.selector, spot, p.price, t.maxOracleGapBps
                )
            );
        }

        uint256 want = tradeSize(-diff, inp.post, t.band, t.maxTrade);
        uint256 keep = BPS - t.maxSlippageBps;
        if (diff > 0) {
            p.buy = true;
            p.amountIn =
                Math.min(Math.mulDiv(want, p.price, UNDERLYING_PRICE_TO_QUOTE), inp.freeQuote);
            p.minOut = Math.mulDiv(p.amountIn * keep, UNDERLYING_PRICE_TO_QUOTE, p.price * BPS);
        } else {
            p.amountIn = Math.min(want, inp.inventory);
            p.minOut = Math.mulDiv(p.amountIn * keep, p.price, UNDERLYING_PRICE_TO_QUOTE * BPS);
        }
        if (p.amountIn == 0) {
            return
                (p, abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, diff));
        }
    }

    /// @notice Checks a write and returns the series to store. Reverts with the `IOptionVault`
    ///         error of the first failing check: buyer not zero; series terms within bounds
    ///         (strike, cap, expiry in (now, now + 730 days], size, premium > 0); deadline not
    ///         passed; consent (the caller is the buyer, or `signature` is the buyer's EIP-712
    ///         signature over the quote with the next nonce; EOA or ERC-1271); premium within
    ///         [{premiumBounds}.min, min({premiumBounds}.max, maxPremium)].
    /// @return w0 The series' first storage word ({SeriesLayout}).
    /// @return w1 Its second word.
    /// @return lock Quote locked by the series (size * max payoff, rounded up).
    /// @return minPremium The least premium that may arrive (the vault re-checks what arrived).
    function writeTerms(
        IOptionVault.Quote calldata q,
        uint256 premium,
        bytes calldata signature,
        WriteContext calldata c
    ) external view returns (uint256 w0, uint256 w1, uint256 lock, uint256 minPremium) {
        if (q.buyer == address(0)) revert IOptionVault.OptionVaultZeroAddress("buyer");
        _checkTerms(q.strike, q.cap, q.expiry, q.size);
        if (premium == 0) revert IOptionVault.OptionVaultInvalidSeries("premium", 0);
        // forge-lint: disable-next-line(block-timestamp) -- a quote's deadline is a time rule
        if (block.timestamp > q.deadline) revert IOptionVault.OptionVaultQuoteExpired(q.deadline);
        if (signature.length == 0) {
            if (c.caller != q.buyer) revert IOptionVault.OptionVaultNoConsent(q.buyer);
        } else if (
            q.nonce != c.nonce
                || !SignatureChecker.isValidSignatureNow(
                    q.buyer, quoteDigest(q, c.vault), signature
                )
        ) {
            revert IOptionVault.OptionVaultInvalidSignature(q.buyer, c.nonce);
        }
        (w0, w1) = packSeries(q.optionType, q.strike, q.cap, q.expiry, q.size);
        minPremium = _checkPremium(w0, w1, premium, q.maxPremium, c);
        lock = lockOf(w0);
    }

    /// @notice The two {SeriesLayout} words a vault stores for a series (strike logs included).
    function packSeries(
        IOptionVault.OptionType optionType,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size
    ) public view returns (uint256 w0, uint256 w1) {
        (int256 lnStrike, int256 lnStrike2) =
            this.strikeLogs(optionType == IOptionVault.OptionType.Call, strike, cap);
        return SeriesLayout.pack(optionType, strike, cap, expiry, size, lnStrike, lnStrike2);
    }

    /// @notice The EIP-712 digest a buyer signs for `q` on `vault` (domain "OptionVault", "1").
    function quoteDigest(IOptionVault.Quote calldata q, address vault)
        public
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("OptionVault"), keccak256("1"), block.chainid, vault
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                QUOTE_TYPEHASH,
                q.buyer,
                q.optionType,
                q.strike,
                q.cap,
                q.expiry,
                q.size,
                q.maxPremium,
                q.deadline,
                q.nonce
            )
        );
        return MessageHashUtils.toTypedDataHash(domain, structHash);
    }

    /// @notice The premium range for a series (two {SeriesLayout} words) at `price8`: [model
    ///         value * (1 + minEdge), rounded up; model value * (1 + MAX_PREMIUM_MARKUP_BPS),
    ///         rounded down], model value = size * Black-Scholes value, rounded up (quote units).
    // slither-disable-next-line unused-return -- only the per-contract value is needed
    function premiumBounds(uint256 w0, uint256 w1, uint256 price8, uint256 vol, uint256 edgeBps)
        public
        view
        returns (uint256 min, uint256 max)
    {
        (int256 perContract,,,) = this.greeks(w0, w1, price8, vol, block.timestamp);
        uint256 size = SeriesLayout.size(w0);
        // forge-lint: disable-next-line(unsafe-typecast) -- evaluate() clamps price to [0, cap]
        uint256 value =
            Math.mulDiv(size, uint256(perContract), BOOK_VALUE_TO_QUOTE, Math.Rounding.Ceil);
        min = Math.mulDiv(value, BPS + edgeBps, BPS, Math.Rounding.Ceil);
        max = Math.mulDiv(value, BPS + MAX_PREMIUM_MARKUP_BPS, BPS);
    }

    /// @notice Settles a series (first {SeriesLayout} word) that has expired: the price of the
    ///         first oracle round at or after expiry and the payout per contract (quote units,
    ///         rounded down), plus the collateral it releases. Reverts with `IOptionVault` errors.
    /// @dev The round is checked against its predecessor in the same phase (Chainlink proxy
    ///      round ids are phaseId << 64 | aggregator round; ids are opaque across phases, so the
    ///      first round of a phase cannot be checked and is refused: the fallback covers it).
    ///      `roundId` 0 is the fallback: from expiry + SETTLEMENT_GRACE, the current price if
    ///      the oracle is healthy.
    function settlement(uint256 w0, uint80 roundId, OracleConfig calldata o)
        external
        view
        returns (uint256 price, uint256 payoutPerContract, uint256 lock)
    {
        uint256 expiry = SeriesLayout.expiry(w0);
        if (roundId == 0) {
            // forge-lint: disable-next-line(block-timestamp) -- the grace period is a time rule
            if (block.timestamp < expiry + SETTLEMENT_GRACE || _hasExpiryRound(o.oracle, expiry)) {
                revert IOptionVault.OptionVaultSettlementRound(0);
            }
            price = _fallbackPrice(o);
        } else {
            price = _expiryRoundPrice(o, roundId, expiry);
        }
        uint256 strike = SeriesLayout.strike(w0);
        uint256 payoff8;
        if (SeriesLayout.optionType(w0) == IOptionVault.OptionType.Call) {
            payoff8 = price > strike ? price - strike : 0;
        } else {
            payoff8 = strike > price ? strike - price : 0;
        }
        uint256 cap = SeriesLayout.cap(w0);
        if (payoff8 > cap) payoff8 = cap;
        payoutPerContract = payoff8 / PRICE_PER_QUOTE_UNIT; // holders' side rounds down
        lock = lockOf(w0);
    }

    /// @notice Checks a vault threshold `v` (id `which`: band, minInterval, maxInterval,
    ///         maxTrade, maxSlippageBps, maxOracleGapBps, oracleHeartbeat, sequencerGracePeriod,
    ///         volatility = 0..8; |targetDelta| = 9) against its hard bounds and, given the
    ///         vault's packed slots, the cross rules: minInterval <= maxInterval,
    ///         maxOracleGapBps <= maxSlippageBps (so the gap check binds before the slippage
    ///         bound; docs/security.md). Reverts `OptionVaultParameterOutOfBounds`. Returns where
    ///         the field lives in the slots (ids 8 and 9 are bounds only).
    function checkThreshold(uint256 which, uint256 v, uint256 t0, uint256 t1)
        external
        pure
        returns (bytes32 name, uint256 word, uint256 offset, uint256 width)
    {
        uint256 lo;
        uint256 hi;
        (name, word, offset, width, lo, hi) = _spec(which);
        bool bad = v < lo || v > hi;
        if (which == 1) bad = bad || v > uint32(t0 >> 224); // min > max interval
        if (which == 2) bad = bad || v < uint32(t0 >> 192); // max < min interval
        if (which == 4) bad = bad || v < uint16(t1 >> 112); // slippage < gap
        if (which == 5) bad = bad || v > uint16(t1 >> 96); // gap > slippage
        if (bad) revert IOptionVault.OptionVaultParameterOutOfBounds(name, v);
    }

    /// @notice A vault's `initialize` checks: no zero address; decimals 6 (asset), 18
    ///         (underlying), 8 (oracle); a positive oracle answer, returned.
    function checkInit(
        address asset,
        address underlying,
        address oracle,
        address venue,
        address claims,
        address admin
    ) external view returns (uint256 price) {
        _nonZero(asset, "asset");
        _nonZero(underlying, "underlying");
        _nonZero(oracle, "oracle");
        _nonZero(venue, "venue");
        _nonZero(claims, "claims");
        _nonZero(admin, "admin");
        _requireDecimals("asset", IERC20Metadata(asset).decimals(), 6);
        _requireDecimals("underlying", IERC20Metadata(underlying).decimals(), 18);
        return checkOracle(oracle);
    }

    /// @notice An oracle a vault accepts: 8 decimals and a positive latest answer (returned).
    // slither-disable-next-line unused-return -- only the answer matters for this check; staleness is checked where the price is used
    function checkOracle(address oracle) public view returns (uint256) {
        _requireDecimals("oracle", AggregatorV3Interface(oracle).decimals(), 8);
        (, int256 answer,,,) = AggregatorV3Interface(oracle).latestRoundData();
        if (answer <= 0 || answer > MAX_ANSWER) {
            revert IOptionVault.OptionVaultInvalidPrice(answer);
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
        return uint256(answer);
    }

    /// @notice A vault's `setRedemptionQueue` checks, for the calling vault (`msg.sender`):
    ///         `queue` is not zero, the vault has no queue yet (its `redemptionQueue()`, read
    ///         back), and `queue` is a redemption queue of this vault: its ERC-7575 `share()`
    ///         (a {RedemptionQueue}'s immutable vault) is the caller. `share()` is asked with a
    ///         low-level call, so an address with no code (an EOA answers with no data) or a
    ///         contract without it (a token, a vault) reverts `OptionVaultNotAQueue`, not with
    ///         an opaque decoding failure; another vault's queue reverts
    ///         `OptionVaultQueueForAnotherVault`.
    function checkQueue(address queue) external view {
        _nonZero(queue, "queue");
        address current = IOptionVault(msg.sender).redemptionQueue();
        if (current != address(0)) revert IOptionVault.OptionVaultQueueAlreadySet(current);
        (bool ok, bytes memory ret) = queue.staticcall(abi.encodeCall(IRedemptionQueue.share, ()));
        if (!ok || ret.length < 32 || uint256(bytes32(ret)) > type(uint160).max) {
            revert IOptionVault.OptionVaultNotAQueue(queue);
        }
        address queueVault = abi.decode(ret, (address));
        if (queueVault != msg.sender) {
            revert IOptionVault.OptionVaultQueueForAnotherVault(queue, queueVault);
        }
    }

    /// @notice The thresholds from a vault's two packed slots: targetDelta int96 | band uint96 |
    ///         minInterval uint32 | maxInterval uint32, then maxTrade uint96 | maxSlippageBps
    ///         uint16 | maxOracleGapBps uint16 | oracleHeartbeat uint32 | sequencerGracePeriod
    ///         uint32 (Solidity's packing of `OptionVault.PackedThresholds`, low bits first).
    function unpackThresholds(uint256 t0, uint256 t1)
        public
        pure
        returns (IOptionVault.Thresholds memory t)
    {
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        t.targetDelta = int96(uint96(t0));
        t.band = uint96(t0 >> 96);
        t.minInterval = uint32(t0 >> 192);
        t.maxInterval = uint32(t0 >> 224);
        t.maxTrade = uint96(t1);
        t.maxSlippageBps = uint16(t1 >> 96);
        t.maxOracleGapBps = uint16(t1 >> 112);
        t.oracleHeartbeat = uint32(t1 >> 128);
        t.sequencerGracePeriod = uint32(t1 >> 160);
    }

    /// @notice The premium range a write of these terms on `vault` accepts now (the vault's
    ///         valuation price, vol and minimum edge; see {premiumBounds}). The price is the
    ///         healthy one whenever a write can go through.
    function premiumBoundsOf(
        IOptionVault vault,
        IOptionVault.OptionType optionType,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size
    ) external view returns (uint256 min, uint256 max) {
        (uint256 w0, uint256 w1) = packSeries(optionType, strike, cap, expiry, size);
        return premiumBounds(
            w0, w1, vault.valuationPrice(), vault.volatility(), vault.minPremiumEdgeBps()
        );
    }

    /// @notice Quote locked by a series (first {SeriesLayout} word): size * max payoff, rounded
    ///         up (a put pays at most its strike).
    function lockOf(uint256 w0) public pure returns (uint256) {
        uint256 strike = SeriesLayout.strike(w0);
        uint256 cap = SeriesLayout.cap(w0);
        bool isPut = SeriesLayout.optionType(w0) == IOptionVault.OptionType.Put;
        uint256 maxPayoff = isPut && cap > strike ? strike : cap;
        return Math.mulDiv(
            SeriesLayout.size(w0), maxPayoff, UNDERLYING_PRICE_TO_QUOTE, Math.Rounding.Ceil
        );
    }

    /// @notice The vault's oracle checks, in order: sequencer up (answer 0, startedAt set) and
    ///         past its grace period, answer > 0, not older than the heartbeat and not dated
    ///         after the block.
    /// @param sequencerFeed Zero when the chain has none.
    /// @return price The answer (1e8) when every check passes, else 0.
    /// @return err Empty when every check passes, else the `IOptionVault` custom error's data.
    function oracleStatus(address oracle, address sequencerFeed, uint256 heartbeat, uint256 grace)
        external
        view
        returns (uint256 price, bytes memory err)
    {
        return _oracleStatus(oracle, sequencerFeed, heartbeat, grace);
    }

    /// @notice The latest answer in (0, 2^127), else `fallbackPrice`; never reverts, even if the
    ///         feed does (views such as `totalAssets` must keep working).
    // slither-disable-next-line unused-return -- a view price: any positive answer, else the fallback
    function valuationPrice(address oracle, uint256 fallbackPrice) external view returns (uint256) {
        try AggregatorV3Interface(oracle).latestRoundData() returns (
            uint80, int256 answer, uint256, uint256, uint80
        ) {
            // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
            if (answer > 0 && answer <= MAX_ANSWER) return uint256(answer);
        } catch {}
        return fallbackPrice;
    }

    /// @dev A feed's latest round, or ok = false if the call reverts (the views built on the
    ///      oracle checks, such as `maxWithdraw`, must not revert).
    ///
    ///      Exactly `try feed.latestRoundData() returns (...) {...} catch {...}`, ~500 gas less a
    ///      feed: a revert (or running out of gas) is ok = false; a success whose answer is not
    ///      five words or whose round ids exceed uint80 reverts with no data, as the ABI
    ///      decoder after a `try` does (a feed without code is such a success).
    function _latest(address feed)
        private
        view
        returns (bool ok, int256 answer, uint256 startedAt, uint256 updatedAt)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(0x00, 0xfeaf968c) // latestRoundData()
            ok := staticcall(gas(), feed, 0x1c, 0x04, m, 0xa0)
            if ok {
                let bad := lt(returndatasize(), 0xa0)
                // roundId and answeredInRound are uint80
                bad := or(bad, or(shr(80, mload(m)), shr(80, mload(add(m, 0x80)))))
                if bad { revert(0, 0) }
                answer := mload(add(m, 0x20))
                startedAt := mload(add(m, 0x40))
                updatedAt := mload(add(m, 0x60))
            }
        }
    }

    /// @dev The price of `roundId` if it is the first round at or after expiry (checked against
    ///      its predecessor in the same phase, rounds stamped ahead of their time passed over:
    ///      {_firstSinceExpiry}), not dated after the block, and not dated after any of the
    ///      AHEAD_WINDOW rounds that follow it (a round stamped ahead of its time breaks the
    ///      rising timestamps the first-round rule rests on: two rounds could pass), in the
    ///      latest phase that began before expiry ({_laterPhaseBefore}). A verified
    ///      expiry round that answered <= 0 cannot price the series: from expiry + SETTLEMENT_GRACE it settles at the current healthy
    ///      price instead (the round is fixed, so no one chooses that moment's price), before
    ///      that it reverts `OptionVaultInvalidPrice`.
    // slither-disable-next-line unused-return -- a round is identified by its id and updatedAt; answer checked below
    function _expiryRoundPrice(OracleConfig calldata o, uint80 roundId, uint256 expiry)
        private
        view
        returns (uint256)
    {
        AggregatorV3Interface feed = AggregatorV3Interface(o.oracle);
        (, int256 answer,, uint256 updatedAt,) = feed.getRoundData(roundId);
        bool ok = updatedAt >= expiry && updatedAt <= block.timestamp
            && (roundId & AGGREGATOR_ROUND_MASK) > 1;
        if (ok) {
            // Timestamps must rise around the round: a later round dated before it means this
            // one was stamped ahead of its time (not the expiry round).
            ok = !_laterDatedBefore(o.oracle, roundId, updatedAt)
                && _firstSinceExpiry(feed, roundId, updatedAt, expiry)
                && !_laterPhaseBefore(o.oracle, roundId, expiry);
        }
        if (!ok) revert IOptionVault.OptionVaultSettlementRound(roundId);
        if (answer <= 0) {
            // forge-lint: disable-next-line(block-timestamp) -- the grace period is a time rule
            if (block.timestamp < expiry + SETTLEMENT_GRACE) {
                revert IOptionVault.OptionVaultInvalidPrice(answer);
            }
            return _fallbackPrice(o);
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
        return uint256(answer);
    }

    /// @dev Whether a phase of the feed after `roundId`'s, up to its latest, began before expiry
    ///      (its first round, read through the feed's `getRoundData`, is dated before it). Then
    ///      that later phase holds the expiry round, and a round of an older one is refused: a
    ///      proxy keeps every phase's aggregator readable, and Chainlink runs the next aggregator
    ///      live before the proxy is switched to it (and may keep the old one updated after), so
    ///      two phases could each hold a first round at or after expiry, and whoever settled
    ///      first chose between their prices (helper-121's audit). The phase kept is the latest
    ///      that began before expiry: the one {_hasExpiryRound} searches and
    ///      keeper/chain/rounds.py hints. A phase whose first round cannot be read refuses
    ///      nothing, as it keeps the fallback open there. The caller chooses `roundId`, so it pays
    ///      for every phase after it; the honest round is in the latest phase or a few before.
    // slither-disable-next-line unused-return -- only the latest round's phase is needed
    function _laterPhaseBefore(address oracle, uint80 roundId, uint256 expiry)
        private
        view
        returns (bool)
    {
        (uint80 latest,,,,) = AggregatorV3Interface(oracle).latestRoundData();
        uint256 last = uint256(latest) >> 64;
        for (uint256 phase = (uint256(roundId) >> 64) + 1; phase <= last; ++phase) {
            uint256 firstAt = _roundTime(oracle, (phase << 64) | 1);
            if (firstAt != 0 && firstAt < expiry) return true;
        }
        return false;
    }

    /// @dev Whether one of the AHEAD_WINDOW rounds after `roundId` is dated before `at`, its
    ///      time: then `roundId` was stamped ahead of its time. Stops at the first round that does
    ///      not exist or cannot be read (it reads 0), usually the first looked at: a series is
    ///      settled soon after its expiry round. Looking at the next round alone let a round
    ///      stamped ahead pass when the round after it was stamped ahead too (helper-108).
    function _laterDatedBefore(address oracle, uint80 roundId, uint256 at)
        private
        view
        returns (bool)
    {
        for (uint256 i = 1; i <= AHEAD_WINDOW; ++i) {
            uint256 laterAt = _roundTime(oracle, uint256(roundId) + i);
            if (laterAt == 0) return false;
            if (laterAt < at) return true;
        }
        return false;
    }

    /// @dev Whether round `roundId` (dated `at`, at or after expiry) is the first of its phase
    ///      at or after expiry: the round before it is dated before expiry. Up to
    ///      MAX_AHEAD_ROUNDS rounds in a row just before it that are dated after it are passed
    ///      over: each was stamped ahead of its time (this round, in its AHEAD_WINDOW, is dated
    ///      before it) and is refused as the expiry round itself. One such round published after
    ///      expiry must not also refuse the honest round after it, or no round could settle the
    ///      series while `_hasExpiryRound` keeps the fallback closed (helper-107's audit). A
    ///      round at or after expiry and not after this one is the earlier expiry round: this
    ///      one is not. Each predecessor is read with `getRoundData`, which reverts the
    ///      settlement if it cannot be read, as before.
    // slither-disable-next-line unused-return -- a predecessor is judged by its updatedAt alone
    function _firstSinceExpiry(
        AggregatorV3Interface feed,
        uint80 roundId,
        uint256 at,
        uint256 expiry
    ) private view returns (bool) {
        for (uint256 i; i <= MAX_AHEAD_ROUNDS; ++i) {
            --roundId; // > 0: the caller's round is not its phase's first, nor is any passed over
            (,,, uint256 prevAt,) = feed.getRoundData(roundId);
            if (prevAt < expiry) return true;
            if (prevAt <= at || (roundId & AGGREGATOR_ROUND_MASK) <= 1) return false;
        }
        return false;
    }

    /// @dev Whether the feed holds a round the expiry-round path can check: a phase whose first
    ///      round is before expiry and some later round at or after it (then some round of the
    ///      phase after its first is the first at or after expiry). Then the fallback is refused:
    ///      it would let a caller settle at a later price of its choosing. The latest phase is
    ///      looked at first; while a phase began at or after expiry, the one before it is (up to
    ///      MAX_PHASES_BACK), as the phase that may hold the expiry round. Every read goes through
    ///      the proxy's `getRoundData`, as `_expiryRoundPrice` reads (Chainlink's aggregators
    ///      answer their proxy, not other contracts). No round since expiry, a phase change
    ///      across expiry (the older phase ended before it), and a phase whose first round cannot
    ///      be read (no such phase, a feed without phases) cannot be checked: the fallback stays
    ///      open for those.
    // slither-disable-next-line unused-return -- only the latest round's id and timestamp are needed
    function _hasExpiryRound(address oracle, uint256 expiry) private view returns (bool) {
        (uint80 latest,,, uint256 lastAt,) = AggregatorV3Interface(oracle).latestRoundData();
        if (lastAt < expiry) return false; // no round since expiry
        uint256 phase = uint256(latest) >> 64;
        if ((uint256(latest) & AGGREGATOR_ROUND_MASK) > 1) {
            uint256 firstAt = _roundTime(oracle, (phase << 64) | 1);
            if (firstAt == 0) return false;
            if (firstAt < expiry) return true; // the latest round is at or after expiry
        }
        // The latest phase began at or after expiry: the round may be in an older one.
        for (uint256 i = 0; i < MAX_PHASES_BACK && phase > 1; ++i) {
            --phase;
            uint256 firstAt = _roundTime(oracle, (phase << 64) | 1);
            if (firstAt == 0) return false; // no such phase, or it cannot be read
            if (firstAt < expiry) return _reachesExpiry(oracle, phase << 64, expiry);
        }
        return false;
    }

    /// @dev Whether some round of the phase whose ids start at `base` (its first round before
    ///      expiry) is at or after expiry. A phase's round ids run from 1 without gaps and their
    ///      times rise, so "missing (updatedAt 0) or at or after expiry" holds from some round on:
    ///      found by doubling, then halving (at most 2 x 32 reads: OCR round ids are 32-bit),
    ///      and true when that round exists. The same search as keeper/chain/rounds.py.
    function _reachesExpiry(address oracle, uint256 base, uint256 expiry)
        private
        view
        returns (bool)
    {
        uint256 lo = 1; // exists, before expiry
        uint256 hi = 2;
        uint256 at = _roundTime(oracle, base | hi);
        while (at != 0 && at < expiry) {
            if (hi == MAX_PHASE_ROUND) return false;
            lo = hi;
            hi <<= 1;
            at = _roundTime(oracle, base | hi);
        }
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) >> 1;
            uint256 m = _roundTime(oracle, base | mid);
            if (m == 0 || m >= expiry) (hi, at) = (mid, m);
            else lo = mid;
        }
        return at != 0;
    }

    /// @dev `updatedAt` of round `roundId` of `oracle`, 0 when it cannot be read (a revert, a
    ///      short answer, or more than ROUND_READ_GAS spent). Assembly with a fixed-size output:
    ///      nothing the feed returns is copied beyond its five words.
    function _roundTime(address oracle, uint256 roundId) private view returns (uint256 updatedAt) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, 0x9a6fc8f5)) // getRoundData(uint80)
            mstore(add(m, 0x04), roundId)
            if staticcall(ROUND_READ_GAS, oracle, m, 0x24, m, 0xa0) {
                if iszero(lt(returndatasize(), 0xa0)) { updatedAt := mload(add(m, 0x60)) }
            }
        }
    }

    /// @dev The current price if the oracle is healthy, else its error.
    function _fallbackPrice(OracleConfig calldata o) private view returns (uint256 price) {
        bytes memory err;
        (price, err) = _oracleStatus(o.oracle, o.sequencerFeed, o.heartbeat, o.grace);
        if (err.length != 0) {
            assembly ("memory-safe") {
                revert(add(err, 0x20), mload(err))
            }
        }
    }

    /// @notice The size of the trade a rebalance makes (1e18 underlying, before the quote and
    ///         inventory caps) for the deviation `d` = net - target, the keeper's requested
    ///         post-trade deviation `post` (0: the target), the band and maxTrade; see {plan}.
    ///         keeper/strategy/rebalance_rule.py `executed_trade` is the same rule (its magnitude).
    function tradeSize(int256 d, int256 post, uint256 band, uint256 maxTrade)
        public
        pure
        returns (uint256)
    {
        bool up = d > 0;
        // forge-lint: disable-next-line(unsafe-typecast) -- |d| of a bounded delta
        uint256 mag = up ? uint256(d) : uint256(-d);
        uint256 limit = Math.min(mag, band);
        // The request on d's side only, as a magnitude (the other side is the target, 0).
        // slither-disable-next-line uninitialized-local -- no request on d's side means w = 0 (to target)
        uint256 w;
        // forge-lint: disable-next-line(unsafe-typecast) -- post > 0
        if (up && post > 0) w = uint256(post);
        // forge-lint: disable-next-line(unsafe-typecast) -- post < 0; -(post + 1) cannot overflow
        else if (!up && post < 0) w = uint256(-(post + 1)) + 1;
        if (w > limit) w = limit;
        return Math.min(mag - w, maxTrade);
    }

    /// @dev Name, slot (0/1), bit offset, bit width and hard bounds of each threshold.
    function _spec(uint256 which)
        private
        pure
        returns (bytes32, uint256, uint256, uint256, uint256, uint256)
    {
        if (which == 0) return ("band", 0, 96, 96, MIN_BAND, MAX_BAND);
        if (which == 1) return ("minInterval", 0, 192, 32, MIN_MIN_INTERVAL, MAX_MIN_INTERVAL);
        if (which == 2) return ("maxInterval", 0, 224, 32, MIN_MAX_INTERVAL, MAX_MAX_INTERVAL);
        if (which == 3) return ("maxTrade", 1, 0, 96, MIN_MAX_TRADE, MAX_MAX_TRADE);
        if (which == 4) return ("maxSlippageBps", 1, 96, 16, MIN_BPS, MAX_BPS);
        if (which == 5) return ("maxOracleGapBps", 1, 112, 16, MIN_BPS, MAX_BPS);
        if (which == 6) return ("oracleHeartbeat", 1, 128, 32, MIN_HEARTBEAT, MAX_HEARTBEAT);
        if (which == 7) return ("sequencerGracePeriod", 1, 160, 32, MIN_GRACE, MAX_GRACE);
        if (which == 9) return ("targetDelta", 0, 0, 0, 0, MAX_ABS_TARGET);
        return ("volatility", 0, 0, 0, MIN_VOL, MAX_VOL);
    }

    function _nonZero(address a, bytes32 field) private pure {
        if (a == address(0)) revert IOptionVault.OptionVaultZeroAddress(field);
    }

    function _requireDecimals(bytes32 field, uint8 got, uint8 want) private pure {
        if (got != want) revert IOptionVault.OptionVaultUnsupportedDecimals(field, got);
    }

    function _checkPremium(
        uint256 w0,
        uint256 w1,
        uint256 premium,
        uint256 quoteMax,
        WriteContext calldata c
    ) private view returns (uint256 minPremium) {
        uint256 maxPremium;
        (minPremium, maxPremium) = premiumBounds(w0, w1, c.price, c.vol, c.minEdgeBps);
        if (quoteMax < maxPremium) maxPremium = quoteMax;
        if (premium < minPremium || premium > maxPremium) {
            revert IOptionVault.OptionVaultPremiumOutOfBounds(premium, minPremium, maxPremium);
        }
    }

    function _checkTerms(uint256 strike, uint256 cap, uint64 expiry, uint256 size) private view {
        if (strike < MIN_STRIKE || strike > MAX_PRICE) {
            revert IOptionVault.OptionVaultInvalidSeries("strike", strike);
        }
        if (cap == 0 || cap > MAX_PRICE) revert IOptionVault.OptionVaultInvalidSeries("cap", cap);
        // forge-lint: disable-next-line(block-timestamp) -- time rules are the design (expiry)
        if (expiry <= block.timestamp || expiry > block.timestamp + MAX_TENOR) {
            revert IOptionVault.OptionVaultInvalidSeries("expiry", expiry);
        }
        if (size < MIN_SIZE || size > MAX_SIZE) {
            revert IOptionVault.OptionVaultInvalidSeries("size", size);
        }
    }

    function _oracleStatus(address oracle, address sequencerFeed, uint256 heartbeat, uint256 grace)
        private
        view
        returns (uint256 price, bytes memory err)
    {
        if (sequencerFeed != address(0)) {
            (bool okSeq, int256 status, uint256 startedAt,) = _latest(sequencerFeed);
            if (!okSeq || status != 0 || startedAt == 0) {
                return (0, abi.encodeWithSelector(IOptionVault.OptionVaultSequencerDown.selector));
            }
            // forge-lint: disable-next-line(block-timestamp) -- the grace period is a time rule
            if (block.timestamp <= startedAt + grace) {
                return (
                    0,
                    abi.encodeWithSelector(
                        IOptionVault.OptionVaultSequencerGracePeriod.selector, startedAt, grace
                    )
                );
            }
        }
        (bool ok, int256 answer,, uint256 updatedAt) = _latest(oracle);
        if (!ok) answer = 0; // a feed that reverts is as unusable as a zero answer
        if (answer <= 0 || answer > MAX_ANSWER) {
            return
                (0, abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, answer));
        }
        // A round dated after the block wraps to an age above any heartbeat (a uint32): a feed
        // that dates its answer in the future is broken, not fresh. No overflow to panic on.
        uint256 age;
        unchecked {
            age = block.timestamp - updatedAt;
        }
        // forge-lint: disable-next-line(block-timestamp) -- staleness is a time rule
        if (age > heartbeat) {
            return (
                0,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultStaleOracle.selector, updatedAt, heartbeat
                )
            );
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
        return (uint256(answer), "");
    }
}
