"""``POST /v1/embeddings`` with the official ``openai`` SDK (sync and async) against the fake
upstream: the connector's URL, auth and PKI apply as for chat, the answer comes back
unchanged, usage is recorded (estimated when the server sends none), errors keep OpenAI's
shape, Azure keeps its deployment path, and a URL that does not tell is refused."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import openai
import pytest
import trustme

from llmrelay.testing import FakeUpstream, embedding_vector
from llmrelay.testing.endpoints import embeddings_answer
from tests.fixtures.service import Service
from tests.gateway.conftest import XSRF, async_sdk, create_connector, events, key_for, sdk
from tests.helpers.pki import pki_secrets

TEXTS = ["The quick brown fox", "jumps over the lazy dog"]


def float32(vector: list[float]) -> list[float]:
    """What a float32 round trip (the SDK's base64 decoding) makes of ``vector``."""
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def execute_event(service: Service, space: str, connector_id: str) -> dict[str, Any]:
    end, start = events(service, space, connector_id, 2)
    assert start["event"]["action"] == "execute-start" and end["event"]["action"] == "execute"
    return end


def test_embeddings_through_an_openai_connector_and_their_event(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(
        service, "em-plain", upstream.url(), defaultModel="text-embedding-3-small"
    )
    key = key_for(service, "em-plain", owner="erin")
    with sdk(service, "em-plain", key) as client:
        answer = client.embeddings.create(model=connector_id, input=TEXTS)
    # the SDK asks for base64 and decodes it: the fake's vectors, as float32
    assert [d.embedding for d in answer.data] == [float32(embedding_vector(t)) for t in TEXTS]
    assert answer.model == "text-embedding-3-small"
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == 9
    sent = upstream.last_request
    assert sent.path == "/v1/embeddings"
    assert sent.json == {
        "input": TEXTS,
        "encoding_format": "base64",
        "model": "text-embedding-3-small",
    }
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    end = execute_event(service, "em-plain", connector_id)
    assert end["event"]["outcome"] == "success"
    assert end["llmrelay"]["endpoint"] == "embeddings"
    assert end["llmrelay"]["sub_action"] == "embeddings"
    assert end["llmrelay"]["usage_source"] == "response"
    assert end["llmrelay"]["model"] == "text-embedding-3-small"
    assert end["kibana"]["action"]["execution"]["source"] == "openai_gateway"
    assert end["kibana"]["action"]["execution"]["gen_ai"]["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 0,
        "total_tokens": 9,
    }
    assert end["user"]["name"] == "erin"


def test_float_format_and_dimensions_pass_through_and_the_body_is_unchanged(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    upstream.with_headers({"x-request-id": "req-emb-1", "x-ratelimit-remaining-tokens": "99"})
    with sdk(service, "default", key) as client:
        raw = client.embeddings.with_raw_response.create(
            model=f"{connector_id}/text-embedding-3-large",
            input="hello",
            encoding_format="float",
            dimensions=4,
        )
    sent = upstream.last_request.json
    assert sent == {
        "input": "hello",
        "model": "text-embedding-3-large",
        "dimensions": 4,
        "encoding_format": "float",
    }
    assert isinstance(sent, dict)
    assert raw.http_response.content == embeddings_answer(sent, "text-embedding-3-large")[1]
    assert raw.headers["x-request-id"] == "req-emb-1"
    assert raw.headers["x-ratelimit-remaining-tokens"] == "99"
    assert raw.parse().data[0].embedding == embedding_vector("hello", 4)


def test_base64_answers_reach_a_caller_that_asked_for_them_as_base64(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "default", upstream.url())
    key = key_for(service, "default")
    with sdk(service, "default", key) as client:
        answer = client.embeddings.create(
            model=connector_id, input=[[1, 2, 3], [4, 5]], encoding_format="base64"
        )
    encoded = answer.data[1].embedding
    assert isinstance(encoded, str)
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert list(decoded) == float32(embedding_vector([4, 5]))


def test_usage_is_estimated_when_the_server_sends_none(
    service: Service, upstream: FakeUpstream
) -> None:
    from llmrelay.execution.tokens import count_tokens  # the tokenizer events count with

    url = upstream.url()
    connector_id = create_connector(service, "em-est", url, defaultModel="text-embedding-3-small")
    key = key_for(service, "em-est")
    upstream.without_usage(times=2)
    with sdk(service, "em-est", key) as client:
        client.embeddings.create(model=connector_id, input=TEXTS)
        client.embeddings.create(model=connector_id, input=[[7, 8, 9], [10]])
    found = events(service, "em-est", connector_id, 4)
    # newest first; an execution's start and end may share a timestamp, so pick by action
    tokens_arrays, texts = [e for e in found if e["event"]["action"] == "execute"]
    expected = sum(count_tokens(t) for t in TEXTS)
    assert texts["llmrelay"]["usage_source"] == "estimated"
    assert texts["llmrelay"]["tokenizer"] == "cl100k_base"
    assert texts["kibana"]["action"]["execution"]["gen_ai"]["usage"] == {
        "prompt_tokens": expected,
        "completion_tokens": 0,
        "total_tokens": expected,
    }
    assert tokens_arrays["kibana"]["action"]["execution"]["gen_ai"]["usage"]["prompt_tokens"] == 4


def test_async_client(service: Service, upstream: FakeUpstream) -> None:
    connector_id = create_connector(service, "em-async", upstream.url())
    key = key_for(service, "em-async")

    async def embed() -> list[list[float]]:
        async with async_sdk(service, "em-async", key) as client:
            answer = await client.embeddings.create(model=connector_id, input=TEXTS[0])
            raw = await client.embeddings.with_raw_response.create(
                model=connector_id, input=TEXTS[1], encoding_format="float"
            )
        return [answer.data[0].embedding, raw.parse().data[0].embedding]

    vectors = asyncio.run(embed())
    assert vectors == [float32(embedding_vector(TEXTS[0])), embedding_vector(TEXTS[1])]


def test_azure_keeps_the_deployment_and_api_version(
    service: Service, upstream: FakeUpstream
) -> None:
    url = upstream.azure_url("emb-deploy", "2024-10-21")
    connector_id = create_connector(service, "em-azure", url, provider="Azure OpenAI")
    key = key_for(service, "em-azure")
    with sdk(service, "em-azure", key) as client:
        answer = client.embeddings.create(model=connector_id, input="hi")
    assert answer.data[0].embedding == float32(embedding_vector("hi"))
    sent = upstream.last_request
    assert sent.path == "/openai/deployments/emb-deploy/embeddings"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "sk-upstream-secret"
    assert "authorization" not in sent.headers
    assert sent.json == {"input": "hi", "encoding_format": "base64"}  # the deployment decides


def test_mutual_tls_with_the_connectors_client_certificate(
    service: Service, mtls_upstream: FakeUpstream, client_cert: trustme.LeafCert, ca: trustme.CA
) -> None:
    body = {
        "name": "embeddings over mTLS",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": mtls_upstream.url(), "defaultModel": "e5"},
        "secrets": pki_secrets(client_cert, ca),
    }
    with service.client(service.admin, base="/s/em-mtls") as admin:
        created = admin.post("/api/actions/connector", json=body, headers=XSRF)
    assert created.status_code == 200, created.text
    key = key_for(service, "em-mtls")
    with sdk(service, "em-mtls", key) as client:
        answer = client.embeddings.create(model=created.json()["id"], input="secure")
    assert answer.data[0].embedding == float32(embedding_vector("secure"))
    assert mtls_upstream.last_request.path == "/v1/embeddings"
    assert mtls_upstream.last_request.json == {
        "input": "secure",
        "encoding_format": "base64",
        "model": "e5",
    }


def test_a_url_that_does_not_tell_is_a_404_naming_connector_and_endpoint(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "em-nourl", upstream.url("/v1"))
    key = key_for(service, "em-nourl")
    with sdk(service, "em-nourl", key) as client, pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model=connector_id, input="x")
    assert caught.value.status_code == 404
    assert caught.value.code == "endpoint_not_supported"
    assert caught.value.body == {
        "message": f"Connector `{connector_id}` cannot serve /v1/embeddings: its apiUrl does "
        "not end in /chat/completions, so the /embeddings URL cannot be derived from it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "endpoint_not_supported",
    }
    assert upstream.requests == []
    assert events(service, "em-nourl", connector_id, 0) == []


def test_upstream_errors_keep_openai_shape_status_and_headers(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "em-err", upstream.url())
    key = key_for(service, "em-err")
    upstream.fail(429, "Rate limit reached for embeddings", headers={"x-request-id": "req-429"})
    upstream.fail(400, "'$.input' is invalid.", error_type="invalid_request_error")
    with sdk(service, "em-err", key) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            client.embeddings.create(model=connector_id, input="x")
        with pytest.raises(openai.BadRequestError) as bad:
            client.embeddings.create(model=connector_id, input="y")
    assert isinstance(limited.value.body, dict) and isinstance(bad.value.body, dict)
    assert limited.value.body["message"] == "Rate limit reached for embeddings"
    assert limited.value.request_id == "req-429"
    assert bad.value.status_code == 400 and bad.value.body["message"] == "'$.input' is invalid."
    found = events(service, "em-err", connector_id, 4)
    executes = [e for e in found if e["event"]["action"] == "execute"]  # newest first
    assert [e["event"]["outcome"] for e in executes] == ["failure", "failure"]
    assert "Status code: 429" in executes[1]["error"]["message"]
    assert executes[1]["llmrelay"]["endpoint"] == "embeddings"


def test_unknown_connector_and_foreign_space_are_refused(
    service: Service, upstream: FakeUpstream
) -> None:
    connector_id = create_connector(service, "em-mine", upstream.url())
    foreign = key_for(service, "em-theirs")
    with (
        sdk(service, "em-mine", foreign) as client,
        pytest.raises(openai.PermissionDeniedError) as denied,
    ):
        client.embeddings.create(model=connector_id, input="x")
    with (
        sdk(service, "em-theirs", foreign) as client,
        pytest.raises(openai.NotFoundError) as missing,
    ):
        client.embeddings.create(model=connector_id, input="x")
    assert denied.value.code == "insufficient_permissions"
    assert missing.value.code == "model_not_found"
    assert upstream.requests == []
