"""The stream tap: hand the caller the upstream bytes unchanged, as they arrive, while
usage is collected on the side; exactly one completion callback on end, error or cancel.

When llmrelay asked the upstream for a usage chunk the caller did not ask for, the tap
drops that one SSE event (and nothing else) from what the caller receives.

The completion callback may return an awaitable (the event made durable): the tap waits
for it before the stream's last bytes. A chunk that ends with ``[DONE]`` is therefore held
until the upstream's end is read (it follows at once), so ``[DONE]`` leaves after the
event is durable; a chunk that only looked like an end is handed out when the next one
arrives. Streams without ``[DONE]`` end after the wait too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import orjson

from llmrelay.domain.events import TokenUsage
from llmrelay.errors import LlmrelayError
from llmrelay.transport.sse import SSEDecoder, SSEEvent

StreamEnd = Callable[[TokenUsage, BaseException | None, bool], Awaitable[None] | None]
"""Called once with (usage so far, error or None, cancelled); may return what to await
before the stream's end is handed out."""


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

    def __init__(
        self,
        response: _Response,
        collector: _Collector,
        on_end: StreamEnd,
        *,
        strip_usage_chunk: bool = False,
        ends: Callable[[bytes], bool] | None = None,
    ) -> None:
        """``ends``: whether a chunk holds the stream's last event, which is held back
        until the upstream's end is read (and the event is durable); ``[DONE]`` by
        default, :func:`ends_with_final_response` for the Responses API."""
        self._response = response
        self._ends = ends or _ends_with_done
        self._collector = collector
        self._on_end = on_end
        self._chunks: AsyncIterator[bytes] | None = None
        self._done = False
        self._next: bytes | None = None  # read ahead while looking for the end
        self._stripper = UsageChunkStripper() if strip_usage_chunk else None
        self._primed: bytes | None = None

    def __aiter__(self) -> TappedStream:
        return self

    async def first_chunk(self) -> None:
        """Wait for the first bytes, kept for the next read: a stream that fails before
        them raises here, while the caller has seen nothing (a route then moves on)."""
        if self._primed is None and not self._done:
            with contextlib.suppress(StopAsyncIteration):  # an empty stream is an answer
                self._primed = await self.__anext__()

    async def __anext__(self) -> bytes:
        if self._primed is not None:
            primed, self._primed = self._primed, None
            return primed
        while True:
            chunk, self._next = self._next, None
            if chunk is None:
                chunk = await self._read()
                if chunk is None:
                    rest = self._rest()
                    if rest:
                        return rest
                    raise StopAsyncIteration
            out = self._pass(chunk)
            if not out:
                continue
            if self._ends(chunk):
                following = await self._read()  # the upstream's end, normally at once
                if following is None:
                    return out + self._rest()
                self._next = following
            return out

    async def _read(self) -> bytes | None:
        """The upstream's next chunk; None at its end (once finished)."""
        if self._done:
            return None
        if self._chunks is None:
            self._chunks = self._response.iter_chunks().__aiter__()
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self._finish(None, cancelled=False)
            return None
        except asyncio.CancelledError:
            await self._finish(None, cancelled=True)
            raise
        except BaseException as err:
            await self._finish(err, cancelled=False)
            raise

    def _pass(self, chunk: bytes) -> bytes:
        self._collector.feed(chunk)
        return chunk if self._stripper is None else self._stripper.feed(chunk)

    def _rest(self) -> bytes:
        return self._stripper.flush() if self._stripper is not None else b""

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
        durable: Awaitable[None] | None = None
        try:
            await self._response.release()
        finally:
            durable = self._on_end(self._collector.finish(), error, cancelled)
        if durable is None or cancelled:  # cancelled: nobody is left to answer
            return
        if error is None:
            await durable
            return
        with contextlib.suppress(LlmrelayError):  # the stream's own error is the answer
            await durable


_FINAL_RESPONSE_EVENTS = (
    b"event: response.completed",
    b"event: response.incomplete",
    b"event: response.failed",
)


def ends_with_final_response(chunk: bytes) -> bool:
    """Whether ``chunk`` holds a Responses stream's final event (it sends no ``[DONE]``):
    its ``event:`` line, at a line start (inside JSON a line break is escaped)."""
    if b"event: response." not in chunk:
        return False
    return any(
        chunk.startswith(e) or b"\n" + e in chunk or b"\r" + e in chunk
        for e in _FINAL_RESPONSE_EVENTS
    )


def _ends_with_done(chunk: bytes) -> bool:
    """Whether ``chunk`` ends with the ``[DONE]`` line (in a JSON string it would be
    followed by a quote)."""
    return chunk[-16:].rstrip().endswith(b"[DONE]")


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

    async def first_chunk(self) -> None:
        """As :meth:`TappedStream.first_chunk`."""
        await self._stream.first_chunk()

    async def aclose(self) -> None:
        await self._stream.aclose()


# An event end: a line end followed by an empty line (SSE allows \r\n, \n and \r).
_EVENT_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r)")
_EMPTY_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_FILLED_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*[^\]\s]')


def is_usage_chunk(event: bytes) -> bool:
    """Whether one raw SSE event is the ``include_usage`` chunk: ``choices: []`` and a
    ``usage`` object. Cheap for every other event (one regex search, no JSON parse)."""
    if _EMPTY_CHOICES.search(event) is None:
        return False
    lines = [
        line[6:] if line[5:6] == b" " else line[5:]
        for line in event.splitlines()
        if line[:5] == b"data:"
    ]
    if not lines:
        return False
    try:
        parsed = orjson.loads(b"\n".join(lines))
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(parsed, dict)
        and parsed.get("choices") == []
        and isinstance(parsed.get("usage"), dict)
    )


class UsageChunkStripper:
    """Drops the usage chunk from SSE bytes without re-serialising anything.

    Complete events other than the usage chunk leave byte for byte, a chunk holding only
    such events leaves as the very same object. Only the unterminated tail of an event
    that could still turn out to be the usage chunk is held until its end arrives (with
    upstreams that flush whole events, as OpenAI and Azure do, nothing is ever held).
    """

    __slots__ = ("_cr_end", "_held", "_passing", "_tail", "dropped")

    def __init__(self) -> None:
        self._held = b""  # unsent bytes of the current, unterminated event
        self._passing = False  # the current event is known not to be the usage chunk
        self._tail = b""  # last bytes of a passing event, to see its end split across chunks
        # the last event ended on "\r" at the end of a chunk: a "\n" may follow that
        # belongs to it; None, or whether that event was dropped
        self._cr_end: bool | None = None
        self.dropped = 0

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` (and of held data) to forward now."""
        if self._cr_end is not None:
            dropped, self._cr_end = self._cr_end, None
            if chunk[:1] == b"\n":  # the rest of the last event's "\r\n"
                rest = self.feed(chunk[1:])
                return rest if dropped else b"\n" + rest
        if not chunk:
            return b""
        held = self._held
        data = held + chunk if held else chunk
        context = self._tail if self._passing and not held else b""
        shift = len(context)
        parts: list[bytes] = []
        start = 0
        changed = bool(held)
        for match in _EVENT_END.finditer(context + data if context else data):
            end = match.end() - shift
            if end <= start:
                continue
            event = data[start:end]
            dropped = not self._passing and is_usage_chunk(event)
            if dropped:
                self.dropped += 1
                changed = True
            else:
                parts.append(event)
            if end == len(data) and event[-1:] == b"\r":
                self._cr_end = dropped
            self._passing = False
            start = end
        rest = data[start:]
        self._held = b""
        if rest:
            if self._passing or _FILLED_CHOICES.search(rest) is not None:
                self._passing = True
                parts.append(rest)
            else:
                self._held = rest
                changed = True
        self._tail = (context + data)[-3:] if self._passing else b""
        if not changed:
            return chunk
        return b"".join(parts)

    def flush(self) -> bytes:
        """End of stream: an unterminated last event is forwarded (unless it is the
        usage chunk), as the upstream sent it."""
        held, self._held = self._held, b""
        if held and is_usage_chunk(held):
            self.dropped += 1
            return b""
        return held
