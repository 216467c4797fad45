""".env.example documents each setting as keeper/settings.py defines it: default and upper bound.

A value past a setting's upper bound stops every command (``KEEPER_RPC_RETRIES=20``,
``KEEPER_LENS_CHUNK=2000``), so the bound belongs beside the setting; most were not there.
"""

from __future__ import annotations

import re

import annotated_types
import pytest

from keeper.settings import PROJECT_ENV_EXAMPLE, Settings


def _blocks() -> dict[str, tuple[str, str]]:
    """Each ``KEEPER_X=value`` line's value and the comment lines right above it, joined."""
    out: dict[str, tuple[str, str]] = {}
    comment: list[str] = []
    after_setting = False
    for line in PROJECT_ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#"):
            if after_setting:
                comment, after_setting = [], False
            comment.append(line.lstrip("# "))
            continue
        m = re.match(r"(KEEPER_[A-Z0-9_]+)=(.*)", line)
        if m:
            # A comment may introduce several lines (KEEPER_GAS_FIXED, _PER_VAULT, _SWAP).
            out[m.group(1)] = (m.group(2), " ".join(comment))
            after_setting = True
            continue
        comment, after_setting = [], False
    return out


def _upper_bounds() -> list[tuple[str, str, float]]:
    bounds = []
    for name, field in Settings.model_fields.items():
        for meta in field.metadata:
            if isinstance(meta, annotated_types.Le):
                bounds.append((f"KEEPER_{name.upper()}", "at most", float(meta.le)))
            elif isinstance(meta, annotated_types.Lt):
                bounds.append((f"KEEPER_{name.upper()}", "below", float(meta.lt)))
    return bounds


@pytest.mark.parametrize(("var", "word", "bound"), _upper_bounds())
def test_every_upper_bound_is_in_env_example(var: str, word: str, bound: float) -> None:
    _, comment = _blocks()[var]
    spelt = {f"{bound:g}", f"{bound:,.0f}"} if bound == int(bound) else {f"{bound:g}"}
    assert any(f"{word} {s}" in comment for s in spelt), f"{var}: '{word} {bound:g}' not said"


def test_every_default_in_env_example_is_the_settings_default() -> None:
    blocks = _blocks()
    for name, field in Settings.model_fields.items():
        value, _ = blocks[f"KEEPER_{name.upper()}"]
        default = field.get_default(call_default_factory=True)
        if default in (None, []):
            assert value == "", name
        elif isinstance(default, bool):
            assert value == str(default).lower(), name
        elif isinstance(default, float):
            assert float(value) == default, name
        else:
            assert value == str(default), name
