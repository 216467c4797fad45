// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ISwapRouter} from "../../../contracts/interfaces/uniswap/ISwapRouter.sol";
import {ISwapRouter02} from "../../../contracts/interfaces/uniswap/ISwapRouter02.sol";

/// @notice A hand-written stand-in with SwapRouter02's ABI (no `deadline`, selector 0x04e45aaf,
///         and `factoryV2()`), forwarding every swap to a real original `SwapRouter`. Test-only:
///         it exercises the venue's SwapRouter02 code path against a real pool when the real
///         SwapRouter02 artifact (npm package swap-router-contracts) is not installed.
/// @dev It has only the SwapRouter02 entry point, so a venue sending the original ABI here
///      reverts, as it would against the real SwapRouter02.
contract SwapRouter02Adapter is ISwapRouter02 {
    ISwapRouter public immutable inner;
    address public immutable factory;
    address private immutable _factoryV2;
    uint256 public calls;

    constructor(ISwapRouter inner_, address factory_, address factoryV2_) {
        inner = inner_;
        factory = factory_;
        _factoryV2 = factoryV2_;
    }

    function exactInputSingle(ExactInputSingleParams calldata p)
        external
        payable
        returns (uint256 amountOut)
    {
        ++calls;
        IERC20(p.tokenIn).transferFrom(msg.sender, address(this), p.amountIn);
        IERC20(p.tokenIn).approve(address(inner), p.amountIn);
        amountOut = inner.exactInputSingle(
            ISwapRouter.ExactInputSingleParams({
                tokenIn: p.tokenIn,
                tokenOut: p.tokenOut,
                fee: p.fee,
                recipient: p.recipient,
                deadline: block.timestamp,
                amountIn: p.amountIn,
                amountOutMinimum: p.amountOutMinimum,
                sqrtPriceLimitX96: p.sqrtPriceLimitX96
            })
        );
    }

    function factoryV2() external view returns (address) {
        return _factoryV2;
    }
}
