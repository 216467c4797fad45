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


def _loaded(module: str, forbidden: list[str] | tuple[str, ...]) -> list[str]:
    """The modules of ``forbidden`` that importing ``module`` in a fresh interpreter loads."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, json.dumps(list(forbidden))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("command", COMMANDS)
def test_command_imports_no_devnet_backtest_or_plots(command: str) -> None:
    module = f"keeper.commands.{command}"
    loaded = _loaded(module, FORBIDDEN)
    assert loaded == [], f"{module} imports {loaded}"


@pytest.mark.parametrize("module", ["keeper.settings", "keeper.commands.status"])
def test_settings_and_status_load_no_key_library(module: str) -> None:
    """``eth_account`` loads ``eth_keyfile`` and, through it, py_ecc's BLS pairing tables: ~0.7 s
    that every command paid at start-up through ``keeper.settings``, ``keeper status`` (which
    reads a journal, no key and no node) among them. It is imported where a key is loaded."""
    loaded = _loaded(module, ["eth_account", "eth_keyfile", "py_ecc"])
    assert loaded == [], f"{module} imports {loaded}"


def test_the_help_of_every_command_loads_no_node_library() -> None:
    """``keeper --help`` builds every command's parser: it took ~1.8 s, nearly all of it web3 and
    the devnet that the commands' modules imported at their top. Each command now imports what it
    runs when it runs; the defaults its help shows are in ``keeper.app.defaults``."""
    probe = (
        "import json, sys\n"
        "from keeper.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'web3', 'eth_account', 'eth_abi', 'matplotlib'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
