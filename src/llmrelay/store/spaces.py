"""Which spaces exist: those created on purpose, and those in use by a connector or a grant.

Spaces are implicit in Kibana's API (any ``/s/<id>`` works); the UI asks this store so that
picking a space that does not exist says so instead of showing an empty space.
"""

from __future__ import annotations

from sqlalchemy import exc, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.domain.access import ALL_SPACES
from llmrelay.store.schema import api_key_grants, connectors, spaces, user_grants
from llmrelay.store.sql import reading, utcnow, writing


class SpaceRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, space_id: str) -> bool:
        """Record ``space_id``; False when it was recorded already."""
        async with writing(self._engine) as conn:
            try:
                await conn.execute(spaces.insert().values(id=space_id, created_at=utcnow()))
            except exc.IntegrityError:
                return False
        return True

    async def exists(self, space_id: str) -> bool:
        """True when the space was created, or a connector or grant names it."""
        query = union(
            select(spaces.c.id).where(spaces.c.id == space_id),
            select(connectors.c.space_id).where(connectors.c.space_id == space_id),
            select(user_grants.c.space).where(user_grants.c.space == space_id),
            select(api_key_grants.c.space).where(api_key_grants.c.space == space_id),
        ).limit(1)
        async with reading(self._engine) as conn:
            return (await conn.execute(query)).first() is not None

    async def list(self) -> list[str]:
        """Every space created or in use, sorted."""
        query = union(
            select(spaces.c.id),
            select(connectors.c.space_id),
            select(user_grants.c.space),
            select(api_key_grants.c.space),
        )
        async with reading(self._engine) as conn:
            found = {row[0] for row in await conn.execute(query)}
        found.discard(ALL_SPACES)
        return sorted(found)
