"""The one line an anvil that exits on start is reported by: its error and its cause.

Found under the chaos proxy (tests/integration/test_check_chaos.py): ``keeper rehearse`` whose
fork URL answered anvil's first request with an HTTP 502 ended in ``anvil exited on start:
server: BaseHTTP/0.6 Python/3.11.7``, a header of the fork URL's server from the diagnostics anvil
prints after the cause: the last line of its stderr, taken for the cause. The texts below are
anvil's stderr, as it printed them for each fault of the proxy.

Whether such an exit is worth a second start (``keeper rehearse`` starts its fork again,
:func:`keeper.app.rehearse._start_fork`) is read from that line: the reasons below are anvil
1.7.1's, for each fault of the proxy and for a fork URL refusing the key, refusing the
connection, resetting it, or not having the block.
"""

from __future__ import annotations

import pytest

from keeper.chain.anvil import exit_is_transient, exit_reason

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


#: What anvil 1.7.1 exits with on start: (its reason, whether another start may get past it).
REASONS = [
    (exit_reason(HTTP_502, 1), True),
    (exit_reason(CUT, 1), True),
    ('failed to get fork block number: HTTP error 500 with body: {"error":"injected"}', True),
    ("failed to get fork block number: HTTP error 503 with body: <html>timeout</html>", True),
    ("failed to get fork block number: operation timed out", True),
    ("failed to get fork block number: Connection reset by peer (os error 104)", True),
    ("failed to get fork block number: Connection refused (os error 111)", True),
    (
        "failed to get fork block number: server returned an error response: "
        "error code -32603: internal error",
        True,
    ),
    (
        "failed to get fork block number: server returned an error response: "
        "error code -32000: header not found",
        True,
    ),
    # a 4xx says the same the next time, whatever its body says
    (
        "failed to get fork block number: HTTP error 401 with body: "
        '{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Must be authenticated!"}}',
        False,
    ),
    ("failed to get fork block number: HTTP error 403 with body: request timed out", False),
    ("failed to get fork block number: HTTP error 404 with body: Not Found", False),
    (
        "failed to get fork block number: server returned an error response: "
        "error code -32601: the method eth_blockNumber does not exist",
        False,
    ),
    ("Failed to get block for block number: 1000000", False),  # --block past the head
    (exit_reason(GARBLED, 1), False),  # no JSON-RPC there
    ("Address already in use (os error 98)", False),
    ("exit code 1", False),
]


@pytest.mark.parametrize(("reason", "transient"), REASONS)
def test_a_transient_cause_is_told_from_a_permanent_one(reason: str, transient: bool) -> None:
    assert exit_is_transient(reason) is transient
