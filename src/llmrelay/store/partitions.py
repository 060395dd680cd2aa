"""Daily range partitions of the raw event table on PostgreSQL.

``events`` is partitioned by ``"timestamp"`` (UTC days, ``events_pYYYYMMDD``) with a
``events_default`` partition catching rows outside every day partition (a clock far ahead,
a spool replayed after its day was dropped), so an insert never fails for want of a
partition. Dropping a day partition is how retention deletes raw events: no ``DELETE``, no
vacuum debt. Creating a day that already has rows in the default partition moves them
first (PostgreSQL refuses the partition otherwise).

Uniqueness on a partitioned table must include the partition key, so the event log's
idempotency key is ``(event_id, "timestamp")`` here: a replayed document carries the same
``@timestamp`` as the first copy, so it still conflicts (see ``EventRepository.write``).

Migration 2 (``migrations/v2_events_by_time.py``) made the partitioned table; what is
here keeps its days. Everything is synchronous DDL on a ``Connection`` inside the caller's
transaction (migration or maintenance, each holding its own advisory lock).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, text

PARENT = "events"
DEFAULT_PARTITION = "events_default"
_DAY_NAME = re.compile(r"^events_p(\d{8})$")


def day_partition(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _literal(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


def is_partitioned(conn: Connection) -> bool:
    value = conn.execute(
        text(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = current_schema()"
        ),
        {"name": PARENT},
    ).scalar()
    return value == "p"


def existing_days(conn: Connection) -> dict[date, str]:
    """The day partitions attached to ``events`` (by their names, which we chose)."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    ).scalars()
    days: dict[date, str] = {}
    for name in rows:
        match = _DAY_NAME.match(name)
        if match:
            days[datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return days


def ensure_days(conn: Connection, first: date, last: date) -> list[str]:
    """Create the missing day partitions from ``first`` to ``last`` (inclusive)."""
    have = existing_days(conn)
    created: list[str] = []
    day = first
    while day <= last:
        if day not in have:
            _create_day(conn, day)
            created.append(day_partition(day))
        day += timedelta(days=1)
    return created


def _create_day(conn: Connection, day: date) -> None:
    name = day_partition(day)
    lower, upper = _literal(_start_of(day)), _literal(_start_of(day + timedelta(days=1)))
    bounds = {"lower": _start_of(day), "upper": _start_of(day + timedelta(days=1))}
    # rows of that day sitting in the default partition would make CREATE fail: move them
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS llmrelay_moving "
            "(LIKE events INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    moved = conn.execute(
        text(
            "WITH moved AS (DELETE FROM events_default "
            'WHERE "timestamp" >= :lower AND "timestamp" < :upper RETURNING *) '
            "INSERT INTO llmrelay_moving SELECT * FROM moved"
        ),
        bounds,
    ).rowcount
    conn.execute(
        text(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF events '
            f"FOR VALUES FROM ('{lower}') TO ('{upper}')"
        )
    )
    if moved:
        conn.execute(text("INSERT INTO events SELECT * FROM llmrelay_moving"))
        conn.execute(text("TRUNCATE llmrelay_moving"))


def drop_days_before(conn: Connection, cutoff: datetime) -> list[str]:
    """Drop the day partitions whose every row is older than ``cutoff``."""
    dropped: list[str] = []
    for day, name in sorted(existing_days(conn).items()):
        if _start_of(day + timedelta(days=1)) <= cutoff:
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
            dropped.append(name)
    return dropped
