"""An RPC URL's scheme in any case (``HTTP://``, ``Http://``, ``WS://``), against a real anvil.

A URL's scheme is case-insensitive (RFC 3986 section 3.1), but the one RPC URL rule
(:mod:`keeper.chain.urls`) took only a lowercase one: ``KEEPER_RPC_URL=HTTP://127.0.0.1:8545``
was a bad setting and ``--rpc-url``/``--fork-url HTTP://...`` a usage error (exit 2). Now each
is taken as its lowercase form, works, and is named in logs exactly as the lowercase one is
(by scheme and host: the query's API key, ``SECRET`` here, never shows). An unknown scheme is
refused as before, naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import pytest

from keeper.chain.anvil import Anvil
from keeper.chain.connection import connect
from keeper.cli import main
from tests.unit.test_cli_keeper import _clean_env  # noqa: F401 - autouse

pytestmark = pytest.mark.integration

#: An empty vault registry: any call answers 32 zero bytes (``vaultCount() == 0``).
FACTORY = "0x" + "fa" * 20
#: A batcher that is not one (no code): ``keeper rehearse`` stops there, past its fork.
NOT_A_BATCHER = "0x" + "b0" * 20
QUERY = "?apikey=SECRET"


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil() as n:
        w3 = connect(n.url)
        w3.provider.make_request("anvil_setCode", [FACTORY, "0x60206000f3"])  # type: ignore[arg-type]
        yield n


def _with_scheme(scheme: str, node: Anvil) -> str:
    return f"{scheme}://127.0.0.1:{node.port}/{QUERY}"


def _messages(err: str) -> list[str]:
    """The messages of the JSON log lines in ``err``."""
    out = []
    for line in err.splitlines():
        with contextlib.suppress(ValueError):
            out.append(str(json.loads(line)["msg"]))
    return out


def _check(scheme: str, how: str, node: Anvil, monkeypatch: pytest.MonkeyPatch) -> None:
    """``keeper -v check`` on ``node`` by a URL with ``scheme``, by the flag or the setting: it
    must exit 1, as on the empty registry."""
    monkeypatch.setenv("KEEPER_FACTORY", FACTORY)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    url = _with_scheme(scheme, node)
    args = ["-v", "check", "--env-file", os.devnull]
    if how == "flag":
        args += ["--rpc-url", url]
    else:
        monkeypatch.setenv("KEEPER_RPC_URL", url)
    assert main(args) == 1


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("scheme", ["HTTP", "Http", "WS"])
def test_check_takes_an_uppercase_scheme_and_logs_it_as_the_lowercase_one(
    scheme: str,
    how: str,
    node: Anvil,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Failed before: ``unsupported RPC URL scheme 'HTTP'`` (exit 2 for the flag, 1 for the
    setting). Now it reads the node: the empty registry's line, and its logs name the node as
    the lowercase URL's run does."""
    logs = {}
    for written in (scheme, scheme.lower()):
        _check(written, how, node, monkeypatch)
        err = capsys.readouterr().err
        assert "SECRET" not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("keeper: error: factory "), err
        assert " lists no vaults" in last, err
        logs[written] = [m for m in _messages(err) if "connected to chain" in m]
    where = f"{scheme.lower()}://127.0.0.1:{node.port}"
    assert logs[scheme] == logs[scheme.lower()] == [f"connected to chain 31337 at RPC {where}"]


def test_rehearse_forks_an_uppercase_fork_url(
    node: Anvil, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--fork-url HTTP://...``: a usage error before. Now the reachability check, anvil's fork
    and the connection to it all get past the URL, to the batcher that is not one; the fork is
    named by scheme and host, lowercase, as anvil's own words name it."""
    monkeypatch.setenv("KEEPER_BATCHER", NOT_A_BATCHER)
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)
    monkeypatch.setenv("KEEPER_VAULTS", "0x" + "22" * 20)
    url = _with_scheme("HTTP", node)
    assert main(["-v", "rehearse", "--env-file", os.devnull, "--fork-url", url]) == 1
    err = capsys.readouterr().err
    assert "SECRET" not in err
    assert "HTTP://" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("keeper: error: "), err
    assert "has no contract code" in last, err
    assert f"connected to chain 31337 at RPC http://127.0.0.1:{node.port}" in _messages(err)


@pytest.mark.parametrize("flag", ["--rpc-url", "--fork-url"])
def test_an_unknown_scheme_in_any_case_is_still_refused_naming_it(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = "check" if flag == "--rpc-url" else "rehearse"
    with pytest.raises(SystemExit) as info:
        main([command, "--env-file", os.devnull, flag, "FTP://127.0.0.1:8545/SECRET"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unsupported RPC URL scheme 'FTP' (http, https, ws, wss)" in err
    assert "SECRET" not in err
