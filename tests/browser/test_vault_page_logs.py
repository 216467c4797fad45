"""The page's history on an RPC that refuses an ``eth_getLogs`` over its limit.

Hosted providers refuse a log query over their block-range or result limit (Infura's -32005
"query returned more than 10000 results", Alchemy's "Log response size exceeded", "block range
is too wide" ...). The page read its history with one ``eth_getLogs`` over the last
``historyBlocks`` blocks, so on such a provider the whole history failed ("Cannot read
history"). It now halves the span until a query is answered and walks the range at that span
(``web/src/logs.js``), as the keeper does (``keeper/chain/logs.py``).

The page's RPC here is a loopback proxy to the devnet's anvil (:func:`tests.rpc_stub.json_rpc_node`)
that answers an ``eth_getLogs`` over more blocks than it allows with the provider's error and
forwards everything else.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from eth_utils.abi import event_abi_to_log_topic

from keeper.app.web import WebServer, build_config, read_addresses
from tests.browser.conftest import DIST, Devnet, PageClock
from tests.rpc_stub import json_rpc_node

#: Infura's refusal of a log query with too many results.
TOO_MANY_RESULTS = {"code": -32005, "message": "query returned more than 10000 results"}
#: A refusal that says nothing about the query's size (geth's answer to a bad filter).
NOT_A_SIZE_LIMIT = {"code": -32000, "message": "invalid from and to block combination"}
#: The events the page reads its history from (``HISTORY_EVENTS`` in web/src/vault.js).
HISTORY_EVENTS = {"Rebalanced", "Deposit", "Withdraw", "OptionWritten", "SeriesSettled"}


@dataclass
class LogLimitedRpc:
    """The proxy: its URL, and each ``eth_getLogs`` it was asked, as (from, to, refused)."""

    url: str
    asked: list[tuple[int, int, bool]] = field(default_factory=list)

    @property
    def answered(self) -> list[tuple[int, int]]:
        return [(lo, hi) for lo, hi, refused in self.asked if not refused]


@contextmanager
def log_limited_rpc(
    devnet: Devnet, max_span: int, refusal: dict[str, Any]
) -> Iterator[LogLimitedRpc]:
    """A proxy to the devnet's node refusing, with ``refusal``, any ``eth_getLogs`` over more
    than ``max_span`` blocks (0: every one); every other call is the node's answer."""
    upstream = devnet.node.url
    proxy = LogLimitedRpc(url="")

    def block(tag: str) -> int:
        return int(tag, 16) if tag.startswith("0x") else int(devnet.w3.eth.block_number)

    def reply(body: Any) -> Any:
        calls = body if isinstance(body, list) else [body]
        answers: dict[Any, Any] = {}
        forward = []
        for call in calls:
            if call.get("method") == "eth_getLogs":
                query = call["params"][0]
                lo, hi = (
                    block(query.get("fromBlock", "latest")),
                    block(query.get("toBlock", "latest")),
                )
                refused = hi - lo + 1 > max_span
                proxy.asked.append((lo, hi, refused))
                if refused:
                    answers[call["id"]] = {"jsonrpc": "2.0", "id": call["id"], "error": refusal}
                    continue
            forward.append(call)
        if forward:
            for answer in requests.post(upstream, json=forward, timeout=30).json():
                answers[answer["id"]] = answer
        out = [answers[call["id"]] for call in calls]
        return out if isinstance(body, list) else out[0]

    with json_rpc_node(reply, cors=True) as node:
        proxy.url = node.url
        yield proxy


@contextmanager
def served_through(devnet: Devnet, rpc_url: str) -> Iterator[str]:
    """``keeper web`` for the devnet, handing the page ``rpc_url`` as its RPC."""
    config = build_config(
        read_addresses(devnet.addresses_path), rpc_url=rpc_url, chain_id=devnet.w3.eth.chain_id
    )
    with WebServer(config, dist=DIST, port=0) as web:
        yield web.url


@pytest.fixture
def clock(page: Any) -> PageClock:
    """The page's clock: viem retries a refused query (-32005) 3 times, 1.05 s of backoff in all,
    before the page sees the refusal and halves the span; waiting for the history skips that
    backoff (every retry is still sent)."""
    return PageClock(page)


def history_of(page: Any, clock: PageClock, server: str, vault: str) -> dict[str, Any]:
    """Open ``vault`` and wait for its history (or its failure); what the page shows of it."""
    page.goto(f"{server}#/vault/{vault}")
    clock.wait_for('#main[data-rebalances-ready="true"], #charts p.error', timeout_s=60)
    error = page.locator("#charts p.error")
    if error.count():
        return {"error": error.inner_text()}
    heading = page.inner_text('[data-testid="charts"] h2')
    span = re.search(r"blocks (\d+)–(\d+), (\d+) samples, (\d+) events", heading)
    assert span is not None, heading
    rows = page.locator('[data-testid="rebalance-row"]')
    return {
        "error": None,
        "from": int(span.group(1)),
        "latest": int(span.group(2)),
        "events": int(span.group(4)),
        "rebalances": [rows.nth(i).get_attribute("data-tx") for i in range(rows.count())],
    }


def chain_events(devnet: Devnet, vault: str, start: int, end: int) -> int:
    """How many of the page's history events ``vault`` emitted in ``[start, end]``."""
    topics = [
        event_abi_to_log_topic(e)  # type: ignore[arg-type]
        for e in devnet.vault_abi
        if e["type"] == "event" and e["name"] in HISTORY_EVENTS
    ]
    logs = devnet.w3.eth.get_logs(
        {"address": devnet.vault(vault).address, "fromBlock": start, "toBlock": end}
    )
    return sum(1 for log in logs if bytes(log["topics"][0]) in topics)


def busiest_vault(devnet: Devnet) -> str:
    """The vault with the most Rebalanced events (the richest rebalance table)."""
    counts = {
        v: len(devnet.vault(v).events.Rebalanced().get_logs(from_block=0))
        for v in devnet.addresses["vaults"]
    }
    return str(max(counts, key=lambda v: counts[v]))


def test_the_history_is_read_in_spans_the_rpc_answers(
    page: Any, clock: PageClock, server: str, devnet: Devnet
) -> None:
    vault = busiest_vault(devnet)
    direct = history_of(page, clock, server, vault)
    assert direct["error"] is None
    assert direct["rebalances"], "the demo's keeper rebalanced this vault"
    blocks = direct["latest"] - direct["from"] + 1
    max_span = max(1, blocks // 10)
    with (
        log_limited_rpc(devnet, max_span, TOO_MANY_RESULTS) as rpc,
        served_through(devnet, rpc.url) as limited,
    ):
        through = history_of(page, clock, limited, vault)
    assert through == direct, through.get("error")
    assert through["events"] == chain_events(devnet, vault, direct["from"], direct["latest"])
    assert any(refused for _, _, refused in rpc.asked), "the range was never refused"
    # The answered spans tile the range: every block asked once, in order, none left out.
    spans = rpc.answered
    assert spans[0][0] == direct["from"]
    assert spans[-1][1] == direct["latest"]
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    assert all(hi - lo + 1 <= max_span for lo, hi in spans)


def test_a_single_block_over_the_limit_is_one_line(
    page: Any, clock: PageClock, devnet: Devnet
) -> None:
    vault = busiest_vault(devnet)
    with (
        log_limited_rpc(devnet, 0, TOO_MANY_RESULTS) as rpc,
        served_through(devnet, rpc.url) as limited,
    ):
        shown = history_of(page, clock, limited, vault)
    error = shown["error"]
    assert error is not None
    first = rpc.asked[0][0]
    assert error == (
        f"Cannot read history: eth_getLogs: block {first} alone is over the RPC's log limit "
        "(query returned more than 10000 results)"
    ), error
    assert (first, first, True) in rpc.asked


def test_another_log_error_is_not_taken_for_a_size_limit(
    page: Any, clock: PageClock, devnet: Devnet
) -> None:
    vault = busiest_vault(devnet)
    with (
        log_limited_rpc(devnet, 0, NOT_A_SIZE_LIMIT) as rpc,
        served_through(devnet, rpc.url) as limited,
    ):
        shown = history_of(page, clock, limited, vault)
    assert shown["error"] is not None
    assert shown["error"].startswith("Cannot read history: "), shown["error"]
    assert "log limit" not in shown["error"]
    # Asked once over the whole range, never split.
    assert len(rpc.asked) == 1, rpc.asked
