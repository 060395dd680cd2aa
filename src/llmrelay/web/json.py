"""JSON in and out with orjson (hot path), and request-body limits."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.errors import BadRequestError, PayloadTooLargeError

MAX_BODY_BYTES = 1024 * 1024  # Kibana's default server.maxPayload (1mb)
MAX_DEPTH = 64


def json_response(
    body: object, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


async def read_json(request: Request) -> object:
    """Parse the body; malformed, oversized or absurdly nested input -> clear 4xx errors."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"Payload content length greater than maximum allowed: {MAX_BODY_BYTES}"
        )
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(
                f"Payload content length greater than maximum allowed: {MAX_BODY_BYTES}"
            )
    if not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadRequestError(
            f"Invalid JSON in request body: {err.msg} (at position {err.pos})"
        ) from None
    if _too_deep(value):
        raise BadRequestError(f"Request body is nested deeper than {MAX_DEPTH} levels")
    return value


def _too_deep(value: object) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
