"""FakeUpstream: the scripted OpenAI-compatible server (its behaviour: ``llmrelay.testing``)."""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, quote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.testing import endpoints, protocol, responses
from llmrelay.testing.protocol import RecordedRequest
from llmrelay.testing.scripts import (
    Exchange,
    Handler,
    Script,
    fixed,
    json_response,
    tokenize_answer,
    tokenize_count,
    with_headers,
)
from llmrelay.testing.server import ServerThread
from llmrelay.testing.streams import EventStream, pause

if TYPE_CHECKING:
    import trustme

__all__ = ["FakeUpstream"]


class FakeUpstream:
    """OpenAI-compatible server on loopback; see ``llmrelay.testing`` for its behaviour."""

    reply_text = staticmethod(protocol.reply_text)
    usage_for = staticmethod(protocol.usage_for)
    tokenize_count = staticmethod(tokenize_count)  # tokens ``/tokenize`` reports for a text

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
        self._scripts: deque[Script] = deque()
        self._ids = itertools.count(1)
        self._tokenize = False
        self._responses = True
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self._app = Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])
        self._thread: ServerThread | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream already started")
        certfile = keyfile = cafile = None
        if self._tls is not None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="llmrelay-fake-upstream-")
            directory = Path(self._tmpdir.name)
            leaf = self._tls.issue_cert(*self._hostnames)
            certfile, keyfile = directory / "server.crt", directory / "server.key"
            certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            leaf.private_key_pem.write_to_path(str(keyfile))
            if self._client_ca is not None:
                cafile = directory / "client-ca.crt"
                self._client_ca.cert_pem.write_to_path(str(cafile))
        server = ServerThread(
            self._app,
            lifespan="off",
            certfile=certfile,
            keyfile=keyfile,
            client_ca_file=cafile,
            name="FakeUpstream",
            start_timeout=15,
        )
        self._thread = server
        try:
            server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving: in-flight delays end, open streams are reset, the thread is joined."""
        if self._thread is not None:
            self._thread.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
        self._thread = self._tmpdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> ServerThread:
        if self._thread is None:
            raise RuntimeError("FakeUpstream is not started")
        return self._thread

    # ---------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        return self._running().port

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
            self._tokenize = False
            self._responses = True

    # --------------------------------------------------------------- scripting
    def _script(self, handler: Handler, times: int) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._scripts.append(Script(handler, times))

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
        self._script(fixed(lambda: json_response(data, status, headers)), times)

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
        data = protocol.error_payload(status, error, error_type)
        self._script(fixed(lambda: json_response(data, status, headers)), times)

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
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer an SSE stream with one content chunk per delta, whatever the request asked.

        ``usage``: True/False forces/omits the usage chunk (None: ``stream_options.include_usage``
        decides); ``malformed_line`` puts ``data: {not json`` right after the role chunk;
        ``chunk_delay`` sleeps between events; ``first_byte_delay`` delays the headers;
        ``reset_after=N`` sends N events (role chunk and ``[DONE]`` count) and then resets the
        TCP connection; ``line_ending`` is ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``; ``headers``
        are added to the response's headers.
        """
        if line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError("line_ending must be \\n, \\r\\n or \\r")
        if reset_after is not None and reset_after < 0:
            raise ValueError("reset_after must be >= 0")
        chunks = list(deltas)

        async def handler(exchange: Exchange) -> Response:
            server = self._running()
            await pause(first_byte_delay, exchange.receive, server.stopping)
            payload = exchange.payload()
            include = protocol.wants_usage(payload) if usage is None else usage
            events = self._events(payload, chunks, include, malformed_line, line_ending)
            return with_headers(EventStream(server, events, chunk_delay, reset_after), headers)

        self._script(handler, times)

    def with_headers(self, headers: Mapping[str, str], *, times: int = 1) -> None:
        """Default answer (JSON or stream), with ``headers`` added to the response's headers
        (``x-request-id``, ``x-ratelimit-*``...)."""

        async def handler(exchange: Exchange) -> Response:
            return with_headers(self._default(exchange), headers)

        self._script(handler, times)

    def slow_first_byte(self, seconds: float, *, times: int = 1) -> None:
        """Default answer, with the response headers delayed by ``seconds``."""

        async def handler(exchange: Exchange) -> Response:
            await pause(seconds, exchange.receive, self._running().stopping)
            return self._default(exchange)

        self._script(handler, times)

    def huge_response(self, size_bytes: int, *, times: int = 1) -> None:
        """A valid ``chat.completion`` JSON of exactly ``size_bytes`` bytes (content padded)."""
        data = protocol.huge_completion(self.model, size_bytes)
        self._script(fixed(lambda: json_response(data)), times)

    def redirect(self, location: str, status: int = 302, *, times: int = 1) -> None:
        """Answer ``status`` (30x) with ``Location: location`` and an empty body."""
        if not 300 <= status < 400:
            raise ValueError("redirect status must be 3xx")
        redirect = {"location": location}
        self._script(fixed(lambda: Response(status_code=status, headers=redirect)), times)

    def serve_tokenize(self, enabled: bool = True) -> None:
        """Answer ``POST /tokenize`` like llama.cpp's server until the next reset:
        ``{"content": "..."}`` -> ``{"tokens": [...]}`` with one token per
        whitespace-separated word (:meth:`tokenize_count`). Not a script: it is not
        consumed and does not consume queued scripts."""
        with self._lock:
            self._tokenize = enabled

    def serve_responses(self, enabled: bool = True) -> None:
        """Whether ``POST …/responses`` is the Responses API (the default) or, until the
        next reset, a 404 as from a server without it (``Invalid URL``). Not a script."""
        with self._lock:
            self._responses = enabled

    def without_usage(self, *, times: int = 1) -> None:
        """Default answer without ``usage`` (JSON) / without a usage chunk (streams)."""

        async def handler(exchange: Exchange) -> Response:
            return self._default(exchange, usage=False)

        self._script(handler, times)

    # ----------------------------------------------------------------- serving
    async def _handle(self, request: Request) -> Response:
        scope = request.scope
        client = scope.get("client")
        recorded = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=await request.body(),
            client_port=client[1] if client else 0,
        )
        handler: Handler | None = None
        with self._lock:
            self._requests.append(recorded)
            if self._tokenize and recorded.method == "POST" and recorded.path == "/tokenize":
                handler = tokenize_answer
            elif self._scripts:
                script = self._scripts[0]
                script.remaining -= 1
                if not script.remaining:
                    self._scripts.popleft()
                handler = script.handler
        exchange = Exchange(recorded, request.receive)
        if handler is not None:
            return await handler(exchange)
        return self._default(exchange)

    def _default(self, exchange: Exchange, *, usage: bool = True) -> Response:
        request = exchange.request
        if request.method == "GET":
            if request.path.rstrip("/").endswith("/models"):
                return json_response(protocol.models_listing(self.model))
            message = f"Invalid URL (GET {request.path})"
            return json_response(protocol.error_body(message, "invalid_request_error"), 404)
        payload = request.json
        if not isinstance(payload, dict):
            bad_json = protocol.error_body(protocol.BAD_JSON, "invalid_request_error")
            return json_response(bad_json, 400)
        endpoint = endpoints.endpoint_of(request.path)
        if endpoint == "responses" and not self._responses:
            message = f"Invalid URL (POST {request.path})"
            return json_response(protocol.error_body(message, "invalid_request_error"), 404)
        if endpoint is not None:
            return self._endpoint(endpoint, payload, usage)
        messages = payload.get("messages")
        reply = protocol.reply_text(messages)
        if payload.get("stream") is True:
            deltas = protocol.words(reply)
            include = usage and protocol.wants_usage(payload)
            events = self._events(payload, deltas, include, False, "\n")
            return EventStream(self._running(), events, 0.0, None)
        answer = protocol.completion(
            self._next_id(),
            protocol.model_of(payload, self.model),
            reply,
            protocol.usage_for(messages, reply) if usage else None,
        )
        return json_response(orjson.dumps(answer))

    def _endpoint(self, endpoint: str, payload: dict[str, Any], usage: bool) -> Response:
        model = protocol.model_of(payload, self.model)
        if endpoint == "embeddings":
            status, body = endpoints.embeddings_answer(payload, model, usage=usage)
            return json_response(body, status)
        if endpoint == "responses":
            response_id = f"resp_fake{next(self._ids):06d}"
            if payload.get("stream") is True:
                events = responses.response_events(response_id, model, payload, usage=usage)
                return EventStream(self._running(), events, 0.0, None)
            answer = responses.response_answer(response_id, model, payload, usage=usage)
            return json_response(orjson.dumps(answer))
        completion_id = f"cmpl-fake-{next(self._ids):06d}"
        if payload.get("stream") is True:
            include = usage and protocol.wants_usage(payload)
            events = endpoints.completion_events(completion_id, model, payload, include)
            return EventStream(self._running(), events, 0.0, None)
        answer = endpoints.text_completion(completion_id, model, payload, usage=usage)
        return json_response(orjson.dumps(answer))

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
        usage = None
        if include_usage:
            usage = protocol.usage_for(payload.get("messages"), "".join(deltas))
        return protocol.sse_events(
            self._next_id(),
            protocol.model_of(payload, self.model),
            deltas,
            usage,
            malformed_line=malformed_line,
            line_ending=line_ending,
        )
