// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "./IOptionVault.sol";

/// @dev Bits of `VaultSnapshot.readErrors`: which reads failed (the field keeps its zero value).
uint256 constant LENS_READ_ORACLE = 1 << 0; // oracle(), latestRoundData() or decimals()
uint256 constant LENS_READ_SEQUENCER = 1 << 1; // sequencerFeed() or its latestRoundData()
uint256 constant LENS_READ_NET_DELTA = 1 << 2;
uint256 constant LENS_READ_INVENTORY = 1 << 3;
uint256 constant LENS_READ_THRESHOLDS = 1 << 4;
uint256 constant LENS_READ_LAST_REBALANCE = 1 << 5;
uint256 constant LENS_READ_POOL_PRICE = 1 << 6; // venue() or its spotPrice()
uint256 constant LENS_READ_VOLATILITY = 1 << 7;
uint256 constant LENS_READ_TOTAL_ASSETS = 1 << 8;
uint256 constant LENS_READ_TOTAL_SUPPLY = 1 << 9;
uint256 constant LENS_READ_FREE_QUOTE = 1 << 10;
uint256 constant LENS_READ_PAUSED = 1 << 11;
uint256 constant LENS_READ_TRIGGER = 1 << 12;
uint256 constant LENS_READ_SERIES = 1 << 13;
/// @dev Every read failed: the address has no code, or answered something undecodable.
uint256 constant LENS_READ_ALL = (1 << 14) - 1;

// ------------------------------------------------------------------ lean snapshot layout
// `snapshotLean` returns one `uint256[]` of words at fixed offsets (the keeper decodes them as a
// numpy array, keeper/chain/lens.py mirrors every constant here). Sections, in order:
//   header   LEAN_HEADER_WORDS words
//   vaults   LEAN_VAULT_WORDS words per vault, in request order
//   series   one word per open series, vault after vault (each vault's count is in its meta word)
//   oracles  LEAN_ORACLE_WORDS words per distinct (price feed, sequencer feed) pair
//   venues   LEAN_VENUE_WORDS words per distinct venue
// Small fields sit in 64-bit lanes (lane k = bits [64k, 64k + 64)), amounts in 128-bit halves.

/// @dev Bumped whenever the layout changes; header word 0. Layout 2 added the book word (7) and
///      the oracle entry's sequencer feed (word 4); layout 3 the venue entry's pool depth (word
///      2) and fee tier (word 1).
uint256 constant LEAN_LAYOUT_VERSION = 3;
/// @dev Header: version, block number, block timestamp, base fee, vaults, series, oracles,
///      venues.
uint256 constant LEAN_HEADER_WORDS = 8;
/// @dev Per vault:
///      0 meta:        lane 0 readErrors (LENS_READ_*), lane 1 series count,
///                     lane 2 oracle entry index, lane 3 venue entry index;
///      1 balances:    bits [0,128) hedge inventory, [128,256) quote balance;
///      2 commitments: bits [0,128) locked collateral, [128,256) settled unpaid;
///      3 band:        bits [0,128) target delta (int128), [128,256) band;
///      4 trade:       bits [0,128) max trade, [128,256) volatility;
///      5 intervals:   lanes minInterval, maxInterval, maxSlippageBps, maxOracleGapBps;
///      6 clock:       lanes oracleHeartbeat, sequencerGracePeriod, lastRebalance, paused (0/1);
///      7 book:        lane 0 the vault's book version (uint32), lane 1 the record's source
///                     (`LEAN_SOURCE_*`).
///      A cached record (`LEAN_SOURCE_CACHED`) holds only words 1, 6 (lanes 2 and 3) and 7: the
///      rest is zero, its meta has no series and `NO_ENTRY` (2^64 - 1) for both entry indexes,
///      and it adds no series words. The caller completes it from what it holds.
uint256 constant LEAN_VAULT_WORDS = 8;
/// @dev Word 7, lane 1: the record was read in full from the vault's raw storage (its version
///      is valid), or the vault is not one (`LENS_READ_ALL`).
uint256 constant LEAN_SOURCE_FULL = 0;
/// @dev The version the caller passed is still the vault's: only the hot words were read.
uint256 constant LEAN_SOURCE_CACHED = 1;
/// @dev Read through the vault's views (not OptionVault's layout): no version, never cache it.
uint256 constant LEAN_SOURCE_VIEWS = 2;
/// @dev `snapshotLeanSince` entries: bits [0,160) the vault, [160,192) the book version the
///      caller holds, and this bit set when it holds one.
uint256 constant LEAN_ENTRY_KNOWN = 1 << 192;
/// @dev Per series: {SeriesLayout} word 0 exactly (strike, cap, size, expiry, type, settled).
uint256 constant LEAN_SERIES_WORDS = 1;
/// @dev Per oracle entry:
///      0 answer (int256);
///      1 bits [0,128) roundId, lane 2 updatedAt, lane 3 decimals;
///      2 lanes: sequencer feed set (0/1), sequencer down (answer != 0), sequencer startedAt,
///        readErrors (LENS_READ_ORACLE / LENS_READ_SEQUENCER);
///      3 the price feed's address;
///      4 the sequencer feed's address (0: none).
uint256 constant LEAN_ORACLE_WORDS = 5;
/// @dev Per venue entry: 0 spotPrice() (1e8); 1 bits [0,160) address, [160,184) the pool's
///      fee tier (`depth()`'s, hundredths of a bip; 0 when unknown), lane 3 readErrors
///      (LENS_READ_POOL_PRICE); 2 the pool's depth (`IUniswapV3Venue.depth()`: the quote's
///      virtual reserve, 1e8 a whole unit; 0 when the venue has no such view, not an error).
uint256 constant LEAN_VENUE_WORDS = 3;

/// @title IVaultLens
/// @notice One view call returns everything an off-chain keeper needs for N vaults.
/// @dev Units: prices 1e8 (Chainlink USD), underlying amounts and deltas 1e18, quote amounts in
///      quote-token units (1e6), vol 1e18 (0.8e18 = 80%/yr). The lens returns each open series
///      so the keeper prices them itself, plus the vault's own on-chain net delta.
///      Robustness: `snapshot` never reverts because of one address. Each vault is read in its
///      own guarded sub-call (capped at 3M gas, so a vault or venue that burns gas cannot take
///      the others' share), and each read inside it in its own try/catch, so a vault whose
///      oracle is down, or an address that is not a vault at all (an EOA, a token), comes back
///      with `valid == false` and the failed reads flagged in `readErrors` (bits `LENS_READ_*`
///      in this file), while every other vault is read normally.
interface IVaultLens {
    /// @notice `snapshotLeanSince` was given a different number of price feeds and sequencer
    ///         feeds: they are read as pairs.
    error VaultLensFeedsMismatch(uint256 feeds, uint256 seqs);

    /// @notice The oracle state a vault sees (shared by vaults on the same feed).
    struct OracleState {
        uint80 roundId;
        int256 answer;
        uint256 updatedAt;
        uint8 decimals;
        /// @dev Sequencer feed: answer (0 = up, 1 = down) and when that status started.
        /// `sequencerStartedAt` is 0 and `sequencerDown` false when the vault has no feed.
        bool sequencerDown;
        uint256 sequencerStartedAt;
    }

    /// @notice Everything about one vault.
    struct VaultSnapshot {
        address vault;
        /// @dev True when every read succeeded (`readErrors == 0`). A keeper should skip a vault
        /// that is not valid: some fields are zero because they could not be read.
        bool valid;
        /// @dev Bitmask of failed reads (`LENS_READ_*`); `LENS_READ_ALL` when not a vault.
        uint256 readErrors;
        OracleState oracle;
        /// @dev On-chain net delta: hedge inventory minus the options' deltas (1e18).
        int256 netDelta;
        /// @dev Hedge inventory held, in underlying units (1e18).
        uint256 inventory;
        IOptionVault.Thresholds thresholds;
        uint256 lastRebalance;
        /// @dev The venue's price (1e8), for the pool-versus-oracle gap.
        uint256 poolPrice;
        /// @dev Black-Scholes vol parameter (1e18).
        uint256 volatility;
        /// @dev ERC-4626 totalAssets (quote units) and totalSupply (shares).
        uint256 totalAssets;
        uint256 totalSupply;
        /// @dev Free quote after locked collateral and settled unpaid payoffs (quote units).
        uint256 freeQuote;
        bool paused;
        /// @dev The vault's own trigger view, so the keeper never proposes a refused rebalance.
        /// `trigger` is the `IOptionVault.Trigger` the view encoded (0 None, 1 Band, 2 Time).
        bool triggerReady;
        uint8 trigger;
        /// @dev The open (unsettled) series.
        IOptionVault.Series[] series;
    }

    /// @notice Snapshots `vaults`, in order, at the current block. Never reverts because of a
    ///         vault (see the interface NatSpec). The node's `eth_call` gas cap bounds N: see
    ///         the measured gas per vault in the `VaultLens` NatSpec.
    function snapshot(address[] calldata vaults)
        external
        view
        returns (VaultSnapshot[] memory snaps, uint256 blockNumber, uint256 blockTimestamp);

    /// @notice Snapshots one vault; each read is guarded, but a malformed answer (one that
    ///         cannot be ABI-decoded) makes this revert. `snapshot` calls it through a guarded
    ///         sub-call for that reason.
    function snapshotOne(address vault) external view returns (VaultSnapshot memory snap);

    /// @notice The keeper's hot path: raw state only, no on-chain pricing, as words at fixed
    ///         offsets (the layout is above: `LEAN_*`). Each vault's series terms and sizes,
    ///         inventory and balances, thresholds, last rebalance and paused flag; the oracle
    ///         round and sequencer state once per distinct (feed, sequencer feed) pair, and the
    ///         venue's price once per distinct venue. Never reverts because of one address: a
    ///         failed or malformed read sets the vault's (or the entry's) `LENS_READ_*` bits.
    /// @return words The words; `words.length` covers every section.
    function snapshotLean(address[] calldata vaults) external view returns (uint256[] memory words);

    /// @notice `snapshotLean` for a caller that keeps what rarely changes: a vault whose book
    ///         version (`LEAN_VAULT_WORDS`, word 7) is still the one its entry carries is read
    ///         from two slots (balances, and the clock that holds the version), and its record
    ///         comes back `LEAN_SOURCE_CACHED`; any other vault is read in full, as by
    ///         `snapshotLean`. The vault moves its version on every change to a cached field
    ///         (thresholds, vol, feeds, the open series and the commitments).
    /// @param entries Per vault, in order: the address, the version held, `LEAN_ENTRY_KNOWN`
    ///        (see the constant).
    /// @param feeds The price feeds of the oracle entries the caller needs (its cached vaults'),
    ///        read first and in this order; entries found by full reads follow.
    /// @param seqs Each feed's sequencer feed (0: none); as long as `feeds`.
    /// @param venues The venue entries the caller needs, first and in this order.
    /// @return words The words, as `snapshotLean`'s.
    function snapshotLeanSince(
        uint256[] calldata entries,
        address[] calldata feeds,
        address[] calldata seqs,
        address[] calldata venues
    ) external view returns (uint256[] memory words);
}
