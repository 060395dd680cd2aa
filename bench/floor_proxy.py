"""The Python floor: the least a Python pass-through can cost.

A bare ASGI app on uvicorn (uvloop + httptools, one worker, no access log) that forwards
each request's path and body to the upstream through one shared aiohttp session and
passes the answer back chunk by chunk. It checks a bearer token by string comparison
(an API gateway always authenticates) and does nothing else: no parsing, no events.

Run: ``python -m bench.floor_proxy --port N --upstream http://127.0.0.1:M``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

from bench.mock_upstream import raise_fd_limit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FLOOR_TOKEN = b"Bearer floor-key"
_HOP = {b"content-length", b"transfer-encoding", b"connection", b"keep-alive"}


class FloorProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != FLOOR_TOKEN:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        assert self.session is not None
        async with self.session.post(
            self.upstream + scope["path"],
            data=body,
            headers={"content-type": "application/json"},
        ) as answer:
            out = [(k.lower(), v) for k, v in answer.raw_headers if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": answer.status, "headers": out})
            if answer.headers.get("content-type", "").startswith("text/event-stream"):
                async for chunk in answer.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send({"type": "http.response.body", "body": await answer.read()})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0),
                    timeout=aiohttp.ClientTimeout(total=None),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    raise_fd_limit()
    uvicorn.run(
        FloorProxy(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
