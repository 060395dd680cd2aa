"""Applying migrations: the ``schema_version`` bookkeeping, the lock, one transaction.

``schema_version`` records the steps applied. All pending steps run in one write
transaction (SQLite and PostgreSQL both have transactional DDL), so a failed step leaves
the database as it was. Concurrent openers are serialised by :func:`_lock_for_migrations`:
SQLite's ``BEGIN IMMEDIATE`` already holds the write lock; on PostgreSQL a
transaction-level advisory lock does the same job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import StoreError
from llmrelay.store import schema
from llmrelay.store.sql import utcnow, writing

# An arbitrary constant naming "llmrelay schema migrations" for pg_advisory_xact_lock.
ADVISORY_LOCK_KEY = 0x6C6C_6D72_6C79_0001

Statements = tuple[str, ...]
"""Literal DDL, run in order."""

# The bookkeeping table every version has, created before anything is read (frozen too).
SCHEMA_VERSION: Mapping[str, Statements] = {
    "sqlite": (
        """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (version)
)""",
    ),
    "postgresql": (
        """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (version)
)""",
    ),
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # stored in schema_version: never reworded once released
    apply: Callable[[Connection], None]


def statements_for(conn: Connection, by_dialect: Mapping[str, Statements]) -> Statements:
    """The statements written for this connection's dialect."""
    name = conn.dialect.name
    if name not in by_dialect:
        raise StoreError(f"unsupported database dialect {name!r} (use sqlite or postgresql)")
    return by_dialect[name]


def execute_all(conn: Connection, statements: Statements) -> None:
    for statement in statements:
        conn.execute(text(statement))


def _lock_for_migrations(conn: Connection) -> None:
    """Hook: serialise concurrent migrators for the rest of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    # sqlite: the transaction began IMMEDIATE, which already excludes other writers.


def _apply(conn: Connection, steps: Sequence[Migration]) -> list[int]:
    _lock_for_migrations(conn)
    execute_all(conn, statements_for(conn, SCHEMA_VERSION))
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


async def apply_pending(engine: AsyncEngine, steps: Sequence[Migration]) -> list[int]:
    """Apply the steps the database lacks; returns the versions applied now."""
    ordered = sorted(steps, key=lambda m: m.version)
    if len({m.version for m in ordered}) != len(ordered):
        raise StoreError("duplicate migration version")
    async with writing(engine) as conn:
        return await conn.run_sync(_apply, ordered)
