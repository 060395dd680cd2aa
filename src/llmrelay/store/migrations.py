"""Versioned schema migrations, applied in order when the store opens.

Each :class:`Migration` is a numbered step; ``schema_version`` records the ones applied.
All pending steps run in one write transaction (SQLite and PostgreSQL both have
transactional DDL), so a failed step leaves the database as it was. Concurrent openers
are serialised by :func:`_lock_for_migrations`: SQLite's ``BEGIN IMMEDIATE`` already holds
the write lock; on PostgreSQL a transaction-level advisory lock does the same job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import StoreError
from llmrelay.store import schema
from llmrelay.store.partitions import partition_events
from llmrelay.store.sql import reading, utcnow, writing

PARTITION_DAYS_AHEAD = 7  # day partitions kept ready beyond today (maintenance tops it up)

# An arbitrary constant naming "llmrelay schema migrations" for pg_advisory_xact_lock.
ADVISORY_LOCK_KEY = 0x6C6C_6D72_6C79_0001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    for table in (
        schema.connectors,
        schema.users,
        schema.user_grants,
        schema.api_keys,
        schema.api_key_grants,
        schema.events,
        schema.usage_rollups,
    ):
        table.create(conn)  # also creates the table's indexes


def _events_by_time(conn: Connection) -> None:
    """Retention deletes raw events by time: partitions on PostgreSQL, an index on SQLite."""
    if conn.dialect.name == "postgresql":
        partition_events(conn, utcnow().date(), PARTITION_DAYS_AHEAD)
    else:
        conn.execute(text('CREATE INDEX ix_events_time ON events ("timestamp")'))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "connectors, users, api keys, grants, events, usage rollups", _initial),
    Migration(
        2, "events by time: daily partitions (PostgreSQL), time index (SQLite)", _events_by_time
    ),
)


def _lock_for_migrations(conn: Connection) -> None:
    """Hook: serialise concurrent migrators for the rest of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    # sqlite: the transaction began IMMEDIATE, which already excludes other writers.


def _apply(conn: Connection, steps: Sequence[Migration]) -> list[int]:
    _lock_for_migrations(conn)
    schema.schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0
    latest = steps[-1].version if steps else 0
    if current > latest:
        raise StoreError(
            f"database schema version {current} is newer than this llmrelay supports "
            f"({latest}); upgrade llmrelay"
        )
    applied: list[int] = []
    for step in steps:
        if step.version <= current:
            continue
        step.apply(conn)
        conn.execute(
            schema.schema_version.insert().values(
                version=step.version, name=step.name, applied_at=utcnow()
            )
        )
        applied.append(step.version)
    return applied


async def migrate(engine: AsyncEngine, steps: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply pending steps; returns the versions applied now (empty when up to date)."""
    ordered = sorted(steps, key=lambda m: m.version)
    if len({m.version for m in ordered}) != len(ordered):
        raise StoreError("duplicate migration version")
    async with writing(engine) as conn:
        return await conn.run_sync(_apply, ordered)


async def current_version(engine: AsyncEngine) -> int:
    async with reading(engine) as conn:
        value = await conn.scalar(select(func.max(schema.schema_version.c.version)))
        return int(value or 0)
