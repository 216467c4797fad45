// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {MintableERC20} from "../../../contracts/devnet/MintableERC20.sol";
import {IUniswapV3Factory} from "../../../contracts/interfaces/uniswap/IUniswapV3Factory.sol";
import {ISwapRouter} from "../../../contracts/interfaces/uniswap/ISwapRouter.sol";
import {IQuoterV2} from "../../../contracts/interfaces/uniswap/IQuoterV2.sol";
import {
    INonfungiblePositionManager
} from "../../../contracts/interfaces/uniswap/INonfungiblePositionManager.sol";

/// @notice Deploys the real Uniswap V3 (factory, SwapRouter, QuoterV2, position manager) from the
///         npm Hardhat artifacts with `vm.deployCode`, and creates funded pools at a given price.
/// @dev Needs `fs_permissions = [{ access = "read", path = "./node_modules/@uniswap" }]`.
///      `vm.deployCode` accepts Hardhat artifacts (there `bytecode` is a plain hex string).
abstract contract UniswapV3Fixture is Test {
    string internal constant FACTORY_ARTIFACT =
        "node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json";
    string internal constant ROUTER_ARTIFACT =
        "node_modules/@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json";
    string internal constant QUOTER_ARTIFACT =
        "node_modules/@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json";
    string internal constant NPM_ARTIFACT =
        "node_modules/@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json";
    /// @dev The periphery wants a WETH9 address. Pools here are ERC-20 only, so a code-less
    ///      sentinel works: WETH9 is touched only by the ETH paths (unwrapWETH9, refundETH, and
    ///      `pay` when the router holds ETH), which nothing here uses.
    address internal constant WETH9_SENTINEL = address(0xe7e7e7E7E7e7e7e7E7E7e7e7E7e7e7E7e7E7E7e7);

    uint24 internal constant FEE = 3000;
    int24 internal constant TICK_SPACING = 60;
    int24 internal constant FULL_RANGE_LOWER = -887_220; // MIN_TICK rounded up to a 60 multiple
    int24 internal constant FULL_RANGE_UPPER = 887_220;
    uint160 internal constant MIN_SQRT_RATIO = 4_295_128_739;
    uint160 internal constant MAX_SQRT_RATIO =
        1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_342;

    IUniswapV3Factory internal factory;
    ISwapRouter internal router;
    IQuoterV2 internal quoter;
    INonfungiblePositionManager internal npm;
    uint256 private _saltNonce;

    /// @notice Deploys factory, router, quoter and position manager.
    function _deployUniswap() internal {
        factory = IUniswapV3Factory(deployCode(FACTORY_ARTIFACT));
        router =
            ISwapRouter(deployCode(ROUTER_ARTIFACT, abi.encode(address(factory), WETH9_SENTINEL)));
        quoter =
            IQuoterV2(deployCode(QUOTER_ARTIFACT, abi.encode(address(factory), WETH9_SENTINEL)));
        // The token descriptor is only read by tokenURI, which nothing here calls.
        npm = INonfungiblePositionManager(
            deployCode(NPM_ARTIFACT, abi.encode(address(factory), WETH9_SENTINEL, address(0)))
        );
    }

    /// @notice Deploys a 6-decimal quote and an 18-decimal underlying token with CREATE2, trying
    ///         salts until the underlying sorts first (`underlyingFirst`) or second.
    function _deployTokens(bool underlyingFirst)
        internal
        returns (MintableERC20 quote, MintableERC20 underlying)
    {
        while (true) {
            bytes32 salt = bytes32(++_saltNonce);
            quote = new MintableERC20{salt: salt}("USD Coin", "USDC", 6);
            underlying = new MintableERC20{salt: salt}("Wrapped Ether", "WETH", 18);
            if ((address(underlying) < address(quote)) == underlyingFirst) {
                return (quote, underlying);
            }
        }
    }

    /// @notice sqrtPriceX96 of a pool whose price is `price8` quote per whole underlying (1e8).
    function _sqrtPriceX96(
        uint256 price8,
        address quote,
        address underlying,
        uint8 qDec,
        uint8 uDec
    ) internal pure returns (uint160) {
        uint256 num = price8 * 10 ** qDec; // quote units per underlying unit, times 10^(8+uDec)
        uint256 den = 10 ** (8 + uint256(uDec));
        uint256 ratioX192 = underlying < quote
            ? Math.mulDiv(num, 1 << 192, den)  // token1/token0 = quote/underlying
            : Math.mulDiv(den, 1 << 192, num); // token1/token0 = underlying/quote
        return uint160(Math.sqrt(ratioX192));
    }

    /// @notice Creates the pool at `price8`, and adds full-range liquidity worth about
    ///         `underlyingAmount` of underlying on each side, from this contract.
    function _createPool(
        MintableERC20 quote,
        MintableERC20 underlying,
        uint256 price8,
        uint256 underlyingAmount
    ) internal returns (address pool) {
        (address t0, address t1) = address(underlying) < address(quote)
            ? (address(underlying), address(quote))
            : (address(quote), address(underlying));
        uint160 sqrtP = _sqrtPriceX96(
            price8, address(quote), address(underlying), quote.decimals(), underlying.decimals()
        );
        pool = npm.createAndInitializePoolIfNecessary(t0, t1, FEE, sqrtP);

        uint256 quoteAmount = underlyingAmount * price8 / 1e8 / 1e12; // 18 -> 6 decimals
        underlying.mint(address(this), underlyingAmount);
        quote.mint(address(this), quoteAmount);
        underlying.approve(address(npm), underlyingAmount);
        quote.approve(address(npm), quoteAmount);
        (uint256 a0, uint256 a1) = t0 == address(underlying)
            ? (underlyingAmount, quoteAmount)
            : (quoteAmount, underlyingAmount);
        npm.mint(
            INonfungiblePositionManager.MintParams({
                token0: t0,
                token1: t1,
                fee: FEE,
                tickLower: FULL_RANGE_LOWER,
                tickUpper: FULL_RANGE_UPPER,
                amount0Desired: a0,
                amount1Desired: a1,
                amount0Min: 0,
                amount1Min: 0,
                recipient: address(this),
                deadline: block.timestamp
            })
        );
    }
}
