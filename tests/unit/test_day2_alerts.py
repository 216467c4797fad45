"""Webhook alerts through a redirect: never counted as delivered when the alert was dropped.

``requests`` follows a 301, 302 or 303 answer to a POST with a GET, without the body: a webhook
URL that redirects (``http://`` to ``https://``, a moved endpoint) received a bare GET, answered
it 200, and the keeper took the alert for delivered. Every alert was lost and nothing said so.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keeper.ops.alerts import Alerter


class _Hook:
    def __init__(self, redirect: int) -> None:
        self.redirect = redirect
        self.received: list[tuple[str, str, bytes]] = []  # (method, path, body)


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[tuple[str, _Hook]]:
    """A webhook at ``/old`` that redirects to ``/new`` with the status the test names."""
    state = _Hook(int(request.param))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            state.received.append((self.command, self.path, body))
            if self.path == "/old":
                self.send_response(state.redirect)
                self.send_header("Location", "/new")
                self.send_header("Content-Length", "0")
            else:
                self.send_response(200)
                self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/old", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("hook", [301, 302, 303, 307, 308], indirect=True)
def test_an_alert_is_delivered_with_its_body_or_not_counted_as_delivered(
    hook: tuple[str, _Hook], caplog: pytest.LogCaptureFixture
) -> None:
    url, state = hook
    alerter = Alerter(url, timeout_s=5)
    with caplog.at_level(logging.WARNING):
        delivered = alerter.alert("low_balance", "keeper 0xabc holds 1 wei", key="0xabc")
    # What the webhook's endpoint (the redirect's target) received, as a POST with its body.
    bodies = [json.loads(b) for m, path, b in state.received if m == "POST" and path == "/new"]
    got = [b for b in bodies if b.get("kind") == "low_balance"]
    if delivered:
        assert got, state.received  # the receiver has the alert itself, not a bare GET
    else:
        assert alerter.held == ["low_balance"]  # kept, and tried again after the back-off
        assert f"HTTP {state.redirect}" in caplog.text
        assert "redirect" in caplog.text
