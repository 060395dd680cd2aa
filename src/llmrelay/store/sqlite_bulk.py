"""Event-log batches on SQLite: one transaction, a handful of statements, whatever the size.

The event writer shares the process with a busy event loop. SQLite's driver gives up the
GIL for every ``sqlite3_step`` and must take it back afterwards, which under load waits
up to the interpreter's switch interval (5 ms). ``executemany`` steps once per row, so a
500-row batch could take seconds (measured on a 2-core machine at concurrency 16: the
queue overflowed and 40% of all events went through the spool). Here each statement
carries the whole batch as one JSON array, expanded by SQLite's ``json_each`` inside a
single step; the statements go straight to the aiosqlite connection (one thread hop each,
where SQLAlchemy's cursor adapter takes three or four). Per batch: ``BEGIN IMMEDIATE``,
one lookup, one insert, one rollup upsert, ``COMMIT``.

``BEGIN IMMEDIATE`` holds the database's write lock for the whole transaction, so "which
ids are already there" cannot change between the lookup and the insert. PostgreSQL keeps
SQLAlchemy Core (asyncpg batches statements itself).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrelay.errors import StoreError
from llmrelay.store.event_rows import EVENT_COLUMNS, ROLLUP_COLUMNS, ParsedEvent, rollup_rows
from llmrelay.store.schema import ROLLUP_KEY, ROLLUP_SUMS, events, usage_rollups
from llmrelay.store.sql import translated


def _from_json_array(columns: Sequence[str]) -> str:
    return ", ".join(f"value->>{index}" for index in range(len(columns)))


# identifiers come from schema.py; the one parameter is a JSON array of row arrays
_LOOKUP = (
    f"SELECT event_id FROM {events.name} "  # noqa: S608
    "WHERE event_id IN (SELECT value FROM json_each(?))"
)
_INSERT_EVENTS = (
    f"INSERT OR IGNORE INTO {events.name} ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608
    f"SELECT {_from_json_array(EVENT_COLUMNS)} FROM json_each(?)"
)
_UPSERT_ROLLUPS = (
    f"INSERT INTO {usage_rollups.name} ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608
    f"SELECT {_from_json_array(ROLLUP_COLUMNS)} FROM json_each(?) WHERE true "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in ROLLUP_SUMS)
)


def _json(values: object) -> str:
    return orjson.dumps(values).decode()


async def write_events(engine: AsyncEngine, items: Sequence[ParsedEvent]) -> int:
    """Insert the events not stored yet and add their rollups; returns how many were new."""
    async with translated(), engine.connect() as conn:
        pooled = await conn.get_raw_connection()
        db: Any = pooled.driver_connection  # the aiosqlite connection
        try:
            await db.execute("BEGIN IMMEDIATE")
            stored = {
                row[0]
                for row in await db.execute_fetchall(
                    _LOOKUP, (_json([item.event_id for item in items]),)
                )
            }
            new = [item for item in items if item.event_id not in stored] if stored else items
            if new:
                await db.execute(_INSERT_EVENTS, (_json([item.row for item in new]),))
                rollups = rollup_rows(new)
                if rollups:
                    await db.execute(_UPSERT_ROLLUPS, (_json(rollups),))
            await db.execute("COMMIT")
        except sqlite3.Error as err:
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    await db.execute("ROLLBACK")
            raise StoreError(f"database error: {type(err).__name__}: {err}") from err
    return len(new)
