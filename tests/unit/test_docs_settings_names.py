"""Every ``KEEPER_*`` name the README, docs/ and .env.example give is a setting, or says it is not.

``test_env_example_doc.py`` holds .env.example to ``Settings`` both ways (every field there, with
its default and bound); nothing held the prose to it. A setting renamed or removed in the code
would leave the README telling an operator to set a variable the keeper refuses in ``.env`` (a
``KEEPER_*`` name that is not a setting stops every command), and a name misspelt in the docs
would be copied into a ``.env`` the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keeper.locations import PROJECT_ROOT
from keeper.settings import _OTHER_TOOLS_NAMES, Settings

#: Names the docs give that are neither settings nor another tool's variable, each with why.
_NOT_VARIABLES = {
    "KEEPER_ROLE": "the vaults' and the batcher's access-control role, not a variable",
    "KEEPER_DRY_RUN": "named as refused: a dry run is a flag, never a variable",
    "KEEPER_PRIVATEKEY": "named as the misspelling the settings refuse",
}

_NAME = re.compile(r"\bKEEPER_[A-Z0-9_]*[A-Z0-9]\b")


def _documents() -> list[Path]:
    return [
        PROJECT_ROOT / "README.md",
        PROJECT_ROOT / ".env.example",
        *sorted((PROJECT_ROOT / "docs").glob("*.md")),
    ]


def _settings_names() -> set[str]:
    return {f"KEEPER_{name.upper()}" for name in Settings.model_fields}


def unknown_names(text: str) -> set[str]:
    """The ``KEEPER_*`` names in ``text`` that the keeper does not know."""
    known = _settings_names() | _OTHER_TOOLS_NAMES | set(_NOT_VARIABLES)
    return set(_NAME.findall(text)) - known


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.name)
def test_every_keeper_name_in_the_docs_is_a_setting_or_another_tools(doc: Path) -> None:
    assert unknown_names(doc.read_text()) == set(), f"{doc.name} names variables that do not exist"


def test_a_misspelt_or_removed_name_is_found() -> None:
    # The check above must be able to fail: a name one letter off, and one no setting has.
    assert unknown_names("set `KEEPER_RPC_URL` and `KEEPER_RPC_RETRY`") == {"KEEPER_RPC_RETRY"}
    assert unknown_names("KEEPER_GAS_PER_VAULTS=1") == {"KEEPER_GAS_PER_VAULTS"}


def test_every_setting_is_in_env_example_and_the_readme_points_there() -> None:
    # .env.example is where every setting is documented (the README says so, and points there).
    env_example = set(_NAME.findall((PROJECT_ROOT / ".env.example").read_text()))
    assert _settings_names() - env_example == set()
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "[.env.example](.env.example) documents every field" in readme


def test_the_readme_lists_exactly_the_names_that_are_not_settings() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    start = readme.index("`KEEPER_*` names are not settings")
    paragraph = readme[start : readme.index("\n\n", start)]
    listed = set(_NAME.findall(paragraph))
    assert listed == set(_OTHER_TOOLS_NAMES)
    words = {2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six"}
    assert readme[: start - 1].endswith(words[len(listed)])
