// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IOptionVault} from "../../../contracts/interfaces/IOptionVault.sol";
import {IRebalanceBatcher} from "../../../contracts/interfaces/IRebalanceBatcher.sol";

/// @notice Unit-test stub of the vault surface the batcher and the lens use: the views H1 keeps
///         stable (`netDelta, thresholds, volatility, hedgeInventory, lastRebalance, openSeries,
///         freeQuote, rebalanceTrigger, oracle, sequencerFeed, venue, totalAssets, totalSupply,
///         paused`) and a keeper-gated `rebalance()` whose behaviour a test chooses. Not the vault.
contract StubOptionVault {
    enum Mode {
        Succeed,
        RevertWithinBand, // a real IOptionVault custom error
        RevertHuge, // 100 kB of revert data (returnbomb)
        BurnGas, // loops until out of gas
        ReturnNothing, // succeeds with empty return data
        Reenter // calls the batcher back
    }

    error StubUnauthorized(address caller);

    /// @dev Bits for `setRevertingReads`: which views revert.
    uint256 internal constant R_NET_DELTA = 1 << 0;
    uint256 internal constant R_TOTAL_ASSETS = 1 << 1;
    uint256 internal constant R_TRIGGER = 1 << 2;
    uint256 internal constant R_SERIES = 1 << 3;

    address public keeper;
    Mode public mode;
    uint256 public rebalanceCalls;
    uint256 public revertingReads;

    int256 internal _netDelta;
    uint256 internal _inventory;
    IOptionVault.Thresholds internal _thresholds;
    uint256 internal _lastRebalance;
    uint256 internal _volatility = 8e17;
    uint256 internal _totalAssets;
    uint256 internal _totalSupply;
    uint256 internal _freeQuote;
    bool internal _paused;
    bool internal _triggerReady;
    IOptionVault.Trigger internal _trigger;
    address internal _oracle;
    address internal _sequencerFeed;
    address internal _venue;
    IOptionVault.Series[] internal _series;

    constructor(address keeper_, address oracle_, address sequencerFeed_, address venue_) {
        keeper = keeper_;
        _oracle = oracle_;
        _sequencerFeed = sequencerFeed_;
        _venue = venue_;
        _thresholds = IOptionVault.Thresholds({
            targetDelta: 0,
            band: 1e18,
            minInterval: 60,
            maxInterval: 3600,
            maxTrade: 10e18,
            maxSlippageBps: 50,
            maxOracleGapBps: 100,
            oracleHeartbeat: 3600,
            sequencerGracePeriod: 3600
        });
    }

    // ------------------------------------------------------------------ test setters

    function setMode(Mode m) external {
        mode = m;
    }

    function setRevertingReads(uint256 bits) external {
        revertingReads = bits;
    }

    function setState(
        int256 netDelta_,
        uint256 inventory_,
        uint256 totalAssets_,
        uint256 totalSupply_,
        uint256 freeQuote_,
        bool paused_
    ) external {
        _netDelta = netDelta_;
        _inventory = inventory_;
        _totalAssets = totalAssets_;
        _totalSupply = totalSupply_;
        _freeQuote = freeQuote_;
        _paused = paused_;
    }

    function setTrigger(bool ready, IOptionVault.Trigger t) external {
        _triggerReady = ready;
        _trigger = t;
    }

    function addSeries(uint256 n) external {
        for (uint256 i; i < n; ++i) {
            uint256 id = _series.length + 1;
            _series.push(
                IOptionVault.Series({
                    id: id,
                    optionType: id % 2 == 0
                        ? IOptionVault.OptionType.Put
                        : IOptionVault.OptionType.Call,
                    strike: 3000e8 + id * 100e8,
                    cap: 1000e8,
                    expiry: uint64(block.timestamp + 7 days),
                    size: id * 1e18,
                    settled: false,
                    payoutPerContract: 0
                })
            );
        }
    }

    // ------------------------------------------------------------------ keeper

    function rebalance() external returns (int256 deltaBefore, int256 deltaAfter) {
        if (msg.sender != keeper) revert StubUnauthorized(msg.sender);
        Mode m = mode;
        if (m == Mode.RevertWithinBand) {
            revert IOptionVault.OptionVaultWithinBand(
                _netDelta, _thresholds.targetDelta, _thresholds.band
            );
        }
        if (m == Mode.RevertHuge) {
            assembly {
                revert(0, 100000)
            }
        }
        if (m == Mode.BurnGas) {
            while (true) {
                ++rebalanceCalls;
            }
        }
        if (m == Mode.ReturnNothing) {
            ++rebalanceCalls;
            assembly {
                return(0, 0)
            }
        }
        if (m == Mode.Reenter) {
            address[] memory self = new address[](1);
            self[0] = address(this);
            IRebalanceBatcher(msg.sender).rebalanceMany(self);
        }
        ++rebalanceCalls;
        deltaBefore = _netDelta;
        deltaAfter = _thresholds.targetDelta;
        _netDelta = deltaAfter;
        _lastRebalance = block.timestamp;
    }

    // ------------------------------------------------------------------ views

    function rebalanceTrigger() external view returns (bool, bytes memory) {
        if (revertingReads & R_TRIGGER != 0) revert("trigger");
        return (_triggerReady, abi.encode(_trigger));
    }

    function netDelta() external view returns (int256) {
        if (revertingReads & R_NET_DELTA != 0) revert("netDelta");
        return _netDelta;
    }

    function thresholds() external view returns (IOptionVault.Thresholds memory) {
        return _thresholds;
    }

    function volatility() external view returns (uint256) {
        return _volatility;
    }

    function hedgeInventory() external view returns (uint256) {
        return _inventory;
    }

    function lastRebalance() external view returns (uint256) {
        return _lastRebalance;
    }

    function openSeries() external view returns (IOptionVault.Series[] memory) {
        if (revertingReads & R_SERIES != 0) revert("series");
        return _series;
    }

    function freeQuote() external view returns (uint256) {
        return _freeQuote;
    }

    function totalAssets() external view returns (uint256) {
        if (revertingReads & R_TOTAL_ASSETS != 0) revert("totalAssets");
        return _totalAssets;
    }

    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    function paused() external view returns (bool) {
        return _paused;
    }

    function oracle() external view returns (address) {
        return _oracle;
    }

    function sequencerFeed() external view returns (address) {
        return _sequencerFeed;
    }

    function venue() external view returns (address) {
        return _venue;
    }
}
