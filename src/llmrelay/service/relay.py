"""Relay: the service as one object. Opens the store, the event writer and the executor,
wires them, and offers them only as services: ``connectors``, ``execution``, ``usage``,
``access``, ``health``, ``limits`` and ``spaces``.

The web app and the CLI are thin adapters over this; so is a Python user who wants the
whole service (stored connectors, encrypted secrets, event log) without HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

from llmrelay.domain.connector_types import Runnable
from llmrelay.errors import ConfigurationError
from llmrelay.execution.executor import DashboardAccess, Executor
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.metrics import RelayMetrics
from llmrelay.service.access import AccessService
from llmrelay.service.connectors import ConnectorService, load_preconfigured, runtime_connector
from llmrelay.service.execution import ExecutionService, _EventLogSink
from llmrelay.service.health import HealthService
from llmrelay.service.limits import LimitService
from llmrelay.service.spaces import SpaceService
from llmrelay.service.usage import UsageService
from llmrelay.settings import Settings
from llmrelay.store import Store, open_store
from llmrelay.store.connector_cache import ConnectorCache
from llmrelay.store.event_writer import EventWriter
from llmrelay.store.journal import Journal
from llmrelay.store.limit_counters import LimitCounters
from llmrelay.store.limit_guard import OutagePolicy
from llmrelay.store.limit_shares import LocalShares
from llmrelay.store.limits import LimitRepository
from llmrelay.store.notify import ConnectorChangeFeed
from llmrelay.store.retention import EventLogMaintenance
from llmrelay.store.spool import Spool

_NO_KEY = (
    "Unable to create actions client because the Encrypted Saved Objects plugin is missing "
    "encryption key. Please set xpack.encryptedSavedObjects.encryptionKey in the kibana.yml "
    "or use the bin/kibana-encryption-keys command."
)


class Relay:
    """The service: stored and preconfigured connectors, execution, the event log and
    usage, users and API keys, health. Open it with :meth:`open`."""

    connectors: ConnectorService
    execution: ExecutionService
    usage: UsageService
    access: AccessService
    health: HealthService
    limits: LimitService
    spaces: SpaceService

    def __init__(
        self,
        settings: Settings,
        store: Store,
        writer: EventWriter,
        *,
        dashboard_access: DashboardAccess | None = None,
    ) -> None:
        preconfigured = load_preconfigured(settings)  # first: it may refuse the settings
        self._store = store
        self._writer = writer
        metrics = RelayMetrics(lambda: writer.stats)
        counters = LimitCounters(store.engine)
        self.limits = LimitService(
            LimitRepository(store.engine),
            LocalShares(counters, OutagePolicy.from_setting(settings.limits_on_store_outage)),
            revalidate_after=settings.connector_revalidate_after.total_seconds(),
        )
        sink = _EventLogSink(
            writer,
            metrics,
            server_uuid=settings.server_uuid,
            version=settings.version,
            prices=settings.prices,
            on_finished=self.limits.finished,
        )
        self._sink = sink
        self._executor = Executor(settings.actions, sink=sink, dashboard_access=dashboard_access)
        # validated connectors by (space, id): no DB I/O on a hit; kept coherent with the
        # other processes by the change feed (LISTEN/NOTIFY) and a bounded-age revision check
        cache: ConnectorCache[Runnable] = ConnectorCache(
            store.connectors,
            partial(runtime_connector, settings),
            revalidate_after=settings.connector_revalidate_after.total_seconds(),
        )
        self._changes = ConnectorChangeFeed(
            store.engine.url, on_change=cache.invalidate, on_gap=cache.recheck_all
        )
        self._maintenance = EventLogMaintenance(
            store.engine, retention=settings.event_log_retention
        )
        self.connectors = ConnectorService(settings, store.connectors, preconfigured, cache)
        self.execution = ExecutionService(
            self._executor, self.connectors, preconfigured, sink, self.limits
        )
        self.usage = UsageService(store.events, writer)
        self.access = AccessService(store.users)
        self.spaces = SpaceService(store.spaces)
        self.health = HealthService(settings, store, writer, metrics)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, *, dashboard_access: DashboardAccess | None = None
    ) -> AsyncIterator[Relay]:
        """The running service; everything it opened is closed on exit, and on a failure
        while opening (a refused preconfigured connector, a database that does not
        answer) whatever was opened by then."""
        if not settings.encryption_key:
            raise ConfigurationError(_NO_KEY)
        store = await open_store(settings.database_url, encryption_key=settings.encryption_key)
        try:
            writer = EventWriter(
                store.events.write,
                spool=Spool(settings.spool_path),
                journal=Journal(settings.journal_dir),  # also replays a killed run's
                durable=settings.event_log_durability == "answer",
            )
            relay = cls(settings, store, writer, dashboard_access=dashboard_access)
        except BaseException:
            await store.close()
            raise
        try:
            await writer.start()
            await relay._changes.start()
            relay._maintenance.start()
            await relay.limits.start(on_refusal=relay._sink.finished)
            yield relay
        finally:
            await relay._close()

    async def _close(self) -> None:
        """Stop in reverse order of start, each step even when one before it failed: the
        executor before the writer (a stream it ends still logs its event)."""
        async with AsyncExitStack() as steps:
            steps.push_async_callback(self._store.close)
            steps.push_async_callback(self._writer.stop)
            steps.push_async_callback(self.limits.stop)  # after the executor: its counts
            steps.push_async_callback(self._executor.close)
            steps.push_async_callback(self._changes.stop)
            steps.push_async_callback(self._maintenance.stop)

    async def execute(
        self, space_id: str, connector_id: str, params: object, context: ExecutionContext
    ) -> ExecutionResult:
        """Execute a stored or preconfigured connector: ``params`` is Kibana's
        ``{"subAction": ..., "subActionParams": {...}}``; the answer is ``_execute``'s
        envelope, and the execution lands in the event log."""
        return await self.execution.execute(space_id, connector_id, params, context)
