"""Registry, shared helpers and properties that hold for every provider."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrelay.domain.connectors import Connector
from llmrelay.domain.usage import usage_from_payload
from llmrelay.errors import ConnectorValidationError
from llmrelay.providers import (
    PROVIDERS,
    AzureProvider,
    OpenAIProvider,
    OtherProvider,
    Provider,
    provider_for,
)
from llmrelay.providers.base import encode_text, merge_headers
from tests.helpers.soak import scaled
from tests.providers import AZURE_URL, OPENAI_URL, OTHER_URL, make_connector


def test_registry_serves_each_provider_once() -> None:
    assert isinstance(provider_for("OpenAI"), OpenAIProvider)
    assert isinstance(provider_for("Azure OpenAI"), AzureProvider)
    assert isinstance(provider_for("Other"), OtherProvider)
    assert provider_for("Other") is provider_for("Other")
    assert set(PROVIDERS) == {"OpenAI", "Azure OpenAI", "Other"}


def test_registry_takes_a_connector() -> None:
    conn = make_connector("Azure OpenAI", AZURE_URL)
    assert provider_for(conn).api_provider == "Azure OpenAI"


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("bad-one", "API Provider is not supported: bad-one"),
        ("", "API Provider is not supported"),
    ],
)
def test_registry_rejects_unknown_providers(name: str, detail: str) -> None:
    with pytest.raises(ConnectorValidationError) as caught:
        provider_for(name)
    assert caught.value.kind == "config"
    assert caught.value.detail == f"Error configuring OpenAI action: Error: {detail}"
    assert str(caught.value) == (
        f"error validating connector type config: Error configuring OpenAI action: Error: {detail}"
    )


def test_providers_are_frozen() -> None:
    provider = OpenAIProvider()
    with pytest.raises(AttributeError):
        provider.api_provider = "Other"  # type: ignore[misc]


def test_merge_headers_later_wins_one_spelling() -> None:
    merged = merge_headers(
        {"Content-Type": "application/json", "X-A": "1"},
        None,
        {"content-TYPE": "text/plain", "x-a": "2", "X-B": "3"},
        [("CONTENT-type", "application/json")],
    )
    assert merged == {"CONTENT-type": "application/json", "x-a": "2", "X-B": "3"}


def test_encode_text_replaces_lone_surrogates_like_node() -> None:
    assert encode_text("a\ud800b") == "a\ufffdb".encode()
    assert encode_text("\U0001f600") == "\U0001f600".encode()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}, (3, 4, 7)),
        ({"usage": {"total_tokens": 7}}, (0, 0, 7)),
        ({"usage": {"prompt_tokens": 3.0, "completion_tokens": True}}, (3, 0, 3)),
        ({"usage": {}}, (0, 0, 0)),  # present but empty: known, zeros (Kibana's rule)
        # the Responses API's names for the same numbers
        ({"usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}}, (5, 2, 7)),
        ({"usage": {"input_tokens": 5, "output_tokens": 2}}, (5, 2, 7)),
    ],
)
def test_usage_from_payload(payload: object, expected: tuple[int, int, int]) -> None:
    usage = usage_from_payload(payload)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == expected
    assert usage.usage_source == "response"
    assert usage_from_payload(payload, source="stream").usage_source == "stream"


@pytest.mark.parametrize("payload", [None, "text", [], {}, {"usage": None}, {"usage": []}])
def test_usage_missing(payload: object) -> None:
    assert usage_from_payload(payload).usage_source == "missing"


# --- properties -----------------------------------------------------------------------------
CONNECTORS: list[tuple[Provider, Connector]] = [
    (OpenAIProvider(), make_connector("OpenAI", OPENAI_URL)),
    (OpenAIProvider(), make_connector("OpenAI", "https://example.com/custom")),
    (AzureProvider(), make_connector("Azure OpenAI", AZURE_URL, defaultModel="m")),
    (AzureProvider(), make_connector("Azure OpenAI", "https://example.com/other")),
    (OtherProvider(), make_connector("Other", OTHER_URL, defaultModel="local")),
]

_json_leaf: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["model", "stream", "stream_options", "tools", "tool_choice", "x"])
            | st.text(max_size=6),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
bodies = st.text() | json_values.map(json.dumps) | st.binary().map(lambda b: b.decode("latin-1"))


def _is_json_object(text: str) -> bool:
    def no_constants(name: str) -> object:
        raise ValueError(name)

    try:
        return isinstance(json.loads(text, parse_constant=no_constants), dict)
    except (ValueError, RecursionError):
        return False


_STRIPPED = {"tool_choice", "parallel_tool_calls", "function_call"}
_REWRITTEN = {"model", "stream", "stream_options"}


@settings(max_examples=scaled(300))
@given(body=bodies, stream=st.booleans(), which=st.integers(0, len(CONNECTORS) - 1))
def test_prepare_never_raises_and_forwards_non_objects_verbatim(
    body: str, stream: bool, which: int
) -> None:
    provider, conn = CONNECTORS[which]
    call = provider.prepare(conn, body, stream=stream)
    assert isinstance(call.body, bytes)
    if not _is_json_object(body):
        assert call.body == encode_text(body)
        assert call.json_body is None
        assert call.model is None
        return
    try:
        original = orjson.loads(body)
    except orjson.JSONDecodeError:  # e.g. lone surrogate escapes: valid to Python, not to us
        assert call.body == encode_text(body)
        return
    sent = orjson.loads(call.body)
    assert call.json_body == sent
    for key, value in original.items():
        if key in _STRIPPED:
            continue
        assert key in sent
        if key not in _REWRITTEN:
            assert sent[key] == value
