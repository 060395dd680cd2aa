"""ServerThread: any ASGI app served by uvicorn in a background thread on loopback.

Tests get real sockets (plain HTTP, TLS or mTLS) while the test itself stays synchronous or
runs its own event loop; the server's loop lives in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ServerThread"]

_FilePath = str | os.PathLike[str]


class ServerThread:
    """Serve ``app`` (ASGI 3) with uvicorn (h11) on ``127.0.0.1``, on a free port, in a thread.

    ``lifespan``: ``"on"`` runs the app's startup/shutdown and fails :meth:`start` when startup
    fails (real apps); ``"off"`` skips it (bare test doubles). ``certfile``/``keyfile`` serve
    TLS; ``client_ca_file`` additionally requires a client certificate chaining to that CA
    (``ssl.CERT_REQUIRED``, mutual TLS). ``shutdown_timeout`` bounds the wait for in-flight
    requests on :meth:`stop` before they are cancelled.

    A server can be started again after :meth:`stop`; it then gets a new port.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan: Literal["on", "off"] = "on",
        certfile: _FilePath | None = None,
        keyfile: _FilePath | None = None,
        client_ca_file: _FilePath | None = None,
        name: str = "ServerThread",
        start_timeout: float = 20.0,
        shutdown_timeout: int = 2,
    ) -> None:
        if (keyfile is not None or client_ca_file is not None) and certfile is None:
            raise ValueError("keyfile and client_ca_file require certfile (TLS)")
        self.name = name
        self._app, self._lifespan = app, lifespan
        self._certfile, self._keyfile, self._client_ca_file = certfile, keyfile, client_ca_file
        self._start_timeout, self._shutdown_timeout = start_timeout, shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._error: BaseException | None = None
        self._port = 0

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Start serving; returns once the server accepts connections.

        Raises ``RuntimeError`` (chained to the cause: a lifespan startup exception, a TLS
        file error, …) when the server stops before it is ready or is not ready in time.
        """
        if self._server is not None:
            raise RuntimeError(f"{self.name} already started")
        config = uvicorn.Config(
            self._asgi,
            http="h11",
            ws="none",
            lifespan=self._lifespan,
            interface="asgi3",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # scope["client"] stays the TCP peer (see transport_for)
            server_header=False,
            timeout_graceful_shutdown=self._shutdown_timeout,
            ssl_certfile=self._certfile,
            ssl_keyfile=self._keyfile,
            ssl_ca_certs=self._client_ca_file,
            ssl_cert_reqs=ssl.CERT_REQUIRED if self._client_ca_file else ssl.CERT_NONE,
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
            target=self._run, args=(server, sock), name=f"{self.name}:{self._port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError(f"{self.name} failed to start") from error
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Stop serving: :attr:`stopping` is set first, then uvicorn shuts down (open
        connections closed, the app's lifespan shutdown run) and the thread is joined.
        Idempotent."""
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
        self._server = self._thread = self._socket = self._loop = None

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
            self._error = self._error or exc

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await server.serve(sockets=[sock])

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, with a lifespan startup failure kept for start() to chain to."""
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_watched(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self._error is None:
                self._error = RuntimeError(message.get("message") or "lifespan startup failed")
            await send(message)

        try:
            await self._app(scope, receive, send_watched)
        except BaseException as exc:
            if self._server is not None and not self._server.started:
                self._error = exc
            raise

    # ------------------------------------------------------------------ state
    @property
    def port(self) -> int:
        """The TCP port served on (valid while started)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>`` (no trailing slash)."""
        scheme = "https" if self._certfile is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def server(self) -> uvicorn.Server | None:
        """The running uvicorn server (None when stopped), for tests that inspect its state."""
        return self._server

    @property
    def stopping(self) -> asyncio.Event:
        """Set in the server's loop as soon as :meth:`stop` is called, before uvicorn's
        graceful shutdown: long responses (delays, slow streams) wait on it to end early."""
        return self._stopping

    def transport_for(self, client: object) -> asyncio.Transport | None:
        """The transport of the live connection whose peer is ``client`` (an ASGI
        ``scope["client"]``), or None. Call it from the server's loop (i.e. from the app).

        ASGI hides the transport; uvicorn's protocol keeps the very ``scope["client"]``
        tuple as ``client``, which identifies the connection.
        """
        server = self._server
        if server is None or client is None:
            return None
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == client:
                transport: asyncio.Transport = connection.transport
                return transport
        return None
