"""Operate: JSON logs with secret masking, webhook alerts that never raise, metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import requests

import keeper
from keeper.ops.alerts import KINDS, Alerter
from keeper.ops.logs import JsonFormatter, SecretFilter, log_decision, setup_logging
from keeper.ops.metrics import Metrics

KEY = "0x" + "5e" * 32


def test_json_lines_carry_fields() -> None:
    stream = io.StringIO()
    setup_logging(json_lines=True, stream=stream)
    log_decision(logging.getLogger("keeper.decisions"), "decision", vault="0xv", delta=-5, act=True)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["msg"] == "decision"
    assert line["vault"] == "0xv"
    assert line["delta"] == -5
    assert line["level"] == "info"
    assert line["logger"] == "keeper.decisions"


def test_text_lines_carry_the_same_fields_as_json_lines() -> None:
    fields = {
        "block": 12,
        "vault": "0xv",
        "delta": -5,
        "reason": "contract trigger not ready: OptionVaultOracleGap(gap=500)",
        "outcome": "skip",
    }
    text, js = io.StringIO(), io.StringIO()
    setup_logging(json_lines=False, stream=text)
    log_decision(logging.getLogger("keeper.decisions"), "decision", **fields)
    setup_logging(json_lines=True, stream=js)
    log_decision(logging.getLogger("keeper.decisions"), "decision", **fields)
    line = text.getvalue().strip().splitlines()[-1]
    assert "INFO keeper.decisions: decision block=12 vault=0xv delta=-5 " in line
    assert 'reason="contract trigger not ready: OptionVaultOracleGap(gap=500)"' in line
    assert line.endswith(" outcome=skip")
    parsed = json.loads(js.getvalue().strip().splitlines()[-1])
    assert {k: parsed[k] for k in fields} == fields


def test_secret_filter_masks_key_with_and_without_prefix() -> None:
    stream = io.StringIO()
    setup_logging(json_lines=True, stream=stream, secrets=[KEY])
    log = logging.getLogger("keeper.test")
    log.info("key is %s", KEY)
    log.warning("bare %s", KEY[2:])
    log.info("in fields", extra={"fields": {"oops": KEY}})
    out = stream.getvalue()
    assert KEY[2:] not in out
    assert out.count("***") == 3


def test_formatter_includes_exception() -> None:
    rec = logging.LogRecord("keeper", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        rec.exc_info = sys.exc_info()
    assert "ValueError: inner" in json.loads(JsonFormatter().format(rec))["exc"]


class FakeSession:
    """A webhook: ``posts`` it received; ``tried`` every POST, ``fail`` ones raising that."""

    def __init__(self, fail: bool | requests.RequestException = False) -> None:
        self.fail = fail
        self.posts: list[dict[str, Any]] = []
        self.tried: list[dict[str, Any]] = []

    def post(self, url: str, json: dict[str, Any], timeout: float) -> Any:
        self.tried.append(json)
        if self.fail:
            raise self.fail if self.fail is not True else requests.ConnectionError("refused")
        self.posts.append(json)

        class R:
            def raise_for_status(self) -> None:
                return None

        return R()


def failing_webhook() -> tuple[list[float], FakeSession, Alerter]:
    """An alerter on a webhook that fails (``s.fail``), and its clock (``now[0]``)."""
    now = [0.0]
    s = FakeSession(fail=True)
    a = Alerter("http://hook.invalid/x", session=s, clock=lambda: now[0])  # type: ignore[arg-type]
    return now, s, a


def test_alert_posts_json_and_throttles() -> None:
    now = [0.0]
    s = FakeSession()
    a = Alerter("http://hook.invalid/x", session=s, min_interval_s=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert a.alert("stale_oracle", "vault 0x1 stale", key="0x1", age=4000)
    assert not a.alert("stale_oracle", "vault 0x1 stale", key="0x1")
    assert a.alert("stale_oracle", "vault 0x2 stale", key="0x2")
    now[0] = 61.0
    assert a.alert("stale_oracle", "vault 0x1 stale", key="0x1")
    assert [p["kind"] for p in s.posts] == ["stale_oracle"] * 3
    assert s.posts[0]["age"] == "4000"


def test_a_long_running_alerter_keeps_bounded_memory_and_still_throttles() -> None:
    # Months of alerts keyed by transaction hashes and nonces (failed_batch, stuck_tx, cancel-N)
    # must not grow the throttle table or the record of sent alerts without bound.
    now = [0.0]
    a = Alerter(None, min_interval_s=60, clock=lambda: now[0])
    for i in range(20_000):
        now[0] += 1.0
        assert not a.alert("failed_batch", f"batch {i} reverted", key=f"0x{i:064x}")
    # expired keys are dropped once the table passes 256: what stays is what still throttles
    assert len(a._last) <= 256
    assert len(a.sent) <= 2 * Alerter.SENT_KEPT
    assert a.sent[-1]["message"] == "batch 19999 reverted"
    # a key inside its interval is still throttled after the pruning, one past it is not
    a.alert("stale_oracle", "vault 0x1 stale", key="0x1")
    for _ in range(500):
        now[0] += 0.1
        a.alert("failed_batch", "again", key=f"0x{int(now[0] * 10):064x}")
    assert not a.alert("stale_oracle", "vault 0x1 stale", key="0x1")
    assert a.sent[-1]["message"] == "again"
    now[0] += 61
    a.alert("stale_oracle", "vault 0x1 stale", key="0x1")
    assert a.sent[-1]["message"] == "vault 0x1 stale"


def test_alert_never_raises_and_hides_url(caplog: Any) -> None:
    a = Alerter("http://hook.invalid/SECRET-TOKEN", session=FakeSession(fail=True))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        assert a.alert("halt", "breaker tripped") is False
    assert "alert webhook failed: ConnectionError" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text


def test_alert_without_url_only_logs() -> None:
    a = Alerter(None)
    assert a.alert("low_balance", "low") is False
    assert a.sent[-1]["kind"] == "low_balance"


def test_metrics_registry_is_private() -> None:
    m1, m2 = Metrics(), Metrics()
    m1.cycles.labels("ok").inc()
    m1.rebalances.labels("mined").inc(2)
    m1.vault_delta.labels("0xv").set(-1.5)
    assert m1.value("keeper_cycles_total", {"result": "ok"}) == 1
    assert m1.value("keeper_rebalances_total", {"state": "mined"}) == 2
    assert m1.value("keeper_vault_delta", {"vault": "0xv"}) == -1.5
    assert m2.value("keeper_cycles_total", {"result": "ok"}) == 0


def test_secret_filter_ignores_short_strings() -> None:
    f = SecretFilter(["abc", ""])
    rec = logging.LogRecord("k", logging.INFO, __file__, 1, "abc", None, None)
    assert f.filter(rec)
    assert rec.getMessage() == "abc"


def test_metrics_http_endpoint() -> None:
    from keeper.chain.anvil import free_port

    m = Metrics()
    m.cycles.labels("ok").inc(3)
    port = free_port()
    m.serve(port)
    body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'keeper_cycles_total{result="ok"} 3.0' in body
    assert "keeper_rpc_requests_per_cycle" in body


def test_other_libraries_records_are_json_lines_too() -> None:
    # urllib3 and web3 log on their own loggers: README promises JSON lines, so every record
    # that reaches the handler is formatted by it, and secrets are masked in them as well.
    stream = io.StringIO()
    setup_logging(json_lines=True, stream=stream, secrets=[KEY])
    logging.getLogger("urllib3.connectionpool").warning("retrying %s", KEY)
    logging.getLogger("keeper.test").warning("ours")
    lines = [json.loads(line) for line in stream.getvalue().strip().splitlines()]
    assert [(r["logger"], r["msg"]) for r in lines] == [
        ("urllib3.connectionpool", "retrying ***"),
        ("keeper.test", "ours"),
    ]


def test_setting_up_twice_leaves_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging(json_lines=True, stream=first)
    setup_logging(json_lines=True, stream=second)
    logging.getLogger("keeper.test").warning("once")
    logging.getLogger("web3.providers").warning("once too")
    assert first.getvalue() == ""
    assert len(second.getvalue().strip().splitlines()) == 2


def test_every_alert_kind_the_keeper_raises_is_listed_in_kinds() -> None:
    # KINDS is what a webhook consumer can route on; it had lost "settlement" and
    # "redemption_queue". The kinds are string literals at each alert call (or a conditional
    # `kind = "a" if ... else "b"` just before one), so the source says which are raised.
    source = "\n".join(p.read_text() for p in Path(keeper.__file__).parent.rglob("*.py"))
    literal = set(re.findall(r"alert\(\s*\"([a-z_]+)\"", source))
    conditional = re.findall(r"kind = \"([a-z_]+)\" if .* else \"([a-z_]+)\"", source)
    raised = literal | {k for pair in conditional for k in pair}
    assert {"halt", "settlement", "redemption_queue", "stale_oracle", "lens_read"} <= raised
    assert raised <= set(KINDS), sorted(raised - set(KINDS))


def test_a_busy_metrics_port_is_one_config_line_before_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    from types import SimpleNamespace

    import keeper.app.loop as loop
    from keeper.errors import ConfigError
    from keeper.settings import Settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        monkeypatch.setattr(
            loop, "connect_keeper", lambda *a, **k: SimpleNamespace(metrics=Metrics(), sender=None)
        )
        ran: list[bool] = []
        monkeypatch.setattr(loop, "Runner", lambda *a, **k: ran.append(True))
        settings = Settings(_env_file=None, metrics_port=port)
        with pytest.raises(ConfigError) as info:
            loop.keep(settings)
        assert str(info.value) == (
            f"KEEPER_METRICS_PORT {port}: cannot listen on 127.0.0.1:{port}: Address already in use"
        )
    assert ran == []


def test_a_dead_webhook_costs_the_cycle_one_timeout_not_one_per_alert() -> None:
    # 100 vaults go stale at once: each alert POSTed in turn would block the cycle 100 x 5 s.
    now = [0.0]
    s = FakeSession(fail=requests.Timeout("read timed out"))  # each try costs timeout_s
    a = Alerter("http://hook.invalid/x", session=s, clock=lambda: now[0])  # type: ignore[arg-type]
    for i in range(100):
        a.alert("stale_oracle", f"vault {i} stale", key=f"v{i}")
    assert len(s.tried) == 1
    # a halt is always tried: it is the last word before the keeper exits
    assert not a.alert("halt", "breaker tripped")
    assert len(s.tried) == 2
    # after the back-off (60 s, doubled by the halt's failure) the webhook is tried again: the
    # held alerts go first (at most FLUSH_MAX a call), then one that recurs
    now[0] += 119
    assert not a.alert("stale_oracle", "vault 7 stale", key="v7")
    assert len(s.tried) == 2
    now[0] += 1
    s.fail = False
    assert a.alert("stale_oracle", "vault 7 stale", key="v7")
    assert s.posts == s.tried[2:]
    assert [p["message"] for p in s.posts] == [
        *(f"vault {i} stale" for i in range(Alerter.FLUSH_MAX + 1) if i != 7),
        "vault 7 stale",
    ]


def test_an_alert_raised_while_the_webhook_fails_is_sent_once_it_is_back() -> None:
    # A one-off alert (a reorg, a stuck nonce) raised while the webhook was down was only logged:
    # it never recurs, so it never reached the webhook. The alert whose POST failed was lost too.
    now, s, a = failing_webhook()
    assert not a.alert("reorg", "block 7 reorganized", key="7")  # its POST fails
    now[0] = 10.0
    assert not a.alert("stuck_tx", "nonce 4 stuck", key="4")  # in the back-off: not tried
    assert len(s.tried) == 1
    assert a.flush() == 0  # still backing off: nothing tried
    assert len(s.tried) == 1
    now[0] = 61.0
    s.fail = False
    assert a.flush() == 2
    assert [(p["kind"], p["message"], p["held_s"]) for p in s.posts] == [
        ("reorg", "block 7 reorganized", "61"),
        ("stuck_tx", "nonce 4 stuck", "51"),
    ]
    assert a.flush() == 0  # sent once
    # delivered alerts throttle their key as any sent alert does
    assert not a.alert("stuck_tx", "nonce 4 stuck", key="4")
    assert len(s.posts) == 2


def test_held_alerts_keep_the_latest_of_a_key_and_at_most_a_bounded_number(caplog: Any) -> None:
    now, s, a = failing_webhook()
    a.alert("low_balance", "0.9 ETH left")  # fails: the back-off starts
    a.alert("low_balance", "0.5 ETH left")  # the same key: replaces the held one
    for i in range(Alerter.HELD_MAX + 10):
        a.alert("stale_oracle", f"vault {i} stale", key=f"v{i}")
    now[0] = 60.0
    s.fail = False
    with caplog.at_level(logging.WARNING):
        # at most FLUSH_MAX a call: a backlog costs each cycle a bounded time
        assert [a.flush() for _ in range(6)] == [Alerter.FLUSH_MAX] * 5 + [0]
    assert len(s.posts) == Alerter.HELD_MAX
    messages = [p["message"] for p in s.posts]
    assert "0.9 ETH left" not in messages
    assert messages[-1] == f"vault {Alerter.HELD_MAX + 9} stale"
    assert "11 alerts were dropped" in caplog.text


def test_a_flush_that_fails_keeps_the_rest_in_order_and_backs_off_again() -> None:
    now, s, a = failing_webhook()
    a.alert("reorg", "first", key="1")
    a.alert("reorg", "second", key="2")
    now[0] = 60.0
    assert a.flush() == 0  # the webhook still fails: one try, then a longer back-off
    assert [p["message"] for p in s.tried] == ["first", "first"]
    now[0] = 60.0 + 119
    assert a.flush() == 0
    assert len(s.tried) == 2
    now[0] = 60.0 + 120
    s.fail = False
    assert a.flush() == 2
    assert [p["message"] for p in s.posts] == ["first", "second"]


def test_a_new_alert_after_the_back_off_goes_after_the_held_ones() -> None:
    now, s, a = failing_webhook()
    a.alert("reorg", "held", key="1")
    a.alert("stuck_tx", "superseded", key="4")
    now[0] = 60.0
    s.fail = False
    assert a.alert("stuck_tx", "latest", key="4")
    assert [p["message"] for p in s.posts] == ["held", "latest"]


def test_an_alert_retried_from_the_hold_is_recorded_once() -> None:
    now, s, a = failing_webhook()
    a.alert("reorg", "block 7 reorganized", key="7")
    for t in (60.0, 180.0, 420.0):  # three more failed tries, each after its back-off
        now[0] = t
        a.flush()
    assert len(s.tried) == 4
    assert [p["message"] for p in a.sent] == ["block 7 reorganized"]
