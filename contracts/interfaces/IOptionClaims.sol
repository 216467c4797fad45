// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IOptionClaims
/// @notice ERC-1155 claims on one vault's option series: token id = series id, one token = one
///         contract (1e18 units = one whole underlying). Only the vault mints and burns.
interface IOptionClaims {
    /// @notice The caller is not this token's vault.
    error OptionClaimsUnauthorized(address caller);
    /// @notice The vault address passed to `initialize` is zero.
    error OptionClaimsZeroVault();

    /// @notice Initializes a clone for `vault` (callable once).
    function initialize(address vault, string calldata uri) external;

    /// @notice Mints `amount` claims of series `id` to `to` (vault only).
    function mint(address to, uint256 id, uint256 amount) external;

    /// @notice Burns `amount` claims of series `id` from `from` (vault only).
    function burn(address from, uint256 id, uint256 amount) external;

    /// @notice The vault allowed to mint and burn.
    function vault() external view returns (address);
}
