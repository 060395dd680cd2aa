"""Kibana's connector unit tests (``openai.test.ts``) run over HTTP: for each provider and
sub-action, the exact bytes (key order included) and headers the model server receives.

Kibana compares ``JSON.stringify`` strings: the body keeps the caller's keys in their
order, and ``stream`` / ``stream_options`` / ``model`` are appended (a key already there
keeps its place). Kibana's OpenAI tests use ``https://api.openai.com/v1/chat/completions``;
llmrelay applies the same stream rules to any ``/chat/completions`` URL (docs/deviations.md
d), so the FakeUpstream's URL stands in for it.
"""

from __future__ import annotations

import orjson
import pytest

from llmrelay.testing import FakeUpstream
from tests.kibana.conftest import (
    MESSAGES,
    OTHER_SAMPLE,
    SAMPLE,
    USAGE_CHUNK,
    Connectors,
    Kibana,
    M,
    execute,
    sent,
)


def case_ids(cases: list[tuple[str, object, bytes]]) -> list[str]:
    return [f"{sub_action}-{n}" for n, (sub_action, _, _) in enumerate(cases)]


def body(*parts: str) -> bytes:
    """``'"messages":M', '"stream":false'`` -> ``b'{"messages":[...],"stream":false}'``."""
    return ("{" + ",".join(parts) + "}").encode()


# --- OpenAI --------------------------------------------------------------------------------
OPENAI_CASES = [
    # runApi: uses the default model if none is supplied
    (
        "run",
        {"body": f'{{"messages":{M}}}'},
        body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"'),
    ),
    # runApi: the body's model wins over the default model
    (
        "run",
        {"body": f'{{"model":"gpt-3.5-turbo","messages":{M}}}'},
        body('"model":"gpt-3.5-turbo"', f'"messages":{M}', '"stream":false'),
    ),
    # runApi: a stream flag in the body is overridden (in its place)
    (
        "run",
        {"body": f'{{"model":"gpt-3.5-turbo","messages":{M},"stream":true}}'},
        body('"model":"gpt-3.5-turbo"', f'"messages":{M}', '"stream":false'),
    ),
    (
        "test",
        {"body": f'{{"messages":{M}}}'},
        body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"'),
    ),
    # streamApi stream=false / stream=true
    (
        "stream",
        {"body": f'{{"messages":{M}}}', "stream": False},
        body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"'),
    ),
    (
        "stream",
        {"body": f'{{"messages":{M}}}', "stream": True},
        body(f'"messages":{M}', '"stream":true', USAGE_CHUNK, '"model":"gpt-4.1"'),
    ),
    # streamApi: the explicit stream param overrides the body's
    (
        "stream",
        {"body": f'{{"model":"gpt-3.5-turbo","messages":{M},"stream":false}}', "stream": True},
        body('"model":"gpt-3.5-turbo"', f'"messages":{M}', '"stream":true', USAGE_CHUNK),
    ),
    # invokeStream, also with a timeout (never sent upstream)
    (
        "invokeStream",
        SAMPLE,
        body(f'"messages":{M}', '"stream":true', USAGE_CHUNK, '"model":"gpt-4.1"'),
    ),
    (
        "invokeStream",
        {**SAMPLE, "timeout": 180000},
        body(f'"messages":{M}', '"stream":true', USAGE_CHUNK, '"model":"gpt-4.1"'),
    ),
    # invokeAI, also with a timeout and telemetry metadata (never sent upstream)
    ("invokeAI", SAMPLE, body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"')),
    (
        "invokeAI",
        {**SAMPLE, "timeout": 180000, "telemetryMetadata": {"pluginId": "security"}},
        body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"'),
    ),
    # invokeAI keeps the caller's key order; numbers given as strings are sent as numbers
    (
        "invokeAI",
        {"temperature": "0.2", "model": "gpt-4o", "messages": MESSAGES, "n": 1},
        body('"temperature":0.2', '"model":"gpt-4o"', f'"messages":{M}', '"n":1', '"stream":false'),
    ),
    (
        "invokeAI",
        {"messages": [{"content": "Hello world", "role": "user"}]},
        body(
            '"messages":[{"content":"Hello world","role":"user"}]',
            '"stream":false',
            '"model":"gpt-4.1"',
        ),
    ),
    # invokeAsyncIterator: what the OpenAI SDK sends (no stream_options)
    ("invokeAsyncIterator", SAMPLE, body(f'"messages":{M}', '"stream":true', '"model":"gpt-4.1"')),
]


@pytest.mark.parametrize(
    ("sub_action", "params", "expected"), OPENAI_CASES, ids=case_ids(OPENAI_CASES)
)
def test_openai_request(
    kibana: Kibana,
    connectors: Connectors,
    upstream: FakeUpstream,
    sub_action: str,
    params: object,
    expected: bytes,
) -> None:
    request = sent(kibana, upstream, connectors.openai, sub_action, params)
    assert request.body == expected
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer 123"  # the custom one is overridden
    assert request.headers["x-my-custom-header"] == "foo"
    assert request.headers["content-type"] == "application/json"


def test_openai_organization_and_project_headers(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    request = sent(kibana, upstream, connectors.openai_org, "run", {"body": f'{{"messages":{M}}}'})
    assert request.body == body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"')
    assert request.headers["openai-organization"] == "org-id"
    assert request.headers["openai-project"] == "proj-id"
    assert request.headers["authorization"] == "Bearer 123"
    assert request.headers["x-my-custom-header"] == "foo"


def test_openai_without_custom_headers(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    request = sent(
        kibana, upstream, connectors.openai_plain, "run", {"body": f'{{"messages":{M}}}'}
    )
    assert request.body == body(f'"messages":{M}', '"stream":false', '"model":"gpt-4.1"')
    assert request.headers["authorization"] == "Bearer 123"
    assert request.headers["content-type"] == "application/json"
    assert not {"x-my-custom-header", "openai-organization", "openai-project"} & set(
        request.headers
    )


def test_invoke_ai_answer(kibana: Kibana, connectors: Connectors, upstream: FakeUpstream) -> None:
    upstream.reply_json(
        {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": "  Hello! How can I assist you today?\n",
                    }
                }
            ],
            "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
        }
    )
    result = execute(kibana, connectors.openai, "invokeAI", SAMPLE).json()
    assert result["data"] == {
        "message": "Hello! How can I assist you today?",
        "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
    }


# --- Other (OpenAI-compatible) -------------------------------------------------------------
OTHER_CASES = [
    (
        "run",
        {"body": f'{{"model":"local-model","messages":{M}}}'},
        body('"model":"local-model"', f'"messages":{M}', '"stream":false'),
    ),
    (
        "run",
        {"body": f'{{"model":"llama-3.1","messages":{M},"stream":true}}'},
        body('"model":"llama-3.1"', f'"messages":{M}', '"stream":false'),
    ),
    (
        "stream",
        {"body": f'{{"model":"local-model","messages":{M}}}', "stream": False},
        body('"model":"local-model"', f'"messages":{M}', '"stream":false'),
    ),
    # no stream_options for Other: compatible servers may refuse them
    (
        "stream",
        {"body": f'{{"model":"local-model","messages":{M}}}', "stream": True},
        body('"model":"local-model"', f'"messages":{M}', '"stream":true'),
    ),
    (
        "stream",
        {"body": f'{{"model":"llama-3.1","messages":{M},"stream":false}}', "stream": True},
        body('"model":"llama-3.1"', f'"messages":{M}', '"stream":true'),
    ),
    (
        "invokeStream",
        OTHER_SAMPLE,
        body('"model":"local-model"', f'"messages":{M}', '"stream":true'),
    ),
    ("invokeAI", OTHER_SAMPLE, body('"model":"local-model"', f'"messages":{M}', '"stream":false')),
    # llmrelay injects the default model on every path (docs/deviations.md c)
    ("invokeAI", SAMPLE, body(f'"messages":{M}', '"stream":false', '"model":"local-model"')),
    (
        "invokeAsyncIterator",
        OTHER_SAMPLE,
        body('"model":"local-model"', f'"messages":{M}', '"stream":true'),
    ),
]


@pytest.mark.parametrize(
    ("sub_action", "params", "expected"), OTHER_CASES, ids=case_ids(OTHER_CASES)
)
def test_other_request(
    kibana: Kibana,
    connectors: Connectors,
    upstream: FakeUpstream,
    sub_action: str,
    params: object,
    expected: bytes,
) -> None:
    request = sent(kibana, upstream, connectors.other, sub_action, params)
    assert request.body == expected
    assert request.headers["authorization"] == "Bearer 123"
    assert request.headers["x-my-custom-header"] == "foo"
    assert request.headers["content-type"] == "application/json"


# --- Azure OpenAI --------------------------------------------------------------------------
AZURE_CASES = [
    ("run", {"body": f'{{"messages":{M}}}'}, body(f'"messages":{M}', '"stream":false')),
    (
        "run",
        {"body": f'{{"messages":{M},"stream":true}}'},
        body(f'"messages":{M}', '"stream":false'),
    ),
    (
        "stream",
        {"body": f'{{"messages":{M}}}', "stream": False},
        body(f'"messages":{M}', '"stream":false'),
    ),
    (
        "stream",
        {"body": f'{{"messages":{M}}}', "stream": True},
        body(f'"messages":{M}', '"stream":true', USAGE_CHUNK),
    ),
    (
        "stream",
        {"body": f'{{"messages":{M},"stream":false}}', "stream": True},
        body(f'"messages":{M}', '"stream":true', USAGE_CHUNK),
    ),
    ("invokeStream", SAMPLE, body(f'"messages":{M}', '"stream":true', USAGE_CHUNK)),
    # Azure infers the model from the deployment: none is added...
    ("invokeAI", SAMPLE, body(f'"messages":{M}', '"stream":false')),
    # ...except by the SDK path, which always names one
    ("invokeAsyncIterator", SAMPLE, body(f'"messages":{M}', '"stream":true', '"model":"gpt-4.1"')),
]


@pytest.mark.parametrize(
    ("sub_action", "params", "expected"), AZURE_CASES, ids=case_ids(AZURE_CASES)
)
def test_azure_request(
    kibana: Kibana,
    connectors: Connectors,
    upstream: FakeUpstream,
    sub_action: str,
    params: object,
    expected: bytes,
) -> None:
    request = sent(kibana, upstream, connectors.azure, sub_action, params)
    assert request.body == expected
    assert request.path == "/openai/deployments/NEW-DEPLOYMENT-321/chat/completions"
    assert request.query == {"api-version": "2023-05-15"}
    assert request.headers["api-key"] == "123"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers


def test_a_body_that_is_not_json_is_sent_unchanged(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    execute(kibana, connectors.openai, "run", {"body": "not json {"})
    assert upstream.last_request.body == b"not json {"


def test_bodies_are_compact_json(
    kibana: Kibana, connectors: Connectors, upstream: FakeUpstream
) -> None:
    """``JSON.stringify`` has no spaces; non-ASCII text is sent as UTF-8, not escaped."""
    params = {"messages": [{"role": "user", "content": "Grüß dich, 世界"}]}
    request = sent(kibana, upstream, connectors.other, "invokeAI", params)
    assert (
        request.body
        == (
            '{"messages":[{"role":"user","content":"Grüß dich, 世界"}],"stream":false,'
            '"model":"local-model"}'
        ).encode()
    )
    assert orjson.loads(request.body) == {**params, "stream": False, "model": "local-model"}
