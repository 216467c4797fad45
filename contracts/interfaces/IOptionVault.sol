// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @title IOptionVault
/// @notice An ERC-4626 vault over a quote asset (6 decimals) that writes European, cash-settled,
///         capped calls and puts on one underlying (18 decimals), priced by a Chainlink feed
///         (8 decimals), and delta-hedges itself through a venue when a keeper asks and the
///         on-chain thresholds allow.
/// @dev Units used throughout:
///      - prices and strikes: 1e8 (Chainlink USD feed decimals);
///      - option sizes, hedge inventory and deltas: 1e18 underlying units (1 contract = 1 whole
///        underlying token);
///      - per-contract Greeks and vol: 1e18 fixed point (delta 0.5 = 5e17; vol 80% = 8e17);
///      - quote amounts: quote-token units (1e6).
///      Net delta = hedge inventory - sum over open series of size * per-contract delta
///      (the vault is short every option it writes).
///      It extends IERC4626, so `totalAssets`, `totalSupply` and the ERC-4626 flows are reachable
///      through this interface too. Claims are paid by `redeemClaims(id, amount)`, not an
///      overload of ERC-4626's `redeem`, so tools that resolve functions by name stay unambiguous.
interface IOptionVault is IERC4626 {
    // ------------------------------------------------------------------ types

    /// @notice Call or put.
    enum OptionType {
        Call,
        Put
    }

    /// @notice Why a rebalance was allowed.
    enum Trigger {
        None,
        Band,
        Time
    }

    /// @notice One written series.
    /// @param id Series id (also the ERC-1155 claim token id).
    /// @param optionType Call or put.
    /// @param strike Strike price (1e8).
    /// @param cap Maximum payoff per contract, in price units (1e8).
    /// @param expiry Expiry timestamp.
    /// @param size Contracts outstanding (1e18).
    /// @param settled Whether the series has been settled.
    /// @param payoutPerContract Payoff per contract at settlement, in quote units (1e6).
    struct Series {
        uint256 id;
        OptionType optionType;
        uint256 strike;
        uint256 cap;
        uint64 expiry;
        uint256 size;
        bool settled;
        uint256 payoutPerContract;
    }

    /// @notice The on-chain hedging thresholds.
    /// @param targetDelta Net delta the vault hedges toward (1e18 underlying units).
    /// @param band Half-width around the target (1e18): the band trigger needs
    ///        |net - target| > band, strictly; a deviation on the edge does not trigger.
    /// @param minInterval Seconds that must pass between two rebalances.
    /// @param maxInterval Seconds after which a rebalance is due whatever the delta (time
    ///        trigger: now - lastRebalance >= maxInterval), provided net != target.
    /// @param maxTrade Largest underlying amount one rebalance may trade (1e18).
    /// @param maxSlippageBps Largest shortfall of the venue's output against the oracle price.
    /// @param maxOracleGapBps Largest gap between the venue's price and the oracle's.
    /// @param oracleHeartbeat Oldest oracle answer accepted, in seconds.
    /// @param sequencerGracePeriod Seconds the L2 sequencer must have been up.
    struct Thresholds {
        int256 targetDelta;
        uint256 band;
        uint32 minInterval;
        uint32 maxInterval;
        uint256 maxTrade;
        uint16 maxSlippageBps;
        uint16 maxOracleGapBps;
        uint32 oracleHeartbeat;
        uint32 sequencerGracePeriod;
    }

    /// @notice A buyer's consent to one write (EIP-712 typed data `Quote`, domain name
    ///         "OptionVault", version "1", this chain, the vault as verifying contract).
    /// @param buyer Who pays the premium and receives the claims.
    /// @param optionType Call or put.
    /// @param strike Strike price (1e8).
    /// @param cap Maximum payoff per contract (1e8).
    /// @param expiry Expiry timestamp.
    /// @param size Contracts (1e18).
    /// @param maxPremium Most the buyer pays (quote units).
    /// @param deadline Last timestamp the quote may be used at.
    /// @param nonce The buyer's next nonce ({nonces}); a signed quote is used once.
    struct Quote {
        address buyer;
        OptionType optionType;
        uint256 strike;
        uint256 cap;
        uint64 expiry;
        uint256 size;
        uint256 maxPremium;
        uint256 deadline;
        uint256 nonce;
    }

    /// @notice Everything `initialize` needs (vaults are EIP-1167 clones).
    struct InitParams {
        address asset;
        address underlying;
        address oracle;
        address sequencerFeed;
        address venue;
        address claims;
        address admin;
        string name;
        string symbol;
        uint256 volatility;
        Thresholds thresholds;
    }

    // ------------------------------------------------------------------ errors

    /// @notice Net delta is within the band and the time trigger is not due.
    error OptionVaultWithinBand(int256 delta, int256 target, uint256 band);
    /// @notice Less than `minInterval` has passed since the last rebalance.
    error OptionVaultTooSoon(uint256 lastRebalance, uint256 minInterval);
    /// @notice The oracle's answer is older than the heartbeat, or dated after the block.
    error OptionVaultStaleOracle(uint256 updatedAt, uint256 heartbeat);
    /// @notice The oracle's answer is zero or negative.
    error OptionVaultInvalidPrice(int256 answer);
    /// @notice The L2 sequencer is down.
    error OptionVaultSequencerDown();
    /// @notice The L2 sequencer came back less than the grace period ago.
    error OptionVaultSequencerGracePeriod(uint256 startedAt, uint256 gracePeriod);
    /// @notice The venue's price is too far from the oracle's.
    error OptionVaultOracleGap(uint256 poolPrice, uint256 oraclePrice, uint256 maxGapBps);
    /// @notice A threshold or parameter is zero or outside its hard bounds.
    error OptionVaultParameterOutOfBounds(bytes32 parameter, uint256 value);
    /// @notice A series parameter is invalid (zero strike, cap or size; expiry not in the future).
    error OptionVaultInvalidSeries(bytes32 field, uint256 value);
    /// @notice An open series with the same type, strike, cap and expiry already exists.
    error OptionVaultDuplicateSeries(uint256 existingId);
    /// @notice Writing would leave open series' maximum payoff uncollateralized.
    error OptionVaultInsufficientCollateral(uint256 required, uint256 available);
    /// @notice The premium (what arrived, for a fee-on-transfer token) is outside
    ///         [model value + minimum edge, min(model value + MAX_PREMIUM_MARKUP_BPS, the quote's
    ///         maxPremium)].
    error OptionVaultPremiumOutOfBounds(uint256 premium, uint256 min, uint256 max);
    /// @notice The caller is not the buyer and brought no signature.
    error OptionVaultNoConsent(address buyer);
    /// @notice The signature is not the buyer's over this quote, or its nonce is not the next.
    error OptionVaultInvalidSignature(address buyer, uint256 nonce);
    /// @notice The quote's deadline has passed.
    error OptionVaultQuoteExpired(uint256 deadline);
    /// @notice The round is not the first oracle round at or after expiry (its predecessor in
    ///         the same phase, past up to 4 rounds just before it that are dated after it, must
    ///         be older than expiry; it must not be dated after the block, nor after any of the
    ///         5 rounds that follow it), or, with round 0, the fallback is not open yet (expiry +
    ///         SETTLEMENT_GRACE), or the feed holds a round to check.
    error OptionVaultSettlementRound(uint80 roundId);
    /// @notice No oracle change is pending, or its timelock has not passed.
    error OptionVaultOracleTimelock(address pending, uint256 eta);
    /// @notice The series does not exist.
    error OptionVaultUnknownSeries(uint256 id);
    /// @notice The series has not expired yet.
    error OptionVaultNotExpired(uint256 id, uint256 expiry);
    /// @notice The series has already been settled.
    error OptionVaultAlreadySettled(uint256 id);
    /// @notice The series has not been settled yet.
    error OptionVaultNotSettled(uint256 id);
    /// @notice The vault has too many open series to write another.
    error OptionVaultTooManySeries(uint256 open, uint256 max);
    /// @notice A required address is zero (`field` names it).
    error OptionVaultZeroAddress(bytes32 field);
    /// @notice A token or feed has decimals other than the vault's fixed units (6, 18, 8).
    error OptionVaultUnsupportedDecimals(bytes32 field, uint8 decimals);
    /// @notice A trigger is met but nothing can be traded: buying needs free quote, selling
    ///         needs inventory (a spot venue cannot short), and the trade rounded to zero.
    error OptionVaultNoTradePossible(int256 desired);
    /// @notice The venue delivered less than the oracle-derived minimum (checked by the vault
    ///         on its own balance, whatever the venue reports).
    error OptionVaultInsufficientOutput(uint256 amountOut, uint256 minOut);
    /// @notice A zero amount was passed where a positive one is required.
    error OptionVaultZeroAmount();
    /// @notice `batchSettle` without a `batchPlan` earlier in the same transaction.
    error OptionVaultNotInBatch();
    /// @notice The redemption queue is set once (`setRedemptionQueue`); this vault's is `queue`.
    error OptionVaultQueueAlreadySet(address queue);
    /// @notice `queue` answers no `share()` (ERC-7575): it has no code (an EOA), or is a
    ///         contract that is not a redemption queue (a token, a vault).
    error OptionVaultNotAQueue(address queue);
    /// @notice `queue` is the redemption queue of `queueVault` (its `share()`), not of this vault.
    error OptionVaultQueueForAnotherVault(address queue, address queueVault);
    /// @notice The clone's immutable args (asset, underlying, sequencer feed, appended to its
    ///         code by {VaultFactory}) are not the `initialize` parameters.
    error OptionVaultCloneArgsMismatch();

    // ------------------------------------------------------------------ events

    /// @notice The vault hedged toward its target.
    /// @param deltaBefore Net delta before (1e18).
    /// @param deltaAfter Net delta after (1e18).
    /// @param amountIn What the vault paid (quote when buying, underlying when selling).
    /// @param amountOut What the vault received.
    /// @param price Oracle price used (1e8).
    /// @param trigger Why the rebalance was allowed.
    event Rebalanced(
        int256 deltaBefore,
        int256 deltaAfter,
        uint256 amountIn,
        uint256 amountOut,
        uint256 price,
        Trigger trigger
    );
    /// @notice A series was written to `buyer` for `premium`.
    event OptionWritten(
        uint256 indexed id,
        address indexed buyer,
        OptionType optionType,
        uint256 strike,
        uint256 cap,
        uint64 expiry,
        uint256 size,
        uint256 premium
    );
    /// @notice A series was settled at `price`.
    event SeriesSettled(uint256 indexed id, uint256 price, uint256 payoutPerContract);
    /// @notice A holder redeemed claims of a settled series.
    event ClaimsRedeemed(uint256 indexed id, address indexed holder, uint256 size, uint256 paid);
    /// @notice Thresholds changed (one event per setter, naming the parameter).
    event ThresholdUpdated(bytes32 indexed parameter, uint256 oldValue, uint256 newValue);
    /// @notice Target delta changed.
    event TargetDeltaUpdated(int256 oldTarget, int256 newTarget);
    /// @notice The Black-Scholes vol parameter changed.
    event VolatilityUpdated(uint256 oldVol, uint256 newVol);
    /// @notice The hedge venue changed.
    event VenueUpdated(address indexed oldVenue, address indexed newVenue);
    /// @notice An oracle change was proposed; it can be accepted from `eta` (zero cancels).
    event OracleProposed(address indexed oracle, uint256 eta);
    /// @notice The oracle changed (after the timelock).
    event OracleUpdated(address indexed oldOracle, address indexed newOracle);
    /// @notice Tokens beyond the vault's accounting were swept out.
    event Swept(address indexed token, address indexed to, uint256 amount);
    /// @notice The vault's ERC-7540 redemption queue was set (once, by the admin).
    event RedemptionQueueSet(address indexed queue);

    // ------------------------------------------------------------------ setup

    /// @notice Initializes a clone (callable once; the implementation itself is locked).
    function initialize(InitParams calldata params) external;

    // ------------------------------------------------------------------ desk and holders

    /// @notice Writes the quoted series to `q.buyer`, who pays `premium` (quote units, pulled
    ///         from the buyer) and receives `q.size` ERC-1155 claims (DESK_ROLE, not when
    ///         paused, oracle healthy). The buyer consents either as the caller (empty
    ///         `signature`) or by an EIP-712 signature over `q` (EOA or ERC-1271), which uses up
    ///         the buyer's nonce. `premium` must be <= `q.maxPremium`, `q.deadline` not passed,
    ///         and what arrives within the premium bounds (`RebalanceRules.premiumBoundsOf`
    ///         on {pricer}: model value + minimum edge .. model value + 20%).
    /// @return id The new series id (also the claim token id).
    function writeOption(Quote calldata q, uint256 premium, bytes calldata signature)
        external
        returns (uint256 id);

    /// @notice Settles an expired series at the first oracle round at or after expiry (anyone;
    ///         also when paused). `roundId` is that round (a hint found off-chain: its
    ///         predecessor in the same phase, past up to 4 rounds just before it that are dated
    ///         after it, must be older than expiry; the round must not be dated after the block,
    ///         nor after any of the 5 rounds that follow it, and its phase must be the feed's
    ///         latest that began before expiry). With `roundId` 0 and
    ///         from expiry + SETTLEMENT_GRACE, it settles at the current healthy oracle price:
    ///         the fallback, only where the feed holds no round to check (no round since
    ///         expiry, or a phase change across it; up to 4 older phases of a Chainlink proxy
    ///         are searched through its `getRoundData`); otherwise it reverts
    ///         `OptionVaultSettlementRound(0)`. An expiry round that answered <= 0 settles at the
    ///         current healthy price from expiry + SETTLEMENT_GRACE.
    function settle(uint256 id, uint80 roundId) external returns (uint256 payoutPerContract);

    /// @notice Burns `amount` claims of a settled series from the caller and pays
    ///         amount * payoutPerContract / 1e18 quote, rounded down (also when paused).
    function redeemClaims(uint256 id, uint256 amount) external returns (uint256 paid);

    // ------------------------------------------------------------------ admin

    /// @notice Setters (DEFAULT_ADMIN_ROLE), each checked against hard bounds (see the
    ///         implementation's constants) and emitting `ThresholdUpdated` / `TargetDeltaUpdated`
    ///         / `VolatilityUpdated` / `VenueUpdated`.
    function setTargetDelta(int256 target) external;
    function setBand(uint256 band) external;
    function setMinInterval(uint32 minInterval) external;
    function setMaxInterval(uint32 maxInterval) external;
    function setMaxTrade(uint256 maxTrade) external;
    function setMaxSlippageBps(uint16 bps) external;
    function setMaxOracleGapBps(uint16 bps) external;
    function setOracleHeartbeat(uint32 heartbeat) external;
    function setSequencerGracePeriod(uint32 gracePeriod) external;
    function setVolatility(uint256 vol) external;
    function setVenue(address venue) external;
    /// @notice Minimum premium edge over model value, 0 .. 1000 bps (emits `ThresholdUpdated`).
    function setMinPremiumEdgeBps(uint16 bps) external;

    /// @notice Starts the oracle timelock (admin): `newOracle` (8 decimals) can be accepted
    ///         from now + ORACLE_TIMELOCK. Zero cancels a pending change.
    function proposeOracle(address newOracle) external;

    /// @notice Switches to the pending oracle once its timelock passed (admin); the new feed
    ///         must answer a positive price.
    function acceptOracle() external;

    /// @notice Sends `to` the vault's balance of `token` beyond its accounting (admin): any
    ///         token but the quote and the underlying in full; of those two only the excess over
    ///         the accounted quote balance / hedge inventory.
    function sweep(address token, address to) external returns (uint256 amount);

    /// @notice Sets the vault's ERC-7540 redemption queue ({RedemptionQueue}), once
    ///         (DEFAULT_ADMIN_ROLE). It must be a queue of this vault: its `share()` is this
    ///         vault (`OptionVaultQueueForAnotherVault` if another's, `OptionVaultNotAQueue` if it
    ///         has no code or no `share()`). From then on, the assets of the shares the queue holds
    ///         (requests not yet filled, and shares sent to it without a request until its
    ///         next fill discards them) are reserved: instant exits (`maxWithdraw`,
    ///         `maxRedeem` of anyone else) and new writes use only the free quote beyond them,
    ///         so nobody exits ahead of a queued request. The reserve is the queue's shares at
    ///         the current NAV, rounded up.
    function setRedemptionQueue(address queue) external;

    /// @notice The redemption queue (`address(0)` until set).
    function redemptionQueue() external view returns (address);

    /// @notice Stops deposits, writing and rebalancing (PAUSER_ROLE); withdrawals, settlement
    ///         and claim redemption keep working.
    function pause() external;

    /// @notice Resumes deposits, writing and rebalancing (PAUSER_ROLE).
    function unpause() external;

    // ------------------------------------------------------------------ keeper

    /// @notice Hedges toward the target, if the band or time trigger allows (keeper role).
    function rebalance() external returns (int256 deltaBefore, int256 deltaAfter);

    /// @notice Phase 1 of a netted batch (BATCHER_ROLE; see `RebalanceBatcher.rebalanceBatch`):
    ///         runs every check of `rebalanceTo(postDeviation)` (oracle, sequencer, pool-oracle
    ///         gap, trigger, bounds) and computes the vault's own trade and `minOut` from the
    ///         oracle price and its `maxSlippageBps`, exactly as `rebalanceTo` would; then sends
    ///         `amountIn` of `tokenIn` to the batcher and keeps the leg in transient storage. It
    ///         reverts with the same errors as `rebalanceTo` when a check fails (the batcher
    ///         drops the vault). The vault stays locked (OZ `ReentrancyGuardReentrantCall`) until
    ///         `batchSettle` in the same transaction.
    /// @return buy Whether the vault buys underlying with quote.
    /// @return amountIn What it sent to the batcher (quote when buying, underlying when selling).
    /// @return minOut The least it accepts back (oracle price less its slippage bound).
    /// @return price The oracle price used (1e8).
    /// @return tokenIn The token sent.
    /// @return tokenOut The token it expects back.
    /// @return venue Its venue (the batcher swaps the net remainder there).
    function batchPlan(int256 postDeviation)
        external
        returns (
            bool buy,
            uint256 amountIn,
            uint256 minOut,
            uint256 price,
            address tokenIn,
            address tokenOut,
            address venue
        );

    /// @notice Phase 2 (BATCHER_ROLE): books the leg planned by `batchPlan` in this transaction
    ///         from what arrived on the vault's own balance since then, which must be at least
    ///         the leg's `minOut` (`OptionVaultInsufficientOutput`), emits `Rebalanced` and
    ///         releases the lock. Reverts `OptionVaultNotInBatch` without a pending leg.
    function batchSettle() external returns (int256 deltaBefore, int256 deltaAfter);

    /// @notice Hedges part of the way: like `rebalance()`, but toward the keeper's requested
    ///         post-trade deviation `postDeviation` (net - target, 1e18) instead of the target
    ///         (keeper role). The vault bounds the request instead of trusting it: with
    ///         d = net - target, it keeps w = clamp(sign(d) * postDeviation, 0, min(|d|, band))
    ///         of d (the request counts on d's side only; 0 is the target, i.e. `rebalance()`)
    ///         and plans a trade of min(|d| - w, maxTrade) underlying. That trade reduces |d|,
    ///         stops at or short of the target, and leaves |d| <= band (inside: the band trigger
    ///         is strict, |d| > band) unless it is cut short, by `maxTrade`, by the free quote
    ///         (a buy) or by the inventory (a sell); the rest waits for a later rebalance. On
    ///         the time trigger (|d| <= band) any point from d to the target may be requested.
    ///         What is booked: a sell moves net delta by exactly the underlying sold; a buy
    ///         spends floor(trade * price / 1e20) quote and books the underlying that arrived,
    ///         short of the trade by the quote rounding (< 1e20 / price wei) and the pool's fee
    ///         and impact (at most `maxSlippageBps`), or beyond it when the pool is cheaper
    ///         than the oracle (its spot at most `maxOracleGapBps` away). So a buy to the
    ///         target can end past it by about that gap, and a buy to the band edge just
    ///         outside the band. A request that leaves nothing to trade (or a quote amount
    ///         that rounds to 0) reverts `OptionVaultNoTradePossible`.
    function rebalanceTo(int256 postDeviation)
        external
        returns (int256 deltaBefore, int256 deltaAfter);

    /// @notice Whether `rebalance()` would be allowed now, and the trigger (abi-encoded
    ///         `Trigger`) (Yearn `tendTrigger` style, for any keeper network).
    function rebalanceTrigger() external view returns (bool, bytes memory);

    /// @notice Why `rebalance()` would revert now, from the same checks in the same order:
    ///         the first failing check's custom-error data (an `OptionVault*` error of this
    ///         interface, or OZ's `EnforcedPause()`), or empty if it would go through. The
    ///         caller's role is the one thing it cannot know. Lets a keeper log why a vault is
    ///         not hedged without simulating a transaction.
    function rebalanceBlocker() external view returns (bytes memory);

    /// @notice Chainlink Automation: same as `rebalanceTrigger`.
    function checkUpkeep(bytes calldata) external view returns (bool upkeepNeeded, bytes memory);

    /// @notice Chainlink Automation: calls `rebalance` (keeper role).
    function performUpkeep(bytes calldata) external;

    // ------------------------------------------------------------------ views

    /// @notice Net delta now (1e18).
    function netDelta() external view returns (int256);

    /// @notice Per-contract Black-Scholes delta, gamma and vega of a series at the valuation
    ///         price, cap included (a capped option is valued as a spread, see
    ///         docs/pricing-model.md). The vault is short: its exposure is -size * these.
    /// @return delta 1e18 underlying per contract (capped call 0..1e18, capped put -1e18..0).
    /// @return gamma 1e18 fixed point: change of delta per 1 USD move of the spot.
    /// @return vega 1e18 fixed point: USD per contract per 1.00 of vol.
    function seriesGreeks(uint256 id)
        external
        view
        returns (int256 delta, int256 gamma, int256 vega);

    /// @notice The thresholds.
    function thresholds() external view returns (Thresholds memory);

    /// @notice The Black-Scholes vol parameter (1e18).
    function volatility() external view returns (uint256);

    /// @notice Hedge inventory (1e18 underlying units), tracked internally: donations ignored.
    function hedgeInventory() external view returns (uint256);

    /// @notice Timestamp of the last successful rebalance.
    function lastRebalance() external view returns (uint256);

    /// @notice Raw storage words, for {VaultLens}'s hot path: one call instead of a view per
    ///         field. Not ABI-encoded either way: the calldata is the selector followed by the
    ///         slots, one 32-byte word each, and the return data is the word stored at each
    ///         slot, in order (`n` slots in, `32 * n` bytes out). Storage is public on-chain;
    ///         this only saves a reader the views' calls.
    /// @dev The slots are the vault's storage layout (`forge inspect OptionVault
    ///      storageLayout`); {VaultLens} holds the ones it reads, and its tests compare what
    ///      it decodes with the views.
    function readSlots() external view;

    /// @notice Open (unsettled) series.
    function openSeries() external view returns (Series[] memory);

    /// @notice One series by id.
    function series(uint256 id) external view returns (Series memory);

    /// @notice Quote needed to pay every open series' maximum payoff (quote units).
    function lockedCollateral() external view returns (uint256);

    /// @notice Quote free for withdrawals and hedge purchases (quote units).
    function freeQuote() external view returns (uint256);

    /// @notice The stateless contract that prices the book (shared by every clone).
    function pricer() external view returns (address);

    /// @notice The price oracle, the sequencer-uptime feed (zero if none), the venue, the
    ///         underlying token and the ERC-1155 claims token.
    function oracle() external view returns (address);
    function sequencerFeed() external view returns (address);
    function venue() external view returns (address);
    function underlying() external view returns (address);
    function claims() external view returns (address);

    /// @notice Whether deposits, writing and rebalancing are paused.
    function paused() external view returns (bool);

    /// @notice Quote held per the vault's own accounting (donations ignored).
    function quoteBalance() external view returns (uint256);

    /// @notice Payoffs of settled series not yet redeemed (quote units, rounded up).
    function settledUnpaid() external view returns (uint256);

    /// @notice Value of the open options (quote units, rounded up): Black-Scholes for live
    ///         series; an expired series not yet settled counts at its maximum payoff (its
    ///         locked collateral) and carries no delta, so it is never hedged as a digital.
    function optionsValue() external view returns (uint256);

    /// @notice The price `totalAssets`, `netDelta` and `seriesGreeks` use (1e8): the latest
    ///         oracle answer when positive, else the last price the vault accepted.
    function valuationPrice() external view returns (uint256);

    /// @notice The nonce a buyer's next signed quote must carry.
    function nonces(address buyer) external view returns (uint256);

    /// @notice Voids the caller's quote signed with its current nonce (a buyer that changed its
    ///         mind before the desk wrote it); its next quote carries the next nonce. No event:
    ///         an event's 35 bytes would pass EIP-170's size limit; `nonces` tells.
    /// @return nonce The nonce used up.
    function useNonce() external returns (uint256 nonce);

    /// @notice Minimum premium edge over model value (bps).
    function minPremiumEdgeBps() external view returns (uint256);

    /// @notice The proposed oracle and the time it can be accepted from (zeros when none).
    function pendingOracle() external view returns (address oracle, uint256 eta);

    /// @notice Role ids.
    function DESK_ROLE() external view returns (bytes32);
    function KEEPER_ROLE() external view returns (bytes32);
    /// @notice Held by the {RebalanceBatcher} that may run this vault in netted batches.
    function BATCHER_ROLE() external view returns (bytes32);
    function PAUSER_ROLE() external view returns (bytes32);

    /// @notice Most open series at once (bounds the cost of `totalAssets` and `netDelta`).
    function MAX_OPEN_SERIES() external view returns (uint256);
}
