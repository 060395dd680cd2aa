"""A chat completions stream, answered as the Responses API's event stream.

The upstream's chat chunks (already tapped for usage and the event, see
:class:`~llmrelay.execution.streaming.TappedStream`) become the events OpenAI sends for a
text answer, each numbered by ``sequence_number``: ``response.created``,
``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
one ``response.output_text.delta`` per chunk with text, then ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done`` and
``response.completed`` (``response.incomplete`` when the answer was cut by the token
limit) with the usage the server sent, if it sent any.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from llmrelay.execution.responses_translate import (
    message_item,
    new_ids,
    response_object,
    responses_usage,
    status_of,
)
from llmrelay.execution.streaming import TappedStream
from llmrelay.transport.sse import SSEDecoder, SSEEvent

__all__ = ["TranslatedResponseStream"]


class TranslatedResponseStream:
    """An ``AsyncIterator[bytes]`` of Responses SSE events over a chat stream; closing it
    closes the chat stream (which records the execution's event)."""

    content_type = "text/event-stream"

    def __init__(self, chat: TappedStream, request: Mapping[str, object]) -> None:
        self._chat = chat
        self._request = request
        self._decoder = SSEDecoder()
        self._response_id, self._message_id = new_ids()
        self._sequence = 0
        self._ready: deque[bytes] = deque()
        self._text: list[str] = []
        self._model: object = request.get("model")
        self._finish: object = None
        self._usage: object = None
        self._started = False
        self._done = False

    def __aiter__(self) -> TranslatedResponseStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            if not self._started:
                self._started = True
                self._opening()
                break
            try:
                raw = await self._chat.__anext__()
            except StopAsyncIteration:
                self._chunks(self._decoder.flush())
                self._closing()
                self._done = True
                break
            self._chunks(self._decoder.feed(raw))
        out = b"".join(self._ready)
        self._ready.clear()
        return out

    async def first_chunk(self) -> None:
        """As :meth:`TappedStream.first_chunk`: wait for the chat stream's first bytes (a
        route moves on when they never come), before any event reached the caller."""
        await self._chat.first_chunk()

    async def aclose(self) -> None:
        self._done = True
        await self._chat.aclose()

    # ------------------------------------------------------------------ events
    def _emit(self, kind: str, fields: dict[str, Any]) -> None:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        self._ready.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            self._request,
            response_id=self._response_id,
            model=self._model,
            status=status,
            output=extra.pop("output", []),
            usage=extra.pop("usage", None),
            incomplete=extra.pop("incomplete", None),
        )

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._message_id, "output_index": 0, "content_index": 0}

    def _opening(self) -> None:
        self._emit("response.created", {"response": self._response("in_progress")})
        self._emit("response.in_progress", {"response": self._response("in_progress")})
        item = message_item(self._message_id, "", "in_progress")
        self._emit("response.output_item.added", {"output_index": 0, "item": item})
        self._emit("response.content_part.added", {**self._where(), "part": self._part("")})

    def _closing(self) -> None:
        text = "".join(self._text)
        status, incomplete = status_of(self._finish)
        self._emit("response.output_text.done", {**self._where(), "text": text, "logprobs": []})
        self._emit("response.content_part.done", {**self._where(), "part": self._part(text)})
        item = message_item(self._message_id, text, status)
        self._emit("response.output_item.done", {"output_index": 0, "item": item})
        response = self._response(
            status, output=[item], usage=responses_usage(self._usage), incomplete=incomplete
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        self._emit(kind, {"response": response})

    def _chunks(self, events: list[SSEEvent]) -> None:
        for event in events:
            data = event.data
            if not data or data.strip() == "[DONE]":
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(chunk, dict):
                self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> None:
        if isinstance(chunk.get("model"), str):
            self._model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason") is not None:
                self._finish = choice["finish_reason"]
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                self._text.append(text)
                fields = {**self._where(), "delta": text, "logprobs": []}
                self._emit("response.output_text.delta", fields)
