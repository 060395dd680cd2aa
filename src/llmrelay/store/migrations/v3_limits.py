"""Migration 3: limits and their window counters (issue 16).

``limits`` holds the definitions per space; ``limit_windows`` one row of counters per limit,
window kind and calendar window start (old windows are deleted, so the table stays small).
Frozen: never edit; a schema change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import Connection

from llmrelay.store.migrations.runner import Statements, execute_all, statements_for

SQLITE: Statements = (
    """CREATE TABLE limits (
    space_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    scope_kind VARCHAR(16) NOT NULL,
    scope_id TEXT NOT NULL,
    requests_per_minute BIGINT,
    tokens_per_minute BIGINT,
    tokens_per_day BIGINT,
    tokens_per_month BIGINT,
    cost_usd_per_day DOUBLE,
    cost_usd_per_month DOUBLE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT pk_limits PRIMARY KEY (space_id, id)
)""",
    """CREATE TABLE limit_windows (
    limit_id TEXT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    cost_nano_usd BIGINT NOT NULL,
    CONSTRAINT pk_limit_windows PRIMARY KEY (limit_id, kind, window_start)
)""",
)

POSTGRESQL: Statements = (
    """CREATE TABLE limits (
    space_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    scope_kind VARCHAR(16) NOT NULL,
    scope_id TEXT NOT NULL,
    requests_per_minute BIGINT,
    tokens_per_minute BIGINT,
    tokens_per_day BIGINT,
    tokens_per_month BIGINT,
    cost_usd_per_day DOUBLE PRECISION,
    cost_usd_per_month DOUBLE PRECISION,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_limits PRIMARY KEY (space_id, id)
)""",
    """CREATE TABLE limit_windows (
    limit_id TEXT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    window_start TIMESTAMP WITH TIME ZONE NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    cost_nano_usd BIGINT NOT NULL,
    CONSTRAINT pk_limit_windows PRIMARY KEY (limit_id, kind, window_start)
)""",
)


def apply(conn: Connection) -> None:
    execute_all(conn, statements_for(conn, {"sqlite": SQLITE, "postgresql": POSTGRESQL}))
