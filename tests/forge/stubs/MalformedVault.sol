// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Unit-test stub: answers every call with 1 byte, which no ABI decoder accepts.
contract MalformedVault {
    fallback() external {
        assembly {
            mstore(0, 0x01)
            return(31, 1)
        }
    }
}
