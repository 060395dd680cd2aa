"""The stream tap: hand the caller the upstream bytes unchanged, as they arrive, while
usage is collected on the side; exactly one completion callback on end, error or cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import orjson

from llmrelay.domain.events import TokenUsage
from llmrelay.transport.sse import SSEDecoder, SSEEvent

StreamEnd = Callable[[TokenUsage, BaseException | None, bool], None]
"""Called once with (usage so far, error or None, cancelled)."""


class _Response(Protocol):
    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    async def release(self) -> None: ...


class _Collector(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> TokenUsage: ...


class TappedStream:
    """An ``AsyncIterator[bytes]`` over an upstream SSE body.

    Iterate it to the end, or call :meth:`aclose` when you stop early (a disconnected
    HTTP client): both release the upstream connection and report usage exactly once.
    """

    content_type = "text/event-stream"

    def __init__(self, response: _Response, collector: _Collector, on_end: StreamEnd) -> None:
        self._response = response
        self._collector = collector
        self._on_end = on_end
        self._chunks: AsyncIterator[bytes] | None = None
        self._done = False

    def __aiter__(self) -> TappedStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._chunks is None:
            self._chunks = self._response.iter_chunks().__aiter__()
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            await self._finish(None, cancelled=False)
            raise
        except asyncio.CancelledError:
            await self._finish(None, cancelled=True)
            raise
        except BaseException as err:
            await self._finish(err, cancelled=False)
            raise
        self._collector.feed(chunk)
        return chunk

    async def aclose(self) -> None:
        """Stop early: the upstream request is abandoned and usage so far recorded."""
        if not self._done:
            await self._finish(None, cancelled=True)

    async def __aenter__(self) -> TappedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _finish(self, error: BaseException | None, *, cancelled: bool) -> None:
        self._done = True
        try:
            await self._response.release()
        finally:
            self._on_end(self._collector.finish(), error, cancelled)


class ChunkIterator:
    """``invokeAsyncIterator``'s result: parsed ``chat.completion.chunk`` objects.

    Built on a :class:`TappedStream`, so the same usage accounting and cleanup apply.
    Malformed data lines are skipped here (the usage collector notes them).
    """

    def __init__(self, stream: TappedStream) -> None:
        self._stream = stream
        self._decoder = SSEDecoder()
        self._ready: list[dict[str, object]] = []

    def __aiter__(self) -> ChunkIterator:
        return self

    async def __anext__(self) -> dict[str, object]:
        while not self._ready:
            try:
                raw = await self._stream.__anext__()
            except StopAsyncIteration:
                self._drain(self._decoder.flush())
                if self._ready:
                    break
                raise
            self._drain(self._decoder.feed(raw))
        return self._ready.pop(0)

    def _drain(self, events: list[SSEEvent]) -> None:
        for event in events:
            data = event.data
            if not data or data.strip() == "[DONE]":
                continue
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                self._ready.append(parsed)

    async def aclose(self) -> None:
        await self._stream.aclose()
