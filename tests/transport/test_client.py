"""OutboundClient against real loopback servers: allow-list, URLs, limits, pooling, streams."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import time

import pytest

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.errors import (
    UpstreamConnectionError,
    UpstreamForbiddenHostError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from llmrelay.transport.client import OutboundClient, UpstreamResponse
from tests.transport.conftest import StartServer

pytestmark = pytest.mark.network

JSON = {"Content-Type": "application/json"}


async def _json(response: UpstreamResponse) -> dict[str, object]:
    data = json.loads(await response.read())
    assert isinstance(data, dict)
    return data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- allow-list (checklist 37) and URL rules (36) -----------------------------------------
async def test_target_outside_allow_list_is_refused_before_any_connection(
    start_server: StartServer,
) -> None:
    server = await start_server()
    url = server.url(host="127.0.0.1")
    async with OutboundClient(ActionsSettings(allowedHosts=("localhost",))) as client:
        with pytest.raises(UpstreamForbiddenHostError) as info:
            await client.request("POST", url, headers=JSON, body=b"{}", timeout_ms=2000)
    assert str(info.value) == (
        "error configuring connector action: error validating url: "
        f'target url "{url}" is not added to the Kibana config xpack.actions.allowedHosts'
    )


async def test_redirect_to_a_host_outside_the_allow_list_is_refused(
    start_server: StartServer,
) -> None:
    server = await start_server()
    forbidden = server.url("/echo", host="127.0.0.1")
    url = server.url(f"/redirect?to={forbidden}")
    async with OutboundClient(ActionsSettings(allowedHosts=("localhost",))) as client:
        with pytest.raises(UpstreamForbiddenHostError) as info:
            await client.request("GET", url, headers={}, body=None, timeout_ms=2000)
    assert f'target url "{forbidden}" is not added' in str(info.value)


async def test_redirects_within_the_allow_list_are_followed(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings(allowedHosts=("localhost",))) as client:
        r303 = await client.request(
            "POST",
            server.url("/redirect?status=303&to=/echo"),
            headers=JSON,
            body=b'{"a":1}',
            timeout_ms=2000,
        )
        seen = await _json(r303)
        assert (seen["method"], seen["body"]) == ("GET", "")
        assert r303.url == server.url("/echo")
        r307 = await client.request(
            "POST",
            server.url("/redirect?status=307&to=/echo"),
            headers=JSON,
            body=b'{"a":1}',
            timeout_ms=2000,
        )
        seen = await _json(r307)
        assert (seen["method"], seen["body"]) == ("POST", '{"a":1}')


async def test_redirect_loops_stop_after_ten_hops(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        with pytest.raises(UpstreamProtocolError) as info:
            await client.request("GET", server.url("/loop"), headers={}, body=None, timeout_ms=3000)
    assert info.value.code == "ERR_FR_TOO_MANY_REDIRECTS"


async def test_credentials_are_not_forwarded_to_another_origin(start_server: StartServer) -> None:
    first, second = await start_server(), await start_server()
    url = first.url(f"/redirect?status=307&to={second.url('/echo')}")
    headers = {"Authorization": "Bearer sk-secret", "api-key": "k", "X-Keep": "yes"}
    async with OutboundClient(ActionsSettings()) as client:
        seen = await _json(
            await client.request("POST", url, headers=headers, body=b"{}", timeout_ms=2000)
        )
    received = seen["headers"]
    assert isinstance(received, dict)
    sent = {str(k).lower(): v for k, v in received.items()}
    assert "authorization" not in sent and "api-key" not in sent
    assert sent["x-keep"] == "yes"


async def test_url_is_normalised_and_empty_body_sent_as_empty_object(
    start_server: StartServer,
) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "POST", server.url("//echo///"), headers={}, body=None, timeout_ms=2000
        )
        seen = await _json(response)
    assert seen["path"] == "/echo"
    assert seen["body"] == "{}"
    assert response.request_body_bytes == 2
    assert response.url == server.url("/echo")


async def test_remembered_urls_are_checked_the_same_every_time(start_server: StartServer) -> None:
    """The per-URL memory keeps only allowed URLs; refusals are decided afresh, and the
    memory stays bounded however many distinct URLs pass through."""
    server = await start_server()
    allowed, forbidden = server.url("/echo"), server.url("/echo", host="127.0.0.1")
    async with OutboundClient(ActionsSettings(allowedHosts=("localhost",))) as client:
        for _ in range(3):
            response = await client.request(
                "POST", allowed, headers=JSON, body=b"{}", timeout_ms=2000
            )
            assert (await _json(response))["path"] == "/echo"
            with pytest.raises(UpstreamForbiddenHostError):
                await client.request("POST", forbidden, headers=JSON, body=b"{}", timeout_ms=2000)
        for n in range(3000):
            response = await client.request(
                "POST", server.url(f"/echo?n={n}"), headers=JSON, body=b"{}", timeout_ms=2000
            )
            await response.release()
        assert len(client._targets) <= 1024 and len(client._routes) <= 1024


async def test_invalid_url_keeps_kibanas_message() -> None:
    async with OutboundClient(ActionsSettings()) as client:
        with pytest.raises(UpstreamProtocolError, match=r"^URL Error: Invalid protocol$"):
            await client.request("GET", "ftp://example.com/x", headers={}, body=None, timeout_ms=10)


# --- limits (38) and timeouts (35) ------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True])
async def test_buffered_body_larger_than_the_limit_fails(
    start_server: StartServer, chunked: bool
) -> None:
    server = await start_server()
    settings = ActionsSettings(maxResponseContentLength=1000)
    query = "&chunked=1" if chunked else ""
    async with OutboundClient(settings) as client:
        ok = await client.request(
            "GET", server.url(f"/big?n=1000{query}"), headers={}, body=None, timeout_ms=2000
        )
        assert len(await ok.read()) == 1000
        big = await client.request(
            "GET", server.url(f"/big?n=5000{query}"), headers={}, body=None, timeout_ms=2000
        )
        with pytest.raises(UpstreamProtocolError) as info:
            await big.read()
        await big.release()
    assert info.value.code == "ERR_BAD_RESPONSE"
    assert str(info.value) == "maxContentLength size of 1000 exceeded"


async def test_streams_have_no_size_limit(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings(maxResponseContentLength=100)) as client:
        response = await client.request(
            "GET", server.url("/big?n=5000&chunked=1"), headers={}, body=None, timeout_ms=2000
        )
        total = sum([len(chunk) async for chunk in response.iter_chunks()])
    assert total == 5000


async def test_timeout_is_enforced_with_axios_message(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError) as info:
            await client.request(
                "POST", server.url("/slow?delay=3"), headers=JSON, body=b"{}", timeout_ms=300
            )
    assert time.monotonic() - started < 2
    assert info.value.code == "ECONNABORTED"
    assert str(info.value) == "timeout of 300ms exceeded"


async def test_stream_survives_beyond_timeout_while_chunks_keep_coming(
    start_server: StartServer,
) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "GET", server.url("/stream?count=6&delay=0.15"), headers={}, body=None, timeout_ms=400
        )
        chunks = [chunk async for chunk in response.iter_chunks()]
    assert b"".join(chunks) == b"".join(f"data: {i}\n\n".encode() for i in range(6))


async def test_stream_inactivity_times_out(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "GET", server.url("/stream?count=2&delay=2"), headers={}, body=None, timeout_ms=300
        )
        with pytest.raises(UpstreamTimeoutError, match="timeout of 300ms exceeded"):
            async for _ in response.iter_chunks():
                pass


async def test_stream_chunks_arrive_as_sent(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "GET", server.url("/stream?count=3&delay=0.25"), headers={}, body=None, timeout_ms=2000
        )
        arrivals: list[tuple[float, bytes]] = []
        async for chunk in response.iter_chunks():
            arrivals.append((time.monotonic(), chunk))
    assert [c for _, c in arrivals] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.15 for gap in gaps), gaps


async def test_reset_mid_stream_raises_econnreset(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "GET", server.url("/reset"), headers={}, body=None, timeout_ms=2000
        )
        received: list[bytes] = []
        with pytest.raises(UpstreamConnectionError) as info:
            async for chunk in response.iter_chunks():
                received.append(chunk)
    assert received == [b"data: partial\n\n"]
    assert info.value.code == "ECONNRESET"


# --- network errors ---------------------------------------------------------------------
async def test_connection_refused_has_node_code() -> None:
    port = _free_port()
    async with OutboundClient(ActionsSettings()) as client:
        with pytest.raises(UpstreamConnectionError) as info:
            await client.request(
                "GET", f"http://127.0.0.1:{port}/", headers={}, body=None, timeout_ms=2000
            )
    assert info.value.code == "ECONNREFUSED"
    assert str(info.value) == f"connect ECONNREFUSED 127.0.0.1:{port}"


async def test_closed_client_refuses_requests() -> None:
    client = OutboundClient(ActionsSettings())
    await client.close()
    with pytest.raises(UpstreamConnectionError):
        await client.request("GET", "http://localhost/", headers={}, body=None, timeout_ms=10)


# --- pooling and resources --------------------------------------------------------------
async def test_keep_alive_connection_is_reused(start_server: StartServer) -> None:
    server = await start_server()
    async with OutboundClient(ActionsSettings()) as client:
        ports = []
        for _ in range(3):
            seen = await _json(
                await client.request("GET", server.url(), headers={}, body=None, timeout_ms=2000)
            )
            ports.append(seen["peer_port"])
    assert len(set(ports)) == 1, ports


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_no_fd_leak_after_many_requests_with_errors(start_server: StartServer) -> None:
    server = await start_server()
    dead = _free_port()
    settings = ActionsSettings(maxResponseContentLength=100)
    await asyncio.sleep(0)
    before = _open_fds()
    async with OutboundClient(settings) as client:
        for i in range(50):
            kind = i % 5
            try:
                if kind == 0:
                    await client.request(
                        "GET", f"http://127.0.0.1:{dead}/", headers={}, body=None, timeout_ms=500
                    )
                elif kind == 1:
                    r = await client.request(
                        "GET", server.url("/big?n=1000"), headers={}, body=None, timeout_ms=500
                    )
                    await r.read()
                elif kind == 2:
                    await client.request(
                        "GET", server.url("/slow?delay=1"), headers={}, body=None, timeout_ms=50
                    )
                elif kind == 3:
                    r = await client.request(
                        "GET", server.url("/reset"), headers={}, body=None, timeout_ms=500
                    )
                    async for _ in r.iter_chunks():
                        pass
                else:
                    r = await client.request(
                        "GET", server.url(), headers={}, body=None, timeout_ms=500
                    )
                    await r.release()  # unread body: connection closed, not leaked
            except (UpstreamConnectionError, UpstreamProtocolError, UpstreamTimeoutError):
                pass
        during = _open_fds()
    await asyncio.sleep(0.05)
    after = _open_fds()
    assert during - before < 20
    assert after <= before, (before, during, after)


async def test_debug_log_redacts_secrets(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    caplog.set_level(logging.DEBUG, logger="llmrelay.transport")
    async with OutboundClient(ActionsSettings()) as client:
        response = await client.request(
            "POST",
            server.url(),
            headers={"Authorization": "Bearer sk-very-secret", "api-key": "azure-secret"},
            body=b'{"prompt":"body-secret"}',
            timeout_ms=2000,
            log_context="Connector Id: abc. Connector type: .gen-ai",
        )
        await response.release()
    text = caplog.text
    assert (
        "Request to external service. Connector Id: abc. Connector type: .gen-ai Method: POST. "
        f"URL: {server.url()}" in text
    )
    for secret in ("sk-very-secret", "azure-secret", "body-secret"):
        assert secret not in text
