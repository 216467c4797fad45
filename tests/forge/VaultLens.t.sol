// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

import {VaultLens} from "../../contracts/VaultLens.sol";
import {
    IVaultLens,
    LENS_READ_ORACLE,
    LENS_READ_SEQUENCER,
    LENS_READ_NET_DELTA,
    LENS_READ_POOL_PRICE,
    LENS_READ_TOTAL_ASSETS,
    LENS_READ_TRIGGER,
    LENS_READ_SERIES,
    LENS_READ_ALL
} from "../../contracts/interfaces/IVaultLens.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {StubOptionVault} from "./stubs/StubOptionVault.sol";
import {StubVenue} from "./stubs/StubVenue.sol";
import {MalformedVault} from "./stubs/MalformedVault.sol";
import {UniswapV3Fixture} from "./utils/UniswapV3Fixture.sol";
import {UniswapV3Venue} from "../../contracts/UniswapV3Venue.sol";
import {MintableERC20} from "../../contracts/devnet/MintableERC20.sol";

contract VaultLensTest is Test {
    VaultLens internal lens;
    MockV3Aggregator internal feed;
    MockV3Aggregator internal sequencer;
    StubVenue internal venue;

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(123);
        lens = new VaultLens();
        feed = new MockV3Aggregator(8, 3000e8);
        sequencer = new MockV3Aggregator(0, 0);
        venue = new StubVenue(3001e8);
    }

    function _vault(uint256 nSeries) internal returns (StubOptionVault v) {
        v = new StubOptionVault(address(this), address(feed), address(sequencer), address(venue));
        v.setState(-2e18, 5e18, 1_000_000e6, 999_000e6, 400_000e6, false);
        v.setTrigger(true, IOptionVault.Trigger.Band);
        v.addSeries(nSeries);
    }

    function _vaults(uint256 n, uint256 nSeries) internal returns (address[] memory a) {
        a = new address[](n);
        for (uint256 i; i < n; ++i) {
            a[i] = address(_vault(nSeries));
        }
    }

    function test_snapshot_ReadsEverything() public {
        StubOptionVault v = _vault(4);
        v.setState(-2e18, 5e18, 1_000_000e6, 999_000e6, 400_000e6, true);
        address[] memory a = new address[](1);
        a[0] = address(v);

        (IVaultLens.VaultSnapshot[] memory snaps, uint256 bn, uint256 ts) = lens.snapshot(a);

        assertEq(bn, 123);
        assertEq(ts, 1_700_000_000);
        assertEq(snaps.length, 1);
        IVaultLens.VaultSnapshot memory s = snaps[0];
        assertEq(s.vault, address(v));
        assertTrue(s.valid);
        assertEq(s.readErrors, 0);
        assertEq(s.oracle.roundId, 1);
        assertEq(s.oracle.answer, 3000e8);
        assertEq(s.oracle.updatedAt, 1_700_000_000);
        assertEq(s.oracle.decimals, 8);
        assertFalse(s.oracle.sequencerDown);
        assertEq(s.oracle.sequencerStartedAt, 1_700_000_000);
        assertEq(s.netDelta, -2e18);
        assertEq(s.inventory, 5e18);
        assertEq(s.thresholds.band, 1e18);
        assertEq(s.thresholds.maxTrade, 10e18);
        assertEq(s.thresholds.sequencerGracePeriod, 3600);
        assertEq(s.lastRebalance, 0);
        assertEq(s.poolPrice, 3001e8);
        assertEq(s.volatility, 8e17);
        assertEq(s.totalAssets, 1_000_000e6);
        assertEq(s.totalSupply, 999_000e6);
        assertEq(s.freeQuote, 400_000e6);
        assertTrue(s.paused);
        assertTrue(s.triggerReady);
        assertEq(s.trigger, uint8(IOptionVault.Trigger.Band));
        assertEq(s.series.length, 4);
        assertEq(s.series[1].id, 2);
        assertEq(uint8(s.series[1].optionType), uint8(IOptionVault.OptionType.Put));
        assertEq(s.series[3].strike, 3400e8);
        assertEq(s.series[3].size, 4e18);
    }

    function test_snapshot_ReflectsOracleAndSequencerUpdates() public {
        address[] memory a = _vaults(1, 0);
        vm.warp(1_700_000_600);
        feed.updateAnswer(2900e8);
        sequencer.updateAnswer(1); // down
        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        assertEq(snaps[0].oracle.roundId, 2);
        assertEq(snaps[0].oracle.answer, 2900e8);
        assertEq(snaps[0].oracle.updatedAt, 1_700_000_600);
        assertTrue(snaps[0].oracle.sequencerDown);
        assertEq(snaps[0].oracle.sequencerStartedAt, 1_700_000_600);
        assertEq(snaps[0].series.length, 0);
    }

    function test_snapshot_NoSequencerFeedIsNotAnError() public {
        StubOptionVault v =
            new StubOptionVault(address(this), address(feed), address(0), address(venue));
        address[] memory a = new address[](1);
        a[0] = address(v);
        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        assertTrue(snaps[0].valid);
        assertFalse(snaps[0].oracle.sequencerDown);
        assertEq(snaps[0].oracle.sequencerStartedAt, 0);
    }

    function test_snapshot_NonVaultsDoNotRevert() public {
        address[] memory a = new address[](5);
        a[0] = makeAddr("eoa");
        a[1] = address(_vault(2));
        a[2] = address(feed); // a contract without the vault functions
        a[3] = address(new MalformedVault()); // answers undecodable data
        a[4] = address(_vault(1));

        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);

        assertEq(snaps.length, 5);
        for (uint256 i; i < 5; ++i) {
            assertEq(snaps[i].vault, a[i]);
        }
        assertFalse(snaps[0].valid);
        assertEq(snaps[0].readErrors, LENS_READ_ALL);
        assertTrue(snaps[1].valid);
        assertEq(snaps[1].series.length, 2);
        assertFalse(snaps[2].valid);
        assertEq(snaps[2].readErrors, LENS_READ_ALL, "feed answered vault views?");
        assertFalse(snaps[3].valid);
        assertEq(snaps[3].readErrors, LENS_READ_ALL);
        assertTrue(snaps[4].valid);
        assertEq(snaps[4].netDelta, -2e18);
    }

    function test_snapshot_FlagsEachFailedRead() public {
        StubOptionVault v = _vault(3);
        v.setRevertingReads(1 | 2 | 4 | 8); // netDelta, totalAssets, trigger, series
        venue.setPrice(0); // spotPrice reverts
        address[] memory a = new address[](1);
        a[0] = address(v);

        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        IVaultLens.VaultSnapshot memory s = snaps[0];

        assertFalse(s.valid);
        assertEq(
            s.readErrors,
            LENS_READ_NET_DELTA | LENS_READ_TOTAL_ASSETS | LENS_READ_TRIGGER | LENS_READ_SERIES
                | LENS_READ_POOL_PRICE
        );
        // the other reads still came through
        assertEq(s.inventory, 5e18);
        assertEq(s.oracle.answer, 3000e8);
        assertEq(s.totalSupply, 999_000e6);
        assertEq(s.freeQuote, 400_000e6);
        assertEq(s.netDelta, 0);
        assertEq(s.series.length, 0);
    }

    function test_snapshot_FlagsOracleWithoutCode() public {
        StubOptionVault v = new StubOptionVault(
            address(this), makeAddr("noFeed"), makeAddr("noSeq"), address(venue)
        );
        address[] memory a = new address[](1);
        a[0] = address(v);
        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        assertEq(snaps[0].readErrors, LENS_READ_ORACLE | LENS_READ_SEQUENCER);
        assertEq(snaps[0].poolPrice, 3001e8);
    }

    function test_snapshot_EmptyInput() public view {
        (IVaultLens.VaultSnapshot[] memory snaps, uint256 bn,) = lens.snapshot(new address[](0));
        assertEq(snaps.length, 0);
        assertEq(bn, 123);
    }

    function test_snapshotOne_MatchesSnapshot() public {
        address[] memory a = _vaults(1, 2);
        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        IVaultLens.VaultSnapshot memory one = lens.snapshotOne(a[0]);
        assertEq(keccak256(abi.encode(one)), keccak256(abi.encode(snaps[0])));
    }

    function testFuzz_snapshot_OrderAndValidity(uint256 seed, uint8 count) public {
        uint256 n = bound(count, 1, 20);
        address[] memory a = new address[](n);
        bool[] memory isVault = new bool[](n);
        for (uint256 i; i < n; ++i) {
            isVault[i] = uint256(keccak256(abi.encode(seed, i))) % 3 != 0;
            a[i] = isVault[i] ? address(_vault(i % 4)) : address(uint160(0xbeef00 + i));
        }
        (IVaultLens.VaultSnapshot[] memory snaps,,) = lens.snapshot(a);
        assertEq(snaps.length, n);
        for (uint256 i; i < n; ++i) {
            assertEq(snaps[i].vault, a[i]);
            assertEq(snaps[i].valid, isVault[i]);
            assertEq(snaps[i].series.length, isVault[i] ? i % 4 : 0);
        }
    }

    function _gas(uint256 n) internal returns (uint256 g) {
        address[] memory a = _vaults(n, 4);
        g = gasleft();
        lens.snapshot(a);
        g -= gasleft();
    }

    function test_snapshot_Gas10() public {
        uint256 g = _gas(10);
        emit log_named_uint("lens snapshot(10 vaults, 4 series each) gas", g);
        assertLt(g, 1_500_000);
    }

    function test_snapshot_Gas100() public {
        uint256 g = _gas(100);
        emit log_named_uint("lens snapshot(100 vaults, 4 series each) gas", g);
        assertLt(g, 15_000_000);
    }
}

/// @notice The lens's pool price through the real UniswapV3Venue over a real pool.
contract VaultLensUniswapTest is UniswapV3Fixture {
    function test_snapshot_PoolPriceFromRealVenue() public {
        _deployUniswap();
        (MintableERC20 quote, MintableERC20 underlying) = _deployTokens(false);
        address pool = _createPool(quote, underlying, 2500e8, 100e18);
        UniswapV3Venue venue = new UniswapV3Venue(pool, address(quote), address(underlying));
        MockV3Aggregator feed = new MockV3Aggregator(8, 2500e8);
        StubOptionVault v =
            new StubOptionVault(address(this), address(feed), address(0), address(venue));
        address[] memory a = new address[](1);
        a[0] = address(v);

        (IVaultLens.VaultSnapshot[] memory snaps,,) = new VaultLens().snapshot(a);

        assertTrue(snaps[0].valid);
        assertEq(snaps[0].poolPrice, venue.spotPrice());
        assertApproxEqAbs(snaps[0].poolPrice, 2500e8, 1);
    }
}
