"""Azure OpenAI provider: Kibana's openai.test.ts / azure_openai_utils.test.ts cases."""

from __future__ import annotations

import orjson
import pytest

from llmrelay.domain.connectors import Connector
from llmrelay.providers.azure import AzureProvider, is_deployment_url
from tests.providers import AZURE_URL, CUSTOM_HEADERS, MESSAGES, make_connector, sent_json

PROVIDER = AzureProvider()
RESOURCE = "https://My-test-resource-123.openai.azure.com"
CHAT = f"{RESOURCE}/openai/deployments/NEW-DEPLOYMENT-321/chat/completions?api-version=2023-05-15"
COMPLETIONS = f"{RESOURCE}/openai/deployments/NEW-DEPLOYMENT-321/completions?api-version=2023-05-15"
EXTENSIONS = (
    f"{RESOURCE}/openai/deployments/NEW-DEPLOYMENT-321/extensions/chat/completions"
    "?api-version=2023-05-15"
)


def body(**fields: object) -> str:
    return orjson.dumps({"messages": MESSAGES, **fields}).decode()


@pytest.fixture
def conn() -> Connector:
    return make_connector("Azure OpenAI", AZURE_URL)


def test_headers_api_key_and_content_type_only(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {"content-type": "application/json", "api-key": "123"}
    assert call.url == AZURE_URL  # api-version query kept, URL used as is


def test_custom_authorization_survives_next_to_api_key() -> None:
    conn = make_connector("Azure OpenAI", AZURE_URL, headers=CUSTOM_HEADERS)
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {
        "content-type": "application/json",
        "X-My-Custom-Header": "foo",
        "Authorization": "override",
        "api-key": "123",
    }


def test_run_sets_stream_false_and_adds_no_model(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(stream=True), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "stream": False}
    assert call.model is None
    assert call.stream is False


@pytest.mark.parametrize("url", [CHAT, COMPLETIONS, EXTENSIONS])
@pytest.mark.parametrize("given", [True, False, None])
def test_stream_rules_for_each_deployment_route(url: str, given: bool | None) -> None:
    conn = make_connector("Azure OpenAI", url)
    fields = {} if given is None else {"stream": given}
    off = PROVIDER.prepare(conn, body(**fields), stream=False)
    on = PROVIDER.prepare(conn, body(**fields), stream=True)
    assert sent_json(off) == {"messages": MESSAGES, "stream": False}
    assert sent_json(on) == {
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert on.usage_requested is True
    assert off.usage_requested is False


def test_custom_domain_with_deployment_route_gets_stream_flag() -> None:
    url = "https://apim.example.com/gw/openai/deployments/gpt4/chat/completions?api-version=x"
    conn = make_connector("Azure OpenAI", url)
    assert sent_json(PROVIDER.prepare(conn, body(), stream=False)) == {
        "messages": MESSAGES,
        "stream": False,
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://randomurl.com/v1/chat",
        f"{RESOURCE}/openai/deployments/NEW-DEPLOYMENT-321/embeddings?api-version=2023-05-15",
    ],
)
def test_other_urls_send_the_body_unchanged(url: str) -> None:
    conn = make_connector("Azure OpenAI", url, defaultModel="gpt-4o")
    raw = '{"messages": [{"role": "user", "content": "Hello world"}], "stream": true}'
    call = PROVIDER.prepare(conn, raw, stream=False)
    assert call.body == raw.encode()
    assert call.json_body == orjson.loads(raw)  # still described for token counting
    assert call.stream is True
    assert call.model is None


def test_default_model_injected_only_when_body_lacks_model() -> None:
    conn = make_connector("Azure OpenAI", AZURE_URL, defaultModel="gpt-4o")
    lacking = PROVIDER.prepare(conn, body(), stream=False)
    own = PROVIDER.prepare(conn, body(model="gpt-35"), stream=False)
    assert sent_json(lacking) == {"messages": MESSAGES, "stream": False, "model": "gpt-4o"}
    assert sent_json(own) == {"messages": MESSAGES, "model": "gpt-35", "stream": False}


def test_no_tool_stripping_for_azure(conn: Connector) -> None:
    sent = sent_json(PROVIDER.prepare(conn, body(tool_choice="auto"), stream=False))
    assert sent == {"messages": MESSAGES, "tool_choice": "auto", "stream": False}


@pytest.mark.parametrize("raw", ["{bad json", "[]", ""])
def test_malformed_json_untouched(conn: Connector, raw: str) -> None:
    call = PROVIDER.prepare(conn, raw, stream=True)
    assert call.body == raw.encode()
    assert call.json_body is None


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        (CHAT, True),
        (COMPLETIONS, True),
        (EXTENSIONS, True),
        ("https://x.openai.azure.com/openai/deployments/d/chat/completions", True),
        ("https://x.openai.azure.com/openai/deployments/d/chat/completions/", True),
        ("http://localhost:8080/openai/deployments/d/completions?api-version=1", True),
        ("https://x.openai.azure.com/openai/deployments/d/not-completions", False),
        ("https://x.openai.azure.com/openai/deployments/d/chat/not-completions", False),
        ("https://x.openai.azure.com/openai/deployments/d/extensions/not-completions", False),
        ("https://x.openai.azure.com/openai/deployments/d/chat/completions-x", False),
        ("https://x.openai.azure.com/openai/deployments//chat/completions", False),
        ("https://x.openai.azure.com/openai/deployments/d/embeddings", False),
        ("https://x.openai.azure.com/deployments/d/chat/completions", False),
        ("https://x.openai.azure.com/v1/chat/completions", False),
        ("https://x.com/?next=/openai/deployments/d/chat/completions", False),
    ],
)
def test_deployment_route_regex(url: str, matches: bool) -> None:
    assert is_deployment_url(url) is matches


# --- invokeAsyncIterator --------------------------------------------------------------------
def test_async_iterator_posts_to_api_url_with_builtin_model(conn: Connector) -> None:
    call = PROVIDER.prepare_async_iterator(conn, {"messages": MESSAGES}, default_model="gpt-4.1")
    assert call.url == AZURE_URL
    assert "api-version=2023-05-15" in call.url
    assert sent_json(call) == {"messages": MESSAGES, "stream": True, "model": "gpt-4.1"}
    assert call.headers["api-key"] == "123"
    assert call.usage_requested is False


def test_async_iterator_prefers_body_then_configured_model() -> None:
    conn = make_connector("Azure OpenAI", AZURE_URL, defaultModel="gpt-4o")
    configured = PROVIDER.prepare_async_iterator(conn, {"messages": MESSAGES}, default_model="b")
    own = PROVIDER.prepare_async_iterator(
        conn, {"messages": MESSAGES, "model": "mine"}, default_model="b"
    )
    assert configured.model == "gpt-4o"
    assert own.model == "mine"
