"""Limits stored per space (their definitions; the counters are ``limit_counters.py``).

Ids are random UUIDs like connector ids, so a limit's counters can be keyed by its id alone.
Deleting a limit deletes its counters in the same transaction; changing its scope starts
them afresh (the counts were of the old scope).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.domain.limits import Limit, StoredLimit
from llmrelay.errors import LimitNotFoundError
from llmrelay.store.schema import LIMIT_FIGURES, limit_windows
from llmrelay.store.schema import limits as t
from llmrelay.store.sql import reading, utcnow, writing

__all__ = ["LimitRepository"]


def _not_found(limit_id: str) -> LimitNotFoundError:
    return LimitNotFoundError(f"Limit [{limit_id}] not found")


def _columns(limit: Limit) -> dict[str, object]:
    return {
        "name": limit.name,
        "scope_kind": limit.scope_kind,
        "scope_id": limit.scope_id,
        **{field: getattr(limit, field) for field in LIMIT_FIGURES},
    }


def _row_to_limit(row: Any) -> StoredLimit:
    body: dict[str, object] = {"name": row.name, "scope": {row.scope_kind: row.scope_id}}
    for field in LIMIT_FIGURES:
        value = getattr(row, field)
        if value is not None:
            body[field] = value
    return StoredLimit(
        id=row.id,
        space_id=row.space_id,
        limit=Limit.model_validate(body),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _where(space_id: str, limit_id: str) -> Any:
    return and_(t.c.space_id == space_id, t.c.id == limit_id)


async def _delete_counters(conn: AsyncConnection, limit_id: str) -> None:
    await conn.execute(delete(limit_windows).where(limit_windows.c.limit_id == limit_id))


class LimitRepository:
    """CRUD of limit definitions; built on the store's engine by whoever needs it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, space_id: str, limit: Limit, *, now: datetime | None = None
    ) -> StoredLimit:
        """Store a new limit under a fresh id (never a caller's: ids key the counters)."""
        limit_id = str(uuid.uuid4())
        at = now or utcnow()
        values = {"space_id": space_id, "id": limit_id, **_columns(limit)}
        async with writing(self._engine) as conn:
            await conn.execute(t.insert().values(**values, created_at=at, updated_at=at))
        return StoredLimit(limit_id, space_id, limit, at, at)

    async def get(self, space_id: str, limit_id: str) -> StoredLimit:
        async with reading(self._engine) as conn:
            row = (await conn.execute(select(t).where(_where(space_id, limit_id)))).first()
        if row is None:
            raise _not_found(limit_id)
        return _row_to_limit(row)

    async def list_all(self) -> list[StoredLimit]:
        """Every space's limits: what an enforcing process keeps in memory."""
        query = select(t).order_by(t.c.space_id, t.c.name, t.c.id)
        async with reading(self._engine) as conn:
            return [_row_to_limit(row) for row in await conn.execute(query)]

    async def list(self, space_id: str) -> list[StoredLimit]:
        """The space's limits, by name then id."""
        query = select(t).where(t.c.space_id == space_id).order_by(t.c.name, t.c.id)
        async with reading(self._engine) as conn:
            return [_row_to_limit(row) for row in await conn.execute(query)]

    async def update(
        self, space_id: str, limit_id: str, limit: Limit, *, now: datetime | None = None
    ) -> StoredLimit:
        """Replace the definition (``PUT``); the counters go on unless the scope changes."""
        at = now or utcnow()
        async with writing(self._engine) as conn:
            row = (await conn.execute(select(t).where(_where(space_id, limit_id)))).first()
            if row is None:
                raise _not_found(limit_id)
            if (row.scope_kind, row.scope_id) != (limit.scope_kind, limit.scope_id):
                await _delete_counters(conn, limit_id)
            await conn.execute(
                update(t).where(_where(space_id, limit_id)).values(**_columns(limit), updated_at=at)
            )
        return StoredLimit(limit_id, space_id, limit, row.created_at, at)

    async def delete(self, space_id: str, limit_id: str) -> None:
        async with writing(self._engine) as conn:
            result = await conn.execute(delete(t).where(_where(space_id, limit_id)))
            if result.rowcount == 0:
                raise _not_found(limit_id)
            await _delete_counters(conn, limit_id)
