"""Chain reads retry on transport errors only, a bounded number of times."""

from __future__ import annotations

import pytest
import requests
from web3.exceptions import ContractLogicError, ProviderConnectionError

from keeper.chain.retry import is_transport_error, read_with_retry


def flaky(failures: list[BaseException], value: int = 7) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return value

    return calls, fn


def test_transport_errors_are_retried_then_succeed() -> None:
    calls, fn = flaky([requests.ConnectionError("reset"), ProviderConnectionError("ws closed")])
    assert read_with_retry(fn, attempts=3, initial_s=0.001, max_s=0.002) == 7  # type: ignore[arg-type]
    assert len(calls) == 3


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    calls, fn = flaky([requests.Timeout("t")] * 5)
    with pytest.raises(requests.Timeout):
        read_with_retry(fn, attempts=3, initial_s=0.001, max_s=0.002)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_reverts_are_not_retried() -> None:
    calls, fn = flaky([ContractLogicError("execution reverted")])
    with pytest.raises(ContractLogicError):
        read_with_retry(fn, attempts=5, initial_s=0.001)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_http_status_classification() -> None:
    def http_error(code: int) -> requests.HTTPError:
        resp = requests.Response()
        resp.status_code = code
        return requests.HTTPError(response=resp)

    assert is_transport_error(http_error(503))
    assert is_transport_error(http_error(429))
    assert not is_transport_error(http_error(400))
    assert not is_transport_error(ValueError("bad answer"))


def test_a_lens_revert_is_said_in_words_not_as_a_tuple() -> None:
    """web3's ``str()`` of a revert is a tuple: a wrong lens said "VaultLens.snapshotLean
    reverted: ('execution reverted', '0x')"."""
    from keeper.chain.lens import LensReader
    from keeper.errors import ChainError

    reader = LensReader.__new__(LensReader)
    reader.attempts = 1
    reader.chunk = 8  # type: ignore[attr-defined]

    def bare() -> list[bytes]:
        raise ContractLogicError("execution reverted", data="0x")

    def with_data() -> list[bytes]:
        raise ContractLogicError("execution reverted", data="0x08c379a0" + "00" * 32)

    with pytest.raises(ChainError) as info:
        reader._halving_on_out_of_gas("snapshotLean", "chunk", bare)
    assert str(info.value) == "VaultLens.snapshotLean reverted: execution reverted with no data"
    with pytest.raises(ChainError) as info:
        reader._halving_on_out_of_gas("snapshotLean", "chunk", with_data)
    assert str(info.value).startswith(
        "VaultLens.snapshotLean reverted: execution reverted with data 0x08c379a0"
    )
