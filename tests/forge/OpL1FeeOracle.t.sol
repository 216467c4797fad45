// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {OpL1FeeOracle} from "../../contracts/devnet/OpL1FeeOracle.sol";
import {IOpL1FeeOracle} from "../../contracts/devnet/IOpL1FeeOracle.sol";
import {IGasPriceOracle} from "../../contracts/interfaces/IGasPriceOracle.sol";

contract OpL1FeeOracleTest is Test {
    address internal constant PREDEPLOY = 0x420000000000000000000000000000000000000F;
    uint256 internal constant L1_BASE_FEE = 30 gwei;
    uint256 internal constant BLOB_BASE_FEE = 2 gwei;
    uint32 internal constant BASE_FEE_SCALAR = 5227; // OP mainnet's Ecotone values
    uint32 internal constant BLOB_BASE_FEE_SCALAR = 1_014_213;

    address internal admin = makeAddr("admin");
    OpL1FeeOracle internal oracle;

    function setUp() public {
        oracle = new OpL1FeeOracle(
            admin, L1_BASE_FEE, BLOB_BASE_FEE, BASE_FEE_SCALAR, BLOB_BASE_FEE_SCALAR
        );
    }

    // ------------------------------------------------------------------ fee formula

    // Per L1 gas: (5227 * 16 * 30e9 + 1_014_213 * 2e9) / 16e6
    //           = (2_508_960_000_000_000 + 2_028_426_000_000_000) / 16_000_000 = 283_586_625 wei.

    function test_getL1Fee_EmptyDataPaysSignaturePad() public view {
        // 0 bytes -> 68 * 16 = 1088 L1 gas -> 1088 * 283_586_625
        assertEq(oracle.getL1GasUsed(""), 1088);
        assertEq(oracle.getL1Fee(""), 308_542_248_000);
    }

    function test_getL1Fee_CountsZeroAndNonZeroBytes() public view {
        bytes memory data = hex"00ff000102"; // 2 zero (8) + 3 non-zero (48) + 1088 = 1144
        assertEq(oracle.getL1GasUsed(data), 1144);
        assertEq(oracle.getL1Fee(data), 324_423_099_000); // 1144 * 283_586_625
    }

    function test_getL1Fee_RoundsDown() public {
        vm.prank(admin);
        oracle.setFeeParams(1, 1, 1, 1);
        // hex"00ff": 1108 gas * (16 + 1) / 16e6 = 18836 / 16e6 -> 0
        assertEq(oracle.getL1Fee(hex"00ff"), 0);
        vm.prank(admin);
        oracle.setFeeParams(1_000_000, 0, 1000, 0);
        // 1108 * (1000 * 16 * 1e6) / 16e6 = 1108 * 1000 = 1_108_000 exactly
        assertEq(oracle.getL1Fee(hex"00ff"), 1_108_000);
    }

    function test_getL1Fee_BlobOnly() public {
        vm.prank(admin);
        oracle.setFeeParams(0, 3, 0, 16_000_000);
        // 1088 + 100 * 16 = 2688 gas; per gas 16e6 * 3 / 16e6 = 3 -> 8064
        bytes memory data = new bytes(100);
        for (uint256 i; i < 100; ++i) {
            data[i] = 0x01;
        }
        assertEq(oracle.getL1Fee(data), 8064);
    }

    function testFuzz_getL1Fee_MatchesReference(
        bytes calldata data,
        uint64 l1,
        uint64 blob,
        uint32 s,
        uint32 bs
    ) public {
        vm.prank(admin);
        oracle.setFeeParams(l1, blob, s, bs);
        uint256 zeros;
        for (uint256 i; i < data.length; ++i) {
            if (data[i] == 0) ++zeros;
        }
        uint256 gas = zeros * 4 + (data.length - zeros) * 16 + 1088;
        uint256 expected = gas * (16 * uint256(l1) * s + uint256(blob) * bs) / 16e6;
        assertEq(oracle.getL1Fee(data), expected);
        assertEq(oracle.getL1GasUsed(data), gas);
    }

    function testFuzz_getL1Fee_MonotoneInData(bytes calldata data, bytes1 extra) public view {
        assertGe(oracle.getL1Fee(bytes.concat(data, extra)), oracle.getL1Fee(data));
    }

    // ------------------------------------------------------------------ views

    function test_views_ReturnParameters() public {
        vm.fee(7 gwei);
        assertEq(oracle.l1BaseFee(), L1_BASE_FEE);
        assertEq(oracle.blobBaseFee(), BLOB_BASE_FEE);
        assertEq(oracle.baseFeeScalar(), BASE_FEE_SCALAR);
        assertEq(oracle.blobBaseFeeScalar(), BLOB_BASE_FEE_SCALAR);
        assertEq(oracle.decimals(), 6);
        assertEq(oracle.DECIMALS(), 6);
        assertTrue(oracle.isEcotone());
        assertFalse(oracle.isFjord());
        assertEq(oracle.gasPrice(), 7 gwei);
        assertEq(oracle.baseFee(), 7 gwei);
        assertEq(oracle.owner(), admin);
    }

    function test_selectors_MatchOpStack() public pure {
        // 0x49948e0e is getL1Fee(bytes) on the real predeploy
        assertEq(IGasPriceOracle.getL1Fee.selector, bytes4(0x49948e0e));
        assertEq(
            IGasPriceOracle.getL1FeeUpperBound.selector,
            bytes4(keccak256("getL1FeeUpperBound(uint256)"))
        );
    }

    function test_getL1FeeUpperBound_RevertWhen_NotFjord() public {
        vm.expectRevert(IOpL1FeeOracle.OpL1FeeOracleFjordOnly.selector);
        oracle.getL1FeeUpperBound(200);
    }

    // ------------------------------------------------------------------ admin

    function test_setFeeParams_UpdatesAndEmits() public {
        vm.expectEmit(address(oracle));
        emit IOpL1FeeOracle.FeeParamsUpdated(1 gwei, 5, 2269, 1_055_762);
        vm.prank(admin);
        oracle.setFeeParams(1 gwei, 5, 2269, 1_055_762);
        assertEq(oracle.l1BaseFee(), 1 gwei);
        assertEq(oracle.blobBaseFee(), 5);
        assertEq(oracle.baseFeeScalar(), 2269);
        assertEq(oracle.blobBaseFeeScalar(), 1_055_762);
    }

    function test_setFeeParams_RevertWhen_NotOwner() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpL1FeeOracle.OpL1FeeOracleUnauthorized.selector, address(this))
        );
        oracle.setFeeParams(1, 1, 1, 1);
    }

    function test_transferOwnership_MovesOwner() public {
        address next = makeAddr("next");
        vm.expectEmit(address(oracle));
        emit IOpL1FeeOracle.OwnershipTransferred(admin, next);
        vm.prank(admin);
        oracle.transferOwnership(next);
        assertEq(oracle.owner(), next);
        vm.expectRevert(
            abi.encodeWithSelector(IOpL1FeeOracle.OpL1FeeOracleUnauthorized.selector, admin)
        );
        vm.prank(admin);
        oracle.setFeeParams(1, 1, 1, 1);
    }

    function test_transferOwnership_RevertWhen_ZeroOwner() public {
        vm.expectRevert(IOpL1FeeOracle.OpL1FeeOracleZeroOwner.selector);
        vm.prank(admin);
        oracle.transferOwnership(address(0));
    }

    function test_constructor_RevertWhen_ZeroOwner() public {
        vm.expectRevert(IOpL1FeeOracle.OpL1FeeOracleZeroOwner.selector);
        new OpL1FeeOracle(address(0), 1, 1, 1, 1);
    }

    // ------------------------------------------------------------------ predeploy install

    /// @dev What the devnet does with anvil_setCode: code only, no storage, then initialize.
    function test_initialize_AfterEtchAtPredeploy() public {
        vm.etch(PREDEPLOY, address(oracle).code);
        IOpL1FeeOracle installed = IOpL1FeeOracle(PREDEPLOY);
        assertEq(installed.owner(), address(0));
        assertEq(installed.l1BaseFee(), 0);
        assertEq(installed.getL1Fee(hex"ff"), 0);

        vm.expectEmit(PREDEPLOY);
        emit IOpL1FeeOracle.Initialized(admin);
        installed.initialize(
            admin, L1_BASE_FEE, BLOB_BASE_FEE, BASE_FEE_SCALAR, BLOB_BASE_FEE_SCALAR
        );

        assertEq(installed.owner(), admin);
        assertEq(installed.getL1Fee(""), 308_542_248_000);
        assertEq(installed.getL1Fee(hex"00ff000102"), oracle.getL1Fee(hex"00ff000102"));
    }

    function test_initialize_RevertWhen_AlreadyInitialized() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpL1FeeOracle.OpL1FeeOracleAlreadyInitialized.selector, admin)
        );
        oracle.initialize(address(this), 1, 1, 1, 1);
    }

    /// @dev The documented layout, for callers that write storage with anvil_setStorageAt.
    function test_storageLayout_MatchesNatSpec() public {
        vm.etch(PREDEPLOY, address(oracle).code);
        bytes32 slot0 = bytes32(
            uint256(uint160(admin)) | (uint256(BASE_FEE_SCALAR) << 160)
                | (uint256(BLOB_BASE_FEE_SCALAR) << 192)
        );
        vm.store(PREDEPLOY, bytes32(uint256(0)), slot0);
        vm.store(PREDEPLOY, bytes32(uint256(1)), bytes32(L1_BASE_FEE));
        vm.store(PREDEPLOY, bytes32(uint256(2)), bytes32(BLOB_BASE_FEE));
        IOpL1FeeOracle installed = IOpL1FeeOracle(PREDEPLOY);
        assertEq(installed.owner(), admin);
        assertEq(installed.baseFeeScalar(), BASE_FEE_SCALAR);
        assertEq(installed.blobBaseFeeScalar(), BLOB_BASE_FEE_SCALAR);
        assertEq(installed.getL1Fee(""), 308_542_248_000);
    }
}
