"""Routes on the OpenAI-compatible door, with the official ``openai`` SDK: ``model`` is the
route's id or ``<route id>/<model>``; a stream that fails before its first byte moves on to
the next target, one that fails after it ends as a connector's stream does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.routes.conftest import create_route, executes, gen_ai, route_config

HELLO = [{"role": "user", "content": "Hello gateway"}]


@pytest.fixture
def sdk(route_service: Service) -> Iterator[openai.OpenAI]:
    """An SDK client, closed after the test (an open pooled socket left to the garbage
    collector fails a later test with a ResourceWarning)."""
    key = route_service.api_key(["connectors_read"])["Authorization"].removeprefix("ApiKey ")
    url = f"{route_service.url}/v1"
    with openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30) as client:
        yield client


def test_chat_through_a_route_falls_back(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(429, "slow down", headers={"retry-after": "0"})
    answer = sdk.chat.completions.create(model=route_id, messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == FakeUpstream.reply_text(HELLO)
    assert upstream_b.last_request.json["model"] == "target-model"
    answer = sdk.chat.completions.create(model=f"{route_id}/gpt-x", messages=HELLO)  # type: ignore[arg-type]
    assert answer.model == "gpt-x"
    assert upstream.last_request.json["model"] == "gpt-x"
    route_events = executes(client, route_id, 2)
    assert {e["llmrelay"]["sub_action"] for e in route_events} == {"chatCompletions"}


def test_a_400_through_the_gateway_is_the_callers_answer(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(400, "context too long")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=route_id, messages=HELLO)  # type: ignore[arg-type]
    assert "context too long" in str(caught.value)
    assert upstream_b.requests == []


def test_a_stream_failing_before_its_first_byte_moves_on(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.stream([" never"], reset_after=0)  # headers, then a reset: no byte of body
    upstream_b.stream([" one", " two"])
    chunks = list(sdk.chat.completions.create(model=route_id, messages=HELLO, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " one two"
    assert len(upstream.requests) == 1
    (failed,) = executes(client, a, 1)
    assert failed["event"]["outcome"] == "failure"
    assert failed["llmrelay"]["route_id"] == route_id


def test_a_stream_failing_after_its_first_byte_is_never_switched(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.stream([" a", " b", " c"], reset_after=2)
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in sdk.chat.completions.create(model=route_id, messages=HELLO, stream=True):  # type: ignore[arg-type]
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(received) == " a"
    assert upstream_b.requests == []
    (route_event,) = executes(client, route_id, 1)
    assert route_event["llmrelay"]["route"]["target"] == a  # it answered, then broke


def test_execute_stream_sub_action_moves_on_before_the_first_byte(
    client: httpx.Client, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.stream([" never"], reset_after=0)
    upstream_b.stream([" fine"])
    body = '{"messages":[{"role":"user","content":"hi"}]}'
    response = client.post(
        f"/api/actions/connector/{route_id}/_execute",
        json={"params": {"subAction": "stream", "subActionParams": {"body": body, "stream": True}}},
        headers={"kbn-xsrf": "1"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert " fine" in response.text


def test_embeddings_through_a_route(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(500)
    answer = sdk.embeddings.create(model=route_id, input="hello")
    assert len(answer.data) == 1
    assert upstream_b.last_request.path.endswith("/embeddings")


def test_a_translated_responses_stream_failing_before_its_first_byte_moves_on(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    """Target a has no Responses API (auto: translated) and its chat stream breaks before
    a byte; the route moves on to b, which answers natively."""
    a = gen_ai(client, upstream.url(), "a")
    b = gen_ai(client, upstream_b.url(), "b")
    route_id = create_route(client, route_config([a], [b]))
    upstream.fail(404, "Invalid URL (POST /v1/responses)")
    upstream.stream([" never"], reset_after=0)
    events = list(sdk.responses.create(model=route_id, input="Hello gateway", stream=True))
    assert [r.path for r in upstream.requests] == ["/v1/responses", "/v1/chat/completions"]
    assert upstream_b.last_request.path == "/v1/responses"
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.output_text == "You said: Hello gateway"


def test_models_lists_and_shows_a_route(
    client: httpx.Client, sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    a = gen_ai(client, upstream.url(), "a")
    route_id = create_route(client, route_config([a]), "listed route")
    assert route_id in {m.id for m in sdk.models.list()}
    assert sdk.models.retrieve(route_id).id == route_id
