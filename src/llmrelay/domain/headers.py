"""The rule for ``config.headers``: what a custom header name and value may be.

Kibana stores any string map, and a name such as ``""`` or ``X Y`` (or a value with a
line break) then fails every later call with an unexplained ``400 Bad Request``, or is
refused by the HTTP client. llmrelay refuses such headers when the connector is saved,
naming the header (docs/deviations.md, section i). The web form checks the same rule in
the browser (web/static/headers.js); keep the two in step.

A name must be an RFC 9110 token. Hop-by-hop headers describe one connection, which the
HTTP client manages itself; ``Host`` and ``Content-Length`` are set by the client from
``apiUrl`` and the body (a different ``Host`` would also send the request to a virtual
host that ``allowedHosts`` never saw). Values are free text, minus CR, LF and the other
control characters (tab allowed); a value is never repeated in a message, as it may be
a credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from llmrelay.domain.validation import issue

__all__ = ["RESERVED_HEADERS", "header_issues"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")
_HOP_BY_HOP = "it is a hop-by-hop header, managed by the HTTP client"

RESERVED_HEADERS: Mapping[str, str] = {
    "connection": _HOP_BY_HOP,
    "keep-alive": _HOP_BY_HOP,
    "proxy-connection": _HOP_BY_HOP,
    "transfer-encoding": _HOP_BY_HOP,
    "upgrade": _HOP_BY_HOP,
    "te": _HOP_BY_HOP,
    "trailer": _HOP_BY_HOP,
    "host": "the HTTP client sets it from apiUrl",
    "content-length": "the HTTP client sets it from the request body",
}
"""Lower-case names a connector may not set, with the reason shown."""


def _shown(name: str, limit: int = 80) -> str:
    """The name quoted, control characters escaped (``"X\\r\\nY"``), length capped."""
    text = json.dumps(name, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + '..."'


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a custom header name, or None when it can."""
    if not name:
        return 'header name "" is empty'
    if not _TOKEN.fullmatch(name):
        return f"header name {_shown(name)} is not a valid HTTP token"
    reason = RESERVED_HEADERS.get(name.lower())
    if reason is not None:
        return f"header name {_shown(name)} is not allowed: {reason}"
    return None


def value_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be sent as header ``name``, without repeating the value."""
    if _LINE_BREAK.search(value):
        return f"header {_shown(name)} has a line break (CR or LF) in its value"
    if _CONTROL.search(value):
        return f"header {_shown(name)} has a control character in its value"
    return None


def header_issues(headers: Mapping[object, object]) -> list[str]:
    """Issue lines (``[headers]: ...``) for every bad name and value; types are the
    schema's business, so non-string entries are skipped here."""
    found: list[str] = []
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        problem = name_problem(name)
        if problem is None and isinstance(value, str):
            problem = value_problem(name, value)
        if problem is not None:
            found.append(issue("headers", problem))
    return found
