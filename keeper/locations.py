"""Where the project's build products live: forge artifacts and the npm-installed binaries."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout root (the directory holding ``foundry.toml``), for an editable install.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """Return forge's artifacts dir, ``build/forge/`` (override: ``KEEPER_ARTIFACTS_DIR``)."""
    return Path(os.environ.get("KEEPER_ARTIFACTS_DIR", PROJECT_ROOT / "build" / "forge"))


def node_bin(name: str) -> Path:
    """Return the path of an npm-installed executable such as ``anvil`` or ``forge``."""
    return PROJECT_ROOT / "node_modules" / ".bin" / name
