"""The lens reader: every vault's state in one ``eth_call`` per chunk of up to 250 vaults.

``VaultLens.snapshot(address[])`` returns, per vault, the oracle round and sequencer status, the
on-chain net delta, inventory, thresholds, last rebalance, pool price, vol, ERC-4626 totals, the
trigger view and the open series. This module encodes the call, sends the chunks (as one JSON-RPC
batch when the provider supports it, else one after another), and decodes the answer into frozen
dataclasses by the ABI's component *names*, so a reordered struct does not silently shift fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntFlag
from functools import cache
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_output_types
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.providers import JSONBaseProvider

from keeper.chain.artifacts import load_abi
from keeper.chain.retry import read_with_retry
from keeper.errors import ChainError
from keeper.units import Wad

logger = logging.getLogger(__name__)

#: Vaults per ``snapshot`` call: one call covers up to this many.
DEFAULT_CHUNK = 250
#: Gas offered to each lens ``eth_call``. The lens costs about 180k gas per vault with one open
#: series (measured on anvil), so 250 vaults need ~45M, above a 30M block: nodes accept a larger
#: ``gas`` on ``eth_call`` up to their RPC gas cap. If the node still runs out of gas, the reader
#: halves its chunk size and retries (and keeps the smaller size).
DEFAULT_CALL_GAS = 250_000_000


@dataclass(frozen=True)
class OracleState:
    """The price feed's latest round and the sequencer feed, as a vault sees them."""

    round_id: int
    answer: int
    updated_at: int
    decimals: int
    sequencer_down: bool
    sequencer_started_at: int

    @property
    def has_sequencer_feed(self) -> bool:
        """Whether the vault has a sequencer feed (the lens reports 0 when it has none)."""
        return self.sequencer_started_at != 0 or self.sequencer_down


@dataclass(frozen=True)
class VaultThresholds:
    """The vault's on-chain hedging thresholds as the lens read them (wad deltas, seconds, bps)."""

    target_delta: Wad
    band: Wad
    min_interval: int
    max_interval: int
    max_trade: Wad
    max_slippage_bps: int
    max_oracle_gap_bps: int
    oracle_heartbeat: int
    sequencer_grace_period: int


@dataclass(frozen=True)
class Series:
    """One open option series (strike and cap 1e8, size 1e18 contracts)."""

    id: int
    option_type: int  # 0 call, 1 put
    strike: int
    cap: int
    expiry: int
    size: int
    settled: bool
    payout_per_contract: int

    @property
    def is_call(self) -> bool:
        """True for a call, False for a put."""
        return self.option_type == 0


class LensRead(IntFlag):
    """The reads a lens snapshot can fail (``IVaultLens.sol``'s ``LENS_READ_*`` bits)."""

    NONE = 0
    ORACLE = 1 << 0  # oracle(), latestRoundData() or decimals()
    SEQUENCER = 1 << 1  # sequencerFeed() or its latestRoundData()
    NET_DELTA = 1 << 2
    INVENTORY = 1 << 3
    THRESHOLDS = 1 << 4
    LAST_REBALANCE = 1 << 5
    POOL_PRICE = 1 << 6  # venue() or its spotPrice()
    VOLATILITY = 1 << 7
    TOTAL_ASSETS = 1 << 8
    TOTAL_SUPPLY = 1 << 9
    FREE_QUOTE = 1 << 10
    PAUSED = 1 << 11
    TRIGGER = 1 << 12
    SERIES = 1 << 13
    #: Every read failed: the address is not a vault (``LENS_READ_ALL``).
    ALL = (1 << 14) - 1

    def describe(self) -> str:
        """Name the failed reads in bit order, e.g. ``"oracle, pool price"``."""
        if self == LensRead.ALL:
            return "every read (not a vault?)"
        names = [f.name.lower().replace("_", " ") for f in LensRead if f.name and self & f]
        return ", ".join(names) or "none"


@dataclass(frozen=True)
class VaultSnapshot:
    """Everything the keeper needs about one vault at one block."""

    vault: str
    oracle: OracleState
    net_delta: Wad
    inventory: int
    thresholds: VaultThresholds
    last_rebalance: int
    pool_price: int
    volatility: Wad
    total_assets: int
    total_supply: int
    free_quote: int
    paused: bool
    trigger_ready: bool
    trigger: int
    series: tuple[Series, ...]
    #: False when some read failed (the lens never reverts for one vault); skip such a vault.
    valid: bool = True
    #: The failed reads.
    read_errors: LensRead = LensRead.NONE

    def describe_read_errors(self) -> str:
        """Name the failed reads, e.g. ``"oracle, pool price"``."""
        return LensRead(self.read_errors).describe()


@dataclass(frozen=True)
class LensResult:
    """One cycle's observation: the snapshots (in request order) and the block they were read at.

    When chunks were read separately, ``block_number``/``block_timestamp`` are the *oldest* of
    the chunks' blocks (conservative for staleness checks).
    """

    snapshots: tuple[VaultSnapshot, ...]
    block_number: int
    block_timestamp: int
    calls: int


@cache
def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _named(param: Mapping[str, Any], value: Any) -> Any:
    """Turn a decoded ABI value into dicts keyed by snake_case component names."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        comps = param["components"]
        if typ.endswith("]"):
            inner = {**param, "type": typ[: typ.rindex("[")]}
            return [_named(inner, v) for v in value]
        return {_snake(str(c["name"])): _named(c, v) for c, v in zip(comps, value, strict=True)}
    if typ.endswith("]"):
        inner = {**param, "type": typ[: typ.rindex("[")]}
        return [_named(inner, v) for v in value]
    if typ == "address":
        return str(to_checksum_address(value))
    return value


def _snapshot_from(d: Mapping[str, Any]) -> VaultSnapshot:
    o = d["oracle"]
    t = d["thresholds"]
    return VaultSnapshot(
        vault=d["vault"],
        oracle=OracleState(
            round_id=int(o["round_id"]),
            answer=int(o["answer"]),
            updated_at=int(o["updated_at"]),
            decimals=int(o["decimals"]),
            sequencer_down=bool(o["sequencer_down"]),
            sequencer_started_at=int(o["sequencer_started_at"]),
        ),
        net_delta=Wad(int(d["net_delta"])),
        inventory=int(d["inventory"]),
        thresholds=VaultThresholds(
            target_delta=Wad(int(t["target_delta"])),
            band=Wad(int(t["band"])),
            min_interval=int(t["min_interval"]),
            max_interval=int(t["max_interval"]),
            max_trade=Wad(int(t["max_trade"])),
            max_slippage_bps=int(t["max_slippage_bps"]),
            max_oracle_gap_bps=int(t["max_oracle_gap_bps"]),
            oracle_heartbeat=int(t["oracle_heartbeat"]),
            sequencer_grace_period=int(t["sequencer_grace_period"]),
        ),
        last_rebalance=int(d["last_rebalance"]),
        pool_price=int(d["pool_price"]),
        volatility=Wad(int(d["volatility"])),
        total_assets=int(d["total_assets"]),
        total_supply=int(d["total_supply"]),
        free_quote=int(d["free_quote"]),
        paused=bool(d["paused"]),
        trigger_ready=bool(d["trigger_ready"]),
        trigger=int(d["trigger"]),
        series=tuple(
            Series(
                id=int(s["id"]),
                option_type=int(s["option_type"]),
                strike=int(s["strike"]),
                cap=int(s["cap"]),
                expiry=int(s["expiry"]),
                size=int(s["size"]),
                settled=bool(s["settled"]),
                payout_per_contract=int(s["payout_per_contract"]),
            )
            for s in d["series"]
        ),
        valid=bool(d.get("valid", True)),
        read_errors=LensRead(int(d.get("read_errors", 0))),
    )


class LensCodec:
    """Encodes ``snapshot(address[])`` calls and decodes their answers, from the lens ABI."""

    def __init__(self, abi: Sequence[Mapping[str, Any]] | None = None) -> None:
        abi = abi if abi is not None else load_abi("IVaultLens")
        fn = next(
            (e for e in abi if e.get("type") == "function" and e.get("name") == "snapshot"), None
        )
        if fn is None:
            raise ChainError("the VaultLens ABI has no snapshot function")
        self.fn = dict(fn)
        self.selector = bytes(function_abi_to_4byte_selector(self.fn))  # type: ignore[arg-type]
        self.output_types = get_abi_output_types(self.fn)  # type: ignore[arg-type]

    def encode(self, vaults: Sequence[str]) -> bytes:
        """Return the calldata for ``snapshot(vaults)``."""
        return self.selector + abi_encode(["address[]"], [[str(v) for v in vaults]])

    def decode(self, data: bytes) -> tuple[list[VaultSnapshot], int, int]:
        """Decode ``snapshot``'s return data into snapshots, block number and timestamp."""
        values = abi_decode(self.output_types, bytes(data))
        outputs = self.fn["outputs"]
        snaps = [_snapshot_from(_named_item(outputs[0], v)) for v in values[0]]
        return snaps, int(values[1]), int(values[2])


def _named_item(array_param: Mapping[str, Any], value: Any) -> dict[str, Any]:
    typ = str(array_param["type"])
    inner = {**array_param, "type": typ[: typ.rindex("[")]}
    return cast(dict[str, Any], _named(inner, value))


class LensReader:
    """Reads many vaults through a deployed ``VaultLens``.

    Args:
        w3: The connection (passed in, never global).
        lens: The lens address.
        chunk: Vaults per ``eth_call`` (250 by default).
        attempts: Read attempts on transport errors.
        codec: The ABI codec (loaded from ``out/`` when omitted).
    """

    def __init__(
        self,
        w3: Web3,
        lens: str,
        *,
        chunk: int = DEFAULT_CHUNK,
        attempts: int = 3,
        codec: LensCodec | None = None,
        call_gas: int | None = DEFAULT_CALL_GAS,
    ) -> None:
        self.w3 = w3
        self.lens = str(to_checksum_address(lens))
        self.chunk = max(1, chunk)
        self.attempts = attempts
        self.codec = codec or LensCodec()
        self.call_gas = call_gas

    def _chunks(self, vaults: Sequence[str]) -> list[list[str]]:
        return [list(vaults[i : i + self.chunk]) for i in range(0, len(vaults), self.chunk)]

    def read(self, vaults: Sequence[str], block: int | str = "latest") -> LensResult:
        """Snapshot ``vaults`` (in order).

        Raises:
            ChainError: The lens call reverted or the node could not be reached after retries.
        """
        if not vaults:
            head = self.w3.eth.get_block(block)  # type: ignore[arg-type]
            return LensResult((), int(head["number"]), int(head["timestamp"]), 0)
        while True:
            chunks = self._chunks(vaults)
            try:
                raw = read_with_retry(
                    lambda c=chunks: self._call_chunks(c, block),  # type: ignore[misc]
                    attempts=self.attempts,
                )
                break
            except Web3RPCError as exc:
                if "outofgas" not in str(exc).lower().replace(" ", "") or self.chunk == 1:
                    raise ChainError(f"VaultLens.snapshot failed: {exc}") from exc
                self.chunk = max(1, self.chunk // 2)
                logger.warning("lens call ran out of gas: %d vaults per call from now", self.chunk)
            except ContractLogicError as exc:
                raise ChainError(f"VaultLens.snapshot reverted: {exc}") from exc
            except (OSError, Web3Exception, ValueError) as exc:
                raise ChainError(f"VaultLens.snapshot failed: {type(exc).__name__}: {exc}") from exc
        snaps: list[VaultSnapshot] = []
        blocks: list[tuple[int, int]] = []
        for data in raw:
            s, number, ts = self.codec.decode(data)
            snaps.extend(s)
            blocks.append((number, ts))
        if len(snaps) != len(vaults):
            raise ChainError(f"VaultLens returned {len(snaps)} snapshots for {len(vaults)} vaults")
        number, ts = min(blocks)
        return LensResult(tuple(snaps), number, ts, len(chunks))

    def _call_chunks(self, chunks: list[list[str]], block: int | str) -> list[bytes]:
        txs: list[dict[str, Any]] = [
            {"to": self.lens, "data": HexBytes(self.codec.encode(c))} for c in chunks
        ]
        if self.call_gas is not None:
            for tx in txs:
                tx["gas"] = self.call_gas
        if len(txs) > 1 and isinstance(self.w3.provider, JSONBaseProvider):
            with self.w3.batch_requests() as batch:
                for tx in txs:
                    batch.add(self.w3.eth.call(tx, block))  # type: ignore[arg-type]
                results = batch.execute()
            return [bytes(cast(bytes, r)) for r in results]
        return [bytes(self.w3.eth.call(tx, block)) for tx in txs]  # type: ignore[arg-type]
