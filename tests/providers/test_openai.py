"""OpenAI provider: Kibana's openai.test.ts / openai_utils.test.ts cases (spec §7.1-7.2)."""

from __future__ import annotations

import orjson
import pytest

from llmrelay.domain.connectors import Connector
from llmrelay.providers.bearer import sdk_chat_url
from llmrelay.providers.openai import OpenAIProvider, streams_on
from tests.providers import (
    CUSTOM_HEADERS,
    MESSAGES,
    OPENAI_LEGACY_URL,
    OPENAI_URL,
    lower_names,
    make_connector,
    sent_json,
)

PROVIDER = OpenAIProvider()
DEFAULT = "gpt-4.1"


def body(**fields: object) -> str:
    return orjson.dumps({"messages": MESSAGES, **fields}).decode()


@pytest.fixture
def conn() -> Connector:
    return make_connector("OpenAI", OPENAI_URL, headers=CUSTOM_HEADERS, defaultModel=DEFAULT)


# --- runApi / invokeAI (stream = false) ----------------------------------------------------
def test_run_uses_default_model_and_forces_stream_false(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "stream": False, "model": DEFAULT}
    assert call.url == OPENAI_URL
    assert call.model == DEFAULT
    assert call.stream is False
    assert call.usage_requested is False


def test_new_keys_are_appended_after_existing_ones(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(temperature=0.2), stream=False)
    assert list(orjson.loads(call.body)) == ["messages", "temperature", "stream", "model"]


def test_headers_bearer_overrides_custom_authorization(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {
        "content-type": "application/json",
        "X-My-Custom-Header": "foo",
        "Authorization": "Bearer 123",
    }
    assert lower_names(call.headers) == sorted(set(lower_names(call.headers)))


def test_body_model_overrides_default(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(model="gpt-3.5-turbo"), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "model": "gpt-3.5-turbo", "stream": False}
    assert call.model == "gpt-3.5-turbo"


@pytest.mark.parametrize("given", [True, False, None])
def test_stream_in_body_is_forced_false(conn: Connector, given: bool | None) -> None:
    fields = {} if given is None else {"stream": given}
    call = PROVIDER.prepare(conn, body(model="gpt-4", **fields), stream=False)
    sent = sent_json(call)
    assert isinstance(sent, dict)
    assert sent["stream"] is False
    assert "stream_options" not in sent


@pytest.mark.parametrize("url", [OPENAI_URL, OPENAI_LEGACY_URL])
def test_both_openai_urls_get_the_stream_rules(url: str) -> None:
    conn = make_connector("OpenAI", url, defaultModel=DEFAULT)
    call = PROVIDER.prepare(conn, body(model="gpt-4", stream=True), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "model": "gpt-4", "stream": False}


# --- streamApi / invokeStream ---------------------------------------------------------------
def test_stream_true_adds_stream_options(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(), stream=True)
    assert sent_json(call) == {
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "model": DEFAULT,
    }
    assert call.stream is True
    assert call.usage_requested is True


def test_explicit_stream_param_overrides_body(conn: Connector) -> None:
    on = PROVIDER.prepare(conn, body(stream=False), stream=True)
    off = PROVIDER.prepare(conn, body(stream=True), stream=False)
    assert sent_json(on) == {
        "messages": MESSAGES,
        "stream": True,
        "model": DEFAULT,
        "stream_options": {"include_usage": True},
    }
    assert sent_json(off) == {"messages": MESSAGES, "stream": False, "model": DEFAULT}


def test_stream_options_merge_into_existing_object(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(stream_options={"include_obfuscation": False}), stream=True)
    sent = sent_json(call)
    assert isinstance(sent, dict)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}


# --- org / project / headers ----------------------------------------------------------------
def test_organization_and_project_headers() -> None:
    conn = make_connector(
        "OpenAI",
        OPENAI_URL,
        headers=CUSTOM_HEADERS,
        organizationId="org-id",
        projectId="proj-id",
    )
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {
        "content-type": "application/json",
        "X-My-Custom-Header": "foo",
        "Authorization": "Bearer 123",
        "OpenAI-Organization": "org-id",
        "OpenAI-Project": "proj-id",
    }


def test_without_custom_headers_only_auth_and_content_type() -> None:
    conn = make_connector("OpenAI", OPENAI_URL)
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {"content-type": "application/json", "Authorization": "Bearer 123"}


def test_header_names_compare_case_insensitively() -> None:
    conn = make_connector(
        "OpenAI",
        OPENAI_URL,
        headers={"authorization": "x", "CONTENT-TYPE": "text/plain", "openai-organization": "o"},
        organizationId="org-id",
    )
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {
        "content-type": "application/json",
        "Authorization": "Bearer 123",
        "OpenAI-Organization": "org-id",
    }


# --- custom URLs (deviation (d)) and verbatim cases ------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://gateway.example.com/proxy/v1/chat/completions",
        "http://localhost:11434/v1/chat/completions/",
        "https://gateway.example.com/openai/v1/completions?tenant=a",
    ],
)
def test_custom_completions_url_gets_stream_rules(url: str) -> None:
    conn = make_connector("OpenAI", url, defaultModel=DEFAULT)
    call = PROVIDER.prepare(conn, body(), stream=True)
    assert sent_json(call) == {
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "model": DEFAULT,
    }


def test_non_completions_url_sends_the_body_as_given() -> None:
    # Kibana's API test: the simulator receives exactly the caller's body (78 bytes)
    conn = make_connector("OpenAI", "http://127.0.0.1:5620/simulator/openai", defaultModel=DEFAULT)
    raw = '{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Hello world"}]}'
    for stream in (False, True):
        call = PROVIDER.prepare(conn, raw, stream=stream)
        assert call.body == raw.encode()
        assert len(call.body) == 78
        assert call.stream is False


def test_non_completions_url_still_injects_model() -> None:
    conn = make_connector("OpenAI", "https://example.com/v1/responses", defaultModel=DEFAULT)
    call = PROVIDER.prepare(conn, body(stream=True), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "stream": True, "model": DEFAULT}
    assert call.stream is True  # the caller's own flag is what the upstream sees


def test_streams_on() -> None:
    assert streams_on(OPENAI_URL)
    assert streams_on(OPENAI_LEGACY_URL)
    assert streams_on("http://h/x/chat/completions")
    assert not streams_on("http://h/x/chat/completions-v2")
    assert not streams_on("http://h/x/not-completions")
    assert not streams_on("http://h/")
    assert not streams_on("http://[::1")  # unparsable: no rules, no exception


@pytest.mark.parametrize("raw", ['{"messages": [', "not json", "", "[1, 2]", "null", '"text"'])
def test_malformed_or_non_object_json_is_untouched(conn: Connector, raw: str) -> None:
    call = PROVIDER.prepare(conn, raw, stream=True)
    assert call.body == raw.encode()
    assert call.json_body is None
    assert call.model is None
    assert call.stream is False
    assert call.headers["Authorization"] == "Bearer 123"


# --- tool-parameter stripping ---------------------------------------------------------------
TOOL = {"type": "function", "function": {"name": "f", "parameters": {}}}
FUNCTION = {"name": "f", "parameters": {}}


@pytest.mark.parametrize("tools", [None, [], {}])
def test_tool_params_dropped_without_tools(conn: Connector, tools: object) -> None:
    fields: dict[str, object] = {"tool_choice": "auto", "parallel_tool_calls": True}
    if tools is not None:
        fields["tools"] = tools
    sent = sent_json(PROVIDER.prepare(conn, body(model="m", **fields), stream=False))
    assert isinstance(sent, dict)
    assert "tool_choice" not in sent
    assert "parallel_tool_calls" not in sent


def test_tool_params_kept_with_tools(conn: Connector) -> None:
    fields = {"tools": [TOOL], "tool_choice": "auto", "parallel_tool_calls": False}
    sent = sent_json(PROVIDER.prepare(conn, body(model="m", **fields), stream=False))
    assert sent == {"messages": MESSAGES, "model": "m", **fields, "stream": False}


def test_function_call_dropped_without_functions_kept_with(conn: Connector) -> None:
    without = sent_json(PROVIDER.prepare(conn, body(function_call="auto"), stream=False))
    assert isinstance(without, dict)
    assert "function_call" not in without
    with_functions = sent_json(
        PROVIDER.prepare(conn, body(functions=[FUNCTION], function_call="auto"), stream=False)
    )
    assert isinstance(with_functions, dict)
    assert with_functions["function_call"] == "auto"


def test_tool_stripping_applies_to_custom_urls_too() -> None:
    conn = make_connector("OpenAI", "https://example.com/llm", defaultModel=DEFAULT)
    sent = sent_json(PROVIDER.prepare(conn, body(tool_choice="none"), stream=False))
    assert sent == {"messages": MESSAGES, "model": DEFAULT}


# --- invokeAsyncIterator --------------------------------------------------------------------
def test_async_iterator_body_and_url(conn: Connector) -> None:
    call = PROVIDER.prepare_async_iterator(
        conn, {"messages": MESSAGES, "temperature": 0}, default_model="builtin"
    )
    assert sent_json(call) == {
        "messages": MESSAGES,
        "temperature": 0,
        "stream": True,
        "model": DEFAULT,
    }
    assert call.url == OPENAI_URL
    assert call.stream is True
    assert call.usage_requested is False
    assert call.headers["Authorization"] == "Bearer 123"


def test_async_iterator_model_fallbacks(conn: Connector) -> None:
    own = PROVIDER.prepare_async_iterator(
        conn, {"messages": MESSAGES, "model": "gpt-4o"}, default_model="builtin"
    )
    configured = PROVIDER.prepare_async_iterator(conn, {"messages": MESSAGES}, default_model="b")
    assert own.model == "gpt-4o"
    assert configured.model == DEFAULT


def test_async_iterator_drops_caller_only_params(conn: Connector) -> None:
    call = PROVIDER.prepare_async_iterator(
        conn,
        {"messages": MESSAGES, "timeout": 5, "signal": "x", "telemetryMetadata": {}},
        default_model="builtin",
    )
    assert sent_json(call) == {"messages": MESSAGES, "stream": True, "model": DEFAULT}


@pytest.mark.parametrize(
    ("api_url", "posted"),
    [
        (OPENAI_URL, OPENAI_URL),
        (
            "http://localhost:1234/v1/chat/completions/",
            "http://localhost:1234/v1/chat/completions/",
        ),
        ("http://localhost:11434/v1", "http://localhost:11434/v1/chat/completions"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions"),
    ],
)
def test_sdk_chat_url(api_url: str, posted: str) -> None:
    assert sdk_chat_url(api_url) == posted
