"""Execute params: the framework envelope and the per-sub-action schemas (spec §2.1).

Two error kinds on purpose: a bad envelope is the caller's request being malformed
(``error validating action params: ...``), a bad ``subActionParams`` is reported by the
sub-action as ``Request validation failed (...)`` (spec §5.6), and the HTTP layer maps them
differently. Which sub-action takes which model: :data:`llmrelay.domain.subactions.SUB_ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from llmrelay.domain.validation import (
    Number,
    Passthrough,
    StrictModel,
    Stripping,
    issue,
    issues_from,
    join_issues,
    json_type,
)
from llmrelay.errors import ConnectorValidationError, SubActionParamsError

__all__ = [
    "DashboardParams",
    "InvokeAIParams",
    "RunParams",
    "StreamParams",
    "invoke_body",
    "validate_execute_params",
    "validate_params",
]

_NOT_SENT = frozenset({"signal", "timeout", "telemetryMetadata"})


class TelemetryMetadata(StrictModel):
    """Tags in-process callers attach for Kibana's usage telemetry; recorded, never sent."""

    pluginId: str | None = None
    aggregateBy: str | None = None
    useCase: str | None = None


class _Common(StrictModel):
    """Keys every sub-action accepts besides its own; ``signal`` is accepted and ignored."""

    _nullable: ClassVar[frozenset[str]] = frozenset({"signal"})

    signal: Any = Field(default=None, exclude=True)
    timeout: Number | None = None
    telemetryMetadata: TelemetryMetadata | None = None


class RunParams(_Common):
    """``run`` / ``test``: a JSON body string sent (after provider rules) as is."""

    body: str


class StreamParams(_Common):
    """``stream``: like run, plus the stream flag the provider rules apply."""

    body: str
    stream: bool = False


class FunctionCall(StrictModel):
    arguments: str
    name: str


class ToolCall(StrictModel):
    id: str
    function: FunctionCall
    type: str


class Message(StrictModel):
    """One chat message; ``content`` must be text (Kibana refuses null and arrays)."""

    role: str
    content: str
    name: str | None = None
    function_call: FunctionCall | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class ToolFunction(Passthrough):
    name: str
    description: str | None = None
    parameters: dict[str, Any]
    strict: bool | None = None


class Tool(Passthrough):
    """A tool definition; unknown keys pass through to the model server untouched."""

    type: Literal["function"]
    function: ToolFunction


class ToolChoiceFunction(Passthrough):
    name: str


class ToolChoice(Stripping):
    type: Literal["function"]
    function: ToolChoiceFunction


class FunctionParameters(Passthrough):
    model_config = ConfigDict(serialize_by_alias=True)

    type: str
    properties: dict[str, Any]
    additionalProperties: bool
    schema_: str = Field(alias="$schema")


class FunctionDefinition(Passthrough):
    """Legacy ``functions`` entry (deprecated by OpenAI in favour of ``tools``)."""

    name: str
    description: str
    parameters: FunctionParameters


class FunctionCallChoice(Stripping):
    name: str


def _nested(model: type[ToolChoice] | type[FunctionCallChoice], value: object) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as err:
        detail = "; ".join(issues_from(err))
        raise PydanticCustomError(
            "invalid_union", "Invalid input ({detail})", {"detail": detail}
        ) from None


def _choice(
    allowed: tuple[str, ...], model: type[ToolChoice] | type[FunctionCallChoice]
) -> PlainValidator:
    """A ``"literal" | {object}`` union with one readable message instead of one per branch."""
    names = ", ".join(f'"{name}"' for name in allowed)

    def validate(value: object) -> object:
        if isinstance(value, str):
            if value in allowed:
                return value
            raise PydanticCustomError(
                "invalid_union",
                "Invalid input: expected one of {names} or an object",
                {"names": names},
            )
        if isinstance(value, Mapping):
            return _nested(model, value)
        raise PydanticCustomError(
            "invalid_union",
            "Expected string or object, received {received}",
            {"received": json_type(value)},
        )

    return PlainValidator(validate)


def _stop(value: object) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise PydanticCustomError(
        "invalid_union",
        "Expected string or array of strings, received {received}",
        {"received": json_type(value)},
    )


class InvokeAIParams(_Common):
    """``invokeAI`` / ``invokeStream`` / ``invokeAsyncIterator``: structured chat params.

    There is no ``max_tokens`` (Kibana's schema has none, so the strict schema rejects it).
    """

    _nullable: ClassVar[frozenset[str]] = frozenset({"signal", "stop", "response_format"})

    messages: list[Message]
    model: str | None = None
    tools: list[Tool] | None = None
    # typed Any for serialisation only: the value is a str or a ToolChoice
    tool_choice: Annotated[Any, _choice(("none", "auto", "required"), ToolChoice)] = None
    functions: list[FunctionDefinition] | None = None
    # a str or a FunctionCallChoice
    function_call: Annotated[Any, _choice(("none", "auto"), FunctionCallChoice)] = None
    n: Number | None = None
    stop: Annotated[str | list[str] | None, PlainValidator(_stop)] = None
    temperature: Number | None = None
    response_format: Any = None


class DashboardParams(StrictModel):
    """``getDashboard``: which saved dashboard to check or create."""

    dashboardId: str


_Params = TypeVar("_Params", bound=StrictModel)


def validate_execute_params(raw: object) -> tuple[str, dict[str, object] | None]:
    """The framework envelope ``{subAction, subActionParams}``; extra keys are allowed here.

    Returns the sub-action name and its raw params (a dict copy, or None when absent).
    """
    if not isinstance(raw, Mapping):
        raise ConnectorValidationError("params", f"Expected object, received {json_type(raw)}")
    sub_action = raw.get("subAction")
    if sub_action is None:
        raise ConnectorValidationError("params", issue("subAction", "Required"))
    if not isinstance(sub_action, str):
        raise ConnectorValidationError(
            "params", issue("subAction", f"Expected string, received {json_type(sub_action)}")
        )
    sub_params = raw.get("subActionParams")
    if sub_params is None:
        return sub_action, None
    if not isinstance(sub_params, Mapping):
        raise ConnectorValidationError(
            "params",
            issue("subActionParams", f"Expected object, received {json_type(sub_params)}"),
        )
    return sub_action, dict(sub_params)


def validate_params(schema: type[_Params], raw: object) -> _Params:
    """Validate ``subActionParams`` against a sub-action's schema; ``raw`` None means ``{}``.

    Raises SubActionParamsError.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SubActionParamsError(f"Expected object, received {json_type(raw)}")
    try:
        return schema.model_validate(dict(raw))
    except ValidationError as err:
        raise SubActionParamsError(join_issues(issues_from(err))) from None


def invoke_body(params: InvokeAIParams, raw: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The chat body invokeAI/invokeStream send: params minus signal/timeout/telemetry.

    Keys keep the order of ``raw`` (the caller's params) at every depth, as Kibana's
    ``JSON.stringify`` of the params object does; the provider then appends
    ``stream``/``model``. Values are the validated ones (numbers given as strings become
    numbers, keys a schema strips are gone).
    """
    dumped: dict[str, Any] = params.model_dump(
        mode="json", exclude_none=True, by_alias=True, exclude=set(_NOT_SENT)
    )
    if raw is None:
        return dumped
    ordered: dict[str, Any] = _in_order(dumped, raw)
    return ordered


def _in_order(value: Any, raw: object) -> Any:
    """``value`` with its objects' keys in ``raw``'s order (keys only in ``value`` last)."""
    if isinstance(value, dict) and isinstance(raw, Mapping):
        keys = [key for key in raw if key in value]
        keys += [key for key in value if key not in raw]
        return {key: _in_order(value[key], raw.get(key)) for key in keys}
    if isinstance(value, list) and isinstance(raw, list) and len(raw) == len(value):
        return [_in_order(item, source) for item, source in zip(value, raw, strict=True)]
    return value
