"""The keeper's own commands import nothing of the devnet, the backtester or the plots.

Each command module is imported in a fresh interpreter, so nothing a previous test imported
counts; then ``sys.modules`` must hold none of the forbidden packages (``eth`` is py-evm).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMMANDS = ("run", "check", "status", "vault", "rehearse")
FORBIDDEN = ("keeper.devnet", "keeper.backtest", "matplotlib", "eth_tester", "eth")

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
forbidden = tuple(json.loads(sys.argv[2]))
print(json.dumps(sorted(
    name for name in sys.modules
    if any(name == f or name.startswith(f + ".") for f in forbidden)
)))
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_command_imports_no_devnet_backtest_or_plots(command: str) -> None:
    module = f"keeper.commands.{command}"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{module} imports {loaded}"
