"""The one way to build, sign and send a transaction; the light send-and-wait.

Every transaction the project signs is built by :func:`build_tx` (EIP-1559, type 2) and signed by
:func:`sign_tx`, with its fees from :mod:`keeper.execution.fees` and its nonce from
:func:`chain_nonce`. Two senders sit on top:

- :class:`~keeper.execution.sender.Sender`, the keeper's own: journaled before every send, crash
  safe, with replacement of stuck transactions and reorg handling;
- :class:`Transactor`, the light one, for transactions that need no journal (a depositor's
  ``keeper vault`` calls, the devnet's deployer and market): estimate the gas (a revert is decoded
  and nothing is sent), sign, send (a lost answer is settled by the hash, never by a new
  transaction), and wait for the receipt under a timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.providers import JSONBaseProvider
from web3.types import BlockData, BlockIdentifier, TxReceipt

from keeper.chain.retry import is_transient, read_with_retry
from keeper.errors import (
    ExecutionError,
    Interrupted,
    KeeperError,
    TxRevertedError,
    TxTimeoutError,
    first_line,
)
from keeper.execution.decode import ErrorDecoder, revert_data
from keeper.execution.fees import FeeCaps, Fees, initial_fees
from keeper.units import UINT256_MAX, Wei

logger = logging.getLogger(__name__)

#: The priority fee of a light send unless told otherwise: 0.001 gwei, an L2-sized tip.
DEFAULT_TIP = Wei(1_000_000)
#: No cap: for local chains, where the fee only has to clear the base fee.
UNCAPPED = FeeCaps(Wei(UINT256_MAX), Wei(UINT256_MAX))
#: How often a send whose answer was lost is looked up by hash and broadcast again (same bytes).
RESENDS = 3


def account(private_key: str) -> LocalAccount:
    """Return the eth-account signer for a private key (the key stays in eth-account)."""
    acct: LocalAccount = Account.from_key(private_key)
    return acct


def build_tx(
    *,
    chain_id: int,
    nonce: int,
    to: str | None,
    data: bytes,
    gas: int,
    fees: Fees,
    value: int = 0,
) -> dict[str, Any]:
    """Return the EIP-1559 (type 2) transaction dict, ready for :func:`sign_tx`.

    Args:
        chain_id: The chain's id (replay protection).
        nonce: The sender's nonce.
        to: The target; ``None`` deploys a contract (``data`` is then the init code).
        data: Calldata.
        gas: Gas limit.
        fees: Both EIP-1559 fee fields.
        value: Wei sent along.
    """
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": int(chain_id),
        "nonce": int(nonce),
        "data": HexBytes(data),
        "value": int(value),
        "gas": int(gas),
        "maxFeePerGas": int(fees.max_fee_per_gas),
        "maxPriorityFeePerGas": int(fees.max_priority_fee_per_gas),
    }
    if to is not None:
        tx["to"] = str(to_checksum_address(to))
    return tx


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: the bytes to broadcast and their hash (``0x`` hex)."""

    raw: bytes
    tx_hash: str

    @property
    def raw_hex(self) -> str:
        """The raw bytes as ``0x`` hex (how the journal stores them)."""
        return "0x" + self.raw.hex()


def sign_tx(signer: LocalAccount, tx: dict[str, Any]) -> SignedTx:
    """Sign a :func:`build_tx` dict locally."""
    signed = signer.sign_transaction(tx)
    return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex())


def base_fee(w3: Web3) -> Wei:
    """The latest block's base fee (0 on a chain without one)."""
    block = read_with_retry(lambda: w3.eth.get_block("latest"))
    return Wei(int(block.get("baseFeePerGas", 0) or 0))


def pending_nonce_and_base_fee(w3: Web3, address: str) -> tuple[int, Wei]:
    """``address``'s ``pending`` nonce and the latest base fee, in one JSON-RPC batch.

    The two reads a new send needs, in one round trip (one request a flaky RPC can fail, not
    two). Providers without batches (the in-process test chain) are asked one after the other.
    """
    checked = to_checksum_address(address)
    if not isinstance(w3.provider, JSONBaseProvider):
        return chain_nonce(w3, checked, "pending"), base_fee(w3)

    def both() -> tuple[int, Wei]:
        with w3.batch_requests() as batch:
            batch.add(w3.eth.get_transaction_count(checked, "pending"))
            batch.add(w3.eth.get_block("latest"))
            nonce, block = batch.execute()
        head = cast(BlockData, block)
        return int(cast(int, nonce)), Wei(int(head.get("baseFeePerGas", 0) or 0))

    return read_with_retry(both)


def chain_nonce(w3: Web3, address: str, block: BlockIdentifier = "latest") -> int:
    """``address``'s nonce on chain (``latest``: mined; ``pending``: including the pool)."""
    checked = to_checksum_address(address)
    return int(read_with_retry(lambda: w3.eth.get_transaction_count(checked, block)))


def call_data(call: ContractFunction) -> bytes:
    """The calldata of a bound contract call."""
    return bytes(HexBytes(call._encode_transaction_data()))


def receipt_field(receipt: Any, name: str) -> int | None:
    """A receipt's integer field that not every chain has (``l1Fee``), ``None`` when absent.

    web3 formats only the fields it knows: an OP Stack's ``l1Fee`` can come as ``0x`` hex.
    """
    get = getattr(receipt, "get", None)
    value = get(name) if get is not None else None
    if value is None:
        return None
    return int(value, 16) if isinstance(value, str) else int(value)


def replay_revert(
    w3: Web3, sender: str, tx: Mapping[str, Any], block: int, decode: Callable[[bytes], str]
) -> tuple[str, bytes]:
    """Why a mined transaction reverted: the same call replayed at the end of its block.

    The receipt carries no revert data. The replay (``eth_call`` with the transaction's own
    sender, target, data and value) sees the state the transaction met, plus whatever came
    after it in that block; its decoded error (``decode``) is the reason, with the block. It
    runs with the node's own gas cap first, not the transaction's limit: a node answers an
    ``eth_call`` that runs out of gas with an RPC error ("EVM error OutOfGas", -32603), which
    reads as the node failing (a failover retries it on every endpoint) and named no cause. A
    replay that does not revert with ample gas runs again at the transaction's limit: a revert
    with data there is the reason (a batcher's ``RebalanceBatcherInsufficientGas``), else it
    says the transaction ran out of gas at that limit, or the state changed later in its block.
    A replay that fails says so: it never raises for a read.

    Args:
        w3: The connection.
        sender: The account that sent it.
        tx: Its ``to`` (absent for a creation), ``data``, ``value`` and ``gas``.
        block: The block that mined it.
        decode: Revert data to one line (:meth:`ErrorDecoder.decode`).

    Returns:
        The reason in one line, and the revert data (empty when there is none).
    """
    params: dict[str, Any] = {"from": sender, "data": tx["data"], "value": tx["value"]}
    if tx.get("to") is not None:
        params["to"] = tx["to"]
    try:
        w3.eth.call(params, block_identifier=block)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        data = revert_data(exc)
        reason = decode(data) if data else str(exc)
        return f"{reason} (replayed at block {block})", data
    except (KeeperError, requests.RequestException, OSError, Web3Exception) as exc:
        return f"reason unknown (its replay failed: {type(exc).__name__})", b""
    # Not with ample gas: at its own limit, then. A batcher refuses a vault or queue it cannot
    # give its full gas (RebalanceBatcherInsufficientGas): a revert with data, decoded here, that
    # a replay with more gas never meets. Out of gas is the node's RPC error, said as such.
    limit = int(tx["gas"])
    try:
        at_limit: dict[str, Any] = {**params, "gas": limit}
        w3.eth.call(at_limit, block_identifier=block)  # type: ignore[arg-type]
    except ContractLogicError as exc:
        data = revert_data(exc)
        if data:
            return f"{decode(data)} at its gas limit of {limit} (replayed at block {block})", data
    except (KeeperError, requests.RequestException, OSError, Web3Exception):
        pass
    else:
        return (
            f"reason unknown (its replay at block {block} does not revert, at its gas limit of "
            f"{limit} or with more: the state changed later in that block)",
            b"",
        )
    return (
        f"reason unknown (its replay at block {block} does not revert with ample gas: out of "
        f"gas at its limit of {limit}, or the state changed later in that block)",
        b"",
    )


def _no_data_reason(exc: ContractLogicError) -> str:
    """A revert without revert data, in words.

    The node's message when it says more than "execution reverted" (a reason string some nodes
    fold into it), else that it gave none.
    """
    message = exc.message if isinstance(exc.message, str) else ""
    if message.strip() and message.strip().lower() != "execution reverted":
        return message.strip()
    return "reverted without a reason (no revert data)"


class Transactor:
    """Light send-and-wait for one signer: no journal, no replacement.

    Args:
        w3: The connection.
        signer: The account that signs.
        caps: Fee caps (:data:`UNCAPPED` on a local chain).
        tip: The priority fee asked.
        gas_limit: Maps an ``eth_estimateGas`` result to the gas limit sent (a margin).
        receipt_timeout_s: How long to wait for a receipt before :class:`TxTimeoutError`.
        poll_s: How often to look for the receipt.
        decoder: Decodes a revert's custom error (default: the vault's, batcher's and venue's).
        track_nonce: Count nonces locally after the first read (one sender, many transactions);
            any failure forgets the count and the next send reads it again.
        name_interrupted: A Ctrl-C once the transaction may have reached the node raises
            :class:`~keeper.errors.Interrupted` naming it (a chain that outlives the process:
            the user must look before sending again); ``False`` leaves a plain Ctrl-C (a local
            devnet, stopped with the process).
        on_signed: Called with each transaction's hash and nonce once it is signed, before it
            is broadcast: a caller that must know of it after this process ends records it
            there (an error it raises stops the send, nothing sent).
    """

    def __init__(
        self,
        w3: Web3,
        signer: LocalAccount,
        *,
        caps: FeeCaps = UNCAPPED,
        tip: int = DEFAULT_TIP,
        gas_limit: Callable[[int], int] | None = None,
        receipt_timeout_s: float = 120.0,
        poll_s: float = 0.1,
        decoder: ErrorDecoder | None = None,
        track_nonce: bool = False,
        name_interrupted: bool = True,
        on_signed: Callable[[str, int], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.address = str(to_checksum_address(signer.address))
        self.caps = caps
        self.tip = tip
        self.gas_limit = gas_limit
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self._decoder = decoder
        self.track_nonce = track_nonce
        self.name_interrupted = name_interrupted
        self.on_signed = on_signed
        self._nonce: int | None = None
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"Transactor(address={self.address})"

    @property
    def chain_id(self) -> int:
        """The chain id (read once)."""
        if self._chain_id is None:
            self._chain_id = int(read_with_retry(lambda: self.w3.eth.chain_id))
        return self._chain_id

    @property
    def decoder(self) -> ErrorDecoder:
        """The revert decoder (built on first use)."""
        if self._decoder is None:
            self._decoder = ErrorDecoder.from_artifacts()
        return self._decoder

    def fees(self) -> Fees:
        """Fees for a send now: :func:`~keeper.execution.fees.initial_fees` at the base fee.

        Raises:
            FeeCapError: The base fee is above the cap.
        """
        return initial_fees(base_fee(self.w3), self.tip, self.caps)

    def estimate_gas(self, to: str | None, data: bytes, value: int = 0, what: str = "tx") -> int:
        """``eth_estimateGas`` for the call, with the margin; a revert is decoded.

        Raises:
            TxRevertedError: The call would revert (nothing is sent).
        """
        params: dict[str, Any] = {"from": self.address, "data": HexBytes(data), "value": value}
        if to is not None:
            params["to"] = str(to_checksum_address(to))
        try:
            estimate = int(self.w3.eth.estimate_gas(params))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            data_ = revert_data(exc)
            reason = self.decoder.decode(data_) if data_ else _no_data_reason(exc)
            raise TxRevertedError(f"{what} would revert: {reason}; nothing sent", data_) from exc
        return self.gas_limit(estimate) if self.gas_limit is not None else estimate

    def _next_nonce(self) -> int:
        if self.track_nonce and self._nonce is not None:
            return self._nonce
        return chain_nonce(self.w3, self.address, "pending")

    def send(
        self,
        to: str | None,
        data: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        fees: Fees | None = None,
        what: str = "transaction",
    ) -> TxReceipt:
        """Estimate (unless ``gas`` is given), sign, send and wait for the receipt.

        Args:
            to: The target; ``None`` deploys ``data`` as init code.
            data: Calldata.
            value: Wei sent along.
            gas: The gas limit; estimated (with the margin) when ``None``.
            fees: The fee fields; :meth:`fees` when ``None``.
            what: Names the transaction in errors and logs.

        Raises:
            TxRevertedError: It would revert (nothing sent), or it was mined and reverted.
            TxTimeoutError: No receipt within ``receipt_timeout_s``.
            ExecutionError: Sent, but the RPC failed while its receipt was awaited (the message
                names the hash: the outcome is unknown).
            FeeCapError: The base fee is above the cap.
        """
        try:
            nonce = self._next_nonce()
            if gas is None:
                gas = self.estimate_gas(to, data, value, what)
            tx = build_tx(
                chain_id=self.chain_id,
                nonce=nonce,
                to=to,
                data=data,
                gas=gas,
                fees=fees if fees is not None else self.fees(),
                value=value,
            )
            signed = sign_tx(self.signer, tx)
            if self.on_signed is not None:
                self.on_signed(signed.tx_hash, nonce)
            if self.track_nonce:
                self._nonce = nonce + 1
            check = f"check {self.address}'s transactions before sending it again"
            try:
                self._broadcast(signed.raw, signed.tx_hash, what)
            except KeyboardInterrupt:
                if not self.name_interrupted:
                    raise
                raise Interrupted(
                    f"{what} {signed.tx_hash} may have been sent (interrupted while sending): "
                    f"{check}"
                ) from None
            logger.debug("%s sent: %s (nonce %d)", what, signed.tx_hash, nonce)
            try:
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(signed.tx_hash),
                    timeout=self.receipt_timeout_s,
                    poll_latency=self.poll_s,
                )
            except KeyboardInterrupt:
                if not self.name_interrupted:
                    raise
                raise Interrupted(
                    f"{what} {signed.tx_hash} was sent; it may still be mined: {check}"
                ) from None
            except TimeExhausted:
                raise TxTimeoutError(
                    f"{what} {signed.tx_hash} was sent but not mined within "
                    f"{self.receipt_timeout_s}s; it may still be mined: {check}"
                ) from None
            except (KeeperError, requests.RequestException, OSError, Web3Exception) as exc:
                raise ExecutionError(
                    f"{what} {signed.tx_hash} was sent, but its receipt could not be read "
                    f"({first_line(exc)}); check {self.address}'s transactions before sending "
                    "again"
                ) from None
        except BaseException:
            self._nonce = None
            raise
        if receipt["status"] != 1:
            why, revert = self._mined_revert_reason(tx, int(receipt["blockNumber"]))
            raise TxRevertedError(f"{what} {signed.tx_hash} reverted on-chain: {why}", revert)
        return receipt

    def _mined_revert_reason(self, tx: dict[str, Any], block: int) -> tuple[str, bytes]:
        """Why a mined transaction of this account reverted (see :func:`replay_revert`)."""
        return replay_revert(self.w3, self.address, tx, block, self.decoder.decode)

    def _broadcast(self, raw: bytes, tx_hash: str, what: str) -> None:
        """``eth_sendRawTransaction``, its failures as :class:`ExecutionError`.

        A refusal (an error answer: no gas money, a nonce already used) means nothing was sent.
        A transport failure means the outcome is unknown: the node may have taken it. The same
        signed bytes (one hash, one nonce) can land at most once, so the transaction is looked
        up by its hash and, when the node does not know it, broadcast again, at most
        :data:`RESENDS` times; only when that cannot settle it (the RPC stays down) does the
        error say to look before sending again (a new transaction could send it twice).
        """
        try:
            self.w3.eth.send_raw_transaction(raw)
            return
        except (Web3RPCError, ValueError) as exc:
            if not is_transient(exc):
                message = _refusal(exc)
                if "insufficientfunds" in message.lower().replace(" ", ""):
                    message += f" ({self.address} needs ETH to pay for gas)"
                raise ExecutionError(
                    f"the node refused the {what}: {message}; nothing sent"
                ) from None
            # "internal error", a rate limit, a timeout: the node may hold it (settled by hash).
            lost = type(exc).__name__
        except (requests.RequestException, OSError, Web3Exception) as exc:
            lost = type(exc).__name__
        for _ in range(RESENDS):
            known = self._known(tx_hash)
            if known is None:
                break
            if known:
                logger.info("%s %s reached the node though its answer was lost", what, tx_hash)
                return
            try:
                self.w3.eth.send_raw_transaction(raw)
                logger.info("%s %s sent again (the same bytes) after a lost answer", what, tx_hash)
                return
            except (Web3RPCError, ValueError) as exc:
                # "already known", "nonce too low": the first one may have got in after all.
                if self._known(tx_hash):
                    return
                message = exc.message if isinstance(exc, Web3RPCError) else str(exc)
                raise ExecutionError(
                    f"the node refused the {what} {tx_hash} when sent again after a lost answer "
                    f"({lost}): {message}; check {self.address}'s transactions before sending "
                    "again"
                ) from None
            except (requests.RequestException, OSError, Web3Exception) as exc:
                lost = type(exc).__name__
        raise ExecutionError(
            f"the RPC failed while sending the {what} {tx_hash} ({lost}): it "
            f"may have been sent; check {self.address}'s transactions before sending again"
        )

    def _known(self, tx_hash: str) -> bool | None:
        """Whether the node knows the transaction (pending or mined); ``None``: cannot tell."""
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            return False
        except (KeeperError, requests.RequestException, OSError, Web3Exception):
            return None
        return True

    def call(
        self, call: ContractFunction, *, what: str | None = None, fees: Fees | None = None
    ) -> TxReceipt:
        """Send a bound contract call (see :meth:`send`)."""
        name = what if what is not None else str(call.fn_name)
        return self.send(call.address, call_data(call), fees=fees, what=name)


def _refusal(exc: Exception) -> str:
    """The node's own words for a refused transaction: its JSON-RPC error's ``message``.

    web3 gives the whole error object's repr as the exception's message
    (``{'code': -32003, 'message': 'nonce too low'}``).
    """
    if isinstance(exc, Web3RPCError):
        response = exc.rpc_response or {}
        error = response.get("error") if isinstance(response, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        return str(exc.message)
    return str(exc)
