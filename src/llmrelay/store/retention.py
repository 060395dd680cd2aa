"""Event log upkeep: day partitions ahead of time, and retention of raw events.

Runs in the background of every process (at start, then hourly), never on the request
path. On PostgreSQL one process at a time does the work (a session advisory lock taken
with ``pg_try_advisory_lock``; the others skip that round): it creates the day partitions
for yesterday to a week ahead, drops the day partitions entirely older than the retention,
and deletes expired rows that sit in the default partition. On SQLite, expired rows are
deleted in batches of a few thousand, each its own short write transaction, so the event
writer interleaves with it.

Rollups: ``hour`` and ``day`` buckets are kept forever (a few rows per connector, model and
user per day); ``minute`` buckets, the bulky ones, follow the raw event retention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, bindparam, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnClause, ColumnElement

from llmrelay.errors import StoreError
from llmrelay.store import partitions
from llmrelay.store.schema import UtcDateTime, events, usage_rollups
from llmrelay.store.sql import translated, writing
from llmrelay.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

# An arbitrary constant naming "llmrelay event log maintenance" for pg_try_advisory_lock.
MAINTENANCE_LOCK_KEY = 0x6C6C_6D72_6C79_0002
DEFAULT_INTERVAL_SECONDS = 3600.0
DELETE_BATCH = 5000

_Delete = Callable[[AsyncConnection], Awaitable[CursorResult[Any]]]


@dataclass
class MaintenanceReport:
    ran: bool = True  # False: another process held the lock this round
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_events: int = 0
    deleted_rollups: int = 0


class EventLogMaintenance:
    """Keeps partitions ready and drops what is older than ``retention`` (0 = keep all)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        retention: timedelta,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        days_ahead: int = 7,
        batch: int = DELETE_BATCH,
    ) -> None:
        self._engine = engine
        self._retention = retention
        self._interval = interval
        self._days_ahead = days_ahead
        self._batch = batch
        self._tasks = BackgroundTasks()

    @property
    def _postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._tasks.start(self._run(), name="llmrelay-event-maintenance")

    async def stop(self) -> None:
        for err in await self._tasks.stop():
            logger.error("event log maintenance failed: %s", type(err).__name__)

    async def _run(self) -> None:
        while True:
            try:
                report = await self.run_once()
            except StoreError as err:
                logger.warning("event log maintenance failed (%s); retrying in an hour", err)
            else:
                if report.dropped or report.deleted_events or report.deleted_rollups:
                    logger.info(
                        "event log retention: dropped %d partition(s), deleted %d event(s) "
                        "and %d minute rollup(s)",
                        len(report.dropped),
                        report.deleted_events,
                        report.deleted_rollups,
                    )
            await asyncio.sleep(self._interval)

    # --- one round ---------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> MaintenanceReport:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        cutoff = now - self._retention if self._retention > timedelta(0) else None
        if not self._postgres:
            return await self._expire(cutoff, MaintenanceReport())
        async with translated(), self._engine.connect() as lock:
            locked = await lock.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": MAINTENANCE_LOCK_KEY}
            )
            await lock.commit()
            if not locked:
                return MaintenanceReport(ran=False)
            try:
                report = await self._partitions(now, cutoff)
                return await self._expire(cutoff, report)
            finally:
                await lock.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MAINTENANCE_LOCK_KEY}
                )
                await lock.commit()

    async def _partitions(self, now: datetime, cutoff: datetime | None) -> MaintenanceReport:
        report = MaintenanceReport()
        today = now.date()
        first = today - timedelta(days=1)
        if cutoff is not None:
            first = max(first, cutoff.date())
        async with writing(self._engine) as conn:
            # DDL waits for locks behind long queries; never let writers queue behind it long
            await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            report.created = await conn.run_sync(
                partitions.ensure_days, first, today + timedelta(days=self._days_ahead)
            )
            if cutoff is not None:
                report.dropped = await conn.run_sync(partitions.drop_days_before, cutoff)
        return report

    async def _expire(
        self, cutoff: datetime | None, report: MaintenanceReport
    ) -> MaintenanceReport:
        if cutoff is None:
            return report
        if self._postgres:
            # rows outside every day partition (the default one) are deleted row by row
            report.deleted_events = await self._delete_batches(
                lambda conn: conn.execute(
                    text(
                        "DELETE FROM events_default WHERE ctid IN (SELECT ctid FROM "
                        'events_default WHERE "timestamp" < :cutoff LIMIT :limit)'
                    ).bindparams(bindparam("cutoff", type_=UtcDateTime)),
                    {"cutoff": cutoff, "limit": self._batch},
                )
            )
        else:
            old_events = select(events.c.seq).where(events.c.timestamp < cutoff)
            report.deleted_events = await self._delete_batches(
                lambda conn: conn.execute(
                    events.delete().where(events.c.seq.in_(old_events.limit(self._batch)))
                )
            )
        row_id: ColumnClause[Any] = literal_column("ctid" if self._postgres else "rowid")
        minute_rows: ColumnElement[bool] = (usage_rollups.c.interval == "minute") & (
            usage_rollups.c.bucket < cutoff
        )
        old_rollups = select(row_id).select_from(usage_rollups).where(minute_rows)
        report.deleted_rollups = await self._delete_batches(
            lambda conn: conn.execute(
                usage_rollups.delete().where(row_id.in_(old_rollups.limit(self._batch)))
            )
        )
        return report

    async def _delete_batches(self, delete: _Delete) -> int:
        """Run ``delete(conn)`` in its own transaction until it deletes less than a batch."""
        total = 0
        while True:
            async with writing(self._engine) as conn:
                result = await delete(conn)
            deleted = max(int(result.rowcount or 0), 0)
            total += deleted
            if deleted < self._batch:
                return total
            await asyncio.sleep(0)  # let the event writer in between batches
