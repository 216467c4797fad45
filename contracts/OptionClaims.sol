// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {
    ERC1155Upgradeable
} from "@openzeppelin/contracts-upgradeable/token/ERC1155/ERC1155Upgradeable.sol";
import {IOptionClaims} from "./interfaces/IOptionClaims.sol";

/// @title OptionClaims
/// @notice ERC-1155 claims on one vault's option series (id = series id, 1e18 = one contract).
/// @dev Deployed as an EIP-1167 clone per vault by {VaultFactory}; the implementation locks its
///      own initializer. Holders transfer claims freely; only the vault mints and burns.
contract OptionClaims is ERC1155Upgradeable, IOptionClaims {
    // ------------------------------------------------------------------ storage

    address private _vault;

    // ------------------------------------------------------------------ setup

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @inheritdoc IOptionClaims
    function initialize(address vault_, string calldata uri_) external initializer {
        if (vault_ == address(0)) revert OptionClaimsZeroVault();
        __ERC1155_init(uri_);
        _vault = vault_;
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IOptionClaims
    function mint(address to, uint256 id, uint256 amount) external {
        _onlyVault();
        _mint(to, id, amount, "");
    }

    /// @inheritdoc IOptionClaims
    function burn(address from, uint256 id, uint256 amount) external {
        _onlyVault();
        _burn(from, id, amount);
    }

    /// @inheritdoc IOptionClaims
    function vault() external view returns (address) {
        return _vault;
    }

    // ------------------------------------------------------------------ internal

    function _onlyVault() private view {
        if (msg.sender != _vault) revert OptionClaimsUnauthorized(msg.sender);
    }
}
