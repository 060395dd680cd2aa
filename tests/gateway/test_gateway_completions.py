"""Legacy ``POST /v1/completions`` with the official ``openai`` SDK (sync and async) against
the fake upstream: plain and streamed (the usage chunk asked for as on chat and hidden from a
caller who did not ask), usage on the event (estimated for a server that sends none),
``with_raw_response``, errors, Azure's deployment path and a URL that does not tell."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from llmrelay.execution.tokens import count_tokens
from llmrelay.testing import FakeUpstream, reply_to_prompt
from tests.fixtures.service import Service
from tests.gateway.conftest import async_sdk, create_connector, events, key_for, sdk

PROMPT = "Say this is a test"
REPLY = reply_to_prompt(PROMPT)
USAGE = {
    "prompt_tokens": len(PROMPT.split()),
    "completion_tokens": len(REPLY.split()),
    "total_tokens": len(PROMPT.split()) + len(REPLY.split()),
}


def test_plain_completion_and_its_event(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "cp-plain", upstream.url(), defaultModel="davinci-2")
    key = key_for(service, "cp-plain", owner="carol")
    with sdk(service, "cp-plain", key) as client:
        answer = client.completions.create(model=connector_id, prompt=PROMPT, max_tokens=16)
    assert answer.choices[0].text == REPLY
    assert answer.object == "text_completion" and answer.model == "davinci-2"
    sent = upstream.last_request
    assert sent.path == "/v1/completions"
    assert sent.json == {"prompt": PROMPT, "max_tokens": 16, "model": "davinci-2"}
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    end, start = events(service, "cp-plain", connector_id, 2)
    assert start["event"]["action"] == "execute-start" and end["event"]["outcome"] == "success"
    assert end["llmrelay"]["endpoint"] == "completions"
    assert end["llmrelay"]["sub_action"] == "completions"
    assert end["llmrelay"]["usage_source"] == "response"
    assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"] == USAGE
    assert end["user"]["name"] == "carol"


def test_streamed_completion_hides_the_usage_chunk_it_asked_for(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "cp-stream", upstream.url())
    key = key_for(service, "cp-stream")
    with sdk(service, "cp-stream", key) as client:
        chunks = list(client.completions.create(model=connector_id, prompt=PROMPT, stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == REPLY
    assert all(c.choices for c in chunks), "the injected usage chunk reached the caller"
    sent = upstream.last_request.json
    assert isinstance(sent, dict)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    end = events(service, "cp-stream", connector_id, 2)[0]
    assert end["llmrelay"]["endpoint"] == "completions"
    assert end["llmrelay"]["usage_source"] == "stream"
    assert end["llmrelay"]["stream_cancelled"] is False
    assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"] == USAGE


def test_streamed_completion_keeps_the_usage_chunk_the_caller_asked_for(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    with sdk(service, "default", key) as client:
        stream = client.completions.create(
            model=connector_id,
            prompt=PROMPT,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == USAGE["total_tokens"]


def test_stream_bytes_pass_through_unchanged(service: Service, upstream: FakeUpstream) -> None:
    """A connector that asks for no usage chunk: the caller gets the upstream's exact bytes."""
    connector_id = create_connector(
        service, "default", upstream.url(), provider="Other", defaultModel="local"
    )
    key = key_for(service, "default")
    body = {"model": connector_id, "prompt": PROMPT, "stream": True}
    with (
        httpx.Client(base_url=f"{service.url}/v1", timeout=30) as client,
        client.stream(
            "POST", "/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    from llmrelay.testing.endpoints import completion_events

    sent = upstream.last_request.json
    assert isinstance(sent, dict) and "stream_options" not in sent
    assert raw.startswith(b"data: {") and raw.endswith(b"data: [DONE]\n\n")
    chunk_id = raw.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()
    assert raw == b"".join(completion_events(chunk_id, "local", sent, False))


def test_a_stream_without_usage_is_estimated(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(
        service, "cp-est", upstream.url(), provider="Other", defaultModel="llama"
    )
    key = key_for(service, "cp-est")
    with sdk(service, "cp-est", key) as client:
        text = "".join(
            c.choices[0].text
            for c in client.completions.create(model=connector_id, prompt=PROMPT, stream=True)
        )
    assert text == REPLY
    end = events(service, "cp-est", connector_id, 2)[0]
    assert end["llmrelay"]["usage_source"] == "estimated"
    prompt, completion = count_tokens(PROMPT), count_tokens(REPLY)
    assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def test_async_client_plain_and_streamed(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "cp-async", upstream.url())
    key = key_for(service, "cp-async")

    async def complete() -> tuple[str, str]:
        async with async_sdk(service, "cp-async", key) as client:
            answer = await client.completions.create(model=connector_id, prompt=PROMPT)
            stream = await client.completions.create(model=connector_id, prompt=PROMPT, stream=True)
            text = "".join([c.choices[0].text async for c in stream if c.choices])
        return answer.choices[0].text, text

    assert asyncio.run(complete()) == (REPLY, REPLY)


def test_raw_response_carries_the_upstream_headers(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    upstream.with_headers({"x-request-id": "req-cmpl-7", "x-ratelimit-limit-requests": "500"})
    with sdk(service, "default", key) as client:
        raw = client.completions.with_raw_response.create(
            model=connector_id, prompt=["one", "two words"]
        )
    assert raw.headers["x-request-id"] == "req-cmpl-7"
    assert raw.headers["x-ratelimit-limit-requests"] == "500"
    assert [c.text for c in raw.parse().choices] == [
        reply_to_prompt("one"),
        reply_to_prompt("two words"),
    ]


def test_azure_keeps_the_deployment_and_api_version(
    service: Service, upstream: FakeUpstream
) -> None:
    url = upstream.azure_url("instruct", "2024-06-01")
    connector_id = create_connector(service, "cp-azure", url, provider="Azure OpenAI")
    key = key_for(service, "cp-azure")
    with sdk(service, "cp-azure", key) as client:
        answer = client.completions.create(model=connector_id, prompt=PROMPT)
        chunks = list(client.completions.create(model=connector_id, prompt=PROMPT, stream=True))
    assert answer.choices[0].text == REPLY
    assert "".join(c.choices[0].text for c in chunks if c.choices) == REPLY
    for sent in upstream.requests:
        assert sent.path == "/openai/deployments/instruct/completions"
        assert sent.query == {"api-version": "2024-06-01"}
        assert sent.headers["api-key"] == "sk-upstream-secret"


def test_upstream_error_keeps_openai_shape(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "cp-err", upstream.url())
    key = key_for(service, "cp-err")
    upstream.fail(400, "This model's maximum context length is 4097 tokens.")
    with sdk(service, "cp-err", key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=connector_id, prompt=PROMPT, stream=True)
    assert caught.value.body == {
        "message": "This model's maximum context length is 4097 tokens.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    end = events(service, "cp-err", connector_id, 2)[0]
    assert end["event"]["outcome"] == "failure"
    assert end["llmrelay"]["endpoint"] == "completions"
    assert "Status code: 400" in end["error"]["message"]


def test_a_url_that_does_not_tell_is_a_404(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(
        service, "cp-nourl", upstream.url("/api/chat"), provider="Other", defaultModel="m"
    )
    key = key_for(service, "cp-nourl")
    with sdk(service, "cp-nourl", key) as client, pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model=connector_id, prompt=PROMPT)
    assert caught.value.code == "endpoint_not_supported"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"].startswith(
        f"Connector `{connector_id}` cannot serve /v1/completions: "
    )
    assert upstream.requests == []


def test_a_body_without_model_is_a_400(service: Service) -> None:
    key = key_for(service, "default")
    with httpx.Client(base_url=f"{service.url}/v1", timeout=30) as client:
        answer = client.post(
            "/completions", json={"prompt": PROMPT}, headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"
