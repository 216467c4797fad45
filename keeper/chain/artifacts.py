"""Load compiled contracts from forge's artifacts directory (``build/forge/``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from keeper.errors import ConfigError
from keeper.locations import artifacts_dir


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its ABI and creation bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load_artifact(name: str, source: str | None = None) -> Artifact:
    """Read ``build/forge/<source>/<name>.json`` as forge wrote it.

    Args:
        name: Contract name, e.g. ``"OptionVault"``.
        source: Source file name when it differs from ``<name>.sol``.

    Raises:
        ConfigError: The contract is not compiled (run ``make install``) or the file is corrupt.
    """
    path, raw = _read(name, source)
    bytecode = raw.get("bytecode", {}).get("object", "")
    if not bytecode or bytecode == "0x":
        raise ConfigError(f"artifact {path} has no bytecode (abstract contract or interface?)")
    return Artifact(name=name, abi=raw["abi"], bytecode=bytecode)


@cache
def load_abi(name: str, source: str | None = None) -> tuple[dict[str, Any], ...]:
    """Read only the ABI of ``build/forge/<source>/<name>.json``: works for interfaces too.

    Interfaces compile to ABI-only artifacts (no bytecode), which :func:`load_artifact` refuses.

    Raises:
        ConfigError: The artifact is missing or corrupt.
    """
    path, raw = _read(name, source)
    abi = raw.get("abi")
    if not isinstance(abi, list):
        raise ConfigError(f"artifact {path} has no ABI")
    return tuple(abi)


def _read(name: str, source: str | None) -> tuple[Path, dict[str, Any]]:
    path = _artifact_path(artifacts_dir() / (source or f"{name}.sol"), name)
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"contract {name} is not compiled ({path} missing): run `make install`"
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read artifact {path}: {exc}") from exc
    return path, raw


def _artifact_path(folder: Path, name: str) -> Path:
    """``<name>.json``, or the default profile's copy when forge wrote one per compiler profile.

    ``foundry.toml`` compiles OptionVault with its own optimizer profile (``vault-size``); a file
    that both profiles compile gets one artifact each, ``<name>.default.json`` and
    ``<name>.vault-size.json`` (same ABI), and no plain ``<name>.json``.
    """
    plain = folder / f"{name}.json"
    if plain.exists():
        return plain
    default = folder / f"{name}.default.json"
    if default.exists():
        return default
    others = sorted(folder.glob(f"{name}.*.json"))
    return others[0] if others else plain
