// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Devnet only. Compiles Chainlink's own reference aggregator into `out/` so the devnet can deploy
// it for the price feed and for the L2 sequencer-uptime feed (answer 0 = up, 1 = down).
// solhint-disable-next-line no-unused-import
import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";
