"""Errors classified once; reads retried under a deadline; several endpoints with failover.

No node: the failover provider talks to a scripted ``requests`` session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from web3.exceptions import ContractLogicError, Web3RPCError

from keeper.chain.connection import FailoverProvider, connect
from keeper.chain.retry import (
    RpcUnavailableError,
    deadline,
    is_transient,
    parse_retry_after,
    read_with_retry,
    remaining_s,
)
from keeper.errors import ChainError
from tests.rpc_stub import rpc_stub
from tests.unit.test_web_server import NOT_A_FACTORY, fake_node_w3

A, B, SEND = "http://a.example", "http://b.example", "http://private.example"


def http_error(code: int, retry_after: str | None = None) -> requests.HTTPError:
    resp = requests.Response()
    resp.status_code = code
    if retry_after is not None:
        resp.headers["Retry-After"] = retry_after
    return requests.HTTPError(response=resp)


def rpc_error(code: int, message: str, data: Any = None) -> Web3RPCError:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("refused"),
        requests.exceptions.ChunkedEncodingError("connection closed mid-response"),
        requests.Timeout("read timed out"),
        http_error(500),
        http_error(502),
        http_error(429),
        rpc_error(-32603, "internal error"),
        rpc_error(-32005, "limit exceeded"),
        rpc_error(-32016, "rate limit"),
        rpc_error(-32000, "header not found"),
        # -32000 for a rate limit (BNB Chain's, some public endpoints) and for a block a
        # load-balanced node has not seen yet (Nethermind, Erigon): busy or behind, not an answer
        rpc_error(-32000, "request rate exceeded"),
        rpc_error(-32000, "unknown block"),
        rpc_error(-32002, "request timed out"),  # geth's answer past its RPC timeout
        RpcUnavailableError("every endpoint failed"),
        ChainError("lens read failed"),  # transient by its cause (set below)
    ],
)
def test_transient_errors(exc: BaseException) -> None:
    if type(exc) is ChainError:
        try:
            raise exc from requests.exceptions.ChunkedEncodingError("cut")
        except ChainError as chained:
            exc = chained
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ContractLogicError("execution reverted"),
        rpc_error(-32602, "invalid params"),
        rpc_error(-32000, "nonce too low"),
        rpc_error(-32002, "IP address 1.2.3.4 is not on whitelist"),
        rpc_error(-32000, "insufficient funds for gas * price + value"),
        rpc_error(-32603, "execution reverted", data="0x1234"),
        rpc_error(-32603, "EVM error OutOfGas"),  # anvil: a call out of gas, on every node
        rpc_error(-32603, "out of gas"),
        http_error(401),
        http_error(403),
        http_error(400),
        ValueError("bad answer"),
        ChainError("RPC is on chain 1, expected chain 10"),
    ],
)
def test_permanent_errors(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_retry_after_is_parsed_and_honoured() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("garbage") is None
    slept: list[float] = []
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise http_error(429, retry_after="1.5")
        return 7

    assert read_with_retry(fn, attempts=3, initial_s=0.01, sleep=slept.append) == 7
    assert slept
    assert slept[0] >= 1.5


def test_retries_stop_at_the_deadline() -> None:
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        raise requests.ConnectionError("down")

    started = time.monotonic()
    with deadline(0.3), pytest.raises(requests.ConnectionError):
        read_with_retry(fn, attempts=1000, initial_s=0.05, max_s=0.1)
    assert time.monotonic() - started < 1.0
    assert 1 < len(calls) < 20
    assert remaining_s() is None  # the deadline ends with its block


def test_provider_exhaustion_is_not_retried_again() -> None:
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        raise RpcUnavailableError("eth_call failed on every RPC endpoint")

    with pytest.raises(RpcUnavailableError):
        read_with_retry(fn, attempts=5, initial_s=0.001)
    assert len(calls) == 1


# -- the failover provider --------------------------------------------------------------------
Reply = Callable[[dict[str, Any], float], Any]


def ok(result: Any = "0x01") -> Reply:
    return lambda req, timeout: {"jsonrpc": "2.0", "id": req["id"], "result": result}


def status(code: int) -> Reply:
    def reply(req: dict[str, Any], timeout: float) -> Any:
        raise http_error(code)

    return reply


def slow(seconds: float, result: str = "0xslow") -> Reply:
    """A real slow endpoint: it answers after ``seconds``, or times out at the client's timeout."""

    def reply(req: dict[str, Any], timeout: float) -> Any:
        time.sleep(min(seconds, timeout))
        if seconds > timeout:
            raise requests.ReadTimeout(f"read timed out after {timeout}")
        return {"jsonrpc": "2.0", "id": req["id"], "result": result}

    return reply


def json_error(code: int, message: str) -> Reply:
    return lambda req, timeout: {
        "jsonrpc": "2.0",
        "id": req["id"],
        "error": {"code": code, "message": message},
    }


def json_refusal(code: int, rpc_code: int, message: str) -> Reply:
    """An HTTP ``code`` whose body is a JSON-RPC error (a provider refusing an API key)."""

    def reply(req: dict[str, Any], timeout: float) -> requests.Response:
        resp = requests.Response()
        resp.status_code = code
        error = {"code": rpc_code, "message": message}
        resp._content = json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": error}).encode()
        return resp

    return reply


@dataclass
class Session:
    """A scripted ``requests.Session``: per URL, a queue of replies (the last one repeats)."""

    script: dict[str, list[Reply]]
    log: list[tuple[str, str, float]] = field(default_factory=list)

    def post(self, url: str, data: bytes, headers: Any, timeout: float) -> requests.Response:
        req = json.loads(data)
        self.log.append((url, req["method"], timeout))
        queue = self.script[url]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        body = reply(req, timeout)
        if isinstance(body, requests.Response):  # a reply with its own HTTP status
            return body
        resp = requests.Response()
        resp.status_code = 200
        resp._content = json.dumps(body).encode()
        return resp


def provider(session: Session, urls: list[str], **kw: Any) -> FailoverProvider:
    kw.setdefault("timeout_s", 2.0)
    # No hedged copy unless a test asks for one (``hedge_s``): these tests script each endpoint's
    # answers in order, and a copy sent because a loaded machine stalled a thread past a short
    # hedge delay took the next scripted answer (a 0.3 s stall failed five of them).
    kw.setdefault("hedge_s", kw["timeout_s"])
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("head_probe_s", None)  # exact request sequences: no background head probes
    return FailoverProvider(urls, session=session, **kw)  # type: ignore[arg-type]


class HeldClock:
    """The failover provider's clock, held still: it moves only when a test moves it.

    A failure cools an endpoint down for 0.25 s, and latencies rank the rest. On the real clock
    a thread stalled that long on a loaded machine (a 0.3 s stall, injected, failed six tests)
    ended the cool-down before the next read, or made the faster endpoint measure slower, and
    the read went elsewhere than the test expected. Held, what the provider sees is the test's.
    ``taking`` makes a scripted reply take that long on this clock.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import keeper.chain.connection as connection

        self.now = 1_000.0
        held = SimpleNamespace(monotonic=lambda: self.now, sleep=time.sleep)
        monkeypatch.setattr(connection, "time", held)

    def taking(self, seconds: float, reply: Reply) -> Reply:
        def timed(req: dict[str, Any], timeout: float) -> Any:
            self.now += seconds
            return reply(req, timeout)

        return timed


def test_a_failing_endpoint_fails_over_to_the_next_and_loses_its_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    HeldClock(monkeypatch)
    s = Session({A: [status(502), ok()], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A, B]
    # A is cooling down after its failure: the next read goes to B first.
    p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert s.log[-1][0] == B
    assert p.health[0].failures == 1
    assert p.health[1].failures == 0


def test_a_slow_endpoint_is_hedged_concurrently_and_the_first_answer_wins() -> None:
    s = Session({A: [slow(1.0, "0x0a")], B: [ok("0x0b")]})
    p = provider(s, [A, B], hedge_s=0.2)
    started = time.monotonic()
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.6  # B answered; nobody waited for A's second
    # A was not abandoned at the hedge delay: it keeps its full timeout, in the background.
    assert s.log[0] == (A, "eth_call", 2.0)
    assert s.log[1][0] == B
    p.close()


def test_a_primary_that_answers_within_the_hedge_delay_is_not_hedged() -> None:
    s = Session({A: [slow(0.05, "0x0a")], B: [ok("0x0b")]})
    p = provider(s, [A, B], hedge_s=0.5)
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A]


def test_the_hedge_does_not_cancel_a_slow_primary_that_answers_first() -> None:
    # A is slow (0.4 s), the hedge to B is slower (2 s): A's answer is taken when it comes.
    s = Session({A: [slow(0.4, "0x0a")], B: [slow(1.5, "0x0b")]})
    p = provider(s, [A, B], hedge_s=0.1)
    started = time.monotonic()
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    assert 0.35 < time.monotonic() - started < 1.0
    # The hedge went out at 0.1 s; its thread, stalled on a loaded machine, may reach B only
    # after A answered: waited for, not read at once.
    until = time.monotonic() + 5.0
    while len(s.log) < 2 and time.monotonic() < until:
        time.sleep(0.01)
    assert [u for u, _, _ in s.log] == [A, B]


def test_a_failed_hedge_leaves_the_primary_in_flight() -> None:
    s = Session({A: [slow(0.4, "0x0a")], B: [status(500)]})
    p = provider(s, [A, B], hedge_s=0.1)
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    # The hedge's failure still scored B. Its thread, stalled on a loaded machine, may score it
    # after A answered: waited for, not read at once.
    until = time.monotonic() + 5.0
    while p.health[1].failed == 0 and time.monotonic() < until:
        time.sleep(0.01)
    assert p.health[1].failed >= 1


def test_one_slow_endpoint_is_hedged_on_itself() -> None:
    # A single endpoint whose first answer hangs (a proxy delaying one request): the duplicate
    # request answers at once, long before the first one's timeout.
    s = Session({A: [slow(5.0, "0xlate"), ok("0x0a")]})
    p = provider(s, [A], hedge_s=0.1, timeout_s=5.0)
    started = time.monotonic()
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert [(u, t) for u, _, t in s.log] == [(A, 5.0), (A, 5.0)]
    p.close()


def test_a_stall_on_a_lone_endpoint_cooling_after_failures_is_hedged_within_a_backoff() -> None:
    """helper-106 (50% faults): a lone endpoint cools down longer with each failure in a row
    (8 s after six), and "no hedge onto a cooling endpoint" held a stalled attempt's hedge until
    the cool-down ended, past the client timeout: the stall cost the whole timeout (10 s by
    default), though a retry after a failure waits at most the jittered backoff (about 2 s). A
    hedge on the endpoint it is waiting on now waits no longer than that retry would."""
    stalled: list[float] = []

    def stall(req: dict[str, Any], timeout: float) -> Any:
        stalled.append(time.monotonic())
        return slow(6.0, "0xlate")(req, timeout)

    s = Session({A: [*(status(502) for _ in range(6)), stall, ok("0x0a")]})
    p = provider(s, [A], hedge_s=0.1, timeout_s=5.0, sleep=time.sleep)
    with deadline(30.0):  # a cycle's: up to ten attempts on the one endpoint
        assert p.make_request("eth_blockNumber", [])["result"] == "0x0a"  # type: ignore[arg-type]
    answered = time.monotonic()
    p.close()
    assert answered - stalled[0] < 3.0  # hedge_s plus a backoff of at most 2.05 s; not 5 s


def test_sends_are_never_hedged() -> None:
    s = Session({A: [slow(0.5, "0xhash")], B: [ok("0x0b")]})
    p = provider(s, [A, B], hedge_s=0.05)
    started = time.monotonic()
    assert p.make_request("eth_sendRawTransaction", ["0x02"])["result"] == "0xhash"  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.5
    assert [u for u, _, _ in s.log] == [A]


def test_a_read_that_times_out_everywhere_is_retried_within_the_budget() -> None:
    s = Session({A: [slow(1.0)]})
    p = provider(s, [A], attempts=2, timeout_s=0.2, hedge_s=0.1)
    with pytest.raises(RpcUnavailableError, match="ReadTimeout"):
        p.make_request("eth_call", [])  # type: ignore[arg-type]
    assert len(s.log) == 2


def test_transient_json_rpc_errors_fail_over_and_permanent_ones_are_answers() -> None:
    s = Session({A: [json_error(-32000, "header not found")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    s = Session({A: [json_error(3, "execution reverted")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert "error" in p.make_request("eth_call", [])  # type: ignore[arg-type]
    assert len(s.log) == 1


def test_exhausted_reads_raise_one_transient_error() -> None:
    s = Session({A: [json_error(-32005, "rate limited")], B: [status(500)]})
    p = provider(s, [A, B], attempts=2)
    with pytest.raises(RpcUnavailableError, match="eth_call failed on every RPC endpoint"):
        p.make_request("eth_call", [])  # type: ignore[arg-type]
    assert len(s.log) == 4


def test_reads_stop_at_the_deadline() -> None:
    s = Session({A: [status(503)]})
    p = FailoverProvider([A], session=s, attempts=10_000, timeout_s=1, hedge_s=0.1)  # type: ignore[arg-type]
    started = time.monotonic()
    with deadline(0.5), pytest.raises(RpcUnavailableError):
        p.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.5


def test_sends_go_once_to_the_send_url() -> None:
    s = Session({A: [ok()], B: [ok()], SEND: [status(500)]})
    p = provider(s, [A, B], send_url=SEND)
    with pytest.raises(requests.HTTPError):
        p.make_request("eth_sendRawTransaction", ["0x02"])  # type: ignore[arg-type]
    assert s.log == [(SEND, "eth_sendRawTransaction", 2.0)]  # never retried, never elsewhere
    p.make_request("eth_call", [])  # type: ignore[arg-type]
    assert s.log[-1][0] == A  # reads stay on the read endpoints


def test_state_changing_methods_are_not_retried() -> None:
    s = Session({A: [status(500)], B: [ok()]})
    p = provider(s, [A, B])
    with pytest.raises(requests.HTTPError):
        p.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert len(s.log) == 1


def test_a_batch_of_reads_fails_over_as_a_whole() -> None:
    def batch_ok(req: Any, timeout: float) -> Any:
        return [{"jsonrpc": "2.0", "id": r["id"], "result": "0x01"} for r in req]

    def batch_one_busy(req: Any, timeout: float) -> Any:
        out = batch_ok(req, timeout)
        out[1] = {"jsonrpc": "2.0", "id": req[1]["id"], "error": {"code": -32603, "message": "x"}}
        return out

    class BatchSession(Session):
        def post(self, url: str, data: bytes, headers: Any, timeout: float) -> requests.Response:
            req = json.loads(data)
            self.log.append((url, "batch", timeout))
            body = self.script[url][0](req, timeout)
            resp = requests.Response()
            resp.status_code = 200
            resp._content = json.dumps(body).encode()
            return resp

    s = BatchSession({A: [batch_one_busy], B: [batch_ok]})
    p = provider(s, [A, B])
    out = p.make_batch_request([("eth_call", []), ("eth_call", [])])  # type: ignore[list-item]
    assert isinstance(out, list)
    assert all("result" in r for r in out)
    assert [u for u, _, _ in s.log] == [A, B]


# -- start-up ----------------------------------------------------------------------------------
def test_startup_retries_transient_errors_then_names_what_it_gave_up_on() -> None:
    from keeper.app.wiring import startup_step

    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise RpcUnavailableError("eth_call failed on every RPC endpoint")
        return 5

    with deadline(30):
        assert startup_step("checking the vaults", flaky, sleep=lambda s: None) == 5
    assert len(calls) == 3

    def down() -> int:
        raise requests.ConnectionError("refused")

    with deadline(0.2), pytest.raises(ChainError) as info:
        startup_step("reading the chain id", down)
    assert str(info.value).startswith("start-up gave up on reading the chain id after ")
    assert "\n" not in str(info.value)

    def wrong() -> int:
        raise ChainError("RPC is on chain 1, expected chain 10")

    with deadline(30), pytest.raises(ChainError, match="expected chain 10"):
        startup_step("reading the chain id", wrong)


def test_startup_ends_at_once_when_a_retry_after_passes_its_deadline() -> None:
    """A start-up read whose only endpoint asked (429, Retry-After 30 s) not to be asked again
    for longer than start-up has left fails in one line at once. The provider sent nothing more,
    but the step took its refusal for a transient fault and backed off until the deadline."""
    from keeper.app.wiring import startup_step

    def limited(req: dict[str, Any], timeout: float) -> Any:
        raise http_error(429, retry_after="30")

    s = Session({A: [limited]})
    p = provider(s, [A])
    slept: list[float] = []
    started = time.monotonic()
    with deadline(5), pytest.raises(ChainError) as info:
        startup_step(
            "reading the vaults", lambda: p.make_request("eth_call", []), sleep=slept.append
        )  # type: ignore[arg-type]
    assert time.monotonic() - started < 1
    assert slept == []
    assert len(s.log) == 1
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("start-up gave up on reading the vaults: ")
    assert "Retry-After" in line


def test_a_transient_failure_is_never_reported_as_not_a_vault() -> None:
    from keeper.chain.vaults import validate_vaults

    class Eth:
        def get_code(self, address: str) -> bytes:
            return b"\x60"

        def call(self, tx: Any) -> bytes:
            raise rpc_error(-32603, "internal error")

    class W3:
        eth = Eth()

    with pytest.raises(Web3RPCError):
        validate_vaults(W3(), ["0x" + "11" * 20], attempts=1)  # type: ignore[arg-type]


def test_a_single_endpoint_honours_retry_after() -> None:
    def limited(req: dict[str, Any], timeout: float) -> Any:
        raise http_error(429, retry_after="1")

    slept: list[float] = []
    s = Session({A: [limited, ok()]})
    p = provider(s, [A], sleep=slept.append)
    assert p.make_request("eth_call", [])["result"] == "0x01"  # type: ignore[arg-type]
    assert slept
    assert slept[0] >= 0.9


@NOT_A_FACTORY
def test_a_factory_that_is_not_a_vault_factory_is_one_config_error(
    answer: dict[str, object],
) -> None:
    """``keeper check``/``run`` with an EOA as the addresses file's factory ended in a traceback:
    eth_abi's ``InsufficientDataBytes`` for the empty answer to ``vaultCount()`` is not a
    ``ValueError``, so ``factory_vaults`` let it through."""
    from web3 import Web3

    from keeper.chain.vaults import factory_vaults
    from keeper.errors import ConfigError

    factory = "0x" + "fa" * 20
    with pytest.raises(
        ConfigError, match=f"{Web3.to_checksum_address(factory)} is not a vault factory"
    ):
        factory_vaults(fake_node_w3(answer), factory)


@pytest.mark.parametrize("code", [401, 403, 404])
def test_an_endpoint_that_refuses_reads_fails_over_to_one_that_answers(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong or spent API key (401/403) or a wrong path (404) is the endpoint's refusal, not
    the read's: connect() warns "using the others", yet every read went to the refusing first
    endpoint, which was never ranked down, and failed with its HTTP error."""
    HeldClock(monkeypatch)
    s = Session({A: [status(code)], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    # A lost its rank: the next read goes to B first, and A is not asked again.
    assert p.make_request("eth_blockNumber", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A, B, B]


def test_a_read_every_endpoint_refuses_is_refused_once_each() -> None:
    s = Session({A: [status(401)], B: [status(403)]})
    p = provider(s, [A, B], attempts=5)
    with pytest.raises(requests.HTTPError):
        p.make_request("eth_call", [])  # type: ignore[arg-type]
    assert sorted(u for u, _, _ in s.log) == [A, B]


def test_a_geth_request_timed_out_answer_fails_over() -> None:
    """geth answers a request that ran past its RPC timeout with ``-32002 "request timed
    out"`` (rpc/errors.go): a busy node, not the read's answer."""
    s = Session({A: [json_error(-32002, "request timed out")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]


def test_a_rate_limit_with_backoff_data_fails_over() -> None:
    """Infura's rate limit carries its back-off in ``data`` (``{"current_rps", "allowed_rps",
    "backoff_seconds"}``); over a WebSocket, or through a proxy that answers HTTP 200, no 429
    says so. The ``data`` rule is for a revert reported as -32603: a rate limit with data was
    read as a permanent answer."""
    data = {"see": "", "current_rps": 13.333, "allowed_rps": 10.0, "backoff_seconds": 30.0}
    error = {"code": -32005, "message": "project ID request rate exceeded", "data": data}
    assert is_transient(
        Web3RPCError("rate", rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})  # type: ignore[typeddict-item]
    )
    s = Session({A: [lambda req, timeout: {"jsonrpc": "2.0", "id": req["id"], "error": error}]})
    s.script[B] = [ok("0x0b")]
    p = provider(s, [A, B])
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["eth-mainnet.example.com/v2/SECRETKEY", "https//eth-mainnet.example.com/v2/SECRETKEY"]
)
def test_a_url_without_a_scheme_is_refused_without_its_api_key(url: str) -> None:
    """``keeper web --rpc-url``, ``rehearse --fork-url`` and an addresses file's ``rpc_url``
    reach the provider unchecked: a URL written without its scheme was refused as "unsupported
    RPC URL scheme: '<the whole URL, key included>'"."""
    from keeper.chain.connection import connect
    from keeper.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        connect(url)
    assert "SECRETKEY" not in str(caught.value)
    assert "no scheme" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        FailoverProvider([A], send_url=url)
    assert "SECRETKEY" not in str(caught.value)


def test_a_json_rpc_error_code_429_is_a_rate_limit() -> None:
    """Alchemy says its rate limit over a WebSocket (no HTTP status there) as a JSON-RPC error
    with code 429: it was read as a permanent answer, and the read failed instead of going to
    the next endpoint."""
    message = "Your app has exceeded its compute units per second capacity."
    s = Session({A: [json_error(429, message)], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert is_transient(rpc_error(429, message))


def test_a_bare_http_408_is_a_timeout_and_is_retried() -> None:
    """A proxy or load balancer that gave up waiting for the node answers a bare HTTP 408
    (request timeout): asking again may well succeed. It was read as a permanent refusal, so a
    single endpoint failed the read at once and ``read_with_retry`` never asked again."""
    assert is_transient(http_error(408))
    s = Session({A: [status(408), ok("0x0a")]})
    p = provider(s, [A])
    assert p.make_request("eth_call", [])["result"] == "0x0a"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A, A]
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise http_error(408)
        return 7

    assert read_with_retry(fn, attempts=3, initial_s=0.001, sleep=lambda s: None) == 7


@pytest.mark.parametrize("code", [401, 403])
def test_an_endpoint_that_refuses_with_a_json_rpc_error_fails_over(
    code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alchemy and Infura refuse a wrong or spent API key with an HTTP 401/403 whose body is a
    JSON-RPC error ("Must be authenticated!", "invalid project id"). That body was read as the
    read's answer: the read failed with it while another endpoint answered, and the refusing
    endpoint kept its rank. Like a bare 401/403 it is the endpoint's refusal, not the read's."""
    HeldClock(monkeypatch)
    s = Session({A: [json_refusal(code, -32600, "Must be authenticated!")], B: [ok("0x0b")]})
    p = provider(s, [A, B])
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    # A lost its rank: the next read goes to B first, and A is not asked again.
    assert p.make_request("eth_call", [])["result"] == "0x0b"  # type: ignore[arg-type]
    assert [u for u, _, _ in s.log] == [A, B, B]
    # Refused everywhere, the read fails with the provider's words, not a bare status.
    s = Session({A: [json_refusal(code, -32600, "Must be authenticated!")]})
    with pytest.raises(requests.HTTPError, match="Must be authenticated!"):
        provider(s, [A], attempts=3).make_request("eth_call", [])  # type: ignore[arg-type]
    assert len(s.log) == 1
    # A send is not a read: its refusal stays the node's answer, for the sender to read.
    s = Session({A: [json_refusal(code, -32600, "Must be authenticated!")]})
    answer = provider(s, [A]).make_request("eth_sendRawTransaction", ["0x02"])  # type: ignore[arg-type]
    assert answer["error"]["message"] == "Must be authenticated!"  # type: ignore[index]


def test_an_address_without_code_names_the_chain_the_rpc_is_on() -> None:
    """A vault address given with an RPC of another network said only "no contract code there";
    the chain the RPC is on points at the real mistake."""
    from keeper.chain.vaults import validate_vaults
    from keeper.errors import ConfigError

    class Eth:
        chain_id = 8453

        def get_code(self, address: str) -> bytes:
            return b""

    class W3:
        eth = Eth()

    with pytest.raises(ConfigError) as info:
        validate_vaults(W3(), ["0x" + "11" * 20], attempts=1)  # type: ignore[arg-type]
    assert str(info.value) == (
        "0x1111111111111111111111111111111111111111 is not a vault (no contract code there on "
        "chain 8453, the RPC's)"
    )


def test_a_short_answer_to_a_vault_probe_says_what_came_back() -> None:
    """An RPC answering ``eth_call`` with 4 bytes said "asset() returned no data"."""
    from keeper.chain.vaults import validate_vaults
    from keeper.errors import ConfigError

    class Eth:
        chain_id = 10

        def get_code(self, address: str) -> bytes:
            return b"\x60"

        def call(self, tx: object) -> bytes:
            return bytes.fromhex("deadbeef")

    class W3:
        eth = Eth()

    with pytest.raises(ConfigError) as info:
        validate_vaults(W3(), ["0x" + "11" * 20], attempts=1)  # type: ignore[arg-type]
    assert str(info.value).endswith("is not a vault (asset() returned 4 bytes, not a 32-byte word)")


def test_a_fork_on_the_wrong_chain_is_named_as_the_fork() -> None:
    """``keeper rehearse`` with an addresses file of another chain said "RPC is on chain 10",
    where the RPC was its own fork of ``--fork-url`` (helper-103)."""
    # The stub answers eth_chainId with 10.
    with rpc_stub(lambda req: {"result": "0x0a"}) as stub, pytest.raises(ChainError) as info:
        connect(stub.url, expected_chain_id=31337, name="the fork of --fork-url")
    assert str(info.value) == "the fork of --fork-url is on chain 10, expected chain 31337"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_an_rpc_that_refuses_every_request_at_start_up_fails_at_once(status: int) -> None:
    """A wrong path or API key (a bare HTTP 401/403/404) was retried as a node that is down:
    `keeper run` for all of KEEPER_STARTUP_TIMEOUT_S (60 s), `check` three times (helper-103).
    No retry changes a refusal: one line at once, naming it."""
    from keeper.chain.retry import deadline

    def refuse(req: dict[str, Any]) -> dict[str, Any]:
        return {"http_status": status, "raw_body": "404 page not found"}

    started = time.monotonic()
    with rpc_stub(refuse) as stub, deadline(30), pytest.raises(ChainError) as info:
        connect(stub.url)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"RPC at {stub.url} refused the request (HTTP {status})")
    assert "check the URL's path and API key" in message
    assert len(stub.methods) == 1
