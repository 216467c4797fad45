// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";

contract MintableERC20Test is Test {
    MintableERC20 internal token;

    function setUp() public {
        token = new MintableERC20("USD Coin", "USDC", 6);
    }

    function test_decimals_ReturnsConstructorValue() public view {
        assertEq(token.decimals(), 6);
    }

    function test_mint_CreditsRecipientAndSupply() public {
        token.mint(address(0xBEEF), 1_000e6);
        assertEq(token.balanceOf(address(0xBEEF)), 1_000e6);
        assertEq(token.totalSupply(), 1_000e6);
    }

    function testFuzz_mint_AddsUp(address to, uint128 a, uint128 b) public {
        to = address(uint160(bound(uint160(to), 1, type(uint160).max)));
        token.mint(to, a);
        token.mint(to, b);
        assertEq(token.balanceOf(to), uint256(a) + uint256(b));
    }
}
