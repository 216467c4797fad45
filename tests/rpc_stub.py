"""A JSON-RPC node stub on a free loopback port, for tests of what talks to a node."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: ``answer(request)``: the response's fields (``{"result": ...}`` or ``{"error": ...}``), or
#: ``None`` for an HTTP 502 with no body (a gateway that failed). An ``"http_status"`` field is
#: not sent: it is the response's HTTP status (200 without it); a ``"raw_body"`` field is sent
#: alone, as plain text, instead of a JSON-RPC answer (a proxy's "404 page not found").
Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class RpcStub:
    """A running stub: where it listens, and every method it was asked, in order."""

    port: int
    methods: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def rpc_stub(answer: Answer) -> Iterator[RpcStub]:
    """Serve single JSON-RPC requests with ``answer`` until the block ends."""
    methods: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            methods.append(body.get("method", "?"))
            fields = answer(body)
            if fields is None:
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = int(fields.pop("http_status", 200))
            raw = fields.pop("raw_body", None)
            out = (
                str(raw).encode()
                if raw is not None
                else json.dumps({"jsonrpc": "2.0", "id": body.get("id"), **fields}).encode()
            )
            self.send_response(status)
            kind = "text/plain" if raw is not None else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield RpcStub(int(server.server_address[1]), methods)
    finally:
        server.shutdown()
        server.server_close()
