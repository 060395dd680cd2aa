"""The service's event sink: what an execution's end hands to the event log and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.metrics import DRAIN_SECONDS, RelayMetrics
from llmrelay.service.execution import _EventLogSink


class _Writer:
    """The event writer's request-path half: documents in, a durability future out."""

    def __init__(self, durable: asyncio.Future[None] | None) -> None:
        self.durable = durable
        self.documents: list[Mapping[str, object]] = []

    def submit(self, document: Mapping[str, object]) -> None:
        self.documents.append(document)

    def submit_durable(self, document: Mapping[str, object]) -> asyncio.Future[None] | None:
        self.submit(document)
        return self.durable


def _record() -> ExecutionRecord:
    return ExecutionRecord(
        execution_id="exec-1",
        connector_id="conn-1",
        connector_name="c",
        connector_type_id=".gen-ai",
        sub_action="run",
        started_ns=1,
        ended_ns=2,
        outcome="success",
        usage=TokenUsage(1, 2, 3, "response"),
    )


def _executions(metrics: RelayMetrics) -> float:
    value = metrics.registry.get_sample_value(
        "llmrelay_executions_total",
        {"connector_id": "conn-1", "sub_action": "run", "outcome": "success"},
    )
    return value or 0.0


async def test_metrics_count_finished_executions_together_off_the_request_path() -> None:
    durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    metrics = RelayMetrics(lambda: {})
    sink = _EventLogSink(_Writer(durable), metrics, server_uuid="u", version="v")
    assert sink.finished(_record()) is durable
    assert sink.finished(_record()) is durable
    durable.set_result(None)
    await asyncio.sleep(0)
    assert _executions(metrics) == 0  # the answers that waited on them are not held up
    await asyncio.sleep(DRAIN_SECONDS * 1.5)
    assert _executions(metrics) == 2


async def test_reading_the_metrics_counts_what_finished_so_far() -> None:
    metrics = RelayMetrics(lambda: {})
    sink = _EventLogSink(_Writer(None), metrics, server_uuid="u", version="v")
    assert sink.finished(_record()) is None
    assert b'llmrelay_executions_total{connector_id="conn-1"' in metrics.render()
    assert _executions(metrics) == 1


def test_outside_an_event_loop_metrics_count_at_once() -> None:
    metrics = RelayMetrics(lambda: {})
    metrics.later(_record())
    assert _executions(metrics) == 1
