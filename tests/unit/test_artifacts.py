"""Artifact lookup when forge writes one artifact per compiler profile."""

from __future__ import annotations

from pathlib import Path

from keeper.chain.artifacts import _artifact_path


def test_plain_artifact_wins(tmp_path: Path) -> None:
    for name in ("Feed.json", "Feed.default.json"):
        (tmp_path / name).write_text("{}")
    assert _artifact_path(tmp_path, "Feed").name == "Feed.json"


def test_default_profile_copy_when_forge_wrote_one_per_profile(tmp_path: Path) -> None:
    # foundry.toml compiles OptionVault with its own profile: a shared dependency then gets
    # <name>.default.json and <name>.vault-size.json and no plain <name>.json (a fresh build).
    for name in ("Feed.vault-size.json", "Feed.default.json"):
        (tmp_path / name).write_text("{}")
    assert _artifact_path(tmp_path, "Feed").name == "Feed.default.json"


def test_single_profile_copy_and_missing(tmp_path: Path) -> None:
    (tmp_path / "Only.vault-size.json").write_text("{}")
    assert _artifact_path(tmp_path, "Only").name == "Only.vault-size.json"
    assert _artifact_path(tmp_path, "Missing") == tmp_path / "Missing.json"
