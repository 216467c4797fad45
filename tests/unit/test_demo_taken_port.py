"""``keeper demo --port N`` with N taken fails before it loads the demo (web3, numpy, the devnet).

It found the port taken only where anvil starts, about 3 s of imports later. The check there
stays (the port can be taken in between); the early one gives the same line and exit code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _demo_on_a_held_port(
    tmp_path: Path, *flags: str
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run ``keeper demo --port P *flags`` in a fresh interpreter (this test process may have
    imported the demo already) while this process holds P; it prints whether it loaded
    ``keeper.app.demo``. Returns P and the run."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        probe = (
            "import sys\n"
            "from keeper.cli import main\n"
            f"code = main(['demo', '--port', '{port}', '--steps', '1', *{list(flags)!r}])\n"
            "print('keeper.app.demo' in sys.modules)\n"
            "sys.exit(code)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},  # this tree's keeper, from tmp_path
        )
    return port, proc


def test_demo_on_a_taken_port_fails_before_loading_the_demo(tmp_path: Path) -> None:
    port, proc = _demo_on_a_held_port(
        tmp_path,
        *("--json", str(tmp_path / "d.json"), "--plot", str(tmp_path / "d.png")),
        *("--addresses", str(tmp_path / "devnet.json"), "--journal", str(tmp_path / "j.sqlite")),
    )
    assert proc.stderr.splitlines() == [f"keeper: error: port {port} is already in use"]
    assert proc.returncode == 1  # a run-time failure, as where anvil starts
    assert proc.stdout.split() == ["False"], "loaded keeper.app.demo before checking the port"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_demo_with_rpc_url_does_not_check_its_unused_port(tmp_path: Path) -> None:
    """``--rpc-url`` uses that node and starts no anvil: ``--port`` is not looked at."""
    _, proc = _demo_on_a_held_port(
        tmp_path,
        *("--rpc-url", "http://127.0.0.1:1", "--json", "d.json", "--plot", "d.png"),
        *("--addresses", "devnet.json", "--journal", "j.sqlite"),
    )
    assert proc.returncode == 1
    assert "already in use" not in proc.stderr, proc.stderr
