"""Migration 2: retention deletes raw events by time.

SQLite gets an index on ``"timestamp"``. PostgreSQL turns ``events`` into a table
partitioned by day (see :mod:`llmrelay.store.partitions`): the table and index DDL is
frozen here; only what depends on the data stays computed, the name of the ``seq``
sequence (kept, so numbering goes on) and which day partitions to create.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from llmrelay.store.migrations.runner import Statements, execute_all, statements_for
from llmrelay.store.partitions import ensure_days, is_partitioned
from llmrelay.store.sql import utcnow

PARTITION_DAYS_AHEAD = 7  # day partitions kept ready beyond today (maintenance tops it up)
PARTITION_DAYS_BEHIND = 366  # older rows go to the default partition until retention

SQLITE: Statements = ('CREATE INDEX ix_events_time ON events ("timestamp")',)

# {sequence}: the serial sequence of events.seq, taken over by the partitioned table.
POSTGRESQL_BEFORE_DAYS: Statements = (
    "ALTER TABLE events RENAME TO events_unpartitioned",
    "DROP INDEX IF EXISTS ix_events_space_connector_time",
    "DROP INDEX IF EXISTS ix_events_space_time",
    "ALTER SEQUENCE {sequence} OWNED BY NONE",
    """CREATE TABLE events (
    seq bigint NOT NULL DEFAULT nextval('{sequence}'),
    event_id text NOT NULL,
    "timestamp" timestamp with time zone NOT NULL,
    space_id text NOT NULL,
    connector_id text NOT NULL,
    action text NOT NULL,
    outcome text,
    user_name text,
    document text NOT NULL,
    CONSTRAINT pk_events PRIMARY KEY (seq, "timestamp"),
    CONSTRAINT uq_events_event_id_timestamp UNIQUE (event_id, "timestamp")
) PARTITION BY RANGE ("timestamp")""",
    "ALTER SEQUENCE {sequence} OWNED BY events.seq",
    'CREATE INDEX ix_events_space_connector_time ON events (space_id, connector_id, "timestamp")',
    'CREATE INDEX ix_events_space_time ON events (space_id, "timestamp")',
    "CREATE TABLE events_default PARTITION OF events DEFAULT",
)

# run once the day partitions exist, so every row lands in its own day
POSTGRESQL_AFTER_DAYS: Statements = (
    'INSERT INTO events (seq, event_id, "timestamp", space_id, connector_id, action, '
    'outcome, user_name, document) SELECT seq, event_id, "timestamp", space_id, '
    "connector_id, action, outcome, user_name, document FROM events_unpartitioned",
    "DROP TABLE events_unpartitioned",
)


def partition_events(conn: Connection, today: date, ahead_days: int) -> None:
    """Turn the plain ``events`` table into a partitioned one, keeping its rows.

    Days with data of the last year get their own partitions; older rows go to the
    default partition until retention removes them.
    """
    if is_partitioned(conn):
        return
    sequence = conn.execute(text("SELECT pg_get_serial_sequence('events', 'seq')")).scalar()
    oldest = conn.execute(text('SELECT min("timestamp") FROM events')).scalar()
    execute_all(conn, tuple(s.format(sequence=sequence) for s in POSTGRESQL_BEFORE_DAYS))
    first = today - timedelta(days=1)
    if isinstance(oldest, datetime):
        first = max(
            min(oldest.astimezone(UTC).date(), first),
            today - timedelta(days=PARTITION_DAYS_BEHIND),
        )
    ensure_days(conn, first, today + timedelta(days=ahead_days))
    execute_all(conn, POSTGRESQL_AFTER_DAYS)


def apply(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        partition_events(conn, utcnow().date(), PARTITION_DAYS_AHEAD)
    else:
        execute_all(conn, statements_for(conn, {"sqlite": SQLITE}))
