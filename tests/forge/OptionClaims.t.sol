// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {OptionClaims} from "../../contracts/OptionClaims.sol";
import {IOptionClaims} from "../../contracts/interfaces/IOptionClaims.sol";

contract OptionClaimsTest is Test {
    OptionClaims internal claims;
    address internal vault = makeAddr("vault");
    address internal holder = makeAddr("holder");

    function setUp() public {
        OptionClaims impl = new OptionClaims();
        claims = OptionClaims(Clones.clone(address(impl)));
        claims.initialize(vault, "ipfs://x/{id}");
    }

    function test_initialize_SetsVaultAndUri() public view {
        assertEq(claims.vault(), vault);
        assertEq(claims.uri(1), "ipfs://x/{id}");
    }

    function test_initialize_RevertWhen_ZeroVault() public {
        OptionClaims c = OptionClaims(Clones.clone(address(new OptionClaims())));
        vm.expectRevert(abi.encodeWithSelector(IOptionClaims.OptionClaimsZeroVault.selector));
        c.initialize(address(0), "");
    }

    function test_mintBurn_OnlyVault() public {
        vm.prank(vault);
        claims.mint(holder, 3, 5e18);
        assertEq(claims.balanceOf(holder, 3), 5e18);
        vm.prank(vault);
        claims.burn(holder, 3, 2e18);
        assertEq(claims.balanceOf(holder, 3), 3e18);
    }

    function test_mint_RevertWhen_NotVault() public {
        vm.prank(holder);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionClaims.OptionClaimsUnauthorized.selector, holder)
        );
        claims.mint(holder, 1, 1);
    }

    function test_burn_RevertWhen_NotVault() public {
        vm.prank(vault);
        claims.mint(holder, 1, 1);
        vm.prank(holder);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionClaims.OptionClaimsUnauthorized.selector, holder)
        );
        claims.burn(holder, 1, 1);
    }

    function testFuzz_transfer_HoldersMoveClaims(uint256 amount, uint256 moved) public {
        amount = bound(amount, 1, 1e30);
        moved = bound(moved, 0, amount);
        vm.prank(vault);
        claims.mint(holder, 9, amount);
        address to = makeAddr("to");
        vm.prank(holder);
        claims.safeTransferFrom(holder, to, 9, moved, "");
        assertEq(claims.balanceOf(to, 9) + claims.balanceOf(holder, 9), amount);
    }
}
