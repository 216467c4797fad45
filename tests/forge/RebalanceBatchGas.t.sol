// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {OptionVault} from "../../contracts/OptionVault.sol";
import {IOptionVault} from "../../contracts/interfaces/IOptionVault.sol";
import {BatchTestBase} from "./fixtures/BatchTestBase.sol";

/// @notice Gas of a netted batch of ten vaults with four open series each (mock venue: its
///         swap is a stand-in; bench/batching.py measures the real Uniswap V3 pool).
contract RebalanceBatchGasTest is BatchTestBase {
    IOptionVault.OptionType internal constant CALL = IOptionVault.OptionType.Call;

    function _fourSeries(OptionVault v) internal {
        OptionVault saved = vault;
        vault = v;
        bytes32 role = v.DESK_ROLE();
        vm.prank(admin);
        v.grantRole(role, desk);
        uint64 exp = uint64(block.timestamp + 30 days);
        _write(CALL, 2800e8, 1000e8, exp, 1e18, 500e6);
        _write(CALL, 3000e8, 1000e8, exp, 1e18, 400e6);
        _write(CALL, 3200e8, 1000e8, exp + 7 days, 1e18, 300e6);
        _write(CALL, 3100e8, 1000e8, exp + 14 days, 1e18, 300e6);
        vault = saved;
    }

    function test_rebalanceBatch_GasTenVaultsFourSeries() public {
        venue.setRecord(false);
        address[] memory vs = new address[](10);
        _fourSeries(vault);
        vs[0] = address(vault);
        for (uint256 i = 1; i < 10; ++i) {
            OptionVault v = _newVault(0);
            _fourSeries(v);
            vs[i] = address(v);
        }
        // A fresh transaction: every account and slot the batch touches starts cold.
        for (uint256 i; i < 10; ++i) {
            vm.cool(vs[i]);
        }
        address[8] memory others = [
            address(vaultImpl),
            vault.pricer(),
            address(usdc),
            address(weth),
            address(feed),
            address(seqFeed),
            address(venue),
            address(batcher)
        ];
        for (uint256 i; i < others.length; ++i) {
            vm.cool(others[i]);
        }
        vm.prank(keeper);
        uint256 g = gasleft();
        batcher.rebalanceBatch(vs, new int256[](10));
        g -= gasleft();
        emit log_named_uint("gas per vault (execution, cold, no intrinsic)", g / 10);
        for (uint256 i; i < 10; ++i) {
            assertGt(OptionVault(vs[i]).hedgeInventory(), 0);
        }
    }
}
