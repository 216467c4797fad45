"""The chaos suite's fault proxy, against a tiny fake JSON-RPC upstream (no node needed)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.chaos.proxy import FAULT_KINDS, FaultProxy


class _Upstream:
    """Answers every call with ``{"result": <method>}``; records what it received."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.arrived = threading.Event()  # set once a request has been received
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.received.append(body)
                owner.arrived.set()

                def one(c: dict[str, Any]) -> dict[str, Any]:
                    return {"jsonrpc": "2.0", "id": c["id"], "result": c["method"]}

                out = [one(c) for c in body] if isinstance(body, list) else one(body)
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    u = _Upstream()
    yield u
    u.stop()


def _call(url: str, method: str = "eth_blockNumber", i: int = 1, timeout: float = 2.0) -> Any:
    body = {"jsonrpc": "2.0", "id": i, "method": method, "params": []}
    return requests.post(url, json=body, timeout=timeout)


def test_passes_through_at_rate_zero(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, rate=0.0) as proxy:
        resp = _call(proxy.url)
        assert resp.status_code == 200
        assert resp.json()["result"] == "eth_blockNumber"
        batch = [{"jsonrpc": "2.0", "id": i, "method": f"m{i}", "params": []} for i in range(3)]
        out = requests.post(proxy.url, json=batch, timeout=2).json()
        assert [r["result"] for r in out] == ["m0", "m1", "m2"]
        stats = proxy.stats()
    assert (stats.requests, stats.calls, stats.faulted) == (2, 4, 0)


def test_the_proxy_answers_with_nagle_off(
    upstream: _Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found (helper-101): the proxy writes an answer's headers and its body in two sends; with
    Nagle's algorithm on, the body waited for the client's delayed ACK, ~40 ms a request (47 ms
    against 2.7 ms, 60 ``eth_getBlockByNumber`` on anvil), in every chaos section, 0% faults
    too: the suite measured the harness's latency as the keeper's."""
    import socket

    from bench.chaos import proxy as proxy_module

    nodelay: list[int] = []
    setup = proxy_module._Handler.setup

    def recording(self: Any) -> None:
        setup(self)
        nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(proxy_module._Handler, "setup", recording)
    with FaultProxy(upstream.url, rate=0.0) as proxy:
        assert _call(proxy.url).status_code == 200
    assert nodelay
    assert all(nodelay), nodelay


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502)])
def test_http_errors_do_not_reach_the_node(upstream: _Upstream, kind: str, status: int) -> None:
    with FaultProxy(upstream.url, rate=1.0, kinds=(kind,)) as proxy:
        resp = _call(proxy.url)
        assert resp.status_code == status
        assert proxy.stats().by_kind[kind] == 1
    assert upstream.received == []


def test_429_carries_retry_after(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, rate=1.0, kinds=("http_429",), retry_after_s=3) as proxy:
        resp = _call(proxy.url)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "3"


def test_timeout_forwards_then_answers_too_late(upstream: _Upstream) -> None:
    # The client gives up before the proxy has necessarily forwarded the request (on a loaded
    # machine the proxy's thread may not have run yet): the test waits for the node to receive
    # it, well within the 10 s the proxy holds the answer, rather than asserting at once.
    with (
        FaultProxy(upstream.url, rate=1.0, kinds=("timeout",), delay_s=10.0) as proxy,
        pytest.raises(requests.Timeout),
    ):
        _call(proxy.url, timeout=0.2)
    assert upstream.arrived.wait(8.0), "the proxy did not forward the request before its delay"
    assert len(upstream.received) == 1  # the node did the work; only the answer was late


def test_cut_closes_mid_body(upstream: _Upstream) -> None:
    with (
        FaultProxy(upstream.url, rate=1.0, kinds=("cut",)) as proxy,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        _call(proxy.url)
    assert len(upstream.received) == 1


def test_rpc_error_single_call(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, rate=1.0, kinds=("rpc_error",), seed=3) as proxy:
        codes = {_call(proxy.url, i=i).json()["error"]["code"] for i in range(40)}
        stats = proxy.stats()
    assert codes == {-32603, -32000, -32005}
    assert sum(stats.rpc_error_codes.values()) == 40
    assert upstream.received == []


def test_rpc_error_in_a_batch_errors_some_calls_and_forwards_the_rest(upstream: _Upstream) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": f"m{i}", "params": []} for i in range(8)]
    with FaultProxy(upstream.url, rate=1.0, kinds=("rpc_error",), seed=1) as proxy:
        out = requests.post(proxy.url, json=batch, timeout=2).json()
    assert [r["id"] for r in out] == list(range(8))  # order and ids kept
    errored = [r["id"] for r in out if "error" in r]
    ok = [r for r in out if "result" in r]
    assert errored  # at least one
    assert all(r["result"] == f"m{r['id']}" for r in ok)
    forwarded = [c["id"] for c in upstream.received[0]] if ok else []
    assert sorted(forwarded + errored) == list(range(8))


def test_rate_and_kinds_are_seeded_and_counted(upstream: _Upstream) -> None:
    def run(seed: int) -> dict[str, int]:
        with FaultProxy(upstream.url, rate=0.5, seed=seed, delay_s=0.05) as proxy:
            for i in range(120):
                with contextlib.suppress(requests.RequestException):
                    _call(proxy.url, i=i, timeout=2.0)
            return proxy.stats().by_kind

    a, b = run(11), run(11)
    assert a == b
    assert set(a) == set(FAULT_KINDS)
    assert 30 <= sum(a.values()) <= 90
    assert all(n > 0 for n in a.values())


def test_send_gate_can_drop_a_send(upstream: _Upstream) -> None:
    seen: list[str] = []

    class Gate:
        def before(self, calls: list[dict[str, Any]]) -> bool:
            seen.append("before")
            return False

        def after(self, calls: list[dict[str, Any]]) -> None:
            seen.append("after")

    with FaultProxy(upstream.url) as proxy:
        proxy.gate = Gate()
        assert _call(proxy.url).status_code == 200  # not a send: the gate is not asked
        with pytest.raises(requests.ConnectionError):
            _call(proxy.url, method="eth_sendRawTransaction")
        assert proxy.stats().dropped_sends == 1
    assert seen == ["before"]
    assert [c["method"] for c in upstream.received] == ["eth_blockNumber"]


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultProxy("http://127.0.0.1:1", kinds=("nope",))
    with pytest.raises(ValueError, match="rate"):
        FaultProxy("http://127.0.0.1:1", rate=1.5)
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("ws://127.0.0.1:1")


# ----------------------------------------------------------------------------- measurements


def _obs(n: int, outside: dict[str, bool], rebalanced: dict[str, list[str]] | None = None) -> Any:
    from bench.chaos.measure import BlockObs

    return BlockObs(n, 0, outside, rebalanced or {})


def test_needs_pair_band_exits_with_rebalances() -> None:
    from bench.chaos.measure import needs, percentiles

    blocks = [
        _obs(1, {"A": True, "B": False}),
        _obs(2, {"A": True, "B": True}),
        _obs(3, {"A": False, "B": True}, {"A": ["0xa"]}),  # A served after 2 blocks
        _obs(4, {"A": False, "B": False}),  # B lapsed: back inside with no hedge
        _obs(5, {"A": True, "B": False}, {"B": ["0xb"]}),  # B hedged with no need
    ]
    out = needs(blocks)
    assert out.served == [2]
    assert (out.lapsed, out.open_at_end, out.rebalances, out.rebalances_without_need) == (
        1,
        1,
        2,
        1,
    )
    assert percentiles([1, 1, 2, 3, 9]) == {"median": 2.0, "p90": 9.0, "max": 9.0}
    assert percentiles([]) == {"median": None, "p90": None, "max": None}


def test_a_rebalance_on_the_vaults_time_trigger_is_not_counted_without_need() -> None:
    """helper-106: a hedge inside the band that the vault's own time trigger allowed (its
    ``maxInterval`` passed: ``rebalanceTrigger()`` ready in the block before) was counted in
    ``rebalances_without_need``, which docs/chaos.md says should be 0."""
    from bench.chaos.measure import BlockObs, needs

    blocks = [
        BlockObs(1, 0, {"A": False}, {}, ready={"A": True}),  # inside, its time trigger due
        BlockObs(2, 0, {"A": False}, {"A": ["0xa"]}, ready={"A": False}),
        BlockObs(3, 0, {"A": False}, {"A": ["0xb"]}, ready={"A": False}),  # neither: no need
    ]
    out = needs(blocks)
    assert (out.rebalances, out.rebalances_on_time, out.rebalances_without_need) == (2, 1, 1)


def test_histogram_and_the_binomial_tail_the_short_run_judges_its_p90_by() -> None:
    from bench.chaos.measure import binomial_tail, histogram

    assert histogram([3, 1, 1, 12, 2, 1]) == {"1": 3, "2": 1, "3": 1, "12": 1}
    assert list(histogram([10, 9, 2])) == ["2", "9", "10"]
    assert histogram([]) == {}
    assert binomial_tail(0, 19, 0.1) == 1.0
    assert binomial_tail(1, 3, 0.5) == pytest.approx(0.875)
    assert binomial_tail(3, 3, 0.5) == pytest.approx(0.125)
    # 19 needs, as in a short run: 5 slow is still plausible for a keeper at the target, 6 is not.
    assert binomial_tail(5, 19, 0.1) > 0.01 > binomial_tail(6, 19, 0.1)


def test_needs_are_also_measured_from_the_vaults_trigger_ready() -> None:
    from bench.chaos.measure import BlockObs, needs

    def obs(n: int, out: bool, ready: bool, hit: bool = False) -> BlockObs:
        return BlockObs(n, 0, {"A": out}, {"A": ["0xa"]} if hit else {}, {}, {"A": ready})

    blocks = [
        obs(1, True, False),  # out of band, the contract refuses (e.g. the oracle gap)
        obs(2, True, False),
        obs(3, True, True),  # the chain would take the hedge from here
        obs(4, False, False, hit=True),  # served: 3 blocks from the exit, 1 from ready
        obs(5, True, False),  # a need that never became ready before its hedge
        obs(6, False, False, hit=True),
    ]
    out = needs(blocks)
    assert out.served == [3, 1]
    assert out.served_from_ready == [1]


def test_a_request_is_counted_by_what_it_asked(upstream: _Upstream) -> None:
    with FaultProxy(upstream.url, rate=0.0) as proxy:
        _call(proxy.url, "eth_blockNumber")
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"data": "0x12345678ff"}],
        }
        requests.post(proxy.url, json=body, timeout=2)
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": []}
            for i, m in enumerate(("eth_estimateGas", "eth_chainId", "eth_chainId"))
        ]
        requests.post(proxy.url, json=batch, timeout=2)
        stats = proxy.stats()
    assert stats.by_method == {
        "eth_blockNumber": 1,
        "eth_call(0x12345678)": 1,
        "batch:eth_chainId+eth_estimateGas": 1,
    }


def test_duplicates_are_hedges_decided_before_the_previous_one_landed() -> None:
    from bench.chaos.measure import JournalView, duplicate_rebalances

    journal = JournalView(
        intents={1: (10, "mined"), 2: (11, "mined"), 3: (20, "mined")},
        txs={"0x1": (1, 0, "mined"), "0x2": (2, 1, "mined"), "0x3": (3, 2, "mined")},
    )
    blocks = [
        _obs(12, {}, {"A": ["0x1"]}),
        _obs(13, {}, {"A": ["0x2"]}),  # decided at 11 <= 12: a second hedge of the same need
        _obs(21, {}, {"A": ["0x3"], "B": ["0xforeign"]}),  # decided at 20 > 13: a new need
    ]
    assert duplicate_rebalances(blocks, journal) == (1, 1)


def test_nonce_gaps_and_orphans() -> None:
    from bench.chaos.measure import JournalView, nonce_gaps, pool_nonces

    assert nonce_gaps(5, set()) == 0
    assert nonce_gaps(5, {5, 6}) == 0
    assert nonce_gaps(5, {7}) == 2
    pool = {"pending": {"0xAbC": {"5": {}}}, "queued": {"0xabc": {"8": {}}, "0xdef": {"1": {}}}}
    assert pool_nonces(pool, "0xabc") == {5, 8}
    view = JournalView({1: (1, "open"), 2: (2, "open"), 3: (3, "mined")}, {"0x": (2, 0, "sent")})
    assert (view.orphan_intents, view.open_intents, view.pending_nonces()) == (1, 2, {0})


def test_unneeded_replacements_are_those_whose_first_version_was_never_priced_out(
    tmp_path: Path,
) -> None:
    from bench.chaos.measure import BlockObs, replacements
    from keeper.execution.journal import Journal
    from tests.unit.test_journal import record

    j = Journal(tmp_path / "j.sqlite")
    intent = j.open_intent([], 10)

    def version(nonce: int, tx: str, max_fee: int, status: str, sent: int | None) -> None:
        record(j, intent, nonce, tx, fee=max_fee)
        j.mark(tx, status, sent_block=sent, **({"mined_block": 14} if status == "mined" else {}))

    version(0, "0x01", 100, "mined", 10)  # alone: not a replacement
    version(1, "0x02", 100, "mined", 10)  # mined at 14, every base fee <= 100: unneeded
    version(1, "0x03", 120, "replaced", None)
    version(2, "0x04", 50, "replaced", 10)  # block 12's base fee 80 > 50: needed
    version(2, "0x05", 90, "mined", 12)
    j.close()
    blocks = [BlockObs(n, 80 if n == 12 else 40, {}) for n in range(9, 16)]
    assert replacements(tmp_path / "j.sqlite", blocks) == (2, 1)
    assert replacements(tmp_path / "none.sqlite", blocks) == (0, 0)


def test_a_failed_market_step_waits_for_a_block_before_the_next() -> None:
    """A refused step (the harsh section's fee spike) must not let the market race ahead.

    The next step started at once, in the same block: under load, every step after the spike
    was refused within one second and the section's market was over in a few blocks.
    """
    from types import SimpleNamespace

    from bench.chaos.scenario import Live

    t0 = time.monotonic()

    class Monitor:
        @property
        def head(self) -> int:
            return int((time.monotonic() - t0) / 0.05)  # a block every 50 ms

    heads: list[int] = []
    monitor = Monitor()

    def step(i: int) -> None:
        heads.append(monitor.head)
        raise ValueError("max fee per gas less than block base fee")

    market = SimpleNamespace(cfg=SimpleNamespace(steps=10), step=step)
    run = Live(SimpleNamespace(market=market), None, monitor, None, None)  # type: ignore[arg-type]
    run.play(3)
    assert run.step_failures == 3
    assert run.step_errors == {"max fee per gas less than block base fee": 3}
    assert heads[0] < heads[1] < heads[2]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--steps", "-1"], "--steps: must be a whole number >= 1"),
        (["--rate", "2"], "--rate: must be a number from 0 to 1, got '2'"),
        (["--sections", "baseline,nope"], "--sections: unknown ['nope']"),
        (["--kills", "x"], "--kills: must be a whole number >= 0"),
    ],
)
def test_chaos_refuses_a_bad_command_line_in_one_line(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any section starts: ``--steps -1`` once printed two tracebacks from the
    sections it had started, and ``--rate 2`` said only "unknown sections [] or bad --rate"."""
    from bench.chaos.__main__ import parse

    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
