"""After a failover, the primary endpoint gets its traffic back once its cool-down is over.

Found by the chaos suite's ``harsh`` section (``python -m bench.chaos --sections harsh``): with
``KEEPER_RPC_URLS=<primary>,<node 3 blocks behind>``, one failed request on the primary sent
every later read to the lagging node for the rest of the run (2 requests reached the primary in
215 s). The rank counted failures in a row, and only a success resets that count; a primary that
is never asked again never succeeds again. The keeper then ran 3 blocks behind the chain: a
median of 5 blocks from a band exit to its hedge instead of 2, and 32 ``stuck_tx`` alerts for
transactions that were mined but whose receipts the lagging node did not have yet.

With the cool-down fixed, the primary and a lagging node of the same speed still shared the
reads (the rank was latency alone): an endpoint whose head is behind the others' is ranked down
(the tests at the end).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from web3 import Web3

from keeper.chain.connection import FailoverProvider, best_head
from keeper.errors import ChainError
from tests.unit.test_rpc_faults import (
    A,
    B,
    HeldClock,
    Reply,
    Session,
    ok,
    provider,
    slow,
    status,
)


def test_a_primary_that_failed_once_is_asked_again_after_its_cool_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # B is the slower of the two (as a node that lags behind a proxy is): A is the better one.
    # On the provider's held clock: a stall on a loaded machine neither ends A's cool-down
    # before the second read nor makes A measure slower than B.
    clock = HeldClock(monkeypatch)
    s = Session({A: [status(502), ok("0x0a")], B: [clock.taking(0.05, ok("0x0b"))]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    clock.now = p.health[0].cooling_until + 0.05
    answers = [p.make_request("eth_blockNumber", [])["result"] for _ in range(5)]  # type: ignore[arg-type]
    assert answers == ["0x0a"] * 5
    p.close()


def test_a_primary_that_fails_again_cools_down_longer() -> None:
    # Asked again after its cool-down and failing again, it cools for longer (no flapping): 0.25 s
    # after one failure in a row, 0.5 s after two. Each failure happened between the stamps taken
    # around its request, so its cool-down is bracketed whatever the machine's load (comparing the
    # time left after each request failed once on a loaded 2-core run: B's answer and the thread
    # hand-offs ate the margin).
    s = Session({A: [status(502), status(502), ok("0x0a")], B: [slow(0.05, "0x0b")]})
    p = provider(s, [A, B])

    def cooled(expected_s: float) -> None:
        before = time.monotonic()
        assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
        until = p.health[0].cooling_until
        assert until - time.monotonic() <= expected_s <= until - before

    cooled(0.25)
    time.sleep(max(0.0, p.health[0].cooling_until - time.monotonic()) + 0.05)
    cooled(0.5)
    assert p.health[0].failures == 2
    p.close()


def head(number: int) -> Reply:
    """An endpoint whose head is ``number``: ``eth_blockNumber`` and the latest block."""

    def reply(req: dict[str, Any], timeout: float) -> Any:
        if req["method"] == "eth_getBlockByNumber":
            return {"jsonrpc": "2.0", "id": req["id"], "result": {"number": hex(number)}}
        return {"jsonrpc": "2.0", "id": req["id"], "result": hex(number)}

    return reply


def test_an_endpoint_blocks_behind_the_others_loses_its_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # B answers faster than A but is 3 blocks behind it: once both heads are known, reads go to
    # A, not to whichever was faster last time. On the provider's held clock: a stall of more
    # than A's 30 ms in B's request, on a loaded machine, measured B the slower.
    clock = HeldClock(monkeypatch)
    s = Session({A: [clock.taking(0.03, ok("0x64"))], B: [head(97)]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x64"  # type: ignore[arg-type]
    # B is heard too (a hedge, a failover), and measured faster than A.
    payload = p.encode_rpc_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert p._attempt(1, payload, "eth_blockNumber", 2.0, {})["result"] == "0x61"
    assert p.health[1].latency_s < p.health[0].latency_s
    assert [p.make_request("eth_call", [])["result"] for _ in range(3)] == ["0x64"] * 3  # type: ignore[arg-type]
    p.close()


def test_a_head_seen_long_ago_does_not_rank_an_endpoint_down_for_good() -> None:
    s = Session({A: [ok("0x0a")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    now = time.monotonic()
    p.health[0].saw_head(90, now - 60)  # last heard a minute ago (it was cooling down since)
    p.health[1].saw_head(100, now)
    p.health[0].latency_s, p.health[1].latency_s = 0.01, 0.05
    p.health[0].served = p.health[1].served = 1
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    p.close()


RECEIPT = {"blockNumber": hex(99), "status": "0x01", "transactionHash": "0x" + "ab" * 32}


def chain(number: int, receipt: dict[str, Any] | None) -> Reply:
    """An endpoint at head ``number`` that has ``receipt`` (``None``: not yet)."""

    def reply(req: dict[str, Any], timeout: float) -> Any:
        if req["method"] == "eth_getTransactionReceipt":
            return {"jsonrpc": "2.0", "id": req["id"], "result": receipt}
        return {"jsonrpc": "2.0", "id": req["id"], "result": hex(number)}

    return reply


def test_no_receipt_from_an_endpoint_behind_is_not_an_answer() -> None:
    # The chaos suite's lagging node (3 blocks behind): a receipt read that failed on the primary
    # was answered "no receipt" by the lagging node for a transaction mined on the primary, so
    # the sender judged it stuck and tried a replacement (refused), with a false stuck_tx alert.
    s = Session({A: [status(502), chain(100, RECEIPT)], B: [chain(97, None)]})
    p = provider(s, [A, B], sleep=time.sleep)
    now = time.monotonic()
    p.health[0].saw_head(100, now)
    p.health[1].saw_head(97, now)
    answer = p.make_request("eth_getTransactionReceipt", ["0x" + "ab" * 32])  # type: ignore[arg-type]
    assert answer["result"] == RECEIPT
    asked = [u for u, m, _ in s.log if m == "eth_getTransactionReceipt"]
    assert asked[:2] == [A, B]  # A failed; B's "none" was not taken ...
    assert asked[-1] == A  # ... A, asked again after its cool-down, answered
    p.close()


def test_no_receipt_from_an_endpoint_level_with_the_best_is_an_answer() -> None:
    # Not yet mined anywhere: the endpoints at the best head answer None, and that is the answer.
    s = Session({A: [status(502), chain(100, None)], B: [chain(100, None)]})
    p = provider(s, [A, B])
    now = time.monotonic()
    p.health[0].saw_head(100, now)
    p.health[1].saw_head(100, now)
    assert p.make_request("eth_getTransactionReceipt", ["0x01"])["result"] is None  # type: ignore[arg-type]
    p.close()


def test_best_head_is_the_highest_fresh_head_any_endpoint_answered() -> None:
    # What the sender starts a replacement clock at (a head read that lagged is not the chain's).
    s = Session({A: [ok("0x0a")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    w3 = Web3(p)
    assert best_head(w3) is None  # nothing heard yet
    now = time.monotonic()
    p.health[0].saw_head(100, now)
    p.health[1].saw_head(97, now)
    assert best_head(w3) == 100
    p.health[0].saw_head(103, now - 60)  # heard a minute ago: not fresh
    assert best_head(w3) == 97
    p.close()
    assert best_head(Web3(Web3.HTTPProvider("http://127.0.0.1:1"))) is None  # not ours


def slow_head(seconds: float, number: int) -> Reply:
    """:func:`head`, answering after ``seconds`` (a primary behind a proxy)."""
    answer = head(number)

    def reply(req: dict[str, Any], timeout: float) -> Any:
        time.sleep(seconds)
        return answer(req, timeout)

    return reply


def test_a_faster_endpoint_behind_the_chain_does_not_keep_the_reads_for_good() -> None:
    # The chaos suite's harsh section (seed 35, 2026-12-04): the keeper's first reads found the
    # primary A slower than the failover B, 3 blocks behind, and none of its reads asked B for
    # its head, so B was never known to lag and kept every read: 2 requests reached A in 135 s,
    # and 9 of 18 band exits lapsed. Reads that name no head (eth_call here) must not leave a
    # lagging endpoint unranked.
    # Probes every 0.2 s here (2.5 s in the keeper): B is ranked down from its second probe on,
    # which is sent after A had answered its higher head.
    s = Session({A: [slow_head(0.03, 100)], B: [head(97)]})
    p = FailoverProvider([A, B], session=s, timeout_s=2.0, hedge_s=0.2, head_probe_s=0.2)  # type: ignore[arg-type]
    answers = []
    for _ in range(40):
        answers.append(p.make_request("eth_call", [])["result"])  # type: ignore[arg-type]
        time.sleep(0.05)
    assert answers[-5:] == [hex(100)] * 5, answers
    p.close()


def test_a_head_probe_still_in_flight_is_not_sent_again() -> None:
    # An endpoint that hangs: one probe waits on it, not one per read (each would hold a worker
    # of the hedging pool until its timeout).
    def hangs_on_heads(req: dict[str, Any], timeout: float) -> Any:
        if req["method"] == "eth_blockNumber":
            time.sleep(1.5)
        return {"jsonrpc": "2.0", "id": req["id"], "result": hex(100)}

    s = Session({A: [head(100)], B: [hangs_on_heads]})
    p = FailoverProvider([A, B], session=s, timeout_s=2.0, hedge_s=0.2, head_probe_s=0.01)  # type: ignore[arg-type]
    for _ in range(10):
        p.make_request("eth_call", [])  # type: ignore[arg-type]
        time.sleep(0.02)
    assert [u for u, m, _ in s.log if m == "eth_blockNumber"].count(B) == 1
    p.close()


def test_level_endpoints_heard_at_different_moments_never_rank_each_other_down() -> None:
    # Review finding (2026-12-04): on a fast chain (a block every 20 ms here) two endpoints at its
    # tip, heard at different moments (reads, probes), looked blocks apart; the one heard earlier
    # ranked down, and its "no receipt yet" answers (true everywhere) cooled it down. Heads are
    # compared causally: only a head answered before the other was asked counts against it.
    t0 = time.monotonic()

    def tip(req: dict[str, Any], timeout: float) -> Any:
        time.sleep(0.01)  # a probe of the other endpoint lands while a read is out
        number = int((time.monotonic() - t0) / 0.02) + 100
        result: Any = None if req["method"] == "eth_getTransactionReceipt" else hex(number)
        return {"jsonrpc": "2.0", "id": req["id"], "result": result}

    s = Session({A: [tip], B: [tip]})
    p = FailoverProvider([A, B], session=s, timeout_s=2.0, hedge_s=0.2, head_probe_s=0.05)  # type: ignore[arg-type]
    for i in range(60):
        method = "eth_blockNumber" if i % 3 == 0 else "eth_getTransactionReceipt"
        p.make_request(method, ["0x01"] if method != "eth_blockNumber" else [])  # type: ignore[arg-type]
        time.sleep(0.01)
    assert [h.failed for h in p.health] == [0, 0]
    p.close()


def test_a_head_probe_records_the_head_only() -> None:
    # A probe's cheap eth_blockNumber is not a read: it must not lower the endpoint's latency
    # (its rank for reads) nor reset a failure count.
    s = Session({A: [head(100)], B: [head(100)]})
    p = FailoverProvider([A, B], session=s, timeout_s=2.0, hedge_s=0.2)  # type: ignore[arg-type]
    p.health[1].failures, p.health[1].latency_s = 2, 0.5
    p._probe_heads()
    deadline = time.monotonic() + 1.0
    while p.health[1].head is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.health[1].head == 100
    assert (p.health[1].failures, p.health[1].latency_s, p.health[1].served) == (2, 0.5, 0)
    p.close()


def test_an_endpoint_that_never_answered_does_not_outrank_one_that_did() -> None:
    """An endpoint with no latency measured yet (never asked, or failed every time) had a
    latency of 0, the best there is: the read after the primary's first answer went to the
    failover endpoint instead, however fast the primary. It ranks as the average of the
    measured endpoints now; between equals, the configured order decides."""
    s = Session({A: [slow(0.02, "0x0a")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    answers = [p.make_request("eth_call", [])["result"] for _ in range(3)]  # type: ignore[arg-type]
    assert answers == ["0x0a"] * 3
    assert p.health[1].served == 0
    p.close()
    # Neutral: after the endpoints faster than the average, before the slower ones.
    c = "http://c.example"
    s = Session({A: [ok("0x0a")], B: [ok("0x0b")], c: [ok("0x0c")]})
    p = provider(s, [A, B, c])
    for health, latency in zip(p.health[:2], (0.5, 0.1), strict=True):
        health.served, health.latency_s = 1, latency
    assert p._order() == [1, 2, 0]
    p.close()


def _down_until_up(chain_id: str) -> tuple[dict[str, bool], Any]:
    """An endpoint that refuses connections until ``up["a"]``, then on chain ``chain_id``."""
    import requests

    up = {"a": False}

    def a(req: dict[str, Any], timeout: float) -> Any:
        if not up["a"]:
            raise requests.ConnectionError("refused")
        result = chain_id if req["method"] == "eth_chainId" else "0x0a"
        return {"jsonrpc": "2.0", "id": req["id"], "result": result}

    return up, a


def test_an_endpoint_down_at_connect_is_asked_its_chain_id_before_its_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """connect() checks the chain id of every endpoint that answers, and warns "using the
    others" for one that does not. That one was then used, unchecked, as soon as it came up:
    up on another chain (a wrong URL, a testnet key), its answers were taken for this chain's.
    Now it is asked its chain id before its first use, and never used on another chain."""
    import requests

    from keeper.chain.connection import connect

    up, a = _down_until_up(chain_id="0x02")

    def b(req: dict[str, Any], timeout: float) -> Any:
        result = "0x01" if req["method"] == "eth_chainId" else "0x0b"
        return {"jsonrpc": "2.0", "id": req["id"], "result": result}

    s = Session({A: [a], B: [b]})
    monkeypatch.setattr(requests, "Session", lambda: s)
    w3 = connect([A, B], expected_chain_id=1, timeout_s=2.0, hedge_s=0.2)
    up["a"] = True
    p = w3.provider
    assert isinstance(p, FailoverProvider)
    p.head_probe_s = None  # exact request sequences
    p.health[0].cooling_until = 0.0
    answers = [w3.provider.make_request("eth_call", [])["result"] for _ in range(3)]  # type: ignore[arg-type]
    assert answers == ["0x0b"] * 3
    assert [m for u, m, _ in s.log if u == A] == ["eth_chainId", "eth_chainId"]  # connect, check
    with pytest.raises(ChainError, match="chain 2, expected chain 1"):
        p._check_chain(0, 1.0)  # remembered: never asked again, never used
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert s.log[-1][0] == B
    p.close()


def test_an_endpoint_down_at_connect_on_the_right_chain_is_used_once_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    from keeper.chain.connection import connect

    up, a = _down_until_up(chain_id="0x01")

    s = Session({A: [a], B: [ok("0x01")]})
    monkeypatch.setattr(requests, "Session", lambda: s)
    w3 = connect([A, B], timeout_s=2.0, hedge_s=0.2)
    up["a"] = True
    p = w3.provider
    assert isinstance(p, FailoverProvider)
    p.head_probe_s = None
    answers = [w3.provider.make_request("eth_call", [])["result"] for _ in range(2)]  # type: ignore[arg-type]
    assert answers == ["0x0a"] * 2
    assert [m for u, m, _ in s.log if u == A] == [
        "eth_chainId",
        "eth_chainId",
        "eth_call",
        "eth_call",
    ]
    p.close()


def test_a_send_url_down_at_connect_or_on_another_chain_is_refused_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Transactions go only to the send URL: down at connect (after the same tries as a read
    endpoint), or on another chain, ``connect`` stops in one line; no transaction is signed
    for an endpoint that cannot take it (it once connected and checked the chain at first use,
    and a keeper signed, then failed every broadcast)."""
    import requests

    from keeper.chain.connection import connect

    send = "http://private.example"
    up = {"send": False}

    def private(req: dict[str, Any], timeout: float) -> Any:
        if not up["send"]:
            raise requests.ConnectionError("refused")
        return {"jsonrpc": "2.0", "id": req["id"], "result": "0x05"}

    s = Session({A: [ok("0x01")], send: [private]})
    monkeypatch.setattr(requests, "Session", lambda: s)
    with pytest.raises(ChainError, match=r"cannot reach the send RPC \(KEEPER_SEND_RPC_URL\)"):
        connect([A], send_url=send, timeout_s=2.0, hedge_s=0.2, attempts=2)
    assert [m for u, m, _ in s.log if u == send] == ["eth_chainId", "eth_chainId"]
    up["send"] = True
    with pytest.raises(ChainError, match="disagree on the chain"):
        connect([A], send_url=send, timeout_s=2.0, hedge_s=0.2)
