"""Decode revert data into readable reasons: ``selector -> Name(arg=value, ...)``.

The decoder is built from the ABIs of the vault, the batcher and the venue (their custom errors
live in the interfaces), plus Solidity's built-in ``Error(string)`` and ``Panic(uint256)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from keeper.chain.artifacts import load_abi
from keeper.errors import ConfigError

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")

#: Artifacts whose custom errors can surface from a keeper call: the interfaces, and the
#: contracts themselves for the OpenZeppelin errors they inherit (``EnforcedPause`` of a paused
#: vault, ``ReentrancyGuardReentrantCall``, ``AccessControlUnauthorizedAccount``, ...).
DEFAULT_ERROR_SOURCES = (
    "IOptionVault",
    "IRebalanceBatcher",
    "IHedgeVenue",
    "OptionVault",
    "RebalanceBatcher",
    "UniswapV3Venue",
    "RedemptionQueue",
)

_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized function",
}


def _canonical_type(param: Mapping[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def _fmt(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.rstrip(b"\0")
        if text and all(32 <= b < 127 for b in text) and len(value) == 32:
            return repr(text.decode())  # a bytes32 label such as a parameter name
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


class ErrorDecoder:
    """Maps 4-byte error selectors to their ABI definitions."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            self.add_abi(abi)

    @classmethod
    def from_artifacts(cls, names: Sequence[str] = DEFAULT_ERROR_SOURCES) -> ErrorDecoder:
        """Build from the compiled interfaces; a missing artifact is skipped with its errors."""
        abis = []
        for name in names:
            try:
                abis.append(load_abi(name))
            except ConfigError:
                continue
        return cls(abis)

    def add_abi(self, abi: Sequence[Mapping[str, Any]]) -> None:
        """Register every ``error`` entry of ``abi``."""
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_canonical_type(p) for p in item.get("inputs", [])]
            names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(item.get("inputs", []))]
            signature = f"{item['name']}({','.join(types)})"
            self._errors[bytes(keccak(text=signature)[:4])] = (str(item["name"]), types, names)

    def __len__(self) -> int:
        return len(self._errors)

    def name_of(self, data: bytes) -> str | None:
        """Return the error's name for revert ``data`` (``None`` if unknown)."""
        data = bytes(data)
        if data[:4] == ERROR_STRING_SELECTOR:
            return "Error"
        if data[:4] == PANIC_SELECTOR:
            return "Panic"
        entry = self._errors.get(data[:4])
        return entry[0] if entry else None

    def decode(self, data: bytes | str) -> str:
        """Return a readable reason for revert ``data``."""
        raw = bytes(HexBytes(data)) if isinstance(data, str) else bytes(data)
        if not raw:
            return "reverted without data"
        selector, body = raw[:4], raw[4:]
        try:
            if selector == ERROR_STRING_SELECTOR:
                (message,) = abi_decode(["string"], body)
                return f"Error({message!r})"
            if selector == PANIC_SELECTOR:
                (code,) = abi_decode(["uint256"], body)
                return f"Panic(0x{code:02x}: {_PANIC_CODES.get(code, 'unknown panic')})"
            entry = self._errors.get(selector)
            if entry is None:
                return f"unknown error 0x{selector.hex()} ({len(raw)} bytes)"
            name, types, names = entry
            values = abi_decode(types, body)
        except (DecodingError, ValueError, OverflowError):
            return f"malformed revert data 0x{raw[:36].hex()}"
        args = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, values, strict=True))
        return f"{name}({args})"


def revert_data(exc: BaseException) -> bytes:
    """Extract raw revert data from a web3 exception (``b""`` when there is none)."""
    data = getattr(exc, "data", None)
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes(HexBytes(data))
        except ValueError:
            return b""
    if isinstance(data, dict):
        inner = data.get("data")
        if isinstance(inner, str) and inner.startswith("0x"):
            return bytes(HexBytes(inner))
    return b""
