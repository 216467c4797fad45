// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";
import {OptionVault} from "../../contracts/OptionVault.sol";
import {VaultLens} from "../../contracts/VaultLens.sol";
import {IHedgeVenue} from "../../contracts/interfaces/IHedgeVenue.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../contracts/interfaces/IRebalanceBatcher.sol";
import {IVaultLens} from "../../contracts/interfaces/IVaultLens.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";
import {MockVenue} from "./mocks/MockVenue.sol";

/// @notice A venue whose `spotPrice` answers the oracle's price but burns every unit of gas it
///         is given (a vault admin's `setVenue` takes any non-zero address).
contract GasBurnerVenue {
    function spotPrice() external view returns (uint256 p) {
        p = 3000e8;
        while (gasleft() > 0) {
            p = uint256(keccak256(abi.encode(p)));
        }
    }

    function swapExactIn(address, address, uint256, uint256, address)
        external
        pure
        returns (uint256)
    {
        revert("never");
    }
}

/// @notice A venue that pulls one unit less than `amountIn` and pays for what it pulled (an
///         exact-in swap it is not; `IHedgeVenue` asks for one).
contract ShortTakeVenue {
    address public immutable quote;
    uint256 public immutable price8;

    constructor(address quote_, uint256 price8_) {
        quote = quote_;
        price8 = price8_;
    }

    function spotPrice() external view returns (uint256) {
        return price8;
    }

    function swapExactIn(address tokenIn, address tokenOut, uint256 amountIn, uint256, address to)
        external
        returns (uint256 out)
    {
        uint256 taken = amountIn - 1;
        IERC20(tokenIn).transferFrom(msg.sender, address(this), taken);
        out = tokenIn == quote ? taken * 1e20 / price8 : taken * price8 / 1e20;
        MintableERC20(tokenOut).mint(to, out);
    }
}

/// @notice Sixth audit: a venue that reverts in a batch's swap phase, and a vault that burns
///         the lens's gas.
contract AuditFindings6Test is BatchTestBase {
    OptionVault internal buyer5; // wants to buy 5 WETH
    OptionVault internal seller3; // holds 3 WETH, wants 0
    OptionVault internal misrouted; // wants to buy 2 WETH; its venue trades another pair

    function setUp() public override {
        super.setUp();
        buyer5 = vault;
        seller3 = _newVault(3e18);
        // Its admin pointed it at the venue of another pair (setVenue checks only != 0): that
        // venue's spot is near ETH's, so the vault's own gap check passes, but the venue cannot
        // trade (USDC, WETH).
        MintableERC20 steth = new MintableERC20("Staked Ether", "stETH", 18);
        MockVenue otherPair = new MockVenue(address(usdc), address(steth), uint256(PRICE));
        IOptionVault.InitParams memory p = _params();
        p.venue = address(otherPair);
        vm.prank(admin);
        (address m,) = factory.createVault(p);
        misrouted = OptionVault(m);
        _enrol(misrouted);
        vm.startPrank(admin);
        buyer5.setTargetDelta(5e18);
        misrouted.setTargetDelta(2e18);
        vm.stopPrank();
        _warp(60);
    }

    /// @dev A venue that reverts in phase 2 for another reason than a short output (here
    ///      `HedgeVenueUnsupportedPair`; equally a partial fill, an out-of-gas, or any error a
    ///      hostile venue picks) reverts the whole `rebalanceBatch`: a leg cannot be dropped
    ///      once its input was sent, and the revert names no vault (IRebalanceBatcher says so).
    ///      The keeper's simulation tries each vault alone (next test) and drops the one that
    ///      fails (tests/unit/test_execution_simulate.py).
    function test_rebalanceBatch_RevertWhen_AVenueRevertsInTheSwapPhase() public {
        address[] memory vs = new address[](3);
        (vs[0], vs[1], vs[2]) = (address(buyer5), address(seller3), address(misrouted));
        vm.prank(keeper);
        vm.expectPartialRevert(IHedgeVenue.HedgeVenueUnsupportedPair.selector);
        batcher.rebalanceBatch(vs, _zeros(3));
    }

    /// @dev What the keeper's simulation relies on: alone, the vault's venue revert is its own
    ///      failed call, and the batch without it trades.
    function test_rebalanceBatch_AVaultWhoseVenueRevertsFailsAlone() public {
        address[] memory one = new address[](1);
        one[0] = address(misrouted);
        IRebalanceBatcher.Outcome[] memory o = _batch(one, _zeros(1));
        assertFalse(o[0].ok, "the misrouted vault fails alone");
        assertEq(bytes4(o[0].reason), IHedgeVenue.HedgeVenueUnsupportedPair.selector);
        o = _batch(_addrs(buyer5, seller3), _zeros(2));
        assertTrue(o[0].ok && o[1].ok, "the healthy vaults trade without it");
        assertEq(buyer5.hedgeInventory(), 5e18);
        assertEq(seller3.hedgeInventory(), 0);
        assertEq(misrouted.hedgeInventory(), 0);
    }

    /// @dev The batcher must hold nothing after a batch. A venue that pulled less than the
    ///      `amountIn` it was approved for (while still paying every leg its `minOut`) left the
    ///      rest in the batcher, which has no way to give it back: the batcher reset the
    ///      allowance and went on. Such a swap now reverts the batch, naming the venue.
    function test_rebalanceBatch_RevertWhen_TheVenueTakesLessThanItsInput() public {
        ShortTakeVenue short = new ShortTakeVenue(address(usdc), uint256(PRICE));
        IOptionVault.InitParams memory p = _params();
        p.venue = address(short);
        address[] memory vs = new address[](2);
        for (uint256 i; i < 2; ++i) {
            vm.prank(admin);
            (address v,) = factory.createVault(p);
            _enrol(OptionVault(v));
            vm.prank(admin);
            OptionVault(v).setTargetDelta(int256(1e18 + i * 1e18));
            vs[i] = v;
        }
        _warp(60);
        uint256 held = usdc.balanceOf(address(batcher));
        vm.prank(keeper);
        (bool ok, bytes memory ret) =
            address(batcher).call(abi.encodeCall(IRebalanceBatcher.rebalanceBatch, (vs, _zeros(2))));
        assertEq(usdc.balanceOf(address(batcher)), held, "the batcher kept unspent input");
        assertFalse(ok);
        assertEq(bytes4(ret), IRebalanceBatcher.RebalanceBatcherVenueInputLeft.selector);
    }

    /// @dev `VaultLens.snapshot` promises never to revert because of one address, but its
    ///      guarded sub-call `this.snapshotOne(vault)` forwarded all the gas there is: one vault
    ///      whose admin set a venue that burns gas in `spotPrice` took 63/64 of it, and under a
    ///      30M `eth_call` cap the whole snapshot ran out of gas. Each vault's read is now capped.
    function test_snapshot_GasBurningVenueLeavesOtherVaultsReadable() public {
        address[] memory vs = _lensVaults(25);
        GasBurnerVenue burner = new GasBurnerVenue();
        vm.prank(admin);
        buyer5.setVenue(address(burner));
        (bool ok, uint256 invalid) = _snapshot30M(vs);
        assertTrue(ok, "snapshot ran out of gas because of one vault");
        assertEq(invalid, 0, "healthy vaults after the gas burner were not read");
    }

    /// @dev The control: the same 25 vaults, all healthy, fit a 30M cap.
    function test_snapshot_TwentyFiveHealthyVaultsFit30M() public {
        (bool ok, uint256 invalid) = _snapshot30M(_lensVaults(25));
        assertTrue(ok);
        assertEq(invalid, 0);
    }

    /// @dev The cap leaves a full book readable: a vault with `MAX_OPEN_SERIES` open series.
    function test_snapshot_AFullBookIsReadUnderTheCap() public {
        uint256 n = buyer5.MAX_OPEN_SERIES();
        for (uint256 i; i < n; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            uint64 expiry = uint64(block.timestamp + 7 days + i * 1 days);
            _write(IOptionVault.OptionType.Call, 3000e8 + i * 50e8, 1000e8, expiry, 1e17, 0);
        }
        address[] memory vs = new address[](1);
        vs[0] = address(buyer5);
        VaultLens lens = new VaultLens();
        uint256 before = gasleft();
        IVaultLens.VaultSnapshot[] memory snaps;
        (snaps,,) = lens.snapshot(vs);
        // The cap is 3M: a full book uses well under half of it.
        assertLt(before - gasleft(), 1_500_000, "a full book's snapshot");
        assertTrue(snaps[0].valid, "a full book is read");
        assertEq(snaps[0].series.length, n);
    }

    function _lensVaults(uint256 n) internal returns (address[] memory vs) {
        vs = new address[](n);
        vs[0] = address(buyer5);
        for (uint256 i = 1; i < n; ++i) {
            vm.prank(admin);
            (address a,) = factory.createVault(_params());
            vs[i] = a;
        }
    }

    /// @dev `snapshot(vs)` under a 30M gas cap (a node's `eth_call` cap): whether it returned,
    ///      and how many vaults after the first came back invalid.
    function _snapshot30M(address[] memory vs) internal returns (bool ok, uint256 invalid) {
        VaultLens lens = new VaultLens();
        bytes memory ret;
        (ok, ret) =
            address(lens).staticcall{gas: 30_000_000}(abi.encodeCall(IVaultLens.snapshot, (vs)));
        if (!ok) return (ok, 0);
        (IVaultLens.VaultSnapshot[] memory snaps,,) =
            abi.decode(ret, (IVaultLens.VaultSnapshot[], uint256, uint256));
        for (uint256 i = 1; i < snaps.length; ++i) {
            if (!snaps[i].valid) ++invalid;
        }
    }
}
