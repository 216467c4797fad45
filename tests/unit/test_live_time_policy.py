"""A live ``time`` policy counts seconds (``interval``): ``every`` counts the backtester's grid
steps, which the live keeper does not have. It was accepted and ignored (the vault's
``maxInterval`` was used instead); it is refused before any network access."""

from __future__ import annotations

import pytest

from keeper.app.wiring import check_offline
from keeper.errors import ConfigError
from keeper.settings import Settings

LENS = "0x" + "22" * 20


def _settings(policy: str) -> Settings:
    return Settings(_env_file=None, lens=LENS, policy=policy)  # type: ignore[call-arg]


@pytest.mark.parametrize("spec", ["time:every=4", "time:every=4,interval=3600"])
def test_a_live_time_policy_with_every_is_refused(spec: str) -> None:
    with pytest.raises(
        ConfigError,
        match=r"time:every counts the backtester's grid steps.*"
        r"give time:interval=SECONDS",
    ):
        check_offline(_settings(spec))


def test_a_live_time_policy_with_interval_is_accepted() -> None:
    check_offline(_settings("time:interval=3600"))
