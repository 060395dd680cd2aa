"""ServerThread: any ASGI app on loopback, its lifespan, start failures and shutdown."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llmrelay.testing import ServerThread

pytestmark = pytest.mark.network


def app_with_lifespan(events: list[str], fail: bool = False) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        if fail:
            raise LookupError("no database")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.client.port if request.client else 0}")

    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


def get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_serves_an_app_with_its_lifespan() -> None:
    events: list[str] = []
    with ServerThread(app_with_lifespan(events), name="lifespan-app") as server:
        assert events == ["startup"]  # start() returned after the app's startup
        port = server.port
        assert server.url == f"http://127.0.0.1:{port}"
        answer = get(port)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nserver:" not in answer.lower()
        assert f"lifespan-app:{port}" in {t.name for t in threading.enumerate()}
    assert events == ["startup", "shutdown"]
    assert f"lifespan-app:{port}" not in {t.name for t in threading.enumerate()}
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    server.stop()  # idempotent


def test_restart_after_stop() -> None:
    events: list[str] = []
    server = ServerThread(app_with_lifespan(events))
    with server:
        pass
    with server:
        assert get(server.port).startswith(b"HTTP/1.1 200 OK\r\n")
    assert events == ["startup", "shutdown"] * 2


def test_a_failing_startup_fails_start_with_its_cause() -> None:
    events: list[str] = []
    server = ServerThread(app_with_lifespan(events, fail=True), name="broken")
    with pytest.raises(RuntimeError, match="broken failed to start") as caught:
        server.start()
    assert isinstance(caught.value.__cause__, LookupError)
    assert events == ["startup"]
    assert not any(t.name.startswith("broken:") for t in threading.enumerate())
    with pytest.raises(RuntimeError):
        _ = server.port


def test_lifespan_off_skips_startup() -> None:
    events: list[str] = []
    with ServerThread(app_with_lifespan(events), lifespan="off") as server:
        assert get(server.port).startswith(b"HTTP/1.1 200 OK\r\n")
    assert events == []


def test_tls_files_need_a_certificate() -> None:
    with pytest.raises(ValueError, match="require certfile"):
        ServerThread(app_with_lifespan([]), keyfile="server.key")
    with pytest.raises(ValueError, match="require certfile"):
        ServerThread(app_with_lifespan([]), client_ca_file="ca.crt")
