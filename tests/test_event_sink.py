"""The service's event sink: what an execution's end hands to the event log and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from llmrelay.domain.events import ExecutionRecord, TokenUsage
from llmrelay.metrics import RelayMetrics
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


async def test_metrics_count_an_execution_after_the_answer_that_waited_for_its_event() -> None:
    durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    metrics = RelayMetrics(lambda: {})
    sink = _EventLogSink(_Writer(durable), metrics, server_uuid="u", version="v")
    assert sink.finished(_record()) is durable
    await asyncio.sleep(0)
    assert _executions(metrics) == 0  # nothing held up the answer yet
    answered = False

    async def answer() -> None:  # a request: it answers once its event is durable
        nonlocal answered
        await durable
        answered = True
        assert _executions(metrics) == 0  # the answer leaves before the metrics count

    request = asyncio.create_task(answer())
    await asyncio.sleep(0)  # it waits for the journal
    durable.set_result(None)
    await request
    await asyncio.sleep(0)
    assert answered and _executions(metrics) == 1


async def test_without_a_journal_metrics_count_at_once() -> None:
    metrics = RelayMetrics(lambda: {})
    sink = _EventLogSink(_Writer(None), metrics, server_uuid="u", version="v")
    assert sink.finished(_record()) is None
    assert _executions(metrics) == 1
