"""A fast OpenAI-shaped mock upstream: raw asyncio protocol on uvloop, precomputed answers.

It has to be much cheaper than anything it serves, so it parses only what it must (request
line, ``Content-Length``, ``"stream": true``, ``include_usage``) and writes prebuilt bytes.

Paths (any prefix before ``/chat/completions`` is accepted, so a connector's ``apiUrl`` picks
the behaviour):

- ``.../chat/completions``: a chat completion, or an SSE stream of ``CHUNKS`` events sent
  back to back when the body says ``"stream": true``;
- ``/gap/<ms>/<n>/...``: a stream of ``n`` events, ``ms`` milliseconds apart;
- ``/slow/...``: a stream whose events come one per second for ``SLOW_CHUNKS`` seconds
  (scenario 4: many open streams);
- ``.../embeddings``: an embeddings list (two vectors of ``EMBEDDING_SIZE`` numbers) with
  usage (scenario 1b).

A usage event (``choices: []``) is added before ``[DONE]`` when the body asks for
``stream_options.include_usage``. Run: ``python -m bench.mock_upstream --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource

import orjson

CHUNKS = 8
SLOW_CHUNKS = 120

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')
_GAP_RE = re.compile(rb"^/gap/(\d+)/(\d+)/")

_COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the mock upstream."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
)


def _event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _delta(i: int) -> bytes:
    return _event(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}],
        }
    )


_USAGE_EVENT = _event(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }
)
_DONE = b"data: [DONE]\n\n"


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_PLAIN_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    % len(_COMPLETION)
)
_PLAIN = _PLAIN_HEAD + _COMPLETION
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
_FAST_EVENTS = b"".join(_chunked(_delta(i)) for i in range(CHUNKS))
_END = _chunked(_DONE) + b"0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
EMBEDDING_SIZE = 256
_EMBEDDINGS = orjson.dumps(
    {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": [
                    round((j * (i + 3) % 17) / 17 - 0.5, 6) for j in range(EMBEDDING_SIZE)
                ],
            }
            for i in range(2)
        ],
        "model": "bench-embedding",
        "usage": {"prompt_tokens": 16, "total_tokens": 16},
    }
)
_EMBEDDINGS_ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    % len(_EMBEDDINGS)
) + _EMBEDDINGS


class MockProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy is not None:
            self.busy.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.busy is None:
            self._drain()

    def _drain(self) -> None:
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            length = 0
            lower = head.lower()
            at = lower.find(b"content-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at)
                length = int(lower[at + 15 : stop if stop > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            path = head.split(b" ", 2)[1]
            if path.split(b"?", 1)[0].endswith(b"/embeddings"):
                self.transport.write(_EMBEDDINGS_ANSWER)
                continue
            if not path.split(b"?", 1)[0].endswith(b"/chat/completions"):
                self.transport.write(_NOT_FOUND)
                continue
            if not _STREAM_RE.search(body):
                self.transport.write(_PLAIN)
                continue
            usage = _USAGE_RE.search(body) is not None
            gap = _GAP_RE.match(path)
            if gap is None and not path.startswith(b"/slow/"):
                tail = (_chunked(_USAGE_EVENT) if usage else b"") + _END
                self.transport.write(_STREAM_HEAD + _FAST_EVENTS + tail)
                continue
            if gap is not None:
                delay, count = int(gap.group(1)) / 1000, int(gap.group(2))
            else:
                delay, count = 1.0, SLOW_CHUNKS
            self.busy = asyncio.ensure_future(self._paced(delay, count, usage))
            return

    async def _paced(self, delay: float, count: int, usage: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        transport.write(_STREAM_HEAD)
        for i in range(count):
            if i:
                await asyncio.sleep(delay)
            if self.transport is None:
                return
            transport.write(_chunked(_delta(i)))
        transport.write((_chunked(_USAGE_EVENT) if usage else b"") + _END)
        self.busy = None
        self._drain()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, host, port, backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # still correct, only slower
        runner = asyncio.run  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port))


if __name__ == "__main__":
    main()
