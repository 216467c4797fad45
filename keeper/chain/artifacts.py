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
    path = _artifact_path(artifacts_dir(), source or f"{name}.sol", name)
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"contract {name} is not compiled ({path} missing): run `make install`"
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read artifact {path}: {exc}") from exc
    return path, raw


#: Forge's build cache, beside the artifacts (``cache_path`` in ``foundry.toml``).
_FORGE_CACHE = Path("..", "forge-cache", "solidity-files-cache.json")


def _artifact_path(root: Path, source: str, name: str) -> Path:
    """The artifact of contract ``name`` of ``source`` under ``root`` that forge built last.

    ``foundry.toml`` compiles OptionVault with its own optimizer profile (``vault-size``). A file
    that both profiles compile gets one artifact each: ``<name>.default.json`` and
    ``<name>.vault-size.json`` (same ABI, other bytecode), or ``<name>.json`` for one of them. Forge
    never deletes an artifact a build no longer writes, so after a change of profiles a stale
    ``<name>.json`` can lie beside the current pair. Forge's build cache names the current files:
    the default profile's is taken. Without the cache (artifacts copied elsewhere, or a cache of
    another artifacts dir): ``<name>.json``, else ``<name>.default.json``, else another profile's.
    """
    built = _built_by_forge(root).get((source, name))
    if built is not None:
        return root / built
    folder = root / source
    plain = folder / f"{name}.json"
    if plain.exists():
        return plain
    default = folder / f"{name}.default.json"
    if default.exists():
        return default
    others = sorted(folder.glob(f"{name}.*.json"))
    return others[0] if others else plain


@cache
def _built_by_forge(root: Path) -> dict[tuple[str, str], str]:
    """``(source folder, contract) -> artifact path`` from forge's build cache, for ``root``.

    The default profile's artifact where forge built several; empty when there is no readable
    cache of this artifacts dir.
    """
    try:
        raw = json.loads((root / _FORGE_CACHE).read_text())
        listed, here = Path(raw["paths"]["artifacts"]), root.resolve()
        # Forge writes the path relative to the project root (``build/forge``).
        if listed.is_absolute() and listed.resolve() != here:
            return {}
        if not listed.is_absolute() and here.parts[-len(listed.parts) :] != listed.parts:
            return {}
        found: dict[tuple[str, str], str] = {}
        for entry in raw["files"].values():
            for contract, versions in entry["artifacts"].items():
                for profiles in versions.values():
                    for profile, where in profiles.items():
                        path = Path(where["path"])
                        key = (path.parent.as_posix(), contract)
                        if profile == "default" or key not in found:
                            found[key] = path.as_posix()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return found
