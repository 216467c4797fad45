"""Simulate the exact ``rebalanceBatch`` call before signing it.

1. ``eth_call`` the batch from the keeper's address. The batcher runs each vault in its own
   guarded low-level call and returns one ``Outcome`` per vault; a vault whose ``ok`` is false
   would revert, so it is dropped (with its decoded reason) and the smaller batch is simulated
   again, until every remaining vault succeeds or none is left.
2. ``eth_estimateGas`` the final batch and add headroom.

A pool's one swap must deliver what its strictest leg needs, so a pool swap short of that
reverts the whole call (``HedgeVenueInsufficientOutput`` or
``RebalanceBatcherInsufficientOutput``), whichever vault it is, and the error names no pool.
When the batch spans several swaps (the caller's ``pools``: one key per venue, so pools that swap
in a row on one venue stay together), each swap's legs are first simulated alone, and only the
swaps that fall short alone lose vaults: a thin pool whose price drifted from its oracle no
longer starves the other pools' vaults. In each such swap (or in the whole batch, with one swap,
or when no swap falls short alone: swaps in a row on one venue may fail only together), the
vaults with the smallest slippage bound (``maxSlippageBps``: a leg needs ``(1 - bps/1e4)`` of
its input at the oracle price, so the smallest bound is the strictest leg) are dropped, with the
decoded error, and the rest simulated again: at most one ``eth_call`` per distinct bound, until
the call succeeds or no vault is left. A vault whose bound the caller did not pass ranks by its
own batch of one (one ``eth_call`` each, at the first such revert): one that fails alone is
strictest (dropped with its own reason), one that passes alone is dropped only when nothing else
is left to drop.

The swaps simulated alone cost extra ``eth_call`` requests, bounded: a swap is simulated once
per set of its vaults, and that set changes only when the swap lost vaults, so a swap that
passed alone is not simulated again. With ``G`` swaps of several vaults and ``N`` vaults, the
probes are at most ``G`` plus one per bound dropped, under ``2 N`` in all (a swap of one vault
is its vault's batch of one, simulated once, as above); a batch of one swap makes none.

Any other revert of the whole call (an unauthorized keeper, a bad batch size) is a
:class:`~keeper.errors.TxRevertedError` carrying the decoded custom error.

A lone vault can skip the batcher (:func:`simulate_direct`): its ``rebalance()`` (or
``rebalanceTo(post)``) sent to the vault itself, when the signer holds the vault's keeper role.
That saves the batcher's own work and most of the calldata (measured against a batch of one:
14.0k gas on a first purchase, 14.0k on a recurring one, and 38% of the L1 fee); the vault runs
the same checks either way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_output_types
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.providers import JSONBaseProvider

from keeper.chain.answers import decode_answer
from keeper.chain.artifacts import load_abi
from keeper.chain.retry import is_transient, read_with_retry
from keeper.errors import ChainError, TxRevertedError
from keeper.execution.decode import ErrorDecoder, revert_data
from keeper.units import bps_up

logger = logging.getLogger(__name__)

#: The batcher's own gas per vault outside the vault's call (outcome, event), an upper bound.
BATCHER_PER_VAULT_GAS = 30_000

#: ``OptionVault.rebalance()`` and ``rebalanceTo(int256)``: a lone vault's call to the vault.
REBALANCE_SELECTOR = bytes(keccak(text="rebalance()")[:4])
REBALANCE_TO_SELECTOR = bytes(keccak(text="rebalanceTo(int256)")[:4])
#: The batcher's ``settleBatch(address[] vaults, uint256[] ids, uint80[] roundIds)``.
SETTLE_BATCH_SELECTOR = bytes(keccak(text="settleBatch(address[],uint256[],uint80[])")[:4])
#: The batcher's ``fillBatch(address[] queues)``: many redemption queues filled at once.
FILL_BATCH_SELECTOR = bytes(keccak(text="fillBatch(address[])")[:4])
#: A pool's one swap short of its strictest leg's ``minOut``: the whole ``rebalanceBatch``
#: reverts (the venue's check, or the batcher's on its own balance).
POOL_SHORT_SELECTORS = frozenset(
    bytes(keccak(text=sig)[:4])
    for sig in (
        "HedgeVenueInsufficientOutput(uint256,uint256)",
        "RebalanceBatcherInsufficientOutput(address,uint256,uint256)",
    )
)
#: OpenZeppelin's ``AccessControlUnauthorizedAccount(address,bytes32)``: the signer lacks the
#: vault's keeper role, so the lone vault goes through the batcher instead.
UNAUTHORIZED_SELECTOR = bytes(keccak(text="AccessControlUnauthorizedAccount(address,bytes32)")[:4])


@dataclass(frozen=True)
class VaultOutcome:
    """One vault's simulated result inside the batch."""

    vault: str
    ok: bool
    delta_before: int
    delta_after: int
    reason: str
    gas_used: int = 0


@dataclass(frozen=True)
class Simulation:
    """The batch to send (every vault in it simulated ``ok``), its calldata and gas limit."""

    vaults: tuple[str, ...]
    calldata: bytes
    gas: int
    outcomes: tuple[VaultOutcome, ...]
    dropped: Mapping[str, str] = field(default_factory=dict)
    rounds: int = 1
    #: Where the calldata goes: ``None`` for the batcher, else the lone vault itself.
    to: str | None = None
    #: Vaults left for a later batch, with why: more than the batcher's ``maxBatch``, or more
    #: than the block's gas limit holds. Nothing is wrong with them; they wait their turn.
    deferred: Mapping[str, str] = field(default_factory=dict)


class BatchCodec:
    """Encodes ``rebalanceBatch(address[],int256[])`` and decodes its ``Outcome[]``, from the ABI.

    ``rebalanceBatch`` is the netted batch: one pool swap per pool, each vault with its requested
    post-trade deviation (``VaultDecision.post_deviation``; 0 trades to the target).

    It also remembers each batcher's ``BOOKKEEPING_GAS()``, a constant of the batcher's code,
    read from the chain the first time a batch for that batcher is sized.
    """

    def __init__(self, abi: Sequence[Mapping[str, Any]] | None = None) -> None:
        abi = abi if abi is not None else load_abi("IRebalanceBatcher")
        fn = next(
            (e for e in abi if e.get("type") == "function" and e.get("name") == "rebalanceBatch"),
            None,
        )
        if fn is None:
            raise ChainError("the RebalanceBatcher ABI has no rebalanceBatch function")
        self.fn = dict(fn)
        self.selector = bytes(function_abi_to_4byte_selector(self.fn))  # type: ignore[arg-type]
        self.output_types = get_abi_output_types(self.fn)  # type: ignore[arg-type]
        comps = self.fn["outputs"][0]["components"]
        self.names = [str(c["name"]) for c in comps]
        self._limits: tuple[str, int, int, int] | None = None
        #: The batchers' constants and immutables, by (getter, batcher): read once each.
        self._constants: dict[tuple[str, str], int] = {}

    #: How many reads of the gas limits one cached value serves (they change by admin action or
    #: slowly; the final simulation at the signed gas limit catches a stale value).
    LIMITS_TTL = 50

    def limits(self, w3: Web3, batcher: str, attempts: int = 3) -> tuple[int, int]:
        """The batcher's ``vaultGasLimit()`` and the block gas limit, cached for a while."""
        cache = self._limits
        if cache is not None and cache[0] == batcher and cache[3] > 0:
            self._limits = (cache[0], cache[1], cache[2], cache[3] - 1)
            return cache[1], cache[2]
        vault_gas = _uint(w3, batcher, "vaultGasLimit()", attempts)
        block = read_with_retry(lambda: w3.eth.get_block("latest"), attempts=attempts)
        block_gas = int(block["gasLimit"])
        self._limits = (batcher, vault_gas, block_gas, self.LIMITS_TTL)
        return vault_gas, block_gas

    def bookkeeping_gas(self, w3: Web3, batcher: str, attempts: int = 3) -> int:
        """The batcher's ``BOOKKEEPING_GAS()``: one ``eth_call`` per batcher, then cached.

        Raises:
            ChainError: The node could not be reached, or the batcher has no such getter.
        """
        return self._constant(w3, batcher, "BOOKKEEPING_GAS()", attempts)

    def max_batch(self, w3: Web3, batcher: str, attempts: int = 3) -> int:
        """The batcher's ``maxBatch()``, an immutable: one ``eth_call`` per batcher, then cached.

        Raises:
            ChainError: The node could not be reached, or the batcher has no such getter.
        """
        return self._constant(w3, batcher, "maxBatch()", attempts)

    def remember_max_batch(self, batcher: str, size: int) -> None:
        """Cache a ``maxBatch()`` read elsewhere (the start-up check reads it)."""
        self._constants[("maxBatch()", str(to_checksum_address(batcher)))] = int(size)

    def _constant(self, w3: Web3, batcher: str, getter: str, attempts: int) -> int:
        key = (getter, str(to_checksum_address(batcher)))
        if key not in self._constants:
            self._constants[key] = _uint(w3, key[1], getter, attempts)
        return self._constants[key]

    def encode(self, vaults: Sequence[str], posts: Sequence[int] | None = None) -> bytes:
        """Calldata of ``rebalanceBatch(vaults, posts)`` (``posts`` default: all 0, to target)."""
        post_list = [int(p) for p in posts] if posts is not None else [0] * len(vaults)
        if len(post_list) != len(vaults):
            raise ChainError(f"{len(vaults)} vaults but {len(post_list)} post-trade deviations")
        return self.selector + abi_encode(
            ["address[]", "int256[]"], [[str(v) for v in vaults], post_list]
        )

    def decode(self, data: bytes, decoder: ErrorDecoder) -> list[VaultOutcome]:
        """Decode the ``Outcome[]`` return data.

        Raises:
            ChainError: The answer is not an ``Outcome[]`` (e.g. ``0x``, no data at all).
        """
        (items,) = decode_answer(self.output_types, data, "simulating rebalanceBatch")
        out = []
        for item in items:
            d = dict(zip(self.names, item, strict=True))
            reason = bytes(d.get("reason", b""))
            ok = bool(d["ok"])
            out.append(
                VaultOutcome(
                    vault=str(to_checksum_address(d["vault"])),
                    ok=ok,
                    delta_before=int(d.get("deltaBefore", 0)),
                    delta_after=int(d.get("deltaAfter", 0)),
                    gas_used=int(d.get("gasUsed", 0)),
                    reason="" if ok else decoder.decode(reason),
                )
            )
        return out


def batch_gas_needed(
    calldata: bytes,
    outcomes: Sequence[VaultOutcome],
    vault_gas_limit: int,
    bookkeeping_gas: int,
) -> int:
    """The gas limit under which the batcher calls *every* vault of ``outcomes``.

    The batcher checks, before each vault, that ``vaultGasLimit * 64/63 + BOOKKEEPING_GAS`` gas
    is left (both read from the batcher; see :meth:`BatchCodec.bookkeeping_gas`), and reverts
    the whole transaction (``RebalanceBatcherInsufficientGas``) if it is not, so
    ``eth_estimateGas`` finds a limit that reaches every vault. This is the same rule computed
    from the simulated outcomes -- intrinsic and calldata gas, what the vaults used, the
    batcher's per-vault bookkeeping, plus the reserve the last vault must find -- and the signed
    limit is the larger of the two, so a node whose estimate is short cannot starve a vault.
    """
    intrinsic = 21_000 + 16 * len(calldata)
    used = sum(o.gas_used for o in outcomes)
    reserve = vault_gas_limit + vault_gas_limit // 63 + bookkeeping_gas
    return intrinsic + used + len(outcomes) * BATCHER_PER_VAULT_GAS + reserve


def simulate_batch(
    w3: Web3,
    batcher: str,
    vaults: Sequence[str],
    sender: str,
    decoder: ErrorDecoder,
    *,
    codec: BatchCodec | None = None,
    posts: Mapping[str, int] | None = None,
    slippage_bps: Mapping[str, int] | None = None,
    pools: Mapping[str, int] | None = None,
    headroom_bps: int = 2_000,
    max_rounds: int = 4,
    attempts: int = 3,
    benefit: Mapping[str, float] | None = None,
) -> Simulation:
    """Simulate ``rebalanceBatch(vaults, posts)`` from ``sender``; drop failing vaults, re-simulate.

    ``posts`` maps a vault to its requested post-trade deviation (wad; missing: 0, to target).
    Dropping a vault never changes the others' requests.

    More vaults than the batcher's ``maxBatch()`` (read once, cached in ``codec``) would revert
    the whole call (``RebalanceBatcherBadBatchSize``): the batch keeps the ``maxBatch`` vaults
    with the largest ``benefit`` (missing: 0; ties and no ``benefit`` keep the given order), in
    the given order, and defers the rest to a later batch (:attr:`Simulation.deferred`). A batch
    too large for the block's gas limit is cut the same way.

    ``slippage_bps`` maps a vault to its ``maxSlippageBps`` threshold. When a pool's one swap
    cannot meet its strictest leg and the whole call reverts, the vaults with the smallest bound
    are dropped (with the decoded error) and the rest simulated again, once per distinct bound
    at most; a vault missing from it is ranked by its own batch of one (see the module doc).
    These retries do not count against ``max_rounds``.

    ``pools`` maps a vault to the key of the swap its leg joins (the plan's venue key, one per
    venue: pools on one venue swap in a row on it). When such a revert comes from a batch of
    several swaps, each swap's vaults are simulated alone and only the swaps that fall short
    alone lose their strictest vaults; the other swaps' vaults stay. Missing (or one key for
    all): one swap, the whole batch's strictest bound, as before. The extra calls are bounded
    (module doc: under twice the batch's vaults, none for one swap).

    The final batch is simulated once more *at the gas limit that will be signed*, so a vault the
    batcher would skip for lack of gas is caught here too; a batch too large for the block's gas
    limit is cut (the smallest benefits first), and the vaults left out wait for the next block.

    Returns:
        The surviving batch (possibly empty, then ``gas == 0``).

    Raises:
        TxRevertedError: The whole call reverts for another reason than a pool swap short of
            its strictest leg (decoded reason attached).
        ChainError: The node could not be reached.
    """
    codec = codec or shared_codec()
    to = str(to_checksum_address(batcher))
    remaining = [str(to_checksum_address(v)) for v in vaults]
    want = {str(to_checksum_address(v)): int(p) for v, p in (posts or {}).items()}
    rank = _Strictness(
        {str(to_checksum_address(v)): int(b) for v, b in (slippage_bps or {}).items()},
        lambda v: _alone(w3, to, v, want.get(v, 0), sender, codec, decoder, attempts),
        {str(to_checksum_address(v)): int(k) for v, k in (pools or {}).items()},
        lambda vs: _swap_alone(
            w3, to, vs, [want.get(v, 0) for v in vs], sender, codec, decoder, attempts
        ),
    )
    dropped: dict[str, str] = {}
    deferred: dict[str, str] = {}

    def defer(keep: int, why: str) -> list[str]:
        # The ``keep`` largest benefits stay, in the given order (a stable sort: ties, and no
        # benefit, keep the first ones); the rest wait for a later batch.
        worth = benefit or {}
        ranked = sorted(range(len(remaining)), key=lambda i: -worth.get(remaining[i], 0.0))
        kept = set(ranked[:keep])
        deferred.update({v: why for i, v in enumerate(remaining) if i not in kept})
        return [v for i, v in enumerate(remaining) if i in kept]

    if len(remaining) > 1:
        cap = codec.max_batch(w3, to, attempts)
        if len(remaining) > cap:
            remaining = defer(cap, f"deferred: the batcher takes at most {cap} vaults a batch")
    outcomes: list[VaultOutcome] = []
    rounds = 0
    pool_rounds = 0
    vault_gas_limit: int | None = None
    block_gas = 0

    def drop_strictest(exc: TxRevertedError) -> list[str]:
        # One pool's swap is short of its strictest leg (else ``exc`` is raised): drop those.
        nonlocal pool_rounds
        strict = rank.strictest(remaining, exc, decoder)
        pool_rounds += 1
        for vault, reason in strict.items():
            logger.info("simulation drops vault %s: %s", vault, reason)
        dropped.update(strict)
        return [v for v in remaining if v not in strict]

    while remaining and rounds - pool_rounds < max_rounds:
        rounds += 1
        data = codec.encode(remaining, [want.get(v, 0) for v in remaining])
        tx: dict[str, Any] = {"from": sender, "to": to, "data": HexBytes(data)}
        try:
            raw, estimate = _call_and_estimate(w3, tx, decoder, attempts)
        except TxRevertedError as exc:
            remaining = drop_strictest(exc)
            continue
        outcomes = codec.decode(raw, decoder)
        failed = {o.vault: o.reason for o in outcomes if not o.ok}
        if failed:
            for vault, reason in failed.items():
                logger.info("simulation drops vault %s: %s", vault, reason)
            dropped.update(failed)
            remaining = [v for v in remaining if v not in failed]
            continue
        if vault_gas_limit is None:
            vault_gas_limit, block_gas = codec.limits(w3, to, attempts)
        needed = batch_gas_needed(
            data, outcomes, vault_gas_limit, codec.bookkeeping_gas(w3, to, attempts)
        )
        if estimate is None:
            try:
                estimate = _estimate(w3, tx, decoder, attempts)
            except TxRevertedError as exc:
                remaining = drop_strictest(exc)  # the chain moved since the call
                continue
        gas = bps_up(max(estimate, needed), headroom_bps)
        if gas > block_gas and len(remaining) > 1:
            keep = max(1, len(remaining) * block_gas // gas - 1)
            remaining = defer(keep, "deferred: the batch would exceed the block gas limit")
            continue
        gas = min(gas, block_gas) if block_gas else gas
        try:
            check = codec.decode(_call(w3, {**tx, "gas": gas}, decoder, attempts), decoder)
        except TxRevertedError as exc:
            remaining = drop_strictest(exc)  # the chain moved since the call
            continue
        short = {o.vault: o.reason for o in check if not o.ok}
        if short:
            # Still failing at the signed gas: drop them and go round again.
            dropped.update(short)
            remaining = [v for v in remaining if v not in short]
            continue
        return Simulation(
            tuple(remaining), data, gas, tuple(check), dropped, rounds, deferred=deferred
        )
    if remaining:
        # Still failing after max_rounds (state moving under us): send nothing this cycle.
        for v in remaining:
            dropped.setdefault(v, "still failing after re-simulation")
    return Simulation((), b"", 0, tuple(outcomes), dropped, rounds, deferred=deferred)


class _Strictness:
    """Which vaults of a batch whose pool swap falls short go first: the strictest legs.

    A leg needs ``(1 - maxSlippageBps/1e4)`` of its input at the oracle price, so the smallest
    known bound is the strictest. A vault with no known bound is probed once, alone (``probe``
    returns why it fails alone, or ``""``): failing alone ranks first (with that reason),
    passing alone ranks last.

    With ``pools`` (each vault's swap key) and a batch of several swaps, each swap's vaults are
    first simulated alone (``probe_swap`` returns its revert, or ``None``), and the rule above
    applies only inside the swaps that fall short alone. A swap that passed alone is remembered
    by its set of vaults, and not simulated again while that set stays.
    """

    def __init__(
        self,
        bounds: Mapping[str, int],
        probe: Callable[[str], str],
        pools: Mapping[str, int] | None = None,
        probe_swap: Callable[[Sequence[str]], TxRevertedError | None] | None = None,
    ) -> None:
        self.bounds = dict(bounds)
        self.probe = probe
        self.pools = dict(pools or {})
        self.probe_swap = probe_swap
        self.alone: dict[str, str] = {}
        #: Swaps (their sets of vaults) that passed alone.
        self.passed: set[frozenset[str]] = set()

    def strictest(
        self, remaining: Sequence[str], exc: TxRevertedError, decoder: ErrorDecoder
    ) -> dict[str, str]:
        """The vaults to drop for the revert ``exc``, each with its reason.

        Raises:
            TxRevertedError: ``exc``, when it is not a pool swap short of its ``minOut`` and
                not a revert some vaults cause alone (see :meth:`_failing_alone`).
            ChainError: The node could not be reached (probing a vault or a swap alone).
        """
        if bytes(exc.data[:4]) not in POOL_SHORT_SELECTORS:
            return self._failing_alone(remaining, exc)
        swaps: dict[int | None, list[str]] = {}
        for v in remaining:
            swaps.setdefault(self.pools.get(v), []).append(v)
        if len(swaps) > 1 and self.probe_swap is not None:
            short = self._short_swaps(list(swaps.values()), self.probe_swap, decoder)
            if short:
                return short
        return self._strictest_bound(remaining, exc, decoder)

    def _short_swaps(
        self,
        swaps: Sequence[Sequence[str]],
        probe_swap: Callable[[Sequence[str]], TxRevertedError | None],
        decoder: ErrorDecoder,
    ) -> dict[str, str]:
        """The strictest vaults of each swap that falls short alone (none: ``{}``)."""
        out: dict[str, str] = {}
        for vaults in swaps:
            if len(vaults) == 1:
                # A batch of one is the vault's own swap, at its own minOut.
                (v,) = vaults
                if v not in self.alone:
                    self.alone[v] = self.probe(v)
                if self.alone[v]:
                    out[v] = self.alone[v]
                continue
            key = frozenset(vaults)
            if key in self.passed:
                continue
            err = probe_swap(vaults)
            if err is None:
                self.passed.add(key)
            elif bytes(err.data[:4]) in POOL_SHORT_SELECTORS:
                out.update(self._strictest_bound(vaults, err, decoder))
            # Another revert of a swap alone is left to the batch's next simulation, which
            # meets it whole (see :meth:`_failing_alone`).
        return out

    def _strictest_bound(
        self, remaining: Sequence[str], exc: TxRevertedError, decoder: ErrorDecoder
    ) -> dict[str, str]:
        """The vaults of one swap's shortfall ``exc`` with the smallest bound, or failing alone."""
        for v in remaining:
            if v not in self.bounds and v not in self.alone:
                self.alone[v] = self.probe(v)
        failing = {v: self.alone[v] for v in remaining if self.alone.get(v)}
        if failing:
            return failing
        pool = decoder.decode(exc.data)
        known = [self.bounds[v] for v in remaining if v in self.bounds]
        if not known:
            why = f"the pool swap cannot meet every leg's minOut together: {pool}"
            return dict.fromkeys(remaining, why)
        low = min(known)
        why = f"the pool swap cannot meet the strictest slippage bound ({low} bps): {pool}"
        return {v: why for v in remaining if self.bounds.get(v) == low}

    def _failing_alone(self, remaining: Sequence[str], exc: TxRevertedError) -> dict[str, str]:
        """The vaults of a batch reverted whole for another reason that fail alone.

        A venue that reverts in the batch's swap phase (a venue for another pair, a partial
        fill, a hostile one) reverts the whole call, which names no vault; alone, the same
        revert is that vault's own failed call. Each vault is probed alone once: the ones that
        fail are dropped, the rest simulated again.

        Raises:
            TxRevertedError: ``exc``, when no vault fails alone (the batch fails as a whole)
                or every vault does (the batcher refuses the call: the keeper's role, the
                batch's shape), which dropping vaults cannot mend.
        """
        for v in remaining:
            if v not in self.alone:
                self.alone[v] = self.probe(v)
        failing = {v: self.alone[v] for v in remaining if self.alone[v]}
        if not failing or len(failing) == len(remaining):
            raise exc
        return failing


def _alone(
    w3: Web3,
    to: str,
    vault: str,
    post: int,
    sender: str,
    codec: BatchCodec,
    decoder: ErrorDecoder,
    attempts: int,
) -> str:
    """Why ``vault`` fails as a batch of one (its own swap and ``minOut``), or ``""``."""
    tx = {"from": sender, "to": to, "data": HexBytes(codec.encode([vault], [post]))}
    try:
        (outcome,) = codec.decode(_call(w3, tx, decoder, attempts), decoder)
    except TxRevertedError as exc:
        return decoder.decode(exc.data)
    return "" if outcome.ok else outcome.reason


def _swap_alone(
    w3: Web3,
    to: str,
    vaults: Sequence[str],
    posts: Sequence[int],
    sender: str,
    codec: BatchCodec,
    decoder: ErrorDecoder,
    attempts: int,
) -> TxRevertedError | None:
    """The revert of ``vaults`` batched alone (one swap's legs, one ``eth_call``), or ``None``."""
    tx = {"from": sender, "to": to, "data": HexBytes(codec.encode(vaults, posts))}
    try:
        _call(w3, tx, decoder, attempts)
    except TxRevertedError as exc:
        return exc
    return None


def direct_calldata(post: int = 0) -> bytes:
    """A lone vault's own call: ``rebalance()`` for the target (0), else ``rebalanceTo(post)``."""
    if post == 0:
        return REBALANCE_SELECTOR
    return REBALANCE_TO_SELECTOR + abi_encode(["int256"], [int(post)])


def simulate_direct(
    w3: Web3,
    vault: str,
    sender: str,
    decoder: ErrorDecoder,
    *,
    post: int = 0,
    headroom_bps: int = 2_000,
    attempts: int = 3,
) -> Simulation | None:
    """Simulate a lone vault's rebalance sent to the vault itself, from ``sender``.

    The vault runs the very checks it runs inside a batch (the batcher's batch of one calls the
    same ``rebalance``/``rebalanceTo``), so a revert here drops the vault as the batch would.
    It is simulated once more at the gas limit that will be signed.

    Returns:
        The one-vault :class:`Simulation` addressed to the vault (``to``), or one with no vaults
        and the reason in ``dropped`` when the vault would revert; ``None`` when ``sender`` does
        not hold the vault's keeper role (the caller goes through the batcher).

    Raises:
        ChainError: The node could not be reached.
    """
    to = str(to_checksum_address(vault))
    data = direct_calldata(post)
    tx: dict[str, Any] = {"from": sender, "to": to, "data": HexBytes(data)}
    what = "rebalance" if post == 0 else "rebalanceTo"
    try:
        raw, estimate = _call_and_estimate(w3, tx, decoder, attempts, what)
        if estimate is None:
            estimate = _estimate(w3, tx, decoder, attempts, what)
        gas = bps_up(estimate, headroom_bps)
        raw = _call(w3, {**tx, "gas": gas}, decoder, attempts, what)
    except TxRevertedError as exc:
        if bytes(exc.data[:4]) == UNAUTHORIZED_SELECTOR:
            return None
        reason = decoder.decode(exc.data)
        logger.info("simulation drops vault %s: %s", to, reason)
        dropped = VaultOutcome(vault=to, ok=False, delta_before=0, delta_after=0, reason=reason)
        return Simulation((), b"", 0, (dropped,), {to: reason}, 1, to=to)
    before, after = decode_answer(["int256", "int256"], raw, f"simulating {what}")
    outcome = VaultOutcome(to, True, int(before), int(after), "", gas_used=estimate)
    return Simulation((to,), data, gas, (outcome,), {}, 1, to=to)


@functools.cache
def shared_codec() -> BatchCodec:
    """The codec :func:`simulate_batch` uses when given none, built once per process.

    Sharing it keeps the ABI parsed once and each batcher's ``BOOKKEEPING_GAS()`` read once,
    not once per cycle.
    """
    return BatchCodec()


def _uint(w3: Web3, to: str, signature: str, attempts: int) -> int:
    data = HexBytes(keccak(text=signature)[:4])
    try:
        raw = read_with_retry(lambda: w3.eth.call({"to": to, "data": data}), attempts=attempts)
    except (ContractLogicError, Web3Exception, ValueError, OSError) as exc:
        raise ChainError(f"batcher {signature} failed: {type(exc).__name__}") from exc
    return int(decode_answer(["uint256"], raw, f"batcher {signature}")[0])


def _call(
    w3: Web3, tx: dict[str, Any], decoder: ErrorDecoder, attempts: int, what: str = "rebalanceBatch"
) -> bytes:
    try:
        return bytes(read_with_retry(lambda: w3.eth.call(tx), attempts=attempts))  # type: ignore[arg-type]
    except ContractLogicError as exc:
        data = revert_data(exc)
        raise TxRevertedError(f"{what} reverts: {decoder.decode(data)}", data) from None
    except (Web3RPCError, Web3Exception, ValueError, OSError) as exc:
        raise ChainError(f"simulating {what} failed: {type(exc).__name__}: {exc}") from exc


def _call_and_estimate(
    w3: Web3,
    tx: dict[str, Any],
    decoder: ErrorDecoder,
    attempts: int,
    what: str = "rebalanceBatch",
) -> tuple[bytes, int | None]:
    """The call's return data and its gas estimate, in one JSON-RPC batch (one round trip).

    The estimate is ``None`` when the provider takes no batches (the in-process test chain) or
    either half failed for a reason other than a transient fault: the call is then made alone,
    so a revert is decoded as :func:`_call` does, and the caller estimates on its own.
    """
    if isinstance(w3.provider, JSONBaseProvider):

        def both() -> tuple[bytes, int]:
            with w3.batch_requests() as batch:
                batch.add(w3.eth.call(tx))  # type: ignore[arg-type]
                batch.add(w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
                raw, gas = batch.execute()
            return bytes(cast(bytes, raw)), int(cast(int, gas))

        try:
            return read_with_retry(both, attempts=attempts)
        except (Web3RPCError, Web3Exception, ValueError, OSError) as exc:
            if is_transient(exc):
                raise ChainError(f"simulating {what} failed: {type(exc).__name__}: {exc}") from exc
            # A revert in either half: the call alone names it.
    return _call(w3, tx, decoder, attempts, what), None


def _estimate(
    w3: Web3, tx: dict[str, Any], decoder: ErrorDecoder, attempts: int, what: str = "rebalanceBatch"
) -> int:
    try:
        return int(read_with_retry(lambda: w3.eth.estimate_gas(tx), attempts=attempts))  # type: ignore[arg-type]
    except ContractLogicError as exc:
        data = revert_data(exc)
        raise TxRevertedError(f"estimateGas reverts: {decoder.decode(data)}", data) from None
    except (Web3RPCError, Web3Exception, ValueError, OSError) as exc:
        raise ChainError(f"estimating {what} gas failed: {exc}") from exc


def call_still_succeeds(
    w3: Web3,
    to: str,
    data: bytes,
    sender: str,
    codec: BatchCodec,
    decoder: ErrorDecoder,
    *,
    attempts: int = 3,
) -> bool:
    """Whether a journaled call would still do its work now.

    Used before a pending transaction is rebroadcast or replaced: a batch whose vaults no
    longer need (or accept) a rebalance would be mined only to fail inside the batcher, and any
    other call that reverts now would be mined into a revert (wasted gas).

    A batch must not revert and must rebalance every vault. A ``settleBatch`` must still settle
    one of its series at least (it never reverts because of one: a series somebody else settled
    meanwhile fails alone inside it). Any other call -- a lone vault's own
    ``rebalance()``/``rebalanceTo`` (see :func:`simulate_direct`), a ``settle`` (a series
    somebody else settled meanwhile reverts), a queue's ``fill()`` -- must not revert.

    Returns:
        ``False`` when the call reverts, any vault of a batch failed, or no series of a
        ``settleBatch`` would settle; ``True`` otherwise.

    Raises:
        ChainError: The node could not be reached (transient: the caller keeps the plan).
    """
    tx: dict[str, Any] = {"from": sender, "to": to, "data": HexBytes(data)}
    if bytes(data[:4]) == SETTLE_BATCH_SELECTOR:
        try:
            raw = _call(w3, tx, decoder, attempts, "settleBatch")
        except TxRevertedError as exc:
            logger.info("pending settlement batch no longer simulates: %s", exc)
            return False
        rows = decode_answer(["(address,uint256,bool,bytes)[]"], raw, "batcher settleBatch")[0]
        if not any(bool(row[2]) for row in rows):
            logger.info("pending settlement batch would settle none of its series")
            return False
        return True
    if not bytes(data).startswith(codec.selector):
        what = (
            "rebalance"
            if bytes(data[:4]) in (REBALANCE_SELECTOR, REBALANCE_TO_SELECTOR)
            else "call"
        )
        try:
            _call(w3, tx, decoder, attempts, what)
        except TxRevertedError as exc:
            logger.info("pending %s to %s no longer simulates: %s", what, to, exc)
            return False
        return True
    try:
        outcomes = codec.decode(_call(w3, tx, decoder, attempts), decoder)
    except TxRevertedError as exc:
        logger.info("pending batch no longer simulates: %s", exc)
        return False
    failed = [f"{o.vault}: {o.reason}" for o in outcomes if not o.ok]
    if failed:
        logger.info("pending batch no longer simulates: %s", "; ".join(failed))
    return not failed
