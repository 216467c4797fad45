"""Buyer-signed option quotes (EIP-712) for writing options on the devnet.

A vault writes a series only with the buyer's consent: the desk either buys for itself (the
caller is the buyer) or brings the buyer's EIP-712 signature over a ``Quote`` (maximum premium,
deadline, nonce), and the premium must lie within the vault's premium bounds (model value plus
the minimum edge, up to model value plus 20%). This module builds and signs such quotes and reads
the bounds, for the devnet market's desk and the tests (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from keeper.chain.artifacts import load_artifact

__all__ = ["QUOTE_TYPES", "Quote", "premium_bounds", "sign_quote", "signed_write"]

#: The EIP-712 types of ``IOptionVault.Quote`` (domain: "OptionVault", "1", chain, vault).
QUOTE_TYPES: dict[str, list[dict[str, str]]] = {
    "Quote": [
        {"name": "buyer", "type": "address"},
        {"name": "optionType", "type": "uint8"},
        {"name": "strike", "type": "uint256"},
        {"name": "cap", "type": "uint256"},
        {"name": "expiry", "type": "uint64"},
        {"name": "size", "type": "uint256"},
        {"name": "maxPremium", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Quote:
    """``IOptionVault.Quote``: the terms a buyer consents to."""

    buyer: str
    option_type: int
    strike: int
    cap: int
    expiry: int
    size: int
    max_premium: int
    deadline: int
    nonce: int

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple, in the struct's field order."""
        return (
            self.buyer,
            self.option_type,
            self.strike,
            self.cap,
            self.expiry,
            self.size,
            self.max_premium,
            self.deadline,
            self.nonce,
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 message."""
        return {
            "buyer": self.buyer,
            "optionType": self.option_type,
            "strike": self.strike,
            "cap": self.cap,
            "expiry": self.expiry,
            "size": self.size,
            "maxPremium": self.max_premium,
            "deadline": self.deadline,
            "nonce": self.nonce,
        }


def sign_quote(w3: Web3, vault: str, buyer: LocalAccount, quote: Quote) -> bytes:
    """The buyer's 65-byte EIP-712 signature (r, s, v) over ``quote`` for ``vault``."""
    domain = {
        "name": "OptionVault",
        "version": "1",
        "chainId": int(w3.eth.chain_id),
        "verifyingContract": Web3.to_checksum_address(vault),
    }
    signed = buyer.sign_typed_data(
        domain_data=domain, message_types=QUOTE_TYPES, message_data=quote.message()
    )
    return bytes(signed.signature)


def premium_bounds(
    w3: Web3, vault: Contract, option_type: int, strike: int, cap: int, expiry: int, size: int
) -> tuple[int, int]:
    """The vault's premium range for these terms now (``RebalanceRules.premiumBoundsOf``)."""
    rules = w3.eth.contract(
        address=vault.functions.pricer().call(), abi=load_artifact("RebalanceRules").abi
    )
    lo, hi = rules.functions.premiumBoundsOf(
        vault.address, option_type, strike, cap, expiry, size
    ).call()
    return int(lo), int(hi)


def signed_write(
    w3: Web3,
    vault: Contract,
    buyer: LocalAccount,
    option_type: int,
    strike: int,
    cap: int,
    expiry: int,
    size: int,
    premium: int,
    *,
    deadline_s: int = 3_600,
) -> ContractFunction:
    """The desk's ``writeOption`` call for a quote ``buyer`` signs with ``maxPremium = premium``.

    The desk sends it; ``buyer`` must hold and have approved ``premium``.
    """
    now = int(w3.eth.get_block("latest")["timestamp"])
    quote = Quote(
        buyer=buyer.address,
        option_type=option_type,
        strike=strike,
        cap=cap,
        expiry=expiry,
        size=size,
        max_premium=premium,
        deadline=now + deadline_s,
        nonce=int(vault.functions.nonces(buyer.address).call()),
    )
    signature = sign_quote(w3, vault.address, buyer, quote)
    return vault.functions.writeOption(quote.as_tuple(), premium, signature)
