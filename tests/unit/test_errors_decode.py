"""Revert data -> readable reasons, from the interfaces' ABIs; the error tree."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError

from keeper.errors import (
    ChainError,
    ConfigError,
    ExecutionError,
    FeeCapError,
    Halt,
    KeeperError,
    NonceError,
    OracleError,
    StaleOracleError,
    TxRevertedError,
    TxTimeoutError,
)
from keeper.execution.decode import ErrorDecoder, revert_data


def sel(sig: str) -> bytes:
    return bytes(keccak(text=sig)[:4])


@pytest.fixture(scope="module")
def decoder() -> ErrorDecoder:
    d = ErrorDecoder.from_artifacts()
    assert len(d) > 20, "interfaces not compiled (KEEPER_ARTIFACTS_DIR?)"
    return d


def test_vault_error_with_signed_args(decoder: ErrorDecoder) -> None:
    data = sel("OptionVaultWithinBand(int256,int256,uint256)") + encode(
        ["int256", "int256", "uint256"], [-5 * 10**17, 0, 10**18]
    )
    assert decoder.decode(data) == (
        "OptionVaultWithinBand(delta=-500000000000000000, target=0, band=1000000000000000000)"
    )
    assert decoder.name_of(data) == "OptionVaultWithinBand"


def test_batcher_error_with_address(decoder: ErrorDecoder) -> None:
    who = "0x" + "ab" * 20
    data = sel("RebalanceBatcherUnauthorized(address)") + encode(["address"], [who])
    assert decoder.decode(data) == f"RebalanceBatcherUnauthorized(caller={who})"


def test_bytes32_parameter_name_is_readable(decoder: ErrorDecoder) -> None:
    data = sel("OptionVaultParameterOutOfBounds(bytes32,uint256)") + encode(
        ["bytes32", "uint256"], [b"band".ljust(32, b"\0"), 7]
    )
    assert decoder.decode(data) == "OptionVaultParameterOutOfBounds(parameter='band', value=7)"


def test_venue_error_and_no_args(decoder: ErrorDecoder) -> None:
    assert decoder.decode(sel("OptionVaultSequencerDown()")) == "OptionVaultSequencerDown()"
    data = sel("HedgeVenueInsufficientOutput(uint256,uint256)") + encode(
        ["uint256", "uint256"], [1, 2]
    )
    assert decoder.decode(data) == "HedgeVenueInsufficientOutput(amountOut=1, minOut=2)"


def test_builtin_errors_unknown_and_empty() -> None:
    d = ErrorDecoder()
    assert d.decode(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])) == "Error('nope')"
    assert d.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == (
        "Panic(0x11: arithmetic overflow or underflow)"
    )
    assert d.decode(b"") == "reverted without data"
    assert d.decode(b"\xde\xad\xbe\xef") == "unknown error 0xdeadbeef (4 bytes)"
    assert d.decode("0x") == "reverted without data"


def test_truncated_data_is_malformed_not_a_crash(decoder: ErrorDecoder) -> None:
    data = sel("OptionVaultWithinBand(int256,int256,uint256)") + b"\x01" * 10
    assert decoder.decode(data).startswith("malformed revert data 0x")


def test_revert_data_from_web3_exception() -> None:
    exc = ContractCustomError("0xdeadbeef", data="0xdeadbeef")
    assert revert_data(exc) == b"\xde\xad\xbe\xef"
    assert revert_data(ValueError("x")) == b""


def test_error_tree() -> None:
    assert issubclass(StaleOracleError, OracleError)
    assert issubclass(TxRevertedError, ExecutionError)
    assert issubclass(TxTimeoutError, ExecutionError)
    assert issubclass(FeeCapError, ExecutionError)
    assert issubclass(NonceError, ExecutionError)
    for cls in (ConfigError, OracleError, ChainError, ExecutionError, Halt):
        assert issubclass(cls, KeeperError)
    err = TxRevertedError("Foo()", b"\x01")
    assert err.reason == "Foo()"
    assert err.data == b"\x01"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (sel("EnforcedPause()"), "EnforcedPause()"),
        (sel("ReentrancyGuardReentrantCall()"), "ReentrancyGuardReentrantCall()"),
        (
            sel("AccessControlUnauthorizedAccount(address,bytes32)")
            + encode(["address", "bytes32"], ["0x" + "ab" * 20, b"\x01" * 32]),
            "AccessControlUnauthorizedAccount(account=0x" + "ab" * 20,
        ),
        (
            sel("SafeERC20FailedOperation(address)") + encode(["address"], ["0x" + "cd" * 20]),
            "SafeERC20FailedOperation(token=0x" + "cd" * 20 + ")",
        ),
    ],
)
def test_openzeppelin_errors_of_the_contracts_are_named(
    decoder: ErrorDecoder, data: bytes, reason: str
) -> None:
    # A vault paused between the simulation and the mining fails in its batch with OZ's
    # EnforcedPause, which the interfaces do not declare: it read "unknown error 0xd93c0665".
    assert decoder.decode(data).startswith(reason)
