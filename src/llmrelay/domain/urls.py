"""URL rules shared by config validation and the outbound stack (spec §1.4, §2.9, §6.1)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from llmrelay.errors import UrlError

_SLASHES = re.compile(r"/{2,}")
_DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25}


def assert_url(url: str) -> None:
    """Kibana's ``assertURL``: parseable, has a hostname, protocol http or https."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as err:
        raise UrlError(f"URL Error: Invalid URL: {url}") from err
    if not parts.scheme or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme):
        raise UrlError(f"URL Error: Invalid URL: {url}")
    # "example.com/x" has no scheme netloc; "ftp:foo" neither: Node's URL rejects these
    if (not parts.netloc and not parts.hostname) and (
        parts.scheme.lower() in ("http", "https") or "://" not in url
    ):
        raise UrlError(f"URL Error: Invalid URL: {url}")
    if not parts.hostname:
        raise UrlError("URL Error: URL must contain hostname")
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlError("URL Error: Invalid protocol")


def hostname_of(url: str) -> str:
    """Lower-cased hostname of ``url`` ("" when there is none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def normalise_url(url: str) -> str:
    """Drop one trailing ``/`` and collapse runs of ``/`` in the path (spec §2.9 step 3)."""
    parts = urlsplit(url)
    path = _SLASHES.sub("/", parts.path)
    if path.endswith("/"):
        path = path[:-1]
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def canonical_origin(url: str) -> str | None:
    """``https://Host`` -> ``https://host:443``; None for unparseable or port-less schemes."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname:
        return None
    port = port or _DEFAULT_PORTS.get(scheme)
    if port is None:
        return None
    return f"{scheme}://{parts.hostname.lower()}:{port}"
