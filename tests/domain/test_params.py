"""Execute envelope and sub-action params (spec §2.1, §5.6; checklist 43, 55)."""

from __future__ import annotations

import pytest

from llmrelay.domain.params import (
    DashboardParams,
    InvokeAIParams,
    RunParams,
    StreamParams,
    invoke_body,
    validate_execute_params,
    validate_params,
)
from llmrelay.domain.subactions import SUB_ACTIONS
from llmrelay.domain.validation import StrictModel
from llmrelay.errors import ConnectorValidationError, LlmrelayError, SubActionParamsError

MESSAGES = [{"role": "user", "content": "Hello world"}]


def validate_sub_action_params(sub_action: str, raw: object) -> StrictModel:
    """What the executor does with a registered sub-action's params."""
    return validate_params(SUB_ACTIONS[sub_action].params, raw)


def envelope_error(raw: object) -> str:
    with pytest.raises(ConnectorValidationError) as info:
        validate_execute_params(raw)
    assert info.value.kind == "params"
    return str(info.value)


def params_error(sub_action: str, raw: object) -> str:
    with pytest.raises(SubActionParamsError) as info:
        validate_sub_action_params(sub_action, raw)
    return str(info.value)


# --- envelope ---------------------------------------------------------------------------


def test_empty_params() -> None:
    # checklist 55
    assert envelope_error({}) == "error validating action params: [subAction]: Required"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"subAction": 1}, "[subAction]: Expected string, received number"),
        (
            {"subAction": "run", "subActionParams": []},
            "[subActionParams]: Expected object, received array",
        ),
        (
            {"subAction": "run", "subActionParams": "x"},
            "[subActionParams]: Expected object, received string",
        ),
        (None, "Expected object, received null"),
        ("run", "Expected object, received string"),
    ],
)
def test_bad_envelopes(raw: object, message: str) -> None:
    assert envelope_error(raw) == "error validating action params: " + message


def test_envelope_allows_extra_keys_and_null_params() -> None:
    assert validate_execute_params({"subAction": "test", "extra": 1}) == ("test", None)
    assert validate_execute_params({"subAction": "x", "subActionParams": None}) == ("x", None)
    params = {"body": "{}"}
    sub_action, got = validate_execute_params({"subAction": "run", "subActionParams": params})
    assert (sub_action, got) == ("run", params)
    assert got is not params  # a copy: callers may not mutate the request


def test_unknown_sub_action_is_left_to_the_executor() -> None:
    assert validate_execute_params({"subAction": "invalidAction"})[0] == "invalidAction"
    assert "invalidAction" not in SUB_ACTIONS


def test_sub_actions_are_kibanas_seven() -> None:
    assert tuple(SUB_ACTIONS) == (
        "run",
        "test",
        "stream",
        "getDashboard",
        "invokeAI",
        "invokeStream",
        "invokeAsyncIterator",
    )
    for name in SUB_ACTIONS:
        with pytest.raises(SubActionParamsError):
            validate_sub_action_params(name, {"nope": 1})


# --- run / test / stream ----------------------------------------------------------------


@pytest.mark.parametrize("sub_action", ["run", "test"])
def test_run_params(sub_action: str) -> None:
    params = validate_sub_action_params(
        sub_action,
        {
            "body": '{"model":"x"}',
            "timeout": "1000",
            "signal": object(),
            "telemetryMetadata": {"pluginId": "p", "aggregateBy": "a"},
        },
    )
    assert isinstance(params, RunParams)
    assert params.timeout == 1000
    assert params.telemetryMetadata is not None
    assert params.telemetryMetadata.pluginId == "p"
    assert "signal" not in params.model_dump()


def test_run_body_required_and_string() -> None:
    assert params_error("run", {}) == "Request validation failed ([body]: Required)"
    assert params_error("run", None) == "Request validation failed ([body]: Required)"
    assert params_error("run", {"body": {"a": 1}}) == (
        "Request validation failed ([body]: Expected string, received object)"
    )


def test_run_rejects_unknown_keys_and_bad_telemetry() -> None:
    assert params_error("run", {"body": "{}", "model": "x"}) == (
        'Request validation failed (Unrecognized keys: "model")'
    )
    assert params_error("run", {"body": "{}", "telemetryMetadata": {"x": 1}}) == (
        'Request validation failed ([telemetryMetadata]: Unrecognized keys: "x")'
    )


def test_run_timeout_must_be_numeric() -> None:
    assert params_error("run", {"body": "{}", "timeout": "soon"}) == (
        "Request validation failed ([timeout]: Expected number, received string)"
    )


def test_stream_defaults_to_false_and_is_strictly_boolean() -> None:
    params = validate_sub_action_params("stream", {"body": "{}"})
    assert isinstance(params, StreamParams)
    assert params.stream is False
    streamed = validate_sub_action_params("stream", {"body": "{}", "stream": True})
    assert isinstance(streamed, StreamParams) and streamed.stream is True
    assert params_error("stream", {"body": "{}", "stream": "true"}) == (
        "Request validation failed ([stream]: Expected boolean, received string)"
    )


def test_dashboard_params() -> None:
    params = validate_sub_action_params(
        "getDashboard", {"dashboardId": "generative-ai-token-usage-openai-default"}
    )
    assert isinstance(params, DashboardParams)
    assert params_error("getDashboard", {}) == "Request validation failed ([dashboardId]: Required)"
    assert params_error("getDashboard", {"dashboardId": "d", "x": 1}) == (
        'Request validation failed (Unrecognized keys: "x")'
    )


# --- invokeAI family ----------------------------------------------------------------------


@pytest.mark.parametrize("sub_action", ["invokeAI", "invokeStream", "invokeAsyncIterator"])
def test_max_tokens_is_rejected(sub_action: str) -> None:
    # checklist 43
    message = params_error(sub_action, {"messages": MESSAGES, "max_tokens": 10})
    assert message == 'Request validation failed (Unrecognized keys: "max_tokens")'


@pytest.mark.parametrize(
    ("content", "received"),
    [(None, "null"), ([{"type": "text", "text": "hi"}], "array"), (1, "number")],
)
def test_content_must_be_a_string(content: object, received: str) -> None:
    message = params_error("invokeAI", {"messages": [{"role": "user", "content": content}]})
    assert (
        message
        == f"Request validation failed ([messages.0.content]: Expected string, received {received})"
    )


def test_messages_are_strict() -> None:
    message = params_error(
        "invokeAI", {"messages": [{"role": "user", "content": "x", "refusal": None}]}
    )
    assert message == 'Request validation failed ([messages.0]: Unrecognized keys: "refusal")'


def test_full_invoke_params_and_body() -> None:
    raw = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1", "name": "f"},
        ],
        "model": "gpt-4o",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"a": {"default": None}}},
                    "strict": True,
                    "x-extra": 1,
                },
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "f", "keep": 1}, "drop": 2},
        "n": "1",
        "stop": ["\n"],
        "temperature": "0.2",
        "response_format": {"type": "json_object"},
        "signal": object(),
        "timeout": 5,
        "telemetryMetadata": {"pluginId": "security"},
    }
    params = validate_sub_action_params("invokeAI", raw)
    assert isinstance(params, InvokeAIParams)
    body = invoke_body(params)
    assert body == {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c1", "function": {"arguments": "{}", "name": "f"}, "type": "function"}
                ],
            },
            {"role": "tool", "content": "42", "name": "f", "tool_call_id": "c1"},
        ],
        "model": "gpt-4o",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"a": {"default": None}}},
                    "strict": True,
                    "x-extra": 1,
                },
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "f", "keep": 1}},
        "n": 1,
        "stop": ["\n"],
        "temperature": 0.2,
        "response_format": {"type": "json_object"},
    }


def test_legacy_functions() -> None:
    function = {
        "name": "f",
        "description": "d",
        "parameters": {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
            "required": [],
        },
    }
    raw = {"messages": MESSAGES, "functions": [function], "function_call": {"name": "f", "x": 1}}
    body = invoke_body(validate_params(InvokeAIParams, raw))
    assert body["functions"] == [function]
    assert body["function_call"] == {"name": "f"}
    incomplete = {**function, "parameters": {"type": "object"}}
    message = params_error("invokeAI", {"messages": MESSAGES, "functions": [incomplete]})
    assert "[functions.0.parameters.$schema]: Required" in message


@pytest.mark.parametrize(
    ("patch", "detail"),
    [
        (
            {"tool_choice": "any"},
            '[tool_choice]: Invalid input: expected one of "none", "auto", "required" or an object',
        ),
        (
            {"tool_choice": {"type": "function", "function": {}}},
            "[tool_choice]: Invalid input ([function.name]: Required)",
        ),
        ({"tool_choice": 3}, "[tool_choice]: Expected string or object, received number"),
        (
            {"function_call": "required"},
            '[function_call]: Invalid input: expected one of "none", "auto" or an object',
        ),
        ({"stop": [1]}, "[stop]: Expected string or array of strings, received array"),
        (
            {"tools": [{"type": "retrieval", "function": {"name": "f", "parameters": {}}}]},
            "[tools.0.type]: Input should be 'function'",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            "[tools.0.function.parameters]: Required",
        ),
        ({"n": None}, "[n]: Expected number, received null"),
        ({"messages": "hi"}, "[messages]: Expected array, received string"),
    ],
)
def test_invoke_errors(patch: dict[str, object], detail: str) -> None:
    assert params_error("invokeAI", {"messages": MESSAGES, **patch}) == (
        f"Request validation failed ({detail})"
    )


def test_nullable_fields_accept_null_and_are_dropped_from_the_body() -> None:
    params = validate_sub_action_params(
        "invokeAI", {"messages": MESSAGES, "stop": None, "response_format": None, "signal": None}
    )
    assert invoke_body(params) == {"messages": MESSAGES}  # type: ignore[arg-type]


def test_several_param_issues_are_listed() -> None:
    message = params_error("invokeAI", {"messages": [{"role": 1}], "max_tokens": 1})
    assert message == (
        "Request validation failed ([messages.0.role]: Expected string, received number\n"
        "- [messages.0.content]: Required\n"
        '- Unrecognized keys: "max_tokens")'
    )


def test_sub_action_error_is_a_value_error_and_ours() -> None:
    err = SubActionParamsError("x")
    assert isinstance(err, ValueError)
    assert isinstance(err, LlmrelayError)
    assert err.detail == "x"
