"""Upstream calls of an execution: send a prepared call, read a JSON answer or tap a stream.

:class:`Calls` is what a sub-action handler is given: the settings, the pooled outbound
client, the event sink (a stream's event is written when the stream ends) and the
``getDashboard`` access question. Failures are raised (``llmrelay.errors``), never returned.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import orjson

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.domain.validation import json_type
from llmrelay.errors import (
    LlmrelayError,
    ResponseValidationError,
    UpstreamError,
    UpstreamProtocolError,
    status_error,
)
from llmrelay.execution.endpoint_usage import completion_prompts
from llmrelay.execution.errors import (
    EXECUTION_FAILED,
    error_kind,
    event_error_message,
    framework_error_message,
)
from llmrelay.execution.records import Durable, EventSink, settle
from llmrelay.execution.responses_translate import prompt_of
from llmrelay.execution.results import ExecutionContext
from llmrelay.execution.server_tokens import ServerTokenizer
from llmrelay.execution.streaming import TappedStream, ends_with_final_response
from llmrelay.execution.usage import StreamUsageCollector, prompt_text, usage_from_response
from llmrelay.providers.base import PreparedCall
from llmrelay.providers.registry import provider_for
from llmrelay.tasks import BackgroundTasks
from llmrelay.transport.client import OutboundClient, UpstreamResponse

__all__ = ["Calls", "DashboardAccess", "OpenAccess"]

log = logging.getLogger("llmrelay.execution")


class DashboardAccess(Protocol):
    """Answers ``getDashboard``'s privilege question (the service checks ``usage_read``)."""

    async def can_read_usage(self, context: ExecutionContext) -> bool: ...


class OpenAccess:
    """Default: the caller's adapter decided (``context.can_read_usage``); without users
    (library use) there is nobody to refuse."""

    async def can_read_usage(self, context: ExecutionContext) -> bool:
        return context.can_read_usage is not False


class Calls:
    """Sends prepared calls through one pooled client; owns the background recounts."""

    def __init__(
        self,
        settings: ActionsSettings,
        sink: EventSink,
        dashboard_access: DashboardAccess,
        client: OutboundClient,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.dashboard_access = dashboard_access
        self.client = client
        self.server_tokenizer = ServerTokenizer(client)
        self._background = BackgroundTasks()  # server-side recounts still writing events

    async def close(self) -> None:
        await self._background.stop(drain=None)
        await self.client.close()

    def timeout(self, requested: float | None, default_ms: int) -> int:
        """Kibana's rule: max(xpack.actions.responseTimeout, requested or default)."""
        return max(self.settings.responseTimeout, int(requested or default_ms))

    async def send(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> UpstreamResponse:
        """Send ``call``; an HTTP error status is read and raised as an UpstreamStatusError."""
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

    async def read_json(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> tuple[UpstreamResponse, bytes, object]:
        """Send and read a JSON answer: (response, raw body, parsed body); usage recorded."""
        response = await self.send(connector, call, timeout_ms, record)
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

    async def json_call(
        self, connector: Connector, call: PreparedCall, timeout_ms: int, record: ExecutionRecord
    ) -> object:
        """The parsed answer of a run-like call, checked against Kibana's response schema."""
        _, _, payload = await self.read_json(connector, call, timeout_ms, record)
        problem = _run_response_problem(payload)
        if problem:
            raise ResponseValidationError(problem)
        return payload

    async def stream_call(
        self,
        connector: Connector,
        call: PreparedCall,
        timeout_ms: int,
        record: ExecutionRecord,
        prompt_style: str,
    ) -> TappedStream:
        response = await self.send(connector, call, timeout_ms, record)
        return self.tap(connector, call, response, record, prompt_style, False)

    def tap(
        self,
        connector: Connector,
        call: PreparedCall,
        response: UpstreamResponse,
        record: ExecutionRecord,
        prompt_style: str,
        strip_usage_chunk: bool,
    ) -> TappedStream:
        """The stream over a sent call's answer; the event is written when it ends.
        ``prompt_style``: how the prompt is counted for an estimate (``invoke``, ``stream``:
        chat messages, see ``prompt_text``; ``completions``: a legacy ``prompt``;
        ``responses``: a Responses request's instructions and input)."""
        body = call.json_body or {}
        prompt: str | list[str]
        if prompt_style == "completions":
            prompt = completion_prompts(body.get("prompt"))
        elif prompt_style == "responses":
            prompt = prompt_of(body)
        else:
            messages = body.get("messages")
            prompt = prompt_text(
                messages if isinstance(messages, list) else [],
                "invoke" if prompt_style == "invoke" else "stream",
            )
        collector = StreamUsageCollector(prompt=prompt, model=call.model)
        tokenize_url = provider_for(connector).tokenizer_url(connector)

        def on_end(usage: TokenUsage, error: BaseException | None, cancelled: bool) -> Durable:
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
                durable = self.sink.journaled(record)  # the estimate, until the recount
                self._background.start(
                    self._recount(connector, tokenize_url, call, collector, record)
                )
                return durable
            return self.sink.finished(record)

        ends = ends_with_final_response if prompt_style == "responses" else None
        return TappedStream(
            response, collector, on_end, strip_usage_chunk=strip_usage_chunk, ends=ends
        )

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
            try:
                await settle(self.sink.finished(record))
            except LlmrelayError:  # the estimate is durable already; this is the store's
                log.warning("event of connector %s not journalled again", connector.id)


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
