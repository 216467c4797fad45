"""The start-up check of each vault's BATCHER_ROLE grant to the batcher is advisory."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from keeper.app import wiring
from keeper.chain.retry import RpcUnavailableError
from keeper.ops.alerts import Alerter

VAULT = "0x" + "a1" * 20
BATCHER = "0x" + "ba" * 20


def test_a_grant_check_that_cannot_read_is_a_warning_not_the_end_of_the_start_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """helper-109: the check ran as a start-up step, so a node failing it past the start-up
    deadline stopped the keeper over an advisory read. It is now a warning, and no alert."""

    def down(*_: Any, **__: Any) -> Any:
        raise RpcUnavailableError("no endpoint answered eth_call")

    monkeypatch.setattr(wiring, "vaults_without_grant", down)
    alerter = Alerter(None)
    settings = SimpleNamespace(rpc_retries=3)
    wiring._alert_missing_grants(None, settings, BATCHER, [VAULT], alerter)  # type: ignore[arg-type]
    assert alerter.sent == []
    [line] = [r.getMessage() for r in caplog.records if "BATCHER_ROLE grants" in r.getMessage()]
    assert "RpcUnavailableError: no endpoint answered eth_call" in line


def test_vaults_missing_the_grant_are_one_alert_naming_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "0x" + "b2" * 20
    monkeypatch.setattr(wiring, "vaults_without_grant", lambda *a, **kw: [VAULT, other])
    alerter = Alerter(None)
    wiring._alert_missing_grants(
        None, SimpleNamespace(rpc_retries=3), BATCHER, [VAULT, other], alerter
    )  # type: ignore[arg-type]
    [alert] = alerter.sent
    assert alert["kind"] == "blocked"
    assert (alert["count"], alert["keys"]) == ("2", f"refused-{VAULT},refused-{other}")
