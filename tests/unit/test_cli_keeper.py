"""The keeper CLI's run/check/status: helpful --help, and bad input as one line (exit 1 or 2)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from eth_account import Account

from keeper.chain.anvil import free_port
from keeper.cli import main

KEY = "0x" + "6b" * 32


def _code(argv: list[str]) -> int:
    """``main``'s exit code, a usage error's ``SystemExit`` (code 2) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("keeper: error: ")
    return err[0]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("run", ["each new block", "dry-run", "--max-cycles", "--addresses"]),
        ("check", ["never sign or send", "--json", "--addresses"]),
        ("status", ["journal", "--limit", "--json"]),
    ],
)
def test_help(command: str, words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in out


def test_malformed_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEEPER_VAULTS", "0x1234")
    assert main(["check"]) == 1
    assert "KEEPER_VAULTS: '0x1234' is not a 20-byte hex address" in one_error_line(capsys)


@pytest.mark.parametrize("command", [["check"], ["vault", "info", "--vault", "0x" + "a1" * 20]])
def test_a_bad_rpc_url_flag_is_named_as_the_flag(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code([*command, "--rpc-url", "notaurl"]) == 2  # typed wrong: a usage error
    line = one_error_line(capsys)
    prog = " ".join(["keeper", *command[:2]]) if command[0] == "vault" else "keeper check"
    assert line == (
        "keeper: error: argument --rpc-url: RPC URL has no scheme: write it with http://, "
        f"https://, ws:// or wss:// (e.g. http://127.0.0.1:8545) (see '{prog} --help')"
    )


def test_unreachable_rpc(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)  # a missing lens is reported first
    url = f"http://127.0.0.1:{free_port()}/v3/SECRET-API-KEY"
    assert main(["check", "--rpc-url", url]) == 1
    line = one_error_line(capsys)
    assert "cannot reach RPC at http://127.0.0.1" in line
    assert "SECRET-API-KEY" not in line


def test_bad_key_fails_before_any_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "zz" * 32)
    monkeypatch.setenv("KEEPER_RPC_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["run"]) == 1
    line = one_error_line(capsys)
    assert "KEEPER_PRIVATE_KEY is not a valid" in line
    assert "zz" * 32 not in line


def test_missing_keystore(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", "/nonexistent/key.json")
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "pw")
    assert main(["run"]) == 1
    assert "keystore /nonexistent/key.json does not exist" in one_error_line(capsys)


def test_wrong_keystore_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "good", kdf="pbkdf2", iterations=2)))
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "bad-password")
    assert main(["run"]) == 1
    line = one_error_line(capsys)
    assert "wrong password for keystore" in line
    assert "bad-password" not in line


def test_bad_policy(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "--policy", "nope:x=1", "--rpc-url", f"http://127.0.0.1:{free_port()}"]
    assert _code(argv) == 2  # what was typed: a usage error
    one_error_line(capsys)


def test_status_without_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--journal", str(tmp_path / "none.sqlite")]) == 1
    assert "no journal at" in one_error_line(capsys)


def test_status_reads_the_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from keeper.execution.journal import Journal

    path = tmp_path / "j.sqlite"
    j = Journal(path)
    i = j.open_intent(["0xv1", "0xv2"], 12)
    j.record_signed(
        intent_id=i,
        account="0xa",
        nonce=4,
        tx_hash="0xfeed",
        raw_tx="0x02",
        max_fee=9,
        priority_fee=1,
        gas=1,
    )
    j.mark("0xfeed", "sent", sent_block=12)
    j.close()
    assert main(["status", "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pending: 1" in out
    assert "nonce 4 0xfeed sent" in out
    assert "2 vaults" in out
    assert main(["status", "--journal", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"sent": 1}
    assert "raw_tx" not in data["pending"][0]


@pytest.mark.parametrize("command", ["run", "check", "status", "rehearse"])
def test_keeping_commands_load_no_devnet_backtester_or_plots(command: str, tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported the devnet already.
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from keeper.cli import main\n"
        "try:\n"
        f"    main([{command!r}, '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'\n"
        "    or m.startswith(('keeper.devnet', 'keeper.backtest', 'eth_tester', 'evm.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_status_runs_without_loading_other_commands(tmp_path: Path) -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from keeper.cli import main\n"
        f"main(['status', '--journal', {str(tmp_path / 'none.sqlite')!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith('keeper.commands.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip().splitlines()[-1] == "['keeper.commands.status']"


def test_check_with_a_bad_env_rpc_url_uses_the_addresses_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # README: the addresses file overrides the environment, so KEEPER_RPC_URL is never used.
    url = f"http://127.0.0.1:{free_port()}"
    f = tmp_path / "devnet.json"
    f.write_text(json.dumps({"rpc_url": url, "lens": "0x" + "11" * 20}))
    monkeypatch.setenv("KEEPER_RPC_URL", "notaurl")
    assert main(["check", "--addresses", str(f)]) == 1
    line = one_error_line(capsys)
    assert "KEEPER_RPC_URL" not in line
    assert f"cannot reach RPC at {url}" in line


def test_status_offers_and_validates_only_what_it_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    out = capsys.readouterr().out
    for flag in ("--journal", "--env-file", "--limit", "--json"):
        assert flag in out
    for flag in ("--rpc-url", "--addresses", "--policy"):
        assert flag not in out
    # Settings status never reads cannot make it fail.
    monkeypatch.setenv("KEEPER_RPC_URL", "notaurl")
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "zz" * 32)
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", "/x.json")
    monkeypatch.setenv("KEEPER_JOURNAL_PATH", str(tmp_path / "env.sqlite"))
    assert main(["status"]) == 1
    assert f"no journal at {tmp_path / 'env.sqlite'}" in one_error_line(capsys)
    assert main(["status", "--journal", str(tmp_path / "flag.sqlite")]) == 1
    assert f"no journal at {tmp_path / 'flag.sqlite'}" in one_error_line(capsys)


def test_status_refuses_a_dotenv_line_that_does_not_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The line may be the journal's own: status used to read the default journal instead, with
    # python-dotenv's warning on stderr, as keeper check and run never do.
    (tmp_path / "keeper.env").write_text(f"KEEPER_JOURNAL_PATH {tmp_path / 'mine.sqlite'}\n")
    assert main(["status", "--env-file", "keeper.env"]) == 1
    assert one_error_line(capsys) == (
        "keeper: error: keeper.env line 1 is not a KEY=VALUE line (not shown: it may hold a secret)"
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--vol", "-1", "--vol must be a finite number >= 0, got -1.0"),
        ("--vol", "nan", "--vol must be a finite number >= 0, got nan"),
        ("--jumps", "-3", "--jumps must be a finite number >= 0, got -3.0"),
        ("--drift", "inf", "--drift must be a finite number, got inf"),
        ("--queue-prob", "2", "--queue-prob must be a number in [0, 1], got 2.0"),
        ("--queue-prob", "nan", "--queue-prob must be a number in [0, 1], got nan"),
        ("--policy", "band:width=wide", "policy 'band:width=wide': width='wide' is not a number"),
        # matplotlib refused it only after the whole run, with a traceback
        (
            "--plot",
            "chart.foo",
            "--plot chart.foo: '.foo' is not an image type matplotlib writes (avif, eps, gif, "
            "jpeg, jpg, pdf, pgf, png, ps, raw, rgba, svg, svgz, tif, tiff, webp)",
        ),
        # matplotlib would have written chart.png, not the file named
        ("--plot", "chart", "--plot chart has no file type: name it chart.png (a PNG)"),
    ],
)
def test_demo_errors_name_the_flag(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before anything starts (no anvil, no files).
    assert _code(["demo", f"{flag}={value}"]) == 2  # what was typed: a usage error
    assert one_error_line(capsys) == f"keeper: error: {message} (see 'keeper demo --help')"
    assert not Path("out").exists()


def test_devnet_up_on_a_busy_port_says_only_that(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert main(["devnet", "up", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert "starting anvil" not in out
    assert err.strip() == f"keeper: error: port {port} is already in use"


def test_verbose_logs_of_every_library_are_json_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # -vv turns on urllib3's and web3's debug records: they too must be JSON lines.
    monkeypatch.setenv("KEEPER_LENS", "0x" + "11" * 20)  # a missing lens is reported first
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["-vv", "check", "--rpc-url", dead]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("keeper: error: cannot reach RPC")
    records = [json.loads(line) for line in lines[:-1]]
    assert any(not r["logger"].startswith("keeper") for r in records), lines


@pytest.mark.parametrize(
    ("flags", "level"),
    [([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)],
    ids=["quiet", "-v", "-vv"],
)
def test_vault_takes_v_as_info_and_vv_as_debug_as_every_command_does(
    flags: list[str], level: int, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    vault = "0x" + "11" * 20
    args = ["vault", "info", "--vault", vault, "--rpc-url", dead, "--env-file", os.devnull]
    assert main([*flags, *args]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("keeper: error: cannot reach RPC")
    )
    assert logging.getLogger("keeper").level == level


@pytest.mark.parametrize(
    ("where", "level"),
    [
        ("after the command", logging.INFO),
        ("after the action", logging.DEBUG),
        ("on both sides", logging.DEBUG),
    ],
)
def test_v_is_taken_after_the_command_too(
    where: str, level: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keeper check -v` was `unrecognized arguments: -v`: the flag worked only before the
    command, and no command's --help named it."""
    dead = f"http://127.0.0.1:{free_port()}"
    vault = "0x" + "11" * 20
    rest = ["--vault", vault, "--rpc-url", dead, "--env-file", os.devnull]
    argv = {
        "after the command": ["vault", "-v", "info", *rest],
        "after the action": ["vault", "info", *rest, "-vv"],
        "on both sides": ["-v", "vault", "info", "-v", *rest],
    }[where]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("keeper: error: cannot reach RPC")
    assert logging.getLogger("keeper").level == level


def test_every_commands_help_names_v(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["check"], ["run"], ["vault", "info"], ["devnet", "up"], ["backtest"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert "-v, --verbose" in capsys.readouterr().out, argv


def _fake_demo_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run ``run_demo`` with a fake anvil and a fake run that writes the addresses file."""
    import keeper.app.demo as demo

    url = "http://127.0.0.1:1"

    class Node:
        def __init__(self, **_: object) -> None:
            self.url = url

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

    def fake_run(w3: object, node_url: str, cfg: demo.DemoConfig, *_: object) -> str:
        cfg.addresses_path.write_text(json.dumps({"rpc_url": node_url}))
        return "result"

    monkeypatch.setattr(demo, "Anvil", Node)

    class W3:
        class provider:  # noqa: N801 - web3's attribute name
            @staticmethod
            def make_request(*_: object) -> dict[str, object]:
                return {}

    monkeypatch.setattr(demo, "connect", lambda *a, **k: W3())
    monkeypatch.setattr(demo, "_run", fake_run)
    return tmp_path / "devnet.json"


def test_the_demo_removes_its_addresses_file_when_its_anvil_stops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Like `devnet up`: the file never points at a node that has stopped.
    from keeper.app.demo import DemoConfig, run_demo

    addresses = _fake_demo_node(monkeypatch, tmp_path)
    cfg = DemoConfig(
        json_path=None, plot_path=None, addresses_path=addresses, journal_path=tmp_path / "j"
    )
    assert run_demo(cfg) == "result"  # type: ignore[comparison-overlap]
    assert not addresses.exists()


def test_the_demo_keeps_the_addresses_file_of_a_node_that_outlives_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keeper.app.demo import DemoConfig, run_demo

    addresses = _fake_demo_node(monkeypatch, tmp_path)
    cfg = DemoConfig(
        json_path=None,
        plot_path=None,
        addresses_path=addresses,
        journal_path=tmp_path / "j",
        rpc_url="http://127.0.0.1:2",
    )
    assert run_demo(cfg) == "result"  # type: ignore[comparison-overlap]
    assert json.loads(addresses.read_text()) == {"rpc_url": "http://127.0.0.1:2"}


def test_a_demo_that_fails_to_start_leaves_another_addresses_file_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A busy --port: the running devnet's file at the same path is not the demo's to remove.
    import keeper.app.demo as demo
    from keeper.errors import ChainError

    addresses = _fake_demo_node(monkeypatch, tmp_path)
    addresses.write_text(json.dumps({"rpc_url": "http://127.0.0.1:8545"}))

    class BusyNode:
        url = "http://127.0.0.1:8545"

        def __init__(self, **_: object) -> None:
            pass

        def start(self) -> None:
            raise ChainError("port 8545 is already in use")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(demo, "Anvil", BusyNode)
    cfg = demo.DemoConfig(
        json_path=None, plot_path=None, addresses_path=addresses, journal_path=tmp_path / "j"
    )
    with pytest.raises(ChainError):
        demo.run_demo(cfg)
    assert addresses.exists()


#: What a Windows editor or PowerShell's ``>`` often writes: UTF-16 with its byte-order mark.
UTF16 = '{"vaults": []}\n'.encode("utf-16")
ADDRESSES_NOT_UTF8 = "addresses file bad.json is not UTF-8 text"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--addresses", "bad.json"], ADDRESSES_NOT_UTF8),
        (["web", "--addresses", "bad.json"], ADDRESSES_NOT_UTF8),
        (["devnet", "step", "--addresses", "bad.json"], ADDRESSES_NOT_UTF8),
        (["check", "--env-file", "bad.json"], "dotenv file bad.json is not UTF-8 text"),
        (["status", "--env-file", "bad.json"], "dotenv file bad.json is not UTF-8 text"),
    ],
    ids=["check-addresses", "web-addresses", "devnet-step", "check-env", "status-env"],
)
def test_a_file_that_is_not_utf8_is_one_line_naming_it(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_bytes(UTF16)
    own_env = "--env-file" in args or args[0] in ("web", "devnet")
    extra = [] if own_env else ["--env-file", os.devnull]
    assert main([*args, *extra]) == 1
    assert one_error_line(capsys) == (
        f"keeper: error: {message} (byte 0xff at offset 0): save it as UTF-8"
    )


def test_an_addresses_file_with_a_utf8_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Notepad's and Excel's UTF-8 starts with EF BB BF; the file is still UTF-8 JSON.
    dead = f"http://127.0.0.1:{free_port()}"
    text = json.dumps({"vaults": ["0x" + "11" * 20], "lens": "0x" + "22" * 20, "rpc_url": dead})
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert main(["check", "--addresses", "bom.json", "--env-file", os.devnull]) == 1
    assert one_error_line(capsys).startswith("keeper: error: cannot reach RPC")


def test_a_dotenv_file_with_a_utf8_byte_order_mark_keeps_its_first_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The mark must not become part of the first name, which would then be silently ignored.
    (tmp_path / "bom.env").write_bytes(b"\xef\xbb\xbfKEEPER_JOURNAL_PATH=first.sqlite\n")
    assert main(["status", "--env-file", "bom.env"]) == 1
    assert f"no journal at {Path('first.sqlite')}" in one_error_line(capsys)


def test_status_lines_up_its_columns_and_counts_one_vault_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keeper.execution.journal import Journal

    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for nonce, vaults in ((9, ["0xv1"]), (13, ["0xv1", "0xv2"])):
        i = j.open_intent(vaults, 100 + nonce)
        tx = f"0x{nonce:064x}"
        j.record_signed(
            intent_id=i,
            account="0xa",
            nonce=nonce,
            tx_hash=tx,
            raw_tx="0x02",
            max_fee=9,
            priority_fee=1,
            gas=1,
        )
        j.mark(tx, "mined", mined_block=100 + nonce)
    j.close()
    assert main(["status", "--journal", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    txs = lines[lines.index("recent transactions:") + 1 : lines.index("recent batches:")]
    batches = lines[lines.index("recent batches:") + 1 :]
    assert len({line.index("0x") for line in txs}) == 1, txs  # the hashes line up
    assert len({line.index(" vault") for line in batches}) == 1, batches
    assert any(line.rstrip().endswith(" 1 vault") for line in batches), batches
    assert any(line.rstrip().endswith(" 2 vaults") for line in batches), batches


def test_python_dash_m_keeper_is_the_keeper_command() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "keeper", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: keeper" in result.stdout


@pytest.mark.parametrize("failed", [False, True])
def test_a_failed_rehearsal_under_json_prints_one_object_that_names_the_failure(
    failed: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stdout under --json is one JSON object either way; a failure is its ``error`` key."""
    from keeper.app.rehearse import RehearsalReport, RehearsedVault

    vault = "0x" + "11" * 20
    outcome = RehearsedVault(vault, not failed, 1, 0, "OptionVaultStaleOracle" if failed else None)
    report = RehearsalReport(
        **{f: "x" for f in ("fork_url", "keeper", "admin", "batcher")},
        fork_block=1, chain_id=31337, vaults=1, planned=[vault], simulated=[vault],
        dropped={}, skipped={}, outcomes=[outcome], tx_hash="0x" + "ab" * 32,
        tx_status="mined", tx_to="x", gas_used=1, l2_fee_wei=1, l1_fee_wei=1,
    )  # fmt: skip
    monkeypatch.setattr("keeper.app.rehearse.rehearse", lambda *a, **k: report)
    text = json.dumps({"vaults": [vault], "lens": "0x" + "22" * 20, "rpc_url": "http://x:1"})
    (tmp_path / "a.json").write_text(text)
    argv = ["rehearse", "--fork-url", "http://127.0.0.1:1", "--addresses", "a.json", "--json"]
    assert main([*argv, "--env-file", os.devnull]) == int(failed)
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert body["outcomes"][0]["ok"] is not failed
    if failed:
        assert "1 of 1 vaults sent failed on the fork" in body["error"]
        assert err.strip().splitlines()[-1] == f"keeper: error: {body['error']}"
    else:
        assert "error" not in body
