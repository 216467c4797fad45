// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Unit-test stub: a venue whose `spotPrice` a test sets (0 makes it revert).
contract StubVenue {
    uint256 public price8;

    constructor(uint256 price8_) {
        price8 = price8_;
    }

    function setPrice(uint256 price8_) external {
        price8 = price8_;
    }

    function spotPrice() external view returns (uint256) {
        require(price8 != 0, "no liquidity");
        return price8;
    }
}
