"""``keeper web``'s server: the depositors' web app (``web/dist``) plus one JSON config endpoint.

The app is a static page (built by Vite from ``web/``, see docs/web.md); everything it shows it
reads itself, in the browser, from the RPC node. This server only hands it, at
``GET /api/config``, what it cannot know:

- the RPC URL and chain id (checked against the node once, at start);
- the addresses file as written by the devnet or ``scripts/Deploy.s.sol`` (vaults, factory, ...);
- the ABIs the page decodes calls, events and custom errors with (the vault, ERC-20, the
  factory and the ERC-7540 redemption queue), read from forge's artifacts (``build/forge``), so
  the page always matches the contracts that were built.

It binds to loopback unless told otherwise: the config holds the RPC URL, which for a hosted
node may carry an API key; bound to loopback, it serves only requests whose ``Host`` is a
loopback name (a DNS rebinding cannot read the config). Static files come from
:class:`http.server.SimpleHTTPRequestHandler` (its path translation refuses ``..``;
directories are never listed), every response is ``no-store`` so a rebuilt page is never served
stale, and requests are logged at debug level only.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_utils.address import is_hex_address
from web3 import Web3

from keeper.app.defaults import DEFAULT_DIST, DEFAULT_HISTORY_BLOCKS
from keeper.chain.artifacts import load_abi
from keeper.chain.connection import connect
from keeper.chain.vaults import factory_vaults, validate_vaults
from keeper.errors import ConfigError
from keeper.locations import read_utf8
from keeper.settings import checksum, file_chain_id

logger = logging.getLogger(__name__)

#: The page's config endpoint.
CONFIG_PATH = "/api/config"

#: ABIs the page uses, by the name it knows them under: (contract, source file or None).
ABIS: dict[str, tuple[str, str | None]] = {
    "vault": ("OptionVault", None),
    "erc20": ("IERC20Metadata", None),
    "factory": ("VaultFactory", None),
    "queue": ("RedemptionQueue", None),
}


@dataclass(frozen=True)
class WebConfig:
    """What ``GET /api/config`` returns (see :meth:`to_json`).

    Attributes:
        rpc_url: The URL the browser reads from (and the test wallet sends to).
        chain_id: The node's chain id, as checked at start.
        vaults: Vault addresses from the addresses file (checksummed); the page adds the
            factory's registry to them.
        factory: The ``VaultFactory`` to list vaults from, if the file names one.
        addresses: The addresses file's addresses and chain id, for reference (token, feed,
            batcher ...): never its other fields (a devnet's account keys, an operator's notes).
        history_blocks: How many blocks back the page reads events and samples NAV and delta.
        abis: ABI per name in :data:`ABIS`.
    """

    rpc_url: str
    chain_id: int
    vaults: tuple[str, ...]
    factory: str | None
    addresses: dict[str, Any] = field(default_factory=dict)
    history_blocks: int = DEFAULT_HISTORY_BLOCKS
    abis: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The endpoint's JSON body (camelCase, as the page reads it)."""
        return {
            "rpcUrl": self.rpc_url,
            "chainId": self.chain_id,
            "vaults": list(self.vaults),
            "factory": self.factory,
            "addresses": self.addresses,
            "historyBlocks": self.history_blocks,
            "abis": self.abis,
        }


def read_addresses(path: Path) -> dict[str, Any]:
    """Read an addresses JSON file (devnet or ``deployments/*.json``) as it is.

    Raises:
        ConfigError: The file is missing, unreadable, or not a JSON object.
    """
    try:
        raw = json.loads(read_utf8(path, "addresses file"))
    except FileNotFoundError:
        raise ConfigError(f"addresses file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"addresses file {path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"addresses file {path} must hold a JSON object")
    return raw


def build_config(
    addresses: dict[str, Any],
    *,
    rpc_url: str,
    chain_id: int,
    history_blocks: int = DEFAULT_HISTORY_BLOCKS,
) -> WebConfig:
    """Build the page's config from an addresses file's content and the node's chain id.

    Args:
        addresses: The addresses file's JSON object (:func:`read_addresses`).
        rpc_url: The RPC URL the browser will use (one URL, ``http(s)://`` or ``ws(s)://``).
        chain_id: The chain id the node reported.
        history_blocks: Blocks of history the page reads.

    Raises:
        ConfigError: No vault and no factory in the file, a malformed address, a file written
            for another chain, a bad ``history_blocks``, or missing artifacts.
    """
    if history_blocks < 1:
        raise ConfigError("--history-blocks must be >= 1")
    raw_vaults = addresses.get("vaults") or []
    if isinstance(raw_vaults, str):
        raw_vaults = [v for v in raw_vaults.split(",") if v.strip()]
    if not isinstance(raw_vaults, list):
        raise ConfigError("addresses file: 'vaults' must be a list of addresses")
    vaults = tuple(dict.fromkeys(checksum(str(v), "addresses file: vaults") for v in raw_vaults))
    factory_raw = addresses.get("factory") or addresses.get("vault_factory")
    factory = checksum(str(factory_raw), "addresses file: factory") if factory_raw else None
    if not vaults and factory is None:
        raise ConfigError("addresses file names no vaults and no factory: nothing to show")
    file_chain = addresses.get("chain_id", addresses.get("chainId"))
    if file_chain is not None:
        file_id = file_chain_id(file_chain, "addresses file")
        if file_id != chain_id:
            raise ConfigError(
                f"addresses file is for chain {file_id} but the RPC node is on chain {chain_id}"
            )
    abis = {name: list(load_abi(contract, source)) for name, (contract, source) in ABIS.items()}
    return WebConfig(
        rpc_url=rpc_url,
        chain_id=chain_id,
        vaults=vaults,
        factory=factory,
        addresses=_public_addresses(addresses),
        history_blocks=history_blocks,
        abis=abis,
    )


def _public_addresses(addresses: dict[str, Any]) -> dict[str, Any]:
    """The entries of an addresses file that are addresses (or lists of them), and its chain id.

    What the page may see for reference. Anything else, a nested section (the devnet's, with its
    accounts' keys), a URL that may carry an API key, free text, is left out.
    """

    def is_address(value: Any) -> bool:
        return isinstance(value, str) and is_hex_address(value)

    def keep(key: str, value: Any) -> bool:
        if key in ("chain_id", "chainId"):
            return isinstance(value, int)
        if isinstance(value, list):
            return bool(value) and all(is_address(v) for v in value)
        return is_address(value)

    return {key: value for key, value in addresses.items() if keep(key, value)}


def check_vaults(w3: Web3, config: WebConfig) -> None:
    """Check the vaults and the factory the page will show, as ``keeper run`` does at start-up.

    Each vault must answer the vault's views; the factory, if any, its registry (the page lists
    its vaults from it).

    Raises:
        ConfigError: ``"<address> is not a vault (...)"`` for the first one that is not;
            ``"<address> is not a vault factory (...)"``.
    """
    validate_vaults(w3, list(config.vaults))
    if config.factory is not None:
        factory_vaults(w3, config.factory)


def connect_config(
    addresses: dict[str, Any],
    rpc_url: str,
    history_blocks: int = DEFAULT_HISTORY_BLOCKS,
    *,
    expected_chain_id: int | None = None,
) -> WebConfig:
    """Connect to ``rpc_url``, build the page's config for its chain, and check its contracts.

    Raises:
        ChainError: The RPC cannot be reached, or is not on ``expected_chain_id`` (when given).
        ConfigError: The config is malformed, or a vault or the factory is not one
            (:func:`build_config`, :func:`check_vaults`).
    """
    w3 = connect(rpc_url, expected_chain_id=expected_chain_id)
    config = build_config(
        addresses, rpc_url=rpc_url, chain_id=int(w3.eth.chain_id), history_blocks=history_blocks
    )
    check_vaults(w3, config)
    return config


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The names a browser sends as ``Host`` for a loopback server (without the port).
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


class _Handler(SimpleHTTPRequestHandler):
    """Static files from the dist directory, plus the config endpoint."""

    config_body: bytes = b"{}"
    #: Fixed types for what Vite emits (module scripts need a JavaScript type, whatever the
    #: host's /etc/mime.types says).
    extensions_map: dict[str, str] = {  # noqa: RUF012 - the base class's attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".json": "application/json",
        ".png": "image/png",
    }

    def __init__(
        self, *args: Any, config_body: bytes, hosts: frozenset[str] | None, **kwargs: Any
    ) -> None:
        self.config_body = config_body
        self.hosts = hosts
        super().__init__(*args, **kwargs)

    def _host_refused(self) -> bool:
        """Refuse (403) a request whose ``Host`` is not a name of this loopback server.

        A page of another site whose name a DNS rebinding points at 127.0.0.1 reaches this
        server from the user's browser as its own origin, and read ``/api/config`` (the RPC URL,
        API key included): only the loopback names, with this port, are served. A server bound
        to another interface (``--host``) serves whatever name points at it (``hosts`` None).
        """
        if self.hosts is None:
            return False
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name in self.hosts:
            return False
        self.send_error(HTTPStatus.FORBIDDEN, "unknown Host: open the page at 127.0.0.1")
        return True

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def do_GET(self) -> None:
        """Serve the config endpoint, else a static file."""
        if self._host_refused():
            return
        if self.path.split("?", 1)[0] == CONFIG_PATH:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config_body)))
            self.end_headers()
            self.wfile.write(self.config_body)
            return
        super().do_GET()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        """No directory listings: a directory without an index.html is not found."""
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a page opening more connections at once than
    # that, while the accepting thread waited for a core, had the kernel drop the extra SYNs,
    # and each such request waited a second for its retransmit.
    request_queue_size = 128


class WebServer:
    """The HTTP server behind ``keeper web``, in a background thread or the foreground.

    Use it as a context manager in tests::

        with WebServer(config, port=0) as server:
            page.goto(server.url)

    Args:
        config: What ``/api/config`` returns.
        dist: The built app (``web/dist``, holding ``index.html``).
        host: Interface to bind (loopback by default).
        port: TCP port (0: any free port; :attr:`port` tells which).

    Raises:
        ConfigError: The app is not built, or the port cannot be bound.
    """

    def __init__(
        self,
        config: WebConfig,
        *,
        dist: Path = DEFAULT_DIST,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not (dist / "index.html").is_file():
            raise ConfigError(
                f"the web app is not built ({dist}/index.html missing): run `make web`"
            )
        body = json.dumps(config.to_json(), separators=(",", ":")).encode()
        hosts = _LOOPBACK_NAMES | {host.lower(), f"[{host.lower()}]"} if is_loopback(host) else None
        handler = functools.partial(_Handler, directory=str(dist), config_body=body, hosts=hosts)
        try:
            self._httpd = _Httpd((host, port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> WebServer:
        """Serve in a daemon thread and return at once."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="keeper-web", daemon=True
        )
        self._thread.start()
        logger.info("web app on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C raises ``KeyboardInterrupt``)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
