"""The web page and the keeper recognise the same log-query-too-large wordings.

web/src/logs.js copies keeper/chain/retry.py's ``LOG_QUERY_TOO_LARGE`` word for word (one rule
in two languages); a wording added to one and not the other would split a range in one and fail
the whole read in the other.
"""

from __future__ import annotations

import re
from pathlib import Path

from keeper.chain.retry import LOG_QUERY_TOO_LARGE

LOGS_JS = Path(__file__).resolve().parents[2] / "web" / "src" / "logs.js"


def test_the_web_pages_rule_is_the_keepers() -> None:
    source = LOGS_JS.read_text()
    block = source[source.index("export const LOG_QUERY_TOO_LARGE") :]
    block = block[: block.index("].join('|')")]
    parts = re.findall(r"String\.raw`([^`]*)`", block)
    assert parts, "no String.raw parts found in web/src/logs.js"
    assert "|".join(parts) == LOG_QUERY_TOO_LARGE.pattern
    assert "'i'," in source[source.index("].join('|')") :][:40]  # case-insensitive, as .lower()
