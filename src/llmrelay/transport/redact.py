"""Masking for debug logs: no credential ever reaches a log line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "[REDACTED]"

_EXACT = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "password",
        "passwd",
        "credential",
        "credentials",
        "signature",
        "sig",
    }
)
_PARTS = ("key", "token", "secret", "auth", "cookie", "password", "session")


def is_sensitive(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in _EXACT or any(part in lowered for part in _PARTS)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A copy of ``headers`` with the values of credential-like names masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: (MASK if is_sensitive(name) else value) for name, value in items}


def redact_url(url: str) -> str:
    """``url`` without a userinfo password and with credential-like query values masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_sensitive(k) for k, _ in pairs):
                query = urlencode([(k, MASK if is_sensitive(k) else v) for k, v in pairs])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable url>"
