"""``/v1/responses``: forwarded to the server's Responses API, or translated to chat
completions and back, as the provider's ``responses_mode`` says.

``native`` (OpenAI, Azure, ``Other`` with ``responsesApi: native``): the caller's body to
the ``/responses`` URL beside the connector's (Azure: its ``/openai/v1`` shape), the
answer and its event stream passed through byte for byte, usage from the answer or from
``response.completed``. ``translate``: see ``responses_translate``. ``auto`` (``Other``'s
default): native; a 404 or 405 from the server means it has no Responses API, so the
same execution is translated instead, and once that worked the connector (at its current
URL) is remembered in memory as one that translates. One event pair per call either way,
``llmrelay.endpoint: "responses"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord
from llmrelay.errors import (
    EndpointUnavailableError,
    ResponsesTranslationError,
    UpstreamError,
    UpstreamStatusError,
)
from llmrelay.execution.calls import Calls
from llmrelay.execution.endpoint_usage import text_usage
from llmrelay.execution.errors import FRAMEWORK_ERRORS, failure_result
from llmrelay.execution.gateway import GatewayResult
from llmrelay.execution.records import finish_gateway_failure, finish_record, new_record
from llmrelay.execution.responses_stream import TranslatedResponseStream
from llmrelay.execution.responses_translate import (
    chat_request,
    output_text,
    prompt_of,
    translated_answer,
)
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.providers.registry import provider_for

__all__ = ["ResponsesRouting", "forward_responses"]

_NO_RESPONSES_API = frozenset({404, 405})
_REMEMBERED_MAX = 10_000  # connectors remembered at most (a bound, not a cache policy)


class ResponsesRouting:
    """Which ``auto`` connectors turned out to have no Responses API, in this process.

    Keyed by connector id and URL, so a connector pointed elsewhere is probed again.
    """

    def __init__(self) -> None:
        self._translated: set[tuple[str, str]] = set()

    def translates(self, connector: Connector) -> bool:
        return (connector.id, connector.config.apiUrl) in self._translated

    def remember(self, connector: Connector) -> None:
        if len(self._translated) >= _REMEMBERED_MAX:
            self._translated.clear()
        self._translated.add((connector.id, connector.config.apiUrl))


def _record(calls: Calls, connector: Connector, context: ExecutionContext) -> ExecutionRecord:
    record = new_record(connector, "responses", context)
    record.endpoint = "responses"
    calls.sink.started(record)
    return record


async def forward_responses(
    calls: Calls,
    routing: ResponsesRouting,
    connector: Connector,
    body: Mapping[str, object],
    context: ExecutionContext,
) -> GatewayResult:
    """One ``/v1/responses`` call (``model`` already resolved, see ``gateway.apply_model``).

    Refusals (an underivable URL, a parameter that cannot be translated) are raised before
    any event; upstream failures after the failure event, as for chat.
    """
    provider = provider_for(connector)
    mode = provider.responses_mode(connector)
    if mode == "auto" and routing.translates(connector):
        mode = "translate"
    if mode == "translate":
        return await _translated(calls, connector, body, chat_request(body), context, None)
    try:
        call = provider.prepare_endpoint(connector, "responses", body)
    except EndpointUnavailableError:
        if mode == "native":
            raise
        return await _translated(calls, connector, body, chat_request(body), context, None)
    stream = body.get("stream") is True
    record = _record(calls, connector, context)
    try:
        if stream:
            response = await calls.send(connector, call, calls.timeout(None, 0), record)
            tapped = calls.tap(connector, call, response, record, "responses", False)
            return GatewayResult(200, response.headers, stream=tapped)
        timeout = calls.timeout(None, calls.settings.defaultTimeoutMs)
        response, raw, payload = await calls.read_json(connector, call, timeout, record)
    except UpstreamStatusError as err:
        if mode != "auto" or err.status not in _NO_RESPONSES_API:
            await finish_gateway_failure(calls.sink, connector, record, err)
            raise
        record.upstream_request_id = None
        result = await _fallback(calls, connector, body, context, record)
        routing.remember(connector)
        return result
    except UpstreamError as err:
        await finish_gateway_failure(calls.sink, connector, record, err)
        raise
    if not record.usage.known:
        record.usage = text_usage(prompt_of(body), output_text(payload), record.model)
    await finish_record(calls.sink, record, ExecutionResult("ok", connector.id))
    return GatewayResult(response.status, response.headers, body=raw)


async def _fallback(
    calls: Calls,
    connector: Connector,
    body: Mapping[str, object],
    context: ExecutionContext,
    record: ExecutionRecord,
) -> GatewayResult:
    """``auto`` after the server said it has no ``/responses``: the same execution,
    translated (a request that cannot be is refused, and its event says so)."""
    try:
        chat = chat_request(body)
    except ResponsesTranslationError as refusal:
        failed = failure_result(connector.id, refusal, FRAMEWORK_ERRORS, pki=False)
        await finish_record(calls.sink, record, failed)
        raise
    return await _translated(calls, connector, body, chat, context, record)


async def _translated(
    calls: Calls,
    connector: Connector,
    body: Mapping[str, object],
    chat: dict[str, object],
    context: ExecutionContext,
    record: ExecutionRecord | None,
) -> GatewayResult:
    """The Responses request as a chat completion through the connector's chat rules."""
    provider = provider_for(connector)
    stream = chat.get("stream") is True
    call = provider.prepare(connector, orjson.dumps(chat).decode(), stream=stream)
    if record is None:
        record = _record(calls, connector, context)
    try:
        if stream:
            response = await calls.send(connector, call, calls.timeout(None, 0), record)
            tapped = calls.tap(connector, call, response, record, "stream", False)
            translated = TranslatedResponseStream(tapped, body)
            return GatewayResult(200, response.headers, stream=translated)
        timeout = calls.timeout(None, calls.settings.defaultTimeoutMs)
        response, _, payload = await calls.read_json(connector, call, timeout, record)
    except UpstreamError as err:
        await finish_gateway_failure(calls.sink, connector, record, err)
        raise
    answer = translated_answer(body, payload)
    if not record.usage.known:
        record.usage = text_usage(prompt_of(body), output_text(answer), record.model)
    await finish_record(calls.sink, record, ExecutionResult("ok", connector.id))
    return GatewayResult(response.status, response.headers, body=orjson.dumps(answer))
