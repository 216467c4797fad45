"""The one place that builds a web3 connection. Callers pass the result in; nothing is global."""

from __future__ import annotations

import logging

from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception

from keeper.errors import ChainError, ConfigError

logger = logging.getLogger(__name__)


def connect(rpc_url: str, *, expected_chain_id: int | None = None, timeout_s: float = 10.0) -> Web3:
    """Connect to an HTTP(S) JSON-RPC endpoint and check it answers.

    Args:
        rpc_url: ``http(s)://`` URL.
        expected_chain_id: When given, refuse a node on any other chain.
        timeout_s: Per-request timeout.

    Raises:
        ConfigError: The URL scheme is not supported.
        ChainError: The node cannot be reached, or it is on the wrong chain.
    """
    if rpc_url.startswith(("http://", "https://")):
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    else:
        raise ConfigError(f"unsupported RPC URL scheme: {rpc_url.split('://')[0]!r}")
    try:
        chain_id = w3.eth.chain_id
    except (OSError, Web3Exception, ValueError) as exc:
        # The transport's message repeats the full URL (and any API key in it): name the type only.
        raise ChainError(f"cannot reach RPC at {_redact(rpc_url)}: {type(exc).__name__}") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(f"RPC is on chain {chain_id}, expected chain {expected_chain_id}")
    logger.info("connected to chain %d at %s", chain_id, _redact(rpc_url))
    return w3


def _redact(url: str) -> str:
    """Hide anything after the host: RPC URLs often carry an API key in the path or query."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}"
