"""Exact streamed usage: the gateway asks OpenAI/Azure (and ``Other`` with ``streamUsage``)
for the usage chunk and hides it from callers that did not ask; ``Other`` servers are
otherwise estimated, with the server's ``/tokenize`` when opted in."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from llmrelay import Executor
from llmrelay.domain.events import ExecutionRecord
from llmrelay.execution.results import ExecutionContext
from llmrelay.execution.usage import prompt_text
from llmrelay.testing import FakeUpstream
from tests.execution.conftest import ConnectorFactory, EventRecorder

HELLO = [{"role": "user", "content": "Hello stream usage"}]
CONTEXT = ExecutionContext(user_name="u", source="openai_gateway")


async def gateway_stream(executor: Executor, conn: object, **extra: object) -> bytes:
    body = {"messages": HELLO, "stream": True, **extra}
    result = await executor.chat_completions(conn, body, stream=True, context=CONTEXT)  # type: ignore[arg-type]
    assert result.stream is not None
    return b"".join([chunk async for chunk in result.stream])


def parsed_events(raw: bytes) -> list[dict[str, object]]:
    out = []
    for event in raw.split(b"\n\n"):
        data = event.removeprefix(b"data: ")
        if data and data != b"[DONE]":
            out.append(orjson.loads(data))
    return out


async def wait_finished(events: EventRecorder, count: int = 1) -> ExecutionRecord:
    for _ in range(500):
        if len(events.ends) >= count:
            return events.ends[count - 1]
        await asyncio.sleep(0.01)
    raise AssertionError("no execute event")


@pytest.mark.parametrize("provider", ["OpenAI", "Azure OpenAI"])
async def test_gateway_asks_openai_and_azure_for_usage_and_hides_it(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
    provider: str,
) -> None:
    url = upstream.azure_url() if provider == "Azure OpenAI" else upstream.url()
    conn = make_connector(provider, url)
    raw = await gateway_stream(executor, conn)
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and sent["stream_options"] == {"include_usage": True}
    chunks = parsed_events(raw)
    assert chunks and all(c["choices"] for c in chunks)
    assert raw.endswith(b"data: [DONE]\n\n")
    record = await wait_finished(events)
    assert record.usage.usage_source == "stream"
    assert record.usage.as_gen_ai() == FakeUpstream.usage_for(HELLO, FakeUpstream.reply_text(HELLO))
    assert record.sub_action == "chatCompletions" and record.source == "openai_gateway"


async def test_gateway_other_without_stream_usage_is_estimated(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="local")
    raw = await gateway_stream(executor, conn)
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and "stream_options" not in sent
    assert sent["model"] == "local"
    assert all(c["choices"] for c in parsed_events(raw))
    record = await wait_finished(events)
    assert record.usage.usage_source == "estimated"
    assert record.usage.tokenizer == "cl100k_base"
    assert len(upstream.requests) == 1  # no /tokenize probe unless opted in


async def test_other_with_stream_usage_flag(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    conn = make_connector("Other", upstream.url(), defaultModel="local", streamUsage=True)
    raw = await gateway_stream(executor, conn)
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and sent["stream_options"] == {"include_usage": True}
    assert all(c["choices"] for c in parsed_events(raw))
    assert (await wait_finished(events)).usage.usage_source == "stream"
    # _execute invokeStream: OpenAI's rules (usage chunk requested, passed through as Kibana does)
    result = await executor.execute(conn, "invokeStream", {"messages": HELLO})
    raw = b"".join([chunk async for chunk in result.data])  # type: ignore[union-attr]
    assert parsed_events(raw)[-1]["choices"] == []
    assert (await wait_finished(events, 2)).usage.usage_source == "stream"


async def test_caller_asking_for_usage_gets_it(
    executor: Executor, upstream: FakeUpstream, make_connector: ConnectorFactory
) -> None:
    conn = make_connector("OpenAI", upstream.url())
    raw = await gateway_stream(executor, conn, stream_options={"include_usage": True})
    last = parsed_events(raw)[-1]
    assert last["choices"] == [] and isinstance(last["usage"], dict)


async def test_server_tokenizer_counts_estimated_usage(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    upstream.serve_tokenize()
    conn = make_connector(
        "Other",
        upstream.url(),
        defaultModel="llama",
        serverTokenizer=True,
        headers={"X-Tenant": "t1"},
    )
    await gateway_stream(executor, conn)
    record = await wait_finished(events)
    reply = FakeUpstream.reply_text(HELLO)
    prompt = FakeUpstream.tokenize_count(prompt_text(HELLO, "stream"))
    assert record.usage.tokenizer == "server"
    assert record.usage.usage_source == "estimated"
    assert record.usage.prompt_tokens == prompt
    assert record.usage.completion_tokens == FakeUpstream.tokenize_count(reply)
    tokenize = [r for r in upstream.requests if r.path == "/tokenize"]
    assert len(tokenize) == 2
    assert tokenize[0].headers["authorization"] == "Bearer sk-test-123"
    assert tokenize[0].headers["x-tenant"] == "t1"


async def test_server_without_tokenizer_is_probed_once(
    executor: Executor,
    upstream: FakeUpstream,
    make_connector: ConnectorFactory,
    events: EventRecorder,
) -> None:
    # without serve_tokenize, POST /tokenize gets a chat completion: not a tokenizer
    conn = make_connector("Other", upstream.url(), defaultModel="llama", serverTokenizer=True)
    await gateway_stream(executor, conn)
    first = await wait_finished(events)
    await gateway_stream(executor, conn)
    second = await wait_finished(events, 2)
    assert first.usage.tokenizer == "cl100k_base" and second.usage.tokenizer == "cl100k_base"
    paths = [r.path for r in upstream.requests]
    assert paths.count("/tokenize") == 2  # prompt and completion, first stream only
    assert paths[-1] == "/v1/chat/completions"
