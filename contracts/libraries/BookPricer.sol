// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {
    AggregatorV3Interface
} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IOptionVault} from "../interfaces/IOptionVault.sol";
import {IHedgeVenue} from "../interfaces/IHedgeVenue.sol";
import {BlackScholes} from "./BlackScholes.sol";

/// @title BookPricer
/// @notice Prices a vault's option book with {BlackScholes} (aggregate delta, aggregate value,
///         per-series Greeks) and reads the price it uses, with the vault's oracle checks.
///         Stateless.
/// @dev Why a separate contract: the Black-Scholes code (PRBMath ln/exp/sqrt and the Hart/West
///      CDF) and the oracle checks inlined into {OptionVault} pushed its runtime past EIP-170's
///      24,576 bytes. The vault
///      implementation deploys one BookPricer in its constructor and keeps it as an immutable,
///      which every EIP-1167 clone shares (immutables live in the implementation's code), so
///      deployers still deploy one contract with no arguments. One external call per book costs
///      ~3k gas, a fraction of the pricing itself.
contract BookPricer {
    // A book is `uint256[]` holding each open series' two raw storage words, exactly as
    // {OptionVault} packs its `StoredSeries` (Solidity packs fields from the low-order bits up):
    //   word 0: strike uint56 [0,56) | cap uint56 [56,112) | size uint96 [112,208)
    //           | expiry uint32 [208,240) | optionType uint8 [240,248) (0 call, 1 put)
    //           | settled bool [248,256)
    //   word 1: payout uint64 [0,64) | lnStrike int96 [64,160) | lnStrike2 int96 [160,256)
    // Passing raw words keeps the vault's code and the call's encoding small.

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
    /// @dev size (1e18) * per-contract USD value (1e18) / 1e30 = quote (1e6).
    uint256 private constant WAD_WAD_TO_QUOTE = 1e30;

    /// @notice Sum over the book of size * per-contract delta (1e18 underlying). The vault is
    ///         short the book, so its net delta is inventory minus this.
    function bookDelta(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (int256 delta)
    {
        return _bookDelta(book, price8, vol, timestamp);
    }

    /// @notice The rest of a vault's rebalance checks, in order, after paused and min interval:
    ///         the oracle ({oracleStatus}), net delta, band trigger (|target - net| > band), else time trigger
    ///         (now - last >= maxInterval and net != target), pool-oracle gap, trade size.
    ///         Buys spend quote = min(trade, maxTrade) * price (rounded down), capped by free
    ///         quote, with minOut = quote / price * (1 - slippage) in underlying; sells spend
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

    function _bookDelta(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        private
        pure
        returns (int256 delta)
    {
        if (book.length == 0) return 0;
        int256 lnSpot = BlackScholes.lnPrice(price8);
        for (uint256 i = 0; i < book.length; i += 2) {
            (BlackScholes.Option memory o, uint256 size, uint256 tau) =
                _decode(book[i], book[i + 1], timestamp);
            int256 d = BlackScholes.evaluate(o, price8, lnSpot, vol, tau, false).delta;
            // forge-lint: disable-next-line(unsafe-typecast) -- size < 2^96
            delta += int256(size) * d / 1e18;
        }
    }

    /// @notice Black-Scholes value of the book in quote units (1e6), each series rounded up.
    function bookValue(uint256[] calldata book, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (uint256 value)
    {
        if (book.length == 0) return 0;
        int256 lnSpot = BlackScholes.lnPrice(price8);
        for (uint256 i = 0; i < book.length; i += 2) {
            (BlackScholes.Option memory o, uint256 size, uint256 tau) =
                _decode(book[i], book[i + 1], timestamp);
            BlackScholes.Greeks memory g = BlackScholes.evaluate(o, price8, lnSpot, vol, tau, true);
            // forge-lint: disable-next-line(unsafe-typecast) -- evaluate() clamps price to [0, cap]
            value += Math.mulDiv(size, uint256(g.price), WAD_WAD_TO_QUOTE, Math.Rounding.Ceil);
        }
    }

    /// @notice Per-contract value, delta, gamma and vega of one series given its two storage
    ///         words (1e18; see {BlackScholes}).
    function greeks(uint256 w0, uint256 w1, uint256 price8, uint256 vol, uint256 timestamp)
        external
        pure
        returns (int256 price, int256 delta, int256 gamma, int256 vega)
    {
        (BlackScholes.Option memory o,, uint256 tau) = _decode(w0, w1, timestamp);
        BlackScholes.Greeks memory g =
            BlackScholes.evaluate(o, price8, BlackScholes.lnPrice(price8), vol, tau, true);
        return (g.price, g.delta, g.gamma, g.vega);
    }

    /// @notice The strike logarithms a vault stores when it writes a series.
    function strikeLogs(bool isCall, uint256 strike8, uint256 cap8)
        external
        pure
        returns (int256 lnStrike, int256 lnStrike2)
    {
        BlackScholes.Option memory o = BlackScholes.option(isCall, strike8, cap8);
        return (o.lnStrike, o.lnStrike2);
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

    /// @dev Unpacks one series (layout above) into its pricing view, size and time to expiry.
    function _decode(uint256 w0, uint256 w1, uint256 timestamp)
        private
        pure
        returns (BlackScholes.Option memory o, uint256 size, uint256 tau)
    {
        uint256 strike = w0 & type(uint56).max;
        uint256 cap = (w0 >> 56) & type(uint56).max;
        size = (w0 >> 112) & type(uint96).max;
        uint256 expiry = (w0 >> 208) & type(uint32).max;
        tau = expiry > timestamp ? expiry - timestamp : 0;
        o.isCall = (w0 >> 240) & 0xff == 0;
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
        o.strike = int256(strike) * 1e10;
        // forge-lint: disable-next-line(unsafe-typecast) -- < 2^56
        o.cap = int256(cap) * 1e10;
        if (o.isCall) {
            o.strike2 = o.strike + o.cap;
        } else if (o.cap < o.strike) {
            o.strike2 = o.strike - o.cap;
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        o.lnStrike = int96(uint96(w1 >> 64));
        // forge-lint: disable-next-line(unsafe-typecast) -- sign-extends the stored int96
        o.lnStrike2 = int96(uint96(w1 >> 160));
    }
}
