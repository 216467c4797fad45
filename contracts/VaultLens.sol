// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {IUniswapV3Venue} from "./interfaces/uniswap/IUniswapV3Venue.sol";
import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {
    IVaultLens,
    LENS_READ_ORACLE,
    LENS_READ_SEQUENCER,
    LENS_READ_NET_DELTA,
    LENS_READ_INVENTORY,
    LENS_READ_THRESHOLDS,
    LENS_READ_LAST_REBALANCE,
    LENS_READ_POOL_PRICE,
    LENS_READ_VOLATILITY,
    LENS_READ_TOTAL_ASSETS,
    LENS_READ_TOTAL_SUPPLY,
    LENS_READ_FREE_QUOTE,
    LENS_READ_PAUSED,
    LENS_READ_TRIGGER,
    LENS_READ_SERIES,
    LENS_READ_ALL,
    LEAN_LAYOUT_VERSION,
    LEAN_HEADER_WORDS,
    LEAN_VAULT_WORDS,
    LEAN_ORACLE_WORDS,
    LEAN_VENUE_WORDS,
    LEAN_SOURCE_CACHED,
    LEAN_SOURCE_VIEWS,
    LEAN_ENTRY_KNOWN
} from "./interfaces/IVaultLens.sol";

/// @title VaultLens
/// @notice Reads everything the keeper needs about N vaults in one `eth_call`: `snapshotLean`,
///         the raw state at fixed word offsets for the keeper's hot path, and `snapshot`, the
///         full per-vault view (NAV, Greeks through the vault's own views) for tools.
/// @dev `snapshotLean` prices nothing: the keeper derives net delta, gamma, NAV and the trigger
///      off-chain with the contract's math, and simulates the exact batch before signing. A
///      vault's storage words are read raw, with two {IOptionVault-readSlots} calls (its seven
///      fixed slots, then word 0 of each open series; a third for ids past the eighth), at the
///      slots of OptionVault's layout (`SLOT_*`); a vault that does not answer `readSlots` is
///      read through its views instead, one bare `staticcall` a field. Every call has a gas cap
///      (`READ_GAS`) and its return data is checked for size and field widths in place of an
///      ABI decode that could revert, so a non-vault or a malformed answer only sets that
///      vault's `LENS_READ_*` bits. The answer is written straight into memory and returned
///      with `return`, so no second copy is made to ABI-encode it (memory costs grow with the
///      square of its size). Feeds and venues are read once per distinct address, after the
///      vaults. Gas (tests/forge/VaultLensLean.t.sol, real clones with 4 open series, one
///      shared feed, sequencer feed and venue): ~36k a vault, see
///      `test_snapshotLean_GasPerVault` and `test_snapshotLean_GasBreakdownPerVault`; its floor
///      is the vaults' cold storage (EIP-2929: 2,100 gas a slot, 2,600 per account): 7 slots
///      and a word per series. `snapshotLeanSince` is the steady read of a caller that keeps
///      the rest: a vault whose book version it holds costs its account and two slots (~9.2k
///      with its account warm, `test_snapshotLeanSince_GasPerVault`; +2.5k cold).
///
///      `snapshot` has two layers of containment (see `IVaultLens`):
///      1. `snapshot` reads each vault through `this.snapshotOne(vault)` inside `try`, so even an
///         answer that cannot be decoded (which a plain `try` cannot catch: decoding happens in
///         the caller's frame) only marks that vault `LENS_READ_ALL`; an address with no code is
///         marked without being called; the sub-call gets at most `SNAPSHOT_ONE_GAS`, so a
///         vault, feed or venue that burns gas marks only itself (a full book reads in ~0.6M);
///      2. `snapshotOne` wraps every read in its own `try`, so one failing read (a reverting
///         feed, a venue without liquidity) leaves the rest of the vault readable.
///      Gas, measured with the stub vault of tests/forge/VaultLens.t.sol (4 open series each, a
///      shared feed, sequencer feed and venue; `test_snapshot_Gas10/Gas100`): about 582k for 10
///      vaults and 6.8M for 100 (58k-68k per vault; memory growth makes it slightly
///      super-linear), so a chunk of a few hundred vaults fits a 30M `eth_call` gas cap.
contract VaultLens is IVaultLens {
    /// @inheritdoc IVaultLens
    function snapshot(address[] calldata vaults)
        external
        view
        returns (VaultSnapshot[] memory snaps, uint256 blockNumber, uint256 blockTimestamp)
    {
        uint256 n = vaults.length;
        snaps = new VaultSnapshot[](n);
        for (uint256 i; i < n; ++i) {
            address vault = vaults[i];
            if (vault.code.length != 0) {
                // Gas-capped: a vault (or its venue or feed) that burns gas costs at most this.
                try this.snapshotOne{gas: SNAPSHOT_ONE_GAS}(vault) returns (
                    VaultSnapshot memory snap
                ) {
                    snaps[i] = snap;
                    continue;
                } catch {}
            }
            // Not a vault, or an undecodable answer: every field stays zero.
            snaps[i].vault = vault;
            snaps[i].readErrors = LENS_READ_ALL;
        }
        return (snaps, block.number, block.timestamp);
    }

    /// @inheritdoc IVaultLens
    function snapshotOne(address vault) external view returns (VaultSnapshot memory snap) {
        IOptionVault v = IOptionVault(vault);
        snap.vault = vault;
        uint256 errors = _readOracle(v, snap) | _readSequencer(v, snap) | _readVenue(v, snap)
            | _readTrigger(v, snap) | _readPositions(v, snap) | _readAccounts(v, snap);
        snap.readErrors = errors;
        snap.valid = errors == 0;
    }

    /// @dev Gas one vault's `snapshotOne` may use inside `snapshot` (a real vault with 16 open
    ///      series needs well under it).
    uint256 private constant SNAPSHOT_ONE_GAS = 3_000_000;
    /// @dev Gas each lean read may use: a vault or feed that burns gas costs at most this.
    uint256 private constant READ_GAS = 300_000;
    /// @dev Entry index of a vault whose feed or venue could not be read.
    uint256 private constant NO_ENTRY = type(uint64).max;
    uint256 private constant MAX64 = type(uint64).max;

    // OptionVault's storage slots the raw read takes (`forge inspect OptionVault storageLayout`;
    // tests/forge/VaultLensLean.t.sol checks every decoded field against the vault's views).
    /// @dev `_oracle` ([0,160)) | `_locked` ([160,256)), then `_venue` | `_settledUnpaid`.
    uint256 private constant SLOT_FEEDS = 1;
    /// @dev `_openIds` (uint256[2]): the open ids, eight uint32 fields a word from bit 0 up,
    ///      filled from the first with no gap and ended by a 0 field; word 1 in the next slot.
    uint256 private constant SLOT_OPEN_IDS = 4;
    /// @dev `_series` (mapping(id => uint256[2])): word 0 at keccak256(abi.encode(id, 6)).
    uint256 private constant SLOT_SERIES = 6;
    /// @dev `_quoteBalance` ([0,128)) | `_hedgeInventory` ([128,256)).
    uint256 private constant SLOT_BALANCES = 10;
    /// @dev `_lastRebalance` ([0,64)) | `_lastGoodPrice` ([64,216)) | the paused flag
    ///      ([216,224)) | `_bookVersion` ([224,256)).
    uint256 private constant SLOT_CLOCK = 13;
    /// @dev The sequencer feed is not storage but the vault clone's third immutable arg
    ///      (abi.encode(asset, underlying, sequencerFeed) after the 45 bytes of EIP-1167 code,
    ///      see {VaultFactory}): it is copied from the vault's code.
    uint256 private constant CODE_SEQUENCER_FEED = 0x2d + 0x40;
    /// @dev `_thresholds`' two words (see {RebalanceRules-unpackThresholds}; the vol is the
    ///      second word's [192,256)), then the clock (`SLOT_CLOCK`).
    uint256 private constant SLOT_THRESHOLDS = 11;
    /// @dev Slots in the raw read's first call (see `_leanRaw`).
    uint256 private constant RAW_SLOTS = 7;
    uint256 private constant MAX128 = type(uint128).max;

    /// @dev The lean snapshot's running state: the distinct feeds and venues seen so far, and
    ///      the write cursor of the series section.
    struct Lean {
        address[] feeds;
        address[] seqs;
        address[] venues;
        uint256 nFeeds;
        uint256 nVenues;
        uint256 lastFeed;
        uint256 lastVenue;
        uint256 cursor;
        uint256 nSeries;
    }

    /// @inheritdoc IVaultLens
    function snapshotLean(address[] calldata vaults) external view returns (uint256[] memory) {
        uint256 at;
        assembly ("memory-safe") {
            at := vaults.offset
        }
        // No entry is known, and no entry is seeded (empty slices of the same calldata).
        _lean(at, vaults.length, false, vaults[0:0], vaults[0:0], vaults[0:0]);
    }

    /// @inheritdoc IVaultLens
    function snapshotLeanSince(
        uint256[] calldata entries,
        address[] calldata feeds,
        address[] calldata seqs,
        address[] calldata venues
    ) external view returns (uint256[] memory) {
        if (feeds.length != seqs.length) {
            revert VaultLensFeedsMismatch(feeds.length, seqs.length);
        }
        uint256 at;
        assembly ("memory-safe") {
            at := entries.offset
        }
        _lean(at, entries.length, true, feeds, seqs, venues);
    }

    /// @dev Both lean snapshots: `n` calldata words from `at`, each a vault (bits [0,160)) and,
    ///      when `since`, the version its caller holds (`LEAN_ENTRY_KNOWN`); the seeded feeds and
    ///      venues are the first entries. Returns the answer from memory (does not come back).
    function _lean(
        uint256 at,
        uint256 n,
        bool since,
        address[] calldata feeds,
        address[] calldata seqs,
        address[] calldata venues
    ) private view {
        Lean memory c = Lean({
            feeds: new address[](n + feeds.length),
            seqs: new address[](n + feeds.length),
            venues: new address[](n + venues.length),
            nFeeds: feeds.length,
            nVenues: venues.length,
            lastFeed: 0,
            lastVenue: 0,
            cursor: 0,
            nSeries: 0
        });
        for (uint256 k; k < feeds.length; ++k) {
            (c.feeds[k], c.seqs[k]) = (feeds[k], seqs[k]);
        }
        for (uint256 k; k < venues.length; ++k) {
            c.venues[k] = venues[k];
        }
        // The answer is built at the free memory pointer: [0x20][length][words...].
        uint256 out;
        assembly ("memory-safe") {
            out := mload(0x40)
        }
        uint256 head = out + 0x40;
        uint256 records = head + LEAN_HEADER_WORDS * 32;
        c.cursor = records + n * LEAN_VAULT_WORDS * 32;
        _reserve(c.cursor);
        for (uint256 i; i < n; ++i) {
            uint256 e;
            assembly ("memory-safe") {
                e := calldataload(add(at, shl(5, i)))
            }
            if (!since) e = uint160(e);
            _leanVault(e, records + i * LEAN_VAULT_WORDS * 32, c);
        }
        for (uint256 k; k < c.nFeeds; ++k) {
            _leanOracle(c.feeds[k], c.seqs[k], c.cursor);
            c.cursor += LEAN_ORACLE_WORDS * 32;
        }
        for (uint256 k; k < c.nVenues; ++k) {
            _leanVenue(c.venues[k], c.cursor);
            c.cursor += LEAN_VENUE_WORDS * 32;
        }
        uint256 end = c.cursor;
        uint256 nSeries = c.nSeries;
        uint256 nFeeds = c.nFeeds;
        uint256 nVenues = c.nVenues;
        assembly ("memory-safe") {
            mstore(head, LEAN_LAYOUT_VERSION)
            mstore(add(head, 0x20), number())
            mstore(add(head, 0x40), timestamp())
            mstore(add(head, 0x60), basefee())
            mstore(add(head, 0x80), n)
            mstore(add(head, 0xa0), nSeries)
            mstore(add(head, 0xc0), nFeeds)
            mstore(add(head, 0xe0), nVenues)
            mstore(out, 0x20)
            mstore(add(out, 0x20), shr(5, sub(end, head)))
            mstore(0x40, end)
            return(out, sub(end, out))
        }
    }

    // ------------------------------------------------------------------ internal: lean

    /// @dev Moves the free memory pointer to `end` (the answer grows in place).
    function _reserve(uint256 end) private pure {
        assembly ("memory-safe") {
            mstore(0x40, end)
        }
    }

    /// @dev One vault's record at `rec`, and its series at the cursor, for entry `e` (the vault,
    ///      and the version its caller holds when `LEAN_ENTRY_KNOWN` is set).
    function _leanVault(uint256 e, uint256 rec, Lean memory c) private view {
        // forge-lint: disable-next-line(unsafe-typecast) -- the entry's low 160 bits, by design
        address v = address(uint160(e));
        uint256 errors;
        uint256 feedIdx = NO_ENTRY;
        uint256 venueIdx = NO_ENTRY;
        uint256 count;
        if (v.code.length == 0) {
            errors = LENS_READ_ALL;
            _clear(rec);
        } else {
            if (e & LEAN_ENTRY_KNOWN != 0 && _leanHot(v, rec, (e >> 160) & 0xffffffff, c.cursor)) {
                return;
            }
            bool raw;
            (raw, feedIdx, venueIdx, count, errors) = _leanRaw(v, rec, c);
            if (!raw) {
                _sourceViews(rec);
                // Not an OptionVault with `readSlots` (another implementation): its views.
                (feedIdx, venueIdx, errors) = _leanFeeds(v, c);
                // In this order: the thresholds complete the word the accounts start (word 4).
                errors |= _leanAccounts(v, rec);
                errors |= _leanThresholds(v, rec, c.cursor);
                (count, errors) = _leanSeries(v, c, errors);
            }
        }
        uint256 meta = errors | (count << 64) | (feedIdx << 128) | (venueIdx << 192);
        assembly ("memory-safe") {
            mstore(rec, meta)
        }
    }

    /// @dev A cached record at `rec` when `v`'s book version is still `version`: its balances
    ///      and clock only (one {IOptionVault-readSlots} call of two slots, through scratch at
    ///      `buf`). False, with nothing written, when the call fails, the version moved, or the
    ///      clock is not a vault's (the full read then reads and flags it).
    function _leanHot(address v, uint256 rec, uint256 version, uint256 buf)
        private
        view
        returns (bool hit)
    {
        bytes4 sel = IOptionVault.readSlots.selector;
        assembly ("memory-safe") {
            mstore(buf, sel)
            mstore(add(buf, 4), SLOT_BALANCES)
            mstore(add(buf, 0x24), SLOT_CLOCK)
        }
        if (!_callReadSlots(v, buf, 2, buf)) return false;
        assembly ("memory-safe") {
            let balances := mload(buf)
            let clock := mload(add(buf, 0x20))
            let paused := and(shr(216, clock), 0xff)
            hit := and(eq(shr(224, clock), version), lt(paused, 2))
            if hit {
                let none := 0xffffffffffffffff
                mstore(rec, or(shl(128, none), shl(192, none)))
                mstore(add(rec, 0x20), or(shr(128, balances), shl(128, balances)))
                // Free memory may be dirty: the words the caller completes are zeroed.
                mstore(add(rec, 0x40), 0)
                mstore(add(rec, 0x60), 0)
                mstore(add(rec, 0x80), 0)
                mstore(add(rec, 0xa0), 0)
                mstore(add(rec, 0xc0), or(shl(128, and(clock, none)), shl(192, paused)))
                mstore(add(rec, 0xe0), or(version, shl(64, LEAN_SOURCE_CACHED)))
            }
        }
    }

    /// @dev Marks the record at `rec` as read through the vault's views (no version).
    function _sourceViews(uint256 rec) private pure {
        assembly ("memory-safe") {
            mstore(add(rec, 0xe0), shl(64, LEAN_SOURCE_VIEWS))
        }
    }

    /// @dev The whole record (words 1 to 7) and the series from the vault's raw storage
    ///      ({IOptionVault-readSlots}): one call for the seven slots below, one for the series'
    ///      words 0 (and one more for the ids past the eighth). `raw` is false, and nothing is
    ///      written, when the first call fails or answers anything but seven words: the caller
    ///      then reads the views. Each field is checked for its width as the views' are.
    function _leanRaw(address v, uint256 rec, Lean memory c)
        private
        view
        returns (bool raw, uint256 feedIdx, uint256 venueIdx, uint256 count, uint256 errors)
    {
        // Scratch past the series written so far; the series land at the cursor.
        uint256 buf = c.cursor;
        bytes4 sel = IOptionVault.readSlots.selector;
        assembly ("memory-safe") {
            mstore(buf, sel)
            let q := add(buf, 4)
            mstore(q, SLOT_FEEDS)
            mstore(add(q, 0x20), add(SLOT_FEEDS, 1))
            mstore(add(q, 0x40), SLOT_BALANCES)
            mstore(add(q, 0x60), SLOT_THRESHOLDS)
            mstore(add(q, 0x80), add(SLOT_THRESHOLDS, 1))
            mstore(add(q, 0xa0), add(SLOT_THRESHOLDS, 2))
            mstore(add(q, 0xc0), SLOT_OPEN_IDS)
        }
        // The words land from buf + 0x20 (oracle, venue, balances, thresholds, clock, ids);
        // word 0 is the sequencer feed, copied from the clone's code once the call has warmed
        // its account.
        raw = _callReadSlots(v, buf, RAW_SLOTS, buf + 0x20);
        if (!raw) return (false, NO_ENTRY, NO_ENTRY, 0, 0);
        assembly ("memory-safe") {
            extcodecopy(v, buf, CODE_SEQUENCER_FEED, 0x20)
        }
        (feedIdx, venueIdx, errors) = _rawFeeds(buf, c);
        errors |= _rawRecord(buf, rec);
        (count, errors) = _rawSeries(v, buf, c, errors);
    }

    /// @dev The feed, sequencer feed and venue of a raw read at `buf`, as entry indexes.
    function _rawFeeds(uint256 buf, Lean memory c)
        private
        pure
        returns (uint256 feedIdx, uint256 venueIdx, uint256 errors)
    {
        uint256 feed;
        uint256 seq;
        uint256 venue_;
        // The oracle's and venue's slots carry the commitments above bit 160: masked off.
        assembly ("memory-safe") {
            seq := mload(buf)
            feed := and(mload(add(buf, 0x20)), sub(shl(160, 1), 1))
            venue_ := and(mload(add(buf, 0x40)), sub(shl(160, 1), 1))
        }
        feedIdx = NO_ENTRY;
        if (seq >> 160 != 0) errors |= LENS_READ_SEQUENCER;
        // forge-lint: disable-next-line(unsafe-typecast) -- both < 2^160 (masked, checked)
        else feedIdx = _feedIndex(c, address(uint160(feed)), address(uint160(seq)));
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^160, masked
        venueIdx = _venueIndex(c, address(uint160(venue_)));
    }

    /// @dev Words 1 to 6 of the record at `rec` from a raw read at `buf` (the layouts are
    ///      `LEAN_VAULT_WORDS`' and {RebalanceRules-unpackThresholds}').
    function _rawRecord(uint256 buf, uint256 rec) private pure returns (uint256 errors) {
        uint256 bad;
        assembly ("memory-safe") {
            let balances := mload(add(buf, 0x60))
            let t0 := mload(add(buf, 0x80))
            let t1 := mload(add(buf, 0xa0))
            let vol := shr(192, t1)
            let clock := mload(add(buf, 0xc0))
            let last := and(clock, 0xffffffffffffffff)
            let paused := and(shr(216, clock), 0xff)
            let m16 := 0xffff
            let m32 := 0xffffffff
            let m96 := sub(shl(96, 1), 1)
            // Inventory and quote swap halves; the commitments (locked | unpaid << 128) are
            // the high 96 bits of the oracle's and the venue's slots.
            mstore(add(rec, 0x20), or(shr(128, balances), shl(128, balances)))
            mstore(
                add(rec, 0x40),
                or(shr(160, mload(add(buf, 0x20))), shl(128, shr(160, mload(add(buf, 0x40)))))
            )
            // target delta (int96, sign-extended into 128 bits) | band << 128
            mstore(
                add(rec, 0x60),
                or(and(signextend(11, t0), sub(shl(128, 1), 1)), shl(128, and(shr(96, t0), m96)))
            )
            mstore(add(rec, 0x80), or(and(t1, m96), shl(128, vol)))
            mstore(
                add(rec, 0xa0),
                or(
                    or(and(shr(192, t0), m32), shl(64, shr(224, t0))),
                    or(shl(128, and(shr(96, t1), m16)), shl(192, and(shr(112, t1), m16)))
                )
            )
            mstore(
                add(rec, 0xc0),
                or(
                    or(and(shr(128, t1), m32), shl(64, and(shr(160, t1), m32))),
                    or(shl(128, last), shl(192, paused))
                )
            )
            // The book version; the source is LEAN_SOURCE_FULL (0).
            mstore(add(rec, 0xe0), shr(224, clock))
            // A vault's flag is 0 or 1; anything else is not one of its layouts. (The vol is
            // 64 bits wide here, so it always fits its 128.)
            bad := gt(paused, 1)
            if bad { mstore(add(rec, 0xc0), and(mload(add(rec, 0xc0)), not(shl(192, 0xff)))) }
        }
        if (bad != 0) errors = LENS_READ_PAUSED;
    }

    /// @dev The open series' words 0 at the cursor, from the ids in a raw read at `buf` (the
    ///      first eight ids at word 7): one more call for the next eight when the eighth is
    ///      there, then one for the series.
    function _rawSeries(address v, uint256 buf, Lean memory c, uint256 errorsIn)
        private
        view
        returns (uint256 count, uint256 errors)
    {
        errors = errorsIn;
        uint256 cur = c.cursor;
        uint256 ids0;
        assembly ("memory-safe") {
            ids0 := mload(add(buf, 0xe0))
        }
        bool ok = true;
        uint256 ids1;
        // Call buffers go past the series' words (at most 16).
        if (ids0 >> 224 != 0) (ok, ids1) = _rawIds(v, cur + 16 * 32);
        uint256 n0 = _idCount(ids0);
        count = n0 + _idCount(ids1);
        // The ids are packed with no gap: a hole is not a vault's layout.
        if (ids1 != 0 && n0 != 8) ok = false;
        if (ok && count != 0) ok = _rawSeriesWords(v, cur, count, ids0, ids1);
        if (!ok) (errors, count) = (errors | LENS_READ_SERIES, 0);
        c.cursor = cur + count * 32;
        c.nSeries += count;
        _reserve(c.cursor);
    }

    /// @dev The second slot of `_openIds`' ids (the ninth to sixteenth), via free memory `q`.
    function _rawIds(address v, uint256 q) private view returns (bool ok, uint256 ids1) {
        bytes4 sel = IOptionVault.readSlots.selector;
        assembly ("memory-safe") {
            mstore(q, sel)
            mstore(add(q, 4), add(SLOT_OPEN_IDS, 1))
        }
        ok = _callReadSlots(v, q, 1, q);
        assembly ("memory-safe") {
            ids1 := mload(q)
        }
    }

    /// @dev The number of leading nonzero uint32 fields of `ids`.
    function _idCount(uint256 ids) private pure returns (uint256 n) {
        while (n < 8 && (ids >> (n << 5)) & 0xffffffff != 0) {
            ++n;
        }
    }

    /// @dev Word 0 of each of the `count` series whose ids are packed in `ids0`, `ids1` (32
    ///      bits each), read into `cur`; false on a failed call or a word that is not a series'.
    function _rawSeriesWords(address v, uint256 cur, uint256 count, uint256 ids0, uint256 ids1)
        private
        view
        returns (bool ok)
    {
        bytes4 sel = IOptionVault.readSlots.selector;
        uint256 q = cur + count * 32;
        assembly ("memory-safe") {
            mstore(q, sel)
            mstore(0x20, SLOT_SERIES)
            for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                let ids := ids0
                if gt(j, 7) { ids := ids1 }
                mstore(0, and(shr(shl(5, and(j, 7)), ids), 0xffffffff))
                mstore(add(add(q, 4), shl(5, j)), keccak256(0, 0x40))
            }
        }
        ok = _callReadSlots(v, q, count, cur);
        assembly ("memory-safe") {
            // Type and settled are 0 or 1 in every word ({SeriesLayout}).
            for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                if and(shr(240, mload(add(cur, shl(5, j)))), 0xfefe) { ok := 0 }
            }
        }
    }

    /// @dev One {IOptionVault-readSlots} call: its calldata at `q` (the selector, then the `n`
    ///      slots, written by the caller), the `n` words it returns copied to `out`. False when
    ///      the call fails or returns anything but `n` words.
    function _callReadSlots(address v, uint256 q, uint256 n, uint256 out)
        private
        view
        returns (bool ok)
    {
        assembly ("memory-safe") {
            let size := shl(5, n)
            ok := staticcall(READ_GAS, v, q, add(4, size), 0, 0)
            if iszero(eq(returndatasize(), size)) { ok := 0 }
            if ok { returndatacopy(out, 0, size) }
        }
    }

    function _clear(uint256 rec) private pure {
        assembly ("memory-safe") {
            for { let k := 0x20 } lt(k, mul(LEAN_VAULT_WORDS, 0x20)) { k := add(k, 0x20) } {
                mstore(add(rec, k), 0)
            }
        }
    }

    /// @dev The vault's feed, sequencer feed and venue, as entry indexes (deduplicated).
    function _leanFeeds(address v, Lean memory c)
        private
        view
        returns (uint256 feedIdx, uint256 venueIdx, uint256 errors)
    {
        (bool okF, uint256 feed) = _word(v, IOptionVault.oracle.selector);
        (bool okS, uint256 seq) = _word(v, IOptionVault.sequencerFeed.selector);
        (bool okV, uint256 venue_) = _word(v, IOptionVault.venue.selector);
        feedIdx = NO_ENTRY;
        venueIdx = NO_ENTRY;
        if (!okF || feed >> 160 != 0) errors |= LENS_READ_ORACLE;
        if (!okS || seq >> 160 != 0) errors |= LENS_READ_SEQUENCER;
        // forge-lint: disable-next-line(unsafe-typecast) -- both < 2^160, checked just above
        if (errors == 0) feedIdx = _feedIndex(c, address(uint160(feed)), address(uint160(seq)));
        if (!okV || venue_ >> 160 != 0) errors |= LENS_READ_POOL_PRICE;
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^160, checked just above
        else venueIdx = _venueIndex(c, address(uint160(venue_)));
    }

    /// @dev Balances (word 1), commitments (word 2), and the vol half of word 4.
    function _leanAccounts(address v, uint256 rec) private view returns (uint256 errors) {
        (bool ok1, uint256 inv) = _word(v, IOptionVault.hedgeInventory.selector);
        (bool ok2, uint256 quote) = _word(v, IOptionVault.quoteBalance.selector);
        (bool ok3, uint256 locked) = _word(v, IOptionVault.lockedCollateral.selector);
        (bool ok4, uint256 unpaid) = _word(v, IOptionVault.settledUnpaid.selector);
        if (!ok1 || inv > MAX128) (errors, inv) = (errors | LENS_READ_INVENTORY, 0);
        if (!ok2 || !ok3 || !ok4 || quote > MAX128 || locked > MAX128 || unpaid > MAX128) {
            (errors, quote, locked, unpaid) = (errors | LENS_READ_FREE_QUOTE, 0, 0, 0);
        }
        (bool ok5, uint256 vol) = _word(v, IOptionVault.volatility.selector);
        if (!ok5 || vol > MAX128) (errors, vol) = (errors | LENS_READ_VOLATILITY, 0);
        assembly ("memory-safe") {
            mstore(add(rec, 0x20), or(inv, shl(128, quote)))
            mstore(add(rec, 0x40), or(locked, shl(128, unpaid)))
            mstore(add(rec, 0x80), shl(128, vol)) // max trade joins it in _leanThresholds
        }
    }

    /// @dev Thresholds (words 3, 4's low half, 5, 6), last rebalance and paused (word 6).
    ///      `tmp` is free memory past the answer written so far.
    function _leanThresholds(address v, uint256 rec, uint256 tmp)
        private
        view
        returns (uint256 errors)
    {
        bytes4 sel = IOptionVault.thresholds.selector;
        bool ok;
        assembly ("memory-safe") {
            mstore(0, sel)
            ok := staticcall(READ_GAS, v, 0, 4, 0, 0)
            if lt(returndatasize(), 0x120) { ok := 0 }
            if ok { returndatacopy(tmp, 0, 0x120) }
        }
        uint256 band;
        uint256 tradeAndVol;
        uint256 lanes5;
        uint256 lanes6;
        if (ok) {
            // Words: targetDelta, band, minInterval, maxInterval, maxTrade, maxSlippageBps,
            // maxOracleGapBps, oracleHeartbeat, sequencerGracePeriod.
            assembly ("memory-safe") {
                let target := mload(tmp)
                band := mload(add(tmp, 0x20))
                tradeAndVol := mload(add(tmp, 0x80))
                let a := mload(add(tmp, 0x40))
                let b := mload(add(tmp, 0x60))
                let d := mload(add(tmp, 0xa0))
                let e := mload(add(tmp, 0xc0))
                let f := mload(add(tmp, 0xe0))
                let g := mload(add(tmp, 0x100))
                // Every field must fit its lane: target int128 (sign-extending its low 128
                // bits gives it back), band and max trade 128 bits, the rest 64.
                ok := and(
                    eq(signextend(15, target), target),
                    iszero(
                        or(
                            or(shr(128, band), shr(128, tradeAndVol)),
                            shr(64, or(or(a, b), or(or(d, e), or(f, g))))
                        )
                    )
                )
                band := or(and(target, sub(shl(128, 1), 1)), shl(128, band))
                lanes5 := or(or(a, shl(64, b)), or(shl(128, d), shl(192, e)))
                lanes6 := or(f, shl(64, g))
                if iszero(ok) {
                    band := 0
                    tradeAndVol := 0
                    lanes5 := 0
                    lanes6 := 0
                }
            }
        }
        if (!ok) errors = LENS_READ_THRESHOLDS;
        (bool okL, uint256 last) = _word(v, IOptionVault.lastRebalance.selector);
        if (!okL || last > MAX64) (errors, last) = (errors | LENS_READ_LAST_REBALANCE, 0);
        (bool okP, uint256 paused_) = _word(v, IOptionVault.paused.selector);
        if (!okP || paused_ > 1) (errors, paused_) = (errors | LENS_READ_PAUSED, 0);
        lanes6 |= (last << 128) | (paused_ << 192);
        assembly ("memory-safe") {
            mstore(add(rec, 0x60), band)
            mstore(add(rec, 0x80), or(mload(add(rec, 0x80)), tradeAndVol))
            mstore(add(rec, 0xa0), lanes5)
            mstore(add(rec, 0xc0), lanes6)
        }
    }

    /// @dev `openSeries()` re-packed as {SeriesLayout} word 0 each, at the cursor.
    function _leanSeries(address v, Lean memory c, uint256 errorsIn)
        private
        view
        returns (uint256 count, uint256 errors)
    {
        bytes4 sel = IOptionVault.openSeries.selector;
        uint256 cur = c.cursor;
        bool ok;
        assembly ("memory-safe") {
            mstore(0, sel)
            ok := staticcall(READ_GAS, v, 0, 4, 0, 0)
            let size := returndatasize()
            if lt(size, 0x40) { ok := 0 }
            if ok {
                returndatacopy(0, 0, 0x40)
                count := mload(0x20)
                // [offset 0x20][count][count x 8 words]; anything else is malformed.
                if or(iszero(eq(mload(0), 0x20)), gt(count, div(sub(size, 0x40), 0x100))) {
                    ok := 0
                }
            }
            // The structs land past the words written below (word j < tmp for j < count).
            switch ok
            case 0 { count := 0 }
            default { returndatacopy(add(cur, shl(5, count)), 0x40, shl(8, count)) }
        }
        uint256 tmp = cur + count * 32;
        for (uint256 j; j < count; ++j) {
            (uint256 word, bool fits) = _packSeries(tmp + j * 256);
            ok = ok && fits;
            assembly ("memory-safe") {
                mstore(add(cur, shl(5, j)), word)
            }
        }
        errors = errorsIn;
        if (!ok) (errors, count) = (errors | LENS_READ_SERIES, 0);
        c.cursor = cur + count * 32;
        c.nSeries += count;
        _reserve(c.cursor);
    }

    /// @dev One `IOptionVault.Series` (8 words at `s`) as {SeriesLayout} word 0; `fits` false
    ///      when a field exceeds its width there.
    function _packSeries(uint256 s) private pure returns (uint256 word, bool fits) {
        assembly ("memory-safe") {
            let kind := mload(add(s, 0x20))
            let strike := mload(add(s, 0x40))
            let cap := mload(add(s, 0x60))
            let expiry := mload(add(s, 0x80))
            let size := mload(add(s, 0xa0))
            let settled := mload(add(s, 0xc0))
            fits := iszero(
                or(
                    or(gt(kind, 1), gt(settled, 1)),
                    or(or(shr(56, strike), shr(56, cap)), or(shr(32, expiry), shr(96, size)))
                )
            )
            word := or(
                or(or(strike, shl(56, cap)), or(shl(112, size), shl(208, expiry))),
                or(shl(240, kind), shl(248, settled))
            )
        }
    }

    /// @dev One oracle entry at `at` (see `LEAN_ORACLE_WORDS`).
    function _leanOracle(address feed, address seq, uint256 at) private view {
        // Return data lands past this entry, in free memory.
        uint256 tmp = at + LEAN_ORACLE_WORDS * 32;
        (bool ok, uint256 roundId, uint256 answer,, uint256 updatedAt) = _round(feed, tmp);
        (bool okD, uint256 decimals_) = _word(feed, AggregatorV3Interface.decimals.selector);
        uint256 errors;
        if (!ok || !okD || roundId > MAX128 || updatedAt > MAX64 || decimals_ > 255) {
            (errors, answer, roundId, updatedAt, decimals_) = (LENS_READ_ORACLE, 0, 0, 0, 0);
        }
        uint256 seqLanes;
        if (seq != address(0)) {
            (bool okS,, uint256 seqAnswer, uint256 startedAt,) = _round(seq, tmp);
            if (!okS || startedAt > MAX64) {
                errors |= LENS_READ_SEQUENCER;
                (seqAnswer, startedAt) = (0, 0);
            }
            // uint256(1): a bare `1 : 0` is a uint8, which `<< 64` shifts out to 0.
            seqLanes = 1 | ((seqAnswer != 0 ? uint256(1) : 0) << 64) | (startedAt << 128);
        }
        assembly ("memory-safe") {
            mstore(at, answer)
            mstore(add(at, 0x20), or(roundId, or(shl(128, updatedAt), shl(192, decimals_))))
            mstore(add(at, 0x40), or(seqLanes, shl(192, errors)))
            mstore(add(at, 0x60), feed)
            mstore(add(at, 0x80), seq)
        }
        _reserve(at + LEAN_ORACLE_WORDS * 32);
    }

    /// @dev `latestRoundData()` of `feed` (answer as its raw word), via free memory at `tmp`.
    function _round(address feed, uint256 tmp)
        private
        view
        returns (bool ok, uint256 roundId, uint256 answer, uint256 startedAt, uint256 updatedAt)
    {
        bytes4 sel = AggregatorV3Interface.latestRoundData.selector;
        assembly ("memory-safe") {
            mstore(0, sel)
            ok := staticcall(READ_GAS, feed, 0, 4, 0, 0)
            if lt(returndatasize(), 0xa0) { ok := 0 }
            if ok {
                returndatacopy(tmp, 0, 0xa0)
                roundId := mload(tmp)
                answer := mload(add(tmp, 0x20))
                startedAt := mload(add(tmp, 0x40))
                updatedAt := mload(add(tmp, 0x60))
            }
        }
    }

    /// @dev One venue entry at `at` (see `LEAN_VENUE_WORDS`).
    function _leanVenue(address venue_, uint256 at) private view {
        (bool ok, uint256 price) = _word(venue_, IHedgeVenue.spotPrice.selector);
        uint256 errors;
        if (!ok) (errors, price) = (LENS_READ_POOL_PRICE, 0);
        // The pool's depth and fee tier for the keeper's cost model, when the venue says them
        // (a Uniswap V3 venue); 0 and 0 otherwise, which is not a read error.
        bytes4 sel = IUniswapV3Venue.depth.selector;
        uint256 depth;
        uint256 fee;
        assembly ("memory-safe") {
            mstore(0, sel)
            // (Yul evaluates arguments right to left: the call first, then its size.)
            let answered := staticcall(READ_GAS, venue_, 0, 4, 0, 0x40)
            if and(answered, iszero(lt(returndatasize(), 0x40))) {
                depth := mload(0)
                fee := and(mload(0x20), 0xffffff)
            }
            mstore(at, price)
            mstore(add(at, 0x20), or(or(venue_, shl(160, fee)), shl(192, errors)))
            mstore(add(at, 0x40), depth)
        }
        _reserve(at + LEAN_VENUE_WORDS * 32);
    }

    /// @dev The first word a no-argument view of `target` returns; `ok` false when the call
    ///      failed or returned less than a word (an account without code returns nothing).
    function _word(address target, bytes4 sel) private view returns (bool ok, uint256 w) {
        assembly ("memory-safe") {
            mstore(0, sel)
            ok := staticcall(READ_GAS, target, 0, 4, 0, 0x20)
            if lt(returndatasize(), 0x20) { ok := 0 }
            w := mul(mload(0), ok)
        }
    }

    function _feedIndex(Lean memory c, address feed, address seq) private pure returns (uint256) {
        uint256 k = c.lastFeed;
        if (k < c.nFeeds && c.feeds[k] == feed && c.seqs[k] == seq) return k;
        uint256 n = c.nFeeds;
        for (k = 0; k < n; ++k) {
            if (c.feeds[k] == feed && c.seqs[k] == seq) {
                c.lastFeed = k;
                return k;
            }
        }
        c.feeds[n] = feed;
        c.seqs[n] = seq;
        c.nFeeds = n + 1;
        c.lastFeed = n;
        return n;
    }

    function _venueIndex(Lean memory c, address venue_) private pure returns (uint256) {
        uint256 k = c.lastVenue;
        if (k < c.nVenues && c.venues[k] == venue_) return k;
        uint256 n = c.nVenues;
        for (k = 0; k < n; ++k) {
            if (c.venues[k] == venue_) {
                c.lastVenue = k;
                return k;
            }
        }
        c.venues[n] = venue_;
        c.nVenues = n + 1;
        c.lastVenue = n;
        return n;
    }

    // ------------------------------------------------------------------ internal: full

    // slither-disable-next-line unused-return -- the lens reports the raw round fields it needs; the keeper judges them
    function _readOracle(IOptionVault v, VaultSnapshot memory snap) private view returns (uint256) {
        try v.oracle() returns (address feed) {
            if (feed.code.length == 0) return LENS_READ_ORACLE;
            AggregatorV3Interface agg = AggregatorV3Interface(feed);
            try agg.latestRoundData() returns (
                uint80 roundId, int256 answer, uint256, uint256 updatedAt, uint80
            ) {
                snap.oracle.roundId = roundId;
                snap.oracle.answer = answer;
                snap.oracle.updatedAt = updatedAt;
            } catch {
                return LENS_READ_ORACLE;
            }
            try agg.decimals() returns (uint8 d) {
                snap.oracle.decimals = d;
            } catch {
                return LENS_READ_ORACLE;
            }
            return 0;
        } catch {
            return LENS_READ_ORACLE;
        }
    }

    // slither-disable-next-line unused-return -- the lens reports the raw round fields it needs; the keeper judges them
    function _readSequencer(IOptionVault v, VaultSnapshot memory snap)
        private
        view
        returns (uint256)
    {
        try v.sequencerFeed() returns (address feed) {
            if (feed == address(0)) return 0; // no feed (an L1, or a chain without one)
            if (feed.code.length == 0) return LENS_READ_SEQUENCER;
            try AggregatorV3Interface(feed).latestRoundData() returns (
                uint80, int256 answer, uint256 startedAt, uint256, uint80
            ) {
                // Chainlink sequencer feeds: 0 = up, anything else = down.
                snap.oracle.sequencerDown = answer != 0;
                snap.oracle.sequencerStartedAt = startedAt;
                return 0;
            } catch {
                return LENS_READ_SEQUENCER;
            }
        } catch {
            return LENS_READ_SEQUENCER;
        }
    }

    function _readVenue(IOptionVault v, VaultSnapshot memory snap) private view returns (uint256) {
        try v.venue() returns (address venue) {
            if (venue.code.length == 0) return LENS_READ_POOL_PRICE;
            try IHedgeVenue(venue).spotPrice() returns (uint256 price8) {
                snap.poolPrice = price8;
                return 0;
            } catch {
                return LENS_READ_POOL_PRICE;
            }
        } catch {
            return LENS_READ_POOL_PRICE;
        }
    }

    function _readTrigger(IOptionVault v, VaultSnapshot memory snap)
        private
        view
        returns (uint256)
    {
        try v.rebalanceTrigger() returns (bool ready, bytes memory data) {
            snap.triggerReady = ready;
            if (data.length >= 32) {
                uint256 t = abi.decode(data, (uint256));
                if (t > type(uint8).max) return LENS_READ_TRIGGER;
                // casting to 'uint8' is safe because t <= type(uint8).max was just checked
                // forge-lint: disable-next-line(unsafe-typecast)
                snap.trigger = uint8(t);
            }
            return 0;
        } catch {
            return LENS_READ_TRIGGER;
        }
    }

    function _readPositions(IOptionVault v, VaultSnapshot memory snap)
        private
        view
        returns (uint256 errors)
    {
        try v.netDelta() returns (int256 d) {
            snap.netDelta = d;
        } catch {
            errors |= LENS_READ_NET_DELTA;
        }
        try v.hedgeInventory() returns (uint256 inv) {
            snap.inventory = inv;
        } catch {
            errors |= LENS_READ_INVENTORY;
        }
        try v.thresholds() returns (IOptionVault.Thresholds memory t) {
            snap.thresholds = t;
        } catch {
            errors |= LENS_READ_THRESHOLDS;
        }
        try v.lastRebalance() returns (uint256 t) {
            snap.lastRebalance = t;
        } catch {
            errors |= LENS_READ_LAST_REBALANCE;
        }
        try v.volatility() returns (uint256 vol) {
            snap.volatility = vol;
        } catch {
            errors |= LENS_READ_VOLATILITY;
        }
        try v.openSeries() returns (IOptionVault.Series[] memory s) {
            snap.series = s;
        } catch {
            errors |= LENS_READ_SERIES;
        }
    }

    function _readAccounts(IOptionVault v, VaultSnapshot memory snap)
        private
        view
        returns (uint256 errors)
    {
        try v.totalAssets() returns (uint256 a) {
            snap.totalAssets = a;
        } catch {
            errors |= LENS_READ_TOTAL_ASSETS;
        }
        try v.totalSupply() returns (uint256 s) {
            snap.totalSupply = s;
        } catch {
            errors |= LENS_READ_TOTAL_SUPPLY;
        }
        try v.freeQuote() returns (uint256 q) {
            snap.freeQuote = q;
        } catch {
            errors |= LENS_READ_FREE_QUOTE;
        }
        try v.paused() returns (bool p) {
            snap.paused = p;
        } catch {
            errors |= LENS_READ_PAUSED;
        }
    }
}
