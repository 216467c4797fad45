// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
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
    LENS_READ_ALL
} from "./interfaces/IVaultLens.sol";

/// @title VaultLens
/// @notice Reads everything the keeper needs about N vaults in one `eth_call`.
/// @dev Stateless. Two layers of containment (see `IVaultLens`):
///      1. `snapshot` reads each vault through `this.snapshotOne(vault)` inside `try`, so even an
///         answer that cannot be decoded (which a plain `try` cannot catch: decoding happens in
///         the caller's frame) only marks that vault `LENS_READ_ALL`; an address with no code is
///         marked without being called;
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
                try this.snapshotOne(vault) returns (VaultSnapshot memory snap) {
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

    // ------------------------------------------------------------------ internal

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
