"""Connectors: list, get, create, update, delete and resolve, stored and preconfigured.

Kibana's order of checks and its messages (spec §5); the id and name rules are
``domain/naming.py``'s, shared with the settings and ``Connector.from_kibana``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass

from llmrelay.domain.connector_types import (
    CONNECTOR_TYPES,
    Runnable,
    connector_type,
)
from llmrelay.domain.connectors import GEN_AI, Connector, config_to_dict
from llmrelay.domain.naming import connector_id_problem, connector_name_problem
from llmrelay.domain.request_bodies import create_body, update_body
from llmrelay.domain.validation import issue
from llmrelay.errors import (
    ActionTypeDisabledError,
    ConfigurationError,
    ConnectorBadRequestError,
    ConnectorNotFoundError,
    ConnectorValidationError,
)
from llmrelay.service.route_checks import check_references
from llmrelay.settings import Settings
from llmrelay.store.connector_cache import ConnectorCache
from llmrelay.store.connectors import ConnectorRepository, StoredConnector

CONNECTOR_TYPE: Mapping[str, object] = CONNECTOR_TYPES[GEN_AI].listing()
"""The ``.gen-ai`` entry of ``GET /api/actions/connector_types``."""


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


class ConnectorService:
    """Stored connectors (through the store and its cache) and preconfigured ones."""

    def __init__(
        self,
        settings: Settings,
        repository: ConnectorRepository,
        preconfigured: Mapping[str, Connector],
        cache: ConnectorCache[Runnable],
    ) -> None:
        self._settings = settings
        self._repository = repository
        self._preconfigured = preconfigured
        self._cache = cache

    async def list(self, space_id: str) -> list[ConnectorView]:
        stored = await self._repository.list(space_id)
        views = [_stored_view(c) for c in stored]
        views.extend(self._preconfigured_view(c) for c in self._preconfigured.values())
        return sorted(views, key=lambda v: (v.name.lower(), v.id))

    async def get(self, space_id: str, connector_id: str) -> ConnectorView:
        pre = self._preconfigured.get(connector_id)
        if pre is not None:
            return self._preconfigured_view(pre)
        return _stored_view(await self._repository.get(space_id, connector_id, decrypt=False))

    async def create(
        self, space_id: str, body: object, *, connector_id: str | None = None
    ) -> ConnectorView:
        """Kibana's create: the body's shape first (``RequestBodyError``), then the id,
        the type, config, secrets and whether the type is enabled."""
        body = create_body(body)
        type_id = body["connector_type_id"]
        if connector_id is not None:
            problem = connector_id_problem(connector_id)
            if problem is not None:
                raise ConnectorBadRequestError(issue("id", problem))
            if connector_id in self._preconfigured:
                raise ConnectorBadRequestError(
                    f"This {connector_id} already exists in a preconfigured action."
                )
        kind = connector_type(type_id) if isinstance(type_id, str) else None
        if kind is None:
            raise ConnectorBadRequestError(f'Action type "{type_id}" is not registered.')
        config = kind.config(body["config"], self._settings.actions)
        secrets = kind.secrets(body["secrets"])
        self._ensure_enabled(kind.id)
        await check_references(space_id, connector_id, kind.id, config, self._type_and_config)
        stored = await self._repository.create(
            space_id=space_id,
            id=connector_id,
            name=_name(body),
            connector_type_id=kind.id,
            config=config,
            secrets=secrets,
        )
        return _stored_view(stored)

    async def update(
        self, space_id: str, connector_id: str, body: object, *, keep_secrets: bool = False
    ) -> ConnectorView:
        """Replace name, config and secrets (Kibana's PUT); the body's shape is checked
        first (``RequestBodyError``).

        ``keep_secrets`` (the web UI's edit form, docs/deviations.md): a secret field that
        is missing or empty keeps its stored value, and ``null`` removes it.
        """
        body = update_body(body, keep_secrets=keep_secrets)
        if connector_id in self._preconfigured:
            raise ConnectorBadRequestError(
                f"Preconfigured action {connector_id} can not be updated."
            )
        current = await self._repository.get(space_id, connector_id, decrypt=False)
        kind = connector_type(current.connector_type_id)
        if kind is None:
            raise ConnectorBadRequestError(
                f'Action type "{current.connector_type_id}" is not registered.'
            )
        config = kind.config(body["config"], self._settings.actions)
        raw_secrets = body["secrets"]
        if keep_secrets:
            raw_secrets = await self._merged_secrets(space_id, connector_id, raw_secrets)
        secrets = kind.secrets(raw_secrets)
        await check_references(space_id, connector_id, kind.id, config, self._type_and_config)
        stored = await self._repository.update(
            space_id,
            connector_id,
            name=_name(body),
            config=config,
            secrets=secrets,
        )
        self._cache.invalidate(space_id, connector_id)
        return _stored_view(stored)

    async def _merged_secrets(self, space_id: str, connector_id: str, given: object) -> object:
        """Stored secrets overlaid with the given non-empty ones; ``null`` drops a field."""
        if not isinstance(given, Mapping):
            return given  # validate_secrets reports the wrong type
        stored = await self._repository.get(space_id, connector_id)
        merged: dict[str, object] = dict(stored.secrets)
        for key, value in given.items():
            if value is None:
                merged.pop(key, None)
            elif value != "":
                merged[key] = value
        return merged

    async def delete(self, space_id: str, connector_id: str) -> None:
        if connector_id in self._preconfigured:
            raise ConnectorBadRequestError(
                f"Preconfigured action {connector_id} is not allowed to delete."
            )
        await self._repository.delete(space_id, connector_id)
        self._cache.invalidate(space_id, connector_id)

    async def resolve(self, space_id: str, connector_id: str) -> Runnable:
        """The validated connector (or route) for an execution, from the cache when current.

        A change made by any process is seen within ``llmrelay.connectorCache.
        revalidateAfter`` (1 s), on PostgreSQL usually at once (docs/deployment.md).
        """
        pre = self._preconfigured.get(connector_id)
        if pre is not None:
            return pre
        return await self._cache.get(space_id, connector_id)

    def types(self, feature_id: str | None = None) -> builtins.list[dict[str, object]]:
        """``GET /api/actions/connector_types``: every registered type, enabled as the
        settings say."""
        listed: builtins.list[dict[str, object]] = []
        for kind in CONNECTOR_TYPES.values():
            entry = kind.listing()
            if feature_id and feature_id not in entry["supported_feature_ids"]:  # type: ignore[operator]
                continue
            enabled = self._settings.actions.action_type_enabled(kind.id)
            listed.append({**entry, "enabled": enabled, "enabled_in_config": enabled})
        return listed

    async def _type_and_config(
        self, space_id: str, connector_id: str
    ) -> tuple[str, Mapping[str, object]] | None:
        """A connector's type and config as the reference checks see it, or None."""
        pre = self._preconfigured.get(connector_id)
        if pre is not None:
            return pre.connector_type_id, config_to_dict(pre.config)
        try:
            stored = await self._repository.get(space_id, connector_id, decrypt=False)
        except ConnectorNotFoundError:
            return None
        return stored.connector_type_id, stored.config

    def preconfigured_settings(self, *, unexposed: bool) -> builtins.list[dict[str, object]]:
        """What the UI shows of preconfigured connectors: id, name and config (header names
        only, never values or secrets); entries without ``exposeConfig`` only when
        ``unexposed`` (the caller may change connectors; docs/deviations.md)."""
        out: builtins.list[dict[str, object]] = []
        for connector in self._preconfigured.values():
            entry = self._settings.preconfigured.get(connector.id)
            if not (unexposed or (entry and entry.exposeConfig)):
                continue
            config = config_to_dict(connector.config)
            headers = config.pop("headers", None)
            if isinstance(headers, Mapping):
                config["headerNames"] = sorted(str(k) for k in headers)
            out.append({"id": connector.id, "name": connector.name, "config": config})
        return sorted(out, key=lambda e: str(e["id"]))

    def _preconfigured_view(self, connector: Connector) -> ConnectorView:
        entry = self._settings.preconfigured.get(connector.id)
        expose = bool(entry and entry.exposeConfig)
        return ConnectorView(
            id=connector.id,
            name=connector.name,
            connector_type_id=connector.connector_type_id,
            config=config_to_dict(connector.config) if expose else None,
            is_preconfigured=True,
        )

    def _ensure_enabled(self, type_id: str) -> None:
        if not self._settings.actions.action_type_enabled(type_id):
            raise ActionTypeDisabledError(type_id)


def runtime_connector(settings: Settings, stored: StoredConnector) -> Runnable:
    """Re-validate what the store holds (Kibana validates at execution time too)."""
    kind = connector_type(stored.connector_type_id)
    if kind is None:
        raise ConnectorBadRequestError(
            f'Action type "{stored.connector_type_id}" is not registered.'
        )
    secrets = None if stored.is_missing_secrets else stored.secrets
    return kind.runnable(stored.id, stored.name, stored.config, secrets, settings.actions)


def load_preconfigured(settings: Settings) -> dict[str, Connector]:
    """Validate every ``xpack.actions.preconfigured`` entry (the server does it once, at
    start-up; the CLI too, so a bad entry is one clear line rather than a failed start)."""
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


def _name(body: Mapping[str, object]) -> str:
    name = body.get("name")
    problem = connector_name_problem(name)
    if problem is not None or not isinstance(name, str):  # (the second for mypy)
        raise ConnectorValidationError("connector", issue("name", problem or "Required"))
    return name


def _stored_view(stored: StoredConnector) -> ConnectorView:
    return ConnectorView(
        id=stored.id,
        name=stored.name,
        connector_type_id=stored.connector_type_id,
        config=stored.config,
        is_preconfigured=False,
        is_missing_secrets=stored.is_missing_secrets,
    )
