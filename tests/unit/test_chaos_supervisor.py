"""The chaos supervisor's accounting of keeper lives (no process is spawned here)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench.chaos.supervisor import Life, Supervisor
from keeper.errors import ConfigError
from keeper.ops.metrics import Metrics


def _supervisor(tmp_path: Path) -> Supervisor:
    return Supervisor({}, [], tmp_path, tmp_path, python="python")


def _busy_port_error() -> str:
    """The line ``keeper run`` prints when its ``KEEPER_METRICS_PORT`` is taken."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            Metrics().serve(port)
    return f"keeper: error: {caught.value}"


def test_a_life_that_lost_the_harness_chosen_metrics_port_is_not_a_keeper_exit(
    tmp_path: Path,
) -> None:
    # The supervisor picks each life's metrics port with free_port(); another process can bind
    # it before the keeper does. That exit is the harness's, not a keeper exit under faults.
    sup = _supervisor(tmp_path)
    clash = Life(0, 1, tmp_path / "k0.log", 0.0)
    sup._parse(clash, _busy_port_error())
    clash.exit_code = 2
    sup.lives.append(clash)
    assert not clash.crashed
    summary = sup.summary()
    assert summary["exits"] == 0
    assert summary["startup_exits"] == 0
    assert summary["port_clashes"] == 1


def test_any_other_start_up_exit_still_counts(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    life = Life(0, 1, tmp_path / "k0.log", 0.0)
    sup._parse(life, "keeper: error: RPC http://127.0.0.1:9/ unreachable")
    life.exit_code = 1
    sup.lives.append(life)
    assert life.crashed
    assert sup.summary()["exits"] == 1
    assert sup.summary()["startup_exits"] == 1
    assert sup.summary()["port_clashes"] == 0


def test_a_metrics_port_error_after_start_up_is_still_an_exit(tmp_path: Path) -> None:
    # Only a clash before the keeper was ready is the harness's port race.
    sup = _supervisor(tmp_path)
    life = Life(0, 1, tmp_path / "k0.log", 0.0)
    sup._parse(life, '{"msg": "keeping 4 vaults with policy band (signer 0x1)"}')
    sup._parse(life, _busy_port_error())
    life.exit_code = 2
    sup.lives.append(life)
    assert life.crashed
    assert sup.summary()["exits"] == 1


def test_a_life_that_exits_3_is_a_breaker_halt_even_without_its_line(tmp_path: Path) -> None:
    # The CLI exits 3 on a halt (keeper.cli.EXIT_HALTED); its stderr line can be cut off by a
    # dying pipe, so the exit code alone marks the halt.
    sup = _supervisor(tmp_path)
    halted, failed = Life(0, 1, tmp_path / "k0.log", 0.0), Life(1, 2, tmp_path / "k1.log", 0.0)
    sup._parse(halted, '{"msg": "keeping 4 vaults with policy band (signer 0x1)"}')
    sup._parse(failed, '{"msg": "keeping 4 vaults with policy band (signer 0x1)"}')
    sup._ended(halted, 3)
    sup._ended(failed, 1)
    sup.lives += [halted, failed]
    assert (halted.halted, failed.halted) == (True, False)
    assert sup.summary()["breaker_halts"] == 1
    assert sup.summary()["exits"] == 2
