"""The executor: the one place an execution of a ``.gen-ai`` connector is run.

Every sub-action goes through the same path: params validation, the handler from the
sub-action table (:mod:`llmrelay.execution.subactions`), the provider's ``prepare``, the
shared :class:`OutboundClient` (:mod:`llmrelay.execution.calls`), usage accounting and one
event pair (``execute-start`` / ``execute``) handed to the :class:`EventSink`.

One error convention: everything below raises ``llmrelay.errors`` exceptions. ``execute``
turns them into Kibana's envelope (``execution.errors.failure_result``); ``stream`` raises
:class:`ExecutionFailedError` with that envelope; ``chat_completions`` re-raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import Endpoint
from llmrelay.domain.params import validate_execute_params, validate_params
from llmrelay.domain.subactions import INVOKE_ASYNC_ITERATOR
from llmrelay.errors import (
    ActionTypeDisabledError,
    ExecutionFailedError,
    LlmrelayError,
    UnknownSubActionError,
    UpstreamError,
)
from llmrelay.execution.calls import Calls, DashboardAccess, OpenAccess
from llmrelay.execution.endpoints import forward_endpoint
from llmrelay.execution.errors import FRAMEWORK_ERRORS, error_kind, failure_result
from llmrelay.execution.gateway import (
    GATEWAY_SOURCE,
    GATEWAY_SUB_ACTION,
    GatewayResult,
)
from llmrelay.execution.records import (
    EventSink,
    NullSink,
    finish_gateway_failure,
    finish_record,
    new_record,
)
from llmrelay.execution.responses import ResponsesRouting, forward_responses
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.execution.subactions import TABLE
from llmrelay.providers.base import ask_usage_chunk, asks_usage_chunk
from llmrelay.providers.registry import provider_for
from llmrelay.transport.client import OutboundClient

__all__ = [
    "DashboardAccess",
    "EventSink",
    "ExecutionFailedError",
    "Executor",
    "NullSink",
    "OpenAccess",
]


class Executor:
    """Runs sub-actions for connectors; owns one pooled outbound client.

    Use as ``async with Executor(settings) as ex: await ex.execute(conn, "run", {...})``.
    """

    def __init__(
        self,
        settings: ActionsSettings | None = None,
        *,
        sink: EventSink | None = None,
        dashboard_access: DashboardAccess | None = None,
        client: OutboundClient | None = None,
    ) -> None:
        self.settings = settings or ActionsSettings()
        self._calls = Calls(
            self.settings,
            sink or NullSink(),
            dashboard_access or OpenAccess(),
            client or OutboundClient(self.settings),
        )
        self._responses = ResponsesRouting()

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Wait for server-side recounts still writing their events, then close the pool."""
        await self._calls.close()

    # --- public entry points ---------------------------------------------------------
    async def execute(
        self,
        connector: Connector,
        sub_action: str,
        sub_action_params: Mapping[str, object] | None = None,
        *,
        context: ExecutionContext | None = None,
    ) -> ExecutionResult:
        """Library form: ``execute(conn, "invokeAI", {"messages": [...]})``."""
        params = {"subAction": sub_action, "subActionParams": dict(sub_action_params or {})}
        return await self.execute_params(connector, params, context=context)

    async def execute_params(
        self,
        connector: Connector,
        params: object,
        *,
        context: ExecutionContext | None = None,
    ) -> ExecutionResult:
        """Kibana form: ``params`` is ``{"subAction": ..., "subActionParams": {...}}``.

        Refusals before the call (a bad envelope, a disabled type) write no events
        (spec §4.2); from the sub-action lookup on, every execution writes its pair.
        """
        calls = self._calls
        ctx = context or ExecutionContext()
        try:
            sub_action, raw_params = validate_execute_params(params)
            if not self.settings.action_type_enabled(connector.connector_type_id):
                raise ActionTypeDisabledError(connector.connector_type_id)
        except LlmrelayError as err:
            return failure_result(connector.id, err, FRAMEWORK_ERRORS, pki=False)
        record = new_record(connector, sub_action, ctx)
        calls.sink.started(record)
        entry = TABLE.get(sub_action)
        try:
            if entry is None:
                raise UnknownSubActionError(sub_action, connector.id)
            valid = validate_params(entry.spec.params, raw_params)
            result = await entry.handler(calls, connector, valid, raw_params, record, ctx)
        except LlmrelayError as err:
            rules = entry.errors if entry is not None else FRAMEWORK_ERRORS
            result = failure_result(connector.id, err, rules, pki=connector.pki() is not None)
            result.error = err
            if isinstance(err, UpstreamError):
                record.error_kind = error_kind(err)
            await finish_record(calls.sink, record, result)
            return result
        if not isinstance(result.data, TappedStream | ChunkIterator):
            await finish_record(calls.sink, record, result)  # a stream's event: when it ends
        return result

    async def stream(
        self,
        connector: Connector,
        sub_action_params: Mapping[str, object],
        *,
        context: ExecutionContext | None = None,
    ) -> AsyncIterator[dict[str, object]]:
        """Stream a chat completion: yields parsed chunks as they arrive.

        A failed execution raises :class:`ExecutionFailedError` carrying the envelope.
        """
        result = await self.execute(
            connector, INVOKE_ASYNC_ITERATOR, sub_action_params, context=context
        )
        if not result.ok:
            raise ExecutionFailedError(result)
        chunks = result.data
        assert isinstance(chunks, ChunkIterator)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    async def chat_completions(
        self,
        connector: Connector,
        body: Mapping[str, object],
        *,
        stream: bool,
        context: ExecutionContext | None = None,
    ) -> GatewayResult:
        """The ``/v1/chat/completions`` gateway: the caller's body through the provider's
        rules (``model`` already resolved, see ``gateway.apply_model``), the same outbound
        path, usage and events as ``_execute`` (sub-action ``chatCompletions``).

        Streams ask OpenAI/Azure (and ``Other`` with ``streamUsage``) for the usage chunk
        and hide it from a caller that did not ask for it. Upstream failures are raised
        (:class:`UpstreamError`, with ``status``/``body``/``headers`` for HTTP errors) after
        the failure event is written; a disabled connector type raises
        :class:`ActionTypeDisabledError` (a ``ForbiddenError``).
        """
        calls = self._calls
        ctx = context or ExecutionContext(source=GATEWAY_SOURCE)
        if not self.settings.action_type_enabled(connector.connector_type_id):
            raise ActionTypeDisabledError(connector.connector_type_id)
        provider = provider_for(connector)
        sent = dict(body)
        caller_wants_usage = stream and asks_usage_chunk(sent)
        if stream and provider.stream_usage(connector):
            ask_usage_chunk(sent)
        call = provider.prepare(connector, orjson.dumps(sent).decode(), stream=stream)
        record = new_record(connector, GATEWAY_SUB_ACTION, ctx)
        calls.sink.started(record)
        try:
            if stream:
                response = await calls.send(connector, call, calls.timeout(None, 0), record)
                strip = call.usage_requested and not caller_wants_usage
                tapped = calls.tap(connector, call, response, record, "stream", strip)
                return GatewayResult(200, response.headers, stream=tapped)
            timeout = calls.timeout(None, self.settings.defaultTimeoutMs)
            response, raw, _ = await calls.read_json(connector, call, timeout, record)
        except UpstreamError as err:
            await finish_gateway_failure(calls.sink, connector, record, err)
            raise
        await finish_record(calls.sink, record, ExecutionResult("ok", connector.id))
        return GatewayResult(response.status, response.headers, body=raw)

    async def endpoint(
        self,
        connector: Connector,
        endpoint: Endpoint,
        body: Mapping[str, object],
        *,
        context: ExecutionContext | None = None,
    ) -> GatewayResult:
        """``/v1/embeddings``, ``/v1/completions`` and ``/v1/responses``: as
        :meth:`chat_completions`, to the endpoint beside the connector's chat URL (see
        ``execution.endpoints``; Responses, maybe translated: ``execution.responses``)."""
        if not self.settings.action_type_enabled(connector.connector_type_id):
            raise ActionTypeDisabledError(connector.connector_type_id)
        ctx = context or ExecutionContext(source=GATEWAY_SOURCE)
        if endpoint == "responses":
            return await forward_responses(self._calls, self._responses, connector, body, ctx)
        return await forward_endpoint(self._calls, connector, endpoint, body, ctx)
