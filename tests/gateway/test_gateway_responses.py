"""``POST /v1/responses`` forwarded (OpenAI, Azure, ``Other`` whose server has it) with the
official ``openai`` SDK, sync and async: plain and streamed answers pass through byte for
byte, usage comes from the answer or from ``response.completed`` (estimated when absent),
``with_raw_response``, errors, Azure's ``/openai/v1/responses`` shape and the 404 when a
URL does not tell. The translation to chat completions: test_gateway_responses_translate."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
import trustme

from llmrelay.execution.tokens import count_tokens
from llmrelay.testing import FakeUpstream
from llmrelay.testing.responses import response_answer, response_events
from tests.fixtures.service import Service
from tests.gateway.conftest import XSRF, async_sdk, create_connector, events, key_for, sdk
from tests.helpers.pki import pki_secrets

QUESTION = "What is the capital of France"
REPLY = f"You said: {QUESTION}"


def execute_event(service: Service, space: str, connector_id: str, count: int = 2) -> Any:
    found = events(service, space, connector_id, count)
    assert found[0]["event"]["action"] == "execute"
    return found[0]


def usage_of(event: dict[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = event["kibana"]["action"]["execution"]["gen_ai"]["usage"]
    return usage


def test_plain_response_through_an_openai_connector_and_its_event(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "rs-plain", upstream.url(), defaultModel="gpt-4.1")
    key = key_for(service, "rs-plain", owner="rita")
    with sdk(service, "rs-plain", key) as client:
        answer = client.responses.create(
            model=connector_id, input=QUESTION, instructions="Be brief", max_output_tokens=50
        )
    assert answer.output_text == REPLY
    assert answer.model == "gpt-4.1" and answer.status == "completed"
    assert answer.usage is not None and answer.usage.output_tokens == len(REPLY.split())
    sent = upstream.last_request
    assert sent.path == "/v1/responses"
    assert sent.json == {
        "input": QUESTION,
        "instructions": "Be brief",
        "max_output_tokens": 50,
        "model": "gpt-4.1",
    }
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    end = execute_event(service, "rs-plain", connector_id)
    assert end["event"]["outcome"] == "success"
    assert end["llmrelay"]["endpoint"] == "responses"
    assert end["llmrelay"]["sub_action"] == "responses"
    assert end["llmrelay"]["usage_source"] == "response"
    assert end["llmrelay"]["model"] == "gpt-4.1"
    assert end["user"]["name"] == "rita"
    prompt = len(QUESTION.split()) + 2  # the instructions count as prompt
    assert usage_of(end) == {
        "prompt_tokens": prompt,
        "completion_tokens": len(REPLY.split()),
        "total_tokens": prompt + len(REPLY.split()),
    }


def test_raw_response_is_the_upstream_body_with_its_headers(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    upstream.with_headers({"x-request-id": "req-resp-1", "x-ratelimit-remaining-tokens": "7"})
    with sdk(service, "default", key) as client:
        raw = client.responses.with_raw_response.create(
            model=f"{connector_id}/o4-mini", input=[{"role": "user", "content": QUESTION}]
        )
    sent = upstream.last_request.json
    assert isinstance(sent, dict) and sent["model"] == "o4-mini"
    assert raw.http_response.content == (
        httpx.Response(200, json=response_answer("resp_fake000001", "o4-mini", sent)).content
    )
    assert raw.headers["x-request-id"] == "req-resp-1"
    assert raw.request_id == "req-resp-1"
    assert raw.parse().output_text == REPLY


def test_streamed_bytes_pass_through_and_usage_comes_from_response_completed(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "rs-stream", upstream.url(), defaultModel="gpt-4.1")
    key = key_for(service, "rs-stream")
    body = {"model": connector_id, "input": QUESTION, "stream": True}
    with (
        httpx.Client(base_url=f"{service.url}/s/rs-stream/v1", timeout=30) as client,
        client.stream(
            "POST", "/responses", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    sent = upstream.last_request.json
    assert sent == {"input": QUESTION, "stream": True, "model": "gpt-4.1"}
    assert raw == b"".join(response_events("resp_fake000001", "gpt-4.1", sent))
    end = execute_event(service, "rs-stream", connector_id)
    assert end["llmrelay"]["usage_source"] == "stream"
    assert usage_of(end)["completion_tokens"] == len(REPLY.split())
    assert usage_of(end)["prompt_tokens"] == len(QUESTION.split())


def test_sdk_stream_helpers_sync_and_async(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "rs-sdk", upstream.url())
    key = key_for(service, "rs-sdk")
    with sdk(service, "rs-sdk", key) as client:
        kinds = [
            e.type for e in client.responses.create(model=connector_id, input="a b", stream=True)
        ]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == len(["You", "said:", "a", "b"])

    async def run() -> tuple[str, str]:
        async with async_sdk(service, "rs-sdk", key) as aclient:
            async with aclient.responses.stream(model=connector_id, input=QUESTION) as stream:
                deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
                final = await stream.get_final_response()
            plain = await aclient.responses.create(model=connector_id, input="hi")
        assert final.output_text == "".join(deltas)
        return final.output_text, plain.output_text

    assert asyncio.run(run()) == (REPLY, "You said: hi")


def test_usage_is_estimated_when_the_server_sends_none(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "rs-est", upstream.url(), defaultModel="gpt-4.1")
    key = key_for(service, "rs-est")
    upstream.without_usage(times=2)
    with sdk(service, "rs-est", key) as client:
        plain = client.responses.create(model=connector_id, input=QUESTION)
        streamed = list(client.responses.create(model=connector_id, input=QUESTION, stream=True))
    assert plain.usage is None and streamed[-1].type == "response.completed"
    expected = {
        "prompt_tokens": count_tokens(QUESTION),
        "completion_tokens": count_tokens(REPLY),
        "total_tokens": count_tokens(QUESTION) + count_tokens(REPLY),
    }
    for event in events(service, "rs-est", connector_id, 4)[::2]:
        assert event["llmrelay"]["usage_source"] == "estimated"
        assert usage_of(event) == expected


def test_azure_uses_the_v1_responses_shape_with_the_deployment_as_model(
    service: Service, upstream: FakeUpstream
) -> None:
    url = upstream.azure_url("gpt-4o-deploy", "2024-10-21")
    connector_id = create_connector(service, "rs-azure", url, provider="Azure OpenAI")
    key = key_for(service, "rs-azure")
    with sdk(service, "rs-azure", key) as client:
        answer = client.responses.create(model=connector_id, input=QUESTION)
        client.responses.create(model=f"{connector_id}/other-deploy", input="x")
    assert answer.output_text == REPLY
    first, second = upstream.requests
    assert first.path == "/openai/v1/responses" and first.query == {}
    assert first.headers["api-key"] == "sk-upstream-secret"
    assert "authorization" not in first.headers
    assert first.json == {"input": QUESTION, "model": "gpt-4o-deploy"}
    assert isinstance(second.json, dict) and second.json["model"] == "other-deploy"


def test_azure_v1_api_url_gets_responses_beside_it(
    service: Service, upstream: FakeUpstream
) -> None:
    url = upstream.url("/openai/v1/chat/completions")
    connector_id = create_connector(
        service, "rs-azv1", url, provider="Azure OpenAI", defaultModel="gpt-4o-mini"
    )
    key = key_for(service, "rs-azv1")
    with sdk(service, "rs-azv1", key) as client:
        client.responses.create(model=connector_id, input=QUESTION)
    assert upstream.last_request.path == "/openai/v1/responses"
    assert upstream.last_request.json == {"input": QUESTION, "model": "gpt-4o-mini"}


@pytest.mark.parametrize(
    ("provider", "config"),
    [("OpenAI", {}), ("Azure OpenAI", {}), ("Other", {"responsesApi": "native"})],
)
def test_a_url_that_does_not_tell_is_a_404_naming_connector_and_endpoint(
    service: Service, upstream: FakeUpstream, provider: str, config: dict[str, str]
) -> None:
    extra = {"defaultModel": "m", **config} if provider == "Other" else config
    connector_id = create_connector(service, "rs-nourl", upstream.url("/v1"), provider, **extra)
    key = key_for(service, "rs-nourl")
    with sdk(service, "rs-nourl", key) as client, pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=connector_id, input="x")
    assert caught.value.code == "endpoint_not_supported"
    assert caught.value.body == {
        "message": f"Connector `{connector_id}` cannot serve /v1/responses: its apiUrl does "
        "not end in /chat/completions, so the /responses URL cannot be derived from it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "endpoint_not_supported",
    }
    assert upstream.requests == []


def test_upstream_errors_keep_openai_shape_and_write_a_failure_event(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "rs-err", upstream.url())
    key = key_for(service, "rs-err")
    upstream.fail(429, "Rate limit reached", headers={"x-request-id": "req-429"})
    upstream.fail(400, "Invalid value: 'input'.", error_type="invalid_request_error")
    with sdk(service, "rs-err", key) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            client.responses.create(model=connector_id, input="x")
        with pytest.raises(openai.BadRequestError) as bad:
            client.responses.create(model=connector_id, input="y", stream=True)
    assert isinstance(limited.value.body, dict) and limited.value.request_id == "req-429"
    assert limited.value.body["message"] == "Rate limit reached"
    assert bad.value.status_code == 400
    found = events(service, "rs-err", connector_id, 4)
    ends = [e for e in found if e["event"]["action"] == "execute"]
    assert [e["event"]["outcome"] for e in ends] == ["failure", "failure"]
    assert all(e["llmrelay"]["endpoint"] == "responses" for e in ends)


def test_other_native_mode_surfaces_the_servers_404(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        service, "rs-native", upstream.url(), "Other", defaultModel="m", responsesApi="native"
    )
    key = key_for(service, "rs-native")
    upstream.serve_responses(False)
    with sdk(service, "rs-native", key) as client, pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=connector_id, input="x")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "Invalid URL (POST /v1/responses)"
    assert [r.path for r in upstream.requests] == ["/v1/responses"]


def test_mutual_tls_with_the_connectors_client_certificate(
    service: Service, mtls_upstream: FakeUpstream, client_cert: trustme.LeafCert, ca: trustme.CA
) -> None:
    body = {
        "name": "responses over mTLS",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": mtls_upstream.url(), "defaultModel": "qw"},
        "secrets": pki_secrets(client_cert, ca),
    }
    with service.client(service.admin, base="/s/rs-mtls") as admin:
        created = admin.post("/api/actions/connector", json=body, headers=XSRF)
    assert created.status_code == 200, created.text
    key = key_for(service, "rs-mtls")
    with sdk(service, "rs-mtls", key) as client:
        answer = client.responses.create(model=created.json()["id"], input="secure")
        streamed = client.responses.create(model=created.json()["id"], input="again", stream=True)
        last = list(streamed)[-1]
    assert answer.output_text == "You said: secure"
    assert last.type == "response.completed" and last.response.output_text == "You said: again"
    assert [r.path for r in mtls_upstream.requests] == ["/v1/responses", "/v1/responses"]


def test_responses_are_their_own_endpoint_in_the_usage_report(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "rs-usage", upstream.url(), defaultModel="gpt-4.1")
    key = key_for(service, "rs-usage")
    with sdk(service, "rs-usage", key) as client:
        answer = client.responses.create(model=connector_id, input=QUESTION)
        client.chat.completions.create(
            model=connector_id, messages=[{"role": "user", "content": "hi"}]
        )
    events(service, "rs-usage", connector_id, 4)
    with service.client(service.admin, base="/s/rs-usage") as admin:
        response = admin.get(
            "/api/llmrelay/usage?start=now-1h&group_by=endpoint&endpoint=responses"
        )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["totals"]["executions"] == 1
    assert {bucket["key"] for bucket in report["buckets"]} == {"responses"}
    assert answer.usage is not None
    assert sum(b["total_tokens"] for b in report["buckets"]) == answer.usage.total_tokens
