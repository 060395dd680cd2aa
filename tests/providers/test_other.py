"""Other (OpenAI-compatible) provider: Kibana's openai.test.ts / other_openai_utils cases."""

from __future__ import annotations

import orjson
import pytest

from llmrelay.domain.connectors import Connector
from llmrelay.providers.other import OtherProvider
from tests.providers import CUSTOM_HEADERS, MESSAGES, OTHER_URL, make_connector, sent_json

PROVIDER = OtherProvider()
LOCAL_MODEL = "local-model"


def body(**fields: object) -> str:
    return orjson.dumps({"messages": MESSAGES, **fields}).decode()


@pytest.fixture
def conn() -> Connector:
    return make_connector("Other", OTHER_URL, headers=CUSTOM_HEADERS, defaultModel=LOCAL_MODEL)


def test_run_sends_stream_false_with_body_model(conn: Connector) -> None:
    call = PROVIDER.prepare(conn, body(model="llama3"), stream=False)
    assert sent_json(call) == {"messages": MESSAGES, "model": "llama3", "stream": False}
    assert call.headers == {
        "content-type": "application/json",
        "X-My-Custom-Header": "foo",
        "Authorization": "Bearer 123",
    }


def test_stream_flag_overrides_body(conn: Connector) -> None:
    on = PROVIDER.prepare(conn, body(model="m", stream=False), stream=True)
    off = PROVIDER.prepare(conn, body(model="m", stream=True), stream=False)
    assert sent_json(on) == {"messages": MESSAGES, "model": "m", "stream": True}
    assert sent_json(off) == {"messages": MESSAGES, "model": "m", "stream": False}
    assert on.stream is True
    assert on.usage_requested is False


def test_never_adds_stream_options(conn: Connector) -> None:
    sent = sent_json(PROVIDER.prepare(conn, body(model="m"), stream=True))
    assert isinstance(sent, dict)
    assert "stream_options" not in sent


@pytest.mark.parametrize("url", ["http://localhost:1234/anything", "https://llm.internal/v1/x"])
def test_stream_applies_on_any_url(url: str) -> None:
    conn = make_connector("Other", url, defaultModel=LOCAL_MODEL)
    sent = sent_json(PROVIDER.prepare(conn, body(), stream=True))
    assert sent == {"messages": MESSAGES, "stream": True, "model": LOCAL_MODEL}


@pytest.mark.parametrize("stream", [False, True])
def test_default_model_injected_on_every_path(conn: Connector, stream: bool) -> None:
    # deviation (c): Kibana's run/test/invokeAI path skips the injection
    call = PROVIDER.prepare(conn, body(), stream=stream)
    assert sent_json(call) == {"messages": MESSAGES, "stream": stream, "model": LOCAL_MODEL}
    assert call.model == LOCAL_MODEL


@pytest.mark.parametrize("empty", ["", None])
def test_empty_model_counts_as_missing(conn: Connector, empty: str | None) -> None:
    call = PROVIDER.prepare(conn, body(model=empty), stream=False)
    assert call.model == LOCAL_MODEL


def test_body_model_never_overridden(conn: Connector) -> None:
    assert PROVIDER.prepare(conn, body(model="mistral"), stream=True).model == "mistral"


@pytest.mark.parametrize("raw", ['{"model": ', "hello", "42"])
def test_malformed_json_untouched(conn: Connector, raw: str) -> None:
    call = PROVIDER.prepare(conn, raw, stream=True)
    assert call.body == raw.encode()
    assert call.json_body is None


def test_tool_params_stripped_without_tools_kept_with(conn: Connector) -> None:
    knobs = {"tool_choice": "auto", "parallel_tool_calls": True, "function_call": "auto"}
    stripped = sent_json(PROVIDER.prepare(conn, body(model="m", **knobs), stream=False))
    assert stripped == {"messages": MESSAGES, "model": "m", "stream": False}
    tools = [{"type": "function", "function": {"name": "f"}}]
    functions = [{"name": "f", "parameters": {}}]
    kept = sent_json(
        PROVIDER.prepare(
            conn, body(model="m", tools=tools, functions=functions, **knobs), stream=False
        )
    )
    assert isinstance(kept, dict)
    assert {k: kept[k] for k in knobs} == knobs


def test_pki_without_api_key_sends_no_authorization() -> None:
    conn = make_connector(
        "Other",
        OTHER_URL,
        api_key=None,
        pki=True,
        defaultModel=LOCAL_MODEL,
        verificationMode="full",
    )
    call = PROVIDER.prepare(conn, body(), stream=False)
    assert call.headers == {"content-type": "application/json"}


def test_pki_without_api_key_keeps_custom_authorization() -> None:
    conn = make_connector(
        "Other",
        OTHER_URL,
        api_key=None,
        pki=True,
        defaultModel=LOCAL_MODEL,
        headers={"Authorization": "Basic abc"},
    )
    assert PROVIDER.prepare(conn, body(), stream=False).headers["Authorization"] == "Basic abc"


def test_async_iterator(conn: Connector) -> None:
    call = PROVIDER.prepare_async_iterator(conn, {"messages": MESSAGES}, default_model="gpt-4.1")
    assert call.url == OTHER_URL
    assert sent_json(call) == {"messages": MESSAGES, "stream": True, "model": LOCAL_MODEL}
    assert call.headers["Authorization"] == "Bearer 123"
    assert call.usage_requested is False
