"""Observability: metrics, alerts and log masking (defects found by helper-98's audit)."""

from __future__ import annotations

import http.server
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from keeper.ops.alerts import Alerter
from keeper.ops.logs import setup_logging
from keeper.settings import Settings, secret_values
from tests.local_http import serving

TOKEN = "XoXbT0kenThatMustNotLeak1234"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[str]:
    with serving(_Ok) as url:
        yield url


@pytest.mark.parametrize("tail", [f"/services/T0/B0/{TOKEN}", f"/hook?token={TOKEN}"])
def test_the_webhook_token_never_reaches_a_log_line_at_vv(webhook: str, tail: str) -> None:
    """``keeper run -vv`` turns on urllib3's debug lines, which name the request target (path and
    query) without the scheme and host. ``secret_values`` masks an RPC URL's path and query for
    exactly that line (``url_secrets``), but the webhook URL only as a whole string, so each
    alert POSTed logs the webhook's token (a Slack/Discord/PagerDuty webhook path *is* its
    credential)."""
    url = webhook + tail
    settings = Settings(_env_file=None, alert_webhook_url=url)  # type: ignore[call-arg]
    stream = io.StringIO()
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)  # what -vv does (keeper.cli)
    try:
        setup_logging(
            json_lines=True, level=logging.DEBUG, secrets=secret_values(settings), stream=stream
        )
        assert Alerter(url).alert("reorg", "batch of intent 1 was reorged out", key="1")
    finally:
        root.setLevel(old)
        setup_logging(json_lines=True)
    out = stream.getvalue()
    assert "POST" in out, out  # urllib3's request line was logged
    assert TOKEN not in out, f"the webhook token leaks into the logs:\n{out}"


# ------------------------------------------- failed cycles leave the cycle metrics untouched
def test_a_failed_cycle_still_counts_its_rpc_requests_and_its_latency() -> None:
    """``keeper_rpc_requests_total`` ("RPC round trips"), ``keeper_cycle_seconds`` (the README's
    "cycle latency") and ``keeper_rpc_requests_per_cycle`` are published only from a cycle's
    result (``CycleResult.of``): a cycle that fails part-way, e.g. on a flaky node after its
    retries (the very cycles that cost most requests and time), is missing from all three, so
    a provider being hammered shows as a *drop* in RPC traffic on the dashboard."""
    from keeper.app.loop import Runner
    from keeper.chain.retry import RpcUnavailableError
    from tests.unit.test_app_cycle import FakeLens, make_keeper, snap

    class FlakyLens(FakeLens):
        def read_lean(self, vaults: list[str], block: int | str = "latest") -> object:
            for _ in range(7):  # the lens call and its retries, all failing
                k.counter.record(["eth_call"])  # type: ignore[union-attr]
            raise RpcUnavailableError("node down after 7 tries")

    k = make_keeper([snap(0, 0)])
    k.lens = FlakyLens(k.lens.snaps)  # type: ignore[attr-defined]
    blocks = iter(range(1, 100))
    runner = Runner(
        k, poll_interval_s=0, block_number=lambda: next(blocks), max_cycles=1, max_backoff_s=0
    )
    runner.run()
    m = k.metrics
    assert m.value("keeper_cycles_total", {"result": "failed"}) == 1
    assert m.value("keeper_rpc_requests_total") == 7, "a failed cycle's requests are not counted"
    assert m.value("keeper_rpc_requests_per_cycle") == 7
    assert m.value("keeper_cycle_seconds_count") == 1, "a failed cycle is not in the latency"


# ------------------------------------- a need the simulation drops every block is never alerted
def test_a_vault_the_simulation_drops_every_block_is_alerted_as_unserved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A vault out of band that the off-chain trigger finds ready but whose simulated rebalance
    reverts every block (its swap reverts, an oracle gap the trigger misses) is a need the keeper
    cannot serve. README: ``unserved`` fires for "a need unserved for N blocks". But the loop
    counts a cycle as serving its need unless the result is ``waiting``: a batch the simulation
    emptied is "served", so no ``unserved`` alert ever fires (and ``blocked`` only covers vaults
    whose off-chain trigger is not ready). Worse, such a cycle ends an episode that failed
    cycles had started. Only ``keeper_trigger_disagreements_total`` creeps up."""
    from keeper.app.loop import Runner
    from tests.unit.test_app_cycle import (
        BATCHER,
        WAD,
        FakeSender,
        FixedL1,
        fake_simulation,
        make_keeper,
        snap,
        vault,
    )

    fake_simulation(monkeypatch, drop={vault(0)})
    k = make_keeper([snap(0, -WAD)], sender=FakeSender(), batcher=BATCHER, l1fee=FixedL1())
    blocks = iter(range(1, 100))
    runner = Runner(
        k,
        poll_interval_s=0,
        block_number=lambda: next(blocks),
        max_cycles=12,
        unserved_alert_blocks=5,
    )
    runner._reconciled = True  # the stand-in sender has no journal to reconcile
    runner.run()
    assert runner.failed_cycles == 0
    assert k.metrics.value("keeper_trigger_disagreements_total") == 12
    kinds = [a["kind"] for a in k.alerter.sent]
    assert "unserved" in kinds, f"12 blocks of a vault dropped every block, alerts: {kinds}"


# ---------------------------------------------- one stale feed: one webhook POST per vault
def test_one_stale_feed_under_many_vaults_is_not_one_webhook_post_per_vault() -> None:
    """The alerts are POSTed synchronously inside the cycle, keyed by vault: one feed going stale
    (or the L2 sequencer going down) under N vaults makes N POSTs in that cycle, and again every
    ``min_interval_s`` (5 min) while it lasts. At a 100 ms webhook round trip, 1,000 vaults
    hold the cycle (and the hedge of every vault on a healthy feed, which comes after
    ``observe``) for 100 s each time; 10,000 vaults for 17 min."""
    from keeper.app.cycle import run_cycle
    from tests.unit.test_app_cycle import make_keeper, snap
    from tests.unit.test_ops import FakeSession

    n = 200
    k = make_keeper([snap(i, 0, age=4000) for i in range(n)])
    session = FakeSession()
    k.alerter = Alerter("http://hook.invalid/x", session=session)  # type: ignore[arg-type]
    run_cycle(k)
    assert len(session.tried) <= 10, f"{len(session.tried)} webhook POSTs in one cycle"
    (post,) = session.posts
    assert post["kind"] == "stale_oracle"
    assert post["count"] == str(n)
    run_cycle(k)  # each vault is still throttled: nothing new within the interval
    assert len(session.tried) == 1


# ------------------------------ a vault that never granted the batcher its roles, said at once
def test_a_vault_refusing_the_batcher_is_alerted_at_once_naming_the_grant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A vault of another deployment (or one whose admin never granted this batcher its roles)
    was dropped by the simulation every block with an INFO line, and only ``unserved`` said so,
    after ``KEEPER_UNSERVED_ALERT_BLOCKS`` blocks, without naming the fix (helper-103)."""
    from keeper.app.cycle import run_cycle
    from keeper.execution.simulate import Simulation
    from tests.unit.test_app_cycle import (
        BATCHER,
        WAD,
        FakeSender,
        FixedL1,
        make_keeper,
        snap,
        vault,
    )

    refused = f"AccessControlUnauthorizedAccount(account={BATCHER}, neededRole=0x{'ab' * 32})"

    def sim(w3: Any, batcher: str, vaults: Any, *a: Any, **kw: Any) -> Simulation:
        return Simulation((), b"calldata", 300_000, (), dict.fromkeys(vaults, refused))

    monkeypatch.setattr("keeper.app.act.simulate_batch", sim)
    monkeypatch.setattr("keeper.app.act.simulate_direct", lambda *a, **kw: None)
    k = make_keeper([snap(0, -WAD)], sender=FakeSender(), batcher=BATCHER, l1fee=FixedL1())
    run_cycle(k, 1)
    alerts = [a for a in k.alerter.sent if a["kind"] == "blocked"]
    assert len(alerts) == 1, k.alerter.sent
    message = alerts[0]["message"]
    assert vault(0) in message
    assert "refuses the batcher" in message
    assert f"grant batcher {BATCHER} the vault's BATCHER_ROLE and KEEPER_ROLE" in message
    run_cycle(k, 2)  # the same refusal next block: throttled, not a second POST
    assert len([a for a in k.alerter.sent if a["kind"] == "blocked"]) == 1
