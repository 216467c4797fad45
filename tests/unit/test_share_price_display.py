"""The share price: convertToAssets(one whole share), in the asset's decimals, on both sides.

``keeper vault info`` showed it with the asset's 6 decimals and the web page with 12 (the value of
a million shares over a million): two numbers for one price. Both show the value of one share
(``10**decimals()`` share units) as an amount of the asset, with the asset's decimals, exact
(tests/browser/test_vault_page.py checks the page's).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keeper.commands.vault import format_info


def _info(share_price: int) -> dict[str, Any]:
    zero_thresholds = {
        k: 0
        for k in (
            "target_delta",
            "band",
            "min_interval",
            "max_interval",
            "max_trade",
            "max_slippage_bps",
            "max_oracle_gap_bps",
        )
    }
    return {
        "vault": "0x" + "11" * 20,
        "name": "Option Vault",
        "symbol": "ovUSDC",
        "asset": "0x" + "22" * 20,
        "asset_symbol": "USDC",
        "asset_decimals": 6,
        "share_decimals": 12,
        "underlying_symbol": "WETH",
        "total_assets": 10**12,
        "total_supply": 10**18,
        "share_price": share_price,
        "free_quote": 0,
        "locked_collateral": 0,
        "hedge_inventory": 0,
        "net_delta": 0,
        "thresholds": zero_thresholds,
        "paused": False,
        "deposits_open": True,
        "deposits_closed_because": None,
        "exits_open": True,
        "exits_closed_because": None,
    }


def _price_line(info: dict[str, Any]) -> str:
    return next(line for line in format_info(info).splitlines() if line.startswith("share price"))


def test_vault_info_shows_one_shares_value_with_the_assets_decimals() -> None:
    assert _price_line(_info(1_000_123)) == "share price  1.000123 USDC per share"
    # exact, never rounded: the last unit shows
    assert _price_line(_info(999_999)) == "share price  0.999999 USDC per share"
    assert _price_line(_info(2_000_000)) == "share price  2 USDC per share"


def _demo_share_column(share_price: int) -> str:
    """The ``share px`` cell of ``keeper demo``'s table for one vault of that share price."""
    from keeper.app.demo import DemoResult, Trace, VaultStats
    from keeper.commands.demo import summary_table

    stats = VaultStats(vault="0x" + "11" * 20, band=10**17, volatility=8 * 10**17)
    stats.share_price = share_price
    result = DemoResult(
        **{
            name: 0
            for name in DemoResult.__dataclass_fields__
            if DemoResult.__dataclass_fields__[name].default is dataclasses.MISSING
            and DemoResult.__dataclass_fields__[name].default_factory is dataclasses.MISSING
        }
        | {
            "rpc_url": "http://127.0.0.1:8545",
            "policy": "band",
            "addresses_file": "out/devnet.json",
            "vault_stats": [stats],
            "trace": Trace(),
            "flows": [],
            "writes": [],
            "tx_hashes": [],
        }
    )
    head, _, row = summary_table(result).splitlines()[:3]
    end = head.index("share px") + len("share px")
    cell: str = row[:end].split()[-1]  # right-aligned: it ends where its heading ends
    return cell


def test_the_demo_table_shows_the_share_price_as_vault_info_does() -> None:
    """``keeper demo``'s "share px" showed 4 decimals (1.0001 for 1.000123): a third form beside
    ``keeper vault info`` and the web page. It is the same reading (convertToAssets of one share),
    with the same helper: the asset's 6 decimals, exact."""
    for units in (1_000_123, 999_999, 999_995, 2_000_000, 1_000_050):
        cli = _price_line(_info(units)).removeprefix("share price  ").split(" ")[0]
        assert _demo_share_column(units) == cli
