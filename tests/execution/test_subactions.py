"""The sub-action table: the domain's half and execution's half agree, the OpenAPI document
and the params schema come from it, and ``Executor.stream`` keeps its error convention."""

from __future__ import annotations

import pytest

from llmrelay import Executor, LlmrelayError
from llmrelay.domain.params import validate_params
from llmrelay.domain.subactions import INVOKE_ASYNC_ITERATOR, SUB_ACTIONS
from llmrelay.errors import ExecutionFailedError
from llmrelay.execution.subactions import TABLE
from llmrelay.testing import FakeUpstream
from llmrelay.web.openapi import openapi_document
from tests.execution.conftest import ConnectorFactory, EventRecorder

HELLO = [{"role": "user", "content": "Hello world"}]


def test_both_halves_name_the_same_sub_actions() -> None:
    assert list(TABLE) == list(SUB_ACTIONS)
    for name, row in TABLE.items():
        assert row.spec is SUB_ACTIONS[name]
        assert row.spec.name == name


def test_openapi_documents_every_sub_action_with_its_params_model() -> None:
    doc = openapi_document("test")
    schemas = doc["components"]["schemas"]
    branches = schemas["ExecuteParams"]["oneOf"]
    documented = {
        b["properties"]["subAction"]["const"]: b["properties"]["subActionParams"]["$ref"]
        for b in branches
    }
    assert documented == {
        name: f"#/components/schemas/{spec.params.__name__}" for name, spec in SUB_ACTIONS.items()
    }
    for spec in SUB_ACTIONS.values():
        assert schemas[spec.params.__name__]["additionalProperties"] is False
    body = doc["paths"]["/api/actions/connector/{id}/_execute"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ExecuteBody"
    }


def test_openapi_optional_params_are_not_nullable_unless_validation_says_so() -> None:
    schemas = openapi_document("test")["components"]["schemas"]
    invoke = schemas["InvokeAIParams"]["properties"]
    assert invoke["model"] == {"type": "string"}  # optional, but null is refused
    assert "anyOf" not in invoke["model"]
    assert "null" not in str(schemas["RunParams"]["properties"]["timeout"])
    # every $ref points at a component
    text = str(openapi_document("test"))
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


def test_params_schema_is_the_tables() -> None:
    run = SUB_ACTIONS["run"].params
    assert validate_params(run, {"body": "{}"}) == run.model_validate({"body": "{}"})


async def test_stream_yields_parsed_chunks(
    upstream: FakeUpstream, make_connector: ConnectorFactory, events: EventRecorder
) -> None:
    upstream.stream(["Hel", "lo"])
    conn = make_connector("OpenAI", upstream.url())
    async with Executor(sink=events) as executor:
        chunks = [chunk async for chunk in executor.stream(conn, {"messages": HELLO})]
    texts = [
        choice["delta"].get("content")
        for chunk in chunks
        for choice in chunk.get("choices", [])  # type: ignore[attr-defined]
    ]
    assert "".join(t for t in texts if t) == "Hello"
    assert events.last.sub_action == INVOKE_ASYNC_ITERATOR
    assert events.last.outcome == "success"


async def test_stream_failure_raises_an_llmrelay_error_with_the_envelope(
    upstream: FakeUpstream, make_connector: ConnectorFactory, events: EventRecorder
) -> None:
    upstream.fail(429, "Rate limit reached")
    conn = make_connector("OpenAI", upstream.url())
    async with Executor(sink=events) as executor:
        with pytest.raises(ExecutionFailedError) as info:
            async for _ in executor.stream(conn, {"messages": HELLO}):
                pass
    assert isinstance(info.value, LlmrelayError)
    assert info.value.result.error_source == "user"
    assert str(info.value) == "API Error: Too Many Requests - Rate limit reached"
    assert events.last.outcome == "failure"
