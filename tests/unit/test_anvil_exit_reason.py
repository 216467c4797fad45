"""The one line an anvil that exits on start is reported by: its error and its cause.

Found under the chaos proxy (tests/integration/test_check_chaos.py): ``keeper rehearse`` whose
fork URL answered anvil's first request with an HTTP 502 ended in ``anvil exited on start:
server: BaseHTTP/0.6 Python/3.11.7``, a header of the fork URL's server from the diagnostics anvil
prints after the cause: the last line of its stderr, taken for the cause. The texts below are
anvil's stderr, as it printed them for each fault of the proxy.
"""

from __future__ import annotations

import pytest

from keeper.chain.anvil import exit_reason

HTTP_502 = """Error: failed to get fork block number

Context:
- HTTP error 502 with body: {"error":"injected"}

HTTP diagnostics:
server: BaseHTTP/0.6 Python/3.11.7
"""
CUT = """Error: failed to get fork block number

Context:
- Error #0: error decoding response body
- Error #1: request or response body error
- Error #2: error reading a body from connection
- Error #3: end of file before message length reached
"""
GARBLED = """Error: failed to get fork block number

Context:
- deserialization error: control character (\\u0000-\\u001F) found while parsing a string at line 1
{"jsonrpc":"2.0","igarbled
"""


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            HTTP_502,
            'failed to get fork block number: HTTP error 502 with body: {"error":"injected"}',
        ),
        (CUT, "failed to get fork block number: end of file before message length reached"),
        (
            GARBLED,
            "failed to get fork block number: deserialization error: control character "
            "(\\u0000-\\u001F) found while parsing a string at line 1",
        ),
        ("Error: Address already in use (os error 98)\n", "Address already in use (os error 98)"),
        ("some last words\n", "some last words"),
        ("", "exit code 1"),
    ],
    ids=["http-502", "cut", "garbled", "no-context", "no-error-line", "silent"],
)
def test_the_reason_is_the_error_and_its_deepest_cause(stderr: str, reason: str) -> None:
    assert exit_reason(stderr, 1) == reason


def test_a_long_cause_is_cut_to_one_readable_line() -> None:
    page = "<html>" + "x" * 5_000 + "</html>"
    stderr = (
        f"Error: failed to get fork block number\n\nContext:\n- HTTP error 502 with body: {page}\n"
    )
    reason = exit_reason(stderr, 1)
    assert reason.startswith("failed to get fork block number: HTTP error 502 with body: <html>x")
    assert len(reason) <= 300
    assert "\n" not in reason
