"""The lens reader: every vault's state in a few `eth_call` requests, sent as one JSON-RPC batch.

Two views of ``VaultLens``:

- **lean** (:meth:`LensReader.read_lean`, the keeper's hot path): ``snapshotLean(address[])``
  returns raw state only -- series terms and sizes, inventory and balances, thresholds, last
  rebalance, paused, and the oracle round, sequencer state and pool price once per distinct feed
  or venue -- as words at fixed offsets, decoded here with numpy into a columnar
  :class:`LeanSnapshot`. Nothing is priced on-chain: :mod:`keeper.pricing.trigger` derives the
  Greeks, NAV and the contract's trigger.
- **full** (:meth:`LensReader.read`, for tools such as ``keeper vault info``):
  ``snapshot(address[])`` returns, per vault, the on-chain net delta, ERC-4626 totals, the
  trigger view and the open series, decoded into frozen dataclasses by the ABI's component
  *names*, so a reordered struct does not silently shift fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import IntFlag
from functools import cache
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
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

# The lean snapshot's layout (``IVaultLens.sol``'s ``LEAN_*`` constants).
LEAN_LAYOUT_VERSION = 1
#: The selector of ``snapshotLean(address[])``.
LEAN_SELECTOR = bytes.fromhex("68890bc2")
LEAN_HEADER_WORDS = 8
LEAN_VAULT_WORDS = 7
LEAN_SERIES_WORDS = 1
LEAN_ORACLE_WORDS = 4
LEAN_VENUE_WORDS = 2
#: A vault's oracle or venue entry index when that address could not be read.
LEAN_NO_ENTRY = -1
#: Gas the lean lens uses per vault with 4 open series, measured with real clones
#: (``test_snapshotLean_GasPerVault``: ~36.3k with the clone's account warm, +2.5k when it is
#: cold): two ``readSlots`` calls, 11 cold slots, and the sequencer feed from the clone's code.
LEAN_GAS_PER_VAULT = 39_000
#: Vaults per lean ``eth_call``: 30M gas / ~39k gas a vault with 4 series is ~770; 700 leaves
#: room for larger books (each series adds ~2.2k; a chunk that still runs out of gas is halved
#: and kept halved).
LEAN_DEFAULT_CHUNK = 700
#: Gas offered to each lean ``eth_call``: one 30M block. Anvil runs an ``eth_call`` with whatever
#: ``gas`` it is given (3e9 measured), so it alone would take every vault in one call; geth and
#: Arbitrum Nitro cap it at 50M by default (``--rpc.gascap``), and 30M fits every node.
LEAN_CALL_GAS = 30_000_000


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


class OracleReading(Protocol):
    """A vault and its oracle state (a :class:`VaultSnapshot`, or a lean book's row)."""

    @property
    def vault(self) -> str:
        """The vault's address."""
        ...

    @property
    def oracle(self) -> OracleState:
        """Its price feed's latest round and sequencer state."""
        ...


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
        call_gas: Gas offered to each full ``snapshot`` call.
        lean_chunk: Vaults per lean ``snapshotLean`` call (:data:`LEAN_DEFAULT_CHUNK`).
        lean_call_gas: Gas offered to each lean call (:data:`LEAN_CALL_GAS`).
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
        lean_chunk: int = LEAN_DEFAULT_CHUNK,
        lean_call_gas: int | None = LEAN_CALL_GAS,
    ) -> None:
        self.w3 = w3
        self.lens = str(to_checksum_address(lens))
        self.chunk = max(1, chunk)
        self.attempts = attempts
        self.codec = codec or LensCodec()
        self.call_gas = call_gas
        self.lean_chunk = max(1, lean_chunk)
        self.lean_call_gas = lean_call_gas
        self._lean_cache: tuple[tuple[tuple[str, ...], int], list[bytes]] | None = None

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
        chunks: list[list[str]] = []

        def call() -> list[bytes]:
            chunks[:] = self._chunks(vaults)
            return self._call_chunks(chunks, block)

        raw = self._halving_on_out_of_gas("snapshot", "chunk", call)
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

    def read_lean(self, vaults: Sequence[str], block: int | str = "latest") -> LeanSnapshot:
        """The lean snapshot of ``vaults`` (in order): all chunks in one JSON-RPC batch.

        Chunks hold ``lean_chunk`` vaults (as many as the node's ``eth_call`` gas cap allows);
        when the node still runs out of gas the chunk is halved, kept, and the read retried.

        Raises:
            ChainError: The call reverted, the answer is malformed, or the node could not be
                reached after retries.
        """
        if not vaults:
            head = self.w3.eth.get_block(block)  # type: ignore[arg-type]
            return replace(
                lean_snapshot((), []),
                block_number=int(head["number"]),
                block_timestamp=int(head["timestamp"]),
                calls=0,
            )
        raw = self._halving_on_out_of_gas(
            "snapshotLean",
            "lean_chunk",
            lambda: self._call_data(self._lean_calldata(vaults), block, self.lean_call_gas),
        )
        return lean_snapshot(vaults, raw)

    def _halving_on_out_of_gas(
        self, what: str, chunk_attr: str, call: Callable[[], list[bytes]]
    ) -> list[bytes]:
        """``call()`` with read retries; out of gas halves ``self.<chunk_attr>`` and tries again.

        Raises:
            ChainError: The call reverted, or failed for another reason after the retries.
        """
        while True:
            try:
                return read_with_retry(call, attempts=self.attempts)
            except Web3RPCError as exc:
                chunk = int(getattr(self, chunk_attr))
                if "outofgas" not in str(exc).lower().replace(" ", "") or chunk == 1:
                    raise ChainError(f"VaultLens.{what} failed: {exc}") from exc
                setattr(self, chunk_attr, max(1, chunk // 2))
                logger.warning(
                    "VaultLens.%s ran out of gas: %d vaults per call from now",
                    what,
                    getattr(self, chunk_attr),
                )
            except ContractLogicError as exc:
                raise ChainError(f"VaultLens.{what} reverted: {exc}") from exc
            except (OSError, Web3Exception, ValueError) as exc:
                raise ChainError(f"VaultLens.{what} failed: {type(exc).__name__}: {exc}") from exc

    def _lean_calldata(self, vaults: Sequence[str]) -> list[bytes]:
        """``snapshotLean`` calldata per chunk, cached for the last vault list.

        The list rarely changes, and encoding 10,000 addresses is not free.
        """
        key = (tuple(vaults), self.lean_chunk)
        if self._lean_cache is None or self._lean_cache[0] != key:
            out = []
            for i in range(0, len(vaults), self.lean_chunk):
                chunk = vaults[i : i + self.lean_chunk]
                words = [(32).to_bytes(32, "big"), len(chunk).to_bytes(32, "big")]
                words += [bytes(12) + bytes.fromhex(str(v)[2:]) for v in chunk]
                out.append(LEAN_SELECTOR + b"".join(words))
            self._lean_cache = (key, out)
        return self._lean_cache[1]

    def _call_data(self, datas: list[bytes], block: int | str, gas: int | None) -> list[bytes]:
        txs: list[dict[str, Any]] = [{"to": self.lens, "data": HexBytes(d)} for d in datas]
        if gas is not None:
            for tx in txs:
                tx["gas"] = gas
        if len(txs) > 1 and isinstance(self.w3.provider, JSONBaseProvider):
            with self.w3.batch_requests() as batch:
                for tx in txs:
                    batch.add(self.w3.eth.call(tx, block))  # type: ignore[arg-type]
                results = batch.execute()
            return [bytes(cast(bytes, r)) for r in results]
        return [bytes(self.w3.eth.call(tx, block)) for tx in txs]  # type: ignore[arg-type]

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


# ---------------------------------------------------------------------------- lean snapshot
#
# ``VaultLens.snapshotLean(address[])`` returns one ``uint256[]`` of words at fixed offsets
# (``IVaultLens.sol`` documents the layout; the constants below mirror it). The words are decoded
# with numpy as rows of four big-endian 64-bit limbs: limb ``3 - k`` holds lane ``k`` (bits
# ``[64k, 64k + 64)``). Amounts that may exceed 64 bits (128-bit halves, series sizes) become
# exact Python ints in numpy ``object`` arrays, so the trigger can use the contract's integer
# rules; everything priced becomes float64 in :mod:`keeper.pricing`.

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]
F64Array = npt.NDArray[np.float64]

_TWO64 = 1 << 64
_M56 = (1 << 56) - 1


def _lane(w: U64Array, k: int) -> U64Array:
    """Lane ``k`` (bits ``[64k, 64k+64)``) of each word row (rows of four big-endian limbs)."""
    out: U64Array = w[..., 3 - k]
    return out


def _u128(lo: U64Array, hi: U64Array) -> ObjArray:
    """Exact unsigned 128-bit ints from two 64-bit lanes."""
    out: ObjArray = hi.astype(object) * _TWO64 + lo.astype(object)
    return out


def _i128(lo: U64Array, hi: U64Array) -> ObjArray:
    """Exact signed (two's complement) 128-bit ints from two 64-bit lanes."""
    out: ObjArray = hi.view(np.int64).astype(object) * _TWO64 + lo.astype(object)
    return out


@dataclass(frozen=True)
class LeanSnapshot:
    """The lean lens's answer for N vaults: columns, one row per vault (in request order).

    Exact ints (``object`` arrays): ``inventory``, ``quote_balance``, ``locked``,
    ``settled_unpaid``, ``target_delta``, ``band``, ``max_trade``, ``volatility``. Small ints
    (int64): intervals, bps, heartbeat, grace, ``last_rebalance``. The series are flat arrays
    (``series_owner`` is the row of each); the oracle and venue tables hold one entry per distinct
    feed pair / venue, and ``oracle_idx`` / ``venue_idx`` point into them (-1: unreadable).
    """

    vaults: tuple[str, ...]
    block_number: int
    block_timestamp: int
    base_fee: int
    read_errors: I64Array
    oracle_idx: I64Array
    venue_idx: I64Array
    paused: npt.NDArray[np.bool_]
    inventory: ObjArray
    quote_balance: ObjArray
    locked: ObjArray
    settled_unpaid: ObjArray
    target_delta: ObjArray
    band: ObjArray
    max_trade: ObjArray
    volatility: ObjArray
    min_interval: I64Array
    max_interval: I64Array
    max_slippage_bps: I64Array
    max_oracle_gap_bps: I64Array
    oracle_heartbeat: I64Array
    sequencer_grace_period: I64Array
    last_rebalance: I64Array
    # series (flat)
    series_owner: I64Array
    series_strike: I64Array
    series_cap: I64Array
    series_size: ObjArray
    series_expiry: I64Array
    series_is_call: npt.NDArray[np.bool_]
    # oracle entries
    oracles: tuple[OracleState, ...]
    oracle_errors: I64Array
    oracle_answer: ObjArray
    oracle_updated_at: I64Array
    oracle_has_sequencer: npt.NDArray[np.bool_]
    oracle_sequencer_down: npt.NDArray[np.bool_]
    oracle_sequencer_started_at: I64Array
    # venue entries
    venue_price: ObjArray
    venue_errors: I64Array
    calls: int = 1

    def __len__(self) -> int:
        return len(self.vaults)

    def take(self, rows: npt.NDArray[np.bool_]) -> LeanSnapshot:
        """The snapshot restricted to ``rows`` (a boolean mask); the entry tables are kept."""
        idx = np.flatnonzero(rows)
        keep = rows[self.series_owner]
        remap = np.cumsum(rows) - 1
        per_vault = {
            f.name: getattr(self, f.name)[idx]
            for f in fields(self)
            if f.name not in _NOT_PER_VAULT
            and not f.name.startswith(("series_", "oracle_", "venue_"))
        }
        per_vault["oracle_idx"] = self.oracle_idx[idx]
        per_vault["venue_idx"] = self.venue_idx[idx]
        series = {
            f.name: getattr(self, f.name)[keep]
            for f in fields(self)
            if f.name.startswith("series_")
        }
        series["series_owner"] = remap[self.series_owner[keep]]
        return replace(
            self,
            vaults=tuple(self.vaults[i] for i in idx.tolist()),
            **per_vault,
            **series,
        )


_NOT_PER_VAULT = {
    "vaults",
    "block_number",
    "block_timestamp",
    "base_fee",
    "oracles",
    "calls",
}


@dataclass(frozen=True)
class _LeanChunk:
    vaults: int
    header: U64Array
    records: U64Array  # (n, 7, 4)
    series: U64Array  # (s, 4)
    oracles: U64Array  # (o, 4, 4)
    venues: U64Array  # (v, 2, 4)


def decode_lean_words(data: bytes) -> _LeanChunk:
    """Split one ``snapshotLean`` answer (its ABI encoding) into its sections, as limb arrays.

    Raises:
        ChainError: The answer is not a lean snapshot of the layout this keeper knows.
    """
    raw = bytes(data)
    if len(raw) % 32 or len(raw) < 64 + 32 * LEAN_HEADER_WORDS:
        raise ChainError(f"lean snapshot: {len(raw)} bytes is not a word array")
    limbs = np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 4)
    if int(limbs[0, 3]) != 32 or int(limbs[1, 3]) != len(limbs) - 2:
        raise ChainError("lean snapshot: not a uint256[] answer")
    words = limbs[2:]
    header = words[:LEAN_HEADER_WORDS, 3]
    if int(header[0]) != LEAN_LAYOUT_VERSION:
        raise ChainError(
            f"lean snapshot layout {int(header[0])}, keeper knows {LEAN_LAYOUT_VERSION}"
        )
    n, ns, no, nv = (int(x) for x in header[4:8])
    at = LEAN_HEADER_WORDS
    records = words[at : at + n * LEAN_VAULT_WORDS].reshape(n, LEAN_VAULT_WORDS, 4)
    at += n * LEAN_VAULT_WORDS
    series = words[at : at + ns]
    at += ns
    oracles = words[at : at + no * LEAN_ORACLE_WORDS].reshape(no, LEAN_ORACLE_WORDS, 4)
    at += no * LEAN_ORACLE_WORDS
    venues = words[at : at + nv * LEAN_VENUE_WORDS].reshape(nv, LEAN_VENUE_WORDS, 4)
    at += nv * LEAN_VENUE_WORDS
    if at != len(words) or int(_lane(records[:, 0], 1).sum()) != ns:
        raise ChainError("lean snapshot: section sizes do not add up")
    return _LeanChunk(n, header, records, series, oracles, venues)


def _address(word: U64Array) -> str:
    b = b"".join(int(x).to_bytes(8, "big") for x in word)
    return str(to_checksum_address(b[12:]))


def lean_snapshot(vaults: Sequence[str], answers: Sequence[bytes]) -> LeanSnapshot:
    """Decode the answers of the chunks of ``vaults`` (in order) into one :class:`LeanSnapshot`.

    Raises:
        ChainError: An answer is malformed or covers a different number of vaults.
    """
    chunks = [decode_lean_words(a) for a in answers]
    if sum(c.vaults for c in chunks) != len(vaults):
        raise ChainError(
            f"VaultLens returned {sum(c.vaults for c in chunks)} records for {len(vaults)} vaults"
        )
    # Entry indexes are per chunk: shift them into the concatenated tables.
    o_off = np.cumsum([0] + [len(c.oracles) for c in chunks])[:-1]
    v_off = np.cumsum([0] + [len(c.venues) for c in chunks])[:-1]
    rec = np.concatenate([c.records for c in chunks]) if chunks else np.zeros((0, 7, 4), np.uint64)

    def idx(lane: int, offsets: npt.NDArray[np.int64]) -> I64Array:
        parts = []
        for c, off in zip(chunks, offsets, strict=True):
            raw = _lane(c.records[:, 0], lane)
            parts.append(np.where(raw == np.uint64(_TWO64 - 1), -1, raw.astype(np.int64) + off))
        out: I64Array = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return out

    counts = _lane(rec[:, 0], 1).astype(np.int64)
    ser = np.concatenate([c.series for c in chunks]) if chunks else np.zeros((0, 4), np.uint64)
    orc = np.concatenate([c.oracles for c in chunks]) if chunks else np.zeros((0, 4, 4), np.uint64)
    ven = np.concatenate([c.venues for c in chunks]) if chunks else np.zeros((0, 2, 4), np.uint64)
    s0, s1, s2, s3 = (_lane(ser, k) for k in range(4))
    m16 = np.uint64(0xFFFF)
    size = (
        (s1 >> np.uint64(48)).astype(object)
        + s2.astype(object) * (1 << 16)
        + (s3 & m16).astype(object) * (1 << 80)
    )
    o0, o1, o2 = orc[:, 0], orc[:, 1], orc[:, 2]
    answer = _i128(_lane(o0, 0), _lane(o0, 1))
    # An answer outside int128 (its high lanes not a sign extension) is treated as unreadable.
    sign = np.where(_lane(o0, 1).view(np.int64) < 0, np.uint64(_TWO64 - 1), np.uint64(0))
    wide = (_lane(o0, 2) != sign) | (_lane(o0, 3) != sign)
    oracle_errors = _lane(o2, 3).astype(np.int64) | np.where(wide, int(LensRead.ORACLE), 0)
    oracles = tuple(
        OracleState(
            round_id=(int(_lane(o1[i], 1)) << 64) | int(_lane(o1[i], 0)),
            answer=int(answer[i]),
            updated_at=int(_lane(o1[i], 2)),
            decimals=int(_lane(o1[i], 3)),
            sequencer_down=bool(_lane(o2[i], 1)),
            sequencer_started_at=int(_lane(o2[i], 2)),
        )
        for i in range(len(orc))
    )
    head = chunks[0].header if chunks else np.zeros(8, np.uint64)
    v0 = ven[:, 0]
    return LeanSnapshot(
        vaults=tuple(vaults),
        block_number=min((int(c.header[1]) for c in chunks), default=0),
        block_timestamp=min((int(c.header[2]) for c in chunks), default=0),
        base_fee=int(head[3]),
        read_errors=_lane(rec[:, 0], 0).astype(np.int64),
        oracle_idx=idx(2, o_off),
        venue_idx=idx(3, v_off),
        paused=_lane(rec[:, 6], 3) != 0,
        inventory=_u128(_lane(rec[:, 1], 0), _lane(rec[:, 1], 1)),
        quote_balance=_u128(_lane(rec[:, 1], 2), _lane(rec[:, 1], 3)),
        locked=_u128(_lane(rec[:, 2], 0), _lane(rec[:, 2], 1)),
        settled_unpaid=_u128(_lane(rec[:, 2], 2), _lane(rec[:, 2], 3)),
        target_delta=_i128(_lane(rec[:, 3], 0), _lane(rec[:, 3], 1)),
        band=_u128(_lane(rec[:, 3], 2), _lane(rec[:, 3], 3)),
        max_trade=_u128(_lane(rec[:, 4], 0), _lane(rec[:, 4], 1)),
        volatility=_u128(_lane(rec[:, 4], 2), _lane(rec[:, 4], 3)),
        min_interval=_lane(rec[:, 5], 0).astype(np.int64),
        max_interval=_lane(rec[:, 5], 1).astype(np.int64),
        max_slippage_bps=_lane(rec[:, 5], 2).astype(np.int64),
        max_oracle_gap_bps=_lane(rec[:, 5], 3).astype(np.int64),
        oracle_heartbeat=_lane(rec[:, 6], 0).astype(np.int64),
        sequencer_grace_period=_lane(rec[:, 6], 1).astype(np.int64),
        last_rebalance=_lane(rec[:, 6], 2).astype(np.int64),
        series_owner=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        series_strike=(s0 & np.uint64(_M56)).astype(np.int64),
        series_cap=(
            (s0 >> np.uint64(56)) | ((s1 & np.uint64((1 << 48) - 1)) << np.uint64(8))
        ).astype(np.int64),
        series_size=size,
        series_expiry=((s3 >> np.uint64(16)) & np.uint64(0xFFFFFFFF)).astype(np.int64),
        series_is_call=((s3 >> np.uint64(48)) & np.uint64(0xFF)) == 0,
        oracles=oracles,
        oracle_errors=oracle_errors,
        oracle_answer=answer,
        oracle_updated_at=_lane(o1, 2).astype(np.int64),
        oracle_has_sequencer=_lane(o2, 0) != 0,
        oracle_sequencer_down=_lane(o2, 1) != 0,
        oracle_sequencer_started_at=_lane(o2, 2).astype(np.int64),
        venue_price=_u128(_lane(v0, 0), _lane(v0, 1)),
        venue_errors=_lane(ven[:, 1], 3).astype(np.int64)
        | np.where((_lane(v0, 2) | _lane(v0, 3)) != 0, int(LensRead.POOL_PRICE), 0),
        calls=len(chunks),
    )


def encode_lean_answer(
    snaps: Sequence[VaultSnapshot], block_number: int, block_timestamp: int, base_fee: int = 0
) -> bytes:
    """The ``snapshotLean`` answer the lens would give for these full snapshots (tests, fakes).

    Feeds are keyed by (price feed state, sequencer state) and venues by pool price, since a
    full snapshot carries no addresses for them; unreadable vaults keep their ``read_errors``.
    """

    def lanes(*values: int) -> int:
        return sum((v & (_TWO64 - 1)) << (64 * k) for k, v in enumerate(values))

    def halves(lo: int, hi: int) -> int:
        return (lo & ((1 << 128) - 1)) | (hi << 128)

    feeds: dict[OracleState, int] = {}
    pools: dict[int, int] = {}
    records: list[int] = []
    series: list[int] = []
    for s in snaps:
        o, t = s.oracle, s.thresholds
        fi = feeds.setdefault(o, len(feeds))
        vi = pools.setdefault(s.pool_price, len(pools))
        records += [
            lanes(int(s.read_errors), len(s.series), fi, vi),
            halves(s.inventory, s.free_quote),
            halves(0, 0),
            halves(t.target_delta, t.band),
            halves(t.max_trade, s.volatility),
            lanes(t.min_interval, t.max_interval, t.max_slippage_bps, t.max_oracle_gap_bps),
            lanes(t.oracle_heartbeat, t.sequencer_grace_period, s.last_rebalance, int(s.paused)),
        ]
        for x in s.series:
            series.append(
                x.strike
                | (x.cap << 56)
                | (x.size << 112)
                | (x.expiry << 208)
                | (x.option_type << 240)
                | (int(x.settled) << 248)
            )
    oracles: list[int] = []
    for o in feeds:
        oracles += [
            o.answer % (1 << 256),
            halves(o.round_id, lanes(o.updated_at, o.decimals)),
            lanes(int(o.has_sequencer_feed), int(o.sequencer_down), o.sequencer_started_at, 0),
            0,
        ]
    venues: list[int] = []
    for p in pools:
        venues += [p, 0]
    header = [
        LEAN_LAYOUT_VERSION,
        block_number,
        block_timestamp,
        base_fee,
        len(snaps),
        len(series),
        len(feeds),
        len(pools),
    ]
    words = header + records + series + oracles + venues
    return b"".join(w.to_bytes(32, "big") for w in [32, len(words), *words])
