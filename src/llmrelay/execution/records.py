"""An execution's event record: opened when the call starts, finished once, handed to the
:class:`EventSink` (the service queues it for the event log; execution never sees the store).

The one hook of event durability: a sink's ``finished`` may return an awaitable that
completes once the ``execute`` document is durable (``llmrelay.eventLog.durability:
answer``). :func:`finish_record` awaits it, and so does a stream's end
(:class:`~llmrelay.execution.streaming.TappedStream`), so whatever answers after them
answers an execution whose event survives a crash.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Protocol

from llmrelay.domain.connector_types import Runnable
from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import Endpoint, ExecutionRecord, TokenUsage
from llmrelay.errors import UpstreamError
from llmrelay.execution.errors import (
    FRAMEWORK_ERRORS,
    error_kind,
    event_error_message,
    failure_result,
)
from llmrelay.execution.results import ExecutionContext, ExecutionResult

__all__ = [
    "Durable",
    "EventSink",
    "NullSink",
    "deferring_durability",
    "finish_gateway_failure",
    "finish_record",
    "new_record",
    "settle",
]

Durable = Awaitable[None] | None
"""What a sink returns for a finished record: something to await before answering, or
None when there is nothing to wait for."""


class EventSink(Protocol):
    """Receives execution records; must return at once (the service queues them).

    ``finished`` may return an awaitable: the answer waits for it (see the module's
    docstring). ``started_final`` is ``started`` for a record whose start fields no longer
    change (a route's own): the sink may build part of its ``execute`` document then.
    ``journaled`` makes a record's document durable without storing it yet: a later
    ``finished`` of the same record stores its final version (a stream whose usage is
    recounted after its answer)."""

    def started(self, record: ExecutionRecord) -> None: ...

    def started_final(self, record: ExecutionRecord) -> None: ...

    def finished(self, record: ExecutionRecord) -> Durable: ...

    def journaled(self, record: ExecutionRecord) -> Durable: ...


class NullSink:
    """Library default: records are dropped."""

    def started(self, record: ExecutionRecord) -> None:
        return None

    def started_final(self, record: ExecutionRecord) -> None:
        return None

    def finished(self, record: ExecutionRecord) -> Durable:
        return None

    def journaled(self, record: ExecutionRecord) -> Durable:
        return None


_DEFERRED: ContextVar[list[Awaitable[None]] | None] = ContextVar(
    "llmrelay_deferred_durability", default=None
)


async def settle(durable: Durable) -> None:
    """Wait until a finished record is durable (nothing to do without a journal); inside
    :func:`deferring_durability`, hand the wait to whoever opened it instead."""
    if durable is None:
        return
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.append(durable)
        return
    await durable


class deferring_durability:
    """Within this block ``settle`` collects into ``into`` instead of waiting; the opener
    must await them all before it answers. A route uses it so that its targets' events and
    its own reach the journal in one group write (one ``fdatasync``, not one each). (A class:
    a route enters it on every attempt, and ``@contextmanager`` costs several times more.)"""

    __slots__ = ("_into", "_token")

    def __init__(self, into: list[Awaitable[None]]) -> None:
        self._into = into

    def __enter__(self) -> None:
        self._token = _DEFERRED.set(self._into)

    def __exit__(self, *exc: object) -> None:
        _DEFERRED.reset(self._token)


def new_record(
    connector: Runnable, sub_action: str, ctx: ExecutionContext, endpoint: Endpoint = "chat"
) -> ExecutionRecord:
    """The record of an execution of ``connector`` (or route) starting now (its
    ``execute-start`` event)."""
    return ExecutionRecord(
        execution_id=ctx.execution_id,
        connector_id=connector.id,
        connector_name=connector.name,
        connector_type_id=connector.connector_type_id,
        sub_action=sub_action,
        endpoint=endpoint,
        space_id=ctx.space_id,
        is_preconfigured=connector.is_preconfigured,
        source=ctx.source,
        user_name=ctx.user_name,
        api_key_id=ctx.api_key_id,
        api_key_name=ctx.api_key_name,
        started_ns=time.time_ns(),
        route_id=ctx.route_id,
    )


async def finish_record(sink: EventSink, record: ExecutionRecord, result: ExecutionResult) -> None:
    """Close a record with its result (its ``execute`` event), hand it to ``sink`` and
    wait until it is durable: call it before the answer is sent."""
    record.ended_ns = time.time_ns()
    if result.ok:
        record.outcome = "success"
    else:
        record.outcome = "failure"
        record.usage = TokenUsage.missing()  # failed executions never record usage
        record.error_message = event_error_message(
            result.message or "", result.service_message, result.retry
        )
    await settle(sink.finished(record))


async def finish_gateway_failure(
    sink: EventSink, connector: Connector, record: ExecutionRecord, err: UpstreamError
) -> None:
    """Close a ``/v1`` gateway record whose upstream call failed (the error is re-raised
    to the caller, who answers it in OpenAI's shape): Kibana's ``stream`` wording."""
    record.error_kind = error_kind(err)
    failed = failure_result(connector.id, err, FRAMEWORK_ERRORS, pki=connector.pki() is not None)
    await finish_record(sink, record, failed)
