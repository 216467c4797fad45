// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IHedgeVenue} from "../../../contracts/interfaces/IHedgeVenue.sol";
import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";

/// @notice Test venue: swaps quote (6 dp) and underlying (18 dp) at a settable 1e8 price, with a
///         settable spot price for the gap check. It mints what it pays out (MintableERC20).
///         Knobs: `outputBps` scales the delivered output (10_000 = exact); `lieBps` makes it
///         report more than it delivered; `reenterTarget` makes it call back during a swap.
contract MockVenue is IHedgeVenue {
    address public immutable quote;
    address public immutable underlying;
    uint256 public swapPrice;
    uint256 public spot;
    uint256 public outputBps = 10_000;
    uint256 public lieBps = 10_000;
    address public reenterTarget;
    bytes public reenterData;
    uint256 public swaps;
    uint256 public lastAmountIn;
    uint256 public lastMinOut;
    /// @dev Off for gas measurements: the bookkeeping below is test-only storage writes.
    bool public record = true;

    constructor(address quote_, address underlying_, uint256 price8) {
        quote = quote_;
        underlying = underlying_;
        swapPrice = price8;
        spot = price8;
    }

    function setPrices(uint256 swapPrice8, uint256 spot8) external {
        swapPrice = swapPrice8;
        spot = spot8;
    }

    uint256 public depth8;
    uint24 public depthFee;

    /// @dev Answer `depth()` as a Uniswap V3 venue does (it reverts until set).
    function setDepth(uint256 quoteDepth8, uint24 feePips) external {
        depth8 = quoteDepth8;
        depthFee = feePips;
    }

    function depth() external view returns (uint256, uint24) {
        require(depth8 != 0, "no depth");
        return (depth8, depthFee);
    }

    function setRecord(bool on) external {
        record = on;
    }

    function setOutputBps(uint256 bps) external {
        outputBps = bps;
    }

    function setLieBps(uint256 bps) external {
        lieBps = bps;
    }

    function setReenter(address target, bytes calldata data) external {
        reenterTarget = target;
        reenterData = data;
    }

    function swapExactIn(
        address tokenIn,
        address tokenOut,
        uint256 amountIn,
        uint256 minOut,
        address recipient
    ) external returns (uint256 amountOut) {
        if (amountIn == 0) revert HedgeVenueZeroAmount();
        IERC20(tokenIn).transferFrom(msg.sender, address(this), amountIn);
        if (tokenIn == quote && tokenOut == underlying) {
            amountOut = amountIn * 1e20 / swapPrice;
        } else if (tokenIn == underlying && tokenOut == quote) {
            amountOut = amountIn * swapPrice / 1e20;
        } else {
            revert HedgeVenueUnsupportedPair(tokenIn, tokenOut);
        }
        amountOut = amountOut * outputBps / 10_000;
        if (reenterTarget != address(0)) {
            (bool ok, bytes memory ret) = reenterTarget.call(reenterData);
            if (!ok) {
                assembly {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        uint256 reported = amountOut * lieBps / 10_000;
        if (reported < minOut) revert HedgeVenueInsufficientOutput(reported, minOut);
        MintableERC20(tokenOut).mint(recipient, amountOut);
        if (record) {
            swaps += 1;
            lastAmountIn = amountIn;
            lastMinOut = minOut;
        }
        return reported;
    }

    function spotPrice() external view returns (uint256) {
        return spot;
    }
}
