"""Usage of embeddings and legacy completions: the input counted when the server sends
no usage, and ``text_completion`` stream chunks read like chat chunks."""

from __future__ import annotations

import orjson
import pytest

from llmrelay.domain.events import TokenUsage
from llmrelay.execution.endpoint_usage import completion_prompts, embedding_usage
from llmrelay.execution.tokens import count_tokens
from llmrelay.execution.usage import StreamUsageCollector


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        ("hello world", count_tokens("hello world")),
        (["a b", "c"], count_tokens("a b") + count_tokens("c")),
        ([101, 102, 103], 3),
        ([[1, 2], [3, 4, 5]], 5),
    ],
)
def test_embedding_input_is_counted_as_prompt_tokens(value: object, tokens: int) -> None:
    assert embedding_usage({"input": value}, "text-embedding-3-small") == TokenUsage(
        prompt_tokens=tokens,
        completion_tokens=0,
        total_tokens=tokens,
        usage_source="estimated",
        tokenizer="cl100k_base",
    )


@pytest.mark.parametrize("body", [None, {}, {"input": 5}, {"input": [{"x": 1}]}])
def test_an_input_that_is_not_text_or_tokens_is_missing(body: dict[str, object] | None) -> None:
    assert embedding_usage(body, None) == TokenUsage.missing()


def test_completion_prompts_are_the_texts_of_prompt() -> None:
    assert completion_prompts("a") == ["a"]
    assert completion_prompts(["a", [1, 2], "b"]) == ["a", "b"]
    assert completion_prompts(None) == []


def _event(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def test_text_completion_chunks_are_estimated_from_their_text() -> None:
    collector = StreamUsageCollector(prompt=["Say hi"], model="gpt-3.5-turbo-instruct")
    for text in ("Hi", " there"):
        collector.feed(_event({"object": "text_completion", "choices": [{"text": text}]}))
    collector.feed(_event({"object": "text_completion", "choices": [{"text": "x", "index": 1}]}))
    collector.feed(b"data: [DONE]\n\n")
    usage = collector.finish()
    assert collector.content == "Hi there"
    assert usage.usage_source == "estimated"
    assert usage.prompt_tokens == count_tokens("Say hi")
    assert usage.completion_tokens == count_tokens("Hi there") + count_tokens("x")


def test_the_usage_chunk_of_a_text_completion_stream_wins() -> None:
    collector = StreamUsageCollector(prompt=["Say hi"], model=None)
    collector.feed(_event({"object": "text_completion", "choices": [{"text": "Hi"}]}))
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    collector.feed(_event({"object": "text_completion", "choices": [], "usage": usage}))
    assert collector.finish() == TokenUsage(3, 1, 4, "stream")
