"""Every flag's ``--help`` says what it is when it is not given (a new operator's walk, helper 148).

``keeper run --help`` listed ``--policy SPEC policy spec, e.g. band:width=0.05`` and
``--journal PATH SQLite journal path``: nothing said that the policy is
``costaware:risk_aversion=0.0001`` (``KEEPER_POLICY``) or that the journal is
``keeper-journal.sqlite`` in the directory the keeper starts in, which ``keeper status`` then
has to find. ``keeper demo --help`` did not say where it writes its addresses and journal, nor
that ``--step-seconds`` is in seconds. Each flag that takes a value now names its default (or
that it has none, and what leaving it out means), and a flag that overrides a setting names the
setting.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from keeper.app.defaults import DEFAULT_POLICY
from keeper.cli import build_parser, main
from keeper.settings import Settings

#: Flags that take a value but have nothing to default to, and say why instead.
NO_DEFAULT = {("keeper check", "--journal")}  # "not read: check never signs"


def _value_flags(
    parser: argparse.ArgumentParser, prog: str
) -> Iterator[tuple[str, str, argparse.Action]]:
    """Every optional flag that takes a value, in every command and action."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _value_flags(sub, f"{prog} {name}")
        elif (
            action.option_strings
            and action.nargs != 0
            and not action.required
            and action.help != argparse.SUPPRESS  # not in --help at all (web's --dist)
        ):
            yield prog, action.option_strings[-1], action


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_every_value_flag_names_its_default() -> None:
    missing = [
        f"{prog} {flag}: {' '.join((action.help or '').split())}"
        for prog, flag, action in _value_flags(build_parser(), "keeper")
        if (prog, flag) not in NO_DEFAULT and "default" not in (action.help or "").lower()
    ]
    assert missing == []


@pytest.mark.parametrize("command", ["run", "check"])
def test_shared_flags_name_their_setting_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(capsys, command)
    fields = Settings.model_fields
    assert f"default: KEEPER_POLICY, else {fields['policy'].default}" in text
    assert (
        f"default: the addresses file's rpc_url, else KEEPER_RPC_URL(S), "
        f"else {fields['rpc_url'].default}"
    ) in text
    assert "default: KEEPER_ADDRESSES_FILE" in text


@pytest.mark.parametrize("command", ["run", "status"])
def test_journal_flag_names_its_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    default = Settings.model_fields["journal_path"].default
    assert f"default: KEEPER_JOURNAL_PATH, else {default}" in _help(capsys, command)


def test_rehearse_policy_names_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    default = Settings.model_fields["policy"].default
    assert f"default: KEEPER_POLICY, else {default}" in _help(capsys, "rehearse")


def test_demo_help_names_its_files_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    demo = next(
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        if name == "demo"
    )
    defaults = {a.dest: a.default for a in demo._actions}
    text = _help(capsys, "demo")
    assert f"default {defaults['addresses']})" in text
    assert f"(default {defaults['journal']}" in text
    assert f"chain time per step, seconds (default {defaults['step_seconds']})" in text
    assert f"keeper policy spec (default {DEFAULT_POLICY})" in text
