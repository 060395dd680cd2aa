"""FakeUpstream exercised by real clients (aiohttp, raw sockets, the openai SDK) on loopback."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import trustme

from llmrelay.testing import CREATED, DEFAULT_REPLY, FakeUpstream

pytestmark = pytest.mark.network

KIBANA_422 = (
    b'{"error":{"message":"The model `bad model` does not exist",'
    b'"type":"invalid_request_error","param":null,"code":null}}'
)
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """uvicorn logs protocol misuse by the app (e.g. an incomplete response) as errors."""
    yield
    for when in ("setup", "call"):
        problems = [r for r in caplog.get_records(when) if r.levelno >= logging.WARNING]
        assert not problems, [r.getMessage() for r in problems]


def trusting(ca: trustme.CA, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    return ctx


async def post(
    url: str,
    body: object,
    *,
    ssl_ctx: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    allow_redirects: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    hdrs = {"content-type": "application/json", **(headers or {})}
    connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(url, data=data, headers=hdrs, allow_redirects=allow_redirects) as resp,
    ):
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


def sse_data(raw: bytes, line_ending: bytes = b"\n") -> list[bytes]:
    """The ``data:`` payloads of an SSE body, in order."""
    out = []
    for event in raw.split(line_ending * 2):
        for line in event.split(line_ending):
            if line.startswith(b"data: "):
                out.append(line[len(b"data: ") :])
    return out


def chunks(raw: bytes) -> list[dict[str, Any]]:
    data = sse_data(raw)
    assert data[-1] == b"[DONE]"
    return [orjson.loads(item) for item in data[:-1]]


# ------------------------------------------------------------------------- default JSON
async def test_json_answer_shape_and_usage(upstream: FakeUpstream) -> None:
    status, headers, body = await post(upstream.url(), {"model": "gpt-4o", "messages": MESSAGES})
    assert status == 200
    assert headers["content-type"] == "application/json"
    answer = orjson.loads(body)
    assert answer["id"] == "chatcmpl-fake-000001"
    assert answer["object"] == "chat.completion"
    assert answer["created"] == CREATED
    assert answer["model"] == "gpt-4o"
    [choice] = answer["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "You said: What is the capital of France?"
    assert choice["message"]["content"] == FakeUpstream.reply_text(MESSAGES)
    # words: 2 + 6 in the prompt, 8 in the reply
    assert answer["usage"] == {"prompt_tokens": 8, "completion_tokens": 8, "total_tokens": 16}
    assert answer["usage"] == FakeUpstream.usage_for(MESSAGES, choice["message"]["content"])


async def test_default_model_and_default_reply(upstream: FakeUpstream) -> None:
    _, _, body = await post(upstream.url("/custom/simulator"), {})
    answer = orjson.loads(body)
    assert answer["model"] == "gpt-4.1-fake"
    assert answer["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert answer["usage"] == {"prompt_tokens": 0, "completion_tokens": 7, "total_tokens": 7}


def test_reply_text_rules() -> None:
    parts = [{"type": "text", "text": "look  at"}, {"type": "image_url"}, {"text": "this\n"}]
    assert FakeUpstream.reply_text([{"role": "user", "content": parts}]) == "You said: look at this"
    assert FakeUpstream.reply_text([{"role": "user", "content": "a"}, {"role": "assistant"}]) == (
        "You said: a"
    )
    assert FakeUpstream.reply_text([{"role": "system", "content": "x"}]) == DEFAULT_REPLY
    assert FakeUpstream.reply_text(None) == DEFAULT_REPLY


async def test_invalid_json_is_a_400_in_openai_shape(upstream: FakeUpstream) -> None:
    status, _, body = await post(upstream.url(), b"{not json")
    assert status == 400
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("We could not parse the JSON body")
    assert (error["param"], error["code"]) == (None, None)


async def test_models_listing_and_unknown_get(upstream: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(upstream.url("/v1/models")) as resp:
            assert resp.status == 200
            listing = await resp.json()
        async with session.get(upstream.url("/v1/nothing")) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"] == "Invalid URL (GET /v1/nothing)"
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["gpt-4.1-fake"]


# ----------------------------------------------------------------------------- streams
async def test_stream_shape_without_usage(upstream: FakeUpstream) -> None:
    status, headers, raw = await post(upstream.url(), {"stream": True, "messages": MESSAGES})
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in headers
    items = chunks(raw)
    assert all(c["object"] == "chat.completion.chunk" for c in items)
    assert {c["id"] for c in items} == {"chatcmpl-fake-000001"}
    assert {c["model"] for c in items} == {"gpt-4.1-fake"}
    assert all(c["created"] == CREATED and "usage" not in c for c in items)
    assert items[0]["choices"][0]["delta"]["role"] == "assistant"
    words = [c["choices"][0]["delta"]["content"] for c in items[1:-1]]
    assert words == ["You", " said:", " What", " is", " the", " capital", " of", " France?"]
    assert "".join(words) == FakeUpstream.reply_text(MESSAGES)
    assert items[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


async def test_stream_include_usage_is_honoured(upstream: FakeUpstream) -> None:
    body = {"model": "m1", "stream": True, "stream_options": {"include_usage": True}}
    _, _, raw = await post(upstream.url(), {**body, "messages": MESSAGES})
    items = chunks(raw)
    assert items[-1]["choices"] == []
    assert items[-1]["usage"] == {"prompt_tokens": 8, "completion_tokens": 8, "total_tokens": 16}
    assert items[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in items[:-1])  # as OpenAI sends them
    assert {c["model"] for c in items} == {"m1"}


async def test_scripted_stream_forces_or_omits_usage(upstream: FakeUpstream) -> None:
    upstream.stream(["Hi", " there", " you"], usage=True)
    upstream.stream(["Hi"], usage=False)
    _, _, forced = await post(upstream.url(), {"messages": MESSAGES})  # did not ask for a stream
    asked = {"stream": True, "stream_options": {"include_usage": True}}
    _, _, omitted = await post(upstream.url(), asked)
    forced_items = chunks(forced)
    assert [c["choices"][0]["delta"].get("content") for c in forced_items[1:-2]] == [
        "Hi",
        " there",
        " you",
    ]
    assert forced_items[-1]["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 3,
        "total_tokens": 11,
    }
    assert all("usage" not in c for c in chunks(omitted))


async def test_crlf_stream(upstream: FakeUpstream) -> None:
    upstream.stream(["a", " b"], line_ending="\r\n")
    _, _, raw = await post(upstream.url(), {"stream": True})
    assert raw.endswith(b"data: [DONE]\r\n\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n") == 2 * 5  # role, a, b, stop, [DONE]
    assert len(sse_data(raw, b"\r\n")) == 5


async def test_malformed_line_follows_the_role_chunk(upstream: FakeUpstream) -> None:
    upstream.stream(["a"], malformed_line=True)
    _, _, raw = await post(upstream.url(), {"stream": True})
    data = sse_data(raw)
    assert data[1] == b"{not json"
    assert b"\n\ndata: {not json\n\ndata: " in raw
    assert orjson.loads(data[2])["choices"][0]["delta"]["content"] == "a"


async def test_chunk_delay_spaces_arrivals(upstream: FakeUpstream) -> None:
    upstream.stream(["a", " b", " c"], chunk_delay=0.12)
    arrivals: list[float] = []
    async with aiohttp.ClientSession() as session, session.post(upstream.url(), json={}) as resp:
        async for line in resp.content:
            if line.startswith(b"data: "):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 6  # role, 3 words, stop, [DONE]: each flushed on its own
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.09, gaps


async def test_a_client_leaving_ends_a_slow_stream(upstream: FakeUpstream) -> None:
    upstream.stream(["x"] * 50, chunk_delay=10)
    assert upstream._thread is not None
    server = upstream._thread.server
    assert server is not None
    async with aiohttp.ClientSession() as session, session.post(upstream.url(), json={}) as resp:
        await resp.content.readline()
        assert len(server.server_state.tasks) == 1
    for _ in range(100):  # the handler notices the disconnect instead of sleeping on
        if not server.server_state.tasks:
            break
        await asyncio.sleep(0.01)
    assert not server.server_state.tasks


async def test_first_byte_delay_of_a_stream(upstream: FakeUpstream) -> None:
    upstream.stream(["a"], first_byte_delay=0.25)
    started = time.monotonic()
    status, _, _ = await post(upstream.url(), {})
    assert status == 200
    assert time.monotonic() - started >= 0.24


async def test_reset_mid_stream_is_a_client_error(upstream: FakeUpstream) -> None:
    upstream.stream(["a", " b", " c"], reset_after=2)
    received: list[bytes] = []
    async with aiohttp.ClientSession() as session, session.post(upstream.url(), json={}) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError) as caught:
            async for line in resp.content:
                if line.startswith(b"data: "):
                    received.append(line)
    assert len(received) == 2  # the role chunk and "a", then the RST
    assert "Connection reset by peer" in str(caught.value)


def test_reset_mid_stream_is_a_tcp_reset_not_eof(upstream: FakeUpstream) -> None:
    upstream.stream(["a", " b"], reset_after=0)
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")  # headers sent, no event, no end


async def test_reset_mid_stream_over_tls(tls_upstream: FakeUpstream, ca: trustme.CA) -> None:
    tls_upstream.stream(["a", " b"], reset_after=3)
    connector = aiohttp.TCPConnector(ssl=trusting(ca))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(tls_upstream.url(), json={}) as resp,
    ):
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


# --------------------------------------------------------------------- scripted answers
async def test_slow_first_byte(upstream: FakeUpstream) -> None:
    upstream.slow_first_byte(0.3, times=2)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            async with session.post(
                upstream.url(), json={}, timeout=aiohttp.ClientTimeout(total=0.1)
            ) as resp:
                await resp.read()
        started = time.monotonic()
        async with session.post(upstream.url(), json={"messages": MESSAGES}) as resp:
            answer = await resp.json()
        assert time.monotonic() - started >= 0.29
    assert answer["choices"][0]["message"]["content"] == FakeUpstream.reply_text(MESSAGES)


async def test_huge_response_has_the_exact_size(upstream: FakeUpstream) -> None:
    upstream.huge_response(3_000_000)
    status, headers, body = await post(upstream.url(), {})
    assert status == 200
    assert len(body) == 3_000_000
    assert headers["content-length"] == "3000000"
    assert orjson.loads(body)["object"] == "chat.completion"
    with pytest.raises(ValueError, match="at least"):
        upstream.huge_response(10)


async def test_redirect(upstream: FakeUpstream) -> None:
    upstream.redirect(upstream.url("/moved"), 307, times=2)
    status, headers, body = await post(upstream.url(), {}, allow_redirects=False)
    assert (status, headers["location"], body) == (307, upstream.url("/moved"), b"")
    status, _, body = await post(upstream.url(), {"messages": MESSAGES})  # aiohttp follows
    assert status == 200
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions"] * 2 + ["/moved"]
    assert upstream.requests[-1].json == {"messages": MESSAGES}  # 307 keeps method and body


async def test_fail_reproduces_kibana_simulator_422(upstream: FakeUpstream) -> None:
    upstream.fail(422, "The model `bad model` does not exist")
    status, headers, body = await post(upstream.url(), {"model": "bad model"})
    assert status == 422
    assert headers["content-type"] == "application/json"
    assert body == KIBANA_422


async def test_fail_variants(upstream: FakeUpstream) -> None:
    upstream.fail(500)
    upstream.fail(429, "Rate limit reached", headers={"retry-after": "2"})
    upstream.fail(401, "Incorrect API key provided", error_type="authentication_error")
    upstream.fail(502, {"detail": "upstream down"})
    upstream.fail(503, b"<html>busy</html>", headers={"content-type": "text/html"})
    results = [await post(upstream.url(), {}) for _ in range(5)]
    errors = [orjson.loads(body)["error"] for _, _, body in results[:3]]
    assert [status for status, _, _ in results] == [500, 429, 401, 502, 503]
    assert errors[0] == {
        "message": "Internal Server Error",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert (errors[1]["type"], results[1][1]["retry-after"]) == ("requests", "2")
    assert errors[2]["type"] == "authentication_error"
    assert orjson.loads(results[3][2]) == {"detail": "upstream down"}
    assert (results[4][1]["content-type"], results[4][2]) == ("text/html", b"<html>busy</html>")


async def test_reply_json_times_then_default_fifo(upstream: FakeUpstream) -> None:
    simulator = {"id": "chatcmpl-abc123", "choices": [], "usage": {"total_tokens": 1}}
    upstream.reply_json(simulator, 202, headers={"x-sim": "1"}, times=2)
    upstream.without_usage()
    results = [await post(upstream.url(), {"messages": MESSAGES}) for _ in range(4)]
    assert [status for status, _, _ in results] == [202, 202, 200, 200]
    assert orjson.loads(results[0][2]) == simulator
    assert results[1][1]["x-sim"] == "1"
    assert "usage" not in orjson.loads(results[2][2])
    assert "usage" in orjson.loads(results[3][2])


async def test_without_usage_on_a_stream_request(upstream: FakeUpstream) -> None:
    upstream.without_usage()
    _, _, raw = await post(
        upstream.url(), {"stream": True, "stream_options": {"include_usage": True}}
    )
    assert all("usage" not in c for c in chunks(raw))


def test_scripting_arguments_are_validated() -> None:
    fake = FakeUpstream()
    with pytest.raises(ValueError):
        fake.reply_json({}, times=0)
    with pytest.raises(ValueError):
        fake.stream(["a"], line_ending="\n\n")
    with pytest.raises(ValueError):
        fake.redirect("/x", 200)
    with pytest.raises(ValueError):
        FakeUpstream(client_ca=trustme.CA())


# --------------------------------------------------------------------- routing & recording
async def test_azure_routing_and_api_version(upstream: FakeUpstream) -> None:
    url = upstream.azure_url("my-deployment", "2024-10-21")
    assert url == (
        f"http://localhost:{upstream.port}/openai/deployments/my-deployment/chat/completions"
        "?api-version=2024-10-21"
    )
    body = {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    status, _, raw = await post(url, body, headers={"api-key": "azure-key"})
    assert status == 200
    assert chunks(raw)[-1]["usage"]["total_tokens"] == 16
    recorded = upstream.last_request
    assert recorded.path == "/openai/deployments/my-deployment/chat/completions"
    assert recorded.query == {"api-version": "2024-10-21"}
    assert recorded.headers["api-key"] == "azure-key"


async def test_requests_recorded_with_headers_and_exact_bytes(upstream: FakeUpstream) -> None:
    body = b'{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'
    await post(
        upstream.url() + "?a=1&b=",
        body,
        headers={"Authorization": "Bearer sk-test", "X-Custom-Header": "Yes"},
    )
    await post(upstream.url("/plain"), b"plain text")
    first, second = upstream.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.query == {"a": "1", "b": ""}
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.headers["x-custom-header"] == "Yes"
    assert first.headers["content-length"] == "78"  # Kibana's request_body_bytes for this body
    assert first.body == body
    assert first.json == orjson.loads(body)
    assert all(name == name.lower() for name in first.headers)
    assert (second.body, second.json) == (b"plain text", None)


async def test_client_port_tells_kept_alive_connections_apart(upstream: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # sequential: the second request reuses the pooled connection
            async with session.post(upstream.url(), json={}) as resp:
                await resp.read()
        async with (  # a second session while the first one's connection is still open
            aiohttp.ClientSession() as other,
            other.post(upstream.url(), json={}) as resp,
        ):
            await resp.read()
    first, second, third = (r.client_port for r in upstream.requests)
    assert first > 0
    assert second == first
    assert third != first


async def test_reset_clears_recordings_scripts_and_ids(upstream: FakeUpstream) -> None:
    upstream.fail(500, times=3)
    await post(upstream.url(), {})
    upstream.reset()
    assert upstream.requests == []
    status, _, body = await post(upstream.url(), {})
    assert status == 200
    assert orjson.loads(body)["id"] == "chatcmpl-fake-000001"
    assert len(upstream.requests) == 1


async def test_concurrent_requests_while_a_stream_is_slow(upstream: FakeUpstream) -> None:
    upstream.stream(["slow"] * 4, chunk_delay=0.1)
    async with aiohttp.ClientSession() as session:

        async def one(body: dict[str, Any]) -> bytes:
            async with session.post(upstream.url(), json=body) as resp:
                return await resp.read()

        slow = asyncio.create_task(one({}))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        answers = await asyncio.gather(*(one({"messages": MESSAGES}) for _ in range(20)))
        assert time.monotonic() - started < 0.3
        assert not slow.done()
        await slow
    assert {orjson.loads(a)["usage"]["total_tokens"] for a in answers} == {16}
    assert len(upstream.requests) == 21


# --------------------------------------------------------------------------- TLS / mTLS
async def test_tls_verified_against_the_ca(
    tls_upstream: FakeUpstream, ca: trustme.CA, other_ca: trustme.CA
) -> None:
    assert tls_upstream.base_url.startswith("https://localhost:")
    status, _, _ = await post(tls_upstream.url(), {}, ssl_ctx=trusting(ca))
    assert status == 200
    by_ip = f"https://127.0.0.1:{tls_upstream.port}/v1/chat/completions"
    status, _, _ = await post(by_ip, {}, ssl_ctx=trusting(ca))
    assert status == 200
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await post(tls_upstream.url(), {}, ssl_ctx=trusting(other_ca))
    assert len(tls_upstream.requests) == 2


async def test_mtls_refuses_a_client_without_certificate(
    mtls_upstream: FakeUpstream, ca: trustme.CA
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await post(mtls_upstream.url(), {}, ssl_ctx=trusting(ca))
    assert mtls_upstream.requests == []


async def test_mtls_refuses_a_certificate_from_another_ca(
    mtls_upstream: FakeUpstream, ca: trustme.CA, other_ca: trustme.CA
) -> None:
    stranger = other_ca.issue_cert("llmrelay-client")
    with pytest.raises(aiohttp.ClientError):
        await post(mtls_upstream.url(), {}, ssl_ctx=trusting(ca, stranger))
    assert mtls_upstream.requests == []


async def test_mtls_accepts_the_client_cert(
    mtls_upstream: FakeUpstream, ca: trustme.CA, client_cert: trustme.LeafCert
) -> None:
    status, _, body = await post(
        mtls_upstream.url(), {"messages": MESSAGES}, ssl_ctx=trusting(ca, client_cert)
    )
    assert status == 200
    assert orjson.loads(body)["usage"]["total_tokens"] == 16


# ----------------------------------------------------------------------------- lifecycle
async def test_stop_ends_open_streams_and_cleans_up(ca: trustme.CA) -> None:
    server = FakeUpstream(tls=ca, model="lifecycle").start()
    tmpdir, port = server._tmpdir.name if server._tmpdir else "", server.port
    assert os.path.isdir(tmpdir)  # noqa: ASYNC240 - a local check, not I/O worth offloading
    server.stream(["x"] * 100, chunk_delay=5)
    connector = aiohttp.TCPConnector(ssl=trusting(ca))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(server.url(), json={}) as resp,
    ):
        await resp.content.readline()  # the stream is open
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        assert time.monotonic() - started < 3
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert not os.path.exists(tmpdir)  # noqa: ASYNC240
    assert f"FakeUpstream:{port}" not in {t.name for t in threading.enumerate()}
    server.stop()  # idempotent


def test_context_manager_and_port_release() -> None:
    with FakeUpstream(hostnames=("127.0.0.1",)) as server:
        port = server.port
        assert server.base_url == f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    with pytest.raises(RuntimeError):
        _ = server.base_url


# ------------------------------------------------------------------------ the openai SDK
async def test_openai_sdk_talks_to_the_fake(upstream: FakeUpstream) -> None:
    openai = pytest.importorskip("openai")
    async with openai.AsyncOpenAI(base_url=upstream.url("/v1"), api_key="sk-test") as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = [c async for c in stream]
    assert completion.choices[0].message.content == FakeUpstream.reply_text(MESSAGES)
    assert completion.usage is not None and completion.usage.total_tokens == 16
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == FakeUpstream.reply_text(MESSAGES)
    assert parts[-1].usage is not None and parts[-1].usage.completion_tokens == 8
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-test"
