// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "./IOptionVault.sol";

/// @title IVaultLens
/// @notice One view call returns everything an off-chain keeper needs for N vaults.
/// @dev Units: prices 1e8 (Chainlink USD), underlying amounts and deltas 1e18, quote amounts in
///      quote-token units (1e6), vol 1e18 (0.8e18 = 80%/yr), gamma per 1e18 underlying per
///      1e8 price unit is avoided: the lens returns each open series so the keeper prices them
///      itself, plus the vault's own on-chain net delta.
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
        bool triggerReady;
        uint8 trigger;
        /// @dev The open (unsettled) series.
        IOptionVault.Series[] series;
    }

    /// @notice Snapshots `vaults`, in order, at the current block.
    function snapshot(address[] calldata vaults)
        external
        view
        returns (VaultSnapshot[] memory snaps, uint256 blockNumber, uint256 blockTimestamp);
}
