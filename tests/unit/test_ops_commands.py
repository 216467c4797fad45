"""Operator commands (``keeper check``, ``keeper status``, ``keeper rehearse``) on bad input.

Each refusal is one ``keeper: error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from keeper.cli import main
from keeper.execution.journal import TxStatus
from tests.unit.test_cli_keeper import _clean_env, one_error_line  # noqa: F401 - autouse

VAULT = "0x" + "22" * 20
LENS = "0x" + "11" * 20


@contextmanager
def json_rpc_server(answer: Callable[[dict[str, Any]], Any]) -> Iterator[str]:
    """A local JSON-RPC endpoint that answers each request (batched or not) with ``answer``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = [answer(r) for r in body] if isinstance(body, list) else answer(body)
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def method_not_found(req: dict[str, Any], message: str) -> dict[str, Any]:
    """A JSON-RPC -32601 error answering ``req``."""
    return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": message}}


@pytest.fixture
def refusing_rpc() -> Iterator[str]:
    """An RPC that answers its chain id and refuses every other method (a JSON-RPC error)."""

    def answer(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("method") == "eth_chainId":
            return {"jsonrpc": "2.0", "id": req["id"], "result": "0x7a69"}
        return method_not_found(req, "the method is not available")

    with json_rpc_server(answer) as url:
        yield f"{url}/v3/SECRET-API-KEY"


def test_check_on_an_rpc_that_refuses_the_start_up_reads_is_one_line(
    refusing_rpc: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A permanent JSON-RPC error in a start-up read (here eth_getCode) escaped as a traceback.
    monkeypatch.setenv("KEEPER_LENS", LENS)
    monkeypatch.setenv("KEEPER_VAULTS", VAULT)
    assert main(["check", "--env-file", os.devnull, "--rpc-url", refusing_rpc]) == 1
    line = one_error_line(capsys)
    assert "checking the vaults" in line
    assert "the method is not available" in line
    assert "SECRET-API-KEY" not in line


def test_the_readme_names_the_journal_states_keeper_status_counts() -> None:
    # The README listed a `failed` state no transaction has, and left out `reverted`.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### `keeper status`", 1)[1].split("\n### ", 1)[0]
    listed = section.split("counts by state (", 1)[1].split(")", 1)[0]
    assert set(re.findall(r"`(\w+)`", listed)) == {s.value for s in TxStatus}


@pytest.mark.parametrize(
    ("flag", "bad", "out_of_range"),
    [("--keeper-index", "x", "10"), ("--keeper-index", "x", "-1"), ("--block", "x", "-1")],
)
def test_a_rehearse_flag_out_of_range_is_a_usage_error_like_one_that_is_not_a_number(
    flag: str, bad: str, out_of_range: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--keeper-index x` exited 2 (a usage error) but `--keeper-index 10` exited 1, as a
    # run-time failure would; `--limit 0` of keeper status exits 2.
    codes = []
    for value in (bad, out_of_range):
        with pytest.raises(SystemExit) as info:
            main(["rehearse", "--fork-url", "http://127.0.0.1:1", flag, value])
        codes.append(info.value.code)
        line = one_error_line(capsys)
        assert flag in line
        assert "(see 'keeper rehearse --help')" in line
    assert codes == [2, 2]


@pytest.mark.parametrize("json_out", [[], ["--json"]])
@pytest.mark.parametrize("what", ["empty", "other-db"])
def test_status_refuses_a_file_that_is_not_a_journal_and_leaves_it_alone(
    what: str, json_out: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A --journal typo naming another SQLite file (or an empty one) printed "transactions:
    # none", exit 0, as for a keeper that has sent nothing: and wrote the journal's tables
    # into that file.
    path = tmp_path / "other.db"
    if what == "empty":
        path.write_bytes(b"")
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE accounts (name TEXT)")
        db.commit()
        db.close()
    before = path.read_bytes()
    assert main(["status", "--env-file", os.devnull, "--journal", str(path), *json_out]) == 1
    line = one_error_line(capsys)
    assert f"{path} is not a keeper journal" in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def vv_logs(command: str, flag: str, url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The stderr of ``keeper -vv <command> <flag> <url>?apikey=QUERY-SECRET``."""
    main(["-vv", command, "--env-file", os.devnull, flag, url + "?apikey=QUERY-SECRET"])
    return capsys.readouterr().err


def test_vv_logs_of_check_name_the_rpc_by_scheme_and_host_only(
    refusing_rpc: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # -vv turns on urllib3's debug lines, which quoted each request's path and query:
    # 'POST /v3/SECRET-API-KEY HTTP/1.1'. The README promises an API key never appears in logs.
    monkeypatch.setenv("KEEPER_LENS", LENS)
    monkeypatch.setenv("KEEPER_VAULTS", VAULT)
    err = vv_logs("check", "--rpc-url", refusing_rpc, capsys)
    assert "urllib3" in err  # the debug lines are there
    assert "SECRET-API-KEY" not in err
    assert "QUERY-SECRET" not in err
