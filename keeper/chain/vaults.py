"""Which vaults to keep, and the batcher to send through: validated before the first cycle.

A transient failure (see :mod:`keeper.chain.retry`) is never reported as "not a vault": it
propagates as it is, so start-up retries it and, if it persists, says the node could not be
reached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, MethodUnavailable, Web3Exception, Web3RPCError

from keeper.chain.calls import call_each
from keeper.chain.retry import is_transient, read_with_retry
from keeper.errors import ChainError, ConfigError, first_line

logger = logging.getLogger(__name__)

#: Calls every vault answers: ERC-4626 ``asset()`` and ``totalAssets()``, and the vault's
#: ``netDelta()``. A contract that fails any of them is not a vault.
_VAULT_PROBES = ("asset()", "totalAssets()", "netDelta()")


def _selector(signature: str) -> HexBytes:
    return HexBytes(keccak(text=signature)[:4])


def _feed_of(w3: Web3, address: ChecksumAddress, name: str) -> ChecksumAddress | None:
    """The feed address ``address`` answers ``name()`` with (``oracle``, ``sequencerFeed``).

    ``None`` when it does not answer it with an address: not the vault's interface.
    """
    try:
        word = bytes(w3.eth.call({"to": address, "data": _selector(f"{name}()")}))
    except (ContractLogicError, Web3Exception, ValueError):
        return None
    if len(word) != 32 or int.from_bytes(word, "big") >> 160:
        return None
    return to_checksum_address(word[12:])


def _broken_feed(w3: Web3, address: ChecksumAddress) -> str | None:
    """Which of the vault's feeds breaks its views, and how.

    ``"oracle 0x… has no contract code on this chain"``, or ``"… does not answer
    latestRoundData() as a Chainlink feed"`` (it reverts, or answers fewer than its five
    words): a vault's price checks, and so its views, revert on either. ``None`` when both feeds
    answer, or ``address`` does not answer ``oracle()``/``sequencerFeed()``.
    """
    for name in ("oracle", "sequencerFeed"):
        feed = _feed_of(w3, address, name)
        if feed is None:
            return None  # not the vault's interface: let the caller say "not a vault"
        if int(feed, 16) == 0:
            continue  # no sequencer check
        if len(w3.eth.get_code(feed)) == 0:
            return f"{name} {feed} has no contract code on this chain"
        try:
            answer = bytes(w3.eth.call({"to": feed, "data": _selector("latestRoundData()")}))
        except (ContractLogicError, Web3Exception, ValueError) as exc:
            if is_transient(exc):
                raise
            answer = b""
        if len(answer) < 5 * 32:
            return f"{name} {feed} does not answer latestRoundData() as a Chainlink feed"
    return None


#: JSON-RPC 2.0's own error codes for a request the endpoint refuses as a request: invalid
#: request, method not found, invalid params. A contract's revert never carries them.
_REQUEST_REFUSED = (-32600, -32601, -32602)


def _raise_if_unserved(exc: BaseException, read: str) -> None:
    """Raise a :class:`ChainError` when ``exc`` says the RPC does not serve ``read`` as asked.

    A JSON-RPC "method not found" (-32601: a send-only RPC, say), "invalid params" (-32602) or
    "invalid request" (-32600) is the endpoint's answer, not the contract's: the address is not
    to blame, and a message naming it sent the operator to fix a setting that was right.
    """
    code = None
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        code = error.get("code") if isinstance(error, dict) else None
    if isinstance(exc, MethodUnavailable) or code in _REQUEST_REFUSED:
        raise ChainError(
            f"the RPC does not serve {read} ({first_line(exc)}): check KEEPER_RPC_URL or the "
            "addresses file's rpc_url"
        ) from None


def validate_vaults(
    w3: Web3, vaults: Sequence[str], *, attempts: int = 3, listed_in: Path | None = None
) -> list[str]:
    """Check each address holds code and answers the vault's views; return them checksummed.

    ``listed_in``: the addresses file the vaults come from, named when one has no code (a
    deploy whose broadcast failed leaves a file naming contracts that were never deployed).

    Raises:
        ConfigError: ``"<address> is not a vault"`` for the first one that fails.
    """
    out: list[str] = []
    for raw in vaults:
        address = to_checksum_address(raw)

        def get_code(a: ChecksumAddress = address) -> bytes:
            return bytes(w3.eth.get_code(a))

        code = read_with_retry(get_code, attempts=attempts)
        if len(code) == 0:
            # The chain names the likelier mistake: an RPC of another network.
            try:
                chain = int(read_with_retry(lambda: w3.eth.chain_id, attempts=1))
                where = f" on chain {chain}, the RPC's"
            except Exception:  # noqa: BLE001 - the refusal stands without it
                where = ""
            if listed_in is not None:
                where += (
                    f"; the addresses file {listed_in} lists it: was its deploy's broadcast cut "
                    "short? (docs/deploy.md)"
                )
            raise ConfigError(f"{address} is not a vault (no contract code there{where})")
        for probe in _VAULT_PROBES:

            def call(a: ChecksumAddress = address, p: str = probe) -> bytes:
                return bytes(w3.eth.call({"to": a, "data": _selector(p)}))

            try:
                result = read_with_retry(call, attempts=attempts)
            except (ContractLogicError, Web3Exception, ValueError) as exc:
                if is_transient(exc):
                    raise
                _raise_if_unserved(exc, f"{probe} of {address}")
                broken = _broken_feed(w3, address) if probe != "asset()" else None
                if broken is not None:  # a vault, whose views revert on a feed that is broken
                    raise ConfigError(
                        f"vault {address}: {probe} reverts because its {broken}"
                    ) from None
                # A revert is what a token or another contract answers to a vault's view.
                how = (
                    "reverted"
                    if isinstance(exc, ContractLogicError)
                    else f"failed: {type(exc).__name__}"
                )
                raise ConfigError(f"{address} is not a vault ({probe} {how})") from None
            if len(result) < 32:
                said = "no data" if not result else f"{len(result)} bytes, not a 32-byte word"
                raise ConfigError(f"{address} is not a vault ({probe} returned {said})")
        out.append(str(address))
    return out


def factory_vaults(w3: Web3, factory: str, *, page: int = 500, attempts: int = 3) -> list[str]:
    """List every vault registered in a ``VaultFactory`` (``vaultCount`` then ``vaults`` pages).

    Raises:
        ConfigError: The factory has no code or does not answer the registry getters.
    """
    address = str(to_checksum_address(factory))

    def call(data: bytes) -> bytes:
        return bytes(
            read_with_retry(
                lambda: w3.eth.call({"to": address, "data": HexBytes(data)}), attempts=attempts
            )
        )

    try:
        (count,) = abi_decode(["uint256"], call(bytes(_selector("vaultCount()"))))
        out: list[str] = []
        for start in range(0, int(count), page):
            n = min(page, int(count) - start)
            data = bytes(_selector("vaults(uint256,uint256)")) + abi_encode(
                ["uint256", "uint256"], [start, n]
            )
            (chunk,) = abi_decode(["address[]"], call(data))
            out.extend(str(to_checksum_address(v)) for v in chunk)
    except DecodingError:  # an answer too short for the getter: an EOA, another contract
        raise ConfigError(
            f"{address} is not a vault factory (its registry returned no data)"
        ) from None
    except (ContractLogicError, Web3Exception, ValueError) as exc:
        if is_transient(exc):
            raise
        _raise_if_unserved(exc, f"the registry read of factory {address}")
        raise ConfigError(
            f"{address} is not a vault factory (registry read failed: {type(exc).__name__})"
        ) from None
    return out


#: Where a wrong batcher address comes from (as the lens's check says for the lens).
_BATCHER_WHERE = "check KEEPER_BATCHER or the addresses file's batcher"


def check_batcher(
    w3: Web3, batcher: str, keeper: str | None, *, attempts: int = 3, who: str = "signer"
) -> int:
    """Check ``batcher`` is a RebalanceBatcher and, when given, that ``keeper`` may call it.

    Reads its code, ``maxBatch()`` (a view only the batcher has) and ``isKeeper(keeper)`` (its
    keeper registry). ``who`` names ``keeper`` in the refusal: ``signer``, or
    ``KEEPER_SIMULATE_FROM`` (a dry run's address to simulate as).

    Returns:
        Its ``maxBatch()``: the most vaults (or series) one batch may carry.

    Raises:
        ConfigError: One line: no code there, not a RebalanceBatcher, or the signer is not a
            registered keeper.
    """
    address = to_checksum_address(batcher)
    code = read_with_retry(lambda: bytes(w3.eth.get_code(address)), attempts=attempts)
    if len(code) == 0:
        raise ConfigError(f"batcher {address} has no contract code ({_BATCHER_WHERE})")

    def call(data: bytes) -> bytes:
        try:
            return bytes(
                read_with_retry(
                    lambda: w3.eth.call({"to": address, "data": HexBytes(data)}),
                    attempts=attempts,
                )
            )
        except (ContractLogicError, Web3Exception, ValueError) as exc:
            if is_transient(exc):
                raise
            _raise_if_unserved(exc, f"maxBatch()/isKeeper(address) of batcher {address}")
            raise ConfigError(
                f"{address} is not a RebalanceBatcher (maxBatch()/isKeeper(address) failed: "
                f"{type(exc).__name__}; {_BATCHER_WHERE})"
            ) from None

    raw = call(bytes(_selector("maxBatch()")))
    if len(raw) != 32 or int.from_bytes(raw, "big") == 0:
        raise ConfigError(
            f"{address} is not a RebalanceBatcher (maxBatch() answered {len(raw)} bytes; "
            f"{_BATCHER_WHERE})"
        )
    max_batch = int.from_bytes(raw, "big")
    if keeper is None:
        return max_batch
    signer = to_checksum_address(keeper)
    raw = call(bytes(_selector("isKeeper(address)")) + abi_encode(["address"], [signer]))
    if len(raw) != 32:
        raise ConfigError(f"{address} is not a RebalanceBatcher (isKeeper(address) malformed)")
    if int.from_bytes(raw, "big") != 1:
        fix = "the keeper key" if who == "signer" else "the keeper's address"
        raise ConfigError(
            f"{who} {signer} is not a registered keeper of batcher {address} "
            f"(isKeeper returned false): use {fix}, or have the admin call setKeeper"
        )
    return max_batch


#: ``OptionVault.BATCHER_ROLE``: what a vault must grant its batcher for every batch
#: (``batchPlan``, ``batchSettle``).
BATCHER_ROLE = bytes(keccak(text="BATCHER_ROLE"))


def vaults_without_grant(
    w3: Web3, vaults: Sequence[str], batcher: str, *, attempts: int = 3
) -> list[str]:
    """The vaults that have not granted ``batcher`` their ``BATCHER_ROLE``.

    ``hasRole(BATCHER_ROLE, batcher)`` calls in JSON-RPC batches
    (:func:`~keeper.chain.calls.call_each`: 250 calls a request). A call that fails or answers
    malformed leaves its vault out (unknown: the cycle's simulation names a refusal when it
    meets one).

    Raises:
        OSError | Web3Exception | ValueError: The node could not be reached (after
            ``attempts``).
    """
    data = HexBytes(
        bytes(_selector("hasRole(bytes32,address)"))
        + abi_encode(["bytes32", "address"], [BATCHER_ROLE, to_checksum_address(batcher)])
    )
    checked = [str(to_checksum_address(v)) for v in vaults]
    answers = call_each(w3, [{"to": v, "data": data} for v in checked], "latest", attempts=attempts)
    return [
        v
        for v, raw in zip(checked, answers, strict=True)
        if raw is not None and len(raw) == 32 and int.from_bytes(raw, "big") == 0
    ]


def queue_unrequested(vault: Contract, queue: Contract, block: int | None = None) -> int:
    """Shares of ``vault`` that its redemption ``queue`` holds but no request escrowed.

    Shares sent to the queue with a plain transfer, or a deposit naming it as receiver; the
    queue's next ``fill()`` discards them (its ``totalPending()`` is the escrow). The vault keeps
    reserving their value from instant exits until then. Read at ``block`` (``None``: latest).
    """
    held = int(vault.functions.balanceOf(queue.address).call(block_identifier=block))
    return max(0, held - int(queue.functions.totalPending().call(block_identifier=block)))


#: Symbols of the token gas is paid in, wrapped (the chain's WETH) or not, upper case.
ETH_SYMBOLS = frozenset({"WETH", "ETH"})


def _symbol(raw: bytes | None) -> str | None:
    """An ERC-20 ``symbol()`` answer, decoded.

    An ABI string, or a ``bytes32`` (older tokens); ``None`` for an answer that is neither.
    """
    if raw is None:
        return None
    try:
        (text,) = abi_decode(["string"], raw)
        return str(text)
    except (DecodingError, OverflowError, UnicodeDecodeError, ValueError):
        pass
    if len(raw) == 32:
        text = raw.rstrip(b"\0")
        if text and b"\0" not in text:
            try:
                return text.decode()
            except UnicodeDecodeError:
                return None
    return None


def eth_underlying_vaults(w3: Web3, vaults: Sequence[str], *, attempts: int = 3) -> list[str]:
    """The vaults whose underlying is ETH (its token's ``symbol()`` WETH or ETH, any case).

    Their oracle price is ETH's, which prices the keeper's gas and L1 fee when
    ``KEEPER_ETH_USD`` is unset; a vault on another underlying (WBTC) would price it wrong.
    ``underlying()`` of each vault, then ``symbol()`` of each distinct token, in JSON-RPC
    batches (:func:`~keeper.chain.calls.call_each`). A call that fails or answers malformed
    leaves its vault out.

    Raises:
        OSError | Web3Exception | ValueError: The node could not be reached (after
            ``attempts``).
    """
    checked = [str(to_checksum_address(v)) for v in vaults]
    data = HexBytes(bytes(_selector("underlying()")))
    answers = call_each(w3, [{"to": v, "data": data} for v in checked], "latest", attempts=attempts)
    token_of: dict[str, str] = {}
    for vault, raw in zip(checked, answers, strict=True):
        if raw is not None and len(raw) == 32 and not any(raw[:12]):
            token_of[vault] = str(to_checksum_address(raw[12:]))
    tokens = sorted(set(token_of.values()))
    symbol = HexBytes(bytes(_selector("symbol()")))
    symbols = call_each(
        w3, [{"to": t, "data": symbol} for t in tokens], "latest", attempts=attempts
    )
    eth = {
        t
        for t, raw in zip(tokens, symbols, strict=True)
        if (_symbol(raw) or "").upper() in ETH_SYMBOLS
    }
    return [v for v in checked if token_of.get(v) in eth]
