"""The L1 data fee an L2 transaction pays on top of its L2 gas.

- **OP Stack** (Optimism, Base, and the devnet, which installs a fee oracle at the predeploy):
  ``GasPriceOracle.getL1Fee(bytes)`` at ``0x420000000000000000000000000000000000000F``, priced
  on the exact batch transaction the keeper signed. The real oracle expects that transaction
  *unsigned* (it adds ``68 * 16`` gas for the signature itself), so the keeper strips v, r, s
  from its signed bytes (:func:`unsigned_tx_bytes`) and passes the rest: passing the signed
  bytes would charge the signature twice. The Ecotone formula is also implemented here
  (:func:`ecotone_l1_fee`) so it can be unit-tested and used without a node::

      calldataGas = 4 * zeroBytes + 16 * nonZeroBytes + overhead
      fee = calldataGas * (16 * l1BaseFee * baseFeeScalar + blobBaseFee * blobBaseFeeScalar)
            / (16 * 10**6)                          (rounded down, as Solidity divides)

  ``overhead`` is what the oracle adds for the signature it does not see: ``68 * 16``
  (:data:`OP_UNSIGNED_OVERHEAD_GAS`) for OP's GasPriceOracle and the devnet's OpL1FeeOracle.
- **Arbitrum**: ``NodeInterface.gasEstimateL1Component(to, false, data)`` at ``0x...C8`` (a
  virtual contract: ``eth_call`` only). The L1 part costs ``gasEstimateForL1 * baseFee`` wei.
- **Anything else**: no L1 fee.

For planning, :func:`l1_fees` prices dummy transactions (signed with a throwaway key, never
sent) in one round trip: the planner splits a batch's fee into a fixed and a per-vault part from
a one- and a two-vault batch, and prices a lone vault's own call (``keeper/app/market.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

import rlp  # type: ignore[import-untyped]
from eth_abi.abi import encode as abi_encode
from eth_account._utils.transaction_utils import transaction_rpc_to_rlp_structure
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.providers import JSONBaseProvider

from keeper.chain.answers import decode_answer
from keeper.chain.retry import read_with_retry
from keeper.errors import ChainError
from keeper.units import Wei

logger = logging.getLogger(__name__)

OP_GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
ARB_NODE_INTERFACE = "0x00000000000000000000000000000000000000C8"
#: OP's GasPriceOracle pads the unsigned transaction by 68 non-zero bytes for the signature.
OP_UNSIGNED_OVERHEAD_GAS = 68 * 16
ARBITRUM_CHAIN_IDS = frozenset({42161, 42170, 421614})
OP_STACK_CHAIN_IDS = frozenset({10, 8453, 11155420, 84532, 7777777, 34443})

L1FeeMode = Literal["auto", "op", "arbitrum", "none"]


def _selector(signature: str) -> bytes:
    return bytes(keccak(text=signature)[:4])


def unsigned_tx_bytes(signed_tx: bytes) -> bytes:
    """Return the unsigned serialization (``type || rlp(fields)``) of a signed typed transaction.

    ``keccak`` of the result is the transaction's signing hash.
    """
    inner: Any = TypedTransaction.from_bytes(HexBytes(signed_tx)).transaction
    fields = {k: v for k, v in inner.dictionary.items() if k not in ("v", "r", "s", "yParity")}
    serializer = inner._unsigned_transaction_serializer
    body = rlp.encode(serializer.from_dict(transaction_rpc_to_rlp_structure(fields)))
    return bytes([int(inner.transaction_type)]) + bytes(body)


def calldata_gas(data: bytes, overhead: int = 0) -> int:
    """Return ``4 * zeroBytes + 16 * nonZeroBytes + overhead`` for ``data``."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros) + overhead


@dataclass(frozen=True)
class EcotoneParams:
    """The Ecotone fee parameters (all as the oracle returns them)."""

    l1_base_fee: int
    base_fee_scalar: int
    blob_base_fee: int
    blob_base_fee_scalar: int


def ecotone_l1_fee(
    data: bytes, params: EcotoneParams, *, overhead: int = OP_UNSIGNED_OVERHEAD_GAS
) -> Wei:
    """Return the Ecotone L1 data fee of ``data`` in wei, rounded down.

    Args:
        data: The transaction bytes the oracle would be given.
        params: The fee parameters.
        overhead: Extra calldata gas the oracle adds (see the module docstring).
    """
    gas = calldata_gas(data, overhead)
    scaled = (
        16 * params.l1_base_fee * params.base_fee_scalar
        + params.blob_base_fee * params.blob_base_fee_scalar
    )
    return Wei(gas * scaled // (16 * 10**6))


class L1FeeReader(Protocol):
    """Prices the L1 data fee of one transaction."""

    name: str

    def fee(self, signed_tx: bytes, to: str, data: bytes) -> Wei:
        """Return the L1 fee in wei of ``signed_tx`` (a call of ``data`` on ``to``)."""
        ...


class NoL1Fee:
    """Chains without an L1 data fee."""

    name = "none"

    def fee(self, signed_tx: bytes, to: str, data: bytes) -> Wei:
        """Return 0."""
        return Wei(0)


class OpL1Fee:
    """OP Stack: ``GasPriceOracle.getL1Fee(bytes)`` on the exact signed transaction."""

    name = "op"

    def __init__(self, w3: Web3, address: str = OP_GAS_PRICE_ORACLE, attempts: int = 3) -> None:
        self.w3 = w3
        self.address = str(to_checksum_address(address))
        self.attempts = attempts

    def _call(self, signature: str, args_types: list[str], args: list[object], out: str) -> int:
        data = _selector(signature) + abi_encode(args_types, args)
        try:
            raw = read_with_retry(
                lambda: self.w3.eth.call({"to": self.address, "data": HexBytes(data)}),
                attempts=self.attempts,
            )
        except (ContractLogicError, Web3Exception, ValueError, OSError) as exc:
            raise ChainError(f"GasPriceOracle.{signature} failed: {type(exc).__name__}") from exc
        return int(decode_answer([out], raw, f"GasPriceOracle.{signature}")[0])

    def fee(self, signed_tx: bytes, to: str, data: bytes) -> Wei:
        """Return ``getL1Fee(unsigned form of signed_tx)`` (see the module docstring)."""
        unsigned = unsigned_tx_bytes(signed_tx)
        return Wei(self._call("getL1Fee(bytes)", ["bytes"], [unsigned], "uint256"))

    def fees(self, signed_txs: Sequence[bytes]) -> list[Wei]:
        """``getL1Fee`` of each transaction, in one JSON-RPC batch (one round trip).

        Providers without batches (the in-process test chain) are asked one call at a time.
        """
        if len(signed_txs) < 2 or not isinstance(self.w3.provider, JSONBaseProvider):
            return [self.fee(t, "", b"") for t in signed_txs]
        datas = [
            HexBytes(_selector("getL1Fee(bytes)") + abi_encode(["bytes"], [unsigned_tx_bytes(t)]))
            for t in signed_txs
        ]

        def batch_call() -> list[bytes]:
            with self.w3.batch_requests() as batch:
                for data in datas:
                    batch.add(self.w3.eth.call({"to": self.address, "data": data}))
                return [bytes(cast(bytes, r)) for r in batch.execute()]

        try:
            raws = read_with_retry(batch_call, attempts=self.attempts)
        except (ContractLogicError, Web3Exception, ValueError, OSError) as exc:
            raise ChainError(
                f"GasPriceOracle.getL1Fee(bytes) failed: {type(exc).__name__}"
            ) from exc
        what = "GasPriceOracle.getL1Fee(bytes)"
        return [Wei(int(decode_answer(["uint256"], raw, what)[0])) for raw in raws]

    def params(self) -> EcotoneParams:
        """Read the Ecotone parameters from the oracle."""
        return EcotoneParams(
            l1_base_fee=self._call("l1BaseFee()", [], [], "uint256"),
            base_fee_scalar=self._call("baseFeeScalar()", [], [], "uint32"),
            blob_base_fee=self._call("blobBaseFee()", [], [], "uint256"),
            blob_base_fee_scalar=self._call("blobBaseFeeScalar()", [], [], "uint32"),
        )


class ArbitrumL1Fee:
    """Arbitrum: ``NodeInterface.gasEstimateL1Component`` (``eth_call`` only, never a tx)."""

    name = "arbitrum"

    def __init__(self, w3: Web3, attempts: int = 3) -> None:
        self.w3 = w3
        self.attempts = attempts

    def fee(self, signed_tx: bytes, to: str, data: bytes) -> Wei:
        """Return ``gasEstimateForL1 * baseFee`` for a call of ``data`` on ``to``."""
        call = _selector("gasEstimateL1Component(address,bool,bytes)") + abi_encode(
            ["address", "bool", "bytes"], [str(to), False, bytes(data)]
        )
        try:
            raw = read_with_retry(
                lambda: self.w3.eth.call({"to": ARB_NODE_INTERFACE, "data": HexBytes(call)}),
                attempts=self.attempts,
            )
        except (ContractLogicError, Web3Exception, ValueError, OSError) as exc:
            raise ChainError(f"NodeInterface.gasEstimateL1Component failed: {exc}") from exc
        if len(raw) == 0:
            # Only Arbitrum's own nodes emulate the NodeInterface; an anvil on an Arbitrum chain
            # id (a fork, a local "testnet") answers nothing there, every cycle.
            raise ChainError(
                "NodeInterface.gasEstimateL1Component answered nothing: this node does not "
                f"emulate Arbitrum's NodeInterface at {ARB_NODE_INTERFACE} (an anvil or a fork "
                "on an Arbitrum chain id); set KEEPER_L1_FEE_MODE=none there (no L1 fee "
                "priced), or use an Arbitrum node"
            )
        gas_l1, base_fee, _l1_base = decode_answer(
            ["uint64", "uint256", "uint256"], raw, "NodeInterface.gasEstimateL1Component"
        )
        return Wei(int(gas_l1) * int(base_fee))


def l1_fee_reader(w3: Web3, mode: L1FeeMode = "auto", chain_id: int | None = None) -> L1FeeReader:
    """Pick the L1-fee reader for this chain.

    ``auto``: Arbitrum chain ids use the NodeInterface; a chain with code at the OP predeploy
    (OP Stack chains, and the devnet) uses the GasPriceOracle; anything else pays none.
    """
    if mode == "op":
        return OpL1Fee(w3)
    if mode == "arbitrum":
        return ArbitrumL1Fee(w3)
    if mode == "none":
        return NoL1Fee()
    cid = chain_id if chain_id is not None else int(w3.eth.chain_id)
    if cid in ARBITRUM_CHAIN_IDS:
        return ArbitrumL1Fee(w3)
    if (
        cid in OP_STACK_CHAIN_IDS
        or len(w3.eth.get_code(to_checksum_address(OP_GAS_PRICE_ORACLE))) > 0
    ):
        return OpL1Fee(w3)
    return NoL1Fee()


def l1_fees(reader: L1FeeReader, txs: Sequence[tuple[bytes, str, bytes]]) -> list[int]:
    """The L1 fee of each transaction, wei: ``(signed bytes, to, calldata)`` each.

    One round trip on OP Stack chains (:meth:`OpL1Fee.fees`). The caller may sign with a
    throwaway key: nothing is sent. :class:`NoL1Fee` costs nothing and reads nothing.
    """
    if isinstance(reader, NoL1Fee):
        return [0] * len(txs)
    if isinstance(reader, OpL1Fee):
        return [int(f) for f in reader.fees([raw for raw, _, _ in txs])]
    return [int(reader.fee(raw, to, data)) for raw, to, data in txs]
