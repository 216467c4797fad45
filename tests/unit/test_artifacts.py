"""Artifact lookup when forge writes one artifact per compiler profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keeper.chain.artifacts import _artifact_path


def _write(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def _forge_cache(root: Path, artifacts: dict[str, dict[str, str]]) -> None:
    """Write forge's build cache beside ``root`` as forge does: contract -> profile -> path."""
    files = {
        f"src/{contract}.sol": {
            "artifacts": {
                contract: {"0.8.30": {p: {"path": path, "build_id": "0"} for p, path in by.items()}}
            }
        }
        for contract, by in artifacts.items()
    }
    cache = root.parent / "forge-cache" / "solidity-files-cache.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"paths": {"artifacts": str(root)}, "files": files}))


def test_a_stale_plain_artifact_loses_to_the_one_forge_last_built(tmp_path: Path) -> None:
    # An incremental build after a compiler-profile change left Feed.json (the vault-size
    # profile's, from before) beside the .default/.vault-size pair that forge now builds. Forge's
    # build cache says which is current: the default profile's.
    root = tmp_path / "forge"
    _write(root, "Feed.sol/Feed.default.json", "Feed.sol/Feed.vault-size.json")
    _write(root, "Feed.sol/Feed.json")
    _forge_cache(
        root,
        {
            "Feed": {
                "vault-size": "Feed.sol/Feed.vault-size.json",
                "default": "Feed.sol/Feed.default.json",
            }
        },
    )
    assert _artifact_path(root, "Feed.sol", "Feed").name == "Feed.default.json"


def test_the_cache_names_a_plain_artifact_for_the_default_profile(tmp_path: Path) -> None:
    # A fresh build: forge named the default profile's copy Feed.json, the other Feed.x.json.
    root = tmp_path / "forge"
    _write(root, "Feed.sol/Feed.json", "Feed.sol/Feed.vault-size.json")
    _forge_cache(
        root,
        {"Feed": {"vault-size": "Feed.sol/Feed.vault-size.json", "default": "Feed.sol/Feed.json"}},
    )
    assert _artifact_path(root, "Feed.sol", "Feed").name == "Feed.json"


def test_a_cache_of_another_artifacts_dir_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "forge"
    _write(root, "Feed.sol/Feed.json", "Feed.sol/Feed.default.json")
    _forge_cache(root, {"Feed": {"default": "Feed.sol/Feed.default.json"}})
    cache = tmp_path / "forge-cache" / "solidity-files-cache.json"
    raw = json.loads(cache.read_text())
    raw["paths"]["artifacts"] = str(tmp_path / "elsewhere")
    cache.write_text(json.dumps(raw))
    assert _artifact_path(root, "Feed.sol", "Feed").name == "Feed.json"


def test_without_a_cache_the_plain_artifact_wins(tmp_path: Path) -> None:
    _write(tmp_path, "Feed.sol/Feed.json", "Feed.sol/Feed.default.json")
    assert _artifact_path(tmp_path, "Feed.sol", "Feed").name == "Feed.json"


def test_without_a_cache_the_default_profile_copy_when_forge_wrote_one_per_profile(
    tmp_path: Path,
) -> None:
    # foundry.toml compiles OptionVault with its own profile: a shared dependency then gets
    # <name>.default.json and <name>.vault-size.json and no plain <name>.json (a fresh build).
    _write(tmp_path, "Feed.sol/Feed.vault-size.json", "Feed.sol/Feed.default.json")
    assert _artifact_path(tmp_path, "Feed.sol", "Feed").name == "Feed.default.json"


def test_single_profile_copy_and_missing(tmp_path: Path) -> None:
    _write(tmp_path, "Only.sol/Only.vault-size.json")
    assert _artifact_path(tmp_path, "Only.sol", "Only").name == "Only.vault-size.json"
    assert (
        _artifact_path(tmp_path, "Missing.sol", "Missing") == tmp_path / "Missing.sol/Missing.json"
    )


def test_a_corrupt_cache_falls_back_to_the_files(tmp_path: Path) -> None:
    root = tmp_path / "forge"
    _write(root, "Feed.sol/Feed.vault-size.json", "Feed.sol/Feed.default.json")
    cache = tmp_path / "forge-cache" / "solidity-files-cache.json"
    cache.parent.mkdir()
    cache.write_text("{not json")
    assert _artifact_path(root, "Feed.sol", "Feed").name == "Feed.default.json"


def test_forge_s_relative_artifacts_path_is_matched_from_any_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "build" / "forge"
    _write(root, "Feed.sol/Feed.json", "Feed.sol/Feed.default.json")
    _forge_cache(root, {"Feed": {"default": "Feed.sol/Feed.default.json"}})
    cache = tmp_path / "build" / "forge-cache" / "solidity-files-cache.json"
    raw = json.loads(cache.read_text())
    raw["paths"]["artifacts"] = "build/forge"  # as forge writes it
    cache.write_text(json.dumps(raw))
    monkeypatch.chdir(tmp_path.parent)
    assert _artifact_path(root, "Feed.sol", "Feed").name == "Feed.default.json"
