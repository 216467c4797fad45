"""A local HTTP server on a free port, for tests that need a real socket to talk to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server whose listen queue holds a burst (anvil forking through a stub
    opens some 30 connections at once): socketserver's backlog of 5 had the kernel drop the rest
    of the SYNs, and each of those connected a second later, on its retransmit."""

    daemon_threads = True
    request_queue_size = 128


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 and a free port in a thread; yield the base URL."""
    server = LocalServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
