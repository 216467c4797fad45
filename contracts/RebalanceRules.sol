// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IHedgeVenue} from "./interfaces/IHedgeVenue.sol";
import {BookPricer} from "./BookPricer.sol";

/// @title RebalanceRules
/// @notice A vault's oracle policy and rebalance rules: whether the oracle may be trusted now
///         ({oracleStatus}), the price views use ({valuationPrice}), and whether and how far to
///         trade ({plan}: net delta, band and time triggers, pool-oracle gap, trade size).
///         Stateless; errors come back as `IOptionVault` custom-error data, never as reverts.
/// @dev Out of {OptionVault} for its bytecode size, like the pricing (see {BookPricer}). It
///      extends {BookPricer} rather than calling one, so `plan` prices the book in the same
///      frame, and the vault's implementation deploys this one contract for both: the vault
///      reaches its pricing and its rules at the same immutable address.
contract RebalanceRules is BookPricer {
    /// @notice What `plan` needs besides the book.
    struct PlanInput {
        IOptionVault.Thresholds thresholds;
        uint256 lastRebalance;
        uint256 timestamp;
        address oracle;
        address sequencerFeed; // zero when the chain has none
        address venue; // asked for its spot price (gap check)
        uint256 inventory; // hedge inventory (1e18)
        uint256 freeQuote; // quote units
        uint256 vol; // 1e18
    }

    /// @notice A rebalance: why, from where, and the exact swap.
    struct Plan {
        IOptionVault.Trigger trigger;
        int256 deltaBefore;
        uint256 price;
        bool buy;
        uint256 amountIn;
        uint256 minOut;
    }

    uint256 private constant BPS = 10_000;
    /// @dev underlying (1e18) * price (1e8) / 1e20 = quote (1e6).
    uint256 private constant UNDERLYING_PRICE_TO_QUOTE = 1e20;

    /// @notice The rest of a vault's rebalance checks, in order, after paused and min interval:
    ///         the oracle ({oracleStatus}), net delta, band trigger (|target - net| > band), else
    ///         time trigger (now - last >= maxInterval and net != target), pool-oracle gap, trade
    ///         size. Buys spend quote = min(trade, maxTrade) * price (rounded down), capped by
    ///         free quote, with minOut = quote / price * (1 - slippage) in underlying; sells spend
    ///         min(trade, maxTrade, inventory) underlying with minOut = amount * price *
    ///         (1 - slippage) in quote. All rounding is down (the vault pays less, asks less).
    /// @return p The plan (valid only when `err` is empty).
    /// @return err Empty, or the `IOptionVault` custom error's data.
    function plan(uint256[] calldata book, PlanInput calldata inp)
        external
        view
        returns (Plan memory p, bytes memory err)
    {
        IOptionVault.Thresholds calldata t = inp.thresholds;
        (p.price, err) =
            _oracleStatus(inp.oracle, inp.sequencerFeed, t.oracleHeartbeat, t.sequencerGracePeriod);
        if (err.length != 0) return (p, err);
        // forge-lint: disable-next-line(unsafe-typecast) -- inventory < 2^128 (vault storage)
        p.deltaBefore = int256(inp.inventory) - _bookDelta(book, p.price, inp.vol, inp.timestamp);
        int256 diff = t.targetDelta - p.deltaBefore;
        // forge-lint: disable-next-line(unsafe-typecast) -- |diff| < 2^255
        uint256 absDiff = diff >= 0 ? uint256(diff) : uint256(-diff);
        if (absDiff > t.band) {
            p.trigger = IOptionVault.Trigger.Band;
        } else if (diff != 0 && inp.timestamp >= inp.lastRebalance + t.maxInterval) {
            p.trigger = IOptionVault.Trigger.Time;
        } else {
            return (
                p,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultWithinBand.selector,
                    p.deltaBefore,
                    t.targetDelta,
                    t.band
                )
            );
        }

        uint256 spot = IHedgeVenue(inp.venue).spotPrice();
        uint256 gap = spot > p.price ? spot - p.price : p.price - spot;
        if (gap * BPS > uint256(t.maxOracleGapBps) * p.price) {
            return (
                p,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultOracleGap.selector, spot, p.price, t.maxOracleGapBps
                )
            );
        }

        uint256 want = Math.min(absDiff, t.maxTrade);
        uint256 keep = BPS - t.maxSlippageBps;
        if (diff > 0) {
            p.buy = true;
            p.amountIn =
                Math.min(Math.mulDiv(want, p.price, UNDERLYING_PRICE_TO_QUOTE), inp.freeQuote);
            p.minOut = Math.mulDiv(p.amountIn * keep, UNDERLYING_PRICE_TO_QUOTE, p.price * BPS);
        } else {
            p.amountIn = Math.min(want, inp.inventory);
            p.minOut = Math.mulDiv(p.amountIn * keep, p.price, UNDERLYING_PRICE_TO_QUOTE * BPS);
        }
        if (p.amountIn == 0) {
            return
                (p, abi.encodeWithSelector(IOptionVault.OptionVaultNoTradePossible.selector, diff));
        }
    }

    /// @notice The vault's oracle checks, in order: sequencer up (answer 0, startedAt set) and
    ///         past its grace period, answer > 0, not older than the heartbeat.
    /// @param sequencerFeed Zero when the chain has none.
    /// @return price The answer (1e8) when every check passes, else 0.
    /// @return err Empty when every check passes, else the `IOptionVault` custom error's data.
    function oracleStatus(address oracle, address sequencerFeed, uint256 heartbeat, uint256 grace)
        external
        view
        returns (uint256 price, bytes memory err)
    {
        return _oracleStatus(oracle, sequencerFeed, heartbeat, grace);
    }

    /// @notice The latest positive answer, else `fallbackPrice`; never reverts, even if the
    ///         feed does (views such as `totalAssets` must keep working).
    function valuationPrice(address oracle, uint256 fallbackPrice) external view returns (uint256) {
        try AggregatorV3Interface(oracle).latestRoundData() returns (
            uint80, int256 answer, uint256, uint256, uint80
        ) {
            // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
            if (answer > 0) return uint256(answer);
        } catch {}
        return fallbackPrice;
    }

    function _oracleStatus(address oracle, address sequencerFeed, uint256 heartbeat, uint256 grace)
        private
        view
        returns (uint256 price, bytes memory err)
    {
        if (sequencerFeed != address(0)) {
            (, int256 status, uint256 startedAt,,) =
                AggregatorV3Interface(sequencerFeed).latestRoundData();
            if (status != 0 || startedAt == 0) {
                return (0, abi.encodeWithSelector(IOptionVault.OptionVaultSequencerDown.selector));
            }
            // forge-lint: disable-next-line(block-timestamp) -- the grace period is a time rule
            if (block.timestamp <= startedAt + grace) {
                return (
                    0,
                    abi.encodeWithSelector(
                        IOptionVault.OptionVaultSequencerGracePeriod.selector, startedAt, grace
                    )
                );
            }
        }
        (, int256 answer,, uint256 updatedAt,) = AggregatorV3Interface(oracle).latestRoundData();
        if (answer <= 0) {
            return
                (0, abi.encodeWithSelector(IOptionVault.OptionVaultInvalidPrice.selector, answer));
        }
        // forge-lint: disable-next-line(block-timestamp) -- staleness is a time rule
        if (block.timestamp > updatedAt + heartbeat) {
            return (
                0,
                abi.encodeWithSelector(
                    IOptionVault.OptionVaultStaleOracle.selector, updatedAt, heartbeat
                )
            );
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- answer > 0
        return (uint256(answer), "");
    }
}
