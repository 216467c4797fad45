"""docs/architecture.md's round trips between a new block and the send count the L1-fee quotes.

The paragraph said "every sixth block, the two L1-fee quotes in one batch" after the cost model
began quoting a lone vault's own call beside the one- and two-vault batches (three quotes). The
count and the ordinal are now read off the code: the quotes one cycle asks for, and
``L1_ESTIMATE_MAX_AGE_BLOCKS``.
"""

from __future__ import annotations

import re

from keeper.app.cycle import run_cycle
from keeper.app.market import L1_ESTIMATE_MAX_AGE_BLOCKS
from keeper.locations import PROJECT_ROOT
from tests.unit.test_app_cycle import BATCHER, WAD, make_keeper, snap

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7}


def _said() -> tuple[int, int]:
    """(every Nth block, N quotes) as the round-trips paragraph says them."""
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    start = text.index("**Round trips between a new block and the send.**")
    paragraph = " ".join(text[start : text.index("\n\n", start)].split())
    m = re.search(r"every (\w+) block, the (\w+) L1-fee quotes", paragraph)
    assert m is not None, "the paragraph no longer says how often and how many L1-fee quotes"
    return _ORDINALS[m.group(1)], _WORDS[m.group(2)]


def test_the_l1_fee_quotes_of_a_cycle_are_the_ones_the_doc_counts() -> None:
    quoted: list[bytes] = []

    class CountingL1:
        name = "op"

        def fee(self, signed: bytes, to: str, data: bytes) -> int:
            quoted.append(data)
            return 1_000 + 10 * len(data)

    every, count = _said()
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=CountingL1(), chain_id=10)
    run_cycle(k)
    assert count == len(quoted)
    assert every == L1_ESTIMATE_MAX_AGE_BLOCKS
