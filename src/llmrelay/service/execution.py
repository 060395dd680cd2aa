"""Executions: ``_execute`` (Kibana's envelope), the ``/v1`` gateway and, for the CLI, a
connector run without a store; the event sink that feeds the event log.

The request paths call these methods directly (no extra lookups per request): one
connector resolution, then the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeAlias

from llmrelay.domain.actions_settings import ActionsSettings
from llmrelay.domain.connectors import Connector
from llmrelay.domain.event_documents import execute_base, execute_document, start_document
from llmrelay.domain.events import Endpoint, ExecutionRecord
from llmrelay.domain.prices import DEFAULT_PRICES, Price, PriceBook
from llmrelay.domain.routes import Route
from llmrelay.domain.subactions import GET_DASHBOARD
from llmrelay.errors import DecryptionError
from llmrelay.execution.executor import EventSink, Executor, NullSink
from llmrelay.execution.gateway import (
    GATEWAY_SUB_ACTION,
    GatewayResult,
    apply_model,
    split_model,
)
from llmrelay.execution.records import Durable
from llmrelay.execution.responses_stream import TranslatedResponseStream
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.metrics import RelayMetrics
from llmrelay.service.connectors import ConnectorService, ConnectorView
from llmrelay.service.limits import LimitService
from llmrelay.service.route_runner import RouteRunner
from llmrelay.store.event_writer import EventWriter

Stream: TypeAlias = TappedStream | ChunkIterator | TranslatedResponseStream
"""What a streamed execution's ``data`` holds: upstream SSE bytes, or parsed chunks (or,
on ``/v1/responses``, a chat stream's translation into Responses events, also bytes)."""


class ExecutionService:
    """Runs connectors for the actions API and the ``/v1`` gateway."""

    def __init__(
        self,
        executor: Executor,
        connectors: ConnectorService,
        preconfigured: Mapping[str, Connector],
        sink: EventSink | None = None,
        limits: LimitService | None = None,
    ) -> None:
        self._executor = executor
        self._connectors = connectors
        self._preconfigured = preconfigured
        self._limits = limits
        self._routes = RouteRunner(executor, connectors.resolve, sink or NullSink(), limits=limits)

    async def execute(
        self, space_id: str, connector_id: str, params: object, context: ExecutionContext
    ) -> ExecutionResult:
        """``_execute``: Kibana's envelope; a connector whose secrets no longer decrypt is
        an error envelope too (framework error), as Kibana answers it."""
        try:
            connector = await self._connectors.resolve(space_id, connector_id)
        except DecryptionError as err:
            return ExecutionResult(
                "error", connector_id, message=str(err), retry=False, error_source="framework"
            )
        if self._limits is not None:
            sub_action = params.get("subAction") if isinstance(params, Mapping) else None
            if isinstance(sub_action, str) and sub_action != GET_DASHBOARD:
                await self._limits.admit(connector, context, sub_action)
        if isinstance(connector, Route):
            return await self._routes.execute(connector, space_id, params, context)
        return await self._executor.execute_params(connector, params, context=context)

    async def chat_completions(
        self, space_id: str, body: Mapping[str, object], model: str, context: ExecutionContext
    ) -> GatewayResult:
        """``/v1/chat/completions``: ``model`` names the connector (``<id>`` or
        ``<id>/<model name>``); ``ConnectorNotFoundError`` when it names none."""
        connector, model_name = await self._gateway_connector(space_id, model, context, "chat")
        sent, stream = apply_model(body, model_name), body.get("stream") is True
        if isinstance(connector, Route):
            return await self._routes.chat_completions(connector, space_id, sent, stream, context)
        return await self._executor.chat_completions(
            connector, sent, stream=stream, context=context
        )

    async def endpoint(
        self,
        space_id: str,
        endpoint: Endpoint,
        body: Mapping[str, object],
        model: str,
        context: ExecutionContext,
    ) -> GatewayResult:
        """``/v1/embeddings``, ``/v1/completions``, ``/v1/responses``: ``model`` as for chat; also
        ``EndpointUnavailableError`` when the connector's URL does not tell where the
        endpoint is."""
        connector, model_name = await self._gateway_connector(space_id, model, context, endpoint)
        sent = apply_model(body, model_name)
        if isinstance(connector, Route):
            return await self._routes.endpoint(connector, space_id, endpoint, sent, context)
        return await self._executor.endpoint(connector, endpoint, sent, context=context)

    async def _gateway_connector(
        self, space_id: str, model: str, context: ExecutionContext, endpoint: Endpoint
    ) -> tuple[Connector | Route, str | None]:
        """The one door of every ``/v1`` execution: the connector (or route) ``model``
        names, and the request admitted by the limits that cover it
        (``LimitExceededError``)."""
        connector_id, model_name = split_model(model, self._preconfigured)
        connector = await self._connectors.resolve(space_id, connector_id)
        if self._limits is not None:
            sub_action = GATEWAY_SUB_ACTION if endpoint == "chat" else endpoint
            await self._limits.admit(connector, context, sub_action, endpoint)
        return connector, model_name

    async def model(self, space_id: str, model: str) -> ConnectorView:
        """``/v1/models/{model}``: the connector ``model`` names (``ConnectorNotFoundError``)."""
        connector_id, _ = split_model(model, self._preconfigured)
        return await self._connectors.get(space_id, connector_id)


def stream_of(result: ExecutionResult) -> Stream | None:
    """The stream a successful streamed execution returns, else None."""
    if result.ok and isinstance(result.data, TappedStream | ChunkIterator):
        return result.data
    return None


class _EventLogSink:
    """Turns execution records into Kibana event documents on the writer's queue;
    ``execute`` documents are journalled too (durability ``answer``), and ``finished``
    returns what the answer waits for. ``execute-start`` documents stay asynchronous.

    (``bench/relay_launcher.py`` replaces its methods by this name to switch the event
    log off.)
    """

    def __init__(
        self,
        writer: EventWriter,
        metrics: RelayMetrics,
        *,
        server_uuid: str,
        version: str,
        prices: Mapping[str, Price] = DEFAULT_PRICES,
        on_finished: Callable[[ExecutionRecord, Decimal | None], None] = lambda r, c: None,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._server = {"server_uuid": server_uuid, "version": version}
        self._prices = PriceBook(prices)
        self._on_finished = on_finished  # the limits count the execution's tokens and cost

    def started(self, record: ExecutionRecord) -> None:
        self._writer.submit(start_document(record, **self._server))

    def started_final(self, record: ExecutionRecord) -> None:
        self.started(record)
        record.execute_base = execute_base(record, **self._server)

    def finished(self, record: ExecutionRecord) -> Durable:
        cost = self._cost(record)
        durable = self._writer.submit_durable(self._execute_document(record, cost))
        self._metrics.later(record)
        self._on_finished(record, cost)  # the limits count its tokens and cost
        return durable

    def journaled(self, record: ExecutionRecord) -> Durable:
        return self._writer.journal_only(self._execute_document(record, self._cost(record)))

    def _cost(self, record: ExecutionRecord) -> Decimal | None:
        # the execution's cost, from what its event records (a recount changes it)
        return self._prices.cost(record.model, record.recorded_usage)

    def _execute_document(self, record: ExecutionRecord, cost: Decimal | None) -> dict[str, object]:
        base, record.execute_base = record.execute_base, None  # used once
        return execute_document(record, cost=cost, base=base, **self._server)


class _LastRecord:
    """An event sink that keeps the finished record (a run without an event log)."""

    def __init__(self) -> None:
        self.record: ExecutionRecord | None = None

    def started(self, record: ExecutionRecord) -> None:
        return None

    def started_final(self, record: ExecutionRecord) -> None:
        return None

    def finished(self, record: ExecutionRecord) -> Durable:
        self.record = record
        return None

    def journaled(self, record: ExecutionRecord) -> Durable:
        return None


async def run_without_store(
    connector: Connector,
    sub_action: str,
    params: Mapping[str, object],
    *,
    settings: ActionsSettings | None = None,
    on_chunk: Callable[[object], None],
    source: str = "cli",
) -> tuple[ExecutionResult, ExecutionRecord | None]:
    """One execution with a fresh executor and no store (``llmrelay execute`` / ``demo``):
    a streamed answer goes chunk by chunk to ``on_chunk`` (bytes or parsed chunks) and
    the result keeps no data; the execution's record comes back instead of an event."""
    sink = _LastRecord()
    async with Executor(settings or ActionsSettings(), sink=sink) as executor:
        result = await executor.execute(
            connector, sub_action, params, context=ExecutionContext(source=source)
        )
        stream = stream_of(result)
        if stream is not None:
            try:
                async for chunk in stream:
                    on_chunk(chunk)
            finally:
                await stream.aclose()
            result.data = None
    return result, sink.record
