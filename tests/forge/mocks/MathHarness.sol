// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NormalCdf} from "../../../contracts/libraries/NormalCdf.sol";
import {BlackScholes} from "../../../contracts/libraries/BlackScholes.sol";

/// @notice Exposes the internal math libraries to tests (and to gas measurement).
contract MathHarness {
    function cdf(int256 x) external pure returns (int256) {
        return NormalCdf.cdf(x);
    }

    function pdf(int256 x) external pure returns (int256) {
        return NormalCdf.pdf(x);
    }

    function vanilla(bool isCall, uint256 spot8, uint256 strike8, uint256 vol, uint256 tau)
        external
        pure
        returns (BlackScholes.Greeks memory)
    {
        return BlackScholes.vanilla(isCall, spot8, strike8, vol, tau);
    }

    function capped(
        bool isCall,
        uint256 spot8,
        uint256 strike8,
        uint256 cap8,
        uint256 vol,
        uint256 tau
    ) external pure returns (BlackScholes.Greeks memory) {
        return BlackScholes.capped(isCall, spot8, strike8, cap8, vol, tau);
    }

    function cappedDelta(
        bool isCall,
        uint256 spot8,
        uint256 strike8,
        uint256 cap8,
        uint256 vol,
        uint256 tau
    ) external pure returns (int256) {
        return BlackScholes.cappedDelta(isCall, spot8, strike8, cap8, vol, tau);
    }
}
