"""``keeper web``: serve the depositors' web app against an RPC node and an addresses file.

The page (``web/dist``, built by ``make install``/``make web``) is static; the server adds one
JSON endpoint with the RPC URL, chain id, addresses and ABIs (:mod:`keeper.app.web`). The RPC
URL comes from ``--rpc-url``, else the addresses file's ``rpc_url``, else ``KEEPER_RPC_URL`` (or
the first of ``KEEPER_RPC_URLS``) from the environment or the dotenv file, as the keeper's
settings read them. The node is asked for its chain id once, at start: a file written for
another chain is refused, and so is any chain but ``KEEPER_CHAIN_ID`` when that is set. See
docs/web.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from typing import Any

from keeper.app.defaults import DEFAULT_DIST, DEFAULT_HISTORY_BLOCKS
from keeper.arguments import file_path, int_between, rpc_url
from keeper.errors import ConfigError
from keeper.settings import SHARED_FLAGS, Settings, env_file_arg, load_settings

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
#: Most blocks of history the page may be told to read (a JavaScript number stays exact far
#: above it; any chain's useful history is below it).
MAX_HISTORY_BLOCKS = 100_000_000


def register(subparsers: Any) -> None:
    """Add the ``web`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "web",
        help="serve the depositors' web app (web/dist) for the vaults in an addresses file",
        description=(
            "Serve the built web app and a config endpoint (RPC URL, chain id, addresses, "
            "ABIs from build/forge). The page reads the chain itself and sends transactions "
            "through the browser's wallet (window.ethereum); this server never signs. "
            "Binds to 127.0.0.1 unless --host says otherwise."
        ),
    )
    p.add_argument(
        "--addresses",
        type=file_path,
        required=True,
        metavar="JSON",
        help="addresses file: out/devnet.json or deployments/<network>.json",
    )
    p.add_argument(
        "--rpc-url",
        type=rpc_url,
        metavar="URL",
        help="JSON-RPC URL the browser reads from (default: the file's rpc_url, KEEPER_RPC_URL)",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int_between(0, 65_535),
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--history-blocks",
        type=int_between(1, MAX_HISTORY_BLOCKS),
        default=DEFAULT_HISTORY_BLOCKS,
        metavar="N",
        help=(
            f"blocks of events and history the page reads (default {DEFAULT_HISTORY_BLOCKS}, "
            f"at most {MAX_HISTORY_BLOCKS})"
        ),
    )
    p.add_argument(
        "--env-file",
        type=file_path,
        default=None,
        metavar="PATH",
        help="dotenv file of KEEPER_* settings: KEEPER_RPC_URL, KEEPER_CHAIN_ID "
        "(default: .env if present)",
    )
    p.add_argument("--dist", type=Path, default=DEFAULT_DIST, help=argparse.SUPPRESS)
    p.set_defaults(func=web)


def web(args: argparse.Namespace) -> int:
    """Check the node, then serve until Ctrl-C."""
    from keeper.app.web import WebServer, connect_config, is_loopback, read_addresses

    addresses = read_addresses(args.addresses)
    # The keeper's own settings: the flag, then the file's rpc_url, then KEEPER_RPC_URL(S) from
    # the environment or the dotenv file; KEEPER_CHAIN_ID against the file's chain id here,
    # against the node's at connect.
    settings = load_settings(
        env_file=env_file_arg(args.env_file),
        addresses=args.addresses,
        flags=SHARED_FLAGS,
        rpc_url=args.rpc_url,
    )
    if not _rpc_url_given(settings):
        raise ConfigError("no RPC URL: pass --rpc-url (or put rpc_url in the addresses file)")
    config = connect_config(
        addresses, settings.rpc_urls[0], args.history_blocks, expected_chain_id=settings.chain_id
    )
    chain_id = config.chain_id
    server = WebServer(config, dist=args.dist, host=args.host, port=args.port)
    if not is_loopback(args.host):
        logger.warning("serving on %s: the config (RPC URL) is visible to that network", args.host)
    print(
        f"keeper web: {len(config.vaults)} vault(s)"
        f"{' + factory ' + config.factory if config.factory else ''} on chain {chain_id}"
    )
    # A script's background job starts with SIGINT ignored; `kill -INT` must still stop the
    # server, as it stops `keeper run` and `keeper devnet up` (SIGTERM: keeper.cli). Taken
    # before the page's URL is printed: whoever waits for that line may signal at once.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print(f"keeper web: open {server.url}  (Ctrl-C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("keeper web: stopped")
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _rpc_url_given(settings: Settings) -> bool:
    """Whether some source named the RPC: the page must not silently read a default node."""
    default = Settings.model_fields["rpc_url"].default
    return "rpc_url" in settings.model_fields_set or settings.rpc_urls != [default]
