"""The /v1 gateway with the official ``openai`` SDK as its client: plain and streamed
chat (sync and async), model selection, errors in OpenAI's shape with the upstream's
status, and the events every call leaves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from llmrelay.testing import FakeUpstream
from tests.fixtures.service import Service
from tests.gateway.conftest import async_sdk, create_connector, events, key_for, sdk

HELLO = [{"role": "user", "content": "Hello gateway"}]


def test_plain_chat_and_its_event(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-plain", upstream.url(), defaultModel="gpt-4o")
    key = key_for(service, "gw-plain", owner="alice")
    with sdk(service, "gw-plain", key) as client:
        answer = client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    reply = FakeUpstream.reply_text(HELLO)
    assert answer.choices[0].message.content == reply
    assert answer.model == "gpt-4o"
    expected = FakeUpstream.usage_for(HELLO, reply)
    assert answer.usage is not None and answer.usage.total_tokens == expected["total_tokens"]
    sent = upstream.last_request
    # the connector's rules: defaultModel injected, stream flag on a /chat/completions URL
    assert sent.json == {"messages": HELLO, "stream": False, "model": "gpt-4o"}
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    end, start = events(service, "gw-plain", connector_id, 2)
    assert start["event"]["action"] == "execute-start" and end["event"]["action"] == "execute"
    assert end["event"]["outcome"] == "success"
    execution = end["kibana"]["action"]["execution"]
    assert execution["source"] == "openai_gateway"
    assert execution["gen_ai"]["usage"] == expected
    assert end["user"]["name"] == "alice"
    assert end["kibana"]["space_ids"] == ["gw-plain"]
    assert end["llmrelay"]["sub_action"] == "chatCompletions"
    assert end["llmrelay"]["usage_source"] == "response"
    assert end["llmrelay"]["model"] == "gpt-4o"


def test_model_name_after_the_connector_id(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "default", upstream.url(), defaultModel="gpt-4o")
    key = key_for(service, "default")
    with sdk(service, "default", key) as client:
        answer = client.chat.completions.create(
            model=f"{connector_id}/org/model-x",
            messages=HELLO,
            temperature=0.5,  # type: ignore[arg-type]
        )
    assert answer.model == "org/model-x"
    assert upstream.last_request.json == {
        "model": "org/model-x",
        "messages": HELLO,
        "temperature": 0.5,
        "stream": False,
    }


def test_streamed_chat_hides_the_usage_chunk_it_asked_for(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "gw-stream", upstream.url())
    key = key_for(service, "gw-stream", owner="bob")
    with sdk(service, "gw-stream", key) as client:
        stream = client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
        chunks = list(stream)
    reply = FakeUpstream.reply_text(HELLO)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply
    assert all(c.choices for c in chunks), "the injected usage chunk reached the caller"
    sent = upstream.last_request.json
    assert isinstance(sent, dict)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    end = events(service, "gw-stream", connector_id, 2)[0]
    assert end["llmrelay"]["usage_source"] == "stream"
    assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"] == FakeUpstream.usage_for(
        HELLO, reply
    )
    assert end["user"]["name"] == "bob"
    assert end["llmrelay"]["stream_cancelled"] is False


def test_streamed_chat_keeps_the_usage_chunk_the_caller_asked_for(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    with sdk(service, "default", key) as client:
        stream = client.chat.completions.create(
            model=connector_id,
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (
        last.usage.total_tokens
        == FakeUpstream.usage_for(HELLO, FakeUpstream.reply_text(HELLO))["total_tokens"]
    )


def test_stream_bytes_pass_through_unchanged(service: Service, upstream: FakeUpstream) -> None:
    """Apart from the dropped usage event, the caller gets the upstream's exact bytes."""
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    body = {"model": connector_id, "messages": HELLO, "stream": True}
    with (
        httpx.Client(base_url=f"{service.url}/v1", timeout=30) as client,
        client.stream(
            "POST", "/chat/completions", json=body, headers={"Authorization": f"ApiKey {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    events_ = [e for e in raw.split(b"\n\n") if e]
    assert events_[-1] == b"data: [DONE]"
    parsed = [json.loads(e.removeprefix(b"data: ")) for e in events_[:-1]]
    assert all(p["choices"] for p in parsed)
    assert all("usage" in p and p["usage"] is None for p in parsed)  # as upstream sent them


def test_async_client_plain_and_streamed(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-async", upstream.url())
    key = key_for(service, "gw-async")

    async def chat() -> tuple[Any, str]:
        async with async_sdk(service, "gw-async", key) as client:
            answer = await client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
            stream = await client.chat.completions.create(
                model=connector_id,
                messages=HELLO,  # type: ignore[arg-type]
                stream=True,
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return answer, text

    answer, text = asyncio.run(chat())
    assert answer.choices[0].message.content == FakeUpstream.reply_text(HELLO)
    assert text == FakeUpstream.reply_text(HELLO)


def test_unknown_connector_is_404_model_not_found(service: Service) -> None:
    key = key_for(service, "default")
    with sdk(service, "default", key) as client, pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-connector", messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


def test_bad_key_is_401(service: Service) -> None:
    with sdk(service, "default", "not-a-key") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="x", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_key_of_another_space_is_403(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-mine", upstream.url())
    key = key_for(service, "gw-theirs")
    with (
        sdk(service, "gw-mine", key) as client,
        pytest.raises(openai.PermissionDeniedError) as caught,
    ):
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert upstream.requests == []
    # Kibana's words, nothing about the key or the role (that goes to the server log)
    assert caught.value.body == {
        "message": "Unauthorized to execute actions",
        "type": "invalid_request_error",
        "param": None,
        "code": "insufficient_permissions",
    }


def test_api_key_is_recorded_on_gateway_events(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-keyed", upstream.url())
    key = key_for(service, "gw-keyed", owner="gw-keyed-owner")
    with sdk(service, "gw-keyed", key) as client:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    listed = service.access_call(lambda a: a.list_api_keys())
    (stored,) = [k for k in listed if k.owner == "gw-keyed-owner"]
    for event in events(service, "gw-keyed", connector_id, 2):
        assert event["kibana"]["user_api_key"] == {"id": stored.id, "name": stored.name}
        assert event["user"]["name"] == "gw-keyed-owner"


def test_upstream_429_is_surfaced_as_429(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-429", upstream.url())
    key = key_for(service, "gw-429")
    upstream.fail(429, "Rate limit reached for requests", times=2)
    with sdk(service, "gw-429", key) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert caught.value.status_code == 429
    assert caught.value.body == {
        "message": "Rate limit reached for requests",
        "type": "requests",
        "param": None,
        "code": None,
    }
    ends = [
        e for e in events(service, "gw-429", connector_id, 4) if e["event"]["action"] == "execute"
    ]
    assert [e["event"]["outcome"] for e in ends] == ["failure", "failure"]
    assert ends[0]["error"]["message"] == (
        "an error occurred while running the action: Status code: 429. Message: API Error: "
        "Too Many Requests - Rate limit reached for requests; retry: true"
    )


def test_upstream_error_without_openai_shape(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    upstream.fail(503, b"upstream down")
    with (
        sdk(service, "default", key) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    assert caught.value.body == {
        "message": "API Error: Service Unavailable - upstream down",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_unreachable_upstream_is_502(service: Service) -> None:
    connector_id = create_connector(service, "default", "http://127.0.0.1:9/v1/chat/completions")
    key = key_for(service, "default")
    with sdk(service, "default", key) as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=connector_id, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    body: Any = caught.value.body
    assert body["message"].startswith("Unexpected API Error: ECONNREFUSED")
    assert body["code"] == "ECONNREFUSED"


def test_cancelled_stream_records_tokens_so_far(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "gw-cancel", upstream.url())
    key = key_for(service, "gw-cancel", owner="carol")
    upstream.stream([f" w{i}" for i in range(50)], chunk_delay=0.05)
    with sdk(service, "gw-cancel", key) as client:
        stream = client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
        seen = ""
        for chunk in stream:
            seen += chunk.choices[0].delta.content or "" if chunk.choices else ""
            if "w2" in seen:
                break
        stream.close()
    end = events(service, "gw-cancel", connector_id, 2)[0]
    assert end["llmrelay"]["stream_cancelled"] is True
    assert end["llmrelay"]["usage_source"] == "estimated"
    assert end["kibana"]["action"]["execution"]["source"] == "openai_gateway"
    assert end["user"]["name"] == "carol"
    completion = end["kibana"]["action"]["execution"]["gen_ai"]["usage"]["completion_tokens"]
    assert 0 < completion < 50


def test_models_lists_connectors_the_key_may_execute(
    service: Service, upstream: FakeUpstream
) -> None:
    first = create_connector(service, "gw-models", upstream.url(), defaultModel="gpt-4o")
    second = create_connector(
        service, "gw-models", upstream.url(), provider="Other", defaultModel="llama"
    )
    create_connector(service, "gw-elsewhere", upstream.url())
    key = key_for(service, "gw-models")
    with sdk(service, "gw-models", key) as client:
        models = {m.id: m for m in client.models.list()}
        one = client.models.retrieve(f"{second}/other-model")
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("nope")
    assert set(models) == {first, second}
    assert models[first].owned_by == "llmrelay"
    extra: dict[str, Any] = models[second].model_extra or {}
    assert extra["default_model"] == "llama" and extra["api_provider"] == "Other"
    assert one.id == f"{second}/other-model"
    with (
        sdk(service, "gw-elsewhere", key) as client,
        pytest.raises(openai.PermissionDeniedError),
    ):
        client.models.list()


def test_openai_error_shape_for_bad_requests_and_unknown_paths(service: Service) -> None:
    key = key_for(service, "default")
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{service.url}/v1", timeout=30, headers=auth) as client:
        no_model = client.post("/chat/completions", json={"messages": HELLO})
        not_json = client.post("/chat/completions", content=b"{nope")
        unknown = client.post("/images/generations", json={"model": "x", "prompt": "y"})
        no_auth = client.post("/chat/completions", json={}, headers={"Authorization": ""})
    assert no_model.status_code == 400
    assert no_model.json()["error"]["param"] == "model"
    assert no_model.json()["error"]["type"] == "invalid_request_error"
    assert not_json.status_code == 400
    assert set(not_json.json()["error"]) == {"message", "type", "param", "code"}
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Invalid URL (POST /v1/images/generations)"
    assert no_auth.status_code == 401
    assert no_auth.json()["error"]["code"] == "invalid_api_key"


def test_other_connector_stream_is_estimated_with_tokenizer_detail(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        service, "gw-other", upstream.url(), provider="Other", defaultModel="llama"
    )
    key = key_for(service, "gw-other")
    with sdk(service, "gw-other", key) as client:
        stream = client.chat.completions.create(model=connector_id, messages=HELLO, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == FakeUpstream.reply_text(HELLO)
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and "stream_options" not in sent and sent["model"] == "llama"
    end = events(service, "gw-other", connector_id, 2)[0]
    assert end["llmrelay"]["usage_source"] == "estimated"
    assert end["llmrelay"]["tokenizer"] == "cl100k_base"
