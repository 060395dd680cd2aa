"""Usage from responses and streams (spec §3, checklist 65-71 at module level)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.domain.events import TokenUsage
from llmrelay.execution import tokens
from llmrelay.execution.tokens import count_tokens
from llmrelay.execution.usage import (
    StreamUsageCollector,
    functions_text,
    prompt_text,
    usage_from_response,
)
from tests.helpers.soak import scaled

# --- realistic upstream bytes ------------------------------------------------------------

_HEAD = (
    b'{"id":"chatcmpl-A1b2C3","object":"chat.completion.chunk","created":1718000000,'
    b'"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1",'
)

OPENAI_WITH_USAGE = (
    b"data: " + _HEAD + b'"choices":[{"index":0,"delta":{"role":"assistant","content":"",'
    b'"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b"data: " + _HEAD + b'"choices":[{"index":0,"delta":{"content":"Hello"},'
    b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b"data: " + _HEAD + b'"choices":[{"index":0,"delta":{"content":" there! \\u00c7a va?"},'
    b'"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    b"data: " + _HEAD + b'"choices":[{"index":0,"delta":{},"logprobs":null,'
    b'"finish_reason":"stop"}],"usage":null}\n\n'
    b"data: " + _HEAD + b'"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":6,'
    b'"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":0}}}\n\n'
    b"data: [DONE]\n\n"
)

OPENAI_NO_USAGE = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4",'
    b'"choices":[{"index":0,"delta":{"content":"The capital"},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4",'
    b'"choices":[{"index":0,"delta":{"content":" of France is Paris."},"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)
NO_USAGE_TEXT = "The capital of France is Paris."

# llama.cpp-style: no "object" field, CRLF line ends, a keep-alive comment.
LOCAL_SERVER_CRLF = (
    b": ping\r\n\r\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"Bonjour"}}],"model":"llama"}\r\n\r\n'
    b'data: {"choices":[{"index":0,"delta":{"content":" le monde"}}],"model":"llama"}\r\n\r\n'
    b"data: [DONE]\r\n\r\n"
)

TOOL_CALL_STREAM = (
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":'
    b'{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}\n\n'
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":'
    b'[{"index":0,"function":{"arguments":"{\\"city\\":"}}]},"finish_reason":null}]}\n\n'
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":'
    b'[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":null}]}\n\n'
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"tool_calls"}]}\n\n'
    b"data: [DONE]\n\n"
)

PROMPT = prompt_text([{"role": "user", "content": "What is the capital of France?"}], "stream")


def collect(
    chunks: Iterable[bytes], *, prompt: str = PROMPT, model: str | None = "gpt-4"
) -> StreamUsageCollector:
    collector = StreamUsageCollector(prompt=prompt, model=model)
    for chunk in chunks:
        collector.feed(chunk)
    return collector


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def estimated(prompt: str, completion: str, encoding: str = "cl100k_base") -> TokenUsage:
    p, c = count_tokens(prompt, encoding), count_tokens(completion, encoding)
    return TokenUsage(p, c, p + c, "estimated", encoding)


# --- non-stream responses (65) ------------------------------------------------------------


def test_response_usage() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }
    assert usage_from_response(body) == TokenUsage(10, 3, 13, "response")


def test_response_usage_missing_numbers() -> None:
    assert usage_from_response({"usage": {"prompt_tokens": 7}}) == TokenUsage(7, 0, 7, "response")
    assert usage_from_response({"usage": {}}) == TokenUsage(0, 0, 0, "response")
    assert usage_from_response(
        {"usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 0}}
    ) == TokenUsage(2, 3, 0, "response")


def test_response_usage_odd_numbers() -> None:
    usage = {"prompt_tokens": 4.0, "completion_tokens": True, "total_tokens": "9"}
    assert usage_from_response({"usage": usage}) == TokenUsage(4, 0, 4, "response")
    assert usage_from_response({"usage": {"prompt_tokens": -1}}) == TokenUsage(0, 0, 0, "response")


@pytest.mark.parametrize(
    "payload",
    [{"choices": []}, {"usage": None}, {"usage": [1, 2]}, None, [], "nope", b"{not json"],
)
def test_response_without_usage_is_missing(payload: object) -> None:
    assert usage_from_response(payload) == TokenUsage.missing()


def test_response_usage_from_raw_json() -> None:
    raw = b'{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'
    assert usage_from_response(raw) == TokenUsage(1, 2, 3, "response")


# --- prompt formats (68) -----------------------------------------------------------------


def test_prompt_text_stream_style() -> None:
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "lookup", "arguments": '{"q":1}'},
        },
        {"role": "function", "name": "lookup", "content": "42"},
    ]
    assert prompt_text(messages, "stream") == (
        "<|start|>system\nBe brief.\n<|end|>\n"
        "<|start|>user\nHi\nalice<|end|>\n"
        '<|start|>assistant\n\nlookup\n{"q":1}<|end|>\n'
        "<|start|>function\n42\nlookup<|end|>"
    )


def test_prompt_text_missing_name_is_empty_not_undefined() -> None:
    text = prompt_text([{"role": "user", "content": "x", "name": None}], "stream")
    assert text == "<|start|>user\nx\n<|end|>"
    assert "undefined" not in text


def test_prompt_text_invoke_style() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U", "name": "n"}]
    assert prompt_text(messages, "invoke") == "<|start|>system\nS<|end|>\n<|start|>user\nU<|end|>"


def test_prompt_text_tolerates_non_string_content() -> None:
    messages: list[dict[str, object]] = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url"}]},
        {"role": "user", "content": 42},
        {"content": {"a": 1}},
    ]
    assert prompt_text(messages, "invoke") == (
        '<|start|>user\nlook<|end|>\n<|start|>user\n42<|end|>\n<|start|>\n{"a":1}<|end|>'
    )


def test_prompt_text_empty() -> None:
    assert prompt_text([], "stream") == ""


def test_functions_text() -> None:
    functions: list[dict[str, object]] = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "noop"},
    ]
    assert functions_text(functions) == (
        "<|start|>get_weather\nWeather for a city\n"
        '{"type":"object","properties":{"city":{"type":"string"}}}<|end|>\n'
        "<|start|>noop\n\n<|end|>"
    )


# --- streams ---------------------------------------------------------------------------


def test_usage_chunk_is_used_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """66: the usage chunk wins, and no tokenizer is needed for it."""
    monkeypatch.setattr(tokens, "_cache", {})
    monkeypatch.setitem(tokens._EXPECTED_SHA256, "o200k_base", "0" * 64)
    collector = collect([OPENAI_WITH_USAGE], model="gpt-4o-mini")
    assert collector.finish() == TokenUsage(19, 6, 25, "stream")
    assert collector.content == "Hello there! Ça va?"


def test_last_usage_chunk_wins() -> None:
    first = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
    )
    last = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}\n\n'
    )
    assert collect([first, last]).finish() == TokenUsage(5, 7, 12, "stream")


def test_estimated_without_usage_chunk() -> None:
    """67: cl100k counts of the prompt and the streamed content."""
    collector = collect([OPENAI_NO_USAGE])
    assert collector.content == NO_USAGE_TEXT
    assert collector.finish() == estimated(PROMPT, NO_USAGE_TEXT)


def test_estimate_uses_the_models_encoding() -> None:
    text = "こんにちは世界"
    chunk = (
        b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"'
        + text.encode()
        + b'"}}]}\n\n'
    )
    assert collect([chunk], model="gpt-4o").finish() == estimated(PROMPT, text, "o200k_base")
    forced = StreamUsageCollector(prompt=PROMPT, model="gpt-4o", encoding="cl100k_base")
    forced.feed(chunk)
    assert forced.finish() == estimated(PROMPT, text)


def test_prompt_parts_counted_separately() -> None:
    functions = functions_text([{"name": "f", "description": "d", "parameters": {}}])
    collector = StreamUsageCollector(prompt=[PROMPT, functions], model=None)
    collector.feed(OPENAI_NO_USAGE)
    p = count_tokens(PROMPT) + count_tokens(functions)
    c = count_tokens(NO_USAGE_TEXT)
    assert collector.finish() == TokenUsage(p, c, p + c, "estimated", "cl100k_base")


def test_tool_call_names_and_arguments_are_counted() -> None:
    collector = collect([TOOL_CALL_STREAM])
    assert collector.content == ""
    assert collector.finish() == estimated(PROMPT, 'get_weather\n{"city":"Paris"}')


def test_done_and_other_objects_are_ignored() -> None:
    """69: [DONE] (even with a CR) and objects that are not chunks do not count."""
    stream = (
        b'data: {"object":"chat.completion","choices":[{"index":0,"delta":{"content":"no"}}],'
        b'"usage":{"prompt_tokens":99,"completion_tokens":99,"total_tokens":198}}\n\n'
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[{"index":0,"delta":{"content":"yes"}}]}\n\n'
        b'data: {"error":{"message":"ignored"}}\n\n'
        b"data: 123\n\n"
        b'data: "a string"\n\n'
        b"data: [DONE]\r\n\r\n"
        b"data: [DONE]\n\n"
    )
    collector = collect([stream])
    assert collector.content == "yes"
    assert collector.finish() == estimated(PROMPT, "yes")


def test_empty_choices_usage_chunk_is_tolerated() -> None:
    chunk = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n'
    )
    assert collect([OPENAI_NO_USAGE.replace(b"data: [DONE]\n\n", b""), chunk]).finish() == (
        TokenUsage(3, 4, 7, "stream")
    )


def test_chunks_without_object_field_are_accepted() -> None:
    collector = collect([LOCAL_SERVER_CRLF], model="llama3")
    assert collector.content == "Bonjour le monde"
    assert collector.finish() == estimated(PROMPT, "Bonjour le monde")


def test_malformed_data_line_makes_usage_missing() -> None:
    """70: one malformed line -> no usage (the stream itself is untouched)."""
    broken = b'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"x"}}\n\n'
    collector = collect([broken, OPENAI_NO_USAGE])
    assert collector.finish() == TokenUsage.missing()


def test_usage_chunk_beats_a_malformed_line() -> None:
    collector = collect([b"data: {oops\n\n", OPENAI_WITH_USAGE])
    assert collector.finish() == TokenUsage(19, 6, 25, "stream")


def test_lines_kibana_would_skip_do_not_break_counting() -> None:
    stream = (
        b"event: message\nid: 7\n: comment\n"
        b'data:{"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    )
    assert collect([stream]).content == "a"


def test_partial_stream_counts_what_was_seen() -> None:
    """71: aborted mid-way (even mid-line): the complete chunks so far are counted."""
    cut = OPENAI_NO_USAGE.index(b"of France") + 3
    collector = collect([OPENAI_NO_USAGE[:cut]])
    assert collector.finish() == estimated(PROMPT, "The capital")


def test_partial_stream_before_any_content() -> None:
    assert collect([]).finish() == estimated(PROMPT, "")


def test_unterminated_final_event_is_still_counted() -> None:
    stream = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[{"index":0,"delta":{"content":"end"}}]}\n'
    )
    assert collect([stream]).finish() == estimated(PROMPT, "end")


@pytest.mark.parametrize("size", [1, 3, 17, 100])
def test_any_chunking_gives_the_same_result(size: int) -> None:
    for stream in (OPENAI_WITH_USAGE, OPENAI_NO_USAGE, LOCAL_SERVER_CRLF, TOOL_CALL_STREAM):
        whole = collect([stream]).finish()
        assert collect(split_every(stream, size)).finish() == whole


def test_second_choice_counts_for_completion_not_content() -> None:
    stream = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[{"index":0,"delta":{"content":"A"}}]}\n\n'
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[{"index":1,"delta":{"content":"B"}}]}\n\n'
    )
    collector = collect([stream])
    assert collector.content == "A"
    assert collector.finish().completion_tokens == 2


def test_lone_surrogate_escape_is_not_malformed() -> None:
    stream = (
        b'data: {"object":"chat.completion.chunk",'
        b'"choices":[{"index":0,"delta":{"content":"a\\ud800"}}]}\n\n'
    )
    collector = collect([stream])
    assert collector.content == "a\ud800"
    assert collector.finish() == estimated(PROMPT, "a\ufffd")


def test_finish_is_idempotent_and_feed_after_finish_is_ignored() -> None:
    collector = collect([OPENAI_NO_USAGE])
    first = collector.finish()
    collector.feed(OPENAI_WITH_USAGE)
    assert collector.finish() == first


def test_missing_vocabulary_gives_missing_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_cache", {})
    monkeypatch.setitem(tokens._EXPECTED_SHA256, "cl100k_base", "0" * 64)
    assert collect([OPENAI_NO_USAGE]).finish() == TokenUsage.missing()


@settings(max_examples=scaled(200), deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=20))
def test_feed_never_raises(chunks: list[bytes]) -> None:
    collector = collect([b"data: ", *chunks])
    result = collector.finish()
    assert result.usage_source in {"estimated", "missing", "stream"}
