"""docs/networks.md's tables are scripts/networks/*.json, value for value.

The page's per-network tables (feed, Uniswap, tokens, L1-fee contracts, pool fee, heartbeat,
grace) and its list of files and chain ids were copies of the deploy configs that nothing held to
them: a config corrected (as the Arbitrum Sepolia feed was) could leave the page naming the old
address. Each row is read here and compared with the JSON the deploy script reads.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from keeper.locations import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "networks.md"
NETWORKS = PROJECT_ROOT / "scripts" / "networks"

#: A table row's label (its start) -> the JSON keys its cell gives, in the cell's order.
_ROWS: dict[str, tuple[str, ...]] = {
    "Chainlink ETH/USD": ("chainlink.ethUsdFeed",),
    "ETH/USD heartbeat": ("chainlink.ethUsdHeartbeat",),
    "Sequencer uptime feed": ("chainlink.sequencerUptimeFeed",),
    "UniswapV3Factory": ("uniswap.factory",),
    "QuoterV2": ("uniswap.quoterV2",),
    "NonfungiblePositionManager": ("uniswap.positionManager",),
    "USDC": ("tokens.quote.address",),
    "WETH": ("tokens.underlying.address",),
    "NodeInterface": ("l1Fee.arbNodeInterface",),
    "GasPriceOracle": ("l1Fee.opGasPriceOracle",),
    "Pool fee / heartbeat / grace": (
        "uniswap.poolFee",
        "vault.oracleHeartbeat",
        "vault.sequencerGracePeriod",
    ),
}
#: The row label's "(N dec)" -> the JSON key of those decimals.
_DECIMALS = {
    "Chainlink ETH/USD": "chainlink.ethUsdFeedDecimals",
    "USDC": "tokens.quote.decimals",
    "WETH": "tokens.underlying.decimals",
}
#: Keys the page gives outside the tables (the description, in its prose) or in a row's label.
_ELSEWHERE = {"chainlink.ethUsdDescription", "tokens.quote.symbol", "tokens.underlying.symbol"}


def _configs() -> list[dict[str, Any]]:
    """The networks' configs (not local.example.json, a placeholder the page does not cover)."""
    return [
        {"file": p.name, **json.loads(p.read_text())}
        for p in sorted(NETWORKS.glob("*.json"))
        if not p.name.endswith(".example.json")
    ]


def _leaves(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config's values, by dotted key (not its name, chain id, sources or notes)."""
    sections = ("chainlink", "uniswap", "tokens", "l1Fee", "vault")
    return _leaves({k: config[k] for k in sections})


def _tables() -> dict[tuple[str, int], list[tuple[str, str]]]:
    """(section name, chain id) -> its table's (label, value) rows."""
    text = DOC.read_text()
    tables: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for m in re.finditer(r"^## ([^\n]+) \((\d+)\)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S):
        rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", m[3], flags=re.M)
        tables[(m[1], int(m[2]))] = [r for r in rows if r[0] not in ("Value", "---")]
    return tables


def _cell(text: str) -> list[str | int | None]:
    """The values of a cell: addresses, ``null``, and the numbers of ``3000 / 86400 s / 3600 s``."""
    if re.match(r"\**null\**", text):
        return [None]
    if addresses := re.findall(r"`(0x[0-9a-fA-F]{40})`", text):
        return list(addresses)
    return [int(n) for n in re.findall(r"\b(\d+)\b", text)]


def _label(label: str) -> str:
    found = [key for key in _ROWS if label.startswith(key)]
    assert len(found) == 1, f"docs/networks.md has a row the test does not know: {label!r}"
    return found[0]


def test_the_page_names_each_config_with_its_chain_id() -> None:
    text = DOC.read_text()
    intro = " ".join(text[: text.index("\n## ")].split())
    named = dict(re.findall(r"`([\w-]+\.json)` \((?:chain )?(\d+)\)", intro))
    assert {f: int(i) for f, i in named.items()} == {c["file"]: c["chainId"] for c in _configs()}
    assert set(_tables()) == {(c["name"], c["chainId"]) for c in _configs()}


@pytest.mark.parametrize("config", _configs(), ids=lambda c: c["file"])
def test_each_row_of_a_networks_table_is_its_config(config: dict[str, Any]) -> None:
    values = _settings(config)
    rows = _tables()[(config["name"], config["chainId"])]
    shown: set[str] = set()
    for label, cell in rows:
        row = _label(label)
        keys = _ROWS[row]
        assert _cell(cell) == [values[k] for k in keys], f"{config['file']}: {label}"
        shown.update(keys)
        if row in _DECIMALS:
            m = re.search(r"\((\d+) dec\)", label)
            assert m is not None, label
            assert int(m[1]) == values[_DECIMALS[row]], label
            shown.add(_DECIMALS[row])
        for side in ("quote", "underlying"):
            if keys == (f"tokens.{side}.address",):
                assert label.startswith(values[f"tokens.{side}.symbol"]), label
    # Every value of the config is in the table (or named where _ELSEWHERE says).
    assert set(values) - shown == _ELSEWHERE


@pytest.mark.parametrize("config", _configs(), ids=lambda c: c["file"])
def test_what_the_page_says_of_the_configs_prose_holds(config: dict[str, Any]) -> None:
    text = " ".join(DOC.read_text().split())
    values = _settings(config)
    # "the feed's `description()` against `chainlink.ethUsdDescription` (`"ETH / USD"`)"
    m = re.search(r"`chainlink\.ethUsdDescription` \(`\"([^\"]+)\"`\)", text)
    assert m is not None
    assert values["chainlink.ethUsdDescription"] == m[1]
    # "the `missing` key explains each `null`"; "the `sources` key ... lists those sources".
    nulls = {k for k, v in values.items() if v is None}
    assert nulls == set(config["missing"])
    assert set(values) - nulls - set(config["sources"]) <= {
        "tokens.quote.symbol",
        "tokens.underlying.symbol",
    }
    # "`vault.oracleHeartbeat = 86400` is a lenient testnet default"
    m = re.search(r"`vault\.oracleHeartbeat = (\d+)`", text)
    assert m is not None
    assert values["vault.oracleHeartbeat"] == int(m[1])


def test_the_arbitrum_proxy_the_page_says_the_config_uses_is_the_configs() -> None:
    # The page shortens it (`0x1C352C8C…Ec0e52`) where it says which proxy the config now uses.
    (arbitrum,) = [c for c in _configs() if c["file"] == "arbitrum-sepolia.json"]
    feed = arbitrum["chainlink"]["ethUsdFeed"]
    text = " ".join(DOC.read_text().split())
    said = re.findall(r"(?:config now uses|and now uses) (?:the standard proxy )?`([^`]+)`", text)
    assert len(said) == 2
    for short in said:
        head, tail = short.split("…")
        assert feed.startswith(head), short
        assert feed.endswith(tail), short
