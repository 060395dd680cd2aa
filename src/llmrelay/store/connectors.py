"""Connectors stored per space, secrets sealed by the :class:`SecretBox`.

Config is kept in clear as canonical JSON (it is returned by the API and bound as AAD);
secrets only ever reach the database as an AES-GCM blob. ``list`` never decrypts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, exc, select
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import ConnectorConflictError, ConnectorNotFoundError
from llmrelay.store.notify import notify_connector_changed
from llmrelay.store.schema import connectors as t
from llmrelay.store.secretbox import SecretBox, associated_data, canonical_json
from llmrelay.store.sql import reading, utcnow, writing

Revision = tuple[int, datetime]
"""``(version, updated_at)`` of a stored connector: changes on every update and re-creation."""


@dataclass(frozen=True)
class StoredConnector:
    id: str
    space_id: str
    name: str
    connector_type_id: str
    config: dict[str, object]
    secrets: dict[str, object] = field(repr=False)  # decrypted; {} from list()
    is_missing_secrets: bool
    created_at: datetime
    updated_at: datetime
    version: int  # +1 on every update; caches compare it (with updated_at, see revision)

    @property
    def revision(self) -> Revision:
        return (self.version, self.updated_at)


def _not_found(connector_id: str) -> ConnectorNotFoundError:
    return ConnectorNotFoundError(f"Saved object [action/{connector_id}] not found")


def _json_object(text: str) -> dict[str, object]:
    """A fresh copy of the config as stored (callers may mutate what they get)."""
    value: dict[str, object] = orjson.loads(text)
    return value


def _where(space_id: str, connector_id: str) -> Any:
    return and_(t.c.space_id == space_id, t.c.id == connector_id)


class ConnectorRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    # --- helpers -------------------------------------------------------------------
    def _seal(
        self,
        space_id: str,
        connector_id: str,
        type_id: str,
        config: Mapping[str, object],
        secrets: Mapping[str, object],
        is_missing_secrets: bool,
    ) -> bytes:
        aad = associated_data(
            space_id=space_id,
            connector_id=connector_id,
            connector_type_id=type_id,
            config=config,
            is_missing_secrets=is_missing_secrets,
        )
        return self._box.seal(secrets, aad=aad)

    def _row_to_connector(self, row: Any, *, decrypt: bool) -> StoredConnector:
        config = _json_object(row.config)
        secrets: dict[str, object] = {}
        if decrypt:
            aad = associated_data(
                space_id=row.space_id,
                connector_id=row.id,
                connector_type_id=row.connector_type_id,
                config=config,
                is_missing_secrets=bool(row.is_missing_secrets),
            )
            # Opened even when secrets are missing: it still proves the row is untampered.
            opened = self._box.open(row.secrets, aad=aad, connector_id=row.id)
            secrets = {} if row.is_missing_secrets else opened
        return StoredConnector(
            id=row.id,
            space_id=row.space_id,
            name=row.name,
            connector_type_id=row.connector_type_id,
            config=config,
            secrets=secrets,
            is_missing_secrets=bool(row.is_missing_secrets),
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=int(row.version),
        )

    # --- API -----------------------------------------------------------------------
    async def create(
        self,
        *,
        space_id: str,
        id: str | None,
        name: str,
        connector_type_id: str,
        config: dict[str, object],
        secrets: dict[str, object],
        is_missing_secrets: bool = False,
    ) -> StoredConnector:
        """Store a new connector; an id already used in ``space_id`` is a conflict."""
        connector_id = id or str(uuid.uuid4())
        now = utcnow()
        config_text = canonical_json(config).decode()
        values = {
            "space_id": space_id,
            "id": connector_id,
            "name": name,
            "connector_type_id": connector_type_id,
            "config": config_text,
            "secrets": self._seal(
                space_id, connector_id, connector_type_id, config, secrets, is_missing_secrets
            ),
            "is_missing_secrets": is_missing_secrets,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        async with writing(self._engine) as conn:
            try:
                await conn.execute(t.insert().values(**values))
            except exc.IntegrityError:
                raise ConnectorConflictError(
                    f"Saved object [action/{connector_id}] conflict"
                ) from None
            await notify_connector_changed(conn, space_id, connector_id)
        return StoredConnector(
            id=connector_id,
            space_id=space_id,
            name=name,
            connector_type_id=connector_type_id,
            config=_json_object(config_text),
            secrets={} if is_missing_secrets else dict(secrets),
            is_missing_secrets=is_missing_secrets,
            created_at=now,
            updated_at=now,
            version=1,
        )

    async def get(self, space_id: str, id: str, *, decrypt: bool = True) -> StoredConnector:
        """The connector with decrypted secrets (for execution and validation).

        ``decrypt=False`` is for API reads (Kibana's get never decrypts): ``secrets`` is {}
        and a tampered row is still returned; the execution path will refuse it.
        """
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(t).where(_where(space_id, id)))).first()
        if row is None:
            raise _not_found(id)
        return self._row_to_connector(row, decrypt=decrypt)

    async def list(self, space_id: str) -> list[StoredConnector]:
        """Connectors of a space sorted by name (case-insensitively, then id); not decrypted.

        Sorted here, not in SQL: collations differ between SQLite and PostgreSQL databases.
        """
        async with reading(self._engine) as conn:
            rows = (await conn.execute(select(t).where(t.c.space_id == space_id))).all()
        found = [self._row_to_connector(row, decrypt=False) for row in rows]
        return sorted(found, key=lambda c: (c.name.casefold(), c.name, c.id))

    async def update(
        self,
        space_id: str,
        id: str,
        *,
        name: str,
        config: dict[str, object],
        secrets: dict[str, object],
    ) -> StoredConnector:
        """Replace name, config and secrets (as a whole); the type never changes."""
        async with writing(self._engine) as conn:
            # FOR UPDATE: on PostgreSQL concurrent updates queue here instead of both reading
            # the same version (SQLite's BEGIN IMMEDIATE already serialises; it has no FOR UPDATE)
            query = select(t).where(_where(space_id, id)).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                raise _not_found(id)
            now = utcnow()
            config_text = canonical_json(config).decode()
            values = {
                "name": name,
                "config": config_text,
                "secrets": self._seal(space_id, id, row.connector_type_id, config, secrets, False),
                "is_missing_secrets": False,
                "updated_at": now,
                "version": int(row.version) + 1,
            }
            await conn.execute(t.update().where(_where(space_id, id)).values(**values))
            await notify_connector_changed(conn, space_id, id)
        return StoredConnector(
            id=id,
            space_id=space_id,
            name=name,
            connector_type_id=row.connector_type_id,
            config=_json_object(config_text),
            secrets=dict(secrets),
            is_missing_secrets=False,
            created_at=row.created_at,
            updated_at=now,
            version=int(row.version) + 1,
        )

    async def delete(self, space_id: str, id: str) -> None:
        async with writing(self._engine) as conn:
            result = await conn.execute(t.delete().where(_where(space_id, id)))
            if result.rowcount == 0:
                raise _not_found(id)
            await notify_connector_changed(conn, space_id, id)

    async def revision_of(self, space_id: str, id: str) -> Revision | None:
        """``(version, updated_at)``, or None when the connector does not exist.

        What caches compare: the version alone would not tell a connector deleted and
        created again under the same id (both at version 1) from the one cached.
        """
        async with reading(self._engine) as conn:
            row = (
                await conn.execute(select(t.c.version, t.c.updated_at).where(_where(space_id, id)))
            ).first()
        return None if row is None else (int(row.version), row.updated_at)
