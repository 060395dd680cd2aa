"""SSE responses that forward upstream events as they arrive (``_execute`` and ``/v1``).

Headers are sent before the first byte, so a stream that breaks mid-way cannot change its
status any more: it ends with one SSE ``error`` event naming the failure (OpenAI's SDKs
raise on it) instead of a torn connection and a server traceback. So does a stream whose
event could not be made durable (``EventLogUnavailableError``): its end is withheld.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
from starlette.responses import StreamingResponse

from llmrelay.errors import EventLogUnavailableError, UpstreamError
from llmrelay.service import ChunkIterator, Stream, framework_error_message

log = logging.getLogger("llmrelay.web")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_event(err: UpstreamError | EventLogUnavailableError) -> bytes:
    if isinstance(err, EventLogUnavailableError):
        error: dict[str, object] = {
            "message": str(err),
            "type": "server_error",
            "param": None,
            "code": None,
        }
    else:
        error = {
            "message": framework_error_message(err),
            "type": "upstream_error",
            "param": None,
            "code": err.code or None,
        }
    body = {"error": error}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


async def _forward(stream: Stream) -> AsyncIterator[bytes]:
    try:
        if isinstance(stream, ChunkIterator):
            async for parsed in stream:
                yield b"data: " + orjson.dumps(parsed) + b"\n\n"
            yield b"data: [DONE]\n\n"
        else:  # SSE bytes
            async for chunk in stream:
                yield chunk
    except UpstreamError as err:
        log.info("upstream stream failed mid-way: %s", err.code or type(err).__name__)
        yield error_event(err)
    except EventLogUnavailableError as err:
        log.error("stream end withheld: the event log cannot record it")
        yield error_event(err)
    finally:
        await stream.aclose()


def sse_response(stream: Stream) -> StreamingResponse:
    """Pass ``stream`` through; a client disconnect cancels the upstream call."""
    return StreamingResponse(
        _forward(stream), media_type="text/event-stream", headers=STREAM_HEADERS
    )
