"""Where ``/v1/embeddings``, ``/v1/completions`` and ``/v1/responses`` go for each provider,
and what is sent: derived from the connector's chat URL, refused (never guessed) when it
does not tell."""

from __future__ import annotations

import pytest

from llmrelay.errors import EndpointUnavailableError
from llmrelay.providers.registry import provider_for
from tests.providers import AZURE_URL, OPENAI_URL, OTHER_URL, make_connector, sent_json

EMBED = {"input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}


@pytest.mark.parametrize(
    ("provider", "api_url", "endpoint", "expected"),
    [
        ("OpenAI", OPENAI_URL, "embeddings", "https://api.openai.com/v1/embeddings"),
        ("OpenAI", OPENAI_URL, "completions", "https://api.openai.com/v1/completions"),
        ("OpenAI", OPENAI_URL + "/", "embeddings", "https://api.openai.com/v1/embeddings"),
        (
            "OpenAI",
            "https://api.openai.com/v1/completions",
            "completions",
            "https://api.openai.com/v1/completions",
        ),
        ("Other", OTHER_URL, "embeddings", "http://localhost:1234/v1/embeddings"),
        (
            "Other",
            "http://gw.local:8080/team/v1/chat/completions?tenant=a",
            "completions",
            "http://gw.local:8080/team/v1/completions?tenant=a",
        ),
        (
            "Azure OpenAI",
            AZURE_URL,
            "embeddings",
            "https://My-test-resource-123.openai.azure.com/openai/deployments/"
            "NEW-DEPLOYMENT-321/embeddings?api-version=2023-05-15",
        ),
        (
            "Azure OpenAI",
            "https://gw.example/ai/openai/deployments/d1/extensions/chat/completions"
            "?api-version=2024-06-01",
            "completions",
            "https://gw.example/ai/openai/deployments/d1/completions?api-version=2024-06-01",
        ),
        (
            "Azure OpenAI",
            "https://res.openai.azure.com/openai/deployments/d1/completions?api-version=1",
            "embeddings",
            "https://res.openai.azure.com/openai/deployments/d1/embeddings?api-version=1",
        ),
        (
            "Azure OpenAI",
            "https://res.openai.azure.com/openai/v1/chat/completions",
            "embeddings",
            "https://res.openai.azure.com/openai/v1/embeddings",
        ),
    ],
)
def test_endpoint_url_is_derived_from_the_chat_url(
    provider: str, api_url: str, endpoint: str, expected: str
) -> None:
    connector = make_connector(provider, api_url, defaultModel="m1")
    call = provider_for(connector).prepare_endpoint(connector, endpoint, EMBED)
    assert call.url == expected


@pytest.mark.parametrize(
    ("provider", "api_url"),
    [
        ("OpenAI", "https://api.openai.com/v1"),
        ("Other", "http://localhost:11434/api/chat"),
        ("Azure OpenAI", "https://res.openai.azure.com/openai/deployments/d1?api-version=1"),
    ],
)
@pytest.mark.parametrize("endpoint", ["embeddings", "completions"])
def test_a_url_that_does_not_tell_is_refused_naming_connector_and_endpoint(
    provider: str, api_url: str, endpoint: str
) -> None:
    connector = make_connector(provider, api_url, defaultModel="m1")
    with pytest.raises(EndpointUnavailableError) as caught:
        provider_for(connector).prepare_endpoint(connector, endpoint, EMBED)
    message = str(caught.value)
    assert message.startswith(f"Connector `connector-1` cannot serve /v1/{endpoint}: ")
    assert "does not end in /chat/completions" in message
    assert caught.value.http_status == 404 and caught.value.code == "endpoint_not_supported"


@pytest.mark.parametrize(("provider", "api_url"), [("OpenAI", OPENAI_URL), ("Other", OTHER_URL)])
def test_bearer_providers_send_the_body_with_the_default_model(provider: str, api_url: str) -> None:
    connector = make_connector(provider, api_url, defaultModel="text-embedding-3-small")
    call = provider_for(connector).prepare_endpoint(connector, "embeddings", EMBED)
    assert sent_json(call) == {**EMBED, "model": "text-embedding-3-small"}
    assert call.headers["Authorization"] == "Bearer 123"
    assert call.model == "text-embedding-3-small" and call.stream is False
    named = provider_for(connector).prepare_endpoint(connector, "embeddings", {"model": "m2"})
    assert sent_json(named) == {"model": "m2"}


def test_azure_sends_the_body_as_is_with_its_api_key() -> None:
    connector = make_connector("Azure OpenAI", AZURE_URL, defaultModel="gpt-4o")
    body = {"prompt": "Say", "stream": True, "stream_options": {"include_usage": True}}
    call = provider_for(connector).prepare_endpoint(connector, "completions", body)
    assert sent_json(call) == body  # the deployment decides the model
    assert call.headers["api-key"] == "123" and "Authorization" not in call.headers
    assert call.stream is True and call.usage_requested is True


@pytest.mark.parametrize(
    ("provider", "api_url", "expected", "model"),
    [
        ("OpenAI", OPENAI_URL, "https://api.openai.com/v1/responses", "m1"),
        ("Other", OTHER_URL, "http://localhost:1234/v1/responses", "m1"),
        (
            "Azure OpenAI",
            AZURE_URL,
            "https://My-test-resource-123.openai.azure.com/openai/v1/responses",
            "NEW-DEPLOYMENT-321",
        ),
        (
            "Azure OpenAI",
            "https://gw.example/ai/openai/deployments/my%20dep/chat/completions?api-version=1",
            "https://gw.example/ai/openai/v1/responses",
            "my dep",
        ),
        (
            "Azure OpenAI",
            "https://res.openai.azure.com/openai/v1/chat/completions",
            "https://res.openai.azure.com/openai/v1/responses",
            "m1",
        ),
    ],
)
def test_responses_url_and_model(provider: str, api_url: str, expected: str, model: str) -> None:
    """Azure serves the Responses API only as ``/openai/v1/responses`` (no ``api-version``),
    where ``model`` names the deployment."""
    connector = make_connector(provider, api_url, defaultModel="m1")
    call = provider_for(connector).prepare_endpoint(connector, "responses", {"input": "hi"})
    assert call.url == expected
    assert sent_json(call) == {"input": "hi", "model": model}
    named = provider_for(connector).prepare_endpoint(connector, "responses", {"model": "x"})
    assert sent_json(named) == {"model": "x"}


def test_an_azure_url_that_does_not_tell_is_refused_for_responses() -> None:
    url = "https://res.openai.azure.com/openai/deployments/d1?api-version=1"
    connector = make_connector("Azure OpenAI", url)
    with pytest.raises(EndpointUnavailableError) as caught:
        provider_for(connector).prepare_endpoint(connector, "responses", {"input": "hi"})
    assert str(caught.value).startswith("Connector `connector-1` cannot serve /v1/responses: ")


@pytest.mark.parametrize(
    ("provider", "api_url", "config", "mode"),
    [
        ("OpenAI", OPENAI_URL, {}, "native"),
        ("Azure OpenAI", AZURE_URL, {}, "native"),
        ("Other", OTHER_URL, {"defaultModel": "m"}, "auto"),
        ("Other", OTHER_URL, {"defaultModel": "m", "responsesApi": "translate"}, "translate"),
        ("Other", OTHER_URL, {"defaultModel": "m", "responsesApi": "native"}, "native"),
    ],
)
def test_responses_mode(provider: str, api_url: str, config: dict[str, str], mode: str) -> None:
    connector = make_connector(provider, api_url, **config)
    assert provider_for(connector).responses_mode(connector) == mode
