"""Event-log batches on SQLite through the driver's ``executemany``.

Measured on a 2-core machine: a batch of event documents through SQLAlchemy Core's
``insert().on_conflict_do_nothing().returning()`` cost ~90-130 µs per document, the same
rows through the driver's ``executemany`` ~15 µs. The statements are generated from the
table definitions in ``schema.py``, so the two paths cannot drift apart; PostgreSQL keeps
the Core statements (asyncpg batches them itself).

Only for use inside ``writing()``: SQLite's ``BEGIN IMMEDIATE`` holds the database's write
lock for the whole transaction, so "which ids are already there" cannot change between the
lookup and the insert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.store.schema import EPOCH, ROLLUP_KEY, ROLLUP_SUMS, events, usage_rollups

_EVENT_COLUMNS = tuple(c.name for c in events.columns if c.name != "seq")
# identifiers come from schema.py, every value is bound
_INSERT_EVENTS = (
    f"INSERT OR IGNORE INTO {events.name} ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)
_ROLLUP_COLUMNS = (*ROLLUP_KEY, *ROLLUP_SUMS)
_UPSERT_ROLLUPS = (
    f"INSERT INTO {usage_rollups.name} ({', '.join(_ROLLUP_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_ROLLUP_COLUMNS))}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in ROLLUP_SUMS)
)
_LOOKUP_CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit
_MICROSECOND = timedelta(microseconds=1)


def _bind(value: object) -> object:
    """What ``UtcDateTime`` stores on SQLite: epoch microseconds."""
    return (value - EPOCH) // _MICROSECOND if isinstance(value, datetime) else value


async def insert_events(conn: AsyncConnection, rows: Sequence[Mapping[str, object]]) -> set[str]:
    """Insert the rows whose ``event_id`` is not stored yet; returns those ids."""
    ids = [str(row["event_id"]) for row in rows]
    stored: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        result = await conn.exec_driver_sql(
            f"SELECT event_id FROM {events.name} WHERE event_id IN "  # noqa: S608 - placeholders only
            f"({', '.join('?' * len(chunk))})",
            tuple(chunk),
        )
        stored.update(result.scalars().all())
    new = [row for row in rows if row["event_id"] not in stored]
    if new:
        await conn.exec_driver_sql(
            _INSERT_EVENTS, [tuple(_bind(row[c]) for c in _EVENT_COLUMNS) for row in new]
        )
    return {str(row["event_id"]) for row in new}


async def add_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, object]]) -> None:
    """Add summed rollup rows to the stored ones (inserting those not there yet)."""
    await conn.exec_driver_sql(
        _UPSERT_ROLLUPS, [tuple(_bind(row[c]) for c in _ROLLUP_COLUMNS) for row in rows]
    )
