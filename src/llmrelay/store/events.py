"""The event log: Kibana event documents, idempotent by ``event.id``, with usage rollups.

Each document is kept whole (orjson text) next to the columns queries need. Rollups per
minute, hour and day are updated in the same transaction as the insert, from the ``execute``
documents that were actually new, so replays (spool files, retries) never double-count and
the dashboard reads rollups only. Old events are removed by ``retention.py`` (on
PostgreSQL the table is partitioned by day, see ``partitions.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.store import sqlite_bulk
from llmrelay.store.event_rows import (
    EVENT_COLUMNS,
    ROLLUP_COLUMNS,
    ParsedEvent,
    as_datetime,
    parse_event,
    rollup_rows,
    stored_document,
)
from llmrelay.store.schema import ROLLUP_KEY, ROLLUP_SUMS, events, usage_rollups
from llmrelay.store.sql import (
    insert_adding_on_conflict,
    insert_ignoring_conflicts,
    reading,
    writing,
)

Interval = Literal["minute", "hour", "day"]
GroupBy = Literal["user", "connector", "model", "endpoint", "route"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)
_GROUP_COLUMNS = {
    "user": "user_name",
    "connector": "connector_id",
    "model": "model",
    "endpoint": "endpoint",
    "route": "route_id",
}
_REPORTED = ("response", "stream")
_CHUNK = 500  # rows per statement on PostgreSQL (SQLite: sqlite_bulk.py)
# documents parsed per turn of the event loop; 50 took the sequential p99 to 3.3 ms, 10: ~2
_PARSE_SLICE = 10
__all__ = ["INTERVALS", "EventRepository", "GroupBy", "Interval"]


def floor_to(moment: datetime, interval: Interval) -> datetime:
    """Start of the UTC bucket containing ``moment``."""
    if interval == "minute":
        return moment.replace(second=0, microsecond=0)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    """Kibana-style ISO timestamp: milliseconds and ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _aware(moment: datetime | None, name: str) -> None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC)")


def _event_key(conn: AsyncConnection) -> list[str]:
    """The idempotency key. PostgreSQL's partitioned table can only enforce uniqueness
    with the partition column in it; a replayed document has the same ``@timestamp``."""
    return ["event_id", "timestamp"] if conn.dialect.name == "postgresql" else ["event_id"]


def _as_dicts(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Core's parameter dicts; the time column (``timestamp`` or ``bucket``) as a datetime."""
    when = 1  # both tables have their time second: EVENT_COLUMNS and ROLLUP_COLUMNS
    return [
        dict(zip(columns, (*row[:when], as_datetime(row[when]), *row[when + 1 :]), strict=True))
        for row in rows
    ]


async def _write_core(conn: AsyncConnection, items: Sequence[ParsedEvent]) -> int:
    """Insert with ``RETURNING`` (asyncpg batches it), then add the new rows' rollups."""
    inserted: set[str] = set()
    stmt = insert_ignoring_conflicts(conn, events, _event_key(conn)).returning(events.c.event_id)
    rows = _as_dicts([item.row for item in items], EVENT_COLUMNS)
    for start in range(0, len(rows), _CHUNK):
        result = await conn.execute(stmt, rows[start : start + _CHUNK])
        inserted.update(result.scalars().all())
    rollups = _as_dicts(
        rollup_rows(item for item in items if item.event_id in inserted), ROLLUP_COLUMNS
    )
    upsert = insert_adding_on_conflict(conn, usage_rollups, ROLLUP_KEY, ROLLUP_SUMS)
    for start in range(0, len(rollups), _CHUNK):
        await conn.execute(upsert, rollups[start : start + _CHUNK])
    return len(inserted)


class EventRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, documents: Sequence[Mapping[str, object]]) -> int:
        """Insert new documents (by ``event.id``); returns how many were new."""
        unique: dict[str, ParsedEvent] = {}
        for count, doc in enumerate(documents, 1):
            parsed = parse_event(doc)
            unique.setdefault(parsed.event_id, parsed)
            if count % _PARSE_SLICE == 0:
                await asyncio.sleep(0)  # let requests in between: a batch is not one stall
        if not unique:
            return 0
        # Rows go in key order, so concurrent writers (other replicas on PostgreSQL) take
        # row locks in one order and cannot deadlock on overlapping batches.
        items = [unique[key] for key in sorted(unique)]
        if self._engine.dialect.name == "sqlite":
            return await sqlite_bulk.write_events(self._engine, items)
        async with writing(self._engine) as conn:
            return await _write_core(conn, items)

    async def find(
        self,
        *,
        space_id: str,
        connector_id: str,
        page: int = 1,
        per_page: int = 10,
        start: datetime | None = None,
        end: datetime | None = None,
        action: str | None = None,
        outcome: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of one connector's documents, newest first, and the total count.

        ``start`` is inclusive, ``end`` exclusive; ``action`` filters on ``event.action``,
        ``outcome`` on ``event.outcome``.
        """
        if page < 1 or per_page < 1:
            raise ValueError("page and per_page must be >= 1")
        _aware(start, "start")
        _aware(end, "end")
        conditions: list[ColumnElement[bool]] = [
            events.c.space_id == space_id,
            events.c.connector_id == connector_id,
        ]
        if start is not None:
            conditions.append(events.c.timestamp >= start)
        if end is not None:
            conditions.append(events.c.timestamp < end)
        if action is not None:
            conditions.append(events.c.action == action)
        if outcome is not None:
            conditions.append(events.c.outcome == outcome)
        where = and_(*conditions)
        query = (
            select(events.c.document)
            .where(where)
            .order_by(events.c.timestamp.desc(), events.c.seq.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        async with reading(self._engine) as conn:
            total = await conn.scalar(select(func.count()).select_from(events).where(where))
            docs = (await conn.execute(query)).scalars().all()
        return int(total or 0), [stored_document(doc) for doc in docs]

    async def usage(
        self,
        *,
        space_id: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        group_by: GroupBy | None,
        connector_id: str | None = None,
        endpoint: str | None = None,
    ) -> list[dict[str, Any]]:
        """Token usage per bucket (and group) from the rollups, with ``ROLLUP_SUMS``
        (cost as integer ``cost_nano_usd``), ``estimated_tokens`` and ``reported_tokens``.

        Buckets are those starting in ``[floor(start), end)``. ``key`` is the user name,
        connector id, model, endpoint or route id (None when unknown or none, or when
        ``group_by`` is None).
        """
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {INTERVALS}")
        _aware(start, "start")
        _aware(end, "end")
        r = usage_rollups.c
        key_column = r[_GROUP_COLUMNS[group_by]] if group_by else None
        conditions = [
            r.interval == interval,
            r.space_id == space_id,
            r.bucket >= floor_to(start.astimezone(UTC), interval),
            r.bucket < end,
        ]
        if connector_id is not None:
            conditions.append(r.connector_id == connector_id)
        if endpoint is not None:
            conditions.append(r.endpoint == endpoint)
        zero = 0
        columns: list[Any] = [
            r.bucket,
            *(func.sum(r[name]).label(name) for name in ROLLUP_SUMS),
            func.sum(case((r.usage_source == "estimated", r.total_tokens), else_=zero)).label(
                "estimated_tokens"
            ),
            func.sum(case((r.usage_source.in_(_REPORTED), r.total_tokens), else_=zero)).label(
                "reported_tokens"
            ),
        ]
        group: list[Any] = [r.bucket]
        if key_column is not None:
            columns.append(key_column.label("key"))
            group.append(key_column)
        query = select(*columns).where(and_(*conditions)).group_by(*group)
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        names = (*ROLLUP_SUMS, "estimated_tokens", "reported_tokens")
        # ordered here (bucket, then key by code point): SQL collations differ per database
        ordered = sorted(
            rows, key=lambda row: (row["bucket"], row["key"] if key_column is not None else "")
        )
        return [
            {
                "bucket": iso(row["bucket"]),
                "key": (row["key"] or None) if key_column is not None else None,
                **{name: int(row[name] or 0) for name in names},
            }
            for row in ordered
        ]

    async def count(self) -> int:
        async with reading(self._engine) as conn:
            return int(await conn.scalar(select(func.count()).select_from(events)) or 0)
