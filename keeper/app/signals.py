"""A stop request that a signal handler can make without taking a lock."""

from __future__ import annotations

import threading
import time

#: The longest :meth:`StopRequest.wait` sleeps before it looks again.
WAKE_S = 0.25


class StopRequest:
    """A request to stop a loop: by the program (:meth:`set`) or by a signal handler.

    A Python signal handler runs in the main thread between two of its bytecodes. When that
    thread is inside ``Event.wait``, it may hold the event's lock (taken on the way in and out),
    so an ``Event.set`` in the handler could wait for that lock for good.
    :meth:`set_from_handler` takes no lock: it only writes a flag.

    The kernel may also hand a process's signal to any of its threads, and Python then runs the
    handler only when the main thread next runs bytecode: :meth:`wait` wakes every
    :data:`WAKE_S`, so a handler runs, and its request is seen, within that.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signalled = False

    def set(self) -> None:
        """Ask to stop (not from a signal handler: use :meth:`set_from_handler`)."""
        self._event.set()

    def set_from_handler(self) -> None:
        """Ask to stop from a signal handler: a flag, no lock."""
        self._signalled = True

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._signalled or self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a stop request; whether there is one."""
        end = time.monotonic() + seconds
        while not self.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, WAKE_S))
        return True
