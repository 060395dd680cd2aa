"""FakeUpstream's embeddings and legacy completions, with the openai SDK pointed straight
at it: the shapes OpenAI answers, deterministic vectors, bad input refused in its shape."""

from __future__ import annotations

import httpx
import openai
import pytest

from llmrelay.testing import EMBEDDING_DIMENSIONS, FakeUpstream, embedding_vector, reply_to_prompt

pytestmark = pytest.mark.network


def client_for(upstream: FakeUpstream, base: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.url(base), api_key="sk-fake", max_retries=0)


def test_vectors_are_deterministic_and_sized() -> None:
    assert embedding_vector("a") == embedding_vector("a") != embedding_vector("b")
    assert len(embedding_vector("a")) == EMBEDDING_DIMENSIONS
    assert len(embedding_vector([1, 2], 40)) == 40
    assert all(-1 <= v < 1 for v in embedding_vector("x", 64))


def test_embeddings_float_and_base64(upstream: FakeUpstream) -> None:
    with client_for(upstream) as client:
        floats = client.embeddings.create(
            model="e", input=["a b", "c"], encoding_format="float", dimensions=3
        )
        decoded = client.embeddings.create(model="e", input="a b")  # the SDK asks for base64
    assert [d.embedding for d in floats.data] == [
        embedding_vector("a b", 3),
        embedding_vector("c", 3),
    ]
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 3
    assert decoded.data[0].embedding == pytest.approx(embedding_vector("a b"), abs=1e-6)
    assert floats.model == "e"


def test_embeddings_without_usage_and_bad_input(upstream: FakeUpstream) -> None:
    upstream.without_usage()
    with httpx.Client(base_url=upstream.base_url) as client:
        bare = client.post("/v1/embeddings", json={"input": "x"}).json()
        bad = client.post("/v1/embeddings", json={"input": [{"no": 1}]})
    assert "usage" not in bare and bare["object"] == "list"
    assert bad.status_code == 400 and "'input'" in bad.json()["error"]["message"]


def test_completions_plain_and_streamed_on_azure_paths(upstream: FakeUpstream) -> None:
    base = "/openai/deployments/d1"
    with openai.AzureOpenAI(
        azure_endpoint=upstream.base_url,
        api_key="k",
        api_version="2024-06-01",
        azure_deployment="d1",
        max_retries=0,
    ) as client:
        plain = client.completions.create(model="d1", prompt=["hi", "there you"])
        chunks = list(
            client.completions.create(
                model="d1", prompt="hi", stream=True, stream_options={"include_usage": True}
            )
        )
    assert [c.text for c in plain.choices] == [reply_to_prompt("hi"), reply_to_prompt("there you")]
    assert plain.usage is not None and plain.usage.prompt_tokens == 3
    assert "".join(c.choices[0].text for c in chunks if c.choices) == reply_to_prompt("hi")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert upstream.last_request.path == f"{base}/completions"
