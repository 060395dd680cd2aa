"""Prometheus metrics of one service instance (prometheus-client: the standard exposition
format, histograms and a registry per app, so two apps in one process don't collide).

Fed from the execution records the event sink already receives: the request path only
hands a finished record over (``later``), and the records of the last ``DRAIN_SECONDS``
are counted together, or at once when the metrics are read. Counted one by one right
after each answer, they cost ~10 us per execution at the moment the next sequential
request arrived (and twice that for a route: its own record and its target's). Labels
carry connector ids, never names or secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from llmrelay.domain.events import ExecutionRecord

_SECONDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_MAX_CHILDREN = 10_000  # label combinations remembered (model names come from requests)
_ADDED = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)
DRAIN_SECONDS = 0.1  # how late a finished execution may be counted (render counts at once)


class RelayMetrics:
    """Counters and histograms for executions, tokens, upstream errors and the event log."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, writer_stats: Callable[[], dict[str, object]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._pending: list[ExecutionRecord] = []  # handed over, not counted yet
        reg = self.registry
        self.executions = Counter(
            "llmrelay_executions",
            "Executions by connector, sub-action and outcome.",
            ["connector_id", "sub_action", "outcome"],
            registry=reg,
        )
        self.duration = Histogram(
            "llmrelay_execution_duration_seconds",
            "Execution time, upstream included (streams: until the stream ends).",
            ["connector_id", "sub_action"],
            buckets=_SECONDS,
            registry=reg,
        )
        self.added = Histogram(
            "llmrelay_added_latency_seconds",
            "Time llmrelay added around the upstream call (non-stream executions).",
            ["connector_id", "sub_action"],
            buckets=_ADDED,
            registry=reg,
        )
        self.tokens = Counter(
            "llmrelay_tokens",
            "Tokens by connector, model, usage_source and kind (prompt/completion).",
            ["connector_id", "model", "usage_source", "kind"],
            registry=reg,
        )
        self.upstream_errors = Counter(
            "llmrelay_upstream_errors",
            "Failed upstream calls by connector and kind (timeout, tls, http_429, ...).",
            ["connector_id", "kind"],
            registry=reg,
        )
        self.queue_depth = Gauge(
            "llmrelay_event_queue_depth", "Events waiting for the writer.", registry=reg
        )
        self.spool_pending = Gauge(
            "llmrelay_event_spool_pending", "Events in the spool file.", registry=reg
        )
        self.queue_depth.set_function(lambda: _number(writer_stats().get("queued")))
        self.spool_pending.set_function(lambda: _number(writer_stats().get("spool_pending")))

    def later(self, record: ExecutionRecord) -> None:
        """Count a finished execution within ``DRAIN_SECONDS``, with the others of that
        time (at once outside an event loop)."""
        pending = self._pending
        pending.append(record)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_later(DRAIN_SECONDS, self.drain)
            except RuntimeError:
                self.drain()

    def drain(self) -> None:
        """Count every execution handed over to ``later`` so far."""
        pending, self._pending = self._pending, []
        for record in pending:
            self.observe(record)

    def observe(self, record: ExecutionRecord) -> None:
        connector, sub_action = record.connector_id, record.sub_action
        self._child(self.executions, connector, sub_action, record.outcome).inc()
        self._child(self.duration, connector, sub_action).observe(record.duration_ns / 1e9)
        if not record.stream and record.upstream_ns:
            self._child(self.added, connector, sub_action).observe(record.added_ns / 1e9)
        if record.error_kind:
            self._child(self.upstream_errors, connector, record.error_kind).inc()
        usage = record.usage
        if usage.known and record.outcome == "success":
            model, source = record.model or "", usage.usage_source
            self._child(self.tokens, connector, model, source, "prompt").inc(usage.prompt_tokens)
            self._child(self.tokens, connector, model, source, "completion").inc(
                usage.completion_tokens
            )

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: ``labels()`` validates and locks on every
        call, which was most of the metrics' cost per request."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= _MAX_CHILDREN:
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        self.drain()
        return generate_latest(self.registry)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
