"""The Responses API over chat completions without a server: request translation and its
refusals, answers, and a chat stream fed in hand-cut chunks turned into Responses events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from llmrelay.domain.events import TokenUsage
from llmrelay.errors import ResponsesTranslationError
from llmrelay.execution.responses_stream import TranslatedResponseStream
from llmrelay.execution.responses_translate import (
    chat_request,
    output_text,
    prompt_of,
    translated_answer,
)
from llmrelay.execution.streaming import TappedStream, ends_with_final_response
from llmrelay.execution.usage import StreamUsageCollector


def test_a_string_input_is_one_user_message() -> None:
    assert chat_request({"model": "m", "input": "hi"}) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


def test_nulls_are_ignored_and_dropped_settings_are_not_sent() -> None:
    body = {
        "input": "hi",
        "tools": [],
        "tool_choice": "auto",
        "truncation": "disabled",
        "include": None,
        "service_tier": "auto",
        "text": {"format": {"type": "text"}},
        "stream": True,
        "previous_response_id": None,
    }
    assert chat_request(body) == {"messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 3}, "input"),
        ({}, "input"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "user", "content": {"a": 1}}]}, "input[0].content"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
        ),
        ({"input": "x", "instructions": ["a"]}, "instructions"),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": "x", "truncation": "auto"}, "truncation"),
        ({"input": "x", "include": ["file_search_call.results"]}, "include"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "prompt": {"id": "p1"}}, "prompt"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
    ],
)
def test_refusals_name_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ResponsesTranslationError) as caught:
        chat_request(body)
    assert caught.value.param == param and caught.value.status == 400
    assert str(caught.value).startswith(f"Unsupported parameter: '{param}' ")


def test_an_answer_without_usage_has_null_usage_and_the_chat_model() -> None:
    chat = {
        "model": "served-model",
        "created": 1700000000,
        "choices": [{"index": 0, "message": {"content": "Paris"}, "finish_reason": "stop"}],
    }
    answer = translated_answer({"model": "asked", "input": "x", "temperature": 0.5}, chat)
    assert answer["model"] == "served-model" and answer["usage"] is None
    assert answer["created_at"] == 1700000000 and answer["temperature"] == 0.5
    assert answer["status"] == "completed" and answer["incomplete_details"] is None
    assert output_text(answer) == "Paris"


def test_prompt_of_counts_instructions_and_every_text() -> None:
    body = {
        "instructions": "Be brief",
        "input": [
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "input_text", "text": "two"}]},
        ],
    }
    assert prompt_of(body) == "Be brief\none\ntwo"


class _Chunks:
    """A sent call's answer, delivering ``chunks`` as they were cut."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.released = False

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def release(self) -> None:
        self.released = True


def _chat_sse(deltas: list[str], usage: dict[str, int] | None, finish: str = "stop") -> bytes:
    chunks: list[dict[str, Any]] = [
        {"model": "served", "choices": [{"index": 0, "delta": {"content": d}}]} for d in deltas
    ]
    chunks.append(
        {"model": "served", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    )
    if usage is not None:
        chunks.append({"model": "served", "choices": [], "usage": usage})
    data = b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)
    return data + b"data: [DONE]\r\n\r\n"


def _translate(
    raw: bytes, cut: int, request: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[TokenUsage], _Chunks]:
    pieces = [raw[i : i + cut] for i in range(0, len(raw), cut)]
    response = _Chunks(pieces)
    ended: list[TokenUsage] = []
    collector = StreamUsageCollector(prompt="x", model="served")
    tapped = TappedStream(response, collector, lambda usage, err, cancelled: ended.append(usage))
    stream = TranslatedResponseStream(tapped, request)

    async def read() -> bytes:
        return b"".join([chunk async for chunk in stream])

    out = asyncio.run(read())
    events = []
    for block in out.split(b"\n\n")[:-1]:
        head, data = block.split(b"\n")
        event = orjson.loads(data.removeprefix(b"data: "))
        assert head == b"event: " + event["type"].encode()
        events.append(event)
    return events, ended, response


@pytest.mark.parametrize("cut", [1, 7, 10_000])
def test_a_chat_stream_cut_anywhere_becomes_the_same_events(cut: int) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    raw = _chat_sse(["Héllo", " wörld"], usage)
    events, ended, response = _translate(raw, cut, {"model": "asked", "input": "x"})
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Héllo", " wörld"]
    done = events[-1]
    assert done["type"] == "response.completed"
    assert done["response"]["model"] == "served"
    assert done["response"]["output"][0]["content"][0]["text"] == "Héllo wörld"
    assert done["response"]["usage"]["input_tokens"] == 3
    assert done["response"]["usage"]["output_tokens"] == 2
    assert events[0]["response"]["model"] == "asked"  # before the server said which
    assert response.released and ended[0].usage_source == "stream"


def test_a_stream_cut_by_the_token_limit_ends_incomplete() -> None:
    events, _, _ = _translate(_chat_sse(["Par"], None, "length"), 5, {"input": "x"})
    done = events[-1]
    assert done["type"] == "response.incomplete"
    assert done["response"]["status"] == "incomplete"
    assert done["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert done["response"]["usage"] is None


def test_closing_early_closes_the_chat_stream() -> None:
    response = _Chunks([_chat_sse(["a", "b"], None)])
    ended: list[bool] = []
    collector = StreamUsageCollector(prompt="x", model="m")
    tapped = TappedStream(
        response, collector, lambda usage, err, cancelled: ended.append(cancelled)
    )
    stream = TranslatedResponseStream(tapped, {"input": "x"})

    async def first_then_close() -> bytes:
        first = await stream.__anext__()
        await stream.aclose()
        return first

    first = asyncio.run(first_then_close())
    assert first.startswith(b"event: response.created\n")
    assert response.released and ended == [True]


def _responses_sse(kind: str, usage: dict[str, int] | None) -> bytes:
    events = [
        {"type": "response.created", "response": {"usage": None}},
        {"type": "response.output_text.delta", "delta": "Hello"},
        {"type": "response.output_text.delta", "delta": " there"},
        {"type": kind, "response": {"usage": usage}},
    ]
    return b"".join(
        b"event: " + str(e["type"]).encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
        for e in events
    )


@pytest.mark.parametrize("kind", ["response.completed", "response.incomplete", "response.failed"])
def test_a_native_stream_counts_from_its_final_response(kind: str) -> None:
    collector = StreamUsageCollector(prompt="Hi", model="gpt-4.1")
    raw = _responses_sse(kind, {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6})
    for i in range(0, len(raw), 9):
        collector.feed(raw[i : i + 9])
    usage = collector.finish()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 2, 6)
    assert usage.usage_source == "stream"


def test_a_native_stream_without_usage_is_estimated_from_its_deltas() -> None:
    collector = StreamUsageCollector(prompt="Hi", model="gpt-4.1")
    collector.feed(_responses_sse("response.completed", None))
    usage = collector.finish()
    assert usage.usage_source == "estimated" and collector.content == "Hello there"
    assert usage.completion_tokens == 2


def test_a_native_streams_final_event_waits_for_the_durable_end() -> None:
    """Responses streams send no ``[DONE]``: the chunk with ``response.completed`` is
    held until the upstream's end is read and the event is durable, as ``[DONE]`` is."""
    raw = _responses_sse("response.completed", {"input_tokens": 1, "output_tokens": 2})
    final_at = raw.index(b"event: response.completed")
    log: list[str] = []

    async def durable() -> None:
        log.append("durable")

    collector = StreamUsageCollector(prompt="Hi", model="m")
    response = _Chunks([raw[:final_at], raw[final_at:]])
    tapped = TappedStream(response, collector, lambda *_: durable(), ends=ends_with_final_response)

    async def read() -> None:
        async for chunk in tapped:
            log.append("final" if b"response.completed" in chunk else "chunk")

    asyncio.run(read())
    assert log == ["chunk", "durable", "final"]
    assert ends_with_final_response(raw[final_at:]) and not ends_with_final_response(raw[:final_at])
    assert not ends_with_final_response(b'data: {"delta":"event: response.completed"}\n\n')
