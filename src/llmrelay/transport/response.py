"""An upstream answer whose body is read on demand: whole (within the request's deadline and
the size limit) or chunk by chunk (with an idle timeout), then handed back to the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp

from llmrelay.domain.responses import reason_phrase
from llmrelay.errors import UpstreamProtocolError
from llmrelay.transport.redact import redact_url
from llmrelay.transport.translate import translate_error

__all__ = ["REQUEST_ID_HEADERS", "UpstreamResponse"]

REQUEST_ID_HEADERS = ("x-request-id", "apim-request-id")
"""Where upstreams put their id of a request: OpenAI, vLLM and most servers; Azure's API
management. Support staff ask for it, so the event log keeps it."""


class UpstreamResponse:
    """An upstream answer whose body has not been read yet; release it when done."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        url: str,
        request_body_bytes: int,
        deadline: float,
        timeout_ms: int,
        max_content_length: int,
    ) -> None:
        self._response = response
        self.status: int = response.status
        self.reason: str = response.reason or reason_phrase(response.status)
        self.headers: Mapping[str, str] = response.headers
        self.url = url
        self.request_body_bytes = request_body_bytes
        self._deadline = deadline
        self._timeout_ms = timeout_ms
        self._limit = max_content_length
        self._released = False

    @property
    def request_id(self) -> str | None:
        """The upstream's id of this request (:data:`REQUEST_ID_HEADERS`), if it sent one."""
        for name in REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value:
                return value
        return None

    async def read(self) -> bytes:
        """The whole body, within the request's timeout and the size limit."""
        too_large = UpstreamProtocolError(
            f"maxContentLength size of {self._limit} exceeded", code="ERR_BAD_RESPONSE"
        )
        declared = self._response.content_length
        if declared is not None and declared > self._limit:
            await self._abort()
            raise too_large
        buffer = bytearray()
        try:
            async with asyncio.timeout_at(self._deadline):
                while chunk := await self._response.content.readany():
                    buffer += chunk
                    if len(buffer) > self._limit:
                        raise too_large
        except Exception as exc:
            await self._abort()
            raise translate_error(exc, timeout_ms=self._timeout_ms) from exc
        await self.release()
        return bytes(buffer)

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; fails only after ``timeout_ms`` without any byte."""
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        idle = self._timeout_ms / 1000
        try:
            while True:
                try:
                    async with asyncio.timeout(idle):
                        chunk = await self._response.content.readany()
                except Exception as exc:
                    raise translate_error(exc, timeout_ms=self._timeout_ms) from exc
                if not chunk:
                    break
                yield chunk
        finally:
            await self.release()

    async def release(self) -> None:
        """Idempotent: pooled again when the body was fully read, closed otherwise."""
        if self._released:
            return
        self._released = True
        if self._response.content.is_eof():
            self._response.release()
        else:
            self._response.close()

    async def _abort(self) -> None:
        if not self._released:
            self._released = True
            self._response.close()

    def __repr__(self) -> str:
        return f"UpstreamResponse({self.status} {self.reason}, url={redact_url(self.url)!r})"
