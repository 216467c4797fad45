// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";
import {Deploy} from "../../scripts/Deploy.s.sol";

/// @notice Exposes the deploy script's pre-broadcast checks and config readers.
contract DeployHarness is Deploy {
    function keeperAddress(string memory raw) external view returns (address) {
        return _keeperAddress(raw);
    }

    function checkFeed(address feed, address sequencerFeed) external view {
        Config memory c;
        c.feed = feed;
        c.sequencerFeed = sequencerFeed;
        c.thresholds.oracleHeartbeat = 3600;
        _checkFeed(c);
    }

    function uintOr(string memory json, string memory key, uint256 fallback_, uint256 bits)
        external
        view
        returns (uint256)
    {
        return _uintOr(json, key, fallback_, bits);
    }

    function optionalUint(string memory json, string memory key) external view returns (uint256) {
        return _optionalUint(json, key);
    }

    function optionalAddress(string memory json, string memory key)
        external
        view
        returns (address)
    {
        return _optionalAddress(json, key);
    }

    function stringOr(string memory json, string memory key, string memory fallback_)
        external
        view
        returns (string memory)
    {
        return _stringOr(json, key, fallback_);
    }

    function checkOverwrite(string memory path) external view {
        _checkOverwrite(path);
    }

    function flag(string memory name, string memory raw) external pure returns (bool) {
        return _flag(name, raw);
    }

    function checkFunds(address deployer, uint256 funds, uint256 gasUsed) external view {
        _checkFunds(deployer, funds, gasUsed);
    }
}

/// @notice A contract that is not a Chainlink feed (a token's address pasted as the feed).
contract NotAFeed {
    function totalSupply() external pure returns (uint256) {
        return 1;
    }
}

contract DeployScriptTest is Test {
    DeployHarness internal deploy;
    MockV3Aggregator internal feed;
    MockV3Aggregator internal sequencer;

    address internal constant KEEPER = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;

    function setUp() public {
        deploy = new DeployHarness();
        feed = new MockV3Aggregator(8, 3000e8);
        sequencer = new MockV3Aggregator(0, 0);
    }

    // ------------------------------------------------------------------ KEEPER_ADDRESS

    function test_keeperAddress_UnsetIsNoKeeper() public view {
        assertEq(deploy.keeperAddress(""), address(0));
    }

    function test_keeperAddress_ReadsChecksummedAndLowerCase() public view {
        assertEq(deploy.keeperAddress("0x90F79bf6EB2c4f870365E785982E1f101E93b906"), KEEPER);
        assertEq(deploy.keeperAddress("0x90f79bf6eb2c4f870365e785982e1f101e93b906"), KEEPER);
    }

    function test_keeperAddress_RevertsOnTheDocsPlaceholder() public {
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.DeployKeeperAddress.selector, "0xYourKeeperEOA")
        );
        deploy.keeperAddress("0xYourKeeperEOA");
    }

    function test_keeperAddress_RevertsOnAMissingDigit() public {
        string memory raw = "0x90F79bf6EB2c4f870365E785982E1f101E93b90";
        vm.expectRevert(abi.encodeWithSelector(Deploy.DeployKeeperAddress.selector, raw));
        deploy.keeperAddress(raw);
    }

    function test_keeperAddress_RevertsOnAChecksumThatDoesNotMatch() public {
        string memory raw = "0x90f79bf6EB2c4f870365E785982E1f101E93b906";
        vm.expectRevert(abi.encodeWithSelector(Deploy.DeployKeeperAddress.selector, raw));
        deploy.keeperAddress(raw);
    }

    function test_keeperAddress_RevertsOnAPrivateKeyWithoutShowingIt() public {
        string memory key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        bytes memory notShown = abi.encodeWithSelector(
            Deploy.DeployKeeperAddress.selector, "64 hex digits, as a private key has (not shown)"
        );
        vm.expectRevert(notShown);
        deploy.keeperAddress(key);
        vm.expectRevert(notShown);
        deploy.keeperAddress(vm.replace(key, "0x", ""));
    }

    function test_keeperAddress_RevertsOnTheZeroAddress() public {
        string memory raw = "0x0000000000000000000000000000000000000000";
        vm.expectRevert(abi.encodeWithSelector(Deploy.DeployKeeperAddress.selector, raw));
        deploy.keeperAddress(raw);
    }

    // ------------------------------------------------------------------ feeds

    function test_checkFeed_AcceptsAFeedAndASequencerFeed() public view {
        deploy.checkFeed(address(feed), address(sequencer));
        deploy.checkFeed(address(feed), address(0));
    }

    function test_checkFeed_RevertsWhenThePriceFeedIsNotAFeed() public {
        address token = address(new NotAFeed());
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.DeployNotAFeed.selector, "chainlink.ethUsdFeed", token)
        );
        deploy.checkFeed(token, address(0));
    }

    function test_checkFeed_RevertsWhenTheSequencerFeedHasNoCode() public {
        address eoa = makeAddr("eoa");
        vm.expectRevert(
            abi.encodeWithSelector(
                Deploy.DeployNoCode.selector, "chainlink.sequencerUptimeFeed", eoa
            )
        );
        deploy.checkFeed(address(feed), eoa);
    }

    function test_checkFeed_RevertsWhenTheSequencerFeedIsNotAFeed() public {
        address token = address(new NotAFeed());
        vm.expectRevert(
            abi.encodeWithSelector(
                Deploy.DeployNotAFeed.selector, "chainlink.sequencerUptimeFeed", token
            )
        );
        deploy.checkFeed(address(feed), token);
    }

    // ------------------------------------------------------------------ config values

    function test_uintOr_MissingKeyIsTheDefault() public view {
        assertEq(deploy.uintOr('{"vault":{}}', ".vault.oracleHeartbeat", 3600, 32), 3600);
    }

    function test_uintOr_ReadsANumberWrittenAsAString() public view {
        string memory json = '{"vault":{"oracleHeartbeat":"7200"}}';
        assertEq(deploy.uintOr(json, ".vault.oracleHeartbeat", 3600, 32), 7200);
    }

    function test_uintOr_RevertsOnAStringThatIsNotANumber() public {
        string memory json = '{"vault":{"oracleHeartbeat":"1h"}}';
        _expectMalformed(".vault.oracleHeartbeat");
        deploy.uintOr(json, ".vault.oracleHeartbeat", 3600, 32);
    }

    function test_uintOr_RevertsOnNull() public {
        string memory json = '{"vault":{"maxTrade":null}}';
        _expectMalformed(".vault.maxTrade");
        deploy.uintOr(json, ".vault.maxTrade", 10e18, 256);
    }

    function test_uintOr_RevertsOnAValueTooLargeForTheField() public {
        string memory json = '{"vault":{"maxSlippageBps":65636}}';
        vm.expectRevert(
            abi.encodeWithSelector(
                Deploy.DeployConfigOutOfRange.selector, ".vault.maxSlippageBps", 65_636, 65_535
            )
        );
        deploy.uintOr(json, ".vault.maxSlippageBps", 100, 16);
    }

    function test_optionalUint_RevertsOnAStringThatIsNotANumber() public {
        string memory json = '{"chainlink":{"ethUsdHeartbeat":"1 day"}}';
        _expectMalformed(".chainlink.ethUsdHeartbeat");
        deploy.optionalUint(json, ".chainlink.ethUsdHeartbeat");
    }

    function test_optionalAddress_NullIsNoAddress() public view {
        string memory json = '{"chainlink":{"sequencerUptimeFeed":null}}';
        assertEq(deploy.optionalAddress(json, ".chainlink.sequencerUptimeFeed"), address(0));
    }

    function test_optionalAddress_RevertsOnAPlaceholder() public {
        string memory json = '{"chainlink":{"sequencerUptimeFeed":"0xYourSequencerFeed"}}';
        _expectMalformed(".chainlink.sequencerUptimeFeed");
        deploy.optionalAddress(json, ".chainlink.sequencerUptimeFeed");
    }

    /// @dev The next call reverts with `DeployConfigMalformed(key)`.
    function _expectMalformed(string memory key) internal {
        vm.expectRevert(abi.encodeWithSelector(Deploy.DeployConfigMalformed.selector, key));
    }

    function test_stringOr_NullIsTheDefault() public view {
        // `"ethUsdDescription": null` was compared with the string "null" (DeployFeedDescription).
        string memory json = '{"chainlink":{"ethUsdDescription":null}}';
        assertEq(deploy.stringOr(json, ".chainlink.ethUsdDescription", ""), "");
        json = '{"chainlink":{"ethUsdDescription":"ETH / USD"}}';
        assertEq(deploy.stringOr(json, ".chainlink.ethUsdDescription", ""), "ETH / USD");
        assertEq(deploy.stringOr("{}", ".chainlink.ethUsdDescription", "x"), "x");
    }

    // ------------------------------------------------------------------ overwrite guard

    // One file a test: forge runs the tests of a suite in parallel.
    string internal constant LIVE = "deployments/forge-test-overwrite-live.json";
    string internal constant OUT = "deployments/forge-test-overwrite.json";

    function _addressesFile(string memory path, uint256 chainId, address vault) internal {
        vm.writeFile(
            path,
            string.concat(
                '{"chain_id":', vm.toString(chainId), ',"vaults":["', vm.toString(vault), '"]}'
            )
        );
    }

    function test_checkOverwrite_RevertsOnALiveDeploymentOfThisChain() public {
        vm.createDir("deployments", true);
        _addressesFile(LIVE, block.chainid, address(feed)); // code: a live vault
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.DeployWouldOverwrite.selector, LIVE, address(feed))
        );
        deploy.checkOverwrite(LIVE);
        vm.removeFile(LIVE);
    }

    function test_checkOverwrite_ReplacesAFileWhoseVaultHasNoCode() public {
        vm.createDir("deployments", true);
        _addressesFile(OUT, block.chainid, address(0xdead)); // a deploy whose broadcast failed
        deploy.checkOverwrite(OUT);
        _addressesFile(OUT, block.chainid + 1, address(feed)); // another chain's deployment
        deploy.checkOverwrite(OUT);
        vm.writeFile(OUT, '{"note": "not an addresses file"}');
        deploy.checkOverwrite(OUT);
        vm.removeFile(OUT);
        deploy.checkOverwrite(OUT); // no file
    }

    // ------------------------------------------------------------------ deployer's funds

    function test_checkFunds_RevertsBelowTheGasAtTheBaseFee() public {
        vm.fee(0.1 gwei);
        address deployer = makeAddr("deployer");
        uint256 needed = 18_000_000 * 0.1 gwei;
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.DeployUnfunded.selector, deployer, needed - 1, needed)
        );
        deploy.checkFunds(deployer, needed - 1, 18_000_000);
        vm.expectRevert(abi.encodeWithSelector(Deploy.DeployUnfunded.selector, deployer, 0, needed));
        deploy.checkFunds(deployer, 0, 18_000_000);
    }

    function test_checkFunds_AcceptsTheGasAtTheBaseFee() public {
        vm.fee(0.1 gwei);
        deploy.checkFunds(makeAddr("deployer"), 18_000_000 * 0.1 gwei, 18_000_000);
    }

    function test_checkFunds_AcceptsAnyBalanceWithoutABaseFee() public {
        vm.fee(0); // a chain that charges no gas (forge's own in-memory chain)
        deploy.checkFunds(makeAddr("deployer"), 0, 18_000_000);
    }

    // ------------------------------------------------------------------ DEPLOY_OVERWRITE

    function test_flag_ReadsTrueFalseOneZeroAndEmpty() public view {
        assertTrue(deploy.flag("DEPLOY_OVERWRITE", "true"));
        assertTrue(deploy.flag("DEPLOY_OVERWRITE", "TRUE"));
        assertTrue(deploy.flag("DEPLOY_OVERWRITE", "1"));
        assertFalse(deploy.flag("DEPLOY_OVERWRITE", "false"));
        assertFalse(deploy.flag("DEPLOY_OVERWRITE", "0"));
        assertFalse(deploy.flag("DEPLOY_OVERWRITE", ""));
    }

    function test_flag_RevertsOnAValueItCannotRead() public {
        vm.expectRevert(
            abi.encodeWithSelector(Deploy.DeployEnvMalformed.selector, "DEPLOY_OVERWRITE", "yes")
        );
        deploy.flag("DEPLOY_OVERWRITE", "yes");
    }
}
