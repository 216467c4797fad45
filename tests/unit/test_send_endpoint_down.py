"""A send endpoint that cannot be reached: refused at start-up, and never an unknown outcome.

Found by a new user's walkthrough: with ``KEEPER_SEND_RPC_URL`` down, ``keeper run`` warned
"using the others" (there are none for sends), signed, and logged "outcome unknown" for every
broadcast through the cycle's deadline. A refused connection sends nothing.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests
from eth_account import Account

from keeper.chain.connection import _Transport, connect, never_sent
from keeper.errors import ChainError
from keeper.execution.journal import Journal, TxStatus
from tests.local_http import serving
from tests.unit.test_audit_findings import CALL, VAULT, FakeChain, make_sender


class _ChainIdHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {"jsonrpc": "2.0", "id": body["id"], "result": "0xa"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def read_url() -> Iterator[str]:
    """A JSON-RPC endpoint on a free local port that answers ``eth_chainId`` (chain 10)."""
    with serving(_ChainIdHandler) as url:
        yield url


def _closed_port() -> str:
    """A local URL nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connect_refuses_a_send_endpoint_it_cannot_reach(read_url: str) -> None:
    down = _closed_port()
    with pytest.raises(ChainError, match=r"send RPC \(KEEPER_SEND_RPC_URL\) at .*refused"):
        connect(read_url, send_url=down, attempts=2)
    # The reads alone, or with a send endpoint that answers, connect.
    assert connect(read_url, attempts=1).eth.chain_id == 10
    assert connect(read_url, send_url=read_url, attempts=1).eth.chain_id == 10


def test_a_refused_connection_is_never_sent_and_a_cut_one_may_be() -> None:
    payload = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[]}'
    with pytest.raises(requests.ConnectionError) as refused:
        _Transport(_closed_port(), 2.0, None).post(payload, 2.0)
    assert never_sent(refused.value)
    # A connection the endpoint accepted, read from, then cut: the request may have reached it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def accept_and_cut() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

        thread = threading.Thread(target=accept_and_cut, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(requests.ConnectionError) as cut:
            _Transport(url, 2.0, None).post(payload, 2.0)
        thread.join(5)
    assert not never_sent(cut.value)


def _refused() -> requests.ConnectionError:
    exc = requests.ConnectionError("connection refused (errno 111)")
    exc.never_connected = True  # type: ignore[attr-defined]  # as _Transport.post marks it
    return exc


def test_a_broadcast_that_never_connected_is_sent_again_and_never_replaced() -> None:
    """Not an unknown outcome: the row stays ``signed`` with no replacement clock (no node holds
    it, so a restart may refuse it for good and free its nonce), an ``unsent`` event is emitted
    for the alert, it is not replaced however many blocks pass, and once an endpoint takes it,
    it is sent and mined as it was signed."""
    chain = FakeChain()
    events: list[str] = []
    s = make_sender(
        chain,
        Journal(":memory:"),
        Account.create(),
        replace_after_blocks=2,
        on_event=lambda event, rec: events.append(event),
    )
    real_send = chain.send_raw_transaction
    down = {"on": True}

    def send(raw: Any) -> Any:
        if down["on"]:
            raise _refused()
        return real_send(raw)

    chain.send_raw_transaction = send  # type: ignore[method-assign]
    rec = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    row = s.journal.tx(rec.tx_hash)
    assert row.status is TxStatus.SIGNED
    assert row.sent_block is None
    assert "unsent" in events
    for _ in range(6):  # blocks pass: due thrice over, were it sent
        chain.mine()
        assert s.poll_nonce(rec.nonce) is None
    assert len(s.journal.versions(s.address, rec.nonce)) == 1  # never replaced
    assert s.journal.tx(rec.tx_hash).sent_block is None

    down["on"] = False
    s._quiet.clear()  # the next poll, not a quiet one
    assert s.poll_nonce(rec.nonce) is None
    assert s.journal.tx(rec.tx_hash).status is TxStatus.SENT
    chain.mine()
    outcome = s.wait(rec.nonce, timeout_s=1)
    assert outcome.status is TxStatus.MINED
    assert outcome.tx_hash == rec.tx_hash


def test_a_dry_run_does_not_need_the_send_endpoint(
    read_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keeper check`` and ``keeper run --dry-run`` never send: a send endpoint that is down
    does not stop them (it did, once connect required it; helper-116)."""
    import keeper.app.wiring as wiring
    from keeper.settings import Settings

    built: list[Any] = []
    monkeypatch.setattr(wiring, "build_keeper", lambda w3, s, **kw: built.append(kw) or "keeper")
    base: dict[str, Any] = {"rpc_url": read_url, "lens": "0x" + "22" * 20, "rpc_retries": 1}
    down = Settings(_env_file=None, **base, send_rpc_url=_closed_port())  # type: ignore[call-arg]
    assert wiring.connect_keeper(down, dry_run=True) == "keeper"
    keyed = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **base,
        send_rpc_url=_closed_port(),
        private_key="0x" + "4c" * 32,
    )
    with pytest.raises(ChainError, match="KEEPER_SEND_RPC_URL"):
        wiring.connect_keeper(keyed)  # a keeper that signs: refused, nothing sent
