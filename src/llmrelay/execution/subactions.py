"""The sub-action table: name -> params model, handler and error rules.

The names and params models come from :data:`llmrelay.domain.subactions.SUB_ACTIONS` (the
OpenAPI document reads them there, without importing execution); this module adds what only
execution knows. Handlers return a success or raise (``llmrelay.errors``); the executor turns
a raised error into the envelope in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import orjson

from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.domain.params import (
    DashboardParams,
    InvokeAIParams,
    RunParams,
    StreamParams,
    invoke_body,
)
from llmrelay.domain.subactions import INVOKE_ASYNC_ITERATOR, SUB_ACTIONS, SubActionSpec
from llmrelay.domain.validation import StrictModel
from llmrelay.execution.calls import Calls
from llmrelay.execution.errors import FRAMEWORK_ERRORS, SDK_ERRORS, ErrorRules
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.streaming import ChunkIterator
from llmrelay.providers.registry import provider_for

__all__ = ["TABLE", "Handler", "SubAction"]

UNRECOGNIZED_FORMAT = (
    "An error occurred sending your message. \n\n"
    "API Error: The response from OpenAI was in an unrecognized format."
)

Handler = Callable[
    [Calls, Connector, StrictModel, object, ExecutionRecord, ExecutionContext],
    Awaitable[ExecutionResult],
]
"""``(calls, connector, validated params, raw params, record, context) -> result``."""


@dataclass(frozen=True, slots=True)
class SubAction:
    """One row of the table: the domain's spec, the handler, how upstream errors read."""

    spec: SubActionSpec
    handler: Handler
    errors: ErrorRules


async def _run(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    assert isinstance(params, RunParams)
    call = provider_for(connector).prepare(connector, params.body, stream=False)
    timeout = calls.timeout(params.timeout, calls.settings.defaultTimeoutMs)
    data = await calls.json_call(connector, call, timeout, record)
    return ExecutionResult("ok", connector.id, data=data)


async def _stream(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    assert isinstance(params, StreamParams)
    call = provider_for(connector).prepare(connector, params.body, stream=params.stream)
    timeout = calls.timeout(params.timeout, 0)
    if not params.stream:
        data = await calls.json_call(connector, call, timeout, record)
        return ExecutionResult("ok", connector.id, data=data)
    stream = await calls.stream_call(connector, call, timeout, record, "stream")
    return ExecutionResult("ok", connector.id, data=stream)


async def _get_dashboard(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    assert isinstance(params, DashboardParams)
    available = await calls.dashboard_access.can_read_usage(ctx)
    return ExecutionResult("ok", connector.id, data={"available": available})


def _invoke_body(params: StrictModel, raw: object) -> tuple[InvokeAIParams, str]:
    """invokeAI/invokeStream: the validated params and the chat body they send."""
    assert isinstance(params, InvokeAIParams)
    body = invoke_body(params, raw if isinstance(raw, dict) else None)
    return params, orjson.dumps(body).decode()


async def _invoke_ai(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    invoke, body = _invoke_body(params, raw)
    call = provider_for(connector).prepare(connector, body, stream=False)
    timeout = calls.timeout(invoke.timeout, calls.settings.defaultTimeoutMs)
    payload = await calls.json_call(connector, call, timeout, record)
    return ExecutionResult("ok", connector.id, data=_invoke_ai_data(payload, record.usage))


async def _invoke_stream(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    invoke, body = _invoke_body(params, raw)
    call = provider_for(connector).prepare(connector, body, stream=True)
    timeout = calls.timeout(invoke.timeout, 0)
    stream = await calls.stream_call(connector, call, timeout, record, "invoke")
    return ExecutionResult("ok", connector.id, data=stream)


async def _invoke_async_iterator(
    calls: Calls,
    connector: Connector,
    params: StrictModel,
    raw: object,
    record: ExecutionRecord,
    ctx: ExecutionContext,
) -> ExecutionResult:
    assert isinstance(params, InvokeAIParams)
    body = invoke_body(params, raw if isinstance(raw, dict) else None)
    call = provider_for(connector).prepare_async_iterator(
        connector, body, default_model=calls.settings.defaultModel
    )
    timeout = calls.timeout(params.timeout, 0)
    stream = await calls.stream_call(connector, call, timeout, record, "stream")
    return ExecutionResult("ok", connector.id, data=ChunkIterator(stream))


def _invoke_ai_data(payload: object, usage: TokenUsage) -> dict[str, object]:
    """invokeAI's answer: the first choice's text (or Kibana's complaint) and the usage."""
    content = None
    if isinstance(payload, dict):
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                content = message.get("content")
    usage_out = usage.as_gen_ai()
    if isinstance(content, str) and content.strip():
        return {"message": content.strip(), "usage": usage_out}
    return {"message": UNRECOGNIZED_FORMAT, "usage": usage_out}


_ROWS: Mapping[str, tuple[Handler, ErrorRules]] = {
    "run": (_run, FRAMEWORK_ERRORS),
    "test": (_run, FRAMEWORK_ERRORS),
    "stream": (_stream, FRAMEWORK_ERRORS),
    "getDashboard": (_get_dashboard, FRAMEWORK_ERRORS),
    "invokeAI": (_invoke_ai, FRAMEWORK_ERRORS),
    "invokeStream": (_invoke_stream, FRAMEWORK_ERRORS),
    INVOKE_ASYNC_ITERATOR: (_invoke_async_iterator, SDK_ERRORS),
}

if _ROWS.keys() != SUB_ACTIONS.keys():  # checked once, at import: the halves cannot drift
    raise RuntimeError(
        "execution.subactions and domain.subactions name different sub-actions: "
        f"{sorted(_ROWS.keys() ^ SUB_ACTIONS.keys())}"
    )

TABLE: Mapping[str, SubAction] = {
    name: SubAction(SUB_ACTIONS[name], handler, errors) for name, (handler, errors) in _ROWS.items()
}
"""The executor's one dict lookup per execution."""
