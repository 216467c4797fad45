"""A burst of connections waits in the listen queue, not for a dropped SYN's retry.

``socketserver``'s default listen backlog is 5. When more connections arrive at once than the
serving thread has accepted (a browser opening its connections, a keeper's parallel reads
through the fault proxy, any burst on a loaded machine), Linux drops the SYNs beyond the queue
and each such client connects only on its retransmit, a second later. The fault proxy counted
that second as the keeper's latency, the web app's page waited it, and a test's RPC stub
(``tests.local_http``) delayed anvil's fork. Each now listens with a backlog of 128.

The servers are built but not served, so nothing is accepted: what connects is what the
kernel's queue holds.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.chaos.proxy import _Server
from keeper.app.web import WebServer, build_config
from tests.local_http import LocalServer

#: More than socketserver's default backlog (5) holds, well under ours.
BURST = 32


@contextmanager
def _burst(port: int) -> Iterator[int]:
    """Connect BURST clients to ``port`` at once; yield how many connected within 0.5 s each."""
    with ExitStack() as stack:
        connected = 0
        for _ in range(BURST):
            client = stack.enter_context(socket.socket())
            client.settimeout(0.5)  # a dropped SYN is retransmitted after 1 s
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                continue
            connected += 1
        yield connected


def test_the_fault_proxy_queues_a_burst_of_connections() -> None:
    server = _Server(("127.0.0.1", 0), _NoHandler)
    try:
        with _burst(int(server.server_address[1])) as connected:
            assert connected == BURST
    finally:
        server.server_close()


def test_the_tests_local_server_queues_a_burst_of_connections() -> None:
    server = LocalServer(("127.0.0.1", 0), _NoHandler)  # type: ignore[arg-type]
    try:
        with _burst(int(server.server_address[1])) as connected:
            assert connected == BURST
    finally:
        server.server_close()


def test_the_web_server_queues_a_burst_of_connections(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html></html>")
    cfg = build_config({"vaults": ["0x" + "ab" * 20]}, rpc_url="http://127.0.0.1:8545", chain_id=1)
    server = WebServer(cfg, dist=tmp_path, port=0)
    try:
        with _burst(server.port) as connected:
            assert connected == BURST
    finally:
        server.stop()


class _NoHandler:  # never called: the server is not served
    pass
