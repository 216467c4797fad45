"""Webhook alerts (requests). Sending an alert never raises into the keeper's loop."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import requests

logger = logging.getLogger(__name__)

#: Alert kinds the keeper sends (the payload's ``kind``, what a webhook consumer routes on).
KINDS = (
    "halt",
    "stale_oracle",
    "oracle",
    "lens_read",
    "failed_batch",
    "low_balance",
    "reorg",
    "stuck_tx",
    "blocked",
    "unserved",
    "settlement",
    "redemption_queue",
    "head_stalled",
)


class RedirectedError(requests.RequestException):
    """The webhook answered a redirect that turns the POST into a bodiless GET."""

    def __init__(self, status: int) -> None:
        super().__init__(
            f"HTTP {status}, a redirect, which would drop the alert's body: set "
            "KEEPER_ALERT_WEBHOOK_URL to the URL it redirects to"
        )


class Alerter:
    """POSTs ``{"kind", "message", ...}`` JSON to a webhook; repeats of one key are throttled.

    The POST runs in the keeper's cycle, so a webhook that fails (a timeout costs ``timeout_s``)
    is left alone for a back-off (60 s, doubling to 15 min while it keeps failing). An alert
    raised in that time, and one whose POST failed, is logged and *held* (the latest of each
    ``(kind, key)``, at most :attr:`HELD_MAX`, the oldest dropped first with a warning); held
    alerts are not throttled. :meth:`flush`, which the loop calls once a cycle and :meth:`alert`
    before a new POST, sends them in the order they were raised once the back-off is over, each
    with ``held_s`` (seconds since it was raised), at most :attr:`FLUSH_MAX` a call, stopping at
    the first failure. A ``halt`` is always tried, even in a back-off: it is the keeper's last
    word. At exit (:meth:`flush_now`) what is held, a halt whose POST failed included, is tried
    once more, the back-off notwithstanding; what still fails is named in the exit's log line.

    A keeper runs for months and keys alerts by transaction hashes and nonces too, so the
    throttle table drops keys whose interval has passed once it grows past 256 (then past twice
    what it kept), and :attr:`sent` keeps only the last :attr:`SENT_KEPT` to
    ``2 * SENT_KEPT`` alerts.

    Args:
        url: The webhook URL, or ``None`` to only log alerts.
        timeout_s: Per-POST timeout.
        min_interval_s: The same ``(kind, key)`` is sent at most once per interval.
        session: A ``requests.Session`` (tests pass a fake).
        clock: Injected for tests.
    """

    #: Alerts :attr:`sent` keeps at least (and at most twice as many).
    SENT_KEPT = 1_000
    #: Size of the throttle table at which keys past their interval are first dropped.
    PRUNE_AT = 256
    #: Seconds a failing webhook is left alone after its first failure, and at most.
    BACKOFF_S = (60.0, 900.0)
    #: Alerts held while the webhook fails, at most (then the oldest are dropped).
    HELD_MAX = 100
    #: Held alerts one :meth:`flush` sends at most, so a backlog costs a cycle a bounded time.
    FLUSH_MAX = 20

    def __init__(
        self,
        url: str | None,
        *,
        timeout_s: float = 5.0,
        min_interval_s: float = 300.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self._session = session or requests.Session()
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._prune_at = self.PRUNE_AT
        self._failures = 0  # POSTs failed in a row
        self._resume_at = 0.0  # no POST before this time (a failing webhook's back-off)
        #: The alerts raised and not throttled (sent, held or only logged), each once, oldest
        #: first (the last ones: see the class docstring).
        self.sent: list[dict[str, Any]] = []
        #: Alerts waiting for the webhook: ``(kind, key)`` -> (payload, when raised), in order.
        self._held: OrderedDict[tuple[str, str], tuple[dict[str, Any], float]] = OrderedDict()
        self._held_dropped = 0  # dropped from a full hold since the last flush
        #: A halt whose POST failed, tried once more at exit (:meth:`flush_now`).
        self._halt: tuple[tuple[str, str], dict[str, Any], float] | None = None

    def reset(self, kind: str, key: str = "") -> None:
        """Forget the throttle of ``(kind, key)``: its next alert is sent at once."""
        self._last.pop((kind, key), None)

    def alert(self, kind: str, message: str, *, key: str = "", **fields: Any) -> bool:
        """Log and POST an alert (held while the webhook fails). Returns whether it was POSTed.

        Never raises.
        """
        logger.warning("ALERT %s: %s", kind, message, extra={"fields": {"alert": kind, **fields}})
        return self._raise(kind, message, key, fields)

    #: Keys one :meth:`alert_each` payload names at most.
    EACH_KEYS = 20

    def alert_each(self, kind: str, messages: Mapping[str, str]) -> bool:
        """Alerts of one ``kind`` for many keys (``{key: message}``): each logged, one POST.

        Each key is throttled as :meth:`alert` throttles it; the ones due go out as one alert
        (the first message, ``count``, and at most :attr:`EACH_KEYS` of the ``keys``), so one
        feed going stale under N vaults is one POST inside the cycle, not N. Never raises.
        """
        now = self._clock()
        due: dict[str, str] = {}
        for key, message in messages.items():
            logger.warning("ALERT %s: %s", kind, message, extra={"fields": {"alert": kind}})
            last = self._last.get((kind, key))
            if last is None or now - last >= self.min_interval_s:
                due[key] = message
        if len(due) <= 1:
            return any(self._raise(kind, message, key, {}) for key, message in due.items())
        for key in due:
            self._last[(kind, key)] = now
        first_key, first = next(iter(due.items()))
        keys = list(due)[: self.EACH_KEYS]
        text = f"{first} (and {len(due) - 1} more {kind} alerts)"
        fields = {"count": len(due), "keys": ",".join(keys)}
        return self._raise(kind, text, f"each:{first_key}", fields, throttle=False)

    def _raise(
        self, kind: str, message: str, key: str, fields: Mapping[str, Any], *, throttle: bool = True
    ) -> bool:
        now = self._clock()
        last = self._last.get((kind, key))
        if throttle and last is not None and now - last < self.min_interval_s:
            return False
        payload = {"kind": kind, "message": message, **{k: str(v) for k, v in fields.items()}}
        self.sent.append(payload)
        if len(self.sent) > 2 * self.SENT_KEPT:
            del self.sent[: -self.SENT_KEPT]
        if self._url and kind != "halt":
            self._held.pop((kind, key), None)  # superseded by this one
            self.flush()  # what was raised before goes first
            if self._clock() < self._resume_at:
                self._hold((kind, key), payload, now)  # the webhook is failing
                return False
        return self._send((kind, key), payload, now)

    @property
    def held(self) -> list[str]:
        """The kinds of the alerts held for the webhook, oldest first; an undelivered halt last."""
        return [kind for kind, _ in self._held] + (["halt"] if self._halt else [])

    def flush(self) -> int:
        """Send the held alerts once the webhook's back-off is over. Returns how many; never raises.

        Oldest first, at most :attr:`FLUSH_MAX`, stopping at the first failure (which starts
        the next back-off and keeps the rest, in order).
        """
        if not self._held or self._clock() < self._resume_at:
            return 0
        if self._held_dropped:
            logger.warning(
                "%d alerts were dropped while the alert webhook failed (at most %d are held)",
                self._held_dropped,
                self.HELD_MAX,
            )
            self._held_dropped = 0
        sent = 0
        while self._held and sent < self.FLUSH_MAX:
            now = self._clock()
            if now < self._resume_at:
                break
            key, (payload, raised) = self._held.popitem(last=False)
            if not self._send(key, {**payload, "held_s": str(int(now - raised))}, raised):
                self._held.move_to_end(key, last=False)  # re-held by _send: first again
                break
            sent += 1
        return sent

    def flush_now(self) -> int:
        """At exit: send the held alerts once more, the back-off notwithstanding; never raises.

        The process ends: a held alert (a halt whose POST failed, alerts held since a webhook
        failure) would otherwise be dropped with a log line that blamed the webhook, though it
        may be back. Stops at the first failure, as :meth:`flush`.
        """
        self._resume_at = min(self._resume_at, self._clock())
        sent = self.flush()
        if self._halt is not None and not self._held and self._clock() >= self._resume_at:
            key, payload, raised = self._halt
            self._halt = None
            sent += self._send(key, payload, raised)
        return sent

    def _hold(self, key: tuple[str, str], payload: dict[str, Any], raised: float) -> None:
        self._held.pop(key, None)
        self._held[key] = (payload, raised)
        while len(self._held) > self.HELD_MAX:
            self._held.popitem(last=False)
            self._held_dropped += 1

    def _send(self, key: tuple[str, str], payload: dict[str, Any], raised: float) -> bool:
        """Record and POST one alert; a failed POST starts a back-off and holds it."""
        now = self._clock()
        self._last[key] = now
        if len(self._last) > self._prune_at:
            self._last = {k: t for k, t in self._last.items() if now - t < self.min_interval_s}
            self._prune_at = max(self.PRUNE_AT, 2 * len(self._last))
        if not self._url:
            return False
        try:
            resp = self._session.post(self._url, json=payload, timeout=self.timeout_s)
            resp.raise_for_status()
            # requests follows a 301, 302 or 303 with a GET and no body: the alert is lost, and
            # the endpoint's 200 to that GET is no delivery (a 307 or 308 keeps the POST).
            for hop in getattr(resp, "history", ()):
                if hop.status_code in (301, 302, 303):
                    raise RedirectedError(hop.status_code)
        except requests.RequestException as exc:
            first, most = self.BACKOFF_S
            wait = min(first * 2**self._failures, most)
            self._failures += 1
            self._resume_at = now + wait
            self._last.pop(key, None)  # not delivered: held, not throttled
            if payload["kind"] == "halt":
                # Not among the held (the keeper exits): the exit tries it once more
                # (:meth:`flush_now`), and its last line names it if that fails too.
                self._halt = (key, payload, raised)
            else:
                self._hold(key, {k: v for k, v in payload.items() if k != "held_s"}, raised)
            # The URL may carry a token: name the error type only (a redirect, its status).
            logger.warning(
                "alert webhook failed: %s; alerts are held for the next %.0f s",
                exc if isinstance(exc, RedirectedError) else type(exc).__name__,
                wait,
            )
            return False
        self._failures = 0
        return True
