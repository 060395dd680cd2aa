"""Every ``/v1`` error body follows OpenAI's schema (``message`` and ``type`` strings,
``param`` and ``code`` a string or null), checked with the openai SDK's own ``ErrorObject``
model: upstream errors of llama.cpp and vLLM (integer ``code``, the older flat shape) are
normalised, and the errors llmrelay builds itself conform too."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types.shared import ErrorObject

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.gateway.conftest import base_url, create_connector, key_for, sdk

HELLO = [{"role": "user", "content": "Hello gateway"}]
BAD = "invalid_request_error"  # OpenAI's type for a 400

LLAMA_CPP_CONTEXT = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 5000,
        "n_ctx": 4096,
    }
}


def other(service: Service, space: str, upstream: FakeUpstream) -> str:
    """An ``Other`` connector: llama.cpp, vLLM and friends."""
    return create_connector(service, space, upstream.url(), provider="Other", defaultModel="m")


def conforms(body: object) -> dict[str, Any]:
    """``body`` validated as OpenAI's error object (pydantic: an int ``code`` fails)."""
    ErrorObject.model_validate(body)
    assert isinstance(body, dict)
    assert {"message", "type", "param", "code"} <= set(body)
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_llama_cpp_integer_code_becomes_a_string(
    service: Service, upstream: FakeUpstream, stream: bool
) -> None:
    connector_id = other(service, "es-llama", upstream)
    key = key_for(service, "es-llama")
    llama_error = {"code": 500, "message": "slot unavailable", "type": "server_error"}
    upstream.fail(500, {"error": llama_error})
    with (
        sdk(service, "es-llama", key) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model=connector_id, messages=HELLO, stream=stream)  # type: ignore[call-overload]
    assert caught.value.status_code == 500
    assert caught.value.code == "500"
    assert conforms(caught.value.body) == {
        "message": "slot unavailable",
        "type": "server_error",
        "param": None,
        "code": "500",
    }


def test_llama_cpp_context_error_keeps_its_extra_fields(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = other(service, "es-ctx", upstream)
    key = key_for(service, "es-ctx")
    upstream.fail(400, LLAMA_CPP_CONTEXT)
    with sdk(service, "es-ctx", key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    body = conforms(caught.value.body)
    assert body == {**LLAMA_CPP_CONTEXT["error"], "code": "400", "param": None}


def test_vllm_flat_error_is_nested_and_normalised(service: Service, upstream: FakeUpstream) -> None:
    """vLLM before 0.10.1 answered the error object's fields at the top level."""
    connector_id = other(service, "es-vllm", upstream)
    key = key_for(service, "es-vllm")
    flat = {
        "object": "error",
        "message": "This model's maximum context length is 2048 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    upstream.fail(400, flat)
    with sdk(service, "es-vllm", key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.message == f"Error code: 400 - {flat['message']}"
    assert conforms(caught.value.body) == {
        "message": flat["message"],
        "type": "BadRequestError",
        "param": None,
        "code": "400",
    }


@pytest.mark.parametrize(
    ("upstream_error", "expected"),
    [
        ({"message": "m", "type": 7, "param": ["messages"], "code": True}, (BAD, None, None)),
        ({"message": "m", "type": "", "param": 3, "code": {"n": 1}}, (BAD, "3", None)),
        (
            {"message": "m", "param": "messages", "code": "context_length_exceeded"},
            (BAD, "messages", "context_length_exceeded"),
        ),
    ],
    ids=["wrong-types", "empty-type-number-param", "strings-kept"],
)
def test_type_and_param_are_strings_or_replaced(
    service: Service,
    upstream: FakeUpstream,
    upstream_error: dict[str, Any],
    expected: tuple[str, str | None, str | None],
) -> None:
    connector_id = other(service, "es-types", upstream)
    key = key_for(service, "es-types")
    upstream.fail(400, {"error": upstream_error})
    with sdk(service, "es-types", key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    body = conforms(caught.value.body)
    assert (body["type"], body["param"], body["code"]) == expected


def test_every_error_llmrelay_builds_conforms(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "es-own", upstream.url())
    unreachable = create_connector(service, "es-own", "http://127.0.0.1:9/v1/chat/completions")
    key = key_for(service, "es-own")
    auth = {"Authorization": f"Bearer {key}"}
    chat = {"model": connector_id, "messages": HELLO}
    upstream.fail(503, b"upstream down")  # not OpenAI-shaped
    upstream.fail(429, {"error": "LM Studio says slow down"})  # LM Studio's string error
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=base_url(service, "es-own"), timeout=30, headers=auth) as client:
        answers.append(client.post("/chat/completions", json=chat))
        answers.append(client.post("/chat/completions", json=chat))
        answers.append(client.post("/chat/completions", json={**chat, "model": unreachable}))
        answers.append(client.post("/chat/completions", json={"messages": HELLO}))
        answers.append(client.post("/chat/completions", content=b"{nope"))
        answers.append(client.post("/chat/completions", json=[1]))
        answers.append(client.post("/chat/completions", json={**chat, "model": "missing"}))
        answers.append(client.post("/embeddings", json={"model": "missing", "input": "x"}))
        answers.append(client.post("/completions", json={"prompt": "x"}))
        answers.append(client.post("/images/generations", json={"prompt": "x"}))
        answers.append(client.get("/models/missing"))
        answers.append(client.post("/chat/completions", json=chat, headers={"Authorization": "x"}))
    with httpx.Client(base_url=base_url(service, "es-theirs"), timeout=30, headers=auth) as client:
        answers.append(client.get("/models"))
    statuses = [a.status_code for a in answers]
    assert statuses == [503, 429, 502, 400, 400, 400, 404, 404, 400, 404, 404, 401, 403]
    for answer in answers:
        assert set(answer.json()) == {"error"}
        conforms(answer.json()["error"])


def test_stream_broken_mid_way_ends_with_a_conforming_error_event(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "es-broken", upstream.url())
    key = key_for(service, "es-broken")
    upstream.stream([" a", " b", " c", " d"], reset_after=3)
    with (
        sdk(service, "es-broken", key) as client,
        pytest.raises(openai.APIError) as caught,
    ):
        for _ in client.chat.completions.create(model=connector_id, messages=HELLO, stream=True):  # type: ignore[arg-type]
            pass
    body = conforms(caught.value.body)
    assert body["type"] == "upstream_error"
    assert body["code"] == "ECONNRESET"
    assert body["param"] is None
