"""Sub-actions of the ``.gen-ai`` connector: the one place an execution is run.

Every sub-action goes through the same path: params validation, the provider's
``prepare``, the shared :class:`OutboundClient`, usage accounting and one event pair
(``execute-start`` / ``execute``) handed to the :class:`EventSink`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Protocol

import orjson

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.domain.params import (
    DashboardParams,
    InvokeAIParams,
    RunParams,
    StreamParams,
    invoke_body,
    validate_execute_params,
    validate_sub_action_params,
)
from llmrelay.domain.validation import json_type
from llmrelay.errors import (
    ConnectorValidationError,
    ExecutionFailedError,
    ForbiddenError,
    SubActionParamsError,
    UpstreamError,
    UpstreamProtocolError,
    status_error,
)
from llmrelay.execution.errors import (
    EXECUTION_FAILED,
    error_kind,
    error_source_for,
    event_error_message,
    framework_error_message,
    pki_rewrite,
    response_error_message,
    unknown_sub_action_message,
)
from llmrelay.execution.gateway import (
    GATEWAY_SOURCE,
    GATEWAY_SUB_ACTION,
    GatewayResult,
    ask_stream_usage,
    wants_stream_usage,
)
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.server_tokens import ServerTokenizer
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.execution.usage import StreamUsageCollector, prompt_text, usage_from_response
from llmrelay.providers.base import PreparedCall
from llmrelay.providers.registry import provider_for
from llmrelay.transport.client import OutboundClient, UpstreamResponse

log = logging.getLogger("llmrelay.execution")

UNRECOGNIZED_FORMAT = (
    "An error occurred sending your message. \n\n"
    "API Error: The response from OpenAI was in an unrecognized format."
)


class EventSink(Protocol):
    """Receives execution records; must return at once (the service queues them)."""

    def started(self, record: ExecutionRecord) -> None: ...

    def finished(self, record: ExecutionRecord) -> None: ...


class DashboardAccess(Protocol):
    """Answers ``getDashboard``'s privilege question (the service checks ``usage_read``)."""

    async def can_read_usage(self, context: ExecutionContext) -> bool: ...


class NullSink:
    """Library default: records are dropped."""

    def started(self, record: ExecutionRecord) -> None:
        return None

    def finished(self, record: ExecutionRecord) -> None:
        return None


class OpenAccess:
    """Default: the caller's adapter decided (``context.can_read_usage``); without users
    (library use) there is nobody to refuse."""

    async def can_read_usage(self, context: ExecutionContext) -> bool:
        return context.can_read_usage is not False


class _Failure(Exception):
    """Internal: carries a ready error result out of a sub-action."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result


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
        self.sink: EventSink = sink or NullSink()
        self.dashboard_access: DashboardAccess = dashboard_access or OpenAccess()
        self.client = client or OutboundClient(self.settings)
        self.server_tokenizer = ServerTokenizer(self.client)
        self._background: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._background:  # server-side recounts still writing their events
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.client.close()

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
        """Kibana form: ``params`` is ``{"subAction": ..., "subActionParams": {...}}``."""
        ctx = context or ExecutionContext()
        try:
            sub_action, raw_sub_params = validate_execute_params(params)
        except ConnectorValidationError as err:
            # validation before the call: no events (spec §4.2)
            return ExecutionResult(
                "error", connector.id, message=str(err), retry=False, error_source="user"
            )
        if not self.settings.action_type_enabled(connector.connector_type_id):
            return ExecutionResult(
                "error",
                connector.id,
                message=(
                    f'action type "{connector.connector_type_id}" is not enabled in the '
                    "Kibana config xpack.actions.enabledActionTypes"
                ),
                retry=False,
                error_source="framework",
            )
        record = self._new_record(connector, sub_action, ctx)
        self.sink.started(record)
        try:
            result = await self._dispatch(connector, sub_action, raw_sub_params, record, ctx)
        except _Failure as failure:
            result = failure.result
        except UpstreamError as err:
            record.error_kind = error_kind(err)
            result = self._upstream_failure(connector, sub_action, err)
        if not isinstance(result.data, TappedStream | ChunkIterator) or not result.ok:
            self._finish(record, result)
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
            connector, "invokeAsyncIterator", sub_action_params, context=context
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
        the failure event is written; a disabled connector type raises ``ForbiddenError``.
        """
        ctx = context or ExecutionContext(source=GATEWAY_SOURCE)
        if not self.settings.action_type_enabled(connector.connector_type_id):
            raise ForbiddenError(
                f'action type "{connector.connector_type_id}" is not enabled in the '
                "Kibana config xpack.actions.enabledActionTypes"
            )
        provider = provider_for(connector)
        sent = dict(body)
        caller_wants_usage = stream and wants_stream_usage(sent)
        if stream and provider.stream_usage(connector):
            ask_stream_usage(sent)
        call = provider.prepare(connector, orjson.dumps(sent).decode(), stream=stream)
        record = self._new_record(connector, GATEWAY_SUB_ACTION, ctx)
        self.sink.started(record)
        try:
            if stream:
                response = await self._send(connector, call, self._timeout(None, 0), record)
                strip = call.usage_requested and not caller_wants_usage
                tapped = self._tap(connector, call, response, record, "stream", strip)
                return GatewayResult(200, response.headers, stream=tapped)
            timeout = self._timeout(None, self.settings.defaultTimeoutMs)
            response, raw, _ = await self._read_json(connector, call, timeout, record)
        except UpstreamError as err:
            record.error_kind = error_kind(err)
            self._finish(record, self._upstream_failure(connector, "stream", err))
            raise
        self._finish(record, ExecutionResult("ok", connector.id))
        return GatewayResult(response.status, response.headers, body=raw)

    # --- dispatch --------------------------------------------------------------------
    async def _dispatch(
        self,
        connector: Connector,
        sub_action: str,
        raw_params: object,
        record: ExecutionRecord,
        ctx: ExecutionContext,
    ) -> ExecutionResult:
        if sub_action not in _SUB_ACTIONS:
            return ExecutionResult(
                "error",
                connector.id,
                message=EXECUTION_FAILED,
                service_message=unknown_sub_action_message(sub_action, connector.id),
                retry=True,
                error_source="framework",
            )
        try:
            params = validate_sub_action_params(sub_action, raw_params)
        except SubActionParamsError as err:
            return ExecutionResult(
                "error",
                connector.id,
                message=EXECUTION_FAILED,
                service_message=str(err),
                retry=True,
                error_source="user",
            )
        if isinstance(params, DashboardParams):
            available = await self.dashboard_access.can_read_usage(ctx)
            return ExecutionResult("ok", connector.id, data={"available": available})
        provider = provider_for(connector)
        if sub_action in ("run", "test"):
            assert isinstance(params, RunParams)
            call = provider.prepare(connector, params.body, stream=False)
            timeout = self._timeout(params.timeout, self.settings.defaultTimeoutMs)
            return await self._json_call(connector, call, timeout, record)
        if sub_action == "stream":
            assert isinstance(params, StreamParams)
            call = provider.prepare(connector, params.body, stream=params.stream)
            timeout = self._timeout(params.timeout, 0)
            if not params.stream:
                return await self._json_call(connector, call, timeout, record)
            stream = await self._stream_call(connector, call, timeout, record, "stream")
            return ExecutionResult("ok", connector.id, data=stream)
        assert isinstance(params, InvokeAIParams)
        body = invoke_body(params, raw_params if isinstance(raw_params, dict) else None)
        if sub_action == "invokeAI":
            call = provider.prepare(connector, orjson.dumps(body).decode(), stream=False)
            timeout = self._timeout(params.timeout, self.settings.defaultTimeoutMs)
            result = await self._json_call(connector, call, timeout, record)
            result.data = _invoke_ai_data(result.data, record.usage)
            return result
        if sub_action == "invokeStream":
            call = provider.prepare(connector, orjson.dumps(body).decode(), stream=True)
            stream = await self._stream_call(
                connector, call, self._timeout(params.timeout, 0), record, "invoke"
            )
            return ExecutionResult("ok", connector.id, data=stream)
        # invokeAsyncIterator
        call = provider.prepare_async_iterator(
            connector, body, default_model=self.settings.defaultModel
        )
        stream = await self._stream_call(
            connector, call, self._timeout(params.timeout, 0), record, "stream"
        )
        return ExecutionResult("ok", connector.id, data=ChunkIterator(stream))

    def _timeout(self, requested: float | None, default_ms: int) -> int:
        """Kibana's rule: max(xpack.actions.responseTimeout, requested or default)."""
        return max(self.settings.responseTimeout, int(requested or default_ms))

    # --- calls -----------------------------------------------------------------------
    async def _send(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> UpstreamResponse:
        record.model = call.model
        record.stream = call.stream
        record.request_body_bytes = len(call.body) if call.body else 2
        started = time.perf_counter_ns()
        try:
            response = await self.client.request(
                "POST",
                call.url,
                headers=call.headers,
                body=call.body,
                timeout_ms=timeout_ms,
                pki=connector.pki(),
                log_context=f"Connector Id: {connector.id}. Connector type: "
                f"{connector.connector_type_id}",
            )
        finally:
            record.upstream_ns += time.perf_counter_ns() - started
        record.request_body_bytes = response.request_body_bytes
        record.upstream_request_id = response.request_id
        if response.status >= 400:
            body = await _read_error_body(response)
            raise status_error(response.status, response.reason, body, response.headers)
        return response

    async def _read_json(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> tuple[UpstreamResponse, bytes, object]:
        """Send and read a JSON answer: (response, raw body, parsed body); usage recorded."""
        response = await self._send(connector, call, timeout_ms, record)
        started = time.perf_counter_ns()
        try:
            raw = await response.read()
        finally:
            await response.release()
            record.upstream_ns += time.perf_counter_ns() - started
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = raw.decode("utf-8", "replace")
        record.usage = usage_from_response(payload)
        if isinstance(payload, dict) and isinstance(payload.get("model"), str):
            record.model = payload["model"]
        return response, raw, payload

    async def _json_call(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> ExecutionResult:
        _, _, payload = await self._read_json(connector, call, timeout_ms, record)
        problem = _run_response_problem(payload)
        if problem:
            raise _Failure(
                ExecutionResult(
                    "error",
                    connector.id,
                    message=EXECUTION_FAILED,
                    service_message=f"Response validation failed ({problem})",
                    retry=True,
                    error_source="framework",
                )
            )
        return ExecutionResult("ok", connector.id, data=payload)

    async def _stream_call(
        self,
        connector: Connector,
        call: PreparedCall,
        timeout_ms: int,
        record: ExecutionRecord,
        prompt_style: str,
    ) -> TappedStream:
        response = await self._send(connector, call, timeout_ms, record)
        return self._tap(connector, call, response, record, prompt_style, False)

    def _tap(
        self,
        connector: Connector,
        call: PreparedCall,
        response: UpstreamResponse,
        record: ExecutionRecord,
        prompt_style: str,
        strip_usage_chunk: bool,
    ) -> TappedStream:
        """The stream over a sent call's answer; the event is written when it ends."""
        messages = (call.json_body or {}).get("messages")
        prompt = prompt_text(
            messages if isinstance(messages, list) else [],
            "invoke" if prompt_style == "invoke" else "stream",
        )
        collector = StreamUsageCollector(prompt=prompt, model=call.model)
        tokenize_url = provider_for(connector).tokenizer_url(connector)

        def on_end(usage: TokenUsage, error: BaseException | None, cancelled: bool) -> None:
            record.usage = usage
            record.ended_ns = time.time_ns()
            if error is not None:
                record.outcome = "failure"
                record.error_kind = error_kind(error)
                if isinstance(error, UpstreamError):
                    message = framework_error_message(error)
                else:  # a Python class name is for the log, not the event
                    log.warning("stream of connector %s failed: %r", connector.id, error)
                    message = f"Unexpected API Error:  - {error or 'Unknown error'}"
                record.error_message = event_error_message(EXECUTION_FAILED, message, True)
            else:
                record.outcome = "success"
            record.cancelled = cancelled
            if (
                tokenize_url is not None
                and error is None
                and usage.usage_source == "estimated"
                and not self.server_tokenizer.known_missing(connector, tokenize_url)
            ):
                self._in_background(self._recount(connector, tokenize_url, call, collector, record))
            else:
                self.sink.finished(record)

        return TappedStream(response, collector, on_end, strip_usage_chunk=strip_usage_chunk)

    async def _recount(
        self,
        connector: Connector,
        url: str,
        call: PreparedCall,
        collector: StreamUsageCollector,
        record: ExecutionRecord,
    ) -> None:
        """Replace a cl100k estimate by the server's own count; the event waits for it."""
        try:
            prompts, completion = collector.estimate_texts()
            usage = await self.server_tokenizer.usage(
                connector, url, call.headers, prompts, completion
            )
            if usage is not None:
                record.usage = usage
        except Exception:  # counting must never lose the event
            log.exception("server tokenizer count failed for connector %s", connector.id)
        finally:
            self.sink.finished(record)

    def _in_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- results & events ------------------------------------------------------------
    def _upstream_failure(
        self, connector: Connector, sub_action: str, err: UpstreamError
    ) -> ExecutionResult:
        if sub_action == "invokeAsyncIterator":
            message = response_error_message(err)
        else:
            message = framework_error_message(err)
        if connector.pki() is not None:
            message = pki_rewrite(message)
        return ExecutionResult(
            "error",
            connector.id,
            message=EXECUTION_FAILED,
            service_message=message,
            retry=True,
            error_source=error_source_for(err, sub_action=sub_action),
        )

    def _new_record(
        self, connector: Connector, sub_action: str, ctx: ExecutionContext
    ) -> ExecutionRecord:
        return ExecutionRecord(
            execution_id=ctx.execution_id,
            connector_id=connector.id,
            connector_name=connector.name,
            connector_type_id=connector.connector_type_id,
            sub_action=sub_action,
            space_id=ctx.space_id,
            is_preconfigured=connector.is_preconfigured,
            source=ctx.source,
            user_name=ctx.user_name,
            api_key_id=ctx.api_key_id,
            api_key_name=ctx.api_key_name,
            started_ns=time.time_ns(),
        )

    def _finish(self, record: ExecutionRecord, result: ExecutionResult) -> None:
        record.ended_ns = time.time_ns()
        if result.ok:
            record.outcome = "success"
        else:
            record.outcome = "failure"
            record.usage = TokenUsage.missing()  # failed executions never record usage
            record.error_message = event_error_message(
                result.message or "", result.service_message, result.retry
            )
        self.sink.finished(record)


_SUB_ACTIONS = frozenset(
    {"run", "test", "stream", "getDashboard", "invokeAI", "invokeStream", "invokeAsyncIterator"}
)


async def _read_error_body(response: UpstreamResponse) -> object:
    """Read an error answer (also a streamed one) so its ``error.message`` is usable."""
    try:
        raw = await response.read()
    except UpstreamProtocolError:
        return None
    finally:
        await response.release()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _run_response_problem(payload: object) -> str | None:
    """Kibana's run response schema, relaxed for a missing ``usage`` (deviation e)."""
    if not isinstance(payload, dict):
        return f"[]: expected an object but got {json_type(payload)}"
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return "[choices]: expected value of type [array] but got [undefined]"
    return None


def _invoke_ai_data(payload: object, usage: TokenUsage) -> dict[str, object]:
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
