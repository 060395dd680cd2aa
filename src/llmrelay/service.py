"""Relay: the service as a library. Composes settings, store, event log and executor.

The web app and the CLI are thin adapters over this; so is a Python user who wants the
whole service (stored connectors, encrypted secrets, event log) without HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from llmrelay.domain.connectors import (
    GEN_AI,
    Connector,
    ConnectorSecrets,
    config_to_dict,
    secrets_to_dict,
    validate_config,
    validate_secrets,
)
from llmrelay.domain.event_documents import execute_document, start_document
from llmrelay.domain.events import ExecutionRecord
from llmrelay.domain.request_bodies import create_body, update_body
from llmrelay.errors import (
    ConfigurationError,
    ConnectorBadRequestError,
    ConnectorNotFoundError,
    ConnectorTypeDisabledError,
    ConnectorValidationError,
)
from llmrelay.execution.executor import DashboardAccess, Executor
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.metrics import RelayMetrics
from llmrelay.settings import Settings
from llmrelay.store import Store, open_store
from llmrelay.store.connector_cache import ConnectorCache
from llmrelay.store.connectors import StoredConnector
from llmrelay.store.event_writer import EventWriter
from llmrelay.store.notify import ConnectorChangeFeed
from llmrelay.store.retention import EventLogMaintenance
from llmrelay.store.spool import Spool

log = logging.getLogger("llmrelay.service")

CONNECTOR_TYPE = {
    "id": GEN_AI,
    "name": "OpenAI",
    "enabled": True,
    "enabled_in_config": True,
    "enabled_in_license": True,
    "minimum_license_required": "enterprise",
    "supported_feature_ids": [
        "generativeAIForSecurity",
        "generativeAIForObservability",
        "generativeAIForSearchPlayground",
    ],
    "is_system_action_type": False,
    "is_deprecated": False,
}


@dataclass(frozen=True, slots=True)
class ConnectorView:
    """What the API shows of a connector: never its secrets."""

    id: str
    name: str
    connector_type_id: str
    config: Mapping[str, object] | None
    is_preconfigured: bool
    is_missing_secrets: bool | None = None

    def to_api(self) -> dict[str, object]:
        body: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "connector_type_id": self.connector_type_id,
        }
        if self.config is not None:
            body["config"] = dict(self.config)
        body["is_preconfigured"] = self.is_preconfigured
        body["is_deprecated"] = False
        if self.is_missing_secrets is not None:
            body["is_missing_secrets"] = self.is_missing_secrets
        body["is_system_action"] = False
        body["is_connector_type_deprecated"] = False
        return body


class _EventLogSink:
    """Turns execution records into Kibana event documents on the writer's queue."""

    def __init__(
        self, writer: EventWriter, metrics: RelayMetrics, *, server_uuid: str, version: str
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._server = {"server_uuid": server_uuid, "version": version}

    def started(self, record: ExecutionRecord) -> None:
        self._writer.submit(start_document(record, **self._server))

    def finished(self, record: ExecutionRecord) -> None:
        self._writer.submit(execute_document(record, **self._server))
        self._metrics.observe(record)


class Relay:
    """The service: stored connectors, preconfigured ones, execution and the event log."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        writer: EventWriter,
        *,
        dashboard_access: DashboardAccess | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.writer = writer
        self.metrics = RelayMetrics(lambda: writer.stats)
        sink = _EventLogSink(
            writer, self.metrics, server_uuid=settings.server_uuid, version=settings.version
        )
        self.executor = Executor(settings.actions, sink=sink, dashboard_access=dashboard_access)
        self.preconfigured = _load_preconfigured(settings)
        # validated connectors by (space, id): no DB I/O on a hit; kept coherent with the
        # other processes by ``changes`` (LISTEN/NOTIFY) and a bounded-age revision check
        self.connectors = ConnectorCache(
            store.connectors,
            self._runtime_connector,
            revalidate_after=settings.connector_revalidate_after.total_seconds(),
        )
        self.changes = ConnectorChangeFeed(
            store.engine.url,
            on_change=self.connectors.invalidate,
            on_gap=self.connectors.recheck_all,
        )
        self.maintenance = EventLogMaintenance(store.engine, retention=settings.event_log_retention)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, *, dashboard_access: DashboardAccess | None = None
    ) -> AsyncIterator[Relay]:
        if not settings.encryption_key:
            raise ConfigurationError(
                "Unable to create actions client because the Encrypted Saved Objects plugin is "
                "missing encryption key. Please set xpack.encryptedSavedObjects.encryptionKey "
                "in the kibana.yml or use the bin/kibana-encryption-keys command."
            )
        store = await open_store(settings.database_url, encryption_key=settings.encryption_key)
        writer = EventWriter(store.events.write, spool=Spool(settings.spool_path))
        relay = cls(settings, store, writer, dashboard_access=dashboard_access)
        await writer.start()
        try:
            await relay.changes.start()
            relay.maintenance.start()
            yield relay
        finally:
            await relay.maintenance.stop()
            await relay.changes.stop()
            await relay.executor.close()
            await writer.stop()
            await store.close()

    # --- connectors --------------------------------------------------------------------
    async def list_connectors(self, space_id: str) -> list[ConnectorView]:
        stored = await self.store.connectors.list(space_id)
        views = [_stored_view(c) for c in stored]
        views.extend(
            _preconfigured_view(c, self._exposes(c.id)) for c in self.preconfigured.values()
        )
        return sorted(views, key=lambda v: (v.name.lower(), v.id))

    async def get_connector(self, space_id: str, connector_id: str) -> ConnectorView:
        pre = self.preconfigured.get(connector_id)
        if pre is not None:
            return _preconfigured_view(pre, self._exposes(connector_id))
        stored = await self.store.connectors.get(space_id, connector_id, decrypt=False)
        return _stored_view(stored)

    async def create_connector(
        self, space_id: str, body: object, *, connector_id: str | None = None
    ) -> ConnectorView:
        """Kibana's create: the body's shape first (``RequestBodyError``), then the id,
        the type, config, secrets and whether the type is enabled."""
        body = create_body(body)
        type_id = body["connector_type_id"]
        if connector_id is not None and not _valid_id(connector_id):
            raise ConnectorBadRequestError(
                "[id]: must be 1-255 characters without control characters or slashes"
            )
        if connector_id is not None and connector_id in self.preconfigured:
            raise ConnectorBadRequestError(
                f"This {connector_id} already exists in a preconfigured action."
            )
        if type_id != GEN_AI:
            raise ConnectorBadRequestError(f'Action type "{type_id}" is not registered.')
        config = validate_config(body["config"], self.settings.actions)
        secrets = validate_secrets(body["secrets"])
        self._ensure_enabled(GEN_AI)
        stored = await self.store.connectors.create(
            space_id=space_id,
            id=connector_id,
            name=_name(body),
            connector_type_id=GEN_AI,
            config=config_to_dict(config),
            secrets=dict(secrets_to_dict(secrets)),
        )
        return _stored_view(stored)

    async def update_connector(
        self,
        space_id: str,
        connector_id: str,
        body: object,
        *,
        keep_secrets: bool = False,
    ) -> ConnectorView:
        """Replace name, config and secrets (Kibana's PUT); the body's shape is checked
        first (``RequestBodyError``).

        ``keep_secrets`` (the web UI's edit form, docs/deviations.md): a secret field that
        is missing or empty keeps its stored value, and ``null`` removes it.
        """
        body = update_body(body, keep_secrets=keep_secrets)
        if connector_id in self.preconfigured:
            raise ConnectorBadRequestError(
                f"Preconfigured action {connector_id} can not be updated."
            )
        config = validate_config(body["config"], self.settings.actions)
        raw_secrets = body["secrets"]
        if keep_secrets:
            raw_secrets = await self._merged_secrets(space_id, connector_id, raw_secrets)
        secrets = validate_secrets(raw_secrets)
        stored = await self.store.connectors.update(
            space_id,
            connector_id,
            name=_name(body),
            config=config_to_dict(config),
            secrets=dict(secrets_to_dict(secrets)),
        )
        self.connectors.invalidate(space_id, connector_id)
        return _stored_view(stored)

    async def _merged_secrets(self, space_id: str, connector_id: str, given: object) -> object:
        """Stored secrets overlaid with the given non-empty ones; ``null`` drops a field."""
        if not isinstance(given, Mapping):
            return given  # validate_secrets reports the wrong type
        stored = await self.store.connectors.get(space_id, connector_id)
        merged: dict[str, object] = dict(stored.secrets)
        for key, value in given.items():
            if value is None:
                merged.pop(key, None)
            elif value != "":
                merged[key] = value
        return merged

    async def delete_connector(self, space_id: str, connector_id: str) -> None:
        if connector_id in self.preconfigured:
            raise ConnectorBadRequestError(
                f"Preconfigured action {connector_id} is not allowed to delete."
            )
        await self.store.connectors.delete(space_id, connector_id)
        self.connectors.invalidate(space_id, connector_id)

    async def resolve(self, space_id: str, connector_id: str) -> Connector:
        """The validated connector for an execution, from the cache when current.

        A change made by any process is seen within ``llmrelay.connectorCache.
        revalidateAfter`` (1 s), on PostgreSQL usually at once (docs/deployment.md).
        """
        pre = self.preconfigured.get(connector_id)
        if pre is not None:
            return pre
        return await self.connectors.get(space_id, connector_id)

    # --- execution ---------------------------------------------------------------------
    async def execute(
        self, space_id: str, connector_id: str, params: object, context: ExecutionContext
    ) -> ExecutionResult:
        connector = await self.resolve(space_id, connector_id)
        return await self.executor.execute_params(connector, params, context=context)

    # --- helpers -----------------------------------------------------------------------
    def _exposes(self, connector_id: str) -> bool:
        entry = self.settings.preconfigured.get(connector_id)
        return bool(entry and entry.exposeConfig)

    def _ensure_enabled(self, type_id: str) -> None:
        if not self.settings.actions.action_type_enabled(type_id):
            raise ConnectorTypeDisabledError(
                f'action type "{type_id}" is not enabled in the Kibana config '
                "xpack.actions.enabledActionTypes"
            )

    def _runtime_connector(self, stored: StoredConnector) -> Connector:
        """Re-validate what the store holds (Kibana validates at execution time too)."""
        config = validate_config(stored.config, self.settings.actions)
        secrets = (
            validate_secrets(stored.secrets)
            if not stored.is_missing_secrets
            else ConnectorSecrets()
        )
        return Connector(
            id=stored.id,
            name=stored.name,
            config=config,
            secrets=secrets,
            connector_type_id=stored.connector_type_id,
        )


def _name(body: Mapping[str, object]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConnectorValidationError("connector", "[name]: must be a non-empty string")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConnectorValidationError("connector", "[name]: must not contain control characters")
    return name


def _valid_id(connector_id: str) -> bool:
    return (
        0 < len(connector_id) <= 255
        and "/" not in connector_id
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in connector_id)
    )


def _stored_view(stored: StoredConnector) -> ConnectorView:
    return ConnectorView(
        id=stored.id,
        name=stored.name,
        connector_type_id=stored.connector_type_id,
        config=stored.config,
        is_preconfigured=False,
        is_missing_secrets=stored.is_missing_secrets,
    )


def _preconfigured_view(connector: Connector, expose: bool) -> ConnectorView:
    return ConnectorView(
        id=connector.id,
        name=connector.name,
        connector_type_id=connector.connector_type_id,
        config=config_to_dict(connector.config) if expose else None,
        is_preconfigured=True,
    )


def _load_preconfigured(settings: Settings) -> dict[str, Connector]:
    """Validate every ``xpack.actions.preconfigured`` entry once, at start-up."""
    loaded: dict[str, Connector] = {}
    for connector_id, entry in settings.preconfigured.items():
        try:
            connector = Connector.from_kibana(
                {
                    "name": entry.name,
                    "actionTypeId": entry.actionTypeId,
                    "config": entry.config,
                    "secrets": entry.secrets,
                },
                settings=settings.actions,
                id=connector_id,
            )
        except ConnectorValidationError as err:
            raise ConfigurationError(f"xpack.actions.preconfigured.{connector_id}: {err}") from None
        loaded[connector_id] = Connector(
            id=connector.id,
            name=connector.name,
            config=connector.config,
            secrets=connector.secrets,
            connector_type_id=connector.connector_type_id,
            is_preconfigured=True,
        )
    return loaded


__all__ = ["CONNECTOR_TYPE", "ConnectorNotFoundError", "ConnectorView", "Relay"]
