"""Scripted answers: what FakeUpstream does for the next ``times`` requests instead of its
default, and the fixed responses most scripts send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive

from llmrelay.testing.protocol import RecordedRequest

__all__ = ["Exchange", "Handler", "Script", "fixed", "json_response"]


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
