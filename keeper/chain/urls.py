"""The one rule for an RPC URL: which the keeper takes, whichever way it was given.

``--rpc-url``, ``KEEPER_RPC_URL``, ``KEEPER_RPC_URLS`` and ``KEEPER_SEND_RPC_URL``
(:mod:`keeper.settings`) and every URL the chain layer connects to
(:class:`keeper.chain.connection.FailoverProvider`: ``--fork-url``, the web page's RPC, a
devnet's) are checked here. Nothing but the standard library: the settings import it without
the node libraries.

The messages name the part that is wrong, never the URL nor any part of it: it may hold an API
key (in its path, its query or its user info).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

#: The schemes the transports speak, in any case (RFC 3986 3.1): ``HTTP://`` is ``http://``.
SCHEMES = ("http", "https", "ws", "wss")

#: An RFC 3986 scheme: what comes before ``://`` is named in the message only when it is one.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
#: A URL's scheme, after any leading blanks (:func:`lower_scheme`).
_LEADING_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]{0,15})://")


def lower_scheme(url: str) -> str:
    """``url`` with its scheme in lowercase (``HTTP://host/Path`` is ``http://host/Path``).

    A scheme is case-insensitive, and its lowercase form is the canonical one (RFC 3986 3.1):
    every URL the keeper takes is held in it, so the transports, the duplicate check and the
    logs each meet one spelling. The rest of the URL is left as written (a path or a query may
    hold a case-sensitive API key); text with no scheme is returned as it is.
    """
    match = _LEADING_SCHEME.match(url)
    if match is None:
        return url
    return url[: match.start(1)] + match.group(1).lower() + url[match.end(1) :]


def lower_schemes(text: str) -> str:
    """Comma-separated URLs (``KEEPER_RPC_URL``'s text) each with a lowercase scheme.

    Only the schemes change: the commas, blanks and the rest of each URL stay as written.
    """
    return ",".join(lower_scheme(part) for part in text.split(","))


def check_rpc_url(url: str) -> None:
    """Refuse a URL that is not an http(s):// or ws(s):// URL with a host and a numeric port.

    The scheme in any case: a caller keeps the URL by :func:`lower_scheme`.

    Without the host and port checks a URL that can never connect passed, and was retried as
    an unreachable node: ``keeper run`` for all of ``KEEPER_STARTUP_TIMEOUT_S``.

    Raises:
        ValueError: The part that is wrong (never the URL).
    """
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise ValueError(
            "RPC URL has no scheme: write it with http://, https://, ws:// or wss:// "
            "(e.g. http://127.0.0.1:8545)"
        )
    if scheme.lower() not in SCHEMES:
        raise ValueError(f"unsupported RPC URL scheme {scheme!r} (http, https, ws, wss)")
    try:
        parts = urlsplit(url)
    except ValueError:
        # "Invalid IPv6 URL" (a bracket left open), or "'<host>' does not appear to be an IPv4
        # or IPv6 address": urlsplit's words may quote the host, so they are not passed on.
        raise ValueError(
            "RPC URL is not a valid URL (a bracketed host that is not an IPv6 address)"
        ) from None
    if not parts.hostname:
        raise ValueError("RPC URL is not a valid URL (no host)")
    try:
        parts.port  # noqa: B018 - reading it is the check
    except ValueError:
        raise ValueError(
            "RPC URL is not a valid URL (its port is not a number from 0 to 65535)"
        ) from None


def check_rpc_urls(urls: Sequence[str]) -> None:
    """Check each of a list of read endpoints (:func:`check_rpc_url`), and refuse one twice.

    Health, failover and hedged reads would count an endpoint listed twice as two. The message
    names positions, not URLs.

    Raises:
        ValueError: The first fault, as :func:`check_rpc_url` names it, or the positions of an
            endpoint listed twice (a trailing ``/`` and the scheme's case aside).
    """
    seen: dict[str, int] = {}
    for i, url in enumerate(urls, start=1):
        check_rpc_url(url)
        first = seen.setdefault(lower_scheme(url).rstrip("/"), i)
        if first != i:
            raise ValueError(f"endpoint {i} is listed twice (it is endpoint {first})")


def split_rpc_urls(value: str) -> list[str]:
    """The endpoints of a comma-separated setting's text, stripped, empty parts left out."""
    return [u.strip() for u in value.split(",") if u.strip()]


def check_rpc_url_text(value: str) -> None:
    """Check an RPC URL setting's text (``--rpc-url``, ``KEEPER_RPC_URL``): one URL or several.

    Raises:
        ValueError: No URL at all, one that is not a valid http(s):// or ws(s):// URL, or an
            endpoint listed twice (the message names the part, never the URL).
    """
    urls = split_rpc_urls(value)
    if not urls:
        raise ValueError("is empty: give the node's URL (http://, https://, ws:// or wss://)")
    check_rpc_urls(urls)
