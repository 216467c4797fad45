"""keeper.chain.logs.get_logs against a fake node that refuses log queries over a random limit.

Whatever the limit (a block range, a result count, both) and wherever the logs lie, the logs
returned are those of the whole range, each once, in block order; no query is asked twice; and
a block whose logs alone are over the limit is the one error, naming that block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.chain.logs import get_logs
from keeper.chain.retry import LogQueryTooLargeError


@dataclass
class _Eth:
    """``w3.eth`` of a node with logs at ``blocks`` (a block may hold several) and limits."""

    blocks: list[int]
    head: int
    max_span: int | None
    max_results: int | None
    asked: list[tuple[int, Any]] = field(default_factory=list)

    @property
    def block_number(self) -> int:
        return self.head

    def get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        start, to = query["fromBlock"], query["toBlock"]
        assert (start, to) not in self.asked, f"asked twice: {(start, to)}"
        self.asked.append((start, to))
        end = self.head if to == "latest" else to
        found = [
            {"blockNumber": b, "logIndex": i}
            for i, b in enumerate(self.blocks)
            if start <= b <= end
        ]
        too_wide = self.max_span is not None and end - start + 1 > self.max_span
        too_many = self.max_results is not None and len(found) > self.max_results
        if too_wide or too_many:
            raise LogQueryTooLargeError("too large", "JSON-RPC error -32005: too large")
        return found


@dataclass
class _W3:
    eth: _Eth


def _all(eth: _Eth, start: int, end: int) -> list[dict[str, Any]]:
    return [
        {"blockNumber": b, "logIndex": i} for i, b in enumerate(eth.blocks) if start <= b <= end
    ]


@settings(max_examples=300, deadline=None)
@given(
    head=st.integers(0, 400),
    blocks=st.lists(st.integers(0, 400), max_size=40).map(sorted),
    max_span=st.none() | st.integers(1, 120),
    max_results=st.none() | st.integers(1, 8),
    start=st.integers(0, 400),
    latest=st.booleans(),
    stop=st.integers(0, 400),
)
def test_the_split_reads_every_log_of_the_range_once_in_order(
    head: int,
    blocks: list[int],
    max_span: int | None,
    max_results: int | None,
    start: int,
    latest: bool,
    stop: int,
) -> None:
    eth = _Eth([b for b in blocks if b <= head], head, max_span, max_results)
    end = head if latest else min(stop, head)
    limit = max_results if max_results is not None else len(eth.blocks)
    crowded = [b for b in eth.blocks if start <= b <= end and eth.blocks.count(b) > limit]
    w3: Any = _W3(eth)
    if crowded:  # a block whose logs alone are over the result limit: the first one, named
        with pytest.raises(LogQueryTooLargeError, match=f"block {crowded[0]} alone"):
            get_logs(w3, "0x" + "00" * 20, [], start, None if latest else end)
        return
    assert get_logs(w3, "0x" + "00" * 20, [], start, None if latest else end) == _all(
        eth, start, end
    )
