"""llmrelay against a real model: SmolLM2-135M-Instruct served by ``llmrelay local-llm``.

The preconfigured connector is the one ``make run`` creates (``connector_settings``): an
``Other`` provider with a placeholder key and ``serverTokenizer``. Generations are kept
short (a few dozen tokens at ~48 tokens/s on one thread).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmrelay.cli.local_llm import CONNECTOR_ID, CONNECTOR_NAME, MODEL_ALIAS, connector_settings
from tests.fixtures.service import Service, make_settings, start_service

pytestmark = [pytest.mark.e2e, pytest.mark.network]

XSRF = {"kbn-xsrf": "true"}
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def svc(local_llm: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home: Path = tmp_path_factory.mktemp("home")
    settings = make_settings(
        home, **{"xpack.actions.preconfigured": {CONNECTOR_ID: connector_settings(local_llm)}}
    )
    service = start_service(settings)
    try:
        yield service
    finally:
        service.thread.stop()


@pytest.fixture
def admin(svc: Service) -> Iterator[httpx.Client]:
    with svc.client(svc.admin) as client:
        client.timeout = httpx.Timeout(60)
        yield client


def event_total(client: httpx.Client) -> int:
    page = client.get(f"/api/event_log/connector/{CONNECTOR_ID}/_find?per_page=1").json()
    total: int = page["total"]
    return total


def execute_event(client: httpx.Client, before: int) -> dict[str, Any]:
    """The ``execute`` event of the one execution made since ``before`` events existed
    (events are written off the request path: poll)."""
    deadline = time.monotonic() + 15
    while True:
        page = client.get(f"/api/event_log/connector/{CONNECTOR_ID}/_find?per_page=10").json()
        if page["total"] >= before + 2 or time.monotonic() > deadline:
            assert page["total"] == before + 2, page
            end: dict[str, Any] = page["data"][0]
            assert end["event"]["action"] == "execute", end
            return end
        time.sleep(0.05)


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body (any line ending)."""
    lines = raw.decode("utf-8").replace("\r\n", "\n").split("\n")
    return [line[5:].strip() for line in lines if line.startswith("data:")]


def streamed_text(raw: bytes) -> str:
    data = sse_data(raw)
    assert data and data[-1] == "[DONE]", raw[-300:]
    chunks = [json.loads(item) for item in data[:-1]]
    return "".join(
        choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"]
    )


def gen_ai_usage(event: dict[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = event["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    return usage


def test_preconfigured_connector_is_listed(admin: httpx.Client) -> None:
    connectors = admin.get("/api/actions/connectors").json()
    local = next(c for c in connectors if c["id"] == CONNECTOR_ID)
    assert local["name"] == CONNECTOR_NAME
    assert local["is_preconfigured"] is True


def test_test_sub_action_returns_a_real_completion_and_its_usage(admin: httpx.Client) -> None:
    before = event_total(admin)
    body = json.dumps({"messages": QUESTION, "max_tokens": MAX_TOKENS, "temperature": 0})
    response = admin.post(
        f"/api/actions/connector/{CONNECTOR_ID}/_execute",
        json={"params": {"subAction": "test", "subActionParams": {"body": body}}},
        headers=XSRF,
    )
    result = response.json()
    assert response.status_code == 200 and result["status"] == "ok", result
    data = result["data"]
    assert data["object"] == "chat.completion"
    answer = data["choices"][0]["message"]["content"]
    assert answer.strip(), data
    usage = data["usage"]
    assert 0 < usage["completion_tokens"] <= MAX_TOKENS
    assert usage["prompt_tokens"] > 0

    end = execute_event(admin, before)
    assert end["event"]["outcome"] == "success"
    assert end["llmrelay"]["usage_source"] == "response"
    assert gen_ai_usage(end) == {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def test_stream_sub_action_passes_real_tokens_and_counts_them_with_the_model(
    admin: httpx.Client,
) -> None:
    before = event_total(admin)
    body = json.dumps({"messages": QUESTION, "max_tokens": MAX_TOKENS, "temperature": 0})
    with admin.stream(
        "POST",
        f"/api/actions/connector/{CONNECTOR_ID}/_execute",
        json={"params": {"subAction": "stream", "subActionParams": {"body": body, "stream": True}}},
        headers=XSRF,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    text = streamed_text(raw)
    assert text.strip(), raw[:500]

    end = execute_event(admin, before)
    assert end["event"]["outcome"] == "success"
    assert end["llmrelay"]["usage_source"] == "estimated"
    assert end["llmrelay"]["tokenizer"] == "server"  # llama.cpp's /tokenize, not cl100k
    usage = gen_ai_usage(end)
    assert 0 < usage["completion_tokens"] <= MAX_TOKENS + 2
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_invoke_stream_passes_real_tokens(admin: httpx.Client) -> None:
    before = event_total(admin)
    # invokeStream has no max_tokens: a stop sequence ends the answer after one sentence
    params = {"messages": QUESTION, "temperature": 0, "stop": [".", "\n"]}
    with admin.stream(
        "POST",
        f"/api/actions/connector/{CONNECTOR_ID}/_execute",
        json={"params": {"subAction": "invokeStream", "subActionParams": params}},
        headers=XSRF,
    ) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_bytes())
    assert streamed_text(raw).strip(), raw[:500]

    end = execute_event(admin, before)
    assert end["event"]["outcome"] == "success"
    assert end["llmrelay"]["usage_source"] == "estimated"
    assert gen_ai_usage(end)["completion_tokens"] > 0


@pytest.fixture
def client(svc: Service) -> Iterator[openai.OpenAI]:
    """The openai SDK on ``/v1``, closed after the test (an open pool's socket would be
    reported, as unclosed, in whichever test the collector runs in)."""
    key = svc.api_key(["connectors_read"])["Authorization"].removeprefix("ApiKey ")
    with openai.OpenAI(base_url=f"{svc.url}/v1", api_key=key, max_retries=0, timeout=60) as sdk:
        yield sdk


def test_gateway_with_the_openai_sdk(
    svc: Service, client: openai.OpenAI, admin: httpx.Client
) -> None:
    assert CONNECTOR_ID in {model.id for model in client.models.list()}

    before = event_total(admin)
    answer = client.chat.completions.create(
        model=CONNECTOR_ID, messages=QUESTION, max_tokens=MAX_TOKENS, temperature=0
    )
    assert answer.choices[0].message.content and answer.choices[0].message.content.strip()
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= MAX_TOKENS
    end = execute_event(admin, before)
    assert end["llmrelay"]["usage_source"] == "response"
    assert end["kibana"]["action"]["execution"]["source"] == "openai_gateway"
    assert gen_ai_usage(end)["total_tokens"] == answer.usage.total_tokens


def test_gateway_stream_with_the_openai_sdk(
    svc: Service, client: openai.OpenAI, admin: httpx.Client
) -> None:
    before = event_total(admin)
    pieces: list[str] = []
    with client.chat.completions.create(
        model=f"{CONNECTOR_ID}/{MODEL_ALIAS}",
        messages=QUESTION,
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
    ) as stream:
        for chunk in stream:
            pieces.extend(choice.delta.content or "" for choice in chunk.choices)
    assert "".join(pieces).strip()

    end = execute_event(admin, before)
    assert end["event"]["outcome"] == "success"
    assert end["kibana"]["action"]["execution"]["source"] == "openai_gateway"
    assert end["llmrelay"]["usage_source"] == "estimated"
    assert end["llmrelay"]["tokenizer"] == "server"
    assert 0 < gen_ai_usage(end)["completion_tokens"] <= MAX_TOKENS + 2


def test_usage_reaches_the_dashboard(admin: httpx.Client) -> None:
    """An invokeAI execution lands in the usage rollups the dashboard reads."""
    params = {"messages": QUESTION, "temperature": 0, "stop": [".", "\n"]}
    result = admin.post(
        f"/api/actions/connector/{CONNECTOR_ID}/_execute",
        json={"params": {"subAction": "invokeAI", "subActionParams": params}},
        headers=XSRF,
    ).json()
    assert result["status"] == "ok" and result["data"]["message"].strip(), result
    deadline = time.monotonic() + 15
    while True:
        response = admin.get(
            "/api/llmrelay/usage", params={"start": "now-1h", "group_by": "connector"}
        )
        assert response.status_code == 200, response.text
        ours = [b for b in response.json()["buckets"] if b["key"] == CONNECTOR_ID]
        if sum(b["reported_tokens"] for b in ours) > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sum(b["executions"] for b in ours) >= 1, response.json()
    assert sum(b["reported_tokens"] for b in ours) > 0, response.json()
    assert sum(b["total_tokens"] for b in ours) > 0


def test_gateway_embeddings_from_the_same_runtime(
    svc: Service, client: openai.OpenAI, admin: httpx.Client
) -> None:
    """The model's own embeddings (one mean-pooled vector per input), in OpenAI's shape,
    through the connector; similar texts are closer than unrelated ones."""
    before = event_total(admin)
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Stock prices fell."]
    answer = client.embeddings.create(model=CONNECTOR_ID, input=texts)  # base64, as the SDK asks
    vectors = [item.embedding for item in answer.data]
    assert [item.index for item in answer.data] == [0, 1, 2]
    assert len({len(vector) for vector in vectors}) == 1 and len(vectors[0]) > 100

    def cosine(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return float(dot / (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5)

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert answer.usage.prompt_tokens > 0
    end = execute_event(admin, before)
    assert end["llmrelay"]["endpoint"] == "embeddings"
    assert end["llmrelay"]["usage_source"] == "response"
    assert gen_ai_usage(end)["prompt_tokens"] == answer.usage.prompt_tokens
    floats = client.embeddings.create(model=CONNECTOR_ID, input="x", encoding_format="float")
    assert len(floats.data[0].embedding) == len(vectors[0])


def test_gateway_responses_translated_to_chat(
    svc: Service, client: openai.OpenAI, admin: httpx.Client
) -> None:
    """llama-cpp-python's server has no Responses API: the connector translates."""
    before = event_total(admin)
    answer = client.responses.create(
        model=CONNECTOR_ID,
        instructions="Answer in one sentence.",
        input="What is the capital of France?",
        max_output_tokens=MAX_TOKENS,
        temperature=0,
    )
    assert answer.output_text.strip() and answer.id.startswith("resp_")
    assert answer.usage is not None and 0 < answer.usage.output_tokens <= MAX_TOKENS
    end = execute_event(admin, before)
    assert end["llmrelay"]["endpoint"] == "responses"
    assert end["llmrelay"]["usage_source"] == "response"
    assert gen_ai_usage(end)["completion_tokens"] == answer.usage.output_tokens

    before = event_total(admin)
    with client.responses.stream(
        model=CONNECTOR_ID, input=QUESTION, max_output_tokens=MAX_TOKENS, temperature=0
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas and final.output_text == "".join(deltas)
    end = execute_event(admin, before)
    assert end["llmrelay"]["endpoint"] == "responses"
    assert end["llmrelay"]["tokenizer"] == "server"  # the stream is counted by the model
    assert 0 < gen_ai_usage(end)["completion_tokens"] <= MAX_TOKENS + 2
