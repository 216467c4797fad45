"""Stopping a wait from a signal handler."""

from __future__ import annotations

import threading


def set_from_handler(event: threading.Event) -> None:
    """Set ``event`` from a signal handler, from another thread.

    A Python signal handler runs in the main thread, between two of its bytecodes: when that
    thread is inside ``event.wait()``, it may hold the event's lock (taken on the way in and
    out), and an ``event.set()`` in the handler would wait for that lock for good. A thread of
    its own takes the lock once the main thread lets it go.
    """
    threading.Thread(target=event.set, name="signal-stop", daemon=True).start()
