"""Gas is priced at ETH's price: the oracle price of a vault on ETH, never another underlying's.

``keeper.chain.vaults.eth_underlying_vaults`` finds them at start-up by their token's
``symbol()``; the chain-level test is in tests/integration/test_keeper_e2e.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from eth_abi.abi import encode

from keeper.app.market import eth_price
from keeper.chain.vaults import _symbol
from keeper.strategy.costs import DEFAULT_ETH_USD
from tests.unit.test_app_cycle import WAD, make_keeper, snap, vault
from tests.unit.test_planner_speed import _view


def test_symbol_reads_a_string_or_a_bytes32_and_nothing_else() -> None:
    assert _symbol(encode(["string"], ["WETH"])) == "WETH"
    assert _symbol(b"MKR".ljust(32, b"\0")) == "MKR"  # an older token's bytes32
    assert _symbol(None) is None
    assert _symbol(b"") is None
    assert _symbol(b"\xff" * 32) is None  # neither
    assert _symbol(b"\0" * 32) is None


def test_the_first_eth_vault_prices_gas_not_the_first_vault() -> None:
    k = make_keeper([snap(0, -WAD), snap(1, -WAD)])
    btc = replace(_view(0, -WAD, 0, WAD), spot=60_000.0)
    eth = replace(_view(1, -WAD, 0, WAD), vault=vault(1), spot=3_050.0)
    k.eth_vaults = frozenset({vault(1).lower()})
    assert eth_price(k, [btc, eth]) == 3_050.0
    # A cycle without a priced ETH vault keeps the last price; an unread set (a keeper built by
    # hand) takes any vault's, as before.
    assert eth_price(k, [btc, replace(eth, spot=0.0)]) == 3_050.0
    assert eth_price(k, [btc]) == 3_050.0
    k.eth_vaults = None
    assert eth_price(k, [btc, eth]) == 60_000.0
    assert eth_price(k, []) == 0.0  # nothing to price


def test_no_eth_price_yet_is_the_default_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    k = make_keeper([snap(0, -WAD)])
    k.eth_vaults = frozenset({"0x" + "ee" * 20})  # an ETH vault whose oracle gave no price yet
    btc = replace(_view(0, -WAD, 0, WAD), spot=60_000.0)
    with caplog.at_level(logging.WARNING, logger="keeper.app.market"):
        assert eth_price(k, [btc]) == DEFAULT_ETH_USD
        assert eth_price(k, [btc]) == DEFAULT_ETH_USD
    assert [r.getMessage() for r in caplog.records] == [
        "no vault on ETH has a price yet: gas priced at ETH = 3,000 USD (KEEPER_ETH_USD sets it)"
    ]
