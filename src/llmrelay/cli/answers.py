"""Telling llmrelay's answers from anyone else's.

``--relay-url`` pointed at the wrong port (a web server, another API, a proxy's error
page) must end in one line saying so, not in a JSON error or a misleading ``404``. Every
answer of llmrelay's ``/api`` is JSON: data on success, Kibana's error envelope
(``{"statusCode", "error", "message"}``) on failure, and a stream only where one was
asked for. Anything else is foreign; ``GET /api/status`` (``"name": "llmrelay"``) then
tells "an llmrelay that answered oddly" from "not an llmrelay server".
"""

from __future__ import annotations

from typing import Any

import httpx

from llmrelay.domain.responses import reason_phrase

SSE = "text/event-stream"


def media_type(response: httpx.Response) -> str:
    """``text/html; charset=utf-8`` -> ``text/html``; empty when the header is missing."""
    header: str = response.headers.get("content-type", "")
    return header.split(";", 1)[0].strip().lower()


def is_json(response: httpx.Response) -> bool:
    kind = media_type(response)
    return kind == "application/json" or kind.endswith("+json")


def kibana_error(body: object) -> bool:
    """The envelope every llmrelay ``/api`` error carries."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("statusCode"), int)
        and isinstance(body.get("message"), str)
    )


def describe(response: httpx.Response) -> str:
    """``404 Not Found, text/html``: what came back, without the body."""
    status = response.status_code
    phrase = reason_phrase(status)
    kind = media_type(response) or "no content type"
    return f"{status} {phrase}".rstrip() + f", {kind}"


def request_line(response: httpx.Response) -> str:
    """``GET /api/actions/connectors`` (the path as sent, without the query)."""
    request = response.request
    return f"{request.method} {request.url.path}"


def is_llmrelay_status(response: httpx.Response) -> bool:
    """``GET /api/status`` as llmrelay answers a caller it knows."""
    if not is_json(response):
        return False
    try:
        body: Any = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("name") == "llmrelay"
