// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Script} from "forge-std/Script.sol";
import {VmSafe} from "forge-std/Vm.sol";
import {console2} from "forge-std/console2.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {OptionVault} from "../contracts/OptionVault.sol";
import {OptionClaims} from "../contracts/OptionClaims.sol";
import {VaultFactory} from "../contracts/VaultFactory.sol";
import {RebalanceBatcher} from "../contracts/RebalanceBatcher.sol";
import {RedemptionQueue} from "../contracts/RedemptionQueue.sol";
import {VaultLens} from "../contracts/VaultLens.sol";
import {UniswapV3Venue} from "../contracts/UniswapV3Venue.sol";
import {IOptionVault} from "../contracts/interfaces/IOptionVault.sol";
import {IUniswapV3Factory} from "../contracts/interfaces/uniswap/IUniswapV3Factory.sol";

/// @title Deploy
/// @notice Deploys the whole stack on one network from its config, `scripts/networks/*.json`:
///         the Uniswap venue, the vault and claims implementations, the factory, the batcher,
///         the lens and one vault; grants the roles; writes the addresses `keeper run
///         --addresses` reads.
/// @dev Every external address comes from the config file; nothing is hard-coded here.
///
///      Environment:
///      - `NETWORK` (e.g. `base-sepolia`) reads `scripts/networks/<NETWORK>.json`, or
///        `DEPLOY_CONFIG` names a config file (under a path `fs_permissions` allows);
///      - `DEPLOY_OUT`: where to write the addresses (default `deployments/<NETWORK>.json`; the
///        directory is created if missing, so a fresh clone needs no `deployments/`); written only
///        with `--broadcast` (a dry run deploys nothing and leaves the file as it was);
///      - `KEEPER_ADDRESS` (optional): an EOA registered as a keeper on the batcher and granted
///        the vault's keeper role (the keeper sends a lone vault's rebalance to the vault).
///      - `DEPLOY_OVERWRITE` (optional): `true` or `1` deploys over an addresses file that names
///        a live vault on this chain (else `DeployWouldOverwrite`); `false`, `0` or empty is no.
///
///      Optional config keys (defaults in brackets), all under `vault` unless noted:
///      `targetDelta` [0], `band` [0.5e18], `minInterval` [60], `maxInterval` [86400],
///      `maxTrade` [10e18], `maxSlippageBps` [100], `maxOracleGapBps` [100] (<= slippage, enforced), `volatility`
///      [0.8e18], `name` ["Option Vault"], `symbol` ["ovUSDC"], `oracleHeartbeat` [3600],
///      `sequencerGracePeriod` [3600]; `batcher.maxBatch` [100], `batcher.vaultGasLimit` [2e6].
///
///      Checks before anything is deployed (each stops the script with its own error):
///      the chain id; the price feed: its `description()` (logged, and compared with the
///      optional `chainlink.ethUsdDescription`), 8 decimals, a positive answer, and a latest round
///      no older than the heartbeat (the vault's `oracleHeartbeat`, or the feed's documented
///      `chainlink.ethUsdHeartbeat` when that is set and shorter), so a deprecated or idle proxy
///      is refused instead of deploying a vault whose every rebalance reverts as stale; and
///      the pool, looked up in the configured Uniswap V3 factory (the configured fee tier, else
///      the other common tier, 500 <-> 3000). The venue swaps on that pool directly, so no
///      router is configured. With `--broadcast`, the deployer's balance too: at least the gas
///      the deployment used in forge's simulation at the chain's base fee (`DeployUnfunded`). A
///      `null` sequencer feed deploys a vault with no sequencer check
///      (`OptionVault` skips the check for `address(0)`).
///
///      Run: `NETWORK=base-sepolia KEEPER_ADDRESS=0x... forge script scripts/Deploy.s.sol
///      --rpc-url $RPC --broadcast --private-key $KEY` (see docs/deploy.md).
contract Deploy is Script {
    // ------------------------------------------------------------------ errors

    /// @notice Neither `NETWORK` nor `DEPLOY_CONFIG` is set.
    error DeployNoConfig();
    /// @notice The RPC's chain is not the config's `chainId`.
    error DeployWrongChain(uint256 rpcChainId, uint256 configChainId);
    /// @notice A required config address is zero or missing (`key` names it).
    error DeployMissingAddress(string key);
    /// @notice A configured address has no contract code on this chain (`key` names it).
    error DeployNoCode(string key, address account);
    /// @notice The price feed does not have the 8 decimals the vault needs.
    error DeployFeedDecimals(address feed, uint8 decimals);
    /// @notice The price feed's latest answer is not positive.
    error DeployFeedAnswer(address feed, int256 answer);
    /// @notice The price feed's `description()` is not the configured `chainlink.ethUsdDescription`
    ///         (Chainlink reuses proxy addresses across chains for different pairs).
    error DeployFeedDescription(address feed, string description, string expected);
    /// @notice The price feed's latest round is older than the heartbeat: `age` seconds since
    ///         `updatedAt` against `heartbeat` seconds. A deprecated proxy looks like this; the
    ///         vault would refuse its price (`OptionVaultStaleOracle`) on every rebalance.
    error DeployFeedStale(address feed, string description, uint256 age, uint256 heartbeat);
    /// @notice The price feed's latest round is dated `updatedAt`, after the block's
    ///         `blockTimestamp`: a broken feed. The vault would refuse its price
    ///         (`OptionVaultStaleOracle`) too.
    error DeployFeedFromTheFuture(
        address feed, string description, uint256 updatedAt, uint256 blockTimestamp
    );
    /// @notice No quote/underlying pool exists at the configured fee tier nor the fallback one.
    error DeployNoPool(address factory, uint24 fee, uint24 fallbackFee);
    /// @notice A configured feed (`key` names it) has code but does not answer as a Chainlink
    ///         feed (`description`, `decimals`, `latestRoundData`): e.g. a token's address.
    error DeployNotAFeed(string key, address account);
    /// @notice `KEEPER_ADDRESS` is set but is not an address (a placeholder, a digit missing),
    ///         is the zero address, or has a mixed-case EIP-55 checksum that does not match.
    ///         `value` is what was set, except a value of 64 hex digits (a private key put there
    ///         by mistake), which is named, not shown.
    error DeployKeeperAddress(string value);
    /// @notice A config value (`key` names it) is not what the key holds: a string that is not a
    ///         number or an address. A `null` or a missing optional key takes its default.
    error DeployConfigMalformed(string key);
    /// @notice A config value (`key` names it) does not fit the field it is stored in.
    error DeployConfigOutOfRange(string key, uint256 value, uint256 max);
    /// @notice The addresses file `path` already names a vault with code on this chain (a live
    ///         deployment). Forge runs this script, and so writes that file, before it
    ///         broadcasts: a redeploy that then failed would have replaced it with addresses that
    ///         hold no code. Set `DEPLOY_OVERWRITE=true`, or another `DEPLOY_OUT`, to deploy anew.
    error DeployWouldOverwrite(string path, address vault);
    /// @notice The deployer holds `balance` wei, less than the `needed` wei that the gas the
    ///         deployment used in forge's simulation costs at the chain's base fee: a lower bound
    ///         (forge's own "Estimated amount required" is higher). Forge writes the addresses
    ///         file before it broadcasts: a broadcast that ran out of ETH left a file naming
    ///         contracts that were never deployed, or a vault without its roles and queue.
    error DeployUnfunded(address deployer, uint256 balance, uint256 needed);
    /// @notice The environment variable `name` is set to `value`, which the script cannot read
    ///         (`DEPLOY_OVERWRITE`: `true`, `false`, `1`, `0` or empty). Forge read `yes` as unset.
    error DeployEnvMalformed(string name, string value);

    // ------------------------------------------------------------------ types

    /// @dev The config values the script uses, parsed once.
    struct Config {
        string network;
        uint256 chainId;
        address feed;
        string feedDescription;
        uint256 feedHeartbeat;
        address sequencerFeed;
        address uniFactory;
        uint24 poolFee;
        address quote;
        address underlying;
        uint256 volatility;
        string name;
        string symbol;
        uint256 maxBatch;
        uint256 vaultGasLimit;
        IOptionVault.Thresholds thresholds;
    }

    /// @dev What was deployed.
    struct Deployed {
        address pool;
        uint24 poolFee;
        address venue;
        address vaultImpl;
        address claimsImpl;
        address factory;
        address batcher;
        address lens;
        address vault;
        address claims;
        address queue;
        address admin;
        address keeper;
    }

    // ------------------------------------------------------------------ entry point

    /// @notice Validates the config on-chain, deploys, grants roles and writes the addresses.
    function run() external returns (Deployed memory d) {
        (Config memory c, string memory outPath) = _load();
        if (block.chainid != c.chainId) revert DeployWrongChain(block.chainid, c.chainId);
        _checkFeed(c);
        (d.pool, d.poolFee) = _checkUniswap(c);
        d.keeper = _keeperAddress(vm.envOr("KEEPER_ADDRESS", string("")));
        bool broadcasting = vm.isContext(VmSafe.ForgeContext.ScriptBroadcast)
            || vm.isContext(VmSafe.ForgeContext.ScriptResume);
        bool overwrite = _flag("DEPLOY_OVERWRITE", vm.envOr("DEPLOY_OVERWRITE", string("")));
        if (broadcasting && !overwrite) _checkOverwrite(outPath);

        vm.startBroadcast();
        (, d.admin,) = vm.readCallers();
        uint256 funds = d.admin.balance;
        uint256 gasBefore = gasleft();
        d.venue = address(new UniswapV3Venue(d.pool, c.quote, c.underlying));
        d.vaultImpl = address(new OptionVault());
        d.claimsImpl = address(new OptionClaims());
        VaultFactory factory = new VaultFactory(d.vaultImpl, d.claimsImpl, d.admin);
        d.factory = address(factory);
        RebalanceBatcher batcher = new RebalanceBatcher(d.admin, c.maxBatch, c.vaultGasLimit);
        d.batcher = address(batcher);
        d.lens = address(new VaultLens());
        (d.vault, d.claims) = factory.createVault(
            IOptionVault.InitParams({
                asset: c.quote,
                underlying: c.underlying,
                oracle: c.feed,
                sequencerFeed: c.sequencerFeed,
                venue: d.venue,
                claims: address(0), // the factory clones the claims token
                admin: d.admin,
                name: c.name,
                symbol: c.symbol,
                volatility: c.volatility,
                thresholds: c.thresholds
            })
        );
        OptionVault vault = OptionVault(d.vault);
        vault.grantRole(vault.KEEPER_ROLE(), d.batcher);
        vault.grantRole(vault.BATCHER_ROLE(), d.batcher);
        // The keeper account too: it sends a lone vault's rebalance to the vault itself.
        if (d.keeper != address(0)) vault.grantRole(vault.KEEPER_ROLE(), d.keeper);
        d.queue = address(new RedemptionQueue(vault));
        vault.setRedemptionQueue(d.queue);
        if (d.keeper != address(0)) batcher.setKeeper(d.keeper, true);
        vm.stopBroadcast();
        // Forge broadcasts only once this function has returned: a deployer that cannot pay
        // stops here, with nothing sent and no addresses file written.
        if (broadcasting) _checkFunds(d.admin, funds, gasBefore - gasleft());

        // Without --broadcast forge only simulates: the addresses hold no code, and writing them
        // would replace the file of a real deployment at the same path.
        if (broadcasting) {
            _write(c, d, outPath);
        } else {
            console2.log(
                "dry run (no --broadcast): nothing deployed; addresses not written to", outPath
            );
        }
    }

    // ------------------------------------------------------------------ config

    function _load() private view returns (Config memory c, string memory outPath) {
        c.network = vm.envOr("NETWORK", string(""));
        string memory path = vm.envOr("DEPLOY_CONFIG", string(""));
        if (bytes(path).length == 0) {
            if (bytes(c.network).length == 0) revert DeployNoConfig();
            path = string.concat(vm.projectRoot(), "/scripts/networks/", c.network, ".json");
        } else if (bytes(c.network).length == 0) {
            c.network = "custom";
        }
        outPath = vm.envOr(
            "DEPLOY_OUT", string.concat(vm.projectRoot(), "/deployments/", c.network, ".json")
        );
        string memory json = vm.readFile(path);
        console2.log("config", path);

        c.chainId = vm.parseJsonUint(json, ".chainId");
        c.feed = _requiredAddress(json, ".chainlink.ethUsdFeed");
        c.feedDescription = _stringOr(json, ".chainlink.ethUsdDescription", "");
        c.feedHeartbeat = _optionalUint(json, ".chainlink.ethUsdHeartbeat");
        c.sequencerFeed = _optionalAddress(json, ".chainlink.sequencerUptimeFeed");
        c.uniFactory = _requiredAddress(json, ".uniswap.factory");
        c.poolFee =
            uint24(_fits(".uniswap.poolFee", vm.parseJsonUint(json, ".uniswap.poolFee"), 24));
        c.quote = _requiredAddress(json, ".tokens.quote.address");
        c.underlying = _requiredAddress(json, ".tokens.underlying.address");

        c.volatility = _uintOr(json, ".vault.volatility", 0.8e18);
        c.name = _stringOr(json, ".vault.name", "Option Vault");
        c.symbol = _stringOr(json, ".vault.symbol", "ovUSDC");
        c.maxBatch = _uintOr(json, ".batcher.maxBatch", 100);
        c.vaultGasLimit = _uintOr(json, ".batcher.vaultGasLimit", 2_000_000);
        c.thresholds = IOptionVault.Thresholds({
            targetDelta: _intOr(json, ".vault.targetDelta", 0),
            band: _uintOr(json, ".vault.band", 0.5e18),
            minInterval: uint32(_uintOr(json, ".vault.minInterval", 60, 32)),
            maxInterval: uint32(_uintOr(json, ".vault.maxInterval", 86_400, 32)),
            maxTrade: _uintOr(json, ".vault.maxTrade", 10e18),
            maxSlippageBps: uint16(_uintOr(json, ".vault.maxSlippageBps", 100, 16)),
            maxOracleGapBps: uint16(_uintOr(json, ".vault.maxOracleGapBps", 100, 16)),
            oracleHeartbeat: uint32(_uintOr(json, ".vault.oracleHeartbeat", 3600, 32)),
            sequencerGracePeriod: uint32(_uintOr(json, ".vault.sequencerGracePeriod", 3600, 32))
        });
    }

    /// @dev A JSON `null` (or a missing key) reads as `address(0)`; anything else must be an
    ///      address (a placeholder such as `"0xYourFeed"` is refused, not read as no feed).
    function _optionalAddress(string memory json, string memory key)
        internal
        view
        returns (address)
    {
        if (!vm.keyExistsJson(json, key)) return address(0);
        bytes memory raw = vm.parseJson(json, key);
        // forge decodes `null`, a number and an address to one word, any other string to more.
        if (raw.length == 32) return abi.decode(raw, (address));
        try vm.parseJsonAddress(json, key) returns (address a) {
            return a;
        } catch {
            revert DeployConfigMalformed(key);
        }
    }

    function _requiredAddress(string memory json, string memory key)
        internal
        view
        returns (address a)
    {
        a = _optionalAddress(json, key);
        if (a == address(0)) revert DeployMissingAddress(key);
    }

    /// @dev A JSON `null` (or a missing key) reads as 0 (`parseJsonUint` refuses `null`); a
    ///      number written as a string (`"86400"`) is read, any other string refused.
    function _optionalUint(string memory json, string memory key) internal view returns (uint256) {
        if (!vm.keyExistsJson(json, key)) return 0;
        bytes memory raw = vm.parseJson(json, key);
        if (raw.length == 32) return abi.decode(raw, (uint256));
        return _parseUint(json, key);
    }

    /// @dev The value at `key`, or `fallback_` when the key is missing. A value that is not a
    ///      number (`"1h"`) is refused: it used to deploy the default silently.
    function _uintOr(string memory json, string memory key, uint256 fallback_)
        internal
        view
        returns (uint256)
    {
        if (!vm.keyExistsJson(json, key)) return fallback_;
        return _parseUint(json, key);
    }

    /// @dev `_uintOr`, for a field of `bits` bits: a larger value is refused, not truncated
    ///      (`maxSlippageBps` 65636 would deploy as 100).
    function _uintOr(string memory json, string memory key, uint256 fallback_, uint256 bits)
        internal
        view
        returns (uint256)
    {
        return _fits(key, _uintOr(json, key, fallback_), bits);
    }

    function _intOr(string memory json, string memory key, int256 fallback_)
        internal
        view
        returns (int256)
    {
        if (!vm.keyExistsJson(json, key)) return fallback_;
        try vm.parseJsonInt(json, key) returns (int256 v) {
            return v;
        } catch {
            revert DeployConfigMalformed(key);
        }
    }

    function _parseUint(string memory json, string memory key) private view returns (uint256) {
        try vm.parseJsonUint(json, key) returns (uint256 v) {
            return v;
        } catch {
            revert DeployConfigMalformed(key);
        }
    }

    /// @dev `value` when it fits in `bits` bits, else `DeployConfigOutOfRange`.
    function _fits(string memory key, uint256 value, uint256 bits) internal pure returns (uint256) {
        uint256 max = type(uint256).max >> (256 - bits);
        if (value > max) revert DeployConfigOutOfRange(key, value, max);
        return value;
    }

    /// @dev `KEEPER_ADDRESS`: empty (unset) is no keeper; anything else must be a non-zero
    ///      address, with a matching checksum when written in mixed case (as the keeper's own
    ///      settings require). `vm.envOr(name, address(0))` read a placeholder or a typo as unset
    ///      and deployed without a keeper.
    function _keeperAddress(string memory raw) internal view returns (address a) {
        if (bytes(raw).length == 0) return address(0);
        // A private key (the variable beside it) is never parsed: forge's trace of a failed
        // parse, and this error, would print it.
        if (_keyLike(bytes(raw))) {
            revert DeployKeeperAddress("64 hex digits, as a private key has (not shown)");
        }
        try vm.parseAddress(raw) returns (address parsed) {
            a = parsed;
        } catch {
            revert DeployKeeperAddress(raw);
        }
        if (a == address(0)) revert DeployKeeperAddress(raw);
        bytes memory b = bytes(raw);
        bool lower;
        bool upper;
        for (uint256 i = 2; i < b.length; ++i) {
            if (b[i] >= "a" && b[i] <= "f") lower = true;
            if (b[i] >= "A" && b[i] <= "F") upper = true;
        }
        if (lower && upper && keccak256(b) != keccak256(bytes(vm.toString(a)))) {
            revert DeployKeeperAddress(raw);
        }
    }

    /// @dev A yes/no environment variable: `true` or `1`, `false`, `0` or empty (any case).
    ///      `vm.envOr(name, false)` read any other value (`yes`) as unset.
    function _flag(string memory name, string memory raw) internal pure returns (bool) {
        bytes32 v = keccak256(bytes(vm.toLowercase(raw)));
        if (v == keccak256("true") || v == keccak256("1")) return true;
        if (v == keccak256("false") || v == keccak256("0") || v == keccak256("")) return false;
        revert DeployEnvMalformed(name, raw);
    }

    /// @dev 64 hex digits, with or without `0x`: what a private key is.
    function _keyLike(bytes memory b) private pure returns (bool) {
        uint256 start = b.length == 66 && b[0] == "0" && (b[1] == "x" || b[1] == "X") ? 2 : 0;
        if (b.length - start != 64) return false;
        for (uint256 i = start; i < b.length; ++i) {
            bytes1 c = b[i];
            bool hex_ = (c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");
            if (!hex_) return false;
        }
        return true;
    }

    function _stringOr(string memory json, string memory key, string memory fallback_)
        internal
        view
        returns (string memory)
    {
        if (!vm.keyExistsJson(json, key)) return fallback_;
        // A JSON `null` is a key left out: `parseJsonString` read it as "null". Forge decodes
        // `null` to one zero word (a string decodes to more: its offset, length and bytes).
        bytes memory raw = vm.parseJson(json, key);
        if (raw.length == 0 || (raw.length == 32 && abi.decode(raw, (uint256)) == 0)) {
            return fallback_;
        }
        return vm.parseJsonString(json, key);
    }

    // ------------------------------------------------------------------ checks

    /// @dev The feed the vault will price with: the pair it claims to be, its decimals, a
    ///      positive answer, and a round fresh enough for the vault to accept.
    function _checkFeed(Config memory c) internal view {
        address feed = c.feed;
        if (feed.code.length == 0) revert DeployNoCode("chainlink.ethUsdFeed", feed);
        AggregatorV3Interface agg = AggregatorV3Interface(feed);
        string memory description;
        try agg.description() returns (string memory d) {
            description = d;
        } catch {
            revert DeployNotAFeed("chainlink.ethUsdFeed", feed);
        }
        console2.log("feed", feed, description);
        if (
            bytes(c.feedDescription).length != 0
                && keccak256(bytes(description)) != keccak256(bytes(c.feedDescription))
        ) {
            revert DeployFeedDescription(feed, description, c.feedDescription);
        }
        uint8 dec;
        try agg.decimals() returns (uint8 d) {
            dec = d;
        } catch {
            revert DeployNotAFeed("chainlink.ethUsdFeed", feed);
        }
        if (dec != 8) revert DeployFeedDecimals(feed, dec);
        int256 answer;
        uint256 updatedAt;
        // slither-disable-next-line unused-return -- the round ids are not checked
        try agg.latestRoundData() returns (uint80, int256 a, uint256, uint256 u, uint80) {
            (answer, updatedAt) = (a, u);
        } catch {
            revert DeployNotAFeed("chainlink.ethUsdFeed", feed);
        }
        if (answer <= 0) revert DeployFeedAnswer(feed, answer);
        // The vault refuses a price older than its own heartbeat; a documented feed heartbeat,
        // when configured and shorter, is the stricter sign of a feed that stopped updating.
        uint256 heartbeat = c.thresholds.oracleHeartbeat;
        if (c.feedHeartbeat != 0 && c.feedHeartbeat < heartbeat) heartbeat = c.feedHeartbeat;
        // The vault counts a round dated after the block as stale; a broken feed, refused here.
        // forge-lint: disable-next-line(block-timestamp) -- staleness is a time rule
        if (updatedAt > block.timestamp) {
            revert DeployFeedFromTheFuture(feed, description, updatedAt, block.timestamp);
        }
        uint256 age = block.timestamp - updatedAt;
        if (age > heartbeat) revert DeployFeedStale(feed, description, age, heartbeat);
        // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0 was checked above
        console2.log("feed ok, answer", uint256(answer));
        console2.log("feed round age (s), heartbeat (s)", age, heartbeat);
        _checkSequencerFeed(c.sequencerFeed);
    }

    /// @dev A configured sequencer-uptime feed must be a feed: the vault reads it on every
    ///      rebalance and takes a failed read as the sequencer down (`OptionVaultSequencerDown`),
    ///      so an EOA or another contract there would block the vault for good. Its answer is not
    ///      checked: the sequencer may be down while deploying.
    function _checkSequencerFeed(address seq) internal view {
        if (seq == address(0)) return;
        if (seq.code.length == 0) revert DeployNoCode("chainlink.sequencerUptimeFeed", seq);
        // slither-disable-next-line unused-return -- only that it answers is checked
        try AggregatorV3Interface(seq).latestRoundData() returns (
            uint80, int256, uint256, uint256, uint80
        ) {}
        catch {
            revert DeployNotAFeed("chainlink.sequencerUptimeFeed", seq);
        }
    }

    /// @dev Code at every configured address, and a pool at the configured fee tier, else at
    ///      the other common tier (500 <-> 3000; anything else falls back to 3000).
    function _checkUniswap(Config memory c) private view returns (address pool, uint24 fee) {
        if (c.uniFactory.code.length == 0) revert DeployNoCode("uniswap.factory", c.uniFactory);
        if (c.quote.code.length == 0) revert DeployNoCode("tokens.quote.address", c.quote);
        if (c.underlying.code.length == 0) {
            revert DeployNoCode("tokens.underlying.address", c.underlying);
        }
        IUniswapV3Factory f = IUniswapV3Factory(c.uniFactory);
        fee = c.poolFee;
        pool = f.getPool(c.underlying, c.quote, fee);
        if (pool == address(0)) {
            uint24 other = fee == 3000 ? 500 : 3000;
            pool = f.getPool(c.underlying, c.quote, other);
            if (pool == address(0)) revert DeployNoPool(c.uniFactory, fee, other);
            console2.log("no pool at the configured fee; using fee", other);
            fee = other;
        }
    }

    /// @dev `funds` (the deployer's balance before the deployment) must pay `gasUsed` (what the
    ///      simulation of every transaction used) at the current base fee, or `DeployUnfunded`.
    ///      A lower bound: each transaction's limit is forge's estimate plus 30%, priced at up to
    ///      twice the base fee, and an L2 adds its L1 data fee.
    function _checkFunds(address deployer, uint256 funds, uint256 gasUsed) internal view {
        uint256 needed = gasUsed * block.basefee;
        if (funds < needed) revert DeployUnfunded(deployer, funds, needed);
    }

    // ------------------------------------------------------------------ output

    /// @dev The keys `keeper run --addresses` reads (`lens`, `batcher`, `vaults`, `factory`,
    ///      `chain_id`), then everything else for reference.
    function _write(Config memory c, Deployed memory d, string memory outPath) private {
        string memory o = "deployment";
        address[] memory vaults = new address[](1);
        vaults[0] = d.vault;
        vm.serializeString(o, "network", c.network);
        vm.serializeUint(o, "chain_id", block.chainid);
        vm.serializeAddress(o, "lens", d.lens);
        vm.serializeAddress(o, "batcher", d.batcher);
        vm.serializeAddress(o, "vaults", vaults);
        vm.serializeAddress(o, "factory", d.factory);
        vm.serializeAddress(o, "vault_implementation", d.vaultImpl);
        vm.serializeAddress(o, "claims_implementation", d.claimsImpl);
        vm.serializeAddress(o, "claims", d.claims);
        vm.serializeAddress(o, "redemption_queue", d.queue);
        vm.serializeAddress(o, "venue", d.venue);
        vm.serializeAddress(o, "pool", d.pool);
        vm.serializeUint(o, "pool_fee", d.poolFee);
        vm.serializeAddress(o, "price_feed", c.feed);
        vm.serializeAddress(o, "sequencer_feed", c.sequencerFeed);
        vm.serializeAddress(o, "usdc", c.quote);
        vm.serializeAddress(o, "weth", c.underlying);
        vm.serializeAddress(o, "keeper", d.keeper);
        string memory json = vm.serializeAddress(o, "admin", d.admin);
        // A fresh clone has no deployments/ (its outputs are git-ignored): create the directory.
        vm.createDir(_parentDir(outPath), true);
        vm.writeJson(json, outPath);
        console2.log("addresses written to", outPath);
    }

    /// @dev Reverts with `DeployWouldOverwrite` when `path` is an addresses file for this chain
    ///      whose vaults include one with code. A file that is missing, unreadable as one, or for
    ///      another chain, or whose vaults have no code (a failed deploy), is replaced.
    function _checkOverwrite(string memory path) internal view {
        if (!vm.exists(path)) return;
        string memory json = vm.readFile(path);
        try vm.parseJsonUint(json, ".chain_id") returns (uint256 chainId) {
            if (chainId != block.chainid) return;
        } catch {
            return;
        }
        address[] memory vaults;
        try vm.parseJsonAddressArray(json, ".vaults") returns (address[] memory v) {
            vaults = v;
        } catch {
            return;
        }
        for (uint256 i; i < vaults.length; ++i) {
            if (vaults[i].code.length != 0) revert DeployWouldOverwrite(path, vaults[i]);
        }
    }

    /// @dev `path` up to its last `/` (`/` for a file at the root, `.` for a bare name).
    function _parentDir(string memory path) private pure returns (string memory) {
        bytes memory b = bytes(path);
        for (uint256 i = b.length; i > 0; --i) {
            if (b[i - 1] == "/") {
                if (i == 1) return "/";
                bytes memory dir = new bytes(i - 1);
                for (uint256 j = 0; j < i - 1; ++j) {
                    dir[j] = b[j];
                }
                return string(dir);
            }
        }
        return ".";
    }
}
