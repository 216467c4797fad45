"""Stopping a wait from a signal handler."""

from __future__ import annotations

import threading
import time


def set_from_handler(event: threading.Event) -> None:
    """Set ``event`` from a signal handler, from another thread.

    A Python signal handler runs in the main thread, between two of its bytecodes: when that
    thread is inside ``event.wait()``, it may hold the event's lock (taken on the way in and
    out), and an ``event.set()`` in the handler would wait for that lock for good. A thread of
    its own takes the lock once the main thread lets it go.
    """
    threading.Thread(target=event.set, name="signal-stop", daemon=True).start()


#: The longest a wait sleeps before the main thread runs again (:func:`wait_awake`).
WAKE_S = 0.25


def wait_awake(event: threading.Event, seconds: float) -> bool:
    """``event.wait(seconds)`` that wakes every :data:`WAKE_S` to let signal handlers run.

    The kernel may hand a process's signal to any of its threads; Python runs the handler in
    the main thread, and only when that thread next runs bytecode. A main thread asleep in one
    long ``wait`` would run it only when the wait ends. Returns whether ``event`` is set.
    """
    end = time.monotonic() + seconds
    while not event.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        event.wait(min(left, WAKE_S))
    return True
