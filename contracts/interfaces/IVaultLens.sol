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

/// @title IVaultLens
/// @notice One view call returns everything an off-chain keeper needs for N vaults.
/// @dev Units: prices 1e8 (Chainlink USD), underlying amounts and deltas 1e18, quote amounts in
///      quote-token units (1e6), vol 1e18 (0.8e18 = 80%/yr). The lens returns each open series
///      so the keeper prices them itself, plus the vault's own on-chain net delta.
///      Robustness: `snapshot` never reverts because of one address. Each vault is read in its
///      own guarded sub-call, and each read inside it in its own try/catch, so a vault whose
///      oracle is down, or an address that is not a vault at all (an EOA, a token), comes back
///      with `valid == false` and the failed reads flagged in `readErrors` (bits `LENS_READ_*`
///      in this file), while every other vault is read normally.
interface IVaultLens {
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
}
