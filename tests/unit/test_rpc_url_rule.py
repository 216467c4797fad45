"""One rule for an RPC URL, whichever path it comes in by.

``--rpc-url`` and ``KEEPER_RPC_URL`` (``keeper.chain.urls.check_rpc_url_text``) and every URL the
chain layer connects to (``FailoverProvider``, under ``connect``: ``--fork-url``, the web page's
RPC, the devnet's) each decided which URLs they took, in two copies that had drifted: the chain
layer took a URL with no host or a port that is not a number (retried as an unreachable node) and
an endpoint listed twice (counted twice by health, failover and hedged reads), and the two named
the same fault in different words. Both now ask :mod:`keeper.chain.urls`. No message quotes the
URL, nor any part of it: it may hold an API key (``SECRET`` here).
"""

from __future__ import annotations

import pytest

from keeper.chain.connection import FailoverProvider, redact_url, scrub_url
from keeper.chain.urls import check_rpc_url_text
from keeper.errors import ConfigError

#: (the URLs, what is wrong with them or ``None``)
TABLE: list[tuple[list[str], str | None]] = [
    (["127.0.0.1:8545/SECRET"], "RPC URL has no scheme"),
    (["ftp://127.0.0.1:8545/SECRET"], "unsupported RPC URL scheme 'ftp'"),
    (["http://127.0.0.1:8545/SECRET"], None),
    (["https://rpc.example/v3/SECRET"], None),
    (["ws://127.0.0.1:8546/SECRET"], None),
    (["wss://rpc.example/ws/v3/SECRET"], None),
    # A scheme is case-insensitive (RFC 3986 3.1): both refused an uppercase one before.
    (["HTTP://127.0.0.1:8545/SECRET"], None),
    (["Https://rpc.example/v3/SECRET"], None),
    (["WSS://rpc.example/ws/v3/SECRET"], None),
    (["FTP://127.0.0.1:8545/SECRET"], "unsupported RPC URL scheme 'FTP'"),
    (["HTTP://127.0.0.1:8545/SECRET", "http://127.0.0.1:8545/SECRET"], "listed twice"),
    (["http://:8545/SECRET"], "(no host)"),
    (["http://127.0.0.1:port/SECRET"], "(its port is not a number from 0 to 65535)"),
    (["http://127.0.0.1:8545/SECRET", "http://127.0.0.1:8545/SECRET/"], "listed twice"),
    (["http://[::1/SECRET"], "RPC URL is not a valid URL"),
    # urlsplit's own words quote a bracketed host: "'SECRET' does not appear to be an IPv4 ..."
    (["http://[SECRET]/v3"], "RPC URL is not a valid URL"),
    # no scheme, but a "://" later in it: what comes before is no scheme, and is not quoted
    (["rpc.example/v3/SECRET?next=http://x"], "RPC URL has no scheme"),
]


def _by_settings(urls: list[str]) -> str | None:
    try:
        check_rpc_url_text(",".join(urls))
    except ValueError as exc:
        return str(exc)
    return None


def _by_chain(urls: list[str]) -> str | None:
    try:
        FailoverProvider(urls)  # builds its transports: nothing is sent
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(("urls", "fault"), TABLE, ids=[" ".join(u) for u, _ in TABLE])
def test_the_settings_and_the_chain_layer_take_the_same_urls(
    urls: list[str], fault: str | None
) -> None:
    by_settings, by_chain = _by_settings(urls), _by_chain(urls)
    assert by_settings == by_chain
    if fault is None:
        assert by_settings is None
    else:
        assert by_settings is not None
        assert fault in by_settings
        assert "SECRET" not in by_settings
        for url in urls:
            assert url not in by_settings


@pytest.mark.parametrize("scheme", ["HTTP", "Http", "WSS"])
def test_an_uppercase_scheme_is_redacted_as_the_lowercase_one(scheme: str) -> None:
    """Named by its scheme and host, as the lowercase URL is, also where a library's words quote
    it with its scheme in lowercase (anvil's reqwest does); no secret either way."""
    lower = f"{scheme.lower()}://user:PASSWORD@127.0.0.1:8545/v2/SECRET?key=QUERY"
    upper = scheme + lower[len(scheme) :]
    assert redact_url(upper) == redact_url(lower) == f"{scheme.lower()}://127.0.0.1:8545"
    said = f"error sending request for url ({redact_url(lower)})"
    assert scrub_url(f"error sending request for url ({lower})", lower) == said
    for quoted in (lower, upper):
        assert scrub_url(f"error sending request for url ({quoted})", upper) == said
