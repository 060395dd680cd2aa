"""Small real servers on 127.0.0.1 for the transport tests (aiohttp.web, port 0)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Server:
    port: int
    scheme: str

    def url(self, path: str = "/echo", host: str = "localhost") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


StartServer = Callable[..., Awaitable[Server]]


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport else None
    cert = transport.get_extra_info("peercert") if transport else None
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": dict(request.headers),
            "body": body.decode(errors="replace"),
            "peer_port": peer[1] if peer else None,
            "client_cert": bool(cert),
        }
    )


async def _redirect(request: web.Request) -> web.Response:
    status = int(request.query.get("status", "302"))
    return web.Response(status=status, headers={"Location": request.query["to"]})


async def _loop(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "/loop"})


async def _big(request: web.Request) -> web.StreamResponse:
    size = int(request.query["n"])
    if request.query.get("chunked"):
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(size // 100):
            await response.write(b"x" * 100)
        await response.write_eof()
        return response
    return web.Response(body=b"x" * size)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query["delay"]))
    return web.Response(text="late")


async def _stream(request: web.Request) -> web.StreamResponse:
    count = int(request.query.get("count", "3"))
    delay = float(request.query.get("delay", "0.2"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(count):
        await response.write(f"data: {i}\n\n".encode())
        await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def _reset(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"data: partial\n\n")
    await asyncio.sleep(0.1)
    assert request.transport is not None
    request.transport.abort()
    return response


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_route("*", "/redirect", _redirect)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/big", _big)
    app.router.add_route("*", "/slow", _slow)
    app.router.add_route("*", "/stream", _stream)
    app.router.add_route("*", "/reset", _reset)
    return app


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server(ssl_context=None)`` -> a running test server, stopped at teardown."""
    runners: list[web.AppRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None) -> Server:
        runner = web.AppRunner(
            make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        return Server(port=port, scheme="https" if ssl_context else "http")

    yield start
    for runner in runners:
        # Clients are closed by now. Abort what is left: a TLS connection closed politely
        # may still await the peer's close_notify when the test's loop ends (ResourceWarning).
        for handler in runner.server.connections if runner.server else ():
            if handler.transport is not None:
                handler.transport.abort()
        await runner.cleanup()


def server_context(
    cert: trustme.LeafCert, *, client_ca: trustme.CA | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(ctx)
    return ctx


def self_signed_context(hostname: str = "localhost") -> ssl.SSLContext:
    """A server context whose certificate is its own issuer (DEPTH_ZERO_SELF_SIGNED_CERT)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with trustme.Blob(cert_pem + key_pem).tempfile() as path:  # server side only
        ctx.load_cert_chain(path)
    return ctx


@pytest.fixture
def trust_ca_system_wide(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> trustme.CA:
    """Make the test CA the 'system' trust store (OpenSSL reads SSL_CERT_FILE)."""
    path = tmp_path / "system-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    return ca


class BlockingTlsServer:
    """A thread-per-connection TLS server that closes gracefully after a failed handshake.

    asyncio servers abort the socket when a handshake fails, so the TLS alert (e.g.
    ``certificate required``) is often lost in a reset; real servers (nginx, OpenSSL's
    s_server) send the alert, then close. This one does the same, so the client sees it.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "/echo") -> str:
        return f"https://localhost:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        tls = self._context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            self._drain_and_close(tls)  # the alert is out; read the request so no RST follows
            return
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = tls.recv(4096)
                if not data:
                    return
                request += data
            body = json.dumps({"client_cert": bool(tls.getpeercert())}).encode()
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        except (ssl.SSLError, OSError):
            pass
        finally:
            tls.close()

    @staticmethod
    def _drain_and_close(conn: ssl.SSLSocket) -> None:
        try:
            conn.shutdown(socket.SHUT_WR)  # drops the TLS layer: plain socket from here on
            while conn.recv(4096):
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=2)


@pytest.fixture
def mtls_server(ca: trustme.CA) -> Iterator[BlockingTlsServer]:
    """A server that requires a client certificate issued by the test CA."""
    server = BlockingTlsServer(server_context(ca.issue_cert("localhost"), client_ca=ca))
    yield server
    server.close()


class RecordingProxy:
    """A minimal asyncio forward proxy (CONNECT and absolute-form), optionally over TLS.

    tinyproxy proves routing from its log; this one also records request heads, so tests
    can see ``proxyHeaders``, and it can listen with TLS (an ``https://`` proxy).
    """

    def __init__(self) -> None:
        self.heads: list[tuple[str, dict[str, str]]] = []  # (request line, headers)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.scheme = "http"

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> RecordingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        self.scheme = "https" if ssl_context else "http"
        return self

    def url(self, host: str = "localhost") -> str:
        return f"{self.scheme}://{host}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for header in header_lines:
                if ":" in header:
                    name, value = header.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            self.heads.append((line, headers))
            method, target, _ = line.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
            else:
                parts = urlsplit(target)
                host, port = parts.hostname or "", str(parts.port or 80)
            up_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            self._writers.add(upstream_writer)
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                upstream_writer.write(head)
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            if writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()  # see start_server: no TLS shutdown left pending
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()


@pytest.fixture
async def recording_proxy() -> AsyncIterator[Callable[..., Awaitable[RecordingProxy]]]:
    proxies: list[RecordingProxy] = []

    async def start(ssl_context: ssl.SSLContext | None = None) -> RecordingProxy:
        proxy = await RecordingProxy().start(ssl_context)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        await proxy.close()
