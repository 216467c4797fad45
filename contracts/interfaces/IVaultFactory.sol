// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "./IOptionVault.sol";

/// @title IVaultFactory
/// @notice Deploys option vaults, each with its own claims token, as EIP-1167 clones of two
///         implementations, and keeps the registry a keeper pages through.
interface IVaultFactory {
    /// @notice A required address is zero (`field` names it).
    error VaultFactoryZeroAddress(bytes32 field);
    /// @notice A registry page starts past the end.
    error VaultFactoryPageOutOfRange(uint256 start, uint256 count);
    /// @notice The sequencer uptime feed has no code, does not answer `latestRoundData`, or
    ///         answers other than 0 (up) or 1 (down): a price feed passed by mistake. It is an
    ///         immutable arg of the clone, so such a vault could never write or hedge.
    error VaultFactoryBadSequencerFeed(address feed);

    /// @notice A vault and its claims token were created.
    event VaultCreated(
        address indexed vault,
        address indexed claims,
        address indexed admin,
        address asset,
        address underlying,
        uint256 index
    );

    /// @notice Clones a vault and a claims token, initializes both and registers the vault
    ///         (DEPLOYER_ROLE). `params.claims` is ignored: the factory makes the claims token.
    ///         The vault is a clone with immutable args, abi.encode(params.asset,
    ///         params.underlying, params.sequencerFeed), which it reads from its code.
    function createVault(IOptionVault.InitParams calldata params)
        external
        returns (address vault, address claims);

    /// @notice Same as `createVault`, at addresses fixed by (msg.sender, salt).
    function createVaultDeterministic(IOptionVault.InitParams calldata params, bytes32 salt)
        external
        returns (address vault, address claims);

    /// @notice Where `createVaultDeterministic(params, salt)` from `deployer` puts the vault and
    ///         claims (the vault's address depends on its immutable args, taken from `params`).
    function predictAddresses(
        address deployer,
        bytes32 salt,
        IOptionVault.InitParams calldata params
    ) external view returns (address vault, address claims);

    /// @notice The vault implementation cloned.
    function vaultImplementation() external view returns (address);

    /// @notice The claims implementation cloned.
    function claimsImplementation() external view returns (address);

    /// @notice Number of vaults created.
    function vaultCount() external view returns (uint256);

    /// @notice The vault at `index` (creation order).
    function vaultAt(uint256 index) external view returns (address);

    /// @notice Up to `count` vaults from `start` (a page of the registry, for large N).
    function vaults(uint256 start, uint256 count) external view returns (address[] memory page);

    /// @notice Whether this factory created `vault`.
    function isVault(address vault) external view returns (bool);

    /// @notice Role allowed to create vaults.
    function DEPLOYER_ROLE() external view returns (bytes32);
}
