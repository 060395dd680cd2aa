"""The event log: Kibana event documents, idempotent by ``event.id``, with usage rollups.

Each document is kept whole (orjson text) next to the columns queries need. Rollups per
minute, hour and day are updated in the same transaction as the insert, from the ``execute``
documents that were actually new, so replays (spool files, retries) never double-count and
the dashboard reads rollups only. Old events are removed by ``retention.py`` (on
PostgreSQL the table is partitioned by day, see ``partitions.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrelay.errors import StoreError
from llmrelay.store import sqlite_bulk
from llmrelay.store.schema import ROLLUP_KEY, ROLLUP_SUMS, events, usage_rollups
from llmrelay.store.sql import (
    insert_adding_on_conflict,
    insert_ignoring_conflicts,
    reading,
    writing,
)

Interval = Literal["minute", "hour", "day"]
GroupBy = Literal["user", "connector", "model"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)
_GROUP_COLUMNS = {"user": "user_name", "connector": "connector_id", "model": "model"}
_REPORTED = ("response", "stream")
_CHUNK = 500  # rows per statement: well under SQLite's bound-parameter limit


class InvalidEventError(StoreError, ValueError):
    """A document lacks what the log needs (``event.id``, ``@timestamp``)."""


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


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _column(value: object) -> str:
    """A document value as column text. PostgreSQL text cannot hold NUL, and one such event
    (a model name from a request body) must not stall the log: NUL becomes U+FFFD on every
    backend alike (the stored document keeps the original)."""
    return str(value).replace("\x00", "\ufffd")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class _Parsed:
    row: dict[str, object]
    doc: Mapping[str, Any]
    timestamp: datetime


def _parse(doc: Mapping[str, Any]) -> _Parsed:
    event_id = _get(doc, "event", "id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEventError("event document without a string event.id")
    try:
        timestamp = datetime.fromisoformat(str(doc["@timestamp"]))
    except (KeyError, ValueError):
        raise InvalidEventError(f"event {event_id}: missing or invalid @timestamp") from None
    if timestamp.tzinfo is None:
        raise InvalidEventError(f"event {event_id}: @timestamp has no time zone")
    timestamp = timestamp.astimezone(UTC)  # buckets are UTC minutes, hours and days
    spaces = _get(doc, "kibana", "space_ids")
    outcome = _get(doc, "event", "outcome")
    user_name = _get(doc, "user", "name")
    row: dict[str, object] = {
        "event_id": _column(event_id),
        "timestamp": timestamp,
        "space_id": _column(spaces[0] if isinstance(spaces, list) and spaces else "default"),
        "connector_id": _column(_get(doc, "kibana", "action", "id") or ""),
        "action": _column(_get(doc, "event", "action") or ""),
        "outcome": None if outcome is None else _column(outcome),
        "user_name": None if user_name is None else _column(user_name),
        "document": orjson.dumps(doc).decode(),  # JSON escapes NUL: any text column takes it
    }
    return _Parsed(row, doc, timestamp)


def _rollup_rows(parsed: Sequence[_Parsed]) -> list[dict[str, object]]:
    """Summed rollup rows (per interval) for the given ``execute`` documents."""
    sums: defaultdict[tuple[object, ...], list[int]] = defaultdict(lambda: [0] * len(ROLLUP_SUMS))
    for item in parsed:
        usage = _get(item.doc, "kibana", "action", "execution", "gen_ai", "usage") or {}
        source = _get(item.doc, "llmrelay", "usage_source")
        failed = item.row["outcome"] != "success"
        values = (
            _int(_get(usage, "prompt_tokens")),
            _int(_get(usage, "completion_tokens")),
            _int(_get(usage, "total_tokens")),
            1,
            1 if failed else 0,
        )
        for interval in INTERVALS:
            key = (
                interval,
                floor_to(item.timestamp, interval),
                item.row["space_id"],
                item.row["connector_id"],
                _column(_get(item.doc, "llmrelay", "model") or ""),
                str(item.row["user_name"] or ""),
                _column(source or ("missing" if not usage else "response")),
            )
            total = sums[key]
            for i, value in enumerate(values):
                total[i] += value
    return [
        dict(zip(ROLLUP_KEY, key, strict=True)) | dict(zip(ROLLUP_SUMS, sums[key], strict=True))
        for key in sorted(sums, key=_rollup_order)  # one lock order for every writer
    ]


def _rollup_order(key: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(value.isoformat() if isinstance(value, datetime) else str(value) for value in key)


def _event_key(conn: AsyncConnection) -> list[str]:
    """The idempotency key. PostgreSQL's partitioned table can only enforce uniqueness
    with the partition column in it; a replayed document has the same ``@timestamp``."""
    return ["event_id", "timestamp"] if conn.dialect.name == "postgresql" else ["event_id"]


async def _insert_returning(
    conn: AsyncConnection, rows: Sequence[Mapping[str, object]]
) -> set[str]:
    """Insert through Core with ``RETURNING`` (PostgreSQL: batched by asyncpg)."""
    inserted: set[str] = set()
    stmt = insert_ignoring_conflicts(conn, events, _event_key(conn)).returning(events.c.event_id)
    for start in range(0, len(rows), _CHUNK):
        result = await conn.execute(stmt, rows[start : start + _CHUNK])
        inserted.update(result.scalars().all())
    return inserted


async def _add_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, object]]) -> None:
    """Add summed rollup rows through Core (``ON CONFLICT ... DO UPDATE``)."""
    upsert = insert_adding_on_conflict(conn, usage_rollups, ROLLUP_KEY, ROLLUP_SUMS)
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(upsert, rows[start : start + _CHUNK])


class EventRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, documents: Sequence[Mapping[str, object]]) -> int:
        """Insert new documents (by ``event.id``); returns how many were new."""
        unique: dict[str, _Parsed] = {}
        for doc in documents:
            parsed = _parse(doc)
            unique.setdefault(str(parsed.row["event_id"]), parsed)
        if not unique:
            return 0
        # Rows go in key order, so concurrent writers (other replicas on PostgreSQL) take
        # row locks in one order and cannot deadlock on overlapping batches.
        items = [unique[key] for key in sorted(unique)]
        async with writing(self._engine) as conn:
            # SQLite through the driver's executemany (store/sqlite_bulk.py), else Core
            if conn.dialect.name == "sqlite":
                insert, add = sqlite_bulk.insert_events, sqlite_bulk.add_rollups
            else:
                insert, add = _insert_returning, _add_rollups
            inserted = await insert(conn, [item.row for item in items])
            new_executes = [
                item
                for item in items
                if item.row["event_id"] in inserted and item.row["action"] == "execute"
            ]
            rollups = _rollup_rows(new_executes)
            if rollups:
                await add(conn, rollups)
        return len(inserted)

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
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of one connector's documents, newest first, and the total count.

        ``start`` is inclusive, ``end`` exclusive; ``action`` filters on ``event.action``.
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
        return int(total or 0), [orjson.loads(doc) for doc in docs]

    async def usage(
        self,
        *,
        space_id: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        group_by: GroupBy | None,
        connector_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Token usage per bucket (and group) from the rollups.

        Buckets are those starting in ``[floor(start), end)``. ``key`` is the user name,
        connector id or model (None when unknown, or when ``group_by`` is None).
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
