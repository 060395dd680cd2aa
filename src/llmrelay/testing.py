"""FakeUpstream: an OpenAI-compatible chat-completions server for tests and benchmarks.

A Starlette app served by uvicorn (h11) in a background thread on ``127.0.0.1`` (random port),
over plain HTTP, TLS (certificate issued by a ``trustme.CA`` for ``hostnames``) or mTLS
(``ssl.CERT_REQUIRED`` against ``client_ca``). It speaks the protocol for real: SSE bytes are
written per chunk, ``reset_after`` aborts the TCP connection with an RST.

Default behaviour (nothing scripted):

* ``GET …/models`` lists ``model``; any other GET is a 404 in OpenAI's error shape.
* Any other method on any path (``/v1/chat/completions``, Azure deployment paths, custom paths):
  a body that is not a JSON object gets a 400 in OpenAI's error shape; ``"stream": true`` gets an
  SSE stream; anything else gets a ``chat.completion`` JSON.
* Reply (:meth:`FakeUpstream.reply_text`): ``"You said: <text>"`` where ``<text>`` is the text of
  the last ``user`` message with whitespace collapsed, or ``"Hello! How can I help you today?"``
  when there is none. Streams carry it one word per chunk (each chunk keeps its leading space,
  so the deltas concatenate to the exact reply).
* Usage (:meth:`FakeUpstream.usage_for`): ``prompt_tokens`` = number of whitespace-separated
  words in the text of all request messages (any role), ``completion_tokens`` = words of the
  reply, ``total_tokens`` = their sum.
* Streams: a role chunk, the content chunks, a ``finish_reason: "stop"`` chunk and, only when
  ``stream_options.include_usage`` is true, a usage chunk (``choices: []``) — in that case every
  other chunk carries ``"usage": null`` as OpenAI does — then ``data: [DONE]``.
* ``model`` in answers is the request's ``model`` or the server default; ``created`` is the fixed
  :data:`CREATED`; ids are ``chatcmpl-fake-000001``, ``…002`` … (the counter restarts on reset).

Scripted behaviours (``reply_json``, ``fail``, ``stream``, …) queue up FIFO; each applies to the
next ``times`` requests of any kind, after which the default behaviour resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, quote

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    import trustme

__all__ = ["CREATED", "DEFAULT_REPLY", "FakeUpstream", "RecordedRequest"]

CREATED = 1_735_689_600  # fixed `created` of every answer (2025-01-01T00:00:00Z)
DEFAULT_REPLY = "Hello! How can I help you today?"
MALFORMED_LINE = b"data: {not json"
_FINGERPRINT = "fp_llmrelay_fake"
_WORDS = re.compile(r"\s*\S+")
_SSE_TYPE = (b"content-type", b"text/event-stream; charset=utf-8")
_SSE_HEADERS = [_SSE_TYPE, (b"cache-control", b"no-cache")]
_LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it (header names lower-cased, body bytes verbatim)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> object | None:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            parsed: object = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return parsed


@dataclass(slots=True)
class _Exchange:
    request: RecordedRequest
    scope: Scope
    receive: Receive

    def payload(self) -> dict[str, Any]:
        parsed = self.request.json
        return parsed if isinstance(parsed, dict) else {}


_Handler = Callable[[_Exchange], Awaitable[Response]]


@dataclass(slots=True)
class _Script:
    handler: _Handler
    remaining: int


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}, ...]
        texts = (part.get("text") for part in content if isinstance(part, dict))
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def _error_body(message: str, error_type: str) -> bytes:
    error = {"message": message, "type": error_type, "param": None, "code": None}
    return orjson.dumps({"error": error})


def _error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "requests" if status == 429 else "invalid_request_error"


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError("times must be >= 1")


class _EventStream(Response):
    """SSE response that writes each event as its own body message (flushed per chunk)."""

    def __init__(
        self, owner: FakeUpstream, events: list[bytes], delay: float, reset_after: int | None
    ) -> None:
        self.status_code = 200
        self.raw_headers = list(_SSE_HEADERS)
        self.background = None
        self._owner, self._events = owner, events
        self._delay, self._reset_after = delay, reset_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, event in enumerate(self._events):
            if index == self._reset_after:
                break
            if index and self._delay and await self._owner._pause(self._delay, receive):
                await self._owner._reset_connection(scope, receive)  # client left / server stops
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if self._reset_after is not None:
            await self._owner._reset_connection(scope, receive)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class FakeUpstream:
    """OpenAI-compatible server on loopback; see the module docstring for its behaviour."""

    def __init__(
        self,
        *,
        tls: trustme.CA | None = None,
        client_ca: trustme.CA | None = None,
        hostnames: Sequence[str] = ("localhost", "127.0.0.1"),
        model: str = "gpt-4.1-fake",
    ) -> None:
        if client_ca is not None and tls is None:
            raise ValueError("client_ca (mTLS) requires tls")
        self.model = model
        self._tls, self._client_ca, self._hostnames = tls, client_ca, tuple(hostnames)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripts: deque[_Script] = deque()
        self._ids = itertools.count(1)
        self._app = Starlette(
            routes=[
                Route(
                    "/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                )
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._error: BaseException | None = None
        self._port = 0

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Start serving; returns once the server accepts connections."""
        if self._server is not None:
            raise RuntimeError("FakeUpstream already started")
        certfile = keyfile = cafile = None
        if self._tls is not None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="llmrelay-fake-upstream-")
            directory = Path(self._tmpdir.name)
            leaf = self._tls.issue_cert(*self._hostnames)
            certfile, keyfile = str(directory / "server.crt"), str(directory / "server.key")
            Path(certfile).write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            leaf.private_key_pem.write_to_path(keyfile)
            if self._client_ca is not None:
                cafile = str(directory / "client-ca.crt")
                self._client_ca.cert_pem.write_to_path(cafile)
        config = uvicorn.Config(
            self._app,
            http="h11",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # scope["client"] must stay the TCP peer (see _reset_connection)
            server_header=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            ssl_ca_certs=cafile,
            ssl_cert_reqs=ssl.CERT_REQUIRED if cafile else ssl.CERT_NONE,
        )
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP; without it Nagle + delayed ACK stall keep-alive responses by 40 ms.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._socket, self._error = sock, None
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"FakeUpstream:{self._port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError("FakeUpstream failed to start") from error
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Stop serving: in-flight delays end, open streams are reset, the thread is joined."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        if loop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._stopping.set)
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
        self._server = self._thread = self._socket = self._tmpdir = self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(server, sock))
        except BaseException as exc:  # reported by start(); SystemExit from uvicorn included
            self._error = exc

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await server.serve(sockets=[sock])

    # ---------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` with the first of ``hostnames`` as host (no trailing slash)."""
        host = self._hostnames[0] if self._hostnames else "127.0.0.1"
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    def url(self, path: str = "/v1/chat/completions") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def azure_url(self, deployment: str = "gpt-4o", api_version: str = "2024-06-01") -> str:
        return (
            f"{self.base_url}/openai/deployments/{quote(deployment, safe='')}/chat/completions"
            f"?api-version={quote(api_version, safe='')}"
        )

    # -------------------------------------------------------------- recordings
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received since the last reset, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise AssertionError("FakeUpstream received no request")
            return self._requests[-1]

    def reset(self) -> None:
        """Forget recorded requests and pending scripts; restart the id counter."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
            self._ids = itertools.count(1)

    # ------------------------------------------------------------- predictions
    @staticmethod
    def reply_text(messages: object) -> str:
        """The default reply to a request whose ``messages`` is given."""
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, dict) and message.get("role") == "user":
                    text = " ".join(_content_text(message.get("content")).split())
                    return f"You said: {text}" if text else DEFAULT_REPLY
        return DEFAULT_REPLY

    @staticmethod
    def usage_for(messages: object, completion: str) -> dict[str, int]:
        """Usage numbers reported for ``messages`` answered with ``completion`` (word counts)."""
        prompt = 0
        if isinstance(messages, list):
            for message in messages:
                if isinstance(message, dict):
                    prompt += len(_content_text(message.get("content")).split())
        done = len(completion.split())
        return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}

    # --------------------------------------------------------------- scripting
    def _script(self, handler: _Handler, times: int) -> None:
        _check_times(times)
        with self._lock:
            self._scripts.append(_Script(handler, times))

    def reply_json(
        self,
        body: object,
        status: int = 200,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer ``body`` as JSON (``bytes`` are sent verbatim, still as application/json)."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)

        async def handler(_: _Exchange) -> Response:
            return _json(data, status, headers)

        self._script(handler, times)

    def fail(
        self,
        status: int,
        error: object = None,
        *,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer an error. ``error``: str -> ``{"error": {"message", "type", "param": null,
        "code": null}}`` (type from ``error_type`` or the status: 5xx ``server_error``, 429
        ``requests``, else ``invalid_request_error``); None -> the same with the status phrase;
        bytes -> sent verbatim; anything else -> serialised as JSON as is."""
        if error is None:
            try:
                error = HTTPStatus(status).phrase
            except ValueError:
                error = "Error"
        if isinstance(error, str):
            data = _error_body(error, error_type or _error_type(status))
        else:
            data = error if isinstance(error, bytes) else orjson.dumps(error)

        async def handler(_: _Exchange) -> Response:
            return _json(data, status, headers)

        self._script(handler, times)

    def stream(
        self,
        deltas: Sequence[str],
        *,
        usage: bool | None = None,
        malformed_line: bool = False,
        chunk_delay: float = 0.0,
        first_byte_delay: float = 0.0,
        reset_after: int | None = None,
        line_ending: str = "\n",
        times: int = 1,
    ) -> None:
        """Answer an SSE stream with one content chunk per delta, whatever the request asked.

        ``usage``: True/False forces/omits the usage chunk (None: ``stream_options.include_usage``
        decides); ``malformed_line`` puts ``data: {not json`` right after the role chunk;
        ``chunk_delay`` sleeps between events; ``first_byte_delay`` delays the headers;
        ``reset_after=N`` sends N events (role chunk and ``[DONE]`` count) and then resets the
        TCP connection; ``line_ending`` is ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``.
        """
        if line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError("line_ending must be \\n, \\r\\n or \\r")
        if reset_after is not None and reset_after < 0:
            raise ValueError("reset_after must be >= 0")
        chunks = list(deltas)

        async def handler(exchange: _Exchange) -> Response:
            await self._pause(first_byte_delay, exchange.receive)
            payload = exchange.payload()
            include = _wants_usage(payload) if usage is None else usage
            events = self._events(payload, chunks, include, malformed_line, line_ending)
            return _EventStream(self, events, chunk_delay, reset_after)

        self._script(handler, times)

    def slow_first_byte(self, seconds: float, *, times: int = 1) -> None:
        """Default answer, with the response headers delayed by ``seconds``."""

        async def handler(exchange: _Exchange) -> Response:
            await self._pause(seconds, exchange.receive)
            return self._default(exchange)

        self._script(handler, times)

    def huge_response(self, size_bytes: int, *, times: int = 1) -> None:
        """A valid ``chat.completion`` JSON of exactly ``size_bytes`` bytes (content padded)."""
        template = orjson.dumps(
            {
                "id": "chatcmpl-fake-huge",
                "object": "chat.completion",
                "created": CREATED,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ""},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
        padding = size_bytes - len(template)
        if padding < 0:
            raise ValueError(f"size_bytes must be at least {len(template)}")
        head, tail = template.split(b'"content":""', 1)
        data = head + b'"content":"' + b"a" * padding + b'"' + tail

        async def handler(_: _Exchange) -> Response:
            return _json(data)

        self._script(handler, times)

    def redirect(self, location: str, status: int = 302, *, times: int = 1) -> None:
        """Answer ``status`` (30x) with ``Location: location`` and an empty body."""
        if not 300 <= status < 400:
            raise ValueError("redirect status must be 3xx")

        async def handler(_: _Exchange) -> Response:
            return Response(status_code=status, headers={"location": location})

        self._script(handler, times)

    def without_usage(self, *, times: int = 1) -> None:
        """Default answer without ``usage`` (JSON) / without a usage chunk (streams)."""

        async def handler(exchange: _Exchange) -> Response:
            return self._default(exchange, usage=False)

        self._script(handler, times)

    # ----------------------------------------------------------------- serving
    async def _handle(self, request: Request) -> Response:
        scope = request.scope
        recorded = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=await request.body(),
        )
        handler: _Handler | None = None
        with self._lock:
            self._requests.append(recorded)
            if self._scripts:
                script = self._scripts[0]
                script.remaining -= 1
                if not script.remaining:
                    self._scripts.popleft()
                handler = script.handler
        exchange = _Exchange(recorded, scope, request.receive)
        if handler is not None:
            return await handler(exchange)
        return self._default(exchange)

    def _default(self, exchange: _Exchange, *, usage: bool = True) -> Response:
        request = exchange.request
        if request.method == "GET":
            if request.path.rstrip("/").endswith("/models"):
                model = {"id": self.model, "object": "model", "created": CREATED}
                model["owned_by"] = "llmrelay"
                return _json(orjson.dumps({"object": "list", "data": [model]}))
            message = f"Invalid URL (GET {request.path})"
            return _json(_error_body(message, "invalid_request_error"), 404)
        payload = request.json
        if not isinstance(payload, dict):
            return _json(_error_body(_BAD_JSON, "invalid_request_error"), 400)
        messages = payload.get("messages")
        reply = self.reply_text(messages)
        if payload.get("stream") is True:
            deltas = _WORDS.findall(reply)
            events = self._events(payload, deltas, usage and _wants_usage(payload), False, "\n")
            return _EventStream(self, events, 0.0, None)
        answer: dict[str, Any] = {
            "id": self._next_id(),
            "object": "chat.completion",
            "created": CREATED,
            "model": _model(payload, self.model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "system_fingerprint": _FINGERPRINT,
        }
        if usage:
            answer["usage"] = self.usage_for(messages, reply)
        return _json(orjson.dumps(answer))

    def _next_id(self) -> str:
        return f"chatcmpl-fake-{next(self._ids):06d}"

    def _events(
        self,
        payload: dict[str, Any],
        deltas: list[str],
        include_usage: bool,
        malformed_line: bool,
        line_ending: str,
    ) -> list[bytes]:
        base = {
            "id": self._next_id(),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": _model(payload, self.model),
            "system_fingerprint": _FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            out = {**base, "choices": [choice]}
            if include_usage:
                out["usage"] = None
            return out

        objects = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        objects += [chunk({"content": delta}, None) for delta in deltas]
        objects.append(chunk({}, "stop"))
        if include_usage:
            usage = self.usage_for(payload.get("messages"), "".join(deltas))
            objects.append({**base, "choices": [], "usage": usage})
        end = (line_ending * 2).encode()
        events = [b"data: " + orjson.dumps(obj) + end for obj in objects]
        if malformed_line:
            events.insert(1, MALFORMED_LINE + end)
        events.append(b"data: [DONE]" + end)
        return events

    async def _pause(self, seconds: float, receive: Receive) -> bool:
        """Sleep up to ``seconds``; True (early) when the client disconnects or the server stops."""
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while (left := deadline - loop.time()) > 0:
                message = asyncio.ensure_future(receive())
                done, _ = await asyncio.wait(
                    {message, stopping}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    return True
                if message in done:
                    if message.result()["type"] == "http.disconnect":
                        return True
                else:
                    message.cancel()
            return False
        finally:
            stopping.cancel()

    async def _reset_connection(self, scope: Scope, receive: Receive) -> None:
        """Abort the request's TCP connection with an RST once the bytes written have left.

        ASGI hides the transport, so it is found among uvicorn's live connections by the peer
        address: ``scope["client"]`` is the very tuple uvicorn's protocol keeps as ``client``.
        """
        server, client = self._server, scope.get("client")
        transport: asyncio.Transport | None = None
        if server is not None:
            for connection in list(server.server_state.connections):
                if getattr(connection, "client", None) == client:
                    transport = connection.transport
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


def _wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _model(payload: dict[str, Any], default: str) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) and model else default
