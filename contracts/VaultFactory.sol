// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {IVaultFactory} from "./interfaces/IVaultFactory.sol";
import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IOptionClaims} from "./interfaces/IOptionClaims.sol";

/// @title VaultFactory
/// @notice Deploys {OptionVault}s and their {OptionClaims} as EIP-1167 clones (about 45k gas of
///         proxy instead of a full deployment each; the vault's with its asset, underlying and
///         sequencer feed appended as immutable args) and keeps the registry.
/// @dev Both clones are created and initialized in one transaction, so nobody can initialize
///      them first. The implementations lock their own initializers in their constructors.
contract VaultFactory is AccessControl, IVaultFactory {
    // ------------------------------------------------------------------ storage

    /// @inheritdoc IVaultFactory
    bytes32 public constant DEPLOYER_ROLE = keccak256("DEPLOYER_ROLE");

    address private immutable _vaultImplementation;
    address private immutable _claimsImplementation;
    address[] private _vaults;
    mapping(address vault => bool) private _isVault;

    // ------------------------------------------------------------------ setup

    /// @param vaultImpl An {OptionVault} implementation (initializers disabled).
    /// @param claimsImpl An {OptionClaims} implementation (initializers disabled).
    /// @param admin Holds DEFAULT_ADMIN_ROLE and DEPLOYER_ROLE.
    constructor(address vaultImpl, address claimsImpl, address admin) {
        if (vaultImpl == address(0)) revert VaultFactoryZeroAddress("vaultImplementation");
        if (claimsImpl == address(0)) revert VaultFactoryZeroAddress("claimsImplementation");
        if (admin == address(0)) revert VaultFactoryZeroAddress("admin");
        _vaultImplementation = vaultImpl;
        _claimsImplementation = claimsImpl;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(DEPLOYER_ROLE, admin);
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IVaultFactory
    function createVault(IOptionVault.InitParams calldata params)
        external
        onlyRole(DEPLOYER_ROLE)
        returns (address vault, address claims)
    {
        vault = Clones.cloneWithImmutableArgs(_vaultImplementation, _vaultArgs(params));
        claims = Clones.clone(_claimsImplementation);
        _init(vault, claims, params);
    }

    /// @inheritdoc IVaultFactory
    function createVaultDeterministic(IOptionVault.InitParams calldata params, bytes32 salt)
        external
        onlyRole(DEPLOYER_ROLE)
        returns (address vault, address claims)
    {
        (bytes32 vaultSalt, bytes32 claimsSalt) = _salts(msg.sender, salt);
        vault = Clones.cloneDeterministicWithImmutableArgs(
            _vaultImplementation, _vaultArgs(params), vaultSalt
        );
        claims = Clones.cloneDeterministic(_claimsImplementation, claimsSalt);
        _init(vault, claims, params);
    }

    /// @inheritdoc IVaultFactory
    function predictAddresses(
        address deployer,
        bytes32 salt,
        IOptionVault.InitParams calldata params
    ) external view returns (address vault, address claims) {
        (bytes32 vaultSalt, bytes32 claimsSalt) = _salts(deployer, salt);
        vault = Clones.predictDeterministicAddressWithImmutableArgs(
            _vaultImplementation, _vaultArgs(params), vaultSalt
        );
        claims = Clones.predictDeterministicAddress(_claimsImplementation, claimsSalt);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IVaultFactory
    function vaultImplementation() external view returns (address) {
        return _vaultImplementation;
    }

    /// @inheritdoc IVaultFactory
    function claimsImplementation() external view returns (address) {
        return _claimsImplementation;
    }

    /// @inheritdoc IVaultFactory
    function vaultCount() external view returns (uint256) {
        return _vaults.length;
    }

    /// @inheritdoc IVaultFactory
    function vaultAt(uint256 index) external view returns (address) {
        return _vaults[index];
    }

    /// @inheritdoc IVaultFactory
    function vaults(uint256 start, uint256 count) external view returns (address[] memory page) {
        uint256 n = _vaults.length;
        if (start > n) revert VaultFactoryPageOutOfRange(start, count);
        uint256 end = count > n - start ? n : start + count;
        page = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            page[i - start] = _vaults[i];
        }
    }

    /// @inheritdoc IVaultFactory
    function isVault(address vault) external view returns (bool) {
        return _isVault[vault];
    }

    // ------------------------------------------------------------------ internal

    function _init(address vault, address claims, IOptionVault.InitParams calldata params) private {
        _checkSequencerFeed(params.sequencerFeed);
        IOptionClaims(claims).initialize(vault, "");
        IOptionVault.InitParams memory p = params;
        p.claims = claims;
        IOptionVault(vault).initialize(p);
        _vaults.push(vault);
        _isVault[vault] = true;
        emit VaultCreated(vault, claims, p.admin, p.asset, p.underlying, _vaults.length - 1);
    }

    /// @dev The sequencer uptime feed is an immutable arg of the clone: refuse one with no code,
    ///      that does not answer, or that answers other than 0 (up) or 1 (down), a price feed
    ///      passed by mistake. Zero is a chain without one. The feed's state (down now) is not
    ///      checked: the vault waits for it as it does later.
    function _checkSequencerFeed(address feed) private view {
        if (feed == address(0)) return;
        if (feed.code.length == 0) revert VaultFactoryBadSequencerFeed(feed);
        // A low-level call: a contract whose answer is short (a fallback that returns a word)
        // made a `try` revert with empty data, not with this error.
        (bool ok, bytes memory answer) =
            feed.staticcall(abi.encodeCall(AggregatorV3Interface.latestRoundData, ()));
        if (!ok || answer.length < 160) revert VaultFactoryBadSequencerFeed(feed);
        (, int256 up,,,) = abi.decode(answer, (uint80, int256, uint256, uint256, uint80));
        if (up != 0 && up != 1) revert VaultFactoryBadSequencerFeed(feed);
    }

    /// @dev The vault clone's immutable args ({OptionVault} reads them from its code).
    function _vaultArgs(IOptionVault.InitParams calldata p) private pure returns (bytes memory) {
        return abi.encode(p.asset, p.underlying, p.sequencerFeed);
    }

    /// @dev Salts bound to the caller, so nobody can take another deployer's addresses.
    function _salts(address deployer, bytes32 salt) private pure returns (bytes32, bytes32) {
        return (
            keccak256(abi.encode(deployer, salt, "vault")),
            keccak256(abi.encode(deployer, salt, "claims"))
        );
    }
}
