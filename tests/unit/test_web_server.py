"""``keeper web``'s server and config, without a browser or a chain (tests/browser has those)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from web3 import Web3

from keeper.app.web import CONFIG_PATH, WebServer, build_config, is_loopback, read_addresses
from keeper.cli import main
from keeper.errors import ConfigError

VAULT = "0x" + "ab" * 20
FACTORY = "0x" + "cd" * 20


def _get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>vaults</title>")
    (d / "assets" / "app.js").write_text("export {}")
    (tmp_path / "secret.txt").write_text("outside dist")
    return d


def test_config_lists_vaults_checksummed_and_carries_the_abis() -> None:
    cfg = build_config(
        {"vaults": [VAULT, VAULT.upper().replace("0X", "0x")], "factory": FACTORY, "chain_id": 7},
        rpc_url="http://127.0.0.1:8545",
        chain_id=7,
    )
    assert len(cfg.vaults) == 1, "duplicates (any case) are dropped"
    assert cfg.vaults[0].lower() == VAULT
    assert cfg.factory is not None
    assert cfg.factory.lower() == FACTORY
    body = cfg.to_json()
    assert body["chainId"] == 7
    assert body["rpcUrl"] == "http://127.0.0.1:8545"
    names = {e.get("name") for e in body["abis"]["vault"]}
    assert {"previewDeposit", "maxRedeem", "Rebalanced", "ERC4626ExceededMaxRedeem"} <= names
    assert any(e.get("name") == "vaults" for e in body["abis"]["factory"])
    assert any(e.get("name") == "allowance" for e in body["abis"]["erc20"])
    queue = {e.get("name") for e in body["abis"]["queue"]}
    assert {"requestRedeem", "fillable", "RedemptionsFilled", "RedemptionQueueZeroAmount"} <= queue
    assert "redemptionQueue" in names


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        ({}, "names no vaults and no factory"),
        ({"vaults": ["0x12"]}, "not a 20-byte hex address"),
        (
            {"vaults": [VAULT], "chain_id": 84532},
            "for chain 84532 but the RPC node is on chain 31337",
        ),
    ],
)
def test_config_refuses_a_file_it_cannot_serve(addresses: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(addresses, rpc_url="http://127.0.0.1:8545", chain_id=31337)


def test_read_addresses_refuses_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        read_addresses(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_addresses(tmp_path / "missing.json")


def test_server_serves_the_app_and_the_config_and_nothing_outside_dist(dist: Path) -> None:
    cfg = build_config({"vaults": [VAULT]}, rpc_url="http://127.0.0.1:8545", chain_id=31337)
    with WebServer(cfg, dist=dist, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, headers, body = _get(server.url + CONFIG_PATH.lstrip("/"))
        assert status == 200
        assert headers.get("Content-Type") == "application/json"
        assert headers.get("Cache-Control") == "no-store"
        assert json.loads(body)["vaults"] == [cfg.vaults[0]]
        status, _, body = _get(server.url)
        assert (status, body) == (200, b"<!doctype html><title>vaults</title>")
        status, headers, _ = _get(server.url + "assets/app.js")
        assert status == 200
        assert headers.get("Content-Type") == "text/javascript"
        status, _, body = _get(server.url + "../secret.txt")
        assert status == 404
        assert b"outside dist" not in body
        status, _, body = _get(server.url + "%2e%2e/secret.txt")
        assert status == 404
        assert b"outside dist" not in body


def _get_as(port: int, host: str, path: str = CONFIG_PATH) -> tuple[int, bytes]:
    """GET ``path`` from the local server with ``Host: host`` (what a browser sends)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_loopback_server_answers_only_loopback_host_names(dist: Path) -> None:
    """helper-114: a page of another site whose name a DNS rebinding points at 127.0.0.1 read
    ``/api/config`` (the RPC URL, its API key included) as its own origin."""
    rpc = "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef"
    cfg = build_config({"vaults": [VAULT]}, rpc_url=rpc, chain_id=1)
    with WebServer(cfg, dist=dist, port=0) as server:
        port = server.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", "127.0.0.1"):
            status, body = _get_as(port, host)
            assert status == 200, host
            assert json.loads(body)["rpcUrl"] == rpc
        for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.nip.io:{port}"):
            for path in (CONFIG_PATH, "/"):
                status, body = _get_as(port, host, path)
                assert status == 403, (host, path)
                assert b"0123456789abcdef" not in body


def test_server_refuses_an_unbuilt_app(tmp_path: Path) -> None:
    cfg = build_config({"vaults": [VAULT]}, rpc_url="http://127.0.0.1:8545", chain_id=31337)
    with pytest.raises(ConfigError, match="make web"):
        WebServer(cfg, dist=tmp_path, port=0)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.2")


def test_cli_without_an_rpc_url_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KEEPER_RPC_URL", raising=False)
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"vaults": [VAULT]}))
    assert main(["web", "--addresses", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "keeper: error: no RPC URL: pass --rpc-url (or put rpc_url in the addresses file)"
    ]


def test_cli_unreachable_rpc_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"vaults": [VAULT]}))
    assert main(["web", "--addresses", str(path), "--rpc-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cannot reach RPC" in err[0]


def test_web_command_imports_no_devnet_backtest_or_plots() -> None:
    probe = (
        "import keeper.commands.web, sys, json; print(json.dumps(sorted(n for n in sys.modules "
        "if n.split('.')[0] in ('matplotlib', 'eth_tester', 'eth') "
        "or n.startswith(('keeper.devnet', 'keeper.backtest')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_config_hands_the_page_only_the_files_addresses() -> None:
    # /api/config carried the addresses file as it is: the devnet's section with its accounts'
    # keys, and any other field an operator keeps there. The page reads none of it.
    usdc = "0x" + "33" * 20
    cfg = build_config(
        {
            "vaults": [VAULT],
            "usdc": usdc,
            "chain_id": 7,
            "devnet": {"accounts": [{"role": "keeper", "key": "0x" + "ab" * 32}]},
            "note": "ops: call Alice",
            "rpc_url": "https://user:secret@node.example",
        },
        rpc_url="http://127.0.0.1:8545",
        chain_id=7,
    )
    body = json.dumps(cfg.to_json())
    assert "ab" * 32 not in body
    assert "secret" not in body
    assert "Alice" not in body
    assert cfg.to_json()["addresses"] == {"vaults": [VAULT], "usdc": usdc, "chain_id": 7}


def test_server_lists_no_directory(dist: Path) -> None:
    """A directory without an index.html is 404, not a listing of the built files."""
    cfg = build_config({"vaults": [VAULT]}, rpc_url="http://127.0.0.1:8545", chain_id=31337)
    with WebServer(cfg, dist=dist, port=0) as server:
        for path in ("assets/", "assets"):
            status, _, body = _get(server.url + path)
            assert status == 404, path
            assert b"app.js" not in body
        status, _, body = _get(server.url)
        assert (status, body) == (200, b"<!doctype html><title>vaults</title>")


@pytest.mark.parametrize("value", ["0", "-5", "ten", "100000001", "1" + "0" * 30])
def test_cli_bad_history_blocks_is_refused_before_the_rpc_is_dialled(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The RPC here cannot be reached: the flag's error must come first, not "cannot reach RPC".
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"vaults": [VAULT]}))
    argv = ["web", "--addresses", str(path), "--rpc-url", "http://127.0.0.1:9"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--history-blocks", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "argument --history-blocks: must be a whole number from 1 to 100000000" in err[0]


class _FakeNode:
    """A JSON-RPC node for ``check_vaults``: chain 31337, ``eth_call`` answered by ``call``."""

    def __init__(self, call: dict[str, object]) -> None:
        self.call = call

    def __call__(self, method: str, params: object) -> dict[str, object]:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}
        if method == "eth_getCode":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x6080"}
        assert method == "eth_call", method
        return {"jsonrpc": "2.0", "id": 1, **self.call}


def fake_node_w3(call: dict[str, object]) -> Web3:
    """A ``Web3`` on :class:`_FakeNode` (``eth_call`` answered by ``call``)."""
    from web3.providers.base import BaseProvider

    class Provider(BaseProvider):
        def make_request(self, method: str, params: object) -> dict[str, object]:  # type: ignore[override]
            return _FakeNode(call)(method, params)

    return Web3(Provider())


#: What a factory that is not a vault factory answers to ``vaultCount()``.
NOT_A_FACTORY = pytest.mark.parametrize(
    "answer",
    [
        {"result": "0x"},  # no data: an EOA, or a contract without vaultCount() and a fallback
        {"error": {"code": 3, "message": "execution reverted", "data": "0x"}},  # a token
    ],
    ids=["no-data", "reverts"],
)


@NOT_A_FACTORY
def test_check_vaults_refuses_a_factory_that_is_not_a_vault_factory(
    answer: dict[str, object],
) -> None:
    # keeper web checked the file's vaults but not its factory: it served the page, which then
    # showed "Unknown vault." (no vaults, the registry unreadable) with the reason in the console.
    from keeper.app.web import check_vaults

    config = build_config({"factory": FACTORY}, rpc_url="http://127.0.0.1:8545", chain_id=31337)
    with pytest.raises(
        ConfigError, match=f"{Web3.to_checksum_address(FACTORY)} is not a vault factory"
    ):
        check_vaults(fake_node_w3(answer), config)


def _chain_31337_node() -> object:
    from tests.rpc_stub import rpc_stub

    def answer(request: dict[str, object]) -> dict[str, object]:
        assert request["method"] == "eth_chainId", request["method"]
        return {"result": "0x7a69"}

    return rpc_stub(answer)


def test_cli_reads_the_env_file_and_keeper_chain_id_refuses_another_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """keeper web read neither .env nor KEEPER_CHAIN_ID: it served a chain ruled out."""
    for name in ("KEEPER_RPC_URL", "KEEPER_RPC_URLS", "KEEPER_CHAIN_ID", "KEEPER_ADDRESSES_FILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"vaults": [VAULT]}))  # no chain_id in the file
    with _chain_31337_node() as node:  # type: ignore[attr-defined]
        env = tmp_path / "keeper.env"
        env.write_text(f"KEEPER_RPC_URL={node.url}\nKEEPER_CHAIN_ID=1\n")
        assert main(["web", "--addresses", str(path), "--env-file", str(env)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["keeper: error: RPC is on chain 31337, expected chain 1"]


def test_cli_keeper_chain_id_against_the_files_is_refused_before_the_rpc_is_dialled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEEPER_CHAIN_ID", "10")
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"vaults": [VAULT], "chain_id": 31337}))
    argv = ["web", "--addresses", str(path), "--rpc-url", "http://127.0.0.1:9"]
    assert main([*argv, "--env-file", "/dev/null"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "31337" in err[0]
    assert "KEEPER_CHAIN_ID" in err[0]
    assert "cannot reach RPC" not in err[0]
