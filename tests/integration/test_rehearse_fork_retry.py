"""``keeper rehearse``: a fork whose anvil exits on a transient failure is started again.

anvil retries an HTTP 429 from the fork URL while it reads the fork block at start, but not a 5xx,
a cut or refused connection or a timeout: it exits. Against a provider that fails a request now
and then, the rehearsal ended at once, in one line, and only running it again helped. Now an
anvil that exits on a transient cause is started again, ``KEEPER_RPC_RETRIES`` times at most and
while ``KEEPER_STARTUP_TIMEOUT_S`` lasts, each retry logged; a permanent cause (a 401) is not.
A fork URL that never answers is a timeout of anvil's after ``KEEPER_RPC_TIMEOUT_S``, retried
the same. Every anvil started and failed is stopped and reaped.

The devnet is ``test_rehearse.py``'s, the proxy ``test_check_chaos.py``'s, failing chosen
fork-block reads.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keeper.app import rehearse as rehearse_module
from keeper.chain.anvil import Anvil
from tests.integration import test_rehearse as rehearse
from tests.integration.test_check_chaos import (
    Run,
    _FailingOn,
    _outcome_problems,
    _rehearse,
    _run,
)
from tests.integration.test_rehearse import Parent

pytestmark = pytest.mark.integration

built = rehearse.built
parent = rehearse.parent

#: How the proxy names anvil's read of the fork block (:attr:`ProxyStats.by_method`).
FORK_BLOCK = "eth_getBlockByNumber(number)"
#: A key in the fork URL's path, as providers give them.
API_KEY = "k3yInThePath0123456789abcdef"
#: What the one line of a 502 the fork could not get past ends with.
ENDS_502 = (
    r': failed to get fork block( number)?: HTTP error 502 with body: \{"error":"injected"\}$'
)


def _first(n: int | None) -> Callable[[str], bool]:
    """Pick the first ``n`` fork-block reads (``None``: every one)."""
    reads = itertools.count(1)
    return lambda what: what == FORK_BLOCK and (n is None or next(reads) <= n)


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The PID of every anvil the rehearsal spawns (the real :class:`Anvil`, recorded)."""
    pids: list[int] = []

    class Recorded(Anvil):
        def _spawn(self) -> None:
            super()._spawn()
            assert self._proc is not None
            pids.append(self._proc.pid)

    monkeypatch.setattr(rehearse_module, "Anvil", Recorded)
    monkeypatch.setenv("KEEPER_RPC_RETRIES", "3")
    monkeypatch.setenv("KEEPER_STARTUP_TIMEOUT_S", "60")
    return pids


def _gone(pids: list[int]) -> list[int]:
    """The PIDs still there (running, or exited and not reaped)."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def _retries(run: Run) -> list[dict[str, Any]]:
    """The rehearsal's warnings that it starts the fork again."""
    out = []
    for line in run.err.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "starting it again" in str(record.get("msg")):
            out.append(record)
    return out


def test_a_fork_block_read_failing_twice_then_answering_is_rehearsed(
    parent: Parent, spawned: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed today: the first 502 ended the rehearsal. Now the third anvil forks."""
    with _FailingOn(parent.node.url, _first(2), kind="http_502") as proxy:
        url = proxy.url  # the proxy answers on any path: the key's, here
        run = _run(capsys, _rehearse(parent, f"{url}/v2/{API_KEY}", "--json"))
    assert run.code == 0, run.err
    assert API_KEY not in run.out + run.err
    assert json.loads(run.out)["rebalanced"]
    assert proxy.hits == 2
    assert len(spawned) == 3
    retries = _retries(run)
    assert len(retries) == 2, run.err
    for attempt, record in enumerate(retries, start=1):
        assert record["level"] == "warning"
        assert f"attempt {attempt} of 3" in record["msg"]
        assert f"could not fork {url} (" in record["msg"]  # by its scheme and host
        assert "HTTP error 502" in record["msg"]
    assert _gone(spawned) == []  # the rehearsal stops its fork too


@pytest.mark.parametrize(
    ("retries", "timeout_s", "most"),
    # Each backoff is 0.25 s at least: 2 s leaves room for 7 retries at most, short of the 10
    # allowed. A deadline of 1 s let a loaded machine's first start (anvil, its failed fork-block
    # read through the proxy, its exit: 0.8 s) and the first backoff run past it: no retry.
    [("3", "60", 3), ("10", "2", 8)],
    ids=["attempts", "deadline"],
)
def test_a_fork_url_failing_every_fork_block_read_ends_in_one_line_after_bounded_tries(
    parent: Parent,
    spawned: list[int],
    retries: str,
    timeout_s: str,
    most: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tried ``KEEPER_RPC_RETRIES`` times, or fewer where ``KEEPER_STARTUP_TIMEOUT_S`` runs
    out first; then today's line; every anvil started is gone."""
    monkeypatch.setenv("KEEPER_RPC_RETRIES", retries)
    monkeypatch.setenv("KEEPER_STARTUP_TIMEOUT_S", timeout_s)
    started = time.monotonic()
    with _FailingOn(parent.node.url, _first(None), kind="http_502") as proxy:
        url = proxy.url
        run = _run(capsys, _rehearse(parent, url))
    took = time.monotonic() - started
    assert run.code == 1
    assert not _outcome_problems(run, json_out=False), run
    [line] = run.err.strip().splitlines()[-1:]
    assert line.startswith(f"keeper: error: anvil could not fork {url}: anvil exited on start: ")
    assert re.search(ENDS_502, line), line
    assert 1 < len(spawned) <= most
    assert proxy.hits == len(spawned)
    assert len(_retries(run)) == len(spawned) - 1
    assert took < float(timeout_s) + 10
    assert _gone(spawned) == []


def test_a_fork_url_refusing_the_key_is_tried_once(
    parent: Parent, spawned: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 (a wrong API key) says the same the next time: one anvil, one line."""
    with _Refusing(parent.node.url, _first(None), status=401) as proxy:
        url = proxy.url
        run = _run(capsys, _rehearse(parent, url))
    assert run.code == 1
    assert not _outcome_problems(run, json_out=False), run
    [line] = run.err.strip().splitlines()[-1:]
    assert line.startswith(f"keeper: error: anvil could not fork {url}: anvil exited on start: ")
    assert "HTTP error 401 with body: " in line, line
    assert proxy.hits == 1
    assert len(spawned) == 1
    assert _retries(run) == []
    assert _gone(spawned) == []


#: What the one line of a fork block read that was never answered ends with: anvil's own
#: timeout of a fork request (``--timeout``, the keeper's ``KEEPER_RPC_TIMEOUT_S``).
ENDS_TIMEOUT = r": failed to get fork block( number)?: operation timed out$"


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork request that takes a second is given up (a whole rehearsal's reads take less)."""
    monkeypatch.setenv("KEEPER_RPC_TIMEOUT_S", "1")
    monkeypatch.setenv("KEEPER_STARTUP_TIMEOUT_S", "20")


def test_a_fork_block_read_never_answered_once_then_answering_is_rehearsed(
    parent: Parent,
    spawned: list[int],
    short_timeouts: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A provider that took the fork block read and never answered it: anvil waited its own 45
    s for it, and the rehearsal gave up first, after 15 s, with "anvil did not start listening",
    not tried again. Now anvil gives the read up after ``KEEPER_RPC_TIMEOUT_S`` and exits, a
    timeout, started again as after a 502: the second anvil forks."""
    started = time.monotonic()
    with _Hanging(parent.node.url, _first(1)) as proxy:
        url = proxy.url
        run = _run(capsys, _rehearse(parent, f"{url}/v2/{API_KEY}", "--json"))
    assert run.code == 0, run.err
    assert API_KEY not in run.out + run.err
    assert json.loads(run.out)["rebalanced"]
    assert proxy.hits == 1
    assert len(spawned) == 2
    [retry] = _retries(run)
    assert f"could not fork {url} (failed to get fork block" in retry["msg"]
    assert "operation timed out), attempt 1 of 3" in retry["msg"]
    assert time.monotonic() - started < 15  # the one start that waited was under 15 s before
    assert _gone(spawned) == []


def test_a_fork_url_never_answering_a_fork_block_read_ends_in_one_line_after_bounded_tries(
    parent: Parent,
    spawned: list[int],
    short_timeouts: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every start times out: ``KEEPER_RPC_RETRIES`` starts, a second each, then one line naming
    the timeout; every anvil started is gone."""
    started = time.monotonic()
    with _Hanging(parent.node.url, _first(None)) as proxy:
        url = proxy.url
        run = _run(capsys, _rehearse(parent, url))
    took = time.monotonic() - started
    assert run.code == 1
    assert not _outcome_problems(run, json_out=False), run
    [line] = run.err.strip().splitlines()[-1:]
    assert line.startswith(f"keeper: error: anvil could not fork {url}: anvil exited on start: ")
    assert re.search(ENDS_TIMEOUT, line), line
    assert len(spawned) == 3
    assert proxy.hits == 3
    assert len(_retries(run)) == 2
    assert took < 15
    assert _gone(spawned) == []


class _Hanging(_FailingOn):
    """:class:`_FailingOn` taking each request ``hit`` picks and never answering it: a provider
    that accepts the connection and then says nothing (held until the proxy stops)."""

    def __init__(self, upstream: str, hit: Callable[[str], bool]) -> None:
        super().__init__(upstream, hit, kind="http_502")
        self.released = threading.Event()

    def start(self, port: int = 0) -> _Hanging:
        super().start(port)
        assert self._server is not None
        # A fork's anvil asks for its dev accounts some 30 requests at once: past the default
        # backlog of 5 a connection waits for its SYN to be sent again, a second later, and
        # timed out under the tests' 1-s fork request timeout as if the proxy hung it.
        self._server.socket.listen(128)
        return self

    def _draw(self, n_calls: int, what: str = "?") -> tuple[str | None, list[Any]]:
        kind, errors = super()._draw(n_calls, what)
        if kind is not None:
            self.released.wait()
        return kind, errors

    def stop(self) -> None:
        self.released.set()
        super().stop()


#: A provider's refusal of a wrong API key (Alchemy's words).
_UNAUTHENTICATED = (
    b'{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Must be authenticated!"}}'
)


class _Refusing(_FailingOn):
    """:class:`_FailingOn` answering HTTP ``status`` (a 4xx the proxy has no kind for) with a
    provider's JSON-RPC refusal, where it would answer its 500."""

    def __init__(self, upstream: str, hit: Callable[[str], bool], status: int) -> None:
        super().__init__(upstream, hit, kind="http_500")
        self.status = status

    def start(self, port: int = 0) -> _Refusing:
        super().start(port)
        assert self._server is not None
        handler: Any = self._server.RequestHandlerClass
        status = self.status

        class Refusing(handler):  # type: ignore[misc,valid-type]
            def _reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                if code == 500:
                    code, body = status, _UNAUTHENTICATED
                super()._reply(code, body, headers)

        self._server.RequestHandlerClass = Refusing  # before any request: none is sent yet
        return self
