"""A lighter chain for the browser tests that need no history: the devnet stack alone.

conftest.py's ``devnet`` runs the demo (the stack, its market and the real keeper for 24 steps)
so the page has history to show. A test about one action needs only the stack: one vault, the
page's depositor funded, the clock frozen as conftest does. A module overrides ``devnet`` with
:func:`light_devnet`; the server, browser, wallet and page fixtures are conftest's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth_account import Account

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.devnet.quotes import premium_bounds, signed_write
from keeper.devnet.stack import write_addresses
from keeper.devnet.tx import account, transact
from tests.browser.conftest import DEPOSITOR_KEY, DEPOSITOR_USDC, Devnet
from tests.conftest import one_vault_stack
from tests.usdt_like import become_usdt_like


@contextmanager
def light_devnet(out: Path, *, usdt_like: bool = False) -> Iterator[Devnet]:
    """Anvil with the stack (one vault), the depositor's USDC minted, the clock frozen.

    ``usdt_like``: the USDC is then replaced by a token that behaves as mainnet USDT does
    (:mod:`tests.usdt_like`).
    """
    with Anvil() as node:
        w3 = connect(node.url)
        admin = account(ANVIL_KEYS[0])
        stack = one_vault_stack(w3)
        path = out / "devnet.json"
        write_addresses(path, stack, rpc_url=node.url)
        devnet = Devnet(
            node=node,
            w3=w3,
            addresses=json.loads(path.read_text()),
            addresses_path=path,
            depositor=Account.from_key(DEPOSITOR_KEY),
            vault_abi=load_artifact("OptionVault").abi,
            erc20_abi=load_artifact("MintableERC20").abi,
            queue_abi=load_artifact("RedemptionQueue").abi,
        )
        transact(w3, admin, devnet.usdc.functions.mint(devnet.depositor.address, DEPOSITOR_USDC))
        if usdt_like:
            become_usdt_like(w3, stack.usdc)
        devnet.rpc("anvil_setBlockTimestampInterval", 0)
        yield devnet


def write_a_call(devnet: Devnet, vault: str) -> int:
    """The desk writes a 30-day call at the money to a funded buyer (the vault's value then
    depends on the price); returns the price it was written at."""
    v = devnet.vault(vault)
    admin, desk, buyer = account(ANVIL_KEYS[0]), account(ANVIL_KEYS[2]), account(ANVIL_KEYS[5])
    price = int(v.functions.valuationPrice().call())
    expiry = int(devnet.w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
    terms = (0, price, 100 * 10**8, expiry, 10**17)
    premium, _ = premium_bounds(devnet.w3, v, *terms)
    transact(devnet.w3, admin, devnet.usdc.functions.mint(buyer.address, premium))
    transact(devnet.w3, buyer, devnet.usdc.functions.approve(v.address, premium))
    transact(devnet.w3, desk, signed_write(devnet.w3, v, buyer, *terms, premium))
    return price
