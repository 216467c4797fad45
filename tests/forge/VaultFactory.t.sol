// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";

import {VaultTestBase} from "./fixtures/VaultTestBase.sol";
import {VaultFactory} from "../../contracts/VaultFactory.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {OptionClaims} from "../../contracts/OptionClaims.sol";
import {IVaultFactory} from "../../contracts/interfaces/IVaultFactory.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";

contract VaultFactoryTest is VaultTestBase {
    function test_constructor_RevertWhen_ZeroAddress() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IVaultFactory.VaultFactoryZeroAddress.selector, bytes32("vaultImplementation")
            )
        );
        new VaultFactory(address(0), address(claimsImpl), admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IVaultFactory.VaultFactoryZeroAddress.selector, bytes32("claimsImplementation")
            )
        );
        new VaultFactory(address(vaultImpl), address(0), admin);
        vm.expectRevert(
            abi.encodeWithSelector(IVaultFactory.VaultFactoryZeroAddress.selector, bytes32("admin"))
        );
        new VaultFactory(address(vaultImpl), address(claimsImpl), address(0));
    }

    function test_createVault_ClonesInitializesAndRegisters() public {
        assertEq(factory.vaultCount(), 1);
        assertEq(factory.vaultAt(0), address(vault));
        assertTrue(factory.isVault(address(vault)));
        assertFalse(factory.isVault(address(claims)));
        assertEq(factory.vaultImplementation(), address(vaultImpl));
        assertEq(factory.claimsImplementation(), address(claimsImpl));
        // EIP-1167 runtime code is 45 bytes; the vault's carries its three immutable args.
        assertEq(address(vault).code.length, 45 + 96);
        assertEq(address(claims).code.length, 45);
        vm.prank(admin);
        uint256 g = gasleft();
        (address v2, address c2) = factory.createVault(_params());
        g -= gasleft();
        emit log_named_uint("createVault gas", g);
        assertEq(OptionVault(v2).claims(), c2);
        assertEq(OptionClaims(c2).vault(), v2);
        assertEq(factory.vaultCount(), 2);
        assertTrue(v2 != address(vault));
    }

    function test_createVault_EmitsVaultCreated() public {
        (address pv, address pc) = factory.predictAddresses(admin, bytes32("x"), _params());
        vm.expectEmit(address(factory));
        emit IVaultFactory.VaultCreated(pv, pc, admin, address(usdc), address(weth), 1);
        vm.prank(admin);
        factory.createVaultDeterministic(_params(), bytes32("x"));
    }

    function test_createVaultDeterministic_MatchesPrediction() public {
        (address pv, address pc) = factory.predictAddresses(admin, bytes32("salt"), _params());
        vm.prank(admin);
        (address v, address c) = factory.createVaultDeterministic(_params(), bytes32("salt"));
        assertEq(v, pv);
        assertEq(c, pc);
        (address other,) = factory.predictAddresses(bob, bytes32("salt"), _params());
        assertTrue(other != pv, "salts are bound to the deployer");
        IOptionVault.InitParams memory p = _params();
        p.sequencerFeed = address(0);
        (other,) = factory.predictAddresses(admin, bytes32("salt"), p);
        assertTrue(other != pv, "the vault's address commits to its immutable args");
    }

    /// @notice The sequencer feed is an immutable arg of the clone: one with no code made every
    ///         oracle check revert, and a price feed passed by mistake read as "sequencer down"
    ///         for good. Such a vault took deposits but could never write or hedge
    ///         (helper-121's audit). The factory refuses both before cloning.
    function test_createVault_RevertWhen_SequencerFeedHasNoCode() public {
        IOptionVault.InitParams memory p = _params();
        p.sequencerFeed = makeAddr("not a feed");
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IVaultFactory.VaultFactoryBadSequencerFeed.selector, p.sequencerFeed
            )
        );
        factory.createVault(p);
    }

    function test_createVault_RevertWhen_SequencerFeedIsAPriceFeed() public {
        IOptionVault.InitParams memory p = _params();
        p.sequencerFeed = address(feed); // answers 3,000e8: neither up (0) nor down (1)
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IVaultFactory.VaultFactoryBadSequencerFeed.selector, address(feed)
            )
        );
        factory.createVaultDeterministic(p, bytes32("seq"));
    }

    function test_createVault_RevertWhen_SequencerFeedAnswersShort() public {
        IOptionVault.InitParams memory p = _params();
        p.sequencerFeed = address(new OneWord());
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IVaultFactory.VaultFactoryBadSequencerFeed.selector, p.sequencerFeed
            )
        );
        factory.createVault(p);
    }

    function test_createVault_AcceptsASequencerFeedThatIsDownAndNone() public {
        IOptionVault.InitParams memory p = _params();
        seqFeed.updateAnswer(1); // down now: a feed, only its state is bad
        vm.prank(admin);
        (address v,) = factory.createVault(p);
        assertEq(OptionVault(v).sequencerFeed(), address(seqFeed));
        p.sequencerFeed = address(0); // a chain without one
        vm.prank(admin);
        (v,) = factory.createVault(p);
        assertEq(OptionVault(v).sequencerFeed(), address(0));
    }

    function test_createVault_RevertWhen_NotDeployer() public {
        bytes32 role = factory.DEPLOYER_ROLE();
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, bob, role
            )
        );
        factory.createVault(_params());
    }

    function test_createVault_RevertWhen_ParamsInvalid() public {
        IOptionVault.InitParams memory p = _params();
        p.admin = address(0);
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IOptionVault.OptionVaultZeroAddress.selector, bytes32("admin"))
        );
        factory.createVault(p);
        assertEq(factory.vaultCount(), 1, "nothing registered");
    }

    function test_clones_CannotBeReinitialized() public {
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        claims.initialize(bob, "");
        vm.expectRevert(abi.encodeWithSelector(Initializable.InvalidInitialization.selector));
        claimsImpl.initialize(bob, "");
    }

    function test_vaults_Pages() public {
        vm.startPrank(admin);
        for (uint256 i = 0; i < 4; i++) {
            factory.createVault(_params());
        }
        vm.stopPrank();
        address[] memory page = factory.vaults(1, 2);
        assertEq(page.length, 2);
        assertEq(page[0], factory.vaultAt(1));
        assertEq(page[1], factory.vaultAt(2));
        page = factory.vaults(3, 100);
        assertEq(page.length, 2, "clipped at the end");
        page = factory.vaults(5, 1);
        assertEq(page.length, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IVaultFactory.VaultFactoryPageOutOfRange.selector, 6, 1)
        );
        factory.vaults(6, 1);
    }
}

/// @dev A contract whose every call answers one word: not a feed.
contract OneWord {
    fallback() external {
        assembly {
            mstore(0, 1)
            return(0, 0x20)
        }
    }
}
