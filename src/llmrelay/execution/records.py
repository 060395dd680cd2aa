"""An execution's event record: opened when the call starts, finished once, handed to the
:class:`EventSink` (the service queues it for the event log; execution never sees the store).
"""

from __future__ import annotations

import time
from typing import Protocol

from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.errors import UpstreamError
from llmrelay.execution.errors import (
    FRAMEWORK_ERRORS,
    error_kind,
    event_error_message,
    failure_result,
)
from llmrelay.execution.results import ExecutionContext, ExecutionResult

__all__ = ["EventSink", "NullSink", "finish_gateway_failure", "finish_record", "new_record"]


class EventSink(Protocol):
    """Receives execution records; must return at once (the service queues them)."""

    def started(self, record: ExecutionRecord) -> None: ...

    def finished(self, record: ExecutionRecord) -> None: ...


class NullSink:
    """Library default: records are dropped."""

    def started(self, record: ExecutionRecord) -> None:
        return None

    def finished(self, record: ExecutionRecord) -> None:
        return None


def new_record(connector: Connector, sub_action: str, ctx: ExecutionContext) -> ExecutionRecord:
    """The record of an execution starting now (its ``execute-start`` event)."""
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
        route_id=ctx.route_id,
    )


def finish_record(sink: EventSink, record: ExecutionRecord, result: ExecutionResult) -> None:
    """Close a record with its result (its ``execute`` event) and hand it to ``sink``."""
    record.ended_ns = time.time_ns()
    if result.ok:
        record.outcome = "success"
    else:
        record.outcome = "failure"
        record.usage = TokenUsage.missing()  # failed executions never record usage
        record.error_message = event_error_message(
            result.message or "", result.service_message, result.retry
        )
    sink.finished(record)


def finish_gateway_failure(
    sink: EventSink, connector: Connector, record: ExecutionRecord, err: UpstreamError
) -> None:
    """Close a ``/v1`` gateway record whose upstream call failed (the error is re-raised
    to the caller, who answers it in OpenAI's shape): Kibana's ``stream`` wording."""
    record.error_kind = error_kind(err)
    failed = failure_result(connector.id, err, FRAMEWORK_ERRORS, pki=connector.pki() is not None)
    finish_record(sink, record, failed)
