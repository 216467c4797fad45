"""The lens reader: every vault's state in a few `eth_call` requests, sent as one JSON-RPC batch.

Two views of ``VaultLens``:

- **lean** (:meth:`LensReader.read_lean`, the keeper's hot path): ``snapshotLean(address[])``
  returns raw state only -- series terms and sizes, inventory and balances, thresholds, last
  rebalance, paused, and the oracle round, sequencer state and pool price once per distinct feed
  or venue -- as words at fixed offsets, decoded here with numpy into a columnar
  :class:`LeanSnapshot`. Nothing is priced on-chain: :mod:`keeper.pricing.trigger` derives the
  Greeks, NAV and the contract's trigger. After the first read the reader asks
  ``snapshotLeanSince`` instead, passing each clean vault's book version: the lens reads only the
  balances and clock of a vault whose version still matches, and the reader fills in the rest
  from its book cache (the snapshot is the same).
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
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_output_types
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from keeper.chain.answers import decode_answer
from keeper.chain.artifacts import load_abi
from keeper.chain.calls import call_batch
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
LEAN_LAYOUT_VERSION = 3
#: The selector of ``snapshotLean(address[])``.
LEAN_SELECTOR = bytes.fromhex("68890bc2")
#: The selector of ``snapshotLeanSince(uint256[],address[],address[],address[])``.
LEAN_SINCE_SELECTOR = bytes.fromhex("ca02bee8")
LEAN_HEADER_WORDS = 8
LEAN_VAULT_WORDS = 8
LEAN_SERIES_WORDS = 1
LEAN_ORACLE_WORDS = 5
LEAN_VENUE_WORDS = 3
#: A ``snapshotLeanSince`` entry's "I hold this book version" bit (bits [0,160) the vault,
#: [160,192) the version).
LEAN_KNOWN_BIT = 1 << 192
#: Where a record's words came from (its book word's lane 1): raw storage, read in full (its
#: book version is valid) ...
LEAN_SOURCE_FULL = 0
#: ... only the balances and the clock (the caller's book version still holds: the rest of the
#: record, its series and its entry indexes are the caller's to fill in) ...
LEAN_SOURCE_CACHED = 1
#: ... or the vault's views (not an ``OptionVault`` storage layout: no book version).
LEAN_SOURCE_VIEWS = 2
#: A vault's oracle or venue entry index when that address could not be read.
LEAN_NO_ENTRY = -1
#: Gas the lean lens uses per vault with 4 open series, measured with real clones
#: (``test_snapshotLean_GasPerVault``: ~36.3k with the clone's account warm, +2.5k when it is
#: cold): two ``readSlots`` calls, 11 cold slots, and the sequencer feed from the clone's code.
LEAN_GAS_PER_VAULT = 39_000
#: Vaults per lean ``eth_call``: 30M gas / ~39k gas a vault with 4 series is ~770; 700 leaves
#: room for larger books (each series adds ~2.2k; a chunk that still runs out of gas is halved
#: and kept halved). The steady read (``snapshotLeanSince``, ~12k a vault) would fit ~2,500, but
#: the chunks stay the same size so that the periodic full read fits too; every chunk goes in
#: one JSON-RPC batch either way.
LEAN_DEFAULT_CHUNK = 700
#: Gas offered to each lean ``eth_call``: one 30M block. Anvil runs an ``eth_call`` with whatever
#: ``gas`` it is given (3e9 measured), so it alone would take every vault in one call; geth and
#: Arbitrum Nitro cap it at 50M by default (``--rpc.gascap``), and 30M fits every node.
LEAN_CALL_GAS = 30_000_000
#: With the book cache, one lean read in this many re-reads every vault in full (see
#: :class:`LensReader`): at one read a second, a stale copy after a reorg lasts at most a minute,
#: for ~1/60 of a full read's gas a cycle.
LEAN_FULL_EVERY = 60


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

    When chunks were read at different blocks, ``block_number`` is the *oldest* of them (the
    state read) and ``block_timestamp`` the *newest* (the cycle's "now": an oracle's age and the
    trigger's elapsed time judged from it are the larger, conservative for staleness).
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
        values = decode_answer(self.output_types, data, "VaultLens.snapshot")
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
        book_cache: Keep each vault's last full lean record and ask the lens only for what
            moved since (``snapshotLeanSince``, see :meth:`read_lean`); off, every read is a
            full ``snapshotLean``.
        full_every: With the cache on, every this many lean reads is a full one anyway
            (:data:`LEAN_FULL_EVERY`). A book version can repeat on another fork: a reorg, or a
            devnet's ``evm_revert``, may replay the same number of changes with other values,
            and this bounds how long such a stale copy could last (:meth:`forget` drops it at
            once).
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
        book_cache: bool = True,
        full_every: int = LEAN_FULL_EVERY,
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
        self._book: _BookCache | None = _BookCache() if book_cache else None
        self._request: LeanRequest | None = None
        self.full_every = max(1, full_every)
        self._reads = 0
        #: Records the last :meth:`read_lean` completed from the book cache.
        self.last_lean_cached = 0

    def forget(self) -> None:
        """Drop the book cache: the next lean read is a full one.

        For when a simulation disagreed with the off-chain view, or a reorg is suspected.
        """
        if self._book is not None:
            self._book = _BookCache()
            self._request = None

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
        number, ts = min(n for n, _ in blocks), max(t for _, t in blocks)  # see LensResult
        return LensResult(tuple(snaps), number, ts, len(chunks))

    def read_lean(self, vaults: Sequence[str], block: int | str = "latest") -> LeanSnapshot:
        """The lean snapshot of ``vaults`` (in order): all chunks in one JSON-RPC batch.

        Chunks hold ``lean_chunk`` vaults (as many as the node's ``eth_call`` gas cap allows);
        when the node still runs out of gas the chunk is halved, kept, and the read retried.

        With the book cache on, the vaults whose last record was read in full and clean are sent
        to ``snapshotLeanSince`` with the book version held: while it still matches, the lens
        reads only their balances and clock, and the rest of the record (thresholds, vol,
        commitments, series, feed and venue) is filled in from the cache -- the snapshot is the
        same either way, with ``cached`` marking those rows.

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
        self._reads += 1
        if self._reads % self.full_every == 0:
            self.forget()
        sent: list[LeanRequest] = []

        def call() -> list[bytes]:
            sent[:] = [self.lean_request(vaults)]
            return self._call_data(sent[0].datas, block, self.lean_call_gas)

        raw = self._halving_on_out_of_gas("snapshotLean", "lean_chunk", call)
        return self.decode_lean(vaults, raw, sent[0])

    def lean_request(self, vaults: Sequence[str]) -> LeanRequest:
        """The calldata of a lean read of ``vaults`` now, per chunk (the book cache's entries).

        Cold (nothing held, or the cache off) it is ``snapshotLean``'s; otherwise
        ``snapshotLeanSince``'s. Rebuilt only when the vault list, the chunk size or a held
        book version changes.
        """
        book = self._book
        if book is not None:
            book.align(vaults)
        if book is None or not book.known.any():
            n = len(vaults)
            return LeanRequest(
                self._lean_calldata(vaults),
                self.lean_chunk,
                np.zeros(n, np.bool_),
                np.zeros(n, np.uint64),
                np.full(n, _NO_ENTRY, np.uint64),
                np.full(n, _NO_ENTRY, np.uint64),
            )
        key = (book.generation, self.lean_chunk)
        if self._request is None or self._request.key != key:
            self._request = replace(book.request(self.lean_chunk), key=key)
        return self._request

    def decode_lean(
        self, vaults: Sequence[str], answers: Sequence[bytes], request: LeanRequest
    ) -> LeanSnapshot:
        """Decode the answers to ``request`` (for ``vaults``); complete and refresh the cache.

        Raises:
            ChainError: An answer is malformed, does not fit the request, or holds a cached
                record the keeper did not ask for.
        """
        chunks = [decode_lean_words(a) for a in answers]
        n = len(vaults)
        want = [min(request.chunk, n - i) for i in range(0, n, request.chunk)]
        got = [c.vaults for c in chunks]
        if got != want or len(request.known) != n:
            raise ChainError(f"VaultLens returned chunks of {got} records for chunks of {want}")
        ans = _LeanAnswer.of(chunks)
        book = self._book
        if book is None:
            _refuse_cached(ans)
            self.last_lean_cached = 0
        else:
            book.align(vaults)
            self.last_lean_cached = book.complete(ans, request)
            book.refresh(ans)
        return _lean_from(vaults, ans)

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
                # web3's str() is a tuple ("('execution reverted', '0x')"): its message, and the
                # revert data when there is some.
                data = exc.data if isinstance(exc.data, str) and exc.data != "0x" else None
                said = (exc.message or "reverted") + (
                    f" with data {data[:74]}" if data else " with no data"
                )
                raise ChainError(f"VaultLens.{what} reverted: {said}") from exc
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
        """Each of ``datas`` called on the lens at ``block``, in one JSON-RPC batch."""
        txs: list[dict[str, Any]] = [{"to": self.lens, "data": HexBytes(d)} for d in datas]
        if gas is not None:
            for tx in txs:
                tx["gas"] = gas
        return call_batch(self.w3, txs, block)

    def _call_chunks(self, chunks: list[list[str]], block: int | str) -> list[bytes]:
        return self._call_data([self.codec.encode(c) for c in chunks], block, self.call_gas)


# ---------------------------------------------------------------------------- lean snapshot
#
# ``VaultLens.snapshotLean(address[])`` returns one ``uint256[]`` of words at fixed offsets
# (``IVaultLens.sol`` documents the layout; the constants below mirror it). The words are decoded
# with numpy as rows of four big-endian 64-bit limbs: limb ``3 - k`` holds lane ``k`` (bits
# ``[64k, 64k + 64)``). Amounts that may exceed 64 bits (128-bit halves, series sizes) become
# exact Python ints in numpy ``object`` arrays, so the trigger can use the contract's integer
# rules; everything priced becomes float64 in :mod:`keeper.pricing`.
#
# ``snapshotLeanSince(entries, feeds, seqs, venues)`` answers in the same layout, but a vault the
# caller holds at its current book version comes back "cached" (its book word's lane 1): only its
# balances and clock were read. :class:`_BookCache` fills in the rest from the vault's last full
# record, so the decoding below never sees the difference.

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]
F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_TWO64 = 1 << 64
_M56 = (1 << 56) - 1
#: A record's "no entry" index lane, as stored.
_NO_ENTRY = np.uint64(_TWO64 - 1)


def _lane(w: U64Array, k: int) -> U64Array:
    """Lane ``k`` (bits ``[64k, 64k+64)``) of each word row (rows of four big-endian limbs)."""
    out: U64Array = w[..., 3 - k]
    return out


def _u128(lo: U64Array, hi: U64Array) -> ObjArray:
    """Exact unsigned 128-bit ints from two 64-bit lanes."""
    if not hi.any():  # the usual case, and 3x faster than the object arithmetic
        small: ObjArray = lo.astype(object)
        return small
    out: ObjArray = hi.astype(object) * _TWO64 + lo.astype(object)
    return out


def _i128(lo: U64Array, hi: U64Array) -> ObjArray:
    """Exact signed (two's complement) 128-bit ints from two 64-bit lanes."""
    low = lo.view(np.int64)
    if np.array_equal(hi.view(np.int64), low >> np.int64(63)):  # every value fits an int64
        small: ObjArray = low.astype(object)
        return small
    out: ObjArray = hi.view(np.int64).astype(object) * _TWO64 + lo.astype(object)
    return out


@dataclass(frozen=True)
class LeanSnapshot:
    """The lean lens's answer for N vaults: columns, one row per vault (in request order).

    Exact ints (``object`` arrays): ``inventory``, ``quote_balance``, ``locked``,
    ``settled_unpaid``, ``target_delta``, ``band``, ``max_trade``, ``volatility``. Small ints
    (int64): intervals, bps, heartbeat, grace, ``last_rebalance``, ``book_version``. The series
    are flat arrays (``series_owner`` is the row of each); the oracle and venue tables hold one
    entry per distinct feed pair / venue, and ``oracle_idx`` / ``venue_idx`` point into them (-1:
    unreadable). ``cached`` marks the rows whose book (everything but the balances and the clock)
    the reader filled in from its cache, the lens having found their book version unchanged.
    """

    vaults: tuple[str, ...]
    block_number: int
    block_timestamp: int
    base_fee: int
    read_errors: I64Array
    oracle_idx: I64Array
    venue_idx: I64Array
    paused: BoolArray
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
    #: The vault's book version (0 when read through its views, or not a vault).
    book_version: I64Array
    cached: BoolArray
    # series (flat)
    series_owner: I64Array
    series_strike: I64Array
    series_cap: I64Array
    series_size: ObjArray
    series_expiry: I64Array
    series_is_call: BoolArray
    # oracle entries
    oracles: tuple[OracleState, ...]
    oracle_errors: I64Array
    oracle_answer: ObjArray
    oracle_updated_at: I64Array
    oracle_has_sequencer: BoolArray
    oracle_sequencer_down: BoolArray
    oracle_sequencer_started_at: I64Array
    # venue entries
    venue_price: ObjArray
    venue_errors: I64Array
    #: Each venue entry's address as an int (the same venue in two chunks has two entries).
    venue_address: ObjArray
    #: Each venue entry's pool depth (``IUniswapV3Venue.depth``: the quote's virtual reserve at
    #: the pool's price, 1e8 a whole unit), and its fee tier (hundredths of a bip); 0 when the
    #: venue does not say (not a read error).
    venue_depth: ObjArray
    venue_fee_pips: I64Array
    calls: int = 1

    def __len__(self) -> int:
        return len(self.vaults)

    @property
    def free_quote(self) -> ObjArray:
        """Each vault's ``freeQuote()``, exact ints (``OptionBook.freeQuote``).

        Its quote balance less locked collateral and settled unpaid payoffs; 0 when they exceed it.
        """
        committed = self.locked + self.settled_unpaid
        out: ObjArray = np.where(
            self.quote_balance > committed, self.quote_balance - committed, 0
        ).astype(object)
        return out

    def take(self, rows: BoolArray) -> LeanSnapshot:
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
    records: U64Array  # (n, 8, 4)
    series: U64Array  # (s, 4)
    oracles: U64Array  # (o, 5, 4)
    venues: U64Array  # (v, 3, 4)


def decode_lean_words(data: bytes) -> _LeanChunk:
    """Split one lean answer (its ABI encoding) into its sections, as limb arrays.

    Cached records carry no series (their series count is 0), so the sections still add up.

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
            f"lean snapshot layout {int(header[0])}, keeper knows {LEAN_LAYOUT_VERSION}: the "
            "VaultLens is another version's; deploy this version's and set the addresses "
            "file's lens (or KEEPER_LENS without one) to it (it holds nothing: docs/deploy.md, "
            "'A keeper of a newer version')"
        )
    n, ns, no, nv = (int(x) for x in header[4:8])
    at = LEAN_HEADER_WORDS
    need = at + n * LEAN_VAULT_WORDS + ns + no * LEAN_ORACLE_WORDS + nv * LEAN_VENUE_WORDS
    if need != len(words):
        raise ChainError("lean snapshot: section sizes do not add up")
    records = words[at : at + n * LEAN_VAULT_WORDS].reshape(n, LEAN_VAULT_WORDS, 4)
    at += n * LEAN_VAULT_WORDS
    series = words[at : at + ns]
    at += ns
    oracles = words[at : at + no * LEAN_ORACLE_WORDS].reshape(no, LEAN_ORACLE_WORDS, 4)
    at += no * LEAN_ORACLE_WORDS
    venues = words[at : at + nv * LEAN_VENUE_WORDS].reshape(nv, LEAN_VENUE_WORDS, 4)
    if int(_lane(records[:, 0], 1).sum()) != ns:
        raise ChainError("lean snapshot: section sizes do not add up")
    return _LeanChunk(n, header, records, series, oracles, venues)


@dataclass
class _LeanAnswer:
    """The chunks' sections end to end; entry indexes stay per chunk (``*_base`` shifts them)."""

    headers: U64Array  # (c, 8)
    records: U64Array  # (n, 8, 4), completed in place for cached records
    series: U64Array  # (s, 4)
    oracles: U64Array  # (o, 5, 4)
    venues: U64Array  # (v, 3, 4)
    oracle_base: I64Array  # (n,) the first oracle entry of each record's chunk
    venue_base: I64Array

    @classmethod
    def of(cls, chunks: Sequence[_LeanChunk]) -> _LeanAnswer:
        def cat(parts: list[U64Array], shape: tuple[int, ...]) -> U64Array:
            out: U64Array = np.concatenate(parts) if parts else np.zeros(shape, np.uint64)
            return out

        sizes = [c.vaults for c in chunks]
        o_off = np.cumsum([0] + [len(c.oracles) for c in chunks])[:-1].astype(np.int64)
        v_off = np.cumsum([0] + [len(c.venues) for c in chunks])[:-1].astype(np.int64)
        return cls(
            headers=cat([c.header[None] for c in chunks], (0, LEAN_HEADER_WORDS)),
            records=cat([c.records for c in chunks], (0, LEAN_VAULT_WORDS, 4)),
            series=cat([c.series for c in chunks], (0, 4)),
            oracles=cat([c.oracles for c in chunks], (0, LEAN_ORACLE_WORDS, 4)),
            venues=cat([c.venues for c in chunks], (0, LEAN_VENUE_WORDS, 4)),
            oracle_base=np.repeat(o_off, sizes),
            venue_base=np.repeat(v_off, sizes),
        )

    @property
    def source(self) -> U64Array:
        """Each record's source (:data:`LEAN_SOURCE_FULL`, ``_CACHED`` or ``_VIEWS``)."""
        return _lane(self.records[:, 7], 1)


def _refuse_cached(ans: _LeanAnswer) -> None:
    if (ans.source == LEAN_SOURCE_CACHED).any():
        raise ChainError("lean snapshot: cached records, but no book cache to complete them")


def _address_limbs(*words: U64Array) -> U64Array:
    """Bits ``[0, 160)`` of each word row, three limbs a word, side by side (rows of keys)."""
    parts = []
    for w in words:
        parts += [w[:, 1] & np.uint64(0xFFFFFFFF), w[:, 2], w[:, 3]]
    out: U64Array = np.stack(parts, axis=1) if parts else np.zeros((0, 0), np.uint64)
    return out


class _Ids:
    """Small ids for addresses (a (feed, sequencer feed) pair, or a venue), first seen first."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        #: Per id, the address bytes (20 a word: 40 for a pair).
        self.addresses: list[bytes] = []

    def of(self, keys: U64Array) -> I64Array:
        """The id of each row of :func:`_address_limbs` (new addresses get new ids)."""
        if not len(keys):
            return np.zeros(0, np.int64)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        ids = np.empty(len(uniq), np.int64)
        for j, row in enumerate(uniq):
            b = row.astype(">u8").tobytes()  # 24 bytes a word, the address in the last 20
            i = self._ids.get(b)
            if i is None:
                i = self._ids[b] = len(self.addresses)
                self.addresses.append(b"".join(b[k + 4 : k + 24] for k in range(0, len(b), 24)))
            ids[j] = i
        out: I64Array = ids[inv.reshape(-1)]
        return out


@dataclass(frozen=True)
class LeanRequest:
    """One lean read's calldata per chunk, and what it told the lens the keeper holds.

    Per vault (aligned to the vault list): ``known`` (sent with the known bit), ``version`` (the
    book version sent), and for known vaults the position of its (feed, sequencer feed) pair in
    its chunk's ``feeds``/``seqs`` and of its venue in ``venues`` -- the oracle and venue entry
    indexes its cached record gets.
    """

    datas: list[bytes]
    chunk: int
    known: BoolArray
    version: U64Array
    oracle_local: U64Array
    venue_local: U64Array
    key: tuple[object, ...] = ()


def _word(x: int) -> bytes:
    return x.to_bytes(32, "big")


class _BookCache:
    """Each vault's last clean full lean record, aligned to the current vault list.

    Rows are kept for vaults whose last record was read in full (source 0) with no read error
    and readable feed and venue: their book version, record words (``records``, the last
    completed answer's), series (``series[series_start[i]:][:count]``), and the ids of their feed
    pair and venue. ``generation`` moves whenever what a request would say changes.
    """

    def __init__(self) -> None:
        self.vaults: tuple[str, ...] = ()
        self.addresses = np.zeros((0, 20), np.uint8)
        self.known = np.zeros(0, np.bool_)
        self.version = np.zeros(0, np.uint64)
        self.pair = np.zeros(0, np.int64)
        self.venue = np.zeros(0, np.int64)
        self.records = np.zeros((0, LEAN_VAULT_WORDS, 4), np.uint64)
        self.series = np.zeros((0, 4), np.uint64)
        self.series_start = np.zeros(0, np.int64)
        #: ``series`` holds the rows' series back to back, in row order (no realignment since).
        self.series_in_order = True
        self.generation = 0
        self.pairs = _Ids()
        self.venues = _Ids()

    def align(self, vaults: Sequence[str]) -> None:
        """Re-key the rows to ``vaults`` (a vault's row follows it; new vaults are unknown)."""
        t = vaults if isinstance(vaults, tuple) else tuple(vaults)
        if t == self.vaults:
            return
        old = {v: i for i, v in enumerate(self.vaults)}
        rows = np.array([old.get(v, -1) for v in t], np.int64)
        have = rows >= 0
        src = np.where(have, rows, 0) if len(self.vaults) else np.zeros(0, np.int64)
        n = len(t)

        def pick(a: npt.NDArray[Any], fill: object) -> npt.NDArray[Any]:
            if not len(self.vaults):
                return np.full((n, *a.shape[1:]), fill, a.dtype)
            out = a[src]
            out[~have] = fill
            return out

        self.known = pick(self.known, False)
        self.version = pick(self.version, 0)
        self.pair = pick(self.pair, -1)
        self.venue = pick(self.venue, -1)
        self.records = pick(self.records, 0)
        self.series_start = pick(self.series_start, 0)
        raw = b"".join(bytes.fromhex(str(v)[2:]) for v in t)
        self.addresses = np.frombuffer(raw, np.uint8).reshape(n, 20)
        self.vaults = t
        self.series_in_order = False
        self.generation += 1

    def request(self, chunk: int) -> LeanRequest:
        """``snapshotLeanSince`` calldata per chunk of ``chunk`` vaults."""
        n = len(self.vaults)
        k = self.known
        ent = np.zeros((n, 32), np.uint8)
        ent[:, 12:] = self.addresses
        ent[k, 8:12] = self.version[k].astype(">u4").view(np.uint8).reshape(-1, 4)
        ent[k, 7] = 1  # bit 192
        oracle_local = np.full(n, _NO_ENTRY, np.uint64)
        venue_local = np.full(n, _NO_ENTRY, np.uint64)
        datas = []
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            kk = k[a:b]
            pairs, p_at = np.unique(self.pair[a:b][kk], return_inverse=True)
            venues, v_at = np.unique(self.venue[a:b][kk], return_inverse=True)
            oracle_local[a:b][kk] = p_at.reshape(-1)
            venue_local[a:b][kk] = v_at.reshape(-1)
            pa = [self.pairs.addresses[i] for i in pairs.tolist()]
            feeds = b"".join(bytes(12) + p[:20] for p in pa)
            seqs = b"".join(bytes(12) + p[20:] for p in pa)
            vs = b"".join(bytes(12) + self.venues.addresses[i] for i in venues.tolist())
            m, kp = b - a, len(pa)
            at = [128, 128 + 32 * (1 + m)]
            at += [at[1] + 32 * (1 + kp), at[1] + 64 * (1 + kp)]
            datas.append(
                LEAN_SINCE_SELECTOR
                + b"".join(_word(x) for x in (*at, m))
                + ent[a:b].tobytes()
                + _word(kp)
                + feeds
                + _word(kp)
                + seqs
                + _word(len(venues))
                + vs
            )
        return LeanRequest(datas, chunk, k.copy(), self.version.copy(), oracle_local, venue_local)

    def _entry_ids(self, ans: _LeanAnswer) -> tuple[I64Array, I64Array]:
        o, v = ans.oracles, ans.venues
        return self.pairs.of(_address_limbs(o[:, 3], o[:, 4])), self.venues.of(
            _address_limbs(v[:, 1])
        )

    def complete(self, ans: _LeanAnswer, req: LeanRequest) -> int:
        """Fill in the cached records of ``ans`` (in place); return how many there were.

        Raises:
            ChainError: A cached record for a vault or version the request did not hold, or
                the chunk's entry tables do not start with the feeds and venues it sent.
        """
        rec = ans.records
        source = ans.source
        cached = source == LEAN_SOURCE_CACHED
        c = np.flatnonzero(cached)
        if not len(c):
            return 0
        version = _lane(rec[c, 7], 0)
        if not (req.known[c].all() and self.known[c].all()) or (
            (version != req.version[c]).any() or (version != self.version[c]).any()
        ):
            raise ChainError("lean snapshot: a cached record for a book version not held")
        every = len(c) == len(rec)
        at = slice(None) if every else c  # plain slices copy faster than an index
        old = self.records[at]
        rec[at, 2:6] = old[:, 2:6]
        rec[at, 6, 2:4] = old[:, 6, 2:4]  # lanes 1 and 0: heartbeat, grace
        rec[at, 0, 2] = old[:, 0, 2]  # lane 1: series count
        rec[at, 0, 1] = req.oracle_local[at]  # lane 2
        rec[at, 0, 0] = req.venue_local[at]  # lane 3
        pair_of, venue_of = self._entry_ids(ans)
        oi = req.oracle_local[c].astype(np.int64) + ans.oracle_base[c]
        vi = req.venue_local[c].astype(np.int64) + ans.venue_base[c]
        if (
            (oi >= len(pair_of)).any()
            or (vi >= len(venue_of)).any()
            or (pair_of[np.minimum(oi, len(pair_of) - 1)] != self.pair[c]).any()
            or (venue_of[np.minimum(vi, len(venue_of) - 1)] != self.venue[c]).any()
        ):
            raise ChainError("lean snapshot: the entry tables do not start with the ones sent")
        if every and self.series_in_order:
            ans.series = self.series
            return len(c)
        # Splice the series, vault order: answer series for the others, cached for these.
        counts = _lane(rec[:, 0], 1).astype(np.int64)
        fresh = np.where(cached, 0, counts)
        start = np.where(
            cached, len(ans.series) + self.series_start, np.cumsum(fresh) - fresh
        ).astype(np.int64)
        out_at = np.cumsum(counts) - counts
        gather = np.repeat(start - out_at, counts) + np.arange(int(counts.sum()))
        ans.series = np.concatenate([ans.series, self.series])[gather]
        return len(c)

    def refresh(self, ans: _LeanAnswer) -> None:
        """Keep the clean full (and still cached) records of the completed ``ans``.

        Raises:
            ChainError: A full record points past its chunk's entry tables.
        """
        rec = ans.records
        meta = rec[:, 0]
        source = ans.source
        keep = (
            (source <= LEAN_SOURCE_CACHED)
            & (_lane(meta, 0) == 0)
            & (_lane(meta, 2) != _NO_ENTRY)
            & (_lane(meta, 3) != _NO_ENTRY)
        )
        pair = np.where(keep, self.pair, -1)
        venue = np.where(keep, self.venue, -1)
        full = np.flatnonzero(keep & (source == LEAN_SOURCE_FULL))
        if len(full):
            pair_of, venue_of = self._entry_ids(ans)
            oi = _lane(meta[full], 2).astype(np.int64) + ans.oracle_base[full]
            vi = _lane(meta[full], 3).astype(np.int64) + ans.venue_base[full]
            if (oi >= len(pair_of)).any() or (vi >= len(venue_of)).any():
                raise ChainError("lean snapshot: an entry index past its chunk's entries")
            pair[full] = pair_of[oi]
            venue[full] = venue_of[vi]
        version = np.where(keep, _lane(rec[:, 7], 0), np.uint64(0))
        same = (
            np.array_equal(keep, self.known)
            and np.array_equal(version, self.version)
            and np.array_equal(pair, self.pair)
            and np.array_equal(venue, self.venue)
        )
        self.known, self.version, self.pair, self.venue = keep, version, pair, venue
        self.records, self.series = rec, ans.series
        counts = _lane(meta, 1).astype(np.int64)
        self.series_start = np.cumsum(counts) - counts
        self.series_in_order = True
        if not same:
            self.generation += 1


def _address(word: U64Array) -> str:
    b = b"".join(int(x).to_bytes(8, "big") for x in word)
    return str(to_checksum_address(b[12:]))


def lean_snapshot(vaults: Sequence[str], answers: Sequence[bytes]) -> LeanSnapshot:
    """Decode the answers of the chunks of ``vaults`` (in order) into one :class:`LeanSnapshot`.

    Answers to ``snapshotLean`` only: cached records need :meth:`LensReader.decode_lean`.

    Raises:
        ChainError: An answer is malformed, covers a different number of vaults, or holds
            cached records.
    """
    ans = _LeanAnswer.of([decode_lean_words(a) for a in answers])
    _refuse_cached(ans)
    return _lean_from(vaults, ans)


def _lean_from(vaults: Sequence[str], ans: _LeanAnswer) -> LeanSnapshot:
    """Columns of a complete answer (every record's words and series present).

    Raises:
        ChainError: The answer covers a different number of vaults.
    """
    rec = ans.records
    if len(rec) != len(vaults):
        raise ChainError(f"VaultLens returned {len(rec)} records for {len(vaults)} vaults")

    def idx(lane: int, base: I64Array) -> I64Array:
        raw = _lane(rec[:, 0], lane)
        out: I64Array = np.where(raw == _NO_ENTRY, -1, raw.astype(np.int64) + base)
        return out

    counts = _lane(rec[:, 0], 1).astype(np.int64)
    ser, orc, ven = ans.series, ans.oracles, ans.venues
    s0, s1, s2, s3 = (_lane(ser, k) for k in range(4))
    m16 = np.uint64(0xFFFF)
    if not ((s2 >> np.uint64(48)).any() or (s3 & m16).any()):  # every size below 2**64
        size: ObjArray = ((s2 << np.uint64(16)) | (s1 >> np.uint64(48))).astype(object)
    else:
        size = (
            (s1 >> np.uint64(48)).astype(object)
            + s2.astype(object) * (1 << 16)
            + (s3 & m16).astype(object) * (1 << 80)
        )
    o0, o1, o2 = orc[:, 0], orc[:, 1], orc[:, 2]
    depth_ok = (_lane(ven[:, 2], 2) | _lane(ven[:, 2], 3)) == 0
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
    head = ans.headers[0] if len(ans.headers) else np.zeros(LEAN_HEADER_WORDS, np.uint64)
    v0 = ven[:, 0]
    return LeanSnapshot(
        vaults=tuple(vaults),
        block_number=int(ans.headers[:, 1].min()) if len(ans.headers) else 0,
        # The newest: the cycle's "now" (see LensResult), the oldest block's state.
        block_timestamp=int(ans.headers[:, 2].max()) if len(ans.headers) else 0,
        base_fee=int(head[3]),
        read_errors=_lane(rec[:, 0], 0).astype(np.int64),
        oracle_idx=idx(2, ans.oracle_base),
        venue_idx=idx(3, ans.venue_base),
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
        book_version=_lane(rec[:, 7], 0).astype(np.int64),
        cached=ans.source == LEAN_SOURCE_CACHED,
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
        venue_address=(_lane(ven[:, 1], 2) & np.uint64(0xFFFFFFFF)).astype(object) * (1 << 128)
        + _u128(_lane(ven[:, 1], 0), _lane(ven[:, 1], 1)),
        # A depth past 128 bits is not a venue's answer (the venue caps it): unknown, fee tier
        # included (a fee beside a depth of 0 is a pool with nothing in range).
        venue_depth=np.where(depth_ok, _u128(_lane(ven[:, 2], 0), _lane(ven[:, 2], 1)), 0).astype(
            object
        ),
        venue_fee_pips=np.where(
            depth_ok, (_lane(ven[:, 1], 2) >> np.uint64(32)) & np.uint64(0xFFFFFF), 0
        ).astype(np.int64),
        calls=len(ans.headers),
    )


def _fake_address(tag: str, value: object) -> str:
    """A stable made-up address for a fake answer's feed or venue (tests)."""
    return "0x" + keccak(text=f"{tag}:{value!r}")[-20:].hex()


def encode_lean_answer(
    snaps: Sequence[VaultSnapshot],
    block_number: int,
    block_timestamp: int,
    base_fee: int = 0,
    *,
    versions: Sequence[int] | None = None,
    sources: Sequence[int] | None = None,
    feeds: Sequence[tuple[str, str]] | None = None,
    venues: Sequence[str] | None = None,
    entry_feeds: Sequence[tuple[str, str]] = (),
    entry_venues: Sequence[str] = (),
    venue_depths: Mapping[str, tuple[int, int]] | None = None,
) -> bytes:
    """The lean answer the lens would give for these full snapshots (tests, fakes).

    Args:
        snaps: The vaults' full state, in request order.
        block_number: Header block number.
        block_timestamp: Header timestamp.
        base_fee: Header base fee.
        versions: Each vault's book version (0 by default).
        sources: Each record's source (:data:`LEAN_SOURCE_FULL` by default); a
            :data:`LEAN_SOURCE_CACHED` record carries only its balances, clock and book word,
            as ``snapshotLeanSince`` returns a vault whose version the caller holds.
        feeds: Each vault's (price feed, sequencer feed) addresses; by default made up from
            its oracle state (so vaults with equal states share an entry; no sequencer feed
            when the state has none).
        venues: Each vault's venue address; by default made up from its pool price.
        entry_feeds: The call's ``feeds``/``seqs``: oracle entries 0..k-1, in order (their
            state is that of the first vault on the pair; zero when none is).
        entry_venues: The call's ``venues``: venue entries 0..k-1.
        venue_depths: A venue's (depth, fee pips), as ``IUniswapV3Venue.depth`` answers, by
            address; the others answer none (0, 0).

    Unreadable vaults keep their ``read_errors`` (and their entries).
    """

    def lanes(*values: int) -> int:
        return sum((v & (_TWO64 - 1)) << (64 * k) for k, v in enumerate(values))

    def halves(lo: int, hi: int) -> int:
        return (lo & ((1 << 128) - 1)) | (hi << 128)

    def addr(a: str) -> int:
        return int(a, 16)

    n = len(snaps)
    versions = list(versions) if versions is not None else [0] * n
    sources = list(sources) if sources is not None else [LEAN_SOURCE_FULL] * n
    if feeds is None:
        feeds = [
            (
                _fake_address("feed", s.oracle),
                _fake_address("seq", s.oracle) if s.oracle.has_sequencer_feed else "0x" + "0" * 40,
            )
            for s in snaps
        ]
    if venues is None:
        venues = [_fake_address("venue", s.pool_price) for s in snaps]
    pair_at: dict[tuple[int, int], int] = {}
    for f, q in entry_feeds:
        pair_at.setdefault((addr(f), addr(q)), len(pair_at))
    venue_at: dict[int, int] = {}
    for v in entry_venues:
        venue_at.setdefault(addr(v), len(venue_at))
    state: dict[tuple[int, int], OracleState] = {}
    price: dict[int, int] = {}
    for s, (f, q), v in zip(snaps, feeds, venues, strict=True):
        state.setdefault((addr(f), addr(q)), s.oracle)
        price.setdefault(addr(v), s.pool_price)
    records: list[int] = []
    series: list[int] = []
    no = _TWO64 - 1
    for s, ver, src, (f, q), v in zip(snaps, versions, sources, feeds, venues, strict=True):
        t = s.thresholds
        clock = (s.last_rebalance, int(s.paused))
        book = lanes(ver if src != LEAN_SOURCE_VIEWS else 0, src)
        if src == LEAN_SOURCE_CACHED:
            records += [lanes(int(s.read_errors), 0, no, no), halves(s.inventory, s.free_quote)]
            records += [0, 0, 0, 0, lanes(0, 0, *clock), book]
            continue
        fi = pair_at.setdefault((addr(f), addr(q)), len(pair_at))
        vi = venue_at.setdefault(addr(v), len(venue_at))
        records += [
            lanes(int(s.read_errors), len(s.series), fi, vi),
            halves(s.inventory, s.free_quote),
            halves(0, 0),
            halves(t.target_delta, t.band),
            halves(t.max_trade, s.volatility),
            lanes(t.min_interval, t.max_interval, t.max_slippage_bps, t.max_oracle_gap_bps),
            lanes(t.oracle_heartbeat, t.sequencer_grace_period, *clock),
            book,
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
    zero = OracleState(0, 0, 0, 0, False, 0)
    for fa, qa in pair_at:
        o = state.get((fa, qa), zero)
        oracles += [
            o.answer % (1 << 256),
            halves(o.round_id, lanes(o.updated_at, o.decimals)),
            lanes(int(o.has_sequencer_feed), int(o.sequencer_down), o.sequencer_started_at, 0),
            fa,
            qa,
        ]
    depths = {addr(k): v for k, v in (venue_depths or {}).items()}
    venue_words: list[int] = []
    for va in venue_at:
        depth, fee = depths.get(va, (0, 0))
        venue_words += [price.get(va, 0), va | (fee << 160), depth]
    header = [
        LEAN_LAYOUT_VERSION,
        block_number,
        block_timestamp,
        base_fee,
        n,
        len(series),
        len(pair_at),
        len(venue_at),
    ]
    words = header + records + series + oracles + venue_words
    return b"".join(w.to_bytes(32, "big") for w in [32, len(words), *words])
