"""Timing and faults on a real connection: SSE written per event, interruptible delays, and
a TCP reset (RST) in the middle of a response."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from llmrelay.testing.server import ServerThread

__all__ = ["EventStream", "pause", "reset_connection"]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


class EventStream(Response):
    """SSE response that writes each event as its own body message (flushed per chunk).

    ``delay`` sleeps between events; ``reset_after=N`` sends N events and then resets the
    connection. A client leaving, or the server stopping, during a delay resets it too.
    """

    def __init__(
        self, server: ServerThread, events: list[bytes], delay: float, reset_after: int | None
    ) -> None:
        self.status_code = 200
        self.raw_headers = list(_SSE_HEADERS)
        self.background = None
        self._server, self._events = server, events
        self._delay, self._reset_after = delay, reset_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, event in enumerate(self._events):
            if index == self._reset_after:
                break
            if index and self._delay and await pause(self._delay, receive, self._server.stopping):
                await reset_connection(self._server, scope, receive)  # client left / server stops
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if self._reset_after is not None:
            await reset_connection(self._server, scope, receive)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def pause(seconds: float, receive: Receive, stopping: asyncio.Event) -> bool:
    """Sleep up to ``seconds``; True (early) when the client disconnects or ``stopping`` is set."""
    if seconds <= 0:
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        while (left := deadline - loop.time()) > 0:
            message = asyncio.ensure_future(receive())
            done, _ = await asyncio.wait(
                {message, stopped}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            if stopped in done:
                return True
            if message in done:
                if message.result()["type"] == "http.disconnect":
                    return True
            else:
                message.cancel()
        return False
    finally:
        stopped.cancel()


async def reset_connection(server: ServerThread, scope: Scope, receive: Receive) -> None:
    """Abort the request's TCP connection with an RST once the bytes written have left."""
    transport = server.transport_for(scope.get("client"))
    if transport is None or transport.is_closing():
        return
    for _ in range(2000):  # at most ~2 s for what uvicorn already wrote to drain
        if not transport.get_write_buffer_size():
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.005)  # let the peer's kernel take the last segment before the RST
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()
    # connection_lost marks the cycle disconnected; wait so uvicorn sees a reset, not an
    # incomplete response, when the app returns.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), 2)
