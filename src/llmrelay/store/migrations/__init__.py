"""Versioned schema migrations, applied in order when the store opens.

Every step is frozen DDL: literal SQL for SQLite and for PostgreSQL, written once and never
edited, so a fresh database and one upgraded step by step end up the same. ``schema.py``
describes the tables at the latest version for the queries; nothing is created from it.
Changing the schema therefore takes two edits: a new step module here (its own DDL for
both dialects, appended to :data:`MIGRATIONS`) and the same change in ``schema.py``;
``tests/store/test_migrations*.py`` fail when the two disagree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import StoreError
from llmrelay.store.migrations import (
    v1_initial,
    v2_events_by_time,
    v3_limits,
    v4_usage_dimensions,
    v5_spaces,
)
from llmrelay.store.migrations.runner import ADVISORY_LOCK_KEY, Migration, apply_pending

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "connectors, users, api keys, grants, events, usage rollups", v1_initial.apply),
    Migration(
        2,
        "events by time: daily partitions (PostgreSQL), time index (SQLite)",
        v2_events_by_time.apply,
    ),
    Migration(3, "limits and their window counters", v3_limits.apply),
    Migration(4, "usage rollups by endpoint and route, with cost", v4_usage_dimensions.apply),
    Migration(5, "spaces created on purpose", v5_spaces.apply),
)


# SQLite: a new connection sets WAL mode, which a connection of another opener migrating at
# that moment can refuse at once ("database is locked", not waited for by busy_timeout)
_LOCKED_RETRIES = 8


async def migrate(engine: AsyncEngine, steps: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply pending steps; returns the versions applied now (empty when up to date).
    Openers starting together on one SQLite file wait for each other (see above)."""
    for attempt in range(_LOCKED_RETRIES):
        try:
            return await apply_pending(engine, steps)
        except StoreError as err:
            sqlite = engine.dialect.name == "sqlite"
            if not sqlite or "database is locked" not in str(err):
                raise
            if attempt == _LOCKED_RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * 2**attempt)  # 50 ms .. 3.2 s, ~6.4 s in all
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["ADVISORY_LOCK_KEY", "MIGRATIONS", "Migration", "migrate"]
