"""Scripted answers: what FakeUpstream does for the next ``times`` requests instead of its
default, and the fixed responses most scripts send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive

from llmrelay.testing import protocol
from llmrelay.testing.protocol import RecordedRequest

__all__ = [
    "Exchange",
    "Handler",
    "Script",
    "fixed",
    "json_response",
    "tokenize_answer",
    "tokenize_count",
    "with_headers",
]


@dataclass(slots=True)
class Exchange:
    """A request being answered: what was recorded, and its ASGI ``receive`` (to notice the
    client leaving during a delay)."""

    request: RecordedRequest
    receive: Receive

    def payload(self) -> dict[str, Any]:
        """The body as a JSON object, or ``{}`` when it is not one."""
        parsed = self.request.json
        return parsed if isinstance(parsed, dict) else {}


Handler = Callable[[Exchange], Awaitable[Response]]


@dataclass(slots=True)
class Script:
    handler: Handler
    remaining: int


def json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body, status, headers, media_type="application/json")


def fixed(make: Callable[[], Response]) -> Handler:
    """A handler answering a fresh ``make()`` whatever the request."""

    async def handler(_: Exchange) -> Response:
        return make()

    return handler


def with_headers(response: Response, headers: Mapping[str, str] | None) -> Response:
    """``response`` with ``headers`` added."""
    for name, value in (headers or {}).items():
        response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return response


def tokenize_count(text: str) -> int:
    """The number of tokens the fake ``/tokenize`` reports for ``text``: its words."""
    return len(text.split())


async def tokenize_answer(exchange: Exchange) -> Response:
    """llama.cpp's ``POST /tokenize``: ``{"content": ...}`` -> ``{"tokens": [...]}``."""
    content = exchange.payload().get("content")
    if not isinstance(content, str):
        return json_response(protocol.error_body("content must be a string", "invalid"), 400)
    tokens = list(range(tokenize_count(content)))
    return json_response(orjson.dumps({"tokens": tokens}))
